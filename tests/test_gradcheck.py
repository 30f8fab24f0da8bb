"""cr.gradcheck: passes correct backward passes, catches wrong ones with a useful report."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import GradcheckError


class GoodMul(cr.Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        return dout * self.y, dout * self.x


class SwappedMul(cr.Function):
    """A learner's classic slip: each input gets its own value instead of the other's."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        return dout * self.x, dout * self.y


class BadSigmoid(cr.Function):
    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * self.out  # forgot the (1 - out) factor


def test_passes_correct_function():
    a = cr.tensor(np.random.default_rng(0).standard_normal((3, 2)), requires_grad=True)
    b = cr.tensor(np.random.default_rng(1).standard_normal((3, 2)), requires_grad=True)
    assert cr.gradcheck(lambda a, b: GoodMul()(a, b), a, b)
    assert cr.check_backward(GoodMul, a, b)


def test_catches_swapped_mul_and_reports_details():
    a = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="a")
    b = cr.tensor([[5.0, -6.0], [7.0, 8.0]], requires_grad=True)
    with pytest.raises(GradcheckError) as e:
        cr.gradcheck(lambda a, b: SwappedMul()(a, b), a, b)
    msg = str(e.value)
    assert "input 0 ('a')" in msg and "shape (2, 2)" in msg
    assert "Largest mismatch at index" in msg and "numerical" in msg and "analytical" in msg
    # the reported numbers are the true ones: numerical d(sum v*a*b)/da = v*b, analytical v*a
    v = np.random.default_rng(0).standard_normal((2, 2))
    num, ana = v * b.numpy(), v * a.numpy()
    j = np.unravel_index(np.argmax(np.abs(num - ana) - 1e-3 * np.abs(num)), (2, 2))
    assert f"index {tuple(int(i) for i in j)}" in msg
    assert f"numerical {num[j]:.8g}" in msg and f"analytical {ana[j]:.8g}" in msg


def test_check_backward_names_the_function():
    x = cr.tensor(np.linspace(-2, 2, 5), requires_grad=True)
    with pytest.raises(GradcheckError, match="BadSigmoid.backward"):
        cr.check_backward(BadSigmoid, x)
    assert cr.gradcheck(lambda x: BadSigmoid()(x), x, raise_exception=False) is False


def test_runs_in_float64_even_for_float32_inputs():
    x = cr.tensor(np.linspace(0.5, 2.0, 4).astype(np.float32), requires_grad=True)
    seen = []

    def f(t):
        seen.append(t.dtype)
        return (t * t).log()

    assert cr.gradcheck(f, x)
    assert set(seen) == {np.dtype(np.float64)}


def test_numerical_grad():
    (g,) = cr.numerical_grad(lambda x: (x**3).sum(), cr.tensor([1.0, 2.0]))
    np.testing.assert_allclose(g, [3.0, 12.0], rtol=1e-8)


def test_only_inputs_that_require_grad_are_checked():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0])  # no grad needed: a wrong gradient for b is not looked at

    class HalfWrong(cr.Function):
        def forward(self, x, y):
            self.x, self.y = x, y
            return x * y

        def backward(self, g):
            return g * self.y, g * 1000.0

    assert cr.gradcheck(lambda a, b: HalfWrong()(a, b), a, b)


def test_gradcheck_treats_plain_arrays_as_constants():
    """With some tensor requiring grad, plain ndarray arguments are not checked."""

    class WrongForB(cr.Function):  # right for a, deliberately no gradient for b
        def forward(self, a, b):
            return a * b

        def backward(self, g):
            a, b = self.inputs
            return g * b.data, None

    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = np.array([3.0, 4.0])
    assert cr.gradcheck(lambda x, y: WrongForB()(x, y), a, b)


def test_numerical_grad_differentiates_every_float_input():
    w = np.array([1.0, -2.0])
    x = cr.tensor([3.0, 4.0], requires_grad=True)
    gx, gw = cr.numerical_grad(lambda a, b: (a * b).sum(), x, w)  # w: an ndarray, as documented
    np.testing.assert_allclose(gx, w, rtol=1e-6)
    np.testing.assert_allclose(gw, [3.0, 4.0], rtol=1e-6)
