"""Indexing with index tensors, as PyTorch does: gather, scatter, scatter_add, index_select, index_add,
masked_fill, masked_select, take_along_dim.

Each is one graph node. Indices and masks are constants (plain NumPy arrays kept on the node); the values
are differentiable. Every index op is "x at an advanced index" or its adjoint, "zeros with g added at an
advanced index", so each vjp is written with the namespace's ``take`` and ``take_adjoint``, which are each
other's derivatives: second derivatives come for free.

Indices follow PyTorch's rules: integer tensors (or arrays, or lists of ints), in range ``[0, size)``
(negative indices are refused, as PyTorch refuses them); ``dim`` may be negative. ``axis`` is accepted as
an alias of ``dim``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DTypeError, IndexOutOfRangeError, ShapeError, UnsupportedError
from ..function import Function
from ..tensor import Tensor
from .operands import as_t, broadcast_shapes, norm_axis
from .shape import broadcast_to, getitem, reshape

__all__ = [
    "Gather",
    "Scatter",
    "ScatterAddOp",
    "IndexSelect",
    "IndexAddOp",
    "MaskedFill",
    "MaskedSelect",
    "resolve_dim",
    "gather",
    "scatter",
    "scatter_add",
    "index_select",
    "index_add",
    "masked_fill",
    "masked_select",
    "take_along_dim",
]


# --------------------------------------------------------------------------- arguments
def resolve_dim(dim, axis, op: str, default=None):
    """PyTorch's ``dim`` with NumPy's ``axis`` accepted as an alias (giving both is an error)."""
    if axis is not None:
        if dim is not None:
            raise ArgumentError(f"{op}: give dim or axis (its NumPy name), not both (got dim={dim}, axis={axis})")
        return axis
    return default if dim is None else dim


def _one_dim(dim, ndim: int, op: str) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ArgumentTypeError(f"{op}: dim must be an int, got {dim!r}")
    return norm_axis(int(dim), max(ndim, 1), op)[0]


def index_array(index, op: str, what: str = "index") -> np.ndarray:
    """An index argument as an integer NumPy array (a copy: the node keeps it for backward)."""
    if isinstance(index, Tensor):
        arr = np.array(index.data)
    elif isinstance(index, np.ndarray):
        arr = np.array(index)
    else:
        arr = np.array(index)
        if arr.size == 0 and arr.dtype.kind == "f":  # an empty list
            arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise DTypeError(
            f"{op}: {what} must be an integer tensor, got dtype {arr.dtype}; note that cr.tensor([...]) makes "
            f"float32 from a list: use cr.tensor([...], dtype=cr.int64) or a NumPy integer array"
        )
    return arr.astype(np.int64, copy=False)


def _check_range(index: np.ndarray, size: int, op: str, dim: int) -> None:
    if index.size and (index.min() < 0 or index.max() >= size):
        bad = int(index.min()) if index.min() < 0 else int(index.max())
        raise IndexOutOfRangeError(
            f"{op}: index {bad} is out of range for dimension {dim} of size {size} (indices must be in [0, {size}))"
        )


def _bool_mask(mask, op: str) -> np.ndarray:
    arr = np.array(mask.data if isinstance(mask, Tensor) else mask)
    if arr.dtype != np.bool_:
        raise DTypeError(f"{op}: the mask must be a boolean tensor, got dtype {arr.dtype}; compare first, e.g. x > 0")
    return arr


def _along(index: np.ndarray, dim: int) -> tuple:
    """The advanced index that picks ``out[i, j, ...] = x[..., index[i, j, ...] at dim, ...]``: ``index`` at
    ``dim`` and an open grid (aranges) of ``index``'s shape at the other dimensions."""
    nd = index.ndim
    grid = []
    for d in range(nd):
        if d == dim:
            grid.append(index)
        else:
            shape = [1] * nd
            shape[d] = index.shape[d]
            grid.append(np.arange(index.shape[d]).reshape(shape))
    return tuple(grid)


def _check_along(x_shape, index: np.ndarray, dim: int, op: str, src_shape=None) -> None:
    """PyTorch's shape rule: index has x's number of dims, index.size(d) <= x.size(d) for d != dim (and
    <= src.size(d) for every d)."""
    if index.ndim != len(x_shape) and not (index.ndim <= 1 and len(x_shape) <= 1):
        raise ShapeError(
            f"{op}: index must have as many dimensions as the input: index shape {index.shape}, "
            f"input shape {tuple(x_shape)}"
        )
    for d, s in enumerate(index.shape):
        if d != dim and s > x_shape[d]:
            raise ShapeError(
                f"{op}: index shape {index.shape} is larger than the input shape {tuple(x_shape)} at dimension {d} "
                f"(only dimension dim={dim} may be larger)"
            )
        if src_shape is not None and s > src_shape[d]:
            raise ShapeError(f"{op}: index shape {index.shape} is larger than the src shape {tuple(src_shape)}")


# --------------------------------------------------------------------------- nodes
class Gather(Function):
    """y[i, j, ...] = x[..., index[i, j, ...] at dim, ...]."""

    formula = "y[i][j] = x[i][index[i][j]]  (dim = 1)"
    derivative = "dy/dx = 1 at the gathered positions (summed where gathered twice), 0 elsewhere"

    def __init__(self, dim, index):
        self.dim = dim
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        self.at = _along(self.index, self.dim)
        return np.array(x[self.at])

    def vjp(self, xp, g):
        return xp.take_adjoint(g, self.at, self.in_shape, False)


class Scatter(Function):
    """y = x with y[..., index at dim, ...] = src (or a number); where an index repeats, the last write in
    the index's row-major order wins, and only that src element gets a gradient."""

    formula = "y = x; y[i][index[i][j]] = src[i][j]  (dim = 1)"
    derivative = (
        "dy/dx = 1 except at the written positions (0 there); dy/dsrc = 1 for each src element that was "
        "written (0 for one overwritten by a later repeated index)"
    )

    def __init__(self, dim, index, value=None):
        self.dim = dim
        self.index = index
        self.value = value

    def forward(self, x, src=None):
        self.at = at = _along(self.index, self.dim)
        out = x.copy()
        out[at] = self.value if src is None else src
        nx = self.needs_input_grad[0]
        if nx:
            self.mask = np.zeros(x.shape, bool)
            self.mask[at] = True
        if src is not None and len(self.needs_input_grad) > 1 and self.needs_input_grad[1]:
            order = np.arange(self.index.size).reshape(self.index.shape)
            last = np.full(x.shape, -1)
            last[at] = order
            self.won = last[at] == order  # with repeated indices, which src elements are in the result
        return out

    def vjp(self, xp, g):
        needs = self.needs_input_grad
        gx = xp.where(self.mask, xp.const(0, g), g) if needs[0] else None
        if len(needs) == 1:
            return gx
        gs = None
        if needs[1]:
            gs = xp.take(g, self.at)
            if not self.won.all():
                gs = xp.where(self.won, gs, xp.const(0, g))
        return gx, gs


class ScatterAddOp(Function):
    """y = x with src added at index along dim (repeated indices add up). Named apart from the namespace's
    ``take_adjoint`` node."""

    formula = "y = x; y[i][index[i][j]] += src[i][j]  (dim = 1)"
    derivative = "dy/dx = 1; dy/dsrc = 1 (the gradient gathered at index)"

    def __init__(self, dim, index):
        self.dim = dim
        self.index = index

    def forward(self, x, src):
        self.at = _along(self.index, self.dim)
        out = x.copy()
        np.add.at(out, self.at, src)
        return out

    def vjp(self, xp, g):
        nx, ns = self.needs_input_grad
        return (g if nx else None), (xp.take(g, self.at) if ns else None)


class IndexSelect(Function):
    """y = x with the slices index[0], index[1], ... taken along dim."""

    formula = "y[.., k, ..] = x[.., index[k], ..]  (at dim)"
    derivative = "dy/dx = 1 at the selected slices (summed where selected twice)"

    def __init__(self, dim, index):
        self.dim = dim
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        self.at = (slice(None),) * self.dim + (self.index,)
        return np.take(x, self.index, axis=self.dim)

    def vjp(self, xp, g):
        return xp.take_adjoint(g, self.at, self.in_shape, False)


class IndexAddOp(Function):
    """y = x with alpha * source[.., k, ..] added to x[.., index[k], ..] (repeated indices add up)."""

    formula = "y = x; y[.., index[k], ..] += alpha * source[.., k, ..]  (at dim)"
    derivative = "dy/dx = 1; dy/dsource = alpha (the gradient's slices at index)"

    def __init__(self, dim, index, alpha):
        self.dim = dim
        self.index = index
        self.alpha = alpha

    def forward(self, x, source):
        self.at = (slice(None),) * self.dim + (self.index,)
        out = x.copy()
        np.add.at(out, self.at, source if self.alpha == 1 else source * np.asarray(self.alpha, source.dtype))
        return out

    def vjp(self, xp, g):
        nx, ns = self.needs_input_grad
        gs = None
        if ns:
            gs = xp.take(g, self.at)
            if self.alpha != 1:
                gs = gs * xp.const(self.alpha, gs)
        return (g if nx else None), gs


class MaskedFill(Function):
    """y = value where mask else x (mask broadcast); a 0-d tensor value gets the gradient summed over mask."""

    elementwise = True
    formula = "y = value if mask else x"
    derivative = "dy/dx = 0 where mask, else 1; dy/dvalue = 1 where mask (summed)"

    def __init__(self, mask, value=None):
        self.mask = mask
        self.value = value

    def forward(self, x, v=None):
        fill = np.asarray(self.value if v is None else v, x.dtype)
        try:
            return np.where(self.mask, fill, x)
        except ValueError:
            raise ShapeError(
                f"masked_fill: the mask of shape {self.mask.shape} cannot be broadcast with the input of shape "
                f"{x.shape}"
            ) from None

    def vjp(self, xp, g):
        needs = self.needs_input_grad
        zero = xp.const(0, g)
        gx = xp.where(self.mask, zero, g) if needs[0] else None
        if len(needs) == 1:
            return gx
        return gx, (xp.where(self.mask, g, zero) if needs[1] else None)


class MaskedSelect(Function):
    """y = the elements of x where mask is true (both broadcast), as a 1-d tensor in row-major order."""

    formula = "y = x[mask]"
    derivative = "dy/dx = 1 at the selected positions"

    def __init__(self, mask):
        self.mask = mask

    def forward(self, x):
        self.shape = broadcast_shapes("masked_select", x.shape, self.mask.shape)
        self.full_mask = np.broadcast_to(self.mask, self.shape)
        return np.array(np.broadcast_to(x, self.shape)[self.full_mask])

    def vjp(self, xp, g):
        return xp.take_adjoint(g, self.full_mask, self.shape, False)  # the walk sums a broadcast x back


# --------------------------------------------------------------------------- functions
def _vectors(x, idx: np.ndarray) -> bool:
    """A 0-d input or index meeting a 0-d or 1-d one: PyTorch treats both as vectors."""
    return x.data.ndim <= 1 and idx.ndim <= 1 and (x.data.ndim, idx.ndim) != (1, 1)


def gather(input, dim=None, index=None, *, axis=None, sparse_grad: bool = False):  # noqa: A002 - PyTorch's name
    """out[i][j] = input[i][index[i][j]] for dim = 1 (PyTorch's ``gather``): index has input's number of
    dimensions and is no larger than input except along dim. Repeated indices add up their gradients."""
    x = as_t(input)
    dim = _one_dim(resolve_dim(dim, axis, "gather"), x.data.ndim, "gather")
    if index is None:
        raise ArgumentError("gather: give the index tensor, e.g. cr.gather(x, 1, index)")
    idx = index_array(index, "gather")
    if _vectors(x, idx):
        return reshape(gather(reshape(x, (-1,)), 0, idx.reshape(-1)), idx.shape)
    _check_along(x.data.shape, idx, dim, "gather")
    _check_range(idx, x.data.shape[dim], "gather", dim)
    return Gather(dim, idx)(x)


def _src_part(src, index: np.ndarray):
    """The part of src that scatter reads: its leading corner of index's shape (PyTorch reads only that)."""
    if src.data.shape == index.shape:
        return src
    return getitem(src, tuple(slice(0, s) for s in index.shape))


def _same_dtype(src, x, op):
    if src.data.dtype == x.data.dtype:
        return src
    if src.requires_grad and src.data.dtype.kind in "fc" and x.data.dtype.kind in "fc":
        return src.astype(x.data.dtype)
    if src.requires_grad:
        raise DTypeError(f"{op}: src has dtype {src.data.dtype} but the input has {x.data.dtype}")
    return as_t(src.data.astype(x.data.dtype))


def _scatter_node(op, input, dim, index, axis, src, value):  # noqa: A002
    """scatter (src a tensor, or a number in value) or scatter_add, after PyTorch's checks."""
    x = as_t(input)
    dim = _one_dim(resolve_dim(dim, axis, op), x.data.ndim, op)
    if index is None:
        raise ArgumentError(f"{op}: give the index tensor, e.g. cr.{op}(x, 0, index, src)")
    idx = index_array(index, op)
    if _vectors(x, idx) and (src is None or src.data.ndim <= 1):
        vsrc = None if src is None else reshape(src, (-1,))
        return reshape(_scatter_node(op, reshape(x, (-1,)), 0, idx.reshape(-1), None, vsrc, value), x.data.shape)
    if src is not None and src.data.ndim != idx.ndim:
        raise ShapeError(f"{op}: src must have index's number of dimensions: src {src.shape}, index {idx.shape}")
    _check_along(x.data.shape, idx, dim, op, None if src is None else src.data.shape)
    _check_range(idx, x.data.shape[dim], op, dim)
    if src is None:
        return Scatter(dim, idx, np.asarray(value, x.data.dtype))(x)
    src = _same_dtype(_src_part(src, idx), x, op)
    return (Scatter if op == "scatter" else ScatterAddOp)(dim, idx)(x, src)


def scatter(input, dim=None, index=None, src=None, *, value=None, reduce=None, axis=None):  # noqa: A002
    """``input`` with ``src[i][j]`` written at ``[i][index[i][j]]`` (dim = 1), PyTorch's ``scatter``; ``src``
    may be a tensor (only its leading index-shaped corner is read) or a number (``value``).

    The gradient with respect to input is zero at the written positions. Where an index repeats (PyTorch
    leaves the result undefined), chainrule writes in the index's row-major order, so the last one wins,
    and only the src element that won gets a gradient."""
    if reduce is not None:
        raise UnsupportedError(
            f"scatter: reduce={reduce!r} is not supported; use cr.scatter_add for 'add' "
            "(PyTorch deprecates reduce= in scatter)"
        )
    if src is None and value is None:
        raise ArgumentError("scatter: give src (a tensor) or value (a number)")
    if src is not None and value is not None:
        raise ArgumentError("scatter: give src or value, not both")
    if src is None or (not isinstance(src, (Tensor, np.ndarray)) and np.ndim(src) == 0):
        value = src if src is not None else value
        return _scatter_node(
            "scatter", input, dim, index, axis, None, value.data if isinstance(value, Tensor) else value
        )
    return _scatter_node("scatter", input, dim, index, axis, as_t(src), None)


def scatter_add(input, dim=None, index=None, src=None, *, axis=None):  # noqa: A002
    """``input`` with ``src[i][j]`` added at ``[i][index[i][j]]`` (dim = 1), PyTorch's ``scatter_add``:
    repeated indices add up. Only src's leading index-shaped corner is read."""
    if src is None:
        raise ArgumentError("scatter_add: give src, e.g. cr.scatter_add(x, 0, index, src)")
    return _scatter_node("scatter_add", input, dim, index, axis, as_t(src), None)


def _slice_index(index, op: str) -> np.ndarray:
    idx = index_array(index, op)
    if idx.ndim > 1:
        raise ShapeError(f"{op}: index must be 0-d or 1-d, got shape {idx.shape}")
    return idx.reshape(-1)


def index_select(input, dim=None, index=None, *, axis=None):  # noqa: A002
    """The slices ``index[0], index[1], ...`` of ``input`` along ``dim`` (PyTorch's ``index_select``; a
    1-d index)."""
    x = as_t(input)
    nd = x.data.ndim
    dim = _one_dim(resolve_dim(dim, axis, "index_select"), nd, "index_select")
    idx = _slice_index(index, "index_select")
    if nd == 0:  # a 0-d input is one slice: index must pick it once (as in PyTorch)
        if idx.size != 1:
            raise ShapeError(f"index_select: the index into a 0-d tensor must have 1 value, got {idx.size}")
        return reshape(index_select(reshape(x, (1,)), 0, idx), ())
    _check_range(idx, x.data.shape[dim], "index_select", dim)
    return IndexSelect(dim, idx)(x)


def index_add(input, dim=None, index=None, source=None, *, alpha=1, axis=None):  # noqa: A002
    """``input`` with ``alpha * source``'s slices added at the slices ``index`` along ``dim`` (PyTorch's
    ``index_add``); repeated indices add up."""
    x = as_t(input)
    nd = x.data.ndim
    dim = _one_dim(resolve_dim(dim, axis, "index_add"), nd, "index_add")
    if source is None:
        raise ArgumentError("index_add: give source, e.g. cr.index_add(x, 0, index, source)")
    idx = _slice_index(index, "index_add")
    src = as_t(source, x.data.dtype)
    if nd == 0:  # a 0-d input is one slice
        return reshape(index_add(reshape(x, (1,)), 0, idx, reshape(src, (idx.size,)), alpha=alpha), ())
    _check_range(idx, x.data.shape[dim], "index_add", dim)
    want = x.data.shape[:dim] + (idx.size,) + x.data.shape[dim + 1 :]
    if src.data.shape != want:
        raise ShapeError(
            f"index_add: source must have shape {want} (the input's, with {idx.size} slices along dim {dim}), "
            f"got {src.data.shape}"
        )
    src = _same_dtype(src, x, "index_add")
    return IndexAddOp(dim, idx, alpha)(x, src)


def masked_fill(input, mask, value):  # noqa: A002
    """``value`` where ``mask`` (a boolean tensor, broadcast) is true, else ``input`` (PyTorch's
    ``masked_fill``). ``value`` is a number or a 0-d tensor, which then gets a gradient."""
    x = as_t(input)
    m = _bool_mask(mask, "masked_fill")
    shape = broadcast_shapes("masked_fill", x.data.shape, m.shape)
    if isinstance(value, Tensor):
        if value.data.ndim != 0:
            raise ShapeError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        if value.requires_grad:
            v = _same_dtype(value, x, "masked_fill")
            return MaskedFill(m)(x, v) if shape == x.data.shape else MaskedFill(m)(broadcast_to(x, shape), v)
        value = value.data
    if shape != x.data.shape:
        x = broadcast_to(x, shape)
    return MaskedFill(m, value)(x)


def masked_select(input, mask):  # noqa: A002
    """The elements of ``input`` where ``mask`` is true (both broadcast), as a 1-d tensor (PyTorch's
    ``masked_select``)."""
    return MaskedSelect(_bool_mask(mask, "masked_select"))(as_t(input))


def take_along_dim(input, indices, dim=None, *, axis=None):  # noqa: A002
    """PyTorch's ``take_along_dim``: with ``dim``, input and indices broadcast except along dim, then
    ``gather``; without, both are flattened."""
    x = as_t(input)
    dim = resolve_dim(dim, axis, "take_along_dim")
    idx = index_array(indices, "take_along_dim", "indices")
    if dim is None:
        flat = reshape(x, (-1,))
        return gather(flat, 0, idx.reshape(-1))
    nd = x.data.ndim
    if idx.ndim != nd:
        raise ShapeError(
            f"take_along_dim: indices must have the input's number of dimensions: indices {idx.shape}, "
            f"input {x.data.shape}"
        )
    dim = _one_dim(dim, nd, "take_along_dim")
    xs, ids = list(x.data.shape), list(idx.shape)
    xs[dim] = ids[dim] = 1
    common = list(broadcast_shapes("take_along_dim", tuple(xs), tuple(ids)))
    x_shape = tuple(common[:dim] + [x.data.shape[dim]] + common[dim + 1 :])
    i_shape = tuple(common[:dim] + [idx.shape[dim]] + common[dim + 1 :])
    if x_shape != x.data.shape:
        x = broadcast_to(x, x_shape)
    return gather(x, dim, np.broadcast_to(idx, i_shape))
