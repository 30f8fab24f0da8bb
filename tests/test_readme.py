"""The README's first lines and its Python examples are true."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_first_lines_are_the_two_commands():
    lines = README.splitlines()
    assert lines[0] == "# chainrule" and lines[1].startswith("```")
    assert lines[2].endswith("# (1) the main job") and "chainrule train --dataset" in lines[2]
    assert lines[3].endswith("# (2) the tests") and "pytest" in lines[3]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "# \\(2\\) the tests" in ci  # .ci/run executes exactly that README line


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_quick_tour_runs_and_gives_the_seed_numbers():
    blocks = python_blocks()
    ns: dict = {}
    exec(blocks[0], ns)  # tensors, backward, no_grad
    assert ns["x"].grad.shape == (1, 2)
    exec(blocks[1], ns)  # the tutorial's MulLayer, verbatim
    assert ns["price"].item() == pytest.approx(220)
    assert ns["apple"].grad.item() == pytest.approx(2.2)
    assert ns["apple_num"].grad.item() == pytest.approx(110)
    assert ns["tax"].grad.item() == pytest.approx(200)


def test_network_snippet_trains():
    rng = np.random.default_rng(0)
    import chainrule as cr

    ns = {"cr": cr, "X": rng.standard_normal((256, 784)).astype(np.float32), "y": rng.integers(0, 10, 256)}
    exec(python_blocks()[2], ns)
    assert np.isfinite(ns["loss"].item())
