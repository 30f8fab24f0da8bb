"""Global recording switches: grad mode and anomaly mode.

Kept in a module of their own, read as ``_mode.grad_enabled`` on the hot path,
so that recording a node costs one attribute load to decide.
"""

from __future__ import annotations

import functools

grad_enabled: bool = True
anomaly_enabled: bool = False
# The modification clock: advanced whenever a leaf's values are changed in place (an optimizer
# step, load_state_dict, nn.init). Every recorded node notes the clock at its creation, so
# backward can tell, with one comparison per node, whether anything changed since.
clock: int = 0


class _GradMode:
    """Base of :class:`no_grad` and :class:`enable_grad`: a context manager and a decorator."""

    _value: bool

    def __enter__(self):
        global grad_enabled
        self._prev = grad_enabled
        grad_enabled = self._value
        return self

    def __exit__(self, *exc):
        global grad_enabled
        grad_enabled = self._prev
        return False

    def __call__(self, fn):
        value = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            global grad_enabled
            prev = grad_enabled
            grad_enabled = value
            try:
                return fn(*args, **kwargs)
            finally:
                grad_enabled = prev

        return wrapper


class no_grad(_GradMode):
    """Do not record operations: no graph is built and outputs never require grad.

    Use as ``with cr.no_grad(): ...`` or as a decorator ``@cr.no_grad()``.
    """

    _value = False


class enable_grad(_GradMode):
    """Record operations again inside a :class:`no_grad` block (or decorate a function)."""

    _value = True


class set_grad_enabled(_GradMode):
    """Turn recording on or off: ``with cr.set_grad_enabled(training): ...``."""

    def __init__(self, mode: bool):
        self._value = bool(mode)


def is_grad_enabled() -> bool:
    """Whether operations are being recorded right now."""
    return grad_enabled
