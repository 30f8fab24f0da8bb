"""Optimizers and schedulers follow PyTorch's trajectories step for step."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import requires_torch, torch

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=1e-2, initial_accumulator_value=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=1e-3)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=1e-2, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 5))
    y = rng.integers(0, 3, 32)
    W1, b1 = rng.standard_normal((8, 5)) * 0.5, rng.standard_normal(8) * 0.1
    W2, b2 = rng.standard_normal((3, 8)) * 0.5, rng.standard_normal(3) * 0.1
    return X, y, [W1, b1, W2, b2]


@requires_torch
@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_trajectory_matches_torch(name, kw):
    X, y, init = _data()
    ps = [cr.tensor(a, requires_grad=True) for a in init]
    tps = [torch.tensor(a, requires_grad=True) for a in init]
    opt = getattr(cr.optim, name)(ps, **kw)
    topt = getattr(torch.optim, name)(tps, **kw)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for _ in range(100):
        opt.zero_grad()
        h = cr.tanh(F.linear(X, ps[0], ps[1]))
        F.cross_entropy(F.linear(h, ps[2], ps[3]), y).backward()
        opt.step()
        topt.zero_grad()
        th = torch.tanh(torch.nn.functional.linear(Xt, tps[0], tps[1]))
        torch.nn.functional.cross_entropy(torch.nn.functional.linear(th, tps[2], tps[3]), yt).backward()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-8)
    # the state that drives the trajectory is the same too
    for p, tp in zip(ps, tps):
        ours, theirs = opt.public_state(p), topt.state[tp]
        for k in ("momentum_buffer", "exp_avg", "exp_avg_sq", "sum", "square_avg"):
            if k in theirs and theirs[k] is not None:
                np.testing.assert_allclose(ours[k], theirs[k].numpy(), rtol=1e-5, atol=1e-9)


def test_state_dict_round_trip_continues_identically():
    X, y, init = _data()

    def run(split):
        ps = [cr.tensor(a, requires_grad=True) for a in init]
        opt = cr.optim.Adam(ps, lr=0.01)
        for i in range(20):
            if i == split:
                sd = copy.deepcopy(opt.state_dict())
                saved = [p.numpy().copy() for p in ps]
                ps = [cr.tensor(a, requires_grad=True) for a in saved]
                opt = cr.optim.Adam(ps, lr=0.5)  # wrong lr on purpose: load_state_dict restores it
                opt.load_state_dict(sd)
            opt.zero_grad()
            F.cross_entropy(F.linear(X, ps[2] @ ps[0], ps[3]), y).backward()
            opt.step()
        return [p.numpy() for p in ps]

    for a, b in zip(run(None), run(7)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: cr.optim.Adagrad(ps, lr=0.1),
        lambda ps: cr.optim.RMSprop(ps, lr=0.01, momentum=0.5),
        lambda ps: cr.optim.Adam(ps, lr=0.1),
    ],
)
def test_state_dict_round_trip_of_a_0d_parameter_continues_identically(make):
    def run(steps, reload_at=None):
        w = cr.nn.Parameter(cr.tensor(np.array(1.5)))
        opt = make([w])
        for k in range(steps):
            if k == reload_at:
                sd = opt.state_dict()
                opt = make([w])
                opt.load_state_dict(sd)
            opt.zero_grad()
            (w * w * w).backward()
            opt.step()
        return float(w.item())

    assert run(6, reload_at=3) == run(6)


def test_load_state_dict_checks_fit():
    p = cr.tensor(np.ones(3), requires_grad=True)
    opt = cr.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = cr.tensor(np.ones(3))
    opt.step()
    sd = opt.state_dict()
    q = cr.tensor(np.ones(4), requires_grad=True)
    with pytest.raises(cr.errors.SerializationError, match=r"shape \(3,\), the parameter \(4,\)"):
        cr.optim.SGD([q], lr=0.1, momentum=0.9).load_state_dict(sd)


SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),
]


@requires_torch
@pytest.mark.parametrize("name,kw", SCHEDULERS)
def test_schedulers_match_torch(name, kw):
    p = cr.tensor(np.ones(2), requires_grad=True)
    tp = torch.tensor(np.ones(2), requires_grad=True)
    opt, topt = cr.optim.SGD([p], lr=0.1), torch.optim.SGD([tp], lr=0.1)
    s = getattr(cr.optim, name)(opt, **kw)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    for _ in range(15):
        opt.step()
        topt.step()
        s.step()
        ts.step()
        assert s.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-9)


@requires_torch
def test_reduce_lr_on_plateau_matches_torch():
    p = cr.tensor(np.ones(2), requires_grad=True)
    tp = torch.tensor(np.ones(2), requires_grad=True)
    opt, topt = cr.optim.SGD([p], lr=0.1), torch.optim.SGD([tp], lr=0.1)
    s = cr.optim.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, factor=0.5, patience=2, cooldown=1)
    for m in [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.85, 0.86, 0.87, 0.9, 0.91, 0.92]:
        s.step(m)
        ts.step(m)
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"])


@requires_torch
def test_clip_grad_norm_matches_torch():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ps = [cr.tensor(a, requires_grad=True) for a in arrays]
    tps = [torch.tensor(a, requires_grad=True) for a in arrays]
    for p, tp, a in zip(ps, tps, arrays):
        p.grad = cr.tensor(a * 3)
        tp.grad = torch.tensor(a * 3)
    n = cr.optim.clip_grad_norm_(ps, 1.0)
    tn = torch.nn.utils.clip_grad_norm_(tps, 1.0)
    assert n == pytest.approx(tn.item())
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6)


def test_bad_hyperparameters():
    p = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"SGD: lr must be in \[0, inf\), got -1"):
        cr.optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="empty parameter list"):
        cr.optim.Adam([])
    with pytest.raises(ValueError, match="Nesterov"):
        cr.optim.SGD([p], lr=0.1, nesterov=True)


SLICED = [
    ("SGD", dict(lr=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=1e-2, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
]


@requires_torch
@pytest.mark.parametrize("name,kw", SLICED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SLICED)])
def test_large_parameters_updated_slice_by_slice_match_torch(name, kw):
    # A parameter larger than a slice (with a short last slice), a small one, and a gradient with an
    # unusual layout (transposed: not sliceable, updated whole): all agree with PyTorch.
    from chainrule.optim.optimizer import _CHUNK

    rng = np.random.default_rng(3)
    init = [
        rng.standard_normal((3, _CHUNK + 5)).astype(np.float32),
        rng.standard_normal(7).astype(np.float32),
        rng.standard_normal((40, 30)).astype(np.float32),
    ]
    ps = [cr.tensor(a, requires_grad=True) for a in init]
    tps = [torch.tensor(a, requires_grad=True) for a in init]
    opt = getattr(cr.optim, name)(ps, **kw)
    topt = getattr(torch.optim, name)(tps, **kw)
    for _ in range(5):
        grads = [rng.standard_normal(a.shape).astype(np.float32) for a in init]
        grads[2] = np.ascontiguousarray(grads[2].T).T  # same values, Fortran order
        for p, tp, g in zip(ps, tps, grads):
            p.grad = cr.tensor(g)
            tp.grad = torch.from_numpy(np.ascontiguousarray(g))
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_step_refuses_a_gradient_of_the_wrong_shape():
    p = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    p.grad = cr.tensor(np.ones(3))
    with pytest.raises(cr.errors.ShapeError, match=r"\(2, 3\).*\(3,\)"):
        cr.optim.SGD([p], lr=0.1).step()


def _sched_pair(lr=0.1):
    p = cr.tensor(np.ones(2), requires_grad=True)
    tp = torch.tensor(np.ones(2), requires_grad=True)
    return cr.optim.SGD([p], lr=lr), torch.optim.SGD([tp], lr=lr)


@requires_torch
def test_schedulers_compose_and_follow_manual_changes_like_torch():
    # two schedulers on one optimizer, an lr set by hand, a plateau cut, and cosine past T_max:
    # each schedule carries on from the current lr, as PyTorch's do
    opt, topt = _sched_pair()
    ours = [cr.optim.StepLR(opt, 2, 0.5), cr.optim.ExponentialLR(opt, 0.9)]
    theirs = [torch.optim.lr_scheduler.StepLR(topt, 2, 0.5), torch.optim.lr_scheduler.ExponentialLR(topt, 0.9)]
    for epoch in range(12):
        opt.step()
        topt.step()
        if epoch == 5:
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.05
        for s, ts in zip(ours, theirs):
            s.step()
            ts.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
    opt, topt = _sched_pair()
    s = cr.optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.01)
    ts = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=4, eta_min=0.01)
    p, tp = cr.optim.ReduceLROnPlateau(opt, patience=0), torch.optim.lr_scheduler.ReduceLROnPlateau(topt, patience=0)
    for epoch in range(13):
        opt.step()
        topt.step()
        s.step()
        ts.step()
        if epoch == 6:
            p.step(1.0)
            tp.step(1.0)
            p.step(1.0)
            tp.step(1.0)
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)


def test_scheduler_arguments_are_checked():
    opt, _ = _sched_pair()
    with pytest.raises(ValueError, match="T_max"):
        cr.optim.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="step_size"):
        cr.optim.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="initial_lr"):
        cr.optim.ExponentialLR(cr.optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=0.1), 0.9, last_epoch=3)


# -- the reference rules (PyTorch's formulas, written plainly) and the fast kernels give one trajectory
REFERENCE_GRID = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-2, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=1e-2, initial_accumulator_value=0.1, eps=1e-6)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=1e-2)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.5)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=1e-3, eps=1e-6)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=1e-2)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.9), weight_decay=1e-2, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.0)),
]


@pytest.mark.parametrize("name,kw", REFERENCE_GRID, ids=[f"{n}-{i}" for i, (n, _) in enumerate(REFERENCE_GRID)])
def test_fast_kernel_and_reference_rule_give_the_same_trajectory(name, kw):
    # Both run 20 steps on the same random gradients: the optimizer's step() (its fast in-place kernel) on a
    # small parameter and on one large enough to be updated slice by slice, and its reference rule on plain
    # arrays. The parameters and the state under PyTorch's names agree to rounding.
    from chainrule.optim import reference
    from chainrule.optim.optimizer import _CHUNK

    rng = np.random.default_rng(7)
    init = [rng.standard_normal((3, 4)), rng.standard_normal(_CHUNK + 3)]
    ps = [cr.tensor(a, requires_grad=True) for a in init]
    opt = getattr(cr.optim, name)(ps, **kw)
    rule = getattr(reference, name.lower())
    assert opt.reference_rule is rule
    ref = [(a.copy(), {}) for a in init]
    for _ in range(20):
        grads = [rng.standard_normal(a.shape) for a in init]
        for p, g in zip(ps, grads):
            p.grad = cr.tensor(g)
        opt.step()
        ref = [rule(w, g, st, **kw) for (w, st), g in zip(ref, grads)]
    for p, (w, st) in zip(ps, ref):
        assert p.dtype == np.float64
        np.testing.assert_allclose(p.numpy(), w, rtol=1e-12, atol=1e-14)
        ours = opt.public_state(p)
        assert set(ours) == set(st)
        for k, v in st.items():
            np.testing.assert_allclose(ours[k], v, rtol=1e-12, atol=1e-14, err_msg=k)


def test_reference_rule_changes_nothing_and_reference_step_reads_the_group():
    from chainrule.optim import reference

    w, g = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    state = {"exp_avg": np.array([0.1, 0.2]), "exp_avg_sq": np.array([0.01, 0.02]), "step": 3}
    kept = {k: np.copy(v) for k, v in state.items()}
    w1, st1 = reference.adam(w, g, state, lr=0.1, weight_decay=0.1)
    np.testing.assert_array_equal(w, [1.0, -2.0])
    for k, v in kept.items():
        np.testing.assert_array_equal(state[k], v)
    # Adam written out by hand for one step from that state
    gd = g + 0.1 * w
    m, v = 0.9 * kept["exp_avg"] + 0.1 * gd, 0.999 * kept["exp_avg_sq"] + 0.001 * gd**2
    expected = w - 0.1 * (m / (1 - 0.9**4)) / (np.sqrt(v / (1 - 0.999**4)) + 1e-8)
    np.testing.assert_allclose(w1, expected, rtol=1e-15)
    assert st1["step"] == 4
    p = cr.tensor(w, requires_grad=True)
    opt = cr.optim.Adam([p], lr=0.1, weight_decay=0.1)
    w2, _ = opt.reference_step(w, g, state, opt.param_groups[0])
    np.testing.assert_array_equal(w2, w1)

    class Plain(cr.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

    with pytest.raises(cr.errors.ChainruleError, match="no reference rule"):
        Plain([p]).reference_step(w, g, {}, {"lr": 0.1})
