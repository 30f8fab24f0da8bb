"""Every operation: values and gradients equal PyTorch's (float64), and gradcheck passes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.nn.functional as F

from conftest import compare_with_torch, requires_torch, torch

pytestmark = requires_torch

R = np.random.default_rng(0)


def rand(*shape, low=-2.0, high=2.0):
    return R.uniform(low, high, size=shape)


def away_from_zero(*shape):
    x = rand(*shape)
    return np.where(np.abs(x) < 0.2, 0.5, x)


# ----------------------------------------------------------------------------- unary
UNARY = [
    ("exp", cr.exp, torch.exp if torch else None, lambda: rand(3, 4)),
    ("log", cr.log, torch.log if torch else None, lambda: rand(3, 4, low=0.1, high=3)),
    ("sqrt", cr.sqrt, torch.sqrt if torch else None, lambda: rand(3, 4, low=0.1, high=3)),
    ("abs", cr.abs, torch.abs if torch else None, lambda: away_from_zero(3, 4)),
    ("sin", cr.sin, torch.sin if torch else None, lambda: rand(5)),
    ("cos", cr.cos, torch.cos if torch else None, lambda: rand(5)),
    ("tanh", cr.tanh, torch.tanh if torch else None, lambda: rand(2, 3, 2)),
    ("sigmoid", cr.sigmoid, torch.sigmoid if torch else None, lambda: rand(4, 3, low=-6, high=6)),
    ("relu", cr.relu, torch.relu if torch else None, lambda: away_from_zero(3, 4)),
    (
        "leaky_relu",
        lambda x: cr.leaky_relu(x, 0.1),
        (lambda x: torch.nn.functional.leaky_relu(x, 0.1)) if torch else None,
        lambda: away_from_zero(3, 4),
    ),
    ("softplus", cr.softplus, torch.nn.functional.softplus if torch else None, lambda: rand(3, 4, low=-5, high=5)),
    ("neg", cr.neg, torch.neg if torch else None, lambda: rand(3)),
    (
        "clip",
        lambda x: cr.clip(x, -0.5, 0.7),
        (lambda x: torch.clamp(x, -0.5, 0.7)) if torch else None,
        lambda: rand(4, 4),
    ),
    (
        "clip_min_only",
        lambda x: cr.clip(x, min=0.1),
        (lambda x: torch.clamp(x, min=0.1)) if torch else None,
        lambda: rand(6),
    ),
    ("pow_scalar", lambda x: x**3, (lambda x: x**3) if torch else None, lambda: rand(3, 2)),
    ("pow_half", lambda x: x**0.5, (lambda x: x**0.5) if torch else None, lambda: rand(3, 2, low=0.1)),
    ("pow_square", lambda x: x**2, (lambda x: x**2) if torch else None, lambda: rand(3, 2)),
    ("pow_neg", lambda x: x**-1.5, (lambda x: x**-1.5) if torch else None, lambda: rand(4, low=0.3)),
    ("rpow", lambda x: 2.0**x, (lambda x: 2.0**x) if torch else None, lambda: rand(4)),
    ("rsub", lambda x: 3.0 - x, (lambda x: 3.0 - x) if torch else None, lambda: rand(4)),
    ("rdiv", lambda x: 3.0 / x, (lambda x: 3.0 / x) if torch else None, lambda: away_from_zero(4)),
    ("scalar_mul", lambda x: x * 2.5 + 1, (lambda x: x * 2.5 + 1) if torch else None, lambda: rand(4)),
    ("T", lambda x: x.T, (lambda x: x.T) if torch else None, lambda: rand(3, 5)),
]


@pytest.mark.parametrize("name,fn,tfn,make", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, fn, tfn, make):
    compare_with_torch(fn, tfn, make())


# ----------------------------------------------------------------------------- binary, broadcasting
BINARY = [
    ("add", cr.add, lambda a, b: a + b),
    ("sub", cr.sub, lambda a, b: a - b),
    ("mul", cr.mul, lambda a, b: a * b),
    ("div", cr.div, lambda a, b: a / b),
    ("maximum", cr.maximum, lambda a, b: torch.maximum(a, b)),
    ("minimum", cr.minimum, lambda a, b: torch.minimum(a, b)),
    ("pow", cr.pow, lambda a, b: a**b),
]
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((), (2, 3)), ((5,), ())]


@pytest.mark.parametrize("name,fn,tfn", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_binary_broadcast(name, fn, tfn, sa, sb):
    a = rand(*sa, low=0.2, high=2.0) if name == "pow" else rand(*sa)
    b = away_from_zero(*sb) if name == "div" else rand(*sb)
    compare_with_torch(fn, tfn, a, b)


@pytest.mark.parametrize("name,fn,tfn", BINARY[:6], ids=[b[0] for b in BINARY[:6]])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_binary_broadcast_hypothesis(name, fn, tfn, data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3))
    a = data.draw(
        hnp.arrays(
            np.float64,
            shapes.input_shapes[0],
            elements=st.floats(-3, 3, allow_nan=False).filter(lambda v: abs(v) > 0.1),
        )
    )
    b = data.draw(
        hnp.arrays(
            np.float64,
            shapes.input_shapes[1],
            elements=st.floats(-3, 3, allow_nan=False).filter(lambda v: abs(v) > 0.1),
        )
    )
    if name in ("maximum", "minimum"):  # keep clear of ties, which are checked separately
        b = np.asarray(b + 0.01234)
    compare_with_torch(fn, tfn, a, b, check_numeric=False)


def test_maximum_minimum_ties_split_gradient():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 5.0, 3.0])
    compare_with_torch(cr.maximum, torch.maximum, a, b, check_numeric=False)
    compare_with_torch(cr.minimum, torch.minimum, a, b, check_numeric=False)


def test_where():
    cond = rand(3, 4) > 0
    compare_with_torch(
        lambda a, b: cr.where(cond, a, b), lambda a, b: torch.where(torch.tensor(cond), a, b), rand(3, 4), rand(4)
    )


def test_pow_tensor_exponent_at_zero_base():
    a = np.array([0.0, 1.5, 2.0])
    b = np.array([2.0, 0.5, 3.0])
    compare_with_torch(cr.pow, lambda a, b: a**b, a, b, check_numeric=False)


# ----------------------------------------------------------------------------- matmul
MATMUL = [
    ((3,), (3,)),
    ((4, 3), (3,)),
    ((3,), (3, 5)),
    ((4, 3), (3, 5)),
    ((2, 4, 3), (3, 5)),
    ((4, 3), (2, 3, 5)),
    ((2, 4, 3), (2, 3, 5)),
    ((2, 1, 4, 3), (3, 3, 2)),
    ((3,), (2, 3, 5)),
    ((2, 4, 3), (3,)),
]


@pytest.mark.parametrize("sa,sb", MATMUL)
def test_matmul(sa, sb):
    compare_with_torch(cr.matmul, torch.matmul, rand(*sa), rand(*sb))
    compare_with_torch(lambda a, b: a @ b, lambda a, b: a @ b, rand(*sa), rand(*sb), check_numeric=False)


def test_linear_fused():
    x, w, b = rand(5, 3), rand(4, 3), rand(4)
    compare_with_torch(F.linear, torch.nn.functional.linear, x, w, b)
    compare_with_torch(F.linear, torch.nn.functional.linear, x, w)
    compare_with_torch(F.linear, torch.nn.functional.linear, rand(2, 5, 3), w, b)


# ----------------------------------------------------------------------------- reductions
AXES = [None, 0, 1, -1, (0, 2)]
REDUCTIONS = ["sum", "mean", "var", "var0", "std", "std0", "amax", "amin", "logsumexp"]


def _reduce(lib, op, t, **dims):
    """The same call on chainrule and on PyTorch: var/std unbiased unless op ends in 0 (correction=0)."""
    if op.endswith("0"):
        return getattr(t, op[:-1])(correction=0, **dims)
    return getattr(lib, op)(t, **dims)


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", REDUCTIONS)
def test_reductions(op, axis, keepdims):
    x = rand(3, 4, 2)
    dim = tuple(range(3)) if axis is None else axis

    def tf(t):
        return _reduce(torch, op, t, dim=dim, keepdim=keepdims)

    compare_with_torch(lambda t: _reduce(cr, op, t, dim=axis, keepdim=keepdims), tf, x)
    # NumPy's spellings of the same arguments give the same
    compare_with_torch(lambda t: _reduce(cr, op, t, axis=axis, keepdims=keepdims), tf, x, check_numeric=False)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_along_a_dim_give_values_and_indices_like_torch(op, dim, keepdim):
    x = rand(3, 4, 2)
    compare_with_torch(lambda t: getattr(t, op)(dim, keepdim).values, lambda t: getattr(t, op)(dim, keepdim)[0], x)
    r, tr = getattr(cr.tensor(x), op)(dim=dim, keepdim=keepdim), getattr(torch.tensor(x), op)(dim=dim, keepdim=keepdim)
    assert type(r).__name__ == op and r._fields == ("values", "indices")
    assert r.indices.dtype == np.int64 and not r.indices.requires_grad
    np.testing.assert_array_equal(r.indices.numpy(), tr.indices.numpy())
    values, indices = getattr(cr, op)(cr.tensor(x), axis=dim, keepdims=keepdim)  # NumPy's spellings: the same
    np.testing.assert_array_equal(values.numpy(), tr.values.numpy())


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_max_min_ties_split_fairly(axis):
    """amax/amin, and max/min of everything, share the gradient among ties evenly, as PyTorch's do."""
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    dim = (0, 1) if axis is None else axis
    compare_with_torch(lambda t: cr.amax(t, axis), lambda t: torch.amax(t, dim=dim), x, check_numeric=False)
    compare_with_torch(lambda t: cr.amin(t, axis), lambda t: torch.amin(t, dim=dim), x, check_numeric=False)
    if axis is None:
        compare_with_torch(cr.max, torch.max, x, check_numeric=False)
        compare_with_torch(lambda t: t.min(), lambda t: t.min(), x, check_numeric=False)


@pytest.mark.parametrize("dim", [0, 1])
def test_max_min_along_a_dim_send_the_gradient_to_the_index_returned(dim):
    """With a dim, ties do not share: the gradient goes to the element whose index is returned (PyTorch)."""
    x = np.array([[1.0, 3.0, 3.0], [1.0, 2.0, 0.0]])
    compare_with_torch(lambda t: cr.max(t, dim).values, lambda t: torch.max(t, dim).values, x, check_numeric=False)
    compare_with_torch(lambda t: t.min(dim).values, lambda t: t.min(dim).values, x, check_numeric=False)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_log_softmax(axis):
    x = rand(3, 4, 2)
    compare_with_torch(lambda t: cr.softmax(t, axis), lambda t: torch.softmax(t, axis), x)
    compare_with_torch(lambda t: cr.log_softmax(t, axis), lambda t: torch.log_softmax(t, axis), x)


# ----------------------------------------------------------------------------- shapes
def test_shape_ops():
    x = rand(2, 3, 4)
    compare_with_torch(lambda t: t.reshape(4, 6), lambda t: t.reshape(4, 6), x)
    compare_with_torch(lambda t: cr.reshape(t, (-1, 2)), lambda t: t.reshape(-1, 2), x)
    compare_with_torch(lambda t: cr.flatten(t, 1), lambda t: torch.flatten(t, 1), x)
    compare_with_torch(lambda t: t.flatten(), lambda t: t.flatten(), x)
    compare_with_torch(lambda t: cr.permute(t, (2, 0, 1)), lambda t: t.permute(2, 0, 1), x)
    compare_with_torch(lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1), x)
    compare_with_torch(lambda t: cr.transpose(t, 0, 2), lambda t: torch.transpose(t, 0, 2), x)
    compare_with_torch(lambda t: t.transpose(-1, 1), lambda t: t.transpose(-1, 1), x)
    compare_with_torch(lambda t: t.transpose(0, 1), lambda t: t.transpose(0, 1), rand(3, 4))
    compare_with_torch(lambda t: t.mT, lambda t: t.mT, x)
    compare_with_torch(lambda t: t.t(), lambda t: t.t(), rand(3, 4))
    compare_with_torch(lambda t: cr.swapaxes(t, 0, 2), lambda t: t.swapaxes(0, 2), x)
    compare_with_torch(lambda t: cr.movedim(t, 0, 2), lambda t: torch.movedim(t, 0, 2), x)
    compare_with_torch(lambda t: cr.expand_dims(t, 1), lambda t: t.unsqueeze(1), x)
    compare_with_torch(lambda t: t.unsqueeze(-1), lambda t: t.unsqueeze(-1), x)
    compare_with_torch(lambda t: cr.squeeze(t, 1), lambda t: t.squeeze(1), rand(2, 1, 3))
    compare_with_torch(lambda t: cr.squeeze(t, 0), lambda t: t.squeeze(0), rand(2, 1, 3))  # not size 1: unchanged
    compare_with_torch(lambda t: t.squeeze((0, 2)), lambda t: t.squeeze((0, 2)), rand(1, 2, 1, 3))
    compare_with_torch(lambda t: cr.squeeze(t), lambda t: t.squeeze(), rand(1, 2, 1, 3))
    compare_with_torch(lambda t: cr.broadcast_to(t, (2, 3, 4)), lambda t: t.expand(2, 3, 4), rand(3, 1))


INDICES = [
    (1,),
    (slice(1, None),),
    ((Ellipsis, 0),),
    ((slice(None), None, slice(0, 2)),),
    (np.array([0, 2, 2, 1, 0]),),  # repeated indices accumulate
    ((np.array([0, 1, 1]), np.array([2, 0, 2])),),
    ((slice(None), np.array([3, 3, 0])),),
    (-1,),
]


@pytest.mark.parametrize("index", INDICES, ids=[str(i) for i in range(len(INDICES))])
def test_getitem(index):
    (idx,) = index
    x = rand(3, 4)
    tidx = (
        tuple(torch.tensor(i) if isinstance(i, np.ndarray) else i for i in idx)
        if isinstance(idx, tuple)
        else (torch.tensor(idx) if isinstance(idx, np.ndarray) else idx)
    )
    compare_with_torch(lambda t: t[idx], lambda t: t[tidx], x)


def test_getitem_boolean_mask():
    x = rand(3, 4)
    mask = x > 0
    compare_with_torch(lambda t: t[mask], lambda t: t[torch.tensor(mask)], x)
    compare_with_torch(lambda t: t[cr.tensor(mask)], lambda t: t[torch.tensor(mask)], x, check_numeric=False)


def test_join_and_split():
    a, b, c = rand(2, 3), rand(1, 3), rand(2, 3)
    compare_with_torch(lambda a, b: cr.cat([a, b], 0), lambda a, b: torch.cat([a, b], 0), a, b)
    compare_with_torch(lambda a, b: cr.concatenate([a, b], 0), lambda a, b: torch.concatenate([a, b], 0), a, b)
    compare_with_torch(lambda a, c: cr.cat([a, c], dim=1), lambda a, c: torch.cat([a, c], dim=1), a, c)
    compare_with_torch(lambda a, c: cr.concatenate([a, c], axis=1), lambda a, c: torch.cat([a, c], 1), a, c)
    compare_with_torch(lambda a, c: cr.stack([a, c], dim=1), lambda a, c: torch.stack([a, c], 1), a, c)
    compare_with_torch(lambda a, c: cr.stack([a, c], axis=1), lambda a, c: torch.stack([a, c], 1), a, c)
    compare_with_torch(lambda a, c: cr.stack([a, c]), lambda a, c: torch.stack([a, c]), a, c)
    x = rand(7, 4)
    # split: PyTorch's meaning (pieces of a size, or of the sizes listed)
    compare_with_torch(lambda t: cr.split(t, 3), lambda t: torch.split(t, 3), x)
    compare_with_torch(lambda t: t.split([1, 4, 2], dim=0), lambda t: t.split([1, 4, 2], 0), x)
    compare_with_torch(lambda t: cr.split(t, 2, axis=1), lambda t: torch.split(t, 2, 1), x)
    # tensor_split: NumPy's split (a number of pieces, or the indices to cut at)
    compare_with_torch(lambda t: cr.tensor_split(t, 3), lambda t: torch.tensor_split(t, 3), x)
    compare_with_torch(lambda t: t.tensor_split([1, 4], dim=0), lambda t: t.tensor_split([1, 4], 0), x)
    compare_with_torch(lambda t: cr.tensor_split(t, 2, axis=1), lambda t: torch.tensor_split(t, 2, 1), x)


def test_split_uses_only_some_outputs():
    x = rand(6, 2)
    compare_with_torch(lambda t: cr.split(t, 2)[1] * 2, lambda t: torch.split(t, 2)[1] * 2, x)
    compare_with_torch(lambda t: cr.tensor_split(t, 3)[1] * 2, lambda t: torch.tensor_split(t, 3)[1] * 2, x)


# ----------------------------------------------------------------------------- losses
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses(reduction):
    tf = torch.nn.functional
    x = rand(5, 4)
    y = np.array([0, 3, 1, 1, 2])
    probs = np.exp(rand(5, 4))
    probs /= probs.sum(1, keepdims=True)
    compare_with_torch(
        lambda a, b: F.mse_loss(a, b, reduction=reduction),
        lambda a, b: tf.mse_loss(a, b, reduction=reduction),
        x,
        rand(5, 4),
    )
    compare_with_torch(
        lambda a: F.cross_entropy(a, y, reduction=reduction),
        lambda a: tf.cross_entropy(a, torch.tensor(y), reduction=reduction),
        x,
    )
    compare_with_torch(
        lambda a, p: F.cross_entropy(a, p, reduction=reduction),
        lambda a, p: tf.cross_entropy(a, p, reduction=reduction),
        x,
        probs,
    )
    lp = x - np.log(np.exp(x).sum(1, keepdims=True))
    compare_with_torch(
        lambda a: F.nll_loss(a, y, reduction=reduction),
        lambda a: tf.nll_loss(a, torch.tensor(y), reduction=reduction),
        lp,
    )
    p = rand(5, 3, low=0.05, high=0.95)
    t = rand(5, 3, low=0.0, high=1.0)
    compare_with_torch(
        lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
        lambda a, b: tf.binary_cross_entropy(a, b, reduction=reduction),
        p,
        t,
    )
    compare_with_torch(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction),
        lambda a, b: tf.binary_cross_entropy_with_logits(a, b, reduction=reduction),
        rand(5, 3, low=-4, high=4),
        t,
    )
    pw = rand(3, low=0.5, high=3)
    compare_with_torch(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction, pos_weight=pw),
        lambda a, b: tf.binary_cross_entropy_with_logits(a, b, reduction=reduction, pos_weight=torch.tensor(pw)),
        rand(5, 3, low=-4, high=4),
        t,
    )


def test_cross_entropy_options():
    tf = torch.nn.functional
    x = rand(6, 5)
    y = np.array([0, 4, -100, 2, 2, 1])
    compare_with_torch(lambda a: F.cross_entropy(a, y), lambda a: tf.cross_entropy(a, torch.tensor(y)), x)
    y2 = np.array([0, 4, 3, 2, 2, 1])
    compare_with_torch(
        lambda a: F.cross_entropy(a, y2, label_smoothing=0.1),
        lambda a: tf.cross_entropy(a, torch.tensor(y2), label_smoothing=0.1),
        x,
    )
    # K-dimensional: (N, C, d) logits with (N, d) targets
    xk = rand(2, 3, 4)
    yk = np.array([[0, 1, 2, 1], [2, 2, 0, 1]])
    compare_with_torch(lambda a: F.cross_entropy(a, yk), lambda a: tf.cross_entropy(a, torch.tensor(yk)), xk)
    # unbatched (C,) logits with a scalar target
    compare_with_torch(
        lambda a: F.cross_entropy(a, np.array(2)), lambda a: tf.cross_entropy(a, torch.tensor(2)), rand(4)
    )


def test_cross_entropy_backward_is_softmax_minus_target_over_n():
    """The seeds' Softmax-with-Loss layer: dL/dx = (softmax(x) - onehot) / N, derived by hand."""
    x = rand(4, 3)
    y = np.array([2, 0, 1, 1])
    t = cr.tensor(x, requires_grad=True)
    F.cross_entropy(t, y).backward()
    e = np.exp(x - x.max(1, keepdims=True))
    sm = e / e.sum(1, keepdims=True)
    onehot = np.eye(3)[y]
    np.testing.assert_allclose(t.grad.numpy(), (sm - onehot) / 4, rtol=1e-12)


def test_float32_stays_float32():
    x = cr.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    ops = [
        x * 2.5,
        x + np.float64(1.0),
        2.0**x,
        x / 3,
        x - 1,
        x**2,
        cr.exp(x),
        x * np.array(2),
        x.sigmoid(),
        F.cross_entropy(x, np.array([0, 1])),
        F.mse_loss(x, np.zeros((2, 3))),
    ]
    for y in ops:
        assert y.dtype == np.float32, y
    sum(y.sum() for y in ops).backward()
    assert x.grad.dtype == np.float32


def test_a_0d_float32_tensor_stays_float32():
    # NumPy 1.x promotes a 0-d float32 array meeting a Python number to float64; NumPy 2 does not
    x = cr.tensor(np.float32(0.5), requires_grad=True)
    ops = [x**3, x**0.5, x**-1.5, x**0, x.relu(), x.clip(0.1, 0.4), x.clip(0.1), x.logsumexp(), x * 2.5, 1 - x]
    for y in ops:
        assert y.shape == () and y.dtype == np.float32, y
    sum(ops).backward()
    assert x.grad.dtype == np.float32
