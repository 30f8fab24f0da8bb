"""Elementwise operations: arithmetic, math functions and activations.

Each class is one graph node. Its ``vjp`` is the derivative, written once against the array
namespace ``xp`` (NumPy arrays on the ordinary backward pass, Tensors under ``create_graph``).
Binary ops return gradients in the broadcast shape: the backward walk sums them back to each
input's shape. What a vjp reads from the forward pass it gets from ``self.saved(xp)``, which
checks that none of it was changed in place since.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..function import Function
from ..tensor import Tensor
from ..tensor import wrap as _wrap
from .operands import activation, as_float_t, as_t, number_for, pair


def _bshape_error(op, a, b):
    return ShapeError(
        f"{op}: shapes {tuple(np.shape(a))} and {tuple(np.shape(b))} cannot be broadcast together "
        "(trailing dimensions must be equal or 1)"
    )


# --------------------------------------------------------------------------- arithmetic
class Add(Function):
    """y = a + b."""

    elementwise = True
    formula = "y = a + b"
    derivative = "dy/da = 1; dy/db = 1"

    def forward(self, a, b):
        try:
            return a + b
        except ValueError:
            raise _bshape_error("add", a, b) from None

    def vjp(self, xp, g):
        return g, g


class Sub(Function):
    """y = a - b."""

    elementwise = True
    formula = "y = a - b"
    derivative = "dy/da = 1; dy/db = -1"

    def forward(self, a, b):
        try:
            return a - b
        except ValueError:
            raise _bshape_error("sub", a, b) from None

    def vjp(self, xp, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b."""

    elementwise = True
    formula = "y = a * b"
    derivative = "dy/da = b; dy/db = a"

    def forward(self, a, b):
        na, nb = self.needs_input_grad
        self.save_for_backward(a if nb else None, b if na else None)  # each factor for the other's gradient
        try:
            return a * b
        except ValueError:
            raise _bshape_error("mul", a, b) from None

    def vjp(self, xp, g):
        a, b = self.saved(xp)
        na, nb = self.needs_input_grad
        return (g * b if na else None), (g * a if nb else None)


class Div(Function):
    """y = a / b."""

    elementwise = True
    formula = "y = a / b"
    derivative = "dy/da = 1 / b; dy/db = -a / b^2"

    def forward(self, a, b):
        self.save_for_backward(a if self.needs_input_grad[1] else None, b)
        try:
            return a / b
        except ValueError:
            raise _bshape_error("div", a, b) from None

    def vjp(self, xp, g):
        a, b = self.saved(xp)
        na, nb = self.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # (a / b) / b: no b * b to overflow
            return (g / b if na else None), (-(g * ((a / b) / b)) if nb else None)


class Neg(Function):
    """y = -x."""

    elementwise = True
    formula = "y = -x"
    derivative = "dy/dx = -1"

    def forward(self, x):
        return -x

    def vjp(self, xp, g):
        return -g


class PowScalar(Function):
    """y = x ** p for a constant exponent p."""

    elementwise = True
    formula = "y = x^p"
    derivative = "dy/dx = p * x^(p-1)"

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        self.save_for_backward(x)
        p = self.p
        if p == 2:
            return x * x
        if p == 1:
            return x.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 0.5 or p == -0.5:  # through sqrt, as PyTorch computes them (at x = -0: -0 and -inf)
                r = np.sqrt(x)
                return r if p > 0 else np.reciprocal(r)
            return np.power(x, number_for(x, p))

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        p = self.p
        if p == 1:
            return g
        if p == 0:  # x^0 is constant, even at x = 0 (where 0 * 0^-1 would give nan): 0, whatever g is
            return xp.const(np.zeros(g.shape), g)
        if p == 2:
            return g * (2 * x)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 0.5:  # through sqrt, as the value (at x = -0: -inf, as in PyTorch)
                return g / (2 * xp.sqrt(x))
            return g * (p * x ** (p - 1))


class Pow(Function):
    """y = a ** b with a tensor exponent."""

    elementwise = True
    formula = "y = a^b"
    derivative = "dy/da = b * a^(b-1); dy/db = a^b * ln(a)  (0 where a = 0)"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        try:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.power(a, b)
        except ValueError as e:
            if "negative integer powers" in str(e):
                raise ArgumentError(
                    "pow: an integer tensor raised to a negative integer power has no integer value; "
                    "convert to float first, e.g. x.float() ** y"
                ) from None
            raise _bshape_error("pow", a, b) from None

    def vjp(self, xp, g):
        a, b = self.saved(xp)
        na, nb = self.needs_input_grad
        A, B = xp.data(a), xp.data(b)
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if na:
                # at b = 0 and a = 0 (or a not finite) the base is taken as 1, so b * a^(b-1) is 0 there (as in
                # PyTorch) with no 0 * inf; elsewhere it is the exact formula, so its own derivatives (d/db: 1/a at
                # b = 0) hold; and at b = 0 an infinite or NaN g gives 0 too (a^0 is constant, as in PyTorch)
                zero_b = B == 0
                ga = g * (b * xp.where(zero_b & ((A == 0) | ~np.isfinite(A)), 1, a) ** (b - 1))
                G = xp.data(g)
                if zero_b.any() and not np.isfinite(G).all():
                    ga = xp.where(zero_b & ~np.isfinite(G), xp.const(0, ga), ga)
            if nb:  # a^b ln(a), taken as 0 where a = 0 and b >= 0 (where a = 0 and b < 0: inf * -inf = -inf)
                z = (A == 0) & (B >= 0)
                gb = g * xp.where(z, 0, (a**b) * xp.log(xp.where(z, 1, a)))
        return ga, gb


# --------------------------------------------------------------------------- math functions
class Exp(Function):
    """y = exp(x)."""

    elementwise = True
    formula = "y = exp(x)"
    derivative = "dy/dx = exp(x) = y"

    def forward(self, x):
        with np.errstate(over="ignore"):
            y = np.exp(x)
        self.save_for_backward(y)
        return y

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        return g * y


class Log(Function):
    """y = ln(x)."""

    elementwise = True
    formula = "y = ln(x)"
    derivative = "dy/dx = 1 / x"

    def forward(self, x):
        self.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / x


class Log1p(Function):
    """y = ln(1 + x), accurate for small x."""

    elementwise = True
    formula = "y = ln(1 + x)"
    derivative = "dy/dx = 1 / (1 + x)"

    def forward(self, x):
        self.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log1p(x)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / (1 + x)


class Sqrt(Function):
    """y = sqrt(x)."""

    elementwise = True
    formula = "y = sqrt(x)"
    derivative = "dy/dx = 1 / (2 sqrt(x))"

    def forward(self, x):
        with np.errstate(invalid="ignore"):
            y = np.sqrt(x)
        self.save_for_backward(y)
        return y

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / (2 * y)


class Abs(Function):
    """y = |x|; the derivative at 0 is taken as 0."""

    elementwise = True
    formula = "y = |x|"
    derivative = "dy/dx = sign(x)"

    def forward(self, x):
        self.save_for_backward(x)
        return np.abs(x)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        return g * np.nan_to_num(np.sign(xp.data(x)))  # (sign(NaN) taken as 0, as in PyTorch)


class Sin(Function):
    elementwise = True
    formula = "y = sin(x)"
    derivative = "dy/dx = cos(x)"

    def forward(self, x):
        self.save_for_backward(x)
        return np.sin(x)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        return g * xp.cos(x)


class Cos(Function):
    elementwise = True
    formula = "y = cos(x)"
    derivative = "dy/dx = -sin(x)"

    def forward(self, x):
        self.save_for_backward(x)
        return np.cos(x)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        return -(g * xp.sin(x))


class TanhOp(Function):
    """y = tanh(x) (named apart from the layer nn.Tanh)."""

    elementwise = True
    formula = "y = tanh(x)"
    derivative = "dy/dx = 1 - y^2"

    def forward(self, x):
        y = np.tanh(x)
        self.save_for_backward(y)
        return y

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        return g * (1 - y * y)


def logistic(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x)) on an array, as exp(-softplus(-x)).

    softplus(-x) = ln(1 + exp(-x)) is computed without overflow for any x (NumPy's logaddexp), so no
    overflow is ever reported and no floating-point error state needs changing; far in the negative
    tail the result keeps its relative precision (it underflows to 0 only below about -103 in float32).
    """
    y = np.negative(x, out=np.empty_like(x))
    np.logaddexp(0, y, out=y)
    np.negative(y, out=y)
    return np.exp(y, out=y)


class SigmoidOp(Function):
    """The logistic sigmoid (named apart from the layer nn.Sigmoid)."""

    elementwise = True
    formula = "y = 1 / (1 + exp(-x))"
    derivative = "dy/dx = y * (1 - y)"

    def forward(self, x):
        y = logistic(x)
        self.save_for_backward(y)
        return y

    def vjp(self, xp, g):
        (y,) = self.saved(xp)
        return g * (y * (1 - y))


class ReLUOp(Function):
    """y = max(x, 0); the derivative at 0 is taken as 0 (named apart from the layer nn.ReLU)."""

    elementwise = True
    formula = "y = max(x, 0)"
    derivative = "dy/dx = 1 if x > 0 else 0"

    def forward(self, x):
        self.save_for_backward(x)
        return np.maximum(x, number_for(x, 0))

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        # chosen, not multiplied: an infinite g gives 0 where x <= 0; where x is NaN, g passes (as in PyTorch)
        return xp.where(xp.data(x) <= 0, xp.const(0, g), g)


class LeakyReLUOp(Function):
    """y = x if x > 0 else slope * x (named apart from the layer nn.LeakyReLU)."""

    elementwise = True
    formula = "y = x if x > 0 else slope * x"
    derivative = "dy/dx = 1 if x > 0 else slope"

    def __init__(self, slope=0.01):
        self.slope = slope

    def forward(self, x):
        self.save_for_backward(x)
        return np.where(x > 0, x, x * np.asarray(self.slope, dtype=x.dtype))

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        x = xp.data(x)
        return g * np.where(x > 0, np.ones((), x.dtype), np.asarray(self.slope, dtype=x.dtype))


class SoftplusOp(Function):
    """y = ln(1 + exp(x)), computed without overflow (named apart from the layer nn.Softplus)."""

    elementwise = True
    formula = "y = ln(1 + exp(x))"
    derivative = "dy/dx = sigmoid(x)"

    def forward(self, x):
        self.save_for_backward(x)
        return np.logaddexp(0, x).astype(x.dtype, copy=False)

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        return g * xp.sigmoid(x)


class Clip(Function):
    """y = min(max(x, lo), hi); the gradient passes where lo <= x <= hi."""

    elementwise = True
    formula = "y = clip(x, lo, hi)"
    derivative = "dy/dx = 1 if lo <= x <= hi else 0"

    def __init__(self, lo, hi):
        self.lo = lo
        self.hi = hi

    def forward(self, x):
        self.save_for_backward(x)
        return np.clip(x, number_for(x, self.lo), number_for(x, self.hi))

    def vjp(self, xp, g):
        (x,) = self.saved(xp)
        x = xp.data(x)
        m = np.ones(x.shape, bool)
        if self.lo is not None:
            m &= x >= self.lo
        if self.hi is not None:
            m &= x <= self.hi
        return xp.where(m, g, xp.const(0, g))  # chosen, not multiplied: an infinite g gives 0 where clipped


class Maximum(Function):
    """Elementwise max; where a == b the gradient is split equally."""

    elementwise = True
    formula = "y = max(a, b)"
    derivative = "dy/da = 1 if a > b, 1/2 if a == b, 0 if a < b, 1 if a or b is NaN; dy/db likewise"

    _fn = staticmethod(np.maximum)
    _pick = staticmethod(np.greater)

    def forward(self, a, b):
        self.save_for_backward(a, b)
        try:
            return self._fn(a, b)
        except ValueError:
            raise _bshape_error(type(self).__name__.lower(), a, b) from None

    def vjp(self, xp, g):
        # as PyTorch: g/2 to both where a == b; g to the winner, 0 to the loser; where a or b is NaN,
        # g to both (neither wins); chosen, not multiplied, so an infinite g gives 0 to the loser
        a, b = (xp.data(v) for v in self.saved(xp))
        na, nb = self.needs_input_grad
        zero = xp.const(0, g)
        tie = a == b
        half = xp.where(tie, g * xp.const(0.5, g), g) if tie.any() else g
        ga = xp.where(self._pick(b, a), zero, half) if na else None
        gb = xp.where(self._pick(a, b), zero, half) if nb else None
        return ga, gb


class Minimum(Maximum):
    """Elementwise min; where a == b the gradient is split equally."""

    formula = "y = min(a, b)"
    derivative = "dy/da = 1 if a < b, 1/2 if a == b, 0 if a > b, 1 if a or b is NaN; dy/db likewise"
    _fn = staticmethod(np.minimum)
    _pick = staticmethod(np.less)


class Where(Function):
    """y = a where cond else b (cond is not differentiable)."""

    elementwise = True
    formula = "y = a if cond else b"
    derivative = "dy/da = cond; dy/db = not cond"

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        try:
            return np.where(self.cond, a, b)
        except ValueError:
            raise ShapeError(
                f"where: shapes {np.shape(self.cond)}, {np.shape(a)} and {np.shape(b)} cannot be broadcast together"
            ) from None

    def vjp(self, xp, g):
        na, nb = self.needs_input_grad
        c = self.cond
        zero = xp.const(0, g)
        return (xp.where(c, g, zero) if na else None), (xp.where(c, zero, g) if nb else None)


class AsType(Function):
    """y = x converted to another dtype."""

    elementwise = True
    formula = "y = x (as another dtype)"
    derivative = "dy/dx = 1"

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dtype, copy=True)

    def vjp(self, xp, g):
        return xp.astype(g, self.src)


# --------------------------------------------------------------------------- functions
def add(a, b, *, alpha=1):
    """a + alpha * b, broadcasting (``alpha`` as in PyTorch's ``add``)."""
    if alpha != 1:
        b = mul(b, alpha)
    a, b = pair(a, b)
    return Add()(a, b)


def sub(a, b, *, alpha=1):
    """a - alpha * b, broadcasting."""
    if alpha != 1:
        b = mul(b, alpha)
    a, b = pair(a, b)
    return Sub()(a, b)


def mul(a, b):
    """a * b, broadcasting."""
    a, b = pair(a, b)
    return Mul()(a, b)


def div(a, b):
    """a / b, broadcasting; true division, so integers divide to float32 (as in PyTorch)."""
    a, b = pair(a, b)
    if a.data.dtype.kind in "biu" and b.data.dtype.kind in "biu":
        a, b = as_float_t(a), as_float_t(b)
    return Div()(a, b)


def neg(x):
    """-x."""
    return Neg()(as_t(x))


def pow(a, b):  # noqa: A001 - the operator's name
    """a ** b; b may be a number or a tensor."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and np.ndim(b) == 0:
        if a.data.dtype.kind == "b" and not isinstance(b, (bool, np.bool_)):  # True ** 2 is the integer 1
            a = _wrap(a.data.astype(np.int64))
        if isinstance(b, (int, np.integer)) or (isinstance(b, np.ndarray) and b.dtype.kind in "biu"):
            return PowScalar(int(b))(a)
        # a fractional power of an integer tensor is float32 (as in PyTorch), never float64
        return PowScalar(float(b))(as_float_t(a))
    a, b = pair(a, b)
    return Pow()(a, b)


def exp(x):
    return Exp()(as_float_t(x))


def log(x):
    """Natural logarithm."""
    return Log()(as_float_t(x))


def log1p(x):
    """ln(1 + x), accurate for small x."""
    return Log1p()(as_float_t(x))


def sqrt(x):
    return Sqrt()(as_float_t(x))


def abs(x):  # noqa: A001
    return Abs()(as_t(x))


def sin(x):
    return Sin()(as_float_t(x))


def cos(x):
    return Cos()(as_float_t(x))


def tanh(x):
    return TanhOp()(as_float_t(x))


def sigmoid(x):
    """1 / (1 + exp(-x)), stable for any finite x."""
    return SigmoidOp()(as_float_t(x))


def relu(x, inplace: bool = False):
    """max(x, 0); ``inplace=True`` writes the result into ``x`` (PyTorch's rules for in-place operations)."""
    return activation(x, "relu", ReLUOp, inplace, as_t)


def leaky_relu(x, negative_slope: float = 0.01, inplace: bool = False):
    """x if x > 0 else negative_slope * x; ``inplace=True`` writes the result into ``x``."""
    return activation(x, "leaky_relu", lambda: LeakyReLUOp(negative_slope), inplace)


def softplus(x):
    """ln(1 + exp(x)), stable for any finite x."""
    return SoftplusOp()(as_float_t(x))


def clip(x, min=None, max=None):  # noqa: A002
    """Limit values to [min, max] (either may be None; numbers, or tensors broadcast against x, which then
    get the gradient where they are the result, as in PyTorch). Also available as ``clamp``."""
    if min is None and max is None:
        raise ArgumentError("clip: give at least one of min and max")
    x = as_t(x)
    if not isinstance(min, (Tensor, np.ndarray)) and not isinstance(max, (Tensor, np.ndarray)):
        return Clip(min, max)(x)
    return _clip_tensors(x, min, max)


def _clip_tensors(x, lo, hi):
    """clip with tensor bounds, by PyTorch's rules: the value is min(max(x, lo), hi), NaN where any of the
    three is NaN; the gradient goes to x where lo <= x <= hi, to lo where x < lo < hi, to hi where hi < x or
    lo > hi, so to none of them where lo == hi > x or where one is NaN."""
    if isinstance(lo, Tensor):  # one dtype for the three, by the rules of binary operations (as in PyTorch)
        x, lo = pair(x, lo)
    if isinstance(hi, Tensor):
        x, hi = pair(x, hi)
        if isinstance(lo, Tensor) and lo.data.dtype != x.data.dtype:
            x, lo = pair(x, lo)
    X = x.data
    L, H = ((b.data if isinstance(b, Tensor) else np.asarray(b)) if b is not None else None for b in (lo, hi))
    bounds = [b for b in (L, H) if b is not None]
    try:
        np.broadcast_shapes(X.shape, *(b.shape for b in bounds))
    except ValueError:
        raise ShapeError(
            f"clip: shapes {X.shape} and {' and '.join(str(b.shape) for b in bounds)} cannot be broadcast together"
        ) from None
    with np.errstate(invalid="ignore"):
        in_x = np.logical_and(X >= L, X <= H) if L is not None and H is not None else (X >= L if H is None else X <= H)
        nan = np.isnan(X)
        for b in bounds:
            nan = nan | np.isnan(b)
        rest = hi if hi is not None else lo  # the value where no input gets the gradient
        out = as_t(rest.data if isinstance(rest, Tensor) else rest)
        if H is not None:
            out = where((H < X) | (L > H) if L is not None else H < X, hi, out)
        if L is not None:
            out = where((L > X) & (L < H) if H is not None else L > X, lo, out)
    out = where(in_x, x, out)
    if nan.any():
        out = out + np.where(nan, np.nan, 0).astype(out.dtype)
    return out


clamp = clip


def maximum(a, b):
    """Elementwise maximum; ties share the gradient equally."""
    a, b = pair(a, b)
    return Maximum()(a, b)


def minimum(a, b):
    """Elementwise minimum; ties share the gradient equally."""
    a, b = pair(a, b)
    return Minimum()(a, b)


def where(cond, a, b):
    """Elementwise choice: ``a`` where ``cond`` is true, else ``b``."""
    # a copy: the node keeps the condition for backward, and the caller may change theirs
    cond = np.array(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)
    a, b = pair(a, b)
    return Where(cond)(a, b)


def astype(x, dtype):
    return AsType(dtype)(as_t(x))
