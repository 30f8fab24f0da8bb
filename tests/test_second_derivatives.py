"""Each operation's derivative is written once: the same vjp gives first derivatives on arrays and, under
create_graph, records the graph that second derivatives walk. For every operation, in float64: the
first derivatives and a Hessian-vector product agree with PyTorch's, and the first-derivative function
itself passes a numerical gradient check (so the second derivatives are right independently of PyTorch)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

from conftest import requires_torch, torch

rng = np.random.default_rng(7)


def _pos(*shape):
    return rng.uniform(0.5, 2.0, shape)


def _any(*shape):
    return rng.normal(size=shape)


def _away_from_zero(*shape):
    return rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def _inside(*shape_and_bound):
    *shape, bound = shape_and_bound
    return rng.uniform(-bound, bound, shape)


def _off_integers(n):
    """Away from the jumps of floor, ceil, trunc and round."""
    return rng.integers(-3, 3, n) + rng.uniform(0.1, 0.4, n) + rng.choice([0.0, 0.5], n)


POS_WEIGHT = _pos(6)
GATHER_INDEX = np.array([[0, 3], [1, 1], [2, 0]])
SCATTER_INDEX = np.array([[0, 2, 1, 0], [2, 0, 0, 1]])  # distinct along dim 0
REPEATED_INDEX = np.array([[0, 2, 1, 0], [2, 0, 0, 1], [0, 0, 2, 2], [1, 1, 1, 1], [0, 2, 0, 2]])
MASK = rng.uniform(size=(3, 4)) > 0.5
CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])


def _tf():
    return torch.nn.functional


def _channel_mask(shape, p, seed):
    """The mask dropout1d/2d draws from np.random.default_rng(seed), scaled by 1 / (1 - p)."""
    return (np.random.default_rng(seed).random(shape) >= p) / (1 - p)


#: name -> (inputs, chainrule function, PyTorch function); every input is differentiated
CASES = {
    "exp": ([_any(3, 4)], lambda x: cr.exp(x), lambda x: torch.exp(x)),
    "log": ([_pos(3, 4)], lambda x: cr.log(x), lambda x: torch.log(x)),
    "log1p": ([_pos(3, 4)], lambda x: cr.log1p(x), lambda x: torch.log1p(x)),
    "sqrt": ([_pos(3, 4)], lambda x: cr.sqrt(x), lambda x: torch.sqrt(x)),
    "sin": ([_any(5)], lambda x: cr.sin(x), lambda x: torch.sin(x)),
    "cos": ([_any(5)], lambda x: cr.cos(x), lambda x: torch.cos(x)),
    "tanh": ([_any(3, 4)], lambda x: cr.tanh(x), lambda x: torch.tanh(x)),
    "sigmoid": ([_any(3, 4)], lambda x: cr.sigmoid(x), lambda x: torch.sigmoid(x)),
    "softplus": ([_any(3, 4)], lambda x: cr.softplus(x), lambda x: _tf().softplus(x)),
    "relu": ([_away_from_zero(3, 4)], lambda x: cr.relu(x) * x, lambda x: torch.relu(x) * x),
    "leaky_relu": ([_away_from_zero(6)], lambda x: cr.leaky_relu(x, 0.1) * x, lambda x: _tf().leaky_relu(x, 0.1) * x),
    "abs": ([_away_from_zero(6)], lambda x: abs(x) * x, lambda x: torch.abs(x) * x),
    "neg": ([_any(4)], lambda x: -x * x, lambda x: -x * x),
    "pow_int": ([_any(4)], lambda x: x**3, lambda x: x**3),
    "pow_frac": ([_pos(4)], lambda x: x**1.5, lambda x: x**1.5),
    "pow_tensor": ([_pos(3), _any(3)], lambda a, b: a**b, lambda a, b: a**b),
    "clip": ([_away_from_zero(8)], lambda x: cr.clip(x, -0.8, 0.8) * x, lambda x: torch.clamp(x, -0.8, 0.8) * x),
    "clip_tensor_bounds": (
        [_any(6), _any(6) - 1.0, _any(6) + 1.0],
        lambda x, lo, hi: cr.clip(x * x, lo * lo, hi * hi + 2.0) * x,
        lambda x, lo, hi: torch.clamp(x * x, lo * lo, hi * hi + 2.0) * x,
    ),
    "add": ([_any(3, 4), _any(4)], lambda a, b: (a + b) ** 2, lambda a, b: (a + b) ** 2),
    "sub": ([_any(3, 4), _any(3, 1)], lambda a, b: (a - b) ** 2, lambda a, b: (a - b) ** 2),
    "mul": ([_any(3, 4), _any(4)], lambda a, b: a * b * a, lambda a, b: a * b * a),
    "div": ([_any(3, 4), _pos(3, 4)], lambda a, b: a / b, lambda a, b: a / b),
    "maximum": ([_any(6), _any(6)], lambda a, b: cr.maximum(a, b) * a, lambda a, b: torch.maximum(a, b) * a),
    "minimum": ([_any(6), _any(6)], lambda a, b: cr.minimum(a, b) * b, lambda a, b: torch.minimum(a, b) * b),
    "where": (
        [_any(6), _any(6)],
        lambda a, b: cr.where(np.arange(6) % 2 == 0, a * a, b * a),
        lambda a, b: torch.where(torch.arange(6) % 2 == 0, a * a, b * a),
    ),
    "sum": ([_any(3, 4)], lambda x: cr.sum(x * x, axis=1) ** 2, lambda x: torch.sum(x * x, 1) ** 2),
    "sum dim": ([_any(3, 4)], lambda x: cr.sum(x * x, dim=0) ** 2, lambda x: torch.sum(x * x, dim=0) ** 2),
    "mean": ([_any(3, 4)], lambda x: cr.mean(x * x, axis=0) ** 2, lambda x: torch.mean(x * x, 0) ** 2),
    "var": ([_any(3, 4)], lambda x: cr.var(x, 1), lambda x: torch.var(x, 1)),
    "var correction 0": ([_any(3, 4)], lambda x: x.var(0, correction=0), lambda x: x.var(0, correction=0)),
    "std": ([_any(3, 4)], lambda x: cr.std(x, 1), lambda x: torch.std(x, 1)),
    "std unbiased false": ([_any(3, 4)], lambda x: x.std(unbiased=False), lambda x: x.std(unbiased=False)),
    "amax": ([_any(3, 4)], lambda x: cr.amax(x * x, 1) * 2, lambda x: torch.amax(x * x, 1) * 2),
    "amin": ([_any(3, 4)], lambda x: cr.amin(x * x, 0) * 2, lambda x: torch.amin(x * x, 0) * 2),
    "max": ([_any(3, 4)], lambda x: cr.max(x * x) * x, lambda x: torch.max(x * x) * x),
    "max dim": ([_any(3, 4)], lambda x: cr.max(x * x, 1).values * 2, lambda x: torch.max(x * x, 1).values * 2),
    "min dim": (
        [_any(3, 4)],
        lambda x: x.min(dim=0, keepdim=True)[0] * x,
        lambda x: x.min(dim=0, keepdim=True)[0] * x,
    ),
    "logsumexp": ([_any(3, 4)], lambda x: cr.logsumexp(x, axis=1), lambda x: torch.logsumexp(x, 1)),
    "norm": ([_any(3, 4)], lambda x: cr.norm(x, dim=1), lambda x: torch.norm(x, dim=1)),
    "norm p=3": ([_any(3, 4)], lambda x: x.norm(p=3), lambda x: x.norm(p=3)),
    "softmax": ([_any(3, 4)], lambda x: cr.softmax(x, -1), lambda x: torch.softmax(x, -1)),
    "log_softmax": ([_any(3, 4)], lambda x: cr.log_softmax(x, 0), lambda x: torch.log_softmax(x, 0)),
    "matmul_2d": ([_any(3, 4), _any(4, 2)], lambda a, b: (a @ b) ** 2, lambda a, b: (a @ b) ** 2),
    "matmul_batched": ([_any(2, 3, 4), _any(4, 2)], lambda a, b: (a @ b) ** 2, lambda a, b: (a @ b) ** 2),
    "matmul_vector": ([_any(4), _any(3, 4, 2)], lambda a, b: (a @ b) ** 2, lambda a, b: (a @ b) ** 2),
    "matmul_dot": ([_any(4), _any(4)], lambda a, b: (a @ b) ** 2, lambda a, b: (a @ b) ** 2),
    "linear": (
        [_any(5, 3), _any(2, 3), _any(2)],
        lambda x, w, b: F.linear(x, w, b) ** 2,
        lambda x, w, b: _tf().linear(x, w, b) ** 2,
    ),
    "reshape_transpose": (
        [_any(3, 4)],
        lambda x: (x.reshape(2, 6).transpose(0, 1) * 2) ** 2,
        lambda x: (x.reshape(2, 6).transpose(0, 1) * 2) ** 2,
    ),
    "permute_mT": (
        [_any(2, 3, 4)],
        lambda x: (x.permute(2, 0, 1).mT * x.T) ** 2,
        lambda x: (x.permute(2, 0, 1).mT * x.permute(2, 1, 0)) ** 2,
    ),
    "broadcast_to": ([_any(1, 4)], lambda x: cr.broadcast_to(x, (3, 4)) ** 3, lambda x: x.expand(3, 4) ** 3),
    "getitem": ([_any(4, 5)], lambda x: x[1:, [0, 2, 2]] ** 3, lambda x: x[1:, [0, 2, 2]] ** 3),
    "concatenate": (
        [_any(2, 3), _any(1, 3)],
        lambda a, b: cr.concatenate([a, b * a[:1]]) ** 2,
        lambda a, b: torch.cat([a, b * a[:1]]) ** 2,
    ),
    "stack": (
        [_any(3), _any(3)],
        lambda a, b: cr.stack([a * b, b], axis=1) ** 2,
        lambda a, b: torch.stack([a * b, b], 1) ** 2,
    ),
    "split": (
        [_any(6)],
        lambda x: (lambda p: p[0] * p[1])(cr.split(x * x, 3)),
        lambda x: (lambda p: p[0] * p[1])(torch.split(x * x, 3)),
    ),
    "moveaxis": ([_any(2, 3, 4)], lambda x: cr.ops.moveaxis(x, 0, -1) ** 3, lambda x: torch.movedim(x, 0, -1) ** 3),
    "squeeze_flatten": ([_any(2, 1, 3)], lambda x: x.squeeze(1).flatten() ** 3, lambda x: x.squeeze(1).flatten() ** 3),
    "index_put": (
        [_any(4), _any(2)],
        lambda x, v: cr.ops.index_put(x * x, [0, 2], v * x[1]) ** 2,
        lambda x, v: torch.index_put(x * x, (torch.tensor([0, 2]),), v * x[1]) ** 2,
    ),
    "mse_loss": ([_any(4, 3), _any(4, 3)], lambda a, b: F.mse_loss(a * a, b), lambda a, b: _tf().mse_loss(a * a, b)),
    "cross_entropy": (
        [_any(5, 4)],
        lambda x: F.cross_entropy(x, np.array([0, 3, 1, 1, 2]), label_smoothing=0.1),
        lambda x: _tf().cross_entropy(x, torch.tensor([0, 3, 1, 1, 2]), label_smoothing=0.1),
    ),
    "cross_entropy_probs": (
        [_any(3, 4), _pos(3, 4)],
        lambda x, t: F.cross_entropy(x, t / t.sum(axis=1, keepdims=True)),
        lambda x, t: _tf().cross_entropy(x, t / t.sum(1, keepdim=True)),
    ),
    "nll_loss": (
        [_any(4, 3)],
        lambda x: F.nll_loss(cr.log_softmax(x, -1), np.array([0, 2, 1, 2])),
        lambda x: _tf().nll_loss(torch.log_softmax(x, -1), torch.tensor([0, 2, 1, 2])),
    ),
    "binary_cross_entropy": (
        [_any(6), rng.uniform(0, 1, 6)],
        lambda x, t: F.binary_cross_entropy(cr.sigmoid(x), t),
        lambda x, t: _tf().binary_cross_entropy(torch.sigmoid(x), t),
    ),
    "bce_with_logits_pos_weight": (  # (PyTorch does not differentiate pos_weight: a constant here)
        [_any(6), rng.uniform(0, 1, 6)],
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, pos_weight=POS_WEIGHT),
        lambda x, t: _tf().binary_cross_entropy_with_logits(x, t, pos_weight=torch.tensor(POS_WEIGHT)),
    ),
    "layer_norm": (
        [_any(4, 3), _pos(3), _any(3)],
        lambda x, g, b: F.layer_norm(x, (3,), g, b) ** 2,
        lambda x, g, b: _tf().layer_norm(x, (3,), g, b) ** 2,
    ),
    "layer_norm_2d_plain": (
        [_any(2, 2, 3)],
        lambda x: F.layer_norm(x * x, (2, 3)) ** 2,
        lambda x: _tf().layer_norm(x * x, (2, 3)) ** 2,
    ),
    "embedding": (
        [_any(5, 3)],
        lambda w: F.embedding(np.array([[1, 4], [1, 0]]), w, padding_idx=4) ** 3,
        lambda w: _tf().embedding(torch.tensor([[1, 4], [1, 0]]), w, padding_idx=4) ** 3,
    ),
    "bilinear": (
        [_any(3, 2), _any(3, 4), _any(5, 2, 4), _any(5)],
        lambda a, b, w, c: F.bilinear(a, b, w, c) ** 2,
        lambda a, b, w, c: _tf().bilinear(a, b, w, c) ** 2,
    ),
    "batch_norm": (
        [_any(6, 3), _pos(3), _any(3)],
        lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True) ** 2,
        lambda x, g, b: _tf().batch_norm(x, None, None, g, b, training=True) ** 2,
    ),
    # indexing, layout, einsum, sorting, integer ops (issue 11)
    "gather": (
        [_any(3, 4)],
        lambda x: cr.gather(x * x, 1, GATHER_INDEX) * x[:, :2],
        lambda x: torch.gather(x * x, 1, torch.tensor(GATHER_INDEX)) * x[:, :2],
    ),
    "scatter_src": (
        [_any(3, 4), _any(2, 4)],
        lambda x, s: cr.scatter(x * x, 0, SCATTER_INDEX, s * s) * x,
        lambda x, s: torch.scatter(x * x, 0, torch.tensor(SCATTER_INDEX), s * s) * x,
    ),
    "scatter_value": (
        [_any(3, 4)],
        lambda x: cr.scatter(x * x, 0, SCATTER_INDEX, 1.5) * x,
        lambda x: torch.scatter(x * x, 0, torch.tensor(SCATTER_INDEX), 1.5) * x,
    ),
    "scatter_add": (
        [_any(3, 4), _any(5, 4)],
        lambda x, s: cr.scatter_add(x, 0, REPEATED_INDEX, s * x[:1]) ** 2,
        lambda x, s: torch.scatter_add(x, 0, torch.tensor(REPEATED_INDEX), s * x[:1]) ** 2,
    ),
    "index_select": (
        [_any(3, 4)],
        lambda x: cr.index_select(x, 1, np.array([3, 0, 3])) ** 3,
        lambda x: torch.index_select(x, 1, torch.tensor([3, 0, 3])) ** 3,
    ),
    "index_add": (
        [_any(3, 4), _any(3, 2)],
        lambda x, s: cr.index_add(x * x, 1, np.array([2, 2]), s * x[:, :2], alpha=-1.5) ** 2,
        lambda x, s: torch.index_add(x * x, 1, torch.tensor([2, 2]), s * x[:, :2], alpha=-1.5) ** 2,
    ),
    "masked_fill": (
        [_any(3, 4), _any()],
        lambda x, v: cr.masked_fill(x * x, MASK, v * v) * x,
        lambda x, v: torch.masked_fill(x * x, torch.tensor(MASK), v * v) * x,
    ),
    "masked_select": (
        [_any(3, 4)],
        lambda x: cr.masked_select(x, MASK) ** 3,
        lambda x: torch.masked_select(x, torch.tensor(MASK)) ** 3,
    ),
    "take_along_dim": (
        [_any(3, 4)],
        lambda x: cr.take_along_dim(x, GATHER_INDEX, 1) ** 3,
        lambda x: torch.take_along_dim(x, torch.tensor(GATHER_INDEX), 1) ** 3,
    ),
    "flip": ([_any(3, 4)], lambda x: cr.flip(x, (0, 1)) * x, lambda x: torch.flip(x, (0, 1)) * x),
    "roll": ([_any(3, 4)], lambda x: cr.roll(x, (1, -1), (0, 1)) * x, lambda x: torch.roll(x, (1, -1), (0, 1)) * x),
    "repeat": ([_any(2, 3)], lambda x: x.repeat(2, 1, 2) ** 3, lambda x: x.repeat(2, 1, 2) ** 3),
    "tile": ([_any(2, 3)], lambda x: cr.tile(x, (2,)) ** 3, lambda x: torch.tile(x, (2,)) ** 3),
    "tril": ([_any(3, 4)], lambda x: cr.tril(x, -1) * x, lambda x: torch.tril(x, -1) * x),
    "triu": ([_any(2, 3, 3)], lambda x: cr.triu(x * x, 1) * x, lambda x: torch.triu(x * x, 1) * x),
    "pad_constant": (
        [_any(3, 4)],
        lambda x: F.pad(x, (1, -1, 2, 0), value=0.5) ** 3,
        lambda x: _tf().pad(x, (1, -1, 2, 0), value=0.5) ** 3,
    ),
    "pad_reflect": (
        [_any(2, 2, 5)],
        lambda x: F.pad(x, (2, 3), mode="reflect") ** 3,
        lambda x: _tf().pad(x, (2, 3), mode="reflect") ** 3,
    ),
    "pad_replicate": (
        [_any(1, 2, 3)],
        lambda x: F.pad(x, (2, 1, 1, 2), mode="replicate") ** 3,
        lambda x: _tf().pad(x, (2, 1, 1, 2), mode="replicate") ** 3,
    ),
    "pad_circular": (
        [_any(1, 2, 3)],
        lambda x: F.pad(x, (2, 1, 1, 2), mode="circular") ** 3,
        lambda x: _tf().pad(x, (2, 1, 1, 2), mode="circular") ** 3,
    ),
    "narrow": ([_any(3, 4)], lambda x: cr.narrow(x, 1, 1, 2) ** 3, lambda x: torch.narrow(x, 1, 1, 2) ** 3),
    "chunk": (
        [_any(5, 2)],
        lambda x: (lambda p: p[0] * p[1][:2] * p[2][:1].sum())(cr.chunk(x * x, 3)),
        lambda x: (lambda p: p[0] * p[1][:2] * p[2][:1].sum())(torch.chunk(x * x, 3)),
    ),
    "movedim": (
        [_any(2, 3, 4)],
        lambda x: cr.movedim(x, (0, 2), (2, 1)) ** 3,
        lambda x: torch.movedim(x, (0, 2), (2, 1)) ** 3,
    ),
    "unbind": (
        [_any(3, 4)],
        lambda x: (lambda p: p[0] * p[2])(cr.unbind(x * x, 0)),
        lambda x: (lambda p: p[0] * p[2])(torch.unbind(x * x, 0)),
    ),
    "einsum_matmul": (
        [_any(3, 4), _any(4, 2)],
        lambda a, b: cr.einsum("ij,jk->ik", a, b * b) ** 2,
        lambda a, b: torch.einsum("ij,jk->ik", a, b * b) ** 2,
    ),
    "einsum_ellipsis_broadcast": (
        [_any(2, 1, 3), _any(4, 3)],
        lambda a, b: cr.einsum("...i,...i->...", a, b) ** 2,
        lambda a, b: torch.einsum("...i,...i->...", a, b) ** 2,
    ),
    "einsum_diagonal_and_sum": (
        [_any(3, 3), _any(3, 2)],
        lambda a, b: cr.einsum("ii,ij->i", a * a, b) * cr.einsum("ij->", b),
        lambda a, b: torch.einsum("ii,ij->i", a * a, b) * torch.einsum("ij->", b),
    ),
    "sort": (
        [_any(3, 4)],
        lambda x: cr.sort(x, 1, descending=True).values ** 3,
        lambda x: torch.sort(x, 1, descending=True).values ** 3,
    ),
    "topk": ([_any(3, 5)], lambda x: cr.topk(x, 2).values ** 3, lambda x: torch.topk(x, 2).values ** 3),
    "remainder": (
        [_any(6), _away_from_zero(6)],
        lambda a, b: cr.remainder(a * a, b) * b,
        lambda a, b: torch.remainder(a * a, b) * b,
    ),
    "fmod": ([_any(6), _away_from_zero(6)], lambda a, b: cr.fmod(a, b * b) * a, lambda a, b: torch.fmod(a, b * b) * a),
    "div_trunc": (
        [_any(6), _away_from_zero(6)],
        lambda a, b: cr.div(a * 3, b, rounding_mode="trunc") * a,
        lambda a, b: torch.div(a * 3, b, rounding_mode="trunc") * a,
    ),
    # math functions, activations, cumulative ops and more losses (issue 11); not hardsigmoid, which PyTorch
    # differentiates once only
    "tan": ([_inside(3, 4, 1.2)], lambda x: cr.tan(x), lambda x: torch.tan(x)),
    "sinh": ([_any(3, 4)], lambda x: cr.sinh(x), lambda x: torch.sinh(x)),
    "cosh": ([_any(3, 4)], lambda x: cr.cosh(x), lambda x: torch.cosh(x)),
    "asin": ([_inside(3, 4, 0.8)], lambda x: cr.asin(x), lambda x: torch.asin(x)),
    "acos": ([_inside(3, 4, 0.8)], lambda x: cr.acos(x), lambda x: torch.acos(x)),
    "atan": ([_any(3, 4)], lambda x: cr.atan(x), lambda x: torch.atan(x)),
    "atan2": ([_any(3, 4), _away_from_zero(4)], lambda a, b: cr.atan2(a, b), lambda a, b: torch.atan2(a, b)),
    "asinh": ([_any(3, 4)], lambda x: cr.asinh(x), lambda x: torch.asinh(x)),
    "acosh": ([_pos(3, 4) + 0.7], lambda x: cr.acosh(x), lambda x: torch.acosh(x)),
    "atanh": ([_inside(3, 4, 0.8)], lambda x: cr.atanh(x), lambda x: torch.atanh(x)),
    "erf": ([_any(3, 4)], lambda x: cr.erf(x), lambda x: torch.erf(x)),
    "erfinv": ([_inside(3, 4, 0.8)], lambda x: cr.erfinv(x), lambda x: torch.erfinv(x)),
    "log2": ([_pos(3, 4)], lambda x: cr.log2(x), lambda x: torch.log2(x)),
    "log10": ([_pos(3, 4)], lambda x: cr.log10(x), lambda x: torch.log10(x)),
    "expm1": ([_any(3, 4)], lambda x: cr.expm1(x), lambda x: torch.expm1(x)),
    "reciprocal": ([_away_from_zero(6)], lambda x: cr.reciprocal(x), lambda x: torch.reciprocal(x)),
    "rsqrt": ([_pos(3, 4)], lambda x: cr.rsqrt(x), lambda x: torch.rsqrt(x)),
    "square": ([_any(3, 4)], lambda x: cr.square(x) * x, lambda x: torch.square(x) * x),
    "rounding_family": (
        [_off_integers(8)],
        lambda x: (cr.floor(x) + cr.ceil(x) + cr.round(x) + cr.trunc(x) + cr.sign(x)) * x + cr.frac(x) * x,
        lambda x: (
            (torch.floor(x) + torch.ceil(x) + torch.round(x) + torch.trunc(x) + torch.sign(x)) * x + torch.frac(x) * x
        ),
    ),
    "round_decimals": (
        [_off_integers(6)],
        lambda x: cr.round(x, decimals=1) * x,
        lambda x: torch.round(x, decimals=1) * x,
    ),
    "gelu": ([_any(3, 4)], lambda x: F.gelu(x), lambda x: _tf().gelu(x)),
    "gelu_tanh": ([_any(3, 4)], lambda x: F.gelu(x, "tanh"), lambda x: _tf().gelu(x, approximate="tanh")),
    "elu": ([_away_from_zero(8)], lambda x: F.elu(x, 0.8), lambda x: _tf().elu(x, 0.8)),
    "selu": ([_away_from_zero(8)], lambda x: F.selu(x), lambda x: _tf().selu(x)),
    "celu": ([_away_from_zero(8)], lambda x: F.celu(x, 2.0), lambda x: _tf().celu(x, 2.0)),
    "silu": ([_any(3, 4)], lambda x: F.silu(x), lambda x: _tf().silu(x)),
    "mish": ([_any(3, 4)], lambda x: F.mish(x), lambda x: _tf().mish(x)),
    "hardtanh": (
        [_away_from_zero(8) * 1.5],
        lambda x: F.hardtanh(x, -1.2, 0.9) * x,
        lambda x: _tf().hardtanh(x, -1.2, 0.9) * x,
    ),
    "relu6": ([_away_from_zero(8) * 5], lambda x: F.relu6(x) * x, lambda x: _tf().relu6(x) * x),
    "hardswish": ([_away_from_zero(8) * 3], lambda x: F.hardswish(x), lambda x: _tf().hardswish(x)),
    "softsign": ([_away_from_zero(8)], lambda x: F.softsign(x), lambda x: _tf().softsign(x)),
    "logsigmoid": ([_any(3, 4)], lambda x: F.logsigmoid(x), lambda x: _tf().logsigmoid(x)),
    "glu": ([_any(3, 4)], lambda x: F.glu(x, 1), lambda x: _tf().glu(x, 1)),
    "cumsum": ([_any(3, 4)], lambda x: cr.cumsum(x * x, 1) ** 2, lambda x: torch.cumsum(x * x, 1) ** 2),
    "cumprod": ([_any(3, 4)], lambda x: cr.cumprod(x, 1), lambda x: torch.cumprod(x, 1)),
    "logcumsumexp": ([_any(3, 4)], lambda x: cr.logcumsumexp(x, 0), lambda x: torch.logcumsumexp(x, 0)),
    "cummax": ([_any(3, 5)], lambda x: cr.cummax(x, 1).values ** 2, lambda x: torch.cummax(x, 1).values ** 2),
    "cummin": ([_any(3, 5)], lambda x: cr.cummin(x, 0).values ** 3, lambda x: torch.cummin(x, 0).values ** 3),
    "prod": ([_any(3, 4)], lambda x: cr.prod(x, 1), lambda x: torch.prod(x, 1)),
    "prod_all": ([_any(2, 3)], lambda x: cr.prod(x), lambda x: torch.prod(x)),
    "l1_loss": ([_any(4, 3), _any(4, 3)], lambda a, b: F.l1_loss(a * a, b), lambda a, b: _tf().l1_loss(a * a, b)),
    "smooth_l1_loss": (
        [_any(4, 3), _any(4, 3)],
        lambda a, b: F.smooth_l1_loss(a * a, b, beta=0.7),
        lambda a, b: _tf().smooth_l1_loss(a * a, b, beta=0.7),
    ),
    "huber_loss": (
        [_any(4, 3), _any(4, 3)],
        lambda a, b: F.huber_loss(a, b, "sum", 0.8),
        lambda a, b: _tf().huber_loss(a, b, reduction="sum", delta=0.8),
    ),
    "kl_div": (
        [_any(3, 4), _pos(3, 4)],
        lambda x, t: F.kl_div(cr.log_softmax(x, 1), t, "batchmean"),
        lambda x, t: _tf().kl_div(torch.log_softmax(x, 1), t, reduction="batchmean"),
    ),
    "kl_div_log_target": (
        [_any(3, 4), _any(3, 4)],
        lambda x, t: F.kl_div(x, t, "sum", log_target=True),
        lambda x, t: _tf().kl_div(x, t, reduction="sum", log_target=True),
    ),
    "cosine_similarity": (
        [_any(4, 3), _any(4, 3)],
        lambda a, b: F.cosine_similarity(a, b),
        lambda a, b: _tf().cosine_similarity(a, b),
    ),
    "cosine_embedding_loss": (
        [_any(5, 3), _any(5, 3)],
        lambda a, b: F.cosine_embedding_loss(a, b, np.array([1, -1, 1, -1, -1]), -0.5),
        lambda a, b: _tf().cosine_embedding_loss(a, b, torch.tensor([1, -1, 1, -1, -1]), margin=-0.5),
    ),
    "margin_ranking_loss": (
        [_any(6), _any(6), _away_from_zero(6)],
        lambda a, b, t: F.margin_ranking_loss(a * a, b, t, 5.0),
        lambda a, b, t: _tf().margin_ranking_loss(a * a, b, t, margin=5.0),
    ),
    "nll_loss_weight_nd": (
        [_any(3, 4, 2)],
        lambda x: F.nll_loss(cr.log_softmax(x, 1), np.array([[0, 3], [1, 1], [2, 0]]), CLASS_WEIGHT),
        lambda x: _tf().nll_loss(
            torch.log_softmax(x, 1), torch.tensor([[0, 3], [1, 1], [2, 0]]), torch.tensor(CLASS_WEIGHT)
        ),
    ),
    "cross_entropy_weight": (
        [_any(5, 4)],
        lambda x: F.cross_entropy(x, np.array([0, 3, 1, -100, 2]), CLASS_WEIGHT, label_smoothing=0.1),
        lambda x: _tf().cross_entropy(
            x, torch.tensor([0, 3, 1, -100, 2]), torch.tensor(CLASS_WEIGHT), label_smoothing=0.1
        ),
    ),
    # recurrent cells (issue 12): the fused sequence node with one step
    "gru_cell": (
        [_any(2, 3), _any(2, 4), _any(12, 3), _any(12, 4), _any(12), _any(12)],
        lambda x, h, wi, wh, bi, bh: cr.ops.gru_cell(x, h, wi, wh, bi, bh),
        lambda x, h, wi, wh, bi, bh: torch.gru_cell(x, h, wi, wh, bi, bh),
    ),
    "lstm_cell": (
        [_any(2, 3), _any(2, 4), _any(2, 4), _any(16, 3), _any(16, 4), _any(16), _any(16)],
        lambda x, h, c, wi, wh, bi, bh: cr.ops.cat(list(cr.ops.lstm_cell(x, (h, c), wi, wh, bi, bh)), 1),
        lambda x, h, c, wi, wh, bi, bh: torch.cat(torch.lstm_cell(x, (h, c), wi, wh, bi, bh), 1),
    ),
    "rnn_tanh_cell": (
        [_any(2, 3), _any(2, 4), _any(4, 3), _any(4, 4), _any(4), _any(4)],
        lambda x, h, wi, wh, bi, bh: cr.ops.rnn_tanh_cell(x, h, wi, wh, bi, bh),
        lambda x, h, wi, wh, bi, bh: torch.rnn_tanh_cell(x, h, wi, wh, bi, bh),
    ),
    "rnn_relu_cell": (
        [_any(2, 3), _any(2, 4), _any(4, 3), _any(4, 4)],
        lambda x, h, wi, wh: cr.ops.rnn_relu_cell(x, h, wi, wh) ** 2,
        lambda x, h, wi, wh: torch.rnn_relu_cell(x, h, wi, wh) ** 2,
    ),
    "cross_entropy_weight_probs": (
        [_any(3, 4), _pos(3, 4)],
        lambda x, t: F.cross_entropy(x, t / t.sum(axis=1, keepdims=True), CLASS_WEIGHT),
        lambda x, t: _tf().cross_entropy(x, t / t.sum(1, keepdim=True), torch.tensor(CLASS_WEIGHT)),
    ),
    # pooling, resampling, normalisation (issue 12)
    "max_pool2d": (
        [_any(2, 2, 7, 6)],
        lambda x: (
            F.max_pool2d(x * x, 3, 2, 1, dilation=(1, 2), ceil_mode=True) * F.max_pool2d(x, 3, 2, 1, (1, 2), True)
        ),
        lambda x: _tf().max_pool2d(x * x, 3, 2, 1, (1, 2), True) * _tf().max_pool2d(x, 3, 2, 1, (1, 2), True),
    ),
    "max_pool2d_tiled": (
        [_any(2, 3, 4, 6)],
        lambda x: F.max_pool2d(x, 2) ** 3,
        lambda x: _tf().max_pool2d(x, 2) ** 3,
    ),
    "max_pool2d_tiled_channels_last": (  # a convolution's output is channels-last: pooled over rows of channels
        [_any(2, 3, 5, 6), _any(4, 3, 1, 1)],
        lambda x, w: F.max_pool2d(F.conv2d(x, w), 2) ** 3,
        lambda x, w: _tf().max_pool2d(_tf().conv2d(x, w), 2) ** 3,
    ),
    "max_pool1d": ([_any(2, 3, 9)], lambda x: F.max_pool1d(x, 3, 2) ** 3, lambda x: _tf().max_pool1d(x, 3, 2) ** 3),
    "avg_pool2d": (
        [_any(2, 2, 7, 6)],
        lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False) ** 3,
        lambda x: _tf().avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False) ** 3,
    ),
    "avg_pool2d_tiled": ([_any(2, 3, 4, 5)], lambda x: F.avg_pool2d(x, 2) ** 3, lambda x: _tf().avg_pool2d(x, 2) ** 3),
    "avg_pool1d": (
        [_any(2, 3, 8)],
        lambda x: F.avg_pool1d(x, 3, 2, 1) ** 3,
        lambda x: _tf().avg_pool1d(x, 3, 2, 1) ** 3,
    ),
    "adaptive_avg_pool2d": (
        [_any(2, 3, 7, 5)],
        lambda x: F.adaptive_avg_pool2d(x, (3, 2)) ** 3,
        lambda x: _tf().adaptive_avg_pool2d(x, (3, 2)) ** 3,
    ),
    "adaptive_avg_pool1d": (
        [_any(2, 3, 7)],
        lambda x: F.adaptive_avg_pool1d(x, 3) ** 3,
        lambda x: _tf().adaptive_avg_pool1d(x, 3) ** 3,
    ),
    "adaptive_max_pool2d": (
        [_any(2, 3, 7, 5)],
        lambda x: F.adaptive_max_pool2d(x, (3, 2)) ** 3,
        lambda x: _tf().adaptive_max_pool2d(x, (3, 2)) ** 3,
    ),
    "adaptive_max_pool1d": (
        [_any(2, 3, 7)],
        lambda x: F.adaptive_max_pool1d(x, 3) ** 3,
        lambda x: _tf().adaptive_max_pool1d(x, 3) ** 3,
    ),
    "interpolate_bilinear": (
        [_any(2, 2, 3, 4)],
        lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear") ** 3,
        lambda x: _tf().interpolate(x, scale_factor=1.5, mode="bilinear") ** 3,
    ),
    "interpolate_nearest": (
        [_any(2, 2, 5)],
        lambda x: F.interpolate(x, size=7) ** 3,
        lambda x: _tf().interpolate(x, size=7) ** 3,
    ),
    "pixel_shuffle": (
        [_any(2, 8, 2, 3)],
        lambda x: F.pixel_unshuffle(F.pixel_shuffle(x, 2) ** 2, 2) * x,
        lambda x: _tf().pixel_unshuffle(_tf().pixel_shuffle(x, 2) ** 2, 2) * x,
    ),
    "batch_norm_4d": (
        [_any(3, 2, 3, 2), _pos(2), _any(2)],
        lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True) ** 2,
        lambda x, g, b: _tf().batch_norm(x, None, None, g, b, training=True) ** 2,
    ),
    "group_norm": (
        [_any(2, 4, 3), _pos(4), _any(4)],
        lambda x, g, b: F.group_norm(x, 2, g, b) ** 2,
        lambda x, g, b: _tf().group_norm(x, 2, g, b) ** 2,
    ),
    "dropout2d": (
        [_any(4, 6, 2, 2)],
        lambda x: F.dropout2d(x, 0.4, generator=np.random.default_rng(3)) ** 3,
        lambda x: (x * torch.tensor(_channel_mask((4, 6, 1, 1), 0.4, 3))) ** 3,
    ),
    # convolution (issue 12): the input gradient is a transposed convolution, the weight gradient a correlation,
    # each differentiable through the others
    "conv2d": (
        [_any(2, 4, 5, 6), _any(6, 2, 3, 2), _any(6)],
        lambda x, w, b: F.conv2d(x, w, b, (2, 1), (1, 0), (1, 2), 2) ** 2,
        lambda x, w, b: _tf().conv2d(x, w, b, (2, 1), (1, 0), (1, 2), 2) ** 2,
    ),
    "conv2d_same": (
        [_any(1, 2, 4, 5), _any(3, 2, 2, 3)],
        lambda x, w: F.conv2d(x, w, padding="same", dilation=(2, 1)) * x.sum(),
        lambda x, w: _tf().conv2d(x, w, padding="same", dilation=(2, 1)) * x.sum(),
    ),
    "conv1d": (
        [_any(2, 3, 7), _any(2, 3, 3), _any(2)],
        lambda x, w, b: F.conv1d(x, w, b, 2, 1) ** 2,
        lambda x, w, b: _tf().conv1d(x, w, b, 2, 1) ** 2,
    ),
    "conv_transpose2d": (
        [_any(2, 4, 3, 3), _any(4, 1, 2, 3), _any(2)],
        lambda x, w, b: F.conv_transpose2d(x, w, b, 2, (0, 1), (1, 0), 2) ** 2,
        lambda x, w, b: _tf().conv_transpose2d(x, w, b, 2, (0, 1), (1, 0), 2) ** 2,
    ),
    "conv_transpose1d": (
        [_any(1, 2, 4), _any(2, 3, 3)],
        lambda x, w: F.conv_transpose1d(x, w, None, 1, 1, 1, 1, 2) ** 2,
        lambda x, w: _tf().conv_transpose1d(x, w, None, 1, 1, 1, 1, 2) ** 2,
    ),
    "unfold_fold": (
        [_any(2, 2, 4, 5)],
        lambda x: F.fold(F.unfold(x, (2, 3), padding=1, stride=(1, 2)) ** 2, (4, 5), (2, 3), padding=1, stride=(1, 2)),
        lambda x: _tf().fold(
            _tf().unfold(x, (2, 3), padding=1, stride=(1, 2)) ** 2, (4, 5), (2, 3), padding=1, stride=(1, 2)
        ),
    ),
}


def _project(out, vs):
    """sum(v * out) over one output or a tuple of outputs, with fixed random weights v."""
    outs = out if isinstance(out, tuple) else (out,)
    return sum((o * v).sum() for o, v in zip(outs, vs))


@requires_torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_first_derivatives_and_hessian_vector_products_match_torch(name):
    arrays, fn, tfn = CASES[name]
    out_shape = np.shape(tfn(*[torch.tensor(a) for a in arrays]).detach().numpy())
    v = np.random.default_rng(1).normal(size=out_shape)
    us = [np.random.default_rng(2 + k).normal(size=np.shape(a)) for k, a in enumerate(arrays)]

    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    gs = cr.grad((fn(*xs) * cr.tensor(v)).sum(), xs, create_graph=True, allow_unused=True)
    hv = cr.grad(sum((g * cr.tensor(u)).sum() for g, u in zip(gs, us) if g is not None), xs, allow_unused=True)

    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tgs = torch.autograd.grad((tfn(*ts) * torch.tensor(v)).sum(), ts, create_graph=True, allow_unused=True)
    thv = torch.autograd.grad(
        sum((g * torch.tensor(u)).sum() for g, u in zip(tgs, us) if g is not None), ts, allow_unused=True
    )

    for k, (g, tg) in enumerate(zip(gs, tgs)):
        g = np.zeros_like(arrays[k]) if g is None else g.numpy()
        tg = np.zeros_like(arrays[k]) if tg is None else tg.detach().numpy()
        np.testing.assert_allclose(g, tg, rtol=1e-9, atol=1e-11, err_msg=f"{name} d/dx{k}")
    for k, (h, th) in enumerate(zip(hv, thv)):
        h = np.zeros_like(arrays[k]) if h is None else h.numpy()
        th = np.zeros_like(arrays[k]) if th is None else th.numpy()
        np.testing.assert_allclose(h, th, rtol=1e-8, atol=1e-10, err_msg=f"{name} Hessian-vector product, x{k}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_first_derivative_passes_a_numerical_gradient_check(name):
    """Second derivatives checked against central differences of the first derivative, not PyTorch."""
    arrays, fn, _ = CASES[name]
    v = cr.tensor(np.random.default_rng(1).normal(size=np.shape(fn(*[cr.tensor(a) for a in arrays]).numpy())))
    us = [cr.tensor(np.random.default_rng(2 + k).normal(size=np.shape(a))) for k, a in enumerate(arrays)]

    def directional_first_derivative(*xs):
        with cr.enable_grad():  # (gradcheck evaluates the function under no_grad for its differences)
            gs = cr.grad((fn(*xs) * v).sum(), list(xs), create_graph=True, allow_unused=True)
            return sum((g * u).sum() for g, u in zip(gs, us) if g is not None)

    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    assert cr.gradcheck(directional_first_derivative, *xs, eps=1e-6, atol=1e-5, rtol=1e-4)
