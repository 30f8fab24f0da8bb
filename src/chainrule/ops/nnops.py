"""Operations with training-time behaviour: dropout and batch normalisation."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..function import Function
from ..tensor import Tensor
from ._base import as_t

_wrap = Tensor._wrap


class Dropout(Function):
    """y = x * mask / (1 - p), mask ~ Bernoulli(1 - p) (inverted dropout)."""

    __slots__ = ("p", "rng", "mask")
    elementwise = True
    reads_inputs = False
    formula = "y = x * mask / (1 - p)"
    derivative = "dy/dx = mask / (1 - p)"

    def __init__(self, p, generator):
        self.inputs = None
        self.p = p
        self.rng = generator

    def forward(self, x):
        if self.rng is None:  # a replay (see frozen): the recorded mask again
            return x * self.mask.astype(x.dtype, copy=False)
        keep = self.rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64) >= self.p
        scale = np.asarray(1.0 / (1.0 - self.p), x.dtype)
        self.mask = keep * scale
        return x * self.mask

    def frozen(self):
        """An unused node that applies this node's mask again (to re-run it, e.g. for a gradient check)."""
        f = Dropout(self.p, None)
        f.mask = self.mask
        return f

    def backward(self, g):
        return g * self.mask

    backward_graph = backward


class BatchNorm(Function):
    """Normalise each feature over the batch, then scale and shift.

    Inputs (x, gamma, beta) with x of shape (N, C) or (N, C, L); statistics
    over every axis but 1. Training mode only (eval mode uses fixed running
    statistics and is an ordinary affine map).
    """

    __slots__ = ("eps", "axes", "xhat", "inv_std")
    reads_inputs = (0, 1)  # x and gamma (what forward derived from x is kept); never the bias
    formula = "y = gamma * (x - mean) / sqrt(var + eps) + beta"
    derivative = (
        "dL/dx = gamma * inv_std * (g - mean(g) - xhat * mean(g * xhat)); dL/dgamma = sum(g * xhat); dL/dbeta = sum(g)"
    )

    def __init__(self, eps):
        self.inputs = None
        self.eps = eps

    def forward(self, x, gamma, beta):
        axes = (0,) if x.ndim == 2 else (0, 2)
        self.axes = axes
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = np.mean(xc * xc, axis=axes, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + np.asarray(self.eps, x.dtype))
        xhat = xc * inv_std
        self.xhat = xhat
        self.inv_std = inv_std
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
        return xhat * gamma.reshape(shape) + beta.reshape(shape)

    def backward(self, g):
        axes = self.axes
        xhat = self.xhat
        x, gamma = self.inputs[0].data, self.inputs[1].data
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
        ng = self.needs_input_grad
        gx = ggamma = gbeta = None
        gsum = g.sum(axis=axes)
        gxhat_sum = (g * xhat).sum(axis=axes)
        if ng[0]:
            n = x.size // gamma.size
            mg = (gsum / n).reshape(shape)
            mgx = (gxhat_sum / n).reshape(shape)
            gx = (gamma.reshape(shape) * self.inv_std) * (g - mg - xhat * mgx)
        if ng[1]:
            ggamma = gxhat_sum
        if ng[2]:
            gbeta = gsum
        return gx, ggamma, gbeta

    def backward_graph(self, g):
        # The same formulas on Tensors, with the statistics recomputed from x so that
        # they are differentiated too.
        x, gamma, _ = self.inputs
        axes = self.axes
        shape = (1, -1) if x.ndim == 2 else (1, -1, 1)
        n = x.data.size // gamma.data.size
        xc = x - x.mean(axis=axes, keepdims=True)
        inv_std = ((xc * xc).mean(axis=axes, keepdims=True) + self.eps) ** -0.5
        xhat = xc * inv_std
        gsum = g.sum(axis=axes)
        gxhat_sum = (g * xhat).sum(axis=axes)
        ng = self.needs_input_grad
        gx = None
        if ng[0]:
            gx = (gamma.reshape(shape) * inv_std) * (
                g - gsum.reshape(shape) * (1.0 / n) - xhat * (gxhat_sum.reshape(shape) * (1.0 / n))
            )
        return gx, gxhat_sum if ng[1] else None, gsum if ng[2] else None


def dropout(x, p: float = 0.5, training: bool = True, generator=None):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (identity when not training)."""
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"dropout: p must be in [0, 1], got {p}")
    x = as_t(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:  # every element dropped (as in PyTorch): zeros, and a zero gradient
        return x * 0.0
    if generator is None:
        from ..creation import default_generator

        generator = default_generator()
    return Dropout(p, generator)(x)


def batch_norm(
    x,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """Batch normalisation over axis 1 (PyTorch's semantics).

    In training the batch statistics normalise the input and update the
    running estimates in place (the variance with Bessel's correction); in
    evaluation the running estimates are used.
    """
    x = as_t(x)
    if x.ndim not in (2, 3):
        raise ShapeError(f"batch_norm: expected input of shape (N, C) or (N, C, L), got {x.shape}")
    c = x.shape[1]
    dt = x.dtype
    w = as_t(weight) if weight is not None else _wrap(np.ones(c, dt))
    b = as_t(bias) if bias is not None else _wrap(np.zeros(c, dt))
    if w.shape != (c,) or b.shape != (c,):
        raise ShapeError(f"batch_norm: weight and bias must have shape ({c},), got {w.shape} and {b.shape}")
    if training:
        axes = (0,) if x.ndim == 2 else (0, 2)
        n = x.size // c
        if n < 2:
            raise ArgumentError(f"batch_norm: need more than one value per channel in training, got input {x.shape}")
        y = BatchNorm(eps)(x, w, b)
        if running_mean is not None:
            m = x.data.mean(axis=axes)
            v = x.data.var(axis=axes) * (n / (n - 1))
            rm = running_mean.data if isinstance(running_mean, Tensor) else running_mean
            rv = running_var.data if isinstance(running_var, Tensor) else running_var
            rm *= 1 - momentum
            rm += momentum * m
            rv *= 1 - momentum
            rv += momentum * v
        return y
    shape = (1, c) if x.ndim == 2 else (1, c, 1)
    rm = running_mean.data if isinstance(running_mean, Tensor) else np.asarray(running_mean)
    rv = running_var.data if isinstance(running_var, Tensor) else np.asarray(running_var)
    scale = (w.data / np.sqrt(rv + eps)).astype(dt)
    shift = (b.data - rm * scale).astype(dt)
    if w.requires_grad or b.requires_grad:
        inv = _wrap((1 / np.sqrt(rv + eps)).astype(dt).reshape(shape))
        return (x - _wrap(rm.astype(dt).reshape(shape))) * inv * w.reshape(shape) + b.reshape(shape)
    return x * _wrap(scale.reshape(shape)) + _wrap(shift.reshape(shape))
