"""Modules: registration, names, state, train/eval, and layers equal to PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn

from conftest import compare_with_torch, requires_torch, torch


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        self.scale = nn.Parameter(np.ones(3, np.float32))

    def forward(self, x):
        return self.layers(x) * self.scale


def test_registration_order_and_names():
    m = Net()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"] or names == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.2.weight",
        "layers.2.bias",
        "scale",
    ]
    # parameters carry their attribute path as their name (used by explain and pictures)
    assert [p.name for _, p in m.named_parameters()] == names
    assert len(list(m.children())) == 1
    assert m.num_parameters() == 4 * 8 + 8 + 8 * 3 + 3 + 3
    assert "Linear(in_features=4, out_features=8, bias=True)" in repr(m)


def test_order_is_assignment_order():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = nn.Linear(2, 2)
            self.a = nn.Linear(2, 2)

    assert [n for n, _ in M().named_parameters()] == ["b.weight", "b.bias", "a.weight", "a.bias"]


def test_shared_parameter_listed_once():
    lin = nn.Linear(3, 3)
    m = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(m.parameters())) == 2


def test_train_eval_and_zero_grad():
    m = Net()
    m.eval()
    assert all(not s.training for s in m.modules())
    m.train()
    assert all(s.training for s in m.modules())
    y = m(cr.randn(5, 4)).sum()
    y.backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip_and_mismatch_report():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    sd = dict(a.state_dict())
    sd["layers.0.weight"] = np.zeros((2, 2), np.float32)
    del sd["scale"]
    sd["extra"] = np.zeros(1)
    with pytest.raises(cr.errors.SerializationError) as e:
        b.load_state_dict(sd)
    msg = str(e.value)
    assert "missing: scale" in msg and "unexpected: extra" in msg
    assert "layers.0.weight: shape (2, 2) in the file, (8, 4) in the model" in msg


def test_seeded_init_is_reproducible_and_pytorch_shaped():
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    l1, l2 = nn.Linear(100, 50, generator=g1), nn.Linear(100, 50, generator=g2)
    np.testing.assert_array_equal(l1.weight.numpy(), l2.weight.numpy())
    bound = 1 / np.sqrt(100)
    assert l1.weight.shape == (50, 100) and l1.bias.shape == (50,)
    assert np.abs(l1.weight.numpy()).max() <= bound and np.abs(l1.weight.numpy()).max() > 0.9 * bound
    assert l1.weight.dtype == np.float32


@pytest.mark.parametrize(
    "fn,gain_name,expected_std",
    [
        (nn.init.xavier_uniform_, None, np.sqrt(2 / (300 + 200))),
        (nn.init.xavier_normal_, None, np.sqrt(2 / (300 + 200))),
        (nn.init.kaiming_uniform_, "relu", np.sqrt(2) / np.sqrt(300)),
        (nn.init.kaiming_normal_, "relu", np.sqrt(2) / np.sqrt(300)),
    ],
)
def test_init_statistics(fn, gain_name, expected_std):
    t = cr.zeros(200, 300)
    if gain_name:
        fn(t, nonlinearity=gain_name, generator=np.random.default_rng(0))
    else:
        fn(t, generator=np.random.default_rng(0))
    assert t.numpy().std() == pytest.approx(expected_std, rel=0.02)
    assert abs(t.numpy().mean()) < 0.05 * expected_std * 10


def test_dropout_train_and_eval():
    x = cr.ones(200, 100)
    d = nn.Dropout(0.3, generator=np.random.default_rng(0))
    y = d(x).numpy()
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert (y == 0).mean() == pytest.approx(0.3, abs=0.02)
    assert y.mean() == pytest.approx(1.0, abs=0.03)
    d.eval()
    assert d(x) is x


def test_dropout_gradient_uses_the_same_mask():
    x = cr.tensor(np.ones((10, 10)), requires_grad=True)
    y = nn.Dropout(0.5, generator=np.random.default_rng(1))(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())


@requires_torch
def test_linear_and_activations_match_torch():
    x = np.random.default_rng(0).standard_normal((6, 4))
    lin = nn.Linear(4, 3).double()
    tl = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(lin.weight.numpy()))
        tl.bias.copy_(torch.tensor(lin.bias.numpy()))
    compare_with_torch(lambda t: lin(t), lambda t: tl(t), x, check_numeric=False)
    for ours, theirs in [
        (nn.ReLU(), torch.nn.ReLU()),
        (nn.Tanh(), torch.nn.Tanh()),
        (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
        (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Identity(), torch.nn.Identity()),
        (nn.Softplus(), torch.nn.Softplus()),
    ]:
        compare_with_torch(ours, theirs, x + 0.05, check_numeric=False)


@requires_torch
@pytest.mark.parametrize("shape", [(8, 3), (8, 3, 5)])
def test_batchnorm_matches_torch_in_train_and_eval(shape):
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm1d(3, momentum=0.2).double()
    tbn = torch.nn.BatchNorm1d(3, momentum=0.2).double()
    g, b = rng.standard_normal(3), rng.standard_normal(3)
    bn.weight.data[:] = g
    bn.bias.data[:] = b
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(g))
        tbn.bias.copy_(torch.tensor(b))
    for step in range(3):
        x = rng.standard_normal(shape) * 2 + 1
        compare_with_torch(bn, tbn, x, check_numeric=False, seed=step)
        for p, tp in zip(bn.parameters(), tbn.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-8)
            p.grad = None
            tp.grad = None
    np.testing.assert_allclose(bn.running_mean.numpy(), tbn.running_mean.numpy(), rtol=1e-10)
    np.testing.assert_allclose(bn.running_var.numpy(), tbn.running_var.numpy(), rtol=1e-10)
    bn.eval()
    tbn.eval()
    compare_with_torch(bn, tbn, rng.standard_normal(shape), check_numeric=False)


def test_batchnorm_gradcheck():
    rng = np.random.default_rng(2)
    x = cr.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    w = cr.tensor(rng.standard_normal(3), requires_grad=True)
    b = cr.tensor(rng.standard_normal(3), requires_grad=True)
    assert cr.gradcheck(lambda x, w, b: nn.functional.batch_norm(x, None, None, w, b, training=True), x, w, b)


@requires_torch
def test_loss_modules_match_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4))
    y = rng.integers(0, 4, 5)
    pairs = [
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), y),
        (
            nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.2),
            torch.nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.2),
            y,
        ),
        (nn.NLLLoss(), torch.nn.NLLLoss(), y),
    ]
    for ours, theirs, target in pairs:
        compare_with_torch(
            lambda t, o=ours, y=target: o(t, y),
            lambda t, o=theirs, y=target: o(t, torch.tensor(y)),
            x,
            check_numeric=False,
        )
    t01 = rng.uniform(0, 1, (5, 4))
    compare_with_torch(lambda t: nn.MSELoss()(t, t01), lambda t: torch.nn.MSELoss()(t, torch.tensor(t01)), x)
    compare_with_torch(
        lambda t: nn.BCEWithLogitsLoss()(t, t01), lambda t: torch.nn.BCEWithLogitsLoss()(t, torch.tensor(t01)), x
    )
    p = 1 / (1 + np.exp(-x))
    compare_with_torch(lambda t: nn.BCELoss()(t, t01), lambda t: torch.nn.BCELoss()(t, torch.tensor(t01)), p)


def test_module_double_and_setattr_rules():
    m = Net().double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    m.layers = nn.Identity()
    assert [n for n, _ in m.named_parameters()] == ["scale"]
    with pytest.raises(AttributeError, match="super"):

        class Bad(nn.Module):
            def __init__(self):
                self.w = nn.Parameter(np.ones(1))

        Bad()


@requires_torch
def test_dropout_of_one_matches_torch():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    y = cr.nn.Dropout(1.0)(x)
    y.sum().backward()
    tx = torch.ones((2, 3), dtype=torch.float64, requires_grad=True)
    ty = torch.nn.Dropout(1.0)(tx)
    ty.sum().backward()
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_batchnorm_momentum_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="momentum"):
        cr.nn.BatchNorm1d(3, momentum=1.5)


# ---------------------------------------------------------------------- assigning buffers and parameters
def test_assigning_an_array_to_a_buffer_keeps_it_a_tensor():
    bn = cr.nn.BatchNorm1d(3)
    bn.running_mean = np.arange(3.0, dtype=np.float32)
    assert isinstance(bn.running_mean, cr.Tensor)
    np.testing.assert_array_equal(bn.state_dict()["running_mean"], [0.0, 1.0, 2.0])
    bn.eval()
    out = bn(cr.tensor(np.zeros((2, 3), np.float32)))
    np.testing.assert_allclose(out.numpy(), np.tile(-np.arange(3.0) / np.sqrt(1 + 1e-5), (2, 1)), rtol=1e-6)


def test_buffer_assignment_copies_into_the_buffer_dtype():
    bn = cr.nn.BatchNorm1d(3)
    v = np.ones(3, np.float64)
    v.flags.writeable = False
    bn.running_mean = v
    assert bn.running_mean.dtype == np.float32
    assert bn.running_mean.numpy().flags.writeable
    assert not np.shares_memory(bn.running_mean.numpy(), v)
    bn(cr.tensor(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)))  # updates in place
    np.testing.assert_array_equal(v, np.ones(3))


def test_register_buffer_copies_the_array():
    m = cr.nn.Module()
    own = np.zeros(2, np.float32)
    m.register_buffer("count", own)
    assert not np.shares_memory(m.count.numpy(), own)


def test_int_list_assigned_to_an_int_buffer_stays_exact():
    m = cr.nn.Module()
    m.register_buffer("count", cr.tensor(np.zeros(3, np.int64)))
    m.count = [1, 2, 3]
    assert m.count.dtype == np.int64
    np.testing.assert_array_equal(m.count.numpy(), [1, 2, 3])


def test_buffer_assignment_refuses_a_lossy_cast():
    m = cr.nn.Module()
    m.register_buffer("count", cr.tensor(np.zeros(3, np.int64)))
    m.count = [1, 2, 3]
    with pytest.raises(TypeError, match="count"):
        m.count = [1.5, 2.5, 3.7]
    np.testing.assert_array_equal(m.count.numpy(), [1, 2, 3])


def test_parameters_cannot_be_replaced_by_plain_tensors():
    lin = cr.nn.Linear(2, 2)
    with pytest.raises(cr.errors.ArgumentTypeError, match="weight"):
        lin.weight = cr.ones(2, 2)
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]


# ---------------------------------------------------------------------- state_dict, as in PyTorch
@requires_torch
def test_state_dict_of_tied_weights_lists_every_name_like_torch():
    a, b = cr.nn.Linear(2, 2), cr.nn.Linear(2, 2)
    b.weight = a.weight
    m = cr.nn.Sequential(a, b)
    ta, tb = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    tb.weight = ta.weight
    tm = torch.nn.Sequential(ta, tb)
    assert list(m.state_dict()) == list(tm.state_dict())
    untied = cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.Linear(2, 2))
    untied.load_state_dict(m.state_dict())  # every name is there


@requires_torch
def test_non_strict_loading_reports_missing_and_unexpected_keys_like_torch():
    untied = cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.Linear(2, 2))
    r = untied.load_state_dict({"0.weight": np.zeros((2, 2), np.float32), "extra": np.zeros(1)}, strict=False)
    tr = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)).load_state_dict(
        {"0.weight": torch.zeros(2, 2), "extra": torch.zeros(1)}, strict=False
    )
    assert r.missing_keys == tr.missing_keys and r.unexpected_keys == tr.unexpected_keys
