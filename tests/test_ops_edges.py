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
