"""Function: one node of the computational graph.

A Function is the tutorials' "layer" with ``forward`` and ``backward``::

    class Mul(cr.Function):
        def forward(self, x, y):          # arrays in, array out
            self.x, self.y = x, y         # keep what backward needs
            return x * y

        def backward(self, dout):         # d(loss)/d(out) in, one gradient per input out
            return dout * self.y, dout * self.x

    z = Mul()(a, b)                       # a Tensor, recorded in the graph

Calling an instance runs ``forward`` on the inputs' arrays and, when any input
requires grad (and grad mode is on), records the instance as the node that
produced the output. One instance is one node: make a new one for every call.

**Saved values are checked when they are read.** What a node's backward needs
from the forward pass is saved with ``self.save_for_backward(*arrays)`` (inputs,
outputs, or other arrays) and read back with ``self.saved_tensors``. Every
Tensor carries a version counter that in-place writes bump; reading a saved
input or output whose version changed since it was saved raises GraphError
naming the node, the tensor and both versions, as PyTorch does. A Function that
keeps its arrays on ``self`` instead (as the tutorials' layers do) has every
input and output checked before its backward runs.

**Each derivative is written once.** Built-in operations write their
vector-Jacobian product one time, as ``vjp(self, xp, *grads)`` against an array
namespace ``xp``: on the ordinary backward pass ``xp`` works on NumPy arrays;
with ``create_graph=True`` it works on Tensors, so the same lines record the
graph that second and third derivatives walk. A user's Function gets the same:
``backward`` on arrays gives first derivatives; one that saves with
``save_for_backward`` and computes with operators and chainrule functions on
``saved_tensors`` (and on its ``grads``) is differentiated again under
``create_graph``. One that keeps arrays on ``self`` is differentiable once:
differentiating its gradients again raises an error saying so.
"""

from __future__ import annotations

import numpy as np

from . import namespace
from .errors import ArgumentTypeError, BackwardError, GraphError, GraphFreedError, UnsupportedError
from .modes import GRAD, state
from .tensor import Tensor, Version, ticks, written
from .tensor import wrap as _wrap

__all__ = ["Function"]

_new = object.__new__
_NO_NEEDS = tuple((False,) * k for k in range(8))


class Function:
    """Base class of every graph node; subclass it and write ``forward`` and ``backward``.

    Attributes available inside ``forward``/``backward``:

    ``needs_input_grad``
        a tuple of bools, one per input: whether that input needs a gradient.
        ``backward`` may return None for inputs that do not.
    ``inputs``
        the input Tensors, while the node is part of a graph.
    ``saved_tensors``
        inside ``backward``: what ``forward`` passed to ``save_for_backward``, checked against
        in-place changes (NumPy arrays, or Tensors under ``create_graph``).
    """

    # Per node, set by __call__ (these class attributes are the values before, and after _free):
    # the inputs, and per input the (node, output index) its gradient goes to (None: a leaf, or no
    # gradient); how many outputs; what forward saved (False while not recording), the tick it was
    # saved at and the saved outputs (array, index, version counter); rarely used things (hooks,
    # retained outputs, anomaly's source line). Nodes keep them in their __dict__: with class defaults
    # a new node costs no initialisation, which matters on the hot path.
    inputs = None
    needs_input_grad: tuple = ()
    _edges = None
    _n_out = None
    _saved = None
    _tick = 0
    _outs = None
    _extra = None

    #: The forward rule, for explanations, e.g. ``"y = x1 * x2"``.
    formula: str = ""
    #: The local derivative(s), for explanations, e.g. ``"dy/dx1 = x2; dy/dx2 = x1"``.
    derivative: str = ""
    #: True when each output element depends only on the same element of each input; then the
    #: local derivative is a value per element and explanations print it.
    elementwise: bool = False
    #: Input indices whose gradient the backward walk sums back over broadcast axes (for explanations;
    #: elementwise ops broadcast every input).
    broadcasts: tuple = ()
    #: For explanations of matrix nodes: ``products(inputs, g)`` returns, per input index, how its gradient is a
    #: matrix product ``(formula, left, right)`` of 2-D arrays (``right`` None: the row sums of ``left``);
    #: ``formula`` names the incoming gradient ``{g}`` and the inputs ``{0}``, ``{1}``, ... (see LinearOp).
    products = None
    #: True for operations whose output may share memory with their first input (reshape, transpose,
    #: indexing with slices, broadcast_to, split): such an output shares the input's version counter.
    view: bool = False

    # ----------------------------------------------------------------- user API
    def forward(self, *args):
        raise UnsupportedError(f"{type(self).__name__} must define forward(self, *arrays)")

    def backward(self, *grads):
        raise UnsupportedError(
            f"{type(self).__name__} must define backward(self, *grads) returning one gradient per input"
        )

    def vjp(self, xp, *grads):
        """The vector-Jacobian product: one gradient per input, computed with namespace ``xp``.

        Built-in operations override this (their derivative, written once). For a user's Function it
        runs ``backward``: on arrays, or, under ``create_graph``, on Tensors when the Function saved its
        values with ``save_for_backward`` (otherwise its gradients are differentiable once).
        """
        if self._saved is None:  # arrays kept on self: every input and output is checked first
            self._check(None)
            if xp is not namespace.numpy_ns:
                return _once_differentiable(self, grads)
            return self.backward(*grads)
        if xp is namespace.numpy_ns:
            return self.backward(*grads)
        try:
            return self.backward(*grads)
        except TypeError as e:  # a NumPy function met a Tensor (Tensors refuse NumPy's ufuncs)
            if "ufunc" not in str(e):
                raise
            raise BackwardError(
                f"{type(self).__name__}.backward: under create_graph, saved_tensors and the gradients are Tensors, "
                f"and a NumPy function was applied to one ({e}). Use chainrule's functions and operators "
                "(cr.exp, cr.log, ...) in backward so it can be differentiated again, or keep arrays on self "
                "instead of save_for_backward for a backward that is differentiable once"
            ) from e

    def save_for_backward(self, *arrays) -> None:
        """Keep ``arrays`` (inputs or outputs of ``forward``, or other arrays) for ``backward``.

        Call it inside ``forward``. Inputs and outputs are checked against in-place changes when
        ``saved_tensors`` reads them, and are Tensors under ``create_graph`` (so their derivatives
        are recorded); other arrays are constants.
        """
        self._saved = arrays  # (__call__ notes the tick, and whether an output is among them)

    @property
    def saved_tensors(self) -> tuple:
        """The values saved by ``save_for_backward``, checked (Tensors under ``create_graph``)."""
        if not self._saved:
            raise GraphError(
                f"{type(self).__name__}: saved_tensors read, but forward saved nothing with save_for_backward "
                "(or the graph was freed by an earlier backward)"
            )
        return self.saved(namespace.tensor_ns if state.grad_enabled else namespace.numpy_ns)

    def saved(self, xp) -> tuple:
        """What forward saved, as ``xp``'s arrays, after checking that none was changed in place."""
        saved = self._saved
        if written[0] > self._tick:  # some tensor was written since this node saved: was it one of these?
            self._check(saved)
        if xp is namespace.numpy_ns:
            return saved
        return tuple([self._as_tensor(a) for a in saved])

    def _as_tensor(self, a):
        """Under create_graph: a saved input as its Tensor, a saved output as a handle on this node (its
        gradient flows back through it), anything else as the constant it is."""
        if a is None:
            return None
        for t in self.inputs:
            if isinstance(t, Tensor) and t.data is a:
                return t
        for data, k, vc in self._outs or ():
            if data is a:
                t = _wrap(data, True, (self, k))
                t._vc = vc  # the output's own counter: a change to it is still seen by later backward passes
                return t
        return a

    def _check(self, saved) -> None:
        """Raise if one of ``saved`` (None: every input and output) was written since it was saved."""
        tick = self._tick
        for i, t in enumerate(self.inputs):
            vc = getattr(t, "_vc", None)
            if vc is not None and vc.stamp > tick and (saved is None or any(a is t.data for a in saved)):
                _stale(self, f"input {i}" + (f" '{t.name}'" if t.name else "") + f" (shape {t.shape})", vc, tick)
        for data, k, vc in self._outs or ():
            if vc.stamp > tick:
                _stale(self, f"output {k} (shape {data.shape})", vc, tick)

    # ----------------------------------------------------------------- recording
    def __call__(self, *args):
        if self._n_out is not None:
            raise GraphError(
                f"{type(self).__name__}: a Function instance is a single graph node and was already "
                f"called; create a new one for each call, e.g. {type(self).__name__}()(x)"
            )
        if state.mode != GRAD:  # grad mode off, or anomaly mode on
            return self._call_mixed(args) if state.grad_enabled else self._call_unrecorded(args)
        try:  # every argument a Tensor (always so for built-in operations): no isinstance checks
            needs = tuple([a._requires_grad for a in args])
        except AttributeError:  # numbers or arrays among the arguments (a user's Function)
            return self._call_mixed(args)
        if True not in needs:
            return self._call_unrecorded(args)
        self.inputs = args
        self.needs_input_grad = needs
        self._edges = tuple([a._edge for a in args])  # a tensor has an edge only if an operation made it
        self._tick = next(ticks)  # before forward reads the inputs: a write after this is seen by the check
        out = self.forward(*[a.data for a in args])
        if type(out) is not np.ndarray or out.dtype.kind != "f":
            return self._wrap_outputs(args, out)
        # the common case, inlined: one float array output
        self._n_out = 1
        t = _new(Tensor)
        t.data = out
        t._requires_grad = True
        t._edge = (self, 0)
        saved = self._saved
        if saved is not None:
            for a in saved:
                if a is out:  # backward reads the output: it gets a version counter to check
                    t._vc = vc = Version()
                    self._outs = ((out, 0, vc),)
                    break
        if self._after_forward:
            self._finish((t,), (out,))
        return t

    def _call_mixed(self, args):
        """Recording with numbers or arrays among the arguments, or under detect_anomaly."""
        needs = tuple([isinstance(a, Tensor) and a._requires_grad for a in args])
        if True not in needs:
            return self._call_unrecorded(args)
        self.inputs = args
        self.needs_input_grad = needs
        self._edges = tuple([a._edge if n else None for a, n in zip(args, needs)])
        self._tick = next(ticks)
        return self._wrap_outputs(args, self.forward(*[a.data if isinstance(a, Tensor) else a for a in args]))

    def _call_unrecorded(self, args):
        self._n_out = 0
        self.inputs = ()
        self.needs_input_grad = _NO_NEEDS[len(args)] if len(args) < 8 else (False,) * len(args)
        out = self.forward(*[a.data if isinstance(a, Tensor) else a for a in args])
        result = _wrap(out) if type(out) is np.ndarray else _outputs(self, out, False)
        if self._after_forward:  # a view (or a user's Function returning its input) shares the version counter
            _share_version(args, result if type(result) is tuple else (result,))
        if state.anomaly_enabled:
            from .anomaly import check_forward

            check_forward(self, args, result)
        return result

    def _wrap_outputs(self, args, out):
        result = _outputs(self, out, True)
        outs = result if type(result) is tuple else (result,)
        self._n_out = len(outs)
        if type(result) is tuple:
            self._extra = {"out_meta": [(o.shape, o.dtype) for o in outs]}
        self._finish(outs, out if type(out) is tuple else (out,))
        if state.anomaly_enabled:
            from .anomaly import check_forward

            check_forward(self, args, result)
        return result

    def _finish(self, outs, raw) -> None:
        """After forward: outputs that are views share their input's version counter; saved outputs get
        a version counter to check; a user's Function that saved nothing has every input and output
        checked before its backward (it may read any of them)."""
        if self._after_forward:  # a view, or a user's Function (which may return an input)
            _share_version(self.inputs, outs)
        saved = self._saved
        if saved is None:
            if type(self).vjp is not Function.vjp:
                return
            saved = raw
        elif self._outs is not None:  # the one output, kept already by __call__
            return
        kept = []
        for k, (o, r) in enumerate(zip(outs, raw)):
            if _holds(saved, r, o.data):
                vc = o._vc
                if vc is None:
                    vc = o._vc = Version()
                kept.append((o.data, k, vc))
                if self._saved is not None:  # a NumPy scalar forward returned is kept as the output's array
                    self._saved = tuple(o.data if a is r else a for a in self._saved)
        if kept:
            self._outs = tuple(kept)

    # ----------------------------------------------------------------- graph helpers
    def _retain(self, t: Tensor) -> None:
        """Ask backward to store the gradient of output ``t`` in ``t.grad``."""
        import weakref

        extra = self._extra or {}
        extra.setdefault("retain", {})[t._edge[1]] = weakref.ref(t)
        self._extra = extra

    def _hooks_for(self, index: int) -> list:
        """The list of gradient hooks of output ``index`` (created on first use)."""
        extra = self._extra or {}
        self._extra = extra
        return extra.setdefault("hooks", {}).setdefault(index, [])

    def hooks(self) -> dict:
        """Gradient hooks registered on this node's outputs: {output index: [hooks]}."""
        return dict((self._extra or {}).get("hooks") or {})

    def _free(self) -> None:
        """Drop the inputs and everything saved for backward (forward's own attributes too): the node
        is left with its class's values, ``inputs`` None among them, and its number of outputs."""
        n_out = self._n_out
        self.__dict__.clear()
        self._n_out = n_out

    def fresh(self) -> Function:
        """A new, unused node with this node's settings, to run the same operation again (a gradient check
        re-runs each node of a graph this way)."""
        if self.freed:
            raise GraphFreedError(
                f"fresh: this {type(self).__name__} node was freed by backward(), settings and all; take the copy "
                "before backward, or pass retain_graph=True to backward"
            )
        f = object.__new__(type(self))
        f.__dict__.update((k, v) for k, v in self.__dict__.items() if k not in _NODE_STATE)
        return f

    @property
    def n_outputs(self) -> int:
        """How many tensors this node produced."""
        return self._n_out or 0

    @property
    def freed(self) -> bool:
        """True once a backward pass has released this node's inputs (without ``retain_graph``)."""
        return self.inputs is None

    @property
    def next_functions(self) -> tuple:
        """``((node, output index) or (None, 0), ...)``: where each input's gradient goes, as in PyTorch
        (None for a leaf or an input that needs no gradient)."""
        return tuple(e if e is not None else (None, 0) for e in self._edges or ())

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # what __call__ must do after forward even when nothing was saved: share a view's version
        # counter, or record a user Function's inputs and outputs for the check before its backward
        cls._after_forward = cls.view or cls.vjp is Function.vjp

    @property
    def name(self) -> str:
        """The operation's name, as explanations print it (SigmoidOp is "Sigmoid": the suffix only keeps
        the class apart from the layer nn.Sigmoid)."""
        name = type(self).__name__
        return name[:-2] if name.endswith("Op") and len(name) > 2 else name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} node>"


#: the attributes __call__ sets on a node (fresh() leaves them out)
_NODE_STATE = frozenset(("inputs", "needs_input_grad", "_edges", "_n_out", "_saved", "_tick", "_outs", "_extra"))
Function._after_forward = True


# ----------------------------------------------------------------------------- saved values
def _holds(saved, *arrays) -> bool:
    """Whether one of ``arrays`` is (by identity) among the saved values."""
    for a in saved:
        for b in arrays:
            if a is b:
                return True
    return False


def _stale(node, what: str, vc, tick: int) -> None:
    was = vc.at(tick)
    was = f"version {was}" if was is not None else f"an earlier version than {vc.value}"
    raise GraphError(
        f"backward: node {type(node).__name__} needs its {what} as it was in the forward pass ({was}), but it "
        f"was changed in place since (now version {vc.value}): by optimizer.step(), an in-place operation "
        "(t += ..., t[...] = ...), load_state_dict or nn.init. Call backward() before optimizer.step() (or "
        "before changing the values), or run the forward pass again (clone() the tensor if you need both)"
    )


def _share_version(inputs, outs) -> None:
    """Outputs that share an input's memory (a view operation's, or an input a user's Function returned)
    share its version counter, as PyTorch's views do."""
    for src in inputs:
        if not isinstance(src, Tensor):
            continue
        base = _memory(src.data)
        for o in outs:
            if _memory(o.data) is base:
                vc = src._vc
                if vc is None:
                    vc = src._vc = Version()
                vc.views = True  # in-place changes of either one, while recording, are refused (chainrule.inplace)
                o._vc = vc


def _memory(a: np.ndarray):
    """The array that owns ``a``'s memory."""
    b = a.base
    while isinstance(b, np.ndarray):
        a, b = b, b.base
    return a


def _outputs(node, out, record: bool):
    """Wrap forward's result (an array or a tuple of arrays) as Tensor(s)."""
    if type(out) is tuple:
        return tuple(_output(node, o, record, i) for i, o in enumerate(out))
    return _output(node, out, record, 0)


def _output(node, o, record: bool, index: int) -> Tensor:
    if type(o) is not np.ndarray:
        if isinstance(o, Tensor):
            raise ArgumentTypeError(
                f"{type(node).__name__}.forward returned a Tensor; forward works on NumPy arrays and must "
                "return arrays (use .data on tensors)"
            )
        o = np.asarray(o)
    if not record or o.dtype.kind not in "fc":
        return _wrap(o)
    return _wrap(o, True, (node, index))


# ----------------------------------------------------------------------------- once differentiable
class OnceDifferentiable(Function):
    """Stands for the gradients of a user's Function whose backward works on arrays kept on ``self``:
    their values are right, but they cannot be differentiated again."""

    formula = "the gradients of a Function whose backward works on arrays"
    derivative = "not available: that backward cannot be differentiated"

    def __init__(self, source: str, values):
        self.source = source
        self.values = values

    def forward(self, *grads):
        return tuple(v.copy() for v in self.values) if len(self.values) != 1 else self.values[0].copy()

    def vjp(self, xp, *grads):
        raise GraphError(
            f"backward: the gradients computed by {self.source}.backward cannot be differentiated again: "
            "it works on arrays kept on self. To differentiate through it (create_graph=True), save its "
            "values with self.save_for_backward(...) in forward and compute backward with operators and "
            "chainrule functions on self.saved_tensors"
        )


def _once_differentiable(node, grads):
    """Run a user's array backward under create_graph; its results depend on every input and gradient."""
    res = _array_backward(node, grads)
    single = not isinstance(res, (tuple, list))
    res = (res,) if single else tuple(res)
    present = [np.asarray(r.data if isinstance(r, Tensor) else r) for r in res if r is not None]
    if present:
        deps = [g for g in grads if isinstance(g, Tensor)] + [t for t in node.inputs if isinstance(t, Tensor)]
        made = OnceDifferentiable(type(node).__name__, present)(*deps)
        it = iter(made if isinstance(made, tuple) else (made,))
        res = tuple(None if r is None else next(it) for r in res)
    return res[0] if single else res


def _array_backward(node, grads):
    """``node.backward`` on arrays, with recording off in this thread."""
    prev = state.grad_enabled
    state.grad_enabled = False
    try:
        return node.backward(*[g.data if isinstance(g, Tensor) else g for g in grads])
    finally:
        state.grad_enabled = prev
