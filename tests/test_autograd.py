"""The backward walk: summing over uses, deep graphs, grad modes, higher-order gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.errors import GraphError, GraphFreedError

from conftest import requires_torch, torch


def test_value_used_twice_sums_its_gradients():
    """Seed 000: a feeds z' (weight w3) and z'' (weight w4): dC/da = w3 dC/dz' + w4 dC/dz''."""
    a = cr.tensor(0.7, requires_grad=True)
    w3, w4 = 0.3, -1.2
    z1 = a * w3
    z2 = a * w4
    c = z1.sigmoid() + z2.tanh()
    c.backward()
    s1 = 1 / (1 + math.exp(-0.7 * w3))
    dc_dz1 = s1 * (1 - s1)
    dc_dz2 = 1 - math.tanh(0.7 * w4) ** 2
    assert a.grad.item() == pytest.approx(w3 * dc_dz1 + w4 * dc_dz2, rel=1e-6)


def test_diamond_and_reuse_in_one_node():
    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64, requires_grad=True)
    y = x * x + x  # x used three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 1)


def test_gradients_accumulate_across_backward_calls():
    x = cr.tensor(3.0, requires_grad=True)
    (x * x).backward()
    (x * 2).backward()
    assert x.grad.item() == pytest.approx(2 * 3 + 2)


def test_chain_of_a_million_nodes():
    n = 1_000_000
    c = 1.000001
    x = cr.tensor(1.0, dtype=cr.float64, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * c
    y.backward()
    assert x.grad.item() == pytest.approx(c**n, rel=1e-8)
    del y  # dropping a million-node graph must not overflow the C stack


def test_wide_sum_tree():
    leaves = [cr.tensor(float(i), dtype=cr.float64, requires_grad=True) for i in range(4096)]
    level = leaves
    while len(level) > 1:
        level = [level[i] * 1.0 + level[i + 1] * 2.0 for i in range(0, len(level), 2)]
    level[0].backward()
    # leaf i's gradient is 2 ** (number of 1-bits in i), 12 levels deep
    for i in (0, 1, 5, 4095):
        assert leaves[i].grad.item() == 2 ** bin(i).count("1")


def test_graph_is_freed_after_backward():
    x = cr.tensor(2.0, requires_grad=True)
    y = (x * 3).exp()
    y.backward()
    with pytest.raises(GraphFreedError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = cr.tensor(2.0, requires_grad=True)
    y = (x * 3).sin()
    y.backward(retain_graph=True)
    g1 = x.grad.item()
    y.backward()
    assert x.grad.item() == pytest.approx(2 * g1)


def test_backward_needs_grad_for_non_scalar():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(GraphError, match=r"shape \(2,\)"):
        y.backward()
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_no_grad_and_enable_grad():
    x = cr.tensor(1.0, requires_grad=True)
    with cr.no_grad():
        y = x * 2
        with cr.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @cr.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    assert cr.is_grad_enabled()


def test_leaf_and_detach():
    x = cr.tensor([1.0], requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    assert np.shares_memory(d.numpy(), y.numpy())


def test_retain_grad_on_intermediate():
    x = cr.tensor(2.0, requires_grad=True)
    h = (x * 3).retain_grad()
    y = h * h
    y.backward()
    assert h.grad.item() == pytest.approx(2 * 6.0)
    assert x.grad.item() == pytest.approx(2 * 6.0 * 3)


def test_grad_function_leaves_dot_grad_alone():
    x = cr.tensor(1.5, requires_grad=True)
    w = cr.tensor(-0.5, requires_grad=True)
    h = x * w
    y = h.exp()
    gx, gh = cr.grad(y, [x, h], retain_graph=True)
    assert gx.item() == pytest.approx(math.exp(-0.75) * -0.5)
    assert gh.item() == pytest.approx(math.exp(-0.75))
    assert x.grad is None and w.grad is None
    with pytest.raises(GraphError, match="not used"):
        cr.grad(y, [cr.tensor(1.0, requires_grad=True)], retain_graph=True)
    (gz,) = cr.grad(y, [cr.tensor(1.0, requires_grad=True)], allow_unused=True)
    assert gz is None


def test_grad_of_several_outputs_sums():
    x = cr.tensor(2.0, requires_grad=True)
    a = x * x
    b = x * 3
    (g,) = cr.grad([a, b], [x], grad_outputs=[np.array(1.0), np.array(2.0)])
    assert g.item() == pytest.approx(2 * 2 + 2 * 3)


# ---------------------------------------------------------------------- higher order
def _derivs(fn, x0, order):
    x = cr.tensor(x0, dtype=cr.float64, requires_grad=True)
    y = fn(x)
    out = []
    for _ in range(order):
        (y,) = cr.grad(y, [x], create_graph=True)
        out.append(y.item())
    return out


def test_tanh_second_and_third_derivatives():
    x0 = 0.4
    d1, d2, d3 = _derivs(cr.tanh, x0, 3)
    t = math.tanh(x0)
    f1 = 1 - t * t
    assert d1 == pytest.approx(f1, rel=1e-12)
    assert d2 == pytest.approx(-2 * t * f1, rel=1e-12)
    assert d3 == pytest.approx(f1 * (6 * t * t - 2), rel=1e-12)


def test_x_to_the_fourth_derivatives():
    x0 = 1.3
    d1, d2, d3, d4 = _derivs(lambda x: x**4, x0, 4)
    assert (d1, d2, d3, d4) == pytest.approx((4 * x0**3, 12 * x0**2, 24 * x0, 24.0), rel=1e-12)


def test_backward_with_create_graph_accumulates_differentiable_grad():
    x = cr.tensor(3.0, dtype=cr.float64, requires_grad=True)
    y = x**3
    y.backward(create_graph=True)
    gx = x.grad  # 3 x^2, still connected to x
    assert gx.requires_grad
    (g2,) = cr.grad(gx, [x])
    assert g2.item() == pytest.approx(6 * 3.0)


@requires_torch
def test_hessian_vector_product_matches_torch():
    rng = np.random.default_rng(0)
    W1, b1, W2 = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal((1, 5))
    x0, v = rng.standard_normal(3), rng.standard_normal(3)

    def f(lib, x, W1, b1, W2):
        if lib is cr:
            h = cr.tanh(cr.linear(x, W1, b1))
            return (cr.sigmoid(h @ cr.tensor(W2.T)) ** 2).sum() + (x * x).sum() * 0.1
        h = torch.tanh(torch.nn.functional.linear(x, W1, b1))
        return (torch.sigmoid(h @ W2.T) ** 2).sum() + (x * x).sum() * 0.1

    x = cr.tensor(x0, requires_grad=True)
    (g,) = cr.grad(f(cr, x, cr.tensor(W1), cr.tensor(b1), W2), [x], create_graph=True)
    (hv,) = cr.grad((g * cr.tensor(v)).sum(), [x])

    tx = torch.tensor(x0, requires_grad=True)
    _, thv = torch.autograd.functional.hvp(
        lambda t: f(torch, t, torch.tensor(W1), torch.tensor(b1), torch.tensor(W2)), tx, torch.tensor(v)
    )
    np.testing.assert_allclose(hv.numpy(), thv.numpy(), rtol=1e-10)


@requires_torch
@pytest.mark.parametrize(
    "name",
    [
        "exp",
        "log",
        "sqrt",
        "sin",
        "cos",
        "tanh",
        "sigmoid",
        "softplus",
        "softmax",
        "log_softmax",
        "logsumexp",
        "mean",
        "var",
        "matmul",
        "div",
        "mse",
        "cross_entropy",
        "bce_logits",
        "getitem",
        "concat",
        "linear",
        "relu",
        "leaky_relu",
        "max",
        "max_dim",
        "nll",
        "bce",
    ],
)
def test_second_derivatives_match_torch(name):
    rng = np.random.default_rng(1)
    a0 = rng.uniform(0.3, 2.0, (3, 4))
    b0 = rng.uniform(0.3, 2.0, (4, 3))
    y = np.array([0, 2, 1])
    tf = torch.nn.functional

    def build(lib, a, b):
        if name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "softplus"):
            fn = getattr(lib, name) if name != "softplus" else (cr.softplus if lib is cr else tf.softplus)
            return (fn(a) * a).sum()
        if name in ("softmax", "log_softmax"):
            return (getattr(lib, name)(a, 1) ** 2).sum()
        if name == "logsumexp":
            return lib.logsumexp(a * a, 1).sum()
        if name == "mean":
            return (a * a).mean()
        if name == "var":
            return (a * a).var(0).sum() + (a * a).var(1, correction=0).sum()
        if name == "matmul":
            return ((a @ b) ** 2).sum()
        if name == "div":
            return (a * a / (b.T + 1) ** 2).sum()
        if name == "mse":
            return cr.nn.functional.mse_loss(a * a, b.T) if lib is cr else tf.mse_loss(a * a, b.T)
        if name == "cross_entropy":
            return cr.nn.functional.cross_entropy(a * a, y) if lib is cr else tf.cross_entropy(a * a, torch.tensor(y))
        if name == "bce_logits":
            return (
                cr.nn.functional.binary_cross_entropy_with_logits(a * a, b.T / 3)
                if lib is cr
                else tf.binary_cross_entropy_with_logits(a * a, b.T / 3)
            )
        if name == "getitem":
            idx = np.array([0, 2, 2])
            if lib is torch:
                idx = torch.tensor(idx)
            return ((a[idx] * a[idx]) ** 2).sum()
        if name == "linear":
            F_ = cr.nn.functional if lib is cr else tf
            return (F_.linear(a, b.T, b[0]) ** 2).sum()
        if name in ("relu", "leaky_relu"):
            F_ = cr.nn.functional if lib is cr else tf
            return (getattr(F_, name)(a - 1.1) * a * a).sum()
        if name == "max":
            return (lib.amax(a * a, 1) ** 2).sum()
        if name == "max_dim":
            values, indices = lib.max(a * a, 1)
            return (values**2).sum() + (lib.min(a, dim=0).values ** 3).sum()
        if name == "nll":
            lp = cr.log_softmax(a * a, -1) if lib is cr else torch.log_softmax(a * a, 1)
            return cr.nn.functional.nll_loss(lp, y) if lib is cr else tf.nll_loss(lp, torch.tensor(y))
        if name == "bce":
            p = cr.sigmoid(a * a - 2) if lib is cr else torch.sigmoid(a * a - 2)
            return (
                cr.nn.functional.binary_cross_entropy(p, b.T / 3) if lib is cr else tf.binary_cross_entropy(p, b.T / 3)
            )
        if name == "concat":
            cat = lib.cat([a, b.T], 0)
            return (cat**3).sum()

    a, b = cr.tensor(a0, requires_grad=True), cr.tensor(b0, requires_grad=True)
    (ga,) = cr.grad(build(cr, a, b), [a], create_graph=True)
    (h,) = cr.grad((ga * ga).sum(), [a], allow_unused=True)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    (tga,) = torch.autograd.grad(build(torch, ta, tb), [ta], create_graph=True)
    (th,) = torch.autograd.grad((tga * tga).sum(), [ta], allow_unused=True)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-9, atol=1e-12)


@requires_torch
def test_cross_entropy_4d_second_derivatives_match_torch():
    """cross_entropy on (N, C, d1, d2) logits: second derivatives keep the axis order."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5))
    t = rng.integers(0, 3, size=(2, 4, 5))
    v = rng.normal(size=x.shape)
    a = cr.tensor(x, requires_grad=True)
    (g,) = cr.grad(F.cross_entropy(a, cr.tensor(t)), a, create_graph=True)
    (h,) = cr.grad((g * cr.tensor(v)).sum(), a)
    ta = torch.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.nn.functional.cross_entropy(ta, torch.tensor(t)), ta, create_graph=True)
    (th,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), ta)
    np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-8, atol=1e-12)


@requires_torch
def test_batchnorm_second_derivatives_match_torch():
    rng = np.random.default_rng(0)
    x, gamma, beta = rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=3)
    v = rng.normal(size=(6, 3))
    a, ga, be = (cr.tensor(z, requires_grad=True) for z in (x, gamma, beta))
    from chainrule.ops.nnops import BatchNormOp

    y = BatchNormOp(1e-5)(a, ga, be)
    gx, gg = cr.grad((y * cr.tensor(v)).sum() ** 2, [a, ga], create_graph=True)
    hx, hg = cr.grad((gx * gx).sum() + (gg * gg).sum(), [a, ga])
    ta, tg, tb = (torch.tensor(z, requires_grad=True) for z in (x, gamma, beta))
    ty = torch.nn.functional.batch_norm(ta, None, None, tg, tb, training=True, eps=1e-5)
    tgx, tgg = torch.autograd.grad((ty * torch.tensor(v)).sum() ** 2, [ta, tg], create_graph=True)
    thx, thg = torch.autograd.grad((tgx * tgx).sum() + (tgg * tgg).sum(), [ta, tg])
    np.testing.assert_allclose(gx.numpy(), tgx.detach().numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(hx.numpy(), thx.numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(hg.numpy(), thg.numpy(), rtol=1e-7, atol=1e-9)


@requires_torch
def test_binary_cross_entropy_second_derivatives_match_torch():
    rng = np.random.default_rng(1)
    p, t = rng.uniform(0.05, 0.95, size=(4, 3)), rng.uniform(size=(4, 3))
    a, b = cr.tensor(p, requires_grad=True), cr.tensor(t, requires_grad=True)
    ga, gb = cr.grad(F.binary_cross_entropy(a, b), [a, b], create_graph=True)
    ha, hb = cr.grad((ga * ga).sum() + (gb * ga).sum(), [a, b])
    ta, tb = torch.tensor(p, requires_grad=True), torch.tensor(t, requires_grad=True)
    tga, tgb = torch.autograd.grad(torch.nn.functional.binary_cross_entropy(ta, tb), [ta, tb], create_graph=True)
    tha, thb = torch.autograd.grad((tga * tga).sum() + (tgb * tga).sum(), [ta, tb])
    np.testing.assert_allclose(ga.numpy(), tga.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(ha.numpy(), tha.numpy(), rtol=1e-8)
    np.testing.assert_allclose(hb.numpy(), thb.numpy(), rtol=1e-8)


class _ArrayMul(cr.Function):
    """The tutorials' MulLayer: arrays kept on self."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        return dout * self.y, dout * self.x


def test_user_function_with_arrays_on_self_gives_first_derivatives_under_create_graph():
    x = cr.tensor(3.0, dtype=cr.float64, requires_grad=True)
    y = cr.tensor(5.0, dtype=cr.float64, requires_grad=True)
    gx, gy = cr.grad(_ArrayMul()(x, y), [x, y], create_graph=True)
    assert (gx.item(), gy.item()) == (5.0, 3.0)


def test_differentiating_an_array_backward_again_says_how_to_make_it_differentiable():
    x = cr.tensor(3.0, dtype=cr.float64, requires_grad=True)
    y = cr.tensor(5.0, dtype=cr.float64, requires_grad=True)
    (gx,) = cr.grad(_ArrayMul()(x, x * y), [x], create_graph=True)
    with pytest.raises(GraphError, match="_ArrayMul.backward.*save_for_backward"):
        cr.grad(gx, [y])


class _SavedSin(cr.Function):
    """sin with its derivative written with chainrule operations on saved_tensors."""

    def forward(self, x):
        self.save_for_backward(x)
        return np.sin(x)

    def backward(self, g):
        (x,) = self.saved_tensors
        return g * cr.cos(x) if isinstance(x, cr.Tensor) else g * np.cos(x)


def test_user_function_written_with_saved_tensors_has_higher_derivatives():
    x0 = 0.7
    x = cr.tensor(x0, dtype=cr.float64, requires_grad=True)
    (d1,) = cr.grad(_SavedSin()(x), [x], create_graph=True)
    (d2,) = cr.grad(d1, [x], create_graph=True)
    (d3,) = cr.grad(d2, [x])
    assert (d1.item(), d2.item(), d3.item()) == pytest.approx((math.cos(x0), -math.sin(x0), -math.cos(x0)), rel=1e-12)
    x.grad = None
    _SavedSin()(x).backward()  # the ordinary backward runs the same method on arrays
    assert x.grad.item() == pytest.approx(math.cos(x0), rel=1e-12)


def test_saved_tensors_are_checked_against_in_place_changes():
    x = cr.tensor([0.1, 0.2], dtype=cr.float64, requires_grad=True)
    h = x * 1.0
    y = _SavedSin()(h)
    with cr.no_grad():
        h.add_(1.0)
    with pytest.raises(GraphError, match=r"_SavedSin needs its input 0 .*version 0.*now version 1"):
        y.sum().backward()


@requires_torch
def test_register_hook_matches_torch():
    def run(lib, make):
        x = make([1.0, 2.0])
        seen = []
        x.register_hook(lambda g: seen.append(np.array(g.numpy() if lib is cr else g.detach().numpy())) or g * 2)
        y = x * x
        y.register_hook(lambda g: g + 1)
        y.retain_grad()
        L = (y * 3).sum() + x.sum()  # x is used twice: its hook sees the sum, once
        L.backward()
        return x.grad.numpy(), y.grad.numpy(), seen

    ours = run(cr, lambda v: cr.tensor(v, requires_grad=True, dtype="float64"))
    ref = run(torch, lambda v: torch.tensor(v, requires_grad=True, dtype=torch.float64))
    for a, b in zip(ours[:2], ref[:2]):
        np.testing.assert_allclose(a, b)
    assert len(ours[2]) == len(ref[2]) == 1
    np.testing.assert_allclose(ours[2][0], ref[2][0])


def test_hook_remove_grad_and_create_graph_paths():
    x = cr.tensor([1.0, 3.0], requires_grad=True, dtype="float64")
    h = x.register_hook(lambda g: g * 10)
    (gx,) = cr.grad((x * x).sum(), x)
    np.testing.assert_allclose(gx.numpy(), [20.0, 60.0])
    (gx,) = cr.grad((x * x * x).sum(), x, create_graph=True)  # the hook runs on the recorded gradient
    np.testing.assert_allclose(gx.numpy(), [30.0, 270.0])
    h.remove()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 6.0])
    with pytest.raises(cr.errors.GraphError, match="register_hook"):
        cr.tensor([1.0]).register_hook(lambda g: g)
    bad = cr.tensor([1.0, 2.0], requires_grad=True)
    bad.register_hook(lambda g: np.zeros(3))
    with pytest.raises(cr.errors.ShapeError, match="register_hook"):
        (bad * 2).sum().backward()


def test_explain_runs_no_hooks():
    x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    calls = []
    x.register_hook(lambda g: calls.append(1))
    y = x * 3
    y.register_hook(lambda g: calls.append(2))
    tr = cr.explain(y.sum())
    assert not calls
    np.testing.assert_allclose(tr.grad(x), [3.0, 3.0])


def test_backward_through_a_graph_whose_parameters_changed_since_is_refused():
    m = cr.nn.Linear(3, 2)
    opt = cr.optim.SGD(m.parameters(), lr=0.1)
    x = cr.randn(4, 3, requires_grad=True)
    L = m(x).sum()
    L.backward(retain_graph=True)
    opt.step()  # changes the weight the graph's Linear node saved
    with pytest.raises(cr.errors.GraphError, match="changed in place.*before optimizer.step"):
        L.backward()
    L2 = m(x).sum()  # a fresh forward pass is fine, as is the usual loop
    for _ in range(3):
        opt.zero_grad()
        L2.backward()
        opt.step()
        L2 = m(x).sum()
    m2 = cr.nn.Linear(3, 2)
    L3 = m2(x).sum()
    m2.load_state_dict(m.state_dict())
    with pytest.raises(cr.errors.GraphError, match="input 1 'weight'"):
        L3.backward()
    # the check is exact: a graph of another model is not affected by this optimizer's step
    other = cr.nn.Linear(3, 2)
    L4 = other(x).sum()
    opt.step()
    L4.backward()
    assert other.weight.grad is not None


# ---------------------------------------------------------------------- cr.grad on part of a graph
def test_grad_wrt_an_intermediate_leaves_the_graph_below_intact():
    x = cr.tensor([1.0, 2.0], requires_grad=True, dtype="float64")
    y = x.exp()
    z = (y * y).sum()
    (gy,) = cr.grad(z, y)
    np.testing.assert_allclose(gy.numpy(), 2 * np.exp([1.0, 2.0]))
    y.backward(gy)  # the exp node was neither run nor freed by grad()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]) * np.exp([1.0, 2.0]))


def test_grad_wrt_an_intermediate_and_a_leaf_together():
    x = cr.tensor([0.5, -1.0], requires_grad=True, dtype="float64")
    y = x.sin()
    z = (y * x).sum()
    gy, gx = cr.grad(z, [y, x])
    np.testing.assert_allclose(gy.numpy(), [0.5, -1.0])
    np.testing.assert_allclose(gx.numpy(), np.sin([0.5, -1.0]) + np.array([0.5, -1.0]) * np.cos([0.5, -1.0]))


def test_grad_wrt_an_intermediate_above_a_freed_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.sum().backward()  # frees the Exp node
    (gy,) = cr.grad((y * y).sum(), y)  # d(sum y^2)/dy = 2y needs nothing below y
    np.testing.assert_allclose(gy.numpy(), 2 * np.exp([1.0, 2.0]), rtol=1e-6)
    # x lies below the freed node: its gradient cannot be computed and that is said
    with pytest.raises(cr.errors.GraphFreedError):
        cr.grad((y * y).sum(), [y, x])


def test_grad_refuses_several_requests_in_a_partly_freed_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    b = x * x
    c = b * 3.0
    c.sum().backward()  # frees both nodes; b also feeds c, whose edges are gone
    with pytest.raises(cr.errors.GraphFreedError):
        cr.grad((c * c).sum() + b.sum(), [b, c])
    # one requested node: nothing below it is needed, d/dc (c^2 + c) = 2c + 1
    (gc,) = cr.grad((c * c).sum() + c.sum(), c)
    np.testing.assert_allclose(gc.numpy(), 2 * 3 * np.array([1.0, 4.0]) + 1)


def test_grad_runs_hooks_of_requested_leaves_only():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    seen_a, seen_b = [], []
    a.register_hook(lambda g: seen_a.append(g.numpy().copy()))
    b.register_hook(lambda g: seen_b.append(1))
    (ga,) = cr.grad((a * b).sum(), a)
    assert seen_b == []
    assert len(seen_a) == 1
    np.testing.assert_array_equal(seen_a[0], [3.0, 4.0])
    np.testing.assert_array_equal(ga.numpy(), [3.0, 4.0])
    assert a.grad is None and b.grad is None


def test_unused_output_of_multi_output_node_gets_no_gradient():
    x = cr.tensor(np.arange(4.0), requires_grad=True)
    y1, y2 = cr.split(x, 2)
    y2.retain_grad()
    seen = []
    y2.register_hook(lambda g: seen.append(g))
    (y1 * 2).sum().backward()
    assert y2.grad is None and seen == []  # PyTorch leaves an unused output's .grad None too
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 0.0, 0.0])
    z1, z2 = cr.split(cr.tensor(np.arange(4.0), requires_grad=True), 2)
    (g,) = cr.grad(z1.sum(), z2, allow_unused=True)
    assert g is None


# ---------------------------------------------------------------------- the gradient arrays handed out
def test_gradients_of_different_leaves_do_not_share_memory():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([[3.0, 4.0]], requires_grad=True)
    ((x + y.reshape(2)) * 2).sum().backward()  # * 2: the gradient reaching Add is a fresh, writable array
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    x.grad.numpy()[0] = 100.0
    np.testing.assert_array_equal(y.grad.numpy(), [[2.0, 2.0]])
    a, b = cr.grad(x + y.reshape(2), [x, y], grad_outputs=np.ones(2, np.float32))
    assert not np.shares_memory(a.numpy(), b.numpy())


def test_a_retained_gradient_does_not_share_memory_with_the_leaf_gradient():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    h = a + 0.0  # Add hands the incoming gradient on unchanged
    h.retain_grad()
    (h * 3).sum().backward()
    assert not np.shares_memory(h.grad.numpy(), a.grad.numpy())
    h.grad.numpy()[0] = 100.0
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0])


def test_create_graph_leaf_gradients_do_not_share_memory():
    c = cr.tensor([1.0, 2.0], requires_grad=True)
    d = cr.tensor([3.0, 4.0], requires_grad=True)
    ((c + d) * 2).sum().backward(create_graph=True)
    assert c.grad is not d.grad
    assert not np.shares_memory(c.grad.numpy(), d.grad.numpy())
    np.testing.assert_array_equal(c.grad.numpy(), [2.0, 2.0])


def test_create_graph_retained_gradients_are_separate_tensors():
    p = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    q = cr.tensor([4.0, 5.0, 6.0], requires_grad=True)
    a, b = p * 2.0, q * 3.0
    a.retain_grad()
    b.retain_grad()
    seed = cr.tensor(np.ones(3, np.float32))
    (a + b).backward(grad=seed, create_graph=True)
    assert a.grad is not b.grad and a.grad is not seed
    a.grad.numpy()[0] = 100.0
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(seed.numpy(), [1.0, 1.0, 1.0])


def test_summed_0d_gradients_stay_arrays():
    a = cr.tensor(2.0, requires_grad=True)
    (a * a).backward()  # a feeds Mul twice: the two contributions are summed
    assert type(a.grad.numpy()) is np.ndarray and a.grad.item() == 4.0
    (a * a).backward()  # accumulated into an existing .grad
    assert type(a.grad.numpy()) is np.ndarray and a.grad.item() == 8.0
    b = cr.tensor(3.0, requires_grad=True)
    h = b * 1.0
    (ga, gb) = cr.grad(h * h + h, [h, b])
    assert type(ga.numpy()) is np.ndarray and ga.item() == 7.0
    assert type(gb.numpy()) is np.ndarray and gb.item() == 7.0


def test_leaf_gradient_is_c_contiguous_after_a_transpose():
    """A transposed view as .grad would slow every optimizer pass."""
    W = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    x = cr.tensor(np.ones((4, 3)))
    (x @ W.T).sum().backward()
    assert W.grad.numpy().flags.c_contiguous
    np.testing.assert_array_equal(W.grad.numpy(), np.full((2, 3), 4.0))


def test_grad_of_a_0d_tensor_is_a_0d_array():
    a = cr.tensor(0.0, requires_grad=True)
    b = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (ga,) = cr.grad((a * b).sum(), a)
    assert type(ga.numpy()) is np.ndarray and ga.shape == ()
