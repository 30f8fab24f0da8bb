"""Shared helpers: compare a chainrule op with PyTorch's, values and gradients."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

import chainrule as cr  # noqa: E402

try:  # PyTorch is the reference; .ci/run installs it, so there these tests run, never skip.
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - only on a machine without the test extra
    torch = None

requires_torch = pytest.mark.skipif(
    torch is None and not os.environ.get("CHAINRULE_REQUIRE_TORCH"),
    reason="PyTorch not installed (pip install 'chainrule[test]')",
)


@pytest.fixture(autouse=True, scope="session")
def _torch_must_exist_in_ci():
    if torch is None and os.environ.get("CHAINRULE_REQUIRE_TORCH"):
        pytest.fail("CHAINRULE_REQUIRE_TORCH is set but PyTorch is not installed")


def _is_float_array(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _outs(y):
    return list(y) if isinstance(y, (tuple, list)) else [y]


def compare_with_torch(cr_fn, torch_fn, *arrays, rtol=1e-7, atol=1e-9, grad=True, check_numeric=True, seed=0):
    """Run ``cr_fn`` and ``torch_fn`` on the same float64 inputs; assert values and gradients agree.

    Float ndarrays become differentiable tensors; anything else is passed as is
    (integer arrays become integer tensors on both sides). The gradient compared
    is that of sum(v * y) for a random v, so every element of the Jacobian
    product is exercised. Also runs cr.gradcheck (numerical derivatives).
    """
    cr_in, t_in = [], []
    for a in arrays:
        if _is_float_array(a):
            cr_in.append(cr.tensor(a, requires_grad=grad))
            t_in.append(torch.tensor(a, requires_grad=grad))
        elif isinstance(a, np.ndarray):
            cr_in.append(cr.tensor(a))
            t_in.append(torch.tensor(a))
        else:
            cr_in.append(a)
            t_in.append(a)
    ys = _outs(cr_fn(*cr_in))
    tys = _outs(torch_fn(*t_in))
    assert len(ys) == len(tys)
    for y, ty in zip(ys, tys):
        ty = ty.detach().numpy()
        assert y.shape == ty.shape, f"shape {y.shape} != torch {ty.shape}"
        np.testing.assert_allclose(y.numpy(), ty, rtol=rtol, atol=atol, err_msg="forward differs from torch")
    if not grad:
        return ys
    rng = np.random.default_rng(seed)
    vs = [rng.standard_normal(y.shape) for y in ys]
    s = sum((y * v).sum() for y, v in zip(ys, vs))
    ts = sum((ty * torch.tensor(v)).sum() for ty, v in zip(tys, vs))
    s.backward()
    ts.backward()
    for k, (c, t) in enumerate(zip(cr_in, t_in)):
        if isinstance(c, cr.Tensor) and c.requires_grad:
            tg = t.grad
            if tg is None:
                assert c.grad is None or np.allclose(c.grad.numpy(), 0)
                continue
            assert c.grad is not None, f"input {k}: no gradient"
            assert c.grad.shape == c.shape
            assert c.grad.dtype == c.dtype
            np.testing.assert_allclose(
                c.grad.numpy(), tg.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of input {k} differs from torch"
            )
    if check_numeric:
        assert cr.gradcheck(
            cr_fn,
            *[
                cr.tensor(a, requires_grad=True)
                if _is_float_array(a)
                else (cr.tensor(a) if isinstance(a, np.ndarray) else a)
                for a in arrays
            ],
        )
    return ys


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
