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
        (np.ones((2, 4), bool), np.broadcast_to(np.arange(4.0), (2, 4)), np.zeros(())),  # broadcast
        (np.eye(4, dtype=bool)[:, :2], np.arange(8.0).reshape(2, 4).T, np.zeros(())),  # transposed, cond not
        (np.eye(4, dtype=bool)[:, :2].T, np.arange(32.0).reshape(4, 8)[:, ::4].T, np.zeros(())),  # strided
        (np.array([True, False]), np.array([1.0, 2.0]), np.array(-0.0)),  # -0 is not +0
        (np.array([1, 0]), np.array([1.0, 2.0]), np.zeros(())),  # an integer condition
    ],
)
def test_where_falls_back_to_numpy_where_the_shortcut_does_not_apply(cond, a, b):
    got, want = numpy_ns.where(cond, a, b), np.where(cond, a, b)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("zero_first", [False, True])
def test_where_with_zero_on_a_channels_last_array(dtype, zero_first):
    """Arrays laid out channels-last and seen as (N, C, H, W) (a convolution's output) take the bit mask too,
    in their memory order; the result has the same values and the same layout as np.where's."""
    rng = np.random.default_rng(0)
    a = np.ascontiguousarray(rng.standard_normal((3, 4, 5, 6)).astype(dtype)).transpose(0, 3, 1, 2)
    cond = a < 0.3
    zero = np.zeros((), dtype)
    args = (cond, zero, a) if zero_first else (cond, a, zero)
    got, want = numpy_ns.where(*args), np.where(*args)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()
    assert got.transpose(0, 2, 3, 1).flags.c_contiguous


@pytest.mark.parametrize("axis", [(0, 2, 3), (0, 2), (0, 1, 2, 3), (1, 2), (0, -1), (0, 2, 3, 1), (2, 3), (-4, -2, -1)])
def test_sum_over_axes_of_a_channels_last_array(axis):
    """A channels-last array summed over its leading axes in memory order is one matrix-vector product; any
    other set of axes is NumPy's sum. Either way the result is NumPy's (to rounding)."""
    rng = np.random.default_rng(1)
    x = np.ascontiguousarray(rng.standard_normal((3, 4, 5, 6))).transpose(0, 3, 1, 2)
    got = numpy_ns.sum(x, axis)
    want = x.sum(axis=axis)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
