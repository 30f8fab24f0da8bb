"""The array namespaces a vjp is written against: NumPy's must give NumPy's results exactly, shortcuts
included."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.namespace import numpy_ns


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("zero_first", [False, True])
def test_where_with_zero_equals_numpys_bit_for_bit(dtype, zero_first):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 9)).astype(dtype)
    a[0, :5] = [np.inf, -np.inf, np.nan, -0.0, 0.0]
    cond = rng.random((40, 9)) < 0.5
    cond[0, :5] = [False, True, False, True, False]
    zero = np.zeros((), dtype)
    args = (cond, zero, a) if zero_first else (cond, a, zero)
    got, want = numpy_ns.where(*args), np.where(*args)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()  # the same bits: signed zeros, infinities and NaN too


@pytest.mark.parametrize(
    "cond, a, b",
    [
        (np.array([True, False]), np.array([1.0, 2.0]), np.zeros((), np.float32)),  # zero of another dtype
        (np.array([True, False]), np.array([[1.0], [2.0]]), np.zeros(())),  # broadcasting
        (np.array([True, False]), np.array([1.0, 2.0, 3.0, 4.0])[::2], np.zeros(())),  # not contiguous
        (np.array([True, False]), np.array([1.0, 2.0]), np.array(-0.0)),  # -0 is not +0
        (np.array([1, 0]), np.array([1.0, 2.0]), np.zeros(())),  # an integer condition
    ],
)
def test_where_falls_back_to_numpy_where_the_shortcut_does_not_apply(cond, a, b):
    got, want = numpy_ns.where(cond, a, b), np.where(cond, a, b)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
