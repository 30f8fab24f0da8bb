"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Unfold, Fold.

PyTorch's arguments, parameter names, layouts and default initialisation, so a PyTorch state_dict of the
same layer loads: ``weight`` is (out_channels, in_channels/groups, *kernel_size) for a convolution and
(in_channels, out_channels/groups, *kernel_size) for a transposed one, ``bias`` (out_channels,); both
are drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5)), fan_in being
weight.shape[1] * prod(kernel_size).
"""

from __future__ import annotations

import math

import numpy as np

from .. import checks, ops
from ..errors import ArgumentError
from . import init
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "Unfold", "Fold"]

_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(v, nd: int, name: str, layer: str) -> tuple:
    """``v`` (an int, or a tuple of ``nd`` ints) as ``nd`` ints, each >= 1 (kernel, stride, dilation) or
    >= 0 (padding, output_padding)."""
    low = 0 if "padding" in name else 1
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (checks.integer(layer, name, v, low),) * nd
    try:
        t = tuple(v)
    except TypeError:
        t = ()
    if len(t) != nd:
        raise ArgumentError(f"{layer}: {name} must be an int or a tuple of {nd} ints, got {v!r}")
    return tuple(checks.integer(layer, f"{name}[{k}]", a, low) for k, a in enumerate(t))


class _ConvNd(Module):
    """What convolutions and transposed convolutions share: arguments, parameters, initialisation."""

    _nd = 2
    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        output_padding=0,
        dtype=np.float32,
        generator=None,
    ):
        super().__init__()
        layer, nd = type(self).__name__, self._nd
        groups = checks.integer(layer, "groups", groups, 1)
        in_channels = checks.integer(layer, "in_channels", in_channels, 1)
        out_channels = checks.integer(layer, "out_channels", out_channels, 1)
        if in_channels % groups:
            raise ArgumentError(f"{layer}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ArgumentError(f"{layer}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in _MODES:
            raise ArgumentError(f"{layer}: padding_mode must be one of {_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, int(groups)
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size", layer)
        self.stride = _tuple(stride, nd, "stride", layer)
        self.dilation = _tuple(dilation, nd, "dilation", layer)
        self.output_padding = _tuple(output_padding, nd, "output_padding", layer)
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ArgumentError(f"{layer}: invalid padding string {padding!r}, should be one of ('valid', 'same')")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ArgumentError(f"{layer}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _tuple(padding, nd, "padding", layer)
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(checks.empty(layer, shape, dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if bias:
            fan_in = shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            self.bias = Parameter(np.empty(out_channels, dtype))
            init.uniform_(self.bias, -bound, bound, generator=generator)
        else:
            self.register_parameter("bias", None)

    def _pad_widths(self) -> tuple:
        """F.pad's flat tuple (last dimension first) for a padding_mode other than 'zeros'."""
        if self.padding == "valid":
            return (0, 0) * self._nd
        widths = []
        for i in reversed(range(self._nd)):
            if self.padding == "same":
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                widths += [total // 2, total - total // 2]
            else:
                widths += [self.padding[i]] * 2
        return tuple(widths)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    _fn = staticmethod(ops.conv2d)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype=np.float32,
        generator=None,
    ):
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, 0, dtype,
            generator,
        )  # fmt: skip

    def forward(self, x):
        if self.padding_mode == "zeros":
            return self._fn(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        x = ops.pad(x, self._pad_widths(), mode=self.padding_mode)
        return self._fn(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class Conv1d(_Conv):
    """A 1-D convolution over (N, C_in, L) (or (C_in, L)) input, PyTorch's ``nn.Conv1d``: ``weight``
    (out_channels, in_channels/groups, k), ``bias`` (out_channels,). ``padding``: an int, 'same' or
    'valid'; ``padding_mode``: 'zeros', 'reflect', 'replicate' or 'circular'."""

    _nd = 1
    _fn = staticmethod(ops.conv1d)


class Conv2d(_Conv):
    """A 2-D convolution over (N, C_in, H, W) (or (C_in, H, W)) input, PyTorch's ``nn.Conv2d``: ``weight``
    (out_channels, in_channels/groups, kh, kw), ``bias`` (out_channels,). ``stride``, ``padding``,
    ``dilation``: an int or a pair; ``padding`` also 'same' or 'valid'; ``padding_mode``: 'zeros',
    'reflect', 'replicate' or 'circular'. One graph node, computed as im2col and one matrix product."""

    _nd = 2
    _fn = staticmethod(ops.conv2d)


class _ConvTranspose(_ConvNd):
    _transposed = True
    _fn = staticmethod(ops.conv_transpose2d)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        dtype=np.float32,
        generator=None,
    ):
        if padding_mode != "zeros":
            raise ArgumentError(f'{type(self).__name__}: only "zeros" padding mode is supported, got {padding_mode!r}')
        if isinstance(padding, str):
            raise ArgumentError(f"{type(self).__name__}: padding must be an int or a tuple, got {padding!r}")
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
            output_padding, dtype, generator,
        )  # fmt: skip

    def _output_padding(self, x, output_size):
        if output_size is None:
            return self.output_padding
        nd, layer = self._nd, type(self).__name__
        size = tuple(int(s) for s in output_size)
        if len(size) in (nd + 1, nd + 2):
            size = size[-nd:]
        if len(size) != nd:
            raise ArgumentError(f"{layer}: output_size must have {nd} or {nd + 2} elements, got {output_size!r}")
        spatial = x.shape[-nd:]
        lo = tuple(
            (i - 1) * s - 2 * p + d * (k - 1) + 1
            for i, s, p, d, k in zip(spatial, self.stride, self.padding, self.dilation, self.kernel_size)
        )
        hi = tuple(a + s - 1 for a, s in zip(lo, self.stride))
        if any(not a <= o <= b for a, o, b in zip(lo, size, hi)):
            raise ArgumentError(
                f"{layer}: requested an output size of {size}, but valid sizes range from {lo} to {hi} (for an "
                f"input of {tuple(spatial)})"
            )
        return tuple(o - a for o, a in zip(size, lo))

    def forward(self, x, output_size=None):
        x = ops.as_t(x)
        opad = self._output_padding(x, output_size)
        return self._fn(x, self.weight, self.bias, self.stride, self.padding, opad, self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """A 1-D transposed convolution, PyTorch's ``nn.ConvTranspose1d`` (the adjoint of Conv1d): ``weight``
    (in_channels, out_channels/groups, k); output length (L-1)*stride - 2*padding + dilation*(k-1) +
    output_padding + 1 (``forward(x, output_size)`` picks output_padding for a wanted size)."""

    _nd = 1
    _fn = staticmethod(ops.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """A 2-D transposed convolution, PyTorch's ``nn.ConvTranspose2d`` (the adjoint of Conv2d, used to
    upsample): ``weight`` (in_channels, out_channels/groups, kh, kw); ``forward(x, output_size)`` picks
    output_padding for a wanted size."""

    _nd = 2
    _fn = staticmethod(ops.conv_transpose2d)


class Unfold(Module):
    """im2col as a layer, PyTorch's ``nn.Unfold``: (N, C, H, W) -> (N, C*kh*kw, L), one column per patch
    position (see ``chainrule.nn.functional.unfold``)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, x):
        return ops.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, stride={self.stride}"


class Fold(Module):
    """col2im as a layer, PyTorch's ``nn.Fold``: (N, C*kh*kw, L) -> (N, C, *output_size), overlapping
    entries summed (see ``chainrule.nn.functional.fold``)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, x):
        return ops.fold(x, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )
