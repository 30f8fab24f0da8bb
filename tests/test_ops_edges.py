"""Operations at the edges of their domains: empty axes, NaN and infinite inputs, zero exponents.

Where PyTorch defines the result, values and gradients are compared with its own;
otherwise with a value derived by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import requires_torch, torch


# ----------------------------------------------------------------------------- empty axes
@requires_torch
@pytest.mark.filterwarnings("ignore:var")  # PyTorch's own warning about degrees of freedom
def test_reductions_without_elements_give_nan_like_torch():
    cases = [
        (np.zeros(0), lambda t: t.mean(), lambda t: t.mean()),
        (np.zeros((2, 0)), lambda t: t.mean(1).sum(), lambda t: t.mean(1).sum()),
        (np.array([2.0]), lambda t: t.var(ddof=1), lambda t: t.var()),
        (np.ones((3, 1)), lambda t: t.var(axis=1, ddof=1).sum(), lambda t: t.var(1).sum()),
    ]
    for x, f, tf in cases:
        a, ta = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, ty = f(a), tf(ta)
        with np.errstate(all="raise"):
            y.backward()
        ty.backward()
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())


def test_max_over_a_non_empty_axis_of_an_empty_tensor_is_empty():
    values, indices = cr.max(cr.tensor(np.zeros((0, 3))), axis=1)
    assert values.shape == indices.shape == (0,)
    assert cr.amax(cr.tensor(np.zeros((0, 3))), dim=1).shape == (0,)


def test_min_over_an_empty_axis_is_refused():
    with pytest.raises(ValueError, match="min: cannot reduce over dim 0 of length 0"):
        cr.min(cr.tensor(np.zeros((0, 3))), axis=0)
    with pytest.raises(ValueError, match="amin: cannot reduce over dim 0 of length 0"):
        cr.amin(cr.tensor(np.zeros((0, 3))), dim=0)


@requires_torch
def test_softmax_and_logsumexp_over_an_empty_axis_match_torch():
    x = np.zeros((0, 3))
    assert cr.softmax(cr.tensor(x), 0).shape == torch.softmax(torch.tensor(x), 0).shape
    np.testing.assert_array_equal(cr.tensor(x).logsumexp(axis=0).numpy(), torch.tensor(x).logsumexp(0).numpy())


# ----------------------------------------------------------------------------- NaN and infinities
@requires_torch
def test_max_routes_the_gradient_to_a_nan_like_torch():
    x = np.array([1.0, np.nan, 3.0])
    a, ta = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    with np.errstate(all="raise"):
        cr.max(a).backward()
    ta.max().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())


@requires_torch
def test_log_softmax_of_an_all_minus_inf_row_is_silent_and_matches_torch():
    import warnings

    x = np.array([[-np.inf, -np.inf], [0.0, 1.0]])
    a = cr.tensor(x, requires_grad=True)
    ta = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = cr.log_softmax(a, 1)
        y.sum().backward()
    ty = torch.log_softmax(ta, 1)
    ty.sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)  # NaN where NaN, too
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)


@requires_torch
def test_log_softmax_of_a_row_holding_plus_inf_is_nan_like_torch():
    x = np.array([[0.0, np.inf, 1.0], [0.0, 1.0, 2.0]])
    ours = cr.log_softmax(cr.tensor(x), 1).numpy()
    theirs = torch.log_softmax(torch.tensor(x), 1).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert np.isnan(ours[0]).all()


# ----------------------------------------------------------------------------- zero exponents
def test_x_to_the_zero_has_zero_gradient_at_zero():
    a = cr.tensor(0.0, requires_grad=True)
    (g0,) = cr.grad(a**0, a)
    assert g0.item() == 0.0  # d/dx x^0 = 0, also at x = 0 (PyTorch agrees)
    (g0,) = cr.grad((a**0) * 3, a, create_graph=True)
    assert g0.item() == 0.0


@requires_torch
def test_power_with_zero_exponent_has_zero_gradient_like_torch():
    x = cr.tensor([0.0, 2.0], requires_grad=True)
    (x ** cr.tensor([0.0, 0.0])).sum().backward()
    tx = torch.tensor([0.0, 2.0], requires_grad=True)
    (tx ** torch.tensor([0.0, 0.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    (g,) = cr.grad((x ** cr.tensor([0.0, 0.0])).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0])


@requires_torch
def test_power_mixed_second_derivatives_at_zero_exponent_agree():
    # d/db of d(a^b)/da = a^(b-1) (1 + b ln a): 1/a at b = 0; the Hessian stays symmetric
    a = cr.tensor([2.0, 3.0], requires_grad=True)
    b = cr.tensor([0.0, 0.0], requires_grad=True)
    ga, gb = cr.grad((a**b).sum(), [a, b], create_graph=True)
    (dga_db,) = cr.grad(ga.sum(), b)
    (dgb_da,) = cr.grad(gb.sum(), a)
    np.testing.assert_allclose(dga_db.numpy(), [0.5, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(dgb_da.numpy(), dga_db.numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------- unusual targets
@requires_torch
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_with_unnormalised_probability_targets_matches_torch(smoothing):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))
    q = rng.random((5, 4)) * 2  # rows do not sum to 1
    a = cr.tensor(x, requires_grad=True)
    ta = torch.tensor(x, requires_grad=True)
    F.cross_entropy(a, cr.tensor(q), label_smoothing=smoothing).backward()
    torch.nn.functional.cross_entropy(ta, torch.tensor(q), label_smoothing=smoothing).backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
    (g,) = cr.grad(F.cross_entropy(a, cr.tensor(q), label_smoothing=smoothing), a, create_graph=True)
    np.testing.assert_allclose(g.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- gradients PyTorch defines at edges
def _grads_like_torch(arrays, fn, tfn, create_graph=False):
    """Gradients of sum(fn(*xs)) from chainrule (optionally under create_graph) and PyTorch, in float64."""
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    with np.errstate(all="ignore"):  # (NumPy's warnings about NaN and infinities are not the subject here)
        y, ty = fn(*xs), tfn(*ts)
        gs = cr.grad(y.sum(), xs, create_graph=create_graph)
    assert y.dtype == np.dtype(str(ty.dtype).split(".")[1])
    rtol = 1e-15 if y.dtype == np.float64 else 1e-6
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=0)
    tgs = torch.autograd.grad(ty.sum(), ts)
    for g, tg in zip(gs, tgs):
        assert g.shape == tuple(tg.shape)
        np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=rtol, atol=0)  # NaN and infinities as PyTorch's
    return gs


@requires_torch
@pytest.mark.filterwarnings("ignore:std")  # PyTorch's own warning about degrees of freedom
@pytest.mark.parametrize("correction", [0, 1])
@pytest.mark.parametrize("create_graph", [False, True])
def test_std_and_var_of_constant_values_have_zero_gradient_like_torch(correction, create_graph):
    x = np.full((3, 4), 0.5)
    for axis in [None, 1, 0]:
        for f, tf in [(cr.std, torch.std), (cr.var, torch.var)]:
            gs = _grads_like_torch(
                [x],
                lambda a, f=f, axis=axis: f(a, axis=axis, ddof=correction),
                lambda a, tf=tf, axis=axis: tf(a, dim=axis, correction=correction),
                create_graph,
            )
            np.testing.assert_array_equal(gs[0].numpy(), 0.0)
    # one value and correction 1: no degrees of freedom, NaN value and gradient, as in PyTorch
    _grads_like_torch([np.ones(1)], lambda a: cr.std(a, ddof=correction), lambda a: torch.std(a, correction=correction))


@requires_torch
def test_std_second_derivatives_stay_finite_at_a_constant_row():
    x = cr.tensor(np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 3.0]]), requires_grad=True)
    (g,) = cr.grad(cr.std(x, axis=1, ddof=1).sum(), x, create_graph=True)
    (h,) = cr.grad((g * cr.tensor(np.arange(6.0).reshape(2, 3))).sum(), x)
    assert np.isfinite(h.numpy()).all()
    tx = torch.tensor(x.numpy()[1:], requires_grad=True)  # the non-constant row agrees with PyTorch
    (tg,) = torch.autograd.grad(torch.std(tx, 1).sum(), tx, create_graph=True)
    (th,) = torch.autograd.grad((tg * torch.arange(3.0, 6.0, dtype=torch.float64)).sum(), tx)
    np.testing.assert_allclose(h.numpy()[1:], th.numpy(), rtol=1e-12)


@requires_torch
@pytest.mark.parametrize(
    "sa, sb", [((2, 3, 0), (0, 4)), ((3, 0), (0, 4)), ((0,), (0, 4)), ((2, 3, 0), (0,)), ((0, 3), (3, 2))]
)
def test_matmul_with_an_empty_dimension_differentiates_like_torch(sa, sb):
    _grads_like_torch([np.zeros(sa), np.zeros(sb)], lambda a, b: a @ b, lambda a, b: a @ b)
    _grads_like_torch([np.zeros(sa), np.zeros(sb)], lambda a, b: a @ b, lambda a, b: a @ b, create_graph=True)


@requires_torch
@pytest.mark.parametrize("create_graph", [False, True])
def test_relu_and_clip_stop_an_infinite_gradient_like_torch(create_graph):
    x = np.array([-1.0, 0.0, 0.25, 4.0])  # sqrt at 0 has an infinite derivative
    _grads_like_torch([x], lambda a: cr.sqrt(cr.relu(a)), lambda a: torch.sqrt(torch.relu(a)), create_graph)
    _grads_like_torch(
        [x], lambda a: cr.sqrt(cr.clip(a, 0.0, 1.0)), lambda a: torch.sqrt(torch.clamp(a, 0.0, 1.0)), create_graph
    )
    _grads_like_torch([x], lambda a: cr.sqrt(cr.clip(a, max=0.0) + 1), lambda a: (torch.clamp(a, max=0.0) + 1).sqrt())


@requires_torch
@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_and_minimum_with_nan_send_the_gradient_to_both_like_torch(op, create_graph):
    nan = np.nan
    a = np.array([nan, 1.0, nan, 2.0, 3.0, -1.0])
    b = np.array([1.0, nan, nan, 2.0, -1.0, 3.0])
    _grads_like_torch([a, b], getattr(cr, op), getattr(torch, op), create_graph)
    # the loser gets 0 even from an infinite incoming gradient
    x = np.array([-1.0, 0.0, 2.0])
    _grads_like_torch(
        [x, np.zeros(3)],
        lambda p, q: cr.sqrt(getattr(cr, op)(p, q) * (1 if op == "maximum" else -1)),
        lambda p, q: torch.sqrt(getattr(torch, op)(p, q) * (1 if op == "maximum" else -1)),
    )


@requires_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_of_an_empty_batch_is_like_torch(reduction):
    import warnings

    for shape in [(0,), (0, 3)]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _grads_like_torch(
                [np.zeros(shape), np.zeros(shape)],
                lambda a, b: F.mse_loss(a, b, reduction=reduction),
                lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction),
            )


@requires_torch
@pytest.mark.parametrize("create_graph", [False, True])
def test_power_of_zero_to_a_negative_exponent_has_minus_inf_gradient_like_torch(create_graph):
    a = np.zeros(5)
    b = np.array([-1.0, -0.5, -2.0, 0.0, 2.0])
    (ga, gb) = _grads_like_torch([a, b], lambda p, q: p**q, lambda p, q: p**q, create_graph)
    assert np.isneginf(gb.numpy()[:3]).all()


# ----------------------------------------------------------------------------- found by the differential fuzzer
# (tests/fuzz_ops.py: each of these was a disagreement with PyTorch in a random program)
@requires_torch
@pytest.mark.filterwarnings("ignore:var|std")  # PyTorch's own warning about degrees of freedom
@pytest.mark.parametrize("dim", [0, -1, (0,), None])
def test_a_0d_tensor_has_one_dimension_to_name_like_torch(dim):
    x = np.array(1.5)
    cases = [
        (lambda a: cr.sum(a, axis=dim) * a, lambda a: torch.sum(a, dim=dim) * a),
        (lambda a: cr.mean(a, axis=dim, keepdims=True), lambda a: torch.mean(a, dim=dim, keepdim=True)),
        (lambda a: cr.amax(a, axis=dim) * a, lambda a: torch.amax(a, dim=() if dim is None else dim) * a),
        (lambda a: cr.logsumexp(a, axis=dim), lambda a: torch.logsumexp(a, dim=() if dim is None else dim)),
        (lambda a: cr.var(a, axis=dim, ddof=0) + a, lambda a: torch.var(a, dim=dim, correction=0) + a),
        (lambda a: cr.std(a, axis=dim, ddof=1), lambda a: torch.std(a, dim=dim, correction=1)),
        (lambda a: cr.squeeze(a, dim) * a, lambda a: torch.squeeze(a, dim) * a if dim is not None else a.squeeze() * a),
    ]
    if isinstance(dim, int):
        cases += [
            (lambda a: cr.softmax(a * a, dim), lambda a: torch.softmax(a * a, dim)),
            (lambda a: cr.log_softmax(a, dim) + a, lambda a: torch.log_softmax(a, dim) + a),
            (lambda a: cr.swapaxes(a, dim, 0) * a, lambda a: torch.swapaxes(a, dim, 0) * a),
            (lambda a: cr.ops.moveaxis(a, dim, -1) * a, lambda a: torch.movedim(a, dim, -1) * a),
        ]
    for f, tf in cases:
        gs = _grads_like_torch([x], f, tf)
        assert gs[0].shape == ()
    with pytest.raises(cr.errors.ShapeError, match="out of range"):
        cr.sum(cr.tensor(x), axis=1)
    with pytest.raises(cr.errors.ShapeError, match="out of range"):
        cr.concatenate([cr.tensor(x), cr.tensor(x)])  # (PyTorch refuses 0-d tensors in cat too)


@requires_torch
def test_an_axis_named_twice_is_refused_like_torch():
    for f, tf in [(cr.sum, torch.sum), (cr.mean, torch.mean), (cr.var, torch.var)]:
        with pytest.raises(RuntimeError):
            tf(torch.ones(2, 3), dim=(1, -1))
        with pytest.raises(cr.errors.ShapeError, match="axis 1 appears more than once"):
            f(cr.ones((2, 3)), axis=(1, -1))


@requires_torch
def test_squeeze_leaves_an_axis_whose_size_is_not_1_like_torch():
    x = np.arange(6.0).reshape(2, 1, 3)
    for dim in [0, 1, 2, -1, (0, 1), (0, 2)]:
        _grads_like_torch([x], lambda a, d=dim: cr.squeeze(a, d) * 2, lambda a, d=dim: torch.squeeze(a, d) * 2)
    with pytest.raises(cr.errors.ShapeError, match="expand_dims: axis 4 is out of range"):
        cr.expand_dims(cr.tensor(x), 4)


@requires_torch
@pytest.mark.parametrize("create_graph", [False, True])
def test_clip_with_tensor_bounds_follows_torch_at_ties_nans_and_crossed_bounds(create_graph):
    import itertools

    grid = [0.0, 1.0, 2.0, np.nan]
    x, lo, hi = (np.array(v) for v in zip(*itertools.product(grid, grid, grid)))
    _grads_like_torch([x, lo, hi], cr.clip, torch.clamp, create_graph)
    _grads_like_torch([x, lo], lambda a, b: cr.clip(a, b), lambda a, b: torch.clamp(a, b), create_graph)
    _grads_like_torch([x, hi], lambda a, b: cr.clip(a, max=b), lambda a, b: torch.clamp(a, max=b), create_graph)
    with pytest.raises(cr.errors.ShapeError, match="clip: shapes"):
        cr.clip(cr.ones((3, 2)), cr.ones((4, 2)), 1.0)


@requires_torch
def test_clip_with_0d_bounds_keeps_the_dtype_of_the_input_like_torch():
    x = cr.tensor(np.array([0.5, 2.0], np.float32), requires_grad=True)
    lo = cr.tensor(np.array(1.0), requires_grad=True)
    y = cr.clip(x, lo, cr.tensor(np.array(3.0)))
    ty = torch.clamp(torch.tensor([0.5, 2.0]), torch.tensor(1.0, dtype=torch.float64), torch.tensor(3.0).double())
    assert str(y.dtype) == str(ty.dtype).split(".")[1] == "float32"
    y.sum().backward()
    assert lo.grad.dtype == np.float64 and lo.grad.item() == 1.0


@requires_torch
def test_a_0d_tensor_takes_the_float_dtype_of_a_tensor_with_dimensions_like_torch():
    a = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    s = cr.tensor(np.array(2.0), requires_grad=True)  # float64, 0-d
    for y, ty in [
        (a * s, torch.ones(3) * torch.tensor(2.0, dtype=torch.float64)),
        (s - a, torch.tensor(2.0, dtype=torch.float64) - torch.ones(3)),
        (cr.maximum(a, s), torch.maximum(torch.ones(3), torch.tensor(2.0, dtype=torch.float64))),
    ]:
        assert str(y.dtype) == str(ty.dtype).split(".")[1] == "float32"
    (a * s).sum().backward()
    assert s.grad.dtype == np.float64 and s.grad.item() == 3.0
    assert (a[0] * cr.tensor(np.ones(2))).dtype == np.float64  # 0-d float32 with float64 dimensions: float64


@requires_torch
@pytest.mark.parametrize("shape", [(2, 3, 0), (0, 3, 0), (3, 0)])
def test_linear_with_no_input_features_differentiates_like_torch(shape):
    w, b = np.zeros((4, 0)), np.arange(4.0)
    _grads_like_torch([np.zeros(shape), w, b], F.linear, torch.nn.functional.linear)
    _grads_like_torch([np.zeros(shape), w, b], F.linear, torch.nn.functional.linear, create_graph=True)


@requires_torch
def test_binary_cross_entropy_refuses_nan_probabilities_like_torch():
    p, t = np.array([0.5, np.nan]), np.array([1.0, 0.0])
    with pytest.raises(RuntimeError):
        torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t))
    with pytest.raises(cr.errors.ArgumentError, match="probabilities in"):
        F.binary_cross_entropy(cr.tensor(p), cr.tensor(t))


@requires_torch
def test_division_gradient_does_not_overflow_on_the_divisors_square_like_torch():
    a, b = np.array([1e200, 3.0, 1e-200]), np.array([1e200, 1e-170, 1e-200])
    gs = _grads_like_torch([a, b], lambda p, q: p / q, lambda p, q: p / q)
    assert gs[1].numpy()[0] == pytest.approx(-1e-200)


@requires_torch
@pytest.mark.parametrize("create_graph", [False, True])
def test_x_to_the_zero_has_zero_gradient_whatever_arrives_like_torch(create_graph):
    x = np.array([np.nan, np.inf, 0.0, 2.0, -1.0])
    zero = np.zeros(5)
    _grads_like_torch([x], lambda a: cr.sqrt(a**0 - 1) + a**0, lambda a: torch.sqrt(a**0 - 1) + a**0, create_graph)
    _grads_like_torch(
        [x, zero], lambda a, b: cr.sqrt(a**b - 1) + a**b, lambda a, b: torch.sqrt(a**b - 1) + a**b, create_graph
    )


@requires_torch
@pytest.mark.parametrize("p", [0.5, -0.5, 1.5])
def test_square_roots_of_minus_zero_like_torch(p):
    x = np.array([-0.0, 0.0, 4.0])
    _grads_like_torch([x], lambda a: a**p, lambda a: a**p)
    _grads_like_torch([x], lambda a: a**p, lambda a: a**p, create_graph=True)


@requires_torch
def test_abs_and_relu_at_nan_differentiate_like_torch():
    x = np.array([np.nan, -1.0, 0.0, 2.0])
    _grads_like_torch([x], cr.abs, torch.abs)  # sign(NaN) taken as 0
    _grads_like_torch([x], cr.relu, torch.relu)  # the gradient passes where x is NaN
    _grads_like_torch([x], lambda a: cr.relu(a) * a, lambda a: torch.relu(a) * a, create_graph=True)


@requires_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ignored_samples_give_nothing_even_when_nan_like_torch(reduction):
    x = np.array([[0.5, np.nan, 1.0], [0.2, -0.3, 2.0], [np.inf, 0.0, 1.0]])
    t = np.array([1, 2, -100])
    tt = torch.tensor(t)
    _grads_like_torch(
        [x[1:]],
        lambda a: F.nll_loss(a, np.array([2, -100]), reduction=reduction),
        lambda a: torch.nn.functional.nll_loss(a, torch.tensor([2, -100]), reduction=reduction),
    )
    x2 = np.where(np.isnan(x), 1.0, x)  # cross_entropy: NaN only in an ignored row
    x2[2] = [np.nan, 0.0, 1.0]
    _grads_like_torch(
        [x2],
        lambda a: F.cross_entropy(a, t, reduction=reduction),
        lambda a: torch.nn.functional.cross_entropy(a, tt, reduction=reduction),
    )
    # an infinite or NaN gradient arriving: 0 stays 0 where a sample's class is not (nll_loss's rows)
    _grads_like_torch(
        [x[1:]],
        lambda a: 1 / (F.nll_loss(a, np.array([2, 0]), reduction=reduction) * 0),
        lambda a: 1 / (torch.nn.functional.nll_loss(a, torch.tensor([2, 0]), reduction=reduction) * 0),
    )


@requires_torch
@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy"])
def test_a_mean_over_no_samples_has_zero_gradients_to_every_order_like_torch(loss):
    x = np.array([[0.5, 1.5, 1.0], [0.2, -0.3, 2.0]])
    t = np.array([-100, -100])
    f = getattr(F, loss)
    tf = getattr(torch.nn.functional, loss)
    # the loss is NaN (0 / 0) and so is tanh's derivative there: what arrives at the loss is NaN
    _grads_like_torch([x], lambda a: cr.tanh(f(a, t)), lambda a: torch.tanh(tf(a, torch.tensor(t))), True)
    a = cr.tensor(x, requires_grad=True)
    (g,) = cr.grad(cr.tanh(f(a * a, t)), a, create_graph=True)
    (h,) = cr.grad(g.sum(), a)
    np.testing.assert_array_equal(h.numpy(), 0.0)


@requires_torch
def test_cross_entropy_second_derivatives_ignore_what_arrives_for_ignored_samples_like_torch():
    x = np.array([[2.1, -0.3, -2.7], [0.4, -1.6, -5.3], [-0.5, -1.2, -1.3]])
    t = np.array([2, -100, -100])  # the ignored samples' loss is 0, and log's derivative there is infinite
    _grads_like_torch(
        [x],
        lambda a: cr.log(F.cross_entropy(a, t, reduction="none")),
        lambda a: torch.log(torch.nn.functional.cross_entropy(a, torch.tensor(t), reduction="none")),
        create_graph=True,
    )
    a = cr.tensor(x, requires_grad=True)
    (g,) = cr.grad(cr.log(F.cross_entropy(a, t, reduction="none")).sum(), a, create_graph=True)
    (h,) = cr.grad(g.sum(), a)
    ta = torch.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad(
        torch.log(torch.nn.functional.cross_entropy(ta, torch.tensor(t), reduction="none")).sum(), ta, create_graph=True
    )
    (th,) = torch.autograd.grad(tg.sum(), ta)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-12, atol=1e-14)


@requires_torch
def test_float32_variance_of_large_values_does_not_overflow_like_torch():
    x = np.array([13.0, 235.0, 5.457e19], np.float32)  # the squares pass float32's range; the std does not
    for correction in (0, 1):
        _grads_like_torch(
            [x], lambda a, c=correction: cr.std(a, ddof=c), lambda a, c=correction: torch.std(a, correction=c)
        )
    y, ty = cr.var(cr.tensor(x)), torch.var(torch.tensor(x), correction=0)
    assert y.dtype == np.float32 and np.isposinf(y.item()) and np.isposinf(ty.item())
