"""PyTorch's ``torch.utils`` paths, so that ``from chainrule.utils.data import DataLoader`` works as the PyTorch
line it replaces. The classes live in :mod:`chainrule.data`."""

from . import data

__all__ = ["data"]
