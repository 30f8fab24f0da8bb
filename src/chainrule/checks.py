"""Checks for the values users hand to chainrule, made where they enter (as PyTorch does).

Each check raises a :class:`~chainrule.errors.ChainruleError` that names the
function or class (``owner``), the argument, the value given and the accepted
range, so that a typo (``lr="0.1"``, ``momentum=-0.5``, ``Linear(3.5, 2)``,
``zeros((-1, 3))``) fails at once and says what to write instead, rather than as
a NumPy traceback several calls later, or not at all.

Allocations are checked against the machine's memory before they are made:
a tensor larger than the physical memory cannot be used, so asking for one is
an :class:`~chainrule.errors.AllocationError` naming the shape and the bytes,
not NumPy's MemoryError (or a machine brought to a crawl). The limit is the
physical memory by default; ``CHAINRULE_MAX_ALLOC_BYTES`` (an integer number
of bytes) overrides it.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from .errors import AllocationError, ArgumentError, ArgumentTypeError

__all__ = ["real", "integer", "shape", "allocation", "empty", "max_alloc_bytes", "format_bytes"]


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    lo = "-inf" if low == -math.inf else f"{low:g}"
    hi = "inf" if high == math.inf else f"{high:g}"
    return f"{'(' if low_open or low == -math.inf else '['}{lo}, {hi}{')' if high_open or high == math.inf else ']'}"


def real(owner: str, name: str, value, low=-math.inf, high=math.inf, low_open=False, high_open=False) -> float:
    """``value`` as a float, after checking it is a real number in the interval (NaN and inf never are).

    The interval is closed unless ``low_open``/``high_open`` say otherwise; an infinite bound
    is always open, so ``real("Adam", "lr", lr, 0)`` accepts ``[0, inf)``.
    """
    where = _interval(low, high, low_open, high_open)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(
            f"{owner}: {name} must be a real number in {where}, got {value!r} ({type(value).__name__})"
        )
    v = float(value)
    inside = math.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not inside:
        raise ArgumentError(f"{owner}: {name} must be in {where}, got {value!r}")
    return v


def integer(owner: str, name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, after checking it is an integer (not a bool, not a float) in ``[low, high]``."""
    where = (
        f"an integer >= {low}"
        if high is None and low is not None
        else f"an integer <= {high}"
        if low is None and high is not None
        else f"an integer in [{low}, {high}]"
        if low is not None
        else "an integer"
    )
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{owner}: {name} must be {where}, got {value!r} ({type(value).__name__})")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ArgumentError(f"{owner}: {name} must be {where}, got {v}")
    return v


def shape(owner: str, dims, name: str = "shape") -> tuple[int, ...]:
    """``dims`` (an int or a sequence of ints) as a tuple, after checking every dimension is an int >= 0."""
    if isinstance(dims, (numbers.Integral, np.integer)) and not isinstance(dims, (bool, np.bool_)):
        dims = (dims,)
    try:
        dims = tuple(dims)
    except TypeError:
        raise ArgumentTypeError(
            f"{owner}: {name} must be a sequence of integers, got {dims!r} ({type(dims).__name__})"
        ) from None
    for d in dims:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (numbers.Integral, np.integer)):
            raise ArgumentTypeError(
                f"{owner}: {name} {dims!r} has the dimension {d!r} ({type(d).__name__}); dimensions are integers"
            )
        if d < 0:
            raise ArgumentError(
                f"{owner}: {name} {dims!r} has the negative dimension {int(d)}; dimensions must be >= 0"
            )
    return tuple(int(d) for d in dims)


def max_alloc_bytes() -> int | None:
    """The largest single allocation allowed: ``$CHAINRULE_MAX_ALLOC_BYTES``, else the physical memory
    (None where the system does not say how much it has: then nothing is refused)."""
    env = os.environ.get("CHAINRULE_MAX_ALLOC_BYTES")
    if env:
        try:
            return int(env)
        except ValueError:
            raise ArgumentError(f"CHAINRULE_MAX_ALLOC_BYTES must be a whole number of bytes, got {env!r}") from None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps it >= 1 (``3.64 TiB``)."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{n} bytes" if unit == "bytes" else f"{value:.3g} {unit}"
        value /= 1024
    return f"{n} bytes"  # pragma: no cover


def allocation(owner: str, dims, dtype) -> tuple[int, ...]:
    """Check ``dims`` (see :func:`shape`) and that an array of that shape and ``dtype`` fits in memory."""
    dims = shape(owner, dims)
    itemsize = np.dtype(dtype).itemsize
    nbytes = math.prod(dims) * itemsize  # Python ints: no overflow
    limit = max_alloc_bytes()
    if limit is not None and nbytes > limit:
        raise AllocationError(
            f"{owner}: a tensor of shape {dims} and dtype {np.dtype(dtype).name} needs {format_bytes(nbytes)} "
            f"({nbytes} bytes), more than the {format_bytes(limit)} this machine can hold; use smaller sizes "
            "(or set CHAINRULE_MAX_ALLOC_BYTES to allow it)"
        )
    return dims


def empty(owner: str, dims, dtype) -> np.ndarray:
    """``np.empty(dims, dtype)`` after :func:`allocation`'s checks."""
    return np.empty(allocation(owner, dims, dtype), dtype)
