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

Every built-in operation is a Function too. Built-in ops additionally define
``backward_graph``, the same derivative written with Tensor operations, which
is what ``create_graph=True`` runs so that gradients can be differentiated
again; and they document themselves with ``formula`` (the forward rule) and
``derivative`` (the local derivative), which the chain-rule trace prints.
"""

from __future__ import annotations

import numpy as np

from . import _mode
from .errors import ArgumentTypeError, GraphError, UnsupportedError
from .tensor import Tensor

__all__ = ["Function"]

_wrap = Tensor._wrap
_new = object.__new__
_NO_NEEDS = tuple((False,) * k for k in range(8))


class Function:
    """Base class of every graph node; subclass it and write ``forward`` and ``backward``.

    Attributes available inside ``forward``/``backward``:

    ``needs_input_grad``
        a tuple of bools, one per input: whether that input needs a gradient.
        ``backward`` may return None for inputs that do not.
    """

    __slots__ = ("inputs", "needs_input_grad", "_n_out", "_extra", "_clock")

    #: The forward rule, for explanations, e.g. ``"y = x1 * x2"``.
    formula: str = ""
    #: The local derivative(s), for explanations, e.g. ``"dy/dx1 = x2; dy/dx2 = x1"``.
    derivative: str = ""
    #: True when each output element depends only on the same element of each input; then the
    #: local derivative is a value per element and explanations print it.
    elementwise: bool = False
    #: False when ``backward`` uses only its inputs' shapes and dtypes and what ``forward`` saved,
    #: never their values: then an input changed in place after the forward pass (an optimizer
    #: step) does not make this node's gradients wrong, and backward does not refuse the graph. (If
    #: the output is a view of the input, the nodes that read it see the change in its memory.)
    #: A tuple of input indices says which inputs' values backward reads (Linear: (0, 1), not the bias).
    reads_inputs: bool | tuple = True
    #: Names of attributes holding arrays ``forward`` kept (often its output) whose values
    #: ``backward`` reads: a change to them after the forward pass also makes backward refuse.
    saved_outputs: tuple = ()

    # ----------------------------------------------------------------- user API
    def forward(self, *args):
        raise UnsupportedError(f"{type(self).__name__} must define forward(self, *arrays)")

    def backward(self, *grads):
        raise UnsupportedError(
            f"{type(self).__name__} must define backward(self, *grads) returning one gradient per input"
        )

    def backward_graph(self, *grads):
        """The backward pass written with Tensor operations (used by ``create_graph=True``)."""
        raise GraphError(
            f"{type(self).__name__}: this Function has no differentiable backward, so gradients "
            "flowing through it cannot be differentiated again (create_graph=True). Define "
            "backward_graph(self, *grads) using chainrule operations on self.inputs, or drop "
            "create_graph."
        )

    # ----------------------------------------------------------------- recording
    def __init__(self):
        self.inputs = None

    def __call__(self, *args):
        try:
            used = self.inputs is not None
        except AttributeError:  # a subclass __init__ that did not call Function.__init__
            used = False
        if used:
            raise GraphError(
                f"{type(self).__name__}: a Function instance is a single graph node and was already "
                f"called; create a new one for each call, e.g. {type(self).__name__}()(x)"
            )
        if _mode.grad_enabled:
            needs = tuple([isinstance(a, Tensor) and a._requires_grad for a in args])
            record = True in needs
        else:
            record = False
        if not record:
            needs = _NO_NEEDS[len(args)] if len(args) < 8 else (False,) * len(args)
        self.needs_input_grad = needs
        out = self.forward(*[a.data if isinstance(a, Tensor) else a for a in args])
        if _mode.anomaly_enabled:
            return self._checked(args, out, record)
        if record and type(out) is np.ndarray and out.dtype.kind == "f":
            # the common case, inlined: one float array output of a recorded node
            self.inputs = args
            self._n_out = 1
            self._extra = None
            self._clock = _mode.clock
            t = _new(Tensor)
            t.data = out
            t.grad = None
            t._requires_grad = True
            t._node = self
            t._index = 0
            t.name = None
            return t
        if not record and type(out) is np.ndarray:
            self.inputs = ()
            return _wrap(out)
        return self._wrap_outputs(args, out, record)

    def _checked(self, args, out, record):
        """The end of __call__ under detect_anomaly: wrap, then check the outputs."""
        from .anomaly import check_forward

        result = self._wrap_outputs(args, out, record)
        check_forward(self, args, result)
        return result

    def _wrap_outputs(self, args, out, record):
        if record:
            self.inputs = args
            self._clock = _mode.clock
            if type(out) is tuple:
                outs = tuple(_output(o, True, self, i) for i, o in enumerate(out))
                self._n_out = len(outs)
                self._extra = {"out_meta": [(o.shape, o.dtype) for o in outs]}
                return outs
            self._n_out = 1
            self._extra = None
            return _output(out, True, self, 0)
        self.inputs = ()
        if type(out) is tuple:
            return tuple(_output(o, False, None, 0) for o in out)
        return _output(out, False, None, 0)

    # ----------------------------------------------------------------- graph helpers
    def _retain(self, t: Tensor) -> None:
        """Ask backward to store the gradient of output ``t`` in ``t.grad``."""
        import weakref

        extra = self._extra or {}
        extra.setdefault("retain", {})[t._index] = weakref.ref(t)
        self._extra = extra

    def _hooks_for(self, index: int) -> list:
        """The list of gradient hooks of output ``index`` (created on first use)."""
        extra = self._extra or {}
        self._extra = extra
        return extra.setdefault("hooks", {}).setdefault(index, [])

    def _free(self) -> None:
        """Drop the inputs and everything saved for backward."""
        self.inputs = None
        for name in type(self)._saved_slots:
            setattr(self, name, None)
        d = getattr(self, "__dict__", None)
        if d:
            d.clear()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # the slots a subclass adds hold what its backward needs; _free clears them
        names = []
        for klass in cls.__mro__:
            for s in klass.__dict__.get("__slots__", ()):
                if s not in _BASE_SLOTS and s not in ("__dict__", "__weakref__") and s not in names:
                    names.append(s)
        cls._saved_slots = tuple(names)

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} node>"


_BASE_SLOTS = frozenset(Function.__slots__)
Function._saved_slots = ()


def _output(o, requires_grad: bool, node, index: int) -> Tensor:
    if type(o) is not np.ndarray:
        if isinstance(o, Tensor):
            raise ArgumentTypeError(
                f"{type(node).__name__ if node else 'Function'}.forward returned a Tensor; forward "
                "works on NumPy arrays and must return arrays (use .data on tensors)"
            )
        o = np.asarray(o)
    if requires_grad and o.dtype.kind not in "fc":
        return _wrap(o)
    return _wrap(o, requires_grad, node, index)
