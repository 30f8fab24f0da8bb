"""Convolutions (conv1d/2d, conv_transpose1d/2d, unfold/fold and their modules) against PyTorch, in float64:
values and gradients over random configurations, numerical gradient checks, state_dict loading, errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

from conftest import compare_with_torch, requires_torch, torch

rng = np.random.default_rng(12)


def _ri(lo, hi, n):
    return tuple(int(a) for a in rng.integers(lo, hi, n))


def _conv_config(nd, seed):
    r = np.random.default_rng(seed)
    groups = int(r.choice([1, 2, 3]))
    c, o = groups * int(r.integers(1, 3)), groups * int(r.integers(1, 3))
    kernel = tuple(int(a) for a in r.integers(1, 4, nd))
    stride = tuple(int(a) for a in r.integers(1, 3, nd))
    dilation = tuple(int(a) for a in r.integers(1, 3, nd))
    padding = tuple(int(a) for a in r.integers(0, 3, nd))
    size = tuple(int(a) for a in r.integers(5, 10, nd))  # odd and even sizes
    n = int(r.integers(1, 3))
    return r, groups, c, o, kernel, stride, dilation, padding, size, n


def _torch_fn(name):
    return getattr(torch.nn.functional, name)


# ----------------------------------------------------------------------------------------- functions
@requires_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("seed", range(12))
def test_conv_matches_torch_over_random_configurations(nd, seed):
    r, groups, c, o, kernel, stride, dilation, padding, size, n = _conv_config(nd, seed)
    bias = seed % 3 != 0
    if seed % 4 == 1:
        padding = "valid"
    elif seed % 4 == 2:
        padding, stride = "same", 1
    x = r.standard_normal((n, c) + size)
    w = r.standard_normal((o, c // groups) + kernel)
    args = [x, w] + ([r.standard_normal(o)] if bias else [])
    name = f"conv{nd}d"

    def fn(mod):
        return lambda x, w, b=None: getattr(mod, name)(x, w, b, stride, padding, dilation, groups)

    compare_with_torch(fn(F), fn(torch.nn.functional), *args, check_numeric=seed < 4)


@requires_torch
@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("seed", range(12))
def test_conv_transpose_matches_torch_over_random_configurations(nd, seed):
    r, groups, c, o, kernel, stride, dilation, padding, size, n = _conv_config(nd, 100 + seed)
    size = tuple(s - 2 for s in size)
    out_pad = tuple(int(r.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    padding = tuple(min(p, d * (k - 1)) for p, d, k in zip(padding, dilation, kernel))  # a positive output size
    bias = seed % 3 != 0
    x = r.standard_normal((n, c) + size)
    w = r.standard_normal((c, o // groups) + kernel)
    args = [x, w] + ([r.standard_normal(o)] if bias else [])
    name = f"conv_transpose{nd}d"

    def fn(mod):
        return lambda x, w, b=None: getattr(mod, name)(x, w, b, stride, padding, out_pad, groups, dilation)

    compare_with_torch(fn(F), fn(torch.nn.functional), *args, check_numeric=seed < 4)


@requires_torch
def test_unbatched_input_matches_torch():
    x, w, b = rng.standard_normal((3, 6, 5)), rng.standard_normal((4, 3, 2, 2)), rng.standard_normal(4)
    compare_with_torch(
        lambda x, w, b: F.conv2d(x, w, b, padding=1), lambda x, w, b: _torch_fn("conv2d")(x, w, b, padding=1), x, w, b
    )
    x1, w1 = rng.standard_normal((3, 7)), rng.standard_normal((3, 2, 3))
    compare_with_torch(F.conv_transpose1d, _torch_fn("conv_transpose1d"), x1, w1)


@requires_torch
@pytest.mark.parametrize(
    "kernel, dilation, padding, stride",
    [(2, 1, 0, 1), ((2, 3), (1, 2), 1, (2, 1)), (3, 1, 1, 2), ((1, 2), 2, (0, 1), (1, 3))],
)
def test_unfold_and_fold_match_torch(kernel, dilation, padding, stride):
    x = rng.standard_normal((2, 3, 7, 6))
    ys = compare_with_torch(
        lambda x: F.unfold(x, kernel, dilation, padding, stride),
        lambda x: _tf_unfold(x, kernel, dilation, padding, stride),
        x,
    )
    cols = rng.standard_normal(ys[0].shape)
    compare_with_torch(
        lambda c: F.fold(c, (7, 6), kernel, dilation, padding, stride),
        lambda c: torch.nn.functional.fold(c, (7, 6), kernel, dilation, padding, stride),
        cols,
    )
    compare_with_torch(  # unbatched
        lambda c: F.fold(c, (7, 6), kernel, dilation, padding, stride),
        lambda c: torch.nn.functional.fold(c, (7, 6), kernel, dilation, padding, stride),
        cols[0],
    )


def _tf_unfold(x, kernel, dilation, padding, stride):
    return torch.nn.functional.unfold(x, kernel, dilation, padding, stride)


def test_a_convolution_is_unfold_then_one_matrix_product():
    """DLFS ch. 7: im2col turns the convolution into W (out, C*kh*kw) @ cols (C*kh*kw, L)."""
    x = cr.tensor(rng.standard_normal((2, 3, 6, 5)))
    w = cr.tensor(rng.standard_normal((4, 3, 3, 2)))
    cols = F.unfold(x, (3, 2), padding=1)
    y = (w.reshape(4, -1) @ cols).reshape(2, 4, 6, 6)
    np.testing.assert_allclose(y.numpy(), F.conv2d(x, w, padding=1).numpy(), rtol=1e-12, atol=1e-12)


def test_float32_stays_float32():
    x = cr.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    y = conv(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == conv.weight.grad.dtype == conv.bias.grad.dtype == np.float32
    t = nn.ConvTranspose2d(4, 2, 3, stride=2)(y)
    assert t.dtype == np.float32


# ----------------------------------------------------------------------------------------- modules
def _copy_params(m, tm):
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def _check_module(m, tm, x):
    X, TX = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = m(X), tm(TX)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-7, atol=1e-9)
    v = rng.standard_normal(ty.shape)
    (y * cr.tensor(v)).sum().backward()
    (ty * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(X.grad.numpy(), TX.grad.numpy(), rtol=1e-7, atol=1e-9)
    for (name, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-7, atol=1e-9, err_msg=name)


@requires_torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "nd, kwargs",
    [
        (2, {"kernel_size": 3, "padding": 1}),
        (2, {"kernel_size": (2, 3), "padding": (1, 2), "stride": (2, 1), "groups": 2, "bias": False}),
        (2, {"kernel_size": (2, 4), "padding": "same", "dilation": (1, 2)}),
        (2, {"kernel_size": 3, "padding": "valid", "dilation": 2}),
        (1, {"kernel_size": 3, "padding": 2, "stride": 2}),
        (1, {"kernel_size": 4, "padding": "same", "groups": 2}),
    ],
)
def test_conv_modules_match_torch_with_every_padding_mode(mode, nd, kwargs):
    cls = f"Conv{nd}d"
    m = getattr(nn, cls)(4, 6, padding_mode=mode, dtype=np.float64, **kwargs)
    tm = getattr(torch.nn, cls)(4, 6, padding_mode=mode, dtype=torch.float64, **kwargs)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert [p.shape for p in m.parameters()] == [tuple(p.shape) for p in tm.parameters()]
    _copy_params(m, tm)
    _check_module(m, tm, rng.standard_normal((2, 4) + (7, 8)[:nd]))


@requires_torch
@pytest.mark.parametrize(
    "nd, kwargs",
    [
        (2, {"kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}),
        (2, {"kernel_size": (2, 3), "stride": (1, 2), "groups": 2, "dilation": (2, 1), "bias": False}),
        (1, {"kernel_size": 4, "stride": 3, "padding": 1, "output_padding": 2}),
    ],
)
def test_conv_transpose_modules_match_torch(nd, kwargs):
    cls = f"ConvTranspose{nd}d"
    m = getattr(nn, cls)(4, 6, dtype=np.float64, **kwargs)
    tm = getattr(torch.nn, cls)(4, 6, dtype=torch.float64, **kwargs)
    assert list(m.state_dict()) == list(tm.state_dict())
    _copy_params(m, tm)
    _check_module(m, tm, rng.standard_normal((2, 4) + (5, 6)[:nd]))


@requires_torch
def test_conv_transpose_output_size_picks_the_output_padding():
    m, tm = (
        nn.ConvTranspose2d(2, 3, 3, stride=2, dtype=np.float64),
        torch.nn.ConvTranspose2d(2, 3, 3, stride=2).double(),
    )
    _copy_params(m, tm)
    x = rng.standard_normal((1, 2, 4, 4))
    y, ty = m(cr.tensor(x), output_size=(10, 9)), tm(torch.tensor(x), output_size=(10, 9))
    assert y.shape == tuple(ty.shape) == (1, 3, 10, 9)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    with pytest.raises(cr.errors.ArgumentError, match="valid sizes range"):
        m(cr.tensor(x), output_size=(12, 9))


@requires_torch
@pytest.mark.parametrize(
    "cls, args, kwargs",
    [
        ("Conv2d", (3, 8, 3), {"groups": 1}),
        ("Conv2d", (4, 6, (2, 3)), {"groups": 2}),
        ("Conv1d", (3, 5, 4), {"bias": False}),
        ("ConvTranspose2d", (4, 6, 3), {"groups": 2}),
        ("ConvTranspose1d", (3, 2, 5), {}),
    ],
)
def test_default_init_is_torchs_and_a_torch_state_dict_loads(cls, args, kwargs):
    m = getattr(nn, cls)(*args, **kwargs)
    tm = getattr(torch.nn, cls)(*args, **kwargs)
    fan_in = tm.weight.shape[1] * int(np.prod(tm.weight.shape[2:]))
    bound = 1 / np.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) gives the same bound as the bias
    for p in m.parameters():
        assert np.abs(p.numpy()).max() <= bound + 1e-7
        if p.numel() >= 20:  # (with fewer values, all of them below half the bound is not rare: 0.5 ** n)
            assert np.abs(p.numpy()).max() > 0.5 * bound
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((2, args[0], 7, 6)[: len(tm.weight.shape)]).astype(np.float32)
    np.testing.assert_allclose(m(cr.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert repr(m).replace("chainrule.", "") == repr(tm)


@requires_torch
def test_unfold_and_fold_modules():
    x = rng.standard_normal((2, 3, 6, 6))
    u, tu = nn.Unfold(2, stride=2), torch.nn.Unfold(2, stride=2)
    np.testing.assert_allclose(u(cr.tensor(x)).numpy(), tu(torch.tensor(x)).numpy())
    f, tf = nn.Fold((6, 6), 2, stride=2), torch.nn.Fold((6, 6), 2, stride=2)
    cols = u(cr.tensor(x))
    np.testing.assert_allclose(f(cols).numpy(), tf(tu(torch.tensor(x))).numpy())
    np.testing.assert_allclose(f(cols).numpy(), x)  # non-overlapping patches: fold undoes unfold
    assert repr(u) == repr(tu) and repr(f) == repr(tf)


def test_gradcheck_of_a_small_cnn():
    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect", dtype=np.float64)
    deconv = nn.ConvTranspose2d(3, 2, 2, stride=2, dtype=np.float64)
    x = cr.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    assert cr.gradcheck(lambda x, w, b, v: F.conv_transpose2d(F.conv2d(x, w, b, 2, 1).tanh(), v, None, 2), x,
                        conv.weight, conv.bias, deconv.weight)  # fmt: skip


def test_explain_states_the_rule_as_a_correlation_with_the_flipped_kernel():
    node = F.conv2d(cr.tensor(np.ones((1, 1, 3, 3)), requires_grad=True), cr.tensor(np.ones((1, 1, 2, 2)))).grad_fn
    assert "flipped" in type(node).derivative and "correlat" in type(node).derivative
    assert "im2col" in type(node).formula


# ----------------------------------------------------------------------------------------- errors
E = cr.errors


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: F.conv2d(np.ones((2, 3, 5, 5)), np.ones((4, 2, 3, 3))),
            E.ShapeError,
            r"conv2d.*\[4, 2, 3, 3\].*input\[2, 3, 5, 5\].*2 channels, but got 3",
        ),
        (
            lambda: F.conv2d(np.ones((2, 4, 5, 5)), np.ones((3, 2, 3, 3)), groups=2),
            E.ShapeError,
            r"conv2d.*divisible by 2.*\[3, 2, 3, 3\]",
        ),
        (
            lambda: F.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))),
            E.ShapeError,
            r"conv2d.*padded input size per channel: \(2 x 2\).*\(3 x 3\)",
        ),
        (
            lambda: F.conv1d(np.ones((1, 1, 4)), np.ones((1, 1, 3)), padding=1, dilation=3),
            E.ShapeError,
            r"conv1d.*\(6\).*\(7\)",
        ),
        (
            lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), stride=2, padding="same"),
            E.ArgumentError,
            "not supported for strided",
        ),
        (
            lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding="full"),
            E.ArgumentError,
            "'same' or 'valid'",
        ),
        (
            lambda: F.conv2d(np.ones((5, 5)), np.ones((1, 1, 3, 3))),
            E.ShapeError,
            r"conv2d.*3D \(unbatched\) or 4D.*\[5, 5\]",
        ),
        (lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3))), E.ShapeError, r"conv2d.*4D weight.*\[1, 1, 3\]"),
        (
            lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((2, 1, 3, 3)), np.ones(3)),
            E.ShapeError,
            r"conv2d: bias of shape \(3,\)",
        ),
        (lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3), np.float32)), E.DTypeError, "float64.*float32"),
        (
            lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=-1),
            E.ArgumentError,
            "negative padding",
        ),
        (
            lambda: F.conv_transpose2d(np.ones((1, 3, 4, 4)), np.ones((2, 1, 3, 3))),
            E.ShapeError,
            r"conv_transpose2d.*\[2, 1, 3, 3\].*input\[1, 3, 4, 4\].*2 channels, but got 3",
        ),
        (
            lambda: F.conv_transpose2d(np.ones((1, 2, 4, 4)), np.ones((2, 1, 3, 3)), output_padding=1),
            E.ArgumentError,
            "smaller than either stride or dilation",
        ),
        (lambda: F.unfold(np.ones((2, 3, 4)), 5), E.ShapeError, r"unfold.*sliding blocks"),
        (lambda: F.unfold(np.ones((3, 4)), 2), E.ShapeError, r"unfold.*3D or 4D"),
        (lambda: F.fold(np.ones((1, 7, 4)), (3, 3), 2), E.ShapeError, r"fold.*divisible"),
        (lambda: F.fold(np.ones((1, 8, 5)), (3, 3), 2), E.ShapeError, r"fold.*sliding blocks 4"),
        (lambda: nn.Conv2d(3, 4, 3, groups=2), E.ArgumentError, "in_channels .3. must be divisible by groups"),
        (lambda: nn.Conv2d(4, 3, 3, groups=2), E.ArgumentError, "out_channels .3. must be divisible by groups"),
        (lambda: nn.Conv2d(4, 4, 3, stride=2, padding="same"), E.ArgumentError, "strided"),
        (lambda: nn.Conv2d(4, 4, 3, padding_mode="mirror"), E.ArgumentError, "padding_mode"),
        (lambda: nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect"), E.ArgumentError, "zeros"),
    ],
)
def test_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@requires_torch
@pytest.mark.parametrize(
    "args, kwargs",
    [
        (((2, 3, 5, 5), (4, 2, 3, 3)), {}),
        (((2, 4, 5, 5), (3, 2, 3, 3)), {"groups": 2}),
        (((1, 1, 2, 2), (1, 1, 3, 3)), {}),
        (((1, 1, 5, 5), (1, 1, 3, 3)), {"stride": 2, "padding": "same"}),
    ],
)
def test_what_chainrule_refuses_torch_refuses(args, kwargs):
    x, w = (np.ones(s) for s in args)
    with pytest.raises((RuntimeError, ValueError)):
        torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), **kwargs)
    with pytest.raises(E.ChainruleError):
        F.conv2d(x, w, **kwargs)


def test_backward_twice_with_retain_graph_gives_the_same_gradients():
    """The forward pass's im2col matrix is reused by the first weight gradient only; a second backward
    through the same graph recomputes it."""
    x = cr.tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=True)
    w = cr.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    y = (F.conv2d(x, w, padding=1) ** 2).sum()
    y.backward(retain_graph=True)
    first = w.grad.numpy().copy(), x.grad.numpy().copy()
    w.grad, x.grad = None, None
    y.backward()
    np.testing.assert_array_equal(w.grad.numpy(), first[0])
    np.testing.assert_array_equal(x.grad.numpy(), first[1])


@requires_torch
@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0), (1, 2)])
def test_conv2d_input_gradient_over_several_batch_chunks(stride, padding):
    """A batch large enough that the input gradient's products are made a few samples at a time (the last
    chunk partial): values and gradients as PyTorch's."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(37, 8, 16, 16))
    w = rng.normal(size=(16, 8, 3, 3))
    b = rng.normal(size=16)
    compare_with_torch(
        lambda a, k, c: F.conv2d(a, k, c, stride=stride, padding=padding),
        lambda a, k, c: torch.nn.functional.conv2d(a, k, c, stride=stride, padding=padding),
        x,
        w,
        b,
        check_numeric=False,
    )
