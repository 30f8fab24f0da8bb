"""PyTorch's factories (arange, eye, empty, full_like, randint, randperm), one_hot, and the tests of values
(isnan, isinf, isfinite, allclose): dtypes, shapes and values as PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import requires_torch, torch


def _dtype_name(t) -> str:
    return str(t.dtype).replace("torch.", "")


# ----------------------------------------------------------------------------- arange
ARANGE = [
    (5,),
    (0,),
    (2, 9),
    (2, 10, 3),
    (10, 2, -3),
    (-3, 4, 2),
    (0.0, 1.0, 0.1),
    (1, 2.5, 0.5),
    (2.5,),
    (-1.7, 3.2, 0.3),
    (5, -1, -0.7),
    (0, 1, 0.3333333),
    (3.0,),
]


@requires_torch
@pytest.mark.parametrize("args", ARANGE, ids=[str(a) for a in ARANGE])
def test_arange_matches_torch(args):
    got, want = cr.arange(*args), torch.arange(*args)
    assert np.dtype(got.dtype).name == _dtype_name(want)
    assert got.shape == tuple(want.shape)
    # float32 values: PyTorch's SIMD kernel adds steps in float32, so they may differ in the last bit
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-7, atol=1e-7)


@requires_torch
@pytest.mark.parametrize("dtype", [cr.float64, cr.int32, cr.float32])
def test_arange_with_a_dtype_matches_torch(dtype):
    tdtype = getattr(torch, np.dtype(dtype).name)
    for args in [(7,), (1, 8, 2), (-4, 4)]:
        got, want = cr.arange(*args, dtype=dtype), torch.arange(*args, dtype=tdtype)
        assert np.dtype(got.dtype).name == _dtype_name(want)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    got, want = cr.arange(0.5, 3.0, 0.25, dtype=cr.float64), torch.arange(0.5, 3.0, 0.25, dtype=torch.float64)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-15)


def test_arange_keywords_and_errors():
    assert cr.arange(end=4).tolist() == [0, 1, 2, 3]
    assert cr.arange(1, end=4).tolist() == [1, 2, 3]
    assert cr.arange(0, 3, 1, dtype=cr.float64, requires_grad=True).requires_grad
    assert cr.arange(cr.tensor(3, dtype=cr.int64)).tolist() == [0, 1, 2]
    with pytest.raises(cr.errors.ArgumentError, match="step must be nonzero"):
        cr.arange(0, 3, 0)
    with pytest.raises(cr.errors.ArgumentError, match="wrong sign"):
        cr.arange(0, 3, -1)
    with pytest.raises(cr.errors.ArgumentError, match="finite"):
        cr.arange(0, float("inf"))


# ----------------------------------------------------------------------------- other factories
@requires_torch
@pytest.mark.parametrize("n, m", [(3, None), (2, 4), (4, 1), (0, None)])
def test_eye_matches_torch(n, m):
    got = cr.eye(n, m)
    want = torch.eye(n) if m is None else torch.eye(n, m)
    assert got.dtype == np.float32 and got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert cr.eye(2, dtype=cr.int64).dtype == np.int64
    assert cr.eye(2, dtype=cr.float64, requires_grad=True).requires_grad


def test_empty_has_the_shape_and_dtype_asked_for():
    assert cr.empty(2, 3).shape == (2, 3) and cr.empty(2, 3).dtype == np.float32
    assert cr.empty((4,), dtype=cr.int64).dtype == np.int64
    assert cr.empty(0).shape == (0,)
    assert cr.empty(2, dtype=cr.float64, requires_grad=True).requires_grad


@requires_torch
def test_full_like_matches_torch():
    for data, value, dtype in [(np.zeros((2, 3), np.float64), 2.5, None), (np.zeros(4, np.int64), 7.9, None),
                               (np.zeros(2, np.float32), 3, cr.int32)]:  # fmt: skip
        got = cr.full_like(cr.tensor(data), value, dtype=dtype)
        want = torch.full_like(torch.tensor(data), value, dtype=None if dtype is None else torch.int32)
        assert np.dtype(got.dtype).name == _dtype_name(want)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_randint_follows_torchs_signatures():
    x = cr.randint(5, (200,))
    assert x.dtype == np.int64 and x.shape == (200,) and 0 <= x.numpy().min() and x.numpy().max() < 5
    y = cr.randint(-3, 3, (4, 50))
    assert y.shape == (4, 50) and -3 <= y.numpy().min() and y.numpy().max() < 3
    assert set(np.unique(y.numpy())) == set(range(-3, 3))
    assert cr.randint(2, 4, size=(3,)).shape == (3,)
    assert cr.randint(low=1, high=2, size=(2, 2)).tolist() == [[1, 1], [1, 1]]
    assert cr.randint(10, (3,), dtype=cr.int32).dtype == np.int32
    a = cr.randint(100, (10,), generator=np.random.default_rng(3))
    b = cr.randint(100, (10,), generator=np.random.default_rng(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(cr.errors.ArgumentError, match="high .* must be greater than low"):
        cr.randint(3, 3, (2,))
    with pytest.raises(cr.errors.ArgumentError, match="give high and size"):
        cr.randint(3)


def test_randperm_is_a_permutation_and_follows_the_seed():
    p = cr.randperm(20)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(20))
    cr.manual_seed(4)
    a = cr.randperm(10)
    cr.manual_seed(4)
    np.testing.assert_array_equal(a.numpy(), cr.randperm(10).numpy())
    assert cr.randperm(0).shape == (0,)
    assert cr.randperm(5, dtype=cr.float32).dtype == np.float32


# ----------------------------------------------------------------------------- one_hot
@requires_torch
@pytest.mark.parametrize("shape, num_classes", [((5,), -1), ((2, 3), 6), ((4,), 4), ((), 3), ((0,), 2)])
def test_one_hot_matches_torch(shape, num_classes):
    idx = np.random.default_rng(0).integers(0, 3, shape)
    got = F.one_hot(cr.tensor(idx), num_classes)
    want = torch.nn.functional.one_hot(torch.tensor(idx), num_classes)
    assert got.dtype == np.int64 and got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_one_hot_errors():
    with pytest.raises(cr.errors.DTypeError, match="class indices must be an integer tensor"):
        F.one_hot(cr.tensor([0.0, 1.0]))
    with pytest.raises(cr.errors.IndexOutOfRangeError, match="not below num_classes=2"):
        F.one_hot(cr.tensor([0, 2], dtype=cr.int64), 2)
    with pytest.raises(cr.errors.IndexOutOfRangeError, match="non-negative"):
        F.one_hot(cr.tensor([-1], dtype=cr.int64))
    with pytest.raises(cr.errors.ArgumentError, match="empty tensor"):
        F.one_hot(cr.tensor(np.zeros(0, np.int64)))


# ----------------------------------------------------------------------------- tests of values
SPECIAL = np.array([0.0, -1.5, np.nan, np.inf, -np.inf, 1e308, -0.0, 5e-324])
with np.errstate(over="ignore"):
    SPECIAL32 = SPECIAL.astype(np.float32)  # 1e308 becomes inf


@requires_torch
@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_tests_of_values_match_torch(name):
    for data in (SPECIAL, SPECIAL32, np.array([1, -2, 3]), np.array([True, False])):
        got = getattr(cr, name)(cr.tensor(data))
        want = getattr(torch, name)(torch.tensor(data))
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        np.testing.assert_array_equal(getattr(cr.tensor(data), name)().numpy(), want.numpy())


@requires_torch
def test_allclose_matches_torch():
    a = np.array([1.0, 2.0, np.nan])
    cases = [
        (a, a + 1e-9, {}),
        (a, a + 1e-3, {}),
        (a, a + 1e-3, {"atol": 1e-2}),
        (a, a, {"equal_nan": True}),
        (a[:2], a[:2] * (1 + 1e-6), {"rtol": 1e-7}),
        (a[:2], a[:2] * (1 + 1e-6), {"rtol": 1e-5}),
    ]
    for x, y, kw in cases:
        want = torch.allclose(torch.tensor(x), torch.tensor(y), **kw)
        assert cr.allclose(cr.tensor(x), cr.tensor(y), **kw) is want
        assert cr.tensor(x).allclose(cr.tensor(y), **kw) is want
