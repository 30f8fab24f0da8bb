"""Plots of training histories (needs the optional matplotlib: pip install 'chainrule[plot]').

``plot_history`` draws one panel per quantity (the loss, each metric, and with ``fit(...,
diagnostics=True)`` or ``chainrule train --plot`` the per-layer diagnostics), laid out as a grid of
at most :data:`MAX_COLUMNS` columns. Each panel is titled in words and its y axis says what is
plotted and in what unit, from :data:`PANELS`; a quantity the table does not know gets its key
written as words ("top5_error" -> "Top5 error").
"""

from __future__ import annotations

import math

from .errors import missing

__all__ = ["plot_history", "panel_title", "PANELS", "MAX_COLUMNS", "PANEL_SIZE"]

#: title, y-axis label and y scale of each known quantity: the history's key (or, for per-layer
#: diagnostics such as ``grad_norm/1.weight``, the part before the slash) -> (title, y label, kind).
#: ``kind`` is "fraction" (plotted as a percentage), "log" (a log scale when the values allow) or "".
PANELS: dict[str, tuple[str, str, str]] = {
    "loss": ("Loss", "loss (mean per sample)", ""),
    "accuracy": ("Accuracy", "accuracy", "fraction"),
    "lr": ("Learning rate", "learning rate", "log"),
    "time": ("Time per epoch", "seconds", ""),
    "grad_norm": ("Gradient norm per layer", "‖dL/dW‖, mean over the steps", "log"),
    "update_ratio": ("Update / weight ratio", "‖ΔW‖ / ‖W‖, mean over the steps", "log"),
    "dead_relu": ("Dead ReLUs (fraction)", "units that never fired in the epoch", "fraction"),
}

#: how a per-layer diagnostic names its curves: kind -> format of the legend entry for layer ``name``
_CURVE_NAMES = {"dead_relu": "ReLU {name}", "grad_norm": "{name}", "update_ratio": "{name}"}

#: the most panels in one row of the grid
MAX_COLUMNS = 3
#: width and height of one panel, in inches (the figure is this times the grid's columns and rows)
PANEL_SIZE = (4.8, 3.6)

#: an update/weight ratio around this value is usual for a layer that learns steadily
HEALTHY_UPDATE_RATIO = 1e-3


def _pyplot():
    try:
        # the user's backend is left alone (without a display, matplotlib falls back to Agg by itself)
        import matplotlib.pyplot as plt
    except ImportError:
        raise missing("matplotlib", "plot", "Plotting") from None
    return plt


def panel_title(key: str) -> str:
    """The words a panel about ``key`` is titled with: from :data:`PANELS`, else the key made readable."""
    base = key.split("/")[0]
    if base.startswith("val_"):
        base = base[4:]
    if base in PANELS:
        return PANELS[base][0]
    words = " ".join(base.replace("_", " ").replace("-", " ").split())
    return (words[:1].upper() + words[1:]) if words else key


def _y_label(base: str) -> str:
    return PANELS[base][1] if base in PANELS else panel_title(base).lower()


def _columns(n: int) -> int:
    """Columns of the grid for ``n`` panels: one row up to MAX_COLUMNS, 2x2 for four, else MAX_COLUMNS wide."""
    if n <= MAX_COLUMNS:
        return max(n, 1)
    return 2 if n == 4 else MAX_COLUMNS


def _groups(history, keys) -> dict[str, list[str]]:
    """Panel name -> the history's keys drawn on it (train keys; their ``val_`` twins are added when drawn)."""
    all_keys = history.keys()
    if keys is None:
        skip = {"epoch", "time", "lr"}
        keys = [k for k in all_keys if k not in skip and not k.startswith("val_")]
        keys += [k[4:] for k in all_keys if k.startswith("val_") and k[4:] not in keys]
    groups: dict[str, list[str]] = {}
    for k in keys:
        members = [k] if (k in all_keys or "val_" + k in all_keys) else [a for a in all_keys if a.startswith(k + "/")]
        for m in members or [k]:
            groups.setdefault(m.split("/")[0], []).append(m)
    return groups


def _finite(values) -> list[float]:
    out = []
    for v in values:
        if isinstance(v, (int, float)) and math.isfinite(v):
            out.append(float(v))
    return out


def _curve_label(key: str, base: str, train_and_val: bool) -> str:
    if "/" in key:
        name = key.split("/", 1)[1]
        return _CURVE_NAMES.get(base, "{name}").format(name=name)
    return "train" if train_and_val else panel_title(key).lower()


def _draw_panel(ax, history, base, ks, val_label):
    from matplotlib.ticker import PercentFormatter

    all_keys = history.keys()
    epochs = history["epoch"] if "epoch" in all_keys else list(range(1, len(history) + 1))
    drawn = []
    for k in ks:
        both = k in all_keys and "val_" + k in all_keys
        if k in all_keys:
            ax.plot(epochs, history[k], marker="o", ms=3, label=_curve_label(k, base, both))
            drawn += history[k]
        if "val_" + k in all_keys:
            label = val_label if "/" not in k else f"{val_label} {_curve_label(k, base, False)}"
            ax.plot(epochs, history["val_" + k], marker="o", ms=3, label=label)
            drawn += history["val_" + k]
    kind = PANELS[base][2] if base in PANELS else ""
    values = _finite(drawn)
    positive = bool(values) and min(values) > 0
    if base == "loss":
        if positive and max(values) / min(values) > 10:
            ax.set_yscale("log")  # only when the loss spans more than a decade
    elif kind == "log" and positive and max(values) / min(values) > 10:
        ax.set_yscale("log")
    if base == "update_ratio" and ax.get_yscale() == "log" and min(values) < HEALTHY_UPDATE_RATIO < max(values):
        ax.axhline(HEALTHY_UPDATE_RATIO, color="0.5", ls=":", lw=1, label="usual: about 1e-3")
    if kind == "fraction":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        if base == "dead_relu":
            ax.set_ylim(-0.02, 1.02)  # the whole range: 5% dead is little, 90% is a broken layer
    ax.set_title(panel_title(base))
    ax.set_xlabel("epoch")
    ax.set_ylabel(_y_label(base), fontsize=8)
    if len(epochs) <= 12:
        ax.set_xticks(list(epochs))  # whole epochs, not 1.5
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        # below the panel, never over the curves
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=min(len(handles), 3), frameon=False)


def plot_history(history, path=None, keys=None, val_label: str = "val"):
    """One panel per quantity (loss, accuracy, diagnostics...), train and validation together, in a grid.

    Panels are titled in words (:data:`PANELS`; per-layer diagnostics get one panel per kind, one
    curve per layer) and laid out at most :data:`MAX_COLUMNS` to a row, each :data:`PANEL_SIZE`
    inches. ``keys`` chooses the quantities (a history key, or a diagnostic's kind such as
    ``"grad_norm"`` for all its layers). Returns the matplotlib Figure; writes a PNG when ``path``
    is given. ``val_label`` names the held-out curves in the legend (the command line passes "test").
    """
    plt = _pyplot()
    groups = _groups(history, keys)
    n = max(len(groups), 1)
    cols = _columns(n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows), squeeze=False, constrained_layout=True
    )
    flat = [ax for row in axes for ax in row]
    for ax, (base, ks) in zip(flat, groups.items()):
        _draw_panel(ax, history, base, ks, val_label)
    for ax in flat[len(groups) :]:
        fig.delaxes(ax)  # the last row's empty places
    if path is not None:
        import os

        from .io import atomic_write

        fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
        atomic_write(path, lambda f: fig.savefig(f, dpi=110, format=fmt))  # never a half-written picture
        plt.close(fig)
    return fig
