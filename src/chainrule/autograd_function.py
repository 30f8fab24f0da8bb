"""``chainrule.autograd.Function``: a differentiable operation written in PyTorch's ctx style.

::

    class Exp(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):              # Tensors in, Tensor(s) out (run without recording)
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):             # one Tensor gradient per output in, one per input out
            (y,) = ctx.saved_tensors
            return g * y

    y = Exp.apply(x)

This is the tutorials' ``cr.Function`` (arrays in, arrays out, state on ``self``) seen through
PyTorch's conventions, and it runs on the same machinery: ``apply`` makes one graph node (a
``cr.Function``) whose forward calls your ``forward`` under ``no_grad`` on the Tensors you passed,
and whose vector-Jacobian product calls your ``backward`` with Tensor gradients. Values saved with
``ctx.save_for_backward`` are checked against in-place changes when ``ctx.saved_tensors`` reads
them, as for every node. Under ``create_graph=True`` your ``backward`` runs with recording on, on
the saved inputs themselves (and on handles of the saved outputs), so what it computes with
chainrule's operations is differentiated again: Hessian-vector products work through it, as in
PyTorch.

Also as in PyTorch: ``ctx.needs_input_grad`` (one bool per argument of ``forward``), gradients
returned for arguments that need none are ignored, ``backward`` returns one gradient (or None)
per argument of ``forward``, and ``setup_context(ctx, inputs, output)`` may be defined instead
of taking ``ctx`` in ``forward``. Not supported (an UnsupportedError says so): ``mark_dirty``,
``mark_non_differentiable``, ``set_materialize_grads(False)`` and ``once_differentiable``.

Why a module of its own: ``chainrule.autograd`` is the backward walk, part of the engine, and
this class is an adapter built on ``cr.Function``'s public interface only; ``chainrule.autograd``
re-exports it so that it is spelled ``cr.autograd.Function``, as ``torch.autograd.Function`` is.
"""

from __future__ import annotations

import numpy as np

from . import namespace
from .errors import ArgumentTypeError, BackwardError, UnsupportedError
from .function import Function as _Node
from .modes import no_grad
from .tensor import Tensor, wrap

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


class FunctionCtx:
    """PyTorch's ``ctx``: what ``forward`` leaves for ``backward``. Set any attribute on it
    (``ctx.alpha = 2.0``); save Tensors with ``save_for_backward``."""

    def __init__(self, node: _CtxNode, needs_input_grad: tuple):
        self.node = node
        self.needs_input_grad = needs_input_grad
        self.xp = namespace.numpy_ns  # the backward's namespace, set by the node before backward

    def save_for_backward(self, *tensors) -> None:
        """Keep Tensors (inputs, outputs or others; None allowed) for ``backward``."""
        arrays = []
        for k, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise ArgumentTypeError(
                    f"save_for_backward can only save Tensors (or None), but argument {k} is a {type(t).__name__}; "
                    "keep other values as attributes of ctx (ctx.value = ...)"
                )
            arrays.append(None if t is None else t.data)
        self.node.save_for_backward(*arrays)

    @property
    def saved_tensors(self) -> tuple:
        """The Tensors saved by ``save_for_backward``, checked against in-place changes since."""
        return self.node.saved_as_tensors(self.xp)

    def mark_dirty(self, *tensors) -> None:
        raise UnsupportedError(
            "ctx.mark_dirty is not supported: a chainrule autograd.Function may not change its inputs in place; "
            "return a new tensor instead"
        )

    def mark_non_differentiable(self, *tensors) -> None:
        raise UnsupportedError(
            "ctx.mark_non_differentiable is not supported; return integer tensors (never differentiated) or "
            "detach() the output instead"
        )

    def set_materialize_grads(self, value: bool) -> None:
        if not value:
            raise UnsupportedError(
                "ctx.set_materialize_grads(False) is not supported: backward always receives a gradient for every "
                "output (zeros for an output that got none), as with PyTorch's default"
            )


def once_differentiable(fn):
    """Not supported: raises UnsupportedError (a ctx-style backward is differentiated again under
    ``create_graph``, as a PyTorch backward without the decorator is)."""
    raise UnsupportedError(
        "once_differentiable is not supported by chainrule's autograd.Function; remove the decorator (backward "
        "is then differentiated again under create_graph, as in PyTorch without it)"
    )


class Function:
    """Base class of a ctx-style differentiable operation; see the module's documentation.

    Subclass it, write ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` as static methods,
    and call ``YourFunction.apply(*args)``.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise UnsupportedError("an autograd.Function must define @staticmethod forward(ctx, *args)")

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Optional (PyTorch 2's style): with it, ``forward(*args)`` takes no ctx and this fills ctx."""
        raise UnsupportedError("setup_context is not defined")

    @staticmethod
    def backward(ctx, *grads):
        raise UnsupportedError(
            "an autograd.Function must define @staticmethod backward(ctx, *grads) returning one gradient per "
            "argument of forward"
        )

    def __init__(self, *args, **kwargs):
        raise ArgumentTypeError(
            f"{type(self).__name__} is an autograd.Function: do not make instances of it, call "
            f"{type(self).__name__}.apply(...)"
        )

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` on ``args`` and record one graph node whose backward is ``backward``."""
        positions = tuple(k for k, a in enumerate(args) if isinstance(a, Tensor))
        node = _node_class(cls)(cls, args, kwargs, positions)
        return node(*[args[k] for k in positions])


_NODE_CLASSES: dict = {}


def _node_class(cls) -> type:
    """The node class of an autograd.Function (named ``<Name>Backward``, as PyTorch's grad_fn is)."""
    nc = _NODE_CLASSES.get(cls)
    if nc is None:
        nc = _NODE_CLASSES[cls] = type(
            f"{cls.__name__}Backward",
            (_CtxNode,),
            {
                "formula": f"y = {cls.__name__}.forward(...)",
                "derivative": f"computed by {cls.__name__}.backward",
                "__module__": cls.__module__,
            },
        )
    return nc


class _CtxNode(_Node):
    """The graph node of one ``apply``: its inputs are the Tensor arguments."""

    def __init__(self, fn_cls, args: tuple, kwargs: dict, positions: tuple):
        self.fn_cls = fn_cls
        self.args = args
        self.kwargs = kwargs
        self.positions = positions

    def forward(self, *arrays):
        args = list(self.args)
        for k, a in zip(self.positions, arrays):
            if args[k].data is not a:  # a re-run on other values (gradcheck_graph): Tensors around them
                args[k] = wrap(a)
        needs = [False] * len(args)
        for k, need in zip(self.positions, self.needs_input_grad):
            needs[k] = need
        ctx = self.ctx = FunctionCtx(self, tuple(needs))
        cls = self.fn_cls
        with no_grad():
            if _defines(cls, "setup_context"):
                out = cls.forward(*args, **self.kwargs)
                cls.setup_context(ctx, tuple(args), out)
            else:
                out = cls.forward(ctx, *args, **self.kwargs)
        inputs = [a for a in arrays if isinstance(a, np.ndarray)]
        if isinstance(out, tuple):
            return tuple(_output_array(cls, o, inputs) for o in out)
        return _output_array(cls, out, inputs)

    def saved_as_tensors(self, xp) -> tuple:
        """What ``forward`` saved, checked, as Tensors: on the ordinary backward, the input Tensors
        themselves and constants around the rest; under create_graph, recorded inputs and outputs."""
        saved = self.saved(xp)
        if xp is not namespace.numpy_ns:
            return tuple(a if a is None or isinstance(a, Tensor) else wrap(np.asarray(a)) for a in saved)
        out = []
        for a in saved:
            t = None if a is None else wrap(a)
            for x in self.inputs or ():
                if a is not None and x.data is a:
                    t = x  # a saved input is the input Tensor itself
                    break
            out.append(t)
        return tuple(out)

    def vjp(self, xp, *grads):
        self.ctx.xp = xp
        gs = [wrap(g) for g in grads] if xp is namespace.numpy_ns else list(grads)
        res = self.fn_cls.backward(self.ctx, *gs)
        res = res if isinstance(res, tuple) else (res,)
        n = len(self.args)
        if len(res) < n or any(r is not None for r in res[n:]):
            raise BackwardError(
                f"{self.fn_cls.__name__}.backward returned {len(res)} gradient(s), but forward took {n} argument(s): "
                "return one gradient per argument of forward (None for arguments that need none)"
            )
        out = []
        for k, need in zip(self.positions, self.needs_input_grad):
            g = res[k] if need else None
            if g is not None and not isinstance(g, Tensor):
                g = np.asarray(g)
            out.append(g)
        return tuple(out)


def _defines(cls, name: str) -> bool:
    """Whether ``cls`` (or a base below autograd.Function) overrides ``name``."""
    return getattr(cls, name) is not getattr(Function, name)


def _output_array(cls, o, inputs) -> np.ndarray:
    """One output of forward as an array the node may own: never an input's memory (an input returned
    as it is, or a view of it, is copied)."""
    if isinstance(o, Tensor):
        a = o.data
    elif o is None:
        raise ArgumentTypeError(f"{cls.__name__}.forward returned None; return Tensor(s)")
    else:
        a = np.asarray(o)
    if any(np.may_share_memory(a, x) for x in inputs):
        a = a.copy()
    return a
