"""Functions for building networks: activations, linear, bilinear, dropout, batch and layer norm, embedding,
losses.

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

__all__ = [
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
]
