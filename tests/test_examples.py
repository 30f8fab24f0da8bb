"""The seeds' programs (examples/), each checked against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest

from test_seeds import load_example


def seed001_numpy(W1, W2, epochs=1000, lr=0.1):
    """Seed 001's program, verbatim in NumPy (the independent reference)."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([[0], [1], [1], [0]])
    W1, W2 = W1.copy(), W2.copy()

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    for _ in range(epochs):
        hidden_output = sigmoid(np.dot(X, W1))
        y_pred = sigmoid(np.dot(hidden_output, W2))
        output_delta = (y - y_pred) * (y_pred * (1 - y_pred))
        hidden_delta = output_delta.dot(W2.T) * (hidden_output * (1 - hidden_output))
        W2 += hidden_output.T.dot(output_delta) * lr
        W1 += X.T.dot(hidden_delta) * lr
    return W1, W2


def test_seed001_as_written_follows_the_tutorials_update_rule():
    ex = load_example("seed001_xor")
    rng = np.random.default_rng(42)
    W1, W2 = rng.random((2, 2)), rng.random((2, 1))
    r = ex.as_written(W1=W1, W2=W2)
    ref1, ref2 = seed001_numpy(W1, W2)
    np.testing.assert_allclose(r["W1"], ref1, rtol=1e-10)
    np.testing.assert_allclose(r["W2"], ref2, rtol=1e-10)
    assert r["mse"] > 0.2  # without biases this network does not solve XOR, as the tutorial's run shows


def test_seed001_with_biases_solves_xor():
    r = load_example("seed001_xor").with_biases()
    assert r["mse"] < 0.01
    assert np.round(r["prediction"]).tolist() == [0, 1, 1, 0]


def seed002_numpy(w, steps=100, lr=0.1):
    """Seed 002's hand-derived backward pass, verbatim (the independent reference)."""
    W1, B1, W2, B2, W3, B3 = (w[k].copy() for k in ("W1", "B1", "W2", "B2", "W3", "B3"))
    x, label = np.array([[5, 7]]).T, np.array(0.6)

    def sig(v):
        return 1 / (1 + np.exp(-v))

    losses = []
    for _ in range(steps):
        x2 = sig(np.dot(W1, x) + B1)
        x3 = sig(np.dot(W2, x2) + B2)
        y = sig(np.dot(W3, x3) + B3)
        losses.append(float(((y - label) ** 2).item()))
        dLdy = 2 * (y - label)
        dLdW3 = dLdy * y * (1 - y) * x3.T
        dLdB3 = dLdy * y * (1 - y)
        dLdx3 = dLdy * y * (1 - y) * W3.T
        dLdW2 = np.dot(dLdx3 * x3 * (1 - x3), x2.T)
        dLdB2 = dLdx3 * x3 * (1 - x3)
        dLdx2 = np.dot(W2.T, dLdx3 * x3 * (1 - x3))
        dLdW1 = np.dot(dLdx2 * x2 * (1 - x2), x.T)
        dLdB1 = dLdx2 * x2 * (1 - x2)
        W1 -= lr * dLdW1
        B1 -= lr * dLdB1
        W2 -= lr * dLdW2
        B2 -= lr * dLdB2
        W3 -= lr * dLdW3
        B3 -= lr * dLdB3
    return losses, {"W1": W1, "B1": B1, "W2": W2, "B2": B2, "W3": W3, "B3": B3}


def test_seed002_network_matches_the_hand_derived_gradients():
    ex = load_example("seed002_sigmoid_net")
    w = ex.initial_weights(seed=3)
    r = ex.train(w)
    ref_losses, ref_w = seed002_numpy(w)
    np.testing.assert_allclose(r["loss"], ref_losses, rtol=1e-10)
    for k in ref_w:
        np.testing.assert_allclose(r["weights"][k], ref_w[k], rtol=1e-10)
    table = [r["loss"][i] for i in (0, 20, 40, 60, 80, 99)]
    assert all(a > b for a, b in zip(table, table[1:]))  # the loss falls, as in the tutorial's table
    assert table[-1] < table[0] / 10


def test_seed002_descent_variants_and_optimizers(tmp_path):
    pytest.importorskip("matplotlib")
    ex = load_example("seed002_optimizers")
    r = ex.run(epochs=6)
    for group in ("variants", "optimizers"):
        for name, res in r[group].items():
            assert res["loss"][-1] < res["loss"][0], name
    assert r["variants"]["stochastic (batch 1)"]["steps_per_epoch"] == 480
    assert r["variants"]["full batch"]["steps_per_epoch"] == 1
    ex.plot(r, tmp_path / "opt.png")
    assert (tmp_path / "opt.png").stat().st_size > 10_000


def test_seed004_two_layer_net_gradient_check_and_training():
    ex = load_example("seed004_two_layer_net")
    import chainrule as cr

    data = cr.datasets.digits()
    net = ex.TwoLayerNet(64, 50, 10, weight_init_std=0.5)
    diffs = ex.gradient_check(net, data.X_train[:3], data.y_train[:3])
    assert set(diffs) == {"W1", "b1", "W2", "b2"}
    assert max(diffs.values()) < 1e-7
    _, log, _ = ex.train("digits", epochs=60)
    assert log[-1]["test_acc"] > 0.9 and log[-1]["train_acc"] > log[0]["train_acc"]
