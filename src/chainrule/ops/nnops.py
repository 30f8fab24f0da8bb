"""Operations of network layers: dropout, batch and layer normalisation, embedding lookup."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, DTypeError, IndexOutOfRangeError, ShapeError, UnsupportedError
from ..function import Function
from ..tensor import Tensor
from ..tensor import wrap as _wrap
from .operands import as_t, float_input


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
    """Statistics axes and the broadcast shape of per-channel values for (N, C), (N, C, L) or (N, C, H, W)."""
    return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2), (1, -1, 1)) if x.ndim == 3 else ((0, 2, 3), (1, -1, 1, 1))


class BatchNormOp(Function):
    """Normalise each feature over the batch, then scale and shift (named apart from nn.BatchNorm1d).

    Inputs (x, gamma, beta) with x of shape (N, C), (N, C, L) or (N, C, H, W); statistics
    over every axis but 1. Training mode only (eval mode uses fixed running
    statistics and is an ordinary affine map).
    """

    formula = "y = gamma * (x - mean) / sqrt(var + eps) + beta"
    derivative = (
        "dL/dx = gamma * inv_std * (g - mean(g) - xhat * mean(g * xhat)); dL/dgamma = sum(g * xhat); dL/dbeta = sum(g)"
    )

    def __init__(self, eps):
        self.eps = eps

    def center(self, xp, x):
        """(xc, inv_std): x minus its per-channel batch mean, and 1 / sqrt(biased var + eps), per channel."""
        axes, _ = _layout(x)
        xc = x - xp.mean(x, axis=axes, keepdims=True)
        inv_std = (xp.mean(xc * xc, axis=axes, keepdims=True) + xp.const(self.eps, xc)) ** -0.5
        return xc, inv_std

    def forward(self, x, gamma, beta):
        from ..namespace import numpy_ns

        self.save_for_backward(x, gamma)  # never the bias: a changed bias leaves the gradients right
        axes, shape = _layout(x)
        n = x.size // x.shape[1]
        self.mean = x.mean(axis=axes)
        xc = x - self.mean.reshape(shape)
        self.var = _channel_dot(numpy_ns, xc, xc) / np.asarray(n, x.dtype)  # biased
        self.xc = xc
        self.inv_std = ((self.var + np.asarray(self.eps, x.dtype)) ** -0.5).reshape(shape)
        y = xc * (gamma.reshape(shape) * self.inv_std)
        y += beta.reshape(shape).astype(y.dtype, copy=False)
        return y

    def vjp(self, xp, g):
        from ..namespace import numpy_ns

        x, gamma = self.saved(xp)
        # the statistics are functions of x: recomputed (and so differentiated) under create_graph
        xc, inv_std = (self.xc, self.inv_std) if xp is numpy_ns else self.center(xp, x)
        axes, shape = _layout(x)
        ng = self.needs_input_grad
        gsum = xp.sum(g, axis=axes)
        gxc_sum = _channel_dot(xp, g, xc)
        gx = None
        if ng[0]:
            n = xp.data(x).size // xp.data(gamma).size
            scale = xp.reshape(gamma, shape) * inv_std
            # gamma * inv_std * (g - mean(g) - xhat * mean(g * xhat)), with xhat = xc * inv_std
            mg = xp.reshape(gsum, shape) * xp.const(1 / n, g)
            coef = inv_std * inv_std * xp.reshape(gxc_sum, shape) * xp.const(1 / n, g)
            if xp is numpy_ns:  # the same formula with one temporary, in place (a third faster on big maps)
                gx = xc * coef
                gx += mg
                np.subtract(g, gx, out=gx)
                gx *= scale
            else:
                gx = (g - mg - xc * coef) * scale
        gw = xp.reshape(xp.reshape(gxc_sum, shape) * inv_std, (-1,)) if ng[1] else None
        return gx, gw, (gsum if ng[2] else None)


def _channel_dot(xp, a, b):
    """sum(a * b) per channel (axis 1), as a batch of dot products (BLAS, no full-size temporary)."""
    n, c = a.shape[0], a.shape[1]
    if a.ndim == 2:
        return xp.sum(a * b, axis=0)
    d = xp.matmul(xp.reshape(a, (n, c, 1, -1)), xp.reshape(b, (n, c, -1, 1)))
    return xp.reshape(xp.sum(d, axis=0), (c,))


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
    x = float_input("batch_norm", x)
    if x.ndim not in (2, 3, 4):
        raise ShapeError(f"batch_norm: expected input of shape (N, C), (N, C, L) or (N, C, H, W), got {x.shape}")
    c = x.shape[1]
    dt = x.dtype
    w = as_t(weight) if weight is not None else _wrap(np.ones(c, dt))
    b = as_t(bias) if bias is not None else _wrap(np.zeros(c, dt))
    if w.shape != (c,) or b.shape != (c,):
        raise ShapeError(f"batch_norm: weight and bias must have shape ({c},), got {w.shape} and {b.shape}")
    if training:
        n = x.data.size // c
        if n < 2:
            raise ArgumentError(f"batch_norm: need more than one value per channel in training, got input {x.shape}")
        op = BatchNormOp(eps)
        y = op(x, w, b)
        if running_mean is not None:
            m = op.mean
            v = op.var * (n / (n - 1))
            rm = running_mean.data if isinstance(running_mean, Tensor) else running_mean
            rv = running_var.data if isinstance(running_var, Tensor) else running_var
            rm *= 1 - momentum
            rm += momentum * m
            rv *= 1 - momentum
            rv += momentum * v
        return y
    shape = (1, c) + (1,) * (x.ndim - 2)
    rm = running_mean.data if isinstance(running_mean, Tensor) else np.asarray(running_mean)
    rv = running_var.data if isinstance(running_var, Tensor) else np.asarray(running_var)
    scale = (w.data / np.sqrt(rv + eps)).astype(dt)
    shift = (b.data - rm * scale).astype(dt)
    if w.requires_grad or b.requires_grad:
        inv = _wrap((1 / np.sqrt(rv + eps)).astype(dt).reshape(shape))
        return (x - _wrap(rm.astype(dt).reshape(shape))) * inv * w.reshape(shape) + b.reshape(shape)
    return x * _wrap(scale.reshape(shape)) + _wrap(shift.reshape(shape))


# ----------------------------------------------------------------------------- layer norm, embedding
class LayerNormOp(Function):
    """Normalise each sample over its last ``k`` axes, then scale and shift elementwise (named apart from
    nn.LayerNorm).

    Inputs (x, [weight], [bias]): weight and bias, when given, have the normalised shape
    (x.shape[-k:]). The statistics are the mean and the biased variance over those axes.
    """

    formula = "y = weight * (x - mean) / sqrt(var + eps) + bias  (statistics over the last axes of each sample)"
    derivative = (
        "dL/dx = inv_std * (gw - mean(gw) - xhat * mean(gw * xhat)) with gw = g * weight; "
        "dL/dweight = sum over samples of g * xhat; dL/dbias = sum over samples of g"
    )

    def __init__(self, k: int, eps: float, has_weight: bool, has_bias: bool):
        self.k = k
        self.eps = eps
        self.has_weight = has_weight
        self.has_bias = has_bias

    def normalize(self, xp, x):
        """(xhat, inv_std): x standardised over its last k axes, and 1 / sqrt(var + eps)."""
        axes = tuple(range(x.ndim - self.k, x.ndim))
        xc = x - xp.mean(x, axes, True)
        inv_std = (xp.mean(xc * xc, axes, True) + xp.const(self.eps, xc)) ** -0.5
        return xc * inv_std, inv_std

    def forward(self, x, *affine):
        w = affine[0] if self.has_weight else None
        self.save_for_backward(x, w)  # never the bias: a changed bias leaves the gradients right
        from ..namespace import numpy_ns

        self.xhat, self.inv_std = self.normalize(numpy_ns, x)
        y = self.xhat * w if w is not None else self.xhat.copy()  # never xhat itself: backward reads it
        if self.has_bias:
            b = affine[-1]
            if b.dtype == y.dtype:
                y += b
            else:
                y = y + b
        return y

    def vjp(self, xp, g):
        from ..namespace import numpy_ns

        x, w = self.saved(xp)
        # the statistics are functions of x: recomputed (and so differentiated) under create_graph
        xhat, inv_std = (self.xhat, self.inv_std) if xp is numpy_ns else self.normalize(xp, x)
        needs = self.needs_input_grad
        axes = tuple(range(x.ndim - self.k, x.ndim))
        lead = tuple(range(x.ndim - self.k))
        gx = None
        if needs[0]:
            gw = g * w if w is not None else g
            gx = inv_std * (gw - xp.mean(gw, axes, True) - xhat * xp.mean(gw * xhat, axes, True))
        out = [gx]
        if self.has_weight:
            out.append((xp.sum(g * xhat, lead) if lead else g * xhat) if needs[1] else None)
        if self.has_bias:
            out.append((xp.sum(g, lead) if lead else g) if needs[-1] else None)
        return tuple(out)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Layer normalisation over the last ``len(normalized_shape)`` axes (PyTorch's ``layer_norm``)."""
    x = float_input("layer_norm", x)
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
        raise ShapeError(
            f"layer_norm: normalized_shape {list(shape)} must be the last dimensions of the input, got input of "
            f"shape {x.shape}"
        )
    inputs = [x]
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            t = as_t(t)
            if tuple(t.shape) != shape:
                raise ShapeError(f"layer_norm: {name} must have the normalized shape {shape}, got {t.shape}")
            inputs.append(t)
    return LayerNormOp(k, eps, weight is not None, bias is not None)(*inputs)


class EmbeddingOp(Function):
    """y = weight[indices]: a row of the table per index (named apart from nn.Embedding).

    The gradient of a row is the sum of the gradients at every position holding its index (repeated
    indices accumulate); the row ``padding_idx`` gets none; with ``scale_grad_by_freq`` each position's
    gradient is divided by how often its index occurs in ``indices``.
    """

    formula = "y = weight[indices]"
    derivative = "dL/dweight[i] = sum of g over the positions where indices == i (none for padding_idx)"

    def __init__(self, indices: np.ndarray, padding_idx, scale_grad_by_freq: bool):
        self.indices = indices
        self.padding_idx = padding_idx
        self.scale_grad_by_freq = scale_grad_by_freq

    def forward(self, w):
        self.table_shape = w.shape
        return w[self.indices]

    def vjp(self, xp, g):
        idx = self.indices.reshape(-1)
        n, d = self.table_shape
        g = xp.reshape(g, (-1, d))
        if self.padding_idx is not None or self.scale_grad_by_freq:
            factor = np.ones(idx.shape, np.float64)
            if self.scale_grad_by_freq:
                factor /= np.bincount(idx, minlength=n)[idx]
            if self.padding_idx is not None:
                factor[idx == self.padding_idx] = 0.0
            g = g * xp.const(factor[:, None], g)
        return xp.take_adjoint(g, idx, (n, d), False)


def embedding(
    indices,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
):
    """Look rows of ``weight`` (num_embeddings, embedding_dim) up by integer ``indices`` (PyTorch's
    ``embedding``): the result has shape ``indices.shape + (embedding_dim,)``.

    ``padding_idx``: that row receives no gradient. ``max_norm``: first, every row that ``indices``
    refers to whose ``norm_type``-norm exceeds ``max_norm`` is rescaled in place to that norm (as
    PyTorch does; the weight's version counter counts the change). ``sparse`` gradients are not
    supported.
    """
    if sparse:
        raise UnsupportedError(
            "embedding: sparse=True is not supported; chainrule's gradients are dense arrays (the weight's "
            "gradient has the table's shape). Leave sparse out"
        )
    w = as_t(weight)
    if w.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {w.shape}")
    idx = np.array(indices.data if isinstance(indices, Tensor) else indices)  # a copy: later changes do not matter
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"embedding: indices must be integers (int64 or int32), got {idx.dtype}")
    n = w.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexOutOfRangeError(f"embedding: index {int(bad)} is out of range for a table of {n} rows")
    idx = idx.astype(np.intp, copy=False)
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ArgumentError(f"embedding: padding_idx {padding_idx} is out of range for a table of {n} rows")
        padding_idx = int(padding_idx) % n
    if max_norm is not None:
        _renorm_rows(w, idx, max_norm, norm_type)
    return EmbeddingOp(idx, padding_idx, scale_grad_by_freq)(w)


def _renorm_rows(w: Tensor, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """PyTorch's embedding_renorm_: rows of ``w`` at ``idx`` whose norm exceeds ``max_norm`` are scaled
    in place by max_norm / (norm + 1e-7); an in-place change of the weight (its version counts it)."""
    from ..autograd import mark_modified

    rows = np.unique(idx)
    if rows.size == 0:
        return
    table = w.data
    norms = np.linalg.norm(table[rows].astype(np.float64), ord=norm_type, axis=1)
    over = norms > max_norm
    if not over.any():
        return
    rows = rows[over]
    scale = (max_norm / (norms[over] + 1e-7)).astype(table.dtype)
    table[rows] = table[rows] * scale[:, None]
    mark_modified([w])
