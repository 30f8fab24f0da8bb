"""Numerical gradients and gradient checking.

``gradcheck`` compares the gradients backward computes with central
differences, (f(x + eps) - f(x - eps)) / (2 eps), taken in float64. For a
function with a non-scalar output it checks the gradient of
sum(v * f(x)) for a fixed random v, which tests the whole backward pass
(a wrong Jacobian is caught unless the error happens to be orthogonal to v).
"""

from __future__ import annotations

import numpy as np

from .autograd import grad as _grad
from .errors import ArgumentError, ArgumentTypeError, GradcheckError
from .modes import no_grad
from .tensor import Tensor, from_numpy

__all__ = ["gradcheck", "numerical_grad", "check_backward"]


def _prepare(inputs, every_float: bool = False):
    """Float64 copies of the inputs; returns (args, indices of the inputs to check).

    With ``every_float`` every floating-point input (Tensor or ndarray) is checked, whatever its
    ``requires_grad``.
    """
    args, check = [], []
    any_req = not every_float and any(isinstance(a, Tensor) and a.requires_grad for a in inputs)
    for k, a in enumerate(inputs):
        # With some Tensor requiring grad, exactly those are checked and plain arrays are constants;
        # otherwise every floating-point input is.
        if isinstance(a, Tensor) or (isinstance(a, np.ndarray) and a.dtype.kind == "f" and not any_req):
            data = a.data if isinstance(a, Tensor) else a
            req = a.requires_grad if any_req else data.dtype.kind == "f"
            if data.dtype.kind == "f":
                data = data.astype(np.float64)
            # a C-ordered copy: the numerical differences change its elements through a flat view
            t = from_numpy(np.array(data, copy=True, order="C")).requires_grad_(bool(req))
            if isinstance(a, Tensor):
                t.name = a.name
            args.append(t)
            if req:
                check.append(k)
        else:
            args.append(a)
    return args, check


class _Projection:
    """s(x) = sum_k sum(v_k * f(x)_k) with fixed random v_k, drawn on first use."""

    def __init__(self, fn, seed):
        self.fn = fn
        self.rng = np.random.default_rng(seed)
        self.vs = None

    def __call__(self, *args):
        out = self.fn(*args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        outs = [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]
        if not outs:
            raise ArgumentTypeError("gradcheck: the function must return a floating-point Tensor (or a tuple of them)")
        if self.vs is None:
            self.vs = [self.rng.standard_normal(o.shape) for o in outs]
        total = None
        for o, v in zip(outs, self.vs):
            term = (o * v).sum()
            total = term if total is None else total + term
        return total


def numerical_grad(fn, *inputs, eps: float = 1e-6):
    """Central-difference gradient of a scalar function ``fn`` at ``inputs`` (float64 arrays).

    Returns one array per floating-point input (Tensor or ndarray, whether or not it requires
    grad), in order; other inputs are passed through as constants.
    """
    args, check = _prepare(inputs, every_float=True)
    return [_numeric(fn, args, args[k].data, eps) for k in check]


def _numeric(fn, args, x, eps):
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gflat = g.reshape(-1)
    with no_grad():
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            fp = float(np.asarray(fn(*args).data).sum())
            flat[j] = old - eps
            fm = float(np.asarray(fn(*args).data).sum())
            flat[j] = old
            gflat[j] = (fp - fm) / (2 * eps)
    return g


def gradcheck(
    fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0, raise_exception: bool = True
) -> bool:
    """Check ``fn``'s backward against numerical derivatives; return True or raise GradcheckError.

    ``inputs`` are tensors (those with ``requires_grad`` are checked; if none
    has it, every floating-point input is), float arrays, or other arguments
    passed through unchanged. Everything is done in float64.
    """
    args, check = _prepare(inputs)
    if not check:
        raise ArgumentError("gradcheck: no floating-point tensor input to check")
    proj = _Projection(fn, seed)
    s = proj(*args)
    targets = [args[k] for k in check]
    if not s.requires_grad:
        analytical = [np.zeros_like(t.data) for t in targets]
    else:
        gs = _grad(s, targets, allow_unused=True)
        analytical = [
            np.zeros_like(t.data) if g is None else np.asarray(g.data, np.float64) for t, g in zip(targets, gs)
        ]
    for k, t, ana in zip(check, targets, analytical):
        num = _numeric(proj, args, t.data, eps)
        diff = np.abs(ana - num)
        tol = atol + rtol * np.abs(num)
        bad = ~(diff <= tol)
        if bad.any():
            if not raise_exception:
                return False
            j = int(np.argmax(np.where(bad, diff - tol, -np.inf)))
            where = np.unravel_index(j, t.shape) if t.ndim else ()
            label = f"input {k}" + (f" ({t.name!r})" if t.name else "")
            raise GradcheckError(
                f"gradcheck: the gradient of {label}, shape {t.shape}, is wrong at {int(bad.sum())} of "
                f"{t.numel()} elements. Largest mismatch at index {tuple(int(i) for i in where)}: "
                f"numerical {num.reshape(-1)[j]:.8g}, analytical {ana.reshape(-1)[j]:.8g} "
                f"(|difference| {diff.reshape(-1)[j]:.3g} > atol + rtol*|numerical| = {tol.reshape(-1)[j]:.3g})"
            )
    return True


def check_backward(function_cls, *inputs, **kwargs) -> bool:
    """gradcheck one user-written Function class: ``check_backward(MyMul, a, b)``.

    Raises GradcheckError naming the Function when its backward disagrees with
    numerical derivatives.
    """
    try:
        return gradcheck(lambda *xs: function_cls()(*xs), *inputs, **kwargs)
    except GradcheckError as e:
        raise GradcheckError(f"{function_cls.__name__}.backward: {e}") from None
