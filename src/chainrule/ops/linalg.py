"""Matrix products: matmul (1-D, 2-D, batched) and the fused linear (affine) node."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..function import Function
from .operands import as_t, pair


def _matmul_error(a_shape, b_shape):
    ka = a_shape[-1] if len(a_shape) else None
    kb = b_shape[-2] if len(b_shape) >= 2 else (b_shape[0] if len(b_shape) == 1 else None)
    if len(a_shape) == 0 or len(b_shape) == 0:
        return ShapeError(f"matmul: both operands need at least 1 dimension, got {a_shape} and {b_shape}")
    if ka != kb:
        return ShapeError(f"matmul: cannot multiply {a_shape} by {b_shape}: inner sizes {ka} and {kb} differ")
    return ShapeError(f"matmul: batch dimensions of {a_shape} and {b_shape} cannot be broadcast together")


class Matmul(Function):
    """y = a @ b with NumPy's rules for 1-D and batched operands."""

    formula = "y = a @ b"
    derivative = "dy/da = g @ b^T; dy/db = a^T @ g"

    def forward(self, a, b):
        na, nb = self.needs_input_grad
        self.save_for_backward(a if nb else None, b if na else None)  # each factor for the other's gradient
        self.ndims = (a.ndim, b.ndim)
        try:
            return np.matmul(a, b)
        except ValueError:
            raise _matmul_error(a.shape, b.shape) from None

    def vjp(self, xp, g):
        a, b = self.saved(xp)
        na, nb = self.needs_input_grad
        da, db = self.ndims
        if da == 1 and db == 1:
            return (g * b if na else None), (g * a if nb else None)
        if da == 1:  # (k,) @ (..., k, m) -> (..., m)
            ga = xp.matmul(b, xp.expand_dims(g, -1))[..., 0] if na else None
            gb = xp.expand_dims(a, -1) * xp.expand_dims(g, -2) if nb else None
            return ga, gb
        if db == 1:  # (..., n, k) @ (k,) -> (..., n)
            ga = xp.expand_dims(g, -1) * b if na else None
            gb = xp.matmul(xp.swapaxes(a, -1, -2), xp.expand_dims(g, -1))[..., 0] if nb else None
            return ga, gb
        ga = xp.matmul(g, xp.swapaxes(b, -1, -2)) if na else None
        if not nb:
            return ga, None
        if db == 2 and da > 2:  # a shared matrix: one product over all batch rows instead of a sum of many
            rows, k, m = int(np.prod(a.shape[:-1])), a.shape[-1], g.shape[-1]  # (no -1: k or m may be 0)
            return ga, xp.matmul(xp.reshape(a, (rows, k)).T, xp.reshape(g, (rows, m)))
        return ga, xp.matmul(xp.swapaxes(a, -1, -2), g)


class LinearOp(Function):
    """The fused affine node: y = x @ W^T + b, with W of shape (out, in) as in PyTorch (named apart from
    the layer nn.Linear; the tutorials call it the Affine layer)."""

    formula = "y = x @ W^T + b"
    derivative = "dy/dx = W; dy/dW = x (summed over the batch); dy/db = 1 (summed over the batch)"
    broadcasts = (2,)  # the bias is added to every row

    def forward(self, x, w, b=None):
        needs = self.needs_input_grad
        self.save_for_backward(x if needs[1] else None, w if needs[0] else None)  # dx = g @ W, dW = g^T @ x
        try:
            y = x @ w.T
        except (ValueError, AttributeError):
            raise ShapeError(
                f"linear: input of shape {np.shape(x)} does not fit weight of shape {np.shape(w)}: the input's "
                f"last dimension must equal the weight's in_features (its second dimension)"
            ) from None
        if w.ndim != 2:
            raise ShapeError(f"linear: the weight must be 2-D (out_features, in_features), got shape {w.shape}")
        if b is not None:
            try:
                if b.dtype == y.dtype:
                    y += b
                else:
                    y = y + b
            except ValueError:
                raise ShapeError(
                    f"linear: bias of shape {b.shape} does not fit the output's {y.shape[-1]} features; "
                    f"it must have shape ({y.shape[-1]},)"
                ) from None
        return y

    def vjp(self, xp, g):
        x, w = self.saved(xp)
        needs = self.needs_input_grad
        gx = xp.matmul(g, w) if needs[0] else None
        rows = int(np.prod(g.shape[:-1]))  # (no -1 in the shapes: a dimension may be 0)
        g2 = g if g.ndim == 2 else xp.reshape(g, (rows, g.shape[-1]))
        gw = None
        if needs[1]:
            x2 = x if x.ndim == 2 else xp.reshape(x, (rows, x.shape[-1]))
            gw = xp.matmul(g2.T, x2)
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (xp.sum(g2, axis=0) if needs[2] else None)


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading axes are batches."""
    a, b = pair(a, b)
    return Matmul()(a, b)


def linear(x, weight, bias=None):
    """y = x @ weight.T + bias in one graph node; ``weight`` has shape (out_features, in_features)."""
    x = as_t(x)
    weight = as_t(weight)
    if bias is None:
        return LinearOp()(x, weight)
    return LinearOp()(x, weight, as_t(bias))
