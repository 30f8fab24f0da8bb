"""Seed 002's comparisons on one problem: three ways to batch gradient descent, four optimizers.

Problem: the 3-class spiral, a 2-64-64-3 tanh MLP, cross-entropy loss.
  descent variants (plain SGD): full batch, stochastic (batch 1), mini-batch (32)
  optimizers (mini-batch 32):   SGD, Momentum, AdaGrad, Adam
Every run starts from the same initial weights. Writes optimizers.png when
matplotlib is installed.

Run: python examples/seed002_optimizers.py [--epochs 60] [--out optimizers.png]
"""

from __future__ import annotations

import argparse

import numpy as np

import chainrule as cr
from chainrule.train import fit

VARIANTS = {  # name: (batch size, learning rate)
    "full batch": (None, 1.0),
    "stochastic (batch 1)": (1, 0.01),
    "mini-batch (32)": (32, 0.1),
}
OPTIMIZERS = {
    "SGD": lambda ps: cr.optim.SGD(ps, lr=0.1),
    "Momentum": lambda ps: cr.optim.SGD(ps, lr=0.05, momentum=0.9),
    "AdaGrad": lambda ps: cr.optim.Adagrad(ps, lr=0.05),
    "Adam": lambda ps: cr.optim.Adam(ps, lr=0.01),
}


def model(seed=0):
    g = np.random.default_rng(seed)
    return cr.nn.Sequential(
        cr.nn.Linear(2, 64, generator=g),
        cr.nn.Tanh(),
        cr.nn.Linear(64, 64, generator=g),
        cr.nn.Tanh(),
        cr.nn.Linear(64, 3, generator=g),
    )


def run(epochs=60, seed=0):
    """Per-epoch training loss and final test accuracy of every variant and optimizer."""
    data = cr.datasets.spiral(seed=seed)
    train, test = (data.X_train, data.y_train), (data.X_test, data.y_test)
    loss_fn = cr.nn.CrossEntropyLoss()
    results = {"variants": {}, "optimizers": {}}
    for name, (bs, lr) in VARIANTS.items():
        m = model(seed)
        h = fit(
            m,
            loss_fn,
            cr.optim.SGD(m.parameters(), lr=lr),
            train,
            epochs,
            val=test,
            batch_size=bs or len(data.X_train),
            seed=seed,
        )
        results["variants"][name] = {
            "loss": h["loss"],
            "val_accuracy": h["val_accuracy"][-1],
            "steps_per_epoch": -(-len(data.X_train) // (bs or len(data.X_train))),
        }
    for name, make in OPTIMIZERS.items():
        m = model(seed)
        h = fit(m, loss_fn, make(m.parameters()), train, epochs, val=test, batch_size=32, seed=seed)
        results["optimizers"][name] = {"loss": h["loss"], "val_accuracy": h["val_accuracy"][-1]}
    return results


def plot(results, path):
    from chainrule.plotting import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, title in (
        (axes[0], "variants", "gradient descent variants (SGD)"),
        (axes[1], "optimizers", "optimizers (mini-batch 32)"),
    ):
        for name, r in results[key].items():
            ax.plot(range(1, len(r["loss"]) + 1), r["loss"], label=f"{name}: test acc {r['val_accuracy']:.0%}")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--out", default="optimizers.png")
    args = ap.parse_args()
    results = run(args.epochs)
    for key in ("variants", "optimizers"):
        for name, r in results[key].items():
            print(f"{name:22s} loss {r['loss'][0]:.4f} -> {r['loss'][-1]:.4f}   test accuracy {r['val_accuracy']:.1%}")
    try:
        plot(results, args.out)
        print(f"wrote {args.out}")
    except ImportError as e:
        print(f"no plot: {e}")


if __name__ == "__main__":
    main()
