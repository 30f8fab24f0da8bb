"""Reductions (sum, mean, var, max, min, logsumexp) and softmax / log_softmax, each vjp written once."""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ArgumentError
from ..function import Function
from .operands import as_float_t, as_t, keep_shape, norm_axis, norm_dims, number_for


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
                f"{type(self).__name__.lower()[1:]}: cannot reduce over axis {empty[0]} of length 0 "
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
def sum(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Sum over ``axis`` (None: all axes; an int or a tuple)."""
    x = as_t(x)
    return Sum(norm_dims(axis, x.data.ndim, "sum"), keepdims)(x)


def mean(x, axis=None, keepdims: bool = False):
    x = as_float_t(x)
    return Mean(norm_dims(axis, x.data.ndim, "mean"), keepdims)(x)


def var(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """Variance; ``ddof=1`` gives the unbiased estimate (PyTorch's default)."""
    x = as_float_t(x)
    return Var(norm_dims(axis, x.data.ndim, "var"), keepdims, ddof)(x)


def std(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """Standard deviation; ``ddof=1`` gives the square root of the unbiased variance (PyTorch's default)."""
    x = as_float_t(x)
    return Std(norm_dims(axis, x.data.ndim, "std"), keepdims, ddof)(x)


def max(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Maximum over ``axis``; ties share the gradient equally."""
    x = as_t(x)
    return AMax(norm_dims(axis, x.data.ndim, "max"), keepdims)(x)


def min(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Minimum over ``axis``; ties share the gradient equally."""
    x = as_t(x)
    return AMin(norm_dims(axis, x.data.ndim, "min"), keepdims)(x)


def logsumexp(x, axis=None, keepdims: bool = False):
    """ln(sum(exp(x))) over ``axis``, without overflow."""
    x = as_float_t(x)
    return LogSumExp(norm_dims(axis, x.data.ndim, "logsumexp"), keepdims)(x)


def _along(op_class, x, axis, op):
    """``op_class`` along one axis; a 0-d tensor (axis 0 or -1, as in PyTorch) as a vector of one."""
    if x.data.ndim == 0:
        from .shape import reshape

        norm_axis(axis, 1, op)
        return reshape(op_class(0)(reshape(x, (1,))), ())
    return op_class(norm_axis(axis, x.data.ndim, op)[0])(x)


def softmax(x, axis: int = -1):
    """exp(x) / sum(exp(x)) along ``axis``."""
    return _along(SoftmaxOp, as_float_t(x), axis, "softmax")


def log_softmax(x, axis: int = -1):
    """x - logsumexp(x) along ``axis``, without overflow."""
    return _along(LogSoftmaxOp, as_float_t(x), axis, "log_softmax")


def sum_to(x, shape):
    """Sum ``x`` over the axes along which ``shape`` would have been broadcast to x's shape."""
    x = as_t(x)
    if x.shape == tuple(shape):
        return x
    return SumTo(shape)(x)
