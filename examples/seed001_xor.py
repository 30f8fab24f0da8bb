"""Seed 001's XOR network: 2-2-1, sigmoid, squared error, gradient descent at learning rate 0.1.

The tutorial's program updates the weights by hand with
    W += X^T delta * lr,   delta = (y - y_hat) * y_hat (1 - y_hat),
which is gradient descent on E = 1/2 sum (y - y_hat)^2. Here the same network
is a chainrule graph and backward computes the deltas. As written (no biases,
1,000 epochs) the network cannot represent XOR well; with biases it can.

Run: python examples/seed001_xor.py
"""

from __future__ import annotations

import numpy as np

import chainrule as cr

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)


def as_written(epochs=1000, lr=0.1, seed=0, W1=None, W2=None, record=100):
    """The tutorial's network: no biases, weights from U[0, 1), sum-of-squares loss."""
    rng = np.random.default_rng(seed)
    W1 = cr.tensor(rng.random((2, 2)) if W1 is None else W1, requires_grad=True, name="W1")
    W2 = cr.tensor(rng.random((2, 1)) if W2 is None else W2, requires_grad=True, name="W2")
    opt = cr.optim.SGD([W1, W2], lr=lr)
    log = []
    for epoch in range(epochs):
        y_pred = cr.sigmoid(cr.sigmoid(X @ W1) @ W2)
        mse = ((Y - y_pred) ** 2).mean()  # the loss the tutorial prints
        loss = 0.5 * ((Y - y_pred) ** 2).sum()  # the loss its update rule descends
        opt.zero_grad()
        loss.backward()
        opt.step()
        if epoch % record == 0:
            log.append((epoch, mse.item()))
    with cr.no_grad():
        final = cr.sigmoid(cr.sigmoid(X @ W1) @ W2)
    return {
        "W1": W1.numpy(),
        "W2": W2.numpy(),
        "log": log,
        "prediction": final.numpy().ravel(),
        "mse": float(((Y - final.numpy()) ** 2).mean()),
    }


def with_biases(epochs=3000, lr=2.0, seed=1):
    """The same 2-2-1 sigmoid network with biases, as Linear layers, trained by full-batch descent."""
    g = np.random.default_rng(seed)
    model = cr.nn.Sequential(
        cr.nn.Linear(2, 2, dtype=np.float64, generator=g),
        cr.nn.Sigmoid(),
        cr.nn.Linear(2, 1, dtype=np.float64, generator=g),
        cr.nn.Sigmoid(),
    )
    opt = cr.optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        loss = cr.nn.functional.mse_loss(model(X), Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with cr.no_grad():
        pred = model(X).numpy().ravel()
    return {"model": model, "prediction": pred, "mse": float(((Y.ravel() - pred) ** 2).mean())}


def main():
    r = as_written()
    print("as written (no biases), 1,000 epochs at lr 0.1:")
    for epoch, mse in r["log"]:
        print(f"  epoch {epoch:4d}  loss {mse:.6f}")
    print("  predictions", np.round(r["prediction"], 4), f" final loss {r['mse']:.4f}")
    b = with_biases()
    print("with biases, 3,000 full-batch epochs at lr 2.0:")
    print("  predictions", np.round(b["prediction"], 4), f" final loss {b['mse']:.6f}")


if __name__ == "__main__":
    main()
