"""Operations that move values around: reshape, transpose, broadcast, index, join, split."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, IndexOutOfRangeError, ShapeError
from ..function import Function
from ..tensor import Tensor
from .operands import as_t, norm_axis, norm_dims


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
            return np.asarray(x[self.index]) if not self.basic else x[self.index]
        except IndexError as e:
            raise IndexOutOfRangeError(f"getitem: {e} (tensor shape {x.shape})") from None

    def vjp(self, xp, g):
        return xp.scatter_add(g, self.index, self.in_shape, self.basic)


class ScatterAdd(Function):
    """y = zeros(shape) with x added at ``index`` (the adjoint of getitem)."""

    formula = "y = zeros; y[index] += x"
    derivative = "dy/dx = 1 (gradient gathered at index)"

    def __init__(self, index, shape, basic):
        self.index = index
        self.shape = shape
        self.basic = basic

    def forward(self, g):
        from ..namespace import numpy_ns

        return numpy_ns.scatter_add(g, self.index, self.shape, self.basic)

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
    """Several outputs: x cut into pieces along an axis."""

    view = True
    formula = "y_1, y_2, ... = pieces of x along an axis"
    derivative = "dy_k/dx = 1 on y_k's slice"

    def __init__(self, sections, axis):
        self.sections = sections
        self.axis = axis

    def forward(self, x):
        try:
            return tuple(np.split(x, self.sections, axis=self.axis))
        except ValueError as e:
            raise ShapeError(f"split: {e} (shape {x.shape}, axis {self.axis})") from None

    def vjp(self, xp, *gs):
        return xp.concatenate(gs, axis=self.axis)


# --------------------------------------------------------------------------- functions
def reshape(x, shape):
    """The same values in a new shape (one dimension may be -1)."""
    x = as_t(x)
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(shape)
    if shape == x.data.shape:
        return x
    return Reshape(shape)(x)


def flatten(x, start_axis: int = 0, end_axis: int = -1):
    """Merge axes ``start_axis..end_axis`` into one (PyTorch's ``flatten``)."""
    x = as_t(x)
    nd = x.data.ndim
    if nd == 0:
        return reshape(x, (1,))
    s = norm_axis(start_axis, nd, "flatten")[0]
    e = norm_axis(end_axis, nd, "flatten")[0]
    if s > e:
        raise ShapeError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis} for {nd} dims")
    shp = x.data.shape
    new = shp[:s] + (int(np.prod(shp[s : e + 1])),) + shp[e + 1 :]
    return reshape(x, new)


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None), as NumPy does."""
    x = as_t(x)
    if axes is not None:
        nd = x.data.ndim
        given = tuple(axes)
        axes = tuple(norm_axis(a, nd, "transpose")[0] for a in given) if nd else given
        if sorted(axes) != list(range(nd)):
            raise ShapeError(
                f"transpose: axes {given} are not a permutation of the {nd} axes of a tensor of shape {x.data.shape}"
            )
    if x.data.ndim < 2:
        return x
    return Transpose(axes)(x)


def swapaxes(x, axis1: int, axis2: int):
    x = as_t(x)
    if x.data.ndim == 0:  # axes 0 or -1, as in PyTorch: nothing to swap
        norm_axis(axis1, 1, "swapaxes"), norm_axis(axis2, 1, "swapaxes")
        return x
    axes = list(range(x.data.ndim))
    a, b = norm_axis(axis1, x.data.ndim, "swapaxes")[0], norm_axis(axis2, x.data.ndim, "swapaxes")[0]
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def expand_dims(x, axis):
    """Insert axes of size 1 at ``axis`` (an int or a tuple)."""
    x = as_t(x)
    try:
        shape = np.expand_dims(x.data, axis).shape
    except (ValueError, IndexError):  # NumPy's AxisError
        raise ShapeError(
            f"expand_dims: axis {axis} is out of range for the {x.data.ndim + 1} dimensions of the result"
        ) from None
    return reshape(x, shape)


def squeeze(x, axis=None):
    """Remove axes of size 1: all of them, or those in ``axis`` (as in PyTorch, one of another size stays)."""
    x = as_t(x)
    if axis is not None:  # as in PyTorch, an axis whose size is not 1 stays
        axis = tuple(a for a in norm_dims(axis, x.data.ndim, "squeeze") if x.data.shape[a] == 1)
    return reshape(x, np.squeeze(x.data, axis).shape)


def broadcast_to(x, shape):
    x = as_t(x)
    shape = tuple(shape)
    if shape == x.data.shape:
        return x
    return BroadcastTo(shape)(x)


def moveaxis(x, source: int, destination: int):
    """Move axis ``source`` to position ``destination``, the others keeping their order (NumPy's ``moveaxis``)."""
    x = as_t(x)
    nd = x.data.ndim
    if nd == 0:  # axes 0 or -1, as in PyTorch: nothing to move
        norm_axis(source, 1, "moveaxis"), norm_axis(destination, 1, "moveaxis")
        return x
    src = norm_axis(source, nd, "moveaxis")[0]
    dst = norm_axis(destination, nd, "moveaxis")[0]
    order = [a for a in range(nd) if a != src]
    order.insert(dst, src)
    return transpose(x, order)


def take(x, index):
    """x[index] (the namespace's name for indexing)."""
    return getitem(x, index)


def scatter_add(g, index, shape, basic: bool):
    """zeros(shape) with ``g`` added at ``index``: the adjoint of ``x[index]``."""
    return ScatterAdd(index, tuple(shape), basic)(as_t(g))


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


def concatenate(tensors, axis: int = 0):
    """Join tensors along an existing axis."""
    ts = [as_t(t) for t in tensors]
    if not ts:
        raise ArgumentError("concatenate: need at least one tensor")
    axis = norm_axis(axis, ts[0].data.ndim, "concatenate")[0]
    return Concatenate(axis)(*ts)


def stack(tensors, axis: int = 0):
    """Join tensors of one shape along a new axis."""
    ts = [as_t(t) for t in tensors]
    if not ts:
        raise ArgumentError("stack: need at least one tensor")
    axis = norm_axis(axis, ts[0].data.ndim + 1, "stack")[0]
    return Stack(axis)(*ts)


def split(x, indices_or_sections, axis: int = 0):
    """Cut ``x`` along ``axis`` into equal sections or at the given indices (NumPy's ``split``).

    Returns a tuple of tensors.
    """
    x = as_t(x)
    axis = norm_axis(axis, x.data.ndim, "split")[0]
    if isinstance(indices_or_sections, np.ndarray):
        indices_or_sections = indices_or_sections.tolist()
    return Split(indices_or_sections, axis)(x)
