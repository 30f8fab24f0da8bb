"""The training plot: a grid of panels titled in words, with labelled axes and legends off the curves."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.plotting import PANELS, panel_title

plt = pytest.importorskip("matplotlib.pyplot")
mpimg = pytest.importorskip("matplotlib.image")

KNOWN_TITLES = {title for title, _, _ in PANELS.values()}


def diagnostics_history(epochs=4, extra=None):
    """A real history: a small MLP trained with diagnostics=True (so the keys are the ones fit writes)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    g = np.random.default_rng(1)
    model = cr.nn.Sequential(
        cr.nn.Linear(5, 16, generator=g), cr.nn.ReLU(), cr.nn.Linear(16, 8, generator=g), cr.nn.ReLU(),
        cr.nn.Linear(8, 3, generator=g),
    )  # fmt: skip
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    h = cr.train.fit(
        model, cr.nn.CrossEntropyLoss(), opt, (X, y), epochs=epochs, batch_size=16, val=(X, y), diagnostics=True
    )
    for row in h.epochs:
        row.update(extra or {})
    return h


def grid_of(fig):
    """(rows, columns) of the grid the figure's axes sit in; every axes must belong to the same grid."""
    shapes = {ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes}
    assert len(shapes) == 1, shapes
    return shapes.pop()


def overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_the_diagnostics_plot_is_a_grid_titled_in_words(tmp_path):
    h = diagnostics_history()
    assert {k.split("/")[0] for k in h.keys() if "/" in k} == {"grad_norm", "update_ratio", "dead_relu"}
    fig = h.plot(tmp_path / "training.png", val_label="test")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "Loss",
        "Accuracy",
        "Gradient norm per layer",
        "Update / weight ratio",
        "Dead ReLUs (fraction)",
    ]
    assert grid_of(fig) == (2, 3)  # five panels: two rows of at most three, not one strip
    fig.canvas.draw()
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel(), ax.get_title()
        legend = ax.get_legend()
        assert legend is not None, ax.get_title()
        # the legend sits outside the plotting area, so it covers no curve
        assert not overlaps(legend.get_window_extent(), ax.get_window_extent()), ax.get_title()
    labels = {ax.get_title(): [t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes}
    assert labels["Loss"] == ["train", "test"]
    assert labels["Gradient norm per layer"] == ["0.weight", "2.weight", "4.weight"]  # parameters by their paths
    assert labels["Dead ReLUs (fraction)"] == ["ReLU 1", "ReLU 3"]
    plt.close(fig)
    height, width = mpimg.imread(tmp_path / "training.png").shape[:2]
    assert 1.0 <= width / height <= 2.5, (width, height)  # was 2310 x 374 (6.2) in one row
    assert height >= 600


def test_an_unknown_key_gets_a_readable_title_and_the_grid_wraps():
    h = diagnostics_history(epochs=2, extra={"top5_error": 0.5, "val_top5_error": 0.6, "f1": 0.7})
    fig = h.plot()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[-2:] == ["Top5 error", "F1"]
    assert all("_" not in t and t not in h.keys() for t in titles), titles  # words, never a raw key
    assert all(t in KNOWN_TITLES for t in titles[:-2])
    assert len(fig.axes) == 7 and grid_of(fig) == (3, 3)
    ax = fig.axes[-2]
    assert ax.get_ylabel() == "top5 error" and [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "val"]
    plt.close(fig)


@pytest.mark.parametrize("n, grid", [(1, (1, 1)), (2, (1, 2)), (3, (1, 3)), (4, (2, 2)), (6, (2, 3)), (8, (3, 3))])
def test_grid_shapes(n, grid):
    names = [f"quantity_{i}" for i in range(n)]
    h = cr.train.History([{"epoch": e, **{k: 1.0 / e + i for i, k in enumerate(names)}} for e in (1, 2, 3)])
    fig = h.plot()
    assert len(fig.axes) == n and grid_of(fig) == grid
    assert [ax.get_title() for ax in fig.axes] == [f"Quantity {i}" for i in range(n)]
    w, hgt = fig.get_size_inches()
    rows, cols = grid
    assert 1.0 <= (w / cols) / (hgt / rows) <= 1.6  # each panel a little wider than tall
    assert w / hgt <= 4.5  # one row of three at most: never a long strip
    plt.close(fig)


def test_panel_titles():
    assert panel_title("grad_norm/1.weight") == "Gradient norm per layer"
    assert panel_title("val_accuracy") == "Accuracy"
    assert panel_title("mean_abs_error") == "Mean abs error"
    assert panel_title("my-metric") == "My metric"


def test_keys_may_name_a_diagnostic_kind():
    h = diagnostics_history(epochs=2)
    fig = h.plot(keys=["loss", "update_ratio"])
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Update / weight ratio"]
    assert len(fig.axes[1].get_lines()) >= 3  # one curve per layer
    plt.close(fig)


def test_the_command_writes_the_grid(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--dataset", "xor", "--hidden", "8,8", "--epochs", "2", "--out", str(out), "--plot", "--quiet"]
    assert main(args) == 0
    capsys.readouterr()
    height, width = mpimg.imread(out / "training.png").shape[:2]
    assert 1.0 <= width / height <= 2.5 and height >= 600, (width, height)
