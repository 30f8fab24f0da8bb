"""Loss functions as fused graph nodes.

Each loss is one node whose backward is the simplified closed form, e.g. the
tutorials' Softmax-with-Loss layer: d(loss)/d(logits) = (softmax(logits) - target) / N.
``reduction`` is 'mean' (average over the batch), 'sum', or 'none' (one value per sample).
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError, DTypeError, IndexOutOfRangeError, ShapeError, UnsupportedError
from ..function import Function
from ..namespace import numpy_ns
from ..tensor import Tensor
from ..tensor import wrap as _wrap
from .operands import as_t
from .reduce import log_softmax_array

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


def _scale(xp, g, reduction, n):
    """d(reduced loss)/d(per-sample loss): g/n for mean (0 for nothing to average), g for sum and none."""
    if reduction == "mean":  # (nothing to average: 0 whatever g is, so no NaN reaches second derivatives)
        return g * xp.const(1 / n, g) if n else xp.const(np.zeros(g.shape), g)
    return g


class MSELossOp(Function):
    """Mean squared error (named apart from nn.MSELoss)."""

    formula = "L = mean((x - t)^2)"
    derivative = "dL/dx = 2 (x - t) / N; dL/dt = -2 (x - t) / N"

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, x, t):
        if x.shape != t.shape:
            raise ShapeError(
                f"mse_loss: input shape {x.shape} and target shape {t.shape} differ; they must match "
                "(reshape the target, e.g. y.reshape(-1, 1))"
            )
        self.save_for_backward(x, t)
        d = x - t
        d *= d
        if self.reduction == "mean" and d.size:
            return np.asarray(d.sum() / d.size, d.dtype)
        return _reduce(d, self.reduction)  # (the mean of nothing: nan, as in PyTorch)

    def vjp(self, xp, g):
        x, t = self.saved(xp)
        n = xp.data(x).size if self.reduction == "mean" else 1
        d = (x - t) * (g * (2 / n if n else 0.0))
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


def _log_softmax_rows(x2):
    """(log softmax, softmax) of each row of ``x2``, in one pass over it: the usual case, finite rows, as
    max, exp, sum, log; rows with an infinity (or no classes) take log_softmax's careful path."""
    if x2.shape[1]:
        m = x2.max(axis=1, keepdims=True)
        if np.isfinite(m).all():
            z = x2 - m
            e = np.exp(z)
            s = e.sum(axis=1, keepdims=True)
            z -= np.log(s)
            e /= s
            return z, e
    logp = log_softmax_array(x2, 1)
    return logp, np.exp(logp)


def _rows(xp, x, c):
    """(M, C): the class axis moved last and the rest flattened, as the loss works on it."""
    if x.ndim > 2:
        x = xp.moveaxis(x, 1, -1)
    return xp.reshape(x, (-1, c))


def _restore(xp, d, shape):
    """Undo :func:`_rows`."""
    if len(shape) <= 2:
        return xp.reshape(d, shape)
    moved = shape[:1] + shape[2:] + (shape[1],)
    return xp.moveaxis(xp.reshape(d, moved), -1, 1)


class CrossEntropyOp(Function):
    """Softmax followed by negative log-likelihood, in one node (named apart from nn.CrossEntropyLoss).

    Inputs: logits of shape (N, C) (or (C,), or (N, C, d1, ...)) and either
    integer class indices of shape (N,) or class probabilities of shape (N, C).
    """

    formula = "L = -sum_c t_c ln softmax(x)_c  (averaged over the batch)"
    derivative = "dL/dx = (softmax(x) - t) / N"

    def __init__(self, reduction, ignore_index=-100, label_smoothing=0.0, weight=None):
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.weight = weight  # class weights: a (C,) array in the input's dtype, or None

    def forward(self, x, t):
        if x.ndim == 0:
            raise ShapeError("cross_entropy: input must have a class dimension, got a 0-d tensor")
        c = x.shape[1] if x.ndim > 1 else x.shape[0]
        _check_weight("cross_entropy", self.weight, c)
        self.probs = t.dtype.kind in "fc" and t.shape == x.shape
        if not self.probs:
            self._check_indices(x, t, c)
        self.save_for_backward(x, t)
        logp, self.p = _log_softmax_rows(_rows(numpy_ns, x, c))
        if self.probs:
            loss = self._prob_loss(numpy_ns, t, logp, c)
        else:
            loss = self._index_loss(logp, c)
        out_shape = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
        if self.reduction == "none":
            return loss.reshape(out_shape).astype(x.dtype, copy=False)
        return _reduce(loss, self.reduction, self.count).astype(x.dtype, copy=False)

    def _check_indices(self, x, t, c):
        want = (x.shape[0],) + x.shape[2:] if x.ndim > 1 else ()
        if t.shape != want:
            raise ShapeError(
                f"cross_entropy: input of shape {x.shape} needs integer class-index targets of shape "
                f"{want} or class-probability targets of shape {x.shape}, got {t.shape}"
            )
        _check_class_targets("cross_entropy", t)
        t1 = t.reshape(-1)
        mask = t1 != self.ignore_index
        safe = np.where(mask, t1, 0) if not mask.all() else t1
        bad = (safe < 0) | (safe >= c)
        if bad.any():
            raise IndexOutOfRangeError(
                f"cross_entropy: target class {safe[bad][0]} is out of range for {c} classes (0..{c - 1})"
            )
        self.mask = None if mask.all() else mask
        self.count = int(mask.sum())
        self.targets = safe  # the class of each row (0 for ignored rows)

    def _prob_loss(self, xp, t, logp, c):
        tr = self._prob_rows(xp, t, c)
        self.mask = None
        self.count = logp.shape[0]
        return -(tr * logp).sum(axis=1)

    def _prob_rows(self, xp, t, c):
        """The probability targets as (M, C) rows, smoothed, and weighted by the class weights."""
        tr = _rows(xp, t, c)
        eps = self.label_smoothing
        tr = tr * xp.const(1 - eps, tr) + xp.const(eps / c, tr) if eps else tr
        return tr if self.weight is None else tr * xp.const(self.weight, tr)

    def _index_loss(self, logp, c):
        rows = np.arange(logp.shape[0])
        safe = self.targets
        loss = -logp[rows, safe]  # indexed, not a product with one-hot rows: -inf logits elsewhere stay harmless
        eps = self.label_smoothing
        w = self.weight
        if w is not None:  # PyTorch's weighted mean: divided by the weights of the targets, not their number
            wt = w[safe] if self.mask is None else w[safe] * self.mask
            self.count = wt.sum()
            loss = loss * wt
        if eps:
            loss = (1 - eps) * loss - (eps / c) * (logp.sum(axis=1) if w is None else (logp * w).sum(axis=1))
        if self.mask is not None:  # ignored rows give 0, even where their logits are NaN (as in PyTorch)
            loss = np.where(self.mask, loss, np.zeros((), loss.dtype))
        return loss

    def _onehot(self, like):
        """The targets as (smoothed) one-hot rows, the probabilities the vjp subtracts."""
        eps = self.label_smoothing
        rows = np.zeros(like.shape, like.dtype)
        rows[np.arange(like.shape[0]), self.targets] = 1 - eps
        if eps:
            rows += eps / like.shape[1]
        return rows

    def _weighted_rows(self, like):
        """With class weights: the rows q whose loss is -sum_c q_c log p_c, (1 - eps) w_t at the target
        class plus eps/C w_c everywhere (0 for ignored rows)."""
        w = self.weight.astype(like.dtype, copy=False)
        eps = self.label_smoothing
        rows = np.zeros(like.shape, like.dtype)
        rows[np.arange(like.shape[0]), self.targets] = (1 - eps) * w[self.targets]
        if eps:
            rows += (eps / like.shape[1]) * w
        if self.mask is not None:
            rows *= self.mask[:, None]
        return rows

    def vjp(self, xp, g):
        x, t = self.saved(xp)
        c = self.p.shape[1]
        scale = xp.reshape(g, (-1, 1)) if self.reduction == "none" else _scale(xp, g, self.reduction, self.count)
        if self.mask is not None:  # (what arrives for an ignored sample, even infinite, is unused: no 0 * inf in
            scale = xp.where(self.mask[:, None], scale, xp.const(0, scale))  # second derivatives)
        # softmax (kept from the forward pass, recomputed when differentiated again) minus the targets;
        # d/dx of -sum_k t_k log softmax(x)_k = p * sum_k t_k - t: probability targets need not sum to 1
        p = self.p if xp is numpy_ns else xp.softmax(_rows(xp, x, c), -1)
        if self.probs:
            tr = self._prob_rows(xp, t, c)
            d = (p * xp.sum(tr, axis=1, keepdims=True) - tr) * scale
        elif self.weight is not None:  # d/dx of -sum_c q_c log softmax(x)_c = p sum_c q_c - q
            q = self._weighted_rows(self.p)
            d = (p * q.sum(axis=1, keepdims=True) - q) * scale
        else:
            d = (p - self._onehot(self.p)) * scale
        if self.mask is not None:  # ignored rows: 0 whatever g is (NaN only where their softmax is), as in PyTorch
            d = xp.where(self.mask[:, None], d, p * xp.const(0, p))
        gx = _restore(xp, d, x.shape)
        gt = None
        if self.needs_input_grad[1]:  # probability targets: d/dt of -sum t log p = -log p
            logp = xp.log_softmax(_rows(xp, x, c), -1)  # from the logits: log(p) is -inf where p underflowed
            factor = 1 - self.label_smoothing if self.weight is None else (1 - self.label_smoothing) * self.weight
            gt = _restore(xp, -logp * scale * xp.const(factor, logp), x.shape)
        return gx, gt


class NLLLossOp(Function):
    """Negative log-likelihood of class indices given log-probabilities of shape (N, C), (C,) or
    (N, C, d1, ...), with optional class weights (named apart from nn.NLLLoss)."""

    formula = "L = -sum_n w[t_n] logp[n, t_n] / sum_n w[t_n]"
    derivative = "dL/dlogp[n, c] = -w[t_n] / sum_n w[t_n] if c == t_n else 0"

    def __init__(self, reduction, ignore_index=-100, weight=None):
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.weight = weight  # class weights: a (C,) array in the input's dtype, or None

    def forward(self, logp, t):
        if logp.ndim == 0:
            raise ShapeError("nll_loss: input must have a class dimension, got a 0-d tensor")
        _check_class_targets("nll_loss", t)
        c = logp.shape[1] if logp.ndim > 1 else logp.shape[0]
        want = logp.shape[:1] + logp.shape[2:] if logp.ndim > 1 else ()
        if t.shape != want:
            raise ShapeError(f"nll_loss: input of shape {logp.shape} needs targets of shape {want}, got {t.shape}")
        if self.weight is not None:
            _check_weight("nll_loss", self.weight, c)
        lp = logp.reshape(-1, c) if logp.ndim <= 2 else _rows(numpy_ns, logp, c)
        t1 = t.reshape(-1)
        mask = t1 != self.ignore_index
        if mask.all():
            mask = None
        safe = np.where(mask, t1, 0) if mask is not None else t1
        if (safe < 0).any() or (safe >= c).any():
            raise IndexOutOfRangeError(f"nll_loss: target class out of range for {c} classes (0..{c - 1})")
        rows = np.arange(t1.shape[0])
        loss = -lp[rows, safe]
        # d(loss_n)/d(logp): -w[t_n] at each sample's target class (-1 unweighted; 0 for ignored samples)
        unit = np.zeros(lp.shape, logp.dtype)
        if self.weight is None:
            unit[rows, safe] = -1
            if mask is not None:
                unit *= mask[:, None]
            self.count = int(mask.sum()) if mask is not None else t1.shape[0]
        else:  # PyTorch's weighted mean: divided by the weights of the targets, not their number
            wt = self.weight[safe] if mask is None else self.weight[safe] * mask
            loss = loss * wt
            unit[rows, safe] = -wt
            self.count = wt.sum()
        if mask is not None:  # ignored samples give 0, even where their input is NaN (as in PyTorch)
            loss = np.where(mask, loss, np.zeros((), loss.dtype))
        self.unit = unit.reshape(logp.shape) if logp.ndim <= 2 else _restore(numpy_ns, unit, logp.shape)
        self.hit = self.unit != 0  # where the gradient goes: elsewhere it is 0 whatever g is, as in PyTorch
        if self.reduction == "none":
            if logp.ndim == 1:  # PyTorch's unbatched loss is +0.0 where a batch of one has -0.0 (log's sign)
                loss = loss + 0.0
            return loss.reshape(want)
        return _reduce(loss, self.reduction, self.count)

    def vjp(self, xp, g):
        if self.reduction == "none":
            d = self.unit * (xp.expand_dims(g, 1) if self.unit.ndim > 1 else g)
        else:
            d = self.unit * _scale(xp, g, self.reduction, self.count)
        return xp.where(self.hit, d, xp.const(0, d)), None


_LOG_FLOOR = -100.0  # PyTorch clamps log(p) in binary_cross_entropy at -100


class BCELossOp(Function):
    """Binary cross-entropy of probabilities p in [0, 1] against targets t (named apart from nn.BCELoss)."""

    formula = "L = -mean(t ln p + (1 - t) ln(1 - p))"
    derivative = "dL/dp = (p - t) / (p (1 - p)) / N"

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, p, t):
        if p.shape != t.shape:
            raise ShapeError(f"binary_cross_entropy: input shape {p.shape} and target shape {t.shape} differ")
        if p.size and not ((p >= 0) & (p <= 1)).all():  # (NaN is refused too, as in PyTorch)
            raise ArgumentError(
                "binary_cross_entropy: inputs must be probabilities in [0, 1]; for raw scores use "
                "binary_cross_entropy_with_logits"
            )
        self.save_for_backward(p, t)
        with np.errstate(divide="ignore"):
            lp = np.maximum(np.log(p), _LOG_FLOOR)
            l1p = np.maximum(np.log1p(-p), _LOG_FLOOR)
        loss = -(t * lp + (1 - t) * l1p)
        return _reduce(loss, self.reduction).astype(p.dtype, copy=False)

    def vjp(self, xp, g):
        p, t = self.saved(xp)
        scale = _scale(xp, g, self.reduction, xp.data(p).size)
        np_, nt = self.needs_input_grad
        gp = gt = None
        if np_:
            gp = (p - t) / xp.maximum(p * (1 - p), xp.const(1e-12, p)) * scale
        if nt:
            with np.errstate(divide="ignore"):
                floor = xp.const(_LOG_FLOOR, p)
                gt = (xp.maximum(xp.log1p(-p), floor) - xp.maximum(xp.log(p), floor)) * scale
        return gp, gt


class BCEWithLogitsOp(Function):
    """Binary cross-entropy of raw scores x (sigmoid applied inside, stably)."""

    formula = "L = mean((1 - t) x + w ln(1 + exp(-x))),  w = 1 + (pos_weight - 1) t"
    derivative = "dL/dx = (sigmoid(x) - t) / N  (without pos_weight)"

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, x, t, pos_weight=None):
        if x.shape != t.shape:
            raise ShapeError(
                f"binary_cross_entropy_with_logits: input shape {x.shape} and target shape {t.shape} differ"
            )
        self.save_for_backward(x, t, pos_weight)
        sp = np.logaddexp(0, -x)  # ln(1 + exp(-x)) without overflow
        if pos_weight is None:
            loss = (1 - t) * x + sp
        else:
            w = 1 + (pos_weight - 1) * t
            loss = (1 - t) * x + w * sp
        return _reduce(loss.astype(x.dtype, copy=False), self.reduction)

    def vjp(self, xp, g):
        x, t, pw = self.saved(xp)
        scale = _scale(xp, g, self.reduction, xp.data(x).size)
        needs = self.needs_input_grad
        gx = gt = None
        if needs[0]:
            s = xp.sigmoid(x)
            gx = (s - t) * scale if pw is None else ((1 - t) - (1 + (pw - 1) * t) * (1 - s)) * scale
        if needs[1]:
            gt = -x * scale if pw is None else (-x + (pw - 1) * xp.softplus(-x)) * scale
        if len(needs) == 3:
            return gx, gt, None
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
    return MSELossOp(reduction)(x, _float_target(target, x))


def _check_weight(op, weight, c):
    if weight is not None and weight.shape != (c,):
        raise ShapeError(f"{op}: weight must hold one weight per class, shape ({c},), got shape {weight.shape}")


def _class_weight(op, weight, x: Tensor):
    """Class weights as a constant (C,) array in the input's dtype (PyTorch does not differentiate them)."""
    if weight is None:
        return None
    if isinstance(weight, str):
        raise ArgumentTypeError(
            f"{op}: the third argument is weight, class weights (as in PyTorch); give the reduction by name, "
            f"reduction={weight!r}"
        )
    if isinstance(weight, Tensor):
        if weight.requires_grad:
            raise UnsupportedError(
                f"{op}: gradients with respect to the class weights are not computed (as in PyTorch); pass "
                "weight.detach()"
            )
        weight = weight.data
    w = np.asarray(weight)
    dt = x.data.dtype if x.data.dtype.kind == "f" else np.dtype(np.float32)
    if w.ndim != 1:
        raise ShapeError(f"{op}: weight must be 1-d, one weight per class, got shape {w.shape}")
    return w.astype(dt)


def cross_entropy(
    input,
    target,
    weight=None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
):
    """Cross-entropy of logits against class indices or class probabilities.

    The softmax is inside (pass raw scores). One fused node whose backward is
    (softmax(input) - target) / N, the tutorials' Softmax-with-Loss layer. ``weight`` (C,) weighs each
    class; with class-index targets the mean is then divided by the summed weights of the targets
    (PyTorch's weighted mean), with probability targets by the number of samples.
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = as_t(input)
    if x.ndim >= 1 and x.shape[min(1, x.ndim - 1)] == 0:
        raise ShapeError(
            f"cross_entropy: the input {tuple(x.shape)} has 0 classes; it needs one score per class along "
            "dim 1 (shape (N, C) or (C,)) with C >= 1"
        )
    t = _target(target, x)
    w = _class_weight("cross_entropy", weight, x)
    return CrossEntropyOp(reduction, ignore_index, label_smoothing, w)(x, t)


def nll_loss(input, target, weight=None, *, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood: -input[n, target[n]] averaged; ``input`` holds log-probabilities, (N, C),
    (C,) or (N, C, d1, ...). ``weight`` (C,) weighs each class; the mean is then divided by the summed
    weights of the targets (PyTorch's weighted mean)."""
    _check_reduction("nll_loss", reduction)
    x = as_t(input)
    w = _class_weight("nll_loss", weight, x)
    return NLLLossOp(reduction, ignore_index, w)(x, _target(target, x))


def binary_cross_entropy(input, target, reduction: str = "mean"):
    """Binary cross-entropy of probabilities (log clamped at -100, as PyTorch does)."""
    _check_reduction("binary_cross_entropy", reduction)
    x = as_t(input)
    return BCELossOp(reduction)(x, _float_target(target, x))


def binary_cross_entropy_with_logits(input, target, reduction: str = "mean", pos_weight=None):
    """Binary cross-entropy of raw scores, computed stably (sigmoid inside)."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    x = as_t(input)
    t = _float_target(target, x)
    if pos_weight is None:
        return BCEWithLogitsOp(reduction)(x, t)
    return BCEWithLogitsOp(reduction)(x, t, _float_target(pos_weight, x))
