"""Activation functions: gelu, elu, selu, celu, silu, mish, hardtanh, relu6, hardswish, hardsigmoid, softsign,
logsigmoid and glu, with PyTorch's formulas, argument names and defaults (as in ``torch.nn.functional``).

Each is one graph node (named ``...Op`` apart from the layers of the same name), its ``vjp`` written once
against the array namespace ``xp`` so that second derivatives come from the same lines. At the kinks the
derivative is PyTorch's choice: hardtanh, relu6 and hardsigmoid pass the gradient strictly inside their
linear range, hardswish is 0 at -3 and 1 at 3, elu-type functions take the negative branch at 0.
``inplace=True`` changes the input tensor in place with PyTorch's rules for in-place operations
(recorded when it is part of a graph, refused on a leaf that requires grad).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..function import Function
from .elementwise import logistic
from .operands import activation, as_float_t, norm_axis
from .special import erf_array

_SQRT1_2 = math.sqrt(0.5)
_GELU_PDF = 1 / math.sqrt(2 * math.pi)  # the standard normal density at 0
_GELU_TANH_BETA = math.sqrt(2 / math.pi)
_GELU_TANH_KAPPA = 0.044715
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class GELUOp(Function):
    """The Gaussian error linear unit x * Phi(x), exact (with erf) or with PyTorch's tanh approximation."""

    elementwise = True
    formula = "y = x * Phi(x) = x/2 * (1 + erf(x / sqrt(2)))"
    derivative = "dy/dx = Phi(x) + x * phi(x)"

    def __init__(self, approximate: str = "none"):
        self.approximate = approximate
        if approximate == "tanh":
            self.formula = "y = x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"
            self.derivative = "dy/dx = (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),  t = tanh(...)"

    def forward(self, x):
        self.save_for_backward(x)
        if self.approximate == "tanh":
            inner = _GELU_TANH_BETA * (x + _GELU_TANH_KAPPA * (x * x * x))
            return 0.5 * x * (1 + np.tanh(inner))
        return x * 0.5 * (1 + erf_array(x * _SQRT1_2))

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        if self.approximate == "tanh":
            x2 = x * x
            t = xp.tanh((x + x2 * x * _GELU_TANH_KAPPA) * _GELU_TANH_BETA)
            right = (x * 0.5) * (1 - t * t) * ((1 + x2 * (3 * _GELU_TANH_KAPPA)) * _GELU_TANH_BETA)
            return g * ((1 + t) * 0.5 + right)
        cdf = (1 + xp.erf(x * _SQRT1_2)) * 0.5
        pdf = xp.exp(x * x * -0.5) * _GELU_PDF
        return g * (cdf + x * pdf)


class ELUOp(Function):
    """scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1)): elu, and selu and celu through it."""

    elementwise = True
    formula = "y = x if x > 0 else alpha (exp(x) - 1)"
    derivative = "dy/dx = 1 if x > 0 else alpha exp(x)"

    def __init__(self, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0):
        self.alpha = alpha
        self.scale = scale
        self.input_scale = input_scale

    def forward(self, x):
        self.save_for_backward(x)
        neg = np.minimum(x, 0) * x.dtype.type(self.input_scale)
        return np.where(x > 0, x * x.dtype.type(self.scale), np.expm1(neg) * x.dtype.type(self.alpha * self.scale))

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        pos = xp.data(x) > 0
        xn = xp.where(pos, xp.const(0, g), x)  # the negative branch on x <= 0 only: no overflow elsewhere
        neg = xp.exp(xn * self.input_scale) * (self.alpha * self.scale * self.input_scale)
        return g * xp.where(pos, xp.const(self.scale, g), neg)


class SELUOp(ELUOp):
    formula = "y = scale * (x if x > 0 else alpha (exp(x) - 1)),  alpha = 1.6733, scale = 1.0507"
    derivative = "dy/dx = scale if x > 0 else scale * alpha exp(x)"

    def __init__(self):
        super().__init__(_SELU_ALPHA, _SELU_SCALE, 1.0)


class CELUOp(ELUOp):
    formula = "y = x if x > 0 else alpha (exp(x / alpha) - 1)"
    derivative = "dy/dx = 1 if x > 0 else exp(x / alpha)"

    def __init__(self, alpha: float = 1.0):
        super().__init__(alpha, 1.0, 1.0 / alpha)


class SiLUOp(Function):
    """x * sigmoid(x) (also called swish)."""

    elementwise = True
    formula = "y = x * sigmoid(x)"
    derivative = "dy/dx = s (1 + x (1 - s)),  s = sigmoid(x)"

    def forward(self, x):
        self.save_for_backward(x)
        return x * logistic(x)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        s = xp.sigmoid(x)
        return g * (s * (1 + x * (1 - s)))


class MishOp(Function):
    elementwise = True
    formula = "y = x * tanh(softplus(x))"
    derivative = "dy/dx = t + x sigmoid(x) (1 - t^2),  t = tanh(softplus(x))"

    def forward(self, x):
        self.save_for_backward(x)
        return x * np.tanh(np.logaddexp(0, x).astype(x.dtype, copy=False))

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        t = xp.tanh(xp.softplus(x))
        return g * (t + x * xp.sigmoid(x) * (1 - t * t))


class HardtanhOp(Function):
    """x clipped to [min_val, max_val]; the gradient passes strictly inside (PyTorch's hardtanh, and relu6)."""

    elementwise = True
    formula = "y = min(max(x, min_val), max_val)"
    derivative = "dy/dx = 1 if min_val < x < max_val else 0"

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0):
        self.min_val = min_val
        self.max_val = max_val

    def forward(self, x):
        self.save_for_backward(x)
        return np.clip(x, x.dtype.type(self.min_val), x.dtype.type(self.max_val))

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        x = xp.data(x)
        return g * ((x > self.min_val) & (x < self.max_val))


class HardswishOp(Function):
    elementwise = True
    formula = "y = x * min(max(x + 3, 0), 6) / 6"
    derivative = "dy/dx = 0 if x <= -3, x/3 + 1/2 if -3 < x < 3, 1 if x >= 3"

    def forward(self, x):
        self.save_for_backward(x)
        return x * np.clip(x + 3, 0, 6) / x.dtype.type(6)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        xd = xp.data(x)
        mid = (xd > -3) & (xd < 3)
        return g * xp.where(mid, x * (1 / 3) + 0.5, xp.const((xd >= 3).astype(xd.dtype), g))


class HardsigmoidOp(Function):
    elementwise = True
    formula = "y = min(max(x + 3, 0), 6) / 6"
    derivative = "dy/dx = 1/6 if -3 < x < 3 else 0"

    def forward(self, x):
        self.save_for_backward(x)
        return np.clip(x + 3, 0, 6) / x.dtype.type(6)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        x = xp.data(x)
        return g * (((x > -3) & (x < 3)) / x.dtype.type(6))


class SoftsignOp(Function):
    elementwise = True
    formula = "y = x / (1 + |x|)"
    derivative = "dy/dx = 1 / (1 + |x|)^2"

    def forward(self, x):
        self.save_for_backward(x)
        return x / (np.abs(x) + 1)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        d = x * np.sign(xp.data(x)) + 1  # 1 + |x|, written so that its own derivative is sign(x)
        return g / (d * d)


class LogSigmoidOp(Function):
    elementwise = True
    formula = "y = ln(sigmoid(x)) = -softplus(-x)"
    derivative = "dy/dx = 1 - sigmoid(x) = sigmoid(-x)"

    def forward(self, x):
        self.save_for_backward(x)
        return -np.logaddexp(0, -x).astype(x.dtype, copy=False)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        return g * xp.sigmoid(-x)


class GLUOp(Function):
    """The gated linear unit: x cut in two halves a, b along ``dim``; y = a * sigmoid(b)."""

    formula = "y = a * sigmoid(b),  (a, b) = the halves of x along dim"
    derivative = "dy/da = sigmoid(b); dy/db = a sigmoid(b) (1 - sigmoid(b))"

    def __init__(self, dim: int):
        self.dim = dim

    def _halves(self, n):
        before = (slice(None),) * self.dim
        return before + (slice(0, n),), before + (slice(n, 2 * n),)

    def forward(self, x):
        n = x.shape[self.dim]
        if n % 2:
            raise ShapeError(f"glu: the halved dimension must have an even size, but dimension {self.dim} has size {n}")
        self.save_for_backward(x)
        ia, ib = self._halves(n // 2)
        return x[ia] * logistic(x[ib])

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        ia, ib = self._halves(xp.data(x).shape[self.dim] // 2)
        a, s = xp.take(x, ia), xp.sigmoid(xp.take(x, ib))
        gs = g * s
        return xp.concatenate([gs, gs * a * (1 - s)], axis=self.dim)


# --------------------------------------------------------------------------- functions
def _run(x, op: str, make, inplace: bool):
    return activation(x, op, make, inplace)


def gelu(input, approximate: str = "none"):  # noqa: A002 - PyTorch's argument names
    """x * Phi(x) (Phi the standard normal CDF, with erf); ``approximate='tanh'`` for PyTorch's tanh form."""
    if approximate not in ("none", "tanh"):
        raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELUOp(approximate)(as_float_t(input))


def elu(input, alpha: float = 1.0, inplace: bool = False):  # noqa: A002
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _run(input, "elu", lambda: ELUOp(float(alpha)), inplace)


def selu(input, inplace: bool = False):  # noqa: A002
    """scale * elu(x, alpha) with the self-normalising constants alpha = 1.6733, scale = 1.0507."""
    return _run(input, "selu", SELUOp, inplace)


def celu(input, alpha: float = 1.0, inplace: bool = False):  # noqa: A002
    """x if x > 0 else alpha * (exp(x / alpha) - 1)."""
    if alpha == 0:
        raise ArgumentError("celu: alpha cannot be 0 (it divides x)")
    return _run(input, "celu", lambda: CELUOp(float(alpha)), inplace)


def silu(input, inplace: bool = False):  # noqa: A002
    """x * sigmoid(x)."""
    return _run(input, "silu", SiLUOp, inplace)


def mish(input, inplace: bool = False):  # noqa: A002
    """x * tanh(softplus(x))."""
    return _run(input, "mish", MishOp, inplace)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):  # noqa: A002
    """x clipped to [min_val, max_val] (the gradient passes strictly inside)."""
    if min_val > max_val:
        raise ArgumentError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return _run(input, "hardtanh", lambda: HardtanhOp(min_val, max_val), inplace)


def relu6(input, inplace: bool = False):  # noqa: A002
    """min(max(x, 0), 6)."""
    return _run(input, "relu6", lambda: HardtanhOp(0.0, 6.0), inplace)


def hardswish(input, inplace: bool = False):  # noqa: A002
    """x * relu6(x + 3) / 6."""
    return _run(input, "hardswish", HardswishOp, inplace)


def hardsigmoid(input, inplace: bool = False):  # noqa: A002
    """relu6(x + 3) / 6."""
    return _run(input, "hardsigmoid", HardsigmoidOp, inplace)


def softsign(input):  # noqa: A002
    """x / (1 + |x|)."""
    return SoftsignOp()(as_float_t(input))


def logsigmoid(input):  # noqa: A002
    """ln(sigmoid(x)), without overflow."""
    return LogSigmoidOp()(as_float_t(input))


def glu(input, dim: int | None = None, *, axis=None):  # noqa: A002
    """a * sigmoid(b), where a and b are the two halves of ``input`` along ``dim`` (by default the last)."""
    from .cumulative import pick_dim

    x = as_float_t(input)
    if x.data.ndim == 0:
        raise ShapeError("glu: cannot halve a 0-d tensor")
    return GLUOp(norm_axis(pick_dim(dim, axis, "glu", -1), x.data.ndim, "glu")[0])(x)
