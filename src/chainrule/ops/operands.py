"""Operands of the built-in operations: turning numbers and arrays into tensors with the right dtype."""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DTypeError, ShapeError
from ..tensor import Tensor, to_array
from ..tensor import wrap as _wrap

_F32 = np.dtype(np.float32)


def as_t(x, dtype=None) -> Tensor:
    """``x`` as a Tensor: tensors pass through, anything else becomes a constant."""
    if isinstance(x, Tensor):
        return x
    return _wrap(_const(x, dtype))


def _const(x, dtype) -> np.ndarray:
    """A non-tensor operand as an array that will not promote a float tensor to float64."""
    tx = type(x)
    if (tx is float or tx is int) and dtype is not None and dtype.kind in "fc":
        return np.asarray(x, dtype=dtype)
    if isinstance(x, np.ndarray):
        if dtype is not None and dtype.kind in "fc" and x.dtype.kind in "biu":
            return x.astype(dtype)
        return x
    if isinstance(x, (numbers.Number, np.generic)):
        if dtype is not None and (dtype.kind in "fc" or not isinstance(x, (float, np.floating))):
            if isinstance(x, (bool, np.bool_)) and dtype.kind not in "fc":
                return np.asarray(x)
            if dtype.kind == "b":  # an integer meeting a bool tensor: int64 (True + 2 == 3), as in PyTorch
                return np.asarray(x, dtype=np.int64)
            return np.asarray(x, dtype=dtype)
        return np.asarray(x, dtype=_F32 if isinstance(x, (float, np.floating)) else None)
    return to_array(x, copy=False)


def number_for(x: np.ndarray, v):
    """A Python number ``v`` meeting float array ``x`` in a NumPy call, as x's dtype: NumPy 2 keeps a float32
    array float32 next to a Python number, NumPy 1.x turns a 0-d one into float64; anything else passes as is."""
    return x.dtype.type(v) if type(v) in (int, float) and x.dtype.kind == "f" else v


def pair(a, b) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors, with no accidental float64.

    PyTorch's type promotion: Python numbers and NumPy scalars take the tensor's
    dtype; an integer or bool operand meeting a float tensor is converted to that
    float dtype; a 0-d tensor (or array) does not widen a tensor with dimensions of
    its own kind; otherwise two dtypes of one kind promote to the wider.
    """
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            da = a.data.dtype
            db = b.data.dtype
            if da is not db and da != db:
                return _promoted(a, b)
            return a, b
        c = _const(b, a.data.dtype)
        if c.dtype.kind in "fc" and a.data.dtype.kind in "biu":  # int tensor with a float: float32
            a = _wrap(a.data.astype(c.dtype))
        elif c.dtype is not a.data.dtype and c.ndim == 0 < a.data.ndim and c.dtype != a.data.dtype:
            return _promoted(a, _wrap(c))  # a 0-d array of another dtype: as a 0-d tensor would be
        return a, _wrap(c)
    if isinstance(b, Tensor):
        c = _const(a, b.data.dtype)
        if c.dtype.kind in "fc" and b.data.dtype.kind in "biu":
            b = _wrap(b.data.astype(c.dtype))
        elif c.dtype is not b.data.dtype and c.ndim == 0 < b.data.ndim and c.dtype != b.data.dtype:
            return _promoted(_wrap(c), b)
        return _wrap(c), b
    a = _wrap(_const(a, None))
    return a, _wrap(_const(b, a.data.dtype))


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _promoted(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Two tensors of different dtypes, as PyTorch promotes them: the higher category (bool < integer <
    float < complex) wins; within one category a tensor with dimensions outranks a 0-d one (float32
    matrix * float64 0-d tensor is float32), else the wider dtype wins (float32 * float64 is float64).
    Only the 0-d case differs from NumPy, so only there is an operand converted (differentiably)."""
    da, db = a.data.dtype, b.data.dtype
    ca, cb = _CATEGORY[da.kind], _CATEGORY[db.kind]
    if ca != cb:  # an integer or bool operand takes the other's (float) dtype, as before
        if ca > cb:
            return a, _wrap(b.data.astype(da)) if cb < 2 else _cast(b, da)
        return (_wrap(a.data.astype(db)) if ca < 2 else _cast(a, db)), b
    za, zb = a.data.ndim == 0, b.data.ndim == 0
    if za and not zb:
        return _cast(a, db), b
    if zb and not za:
        return a, _cast(b, da)
    return a, b  # NumPy's promotion is PyTorch's here


def _cast(t: Tensor, dtype) -> Tensor:
    if t.requires_grad:
        from .elementwise import astype

        return astype(t, dtype)
    return _wrap(t.data.astype(dtype))


def norm_axis(axis, ndim: int, op: str):
    """Normalise an axis argument (None, int or tuple) to a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple)):
        axes = tuple(axis)
    else:
        axes = (axis,)
    out = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)):
            raise ArgumentTypeError(f"{op}: axis must be an int or a tuple of ints, got {ax!r}")
        if not -ndim <= ax < ndim:
            raise ShapeError(f"{op}: axis {ax} is out of range for a tensor with {ndim} dimensions")
        a = int(ax) % ndim if ndim else 0
        if a in out:  # as in PyTorch (NumPy refuses repeats too)
            raise ShapeError(f"{op}: axis {a} appears more than once in {axis}")
        out.append(a)
    return tuple(sorted(out))


def norm_dims(axis, ndim: int, op: str):
    """:func:`norm_axis` with PyTorch's rule for a 0-d tensor: its one dimension may be named 0 or -1, and
    reducing (or squeezing) over it changes nothing, so the axes are ()."""
    if ndim == 0 and axis is not None:
        norm_axis(axis, 1, op)  # (checks the names)
        return ()
    return norm_axis(axis, ndim, op)


def dim_arg(op: str, dim, axis):
    """PyTorch's ``dim`` or NumPy's ``axis`` (two names for one argument): whichever was given."""
    if axis is None:
        return dim
    if dim is not None:
        raise ArgumentError(f"{op}: give dim or axis (NumPy's name for it), not both")
    return axis


def keepdim_arg(op: str, keepdim, keepdims) -> bool:
    """PyTorch's ``keepdim`` or NumPy's ``keepdims`` (two names for one argument); False when neither."""
    if keepdims is None:
        return bool(keepdim)
    if keepdim is not None:
        raise ArgumentError(f"{op}: give keepdim or keepdims (NumPy's name for it), not both")
    return bool(keepdims)


def keep_shape(shape: tuple, axes: tuple) -> tuple:
    """``shape`` with the reduced ``axes`` kept as size 1."""
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def broadcast_shapes(op: str, *shapes) -> tuple:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(
            f"{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be broadcast together "
            "(trailing dimensions must be equal or 1)"
        ) from None


def as_float_t(x) -> Tensor:
    """``as_t``, with integer and boolean tensors converted to float32 (the default float, as PyTorch does)
    for operations whose values are not integers (exp, sigmoid, mean, ...)."""
    t = as_t(x)
    if t.data.dtype.kind not in "fc":
        return _wrap(t.data.astype(np.float32))
    return t


def float_input(op: str, x) -> Tensor:
    """``as_t(x)``, refusing integer and boolean data: for the layers whose parameters are floats
    (normalisations), where PyTorch refuses them too rather than computing in another dtype."""
    t = as_t(x)
    if t.data.dtype.kind != "f":
        raise DTypeError(
            f"{op}: the input must be a floating-point tensor, got dtype {t.data.dtype}; convert it first, "
            "e.g. x.float()"
        )
    return t


def activation(x, op: str, make, inplace: bool, convert=as_float_t) -> Tensor:
    """``make()(x)``, or with ``inplace=True`` (PyTorch's ``F.relu(x, inplace=True)``, ``nn.ReLU(inplace=True)``)
    the same values written into ``x`` with PyTorch's rules for in-place operations."""
    if not inplace:
        return make()(convert(x))
    if not isinstance(x, Tensor):
        raise ArgumentTypeError(f"{op}: inplace=True needs a Tensor to change, got {type(x).__name__}")
    from ..inplace import apply

    def write(a):
        np.copyto(a, make()(_wrap(a)).data, casting="same_kind")

    return apply(x, op + "_", write, lambda old: make()(old))
