"""The seeds' programs (examples/), each checked against an independent computation."""

from __future__ import annotations

import pathlib

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


def test_simple_convnet_hand_written_convolution_equals_conv2d():
    """DLFS ch. 7's convolution (im2col, one product, col2im) against cr.nn.Conv2d and central differences."""
    ex = load_example("simple_convnet")
    import chainrule as cr
    import chainrule.nn.functional as F

    configs = [{}, {"stride": 2, "pad": 1}, {"n": 1, "c": 1, "fn": 30, "size": 28, "fs": 5}, {"size": 8, "fs": 2}]
    for cfg in configs:
        diffs = ex.check_against_conv2d(**cfg)
        assert max(diffs.values()) < 1e-10, (cfg, diffs)
    assert ex.gradcheck_convolution() and ex.gradcheck_convolution(stride=2, pad=0, size=7)
    # im2col's rows are unfold's columns: the same patches in the same (c, y, x) order
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 6))
    cols = F.unfold(cr.tensor(x), 3, padding=1, stride=2).numpy()  # (N, C*9, L)
    ours = ex.im2col(x, 3, 3, stride=2, pad=1)  # (N*L, C*9)
    np.testing.assert_array_equal(ours, cols.transpose(0, 2, 1).reshape(-1, 27))
    # an input that needs no gradient (the images) gets none, and the filters' gradient is unchanged
    W = cr.tensor(np.random.default_rng(2).standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = cr.tensor(np.zeros(4), requires_grad=True)
    ex.convolution(x, W, b, 1, 1).sum().backward()
    conv = cr.nn.Conv2d(3, 4, 3, padding=1).to(cr.float64)
    conv.weight.data = W.numpy().copy()
    conv(cr.tensor(x)).sum().backward()
    np.testing.assert_allclose(W.grad.numpy(), conv.weight.grad.numpy(), rtol=1e-12)


@pytest.mark.skipif(
    not (pathlib.Path("/usr/share/datasets/fashion-mnist") / "train-images-idx3-ubyte.gz").exists(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)
def test_simple_convnet_learns_fashion_mnist():
    """A reduced run: 400 images in batches of 10, one epoch; the loss on them falls from the untrained net's."""
    ex = load_example("simple_convnet")
    data = ex.load(limit=400)
    net, history = ex.train(epochs=1, batch_size=10, test_limit=500, data=data)
    X, y = data[:2]
    untrained = ex.SimpleConvNet(seed=0)
    assert [p.shape for p in net.parameters()] == [(30, 1, 5, 5), (30,), (4320, 100), (100,), (100, 10), (10,)]
    before, after = untrained.loss(X, y).item(), net.loss(X, y).item()
    assert after < 0.9 * before, (before, after)  # 2.30 (ln 10) to about 1.6
    assert history[0]["test_acc"] > 0.3  # chance is 0.1; about 0.5 here
