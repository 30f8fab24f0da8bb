"""Tensor factories: zeros, ones, random tensors, ranges."""

from __future__ import annotations

import numpy as np

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


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(_shape(shape), dtype), requires_grad)


def ones(*shape, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(_shape(shape), dtype), requires_grad)


def full(shape, value, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``value``; without ``dtype``, the dtype ``cr.tensor(value)`` would have
    (float32 for a Python float, int64 for an int, bool for a bool), as ``torch.full`` does."""
    if dtype is None:
        dtype = to_array(value.data if isinstance(value, Tensor) else value, copy=False).dtype
    return _make(np.full(shape, value, dtype), requires_grad)


def zeros_like(t, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros_like(np.asarray(t)), requires_grad)


def ones_like(t, requires_grad: bool = False) -> Tensor:
    return _make(np.ones_like(np.asarray(t)), requires_grad)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in [start, stop) (or [0, start) with one argument), as NumPy's arange."""
    if stop is None:
        start, stop = 0, start
    arr = np.arange(start, stop, step)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    return from_numpy(arr)


def linspace(start, stop, num: int, dtype=np.float32) -> Tensor:
    return from_numpy(np.linspace(start, stop, num, dtype=dtype))


def rand(*shape, dtype=np.float32, requires_grad: bool = False, generator=None) -> Tensor:
    """Uniform samples in [0, 1)."""
    g = generator or _generator
    return _make(g.random(_shape(shape)).astype(dtype), requires_grad)


def randn(*shape, dtype=np.float32, requires_grad: bool = False, generator=None) -> Tensor:
    """Standard normal samples."""
    g = generator or _generator
    return _make(g.standard_normal(_shape(shape)).astype(dtype), requires_grad)
