"""Pooling, adaptive pooling, interpolate and pixel shuffle against PyTorch (float64 values and gradients over
random configurations), gradient checks, layers, and the errors for bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import requires_torch, torch


def _tf():
    return torch.nn.functional


def _compare(fn, tfn, x, n_out=1, rtol=1e-12, atol=1e-12):
    """Values and the gradient of sum(out * v) for a random v, chainrule against PyTorch, in float64."""
    a = cr.tensor(x, requires_grad=True)
    y = fn(a)
    ys = y if isinstance(y, tuple) else (y,)
    t = torch.tensor(x, requires_grad=True)
    ty = tfn(t)
    tys = ty if isinstance(ty, tuple) else (ty,)
    assert len(ys) == len(tys)
    for o, to in zip(ys, tys):
        assert o.shape == tuple(to.shape)
        if to.dtype == torch.int64:
            np.testing.assert_array_equal(o.numpy(), to.numpy())
        else:
            np.testing.assert_allclose(o.numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    v = np.random.default_rng(1).normal(size=tys[0].shape)
    (ys[0] * cr.tensor(v)).sum().backward()
    (tys[0] * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)


def _configs(seed, n, dilation=True):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        p = tuple(int(rng.integers(0, ki // 2 + 1)) for ki in k)
        d = tuple(int(v) for v in rng.integers(1, 3, 2)) if dilation else (1, 1)
        size = tuple(int(v) for v in rng.integers(1, 4, 2) * np.array(d) * np.array(k) + rng.integers(0, 4, 2))
        yield k, s, p, d, size, bool(rng.integers(0, 2)), rng


# ------------------------------------------------------------------------------ max pooling
@requires_torch
@pytest.mark.parametrize("seed", range(40))
def test_max_pool2d_matches_torch_over_random_configurations(seed):
    for k, s, p, d, size, ceil, rng in _configs(seed, 3):
        x = rng.normal(size=(2, 3) + size)
        kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
        _compare(lambda a, kw=kw: F.max_pool2d(a, **kw), lambda t, kw=kw: _tf().max_pool2d(t, **kw), x)
        _compare(
            lambda a, kw=kw: F.max_pool2d(a, return_indices=True, **kw),
            lambda t, kw=kw: _tf().max_pool2d(t, return_indices=True, **kw),
            x,
        )


@requires_torch
@pytest.mark.parametrize("seed", range(20))
def test_max_pool1d_matches_torch_over_random_configurations(seed):
    for k, s, p, d, size, ceil, rng in _configs(seed, 3):
        x = rng.normal(size=(2, 3, size[1]))
        kw = dict(kernel_size=k[1], stride=s[1], padding=p[1], dilation=d[1], ceil_mode=ceil)
        _compare(
            lambda a, kw=kw: F.max_pool1d(a, return_indices=True, **kw),
            lambda t, kw=kw: _tf().max_pool1d(t, **kw, return_indices=True),
            x,
        )


@requires_torch
@pytest.mark.parametrize("shape", [(4, 3, 8, 8), (2, 5, 7, 9), (3, 6, 6), (2, 3, 5, 5)])
@pytest.mark.parametrize("k", [2, 3])
def test_max_pool2d_tiled_path_routes_ties_to_the_first_maximum(shape, k):
    """kernel == stride (the reshape path), after a ReLU: many windows of tied zeros."""
    x = np.maximum(np.random.default_rng(0).normal(size=shape), 0.0)
    x[..., :2, :2] = 1.0  # a window of four equal maxima
    _compare(lambda a: F.max_pool2d(a, k), lambda t: _tf().max_pool2d(t, k), x)


def _channels_last(a):
    """``a`` (N, C, H, W) as a convolution leaves it: a channels-last array seen as (N, C, H, W) (a 1x1
    convolution with the identity), so that max pooling takes its channels-last path."""
    c = a.shape[1]
    y = F.conv2d(a, cr.tensor(np.eye(c, dtype=a.data.dtype).reshape(c, c, 1, 1)))
    assert y.data.transpose(0, 2, 3, 1).flags.c_contiguous
    return y


@requires_torch
@pytest.mark.parametrize("shape", [(4, 3, 8, 8), (2, 5, 7, 9), (2, 40, 5, 5), (3, 1, 6, 4), (4, 64, 32, 33)])
@pytest.mark.parametrize("k", [2, 3, (2, 3)])
def test_max_pool2d_channels_last_path_routes_ties_to_the_first_maximum(shape, k):
    """A convolution's channels-last output pooled tile by tile over rows of channels, after a ReLU (many tied
    zeros) and with a window of equal maxima: values and gradients as PyTorch's on the same (N, C, H, W). The
    largest map is pooled in several chunks of rows, the last one partial."""
    x = np.maximum(np.random.default_rng(0).normal(size=shape), 0.0)
    x[..., :2, :3] = 1.0  # a window of equal maxima
    x[0, 0, 2:4, 2:4] = [[0.5, 2.0], [2.0, 2.0]]  # ties that are not the window's first entry
    _compare(lambda a: F.max_pool2d(_channels_last(a), k), lambda t: _tf().max_pool2d(t, k), x)


@requires_torch
def test_max_pool2d_channels_last_float32_and_nan():
    x = np.random.default_rng(0).normal(size=(4, 3, 6, 6)).astype(np.float32)
    x[1, 2, 3, 4] = np.nan  # the general path takes over and says where
    for arr in (x, np.nan_to_num(x)):
        a = cr.tensor(arr, requires_grad=True)
        y = F.max_pool2d(_channels_last(a), 2)
        (y * cr.tensor(np.arange(y.numel()).reshape(y.shape).astype(np.float32))).sum().backward()
        t = torch.tensor(arr, requires_grad=True)
        ty = _tf().max_pool2d(_tf().conv2d(t, torch.eye(3).reshape(3, 3, 1, 1)), 2)  # (NaN * 0 spreads the NaN)
        (ty * torch.arange(ty.numel()).reshape(ty.shape).float()).sum().backward()
        assert y.dtype == np.float32 and a.grad.dtype == np.float32
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(a.grad.numpy(), t.grad.numpy())


@requires_torch
def test_max_pool2d_keeps_float32_and_matches_torch():
    x = np.random.default_rng(0).normal(size=(4, 3, 8, 8)).astype(np.float32)
    a = cr.tensor(x, requires_grad=True)
    y = F.max_pool2d(a, 2)
    y.sum().backward()
    assert y.dtype == np.float32 and a.grad.dtype == np.float32
    t = torch.tensor(x, requires_grad=True)
    _tf().max_pool2d(t, 2).sum().backward()
    np.testing.assert_array_equal(y.numpy(), _tf().max_pool2d(torch.tensor(x), 2).numpy())
    np.testing.assert_array_equal(a.grad.numpy(), t.grad.numpy())


@requires_torch
def test_max_pool_propagates_nan_as_torch_does():
    x = np.random.default_rng(0).normal(size=(1, 2, 4, 4))
    x[0, 1, 1, 2] = np.nan
    for k, s in ((2, 2), (3, 1)):
        a = cr.tensor(x, requires_grad=True)
        y = F.max_pool2d(a, k, s)
        y.sum().backward()
        t = torch.tensor(x, requires_grad=True)
        ty = _tf().max_pool2d(t, k, s)
        ty.sum().backward()
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(a.grad.numpy(), t.grad.numpy())


@requires_torch
def test_max_pool_keeps_the_last_nan_of_a_window_as_torch_does():
    """Two NaNs in one window: PyTorch's scan keeps the last (its gradient goes there, its index is returned),
    in every path: tiles, tiles of a channels-last map, overlapping windows, indices."""
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 6))
    x[0, 1, 2, 3] = x[0, 1, 3, 2] = x[1, 0, 0, 0] = x[1, 0, 0, 1] = np.nan
    last = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # a channels-last map, seen as (N, C, H, W) below
    for layout, fn, args in (
        (None, lambda a: F.max_pool2d(a, 2), (2,)),
        ((0, 3, 1, 2), lambda a: F.max_pool2d(a, 2), (2,)),
        (None, lambda a: F.max_pool2d(a, 3, 1, 1), (3, 1, 1)),
        (None, lambda a: F.max_pool2d(a, 2, return_indices=True)[0], (2,)),
    ):
        leaf = cr.tensor(x if layout is None else last, requires_grad=True)
        y = fn(leaf if layout is None else leaf.permute(*layout))
        (y * cr.tensor(np.arange(y.numel()).reshape(y.shape))).sum().backward()
        t = torch.tensor(x, requires_grad=True)
        ty = _tf().max_pool2d(t, *args)
        (ty * torch.arange(ty.numel()).reshape(ty.shape).double()).sum().backward()
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        grad = leaf.grad.numpy() if layout is None else leaf.grad.numpy().transpose(layout)
        np.testing.assert_array_equal(grad, t.grad.numpy())
    _, idx = F.max_pool2d(cr.tensor(x), 2, return_indices=True)
    _, tidx = _tf().max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


# ------------------------------------------------------------------------------ average pooling
@requires_torch
@pytest.mark.parametrize("seed", range(40))
def test_avg_pool2d_matches_torch_over_random_configurations(seed):
    for k, s, p, _, size, ceil, rng in _configs(seed, 3, dilation=False):
        x = rng.normal(size=(2, 3) + size)
        include = bool(rng.integers(0, 2))
        override = int(rng.integers(1, 7)) if rng.random() < 0.3 else None
        kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=include)
        _compare(
            lambda a, kw=kw, override=override: F.avg_pool2d(a, divisor_override=override, **kw),
            lambda t, kw=kw, override=override: _tf().avg_pool2d(t, divisor_override=override, **kw),
            x,
        )


@requires_torch
@pytest.mark.parametrize("seed", range(20))
def test_avg_pool1d_matches_torch_over_random_configurations(seed):
    for k, s, p, _, size, ceil, rng in _configs(seed, 3, dilation=False):
        x = rng.normal(size=(2, 3, size[0]))
        kw = dict(kernel_size=k[0], stride=s[0], padding=p[0], ceil_mode=ceil, count_include_pad=bool(seed % 2))
        _compare(lambda a, kw=kw: F.avg_pool1d(a, **kw), lambda t, kw=kw: _tf().avg_pool1d(t, **kw), x)


@requires_torch
@pytest.mark.parametrize("shape", [(4, 3, 8, 8), (2, 5, 7, 9), (3, 5, 5)])
def test_avg_pool2d_tiled_path(shape):
    x = np.random.default_rng(0).normal(size=shape)
    _compare(lambda a: F.avg_pool2d(a, 2), lambda t: _tf().avg_pool2d(t, 2), x)


# ------------------------------------------------------------------------------ adaptive pooling
@requires_torch
@pytest.mark.parametrize("size, out", [((7, 9), (3, 4)), ((5, 5), 1), ((4, 6), (4, None)), ((6, 3), (7, 5))])
def test_adaptive_pool2d_matches_torch(size, out):
    x = np.random.default_rng(0).normal(size=(2, 3) + size)
    _compare(lambda a: F.adaptive_avg_pool2d(a, out), lambda t: _tf().adaptive_avg_pool2d(t, out), x)
    _compare(
        lambda a: F.adaptive_max_pool2d(a, out, return_indices=True),
        lambda t: _tf().adaptive_max_pool2d(t, out, return_indices=True),
        x,
    )
    _compare(lambda a: F.adaptive_max_pool2d(a[0], out), lambda t: _tf().adaptive_max_pool2d(t[0], out), x)


@requires_torch
@pytest.mark.parametrize("n, out", [(9, 4), (5, 1), (3, 7), (6, 6)])
def test_adaptive_pool1d_matches_torch(n, out):
    x = np.random.default_rng(0).normal(size=(2, 3, n))
    _compare(lambda a: F.adaptive_avg_pool1d(a, out), lambda t: _tf().adaptive_avg_pool1d(t, out), x)
    _compare(
        lambda a: F.adaptive_max_pool1d(a, out, return_indices=True),
        lambda t: _tf().adaptive_max_pool1d(t, out, return_indices=True),
        x,
    )


# ------------------------------------------------------------------------------ interpolate, pixel shuffle
@requires_torch
@pytest.mark.parametrize("seed", range(30))
def test_interpolate_matches_torch_over_random_configurations(seed):
    rng = np.random.default_rng(seed)
    mode = ["nearest", "nearest-exact", "bilinear", "linear"][seed % 4]
    nd = {"linear": 1, "bilinear": 2}.get(mode) or int(rng.integers(1, 3))
    size_in = tuple(int(v) for v in rng.integers(1, 8, nd))
    x = rng.normal(size=(2, 3) + size_in)
    kw = {}
    if rng.random() < 0.5:
        kw["size"] = tuple(int(v) for v in rng.integers(1, 12, nd))
    else:
        kw["scale_factor"] = float(rng.choice([0.5, 1.5, 2.0, 3.0, 0.7, 1.3]))
    if mode in ("bilinear", "linear"):
        kw["align_corners"] = bool(rng.integers(0, 2))
    _compare(lambda a: F.interpolate(a, mode=mode, **kw), lambda t: _tf().interpolate(t, mode=mode, **kw), x)


@requires_torch
def test_upsample_module_and_float32():
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype(np.float32)
    up = cr.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    y = up(cr.tensor(x))
    assert y.dtype == np.float32
    ty = torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)(torch.tensor(x))
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-6)


@requires_torch
@pytest.mark.parametrize("shape, r", [((2, 8, 3, 5), 2), ((1, 9, 2, 2), 3), ((4, 3, 3), 1), ((2, 2, 18, 2, 3), 3)])
def test_pixel_shuffle_and_unshuffle_match_torch(shape, r):
    x = np.random.default_rng(0).normal(size=shape)
    _compare(lambda a: F.pixel_shuffle(a, r), lambda t: _tf().pixel_shuffle(t, r), x)
    y = _tf().pixel_shuffle(torch.tensor(x), r).numpy()
    _compare(lambda a: F.pixel_unshuffle(a, r), lambda t: _tf().pixel_unshuffle(t, r), y)
    m = cr.nn.PixelShuffle(r)(cr.tensor(x))
    np.testing.assert_array_equal(cr.nn.PixelUnshuffle(r)(m).numpy(), x)


# ------------------------------------------------------------------------------ gradcheck
@pytest.mark.parametrize(
    "fn",
    [
        lambda a: F.max_pool2d(a, 3, 2, 1, ceil_mode=True),
        lambda a: F.max_pool2d(a, 2),
        lambda a: F.max_pool2d(a, 2, 1, dilation=2),
        lambda a: F.max_pool1d(a[0], 2, 1, 1),
        lambda a: F.avg_pool2d(a, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        lambda a: F.avg_pool2d(a, 2),
        lambda a: F.avg_pool1d(a[0], 3, 2, 1),
        lambda a: F.adaptive_avg_pool2d(a, (2, 3)),
        lambda a: F.adaptive_max_pool2d(a, (3, 2)),
        lambda a: F.interpolate(a, scale_factor=1.5, mode="bilinear"),
        lambda a: F.interpolate(a, size=(7, 3), mode="bilinear", align_corners=True),
        lambda a: F.interpolate(a, size=(7, 3), mode="nearest"),
        lambda a: F.pixel_shuffle(a, 2),
    ],
)
def test_gradcheck(fn):
    x = cr.tensor(np.random.default_rng(3).permutation(2 * 4 * 5 * 6).reshape(2, 4, 5, 6) / 17.0, requires_grad=True)
    assert cr.gradcheck(fn, x)


# ------------------------------------------------------------------------------ layers
@requires_torch
def test_pool_layers_match_torch():
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 8))
    pairs = [
        (cr.nn.MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1)),
        (cr.nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
        (cr.nn.AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
        (cr.nn.AdaptiveAvgPool2d((1, 1)), torch.nn.AdaptiveAvgPool2d((1, 1))),
        (cr.nn.AdaptiveMaxPool2d(3), torch.nn.AdaptiveMaxPool2d(3)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(cr.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-12)
    x1 = x[:, :, 0]
    pairs1 = [
        (cr.nn.MaxPool1d(2), torch.nn.MaxPool1d(2)),
        (cr.nn.AvgPool1d(3, 1, 1), torch.nn.AvgPool1d(3, 1, 1)),
        (cr.nn.AdaptiveAvgPool1d(3), torch.nn.AdaptiveAvgPool1d(3)),
        (cr.nn.AdaptiveMaxPool1d(3), torch.nn.AdaptiveMaxPool1d(3)),
    ]
    for ours, theirs in pairs1:
        np.testing.assert_allclose(ours(cr.tensor(x1)).numpy(), theirs(torch.tensor(x1)).numpy(), rtol=1e-12)
    y, idx = cr.nn.MaxPool2d(2, return_indices=True)(cr.tensor(x))
    ty, tidx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    assert idx.dtype == np.int64


def test_a_small_cnn_trains_with_pools():
    rng = np.random.default_rng(0)
    model = cr.nn.Sequential(cr.nn.MaxPool2d(2), cr.nn.AvgPool2d(2), cr.nn.Flatten(), cr.nn.Linear(4, 2))
    x = cr.tensor(rng.normal(size=(8, 1, 8, 8)).astype(np.float32))
    loss = F.cross_entropy(model(x), np.arange(8) % 2)
    loss.backward()
    assert model[3].weight.grad.shape == (2, 4)


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: F.max_pool2d(x, 3, padding=2), r"max_pool2d: padding should be at most half"),
        (lambda x: F.avg_pool2d(x, 2, padding=2), r"avg_pool2d: padding should be at most half"),
        (lambda x: F.max_pool2d(x, 5), r"max_pool2d: .*shape \(2, 3, 4, 4\).*output size \(0, 0\) is too small"),
        (lambda x: F.max_pool2d(x[0, 0], 2), r"max_pool2d: expected a 3-D or 4-D input .*got shape \(4, 4\)"),
        (lambda x: F.max_pool1d(x, 2), r"max_pool1d: expected a 2-D or 3-D input .*\(2, 3, 4, 4\)"),
        (lambda x: F.max_pool2d(x, 0), r"max_pool2d: kernel_size, stride and dilation must be positive"),
        (lambda x: F.max_pool2d(x, (2, 2, 2)), r"max_pool2d: kernel_size must be an int or a tuple of 2 ints"),
        (lambda x: F.avg_pool2d(x, 2, divisor_override=0), r"avg_pool2d: divisor_override"),
        (lambda x: F.adaptive_avg_pool2d(x, (2, 0)), r"adaptive_avg_pool2d: output_size"),
        (lambda x: F.interpolate(x, mode="bicubic", scale_factor=2), r"interpolate: mode"),
        (lambda x: F.interpolate(x, mode="linear", scale_factor=2), r"interpolate: mode 'linear' expects a 3-D"),
        (lambda x: F.interpolate(x), r"interpolate: give exactly one of size and scale_factor"),
        (lambda x: F.interpolate(x, scale_factor=2, align_corners=True), r"align_corners"),
        (lambda x: F.pixel_shuffle(x, 2), r"pixel_shuffle: .*divisible by upscale_factor\*\*2 = 4"),
        (lambda x: F.pixel_unshuffle(x, 3), r"pixel_unshuffle: .*divisible by downscale_factor = 3"),
    ],
)
def test_clear_errors(call, match):
    x = cr.tensor(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(cr.errors.ChainruleError, match=match):
        call(x)


@requires_torch
def test_torch_refuses_the_same_arguments():
    """The arguments refused above are refused by PyTorch too (so chainrule is not stricter)."""
    t = torch.zeros(2, 3, 4, 4)
    for call in (
        lambda: _tf().max_pool2d(t, 3, padding=2),
        lambda: _tf().avg_pool2d(t, 2, padding=2),
        lambda: _tf().max_pool2d(t, 5),
        lambda: _tf().max_pool2d(t[0, 0], 2),
        lambda: _tf().pixel_shuffle(t, 2),
    ):
        with pytest.raises(RuntimeError):
            call()
