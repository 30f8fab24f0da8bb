"""Stable functions give finite, correct values and gradients at |x| = 1e4, with no warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import requires_torch, torch

BIG = np.array([-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4])


def _cases(t):
    tf = torch.nn.functional
    x = BIG
    x2 = np.stack([BIG, BIG[::-1]])  # (2, 7)
    return [
        ("sigmoid", lambda a: cr.sigmoid(a), lambda a: torch.sigmoid(a), x),
        ("softplus", lambda a: cr.softplus(a), lambda a: tf.softplus(a), x),
        ("log_softmax", lambda a: cr.log_softmax(a, -1), lambda a: torch.log_softmax(a, -1), x2),
        ("softmax", lambda a: cr.softmax(a, -1), lambda a: torch.softmax(a, -1), x2),
        ("logsumexp", lambda a: cr.logsumexp(a, axis=1), lambda a: torch.logsumexp(a, 1), x2),
        (
            "cross_entropy",
            lambda a: F.cross_entropy(a, np.array([0, 3])),
            lambda a: tf.cross_entropy(a, torch.tensor([0, 3])),
            x2,
        ),
        (
            "bce_with_logits",
            lambda a: F.binary_cross_entropy_with_logits(a, np.linspace(0, 1, 7)),
            lambda a: tf.binary_cross_entropy_with_logits(a, torch.tensor(np.linspace(0, 1, 7)).to(a.dtype)),
            x,
        ),
        (
            "bce_of_sigmoid",
            lambda a: F.binary_cross_entropy(cr.sigmoid(a), np.linspace(0, 1, 7)),
            lambda a: tf.binary_cross_entropy(torch.sigmoid(a), torch.tensor(np.linspace(0, 1, 7)).to(a.dtype)),
            x,
        ),
    ]


@requires_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(8))
def test_large_inputs_finite_correct_and_silent(case, dtype):
    name, fn, tfn, x = _cases(torch)[case]
    x = x.astype(dtype)
    t = cr.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning from NumPy fails the test
        with np.errstate(divide="warn", over="warn", invalid="warn"):  # NumPy's defaults
            y = fn(t)
            y.sum().backward()
    assert np.all(np.isfinite(y.numpy())), name
    assert np.all(np.isfinite(t.grad.numpy())), name
    tt = torch.tensor(x, requires_grad=True)
    ty = tfn(tt)
    ty.sum().backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol, err_msg=name)
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=tol, atol=tol, err_msg=name)


def test_sigmoid_extremes_exact():
    y = cr.sigmoid(cr.tensor([-1e4, 1e4]))
    assert y.numpy().tolist() == [0.0, 1.0]


@requires_torch
def test_cross_entropy_target_gradient_is_minus_log_softmax_where_softmax_underflows():
    x = np.array([[0.0, -800.0, 5.0]])
    t = np.array([[0.2, 0.3, 0.5]])
    a, b = cr.tensor(x, requires_grad=True), cr.tensor(t, requires_grad=True)
    F.cross_entropy(a, b).backward()
    ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    torch.nn.functional.cross_entropy(ta, tb).backward()
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12)
    assert b.grad.numpy()[0, 1] > 800  # -log p = 805.0..., not -log(tiny)
