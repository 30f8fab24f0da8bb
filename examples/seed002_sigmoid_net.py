"""Seed 002's 2-3-3-1 sigmoid network on one sample x = [5, 7], label 0.6.

Column-vector layout as in the tutorial: x2 = sigmoid(W1 x + B1),
x3 = sigmoid(W2 x2 + B2), y = sigmoid(W3 x3 + B3); loss (y - label)^2;
100 steps of gradient descent at learning rate 0.1. The tutorial writes the
six gradients out by hand; here backward computes them.

Run: python examples/seed002_sigmoid_net.py
"""

from __future__ import annotations

import numpy as np

import chainrule as cr

X = np.array([[5.0], [7.0]])
LABEL = 0.6


def initial_weights(seed=0):
    """W1 (3,2), B1 (3,1), W2 (3,3), B2 (3,1), W3 (1,3), B3 (1,1), uniform in [0, 1) as in the tutorial."""
    rng = np.random.default_rng(seed)
    shapes = {"W1": (3, 2), "B1": (3, 1), "W2": (3, 3), "B2": (3, 1), "W3": (1, 3), "B3": (1, 1)}
    return {k: rng.random(s) for k, s in shapes.items()}


def train(weights=None, steps=100, lr=0.1):
    """Returns the loss and prediction at every step, and the final weights."""
    w = {k: cr.tensor(v, requires_grad=True, name=k) for k, v in (weights or initial_weights()).items()}
    opt = cr.optim.SGD(w.values(), lr=lr)
    losses, preds = [], []
    for _ in range(steps):
        x2 = cr.sigmoid(w["W1"] @ X + w["B1"])
        x3 = cr.sigmoid(w["W2"] @ x2 + w["B2"])
        y = cr.sigmoid(w["W3"] @ x3 + w["B3"])
        loss = ((y - LABEL) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        preds.append(y.item())
    return {"loss": losses, "prediction": preds, "weights": {k: v.numpy() for k, v in w.items()}}


def main():
    r = train()
    print("step  prediction  loss")
    for i in (0, 20, 40, 60, 80, 99):
        print(f"{i:4d}  {r['prediction'][i]:.8f}  {r['loss'][i]:.8f}")


if __name__ == "__main__":
    main()
