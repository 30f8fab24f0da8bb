"""Normalisation layers over channels: BatchNorm1d, BatchNorm2d and GroupNorm (PyTorch's arguments, parameter
and buffer names, so that a PyTorch state_dict of the same layer loads)."""

from __future__ import annotations

import numpy as np

from .. import checks, ops
from ..errors import ArgumentError, ShapeError
from ..function import Function
from ..ops.normalization import group_norm
from ..tensor import from_numpy
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "SyncBatchNorm"]


class _BatchNorm(Module):
    """Batch normalisation over every axis but 1 (the channels).

    Training mode normalises with the batch statistics and updates ``running_mean`` / ``running_var``
    (the variance with Bessel's correction) by ``momentum``, or by the cumulative average of all batches
    seen when ``momentum`` is None (``num_batches_tracked`` counts them); evaluation mode uses the running
    statistics. ``affine=False`` leaves out ``weight`` and ``bias``; ``track_running_stats=False`` keeps no
    running statistics and normalises with the batch statistics in both modes.
    """

    _ndims: tuple = ()
    _layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype=np.float32,
    ):
        super().__init__()
        name = type(self).__name__
        if momentum is not None and not (isinstance(momentum, (int, float)) and 0.0 <= momentum <= 1.0):
            raise ArgumentError(f"{name}: momentum must be a number in [0, 1] or None, got {momentum!r}")
        num_features = checks.integer(name, "num_features", num_features, 1)
        checks.real(name, "eps", eps, 0.0, low_open=True)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype))
            self.bias = Parameter(np.zeros(num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", from_numpy(np.zeros(num_features, dtype)))
            self.register_buffer("running_var", from_numpy(np.ones(num_features, dtype)))
            self.register_buffer("num_batches_tracked", from_numpy(np.array(0, np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x):
        c = self.num_features
        if x.ndim not in self._ndims or x.shape[1] != c:
            want = self._layout.format(c=c)
            raise ShapeError(f"{type(self).__name__}({c}): expected input of shape {want}, got {x.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:  # the cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch = self.training or self.running_mean is None
        keep = not self.training or self.track_running_stats
        return ops.batch_norm(
            x,
            self.running_mean if keep else None,
            self.running_var if keep else None,
            self.weight,
            self.bias,
            training=use_batch,
            momentum=factor,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs (see ``_BatchNorm``: PyTorch's BatchNorm1d)."""

    _ndims = (2, 3)
    _layout = "(N, {c}) or (N, {c}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs over N, H and W per channel (PyTorch's BatchNorm2d)."""

    _ndims = (4,)
    _layout = "(N, {c}, H, W)"


class SyncBatchNormOp(Function):
    """Batch normalisation whose statistics are those of the batches of every rank together.

    Forward: one all-reduce (sum) of each channel's count, sum and sum of squares over the ranks gives the
    global mean and biased variance. Backward: one all-reduce of each channel's sum(g) and sum(g * xhat),
    so that d/dx is that of the whole batch: gamma * inv_std * (g - sum(g)/N - xhat * sum(g * xhat)/N).
    The gradients of gamma and beta are this rank's (DistributedDataParallel averages them).
    Differentiable once (its backward is written on arrays).
    """

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, gamma, beta):
        from .. import distributed

        axes, shape = _stat_axes(x)
        c = x.shape[1]
        stats = np.empty(2 * c + 1, np.float64)
        stats[:c] = x.sum(axis=axes)
        stats[c : 2 * c] = (x * x).sum(axis=axes)
        stats[2 * c] = x.size // c
        distributed.all_reduce(stats, "sum")
        n = stats[2 * c]
        mean = stats[:c] / n
        var = np.maximum(stats[c : 2 * c] / n - mean * mean, 0.0)
        self.n, self.mean, self.var = n, mean, var
        self.inv_std = ((var + self.eps) ** -0.5).astype(x.dtype).reshape(shape)
        self.xhat = (x - mean.astype(x.dtype).reshape(shape)) * self.inv_std
        self.gamma = gamma
        return self.xhat * gamma.reshape(shape) + beta.reshape(shape)

    def backward(self, g):
        from .. import distributed

        axes, shape = _stat_axes(g)
        c = g.shape[1]
        xhat = self.xhat
        local = np.empty(2 * c, np.float64)
        local[:c] = g.sum(axis=axes)
        local[c:] = (g * xhat).sum(axis=axes)
        gbeta, ggamma = local[:c].astype(g.dtype), local[c:].astype(g.dtype)  # this rank's
        distributed.all_reduce(local, "sum")
        mg = (local[:c] / self.n).astype(g.dtype).reshape(shape)
        mgx = (local[c:] / self.n).astype(g.dtype).reshape(shape)
        gx = (g - mg - xhat * mgx) * (self.gamma.reshape(shape) * self.inv_std)
        return gx, ggamma, gbeta


def _stat_axes(x):
    """Statistics axes and the broadcast shape of per-channel values for (N, C), (N, C, L) or (N, C, H, W)."""
    return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2), (1, -1, 1)) if x.ndim == 3 else ((0, 2, 3), (1, -1, 1, 1))


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation with statistics over the batches of all ranks together (PyTorch's SyncBatchNorm).

    In training, in a world of more than one (``chainrule.distributed``), the mean and variance are those
    of the union of every rank's batch (an all-reduce of per-channel counts, sums and sums of squares in
    forward, and of the two gradient sums in backward: see :class:`SyncBatchNormOp`), so N ranks with batch
    B normalise as one process with batch N*B. In evaluation, or in a world of one, it is BatchNorm exactly.
    Takes (N, C), (N, C, L) or (N, C, H, W). ``convert_sync_batchnorm(module)`` replaces every
    BatchNorm1d/2d of a model by one (keeping its weights and running statistics), as in PyTorch.
    Every rank must call it the same number of times per step (it communicates).
    """

    _ndims = (2, 3, 4)
    _layout = "(N, {c}), (N, {c}, L) or (N, {c}, H, W)"

    def forward(self, x):
        from .. import distributed

        if not self.training or distributed.world_size() == 1:
            return super().forward(x)
        c = self.num_features
        if x.ndim not in self._ndims or x.shape[1] != c:
            raise ShapeError(f"SyncBatchNorm({c}): expected input of shape {self._layout.format(c=c)}, got {x.shape}")
        dt = x.dtype
        w = self.weight if self.weight is not None else from_numpy(np.ones(c, dt))
        b = self.bias if self.bias is not None else from_numpy(np.zeros(c, dt))
        op = SyncBatchNormOp(self.eps)
        y = op(x, w, b)
        if self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            factor = 1.0 / float(self.num_batches_tracked.data) if self.momentum is None else self.momentum
            n = op.n
            unbiased = op.var * (n / max(n - 1, 1))
            rm, rv = self.running_mean.data, self.running_var.data
            rm *= 1 - factor
            rm += (factor * op.mean).astype(rm.dtype)
            rv *= 1 - factor
            rv += (factor * unbiased).astype(rv.dtype)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """``module`` with every BatchNorm1d/BatchNorm2d inside replaced by a SyncBatchNorm holding the same
        parameters and buffers (the module itself is returned converted when it is one)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            new = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
            if module.affine:
                new.weight, new.bias = module.weight, module.bias
            if module.track_running_stats:
                new.running_mean, new.running_var = module.running_mean, module.running_var
                new.num_batches_tracked = module.num_batches_tracked
            new.train(module.training)
            return new
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child)
            if converted is not child:
                setattr(module, name, converted)
        return module


class GroupNorm(Module):
    """Group normalisation of (N, C, *) inputs: the C channels in ``num_groups`` groups, each sample's group
    standardised over its channels and positions, then a per-channel ``weight`` (ones) and ``bias`` (zeros)
    unless ``affine=False`` (PyTorch's GroupNorm)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, dtype=np.float32):
        super().__init__()
        num_groups = checks.integer("GroupNorm", "num_groups", num_groups, 1)
        num_channels = checks.integer("GroupNorm", "num_channels", num_channels, 1)
        checks.real("GroupNorm", "eps", eps, 0.0, low_open=True)
        if num_channels % num_groups:
            raise ArgumentError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = Parameter(np.ones(num_channels, dtype))
            self.bias = Parameter(np.zeros(num_channels, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
