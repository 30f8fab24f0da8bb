"""Functions for building networks: activations, linear, bilinear, dropout, batch, layer and group norm,
embedding, pooling, interpolation, losses.

The same operations as ``chainrule.*`` under the names PyTorch users know from
``torch.nn.functional``.
"""

from __future__ import annotations

from ..ops import (
    batch_norm,
    bilinear,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    dropout,
    embedding,
    layer_norm,
    leaky_relu,
    linear,
    log_softmax,
    mse_loss,
    nll_loss,
    one_hot,
    pad,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from ..ops.activations import (
    celu,
    elu,
    gelu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    relu6,
    selu,
    silu,
    softsign,
)
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, fold, unfold
from ..ops.loss_extra import (
    cosine_embedding_loss,
    cosine_similarity,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    smooth_l1_loss,
)
from ..ops.normalization import dropout1d, dropout2d, group_norm
from ..ops.pool import (  # pooling and resampling (issue 12)
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    interpolate,
    max_pool1d,
    max_pool2d,
    pixel_shuffle,
    pixel_unshuffle,
)

__all__ = [
    "normalize",
    # convolution (issue 12)
    "conv1d",
    "conv2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "unfold",
    "fold",
    "linear",
    "dropout",
    "batch_norm",
    "layer_norm",
    "embedding",
    "bilinear",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "softplus",
    "softmax",
    "log_softmax",
    "mse_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "pad",
    "one_hot",
    # activations and losses (issue 11)
    "gelu",
    "elu",
    "selu",
    "celu",
    "silu",
    "mish",
    "hardtanh",
    "relu6",
    "hardswish",
    "hardsigmoid",
    "softsign",
    "logsigmoid",
    "glu",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
    "cosine_similarity",
    "cosine_embedding_loss",
    "margin_ranking_loss",
    # pooling, resampling, group norm, feature dropout (issue 12)
    "max_pool1d",
    "max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "interpolate",
    "pixel_shuffle",
    "pixel_unshuffle",
    "group_norm",
    "dropout1d",
    "dropout2d",
]


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12):  # noqa: A002 - PyTorch's names
    """``input / max(norm(input, p, dim, keepdim=True), eps)``, as PyTorch's ``F.normalize``."""
    from .. import ops

    n = ops.norm(input, p, dim, keepdim=True)
    return input / ops.clamp(n, min=eps)
