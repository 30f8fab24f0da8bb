"""In-place operations with PyTorch's rules: ``add_``, ``t -= v``, ``t[idx] = v``, ...

- Outside recording (``cr.no_grad()``, or when nothing involved requires grad) the tensor's array is
  written in place and its version counter bumped, so a graph that saved the old values refuses its
  backward. This is how a manual update ``with cr.no_grad(): p -= lr * p.grad`` changes ``p``.
- While recording, an in-place operation on a tensor that is part of a graph (or with an operand that
  requires grad) is recorded like its out-of-place twin: the tensor's values are overwritten, its
  version bumped, and its ``grad_fn`` becomes the new node, whose input is the tensor's old value.
  Nodes recorded before keep their edges to the old producer, so their gradients stay right.
- Refused while recording, with an error naming the tensor: an in-place operation on a leaf that
  requires grad (change weights under ``cr.no_grad()``), and one on a tensor that shares memory with
  another through a view (reshape, transpose, indexing with slices): chainrule does not rewrite the
  history of views, so it refuses rather than leave a view's gradient silently stale.
"""

from __future__ import annotations

import numpy as np

from .errors import ArgumentError, DTypeError, GraphError, ShapeError
from .modes import state
from .tensor import Tensor, bump
from .tensor import wrap as _wrap

__all__ = ["apply", "setitem", "recording"]


def recording(t: Tensor, operands) -> bool:
    """Whether an in-place operation on ``t`` with ``operands`` is recorded in the graph."""
    if not state.grad_enabled or t.data.dtype.kind not in "fc":  # integer tensors are never differentiable
        return False
    return t._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in operands)


def _label(t: Tensor) -> str:
    return (f"'{t.name}' " if t.name else "") + f"(shape {t.shape})"


def _check_recordable(t: Tensor, op: str) -> None:
    if t._edge is None and t._requires_grad:
        raise GraphError(
            f"{op}: in-place operation on the leaf tensor {_label(t)}, which requires grad, while gradients "
            "are being recorded: backward would need its old values. Change weights inside `with "
            "cr.no_grad():` (an update step), or work on a copy (t.clone())"
        )
    vc = t._vc
    if vc is not None and vc.views:
        raise GraphError(
            f"{op}: in-place operation on the tensor {_label(t)}, which shares its memory with a view (reshape, "
            "transpose, indexing with slices, split, broadcast_to), while gradients are being recorded; chainrule "
            "does not rewrite the graph of views, so the other tensor's gradient would go stale. Use the "
            "out-of-place operation (t = t + v), or clone() before taking the view"
        )


def _fit_result(t: Tensor, r: Tensor, op: str) -> Tensor:
    """The out-of-place result, checked to fit ``t`` (shape) and cast to ``t``'s dtype."""
    if r.shape != t.shape:
        raise ShapeError(
            f"{op}: the result has shape {r.shape} (the operands broadcast together), but the tensor changed in "
            f"place has shape {t.shape}; an in-place operation cannot change a tensor's shape"
        )
    if r.dtype != t.dtype:
        if not np.can_cast(r.dtype, t.dtype, "same_kind"):
            raise DTypeError(
                f"{op}: the result has dtype {r.dtype}, which cannot be stored in place in a tensor of dtype "
                f"{t.dtype}; convert the tensor first (t = t.float())"
            )
        r = r.astype(t.dtype)
    return r


def apply(t: Tensor, op: str, write, compute, operands=()) -> Tensor:
    """Change ``t`` in place and return it.

    ``write(array)`` changes the raw array (used when nothing is recorded); ``compute(old)`` returns
    the out-of-place result from a tensor holding ``t``'s old values (used when recording).
    """
    if recording(t, operands):
        _check_recordable(t, op)
        old = _wrap(t.data.copy(), t._requires_grad, t._edge)  # the old values, for nodes that read them
        old.name = t.name
        r = _fit_result(t, compute(old), op)
        _write(t, op, lambda a: np.copyto(a, r.data))
        retained = _retained(t)
        t._edge = r._edge
        t._requires_grad = r._requires_grad
        if retained:  # retain_grad() follows the tensor: its .grad is the gradient of its new value
            r._edge[0]._retain(t)
        return t
    _write(t, op, write)
    return t


def _retained(t: Tensor) -> bool:
    """Whether ``t`` asked for its gradient (retain_grad) at the node that made it; the request is taken off."""
    if t._edge is None:
        return False
    node, index = t._edge
    retain = (node._extra or {}).get("retain") or {}
    ref = retain.get(index)
    if ref is not None and ref() is t:
        del retain[index]
        return True
    return False


def _write(t: Tensor, op: str, write) -> None:
    try:
        write(t.data)
    except ValueError as e:
        msg = str(e)
        if "read-only" in msg:
            raise ArgumentError(
                f"{op}: the tensor {_label(t)} is read-only (a broadcast view, or an array NumPy marked "
                "read-only); clone() it first"
            ) from None
        raise ShapeError(f"{op}: cannot write the result into a tensor of shape {t.shape} in place ({msg})") from None
    except TypeError as e:  # NumPy's casting errors (e.g. a float result into an integer tensor)
        raise DTypeError(
            f"{op}: the result cannot be stored in place in a tensor of dtype {t.dtype} ({e}); convert the tensor "
            "first (t = t.float())"
        ) from None
    bump(t)


def setitem(t: Tensor, index, value) -> None:
    """``t[index] = value`` with the in-place rules above (recorded as an index-put node)."""
    from . import ops

    def write(a):
        a[index] = value.data if isinstance(value, Tensor) else value

    def compute(old):
        return ops.index_put(old, index, value)

    apply(t, "setitem", write, compute, (value,))
