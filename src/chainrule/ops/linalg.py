"""Matrix products: matmul (1-D, 2-D, batched) and the fused linear (affine) node."""

from __future__ import annotations

import math

import numpy as np

from ..errors import DTypeError, ShapeError
from ..function import Function
from ..tensor import Tensor
from .operands import as_t


def _matmul_error(a_shape, b_shape):
    ka = a_shape[-1] if len(a_shape) else None
    kb = b_shape[-2] if len(b_shape) >= 2 else (b_shape[0] if len(b_shape) == 1 else None)
    if len(a_shape) == 0 or len(b_shape) == 0:
        return ShapeError(f"matmul: both operands need at least 1 dimension, got {a_shape} and {b_shape}")
    if ka != kb:
        return ShapeError(f"matmul: cannot multiply {a_shape} by {b_shape}: inner sizes {ka} and {kb} differ")
    return ShapeError(f"matmul: batch dimensions of {a_shape} and {b_shape} cannot be broadcast together")


class Matmul(Function):
    """y = a @ b with the rules for 1-D and batched operands that NumPy and PyTorch share."""

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

    def products(self, inputs, g):
        """For cr.explain: with 2-D operands, dL/da = g @ b^T and dL/db = a^T @ g."""
        a, b = inputs
        if a.ndim != 2 or b.ndim != 2:
            return {}
        return {0: ("{g} @ {1}^T", g, b.T), 1: ("{0}^T @ {g}", a.T, g)}

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
            rows, k, m = math.prod(a.shape[:-1]), a.shape[-1], g.shape[-1]  # (no -1: k or m may be 0)
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

    def products(self, inputs, g):
        """For cr.explain: dL/dx = g @ W, dL/dW = g^T @ x and dL/db = the rows of g summed (the batch's
        rows flattened to 2-D)."""
        x, w = inputs[0], inputs[1]
        g2 = np.reshape(g, (-1, g.shape[-1]))
        out = {1: ("{g}^T @ {0}", g2.T, np.reshape(x, (-1, x.shape[-1])))}
        if x.ndim == 2:
            out[0] = ("{g} @ {1}", g2, w)
        if len(inputs) == 3:
            out[2] = ("{g} summed over the batch", g2.T, None)
        return out

    def vjp(self, xp, g):
        x, w = self.saved(xp)
        needs = self.needs_input_grad
        gx = xp.matmul(g, w) if needs[0] else None
        rows = math.prod(g.shape[:-1])  # (no -1 in the shapes: a dimension may be 0)
        g2 = g if g.ndim == 2 else xp.reshape(g, (rows, g.shape[-1]))
        gw = None
        if needs[1]:
            x2 = x if x.ndim == 2 else xp.reshape(x, (rows, x.shape[-1]))
            gw = xp.matmul(g2.T, x2)
        if len(needs) == 2:
            return gx, gw
        if not needs[2]:
            return gx, gw, None
        # the bias's gradient, the rows of g summed: from 4096 elements on as ones @ g, a matrix-vector product at
        # BLAS speed (2.7 us against NumPy's 5.1 us down the rows for 200 x 100 in float32); below, the call of
        # the product costs more than it saves
        gb = xp.matmul(xp.const(np.ones(rows), g2), g2) if rows * g2.shape[1] >= 4096 else xp.sum(g2, axis=0)
        return gx, gw, gb


def _same_dtype(op: str, first: str, a, second: str, b) -> None:
    """PyTorch's rule for matrix products: no promotion, the operands' dtypes must be equal."""
    da, db = a.data.dtype, b.data.dtype
    if da is not db and da != db:
        raise DTypeError(
            f"{op}: {first} has dtype {da} and {second} has dtype {db}; they must have the same dtype, as in "
            f"PyTorch (nothing is promoted silently): convert {first} first, e.g. with .to({str(db)!r})"
        )


def matmul(a, b):
    """Matrix product with PyTorch's (and NumPy's) rules: 1-D operands are vectors, leading dimensions are
    batches. Both operands must have the same dtype (DTypeError otherwise, as in PyTorch)."""
    a, b = as_t(a), as_t(b)
    _same_dtype("matmul", "the first operand", a, "the second", b)
    return Matmul()(a, b)


def linear(x, weight, bias=None):
    """y = x @ weight.T + bias in one graph node; ``weight`` has shape (out_features, in_features). The
    input, weight and bias must have one dtype (DTypeError otherwise, as in PyTorch): a float64 batch
    meets a float32 layer as an error, never as a silent float64 computation."""
    x = x if isinstance(x, Tensor) else as_t(x)
    weight = as_t(weight)
    if bias is None:
        check_linear_dtypes(x, weight)
        return LinearOp()(x, weight)
    bias = as_t(bias)
    check_linear_dtypes(x, weight, bias)
    return LinearOp()(x, weight, bias)


def bilinear(x1, x2, weight, bias=None):
    """y[..., o] = sum_ij x1[..., i] * weight[o, i, j] * x2[..., j] + bias[o] (PyTorch's ``bilinear``).

    ``x1`` (..., in1) and ``x2`` (..., in2) share their leading shape; ``weight`` is (out, in1, in2).
    Built from matmul, reshape, a product and a sum, so its derivatives (of every order) are theirs.
    """
    from .reduce import sum as _sum
    from .shape import expand_dims, reshape, swapaxes

    x1, x2, w = as_t(x1), as_t(x2), as_t(weight)
    if w.ndim != 3 or x1.ndim == 0 or x2.ndim == 0:
        raise ShapeError(
            f"bilinear: expected inputs (..., in1), (..., in2) and a weight (out, in1, in2), got shapes "
            f"{x1.shape}, {x2.shape} and {w.shape}"
        )
    o, i, j = w.shape
    if x1.shape[-1] != i or x2.shape[-1] != j or x1.shape[:-1] != x2.shape[:-1]:
        raise ShapeError(
            f"bilinear: inputs of shapes {x1.shape} and {x2.shape} do not fit a weight of shape {w.shape}: they "
            f"need the same leading dimensions and last dimensions {i} and {j}"
        )
    lead = x1.shape[:-1]
    n = math.prod(lead)
    a = reshape(x1, (n, i))
    b = reshape(x2, (n, j))
    wm = reshape(swapaxes(w, 0, 1), (i, o * j))  # (in1, out * in2)
    u = reshape(matmul(a, wm), (n, o, j))  # u[n, o, j] = sum_i x1[n, i] w[o, i, j]
    y = _sum(u * expand_dims(b, 1), 2)
    if bias is not None:
        bias = as_t(bias)
        if bias.shape != (o,):
            raise ShapeError(f"bilinear: bias must have shape ({o},), got {bias.shape}")
        y = y + bias
    return reshape(y, lead + (o,))


def check_linear_dtypes(x, weight, bias=None) -> None:
    """Raise DTypeError unless the input, the weight and the bias (tensors) have one dtype."""
    _same_dtype("linear", "the input", x, "the weight", weight)
    if bias is not None:
        _same_dtype("linear", "the bias", bias, "the weight", weight)
