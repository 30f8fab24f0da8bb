"""Seed 004's two-layer network: Affine -> ReLU -> Affine -> Softmax-with-Loss.

First a gradient check (backprop against central differences), then
mini-batch learning: draw a random batch, compute the gradient by backward,
step, repeat, and report train and test accuracy once per epoch.

Run: python examples/seed004_two_layer_net.py [--dataset digits|fashion-mnist] [--epochs N]
(digits: 1,437 images, 14 batches of 100 per epoch, so it needs more epochs than Fashion-MNIST's 600.)
"""

from __future__ import annotations

import argparse

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F


class TwoLayerNet(cr.nn.Module):
    """The tutorial's network, W1 (input, hidden) as it writes it, weights ~ N(0, 0.01^2)."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, seed=0, dtype=np.float32):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.W1 = cr.nn.Parameter(weight_init_std * rng.standard_normal((input_size, hidden_size)).astype(dtype))
        self.b1 = cr.nn.Parameter(np.zeros(hidden_size, dtype))
        self.W2 = cr.nn.Parameter(weight_init_std * rng.standard_normal((hidden_size, output_size)).astype(dtype))
        self.b2 = cr.nn.Parameter(np.zeros(output_size, dtype))

    def forward(self, x):  # Affine1 -> Relu1 -> Affine2 (scores)
        return cr.relu(x @ self.W1 + self.b1) @ self.W2 + self.b2

    def loss(self, x, t):  # SoftmaxWithLoss: one fused node, backward (y - t) / N
        return F.cross_entropy(self(x), t)

    def accuracy(self, x, t):
        with cr.no_grad():
            return float((self(x).numpy().argmax(axis=1) == np.asarray(t)).mean())


def gradient_check(net, x, t, eps=1e-6):
    """Mean |backprop - numerical| per parameter, in float64 (the tutorial's check)."""
    net64 = TwoLayerNet(1, 1, 1, dtype=np.float64)
    for name in ("W1", "b1", "W2", "b2"):
        setattr(net64, name, cr.nn.Parameter(getattr(net, name).numpy().astype(np.float64)))
    x = np.asarray(x, np.float64)
    net64.zero_grad()
    net64.loss(x, t).backward()
    diffs = {}
    for name in ("W1", "b1", "W2", "b2"):
        p = getattr(net64, name)
        (num,) = cr.numerical_grad(lambda q, name=name: _loss_with(net64, name, q, x, t), p, eps=eps)
        diffs[name] = float(np.mean(np.abs(p.grad.numpy() - num)))
    return diffs


def _loss_with(net, name, value, x, t):
    saved = getattr(net, name).data
    getattr(net, name).data = value.data
    try:
        return net.loss(x, t)
    finally:
        getattr(net, name).data = saved


def train(dataset="digits", epochs=10, batch_size=100, lr=0.1, hidden=50, seed=0, root=None):
    data = cr.datasets.digits() if dataset == "digits" else cr.datasets.fashion_mnist(root=root)
    X, y, Xt, yt = data.X_train, data.y_train, data.X_test, data.y_test
    net = TwoLayerNet(X.shape[1], hidden, data.n_classes, seed=seed)
    opt = cr.optim.SGD(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    iters_per_epoch = max(len(X) // batch_size, 1)
    log = []
    for i in range(epochs * iters_per_epoch):
        idx = rng.choice(len(X), batch_size)  # a random mini-batch, as in the tutorial
        opt.zero_grad()
        loss = net.loss(X[idx], y[idx])
        loss.backward()
        opt.step()
        if (i + 1) % iters_per_epoch == 0:
            log.append(
                {
                    "epoch": (i + 1) // iters_per_epoch,
                    "loss": loss.item(),
                    "train_acc": net.accuracy(X, y),
                    "test_acc": net.accuracy(Xt, yt),
                }
            )
    return net, log, data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=("digits", "fashion-mnist"), default="digits")
    ap.add_argument("--epochs", type=int, default=None, help="default: 150 for digits, 10 for fashion-mnist")
    args = ap.parse_args()
    epochs = args.epochs or (150 if args.dataset == "digits" else 10)
    data = cr.datasets.digits()
    net = TwoLayerNet(data.X_train.shape[1], 50, 10)
    print("gradient check (mean |backprop - numerical|):")
    for k, v in gradient_check(net, data.X_train[:3], data.y_train[:3]).items():
        print(f"  {k}: {v:.3e}")
    _, log, _ = train(args.dataset, epochs)
    print(f"mini-batch learning on {args.dataset}:")
    every = max(1, epochs // 10)
    for r in log:
        if r["epoch"] % every and r["epoch"] != epochs:
            continue
        print(
            f"  epoch {r['epoch']:3d}  loss {r['loss']:.4f}  train acc {r['train_acc']:.4f}  "
            f"test acc {r['test_acc']:.4f}"
        )


if __name__ == "__main__":
    main()
