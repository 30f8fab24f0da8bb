"""Matrix products: matmul (1-D, 2-D, batched) and the fused Linear node."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..function import Function
from ..tensor import Tensor
from ._base import as_t, pair, reads_for_the_other

_wrap = Tensor._wrap


def _matmul_error(a_shape, b_shape):
    ka = a_shape[-1] if len(a_shape) else None
    kb = b_shape[-2] if len(b_shape) >= 2 else (b_shape[0] if len(b_shape) == 1 else None)
    if len(a_shape) == 0 or len(b_shape) == 0:
        return ShapeError(f"matmul: both operands need at least 1 dimension, got {a_shape} and {b_shape}")
    if ka != kb:
        return ShapeError(f"matmul: cannot multiply {a_shape} by {b_shape}: inner sizes {ka} and {kb} differ")
    return ShapeError(f"matmul: batch dimensions of {a_shape} and {b_shape} cannot be broadcast together")


def _swap(x):
    return x.swapaxes(-1, -2) if x.ndim > 2 else x.T


class Matmul(Function):
    """y = a @ b with NumPy's rules for 1-D and batched operands."""

    __slots__ = ()

    reads_inputs = property(reads_for_the_other)  # da = g @ b^T, db = a^T @ g

    formula = "y = a @ b"
    derivative = "dy/da = g @ b^T; dy/db = a^T @ g"

    def forward(self, a, b):
        try:
            return np.matmul(a, b)
        except ValueError:
            raise _matmul_error(a.shape, b.shape) from None

    def backward(self, g):
        a = self.inputs[0].data
        b = self.inputs[1].data
        na, nb = self.needs_input_grad
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            ga = g * b if na else None
            gb = g * a if nb else None
        elif a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m)
            if na:
                ga = np.matmul(b, g[..., None])[..., 0]
            if nb:
                gb = a[:, None] * g[..., None, :]
        elif b.ndim == 1:  # (..., n, k) @ (k,) -> (..., n)
            if na:
                ga = g[..., :, None] * b
            if nb:
                gb = np.tensordot(g, a, axes=(tuple(range(g.ndim)), tuple(range(g.ndim))))
        else:
            if na:
                if a.ndim > 2 and b.ndim == 2:
                    ga = g @ b.T
                else:
                    ga = np.matmul(g, _swap(b))
            if nb:
                if b.ndim == 2 and a.ndim > 2:
                    k = a.shape[-1]
                    gb = a.reshape(-1, k).T @ g.reshape(-1, g.shape[-1])
                else:
                    gb = np.matmul(_swap(a), g)
        return ga, gb

    def backward_graph(self, g):
        a, b = self.inputs
        na, nb = self.needs_input_grad
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            ga = g * b if na else None
            gb = g * a if nb else None
        elif a.ndim == 1:
            if na:
                ga = matmul(b, g.expand_dims(-1)).squeeze(-1)
            if nb:
                gb = a.expand_dims(-1) * g.expand_dims(-2)
        elif b.ndim == 1:
            if na:
                ga = g.expand_dims(-1) * b
            if nb:
                gb = matmul(_swap_t(a), g.expand_dims(-1)).squeeze(-1)
        else:
            ga = matmul(g, _swap_t(b)) if na else None
            gb = matmul(_swap_t(a), g) if nb else None
        return ga, gb


def _swap_t(x):
    from .shape import swapaxes

    return swapaxes(x, -1, -2)


class Linear(Function):
    """The fused affine node: y = x @ W^T + b, with W of shape (out, in) as in PyTorch."""

    __slots__ = ()
    formula = "y = x @ W^T + b"
    derivative = "dy/dx = W; dy/dW = x (summed over the batch); dy/db = 1 (summed over the batch)"
    broadcast_inputs = (2,)  # the bias is added to every row

    reads_inputs = property(reads_for_the_other)  # dx = g @ W, dW = g^T @ x; never the bias

    def forward(self, x, w, b=None):
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

    def backward(self, g):
        inputs = self.inputs
        needs = self.needs_input_grad
        w = inputs[1].data
        gx = gw = gb = None
        if needs[0]:
            gx = g @ w
        if needs[1] or (len(needs) > 2 and needs[2]):
            g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
            if needs[1]:
                x = inputs[0].data
                x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
                gw = g2.T @ x2
            if len(needs) > 2 and needs[2]:
                gb = g2.sum(axis=0)
        if len(inputs) == 2:
            return gx, gw
        return gx, gw, gb

    def backward_graph(self, g):
        inputs = self.inputs
        needs = self.needs_input_grad
        x, w = inputs[0], inputs[1]
        gx = matmul(g, w) if needs[0] else None
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        gw = matmul(g2.T, x2) if needs[1] else None
        if len(inputs) == 2:
            return gx, gw
        gb = g2.sum(axis=0) if needs[2] else None
        return gx, gw, gb


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading axes are batches."""
    a, b = pair(a, b)
    return Matmul()(a, b)


def linear(x, weight, bias=None):
    """y = x @ weight.T + bias in one graph node; ``weight`` has shape (out_features, in_features)."""
    x = as_t(x)
    weight = as_t(weight)
    if bias is None:
        return Linear()(x, weight)
    return Linear()(x, weight, as_t(bias))
