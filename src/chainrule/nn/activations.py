"""Activation modules: GELU, ELU, SELU, CELU, SiLU, Mish, Hardtanh, Hardswish, Hardsigmoid, Softsign,
ReLU6, LogSigmoid, GLU.

Each holds its settings and calls the function of the same name in ``chainrule.nn.functional``
(looked up when the module is called), with PyTorch's arguments and defaults, ``inplace=True``
included (the input tensor is changed in place, by PyTorch's rules for in-place operations).
"""

from __future__ import annotations

from ..errors import ArgumentError, UnsupportedError
from . import functional
from .module import Module

__all__ = [
    "GELU",
    "ELU",
    "SELU",
    "CELU",
    "SiLU",
    "Mish",
    "Hardtanh",
    "Hardswish",
    "Hardsigmoid",
    "Softsign",
    "ReLU6",
    "LogSigmoid",
    "GLU",
]


def _functional(module: Module, name: str):
    fn = getattr(functional, name, None)
    if fn is None:
        raise UnsupportedError(
            f"nn.{type(module).__name__}: chainrule.nn.functional has no function {name!r} in this version of "
            "chainrule, which the module calls"
        )
    return fn


def _inplace_repr(module: Module, settings: str = "") -> str:
    flag = "inplace=True" if module.inplace else ""
    return ", ".join(p for p in (settings, flag) if p)


class _Elementwise(Module):
    """An activation without settings: ``forward(x) = functional.<fn_name>(x)``."""

    fn_name = ""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x):
        return _functional(self, self.fn_name)(x, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self)


class GELU(Module):
    """x * Phi(x), Phi the standard normal CDF; ``approximate="tanh"`` uses PyTorch's tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ArgumentError(f"nn.GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return _functional(self, "gelu")(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ELU(Module):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)
        self.alpha = alpha

    def forward(self, x):
        return _functional(self, "elu")(x, self.alpha, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self, f"alpha={self.alpha}")


class CELU(Module):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)
        if alpha == 0:
            raise ArgumentError("nn.CELU: alpha must not be 0")
        self.alpha = alpha

    def forward(self, x):
        return _functional(self, "celu")(x, self.alpha, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self, f"alpha={self.alpha}")


class SELU(_Elementwise):
    """scale * (max(0, x) + min(0, alpha * (exp(x) - 1))) with PyTorch's fixed alpha and scale."""

    fn_name = "selu"


class SiLU(_Elementwise):
    """x * sigmoid(x) (also called swish)."""

    fn_name = "silu"


class Mish(_Elementwise):
    """x * tanh(softplus(x))."""

    fn_name = "mish"


class Hardswish(_Elementwise):
    """x * relu6(x + 3) / 6."""

    fn_name = "hardswish"

    def extra_repr(self) -> str:  # PyTorch shows no settings for this one
        return ""


class Hardsigmoid(_Elementwise):
    """relu6(x + 3) / 6."""

    fn_name = "hardsigmoid"

    def extra_repr(self) -> str:  # PyTorch shows no settings for this one
        return ""


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, x):
        return _functional(self, "softsign")(x)


class LogSigmoid(Module):
    """log(sigmoid(x)), computed without overflow."""

    def forward(self, x):
        return _functional(self, "logsigmoid")(x)


class ReLU6(_Elementwise):
    """min(max(0, x), 6)."""

    fn_name = "relu6"


class Hardtanh(Module):
    """x clipped to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)
        if not max_val > min_val:
            raise ArgumentError(f"nn.Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val = min_val
        self.max_val = max_val

    def forward(self, x):
        return _functional(self, "hardtanh")(x, self.min_val, self.max_val, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self, f"min_val={self.min_val}, max_val={self.max_val}")


class GLU(Module):
    """a * sigmoid(b), where a and b are the two halves of the input along ``dim``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return _functional(self, "glu")(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
