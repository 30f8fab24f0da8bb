"""The exceptions chainrule raises.

Every error the library raises on purpose derives from :class:`ChainruleError`,
so ``except cr.errors.ChainruleError`` catches them all. Where a built-in
exception type is the natural one (a bad shape is a ``ValueError``, a bad type a
``TypeError``), the chainrule class also derives from it, so code written for
NumPy's errors keeps working.
"""

from __future__ import annotations

__all__ = [
    "ChainruleError",
    "ShapeError",
    "DTypeError",
    "GraphError",
    "GraphFreedError",
    "BackwardError",
    "GradcheckError",
    "AnomalyError",
    "SerializationError",
    "DatasetError",
    "MissingDependencyError",
    "ArgumentError",
    "ArgumentTypeError",
    "IndexOutOfRangeError",
    "NotFoundError",
    "UnsupportedError",
    "DivisionByZeroError",
    "AllocationError",
    "DLPackError",
]


class ChainruleError(Exception):
    """Base class of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Operands whose shapes do not fit the operation."""


class DTypeError(ChainruleError, TypeError):
    """A dtype the operation cannot use (e.g. ``requires_grad`` on integers)."""


class GraphError(ChainruleError, RuntimeError):
    """Misuse of the computational graph (e.g. backward on a non-scalar)."""


class GraphFreedError(GraphError):
    """Backward through a graph whose saved values were already freed."""


class BackwardError(GraphError):
    """A Function's ``backward`` returned gradients that do not fit its inputs."""


class GradcheckError(ChainruleError, AssertionError):
    """Analytical and numerical gradients disagree."""


class AnomalyError(ChainruleError, FloatingPointError):
    """A NaN or Inf appeared while anomaly detection was on."""


class SerializationError(ChainruleError, ValueError):
    """A file that cannot be loaded: truncated, foreign, or not matching the model."""


class DatasetError(ChainruleError, RuntimeError):
    """A data set that cannot be found, downloaded or verified."""


class MissingDependencyError(ChainruleError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class ArgumentError(ChainruleError, ValueError):
    """An argument value the operation cannot take (a reduction name, a probability outside [0, 1], ...)."""


class ArgumentTypeError(ChainruleError, TypeError):
    """An argument of a type the operation cannot take."""


class IndexOutOfRangeError(ChainruleError, IndexError):
    """An index, class label or axis outside the valid range."""


class NotFoundError(ChainruleError, KeyError):
    """A name that is not there (a History key, a tensor name in a trace)."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


class UnsupportedError(ChainruleError, NotImplementedError):
    """A case chainrule does not implement; the message says what to do instead."""


class DivisionByZeroError(ChainruleError, ZeroDivisionError):
    """An integer division (``//``, ``%``, fmod, div with a rounding mode) by zero, refused as PyTorch refuses it."""


class AllocationError(ChainruleError, MemoryError):
    """An array too large for this machine's memory, refused before NumPy tries to allocate it."""


class DLPackError(ChainruleError, BufferError):
    """A tensor that cannot be shared through DLPack as asked (it requires grad, it is read-only, ...): a
    BufferError, as the DLPack protocol and PyTorch raise."""


def missing(package: str, extra: str, purpose: str) -> MissingDependencyError:
    """Build the error for an optional dependency that is not installed."""
    return MissingDependencyError(
        f"{purpose} needs the optional package '{package}', which is not installed. "
        f"Install it with: pip install 'chainrule[{extra}]'  (or: pip install {package})"
    )
