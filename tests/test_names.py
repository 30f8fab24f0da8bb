"""One rule for names: where PyTorch and NumPy give a name two meanings, chainrule's Tensor takes PyTorch's;
NumPy's spellings are accepted only where they mean the same (axis/dim, keepdims/keepdim, concatenate/cat)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.errors import ArgumentError, DTypeError

from conftest import requires_torch, torch

X = np.random.default_rng(0).uniform(-2, 2, (3, 4))


# ----------------------------------------------------------------------------- data and dtypes
DATA = [
    [0, 2],
    3,
    [[1, 2], [3, 4]],
    1.5,
    [0.5, 2.0],
    [1, 2.5],
    [[1, 2], [3.0, 4]],
    True,
    [True, False],
    [True, 2],
    [],
    [[]],
    np.arange(3, dtype=np.int32),
    np.ones(2, np.float64),
    np.ones(2, np.float16),
    np.float64(2.0),
    np.int32(7),
    np.array([True]),
]


@requires_torch
@pytest.mark.parametrize("data", DATA, ids=[repr(d) for d in DATA])
def test_tensor_makes_the_dtype_torch_tensor_makes(data):
    t, tt = cr.tensor(data), torch.tensor(data)
    assert str(t.dtype) == str(tt.dtype).removeprefix("torch."), f"{data!r}: {t.dtype} vs {tt.dtype}"
    assert t.shape == tuple(tt.shape)


@requires_torch
@pytest.mark.parametrize("value", [3, 2.5, True])
def test_full_takes_the_dtype_of_its_value_as_torch_full_does(value):
    assert str(cr.full((2,), value).dtype) == str(torch.full((2,), value).dtype).removeprefix("torch.")
    assert cr.full((2,), value, dtype=cr.float64).dtype == np.float64


def test_integer_data_cannot_require_grad_but_float_data_can():
    with pytest.raises(DTypeError, match="floating-point"):
        cr.tensor([0, 2], requires_grad=True)
    assert cr.tensor([0.0, 2], requires_grad=True).dtype == np.float32
    assert cr.tensor([0, 2], dtype=cr.float32, requires_grad=True).dtype == np.float32


def test_integer_tensors_meet_numbers_as_in_torch():
    a = cr.tensor([1, 2])
    assert (a + 1).dtype == np.int64 and (a * 2.5).dtype == np.float32 and (a / 2).dtype == np.float32
    assert (cr.tensor([True, False]) + 1).dtype == np.int64
    assert a.float().dtype == np.float32 and a.double().dtype == np.float64


DTYPES = ["bool", "int32", "int64", "float32", "float64"]


@requires_torch
@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
@pytest.mark.parametrize(
    "shapes", [((3,), (3,)), ((3,), ()), ((), (3,)), ((), ())], ids=["nd-nd", "nd-0d", "0d-nd", "0d-0d"]
)
def test_elementwise_promotion_is_torch_s(da, db, shapes):
    """float32 + float64 tensors give float64, but a 0-d tensor does not widen a tensor with dimensions of its
    own kind (float32 matrix * float64 0-d tensor: float32), as in PyTorch (NumPy 2 would give float64)."""
    sa, sb = shapes
    a, b = np.ones(sa, da), np.ones(sb, db)
    for op in ("add", "mul", "maximum"):
        ours = getattr(cr, op)(cr.tensor(a), cr.tensor(b))
        theirs = getattr(torch, op)(torch.tensor(a), torch.tensor(b))
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), (op, da, db, shapes)


@requires_torch
def test_a_0d_float64_tensor_that_requires_grad_keeps_its_gradient_when_it_meets_float32():
    s, ts = cr.tensor(2.0, dtype=cr.float64, requires_grad=True), torch.tensor(2.0, requires_grad=True).double()
    ts.retain_grad()
    y, ty = cr.ones(3) * s, torch.ones(3) * ts
    assert y.dtype == np.float32 and ty.dtype == torch.float32
    y.sum().backward()
    ty.sum().backward()
    assert s.grad.dtype == np.float64 and s.grad.item() == ts.grad.item() == 3.0


# ----------------------------------------------------------------------------- products refuse mixed dtypes
def test_matmul_and_linear_refuse_a_dtype_mismatch_naming_both_dtypes():
    x64 = cr.tensor(np.ones((2, 3)))
    w32 = cr.ones(4, 3)
    with pytest.raises(DTypeError, match="float64.*float32"):
        x64 @ w32.T
    with pytest.raises(DTypeError, match="float64.*float32"):
        cr.matmul(x64, np.ones((3, 4), np.float32))
    with pytest.raises(DTypeError, match="int64.*float32"):
        cr.tensor([[1, 2, 3]]) @ w32.T  # integer data: int64, as torch.tensor makes it
    with pytest.raises(DTypeError, match="linear: the input has dtype float64 and the weight has dtype float32"):
        F.linear(x64, w32)
    with pytest.raises(DTypeError, match="the bias has dtype float64"):
        F.linear(x64.float(), w32, cr.zeros(4, dtype=cr.float64))
    layer = cr.nn.Linear(3, 4)
    with pytest.raises(DTypeError, match="linear: the input has dtype float64 and the weight has dtype float32"):
        layer(np.ones((2, 3)))  # a float64 NumPy batch for a float32 layer: refused, never computed in float64
    assert layer(np.ones((2, 3), np.float32)).dtype == np.float32
    assert layer.double()(np.ones((2, 3))).dtype == np.float64
    layer.bias.data = layer.bias.data.astype(np.float32)
    with pytest.raises(DTypeError, match="the bias has dtype float32 and the weight has dtype float64"):
        layer(np.ones((2, 3)))


@requires_torch
def test_torch_refuses_the_same_mismatches():
    with pytest.raises(RuntimeError, match="dtype"):
        torch.ones(2, 3, dtype=torch.float64) @ torch.ones(3, 4)
    with pytest.raises(RuntimeError, match="dtype"):
        torch.nn.Linear(3, 4)(torch.ones(2, 3, dtype=torch.float64))


# ----------------------------------------------------------------------------- shapes and sizes
def test_size_is_a_method_and_numel_counts():
    t = cr.tensor(np.zeros((2, 3, 4)))
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.numel() == t.nelement() == 24 and t.dim() == t.ndim == 3
    with pytest.raises(ValueError, match="size"):
        t.size(3)


@requires_torch
def test_transpose_swaps_two_dims_and_permute_permutes():
    a = cr.tensor(X)
    assert a.transpose(0, 1).shape == (4, 3)  # a 2-D tensor is transposed, not returned unchanged
    np.testing.assert_array_equal(a.transpose(0, 1).numpy(), torch.tensor(X).transpose(0, 1).numpy())
    b = np.arange(24.0).reshape(2, 3, 4)
    tb = torch.tensor(b)
    for ours, theirs in [
        (cr.tensor(b).transpose(0, 2), tb.transpose(0, 2)),
        (cr.transpose(cr.tensor(b), 1, -1), torch.transpose(tb, 1, -1)),
        (cr.tensor(b).permute(2, 0, 1), tb.permute(2, 0, 1)),
        (cr.tensor(b).permute((1, 2, 0)), tb.permute((1, 2, 0))),
        (cr.tensor(b).mT, tb.mT),
        (cr.tensor(b).T, tb.permute(2, 1, 0)),
        (cr.tensor(X).t(), torch.tensor(X).t()),
        (cr.tensor(b).swapaxes(0, 1), tb.swapaxes(0, 1)),
        (cr.tensor(b).movedim(0, -1), tb.movedim(0, -1)),
    ]:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(TypeError):
        cr.tensor(X).transpose()  # NumPy's meaning (reverse every axis) is x.T or permute


@requires_torch
def test_squeeze_of_a_dim_that_is_not_1_leaves_it_as_torch_does():
    t = cr.tensor(np.zeros((2, 1, 3)))
    assert t.squeeze(0).shape == tuple(torch.zeros(2, 1, 3).squeeze(0).shape) == (2, 1, 3)
    assert t.squeeze(1).shape == (2, 3) and t.squeeze((0, 1)).shape == (2, 3)
    assert t.unsqueeze(0).shape == (1, 2, 1, 3) and t.unsqueeze(-1).shape == (2, 1, 3, 1)


# ----------------------------------------------------------------------------- std and var
@requires_torch
def test_std_and_var_are_unbiased_by_default_with_torch_s_arguments():
    a, ta = cr.tensor(X), torch.tensor(X)
    for ours, theirs in [
        (a.std(), ta.std()),
        (a.var(), ta.var()),
        (cr.std(a, 1), torch.std(ta, 1)),
        (a.var(0, keepdim=True), ta.var(0, keepdim=True)),
        (a.std(unbiased=False), ta.std(unbiased=False)),
        (a.std(False), ta.std(False)),  # PyTorch's std(unbiased) overload
        (a.var(1, True), ta.var(1, True)),  # var(dim, unbiased)
        (a.var(dim=1, correction=0), ta.var(dim=1, correction=0)),
        (a.std(1, correction=2), ta.std(1, correction=2)),
        (a.var(axis=1, ddof=0), ta.var(1, correction=0)),  # NumPy's spellings, NumPy's meaning when given
    ]:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.std().item(), np.std(X, ddof=1))
    with pytest.raises(ArgumentError, match="not"):
        a.var(correction=0, unbiased=True)
    with pytest.raises(ArgumentError, match="not"):
        a.var(correction=0, ddof=0)


# ----------------------------------------------------------------------------- max and min
@requires_torch
def test_max_and_min_mean_what_they_mean_in_torch():
    a, ta = cr.tensor(X), torch.tensor(X)
    m = a.max()
    assert m.shape == () and m.item() == ta.max().item()
    r = a.max(dim=1)
    assert isinstance(r, tuple) and type(r).__name__ == "max"
    np.testing.assert_array_equal(r.values.numpy(), ta.max(dim=1).values.numpy())
    np.testing.assert_array_equal(r.indices.numpy(), ta.max(dim=1).indices.numpy())
    values, indices = cr.min(a, 0, keepdim=True)
    tv, ti = torch.min(ta, 0, keepdim=True)
    np.testing.assert_array_equal(values.numpy(), tv.numpy())
    np.testing.assert_array_equal(indices.numpy(), ti.numpy())
    assert indices.dtype == np.int64 and not indices.requires_grad
    # a max over an axis of length 2 is a (values, indices) pair, never a pair of maxima unpacked by accident
    two = cr.tensor(np.array([[1.0, 5.0], [7.0, 2.0]]))
    values, indices = two.max(axis=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    # with a tensor: the elementwise maximum, as torch.max(input, other)
    other = cr.tensor(-X)
    np.testing.assert_array_equal(cr.max(a, other).numpy(), torch.max(ta, torch.tensor(-X)).numpy())
    np.testing.assert_array_equal(a.min(other).numpy(), ta.min(torch.tensor(-X)).numpy())
    # amax/amin: the values, over one dim or several
    np.testing.assert_array_equal(a.amax(1).numpy(), ta.amax(1).numpy())
    np.testing.assert_array_equal(cr.amin(a, (0, 1)).numpy(), torch.amin(ta, (0, 1)).numpy())
    with pytest.raises(TypeError, match="amax"):
        a.max(dim=(0, 1))
    with pytest.raises(ArgumentError, match="keepdim needs a dim"):
        a.max(keepdim=True)


@requires_torch
def test_max_of_a_0d_tensor_along_dim_0():
    r, tr = cr.tensor(3.0).max(0), torch.tensor(3.0).max(0)
    assert r.values.shape == () and r.indices.shape == () and r.indices.item() == tr.indices.item() == 0
    assert cr.tensor(3.0).argmax(-1).item() == torch.tensor(3.0).argmax(-1).item() == 0
    assert cr.tensor(3.0).min(-1, keepdim=True).values.shape == tuple(torch.tensor(3.0).min(-1, True).values.shape)


@requires_torch
def test_max_along_a_dim_routes_nan_like_torch():
    x = np.array([[1.0, np.nan, 3.0, np.nan]])
    a, ta = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    r, tr = a.max(1), ta.max(1)
    assert np.isnan(r.values.item()) and r.indices.item() == tr.indices.item()
    r.values.sum().backward()
    tr.values.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())


@requires_torch
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_argmin_like_torch(dim, keepdim):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    for name in ("argmax", "argmin"):
        ours = getattr(cr.tensor(x), name)(dim, keepdim)
        theirs = getattr(torch.tensor(x), name)(dim, keepdim)
        assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape), (name, dim, keepdim)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ----------------------------------------------------------------------------- two spellings, one meaning
SPELLED_TWICE = [
    ("sum", lambda x, **k: cr.sum(x, **k)),
    ("mean", lambda x, **k: x.mean(**k)),
    ("var", lambda x, **k: cr.var(x, **k)),
    ("std", lambda x, **k: x.std(**k)),
    ("amax", lambda x, **k: x.amax(**k)),
    ("amin", lambda x, **k: cr.amin(x, **k)),
    ("logsumexp", lambda x, **k: x.logsumexp(**k)),
    ("argmax", lambda x, **k: x.argmax(**k)),
    ("argmin", lambda x, **k: cr.argmin(x, **k)),
    ("any", lambda x, **k: (x > 0).any(**k)),
    ("all", lambda x, **k: (x > 0).all(**k)),
]


@pytest.mark.parametrize("name,fn", SPELLED_TWICE, ids=[n for n, _ in SPELLED_TWICE])
def test_dim_and_axis_keepdim_and_keepdims_are_one_argument(name, fn):
    x = cr.tensor(X)
    np.testing.assert_array_equal(fn(x, dim=1, keepdim=True).numpy(), fn(x, axis=1, keepdims=True).numpy())
    np.testing.assert_array_equal(fn(x, dim=0).numpy(), fn(x, axis=0).numpy())
    with pytest.raises(ArgumentError, match="dim or axis"):
        fn(x, dim=1, axis=1)
    with pytest.raises(ArgumentError, match="keepdim or keepdims"):
        fn(x, dim=1, keepdim=True, keepdims=True)


def test_every_function_with_a_dimension_takes_dim_and_axis():
    x = cr.tensor(np.arange(24.0).reshape(2, 3, 4))
    pairs = [
        (lambda **k: cr.softmax(x, **k), 1),
        (lambda **k: x.log_softmax(**k), 0),
        (lambda **k: F.softmax(x, **k), 2),
        (lambda **k: F.log_softmax(x, **k), 1),
        (lambda **k: cr.cat([x, x], **k), 2),
        (lambda **k: cr.concatenate([x, x], **k), 1),
        (lambda **k: cr.stack([x, x], **k), 3),
        (lambda **k: cr.split(x, 1, **k)[0], 1),
        (lambda **k: cr.tensor_split(x, 2, **k)[1], 2),
        (lambda **k: cr.squeeze(x[:, :1], **k), 1),
        (lambda **k: x.max(**k).values, 2),
    ]
    for fn, d in pairs:
        np.testing.assert_array_equal(fn(dim=d).numpy(), fn(axis=d).numpy())
        with pytest.raises(ArgumentError, match="dim or axis"):
            fn(dim=d, axis=d)
    assert cr.flatten(x, start_dim=1).shape == cr.flatten(x, start_axis=1).shape == x.flatten(1).shape == (2, 12)
    assert cr.nn.Flatten()(x).shape == (2, 12) and cr.nn.Flatten(start_dim=0, end_dim=1)(x).shape == (6, 4)
    assert cr.nn.Flatten(start_axis=0)(x).shape == (24,)
    np.testing.assert_array_equal(cr.nn.Softmax(dim=0)(x).numpy(), cr.nn.Softmax(axis=0)(x).numpy())
    with pytest.raises(ArgumentError, match="dim or axis"):
        cr.nn.LogSoftmax(dim=0, axis=0)


@requires_torch
def test_cat_concatenate_and_concat_are_one_function():
    a, b = np.ones((2, 3)), np.zeros((1, 3))
    expected = torch.cat([torch.tensor(a), torch.tensor(b)]).numpy()
    for fn in (cr.cat, cr.concatenate, cr.concat):
        np.testing.assert_array_equal(fn([cr.tensor(a), cr.tensor(b)]).numpy(), expected)


@requires_torch
def test_split_takes_torch_s_sizes_and_tensor_split_numpy_s_sections():
    x = np.arange(7.0)
    assert [p.shape for p in cr.split(cr.tensor(x), 3)] == [tuple(p.shape) for p in torch.split(torch.tensor(x), 3)]
    assert [p.shape for p in cr.tensor(x).split([2, 5])] == [(2,), (5,)]
    assert [p.shape for p in cr.tensor_split(cr.tensor(x), 3)] == [(3,), (2,), (2,)]
    assert [p.shape for p in cr.tensor(x).tensor_split([1, 4])] == [(1,), (3,), (3,)]
    with pytest.raises(ValueError, match="add up to 7"):
        cr.split(cr.tensor(x), [2, 2])


@requires_torch
def test_every_function_that_is_also_a_torch_tensor_method_is_a_tensor_method():
    t = cr.tensor([1.0])
    missing = [n for n in dir(cr) if not n.startswith("_") and callable(getattr(cr, n)) and hasattr(torch.Tensor, n)]
    assert [n for n in missing if not hasattr(t, n)] == []


@requires_torch
@pytest.mark.parametrize(
    "call",
    [
        lambda x, y: x.add(y, alpha=2),
        lambda x, y: x.sub(y, alpha=-3),
        lambda x, y: x.mul(y),
        lambda x, y: x.pow(2),
        lambda x, y: x.neg(),
        lambda x, y: x.matmul(y),
        lambda x, y: x.abs().log1p(),
        lambda x, y: x.where(x > 0, y),
    ],
)
def test_operator_methods_match_torch(call):
    a, b = np.array([[1.0, -2.0], [3.0, 4.0]]), np.array([0.5, 2.0])
    x, y = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, tout = call(x, y), call(tx, ty)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-15)
    out.sum().backward()
    tout.sum().backward()
    for g, tg in ((x.grad, tx.grad), (y.grad, ty.grad)):
        assert (g is None) == (tg is None)
        if g is not None:
            np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-15)


@requires_torch
@pytest.mark.parametrize("p", ["fro", 2, 1, float("inf"), -float("inf"), 3, 0.5])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, False), (0, True), ((0, 1), False)])
def test_norm_matches_torch(p, dim, keepdim):
    a = np.array([[1.0, -2.0, 0.5], [3.0, 4.0, -0.25]])
    x, tx = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = x.norm(p, dim, keepdim), tx.norm(p, dim, keepdim)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-13)
    w = np.cos(np.arange(ty.numel())).reshape(tuple(ty.shape))
    (y * cr.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@requires_torch
def test_norm_of_zeros_has_zero_gradient_and_normalize_matches_torch():
    x, tx = (
        cr.zeros((2, 3), dtype=cr.float64, requires_grad=True),
        torch.zeros(2, 3, dtype=torch.float64).requires_grad_(),
    )
    x.norm().backward()
    tx.norm().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    assert cr.norm(cr.tensor([0.0, 2.0, -1.0]), p=0).item() == 2.0
    a = np.array([[0.0, 0.0], [3.0, -4.0]])
    x, tx = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = F.normalize(x, dim=1), torch.nn.functional.normalize(tx, dim=1)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-15)
    (y * cr.tensor([[1.0, 2.0], [3.0, 5.0]])).sum().backward()
    (ty * torch.tensor([[1.0, 2.0], [3.0, 5.0]], dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    with pytest.raises(ArgumentError, match="nuc"):
        cr.norm(x, p="nuc")


@requires_torch
def test_pytorch_spellings_of_dtypes_devices_and_utils_data():
    from chainrule.utils.data import DataLoader, TensorDataset

    assert DataLoader is cr.data.DataLoader and TensorDataset is cr.data.TensorDataset
    for name in ("float", "double", "half", "long", "int", "bool", "int8", "int16", "uint8"):
        assert np.dtype(getattr(cr, name)) == np.dtype(str(getattr(torch, name)).split(".")[1])
    t = cr.tensor([1.5, -2.0])
    assert t.to("cpu") is t and t.cpu() is t and t.to(cr.float32) is t
    assert t.to("cpu", cr.double).dtype == np.float64 and t.to(cr.tensor([1])).dtype == np.int64
    assert t.to(cr.float32, copy=True) is not t
    assert t.long().tolist() == torch.tensor([1.5, -2.0]).long().tolist()
    assert t.int().dtype == np.int32 and t.bool().dtype == np.bool_ and t.half().dtype == np.float16
    for m in ("eq", "ne", "lt", "le", "gt", "ge"):
        got = getattr(t, m)(1.5).tolist()
        assert got == getattr(torch.tensor([1.5, -2.0]), m)(1.5).tolist()
    with pytest.raises(cr.errors.UnsupportedError, match="cuda"):
        t.to("cuda")
    with pytest.raises(cr.errors.UnsupportedError, match="cuda"):
        t.cuda()
    a = np.ones(3)
    shared = cr.from_numpy(a)
    a[0] = 5.0
    assert shared[0].item() == 5.0
    assert "float" not in cr.__all__ and "int" not in cr.__all__  # builtins stay untouched by import *
