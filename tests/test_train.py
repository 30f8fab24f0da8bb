"""fit: history, metrics, determinism, early stopping, checkpoints, and resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.train import EarlyStopping, History, Trainer, accuracy, evaluate, fit, predict


def spiral_data(seed=0, n=150):
    """Three noisy blobs on a circle, one per class."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 3, n)
    centres = np.stack([np.cos(2.1 * k), np.sin(2.1 * k)], 1)
    X = centres + rng.normal(0, 0.35, (n, 2))
    return X.astype(np.float32), k


def make(seed=0):
    g = np.random.default_rng(seed)
    return cr.nn.Sequential(
        cr.nn.Linear(2, 32, generator=g), cr.nn.Tanh(), cr.nn.Dropout(0.1), cr.nn.Linear(32, 3, generator=g)
    )


def test_fit_learns_and_records_history():
    X, y = spiral_data()
    m = make()
    h = fit(
        m,
        cr.nn.CrossEntropyLoss(),
        cr.optim.Adam(m.parameters(), lr=0.02),
        (X, y),
        epochs=30,
        val=(X, y),
        batch_size=16,
        seed=0,
    )
    assert isinstance(h, History) and len(h) == 30
    assert {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"} <= set(h.keys())
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["val_accuracy"][-1] > 0.8
    # the recorded validation numbers are what evaluate() computes independently
    ev = evaluate(m, cr.nn.CrossEntropyLoss(), (X, y))
    assert ev["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-5)
    assert ev["accuracy"] == pytest.approx(accuracy(predict(m, X), y))
    assert json.loads(h.to_json())["epochs"][0]["epoch"] == 1


def test_same_seed_same_result():
    X, y = spiral_data()
    finals = []
    for _ in range(2):
        m = make(1)
        fit(
            m,
            cr.nn.CrossEntropyLoss(),
            cr.optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
            (X, y),
            epochs=3,
            batch_size=8,
            seed=7,
        )
        finals.append([p.numpy().copy() for p in m.parameters()])
    for a, b in zip(*finals):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_restores_best():
    X, y = spiral_data()
    m = make()
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    # a huge learning rate makes the validation loss get worse quickly
    h = fit(
        m,
        cr.nn.CrossEntropyLoss(),
        cr.optim.SGD(m.parameters(), lr=5.0),
        (X, y),
        epochs=50,
        val=(X, y),
        callbacks=[es],
        batch_size=150,
        seed=0,
    )
    assert len(h) < 50 and es.stopped_epoch == len(h)
    best = min(h["val_loss"])
    assert es.best == pytest.approx(best)
    assert evaluate(m, cr.nn.CrossEntropyLoss(), (X, y))["loss"] == pytest.approx(best, rel=1e-5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is the point of this test
def test_non_finite_loss_stops_with_advice():
    X, y = spiral_data()
    m = make()
    with pytest.raises(cr.errors.ChainruleError, match="lower the learning rate"):
        fit(
            m,
            cr.nn.MSELoss(),
            cr.optim.SGD(m.parameters(), lr=1e6),
            (X, np.ones((len(X), 3), np.float32) * 1e3),
            epochs=5,
            metrics=(),
            batch_size=150,
        )


def test_scheduler_is_stepped_per_epoch():
    X, y = spiral_data()
    m = make()
    opt = cr.optim.SGD(m.parameters(), lr=0.1)
    h = fit(m, cr.nn.CrossEntropyLoss(), opt, (X, y), epochs=4, scheduler=cr.optim.StepLR(opt, 1, 0.5), batch_size=50)
    assert h["lr"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])


SCRIPT = textwrap.dedent("""
    import sys, time, numpy as np, chainrule as cr
    from chainrule.train import fit, Callback
    out, resume, slow = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 20)).astype(np.float32)
    y = (X[:, :3].sum(1) > 0).astype(np.int64) + (X[:, 3] > 1)
    g = np.random.default_rng(1)
    m = cr.nn.Sequential(cr.nn.Linear(20, 64, generator=g), cr.nn.ReLU(),
                         cr.nn.Dropout(0.2, generator=np.random.default_rng(2)), cr.nn.Linear(64, 3, generator=g))
    opt = cr.optim.Adam(m.parameters(), lr=1e-2)
    sched = cr.optim.CosineAnnealingLR(opt, T_max=8)
    class Slow(Callback):
        def on_epoch_end(self, trainer, logs):
            time.sleep(slow)
    fit(m, cr.nn.CrossEntropyLoss(), opt, (X, y), epochs=8, batch_size=32, seed=3, scheduler=sched,
        checkpoint_dir=out, resume=resume, callbacks=[Slow()])
    cr.save({"model": m, "optimizer": opt.state_dict()}, out + "/final.npz")
""")


def test_killed_run_resumes_to_identical_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run([sys.executable, str(script), str(full), "0", "0"], check=True, env=env, timeout=300)
    proc = subprocess.Popen([sys.executable, str(script), str(killed), "0", "0.4"], env=env)
    ckpt = killed / "checkpoint.npz"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it once a few epochs are checkpointed
        if ckpt.exists() and cr.load(ckpt)["epoch"] >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "final.npz").exists()
    epoch_at_kill = cr.load(ckpt)["epoch"]
    assert 3 <= epoch_at_kill < 8
    subprocess.run([sys.executable, str(script), str(killed), "1", "0"], check=True, env=env, timeout=300)
    a, b = cr.load(full / "final.npz"), cr.load(killed / "final.npz")
    for k, v in a["model"].items():
        np.testing.assert_array_equal(v, b["model"][k], err_msg=k)
    for idx, st in a["optimizer"]["state"].items():
        for k, v in st.items():
            np.testing.assert_array_equal(v, b["optimizer"]["state"][idx][k], err_msg=f"{idx}/{k}")
    assert [r["loss"] for r in cr.load(full / "checkpoint.npz")["history"]["epochs"]] == [
        r["loss"] for r in cr.load(killed / "checkpoint.npz")["history"]["epochs"]
    ]


def test_progress_bar_only_when_asked_or_on_a_terminal(capsys):
    pytest.importorskip("tqdm")
    X, y = spiral_data()
    m = make()
    fit(
        m,
        cr.nn.CrossEntropyLoss(),
        cr.optim.SGD(m.parameters(), lr=0.1),
        (X, y),
        epochs=1,
        batch_size=50,
        progress=True,
    )
    assert "epoch 1/1" in capsys.readouterr().err
    fit(m, cr.nn.CrossEntropyLoss(), cr.optim.SGD(m.parameters(), lr=0.1), (X, y), epochs=1, batch_size=50)
    assert capsys.readouterr().err == ""  # stderr is not a terminal here: quiet


def relu_net(seed=0):
    g = np.random.default_rng(seed)
    return cr.nn.Sequential(cr.nn.Linear(2, 16, generator=g), cr.nn.ReLU(), cr.nn.Linear(16, 3, generator=g))


def test_resume_after_early_stopping_trains_no_more(tmp_path):
    X, y = spiral_data()
    m = relu_net()
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
    m2 = relu_net(1)
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


# ------------------------------------------------------------------------------ non-finite losses
def fit_to_nan_targets(m):
    """Train with diagnostics on targets that make the very first loss NaN; fit must raise."""
    X, _ = spiral_data()
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


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_loss_leaves_the_weights_of_the_step_that_produced_it():
    m = relu_net()
    before = [p.numpy().copy() for p in m.parameters()]
    fit_to_nan_targets(m)
    for a, p in zip(before, m.parameters()):
        np.testing.assert_array_equal(a, p.numpy())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_loss_leaves_no_diagnostic_hooks_behind():
    m = relu_net()
    fit_to_nan_targets(m)
    assert all(not mod._forward_hooks for mod in m.modules())


def test_fit_reports_a_non_finite_one_element_loss():
    X = np.ones((4, 2), np.float32)
    y = np.zeros((4, 1), np.float32)
    m = cr.nn.Linear(2, 1)

    def bad(out, t):
        return ((out - t) ** 2).mean().reshape(1) * float("nan")

    with pytest.raises(cr.errors.ChainruleError, match="became nan"):
        cr.train.fit(m, bad, cr.optim.SGD(m.parameters(), lr=0.1), (X, y), epochs=1)


# ------------------------------------------------------------------------------ the loss recorded and evaluated
def two_class_problem(n):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    y = rng.integers(0, 2, n)
    return rng, X, y


def test_evaluate_loss_is_a_per_sample_mean_for_any_reduction_and_batch_size():
    _, X, y = two_class_problem(50)
    model = cr.nn.Linear(3, 2)
    ref = float(F.cross_entropy(model(cr.tensor(X)), y).item())  # mean over all 50 samples
    for reduction in ("mean", "sum"):
        for bs in (7, 50):
            res = cr.train.evaluate(model, cr.nn.CrossEntropyLoss(reduction=reduction), (X, y), batch_size=bs)
            assert res["loss"] == pytest.approx(ref, rel=1e-5)


def test_fit_refuses_a_loss_with_reduction_none():
    _, X, y = two_class_problem(50)
    model = cr.nn.Linear(3, 2)
    with pytest.raises(cr.errors.ChainruleError, match="reduction"):
        cr.train.fit(
            model, cr.nn.CrossEntropyLoss(reduction="none"), cr.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1
        )


def test_fit_records_a_per_sample_mean_loss_with_reduction_sum():
    # the first epoch's loss, taken before the steps move the weights, lies near ref for a tiny learning rate
    _, X, y = two_class_problem(50)
    model = cr.nn.Linear(3, 2)
    ref = float(F.cross_entropy(model(cr.tensor(X)), y).item())  # mean over all 50 samples
    h = cr.train.fit(
        model,
        cr.nn.CrossEntropyLoss(reduction="sum"),
        cr.optim.SGD(model.parameters(), lr=1e-9),
        (X, y),
        epochs=1,
        batch_size=10,
    )
    assert h.epochs[0]["loss"] == pytest.approx(ref, rel=1e-4)


def test_evaluate_with_reduction_none_averages_per_sample_losses_when_the_last_batch_has_one_sample():
    _, X, y = two_class_problem(10)
    m = cr.nn.Linear(3, 2)
    per_sample = F.cross_entropy(m(cr.tensor(X)), y, reduction="none").numpy()
    res = cr.train.evaluate(m, cr.nn.CrossEntropyLoss(reduction="none"), (X, y), batch_size=3)  # last batch: 1
    assert res["loss"] == pytest.approx(per_sample.mean(), rel=1e-6)


def test_evaluate_accepts_a_loss_of_shape_1():
    rng, X, _ = two_class_problem(10)
    m1 = cr.nn.Linear(3, 1)
    Y = rng.standard_normal((10, 1)).astype(np.float32)
    res = cr.train.evaluate(m1, lambda o, t: ((o - t) ** 2).mean(axis=0), (X, Y))  # a loss of shape (1,)
    assert res["loss"] == pytest.approx(float(((m1(cr.tensor(X)).numpy() - Y) ** 2).mean()), rel=1e-6)


def test_fit_refuses_reduction_none_on_a_single_sample():
    _, X, y = two_class_problem(10)
    m = cr.nn.Linear(3, 2)
    with pytest.raises(cr.errors.ChainruleError, match="reduction"):
        cr.train.fit(
            m, cr.nn.CrossEntropyLoss(reduction="none"), cr.optim.SGD(m.parameters(), lr=0.1), (X[:1], y[:1]), epochs=1
        )


# ------------------------------------------------------------------------------ empty data
def test_fit_refuses_empty_data():
    model = cr.nn.Linear(3, 2)
    X, y = np.zeros((0, 3), np.float32), np.zeros(0, np.int64)
    with pytest.raises(cr.errors.ChainruleError, match="no batches"):
        cr.train.fit(model, cr.nn.CrossEntropyLoss(), cr.optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=1)


def test_evaluate_refuses_empty_data():
    model = cr.nn.Linear(3, 2)
    X, y = np.zeros((0, 3), np.float32), np.zeros(0, np.int64)
    with pytest.raises(ValueError, match="no samples"):
        cr.train.evaluate(model, cr.nn.CrossEntropyLoss(), (X, y))


def test_predict_on_empty_data_keeps_the_shape():
    model = cr.nn.Linear(3, 2)
    X = np.zeros((0, 3), np.float32)
    assert cr.train.predict(model, X).shape == (0, 2)


# ------------------------------------------------------------------------------ History
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


def test_history_json_writes_non_finite_values_as_null():
    h = cr.train.History([{"epoch": 1, "loss": float("nan"), "val_loss": np.float32("inf")}])
    text = h.to_json()
    assert json.loads(text)["epochs"][0] == {"epoch": 1, "loss": None, "val_loss": None}


def test_history_read_back_from_json_keeps_nan_and_diagnostics():
    h = cr.train.History([{"epoch": 1, "loss": 0.5, "dead_relu/1": float("nan"), "grad_norm/1": 2.0}])
    back = cr.train.History.from_json(h.to_json())
    assert np.isnan(back.epochs[0]["dead_relu/1"])
    assert back.diagnostics() == h.diagnostics()


# -- the Trainer's named steps, and what losses and schedulers declare to it
def test_trainer_steps_by_hand_are_fit():
    # fit is a Trainer run: driving its named steps by hand gives the same weights and history
    X, y = spiral_data()
    runs = []
    for by_hand in (False, True):
        m = make(2)
        opt = cr.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        args = (m, cr.nn.CrossEntropyLoss(), opt, (X, y))
        if by_hand:
            t = Trainer(*args, val=(X, y), batch_size=16, seed=5)
            t.epochs = 3
            rows = [t.end_epoch(t.run_epoch(epoch)) for epoch in (1, 2, 3)]
            assert rows == t.history.epochs
            h = t.history
        else:
            h = fit(*args, epochs=3, val=(X, y), batch_size=16, seed=5)
        runs.append(([p.numpy().copy() for p in m.parameters()], h))
    (w_fit, h_fit), (w_hand, h_hand) = runs
    for a, b in zip(w_fit, w_hand):
        np.testing.assert_array_equal(a, b)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert h_fit[key] == h_hand[key]


def test_trainer_save_checkpoint_and_restore(tmp_path):
    # a run restored from its checkpoint continues exactly as the run that wrote it
    X, y = spiral_data()

    def trainer(seed_model):
        m = make(seed_model)
        opt = cr.optim.Adam(m.parameters(), lr=0.01)
        sched = cr.optim.StepLR(opt, 1, 0.5)
        return Trainer(m, cr.nn.CrossEntropyLoss(), opt, (X, y), scheduler=sched, batch_size=32, seed=1)

    a = trainer(0)
    a.epochs = 4
    a.end_epoch(a.run_epoch(1))
    a.save_checkpoint(tmp_path / "c.npz")
    a.end_epoch(a.run_epoch(2))
    b = trainer(9)  # other initial weights: restore replaces them (and the random streams, dropout's too)
    b.epochs = 4
    assert b.restore(tmp_path / "c.npz") == 1 and not b.stop
    b.end_epoch(b.run_epoch(2))
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert a.history.epochs[1]["loss"] == b.history.epochs[1]["loss"] and b.history["lr"] == [0.01, 0.005]
    with pytest.raises(cr.errors.ArgumentError, match="no checkpoint file"):
        b.save_checkpoint()


def test_accuracy_threshold_is_the_losses_declaration():
    # one output: accuracy counts output > the loss's decision_threshold as the positive class
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32).reshape(-1, 1)
    m = cr.nn.Linear(2, 1, generator=np.random.default_rng(0))
    m.bias.data[...] = 0.3  # outputs between 0 and 0.5 exist: the two thresholds disagree on them
    out = predict(m, X).reshape(-1)
    assert 0 < np.sum((out > 0) != (out > 0.5)) < len(out)
    by_hand = {t: float(np.mean((out > t) == (y.reshape(-1) > 0.5))) for t in (0.0, 0.5)}
    assert by_hand[0.0] != by_hand[0.5]
    assert cr.nn.BCEWithLogitsLoss.decision_threshold == 0.0 and cr.nn.BCELoss.decision_threshold == 0.5
    assert evaluate(m, cr.nn.BCEWithLogitsLoss(), (X, y))["accuracy"] == by_hand[0.0]
    assert evaluate(m, cr.nn.MSELoss(), (X, y))["accuracy"] == by_hand[0.5]

    def mse(o, t):  # a plain function: 0.5 unless it says otherwise
        return ((o - t) ** 2).mean()

    assert evaluate(m, mse, (X, y))["accuracy"] == by_hand[0.5]
    mse.decision_threshold = 0.0
    assert evaluate(m, mse, (X, y))["accuracy"] == by_hand[0.0]
    h = fit(m, mse, cr.optim.SGD(m.parameters(), lr=0.0), (X, y), epochs=1, batch_size=64)  # lr 0: the same outputs
    assert h["accuracy"] == [pytest.approx(by_hand[0.0])]


class Recorder:
    """A scheduler that declares it needs a metric, and records what it is given."""

    needs_metric = True

    def __init__(self, monitor):
        self.monitor = monitor
        self.seen = []

    def step(self, value):
        self.seen.append(value)

    def state_dict(self):
        return {}


def test_scheduler_gets_the_metric_it_monitors():
    X, y = spiral_data()
    m = make()
    for monitor, val in (("val_accuracy", (X, y)), ("loss", None), ("val_loss", None)):
        rec = Recorder(monitor)
        h = fit(m, cr.nn.CrossEntropyLoss(), cr.optim.SGD(m.parameters(), lr=0.1), (X, y), 2, val=val, scheduler=rec)
        # without validation data a val_ quantity is the training one
        assert rec.seen == h[monitor if val is not None else monitor.removeprefix("val_")]
    with pytest.raises(cr.errors.ChainruleError, match="monitors 'f1'"):
        fit(m, cr.nn.CrossEntropyLoss(), cr.optim.SGD(m.parameters(), lr=0.1), (X, y), 1, scheduler=Recorder("f1"))
    plateau = cr.optim.ReduceLROnPlateau(cr.optim.SGD(m.parameters(), lr=0.1))
    assert plateau.needs_metric and plateau.monitor == "val_loss" and not cr.optim.StepLR.needs_metric


def test_reduce_lr_on_plateau_follows_its_monitor():
    # monitoring an accuracy that cannot improve (lr 0 leaves the model as it is), in 'max' mode: the lr is cut
    # after `patience` epochs, as ReduceLROnPlateau.step would do given that accuracy by hand
    X, y = spiral_data()
    m = make()
    opt = cr.optim.SGD(m.parameters(), lr=1e-30)
    sched = cr.optim.ReduceLROnPlateau(opt, mode="max", patience=1, factor=0.5, monitor="val_accuracy")
    h = fit(m, cr.nn.CrossEntropyLoss(), opt, (X, y), 4, val=(X, y), scheduler=sched)
    twin = cr.optim.ReduceLROnPlateau(cr.optim.SGD(make().parameters(), lr=1e-30), mode="max", patience=1, factor=0.5)
    for acc in h["val_accuracy"]:
        twin.step(acc)
    assert opt.param_groups[0]["lr"] == twin.optimizer.param_groups[0]["lr"] == pytest.approx(0.5e-30)
