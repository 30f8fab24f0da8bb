"""Regression tests for bugs found in review; each compares against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

# -- cross_entropy on (N, C, d1, d2) logits: second derivatives keep the axis order


# -- cross_entropy's gradient w.r.t. probability targets is -log softmax, even where softmax underflows


# -- optimizer state of a 0-d parameter survives state_dict/load_state_dict


# -- cr.grad with respect to an intermediate leaves the graph below it intact


# -- transpose / flatten validate their axes


# -- save/load: no key a user picks can collide with another member or the header


# -- fit: resuming a run that stopped early trains nothing more
def _blobs(n=150, seed=0):
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    X = np.stack([np.cos(2.1 * k), np.sin(2.1 * k)], 1) + rng.normal(0, 0.35, (n, 2))
    return X.astype(np.float32), k


def _net(seed=0):
    g = np.random.default_rng(seed)
    return cr.nn.Sequential(cr.nn.Linear(2, 16, generator=g), cr.nn.ReLU(), cr.nn.Linear(16, 3, generator=g))


def test_resume_after_early_stopping_trains_no_more(tmp_path):
    from chainrule.train import EarlyStopping, fit

    X, y = _blobs()
    m = _net()
    es = EarlyStopping(monitor="val_loss", patience=1)
    h = fit(
        m,
        cr.nn.CrossEntropyLoss(),
        cr.optim.SGD(m.parameters(), lr=5.0),
        (X, y),
        epochs=40,
        val=(X, y),
        callbacks=[es],
        batch_size=150,
        seed=0,
        checkpoint_dir=tmp_path,
    )
    assert len(h) < 40
    weights = [p.numpy().copy() for p in m.parameters()]
    m2 = _net(1)
    h2 = fit(
        m2,
        cr.nn.CrossEntropyLoss(),
        cr.optim.SGD(m2.parameters(), lr=5.0),
        (X, y),
        epochs=40,
        val=(X, y),
        callbacks=[EarlyStopping(monitor="val_loss", patience=1)],
        batch_size=150,
        seed=0,
        checkpoint_dir=tmp_path,
        resume=True,
    )
    assert len(h2) == len(h)
    for a, b in zip(weights, m2.parameters()):
        np.testing.assert_array_equal(a, b.numpy())


# -- fit: a non-finite loss leaves the weights of the step that produced it, and no hooks behind
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_loss_keeps_weights_and_removes_diagnostic_hooks():
    from chainrule.train import fit

    X, y = _blobs()
    m = _net()
    before = [p.numpy().copy() for p in m.parameters()]
    Y = np.full((len(X), 3), np.nan, np.float32)
    with pytest.raises(cr.errors.ChainruleError, match="lower the learning rate"):
        fit(
            m,
            cr.nn.MSELoss(),
            cr.optim.SGD(m.parameters(), lr=0.1),
            (X, Y),
            epochs=2,
            metrics=(),
            batch_size=150,
            diagnostics=True,
        )
    for a, p in zip(before, m.parameters()):
        np.testing.assert_array_equal(a, p.numpy())
    assert all(not mod._forward_hooks for mod in m.modules())


# -- reductions at the edges: empty axes, no degrees of freedom, NaN maxima


# -- gradients delivered to different leaves never share memory; 0-d gradients are arrays


# -- assigning an array to a registered buffer keeps it a Tensor


# -- explain on a graph with a multi-output node: per-output gradients equal backward's


# -- explain only looks: retained gradients are untouched


# -- gradcheck_graph re-runs a dropout node with its recorded mask


# -- explain_step on a scalar parameter, and an index that is out of range


# -- manual_seed makes shuffling without an explicit seed repeatable; arange honours step


# -- integer tensors in float operations become float32, as in PyTorch


# -- gradcheck: with some tensor requiring grad, plain arrays are constants


# -- second derivatives through batch norm and binary cross-entropy agree with PyTorch


# -- a leaf's gradient is C-contiguous like its parameter (a transposed view would slow every optimizer pass)


# -- second review of the engine changes


# -- third review


# -- review of training, files and the command line


def test_fit_and_evaluate_losses_do_not_depend_on_reduction_or_batch_size():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3)).astype(np.float32)
    y = rng.integers(0, 2, 50)
    model = cr.nn.Linear(3, 2)
    ref = float(F.cross_entropy(model(cr.tensor(X)), y).item())  # mean over all 50 samples
    for reduction in ("mean", "sum"):
        for bs in (7, 50):
            res = cr.train.evaluate(model, cr.nn.CrossEntropyLoss(reduction=reduction), (X, y), batch_size=bs)
            assert res["loss"] == pytest.approx(ref, rel=1e-5)
    with pytest.raises(cr.errors.ChainruleError, match="reduction"):
        cr.train.fit(
            model, cr.nn.CrossEntropyLoss(reduction="none"), cr.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1
        )
    # with 'sum' the recorded training loss is still a per-sample mean: the first epoch's loss, taken before
    # the steps move the weights, lies near ref for a tiny learning rate
    h = cr.train.fit(
        model,
        cr.nn.CrossEntropyLoss(reduction="sum"),
        cr.optim.SGD(model.parameters(), lr=1e-9),
        (X, y),
        epochs=1,
        batch_size=10,
    )
    assert h.epochs[0]["loss"] == pytest.approx(ref, rel=1e-4)


def test_empty_data_is_refused_and_predict_keeps_the_shape():
    model = cr.nn.Linear(3, 2)
    X, y = np.zeros((0, 3), np.float32), np.zeros(0, np.int64)
    with pytest.raises(cr.errors.ChainruleError, match="no batches"):
        cr.train.fit(model, cr.nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1)
    with pytest.raises(ValueError, match="no samples"):
        cr.train.evaluate(model, cr.nn.CrossEntropyLoss(), (X, y))
    assert cr.train.predict(model, X).shape == (0, 2)


def test_history_plot_leaves_the_matplotlib_backend_alone(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("svg")
    try:
        h = cr.train.History([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}])
        h.plot(tmp_path / "h.png")
        assert matplotlib.get_backend().lower() == "svg"
        assert (tmp_path / "h.png").stat().st_size > 0
    finally:
        plt.switch_backend(before)


def test_history_json_has_no_nan():
    import json

    h = cr.train.History([{"epoch": 1, "loss": float("nan"), "val_loss": np.float32("inf")}])
    text = h.to_json()
    assert json.loads(text)["epochs"][0] == {"epoch": 1, "loss": None, "val_loss": None}


# -- review of the fixes above


def test_losses_of_one_element_in_any_shape():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((10, 3)).astype(np.float32)
    y = rng.integers(0, 2, 10)
    m = cr.nn.Linear(3, 2)
    per_sample = F.cross_entropy(m(cr.tensor(X)), y, reduction="none").numpy()
    res = cr.train.evaluate(m, cr.nn.CrossEntropyLoss(reduction="none"), (X, y), batch_size=3)  # last batch: 1
    assert res["loss"] == pytest.approx(per_sample.mean(), rel=1e-6)
    m1 = cr.nn.Linear(3, 1)
    Y = rng.standard_normal((10, 1)).astype(np.float32)
    res = cr.train.evaluate(m1, lambda o, t: ((o - t) ** 2).mean(axis=0), (X, Y))  # a loss of shape (1,)
    assert res["loss"] == pytest.approx(float(((m1(cr.tensor(X)).numpy() - Y) ** 2).mean()), rel=1e-6)
    with pytest.raises(cr.errors.ChainruleError, match="reduction"):
        cr.train.fit(
            m, cr.nn.CrossEntropyLoss(reduction="none"), cr.optim.SGD(m.parameters(), lr=0.1), (X[:1], y[:1]), epochs=1
        )


def test_history_read_back_keeps_nan_and_prints_diagnostics():
    h = cr.train.History([{"epoch": 1, "loss": 0.5, "dead_relu/1": float("nan"), "grad_norm/1": 2.0}])
    back = cr.train.History.from_json(h.to_json())
    assert np.isnan(back.epochs[0]["dead_relu/1"])
    assert back.diagnostics() == h.diagnostics()


# -- a new user's walk through the README, and edge cases against PyTorch


def test_fit_reports_a_non_finite_one_element_loss():
    X = np.ones((4, 2), np.float32)
    y = np.zeros((4, 1), np.float32)
    m = cr.nn.Linear(2, 1)

    def bad(out, t):
        return ((out - t) ** 2).mean().reshape(1) * float("nan")

    with pytest.raises(cr.errors.ChainruleError, match="became nan"):
        cr.train.fit(m, bad, cr.optim.SGD(m.parameters(), lr=0.1), (X, y), epochs=1)


# -- review of the chain-rule trace


# -- a PyTorch user's review of tensors, modules and loaders


# -- the stale check by memory region


# -- the stale check, second look
