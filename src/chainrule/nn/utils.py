"""Gradient utilities under PyTorch's ``torch.nn.utils`` names: ``clip_grad_norm_``, ``clip_grad_value_``.

The same functions as ``chainrule.optim.clip_grad_norm_`` / ``clip_grad_value_``.
"""

from __future__ import annotations

from ..optim.optimizer import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
