"""Layers: Linear, Sequential, activations, Flatten, Dropout, BatchNorm1d, and loss modules."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from .. import checks, ops
from ..creation import default_generator
from ..errors import ArgumentError, ArgumentTypeError
from ..modes import state as _modes
from ..ops.linalg import LinearOp, check_linear_dtypes
from ..ops.operands import dim_arg
from ..tensor import Tensor, from_numpy
from . import init
from .conv import Conv2d
from .module import Module, Parameter
from .norm import BatchNorm1d  # (defined with BatchNorm2d; exported from here as before)

__all__ = [
    "Linear",
    "Sequential",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "Flatten",
    "Identity",
    "Dropout",
    "BatchNorm1d",
    "Standardize",
    "MSELoss",
    "CrossEntropyLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "NLLLoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "KLDivLoss",
    "CosineEmbeddingLoss",
    "MarginRankingLoss",
]


class Linear(Module):
    """y = x @ W^T + b, one fused graph node.

    ``weight`` has shape (out_features, in_features) and ``bias`` (out_features,),
    both initialised from U(-1/sqrt(in_features), 1/sqrt(in_features)) as
    PyTorch does. ``generator`` (a numpy Generator) makes the initialisation
    reproducible; without it chainrule's default generator is used.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32, generator=None):
        super().__init__()
        in_features = checks.integer("Linear", "in_features", in_features, 1)
        out_features = checks.integer("Linear", "out_features", out_features, 1)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(checks.empty("Linear", (out_features, in_features), dtype))
        # kaiming_uniform_ with a = sqrt(5) gives bound 1/sqrt(fan_in), PyTorch's default
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if bias:
            bound = 1 / math.sqrt(in_features)
            self.bias = Parameter(np.empty(out_features, dtype))
            init.uniform_(self.bias, -bound, bound, generator=generator)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        if not isinstance(x, Tensor):
            x = ops.as_t(x)
        w, b = self.weight, self.bias
        dt = w.data.dtype
        if x.data.dtype is not dt or (b is not None and b.data.dtype is not dt):
            check_linear_dtypes(x, w, b)  # a float64 batch for a float32 layer: an error, as in PyTorch
        if b is None:
            return LinearOp()(x, w)
        return LinearOp()(x, w, b)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Modules applied one after another; ``Sequential(a, b, c)`` or ``Sequential(OrderedDict(...))``."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise ArgumentTypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
                self.add_module(str(i), m)

    def forward(self, x):
        mods = self._modules.values()
        if not (_modes.fuse and Conv2d in map(type, mods)):
            for m in mods:
                x = m(x)
            return x
        mods = tuple(mods)
        i, n = 0, len(mods)
        while i < n:
            m = mods[i]
            if type(m) is Conv2d and i + 2 < n:
                y = fused_block(m, mods[i + 1], mods[i + 2], x)
                if y is not None:
                    x, i = y, i + 3
                    continue
            x, i = m(x), i + 1
        return x

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), module)
        return self


class _Activation(Module):
    fn = None

    def forward(self, x):
        return type(self).fn(x)


def _pair(v):
    """An int or a pair of ints as a pair; None for anything else."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return (int(v), int(v))
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(a, (int, np.integer)) for a in v):
        return (int(v[0]), int(v[1]))
    return None


def fused_block(conv, relu, pool, x):
    """``pool(relu(conv(x)))`` as one node, ``ops.ConvReluPoolOp`` (the same values and gradients, faster), when
    ``conv``, ``relu``, ``pool`` are a Conv2d without groups and with zero padding, a ReLU and a MaxPool2d over
    tiles (kernel == stride, no padding, dilation 1, no ceil_mode, no indices) that tile the convolution's output
    exactly, none has a forward hook, and ``x`` is a batch (N, C, H, W). None otherwise (run them one by one)."""
    from .pool import MaxPool2d

    if type(relu) is not ReLU or type(pool) is not MaxPool2d or not isinstance(x, Tensor) or x.ndim != 4:
        return None
    if conv._forward_hooks or relu._forward_hooks or pool._forward_hooks:
        return None
    if conv.groups != 1 or conv.padding_mode != "zeros" or pool.return_indices or pool.ceil_mode:
        return None
    k = _pair(pool.kernel_size)
    if k is None or _pair(pool.stride) != k or _pair(pool.padding) != (0, 0) or _pair(pool.dilation) != (1, 1):
        return None
    return ops.conv2d_relu_max_pool2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, k)


class ReLU(Module):
    """max(x, 0); ``inplace=True`` changes the input tensor (PyTorch's rules for in-place operations)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x):
        return ops.relu(x, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(_Activation):
    fn = staticmethod(ops.sigmoid)


class Tanh(_Activation):
    fn = staticmethod(ops.tanh)


class Softplus(_Activation):
    fn = staticmethod(ops.softplus)


class Identity(Module):
    def forward(self, x):
        return x


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        checks.real("LeakyReLU", "negative_slope", negative_slope)
        self.negative_slope = negative_slope
        self.inplace = bool(inplace)

    def forward(self, x):
        return ops.leaky_relu(x, self.negative_slope, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Softmax(Module):
    """Softmax along ``dim`` (the last one by default; ``axis`` is accepted as NumPy's name for it)."""

    def __init__(self, dim: int | None = None, *, axis: int | None = None):
        super().__init__()
        d = dim_arg(type(self).__name__, dim, axis)
        self.dim = -1 if d is None else d

    @property
    def axis(self) -> int:
        return self.dim

    def forward(self, x):
        return ops.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return ops.log_softmax(x, self.dim)


class Flatten(Module):
    """Merge dimensions start_dim..end_dim (by default everything but the batch dimension; ``start_axis`` and
    ``end_axis`` are accepted as other names for them)."""

    def __init__(self, start_dim: int | None = None, end_dim: int | None = None, *, start_axis=None, end_axis=None):
        super().__init__()
        start_dim = dim_arg("Flatten", start_dim, start_axis)
        end_dim = dim_arg("Flatten", end_dim, end_axis)
        self.start_dim = 1 if start_dim is None else start_dim
        self.end_dim = -1 if end_dim is None else end_dim

    def forward(self, x):
        return ops.flatten(x, self.start_dim, self.end_dim)


class Dropout(Module):
    """Inverted dropout: in training, zero elements with probability p and scale the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5, generator=None):
        super().__init__()
        checks.real("Dropout", "p", p, 0.0, 1.0)
        self.p = p
        self.generator = generator

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        return ops.dropout(x, self.p, True, self.generator if self.generator is not None else default_generator())

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Standardize(Module):
    """x -> (x - mean) / std per feature, with statistics set by ``fit(X)`` and saved in ``state_dict``.

    Input scaling that travels with the model, so a saved model scores raw data.
    """

    def __init__(self, n_features: int, eps: float = 1e-6, dtype=np.float32):
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", from_numpy(np.zeros(n_features, dtype)))
        self.register_buffer("std", from_numpy(np.ones(n_features, dtype)))

    def fit(self, X) -> Standardize:
        X = X.data if isinstance(X, Tensor) else np.asarray(X)
        self.mean.data = X.mean(axis=0).astype(self.mean.data.dtype)
        self.std.data = (X.std(axis=0) + self.eps).astype(self.std.data.dtype)
        return self

    def forward(self, x):
        return (x - self.mean.data) * (1 / self.std.data)

    def extra_repr(self) -> str:
        return f"{self.mean.shape[0]}"


# --------------------------------------------------------------------------- losses
class _Loss(Module):
    """A loss module. ``decision_threshold`` is what the loss's inputs imply for accuracy: the value of a
    single output above which the prediction is the positive class (0.5 for probabilities, 0.0 for raw
    scores); training reads it instead of asking which loss it has."""

    decision_threshold = 0.5

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ArgumentError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class MSELoss(_Loss):
    def forward(self, input, target):
        return ops.mse_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax + negative log-likelihood on raw scores; targets are class indices or probabilities.
    ``weight`` (C,) weighs each class (a buffer, saved in ``state_dict``)."""

    decision_threshold = 0.0  # raw scores (logits)

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(_reduction_of(weight, reduction, "CrossEntropyLoss"))
        self.register_buffer("weight", None if isinstance(weight, str) else weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return ops.cross_entropy(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities; ``weight`` (C,) weighs each class (a buffer)."""

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(_reduction_of(weight, reduction, "NLLLoss"))
        self.register_buffer("weight", None if isinstance(weight, str) else weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return ops.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


def _reduction_of(weight, reduction, name):
    """PyTorch's first argument is ``weight``; a reduction given there by position is refused, by name."""
    if isinstance(weight, str):
        raise ArgumentTypeError(
            f"{name}: the first argument is weight, class weights (as in PyTorch); give the reduction by name, "
            f"reduction={weight!r}"
        )
    return reduction


class BCELoss(_Loss):
    def forward(self, input, target):
        return ops.binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    decision_threshold = 0.0  # raw scores (logits): sigmoid(0) = 0.5

    def __init__(self, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.pos_weight = pos_weight

    def forward(self, input, target):
        return ops.binary_cross_entropy_with_logits(input, target, self.reduction, self.pos_weight)


class L1Loss(_Loss):
    """Mean absolute error."""

    def forward(self, input, target):
        return ops.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Squared error below ``beta``, absolute error above."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return ops.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """Squared error below ``delta``, delta times the absolute error above."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return ops.huber_loss(input, target, self.reduction, self.delta)


class KLDivLoss(_Loss):
    """KL divergence of a target distribution from log-probabilities; ``reduction='batchmean'`` gives the
    KL divergence per sample."""

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        if reduction not in ("mean", "sum", "none", "batchmean"):
            raise ArgumentError(f"KLDivLoss: reduction must be 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}")
        super().__init__("mean")
        self.reduction = reduction
        self.log_target = log_target

    def forward(self, input, target):
        return ops.kl_div(input, target, self.reduction, self.log_target)


class CosineEmbeddingLoss(_Loss):
    """1 - cos(x1, x2) for target 1, max(0, cos(x1, x2) - margin) for target -1."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return ops.cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class MarginRankingLoss(_Loss):
    """max(0, -target * (x1 - x2) + margin)."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return ops.margin_ranking_loss(input1, input2, target, self.margin, self.reduction)
