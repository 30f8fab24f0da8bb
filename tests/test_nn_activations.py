"""The activation modules against PyTorch's: values, gradients, settings and repr.

Each module calls the function of the same name in ``chainrule.nn.functional``. A case whose
function that module does not have (yet) is skipped, saying which function is missing; the
constructors' checks run regardless.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

from conftest import compare_with_torch, requires_torch, torch

rng = np.random.default_rng(3)


def _needs(name):
    return pytest.mark.skipif(
        not hasattr(F, name), reason=f"chainrule.nn.functional.{name} is not in this version (the module calls it)"
    )


#: (functional name, chainrule module, PyTorch module)
CASES = [
    ("gelu", lambda: nn.GELU(), lambda: torch.nn.GELU()),
    ("gelu", lambda: nn.GELU(approximate="tanh"), lambda: torch.nn.GELU(approximate="tanh")),
    ("elu", lambda: nn.ELU(), lambda: torch.nn.ELU()),
    ("elu", lambda: nn.ELU(alpha=0.3), lambda: torch.nn.ELU(alpha=0.3)),
    ("selu", lambda: nn.SELU(), lambda: torch.nn.SELU()),
    ("celu", lambda: nn.CELU(), lambda: torch.nn.CELU()),
    ("celu", lambda: nn.CELU(alpha=2.0), lambda: torch.nn.CELU(alpha=2.0)),
    ("silu", lambda: nn.SiLU(), lambda: torch.nn.SiLU()),
    ("mish", lambda: nn.Mish(), lambda: torch.nn.Mish()),
    ("hardtanh", lambda: nn.Hardtanh(), lambda: torch.nn.Hardtanh()),
    ("hardtanh", lambda: nn.Hardtanh(-0.5, 2.0), lambda: torch.nn.Hardtanh(-0.5, 2.0)),
    ("hardswish", lambda: nn.Hardswish(), lambda: torch.nn.Hardswish()),
    ("hardsigmoid", lambda: nn.Hardsigmoid(), lambda: torch.nn.Hardsigmoid()),
    ("softsign", lambda: nn.Softsign(), lambda: torch.nn.Softsign()),
    ("relu6", lambda: nn.ReLU6(), lambda: torch.nn.ReLU6()),
    ("logsigmoid", lambda: nn.LogSigmoid(), lambda: torch.nn.LogSigmoid()),
    ("glu", lambda: nn.GLU(), lambda: torch.nn.GLU()),
    ("glu", lambda: nn.GLU(dim=0), lambda: torch.nn.GLU(dim=0)),
]


def _away_from_kinks(shape):
    """Values away from the points where the piecewise activations have kinks (0, +-1, +-3, 6, ...)."""
    x = rng.uniform(-7, 7, shape)
    kinks = np.array([-3.0, -1.0, -0.5, 0.0, 1.0, 2.0, 3.0, 6.0])
    near = np.abs(x[..., None] - kinks).min(-1) < 0.05
    return np.where(near, x + 0.1, x)


@requires_torch
@pytest.mark.parametrize("name, make, tmake", [pytest.param(*c, marks=_needs(c[0]), id=repr(c[1]())) for c in CASES])
def test_activation_module_matches_torch(name, make, tmake):
    m, tm = make(), tmake()
    x = _away_from_kinks((4, 6))
    compare_with_torch(m, tm, x)
    assert repr(m).replace("'", "") == repr(tm).replace("'", "").replace(", inplace=False", "")


def test_settings_are_checked():
    with pytest.raises(cr.errors.ArgumentError, match="approximate must be 'none' or 'tanh'"):
        nn.GELU(approximate="erf")
    with pytest.raises(cr.errors.ArgumentError, match="max_val"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(cr.errors.ArgumentError, match="alpha must not be 0"):
        nn.CELU(alpha=0.0)
    assert nn.GLU().dim == -1 and nn.ELU().alpha == 1.0 and (nn.Hardtanh().min_val, nn.Hardtanh().max_val) == (-1, 1)


@requires_torch
@pytest.mark.parametrize(
    "name",
    ["ReLU", "LeakyReLU", "ELU", "SELU", "CELU", "SiLU", "Mish", "Hardtanh", "Hardswish", "Hardsigmoid", "ReLU6"],
)
def test_inplace_modules_change_their_input_like_torch(name):
    m, tm = getattr(nn, name)(inplace=True), getattr(torch.nn, name)(inplace=True)
    assert repr(m) == repr(tm)
    a = _away_from_kinks((4, 6)).astype(np.float64)
    x, tx = cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = x * 2.0, tx * 2.0
    out, tout = m(y), tm(ty)
    assert out is y and tout is ty
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert y._version == ty._version == 1
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    # (PyTorch's hardsigmoid gradient multiplies by 1/6 rounded to float32, even in float64)
    rtol = 1e-7 if name == "Hardsigmoid" else 1e-10
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=1e-14)
    with pytest.raises(cr.errors.GraphError, match="leaf"):  # as PyTorch refuses a leaf that requires grad
        m(x)


def test_activation_modules_work_inside_a_network():
    net = nn.Sequential(nn.Linear(4, 4), nn.SiLU(), nn.Linear(4, 2))
    if not hasattr(F, "silu"):
        with pytest.raises(cr.errors.UnsupportedError, match="has no function 'silu'"):
            net(cr.ones((3, 4)))
        return
    net(cr.ones((3, 4))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
