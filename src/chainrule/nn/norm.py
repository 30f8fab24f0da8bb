"""Normalisation layers over channels: BatchNorm1d, BatchNorm2d and GroupNorm (PyTorch's arguments, parameter
and buffer names, so that a PyTorch state_dict of the same layer loads)."""

from __future__ import annotations

import numpy as np

from .. import checks, ops
from ..errors import ArgumentError, ShapeError
from ..ops.normalization import group_norm
from ..tensor import from_numpy
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm"]


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
