"""Functions for building networks: activations, linear, dropout, batch norm, losses.

The same operations as ``chainrule.*`` under the names PyTorch users know from
``torch.nn.functional``.
"""

from __future__ import annotations

from ..ops import (
    batch_norm,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    dropout,
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
