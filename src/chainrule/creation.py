"""Tensor factories: zeros, ones, random tensors, ranges."""

from __future__ import annotations

import math

import numpy as np

from . import checks
from .errors import ArgumentError, ArgumentTypeError
from .tensor import Tensor, from_numpy, to_array

__all__ = [
    "zeros",
    "ones",
    "full",
    "zeros_like",
    "ones_like",
    "arange",
    "linspace",
    "rand",
    "randn",
    "manual_seed",
    "eye",
    "empty",
    "full_like",
    "randint",
    "randperm",
    "default_generator",
]

_generator = np.random.default_rng()


def default_generator() -> np.random.Generator:
    """The generator used by rand/randn and by parameter initialisation when none is given."""
    return _generator


def manual_seed(seed: int) -> np.random.Generator:
    """Seed chainrule's default random generator.

    It drives parameter initialisation, dropout and randn/rand, and seeds the
    shuffling of every DataLoader created afterwards without a seed of its own.
    """
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def _make(arr: np.ndarray, requires_grad: bool) -> Tensor:
    return from_numpy(arr).requires_grad_(bool(requires_grad))


def _shape(shape, owner: str, dtype) -> tuple:
    """The shape given as ``f(2, 3)`` or ``f((2, 3))``, checked: integers >= 0, and small enough to allocate."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return checks.allocation(owner, shape, dtype)


def zeros(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(_shape(shape, "zeros", dtype), dtype), requires_grad)


def ones(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(_shape(shape, "ones", dtype), dtype), requires_grad)


def full(shape, value, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``value``; without ``dtype``, the dtype ``cr.tensor(value)`` would have
    (float32 for a Python float, int64 for an int, bool for a bool), as ``torch.full`` does."""
    if dtype is None:
        dtype = to_array(value.data if isinstance(value, Tensor) else value, copy=False).dtype
    return _make(np.full(checks.allocation("full", shape, dtype), value, dtype), requires_grad)


def zeros_like(t, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros_like(np.asarray(t)), requires_grad)


def ones_like(t, requires_grad: bool = False) -> Tensor:
    return _make(np.ones_like(np.asarray(t)), requires_grad)


def arange(start=0, end=None, step=1, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """PyTorch's ``arange``: values from ``start`` (default 0) up to but not including ``end``, ``step``
    apart; ``arange(n)`` is 0..n-1. int64 when start, end and step are all integers, else float32 (the
    default float) unless ``dtype`` says otherwise. Values are ``start + k * step`` computed in float64
    (PyTorch's float32 values can differ from these in the last bit: its SIMD kernel adds the steps in
    float32)."""
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    for name, v in (("start", start), ("end", end), ("step", step)):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, (bool, np.bool_)):
            raise ArgumentTypeError(f"arange: {name} must be a number, got {v!r}")
        if not np.isfinite(v):
            raise ArgumentError(f"arange: {name} must be finite, got {v}")
    if step == 0:
        raise ArgumentError("arange: step must be nonzero")
    if (end - start) / step < 0:
        raise ArgumentError(f"arange: the range from {start} to {end} never ends with step {step} (wrong sign)")
    integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    if dtype is None:
        dtype = np.int64 if integral else np.float32
    dtype = np.dtype(dtype)
    checks.allocation("arange", (max(0, math.ceil((end - start) / step)),), np.float64)
    if integral:
        arr = np.arange(start, end, step, dtype=np.int64)
    else:
        n = int(np.ceil((end - start) / step))
        arr = start + step * np.arange(n, dtype=np.float64)
    return _make(arr.astype(dtype, copy=False), requires_grad)


def linspace(start, stop, num: int, dtype=np.float32) -> Tensor:
    num = checks.integer("linspace", "steps", num, 0)
    checks.allocation("linspace", (num,), dtype)
    return from_numpy(np.linspace(start, stop, num, dtype=dtype))


def rand(*shape, dtype=np.float32, requires_grad: bool = False, generator=None) -> Tensor:
    """Uniform samples in [0, 1)."""
    g = generator or _generator
    return _make(g.random(_shape(shape, "rand", dtype)).astype(dtype), requires_grad)


def randn(*shape, dtype=np.float32, requires_grad: bool = False, generator=None) -> Tensor:
    """Standard normal samples."""
    g = generator or _generator
    return _make(g.standard_normal(_shape(shape, "randn", dtype)).astype(dtype), requires_grad)


# ----------------------------------------------------------------------------- PyTorch's other factories
def eye(n: int, m: int | None = None, *, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """An ``n x m`` (default ``n x n``) tensor with ones on the diagonal, zeros elsewhere."""
    n, m = checks.allocation("eye", (n, n if m is None else m), dtype)
    return _make(np.eye(n, m, dtype=dtype), requires_grad)


def empty(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` whose values are not initialised (PyTorch's ``empty``): write before reading."""
    return _make(np.empty(_shape(size, "empty", dtype), dtype), requires_grad)


def full_like(input, fill_value, *, dtype=None, requires_grad: bool = False) -> Tensor:  # noqa: A002
    """A tensor of ``input``'s shape (and dtype, unless ``dtype`` is given) filled with ``fill_value``."""
    arr = input.data if isinstance(input, Tensor) else np.asarray(input)
    return _make(np.full(arr.shape, fill_value, dtype=arr.dtype if dtype is None else dtype), requires_grad)


def randint(*args, low=None, high=None, size=None, generator=None, dtype=np.int64, requires_grad=False) -> Tensor:
    """Integers drawn uniformly from ``[low, high)`` (``low`` 0 unless given) in a tensor of ``size``:
    ``randint(high, size)`` or ``randint(low, high, size)``, as PyTorch's; int64 unless ``dtype`` says."""
    if len(args) == 3:
        low, high, size = args
    elif len(args) == 2:
        if size is None:
            high, size = args
        else:
            low, high = args
    elif len(args) == 1:
        if high is None:
            high = args[0]
        else:
            low = args[0]
    elif args:
        raise ArgumentError(f"randint: expected (high, size) or (low, high, size), got {len(args)} arguments")
    if high is None or size is None:
        raise ArgumentError("randint: give high and size, e.g. cr.randint(10, (3,)) or cr.randint(2, 10, (3,))")
    low = 0 if low is None else int(low)
    if int(high) <= low:
        raise ArgumentError(f"randint: high ({high}) must be greater than low ({low})")
    size = checks.allocation("randint", size, np.int64)
    g = generator or _generator
    return _make(g.integers(low, int(high), size=size, dtype=np.int64).astype(dtype, copy=False), requires_grad)


def randperm(n: int, *, generator=None, dtype=np.int64, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 unless ``dtype`` says)."""
    n = checks.integer("randperm", "n", n, 0)
    checks.allocation("randperm", (n,), np.int64)
    g = generator or _generator
    return _make(g.permutation(n).astype(dtype, copy=False), requires_grad)
