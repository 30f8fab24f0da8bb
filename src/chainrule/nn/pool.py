"""Pooling, resampling, pixel-shuffle and channel-dropout layers (PyTorch's arguments and defaults)."""

from __future__ import annotations

from ..creation import default_generator
from ..errors import ArgumentError
from ..ops import normalization as _norm
from ..ops import pool as _pool
from .module import Module

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "Upsample",
    "PixelShuffle",
    "PixelUnshuffle",
    "Dropout1d",
    "Dropout2d",
]


class _MaxPool(Module):
    fn = None

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, x):
        return type(self).fn(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_MaxPool):
    """The maximum over each window of (N, C, H, W) maps (see ``chainrule.nn.functional.max_pool2d``)."""

    fn = staticmethod(_pool.max_pool2d)


class MaxPool1d(_MaxPool):
    """The maximum over each window of (N, C, L) maps (see ``chainrule.nn.functional.max_pool1d``)."""

    fn = staticmethod(_pool.max_pool1d)


class AvgPool2d(Module):
    """The mean over each window of (N, C, H, W) maps (see ``chainrule.nn.functional.avg_pool2d``)."""

    def __init__(
        self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return _pool.avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(Module):
    """The mean over each window of (N, C, L) maps (see ``chainrule.nn.functional.avg_pool1d``)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return _pool.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _Adaptive(Module):
    fn = None

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, x):
        if self.return_indices:
            return type(self).fn(x, self.output_size, True)
        return type(self).fn(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_Adaptive):
    """The mean over PyTorch's adaptive windows, to an output of ``output_size``."""

    fn = staticmethod(_pool.adaptive_avg_pool2d)

    def __init__(self, output_size):
        super().__init__(output_size)


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    fn = staticmethod(_pool.adaptive_avg_pool1d)


class AdaptiveMaxPool2d(_Adaptive):
    """The maximum over PyTorch's adaptive windows, to an output of ``output_size``."""

    fn = staticmethod(_pool.adaptive_max_pool2d)


class AdaptiveMaxPool1d(_Adaptive):
    fn = staticmethod(_pool.adaptive_max_pool1d)


class Upsample(Module):
    """Resample (N, C, L) or (N, C, H, W) maps to ``size`` or by ``scale_factor`` (see
    ``chainrule.nn.functional.interpolate``)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        self.size = size
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x):
        return _pool.interpolate(
            x, self.size, self.scale_factor, self.mode, self.align_corners, self.recompute_scale_factor
        )

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class PixelShuffle(Module):
    """(N, C*r*r, H, W) -> (N, C, H*r, W*r)."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return _pool.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(N, C, H*r, W*r) -> (N, C*r*r, H, W)."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return _pool.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class _FeatureDropout(Module):
    fn = None

    def __init__(self, p: float = 0.5, inplace: bool = False, generator=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ArgumentError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p
        self.generator = generator

    def forward(self, x):
        gen = self.generator if self.generator is not None else default_generator()
        return type(self).fn(x, self.p, self.training, generator=gen)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout2d(_FeatureDropout):
    """In training, zero whole channels of (N, C, H, W) maps with probability p, scaling the rest by 1/(1-p)."""

    fn = staticmethod(_norm.dropout2d)


class Dropout1d(_FeatureDropout):
    """In training, zero whole channels of (N, C, L) maps with probability p, scaling the rest by 1/(1-p)."""

    fn = staticmethod(_norm.dropout1d)
