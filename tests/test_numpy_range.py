"""The NumPy range pyproject.toml declares is the tested one.

Every run checks that its NumPy lies in the declared range; .ci/run's second run installs the
lowest NumPy declared (``numpy>=X.Y`` becomes ``numpy==X.Y.*``) and sets CHAINRULE_EXPECT_NUMPY,
and then this file checks that it really got that NumPy and that the bound has not moved.
"""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _declared() -> Requirement:
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.M | re.S).group(1)
    (numpy,) = [Requirement(d) for d in re.findall(r'"([^"]+)"', deps) if Requirement(d).name == "numpy"]
    return numpy


def _floor() -> Version:
    (floor,) = [Version(s.version) for s in _declared().specifier if s.operator == ">="]
    return floor


def test_this_numpy_is_in_the_declared_range():
    assert _declared().specifier.contains(np.__version__, prereleases=True), (np.__version__, str(_declared()))


def test_the_lowest_numpy_run_has_the_declared_lower_bound():
    expected = os.environ.get("CHAINRULE_EXPECT_NUMPY")
    if expected is None:  # not the lowest-NumPy run: the range check above is all there is to check
        return
    floor = _floor()
    assert Version(expected) == floor, f"CI tests NumPy {expected} but pyproject.toml declares numpy>={floor}"
    n = len(floor.release)
    assert Version(np.__version__).release[:n] == floor.release, f"NumPy {np.__version__} installed, not {floor}.*"
