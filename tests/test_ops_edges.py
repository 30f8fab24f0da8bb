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
    assert cr.max(cr.tensor(np.zeros((0, 3))), axis=1).shape == (0,)


def test_min_over_an_empty_axis_is_refused():
    with pytest.raises(ValueError, match="axis 0 of length 0"):
        cr.min(cr.tensor(np.zeros((0, 3))), axis=0)


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
    y, ty = fn(*xs), tfn(*ts)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-15, atol=0)
    with np.errstate(all="raise"):
        gs = cr.grad(y.sum(), xs, create_graph=create_graph)
    tgs = torch.autograd.grad(ty.sum(), ts)
    for g, tg in zip(gs, tgs):
        assert g.shape == tuple(tg.shape)
        np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-15, atol=0)  # NaN and infinities as PyTorch's
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
