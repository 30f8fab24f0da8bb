"""Loss functions as fused graph nodes.

Each loss is one node whose backward is the simplified closed form, e.g. the
tutorials' Softmax-with-Loss layer: d(loss)/d(logits) = (softmax(logits) - target) / N.
``reduction`` is 'mean' (average over the batch), 'sum', or 'none' (one value per sample).
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, DTypeError, IndexOutOfRangeError, ShapeError, UnsupportedError
from ..function import Function
from ..tensor import Tensor
from ._base import as_t

_wrap = Tensor._wrap
_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ArgumentError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss, reduction, count=None):
    if reduction == "none":
        return loss
    s = loss.sum()
    if reduction == "sum":
        return np.asarray(s, loss.dtype)
    n = loss.size if count is None else count
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(s / n, loss.dtype)


def _grad_scale(g, reduction, n, dtype):
    """d(reduced loss)/d(per-sample loss): g/n for mean, g for sum, g itself for none."""
    if reduction == "mean":
        return np.asarray(g, dtype) / np.asarray(n, dtype) if n else np.asarray(0, dtype)
    return np.asarray(g, dtype)


class MSELoss(Function):
    __slots__ = ("reduction",)
    formula = "L = mean((x - t)^2)"
    derivative = "dL/dx = 2 (x - t) / N; dL/dt = -2 (x - t) / N"

    def __init__(self, reduction):
        self.inputs = None
        self.reduction = reduction

    def forward(self, x, t):
        if x.shape != t.shape:
            raise ShapeError(
                f"mse_loss: input shape {x.shape} and target shape {t.shape} differ; they must match "
                "(reshape the target, e.g. y.reshape(-1, 1))"
            )
        d = x - t
        d *= d
        if self.reduction == "mean":
            return np.asarray(d.sum() / d.size, d.dtype)
        return _reduce(d, self.reduction)

    def backward(self, g):
        x, t = self.inputs[0].data, self.inputs[1].data
        d = x - t
        if self.reduction == "none":
            d *= 2 * g
        else:  # g is a 0-d array: work with a Python float, which keeps d's dtype
            d *= 2.0 * float(g) / (d.size if self.reduction == "mean" else 1)
        nx, nt = self.needs_input_grad
        return (d if nx else None), (-d if nt else None)

    def backward_graph(self, g):
        x, t = self.inputs
        d = (x - t) * 2
        if self.reduction == "mean":
            d = d * (1.0 / x.size)
        d = d * g
        nx, nt = self.needs_input_grad
        return (d if nx else None), (-d if nt else None)


def _check_class_targets(op, target):
    """Class-index targets must be integers."""
    if target.dtype.kind not in "iu":
        raise DTypeError(
            f"{op}: class-index targets must be integers, got dtype {target.dtype}; pass e.g. "
            "np.asarray(labels) or cr.tensor(labels, dtype='int64') (for class probabilities, give a "
            "float target with the input's shape)"
        )


class CrossEntropy(Function):
    """Softmax followed by negative log-likelihood, in one node.

    Inputs: logits of shape (N, C) (or (C,), or (N, C, d1, ...)) and either
    integer class indices of shape (N,) or class probabilities of shape (N, C).
    """

    __slots__ = ("reduction", "ignore_index", "label_smoothing", "p", "mask", "count", "probs")
    formula = "L = -sum_c t_c ln softmax(x)_c  (averaged over the batch)"
    derivative = "dL/dx = (softmax(x) - t) / N"

    def __init__(self, reduction, ignore_index=-100, label_smoothing=0.0):
        self.inputs = None
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, x, t):
        if x.ndim == 0:
            raise ShapeError("cross_entropy: input must have a class dimension, got a 0-d tensor")
        c = x.shape[1] if x.ndim > 1 else x.shape[0]
        want = (x.shape[0],) + x.shape[2:] if x.ndim > 1 else ()
        probs = t.dtype.kind in "fc" and t.shape == x.shape
        self.probs = probs
        if not probs:
            if t.shape == want:
                _check_class_targets("cross_entropy", t)
            else:
                raise ShapeError(
                    f"cross_entropy: input of shape {x.shape} needs integer class-index targets of shape "
                    f"{want} or class-probability targets of shape {x.shape}, got {t.shape}"
                )
        # Move the class axis last and flatten: (M, C).
        x2 = np.moveaxis(x, 1, -1).reshape(-1, c) if x.ndim > 2 else x.reshape(-1, c)
        m = x2.max(axis=1, keepdims=True)
        z = x2 - m
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        logp = z - np.log(s)
        p = e / s
        self.p = p
        eps = self.label_smoothing
        if probs:
            t2 = np.moveaxis(t, 1, -1).reshape(-1, c) if t.ndim > 2 else t.reshape(-1, c)
            if eps:
                t2 = t2 * (1 - eps) + eps / c
            loss = -(t2 * logp).sum(axis=1)
            count = loss.shape[0]
            self.mask = None
        else:
            t1 = t.reshape(-1)
            mask = t1 != self.ignore_index
            if not mask.all():
                safe = np.where(mask, t1, 0)
            else:
                mask = None
                safe = t1
            if (safe < 0).any() or (safe >= c).any():
                bad = safe[(safe < 0) | (safe >= c)][0]
                raise IndexOutOfRangeError(
                    f"cross_entropy: target class {bad} is out of range for {c} classes (0..{c - 1})"
                )
            rows = np.arange(t1.shape[0])
            loss = -logp[rows, safe]
            if eps:
                loss = (1 - eps) * loss - (eps / c) * logp.sum(axis=1)
            if mask is not None:
                loss = loss * mask
            count = int(mask.sum()) if mask is not None else t1.shape[0]
            self.mask = mask
        self.count = count
        out_shape = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
        if self.reduction == "none":
            return loss.reshape(out_shape).astype(x.dtype, copy=False)
        return _reduce(loss, self.reduction, count).astype(x.dtype, copy=False)

    def _target_rows(self):
        t = self.inputs[1].data
        c = self.p.shape[1]
        eps = self.label_smoothing
        if self.probs:
            t2 = np.moveaxis(t, 1, -1).reshape(-1, c) if t.ndim > 2 else t.reshape(-1, c)
            return t2 * (1 - eps) + eps / c if eps else t2
        t1 = t.reshape(-1)
        safe = np.where(self.mask, t1, 0) if self.mask is not None else t1
        onehot = np.zeros_like(self.p)
        onehot[np.arange(t1.shape[0]), safe] = 1 - eps
        if eps:
            onehot += eps / c
        return onehot

    def backward(self, g):
        x = self.inputs[0].data
        p = self.p
        dt = x.dtype
        scale = self._scale(g, dt)
        d = p * scale
        if not self.probs and not self.label_smoothing:
            t1 = self.inputs[1].data.reshape(-1)
            rows = np.arange(t1.shape[0])
            safe = np.where(self.mask, t1, 0) if self.mask is not None else t1
            sc = scale[:, 0] if np.ndim(scale) else scale
            d[rows, safe] -= sc
        elif self.probs:
            # d/dx of -sum_k t_k log softmax(x)_k = p * sum_k t_k - t: targets need not sum to 1
            tr = self._target_rows()
            d *= tr.sum(axis=1, keepdims=True)
            d -= tr * scale
        else:
            d -= self._target_rows() * scale
        if self.mask is not None:
            d *= self.mask[:, None]
        gx = _restore(d, x.shape)
        gt = None
        if len(self.needs_input_grad) > 1 and self.needs_input_grad[1]:
            # d/dt of -sum t log p = -log p (probability targets only).  Recomputed
            # from the logits: log(p) would be -inf where p underflowed to 0.
            x2 = np.moveaxis(x, 1, -1).reshape(-1, p.shape[1]) if x.ndim > 2 else x.reshape(-1, p.shape[1])
            z = x2 - x2.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            gt = _restore(-logp * scale, x.shape)
            if self.label_smoothing:
                gt = gt * (1 - self.label_smoothing)
        return gx, gt

    def _scale(self, g, dt):
        if self.reduction == "none":
            return np.asarray(g, dt).reshape(-1, 1)
        if self.reduction == "mean":
            return np.asarray(g, dt) / np.asarray(self.count, dt) if self.count else np.asarray(0, dt)
        return np.asarray(g, dt)

    def backward_graph(self, g):
        from .reduce import softmax

        x, t = self.inputs
        c = self.p.shape[1]
        if x.ndim > 2:  # class axis last, the other axes kept in order (as in forward)
            x2 = x.transpose([0] + list(range(2, x.ndim)) + [1])
        else:
            x2 = x
        p = softmax(x2.reshape(-1, c), -1)
        tr = self._target_rows()
        if self.reduction == "none":
            scale = g.reshape(-1, 1)
        elif self.reduction == "mean":
            scale = g / self.count if self.count else g * 0
        else:
            scale = g
        d = ((p * tr.sum(axis=1, keepdims=True) if self.probs else p) - tr) * scale
        if self.mask is not None:
            d = d * self.mask[:, None]
        if x.ndim > 2:
            moved = x.shape[:1] + x.shape[2:] + (c,)
            perm = list(range(x.ndim))
            perm = [0, x.ndim - 1] + perm[1:-1]
            gx = d.reshape(moved).transpose(perm)
        else:
            gx = d.reshape(x.shape)
        if self.probs and len(self.needs_input_grad) > 1 and self.needs_input_grad[1]:
            raise UnsupportedError("cross_entropy: create_graph with differentiable probability targets")
        return gx, None


def _restore(d, shape):
    """Undo the (M, C) flattening of CrossEntropy.forward."""
    if len(shape) <= 2:
        return d.reshape(shape)
    c = shape[1]
    moved = shape[:1] + shape[2:] + (c,)
    return np.moveaxis(d.reshape(moved), -1, 1)


class NLLLoss(Function):
    """Negative log-likelihood of class indices given log-probabilities of shape (N, C)."""

    __slots__ = ("reduction", "ignore_index", "mask", "count")
    formula = "L = -mean_n logp[n, t_n]"
    derivative = "dL/dlogp[n, c] = -1/N if c == t_n else 0"

    def __init__(self, reduction, ignore_index=-100):
        self.inputs = None
        self.reduction = reduction
        self.ignore_index = ignore_index

    def forward(self, logp, t):
        if logp.ndim not in (1, 2):
            raise ShapeError(f"nll_loss: input must be (N, C) or (C,), got {logp.shape}")
        _check_class_targets("nll_loss", t)
        lp = logp.reshape(-1, logp.shape[-1])
        t1 = t.reshape(-1)
        if t1.shape[0] != lp.shape[0]:
            raise ShapeError(
                f"nll_loss: input of shape {logp.shape} needs targets of shape {logp.shape[:-1]}, got {t.shape}"
            )
        mask = t1 != self.ignore_index
        if mask.all():
            mask = None
        safe = np.where(mask, t1, 0) if mask is not None else t1
        c = lp.shape[1]
        if (safe < 0).any() or (safe >= c).any():
            raise IndexOutOfRangeError(f"nll_loss: target class out of range for {c} classes (0..{c - 1})")
        loss = -lp[np.arange(t1.shape[0]), safe]
        if mask is not None:
            loss = loss * mask
        self.mask = mask
        self.count = int(mask.sum()) if mask is not None else t1.shape[0]
        if self.reduction == "none":
            return loss.reshape(logp.shape[:-1])
        return _reduce(loss, self.reduction, self.count)

    def _dense(self, scale, dtype):
        logp = self.inputs[0].data
        t1 = self.inputs[1].data.reshape(-1)
        safe = np.where(self.mask, t1, 0) if self.mask is not None else t1
        d = np.zeros((t1.shape[0], logp.shape[-1]), dtype)
        sc = np.broadcast_to(np.asarray(scale, dtype).reshape(-1), (t1.shape[0],))
        d[np.arange(t1.shape[0]), safe] = -sc
        if self.mask is not None:
            d *= self.mask[:, None]
        return d.reshape(logp.shape)

    def backward(self, g):
        dt = self.inputs[0].data.dtype
        if self.reduction == "mean":
            scale = np.asarray(g, dt) / self.count if self.count else np.asarray(0, dt)
        else:
            scale = np.asarray(g, dt)
        return self._dense(scale, dt), None

    def backward_graph(self, g):
        dt = self.inputs[0].data.dtype
        unit = _wrap(self._dense(np.ones((), dt) if self.reduction != "none" else np.ones(g.shape, dt), dt))
        if self.reduction == "none":
            return unit * g.reshape(g.shape + (1,)), None
        scale = g / self.count if self.reduction == "mean" and self.count else g
        return unit * scale, None


_LOG_FLOOR = -100.0  # PyTorch clamps log(p) in binary_cross_entropy at -100


class BCELoss(Function):
    """Binary cross-entropy of probabilities p in [0, 1] against targets t."""

    __slots__ = ("reduction",)
    formula = "L = -mean(t ln p + (1 - t) ln(1 - p))"
    derivative = "dL/dp = (p - t) / (p (1 - p)) / N"

    def __init__(self, reduction):
        self.inputs = None
        self.reduction = reduction

    def forward(self, p, t):
        if p.shape != t.shape:
            raise ShapeError(f"binary_cross_entropy: input shape {p.shape} and target shape {t.shape} differ")
        if p.size and ((p < 0).any() or (p > 1).any()):
            raise ArgumentError(
                "binary_cross_entropy: inputs must be probabilities in [0, 1]; for raw scores use "
                "binary_cross_entropy_with_logits"
            )
        with np.errstate(divide="ignore"):
            lp = np.maximum(np.log(p), _LOG_FLOOR)
            l1p = np.maximum(np.log1p(-p), _LOG_FLOOR)
        loss = -(t * lp + (1 - t) * l1p)
        return _reduce(loss, self.reduction).astype(p.dtype, copy=False)

    def backward(self, g):
        p, t = self.inputs[0].data, self.inputs[1].data
        scale = _grad_scale(g, self.reduction, p.size, p.dtype)
        np_, nt = self.needs_input_grad
        gp = gt = None
        if np_:
            gp = (p - t) / np.maximum(p * (1 - p), np.asarray(1e-12, p.dtype)) * scale
        if nt:
            with np.errstate(divide="ignore"):
                gt = (np.maximum(np.log1p(-p), _LOG_FLOOR) - np.maximum(np.log(p), _LOG_FLOOR)) * scale
        return gp, gt

    def backward_graph(self, g):
        from .elementwise import log, maximum

        p, t = self.inputs
        scale = g * (1.0 / p.size) if self.reduction == "mean" else g
        needs = self.needs_input_grad
        gp = gt = None
        if needs[0]:
            gp = (p - t) / maximum(p * (1 - p), 1e-12) * scale
        if needs[1]:
            with np.errstate(divide="ignore"):
                gt = (maximum(log(1 - p), _LOG_FLOOR) - maximum(log(p), _LOG_FLOOR)) * scale
        return gp, gt


class BCEWithLogits(Function):
    """Binary cross-entropy of raw scores x (sigmoid applied inside, stably)."""

    __slots__ = ("reduction",)
    formula = "L = mean((1 - t) x + w ln(1 + exp(-x))),  w = 1 + (pos_weight - 1) t"
    derivative = "dL/dx = (sigmoid(x) - t) / N  (without pos_weight)"

    def __init__(self, reduction):
        self.inputs = None
        self.reduction = reduction

    def forward(self, x, t, pos_weight=None):
        if x.shape != t.shape:
            raise ShapeError(
                f"binary_cross_entropy_with_logits: input shape {x.shape} and target shape {t.shape} differ"
            )
        sp = np.logaddexp(0, -x)  # ln(1 + exp(-x)) without overflow
        if pos_weight is None:
            loss = (1 - t) * x + sp
        else:
            w = 1 + (pos_weight - 1) * t
            loss = (1 - t) * x + w * sp
        return _reduce(loss.astype(x.dtype, copy=False), self.reduction)

    def backward(self, g):
        from .elementwise import _sigmoid

        x, t = self.inputs[0].data, self.inputs[1].data
        pw = self.inputs[2].data if len(self.inputs) > 2 else None
        scale = _grad_scale(g, self.reduction, x.size, x.dtype)
        needs = self.needs_input_grad
        s = _sigmoid(x)
        gx = gt = None
        if needs[0]:
            if pw is None:
                gx = (s - t) * scale
            else:
                w = 1 + (pw - 1) * t
                gx = ((1 - t) - w * (1 - s)) * scale
        if needs[1]:
            if pw is None:
                gt = -x * scale
            else:
                gt = (-x + (pw - 1) * np.logaddexp(0, -x)) * scale
        if pw is not None:
            return gx, gt, None
        return gx, gt

    def backward_graph(self, g):
        from .elementwise import sigmoid

        if len(self.inputs) > 2:
            raise UnsupportedError("binary_cross_entropy_with_logits: create_graph with pos_weight")
        x, t = self.inputs
        scale = g * (1.0 / x.size) if self.reduction == "mean" else g
        needs = self.needs_input_grad
        gx = (sigmoid(x) - t) * scale if needs[0] else None
        gt = -x * scale if needs[1] else None
        return gx, gt


# --------------------------------------------------------------------------- functions
def _target(t, like: Tensor):
    if isinstance(t, Tensor):
        return t
    arr = np.asarray(t)
    if arr.dtype.kind in "fc" or arr.dtype.kind == "b":
        arr = arr.astype(like.data.dtype)
    return _wrap(arr)


def _float_target(t, like: Tensor):
    t = _target(t, like)
    if t.data.dtype != like.data.dtype:
        t = _wrap(t.data.astype(like.data.dtype)) if not t._requires_grad else t.astype(like.data.dtype)
    return t


def mse_loss(input, target, reduction: str = "mean"):
    """Mean squared error: mean((input - target)^2)."""
    _check_reduction("mse_loss", reduction)
    x = as_t(input)
    return MSELoss(reduction)(x, _float_target(target, x))


def cross_entropy(input, target, reduction: str = "mean", ignore_index: int = -100, label_smoothing: float = 0.0):
    """Cross-entropy of logits against class indices or class probabilities.

    The softmax is inside (pass raw scores). One fused node whose backward is
    (softmax(input) - target) / N, the tutorials' Softmax-with-Loss layer.
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = as_t(input)
    t = _target(target, x)
    return CrossEntropy(reduction, ignore_index, label_smoothing)(x, t)


def nll_loss(input, target, reduction: str = "mean", ignore_index: int = -100):
    """Negative log-likelihood: -input[n, target[n]] averaged; ``input`` holds log-probabilities."""
    _check_reduction("nll_loss", reduction)
    x = as_t(input)
    return NLLLoss(reduction, ignore_index)(x, _target(target, x))


def binary_cross_entropy(input, target, reduction: str = "mean"):
    """Binary cross-entropy of probabilities (log clamped at -100, as PyTorch does)."""
    _check_reduction("binary_cross_entropy", reduction)
    x = as_t(input)
    return BCELoss(reduction)(x, _float_target(target, x))


def binary_cross_entropy_with_logits(input, target, reduction: str = "mean", pos_weight=None):
    """Binary cross-entropy of raw scores, computed stably (sigmoid inside)."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    x = as_t(input)
    t = _float_target(target, x)
    if pos_weight is None:
        return BCEWithLogits(reduction)(x, t)
    return BCEWithLogits(reduction)(x, t, _float_target(pos_weight, x))
