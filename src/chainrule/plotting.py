"""Plots of training histories (needs the optional matplotlib: pip install 'chainrule[plot]')."""

from __future__ import annotations

from .errors import missing


def _pyplot():
    try:
        # the user's backend is left alone (without a display, matplotlib falls back to Agg by itself)
        import matplotlib.pyplot as plt
    except ImportError:
        raise missing("matplotlib", "plot", "Plotting") from None
    return plt


def plot_history(history, path=None, keys=None, val_label: str = "val"):
    """One panel per quantity (loss, accuracy, diagnostics...), train and validation together.

    Returns the matplotlib Figure; writes a PNG when ``path`` is given. ``val_label``
    names the held-out curves in the legend (the command line passes "test").
    """
    plt = _pyplot()
    all_keys = history.keys()
    skip = {"epoch", "time", "lr"}
    if keys is None:
        keys = [k for k in all_keys if k not in skip and not k.startswith("val_")]
        keys += [k[4:] for k in all_keys if k.startswith("val_") and k[4:] not in keys]
    groups = {}
    for k in keys:
        base = k.split("/")[0]
        groups.setdefault(base, []).append(k)
    n = len(groups)
    fig, axes = plt.subplots(1, max(n, 1), figsize=(4.2 * max(n, 1), 3.4), squeeze=False)
    epochs = history["epoch"]
    for ax, (base, ks) in zip(axes[0], groups.items()):
        for k in ks:
            if k in all_keys:
                ax.plot(epochs, history[k], marker="o", ms=3, label=f"train {k}" if "val_" + k in all_keys else k)
            if "val_" + k in all_keys:
                ax.plot(epochs, history["val_" + k], marker="o", ms=3, label=f"{val_label} {k}")
        ax.set_xlabel("epoch")
        ax.set_title(base)
        losses = [v for v in history["loss"] if v is not None]
        if base == "loss" and losses and min(losses) > 0 and max(losses) / min(losses) > 10:
            ax.set_yscale("log")  # only when the loss spans more than a decade
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        import os

        from .io import atomic_write

        fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
        atomic_write(path, lambda f: fig.savefig(f, dpi=110, format=fmt))  # never a half-written picture
        plt.close(fig)
    return fig
