"""Group normalisation and channel-wise (feature) dropout of (N, C, *) maps, as PyTorch defines them."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..function import Function
from .operands import as_t, float_input


class GroupNormOp(Function):
    """Normalise each sample over each group of C/G channels (and all their positions), then scale and shift
    per channel (named apart from nn.GroupNorm). Inputs (x, [weight], [bias])."""

    formula = "y = weight[c] * (x - mean_group) / sqrt(var_group + eps) + bias[c]"
    derivative = (
        "dL/dx = inv_std * (gw - mean(gw) - xhat * mean(gw * xhat)) over each group, gw = g * weight[c]; "
        "dL/dweight = sum of g * xhat over samples and positions; dL/dbias = sum of g"
    )

    def __init__(self, groups: int, eps: float, has_weight: bool, has_bias: bool):
        self.groups = groups
        self.eps = eps
        self.has_weight = has_weight
        self.has_bias = has_bias

    def normalize(self, xp, x):
        """(xhat, inv_std), xhat of shape (N, G, C/G * positions)."""
        n = x.shape[0]
        xr = xp.reshape(x, (n, self.groups, -1))
        xc = xr - xp.mean(xr, 2, True)
        inv_std = (xp.mean(xc * xc, 2, True) + xp.const(self.eps, xc)) ** -0.5
        return xc * inv_std, inv_std

    def forward(self, x, *affine):
        from ..namespace import numpy_ns

        w = affine[0] if self.has_weight else None
        self.save_for_backward(x, w)
        self.xhat, self.inv_std = self.normalize(numpy_ns, x)
        cshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        y = self.xhat.reshape(x.shape)
        y = y * w.reshape(cshape) if w is not None else y.copy()
        if self.has_bias:
            y += affine[-1].reshape(cshape).astype(y.dtype, copy=False)
        return y

    def vjp(self, xp, g):
        from ..namespace import numpy_ns

        x, w = self.saved(xp)
        xhat, inv_std = (self.xhat, self.inv_std) if xp is numpy_ns else self.normalize(xp, x)
        needs = self.needs_input_grad
        shape = x.shape
        n, c = shape[0], shape[1]
        cshape = (1, c) + (1,) * (len(shape) - 2)
        red = (0,) + tuple(range(2, len(shape)))
        out = [None]
        if needs[0]:
            gw = g * xp.reshape(w, cshape) if w is not None else g
            gw = xp.reshape(gw, (n, self.groups, -1))
            gx = inv_std * (gw - xp.mean(gw, 2, True) - xhat * xp.mean(gw * xhat, 2, True))
            out[0] = xp.reshape(gx, shape)
        if self.has_weight:
            out.append(xp.sum(g * xp.reshape(xhat, shape), red) if needs[1] else None)
        if self.has_bias:
            out.append(xp.sum(g, red) if needs[-1] else None)
        return tuple(out)


def group_norm(x, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Group normalisation of an (N, C, *) input (PyTorch's ``group_norm``): the C channels are split into
    ``num_groups`` groups, each sample's group standardised over its channels and positions, then each
    channel scaled by ``weight`` (C,) and shifted by ``bias`` (C,)."""
    x = float_input("group_norm", x)
    if x.ndim < 2:
        raise ShapeError(f"group_norm: expected an input of shape (N, C, *), got {x.shape}")
    c = x.shape[1]
    if num_groups < 1 or c % num_groups:
        raise ArgumentError(
            f"group_norm: the number of channels {c} of input {x.shape} must be divisible by num_groups={num_groups}"
        )
    inputs = [x]
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            t = as_t(t)
            if tuple(t.shape) != (c,):
                raise ShapeError(f"group_norm: {name} must have shape ({c},) for input {x.shape}, got {t.shape}")
            inputs.append(t)
    return GroupNormOp(int(num_groups), eps, weight is not None, bias is not None)(*inputs)


class FeatureDropoutOp(Function):
    """y = x * mask / (1 - p) with one Bernoulli(1 - p) draw per sample and channel (dropout1d/2d)."""

    formula = "y[n,c,...] = x[n,c,...] * mask[n,c] / (1 - p)"
    derivative = "dy/dx = mask[n,c] / (1 - p)"

    def __init__(self, p, generator, lead: int):
        self.p = p
        self.rng = generator
        self.lead = lead  # how many leading axes the mask has (2 for (N, C, ...), 1 unbatched)

    def forward(self, x):
        shape = x.shape[: self.lead] + (1,) * (x.ndim - self.lead)
        keep = self.rng.random(shape, dtype=np.float32 if x.dtype == np.float32 else np.float64) >= self.p
        self.mask = keep * np.asarray(1.0 / (1.0 - self.p), x.dtype)
        return x * self.mask

    def vjp(self, xp, g):
        return g * xp.const(self.mask, g)


def _feature_dropout(op, nd, x, p, training, generator):
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"{op}: p must be in [0, 1], got {p}")
    x = float_input("group_norm", x)
    if x.ndim not in (nd + 1, nd + 2):
        want = "(N, C, L) or (C, L)" if nd == 1 else "(N, C, H, W) or (C, H, W)"
        raise ShapeError(f"{op}: expected a {nd + 1}-D or {nd + 2}-D input {want}, got shape {x.shape}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    if generator is None:
        from ..creation import default_generator

        generator = default_generator()
    return FeatureDropoutOp(p, generator, 2 if x.ndim == nd + 2 else 1)(x)


def dropout2d(x, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None):
    """Zero whole channels of an (N, C, H, W) or (C, H, W) input with probability ``p`` and scale the rest by
    1/(1-p) (PyTorch's ``dropout2d``; identity when not training)."""
    return _feature_dropout("dropout2d", 2, x, p, training, generator)


def dropout1d(x, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None):
    """Zero whole channels of an (N, C, L) or (C, L) input with probability ``p`` (PyTorch's ``dropout1d``)."""
    return _feature_dropout("dropout1d", 1, x, p, training, generator)
