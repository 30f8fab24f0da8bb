"""Elementwise math functions: trigonometric, hyperbolic and their inverses, erf and erfinv, logarithms in
other bases, reciprocals, and the rounding family (whose derivative is 0, as in PyTorch).

Each class is one graph node whose ``vjp`` is written once against the array namespace ``xp``, so the
same lines give second derivatives under ``create_graph``. Where the derivative is simplest in terms of
the output (tan, expm1, reciprocal, rsqrt, erfinv), the node saves its output.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ArgumentTypeError, DTypeError, ShapeError
from ..function import Function
from ..tensor import Tensor
from .operands import as_float_t, as_t, pair
from .special import erf_array, erfinv_array

_QUIET = {"divide": "ignore", "invalid": "ignore", "over": "ignore"}


class _Unary(Function):
    """y = fn(x) elementwise; ``saves`` is "x" (the input) or "y" (the output) for the vjp."""

    elementwise = True
    saves = "x"

    @staticmethod
    def fn(x):  # pragma: no cover - every subclass sets it
        raise NotImplementedError

    def forward(self, x):
        with np.errstate(**_QUIET):
            y = type(self).fn(x)
        self.save_for_backward(x if self.saves == "x" else y)
        return y


class Tan(_Unary):
    formula = "y = tan(x)"
    derivative = "dy/dx = 1 + tan(x)^2 = 1 + y^2"
    saves = "y"
    fn = staticmethod(np.tan)

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        return g * (1 + y * y)


class Sinh(_Unary):
    formula = "y = sinh(x)"
    derivative = "dy/dx = cosh(x)"
    fn = staticmethod(np.sinh)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        return g * xp.cosh(x)


class Cosh(_Unary):
    formula = "y = cosh(x)"
    derivative = "dy/dx = sinh(x)"
    fn = staticmethod(np.cosh)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        return g * xp.sinh(x)


class Asin(_Unary):
    formula = "y = asin(x)"
    derivative = "dy/dx = 1 / sqrt(1 - x^2)"
    fn = staticmethod(np.arcsin)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        with np.errstate(**_QUIET):
            return g / xp.sqrt(1 - x * x)


class Acos(_Unary):
    formula = "y = acos(x)"
    derivative = "dy/dx = -1 / sqrt(1 - x^2)"
    fn = staticmethod(np.arccos)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        with np.errstate(**_QUIET):
            return -g / xp.sqrt(1 - x * x)


class Atan(_Unary):
    formula = "y = atan(x)"
    derivative = "dy/dx = 1 / (1 + x^2)"
    fn = staticmethod(np.arctan)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        return g / (1 + x * x)


class Asinh(_Unary):
    formula = "y = asinh(x)"
    derivative = "dy/dx = 1 / sqrt(x^2 + 1)"
    fn = staticmethod(np.arcsinh)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        with np.errstate(**_QUIET):
            return g / xp.sqrt(x * x + 1)


class Acosh(_Unary):
    formula = "y = acosh(x)"
    derivative = "dy/dx = 1 / sqrt(x^2 - 1)"
    fn = staticmethod(np.arccosh)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        with np.errstate(**_QUIET):
            return g / xp.sqrt(x * x - 1)


class Atanh(_Unary):
    formula = "y = atanh(x)"
    derivative = "dy/dx = 1 / (1 - x^2)"
    fn = staticmethod(np.arctanh)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        with np.errstate(**_QUIET):
            return g / (1 - x * x)


class Erf(_Unary):
    formula = "y = erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt"
    derivative = "dy/dx = 2/sqrt(pi) * exp(-x^2)"
    fn = staticmethod(erf_array)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        return g * (xp.exp(-(x * x)) * (2 / math.sqrt(math.pi)))


class Erfinv(_Unary):
    formula = "y = erfinv(x), the y with erf(y) = x"
    derivative = "dy/dx = sqrt(pi)/2 * exp(y^2)"
    saves = "y"
    fn = staticmethod(erfinv_array)

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        with np.errstate(**_QUIET):
            return g * (xp.exp(y * y) * (math.sqrt(math.pi) / 2))


class Log2(_Unary):
    formula = "y = log2(x)"
    derivative = "dy/dx = 1 / (x ln 2)"
    fn = staticmethod(np.log2)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        with np.errstate(**_QUIET):
            return g / (x * math.log(2))


class Log10(_Unary):
    formula = "y = log10(x)"
    derivative = "dy/dx = 1 / (x ln 10)"
    fn = staticmethod(np.log10)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        with np.errstate(**_QUIET):
            return g / (x * math.log(10))


class Expm1(_Unary):
    formula = "y = exp(x) - 1, accurate for small x"
    derivative = "dy/dx = exp(x) = y + 1"
    saves = "y"
    fn = staticmethod(np.expm1)

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        return g * (y + 1)


class Reciprocal(_Unary):
    formula = "y = 1 / x"
    derivative = "dy/dx = -1 / x^2 = -y^2"
    saves = "y"
    fn = staticmethod(np.reciprocal)

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        return -g * (y * y)


class Rsqrt(_Unary):
    formula = "y = 1 / sqrt(x)"
    derivative = "dy/dx = -1 / (2 x^(3/2)) = -y^3 / 2"
    saves = "y"

    @staticmethod
    def fn(x):
        return np.reciprocal(np.sqrt(x))

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        return g * (y * y * y) * -0.5


class Frac(Function):
    elementwise = True
    formula = "y = x - trunc(x)"
    derivative = "dy/dx = 1"

    def forward(self, x):
        with np.errstate(**_QUIET):
            return x - np.trunc(x)

    def vjp(self, xp, g):
        return g


class Atan2(Function):
    """y = atan2(a, b), the angle of the point (b, a), broadcasting."""

    elementwise = True
    formula = "y = atan2(a, b)"
    derivative = "dy/da = b / (a^2 + b^2); dy/db = -a / (a^2 + b^2)"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        try:
            return np.arctan2(a, b)
        except ValueError:
            raise ShapeError(
                f"atan2: shapes {a.shape} and {b.shape} cannot be broadcast together "
                "(trailing dimensions must be equal or 1)"
            ) from None

    def vjp(self, xp, g):
        a, b = self.saved(xp)
        na, nb = self.needs_input_grad
        with np.errstate(**_QUIET):
            r = g / (a * a + b * b)
            return (r * b if na else None), (-(r * a) if nb else None)


# --------------------------------------------------------------------------- zero derivative
class _Step(Function):
    """A piecewise-constant function: its derivative is 0 wherever it exists, and is taken as 0 everywhere
    (as in PyTorch). Integer tensors pass through unchanged (they are already whole numbers)."""

    elementwise = True
    derivative = "dy/dx = 0"

    @staticmethod
    def fn(x):  # pragma: no cover - every subclass sets it
        raise NotImplementedError

    def forward(self, x):
        if x.dtype.kind in "iu":
            return x.copy()
        with np.errstate(**_QUIET):
            return type(self).fn(x)

    def vjp(self, xp, g):
        return xp.const(np.zeros(xp.data(g).shape), g)


class Floor(_Step):
    formula = "y = floor(x), the largest whole number <= x"
    fn = staticmethod(np.floor)


class Ceil(_Step):
    formula = "y = ceil(x), the smallest whole number >= x"
    fn = staticmethod(np.ceil)


class Trunc(_Step):
    formula = "y = trunc(x), x rounded towards 0"
    fn = staticmethod(np.trunc)


class Sign(_Step):
    formula = "y = 1 if x > 0, -1 if x < 0, else 0 (also for NaN, as in PyTorch)"

    @staticmethod
    def fn(x):
        return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)

    def forward(self, x):
        if x.dtype.kind == "b":
            return x.copy()
        return self.fn(x)


class Round(_Step):
    """Round half to even (as PyTorch and NumPy do), to ``decimals`` decimal places."""

    formula = "y = x rounded to the nearest multiple of 10^-decimals, halves to even"

    def __init__(self, decimals: int = 0):
        self.decimals = decimals

    def rounded(self, x):
        d = self.decimals
        if d == 0:
            return np.rint(x)
        if d > 0:
            f = x.dtype.type(10.0**d)
            return np.rint(x * f) / f
        f = x.dtype.type(10.0**-d)
        return np.rint(x / f) * f

    def forward(self, x):
        if x.dtype.kind in "iu" and self.decimals == 0:
            return x.copy()
        with np.errstate(**_QUIET):
            return self.rounded(x)


# --------------------------------------------------------------------------- functions
def _float_only(x, op: str) -> Tensor:
    """x as a tensor; an integer or boolean tensor is refused (as PyTorch refuses it)."""
    t = as_t(x)
    if t.data.dtype.kind not in "fc":
        raise DTypeError(f"{op}: not defined for {t.data.dtype} tensors (as in PyTorch); convert first, e.g. x.float()")
    return t


def tan(x):
    return Tan()(as_float_t(x))


def sinh(x):
    return Sinh()(as_float_t(x))


def cosh(x):
    return Cosh()(as_float_t(x))


def asin(x):
    """Inverse sine (NaN outside [-1, 1])."""
    return Asin()(as_float_t(x))


def acos(x):
    """Inverse cosine (NaN outside [-1, 1])."""
    return Acos()(as_float_t(x))


def atan(x):
    return Atan()(as_float_t(x))


def atan2(input, other):  # noqa: A002 - PyTorch's argument names
    """The angle of the point (other, input) in (-pi, pi], broadcasting: atan(input / other) in the right
    quadrant."""
    a, b = pair(input, other)
    return Atan2()(as_float_t(a), as_float_t(b))


def asinh(x):
    return Asinh()(as_float_t(x))


def acosh(x):
    """Inverse hyperbolic cosine (NaN below 1)."""
    return Acosh()(as_float_t(x))


def atanh(x):
    """Inverse hyperbolic tangent (+-inf at +-1, NaN outside [-1, 1])."""
    return Atanh()(as_float_t(x))


def erf(x):
    """The error function, to full double precision (computed without SciPy)."""
    return Erf()(as_float_t(x))


def erfinv(x):
    """The inverse error function on [-1, 1] (+-inf at +-1, NaN outside)."""
    return Erfinv()(as_float_t(x))


def log2(x):
    return Log2()(as_float_t(x))


def log10(x):
    return Log10()(as_float_t(x))


def expm1(x):
    """exp(x) - 1, accurate for small x."""
    return Expm1()(as_float_t(x))


def reciprocal(x):
    """1 / x (integers give float32, as in PyTorch)."""
    return Reciprocal()(as_float_t(x))


def rsqrt(x):
    """1 / sqrt(x)."""
    return Rsqrt()(as_float_t(x))


def square(x):
    """x * x (integers stay integers; booleans become int64, as in PyTorch)."""
    from .elementwise import pow

    return pow(as_t(x), 2)


def _step_operand(x, op: str) -> Tensor:
    t = as_t(x)
    if t.data.dtype.kind == "b":
        raise DTypeError(f"{op}: not defined for bool tensors (as in PyTorch); convert first, e.g. x.float()")
    return t


def floor(x):
    """The largest whole number <= x (gradient 0)."""
    return Floor()(_step_operand(x, "floor"))


def ceil(x):
    """The smallest whole number >= x (gradient 0)."""
    return Ceil()(_step_operand(x, "ceil"))


def trunc(x):
    """x rounded towards 0 (gradient 0)."""
    return Trunc()(_step_operand(x, "trunc"))


def round(x, *, decimals: int = 0):  # noqa: A001 - PyTorch's name
    """Round half to even, to ``decimals`` decimal places (negative: to tens, hundreds, ...); gradient 0."""
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)):
        raise ArgumentTypeError(f"round: decimals must be an int, got {decimals!r}")
    t = _step_operand(x, "round")
    if decimals and t.data.dtype.kind in "iu":
        raise DTypeError(
            f"round: decimals={decimals} is not defined for {t.data.dtype} tensors (as in PyTorch); "
            "convert first, e.g. x.float()"
        )
    return Round(int(decimals))(t)


def sign(x):
    """1, -1 or 0 by the sign of x (0 for NaN, as in PyTorch); gradient 0."""
    return Sign()(as_t(x))


def frac(x):
    """The fractional part x - trunc(x) (gradient 1)."""
    return Frac()(_float_only(x, "frac"))


# NumPy's and PyTorch's other names
arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
arcsinh, arccosh, arctanh = asinh, acosh, atanh
fix = trunc
