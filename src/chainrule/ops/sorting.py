"""Sorting and selecting by value, as PyTorch does: sort, topk (values and int64 indices, the values
differentiable), argsort, argmax, argmin (int64, no gradient).

NaN counts as larger than every number, as in PyTorch: last in an ascending sort, first in a descending
one, among the largest in topk, and what argmax and argmin return. Sorts are stable (equal values keep
their order, descending too); PyTorch's ``stable=False`` leaves the order of equal values unspecified, so
chainrule's order is one PyTorch may give.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..function import Function
from ..tensor import Tensor, wrap
from .indexing import resolve_dim
from .operands import as_t, keepdim_arg, norm_axis
from .shape import reshape

__all__ = ["Sort", "TopK", "ValuesIndices", "sort", "topk", "argsort", "argmax", "argmin"]


class ValuesIndices(NamedTuple):
    """What sort and topk return (PyTorch's ``torch.return_types``): ``values, indices = cr.sort(x)``."""

    values: Tensor
    indices: Tensor


def sort_indices(x: np.ndarray, dim: int, descending: bool) -> np.ndarray:
    """The stable sorting permutation along ``dim``, NaN largest (int64)."""
    if not descending:
        return np.argsort(x, axis=dim, kind="stable")
    n = x.shape[dim]
    # descending and stable: sort the reversed array ascending and reverse the result back
    idx = np.flip(np.argsort(np.flip(x, dim), axis=dim, kind="stable"), dim)
    return (n - 1) - idx


def _grid(index: np.ndarray, dim: int) -> tuple:
    """The advanced index picking ``x[.., index[.., k, ..], ..]`` along dim."""
    nd = index.ndim
    return tuple(
        index if d == dim else np.arange(index.shape[d]).reshape([-1 if e == d else 1 for e in range(nd)])
        for d in range(nd)
    )


class Sort(Function):
    """values, indices = x sorted along dim."""

    formula = "values = x sorted along dim; indices = where each value came from"
    derivative = "dvalues/dx = 1 at each value's source (the gradient permuted back)"

    def __init__(self, dim, descending):
        self.dim = dim
        self.descending = descending

    def forward(self, x):
        idx = sort_indices(x, self.dim, self.descending)
        back = np.empty_like(idx)  # the inverse permutation: the gradient goes back with a gather
        np.put_along_axis(back, idx, np.arange(x.shape[self.dim]).reshape(_along_shape(x.ndim, self.dim)), self.dim)
        self.back = _grid(back, self.dim)
        return np.take_along_axis(x, idx, self.dim), idx.astype(np.int64, copy=False)

    def vjp(self, xp, g, g_indices):
        return xp.take(g, self.back)


def _along_shape(nd: int, dim: int) -> list:
    return [-1 if d == dim else 1 for d in range(nd)]


class TopK(Function):
    """values, indices = the k largest (or smallest) of x along dim."""

    formula = "values = the k largest (or smallest) x along dim; indices = where they came from"
    derivative = "dvalues/dx = 1 at each value's source, 0 elsewhere"

    def __init__(self, k, dim, largest):
        self.k = k
        self.dim = dim
        self.largest = largest

    def forward(self, x):
        self.in_shape = x.shape
        idx = sort_indices(x, self.dim, self.largest)
        idx = np.take(idx, np.arange(self.k), axis=self.dim).astype(np.int64, copy=False)
        self.at = _grid(idx.copy(), self.dim)  # its own copy: the indices output may be changed in place
        return np.array(x[self.at]), idx

    def vjp(self, xp, g, g_indices):
        return xp.take_adjoint(g, self.at, self.in_shape, False)


def _scalar_as_vector(x: Tensor):
    return reshape(x, (1,)) if x.data.ndim == 0 else x


def _result(values, indices, was_scalar: bool) -> ValuesIndices:
    if was_scalar:
        values, indices = reshape(values, ()), wrap(indices.data.reshape(()))
    return ValuesIndices(values, indices)


def sort(input, dim=None, descending: bool = False, *, stable: bool = False, axis=None):  # noqa: A002
    """``(values, indices)``: ``input`` sorted along ``dim`` (default the last), ascending unless
    ``descending``; NaN sorts as the largest value. Always stable (``stable`` is accepted for PyTorch's
    signature)."""
    x = as_t(input)
    scalar = x.data.ndim == 0
    x = _scalar_as_vector(x)
    dim = norm_axis(resolve_dim(dim, axis, "sort", -1), x.data.ndim, "sort")[0]
    values, indices = Sort(dim, bool(descending))(x)
    return _result(values, indices, scalar)


def topk(input, k: int, dim=None, largest: bool = True, sorted: bool = True, *, axis=None):  # noqa: A002
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) entries along ``dim`` (default
    the last), in sorted order (also with ``sorted=False``, where PyTorch leaves the order unspecified)."""
    x = as_t(input)
    scalar = x.data.ndim == 0
    x = _scalar_as_vector(x)
    dim = norm_axis(resolve_dim(dim, axis, "topk", -1), x.data.ndim, "topk")[0]
    k = int(k)
    if not 0 <= k <= x.data.shape[dim]:
        raise ShapeError(f"topk: k ({k}) must be in [0, {x.data.shape[dim]}] for dimension {dim} of shape {x.shape}")
    values, indices = TopK(k, dim, bool(largest))(x)
    return _result(values, indices, scalar)


def argsort(input, dim=None, descending: bool = False, *, stable: bool = False, axis=None):  # noqa: A002
    """The int64 indices that sort ``input`` along ``dim`` (default the last): ``sort(...).indices``."""
    x = as_t(input)
    if x.data.ndim == 0:
        return wrap(np.zeros((), np.int64))
    dim = norm_axis(resolve_dim(dim, axis, "argsort", -1), x.data.ndim, "argsort")[0]
    return wrap(sort_indices(x.data, dim, bool(descending)).astype(np.int64, copy=False))


def _arg(fn, op, input, dim, keepdim, axis, keepdims):  # noqa: A002
    x = as_t(input).data
    dim = resolve_dim(dim, axis, op)
    keepdim = keepdim_arg(op, keepdim, keepdims)
    if x.size == 0 and (dim is None or x.ndim == 0 or x.shape[norm_axis(dim, x.ndim, op)[0]] == 0):
        raise ArgumentError(f"{op}: the input of shape {x.shape} is empty along the reduced dimension")
    if dim is None:
        out = np.asarray(fn(x), np.int64)
        return wrap(out.reshape((1,) * x.ndim) if keepdim else out)
    dim = norm_axis(dim, max(x.ndim, 1), op)[0]
    if x.ndim == 0:
        return wrap(np.zeros((), np.int64))
    return wrap(np.asarray(fn(x, axis=dim, keepdims=bool(keepdim)), np.int64))


def argmax(input, dim=None, keepdim=None, *, axis=None, keepdims=None):  # noqa: A002
    """The int64 index of the largest value along ``dim`` (of the flattened tensor without ``dim``; then
    ``keepdim`` gives a tensor of ones in shape); the first one where values tie, a NaN if there is one.
    Not differentiable."""
    return _arg(np.argmax, "argmax", input, dim, keepdim, axis, keepdims)


def argmin(input, dim=None, keepdim=None, *, axis=None, keepdims=None):  # noqa: A002
    """The int64 index of the smallest value along ``dim`` (see argmax); a NaN if there is one."""
    return _arg(np.argmin, "argmin", input, dim, keepdim, axis, keepdims)
