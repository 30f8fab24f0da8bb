"""LBFGS (both line-search settings) against torch.optim.LBFGS in float64, and the gradient-clipping utilities.

L-BFGS's trajectories agree with PyTorch's to rounding: both run the same algorithm, but PyTorch's
vector kernels fuse multiply-adds (and sum dot products in another order), so the last bits differ
and, on a non-convex problem, the differences grow over many iterations. The tests compare where
the problem keeps them small (the first steps, convex problems) and check that the algorithm makes
the same decisions throughout (the same number of function evaluations, step by step).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import requires_torch, torch


def _rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _pair(arrays, **kwargs):
    ps = [cr.nn.Parameter(a.copy()) for a in arrays]
    tps = [torch.nn.Parameter(torch.tensor(a)) for a in arrays]
    return ps, tps, cr.optim.LBFGS(ps, **kwargs), torch.optim.LBFGS(tps, **kwargs)


def _closures(opt, topt, loss, tloss):
    def closure():
        opt.zero_grad()
        value = loss()
        value.backward()
        return value

    def tclosure():
        topt.zero_grad()
        value = tloss()
        value.backward()
        return value

    return closure, tclosure


def _evals(opt, p):
    st = opt.state[p]
    return st["func_evals"], st["n_iter"]


@requires_torch
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_rosenbrock_trajectory_equals_torch(line_search_fn):
    kwargs = dict(lr=1.0 if line_search_fn else 0.02, max_iter=20, history_size=5, line_search_fn=line_search_fn)
    (x,), (tx,), opt, topt = _pair([np.array([-1.5, 2.0])], **kwargs)
    closure, tclosure = _closures(opt, topt, lambda: _rosenbrock(x), lambda: _rosenbrock(tx))
    steps = 6 if line_search_fn else 2  # the fixed-step run is chaotic on this valley: compare its start
    for _ in range(steps):
        loss, tloss = opt.step(closure), topt.step(tclosure)
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-9, abs=1e-11)
        np.testing.assert_allclose(x.numpy(), tx.detach().numpy(), rtol=1e-9, atol=1e-12)
        assert _evals(opt, x) == (topt.state[tx]["func_evals"], topt.state[tx]["n_iter"])
    if line_search_fn:
        np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-4)  # converged to the minimum (as torch)


@requires_torch
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_small_mlp_trajectory_equals_torch(line_search_fn):
    rng = np.random.default_rng(0)
    X, W1, W2 = rng.standard_normal((32, 3)), rng.standard_normal((8, 3)) * 0.5, rng.standard_normal((1, 8)) * 0.5
    Y = np.sin(X.sum(1, keepdims=True))
    arrays = [W1, np.zeros(8), W2, np.zeros(1)]
    ps, tps, opt, topt = _pair(
        arrays, lr=1.0 if line_search_fn else 0.5, history_size=10, line_search_fn=line_search_fn, max_iter=10
    )
    Xc, Yc, Xt, Yt = cr.tensor(X), cr.tensor(Y), torch.tensor(X), torch.tensor(Y)

    def loss():
        return F.mse_loss(F.linear(cr.tanh(F.linear(Xc, ps[0], ps[1])), ps[2], ps[3]), Yc)

    def tloss():
        tf = torch.nn.functional
        return tf.mse_loss(tf.linear(torch.tanh(tf.linear(Xt, tps[0], tps[1])), tps[2], tps[3]), Yt)

    closure, tclosure = _closures(opt, topt, loss, tloss)
    for k in range(12):
        l, tl = opt.step(closure), topt.step(tclosure)
        assert _evals(opt, ps[0]) == (topt.state[tps[0]]["func_evals"], topt.state[tps[0]]["n_iter"])
        if k < 4:  # 40 iterations: rounding has not grown yet
            assert l.item() == pytest.approx(tl.item(), rel=1e-10)
            for p, tp in zip(ps, tps):
                np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-9, atol=1e-11)
    assert loss().item() < 0.01 * F.mse_loss(cr.tensor(np.zeros_like(Y)), Yc).item()


@requires_torch
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_convex_problem_follows_torch_all_the_way(line_search_fn):
    """Logistic regression: the trajectories stay equal to rounding over every step."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(50) > 0).astype(np.float64)
    (w, b), (tw, tb), opt, topt = _pair(
        [np.zeros(4), np.zeros(1)], lr=0.5, max_iter=5, history_size=3, line_search_fn=line_search_fn
    )
    Xc, yc, Xt, yt = cr.tensor(X), cr.tensor(y), torch.tensor(X), torch.tensor(y)
    l2 = 0.1

    def loss():
        return F.binary_cross_entropy_with_logits(Xc @ w + b, yc) + l2 * (w * w).sum()

    def tloss():
        return torch.nn.functional.binary_cross_entropy_with_logits(Xt @ tw + tb, yt) + l2 * (tw * tw).sum()

    closure, tclosure = _closures(opt, topt, loss, tloss)
    for _ in range(10):
        opt.step(closure)
        topt.step(tclosure)
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=1e-9, atol=1e-12)
        assert _evals(opt, w) == (topt.state[tw]["func_evals"], topt.state[tw]["n_iter"])


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dict_resumes_exactly_through_a_file(line_search_fn, tmp_path):
    def run(steps, resume_at=None):
        x = cr.nn.Parameter(np.array([-1.2, 1.0]))
        opt = cr.optim.LBFGS(
            [x], lr=1.0 if line_search_fn else 0.01, max_iter=4, history_size=3, line_search_fn=line_search_fn
        )

        def closure():
            opt.zero_grad()
            value = _rosenbrock(x)
            value.backward()
            return value

        for k in range(steps):
            if k == resume_at:
                cr.save({"x": x, "opt": opt.state_dict()}, tmp_path / "ckpt.npz")
                state = cr.load(tmp_path / "ckpt.npz")
                x = cr.nn.Parameter(np.array(state["x"]))
                opt = cr.optim.LBFGS(
                    [x], lr=1.0 if line_search_fn else 0.01, max_iter=4, history_size=3, line_search_fn=line_search_fn
                )
                opt.load_state_dict(state["opt"])
            opt.step(closure)
        return x.numpy(), opt.state[x]["func_evals"]

    straight, evals = run(6)
    resumed, evals2 = run(6, resume_at=3)
    np.testing.assert_array_equal(straight, resumed)
    assert evals == evals2


def test_lbfgs_errors_and_stopping():
    x = cr.nn.Parameter(np.array([1.0, 1.0]))
    opt = cr.optim.LBFGS([x])
    with pytest.raises(cr.errors.ArgumentTypeError, match="closure"):
        opt.step()
    with pytest.raises(cr.errors.ArgumentError, match="parameter groups"):
        cr.optim.LBFGS([{"params": [x]}, {"params": [cr.nn.Parameter(np.ones(1))]}])
    with pytest.raises(cr.errors.ArgumentError, match="strong_wolfe"):
        cr.optim.LBFGS([x], line_search_fn="backtracking")

    def closure():
        opt.zero_grad()
        value = _rosenbrock(x)
        value.backward()
        return value

    assert opt.step(closure).item() == 0.0  # at the minimum: the gradient is zero, nothing moves
    np.testing.assert_array_equal(x.numpy(), [1.0, 1.0])


def test_an_lbfgs_step_makes_old_graphs_stale():
    x = cr.nn.Parameter(np.array([0.5, 0.5]))
    opt = cr.optim.LBFGS([x], max_iter=2)
    old = (x * x).sum()

    def closure():
        opt.zero_grad()
        value = _rosenbrock(x)
        value.backward()
        return value

    opt.step(closure)
    with pytest.raises(cr.errors.GraphError, match="changed in place"):
        old.backward()


# ------------------------------------------------------------------------------ clipping
@requires_torch
def test_clip_grad_value_matches_torch_and_lives_in_nn_utils():
    assert cr.nn.utils.clip_grad_norm_ is cr.optim.clip_grad_norm_
    assert cr.nn.utils.clip_grad_value_ is cr.optim.clip_grad_value_
    rng = np.random.default_rng(2)
    gs = [rng.standard_normal((3, 4)) * 3, rng.standard_normal(5)]
    ps = [cr.nn.Parameter(np.zeros(g.shape)) for g in gs]
    tps = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in gs]
    for p, tp, g in zip(ps, tps, gs):
        p.grad = cr.tensor(g)
        tp.grad = torch.tensor(g)
    shared = ps[0].grad.data
    assert cr.nn.utils.clip_grad_value_(ps, 1.5) is None
    torch.nn.utils.clip_grad_value_(tps, 1.5)
    for p, tp in zip(ps, tps):
        np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())
    assert np.abs(shared).max() > 1.5  # a clipped copy replaced the gradient; the old array is untouched


@requires_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, np.inf])
def test_clip_grad_norm_under_nn_utils_matches_torch(norm_type):
    rng = np.random.default_rng(3)
    gs = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ps = [cr.nn.Parameter(np.zeros(g.shape)) for g in gs]
    tps = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in gs]
    for p, tp, g in zip(ps, tps, gs):
        p.grad = cr.tensor(g)
        tp.grad = torch.tensor(g)
    n = cr.nn.utils.clip_grad_norm_(ps, 0.5, norm_type=norm_type)
    tn = torch.nn.utils.clip_grad_norm_(tps, 0.5, norm_type=norm_type)
    assert n == pytest.approx(tn.item(), rel=1e-12)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_can_refuse_a_nonfinite_norm():
    p = cr.nn.Parameter(np.zeros(2))
    p.grad = cr.tensor(np.array([np.inf, 1.0]))
    with pytest.raises(cr.errors.ArgumentError, match="error_if_nonfinite"):
        cr.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
