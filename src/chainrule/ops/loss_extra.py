"""More losses, each one graph node: l1_loss, smooth_l1_loss, huber_loss, kl_div, cosine_similarity,
cosine_embedding_loss and margin_ranking_loss, with PyTorch's formulas, kinks and reductions.

``reduction`` is 'mean' (over every element), 'sum' or 'none'; kl_div also takes 'batchmean' (the sum
divided by the batch size, the mathematical KL divergence). Each ``vjp`` is written once against the array
namespace ``xp``, so second derivatives come from the same lines.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..function import Function
from ..namespace import numpy_ns
from ..tensor import Tensor
from ..tensor import wrap as _wrap
from .operands import as_float_t, as_t, broadcast_shapes, norm_axis, pair

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        names = ", ".join(repr(r) for r in allowed)
        raise ArgumentError(f"{op}: reduction must be one of {names}, got {reduction!r}")


def _reduced(loss: np.ndarray, reduction: str, batch: int = 1) -> np.ndarray:
    if reduction == "none":
        return loss
    s = np.asarray(loss.sum(), loss.dtype)
    if reduction == "sum":
        return s
    n = loss.size if reduction == "mean" else batch
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(s / n, loss.dtype)


def _scaled(xp, g, reduction: str, size: int, batch: int = 1):
    """d(reduced loss)/d(each element's loss), broadcastable against the elements."""
    if reduction in ("none", "sum"):
        return g
    n = size if reduction == "mean" else batch
    return g * (1 / n if n else float("nan"))


class _Loss(Function):
    """A loss of the elements of one input against a target of the same shape."""

    op_name = ""

    def __init__(self, reduction: str):
        self.reduction = reduction

    def _same_shapes(self, x, t):
        if x.shape != t.shape:
            raise ShapeError(
                f"{self.op_name}: input shape {x.shape} and target shape {t.shape} differ; they must match "
                "(reshape the target, e.g. y.reshape(-1, 1))"
            )

    def _both(self, gx):
        """The gradients of input and target from the input's (the loss depends on x - t)."""
        nx, nt = self.needs_input_grad
        return (gx if nx else None), (-gx if nt else None)


class L1LossOp(_Loss):
    """Mean absolute error (named apart from nn.L1Loss)."""

    op_name = "l1_loss"
    formula = "L = mean(|x - t|)"
    derivative = "dL/dx = sign(x - t) / N; dL/dt = -sign(x - t) / N"

    def forward(self, x, t):
        self._same_shapes(x, t)
        self.save_for_backward(x, t)
        return _reduced(np.abs(x - t), self.reduction)

    def vjp(self, xp, g):
        x, t = self.saved(xp)
        d = xp.data(x) - xp.data(t)
        s = _scaled(xp, g, self.reduction, d.size)
        return self._both(s * np.sign(d))


class SmoothL1LossOp(_Loss):
    """Squared below ``beta``, absolute above (named apart from nn.SmoothL1Loss)."""

    op_name = "smooth_l1_loss"
    formula = "L = mean(0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta),  d = x - t"
    derivative = "dL/dx = (d / beta if |d| < beta else sign(d)) / N"

    def __init__(self, reduction: str, beta: float):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, x, t):
        self._same_shapes(x, t)
        self.save_for_backward(x, t)
        d = x - t
        a = np.abs(d)
        b = self.beta
        if b == 0:
            return _reduced(a, self.reduction)
        return _reduced(np.where(a < b, 0.5 * d * d / x.dtype.type(b), a - x.dtype.type(0.5 * b)), self.reduction)

    def vjp(self, xp, g):
        x, t = self.saved(xp)
        d = xp.data(x) - xp.data(t)
        s = _scaled(xp, g, self.reduction, d.size)
        inner = np.abs(d) < self.beta
        if not inner.any():
            return self._both(s * np.sign(d))
        return self._both(s * xp.where(inner, (x - t) * (1 / self.beta), xp.const(np.sign(d), g)))


class HuberLossOp(_Loss):
    """Squared below ``delta``, delta-scaled absolute above (named apart from nn.HuberLoss)."""

    op_name = "huber_loss"
    formula = "L = mean(0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta)),  d = x - t"
    derivative = "dL/dx = (d if |d| < delta else delta sign(d)) / N"

    def __init__(self, reduction: str, delta: float):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, x, t):
        self._same_shapes(x, t)
        self.save_for_backward(x, t)
        d = x - t
        a = np.abs(d)
        dl = x.dtype.type(self.delta)
        return _reduced(np.where(a < dl, 0.5 * d * d, dl * (a - 0.5 * dl)), self.reduction)

    def vjp(self, xp, g):
        x, t = self.saved(xp)
        d = xp.data(x) - xp.data(t)
        s = _scaled(xp, g, self.reduction, d.size)
        inner = np.abs(d) < self.delta
        return self._both(s * xp.where(inner, x - t, xp.const(self.delta * np.sign(d), g)))


class KLDivOp(_Loss):
    """KL divergence of a target distribution from log-probabilities ``x`` (named apart from nn.KLDivLoss):
    pointwise t (ln t - x), or exp(t) (t - x) with ``log_target``."""

    op_name = "kl_div"
    formula = "L = sum(t (ln t - x)) / N"
    derivative = "dL/dx = -t / N; dL/dt = (ln t + 1 - x) / N"

    def __init__(self, reduction: str, log_target: bool):
        super().__init__(reduction)
        self.log_target = log_target
        if log_target:
            self.formula = "L = sum(exp(t) (t - x)) / N"
            self.derivative = "dL/dx = -exp(t) / N; dL/dt = exp(t) (t - x + 1) / N"

    def forward(self, x, t):
        self._same_shapes(x, t)
        self.save_for_backward(x, t)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.log_target:
                loss = np.exp(t) * (t - x)
            else:  # xlogy(t, t) - t x: 0 ln 0 is 0
                loss = np.where(t == 0, 0, t * np.log(np.where(t == 0, 1, t))) - t * x
        return _reduced(loss.astype(x.dtype, copy=False), self.reduction, x.shape[0] if x.ndim else 1)

    def vjp(self, xp, g):
        x, t = self.saved(xp)
        s = _scaled(xp, g, self.reduction, xp.data(x).size, xp.data(x).shape[0] if xp.data(x).ndim else 1)
        nx, nt = self.needs_input_grad
        gx = gt = None
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.log_target:
                e = xp.exp(t)
                gx = -(e * s) if nx else None
                gt = e * (t - x + 1) * s if nt else None
            else:
                gx = -(t * s) if nx else None
                if nt:  # ln t + 1 - x; at t = 0 PyTorch's xlogy gives 0/0: NaN
                    T = xp.data(t)
                    pos = T != 0
                    log_t = xp.log(xp.where(pos, t, xp.const(1, g)))
                    gt = xp.where(pos, log_t + 1 - x, xp.const(np.nan, g)) * s
        return gx, gt


def _sum_keep(xp, a, dim):
    return xp.sum(a, axis=dim, keepdims=True)


class CosineSimilarityOp(Function):
    """sum(a b) / (max(|a|, eps) max(|b|, eps)) along ``dim`` (named apart from nn.CosineSimilarity).

    As in PyTorch, ``eps`` clamps the norms' values but not their derivatives: the gradient is that of
    a / |a| even where |a| < eps (and 0 for a zero vector)."""

    formula = "y = sum(a b) / (max(|a|, eps) max(|b|, eps))"
    derivative = "dy/da = b / (|a|_eps |b|_eps) - y a / (|a|_eps |a|)"

    def __init__(self, dim: int, eps: float):
        self.dim = dim
        self.eps = eps

    def forward(self, a, b):
        self.save_for_backward(a, b)
        na = np.sqrt((a * a).sum(axis=self.dim))
        nb = np.sqrt((b * b).sum(axis=self.dim))
        e = a.dtype.type(self.eps)
        return (a * b).sum(axis=self.dim) / (np.maximum(na, e) * np.maximum(nb, e))

    def _norms(self, xp, v):
        """(|v| kept from going through 0, |v| with its value clamped at eps): the first is 1 where v = 0, so
        v / it is 0 there and differentiates without a 0/0."""
        sq = _sum_keep(xp, v * v, self.dim)
        live = xp.data(sq) > 0
        n = xp.sqrt(xp.where(live, sq, xp.const(1, sq)))
        nd = xp.data(n)
        clamped = np.maximum(np.where(live, nd, 0), self.eps).astype(nd.dtype)
        return n, n + xp.const(clamped - nd, n)  # value max(|v|, eps), derivative that of |v|

    def vjp(self, xp, g):
        a, b = self.saved(xp)
        na, ca = self._norms(xp, a)
        nb, cb = self._norms(xp, b)
        g = xp.expand_dims(g, self.dim)
        cc = ca * cb
        y = _sum_keep(xp, a * b, self.dim) / cc
        need_a, need_b = self.needs_input_grad
        ga = g * (b / cc - y * a / (ca * na)) if need_a else None
        gb = g * (a / cc - y * b / (cb * nb)) if need_b else None
        return ga, gb


_EMBEDDING_EPS = 1e-12  # PyTorch adds it to each squared norm in cosine_embedding_loss


class CosineEmbeddingLossOp(Function):
    """1 - cos(a, b) for target 1, max(0, cos(a, b) - margin) for target -1 (named apart from
    nn.CosineEmbeddingLoss); the target (a constant) is a node setting."""

    formula = "L = mean(1 - cos if t = 1; max(0, cos - margin) if t = -1),  cos = sum(a b) / |a| |b|"
    derivative = "dcos/da = b / (|a| |b|) - cos a / |a|^2 (the norms squared plus 1e-12)"

    def __init__(self, target: np.ndarray, margin: float, reduction: str):
        self.target = target
        self.margin = margin
        self.reduction = reduction

    def _parts(self, xp, a, b):
        """(cos, |a|^2, |b|^2, |a| |b|) along the last dimension, kept as size 1."""
        dim = xp.data(a).ndim - 1
        ma = xp.sum(a * a, axis=dim, keepdims=True) + _EMBEDDING_EPS
        mb = xp.sum(b * b, axis=dim, keepdims=True) + _EMBEDDING_EPS
        d = xp.sqrt(ma * mb)
        return xp.sum(a * b, axis=dim, keepdims=True) / d, ma, mb, d

    def forward(self, a, b):
        self.save_for_backward(a, b)
        cos = self._parts(numpy_ns, a, b)[0][..., 0]
        t = self.target
        self.hinge = (t == -1) & (cos - self.margin >= 0)  # where the margin term passes its gradient
        loss = np.where(t == 1, 1 - cos, 0) + np.where(self.hinge, cos - self.margin, 0)
        return _reduced(loss.astype(a.dtype, copy=False), self.reduction)

    def vjp(self, xp, g):
        a, b = self.saved(xp)
        cos, ma, mb, d = self._parts(xp, a, b)
        coef = self.hinge.astype(xp.data(cos).dtype) - (self.target == 1)  # dL/dcos per sample
        s = xp.expand_dims(_scaled(xp, g, self.reduction, coef.size) * xp.const(coef, cos), -1)
        need_a, need_b = self.needs_input_grad
        ga = s * (b / d - cos * a / ma) if need_a else None
        gb = s * (a / d - cos * b / mb) if need_b else None
        return ga, gb


class MarginRankingLossOp(Function):
    """max(0, -t (a - b) + margin), broadcasting (named apart from nn.MarginRankingLoss)."""

    formula = "L = mean(max(0, -t (a - b) + margin))"
    derivative = "dL/da = -t, dL/db = t, dL/dt = -(a - b) where -t (a - b) + margin >= 0, else 0 (/ N)"

    def __init__(self, margin: float, reduction: str):
        self.margin = margin
        self.reduction = reduction

    def forward(self, a, b, t):
        self.save_for_backward(a, b, t)
        z = -t * (a - b) + a.dtype.type(self.margin)
        self.active = z >= 0  # PyTorch's clamp_min passes the gradient at 0
        return _reduced(np.maximum(z, 0), self.reduction)

    def vjp(self, xp, g):
        a, b, t = self.saved(xp)
        s = _scaled(xp, g, self.reduction, self.active.size) * self.active
        na, nb, nt = self.needs_input_grad
        return (-(s * t) if na else None), (s * t if nb else None), (-(s * (a - b)) if nt else None)


# --------------------------------------------------------------------------- functions
def _operands(input, target):  # noqa: A002 - PyTorch's argument names
    """A float input and a target of its dtype (numbers and arrays become constants)."""
    x = as_float_t(input)
    t = target if isinstance(target, Tensor) else as_t(target, x.data.dtype)
    if t.data.dtype != x.data.dtype:
        t = t.astype(x.data.dtype) if t.requires_grad else _wrap(t.data.astype(x.data.dtype))
    return x, t


def l1_loss(input, target, reduction: str = "mean"):  # noqa: A002
    """Mean absolute error: mean(|input - target|)."""
    _check_reduction("l1_loss", reduction)
    return L1LossOp(reduction)(*_operands(input, target))


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0):  # noqa: A002
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta = 0 is l1_loss."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ArgumentError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return SmoothL1LossOp(reduction, float(beta))(*_operands(input, target))


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0):  # noqa: A002
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target)."""
    _check_reduction("huber_loss", reduction)
    if not delta > 0:
        raise ArgumentError(f"huber_loss: delta must be > 0, got {delta}")
    return HuberLossOp(reduction, float(delta))(*_operands(input, target))


def kl_div(input, target, reduction: str = "mean", log_target: bool = False):  # noqa: A002
    """KL divergence sum(target * (ln target - input)), ``input`` holding log-probabilities (and ``target``
    too with ``log_target=True``). reduction='batchmean' divides the sum by the batch size: the
    mathematical KL divergence per sample; 'mean' (the default, as in PyTorch) divides by the number of
    elements and warns that this is not it."""
    _check_reduction("kl_div", reduction, _REDUCTIONS + ("batchmean",))
    if reduction == "mean":
        warnings.warn(
            "kl_div: reduction='mean' divides the total loss by both the batch size and the support size; "
            "'batchmean' divides by the batch size only, which is the KL divergence. 'mean' stays the "
            "default, as in PyTorch",
            UserWarning,
            stacklevel=2,
        )
    return KLDivOp(reduction, bool(log_target))(*_operands(input, target))


def cosine_similarity(x1, x2, dim: int | None = None, eps: float = 1e-8, *, axis=None):
    """sum(x1 * x2) / (max(|x1|, eps) * max(|x2|, eps)) along ``dim`` (by default 1, as in PyTorch), the
    inputs broadcast together."""
    from .cumulative import pick_dim
    from .shape import broadcast_to

    a, b = pair(x1, x2)
    a, b = as_float_t(a), as_float_t(b)
    shape = broadcast_shapes("cosine_similarity", a.data.shape, b.data.shape)
    a = a if a.data.shape == shape else broadcast_to(a, shape)
    b = b if b.data.shape == shape else broadcast_to(b, shape)
    d = norm_axis(pick_dim(dim, axis, "cosine_similarity", 1), max(len(shape), 1), "cosine_similarity")[0]
    return CosineSimilarityOp(d, float(eps))(a, b)


def _target_array(target, op: str) -> np.ndarray:
    if isinstance(target, Tensor):
        if target.requires_grad:
            raise ArgumentError(f"{op}: the target (labels 1 or -1) cannot require grad")
        return np.array(target.data)
    return np.array(target)


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, reduction: str = "mean"):
    """1 - cos(input1, input2) where target is 1, max(0, cos - margin) where it is -1 (cos along the last
    dimension; inputs (N, D) with target (N,), or (D,) with a 0-d target)."""
    _check_reduction("cosine_embedding_loss", reduction)
    a, b = pair(input1, input2)
    a, b = as_float_t(a), as_float_t(b)
    t = _target_array(target, "cosine_embedding_loss")
    if t.ndim not in (0, 1):
        raise ShapeError(f"cosine_embedding_loss: the target must be 0-d or 1-d, got shape {t.shape}")
    want = t.ndim + 1
    if a.data.ndim != want or b.data.ndim != want:
        raise ShapeError(
            f"cosine_embedding_loss: a {t.ndim}-d target needs {want}-d inputs, got shapes {a.data.shape} "
            f"and {b.data.shape}"
        )
    if a.data.shape != b.data.shape or a.data.shape[:-1] != t.shape:
        raise ShapeError(
            f"cosine_embedding_loss: inputs of shapes {a.data.shape} and {b.data.shape} do not fit a target "
            f"of shape {t.shape} (inputs (N, D) with target (N,))"
        )
    return CosineEmbeddingLossOp(t, float(margin), reduction)(a, b)


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, reduction: str = "mean"):
    """max(0, -target * (input1 - input2) + margin): target 1 asks input1 to rank higher, -1 input2."""
    _check_reduction("margin_ranking_loss", reduction)
    a, b = pair(input1, input2)
    a, b = as_float_t(a), as_float_t(b)
    a, t = pair(a, target)
    t = as_float_t(t)
    if not (a.data.ndim == b.data.ndim == t.data.ndim):
        raise ShapeError(
            "margin_ranking_loss: all inputs must have the same number of dimensions, got shapes "
            f"{a.data.shape}, {b.data.shape} and {t.data.shape}"
        )
    broadcast_shapes("margin_ranking_loss", a.data.shape, b.data.shape, t.data.shape)
    return MarginRankingLossOp(float(margin), reduction)(a, b, t)
