"""Integer division, remainders and bitwise operators: values, dtypes and gradients as PyTorch's."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import chainrule as cr

from conftest import compare_with_torch, requires_torch, torch

R = np.random.default_rng(5)


def _dtype_name(t) -> str:
    return str(t.dtype).replace("torch.", "")


def assert_same(got, want):
    """Same dtype, shape and values (NaN equal to NaN)."""
    assert np.dtype(got.dtype).name == _dtype_name(want), f"dtype {got.dtype} != torch {want.dtype}"
    assert got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def nonzero_ints(*shape, low=-9, high=10):
    x = R.integers(low, high, shape)
    return np.where(x == 0, 3, x)


def floats_away_from_jumps(*shape):
    """Dividends whose quotients by DIVISORS are far from integers (piecewise functions are smooth there)."""
    q = R.integers(-4, 5, shape) + R.uniform(0.2, 0.8, shape)
    return q * DIVISORS[: shape[-1]]


DIVISORS = np.array([1.5, -2.0, 0.75, -0.6, 3.0])


# ----------------------------------------------------------------------------- integer division
BINARY = {
    "floor_divide": (cr.floor_divide, lambda a, b: torch.floor_divide(a, b)),
    "//": (operator.floordiv, operator.floordiv),
    "remainder": (cr.remainder, lambda a, b: torch.remainder(a, b)),
    "%": (operator.mod, operator.mod),
    "fmod": (cr.fmod, lambda a, b: torch.fmod(a, b)),
    "div trunc": (
        lambda a, b: cr.div(a, b, rounding_mode="trunc"),
        lambda a, b: torch.div(a, b, rounding_mode="trunc"),
    ),
    "div floor": (
        lambda a, b: cr.div(a, b, rounding_mode="floor"),
        lambda a, b: torch.div(a, b, rounding_mode="floor"),
    ),
    "div": (lambda a, b: cr.div(a, b), lambda a, b: torch.div(a, b)),
}


@requires_torch
@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.float32, np.float64])
def test_integer_division_values_and_dtypes_match_torch(name, dtype):
    fn, tfn = BINARY[name]
    low = 0 if dtype == np.uint8 else -9
    a = R.integers(low, 40, (4, 5)).astype(dtype)
    b = nonzero_ints(4, 5, low=low + 1 if low == 0 else low).astype(dtype)
    if dtype in (np.float32, np.float64):
        a = a + R.uniform(-1, 1, a.shape).astype(dtype)
    assert_same(fn(cr.tensor(a), cr.tensor(b)), tfn(torch.tensor(a), torch.tensor(b)))
    assert_same(fn(cr.tensor(a), 3), tfn(torch.tensor(a), 3))  # a Python number takes the tensor's dtype
    assert_same(fn(cr.tensor(a), 2.5), tfn(torch.tensor(a), 2.5))  # ... unless an int tensor meets a float
    if name in ("//", "%"):
        assert_same(fn(7, cr.tensor(b)), tfn(7, torch.tensor(b)))


@requires_torch
@pytest.mark.parametrize("name", sorted(BINARY))
def test_mixed_integer_dtypes_promote_as_torch(name):
    fn, tfn = BINARY[name]
    a, b = R.integers(-9, 9, 6).astype(np.int32), nonzero_ints(6).astype(np.int64)
    assert_same(fn(cr.tensor(a), cr.tensor(b)), tfn(torch.tensor(a), torch.tensor(b)))
    assert_same(
        fn(cr.tensor(b), cr.tensor(a.astype(np.int8) + 100)),
        tfn(torch.tensor(b), torch.tensor(a.astype(np.int8) + 100)),
    )


@requires_torch
@pytest.mark.parametrize("name", sorted(set(BINARY) - {"div"}))
def test_float_division_by_zero_gives_inf_or_nan_as_torch(name):
    fn, tfn = BINARY[name]
    a = np.array([1.0, -1.0, 0.0, 2.5, -0.0])
    b = np.array([0.0, 0.0, 0.0, -0.0, 0.0])
    assert_same(fn(cr.tensor(a), cr.tensor(b)), tfn(torch.tensor(a), torch.tensor(b)))


@requires_torch
@pytest.mark.parametrize("name", ["floor_divide", "remainder", "fmod", "div trunc", "div floor"])
def test_integer_division_by_zero_raises_as_torch(name):
    fn, tfn = BINARY[name]
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        tfn(torch.tensor([5, 3]), torch.tensor([1, 0]))
    with pytest.raises(cr.errors.DivisionByZeroError, match="integer division by zero"):
        fn(cr.tensor([5, 3], dtype=cr.int64), cr.tensor([1, 0], dtype=cr.int64))
    with pytest.raises(ZeroDivisionError):
        fn(cr.tensor([5, 3], dtype=cr.int64), 0)


@requires_torch
def test_signs_of_remainder_and_fmod_follow_torch():
    a = np.array([7, -7, 7, -7, 0])
    b = np.array([3, 3, -3, -3, 5])
    assert_same(cr.tensor(a, dtype=cr.int64) % cr.tensor(b, dtype=cr.int64), torch.tensor(a) % torch.tensor(b))
    assert_same(
        cr.fmod(cr.tensor(a, dtype=cr.int64), cr.tensor(b, dtype=cr.int64)),
        torch.fmod(torch.tensor(a), torch.tensor(b)),
    )
    assert (cr.tensor(a, dtype=cr.int64) % cr.tensor(b, dtype=cr.int64)).tolist() == [1, 2, -2, -1, 0]
    assert cr.fmod(cr.tensor(a, dtype=cr.int64), cr.tensor(b, dtype=cr.int64)).tolist() == [1, -1, 1, -1, 0]


# ----------------------------------------------------------------------------- gradients
@requires_torch
@pytest.mark.parametrize("name", ["remainder", "%", "fmod"])
def test_remainder_and_fmod_gradients_match_torch(name):
    fn, tfn = BINARY[name]
    a, b = floats_away_from_jumps(3, 5), np.tile(DIVISORS, (3, 1))
    compare_with_torch(fn, tfn, a, b)
    compare_with_torch(lambda x: fn(x, 0.7), lambda x: tfn(x, 0.7), a)


@requires_torch
@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_div_with_a_rounding_mode_has_a_zero_gradient_as_torch(mode):
    a, b = floats_away_from_jumps(3, 5), np.tile(DIVISORS, (3, 1))
    compare_with_torch(
        lambda x, y: cr.div(x, y, rounding_mode=mode), lambda x, y: torch.div(x, y, rounding_mode=mode), a, b
    )
    compare_with_torch(lambda x, y: x.div(y, rounding_mode=mode), lambda x, y: x.div(y, rounding_mode=mode), a, b)


@requires_torch
def test_floor_divide_has_no_derivative_as_torch():
    x = torch.tensor([1.5, -2.5], requires_grad=True)
    with pytest.raises(RuntimeError, match="derivative for aten::floor_divide is not implemented"):
        (x // 2).sum().backward()
    y = cr.tensor([1.5, -2.5], requires_grad=True)
    with pytest.raises(cr.errors.UnsupportedError, match="floor_divide .* has no derivative.*rounding_mode='floor'"):
        (y // 2).sum().backward()
    np.testing.assert_array_equal((y.detach() // 2).numpy(), [0.0, -2.0])  # the forward works


def test_div_refuses_an_unknown_rounding_mode():
    with pytest.raises(cr.errors.ArgumentError, match="rounding_mode must be None, 'trunc' or 'floor'"):
        cr.div(cr.tensor([1.0]), 2, rounding_mode="round")


def test_true_div_is_unchanged():
    a, b = cr.tensor([1, 2], dtype=cr.int64), cr.tensor([2, 4], dtype=cr.int64)
    assert (a / b).dtype == np.float32
    assert cr.div(a, b).tolist() == [0.5, 0.5]
    assert a.div(b).tolist() == [0.5, 0.5]


# ----------------------------------------------------------------------------- bitwise
BITWISE = {
    "&": (operator.and_, operator.and_),
    "|": (operator.or_, operator.or_),
    "^": (operator.xor, operator.xor),
    "<<": (operator.lshift, operator.lshift),
    ">>": (operator.rshift, operator.rshift),
    "bitwise_and": (cr.bitwise_and, lambda a, b: torch.bitwise_and(a, b)),
    "bitwise_or": (cr.bitwise_or, lambda a, b: torch.bitwise_or(a, b)),
    "bitwise_xor": (cr.bitwise_xor, lambda a, b: torch.bitwise_xor(a, b)),
    "bitwise_left_shift": (cr.bitwise_left_shift, lambda a, b: torch.bitwise_left_shift(a, b)),
    "bitwise_right_shift": (cr.bitwise_right_shift, lambda a, b: torch.bitwise_right_shift(a, b)),
}


@requires_torch
@pytest.mark.parametrize("name", sorted(BITWISE))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.int8, np.bool_])
def test_bitwise_operators_match_torch(name, dtype):
    fn, tfn = BITWISE[name]
    shift = "<<" in name or ">>" in name or "shift" in name
    if dtype == np.bool_:
        a, b = R.uniform(size=8) > 0.5, R.uniform(size=8) > 0.5
    else:
        lo = 0 if dtype == np.uint8 else -50
        a = R.integers(lo, 100, 8).astype(dtype)
        b = R.integers(0, 7, 8).astype(dtype) if shift else R.integers(lo, 100, 8).astype(dtype)
    if not (shift and dtype == np.bool_):
        assert_same(fn(cr.tensor(a), cr.tensor(b)), tfn(torch.tensor(a), torch.tensor(b)))
    assert_same(fn(cr.tensor(a), 3), tfn(torch.tensor(a), 3))
    if name in ("&", "|", "^"):
        assert_same(fn(5, cr.tensor(a)), tfn(5, torch.tensor(a)))
        assert_same(fn(cr.tensor(a), True), tfn(torch.tensor(a), True))


@requires_torch
def test_shifts_past_the_bit_width_match_torch():
    a = np.array([1, -8, 5, -1], dtype=np.int64)
    b = np.array([64, 70, -1, 63], dtype=np.int64)
    assert_same(cr.tensor(a) << cr.tensor(b), torch.tensor(a) << torch.tensor(b))
    assert_same(cr.tensor(a) >> cr.tensor(b), torch.tensor(a) >> torch.tensor(b))


@requires_torch
@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_invert_matches_torch(dtype):
    a = (R.uniform(size=6) > 0.5) if dtype == np.bool_ else R.integers(0, 100, 6).astype(dtype)
    assert_same(~cr.tensor(a), ~torch.tensor(a))
    assert_same(cr.bitwise_not(cr.tensor(a)), torch.bitwise_not(torch.tensor(a)))
    assert_same(cr.tensor(a).bitwise_not(), torch.tensor(a).bitwise_not())


def test_masks_combine_with_and_or_xor_not():
    x = cr.tensor([-2.0, -0.5, 0.5, 2.0])
    assert ((x > -1) & (x < 1)).tolist() == [False, True, True, False]
    assert ((x < -1) | (x > 1)).tolist() == [True, False, False, True]
    assert ((x > 0) ^ (x > 1)).tolist() == [False, False, True, False]
    assert (~(x > 0)).tolist() == [True, True, False, False]


def test_bitwise_operators_refuse_floats():
    x = cr.tensor([1.0, 2.0])
    for fn in (lambda: x & 1, lambda: x | x, lambda: x ^ 1, lambda: x << 1, lambda: 1 >> x, lambda: ~x):
        with pytest.raises(cr.errors.DTypeError, match="only integer and boolean tensors"):
            fn()


def test_results_of_integer_ops_are_outside_the_graph():
    x = cr.tensor([1.5, 2.5], requires_grad=True)
    assert not (x.isnan() | x.isinf()).requires_grad
    assert cr.div(x, 2, rounding_mode="floor").requires_grad  # zero gradient, recorded as in PyTorch
