"""Differential fuzzing against PyTorch: 2,000 random programs of 3 to 8 operations (tests/fuzz_ops.py), seeded,
must agree with PyTorch in values, gradients, some second derivatives, and errors. A disagreement fails with a
shrunk reproducer; longer runs: ``python tests/fuzz_ops.py --cases N --seed S``."""

from __future__ import annotations

import pytest

from conftest import requires_torch, torch

SEED = 0
CASES = 2000
CHUNKS = 10


@requires_torch
@pytest.mark.filterwarnings("ignore::UserWarning")  # PyTorch's own (degrees of freedom of var, ...)
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_programs_agree_with_torch(chunk):
    import fuzz_ops

    per = CASES // CHUNKS
    reports = [text for _, _, texts in fuzz_ops.fuzz(SEED, range(chunk * per, (chunk + 1) * per)) for text in texts]
    assert not reports, f"{len(reports)} disagreement(s) with PyTorch:\n\n" + "\n".join(reports[:5])


@requires_torch
def test_the_fuzzer_finds_a_planted_disagreement(monkeypatch):
    """The harness itself: a wrong derivative planted in one operation is found and shrunk to a short program."""
    import numpy as np

    import chainrule as cr
    import fuzz_ops

    def wrong_vjp(self, xp, g):
        (x,) = self.saved(xp)
        return g * xp.cos(x) * 1.001

    monkeypatch.setattr(cr.ops.Sin, "vjp", wrong_vjp)
    prog = fuzz_ops.Program(
        0,
        0,
        "float64",
        [
            fuzz_ops.Leaf(np.linspace(-1, 1, 6).reshape(2, 3), True),
            fuzz_ops.Step("exp", (0,), {}),
            fuzz_ops.Step("sin", (1,), {}),
            fuzz_ops.Step("sum", (2,), {"axis": 1, "dim": 1, "keepdims": False}),
        ],
    )
    found = fuzz_ops.check(prog)
    assert [d.kind for d in found] == ["grad"]
    small = fuzz_ops.shrink(prog, found[0].key())
    assert [n.op for n in small.steps()] == ["sin"]
    text = fuzz_ops.reproducer(small, found[0])
    assert "v1 = cr.sin(v0)" in text and "v1 = torch.sin(v0)" in text


@requires_torch
def test_the_fuzzer_compares_errors_values_and_dtypes():
    import numpy as np

    import fuzz_ops

    leaf = fuzz_ops.Leaf(np.ones((2, 3)), True)
    refused = fuzz_ops.Program(0, 0, "float64", [leaf, fuzz_ops.Step("reshape", (0,), {"shape": (4,)})])
    assert fuzz_ops.check(refused) == []  # both refuse: agreement
    run = fuzz_ops.run(refused, "cr")
    assert run.error is not None and isinstance(run.error[1], fuzz_ops.cr.errors.ChainruleError)
    assert fuzz_ops.close(np.array([1.0, np.nan]), np.array([1.0, 2.0]), "float64").startswith("NaN pattern")
    assert fuzz_ops.close(np.array([1.0 + 1e-7]), np.array([1.0]), "float64") is not None
    assert fuzz_ops.close(np.array([1.0 + 1e-7]), np.array([1.0]), "float32") is None
    assert torch is not None
