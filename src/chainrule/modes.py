"""Recording switches, one set per thread: grad mode and anomaly mode.

As in PyTorch, each thread has its own modes: a new thread starts with grad mode on and anomaly
mode off, ``no_grad`` in one thread never affects another, and backward changes only its own
thread's mode while it runs. The hot path reads ``state.grad_enabled`` (one attribute of a
``threading.local``) to decide whether to record a node.
"""

from __future__ import annotations

import functools
import threading

__all__ = [
    "state",
    "GRAD",
    "ANOMALY",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "is_anomaly_enabled",
]


GRAD = 1  # bit of ``state.mode``: record operations
ANOMALY = 2  # bit of ``state.mode``: detect_anomaly is on


class _State(threading.local):
    """The modes of the current thread: ``mode`` holds both (``GRAD | ANOMALY`` bits), so recording a
    node reads one thread-local value; ``grad_enabled`` and ``anomaly_enabled`` read and set its bits."""

    def __init__(self):
        self.mode = GRAD  # every new thread: grad mode on, anomaly mode off
        self.saved: list = []  # the modes that `with` blocks entered in this thread will restore

    @property
    def grad_enabled(self) -> bool:
        return bool(self.mode & GRAD)

    @grad_enabled.setter
    def grad_enabled(self, on: bool) -> None:
        self.mode = (self.mode | GRAD) if on else (self.mode & ~GRAD)

    @property
    def anomaly_enabled(self) -> bool:
        return bool(self.mode & ANOMALY)

    @anomaly_enabled.setter
    def anomaly_enabled(self, on: bool) -> None:
        self.mode = (self.mode | ANOMALY) if on else (self.mode & ~ANOMALY)


state = _State()


class _GradMode:
    """Base of :class:`no_grad`, :class:`enable_grad` and :class:`set_grad_enabled`: a context manager
    and a decorator. Entering saves the current thread's mode and exit restores it, so blocks nest."""

    _value: bool

    def __enter__(self):
        # saved on the thread's own stack, not on the instance: one instance may be entered by
        # several threads at once, or again inside itself
        state.saved.append(state.grad_enabled)
        state.grad_enabled = self._value
        return self

    def __exit__(self, *exc):
        state.grad_enabled = state.saved.pop()
        return False

    def __call__(self, fn):
        value = self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = state.grad_enabled
            state.grad_enabled = value
            try:
                return fn(*args, **kwargs)
            finally:
                state.grad_enabled = prev

        return wrapper


class no_grad(_GradMode):
    """Do not record operations in this thread: no graph is built and outputs never require grad.

    Use as ``with cr.no_grad(): ...`` or as a decorator ``@cr.no_grad()``. In-place changes to
    leaves that require grad (``p -= lr * p.grad``) are allowed here.
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
    """Whether operations are being recorded right now, in this thread."""
    return state.grad_enabled


def is_anomaly_enabled() -> bool:
    """Whether :func:`chainrule.detect_anomaly` is on in this thread."""
    return state.anomaly_enabled
