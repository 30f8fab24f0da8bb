"""Elementwise operations: arithmetic, math functions and activations.

Each class is one graph node. ``backward`` works on arrays (the fast path);
``backward_graph`` is the same derivative in Tensor operations, recorded when
``create_graph=True``. Binary ops return gradients in the broadcast shape: the
backward walk sums them back to each input's shape.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..function import Function
from ..tensor import Tensor
from ._base import as_float_t, as_t, pair, reads_for_the_other

_wrap = Tensor._wrap


def _bshape_error(op, a, b):
    return ShapeError(
        f"{op}: shapes {tuple(np.shape(a))} and {tuple(np.shape(b))} cannot be broadcast together "
        "(trailing dimensions must be equal or 1)"
    )


# --------------------------------------------------------------------------- arithmetic
class Add(Function):
    """y = a + b."""

    __slots__ = ()
    elementwise = True
    reads_inputs = False
    formula = "y = a + b"
    derivative = "dy/da = 1; dy/db = 1"

    def forward(self, a, b):
        try:
            return a + b
        except ValueError:
            raise _bshape_error("add", a, b) from None

    def backward(self, g):
        return g, g

    backward_graph = backward


class Sub(Function):
    """y = a - b."""

    __slots__ = ()
    elementwise = True
    reads_inputs = False
    formula = "y = a - b"
    derivative = "dy/da = 1; dy/db = -1"

    def forward(self, a, b):
        try:
            return a - b
        except ValueError:
            raise _bshape_error("sub", a, b) from None

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)

    backward_graph = backward


class Mul(Function):
    """y = a * b."""

    __slots__ = ()
    elementwise = True

    reads_inputs = property(reads_for_the_other)  # d/da = b, d/db = a

    formula = "y = a * b"
    derivative = "dy/da = b; dy/db = a"

    def forward(self, a, b):
        try:
            return a * b
        except ValueError:
            raise _bshape_error("mul", a, b) from None

    def backward(self, g):
        a, b = self.inputs
        na, nb = self.needs_input_grad
        return (g * b.data if na else None), (g * a.data if nb else None)

    def backward_graph(self, g):
        a, b = self.inputs
        na, nb = self.needs_input_grad
        return (g * b if na else None), (g * a if nb else None)


class Div(Function):
    """y = a / b."""

    __slots__ = ()
    elementwise = True

    @property
    def reads_inputs(self):  # d/da = 1/b reads b; d/db = -a/b^2 reads both
        na, nb = self.needs_input_grad
        return (0,) * nb + (1,) * (na or nb)

    formula = "y = a / b"
    derivative = "dy/da = 1 / b; dy/db = -a / b^2"

    def forward(self, a, b):
        try:
            return a / b
        except ValueError:
            raise _bshape_error("div", a, b) from None

    def backward(self, g):
        a, b = self.inputs
        na, nb = self.needs_input_grad
        b = b.data
        ga = g / b if na else None
        gb = -(g * a.data) / (b * b) if nb else None
        return ga, gb

    def backward_graph(self, g):
        a, b = self.inputs
        na, nb = self.needs_input_grad
        return (g / b if na else None), (-(g * a) / (b * b) if nb else None)


class Neg(Function):
    """y = -x."""

    __slots__ = ()
    elementwise = True
    reads_inputs = False
    formula = "y = -x"
    derivative = "dy/dx = -1"

    def forward(self, x):
        return -x

    def backward(self, g):
        return -g

    backward_graph = backward


class PowScalar(Function):
    """y = x ** p for a constant exponent p."""

    __slots__ = ("p",)
    elementwise = True
    formula = "y = x^p"
    derivative = "dy/dx = p * x^(p-1)"

    def __init__(self, p):
        self.inputs = None
        self.p = p

    def forward(self, x):
        p = self.p
        if p == 2:
            return x * x
        if p == 1:
            return x.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.power(x, p)

    def backward(self, g):
        x = self.inputs[0].data
        p = self.p
        if p == 2:
            return g * (2 * x)
        if p == 1:
            return g
        if p == 0:  # x^0 is constant, even at x = 0 (where 0 * 0^-1 would give nan)
            return np.zeros_like(g)
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * (p * np.power(x, p - 1))

    def backward_graph(self, g):
        x = self.inputs[0]
        p = self.p
        if p == 1:
            return g
        if p == 0:
            return g * 0.0
        return g * (p * x ** (p - 1))

    def local_derivative(self):
        x = self.inputs[0].data
        if self.p == 0:
            return {"x": np.zeros_like(x)}
        with np.errstate(divide="ignore", invalid="ignore"):
            return {"x": self.p * np.power(x, self.p - 1)}


class Pow(Function):
    """y = a ** b with a tensor exponent."""

    __slots__ = ()
    elementwise = True
    formula = "y = a^b"
    derivative = "dy/da = b * a^(b-1); dy/db = a^b * ln(a)  (0 where a = 0)"

    def forward(self, a, b):
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

    def backward(self, g):
        a, b = self.inputs
        a = a.data
        b = b.data
        na, nb = self.needs_input_grad
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if na:  # b * a^(b-1), taken as 0 where b = 0 (also at a = 0, where it would be 0 * inf), as PyTorch does
                ga = g * np.where(b == 0, 0, b * np.power(a, b - 1))
            if nb:
                y = np.power(a, b)
                gb = g * np.where((a == 0) & (b >= 0), 0, y * np.log(np.where(a == 0, 1, a)))
        return ga, gb

    def backward_graph(self, g):
        a, b = self.inputs
        na, nb = self.needs_input_grad
        # at a = b = 0 the base is swapped for 1: b * 1^(b-1) = 0 there, with no 0 * inf anywhere; elsewhere
        # the formula is the exact one, so second derivatives (d/db of it: 1/a at b = 0) stay right
        ga = g * (b * where((a.data == 0) & (b.data == 0), 1, a) ** (b - 1)) if na else None
        gb = None
        if nb:
            safe = where(a.data == 0, 1, a)
            gb = g * where((a.data == 0) & (b.data >= 0), 0, (a**b) * log(safe))
        return ga, gb


# --------------------------------------------------------------------------- math functions
class Exp(Function):
    """y = exp(x)."""

    __slots__ = ("y",)
    saved_outputs = ("y",)  # backward reads the output it kept
    elementwise = True
    reads_inputs = False
    formula = "y = exp(x)"
    derivative = "dy/dx = exp(x) = y"

    def forward(self, x):
        with np.errstate(over="ignore"):
            y = np.exp(x)
        self.y = y
        return y

    def backward(self, g):
        return g * self.y

    def backward_graph(self, g):
        return g * exp(self.inputs[0])


class Log(Function):
    """y = ln(x)."""

    __slots__ = ()
    elementwise = True
    formula = "y = ln(x)"
    derivative = "dy/dx = 1 / x"

    def forward(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    def backward(self, g):
        with np.errstate(divide="ignore"):
            return g / self.inputs[0].data

    def backward_graph(self, g):
        return g / self.inputs[0]


class Sqrt(Function):
    """y = sqrt(x)."""

    __slots__ = ("y",)
    saved_outputs = ("y",)  # backward reads the output it kept
    elementwise = True
    reads_inputs = False
    formula = "y = sqrt(x)"
    derivative = "dy/dx = 1 / (2 sqrt(x))"

    def forward(self, x):
        with np.errstate(invalid="ignore"):
            y = np.sqrt(x)
        self.y = y
        return y

    def backward(self, g):
        with np.errstate(divide="ignore"):
            return g / (2 * self.y)

    def backward_graph(self, g):
        return g / (2 * sqrt(self.inputs[0]))


class Abs(Function):
    """y = |x|; the derivative at 0 is taken as 0."""

    __slots__ = ()
    elementwise = True
    formula = "y = |x|"
    derivative = "dy/dx = sign(x)"

    def forward(self, x):
        return np.abs(x)

    def backward(self, g):
        return g * np.sign(self.inputs[0].data)

    def backward_graph(self, g):
        return g * np.sign(self.inputs[0].data)


class Sin(Function):
    __slots__ = ()
    elementwise = True
    formula = "y = sin(x)"
    derivative = "dy/dx = cos(x)"

    def forward(self, x):
        return np.sin(x)

    def backward(self, g):
        return g * np.cos(self.inputs[0].data)

    def backward_graph(self, g):
        return g * cos(self.inputs[0])


class Cos(Function):
    __slots__ = ()
    elementwise = True
    formula = "y = cos(x)"
    derivative = "dy/dx = -sin(x)"

    def forward(self, x):
        return np.cos(x)

    def backward(self, g):
        return -(g * np.sin(self.inputs[0].data))

    def backward_graph(self, g):
        return -(g * sin(self.inputs[0]))


class Tanh(Function):
    __slots__ = ("y",)
    saved_outputs = ("y",)  # backward reads the output it kept
    elementwise = True
    reads_inputs = False
    formula = "y = tanh(x)"
    derivative = "dy/dx = 1 - y^2"

    def forward(self, x):
        y = np.tanh(x)
        self.y = y
        return y

    def backward(self, g):
        y = self.y
        return g * (1 - y * y)

    def backward_graph(self, g):
        y = tanh(self.inputs[0])
        return g * (1 - y * y)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + exp(-x)).

    For x below about -88 (float32) exp(-x) overflows to inf and the result is
    exactly 0, the correctly rounded value; the overflow is expected, so it is
    not reported.
    """
    y = np.negative(x, out=np.empty_like(x))
    with np.errstate(over="ignore"):
        np.exp(y, out=y)
    y += 1
    return np.reciprocal(y, out=y)


class Sigmoid(Function):
    """The logistic sigmoid."""

    __slots__ = ("y",)
    saved_outputs = ("y",)  # backward reads the output it kept
    elementwise = True
    reads_inputs = False
    formula = "y = 1 / (1 + exp(-x))"
    derivative = "dy/dx = y * (1 - y)"

    def forward(self, x):
        y = _sigmoid(x)
        self.y = y
        return y

    def backward(self, g):
        y = self.y
        return g * (y * (1 - y))

    def backward_graph(self, g):
        y = sigmoid(self.inputs[0])
        return g * (y * (1 - y))


class ReLU(Function):
    """y = max(x, 0); the derivative at 0 is taken as 0."""

    __slots__ = ()
    elementwise = True
    formula = "y = max(x, 0)"
    derivative = "dy/dx = 1 if x > 0 else 0"

    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, g):
        return g * (self.inputs[0].data > 0)

    def backward_graph(self, g):
        return g * (self.inputs[0].data > 0)


class LeakyReLU(Function):
    __slots__ = ("slope",)
    elementwise = True
    formula = "y = x if x > 0 else slope * x"
    derivative = "dy/dx = 1 if x > 0 else slope"

    def __init__(self, slope=0.01):
        self.inputs = None
        self.slope = slope

    def forward(self, x):
        return np.where(x > 0, x, x * np.asarray(self.slope, dtype=x.dtype))

    def _d(self):
        x = self.inputs[0].data
        return np.where(x > 0, np.ones((), x.dtype), np.asarray(self.slope, dtype=x.dtype))

    def backward(self, g):
        return g * self._d()

    def backward_graph(self, g):
        return g * self._d()


class Softplus(Function):
    """y = ln(1 + exp(x)), computed without overflow."""

    __slots__ = ()
    elementwise = True
    formula = "y = ln(1 + exp(x))"
    derivative = "dy/dx = sigmoid(x)"

    def forward(self, x):
        return np.logaddexp(0, x).astype(x.dtype, copy=False)

    def backward(self, g):
        return g * _sigmoid(self.inputs[0].data)

    def backward_graph(self, g):
        return g * sigmoid(self.inputs[0])


class Clip(Function):
    """y = min(max(x, lo), hi); the gradient passes where lo <= x <= hi."""

    __slots__ = ("lo", "hi")
    elementwise = True
    formula = "y = clip(x, lo, hi)"
    derivative = "dy/dx = 1 if lo <= x <= hi else 0"

    def __init__(self, lo, hi):
        self.inputs = None
        self.lo = lo
        self.hi = hi

    def forward(self, x):
        return np.clip(x, self.lo, self.hi)

    def _mask(self):
        x = self.inputs[0].data
        m = np.ones(x.shape, bool)
        if self.lo is not None:
            m &= x >= self.lo
        if self.hi is not None:
            m &= x <= self.hi
        return m

    def backward(self, g):
        return g * self._mask()

    def backward_graph(self, g):
        return g * self._mask()


class Maximum(Function):
    """Elementwise max; where a == b the gradient is split equally."""

    __slots__ = ()
    elementwise = True
    formula = "y = max(a, b)"
    derivative = "dy/da = 1 if a > b, 1/2 if a == b, else 0; dy/db likewise"

    _fn = staticmethod(np.maximum)
    _pick = staticmethod(np.greater)

    def forward(self, a, b):
        try:
            return self._fn(a, b)
        except ValueError:
            raise _bshape_error(type(self).__name__.lower(), a, b) from None

    def _weights(self):
        a = self.inputs[0].data
        b = self.inputs[1].data
        dt = np.result_type(a.dtype, b.dtype)
        wa = self._pick(a, b).astype(dt) + (a == b) * np.asarray(0.5, dt)
        return wa, 1 - wa

    def backward(self, g):
        wa, wb = self._weights()
        na, nb = self.needs_input_grad
        return (g * wa if na else None), (g * wb if nb else None)

    backward_graph = backward


class Minimum(Maximum):
    """Elementwise min; where a == b the gradient is split equally."""

    __slots__ = ()
    formula = "y = min(a, b)"
    derivative = "dy/da = 1 if a < b, 1/2 if a == b, else 0; dy/db likewise"
    _fn = staticmethod(np.minimum)
    _pick = staticmethod(np.less)


class Where(Function):
    """y = a where cond else b (cond is not differentiable)."""

    __slots__ = ("cond",)
    elementwise = True
    reads_inputs = False
    formula = "y = a if cond else b"
    derivative = "dy/da = cond; dy/db = not cond"

    def __init__(self, cond):
        self.inputs = None
        self.cond = cond

    def forward(self, a, b):
        try:
            return np.where(self.cond, a, b)
        except ValueError:
            raise ShapeError(
                f"where: shapes {np.shape(self.cond)}, {np.shape(a)} and {np.shape(b)} cannot be broadcast together"
            ) from None

    def backward(self, g):
        na, nb = self.needs_input_grad
        c = self.cond
        z = np.zeros((), g.dtype)
        return (np.where(c, g, z) if na else None), (np.where(c, z, g) if nb else None)

    def backward_graph(self, g):
        na, nb = self.needs_input_grad
        c = self.cond
        return (where(c, g, 0.0) if na else None), (where(c, 0.0, g) if nb else None)


class AsType(Function):
    """y = x converted to another dtype."""

    __slots__ = ("dtype",)
    elementwise = True
    reads_inputs = False
    formula = "y = x (as another dtype)"
    derivative = "dy/dx = 1"

    def __init__(self, dtype):
        self.inputs = None
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        return x.astype(self.dtype, copy=True)

    def backward(self, g):
        return g.astype(self.inputs[0].data.dtype, copy=False)

    def backward_graph(self, g):
        return g.astype(self.inputs[0].data.dtype)


# --------------------------------------------------------------------------- functions
def add(a, b):
    """a + b, broadcasting."""
    a, b = pair(a, b)
    return Add()(a, b)


def sub(a, b):
    """a - b, broadcasting."""
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
            a = Tensor._wrap(a.data.astype(np.int64))
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


def sqrt(x):
    return Sqrt()(as_float_t(x))


def abs(x):  # noqa: A001
    return Abs()(as_t(x))


def sin(x):
    return Sin()(as_float_t(x))


def cos(x):
    return Cos()(as_float_t(x))


def tanh(x):
    return Tanh()(as_float_t(x))


def sigmoid(x):
    """1 / (1 + exp(-x)), stable for any finite x."""
    return Sigmoid()(as_float_t(x))


def relu(x):
    """max(x, 0)."""
    return ReLU()(as_t(x))


def leaky_relu(x, negative_slope: float = 0.01):
    """x if x > 0 else negative_slope * x."""
    return LeakyReLU(negative_slope)(as_float_t(x))


def softplus(x):
    """ln(1 + exp(x)), stable for any finite x."""
    return Softplus()(as_float_t(x))


def clip(x, min=None, max=None):  # noqa: A002
    """Limit values to [min, max] (either may be None). Also available as ``clamp``."""
    if min is None and max is None:
        raise ArgumentError("clip: give at least one of min and max")
    return Clip(min, max)(as_t(x))


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
