"""Operations that move values around: reshape, transpose, broadcast, index, join, split."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, IndexOutOfRangeError, ShapeError
from ..function import Function
from ..tensor import Tensor
from ._base import as_t, norm_axis

_wrap = Tensor._wrap


class Reshape(Function):
    __slots__ = ("shape",)
    reads_inputs = False  # (its output may be a view: consumers check that memory themselves)
    formula = "y = x with a new shape"
    derivative = "dy/dx = 1 (gradient reshaped back)"

    def __init__(self, shape):
        self.inputs = None
        self.shape = shape

    def forward(self, x):
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ShapeError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into {self.shape}"
            ) from None

    def backward(self, g):
        return g.reshape(self.inputs[0].data.shape)

    def backward_graph(self, g):
        return reshape(g, self.inputs[0].data.shape)


class Transpose(Function):
    __slots__ = ("axes",)
    reads_inputs = False  # (its output may be a view: consumers check that memory themselves)
    formula = "y = x with its axes permuted"
    derivative = "dy/dx = 1 (gradient permuted back)"

    def __init__(self, axes):
        self.inputs = None
        self.axes = axes

    def forward(self, x):
        return np.transpose(x, self.axes)

    def _inverse(self):
        if self.axes is None:
            return None
        return tuple(np.argsort(self.axes))

    def backward(self, g):
        return np.transpose(g, self._inverse())

    def backward_graph(self, g):
        return transpose(g, self._inverse())


class BroadcastTo(Function):
    __slots__ = ("shape",)
    reads_inputs = False  # (its output may be a view: consumers check that memory themselves)
    formula = "y = x repeated along broadcast axes"
    derivative = "dy/dx = 1 (gradient summed over the repeated axes)"

    def __init__(self, shape):
        self.inputs = None
        self.shape = shape

    def forward(self, x):
        try:
            return np.broadcast_to(x, self.shape)
        except ValueError:
            raise ShapeError(f"broadcast_to: cannot broadcast shape {x.shape} to {self.shape}") from None

    def backward(self, g):
        return g  # the backward walk sums it back to the input's shape

    backward_graph = backward


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

    __slots__ = ("index", "basic")
    reads_inputs = False  # (its output may be a view: consumers check that memory themselves)
    formula = "y = x[index]"
    derivative = "dy/dx = 1 at the selected positions (summed where selected twice), 0 elsewhere"

    def __init__(self, index):
        self.inputs = None
        self.index = index
        self.basic = _is_basic(index)

    def forward(self, x):
        try:
            return np.array(x[self.index], copy=None) if not self.basic else x[self.index]
        except IndexError as e:
            raise IndexOutOfRangeError(f"getitem: {e} (tensor shape {x.shape})") from None

    def backward(self, g):
        x = self.inputs[0].data
        out = np.zeros(x.shape, g.dtype)
        if self.basic or _is_bool_index(self.index):
            out[self.index] = g
        else:
            np.add.at(out, self.index, g)
        return out

    def backward_graph(self, g):
        return IndexAdd(self.index, self.inputs[0].data.shape, self.basic)(g)


def _is_bool_index(index) -> bool:
    return isinstance(index, np.ndarray) and index.dtype == bool


class IndexAdd(Function):
    """y = zeros(shape) with g added at ``index`` (the adjoint of getitem)."""

    __slots__ = ("index", "shape", "basic")
    reads_inputs = False
    formula = "y = zeros; y[index] += x"
    derivative = "dy/dx = 1 (gradient gathered at index)"

    def __init__(self, index, shape, basic):
        self.inputs = None
        self.index = index
        self.shape = shape
        self.basic = basic

    def forward(self, g):
        out = np.zeros(self.shape, g.dtype)
        if self.basic or _is_bool_index(self.index):
            out[self.index] = g
        else:
            np.add.at(out, self.index, g)
        return out

    def backward(self, g):
        return g[self.index]

    def backward_graph(self, g):
        return getitem(g, self.index)


class Concatenate(Function):
    __slots__ = ("axis",)
    reads_inputs = False
    formula = "y = [x1, x2, ...] joined along an axis"
    derivative = "dy/dx_k = 1 on x_k's slice"

    def __init__(self, axis):
        self.inputs = None
        self.axis = axis

    def forward(self, *xs):
        try:
            return np.concatenate(xs, axis=self.axis)
        except ValueError:
            raise ShapeError(
                f"concatenate: shapes {[x.shape for x in xs]} do not match except along axis {self.axis}"
            ) from None

    def _bounds(self):
        sizes = [t.data.shape[self.axis] for t in self.inputs]
        return np.cumsum(sizes)[:-1]

    def backward(self, g):
        return tuple(np.split(g, self._bounds(), axis=self.axis))

    def backward_graph(self, g):
        return split(g, self._bounds(), self.axis)


class Stack(Function):
    __slots__ = ("axis",)
    reads_inputs = False
    formula = "y = [x1, x2, ...] stacked along a new axis"
    derivative = "dy/dx_k = 1 on x_k's slice"

    def __init__(self, axis):
        self.inputs = None
        self.axis = axis

    def forward(self, *xs):
        try:
            return np.stack(xs, axis=self.axis)
        except ValueError:
            raise ShapeError(f"stack: all tensors must have the same shape, got {[x.shape for x in xs]}") from None

    def backward(self, g):
        n = len(self.inputs)
        return tuple(np.take(g, k, axis=self.axis) for k in range(n))

    def backward_graph(self, g):
        n = len(self.inputs)
        idx = (slice(None),) * (self.axis % g.ndim)
        return tuple(getitem(g, idx + (k,)) for k in range(n))


class Split(Function):
    """Several outputs: x cut into pieces along an axis."""

    __slots__ = ("sections", "axis")
    reads_inputs = False  # (its output may be a view: consumers check that memory themselves)
    formula = "y_1, y_2, ... = pieces of x along an axis"
    derivative = "dy_k/dx = 1 on y_k's slice"

    def __init__(self, sections, axis):
        self.inputs = None
        self.sections = sections
        self.axis = axis

    def forward(self, x):
        try:
            return tuple(np.split(x, self.sections, axis=self.axis))
        except ValueError as e:
            raise ShapeError(f"split: {e} (shape {x.shape}, axis {self.axis})") from None

    def backward(self, *gs):
        return np.concatenate(gs, axis=self.axis)

    def backward_graph(self, *gs):
        return concatenate(gs, self.axis)


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
    axes = list(range(x.data.ndim))
    a, b = norm_axis(axis1, x.data.ndim, "swapaxes")[0], norm_axis(axis2, x.data.ndim, "swapaxes")[0]
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def expand_dims(x, axis):
    """Insert axes of size 1 at ``axis`` (an int or a tuple)."""
    x = as_t(x)
    return reshape(x, np.expand_dims(x.data, axis).shape)


def squeeze(x, axis=None):
    """Remove axes of size 1 (all of them, or those in ``axis``)."""
    x = as_t(x)
    if axis is not None:
        for a in norm_axis(axis, x.data.ndim, "squeeze"):
            if x.data.shape[a] != 1:
                raise ShapeError(f"squeeze: axis {a} has size {x.data.shape[a]}, not 1 (shape {x.shape})")
    return reshape(x, np.squeeze(x.data, axis).shape)


def broadcast_to(x, shape):
    x = as_t(x)
    shape = tuple(shape)
    if shape == x.data.shape:
        return x
    return BroadcastTo(shape)(x)


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
