"""batch_norm on (N, C, L) and (N, C, H, W), BatchNorm1d/2d (running statistics, momentum None, PyTorch
state_dicts), group_norm/GroupNorm and channel dropout, against PyTorch in float64."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import requires_torch, torch


def _load_from_torch(ours, theirs):
    return ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


@requires_torch
@pytest.mark.parametrize("shape", [(6, 3), (5, 3, 7), (4, 3, 5, 6), (2, 3, 1, 1)])
def test_batch_norm_function_matches_torch_in_training_and_eval(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape) * 2 + 1
    w, b = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    v = rng.normal(size=shape)
    for training in (True, False):
        rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, 3)
        trm, trv = torch.tensor(rm.copy()), torch.tensor(rv.copy())
        ins = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = F.batch_norm(ins[0], rm, rv, ins[1], ins[2], training=training, momentum=0.3, eps=1e-3)
        (y * cr.tensor(v)).sum().backward()
        tins = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        ty = torch.nn.functional.batch_norm(tins[0], trm, trv, tins[1], tins[2], training, 0.3, 1e-3)
        (ty * torch.tensor(v)).sum().backward()
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-11, atol=1e-12)
        for a, t in zip(ins, tins):
            np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-11)
        np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-12)
        np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-12)


def _pair(cls, tcls, *args, **kw):
    ours = cls(*args, **kw).double()
    theirs = tcls(*args, **kw).double()
    rng = np.random.default_rng(5)
    if getattr(theirs, "weight", None) is not None:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(rng.uniform(0.5, 2, theirs.weight.shape)))
            theirs.bias.copy_(torch.tensor(rng.normal(size=theirs.bias.shape)))
    _load_from_torch(ours, theirs)
    return ours, theirs


def _step(ours, theirs, x, v):
    a = cr.tensor(x, requires_grad=True)
    y = ours(a)
    (y * cr.tensor(v)).sum().backward()
    t = torch.tensor(x, requires_grad=True)
    ty = theirs(t)
    (ty * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-10)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-9, atol=1e-10)
        p.grad = None
        tp.grad = None
    for (k, b), (tk, tb) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert k == tk
        np.testing.assert_allclose(np.asarray(b), tb.numpy(), rtol=1e-12, err_msg=k)


@requires_torch
@pytest.mark.parametrize("momentum", [0.1, None, 0.5])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
@pytest.mark.parametrize("dims", [1, 2])
def test_batchnorm_layers_match_torch_over_steps_and_modes(momentum, affine, track, dims):
    cls, tcls, shape = (
        (cr.nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 6))
        if dims == 2
        else (cr.nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3, 7))
    )
    ours, theirs = _pair(cls, tcls, 3, momentum=momentum, affine=affine, track_running_stats=track)
    rng = np.random.default_rng(1)
    for step in range(4):
        if step == 3:
            ours.eval()
            theirs.eval()
        x = rng.normal(size=shape) * 1.5 + 0.5
        _step(ours, theirs, x, rng.normal(size=shape))


@requires_torch
def test_batchnorm2d_loads_a_torch_state_dict_in_a_cnn():
    tm = torch.nn.Sequential(torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.GroupNorm(2, 4))
    tm.train()
    for _ in range(3):
        tm(torch.randn(8, 4, 6, 6) * 3 + 1)
    tm.eval()
    m = cr.nn.Sequential(cr.nn.BatchNorm2d(4), cr.nn.ReLU(), cr.nn.MaxPool2d(2), cr.nn.GroupNorm(2, 4))
    result = _load_from_torch(m, tm)
    assert not result.missing_keys and not result.unexpected_keys
    assert int(m[0].num_batches_tracked.numpy()) == 3
    m.eval()
    x = np.random.default_rng(0).normal(size=(2, 4, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(m(cr.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert list(m.state_dict()) == list(tm.state_dict())


def test_batchnorm2d_float32_stays_float32():
    bn = cr.nn.BatchNorm2d(3)
    x = cr.tensor(np.random.default_rng(0).normal(size=(4, 3, 5, 5)).astype(np.float32), requires_grad=True)
    y = bn(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and bn.weight.grad.dtype == np.float32
    assert bn.running_var.dtype == np.float32


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (5, 3, 4)])
def test_batch_norm_gradcheck(shape):
    rng = np.random.default_rng(2)
    ins = [
        cr.tensor(a, requires_grad=True) for a in (rng.normal(size=shape), rng.uniform(0.5, 2, 3), rng.normal(size=3))
    ]
    assert cr.gradcheck(lambda x, w, b: F.batch_norm(x, weight=w, bias=b) ** 2, *ins)


def test_batchnorm_errors_name_the_layer_and_shape():
    with pytest.raises(cr.errors.ShapeError, match=r"BatchNorm2d\(3\): expected input of shape \(N, 3, H, W\), got"):
        cr.nn.BatchNorm2d(3)(cr.tensor(np.zeros((2, 3, 4), np.float32)))
    with pytest.raises(cr.errors.ShapeError, match=r"BatchNorm1d\(3\): expected input of shape \(N, 3\) or"):
        cr.nn.BatchNorm1d(3)(cr.tensor(np.zeros((2, 4), np.float32)))
    with pytest.raises(cr.errors.ArgumentError, match="more than one value per channel"):
        cr.nn.BatchNorm2d(3)(cr.tensor(np.zeros((1, 3, 1, 1), np.float32)))
    with pytest.raises(cr.errors.ArgumentError, match="momentum"):
        cr.nn.BatchNorm2d(3, momentum=-0.1)


# ------------------------------------------------------------------------------ group norm
@requires_torch
@pytest.mark.parametrize("shape, groups", [((4, 6, 5, 3), 3), ((2, 4, 7), 4), ((3, 6), 2), ((2, 6, 2, 2, 2), 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_matches_torch(shape, groups, affine):
    ours, theirs = _pair(cr.nn.GroupNorm, torch.nn.GroupNorm, groups, shape[1], eps=1e-4, affine=affine)
    rng = np.random.default_rng(0)
    _step(ours, theirs, rng.normal(size=shape) * 2 + 1, rng.normal(size=shape))


def test_group_norm_gradcheck_and_errors():
    rng = np.random.default_rng(2)
    ins = [
        cr.tensor(a, requires_grad=True)
        for a in (rng.normal(size=(2, 4, 3)), rng.uniform(0.5, 2, 4), rng.normal(size=4))
    ]
    assert cr.gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b) ** 2, *ins)
    with pytest.raises(cr.errors.ArgumentError, match=r"group_norm: the number of channels 4 .* num_groups=3"):
        F.group_norm(ins[0], 3)
    with pytest.raises(cr.errors.ShapeError, match=r"group_norm: weight must have shape \(4,\)"):
        F.group_norm(ins[0], 2, ins[1][:3])
    with pytest.raises(cr.errors.ArgumentError, match="GroupNorm: num_channels"):
        cr.nn.GroupNorm(3, 4)


# ------------------------------------------------------------------------------ channel dropout
@pytest.mark.parametrize(
    "fn, shape", [(F.dropout2d, (8, 16, 3, 4)), (F.dropout1d, (8, 16, 5)), (F.dropout2d, (16, 3, 4))]
)
def test_channel_dropout_zeros_whole_channels_and_scales_the_rest(fn, shape):
    x = cr.tensor(np.random.default_rng(0).uniform(1, 2, shape), requires_grad=True)
    y = fn(x, 0.25, generator=np.random.default_rng(1))
    y.sum().backward()
    lead = len(shape) - (2 if fn is F.dropout2d else 1)
    kept = (y.numpy() != 0).reshape(shape[:lead] + (-1,))
    assert np.all(kept.all(-1) | ~kept.any(-1))  # each channel entirely kept or entirely dropped
    assert 0 < kept.all(-1).mean() < 1
    ratio = y.numpy() / x.numpy()
    np.testing.assert_allclose(ratio[ratio != 0], 1 / 0.75)
    np.testing.assert_allclose(x.grad.numpy(), ratio)
    assert fn(x, 0.25, training=False) is x


def test_dropout2d_layer_in_eval_is_identity_and_errors():
    m = cr.nn.Dropout2d(0.5)
    x = cr.tensor(np.ones((2, 3, 4, 4), np.float32))
    assert np.any(m(x).numpy() == 0)
    m.eval()
    np.testing.assert_array_equal(m(x).numpy(), x.numpy())
    with pytest.raises(cr.errors.ShapeError, match=r"dropout2d: expected a 3-D or 4-D input"):
        F.dropout2d(cr.tensor(np.ones((2, 3))), 0.5)
    with pytest.raises(cr.errors.ArgumentError, match=r"Dropout1d: p must be in \[0, 1\]"):
        cr.nn.Dropout1d(1.5)
