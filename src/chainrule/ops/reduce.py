"""Reductions (sum, mean, var, max, min, logsumexp) and softmax / log_softmax."""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ArgumentError
from ..function import Function
from ..tensor import Tensor
from ._base import as_float_t, as_t, keep_shape, norm_axis

_wrap = Tensor._wrap


def _quietly(fn, *args, **kwargs):
    """``fn`` with NumPy's warnings about empty slices and zero degrees of freedom silenced (the result is nan)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


class _Reduce(Function):
    """Base for reductions over ``axes`` (a normalised tuple) with ``keepdims``."""

    __slots__ = ("axes", "keepdims")

    def __init__(self, axes, keepdims):
        self.inputs = None
        self.axes = axes
        self.keepdims = keepdims

    def _expand(self, g):
        """Bring an output-shaped gradient back to the keepdims shape (a view)."""
        if self.keepdims:
            return g
        shape = keep_shape(self.inputs[0].data.shape, self.axes)
        return g.reshape(shape)

    def _count(self) -> int:
        shape = self.inputs[0].data.shape
        n = 1
        for a in self.axes:
            n *= shape[a]
        return n


class Sum(_Reduce):
    __slots__ = ()
    reads_inputs = False
    formula = "y = sum_i x_i"
    derivative = "dy/dx_i = 1"

    def forward(self, x):
        return np.sum(x, axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        return np.broadcast_to(self._expand(g), self.inputs[0].data.shape)

    def backward_graph(self, g):
        return broadcast_to(self._expand(g), self.inputs[0].data.shape)


class Mean(_Reduce):
    __slots__ = ()
    reads_inputs = False
    formula = "y = (1/n) sum_i x_i"
    derivative = "dy/dx_i = 1/n"

    def forward(self, x):
        if x.size == 0:  # the mean of nothing is nan; said without a RuntimeWarning
            return _quietly(np.mean, x, axis=self.axes, keepdims=self.keepdims)
        return np.mean(x, axis=self.axes, keepdims=self.keepdims)

    def _factor(self):
        n = self._count()
        return 1 / n if n else float("nan")  # the mean of nothing is nan, as is its derivative

    def backward(self, g):
        g = self._expand(g) * np.asarray(self._factor(), g.dtype)
        return np.broadcast_to(g, self.inputs[0].data.shape)

    def backward_graph(self, g):
        g = self._expand(g) * self._factor()
        return broadcast_to(g, self.inputs[0].data.shape)


class Var(_Reduce):
    """Variance with NumPy's ``ddof`` (0: population; 1: sample, PyTorch's default)."""

    __slots__ = ("ddof",)
    formula = "y = sum_i (x_i - mean(x))^2 / (n - ddof)"
    derivative = "dy/dx_i = 2 (x_i - mean(x)) / (n - ddof)"

    def __init__(self, axes, keepdims, ddof):
        self.inputs = None
        super().__init__(axes, keepdims)
        self.ddof = ddof

    def forward(self, x):
        n = 1
        for a in self.axes:
            n *= x.shape[a]
        if n - self.ddof <= 0:  # no degrees of freedom: nan, without NumPy's RuntimeWarning
            return _quietly(np.var, x, axis=self.axes, keepdims=self.keepdims, ddof=self.ddof)
        return np.var(x, axis=self.axes, keepdims=self.keepdims, ddof=self.ddof)

    def _factor(self):
        dof = self._count() - self.ddof
        return 2 / dof if dof > 0 else float("nan")  # no degrees of freedom left: nan, as the value is

    def backward(self, g):
        x = self.inputs[0].data
        with np.errstate(divide="ignore", invalid="ignore"):
            d = x - np.mean(x, axis=self.axes, keepdims=True)
            return self._expand(g) * d * np.asarray(self._factor(), x.dtype)

    def backward_graph(self, g):
        x = self.inputs[0]
        d = x - mean(x, self.axes, True)
        return self._expand(g) * d * self._factor()


class AMax(_Reduce):
    """Maximum over axes; tied maxima share the gradient equally."""

    __slots__ = ()
    formula = "y = max_i x_i"
    derivative = "dy/dx_i = 1/k for each of the k maximal x_i, else 0"
    _fn = staticmethod(np.amax)

    def forward(self, x):
        empty = [a for a in self.axes if x.shape[a] == 0]
        if empty:
            raise ArgumentError(
                f"{type(self).__name__.lower()[1:]}: cannot reduce over axis {empty[0]} of length 0 "
                f"(input shape {x.shape}); there is no maximum/minimum of nothing"
            )
        return self._fn(x, axis=self.axes, keepdims=self.keepdims)

    def _weights(self):
        x = self.inputs[0].data
        y = self._fn(x, axis=self.axes, keepdims=True)
        hit = x == y
        nan = np.isnan(y)
        if nan.any():  # a NaN is the result: the gradient goes to the NaN(s) that produced it
            hit |= np.isnan(x) & nan
        mask = hit.astype(x.dtype)
        return mask / mask.sum(axis=self.axes, keepdims=True)

    def backward(self, g):
        return self._expand(g) * self._weights()

    def backward_graph(self, g):
        return self._expand(g) * self._weights()


class AMin(AMax):
    """Minimum over axes; tied minima share the gradient equally."""

    __slots__ = ()
    formula = "y = min_i x_i"
    derivative = "dy/dx_i = 1/k for each of the k minimal x_i, else 0"
    _fn = staticmethod(np.amin)


def _lse(x, axes):
    """log(sum(exp(x))) over axes, keepdims, finite for large |x| and all -inf rows."""
    m = np.amax(x, axis=axes, keepdims=True, initial=-np.inf)  # initial: an empty axis gives -inf, not an error
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        return m + np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True))


class LogSumExp(_Reduce):
    __slots__ = ("y",)
    saved_outputs = ("y",)  # backward reads the output it kept
    formula = "y = ln(sum_i exp(x_i))"
    derivative = "dy/dx_i = exp(x_i - y) = softmax(x)_i"

    def forward(self, x):
        y = _lse(x, self.axes)
        self.y = y
        return y if self.keepdims else y.reshape(np.sum(x, axis=self.axes).shape)

    def backward(self, g):
        with np.errstate(invalid="ignore"):  # -inf - (-inf) on an all -inf row: NaN, as in PyTorch
            return self._expand(g) * np.exp(self.inputs[0].data - self.y)

    def backward_graph(self, g):
        x = self.inputs[0]
        return self._expand(g) * exp(x - logsumexp(x, self.axes, True))


class Softmax(Function):
    __slots__ = ("axis", "y")
    saved_outputs = ("y",)  # backward reads the output it kept
    reads_inputs = False
    formula = "y_i = exp(x_i) / sum_j exp(x_j)"
    derivative = "dy_i/dx_j = y_i (delta_ij - y_j)"

    def __init__(self, axis):
        self.inputs = None
        self.axis = axis

    def forward(self, x):
        with np.errstate(invalid="ignore"):  # an all -inf row: NaN, as in PyTorch
            e = np.exp(x - np.amax(x, axis=self.axis, keepdims=True, initial=-np.inf))
        e /= np.sum(e, axis=self.axis, keepdims=True)
        self.y = e
        return e

    def backward(self, g):
        y = self.y
        gy = g * y
        return gy - y * np.sum(gy, axis=self.axis, keepdims=True)

    def backward_graph(self, g):
        y = softmax(self.inputs[0], self.axis)
        gy = g * y
        return gy - y * sum(gy, self.axis, True)


class LogSoftmax(Function):
    __slots__ = ("axis", "y")
    saved_outputs = ("y",)  # backward reads the output it kept
    reads_inputs = False
    formula = "y_i = x_i - ln(sum_j exp(x_j))"
    derivative = "dy_i/dx_j = delta_ij - softmax(x)_j"

    def __init__(self, axis):
        self.inputs = None
        self.axis = axis

    def forward(self, x):
        with np.errstate(invalid="ignore"):  # an all -inf row: NaN, as in PyTorch
            lse = _lse(x, (self.axis,))
            y = x - lse
        if np.isposinf(lse).any():  # a row holding +inf: all NaN, as in PyTorch
            y[np.broadcast_to(np.isposinf(lse), y.shape)] = np.nan
        self.y = y
        return y

    def backward(self, g):
        with np.errstate(invalid="ignore"):  # an all -inf row: NaN, as in PyTorch
            return g - np.exp(self.y) * np.sum(g, axis=self.axis, keepdims=True)

    def backward_graph(self, g):
        return g - softmax(self.inputs[0], self.axis) * sum(g, self.axis, True)


class SumTo(Function):
    """Sum a broadcast array back to ``shape`` (the adjoint of broadcast_to)."""

    __slots__ = ("shape",)
    reads_inputs = False
    formula = "y = x summed over its broadcast axes"
    derivative = "dy/dx = 1 (broadcast back)"

    def __init__(self, shape):
        self.inputs = None
        self.shape = tuple(shape)

    def forward(self, x):
        from ..autograd import unbroadcast

        return unbroadcast(x, self.shape, "sum_to")

    def backward(self, g):
        return np.broadcast_to(g, self.inputs[0].data.shape)

    def backward_graph(self, g):
        return broadcast_to(g, self.inputs[0].data.shape)


# --------------------------------------------------------------------------- functions
def sum(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Sum over ``axis`` (None: all axes; an int or a tuple)."""
    x = as_t(x)
    return Sum(norm_axis(axis, x.data.ndim, "sum"), keepdims)(x)


def mean(x, axis=None, keepdims: bool = False):
    x = as_float_t(x)
    return Mean(norm_axis(axis, x.data.ndim, "mean"), keepdims)(x)


def var(x, axis=None, keepdims: bool = False, ddof: int = 0):
    """Variance; ``ddof=1`` gives the unbiased estimate (PyTorch's default)."""
    x = as_float_t(x)
    return Var(norm_axis(axis, x.data.ndim, "var"), keepdims, ddof)(x)


def std(x, axis=None, keepdims: bool = False, ddof: int = 0):
    from .elementwise import sqrt

    return sqrt(var(x, axis, keepdims, ddof))


def max(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Maximum over ``axis``; ties share the gradient equally."""
    x = as_t(x)
    return AMax(norm_axis(axis, x.data.ndim, "max"), keepdims)(x)


def min(x, axis=None, keepdims: bool = False):  # noqa: A001
    """Minimum over ``axis``; ties share the gradient equally."""
    x = as_t(x)
    return AMin(norm_axis(axis, x.data.ndim, "min"), keepdims)(x)


def logsumexp(x, axis=None, keepdims: bool = False):
    """ln(sum(exp(x))) over ``axis``, without overflow."""
    x = as_float_t(x)
    return LogSumExp(norm_axis(axis, x.data.ndim, "logsumexp"), keepdims)(x)


def softmax(x, axis: int = -1):
    """exp(x) / sum(exp(x)) along ``axis``."""
    x = as_float_t(x)
    return Softmax(norm_axis(axis, x.data.ndim, "softmax")[0])(x)


def log_softmax(x, axis: int = -1):
    """x - logsumexp(x) along ``axis``, without overflow."""
    x = as_float_t(x)
    return LogSoftmax(norm_axis(axis, x.data.ndim, "log_softmax")[0])(x)


def sum_to(x, shape):
    """Sum ``x`` over the axes along which ``shape`` would have been broadcast to x's shape."""
    x = as_t(x)
    if x.shape == tuple(shape):
        return x
    return SumTo(shape)(x)


from .elementwise import exp  # noqa: E402
from .shape import broadcast_to  # noqa: E402
