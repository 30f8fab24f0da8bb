"""LayerNorm, Embedding, Unflatten and Bilinear against PyTorch (float64: values, gradients, initialisation)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

from conftest import compare_with_torch, requires_torch, torch

rng = np.random.default_rng(5)


def _copy_params(m, tm):
    """Give the chainrule module the PyTorch module's parameter values (float64)."""
    m.double()
    tm.double()
    for (n, p), (tn, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert n == tn
        assert p.shape == tuple(tp.shape)
        p.data[...] = tp.detach().numpy()


def _check_module(m, tm, *inputs, rtol=1e-10, atol=1e-12):
    """Forward values, input gradients and parameter gradients of sum(v * m(*inputs)) equal PyTorch's."""
    xs = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    txs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    y, ty = m(*xs), tm(*txs)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    v = rng.standard_normal(y.shape)
    (y * cr.tensor(v)).sum().backward()
    (ty * torch.tensor(v)).sum().backward()
    for x, tx in zip(xs, txs):
        if x.requires_grad:
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)
    for (n, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        if tp.grad is None:
            assert p.grad is None or not np.any(p.grad.numpy()), n
        else:
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol, err_msg=n)


# ------------------------------------------------------------------------------ LayerNorm
@requires_torch
@pytest.mark.parametrize(
    "shape, normalized, kwargs",
    [
        ((4, 6), 6, {}),
        ((2, 3, 5), (5,), {"eps": 1e-3}),
        ((2, 3, 4), (3, 4), {}),
        ((3, 4), 4, {"elementwise_affine": False}),
        ((3, 4), [4], {"bias": False}),
        ((5,), 5, {}),
    ],
)
def test_layer_norm_matches_torch(shape, normalized, kwargs):
    m, tm = nn.LayerNorm(normalized, **kwargs), torch.nn.LayerNorm(normalized, **kwargs)
    assert list(m.state_dict()) == list(tm.state_dict())
    with torch.no_grad():  # non-trivial affine parameters
        for p in tm.parameters():
            p.copy_(torch.tensor(rng.uniform(0.5, 1.5, tuple(p.shape))))
    _copy_params(m, tm)
    _check_module(m, tm, rng.standard_normal(shape) * 3 + 1)


@requires_torch
def test_layer_norm_functional_matches_torch_and_gradcheck():
    x, w, b = rng.standard_normal((3, 2, 4)), rng.uniform(0.5, 2, (2, 4)), rng.standard_normal((2, 4))
    compare_with_torch(
        lambda x, w, b: F.layer_norm(x, (2, 4), w, b, eps=1e-4),
        lambda x, w, b: torch.nn.functional.layer_norm(x, (2, 4), w, b, eps=1e-4),
        x,
        w,
        b,
    )
    compare_with_torch(lambda x: F.layer_norm(x, [4]), lambda x: torch.nn.functional.layer_norm(x, [4]), x)


def test_layer_norm_defaults_and_errors():
    m = nn.LayerNorm(3)
    assert m.weight.dtype == np.float32 and np.all(m.weight.numpy() == 1) and np.all(m.bias.numpy() == 0)
    assert m.normalized_shape == (3,) and m.eps == 1e-5
    y = m(cr.tensor(rng.standard_normal((4, 3)).astype(np.float32)))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy().mean(axis=-1), 0, atol=1e-6)
    with pytest.raises(cr.errors.ShapeError, match=r"normalized_shape \[3\] must be the last dimensions"):
        m(cr.ones((3, 4)))
    with pytest.raises(cr.errors.ShapeError, match="weight must have the normalized shape"):
        F.layer_norm(cr.ones((2, 3)), (3,), cr.ones(4))
    assert nn.LayerNorm(3, elementwise_affine=False).weight is None
    assert [n for n, _ in nn.LayerNorm(3, bias=False).named_parameters()] == ["weight"]


# ------------------------------------------------------------------------------ Embedding
@requires_torch
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"padding_idx": 2},
        {"padding_idx": -1},
        {"scale_grad_by_freq": True},
        {"padding_idx": 0, "scale_grad_by_freq": True},
    ],
)
def test_embedding_matches_torch_repeated_indices_accumulate(kwargs):
    idx = np.array([[1, 2, 1, 6], [0, 1, 6, 2]])
    m, tm = nn.Embedding(7, 3, **kwargs), torch.nn.Embedding(7, 3, **kwargs)
    _copy_params(m, tm)
    _check_module(m, tm, idx)
    assert m.padding_idx == tm.padding_idx
    if "padding_idx" in kwargs:
        assert not np.any(m.weight.grad.numpy()[m.padding_idx])  # the padding row gets no gradient


@requires_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, np.inf])
def test_embedding_max_norm_renormalises_rows_in_place_like_torch(norm_type):
    idx = np.array([3, 0, 3, 4])
    m = nn.Embedding(6, 4, max_norm=1.5, norm_type=norm_type)
    tm = torch.nn.Embedding(6, 4, max_norm=1.5, norm_type=norm_type)
    with torch.no_grad():
        tm.weight.mul_(3.0)  # most rows above the norm
    _copy_params(m, tm)
    v0 = m.weight._version
    _check_module(m, tm, idx)
    np.testing.assert_allclose(m.weight.numpy(), tm.weight.detach().numpy(), rtol=1e-12)  # renormalised alike
    assert m.weight._version > v0  # the change is counted, as an in-place change
    np.testing.assert_allclose(
        m.weight.numpy()[[1, 2, 5]], tm.weight.detach().numpy()[[1, 2, 5]]
    )  # rows not looked up stay


def test_embedding_init_is_standard_normal_with_a_zero_padding_row():
    m = nn.Embedding(2000, 50, padding_idx=3, generator=np.random.default_rng(0))
    w = m.weight.numpy()
    assert w.dtype == np.float32 and w.shape == (2000, 50)
    assert not np.any(w[3])
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01
    a = nn.Embedding(5, 2, generator=np.random.default_rng(1)).weight.numpy()
    b = nn.Embedding(5, 2, generator=np.random.default_rng(1)).weight.numpy()
    np.testing.assert_array_equal(a, b)


@requires_torch
def test_embedding_from_pretrained_and_functional():
    table = rng.standard_normal((4, 3))
    m = nn.Embedding.from_pretrained(table)
    assert not m.weight.requires_grad and np.shares_memory(m.weight.data, table)
    assert nn.Embedding.from_pretrained(cr.tensor(table), freeze=False).weight.requires_grad
    idx = np.array([[3, 3], [0, 1]])
    compare_with_torch(
        lambda w: F.embedding(idx, w), lambda w: torch.nn.functional.embedding(torch.tensor(idx), w), table
    )
    for kw in ({"padding_idx": 1}, {"scale_grad_by_freq": True}):  # gradients that differ from the true ones on purpose
        compare_with_torch(
            lambda w, kw=kw: F.embedding(idx, w, **kw),
            lambda w, kw=kw: torch.nn.functional.embedding(torch.tensor(idx), w, **kw),
            table,
            check_numeric=False,
        )
    y = m(cr.tensor(np.array(2)))  # a single index: one row
    np.testing.assert_array_equal(y.numpy(), table[2])


def test_embedding_errors():
    m = nn.Embedding(5, 2)
    with pytest.raises(cr.errors.IndexOutOfRangeError, match="index 5 is out of range for a table of 5 rows"):
        m(np.array([1, 5]))
    with pytest.raises(cr.errors.IndexOutOfRangeError, match="index -1"):
        m(np.array([-1]))  # PyTorch refuses negative indices too
    with pytest.raises(cr.errors.DTypeError, match="integers"):
        m(np.array([1.0]))
    with pytest.raises(cr.errors.UnsupportedError, match="sparse"):
        nn.Embedding(5, 2, sparse=True)
    with pytest.raises(cr.errors.UnsupportedError, match="sparse"):
        F.embedding(np.array([1]), m.weight, sparse=True)
    with pytest.raises(cr.errors.ArgumentError, match="padding_idx"):
        nn.Embedding(5, 2, padding_idx=5)


def test_embedding_indices_changed_after_the_lookup_do_not_change_the_gradient():
    w = cr.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    idx = cr.tensor(np.array([0, 0, 3]))
    y = F.embedding(idx, w)
    with cr.no_grad():
        idx[...] = 1
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[2, 2], [0, 0], [0, 0], [1, 1]])


# ------------------------------------------------------------------------------ Unflatten
@requires_torch
@pytest.mark.parametrize("dim, sizes, shape", [(1, (2, 3), (4, 6)), (-1, (2, -1), (2, 3, 8)), (0, (1, 2, 2), (4, 5))])
def test_unflatten_matches_torch(dim, sizes, shape):
    m, tm = nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes)
    x = rng.standard_normal(shape)
    assert m(cr.tensor(x)).shape == tuple(tm(torch.tensor(x)).shape)
    compare_with_torch(m, tm, x)
    assert nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 3)))(cr.ones((4, 2, 3))).shape == (4, 2, 3)


def test_unflatten_errors():
    with pytest.raises(cr.errors.ShapeError, match="has size 6"):
        nn.Unflatten(1, (2, 2))(cr.ones((3, 6)))
    with pytest.raises(cr.errors.ArgumentError, match="at most one -1"):
        nn.Unflatten(1, (-1, -1))


# ------------------------------------------------------------------------------ Bilinear
@requires_torch
@pytest.mark.parametrize("lead, bias", [((5,), True), ((2, 3), True), ((4,), False), ((), True)])
def test_bilinear_matches_torch(lead, bias):
    m, tm = nn.Bilinear(3, 4, 2, bias=bias), torch.nn.Bilinear(3, 4, 2, bias=bias)
    assert list(m.state_dict()) == list(tm.state_dict())
    _copy_params(m, tm)
    _check_module(m, tm, rng.standard_normal(lead + (3,)), rng.standard_normal(lead + (4,)))


def test_bilinear_init_follows_torch():
    m = nn.Bilinear(16, 5, 300, generator=np.random.default_rng(0))
    bound = 1 / np.sqrt(16)
    assert m.weight.shape == (300, 16, 5) and m.bias.shape == (300,) and m.weight.dtype == np.float32
    for p in (m.weight, m.bias):
        assert np.abs(p.numpy()).max() <= bound
    assert np.abs(m.weight.numpy()).max() > 0.95 * bound  # uniform over the whole interval
    assert abs(m.weight.numpy().std() - bound / np.sqrt(3)) < 0.01


def test_bilinear_errors():
    m = nn.Bilinear(3, 4, 2)
    with pytest.raises(cr.errors.ShapeError, match="do not fit a weight of shape"):
        m(cr.ones((5, 4)), cr.ones((5, 4)))
    with pytest.raises(cr.errors.ShapeError, match="same leading dimensions"):
        m(cr.ones((5, 3)), cr.ones((6, 4)))


@requires_torch
def test_a_small_transformer_block_trains_like_torch():
    """Embedding -> LayerNorm -> mean -> Bilinear -> tanh -> Linear in a ModuleList: three SGD steps as PyTorch."""
    idx = rng.integers(0, 10, (4, 5))
    target = rng.integers(0, 3, 4)

    def build(lib):
        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.emb = lib.Embedding(10, 6, padding_idx=0)
                self.norm = lib.LayerNorm(6)
                self.mix = lib.Bilinear(6, 6, 4)
                self.out = lib.ModuleList([lib.Linear(4, 3)])

            def forward(self, i):
                h = self.norm(self.emb(i)).mean(1)
                return self.out[0](self.mix(h, h).tanh())

        return Net()

    m, tm = build(nn), build(torch.nn)
    _copy_params(m, tm)
    opt, topt = cr.optim.SGD(m.parameters(), lr=0.5), torch.optim.SGD(tm.parameters(), lr=0.5)
    for _ in range(3):
        loss = F.cross_entropy(m(cr.tensor(idx)), target)
        tloss = torch.nn.functional.cross_entropy(tm(torch.tensor(idx)), torch.tensor(target))
        opt.zero_grad()
        topt.zero_grad()
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    for (n, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=n)
