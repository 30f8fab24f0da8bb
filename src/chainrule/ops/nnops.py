"""Operations with training-time behaviour: dropout and batch normalisation."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..function import Function
from ..tensor import Tensor
from ..tensor import wrap as _wrap
from .operands import as_t


class DropoutOp(Function):
    """y = x * mask / (1 - p), mask ~ Bernoulli(1 - p) (inverted dropout; named apart from nn.Dropout)."""

    elementwise = True
    formula = "y = x * mask / (1 - p)"
    derivative = "dy/dx = mask / (1 - p)"

    def __init__(self, p, generator):
        self.p = p
        self.rng = generator

    def forward(self, x):
        if self.rng is None:  # a replay (see fresh): the recorded mask again
            return x * self.mask.astype(x.dtype, copy=False)
        keep = self.rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64) >= self.p
        scale = np.asarray(1.0 / (1.0 - self.p), x.dtype)
        self.mask = keep * scale
        return x * self.mask

    def fresh(self):
        """An unused node that applies this node's mask again (to re-run it, e.g. for a gradient check)."""
        f = DropoutOp(self.p, None)
        f.mask = self.mask
        return f

    def vjp(self, xp, g):
        return g * self.mask


def _layout(x):
    """Statistics axes and the broadcast shape of per-channel values for (N, C) or (N, C, L) inputs."""
    return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2), (1, -1, 1))


class BatchNormOp(Function):
    """Normalise each feature over the batch, then scale and shift (named apart from nn.BatchNorm1d).

    Inputs (x, gamma, beta) with x of shape (N, C) or (N, C, L); statistics
    over every axis but 1. Training mode only (eval mode uses fixed running
    statistics and is an ordinary affine map).
    """

    formula = "y = gamma * (x - mean) / sqrt(var + eps) + beta"
    derivative = (
        "dL/dx = gamma * inv_std * (g - mean(g) - xhat * mean(g * xhat)); dL/dgamma = sum(g * xhat); dL/dbeta = sum(g)"
    )

    def __init__(self, eps):
        self.eps = eps

    def normalize(self, xp, x):
        """(xhat, inv_std): x standardised per channel over the batch, and 1 / sqrt(var + eps)."""
        axes, _ = _layout(x)
        xc = x - xp.mean(x, axis=axes, keepdims=True)
        inv_std = (xp.mean(xc * xc, axis=axes, keepdims=True) + xp.const(self.eps, xc)) ** -0.5
        return xc * inv_std, inv_std

    def forward(self, x, gamma, beta):
        self.save_for_backward(x, gamma)  # never the bias: a changed bias leaves the gradients right
        from ..namespace import numpy_ns

        self.xhat, self.inv_std = self.normalize(numpy_ns, x)
        shape = _layout(x)[1]
        return self.xhat * gamma.reshape(shape) + beta.reshape(shape)

    def vjp(self, xp, g):
        from ..namespace import numpy_ns

        x, gamma = self.saved(xp)
        # the statistics are functions of x: recomputed (and so differentiated) under create_graph
        xhat, inv_std = (self.xhat, self.inv_std) if xp is numpy_ns else self.normalize(xp, x)
        axes, shape = _layout(x)
        ng = self.needs_input_grad
        gsum = xp.sum(g, axis=axes)
        gxhat_sum = xp.sum(g * xhat, axis=axes)
        gx = None
        if ng[0]:
            n = xp.data(x).size // xp.data(gamma).size
            mg = xp.reshape(gsum, shape) * xp.const(1 / n, g)
            mgx = xp.reshape(gxhat_sum, shape) * xp.const(1 / n, g)
            gx = (xp.reshape(gamma, shape) * inv_std) * (g - mg - xhat * mgx)
        return gx, (gxhat_sum if ng[1] else None), (gsum if ng[2] else None)


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
    return DropoutOp(p, generator)(x)


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
        n = x.data.size // c
        if n < 2:
            raise ArgumentError(f"batch_norm: need more than one value per channel in training, got input {x.shape}")
        y = BatchNormOp(eps)(x, w, b)
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
