"""Operations that move values around: reshape, transpose, broadcast, index, join, split."""

from __future__ import annotations

import builtins
import math

import numpy as np

from ..errors import ArgumentError, IndexOutOfRangeError, ShapeError
from ..function import Function
from ..tensor import Tensor
from .operands import as_t, dim_arg, norm_axis, norm_dims


class Reshape(Function):
    view = True
    formula = "y = x with a new shape"
    derivative = "dy/dx = 1 (gradient reshaped back)"

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ShapeError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into {self.shape}"
            ) from None

    def vjp(self, xp, g):
        return xp.reshape(g, self.in_shape)


class Transpose(Function):
    view = True
    formula = "y = x with its axes permuted"
    derivative = "dy/dx = 1 (gradient permuted back)"

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return np.transpose(x, self.axes)

    def vjp(self, xp, g):
        inverse = None if self.axes is None else tuple(int(a) for a in np.argsort(self.axes))
        return xp.transpose(g, inverse)


class BroadcastTo(Function):
    view = True
    formula = "y = x repeated along broadcast axes"
    derivative = "dy/dx = 1 (gradient summed over the repeated axes)"
    broadcasts = (0,)

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        try:
            return np.broadcast_to(x, self.shape)
        except ValueError:
            raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {self.shape}") from None

    def vjp(self, xp, g):
        return g  # the backward walk sums it back to the input's shape


def _is_basic(index) -> bool:
    """True for indices made only of ints, slices, None and Ellipsis (no repeats possible)."""
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if not (i is None or i is Ellipsis or isinstance(i, (slice, int, np.integer))) or isinstance(i, bool):
            return False
    return True


def _with_ellipsis(index):
    """A basic index that selects single elements, with a trailing ``...`` (NumPy then returns a 0-d view)."""
    return (index if isinstance(index, tuple) else (index,)) + (Ellipsis,)


def _norm_index(index):
    # index arrays are copied: the node keeps them for backward, and the caller may change theirs
    if isinstance(index, (Tensor, np.ndarray)):
        return np.array(index.data if isinstance(index, Tensor) else index)
    if isinstance(index, tuple):
        return tuple(
            np.array(i.data if isinstance(i, Tensor) else i) if isinstance(i, (Tensor, np.ndarray)) else i
            for i in index
        )
    if isinstance(index, list):
        return np.asarray(index)
    return index


class GetItem(Function):
    """y = x[index]; repeated indices accumulate their gradients."""

    view = True  # with slices and integers (basic indexing); advanced indexing copies
    formula = "y = x[index]"
    derivative = "dy/dx = 1 at the selected positions (summed where selected twice), 0 elsewhere"

    def __init__(self, index):
        self.index = index
        self.basic = _is_basic(index)

    def forward(self, x):
        self.in_shape = x.shape
        try:
            if not self.basic:
                return np.asarray(x[self.index])
            out = x[self.index]
            # an element (x[0] of a vector) is a NumPy scalar, a copy: x[0, ...] is the same value as a
            # 0-d view, so that it shares x's memory (and version counter) as PyTorch's x[0] does
            return out if type(out) is np.ndarray else x[_with_ellipsis(self.index)]
        except IndexError as e:
            raise IndexOutOfRangeError(f"getitem: {e} (tensor shape {x.shape})") from None

    def vjp(self, xp, g):
        return xp.take_adjoint(g, self.index, self.in_shape, self.basic)


class TakeAdjoint(Function):
    """y = zeros(shape) with x added at ``index`` (the adjoint of getitem, ``take``)."""

    formula = "y = zeros; y[index] += x"
    derivative = "dy/dx = 1 (gradient gathered at index)"

    def __init__(self, index, shape, basic):
        self.index = index
        self.shape = shape
        self.basic = basic

    def forward(self, g):
        from ..namespace import numpy_ns

        return numpy_ns.take_adjoint(g, self.index, self.shape, self.basic)

    def vjp(self, xp, g):
        return xp.take(g, self.index)


class IndexPut(Function):
    """y = x with y[index] = v (what ``t[index] = v`` records)."""

    formula = "y = x; y[index] = v"
    derivative = "dy/dx = 1 outside index, 0 at index; dy/dv = 1 at index (summed where v was broadcast)"

    def __init__(self, index):
        self.index = index

    def forward(self, x, v):
        out = x.copy()
        try:
            out[self.index] = v
        except IndexError as e:
            raise IndexOutOfRangeError(f"setitem: {e} (tensor shape {x.shape})") from None
        except ValueError as e:
            raise ShapeError(f"setitem: {e} (tensor shape {x.shape}, value shape {np.shape(v)})") from None
        if self.needs_input_grad[0]:
            mask = np.zeros(x.shape, bool)
            mask[self.index] = True
            self.mask = mask
        return out

    def vjp(self, xp, g):
        nx, nv = self.needs_input_grad
        gx = xp.where(self.mask, xp.const(0, g), g) if nx else None
        return gx, (xp.take(g, self.index) if nv else None)


class Concatenate(Function):
    formula = "y = [x1, x2, ...] joined along an axis"
    derivative = "dy/dx_k = 1 on x_k's slice"

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        try:
            out = np.concatenate(xs, axis=self.axis)
        except ValueError:
            raise ShapeError(
                f"concatenate: shapes {[x.shape for x in xs]} do not match except along axis {self.axis}"
            ) from None
        self.bounds = [int(b) for b in np.cumsum([x.shape[self.axis] for x in xs])[:-1]]
        return out

    def vjp(self, xp, g):
        return tuple(xp.split(g, self.bounds, axis=self.axis))


class Stack(Function):
    formula = "y = [x1, x2, ...] stacked along a new axis"
    derivative = "dy/dx_k = 1 on x_k's slice"

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        try:
            return np.stack(xs, axis=self.axis)
        except ValueError:
            raise ShapeError(f"stack: all tensors must have the same shape, got {[x.shape for x in xs]}") from None

    def vjp(self, xp, g):
        lead = (slice(None),) * self.axis
        return tuple(xp.take(g, lead + (k,)) for k in range(len(self.needs_input_grad)))


class Split(Function):
    """Several outputs: x cut into pieces along an axis (at ``sections``: indices, or a number of nearly
    equal pieces, as NumPy's ``array_split`` and PyTorch's ``tensor_split`` take them)."""

    view = True
    formula = "y_1, y_2, ... = pieces of x along an axis"
    derivative = "dy_k/dx = 1 on y_k's slice"

    def __init__(self, sections, axis):
        self.sections = sections
        self.axis = axis

    def forward(self, x):
        try:
            return tuple(np.array_split(x, self.sections, axis=self.axis))
        except ValueError as e:
            raise ShapeError(f"split: {e} (shape {x.shape}, axis {self.axis})") from None

    def vjp(self, xp, *gs):
        return xp.concatenate(gs, axis=self.axis)


# --------------------------------------------------------------------------- functions
# Dimension arguments take PyTorch's name (``dim``) or NumPy's (``axis``); giving both is an error.


def _or(value, default):
    return default if value is None else value


def reshape(x, shape):
    """The same values in a new shape (one dimension may be -1)."""
    x = as_t(x)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(shape)
    if shape == x.data.shape:
        return x
    if any(isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) or d < -1 for d in shape):
        raise ShapeError(
            f"reshape: invalid shape {shape}: dimensions are integers >= 0, and one of them may be -1 (inferred)"
        )
    if sum(1 for d in shape if d == -1) > 1:
        raise ShapeError(f"reshape: invalid shape {shape}: only one dimension can be inferred (-1)")
    return Reshape(shape)(x)


def flatten(x, start_dim=None, end_dim=None, *, start_axis=None, end_axis=None):
    """Merge dimensions ``start_dim..end_dim`` (by default 0 and -1: all) into one (PyTorch's ``flatten``;
    ``start_axis``/``end_axis`` are accepted as other names for them)."""
    x = as_t(x)
    start_dim = _or(dim_arg("flatten", start_dim, start_axis), 0)
    end_dim = _or(dim_arg("flatten", end_dim, end_axis), -1)
    nd = x.data.ndim
    if nd == 0:
        return reshape(x, (1,))
    s = norm_axis(start_dim, nd, "flatten")[0]
    e = norm_axis(end_dim, nd, "flatten")[0]
    if s > e:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for {nd} dims")
    shp = x.data.shape
    new = shp[:s] + (math.prod(shp[s : e + 1]),) + shp[e + 1 :]
    return reshape(x, new)


def permute(x, *dims):
    """The dimensions in the order ``dims`` (a permutation of 0..ndim-1; PyTorch's ``permute``, NumPy's
    ``transpose(x, axes)``). ``x.permute(1, 0)`` and ``x.permute((1, 0))`` both work."""
    x = as_t(x)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    nd = x.data.ndim
    given = tuple(dims)
    order = tuple(norm_axis(a, nd, "permute")[0] for a in given) if nd else given
    if sorted(order) != list(range(nd)):
        raise ShapeError(
            f"permute: dims {given} are not a permutation of the {nd} dims of a tensor of shape {x.data.shape}"
        )
    if order == tuple(range(nd)):
        return x
    return Transpose(order)(x)


def transpose(x, dim0: int, dim1: int):
    """``x`` with dimensions ``dim0`` and ``dim1`` swapped (PyTorch's ``transpose``; for NumPy's
    ``transpose(x, axes)`` use :func:`permute`, for all dimensions reversed ``x.T``)."""
    x = as_t(x)
    nd = x.data.ndim
    if nd == 0:  # PyTorch allows dims 0 and -1 of a 0-d tensor
        norm_axis(dim0, 1, "transpose"), norm_axis(dim1, 1, "transpose")
        return x
    a, b = norm_axis(dim0, nd, "transpose")[0], norm_axis(dim1, nd, "transpose")[0]
    order = list(range(nd))
    order[a], order[b] = order[b], order[a]
    return permute(x, order)


def swapaxes(x, axis0: int, axis1: int):
    """Another name for :func:`transpose` (NumPy's and PyTorch's)."""
    return transpose(x, axis0, axis1)


swapdims = swapaxes


def reverse_dims(x):
    """All dimensions in reverse order (what ``x.T`` gives)."""
    x = as_t(x)
    return permute(x, tuple(range(x.data.ndim - 1, -1, -1)))


def matrix_transpose(x):
    """The last two dimensions swapped (``x.mT``)."""
    x = as_t(x)
    if x.data.ndim < 2:
        raise ShapeError(f"mT: the tensor needs at least 2 dimensions, got shape {x.data.shape}")
    return transpose(x, -2, -1)


def expand_dims(x, axis):
    """Insert dimensions of size 1 at ``axis`` (an int or a tuple; NumPy's ``expand_dims``)."""
    x = as_t(x)
    try:
        shape = np.expand_dims(x.data, axis).shape
    except (ValueError, IndexError):  # NumPy's AxisError
        raise ShapeError(
            f"expand_dims: axis {axis} is out of range for the {x.data.ndim + 1} dimensions of the result"
        ) from None
    return reshape(x, shape)


def unsqueeze(x, dim: int):
    """Insert a dimension of size 1 at ``dim`` (PyTorch's ``unsqueeze``)."""
    x = as_t(x)
    d = norm_axis(dim, x.data.ndim + 1, "unsqueeze")[0]
    return reshape(x, x.data.shape[:d] + (1,) + x.data.shape[d:])


def squeeze(x, dim=None, *, axis=None):
    """Remove dimensions of size 1: all of them, or those of ``dim`` (an int or a tuple) that have size 1
    (a dimension of another size is left as it is, as in PyTorch)."""
    x = as_t(x)
    dim = dim_arg("squeeze", dim, axis)
    if dim is None:
        return reshape(x, np.squeeze(x.data).shape)
    dims = norm_dims(dim, x.data.ndim, "squeeze")
    return reshape(x, tuple(n for i, n in enumerate(x.data.shape) if not (i in dims and n == 1)))


def broadcast_to(x, shape):
    x = as_t(x)
    shape = tuple(shape)
    if shape == x.data.shape:
        return x
    return BroadcastTo(shape)(x)


def moveaxis(x, source: int, destination: int):
    """Move dimension ``source`` to position ``destination``, the others keeping their order (NumPy's
    ``moveaxis``, PyTorch's ``movedim``)."""
    x = as_t(x)
    nd = x.data.ndim
    if nd == 0:  # axes 0 or -1, as in PyTorch: nothing to move
        norm_axis(source, 1, "moveaxis"), norm_axis(destination, 1, "moveaxis")
        return x
    src = norm_axis(source, nd, "moveaxis")[0]
    dst = norm_axis(destination, nd, "moveaxis")[0]
    order = [a for a in range(nd) if a != src]
    order.insert(dst, src)
    return permute(x, order)


movedim = moveaxis


def take(x, index):
    """x[index] (the namespace's name for indexing)."""
    return getitem(x, index)


def take_adjoint(g, index, shape, basic: bool):
    """zeros(shape) with ``g`` added at ``index``: the adjoint of ``x[index]`` (the namespace's function; PyTorch's
    ``scatter_add`` is :func:`chainrule.ops.indexing.scatter_add`)."""
    return TakeAdjoint(index, tuple(shape), basic)(as_t(g))


def index_put(x, index, value):
    """x with x[index] = value, as a new tensor (what ``t[index] = value`` records)."""
    from .operands import pair

    x, v = pair(x, value)
    if v.data.dtype != x.data.dtype:
        v = v.astype(x.data.dtype) if v.requires_grad else as_t(v.data.astype(x.data.dtype))
    return IndexPut(_norm_index(index))(x, v)


def getitem(x, index):
    """x[index]: basic and advanced (integer/boolean array) indexing, as NumPy does."""
    return GetItem(_norm_index(index))(as_t(x))


def cat(tensors, dim=None, *, axis=None):
    """Join tensors along an existing dimension (0 by default; PyTorch's ``cat``; ``concatenate`` and
    ``concat`` are other names for it)."""
    ts = [as_t(t) for t in tensors]
    if not ts:
        raise ArgumentError("cat: need at least one tensor")
    d = _or(dim_arg("cat", dim, axis), 0)
    return Concatenate(norm_axis(d, ts[0].data.ndim, "cat")[0])(*ts)


def concatenate(tensors, axis=None, *, dim=None):
    """Another name for :func:`cat` (NumPy's)."""
    return cat(tensors, dim, axis=axis)


concat = concatenate


def stack(tensors, dim=None, *, axis=None):
    """Join tensors of one shape along a new dimension (0 by default)."""
    ts = [as_t(t) for t in tensors]
    if not ts:
        raise ArgumentError("stack: need at least one tensor")
    d = _or(dim_arg("stack", dim, axis), 0)
    return Stack(norm_axis(d, ts[0].data.ndim + 1, "stack")[0])(*ts)


def split(x, split_size_or_sections, dim=None, *, axis=None):
    """Cut ``x`` along ``dim`` into pieces of ``split_size`` (the last one smaller if need be) or of the
    sizes in the list ``sections``, as PyTorch's ``split`` does (NumPy's ``split``, which takes a number of
    pieces or the indices to cut at, is :func:`tensor_split`). Returns a tuple of tensors."""
    x = as_t(x)
    d = norm_axis(_or(dim_arg("split", dim, axis), 0), x.data.ndim, "split")[0]
    n = x.data.shape[d]
    sizes = split_size_or_sections
    if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        if sizes <= 0 and n:
            raise ArgumentError(f"split: split_size must be positive, got {sizes}")
        indices = list(range(int(sizes), n, int(sizes))) if sizes > 0 else []
    else:
        sizes = [int(k) for k in sizes]
        if any(k < 0 for k in sizes) or builtins.sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} must be non-negative and add up to {n}, dim {d}'s length")
        indices = [int(b) for b in np.cumsum(sizes)[:-1]]
    return Split(indices, d)(x)


def tensor_split(x, indices_or_sections, dim=None, *, axis=None):
    """Cut ``x`` along ``dim`` into ``sections`` nearly equal pieces or at the given ``indices`` (PyTorch's
    ``tensor_split``, NumPy's ``array_split``). Returns a tuple of tensors."""
    x = as_t(x)
    d = norm_axis(_or(dim_arg("tensor_split", dim, axis), 0), x.data.ndim, "tensor_split")[0]
    if isinstance(indices_or_sections, (np.ndarray, Tensor)):
        indices_or_sections = np.asarray(indices_or_sections).tolist()
    if isinstance(indices_or_sections, (list, tuple)):
        indices_or_sections = [int(i) for i in indices_or_sections]
    elif indices_or_sections <= 0:
        raise ArgumentError(f"tensor_split: the number of sections must be positive, got {indices_or_sections}")
    return Split(indices_or_sections, d)(x)
