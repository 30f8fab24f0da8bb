"""Optimizers and learning-rate schedules."""

from . import lr_scheduler
from .lr_scheduler import CosineAnnealingLR, ExponentialLR, LRScheduler, ReduceLROnPlateau, StepLR
from .optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, clip_grad_norm_

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "clip_grad_norm_",
    "lr_scheduler",
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "ReduceLROnPlateau",
]
