"""Integer and bitwise operations, and tests of values, with PyTorch's results: floor division, div with a
rounding mode, remainder (the sign of the divisor, Python's ``%``), fmod (the sign of the dividend, C's),
``& | ^ ~ << >>``, isnan, isinf, isfinite, allclose, one_hot.

Dtypes follow chainrule's binary operations (as PyTorch's): a Python number takes the tensor's dtype, an
integer tensor meeting a float becomes float32, integer dtypes promote as NumPy's. Integer division by
zero raises DivisionByZeroError (PyTorch raises too). Gradients, as in PyTorch: remainder and fmod of
floats are differentiable; div with a rounding mode has a zero gradient; floor_divide has none (its
backward raises); the bitwise operations, the tests of values and one_hot give integer or boolean
tensors, outside the graph.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, DivisionByZeroError, DTypeError, IndexOutOfRangeError, UnsupportedError
from ..function import Function
from ..tensor import Tensor, wrap
from .elementwise import div as true_div
from .operands import as_t, pair

__all__ = [
    "FloorDivide",
    "DivRounding",
    "Remainder",
    "Fmod",
    "floor_divide",
    "div",
    "remainder",
    "fmod",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "isnan",
    "isinf",
    "isfinite",
    "allclose",
    "one_hot",
]


def _quiet():
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


def _operands(op: str, a, b):
    a, b = pair(a, b)
    da, db = a.data.dtype, b.data.dtype
    if da.kind == "b" and db.kind == "b":
        raise DTypeError(f"{op}: not defined for two boolean tensors (as in PyTorch); convert one, e.g. a.long()")
    if da.kind == "c" or db.kind == "c":
        raise DTypeError(f"{op}: not defined for complex tensors")
    return a, b


def _no_integer_zero(op: str, a: np.ndarray, b: np.ndarray) -> None:
    if a.dtype.kind in "biu" and b.dtype.kind in "biu" and not np.all(b):
        raise DivisionByZeroError(f"{op}: integer division by zero (a divisor is 0); convert to float for inf/nan")


def _trunc_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        with _quiet():
            return np.trunc(a / b).astype(np.result_type(a, b), copy=False)
    q = np.floor_divide(a, b)
    return q + ((q * b != a) & ((a < 0) != (b < 0))).astype(q.dtype)  # toward zero: floor + 1 for a negative quotient


def _floor_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with _quiet():
        return np.floor_divide(a, b)


# --------------------------------------------------------------------------- nodes
class FloorDivide(Function):
    """y = floor(a / b); PyTorch has no derivative for it, so its backward raises."""

    elementwise = True
    formula = "y = floor(a / b)"
    derivative = "none (PyTorch defines none; use cr.div(a, b, rounding_mode='floor') for a zero gradient)"

    def forward(self, a, b):
        _no_integer_zero("floor_divide", a, b)
        return _floor_divide(a, b)

    def vjp(self, xp, g):
        raise UnsupportedError(
            "floor_divide (//) has no derivative, as in PyTorch: detach its operands, or use "
            "cr.div(a, b, rounding_mode='floor'), whose gradient is zero"
        )


class DivRounding(Function):
    """y = a / b rounded toward zero ('trunc') or down ('floor'); the gradient is zero, as in PyTorch."""

    elementwise = True
    formula = "y = trunc(a / b) or floor(a / b)"
    derivative = "dy/da = 0; dy/db = 0 (piecewise constant)"

    def __init__(self, mode):
        self.mode = mode

    def forward(self, a, b):
        _no_integer_zero(f"div (rounding_mode={self.mode!r})", a, b)
        return _trunc_divide(a, b) if self.mode == "trunc" else _floor_divide(a, b)

    def vjp(self, xp, g):
        zero = g * xp.const(0, g)
        na, nb = self.needs_input_grad
        return (zero if na else None), (zero if nb else None)


class Remainder(Function):
    """y = a - b * floor(a / b): the sign of b (Python's ``%``)."""

    elementwise = True
    formula = "y = a - b * floor(a / b)"
    derivative = "dy/da = 1; dy/db = -floor(a / b)"
    _quotient = staticmethod(_floor_divide)
    _fn = staticmethod(np.remainder)

    def forward(self, a, b):
        _no_integer_zero(type(self).__name__.lower(), a, b)
        if self.needs_input_grad[1:2] == (True,):
            self.save_for_backward(a, b)
        with _quiet():
            return self._fn(a, b)

    def vjp(self, xp, g):
        na, nb = self.needs_input_grad
        gb = None
        if nb:
            a, b = (xp.data(v) for v in self.saved(xp))
            gb = -(g * self._quotient(a, b))
        return (g if na else None), gb


class Fmod(Remainder):
    """y = a - b * trunc(a / b): the sign of a (C's fmod)."""

    formula = "y = a - b * trunc(a / b)"
    derivative = "dy/da = 1; dy/db = -trunc(a / b)"
    _quotient = staticmethod(_trunc_divide)
    _fn = staticmethod(np.fmod)


# --------------------------------------------------------------------------- functions
def floor_divide(input, other):  # noqa: A002 - PyTorch's name
    """``input // other``: the quotient rounded down (PyTorch 2's ``floor_divide``); integers stay
    integers. No derivative (as in PyTorch)."""
    return FloorDivide()(*_operands("floor_divide", input, other))


def div(input, other, *, rounding_mode=None):  # noqa: A002
    """``input / other``: true division (``rounding_mode=None``, differentiable; integers give float32), or
    rounded toward zero (``'trunc'``) or down (``'floor'``), integers staying integers, with a zero
    gradient (PyTorch's ``div``)."""
    if rounding_mode is None:
        return true_div(input, other)
    if rounding_mode not in ("trunc", "floor"):
        raise ArgumentError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    return DivRounding(rounding_mode)(*_operands("div", input, other))


def remainder(input, other):  # noqa: A002
    """``input % other`` with the sign of ``other`` (Python's and PyTorch's ``%``)."""
    return Remainder()(*_operands("remainder", input, other))


def fmod(input, other):  # noqa: A002
    """The remainder of ``input / other`` with the sign of ``input`` (C's ``fmod``)."""
    return Fmod()(*_operands("fmod", input, other))


def _bitwise(op: str, fn, a, b):
    a, b = pair(a, b)
    for t in (a, b):
        if t.data.dtype.kind not in "biu":
            raise DTypeError(f"{op}: only integer and boolean tensors, got dtype {t.data.dtype} (as in PyTorch)")
    return wrap(fn(a.data, b.data))


def bitwise_and(input, other):  # noqa: A002
    """``input & other`` (logical and for booleans)."""
    return _bitwise("bitwise_and", np.bitwise_and, input, other)


def bitwise_or(input, other):  # noqa: A002
    """``input | other``."""
    return _bitwise("bitwise_or", np.bitwise_or, input, other)


def bitwise_xor(input, other):  # noqa: A002
    """``input ^ other``."""
    return _bitwise("bitwise_xor", np.bitwise_xor, input, other)


def bitwise_left_shift(input, other):  # noqa: A002
    """``input << other``: shifting by the bit width or more, or by a negative amount, gives 0 (as PyTorch)."""
    return _bitwise("bitwise_left_shift", np.left_shift, input, other)


def bitwise_right_shift(input, other):  # noqa: A002
    """``input >> other`` (arithmetic for signed integers; shifting by the bit width or more gives 0 or -1)."""
    return _bitwise("bitwise_right_shift", np.right_shift, input, other)


def bitwise_not(input):  # noqa: A002
    """``~input``: logical not for booleans, bitwise not for integers."""
    x = as_t(input)
    if x.data.dtype.kind not in "biu":
        raise DTypeError(f"bitwise_not: only integer and boolean tensors, got dtype {x.data.dtype} (as in PyTorch)")
    return wrap(np.invert(x.data))


def isnan(input):  # noqa: A002
    """A boolean tensor: where ``input`` is NaN."""
    return wrap(np.isnan(as_t(input).data))


def isinf(input):  # noqa: A002
    """A boolean tensor: where ``input`` is +inf or -inf."""
    return wrap(np.isinf(as_t(input).data))


def isfinite(input):  # noqa: A002
    """A boolean tensor: where ``input`` is neither NaN nor infinite."""
    return wrap(np.isfinite(as_t(input).data))


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:  # noqa: A002
    """Whether ``|input - other| <= atol + rtol * |other|`` everywhere (broadcast), a Python bool."""
    a = input.data if isinstance(input, Tensor) else np.asarray(input)
    b = other.data if isinstance(other, Tensor) else np.asarray(other)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def one_hot(tensor, num_classes: int = -1):
    """PyTorch's ``nn.functional.one_hot``: int64 of shape ``(*tensor.shape, num_classes)`` with a 1 at each
    class index; ``num_classes=-1`` takes ``max + 1``."""
    idx = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise DTypeError(
            f"one_hot: class indices must be an integer tensor, got dtype {idx.dtype}; note that cr.tensor([...]) "
            "makes float32 from a list: use cr.tensor([...], dtype=cr.int64)"
        )
    num_classes = int(num_classes)
    if num_classes == -1:
        if idx.size == 0:
            raise ArgumentError("one_hot: cannot infer the number of classes from an empty tensor; give num_classes")
        num_classes = int(idx.max()) + 1
    if idx.size and idx.min() < 0:
        raise IndexOutOfRangeError(f"one_hot: class values must be non-negative, got {int(idx.min())}")
    if idx.size and idx.max() >= num_classes:
        raise IndexOutOfRangeError(f"one_hot: class value {int(idx.max())} is not below num_classes={num_classes}")
    if num_classes < 0:
        raise ArgumentError(f"one_hot: num_classes must be -1 or non-negative, got {num_classes}")
    return wrap((idx[..., None] == np.arange(num_classes)).astype(np.int64))
