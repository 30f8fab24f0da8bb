"""Neural-network building blocks: Module, Parameter, layers, losses, initialisation."""

from . import functional, init
from .layers import (
    BatchNorm1d,
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MSELoss,
    NLLLoss,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Standardize,
    Tanh,
)
from .module import Module, Parameter

__all__ = [
    "functional", "init", "Module", "Parameter", "Linear", "Sequential", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
    "Softplus", "Softmax", "LogSoftmax", "Flatten", "Identity", "Dropout", "BatchNorm1d", "Standardize",
    "MSELoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss",
]
