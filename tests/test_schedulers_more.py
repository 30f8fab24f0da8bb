"""The learning-rate schedules against PyTorch's: the lr (and momentum) of every group at every step, and state
dicts that resume a schedule exactly, through cr.save / cr.load."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr

from conftest import requires_torch, torch

C = cr.optim


def _opts(opt="sgd"):
    """A chainrule optimizer and a PyTorch one with two parameter groups of different lrs."""
    ps = [cr.nn.Parameter(np.zeros(2)), cr.nn.Parameter(np.zeros(3))]
    tps = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
    groups = lambda a: [{"params": [a[0]]}, {"params": [a[1]], "lr": 0.05}]  # noqa: E731
    if opt == "sgd":
        return C.SGD(groups(ps), lr=0.1, momentum=0.9), torch.optim.SGD(groups(tps), lr=0.1, momentum=0.9)
    return C.Adam(groups(ps), lr=0.1), torch.optim.Adam(groups(tps), lr=0.1)


def _hyper(opt):
    return [(g["lr"], g.get("momentum"), tuple(g["betas"]) if "betas" in g else None) for g in opt.param_groups]


def _T():
    return torch.optim.lr_scheduler


#: name -> (make chainrule scheduler, make PyTorch scheduler, optimizer kind, steps)
CASES = {
    "MultiStepLR": (lambda o: C.MultiStepLR(o, [3, 7, 7, 20], 0.5), lambda o: _T().MultiStepLR(o, [3, 7, 7, 20], 0.5)),
    "MultiStepLR at 0": (lambda o: C.MultiStepLR(o, [0, 4]), lambda o: _T().MultiStepLR(o, [0, 4])),
    "LinearLR": (
        lambda o: C.LinearLR(o, 0.1, 0.8, total_iters=10),
        lambda o: _T().LinearLR(o, 0.1, 0.8, total_iters=10),
    ),
    "LinearLR default": (lambda o: C.LinearLR(o), lambda o: _T().LinearLR(o)),
    "LambdaLR": (lambda o: C.LambdaLR(o, lambda e: 0.95**e), lambda o: _T().LambdaLR(o, lambda e: 0.95**e)),
    "LambdaLR per group": (
        lambda o: C.LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: e % 3 + 1]),
        lambda o: _T().LambdaLR(o, [lambda e: 1 / (1 + e), lambda e: e % 3 + 1]),
    ),
    "CosineAnnealingWarmRestarts": (
        lambda o: C.CosineAnnealingWarmRestarts(o, 5, eta_min=0.001),
        lambda o: _T().CosineAnnealingWarmRestarts(o, 5, eta_min=0.001),
    ),
    "CosineAnnealingWarmRestarts T_mult": (
        lambda o: C.CosineAnnealingWarmRestarts(o, 3, T_mult=2),
        lambda o: _T().CosineAnnealingWarmRestarts(o, 3, T_mult=2),
    ),
    "OneCycleLR": (
        lambda o: C.OneCycleLR(o, [1.0, 0.5], total_steps=101),
        lambda o: _T().OneCycleLR(o, [1.0, 0.5], total_steps=101),
    ),
    "OneCycleLR linear three phase": (
        lambda o: C.OneCycleLR(o, 0.3, epochs=5, steps_per_epoch=21, three_phase=True, anneal_strategy="linear"),
        lambda o: _T().OneCycleLR(o, 0.3, epochs=5, steps_per_epoch=21, three_phase=True, anneal_strategy="linear"),
    ),
    "OneCycleLR adam": (
        lambda o: C.OneCycleLR(o, 0.01, total_steps=101, pct_start=0.25, base_momentum=0.8, max_momentum=0.9),
        lambda o: _T().OneCycleLR(o, 0.01, total_steps=101, pct_start=0.25, base_momentum=0.8, max_momentum=0.9),
        "adam",
    ),
    "SequentialLR warmup cosine": (
        lambda o: C.SequentialLR(o, [C.LinearLR(o, 0.1, total_iters=5), C.CosineAnnealingLR(o, T_max=30)], [5]),
        lambda o: _T().SequentialLR(
            o, [_T().LinearLR(o, 0.1, total_iters=5), _T().CosineAnnealingLR(o, T_max=30)], [5]
        ),
    ),
    "SequentialLR three": (
        lambda o: C.SequentialLR(
            o,
            [C.CosineAnnealingWarmRestarts(o, 4), C.LambdaLR(o, lambda e: 1 / (e + 1)), C.MultiStepLR(o, [2, 40])],
            [10, 30],
        ),
        lambda o: _T().SequentialLR(
            o,
            [
                _T().CosineAnnealingWarmRestarts(o, 4),
                _T().LambdaLR(o, lambda e: 1 / (e + 1)),
                _T().MultiStepLR(o, [2, 40]),
            ],
            [10, 30],
        ),
    ),
    "SequentialLR of step and exponential": (
        lambda o: C.SequentialLR(o, [C.StepLR(o, 3, 0.5), C.ExponentialLR(o, 0.9), C.LinearLR(o)], [12, 50]),
        lambda o: _T().SequentialLR(
            o, [_T().StepLR(o, 3, 0.5), _T().ExponentialLR(o, 0.9), _T().LinearLR(o)], [12, 50]
        ),
    ),
}


def _run(case, steps=100):
    make, tmake, *kind = CASES[case]
    opt, topt = _opts(*kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns that the optimizer never stepped
        s, ts = make(opt), tmake(topt)
        got, want = [_hyper(opt)], [_hyper(topt)]
        for _ in range(steps):
            s.step()
            ts.step()
            got.append(_hyper(opt))
            want.append(_hyper(topt))
    return got, want, s, opt


@requires_torch
@pytest.mark.parametrize("case", sorted(CASES))
def test_lr_and_momentum_trajectories_equal_torch(case):
    got, want, s, opt = _run(case)
    np.testing.assert_allclose(
        np.array([[x for g in row for x in (g[0], g[1] or 0.0, *(g[2] or (0.0, 0.0)))] for row in got]),
        np.array([[x for g in row for x in (g[0], g[1] or 0.0, *(g[2] or (0.0, 0.0)))] for row in want]),
        rtol=1e-12,
        atol=1e-15,
    )
    assert s.get_last_lr() == [g["lr"] for g in opt.param_groups]


@requires_torch
@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_resumes_the_schedule_through_a_file(case, tmp_path):
    """Save optimizer and scheduler state half way, load both into fresh ones, go on: the same lrs as an
    uninterrupted run (and so as PyTorch's)."""
    make, _, *kind = CASES[case]
    _, want, _, _ = _run(case, steps=60)
    opt, _ = _opts(*kind)
    s = make(opt)
    for _ in range(25):
        s.step()
    cr.save({"opt": opt.state_dict(), "sched": s.state_dict()}, tmp_path / "state.npz")
    state = cr.load(tmp_path / "state.npz")
    opt2, _ = _opts(*kind)
    s2 = make(opt2)
    opt2.load_state_dict(state["opt"])
    s2.load_state_dict(state["sched"])
    got = [_hyper(opt2)]
    for _ in range(35):
        s2.step()
        got.append(_hyper(opt2))
    assert len(got) == len(want[25:])
    for a, b in zip(got, want[25:]):
        for (lr, m, betas), (tlr, tm, tbetas) in zip(a, b):
            assert lr == pytest.approx(tlr, rel=1e-12, abs=1e-15)
            assert (m or 0) == pytest.approx(tm or 0, rel=1e-12)
            assert (betas or ()) == pytest.approx(tbetas or (), rel=1e-12)


@requires_torch
def test_lambda_state_dict_keeps_callable_objects_state_like_torch():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, e):
            return self.rate**e

    opt, topt = _opts()
    s = C.LambdaLR(opt, [Decay(0.5), lambda e: 1.0])
    ts = torch.optim.lr_scheduler.LambdaLR(topt, [Decay(0.5), lambda e: 1.0])
    st, tst = s.state_dict(), ts.state_dict()
    assert st["lr_lambdas"] == tst["lr_lambdas"] == [{"rate": 0.5}, None]
    st["lr_lambdas"][0]["rate"] = 0.25
    s.load_state_dict(st)
    assert s.lr_lambdas[0].rate == 0.25 and st["lr_lambdas"][0] == {"rate": 0.25}  # the argument is left intact


@requires_torch
def test_warm_restarts_with_fractional_epochs_like_torch():
    opt, topt = _opts()
    s = C.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=2, eta_min=0.01)
        for epoch in range(12):
            for i in range(4):
                s.step(epoch + i / 4)
                ts.step(epoch + i / 4)
                lrs = [g["lr"] for g in opt.param_groups]
                assert lrs == pytest.approx([g["lr"] for g in topt.param_groups], rel=1e-12)
    assert s.T_i == ts.T_i and s.T_cur == pytest.approx(ts.T_cur)


def test_errors_name_the_problem():
    opt, _ = _opts() if torch is not None else (C.SGD([cr.nn.Parameter(np.zeros(1))], lr=0.1, momentum=0.9), None)
    s = C.OneCycleLR(opt, 1.0, total_steps=3)
    for _ in range(2):
        s.step()
    with pytest.raises(cr.errors.ArgumentError, match="tried to step 4 times"):
        s.step()
        s.step()
    ada = C.Adagrad([cr.nn.Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(cr.errors.ArgumentError, match="cycle_momentum"):
        C.OneCycleLR(ada, 1.0, total_steps=10)
    C.OneCycleLR(ada, 1.0, total_steps=10, cycle_momentum=False)
    with pytest.raises(cr.errors.ArgumentError, match="total_steps or both epochs and steps_per_epoch"):
        C.OneCycleLR(opt, 1.0)
    with pytest.raises(cr.errors.ArgumentError, match="milestones"):
        C.SequentialLR(opt, [C.LinearLR(opt), C.LinearLR(opt)], [])
    with pytest.raises(cr.errors.ArgumentTypeError, match="ReduceLROnPlateau"):
        C.SequentialLR(opt, [C.LinearLR(opt), C.ReduceLROnPlateau(opt)], [3])
    with pytest.raises(cr.errors.ArgumentError, match="start_factor"):
        C.LinearLR(opt, start_factor=0)
    with pytest.raises(cr.errors.ArgumentError, match="T_0"):
        C.CosineAnnealingWarmRestarts(opt, 0)
    with pytest.raises(cr.errors.ArgumentError, match="lr_lambdas"):
        C.LambdaLR(opt, [lambda e: 1.0] * 5)


def test_new_schedules_drive_fit():
    """fit steps an epoch-stepped scheduler once per epoch, whatever its kind."""
    X = np.random.default_rng(0).standard_normal((32, 2)).astype(np.float32)
    y = X @ np.array([[1.0], [-2.0]], np.float32)
    model = cr.nn.Linear(2, 1)
    opt = C.SGD(model.parameters(), lr=0.1)
    sched = C.SequentialLR(opt, [C.LinearLR(opt, 0.5, total_iters=2), C.MultiStepLR(opt, [1])], [2])
    cr.train.fit(model, cr.nn.MSELoss(), opt, (X, y), epochs=4, scheduler=sched, progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
