"""Cumulative operations along a dimension (cumsum, cumprod, logcumsumexp, cummax, cummin) and prod.

Each is one graph node with one ``vjp`` written against the array namespace ``xp``. The products handle
zeros in the input as PyTorch does: the gradient of a product with respect to a factor is the product of
the other factors, never a division by the zero (any number of zeros, and second derivatives too).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from ..function import Function
from ..tensor import wrap as _wrap
from .operands import as_float_t, as_t, keep_shape, norm_axis

#: what cummax and cummin return, as torch.return_types does: ``values, indices = cr.cummax(x, 0)``
cummax_result = namedtuple("cummax", ["values", "indices"])
cummin_result = namedtuple("cummin", ["values", "indices"])


def pick_dim(dim, axis, op: str, default=None):
    """The dimension argument given as ``dim`` (PyTorch's name) or ``axis`` (NumPy's), not both."""
    if dim is not None and axis is not None:
        raise ArgumentError(f"{op}: give the dimension as dim or as axis, not both (got dim={dim}, axis={axis})")
    d = dim if dim is not None else axis
    return default if d is None else d


def _one_dim(x, dim, axis, op: str) -> int:
    """A single required dimension, normalised (a 0-d tensor has one element along dimension 0 or -1)."""
    d = pick_dim(dim, axis, op)
    if d is None:
        raise ArgumentError(f"{op}: the dimension to work along is required, e.g. {op}(x, dim=0)")
    if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
        raise ArgumentTypeError(f"{op}: dim must be an int, got {d!r}")
    return norm_axis(int(d), max(x.data.ndim, 1), op)[0]


def _flip(xp, a, dim: int):
    """``a`` reversed along ``dim`` (a view)."""
    return xp.take(a, (slice(None),) * dim + (slice(None, None, -1),))


def reverse_cumsum(xp, a, dim: int):
    """sum_{j >= i} a_j along ``dim``: the adjoint of cumsum."""
    return _flip(xp, xp.cumsum(_flip(xp, a, dim), dim), dim)


def logcumsumexp_array(x: np.ndarray, axis: int) -> np.ndarray:
    """ln(cumsum(exp(x))) along ``axis`` of an array, one log-add-exp at a time (no overflow)."""
    with np.errstate(invalid="ignore"):
        return np.logaddexp.accumulate(x, axis=axis)


class _Scan(Function):
    """An operation along one dimension ``dim``."""

    def __init__(self, dim: int):
        self.dim = dim


class CumSum(_Scan):
    formula = "y_i = sum_{j <= i} x_j"
    derivative = "dy_j/dx_i = 1 if i <= j (the gradient is the reversed cumulative sum)"

    def forward(self, x):
        return np.cumsum(x, axis=self.dim)

    def vjp(self, xp, g):
        return reverse_cumsum(xp, g, self.dim)


def _cumprod_grad(xp, x, y, g, dim: int, exact: bool):
    """sum_{j >= i} g_j * prod_{m <= j, m != i} x_m: the gradient of y = cumprod(x), zeros included.

    Before the first zero of a slice it is reverse_cumsum(g * y) / x_i; at the first zero z, the
    same sum with x_z taken as 1 (y_j / x_z without the division); after it, x_z times the gradient of
    the product with x_z taken as 1, which is 0 in value but not in derivative (``exact``: written so
    that it differentiates right; on arrays the 0 itself is enough).
    """
    X = xp.data(x)
    zero = X == 0
    if not zero.any():
        return reverse_cumsum(xp, g * y, dim) / x
    count = np.cumsum(zero, axis=dim)
    before, first = count == 0, zero & (count == 1)
    one = xp.const(1, g)
    g_before = reverse_cumsum(xp, g * y, dim) / xp.where(before, x, one)
    x_wo = xp.where(first, one, x)  # the first zero of each slice taken as 1
    y_wo = xp.cumprod(x_wo, dim)
    g_first = reverse_cumsum(xp, g * y_wo, dim)
    if exact:
        x_z = xp.sum(xp.where(first, x, xp.const(0, g)), axis=dim, keepdims=True)
        after = x_z * _cumprod_grad(xp, x_wo, y_wo, g, dim, exact)
    else:
        after = xp.const(0, g)
    return xp.where(before, g_before, xp.where(first, g_first, after))


class CumProd(_Scan):
    formula = "y_i = prod_{j <= i} x_j"
    derivative = "dy_j/dx_i = prod_{m <= j, m != i} x_m if i <= j (no division: zeros are fine)"

    def forward(self, x):
        y = np.cumprod(x, axis=self.dim)
        self.save_for_backward(x, y)
        return y

    def vjp(self, xp, g):
        from ..namespace import numpy_ns

        x, y = self.saved(xp)
        return _cumprod_grad(xp, x, y, g, self.dim, exact=xp is not numpy_ns)


class LogCumSumExp(_Scan):
    formula = "y_i = ln(sum_{j <= i} exp(x_j))"
    derivative = "dy_j/dx_i = exp(x_i - y_j) if i <= j"

    def forward(self, x):
        y = logcumsumexp_array(x, self.dim)
        self.save_for_backward(x, y)
        return y

    def vjp(self, xp, g):
        # sum_{j >= i} g_j exp(x_i - y_j), in logarithms to stay finite: the positive and the negative
        # parts of g apart, each exp(x_i + reversed logcumsumexp(ln|g_j| - y_j)). Where y_j = -inf (all of
        # x_0..x_j are -inf) nothing reaches x (exp(x_i - y_j) is taken as 0 there, not NaN).
        x, y = self.saved(xp)
        Y, G = xp.data(y), xp.data(g)
        live = Y > -np.inf
        y_safe = xp.where(live, y, xp.const(0, g))
        minus_inf, one = xp.const(-np.inf, g), xp.const(1, g)
        out = None
        for sign, part in ((1, (G > 0) & live), (-1, (G < 0) & live)):
            if not part.any():
                continue
            log_g = xp.where(part, xp.log(xp.where(part, g * sign, one)), minus_inf) - y_safe
            lse = _flip(xp, xp.logcumsumexp(_flip(xp, log_g, self.dim), self.dim), self.dim)
            with np.errstate(invalid="ignore"):
                term = xp.exp(x + lse)
            term = term if sign > 0 else -term
            out = term if out is None else out + term
        return out if out is not None else xp.const(np.zeros(G.shape), g)


class CumMax(_Scan):
    """Running maximum; ``indices`` (set by forward) says where each came from (the last of equal values;
    a NaN, once seen, is carried on with its own index, as in PyTorch)."""

    formula = "y_i = max_{j <= i} x_j"
    derivative = "dy_i/dx_j = 1 if j is the index y_i came from, else 0"
    _accumulate = staticmethod(np.maximum.accumulate)

    def forward(self, x):
        y = self._accumulate(x, axis=self.dim)
        shape = [1] * x.ndim
        shape[self.dim] = x.shape[self.dim]
        pos = np.arange(x.shape[self.dim]).reshape(shape)
        hit = x == y
        if x.dtype.kind in "fc":
            hit |= np.isnan(x)
        self.indices = np.maximum.accumulate(np.where(hit, pos, 0), axis=self.dim)
        return y

    def vjp(self, xp, g):
        shape = self.indices.shape
        index = list(np.indices(shape, sparse=True))
        index[self.dim] = self.indices
        return xp.take_adjoint(g, tuple(index), shape, False)


class CumMin(CumMax):
    """Running minimum, with indices as :class:`CumMax`."""

    formula = "y_i = min_{j <= i} x_j"
    _accumulate = staticmethod(np.minimum.accumulate)


class Prod(Function):
    """The product over one dimension (or all of them: ``dim`` None)."""

    formula = "y = prod_i x_i"
    derivative = "dy/dx_i = prod_{j != i} x_j (no division: zeros are fine)"

    def __init__(self, dim, keepdim: bool):
        self.dim = dim
        self.keepdim = keepdim

    def forward(self, x):
        self.in_shape = x.shape
        y = np.prod(x, axis=self.dim, keepdims=self.keepdim)
        y = y if type(y) is np.ndarray else np.asarray(y)
        self.save_for_backward(x, y)
        return y

    def vjp(self, xp, g):
        x, y = self.saved(xp)
        axes = tuple(range(len(self.in_shape))) if self.dim is None else (self.dim,)
        if not self.keepdim:  # the output's shape with the reduced dimensions kept as 1
            g = xp.reshape(g, keep_shape(self.in_shape, axes))
            y = xp.reshape(y, keep_shape(self.in_shape, axes))
        if not (xp.data(x) == 0).any():
            with np.errstate(invalid="ignore", divide="ignore"):
                return g * (y / x)
        if self.dim is None:  # every dimension: as one long one
            return g * xp.reshape(_others(xp, xp.reshape(x, (-1,)), 0), self.in_shape)
        return g * _others(xp, x, self.dim)


def _others(xp, x, dim: int):
    """prod_{j != i} x_j along ``dim``: the product of those before i times the product of those after."""
    n = xp.data(x).shape[dim]
    if n <= 1:
        return xp.const(np.ones(xp.data(x).shape), x)
    ones = xp.const(np.ones(keep_shape(xp.data(x).shape, (dim,))), x)
    lead = (slice(None),) * dim
    before = xp.cumprod(xp.concatenate([ones, xp.take(x, lead + (slice(0, n - 1),))], axis=dim), dim)
    after = xp.concatenate([xp.take(x, lead + (slice(1, n),)), ones], axis=dim)
    after = _flip(xp, xp.cumprod(_flip(xp, after, dim), dim), dim)
    return before * after


# --------------------------------------------------------------------------- functions
def _int_sum_dtype(t):
    """Integer and boolean tensors accumulate in int64 (as in PyTorch)."""
    return t if t.data.dtype.kind not in "biu" or t.data.dtype == np.int64 else _wrap(t.data.astype(np.int64))


def _with_dtype(x, dtype):
    from .elementwise import astype

    t = as_t(x)
    if dtype is not None and np.dtype(dtype) != t.data.dtype:
        t = astype(t, dtype)
    return t


def _scan(op_cls, x, dim: int):
    """Run a scan; a 0-d tensor is scanned as one element."""
    if x.data.ndim == 0:
        from .shape import reshape

        return reshape(op_cls(0)(reshape(x, (1,))), ())
    return op_cls(dim)(x)


def cumsum(input, dim=None, *, dtype=None, axis=None):  # noqa: A002 - PyTorch's argument names
    """Cumulative sum along ``dim``: y_i = x_0 + ... + x_i (integers and booleans sum in int64)."""
    x = _int_sum_dtype(_with_dtype(input, dtype))
    return _scan(CumSum, x, _one_dim(x, dim, axis, "cumsum"))


def cumprod(input, dim=None, *, dtype=None, axis=None):  # noqa: A002
    """Cumulative product along ``dim``: y_i = x_0 * ... * x_i (its gradient is right with zeros in x)."""
    x = _int_sum_dtype(_with_dtype(input, dtype))
    return _scan(CumProd, x, _one_dim(x, dim, axis, "cumprod"))


def logcumsumexp(input, dim=None, *, axis=None):  # noqa: A002
    """ln(cumsum(exp(x))) along ``dim``, without overflow."""
    x = as_float_t(input)
    return _scan(LogCumSumExp, x, _one_dim(x, dim, axis, "logcumsumexp"))


def _running(op_cls, result, input, dim, axis, op):  # noqa: A002
    from .shape import reshape

    x = as_t(input)
    d = _one_dim(x, dim, axis, op)
    node = op_cls(d)
    if x.data.ndim == 0:  # one element
        values = reshape(node(reshape(x, (1,))), ())
    else:
        values = node(x)
    # a copy: the node keeps its indices for backward, and the caller may change theirs
    return result(values, _wrap(node.indices.reshape(values.shape).astype(np.int64, copy=True)))


def cummax(input, dim=None, *, axis=None):  # noqa: A002
    """Running maximum along ``dim``: ``(values, indices)``, indices int64 (the last of equal values)."""
    return _running(CumMax, cummax_result, input, dim, axis, "cummax")


def cummin(input, dim=None, *, axis=None):  # noqa: A002
    """Running minimum along ``dim``: ``(values, indices)``, indices int64 (the last of equal values)."""
    return _running(CumMin, cummin_result, input, dim, axis, "cummin")


def prod(input, dim=None, keepdim: bool = False, *, dtype=None, axis=None, keepdims=None):  # noqa: A002
    """The product of the elements over ``dim`` (an int; None: all of them). Integers and booleans multiply in
    int64 (as in PyTorch). The gradient is right with zeros in the input, any number of them."""
    if keepdims is not None:  # NumPy's name
        if keepdim and not keepdims:
            raise ArgumentError("prod: give keepdim or keepdims, not both")
        keepdim = keepdims
    x = _int_sum_dtype(_with_dtype(input, dtype))
    d = pick_dim(dim, axis, "prod")
    if d is not None:
        if isinstance(d, (tuple, list)):
            raise ArgumentTypeError("prod: dim must be a single int (as in PyTorch), not a tuple")
        d = _one_dim(x, d, None, "prod") if x.data.ndim else None
    return Prod(d, bool(keepdim))(x)
