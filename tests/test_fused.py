"""The fused conv2d -> ReLU -> max_pool2d node (chainrule.ops.fused): the same values and gradients as PyTorch's
three layers (float64, random configurations, ties, NaN, several chunks), as chainrule's own three nodes, second
derivatives; when nn.Sequential uses it and when it must not; the per-thread switch."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
import chainrule.ops.fused as fused
from chainrule import nn

from conftest import requires_torch, torch


def _config(seed):
    r = np.random.default_rng(seed)
    k = int(r.choice([1, 2, 3]))  # pooling tiles
    kernel = tuple(int(a) for a in r.integers(1, 4, 2))
    stride = tuple(int(a) for a in r.integers(1, 3, 2))
    dilation = tuple(int(a) for a in r.integers(1, 3, 2))
    padding = "same" if r.random() < 0.2 and stride == (1, 1) else tuple(int(a) for a in r.integers(0, 3, 2))
    c, o, n = int(r.integers(1, 4)), int(r.integers(1, 5)), int(r.integers(1, 4))
    bias = bool(r.random() < 0.8)
    # an input whose convolution output both tile sizes divide: search the sizes
    for h in range(4, 16):
        for w in range(4, 16):
            conv = nn.Conv2d(c, o, kernel, stride, padding, dilation, bias=bias, dtype=np.float64)
            try:
                with cr.set_fusion_enabled(False):
                    out = conv(cr.tensor(np.zeros((1, c, h, w)))).shape[2:]
            except cr.errors.ChainruleError:
                continue
            if out[0] % k == 0 and out[1] % k == 0 and r.random() < 0.5:
                return r, (c, o, kernel, stride, padding, dilation, bias), k, (n, c, h, w)
    pytest.skip("no input size fits this configuration")


def _models(conv_args, k, seed=0):
    """The same Conv2d, ReLU, MaxPool2d as a chainrule Sequential and a PyTorch one."""
    c, o, kernel, stride, padding, dilation, bias = conv_args
    cr.manual_seed(seed)
    m = nn.Sequential(
        nn.Conv2d(c, o, kernel, stride, padding, dilation, bias=bias, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(k)
    )
    t = torch.nn.Sequential(
        torch.nn.Conv2d(c, o, kernel, stride, padding, dilation, bias=bias, dtype=torch.float64),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(k),
    )
    t.load_state_dict({name: torch.from_numpy(np.array(v)) for name, v in m.state_dict().items()})
    return m, t


def _run(model, x, g, fuse=True):
    """(output, input gradient, parameter gradients) of sum(g * model(x))."""
    model.zero_grad()
    xt = cr.tensor(x, requires_grad=True)
    with cr.set_fusion_enabled(fuse):
        y = model(xt)
    (y * cr.tensor(g)).sum().backward()
    return y, xt.grad.numpy(), [p.grad.numpy() for p in model.parameters()]


def _torch_run(model, x, g):
    model.zero_grad()
    xt = torch.tensor(x, requires_grad=True)
    y = model(xt)
    (y * torch.tensor(g)).sum().backward()
    return y.detach().numpy(), xt.grad.numpy(), [p.grad.numpy() for p in model.parameters()]


def _close(got, want, rtol, atol, equal_nan=False):
    """(output, input gradient, parameter gradients) of two runs agree."""
    (y, gx, gp), (ty, tgx, tgp) = got, want
    y = y.numpy() if isinstance(y, cr.Tensor) else y
    ty = ty.numpy() if isinstance(ty, cr.Tensor) else ty
    np.testing.assert_allclose(y, ty, rtol=rtol, atol=atol, equal_nan=equal_nan)
    np.testing.assert_allclose(gx, tgx, rtol=rtol, atol=atol, equal_nan=equal_nan)
    assert len(gp) == len(tgp)
    for a, b in zip(gp, tgp):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def _inputs(r, shape, ties):
    x = r.standard_normal(shape)
    if ties:  # whole samples and bands of zeros: the convolution's output there is the bias, tied in every tile
        x[0] = 0
        x[..., : shape[2] // 2, :] = np.where(r.random((shape[1], shape[2] // 2, shape[3])) < 0.5, 0.0, 1.0)
    return x


@requires_torch
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_values_and_gradients_equal_pytorchs_three_layers(seed, ties):
    r, conv_args, k, shape = _config(seed)
    m, t = _models(conv_args, k, seed)
    x = _inputs(r, shape, ties)
    with cr.set_fusion_enabled(True):
        y0 = m(cr.tensor(x))
    assert type(y0.grad_fn).__name__ == "ConvReluPoolOp"
    g = r.standard_normal(y0.shape)
    fused_run = _run(m, x, g)
    _close(fused_run, _torch_run(t, x, g), rtol=1e-10, atol=1e-12)
    # and the same as chainrule's own three nodes
    unfused = _run(m, x, g, fuse=False)
    assert type(unfused[0].grad_fn).__name__ == "MaxPoolOp"
    np.testing.assert_array_equal(fused_run[0].numpy(), unfused[0].numpy())
    _close(fused_run, unfused, rtol=1e-12, atol=1e-13)


@requires_torch
def test_float32_and_many_chunks_equal_pytorch(monkeypatch):
    """A batch split into many chunks (the last one partial), float32, the usual 3x3 conv and 2x2 pool."""
    monkeypatch.setattr(fused, "CHUNK_BYTES", 1 << 14)
    r = np.random.default_rng(3)
    cr.manual_seed(3)
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )
    t = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    )  # fmt: skip
    t.load_state_dict({name: torch.from_numpy(np.array(v)) for name, v in m.state_dict().items()})
    x = r.standard_normal((13, 3, 12, 8)).astype(np.float32)
    x[2] = 0
    g = r.standard_normal((13, 16, 3, 2)).astype(np.float32)
    with cr.set_fusion_enabled(True):
        node = m(cr.tensor(x, requires_grad=True)).grad_fn
    assert [type(f).__name__ for f in (node, node.next_functions[0][0])] == ["ConvReluPoolOp"] * 2
    _close(_run(m, x, g), _torch_run(t, x, g), rtol=1e-4, atol=1e-4)


@requires_torch
def test_nan_gives_nan_and_the_gradients_pytorch_gives():
    r = np.random.default_rng(5)
    m, t = _models((2, 3, (3, 3), (1, 1), (1, 1), (1, 1), True), 2)
    x = r.standard_normal((2, 2, 6, 6))
    x[0, 1, 2, 3] = np.nan
    g = r.standard_normal((2, 3, 3, 3))
    got = _run(m, x, g)
    assert type(got[0].grad_fn).__name__ == "ConvReluPoolOp"
    want = _torch_run(t, x, g)
    assert np.isnan(want[0]).any() and np.isnan(want[2][0]).any()  # NaN output, NaN weight gradient
    _close(got, want, rtol=1e-10, atol=1e-12, equal_nan=True)


def test_inference_keeps_nothing_and_gives_the_same_values():
    """Under no_grad (and with nothing requiring grad) the node keeps no masks; the values are those of the
    recorded graph's, NaN included."""
    cr.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)).to(np.float64)
    x = np.random.default_rng(2).standard_normal((3, 2, 6, 6))
    x[1, 0, 2, 2] = np.nan
    recorded = model(cr.tensor(x))
    assert type(recorded.grad_fn).__name__ == "ConvReluPoolOp"
    with cr.no_grad():
        y = model(cr.tensor(x))
    assert y.grad_fn is None
    np.testing.assert_array_equal(y.numpy(), recorded.numpy())
    node = cr.ops.ConvReluPoolOp((1, 1), ((1, 1), (1, 1)), (1, 1), (2, 2))
    node(cr.tensor(x), cr.tensor(model[0].weight.numpy()), cr.tensor(model[0].bias.numpy()))
    assert node.mask is None


def test_numerical_derivatives():
    r = np.random.default_rng(7)
    x = r.standard_normal((2, 2, 6, 4))
    w = r.standard_normal((3, 2, 3, 3))
    b = r.standard_normal(3)
    assert cr.gradcheck(lambda x, w, b: cr.ops.conv2d_relu_max_pool2d(x, w, b, 1, 1, 1, 2), x, w, b)


def test_second_derivatives_equal_the_three_nodes():
    r = np.random.default_rng(9)
    x0, w0, b0 = r.standard_normal((2, 2, 6, 6)), r.standard_normal((3, 2, 3, 3)), r.standard_normal(3)
    v = r.standard_normal((2, 3, 3, 3))

    def second(f):
        x, w, b = (cr.tensor(a, requires_grad=True) for a in (x0, w0, b0))
        y = f(x, w, b)
        gx, gw = cr.autograd.grad((y * cr.tensor(v)).sum(), (x, w), create_graph=True)
        gs = cr.autograd.grad((gx * gx).sum() + (gw**3).sum(), (x, w, b), allow_unused=True)
        return [np.zeros(a.shape) if g is None else g.numpy() for a, g in zip((x0, w0, b0), gs)]

    a = second(lambda x, w, b: cr.ops.conv2d_relu_max_pool2d(x, w, b, 1, 1, 1, 2))
    b = second(lambda x, w, b: F.max_pool2d(F.relu(F.conv2d(x, w, b, 1, 1)), 2))
    for p, q in zip(a, b):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12)


def test_backward_twice_with_retain_graph_and_gradients_only_where_needed():
    r = np.random.default_rng(11)
    x = cr.tensor(r.standard_normal((3, 2, 6, 6)))  # data: no input gradient
    w = cr.tensor(r.standard_normal((4, 2, 3, 3)), requires_grad=True)
    b = cr.tensor(r.standard_normal(4))  # a frozen bias
    y = cr.ops.conv2d_relu_max_pool2d(x, w, b, 1, 1, 1, 2)
    y.sum().backward(retain_graph=True)
    first = w.grad.numpy().copy()
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * first, rtol=1e-12)
    assert x.grad is None and b.grad is None
    # input gradient alone (the weight frozen)
    xg = cr.tensor(x.numpy(), requires_grad=True)
    cr.ops.conv2d_relu_max_pool2d(xg, w.detach(), None, 1, 1, 1, 2).sum().backward()
    ref = cr.tensor(x.numpy(), requires_grad=True)
    F.max_pool2d(F.relu(F.conv2d(ref, w.detach(), None, 1, 1)), 2).sum().backward()
    np.testing.assert_allclose(xg.grad.numpy(), ref.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_the_functional_refuses_what_does_not_tile():
    x = cr.tensor(np.zeros((1, 1, 7, 7)))
    w = cr.tensor(np.zeros((2, 1, 3, 3)), requires_grad=True)
    assert cr.ops.conv2d_relu_max_pool2d(x, w, None, 1, 1, 1, 2) is None  # 7 x 7 output, 2 x 2 tiles
    assert cr.ops.conv2d_relu_max_pool2d(x[0], w, None, 1, 1, 1, 1) is None  # unbatched
    assert cr.ops.conv2d_relu_max_pool2d(x, w, None, 1, 0, 1, 5) is not None


def _node(model, x):
    with cr.set_fusion_enabled(True):
        return type(model(cr.tensor(x)).grad_fn).__name__


@pytest.mark.parametrize(
    "layers, fuses",
    [
        (lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)], True),
        (lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d((2, 2), stride=2)], True),
        (lambda: [nn.Conv2d(2, 3, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(3, ceil_mode=False)], True),
        (lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, stride=1)], False),  # overlapping
        (lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, padding=1)], False),
        (lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, dilation=2)], False),
        (lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)], False),
        (lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4)], False),  # 6 x 6 in 4 x 4 tiles
        (lambda: [nn.Conv2d(2, 4, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(2)], False),
        (lambda: [nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), nn.ReLU(), nn.MaxPool2d(2)], False),
        (lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.LeakyReLU(), nn.MaxPool2d(2)], False),
        (lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2)], False),
        (lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.ReLU()], False),
    ],
)
def test_sequential_fuses_only_what_the_node_computes_exactly(layers, fuses):
    cr.manual_seed(0)
    mods = layers()
    model = nn.Sequential(*mods).to(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6))
    assert (_node(model, x) == "ConvReluPoolOp") == fuses
    with cr.set_fusion_enabled(False):
        ref = model(cr.tensor(x)).numpy()
    with cr.set_fusion_enabled(True):
        np.testing.assert_array_equal(model(cr.tensor(x)).numpy(), ref)


def test_a_forward_hook_on_any_of_the_three_keeps_them_apart():
    cr.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4))
    for k in range(3):
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)).to(np.float64)
        seen = []
        h = model[k].register_forward_hook(lambda m, args, out, seen=seen: seen.append(out.shape))
        assert _node(model, x) == "MaxPoolOp" and seen
        h.remove()
        assert _node(model, x) == "ConvReluPoolOp"


def test_unbatched_input_and_later_blocks():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Flatten(0, 0), nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)).to(np.float64)
    x = np.random.default_rng(0).standard_normal((1, 4, 4))  # (C, H, W): not fused, still computed
    assert _node(model, x) == "MaxPoolOp"
    assert _node(model, x[None]) == "ConvReluPoolOp"  # a block after another module is found too


def test_the_switch_is_per_thread_and_restores_on_leaving():
    assert cr.is_fusion_enabled()
    with cr.set_fusion_enabled(False):
        assert not cr.is_fusion_enabled()
        other = []
        t = threading.Thread(target=lambda: other.append(cr.is_fusion_enabled()))
        t.start()
        t.join()
        assert other == [True]  # a new thread starts with fusion on
        with cr.set_fusion_enabled(True):
            assert cr.is_fusion_enabled()
        assert not cr.is_fusion_enabled()
    assert cr.is_fusion_enabled()
    cr.set_fusion_enabled(False)  # as a function: at once
    try:
        assert not cr.is_fusion_enabled()
    finally:
        cr.set_fusion_enabled(True)
    assert cr.is_fusion_enabled()


def test_a_fused_model_trains_like_the_unfused_one():
    """A few SGD steps of a small CNN, fused and not, from the same weights: the same losses (float64)."""
    r = np.random.default_rng(1)
    x, y = r.standard_normal((8, 1, 8, 8)), r.integers(0, 3, 8)
    losses = []
    for fuse in (True, False):
        cr.manual_seed(4)
        model = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3)
        ).to(np.float64)
        opt = cr.optim.Adam(model.parameters(), lr=0.05)
        run = []
        with cr.set_fusion_enabled(fuse):
            for _ in range(5):
                opt.zero_grad()
                loss = F.cross_entropy(model(cr.tensor(x)), y)
                loss.backward()
                opt.step()
                run.append(loss.item())
        losses.append(run)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-12)
    assert losses[0][-1] < losses[0][0]
