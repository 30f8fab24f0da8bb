"""Reductions (sum, mean, var, max, min, logsumexp) and softmax / log_softmax, each vjp written once."""

from __future__ import annotations

import warnings
from collections import namedtuple

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from ..function import Function
from ..tensor import Tensor, wrap
from .operands import as_float_t, as_t, dim_arg, keep_shape, keepdim_arg, norm_axis, norm_dims, number_for


def _quietly(fn, *args, **kwargs):
    """``fn`` with NumPy's warnings about empty slices and zero degrees of freedom silenced (the result is nan)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def _narrow(v, dtype):
    """``v`` (an array or NumPy scalar) as an array of ``dtype`` (beyond float32's range: inf, quietly)."""
    with np.errstate(over="ignore"):
        return np.asarray(v, dtype)


class _Reduce(Function):
    """Base for reductions over ``axes`` (a normalised tuple) with ``keepdims``."""

    def __init__(self, axes, keepdims):
        self.axes = axes
        self.keepdims = keepdims

    def _expand(self, xp, g):
        """Bring an output-shaped gradient back to the keepdims shape (a view)."""
        if self.keepdims:
            return g
        return xp.reshape(g, keep_shape(self.in_shape, self.axes))

    def _count(self) -> int:
        n = 1
        for a in self.axes:
            n *= self.in_shape[a]
        return n


class Sum(_Reduce):
    formula = "y = sum_i x_i"
    derivative = "dy/dx_i = 1"

    def forward(self, x):
        self.in_shape = x.shape
        return np.sum(x, axis=self.axes, keepdims=self.keepdims)

    def vjp(self, xp, g):
        return xp.broadcast_to(self._expand(xp, g), self.in_shape)


class Mean(_Reduce):
    formula = "y = (1/n) sum_i x_i"
    derivative = "dy/dx_i = 1/n"

    def forward(self, x):
        self.in_shape = x.shape
        if x.size == 0:  # the mean of nothing is nan; said without a RuntimeWarning
            return _quietly(np.mean, x, axis=self.axes, keepdims=self.keepdims)
        return np.mean(x, axis=self.axes, keepdims=self.keepdims)

    def vjp(self, xp, g):
        n = self._count()
        factor = 1 / n if n else float("nan")  # the mean of nothing is nan, as is its derivative
        return xp.broadcast_to(self._expand(xp, g) * xp.const(factor, g), self.in_shape)


class Var(_Reduce):
    """Variance with NumPy's ``ddof`` (0: population; 1: sample, PyTorch's default)."""

    formula = "y = sum_i (x_i - mean(x))^2 / (n - ddof)"
    derivative = "dy/dx_i = 2 (x_i - mean(x)) / (n - ddof)"

    def __init__(self, axes, keepdims, ddof):
        super().__init__(axes, keepdims)
        self.ddof = ddof

    def forward(self, x):
        self.save_for_backward(x)
        return _narrow(self._variance(x), x.dtype)

    def _variance(self, x):
        """The variance, in float64 for float32 input (PyTorch too accumulates more precisely): the squares of
        values beyond 1e19 do not overflow, and digits are kept."""
        self.in_shape = x.shape
        wide = {"dtype": np.float64} if x.dtype == np.float32 else {}
        if self._count() - self.ddof <= 0:  # no degrees of freedom: nan, without NumPy's RuntimeWarning
            return _quietly(np.var, x, axis=self.axes, keepdims=self.keepdims, ddof=self.ddof, **wide)
        return np.var(x, axis=self.axes, keepdims=self.keepdims, ddof=self.ddof, **wide)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        return self._var_vjp(xp, x, g)

    def _var_vjp(self, xp, x, g):
        dof = self._count() - self.ddof
        factor = 2 / dof if dof > 0 else float("nan")  # no degrees of freedom left: nan, as the value is
        with np.errstate(divide="ignore", invalid="ignore"):
            d = x - xp.mean(x, axis=self.axes, keepdims=True)
            return self._expand(xp, g) * d * xp.const(factor, d)


class Std(Var):
    """Standard deviation, the square root of :class:`Var`; where it is 0 (constant values) its gradient is
    taken as 0, as in PyTorch (d sqrt(v) = dv / (2 sqrt(v)) would be 0 * inf there)."""

    formula = "y = sqrt(sum_i (x_i - mean(x))^2 / (n - ddof))"
    derivative = "dy/dx_i = (x_i - mean(x)) / ((n - ddof) y)  (0 where y = 0)"

    def forward(self, x):
        with np.errstate(invalid="ignore"):
            y = _narrow(np.sqrt(self._variance(x)), x.dtype)
        self.save_for_backward(x, y)
        return y

    def vjp(self, xp, g):
        x, y = self.saved(xp)
        zero = xp.data(y) == 0
        # the inner where keeps the quotient finite where y = 0, so that its derivatives are finite there too
        gv = xp.where(zero, xp.const(0, g), g / (2 * xp.where(zero, xp.const(1, g), y)))
        return self._var_vjp(xp, x, gv)


class AMax(_Reduce):
    """Maximum over axes; tied maxima share the gradient equally."""

    formula = "y = max_i x_i"
    derivative = "dy/dx_i = 1/k for each of the k maximal x_i, else 0"
    _fn = staticmethod(np.amax)

    def forward(self, x):
        self.in_shape = x.shape
        empty = [a for a in self.axes if x.shape[a] == 0]
        if empty:
            raise ArgumentError(
                f"{type(self).__name__.lower()}: cannot reduce over dim {empty[0]} of length 0 "
                f"(input shape {x.shape}); there is no maximum/minimum of nothing"
            )
        self.save_for_backward(x)
        return self._fn(x, axis=self.axes, keepdims=self.keepdims)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        x = xp.data(x)
        y = self._fn(x, axis=self.axes, keepdims=True)
        hit = x == y
        nan = np.isnan(y)
        if nan.any():  # a NaN is the result: the gradient goes to the NaN(s) that produced it
            hit |= np.isnan(x) & nan
        mask = hit.astype(x.dtype)
        return self._expand(xp, g) * (mask / mask.sum(axis=self.axes, keepdims=True))


class AMin(AMax):
    """Minimum over axes; tied minima share the gradient equally."""

    formula = "y = min_i x_i"
    derivative = "dy/dx_i = 1/k for each of the k minimal x_i, else 0"
    _fn = staticmethod(np.amin)


def lse(x, axes):
    """log(sum(exp(x))) over axes of an array, keepdims, finite for large |x| and all -inf rows."""
    m = np.amax(x, axis=axes, keepdims=True, initial=-np.inf)  # initial: an empty axis gives -inf, not an error
    m = np.where(np.isfinite(m), m, number_for(m, 0))
    with np.errstate(divide="ignore"):
        return m + np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True))


class LogSumExp(_Reduce):
    formula = "y = ln(sum_i exp(x_i))"
    derivative = "dy/dx_i = exp(x_i - y) = softmax(x)_i"

    def forward(self, x):
        self.in_shape = x.shape
        y = lse(x, self.axes)
        if not self.keepdims:
            y = y.reshape(np.sum(x, axis=self.axes).shape)
        self.save_for_backward(x, y)
        return y

    def vjp(self, xp, g):
        x, y = self.saved(xp)
        with np.errstate(invalid="ignore"):  # -inf - (-inf) on an all -inf row: NaN, as in PyTorch
            return self._expand(xp, g) * xp.exp(x - self._expand(xp, y))


def softmax_array(x, axis):
    """softmax of an array along one axis (an all -inf row gives NaN, as in PyTorch)."""
    with np.errstate(invalid="ignore"):
        e = np.exp(x - np.amax(x, axis=axis, keepdims=True, initial=-np.inf))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def log_softmax_array(x, axis):
    """log_softmax of an array along one axis (a row holding +inf, or all -inf, gives NaN, as in PyTorch).

    As (x - max) - log(sum(exp(x - max))), not x - logsumexp(x): near the maximum the result keeps its
    digits (about -exp(-15) for a row (16, 1) in float32, not 0)."""
    m = np.amax(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: an empty axis gives -inf, not an error
    m = np.where(np.isfinite(m), m, number_for(m, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        y = x - m
        s = np.sum(np.exp(y), axis=axis, keepdims=True)
        y -= np.log(s)
    if np.isposinf(s).any():
        y[np.broadcast_to(np.isposinf(s), y.shape)] = np.nan
    return y


class SoftmaxOp(Function):
    """softmax along one axis (named apart from the layer nn.Softmax)."""

    formula = "y_i = exp(x_i) / sum_j exp(x_j)"
    derivative = "dy_i/dx_j = y_i (delta_ij - y_j)"

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        y = softmax_array(x, self.axis)
        self.save_for_backward(y)
        return y

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        gy = g * y
        return gy - y * xp.sum(gy, axis=self.axis, keepdims=True)


class LogSoftmaxOp(Function):
    """log_softmax along one axis (named apart from the layer nn.LogSoftmax)."""

    formula = "y_i = x_i - ln(sum_j exp(x_j))"
    derivative = "dy_i/dx_j = delta_ij - softmax(x)_j"

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        y = log_softmax_array(x, self.axis)
        self.save_for_backward(y)
        return y

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        with np.errstate(invalid="ignore"):  # an all -inf row: NaN, as in PyTorch
            return g - xp.exp(y) * xp.sum(g, axis=self.axis, keepdims=True)


class SumTo(Function):
    """Sum a broadcast array back to ``shape`` (the adjoint of broadcast_to)."""

    formula = "y = x summed over its broadcast axes"
    derivative = "dy/dx = 1 (broadcast back)"

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        from ..autograd import unbroadcast

        self.in_shape = x.shape
        return unbroadcast(x, self.shape, "sum_to")

    def vjp(self, xp, g):
        return xp.broadcast_to(g, self.in_shape)


# --------------------------------------------------------------------------- functions
# Every reduction takes PyTorch's ``dim``/``keepdim`` or NumPy's ``axis``/``keepdims`` (the same arguments
# under two names; giving both is an error).


def sum(x, dim=None, keepdim=None, *, axis=None, keepdims=None):  # noqa: A001
    """Sum over ``dim`` (None: all dimensions; an int or a tuple)."""
    x = as_t(x)
    return Sum(norm_dims(dim_arg("sum", dim, axis), x.data.ndim, "sum"), keepdim_arg("sum", keepdim, keepdims))(x)


def mean(x, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """Mean over ``dim`` (None: all dimensions)."""
    x = as_float_t(x)
    return Mean(norm_dims(dim_arg("mean", dim, axis), x.data.ndim, "mean"), keepdim_arg("mean", keepdim, keepdims))(x)


def _correction(op, unbiased, correction, ddof):
    """The degrees-of-freedom correction from PyTorch's ``correction`` or ``unbiased`` or NumPy's ``ddof``
    (at most one of them; by default 1, the unbiased estimate, as in PyTorch)."""
    given = [n for n, v in (("unbiased", unbiased), ("correction", correction), ("ddof", ddof)) if v is not None]
    if len(given) > 1:
        raise ArgumentError(
            f"{op}: give one of unbiased, correction and ddof (NumPy's name for correction), not {given}"
        )
    if unbiased is not None:
        return 1 if unbiased else 0
    c = correction if correction is not None else ddof if ddof is not None else 1
    if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"{op}: correction must be a number, got {c!r}")
    return c


def var(x, dim=None, unbiased=None, keepdim=None, *, correction=None, axis=None, keepdims=None, ddof=None):
    """Variance over ``dim``: sum((x - mean)^2) / (n - correction). ``correction=1`` (the default, as in
    PyTorch) is the unbiased sample variance, ``correction=0`` (or ``unbiased=False``) the population one.
    ``x.var(False)`` means ``unbiased=False``, as in PyTorch."""
    if isinstance(dim, bool):  # PyTorch's var(unbiased) overload
        dim, unbiased = None, dim if unbiased is None else unbiased
    c = _correction("var", unbiased, correction, ddof)
    x = as_float_t(x)
    axes = norm_dims(dim_arg("var", dim, axis), x.data.ndim, "var")
    return Var(axes, keepdim_arg("var", keepdim, keepdims), c)(x)


def std(x, dim=None, unbiased=None, keepdim=None, *, correction=None, axis=None, keepdims=None, ddof=None):
    """Standard deviation over ``dim``: the square root of :func:`var` (unbiased by default, as in PyTorch);
    over constant values its gradient is 0, as in PyTorch."""
    if isinstance(dim, bool):  # PyTorch's std(unbiased) overload
        dim, unbiased = None, dim if unbiased is None else unbiased
    c = _correction("std", unbiased, correction, ddof)
    x = as_float_t(x)
    axes = norm_dims(dim_arg("std", dim, axis), x.data.ndim, "std")
    return Std(axes, keepdim_arg("std", keepdim, keepdims), c)(x)


def amax(x, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """The largest values over ``dim`` (None: all; an int or a tuple); tied maxima share the gradient equally,
    as in PyTorch."""
    x = as_t(x)
    return AMax(norm_dims(dim_arg("amax", dim, axis), x.data.ndim, "amax"), keepdim_arg("amax", keepdim, keepdims))(x)


def amin(x, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """The smallest values over ``dim``; tied minima share the gradient equally, as in PyTorch."""
    x = as_t(x)
    return AMin(norm_dims(dim_arg("amin", dim, axis), x.data.ndim, "amin"), keepdim_arg("amin", keepdim, keepdims))(x)


# What max(x, dim) and min(x, dim) return, as PyTorch's torch.return_types.max/min: (values, indices).
max_result = namedtuple("max", ["values", "indices"])
max_result.__doc__ = "max(x, dim): the largest values along dim and where they are (an int64 tensor)."
min_result = namedtuple("min", ["values", "indices"])
min_result.__doc__ = "min(x, dim): the smallest values along dim and where they are (an int64 tensor)."


class MaxDim(Function):
    """The largest value along one dimension, and its index; the gradient goes to that index only (the first
    maximum where several tie, or the first NaN), as PyTorch's ``max(dim)`` does."""

    formula = "y = x[argmax_i x_i] along dim"
    derivative = "dy/dx_i = 1 at the index returned, else 0"
    _arg = staticmethod(np.argmax)

    def __init__(self, axis, keepdim):
        self.axis = axis
        self.keepdim = keepdim

    def forward(self, x):
        if x.shape[self.axis] == 0:
            name = "max" if type(self)._arg is np.argmax else "min"
            raise ArgumentError(
                f"{name}: cannot reduce over dim {self.axis} of length 0 (input shape {x.shape}); "
                "there is no maximum/minimum of nothing"
            )
        idx = np.expand_dims(self._arg(x, axis=self.axis), self.axis)
        self.index = idx
        self.length = x.shape[self.axis]
        y = np.take_along_axis(x, idx, axis=self.axis)
        return y if self.keepdim else np.squeeze(y, self.axis)

    def vjp(self, xp, g):
        positions = np.arange(self.length).reshape((-1,) + (1,) * (self.index.ndim - 1 - self.axis))
        hit = positions == self.index  # one-hot along the axis: where each value was taken from
        if not self.keepdim:
            g = xp.expand_dims(g, self.axis)
        return xp.where(hit, g, xp.const(0, g))


class MinDim(MaxDim):
    """The smallest value along one dimension, and its index; the gradient goes to that index only."""

    formula = "y = x[argmin_i x_i] along dim"
    _arg = staticmethod(np.argmin)


def _extreme(name, x, dim, keepdim, axis, keepdims):
    """max or min: of everything (a 0-d tensor), of two tensors elementwise, or along one dim (a named tuple)."""
    dim = dim_arg(name, dim, axis)
    keep = keepdim_arg(name, keepdim, keepdims)
    if dim is None:
        if keep:
            raise ArgumentError(f"{name}: keepdim needs a dim; use {name}(x, dim, keepdim=True) or a{name}(x)")
        return (amax if name == "max" else amin)(x)
    if isinstance(dim, Tensor):  # PyTorch's max(input, other): the elementwise maximum
        from .elementwise import maximum, minimum

        return (maximum if name == "max" else minimum)(x, dim)
    if isinstance(dim, (tuple, list)):
        raise ArgumentTypeError(f"{name}: dim must be one int (for several dims use a{name}), got {dim!r}")
    x = as_t(x)
    result = max_result if name == "max" else min_result
    if x.data.ndim == 0:
        norm_axis(dim, 1, name)  # dim 0 or -1, as PyTorch allows for a 0-d tensor
        values = _extreme(name, x.reshape(1), 0, False, None, None).values  # 0-d, with keepdim too (PyTorch)
        return result(values, wrap(np.zeros((), np.int64)))
    a = norm_axis(dim, x.data.ndim, name)[0]
    op = (MaxDim if name == "max" else MinDim)(a, keep)
    values = op(x)
    idx = op.index if keep else np.squeeze(op.index, a)
    return result(values, wrap(idx.astype(np.int64, copy=False)))


def max(x, dim=None, keepdim=None, *, axis=None, keepdims=None):  # noqa: A001
    """PyTorch's ``max``: without ``dim``, the largest value (a 0-d tensor; ties share the gradient); with an
    int ``dim``, the named tuple ``(values, indices)`` along it (the gradient goes to the index returned);
    with a tensor in place of ``dim``, the elementwise maximum of the two. For the largest values over
    several dims use :func:`amax`."""
    return _extreme("max", x, dim, keepdim, axis, keepdims)


def min(x, dim=None, keepdim=None, *, axis=None, keepdims=None):  # noqa: A001
    """PyTorch's ``min``: the smallest value, or ``(values, indices)`` along ``dim``, or the elementwise
    minimum with a tensor (see :func:`max`)."""
    return _extreme("min", x, dim, keepdim, axis, keepdims)


def logsumexp(x, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """ln(sum(exp(x))) over ``dim``, without overflow."""
    x = as_float_t(x)
    axes = norm_dims(dim_arg("logsumexp", dim, axis), x.data.ndim, "logsumexp")
    return LogSumExp(axes, keepdim_arg("logsumexp", keepdim, keepdims))(x)


def _along(op_class, x, dim, axis, op):
    """``op_class`` along one dim (the last when None); a 0-d tensor (dim 0 or -1, as in PyTorch) as a
    vector of one."""
    d = dim_arg(op, dim, axis)
    d = -1 if d is None else d
    if x.data.ndim == 0:
        from .shape import reshape

        norm_axis(d, 1, op)
        return reshape(op_class(0)(reshape(x, (1,))), ())
    return op_class(norm_axis(d, x.data.ndim, op)[0])(x)


def softmax(x, dim=None, *, axis=None):
    """exp(x) / sum(exp(x)) along ``dim`` (the last dimension when None)."""
    return _along(SoftmaxOp, as_float_t(x), dim, axis, "softmax")


def log_softmax(x, dim=None, *, axis=None):
    """x - logsumexp(x) along ``dim`` (the last dimension when None), without overflow."""
    return _along(LogSoftmaxOp, as_float_t(x), dim, axis, "log_softmax")


def sum_to(x, shape):
    """Sum ``x`` over the axes along which ``shape`` would have been broadcast to x's shape."""
    x = as_t(x)
    if x.shape == tuple(shape):
        return x
    return SumTo(shape)(x)


class Norm2(_Reduce):
    """The Euclidean (Frobenius) norm over axes; at a zero vector its gradient is 0, as in PyTorch."""

    formula = "y = sqrt(sum_i x_i^2)"
    derivative = "dy/dx_i = x_i / y  (0 where y = 0)"

    def forward(self, x):
        self.in_shape = x.shape
        y = np.sqrt(np.sum(x * x, axis=self.axes, keepdims=self.keepdims))
        self.save_for_backward(x, y)
        return y

    def vjp(self, xp, g):
        x, y = self.saved(xp)
        zero = xp.data(y) == 0
        # the inner where keeps the quotient finite where y = 0, so its derivatives are finite there too
        q = xp.where(zero, xp.const(0, g), g / xp.where(zero, xp.const(1, g), y))
        return self._expand(xp, q) * x


def norm(input, p="fro", dim=None, keepdim: bool = False, *, axis=None, keepdims=None):  # noqa: A002
    """PyTorch's ``norm`` of a tensor (as a vector) over ``dim`` (all dims when None): ``p`` = 2 or ``"fro"``
    (the default), 1, ``inf``, ``-inf``, 0 (the count of nonzero values) or any other number."""
    x = as_float_t(input)
    axes = norm_dims(dim_arg("norm", dim, axis), x.data.ndim, "norm")
    keep = keepdim_arg("norm", keepdim, keepdims)
    if p == "nuc" or (isinstance(p, str) and p != "fro"):
        raise ArgumentError(f"norm: p={p!r} is not supported; use 'fro', 2, 1, inf, -inf, 0 or another number")
    if isinstance(p, bool) or not isinstance(p, (str, int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"norm: p must be a number or 'fro', got {p!r}")
    if p == "fro" or p == 2:
        return Norm2(axes, keep)(x)
    from .elementwise import abs as abs_

    a = abs_(x)
    if p == 1:
        return Sum(axes, keep)(a)
    if p == np.inf:
        return AMax(axes, keep)(a)
    if p == -np.inf:
        return AMin(axes, keep)(a)
    if p == 0:
        return wrap(np.sum(x.data != 0, axis=axes, keepdims=keep).astype(x.data.dtype))
    return Sum(axes, keep)(a**p) ** (1.0 / p)
