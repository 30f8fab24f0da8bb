"""Reduced-budget versions of the README's accuracy runs, through the real command on real data.

The full runs (README, "Accuracy on real data") reach >= 98% on digits, >= 68% on
MNIST-1D and >= 89% on Fashion-MNIST with MLPs, and >= 92.5% (Fashion-MNIST), >= 94%
(MNIST-1D) with CNNs and >= 91% (MNIST-1D) with a GRU; these shorter ones check the same
pipeline reaches a floor below what they measured (seeds 0, 1, 2).
"""

from __future__ import annotations

import json
import os

import pytest

from chainrule.cli import main

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
HAVE_FASHION = os.path.exists(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz"))


def _accuracy(tmp_path, capsys, argv):
    out = tmp_path / "run"
    assert main(["train", *argv, "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    acc = json.loads((out / "history.json").read_text())["epochs"][-1]["val_accuracy"]
    assert f"test accuracy {acc:.2%}" in text
    return acc


def test_digits_reduced(tmp_path, capsys):
    acc = _accuracy(
        tmp_path,
        capsys,
        ["--dataset", "digits", "--hidden", "64", "--epochs", "20", "--scheduler", "cosine", "--lr", "3e-3"],
    )
    assert acc >= 0.95


def test_mnist1d_reduced(tmp_path, capsys):
    acc = _accuracy(
        tmp_path,
        capsys,
        [
            "--dataset",
            "mnist1d",
            "--hidden",
            "256,256",
            "--epochs",
            "40",
            "--scheduler",
            "cosine",
            "--lr",
            "3e-3",
            "--dropout",
            "0.2",
        ],
    )
    assert acc >= 0.65


@pytest.mark.skipif(
    not HAVE_FASHION and not os.environ.get("CHAINRULE_REQUIRE_FASHION"),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_reduced(tmp_path, capsys):
    acc = _accuracy(
        tmp_path, capsys, ["--dataset", "fashion-mnist", "--hidden", "128", "--epochs", "2", "--scheduler", "cosine"]
    )
    assert acc >= 0.85


# ----------------------------------------------------------------------------- convolutional and recurrent networks
def test_digits_cnn_reduced(tmp_path, capsys):
    acc = _accuracy(tmp_path, capsys, ["--dataset", "digits", "--model", "cnn", "--epochs", "5"])
    assert acc >= 0.94


def test_mnist1d_cnn_and_gru_reduced(tmp_path, capsys):
    """The full runs (100 and 50 epochs) reach >= 94% and >= 91%; 12 and 20 epochs reach a floor below."""
    acc = _accuracy(tmp_path / "cnn", capsys, ["--dataset", "mnist1d", "--model", "cnn", "--epochs", "12"])
    assert acc >= 0.90
    acc = _accuracy(tmp_path / "gru", capsys, ["--dataset", "mnist1d", "--model", "gru", "--epochs", "20"])
    assert acc >= 0.70
