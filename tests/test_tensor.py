"""The Tensor type: construction, dtypes, conversion, operators."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

from conftest import requires_torch, torch


def test_default_dtypes():
    assert cr.tensor(1.5).dtype == np.float32
    assert cr.tensor(3).dtype == np.int64  # integers make int64 tensors, as torch.tensor does
    assert cr.tensor([[1, 2], [3, 4]]).dtype == np.int64
    assert cr.tensor([[1, 2.0], [3, 4]]).dtype == np.float32
    assert cr.tensor([True, False]).dtype == np.bool_
    assert cr.tensor(np.ones(2, np.float64)).dtype == np.float64
    assert cr.tensor(np.ones(2, np.float16)).dtype == np.float16
    assert cr.tensor(np.arange(3)).dtype == np.int64
    assert cr.tensor([1.0], dtype=cr.float64).dtype == np.float64
    assert cr.tensor([1.0], dtype="float64").dtype == np.float64


def test_copies_data():
    a = np.ones(3)
    t = cr.tensor(a)
    a[0] = 5
    assert t.numpy()[0] == 1
    s = cr.as_tensor(a)
    assert np.shares_memory(s.numpy(), a)


def test_properties_and_conversion():
    t = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.dim() == 2 and t.numel() == 6
    assert t.size() == (2, 3) and t.size(0) == 2 and t.size(-1) == 3
    assert t.T.shape == (3, 2) and t.mT.shape == (3, 2) and t.t().shape == (3, 2)
    assert t.grad is None and t.requires_grad
    assert cr.tensor(2.5).item() == 2.5
    with pytest.raises(ValueError, match="one-element"):
        t.item()
    assert t.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert np.asarray(t).shape == (2, 3)
    assert float(cr.tensor([3.0])) == 3.0
    assert len(t) == 2
    assert [r.shape for r in t] == [(3,), (3,)]


def test_repr():
    t = cr.tensor([1.0, 2.0], requires_grad=True, name="w")
    r = repr(t)
    assert r.startswith("tensor([1., 2.]") and "requires_grad=True" in r and "name='w'" in r
    assert "grad_fn=<Mul>" in repr(t * 2)
    assert "dtype=float64" in repr(cr.tensor([1.0], dtype=cr.float64))


def test_reflected_operators_with_numbers_and_arrays():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    a = np.array([10.0, 20.0], np.float32)
    for y in (a + x, a - x, a * x, a / x, a @ x, 2 + x, 2 - x, 2 * x, 2 / x, 2**x):
        assert isinstance(y, cr.Tensor) and y.requires_grad
    with pytest.raises(cr.errors.DTypeError, match="float64.*float32"):
        a.astype(np.float64) @ x  # a product of two dtypes is an error, as in PyTorch
    np.testing.assert_allclose((a - x).numpy(), [9.0, 18.0])
    np.testing.assert_allclose((2**x).numpy(), [2.0, 4.0])


def test_comparisons_are_boolean_and_not_differentiable():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == np.bool_ and not m.requires_grad
    assert (x == 2.0).tolist() == [False, True, False]
    assert (x <= 2).tolist() == [True, True, False]
    assert (x != x).tolist() == [False, False, False]
    assert hash(x) == id(x) or isinstance(hash(x), int)
    assert x in {x}


def test_getitem_and_methods():
    x = cr.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = x[1:, ::2].sum() + x[0, 0] + x[[0, 0]].sum()
    y.backward()
    expect = np.zeros((3, 4))
    expect[1:, ::2] += 1
    expect[0, 0] += 1
    expect[0] += 2
    np.testing.assert_allclose(x.grad.numpy(), expect)
    assert x.argmax().item() == 11
    assert x.argmax(axis=1).tolist() == [3, 3, 3]


def test_astype_is_differentiable():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_integer_tensor_arithmetic_stays_exact():
    i = cr.tensor(np.array([1, 2, 3]))
    assert (i + 1).dtype == np.int64
    f = cr.tensor([0.5, 0.5, 0.5])
    assert (f * i).dtype == np.float32


def test_factories():
    cr.manual_seed(0)
    a = cr.randn(2, 3)
    cr.manual_seed(0)
    b = cr.randn((2, 3))
    assert a.dtype == np.float32 and np.array_equal(a.numpy(), b.numpy())
    assert cr.zeros(2, 2).numpy().sum() == 0 and cr.ones(3).numpy().sum() == 3
    assert cr.zeros(2, requires_grad=True).requires_grad
    assert cr.arange(4).tolist() == [0, 1, 2, 3]


def test_arange_honours_step():
    np.testing.assert_array_equal(cr.arange(10, step=3).numpy(), np.arange(0, 10, 3))
    np.testing.assert_array_equal(cr.arange(2, 10, 3).numpy(), [2, 5, 8])


def test_ragged_list_gets_a_clear_error():
    with pytest.raises(TypeError, match="ragged"):
        cr.tensor([[1.0, 2.0], [3.0]])


def test_ragged_list_with_a_dtype_gets_a_clear_error():
    with pytest.raises(TypeError, match="ragged"):
        cr.tensor([[1, 2], [3]], dtype="float32")


# ---------------------------------------------------------------------- result dtypes, as in PyTorch
@requires_torch
@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh", "sin", "softplus", "softmax", "mean"])
def test_float_ops_on_integer_tensors_give_float32_like_torch(name):
    x = np.array([1, -2, 3])
    ours = getattr(cr, name)(cr.tensor(x))
    special = {"softplus": torch.nn.functional.softplus, "softmax": lambda t: torch.softmax(t, -1)}
    fn = special[name] if name in special else getattr(torch, name)
    ref = fn(torch.tensor(x, dtype=torch.float32))
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6)


@requires_torch
def test_integer_tensor_with_float_scalar_is_float32_like_torch():
    x = np.array([1, -2, 3])
    for ours, ref in [
        (cr.tensor(x) * 1.5, torch.tensor(x) * 1.5),
        (cr.tensor(x) / 2, torch.tensor(x) / 2),
        (2 / cr.tensor(x), 2 / torch.tensor(x)),
        (cr.tensor(x) + 1, torch.tensor(x) + 1),
    ]:
        assert str(ours.dtype) == str(ref.dtype).replace("torch.", "")
        np.testing.assert_allclose(ours.numpy(), ref.numpy())


@requires_torch
def test_fractional_power_of_integer_tensor_is_float32_like_torch():
    x = np.array([4, 9], dtype=np.int64)
    ours = cr.tensor(x) ** 0.5
    theirs = torch.tensor(x) ** 0.5
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert (cr.tensor(x) ** 2).dtype == np.int64


@requires_torch
def test_integer_tensor_to_an_integer_array_power_stays_integer():
    x = np.array([2, 3], dtype=np.int64)
    ours = cr.tensor(x) ** np.array(2)
    theirs = torch.tensor(x) ** torch.tensor(2)
    assert ours.dtype == np.int64 and theirs.dtype == torch.int64
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@requires_torch
def test_bool_tensor_with_numbers_matches_torch():
    b = np.array([True, False])
    for f in (lambda t: t + 2, lambda t: t * 3, lambda t: 2**t, lambda t: t + 2.5):
        ours, theirs = f(cr.tensor(b)), f(torch.tensor(b))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert ours.dtype.kind == {torch.int64: "i", torch.float32: "f"}[theirs.dtype]


@requires_torch
def test_bool_tensor_plus_a_small_numpy_integer_does_not_overflow():
    b = np.array([True, False])
    ours = cr.tensor(b) + np.int8(127)
    theirs = torch.tensor(b) + 127
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours.dtype == np.int64


@requires_torch
def test_bool_tensor_squared_matches_torch():
    b = np.array([True, False])
    np.testing.assert_array_equal((cr.tensor(b) ** 2).numpy(), (torch.tensor(b) ** 2).numpy())
