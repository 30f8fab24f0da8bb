"""The code is linted and formatted with ruff (the version pinned in the test extra)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATHS = ["src", "tests", "examples", "bench", "docs"]


def _ruff(*args):
    pytest.importorskip("ruff", reason="ruff is in the test extra: pip install -e '.[test]'")
    return subprocess.run([sys.executable, "-m", "ruff", *args, *PATHS], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_is_clean():
    r = _ruff("check")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format_leaves_nothing_to_change():
    r = _ruff("format", "--check")
    assert r.returncode == 0, "run `ruff format src tests examples bench docs`:\n" + r.stdout + r.stderr
