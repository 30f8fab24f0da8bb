"""Recording switches, one set per thread: grad mode, anomaly mode and fusion.

As in PyTorch, each thread has its own modes: a new thread starts with grad mode on and anomaly
mode off, ``no_grad`` in one thread never affects another, and backward changes only its own
thread's mode while it runs. The hot path reads ``state.grad_enabled`` (one attribute of a
``threading.local``) to decide whether to record a node.
"""

from __future__ import annotations

import functools
import inspect
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
    "set_fusion_enabled",
    "is_fusion_enabled",
]


GRAD = 1  # bit of ``state.mode``: record operations
ANOMALY = 2  # bit of ``state.mode``: detect_anomaly is on


class _State(threading.local):
    """The modes of the current thread: ``mode`` holds both (``GRAD | ANOMALY`` bits), so recording a
    node reads one thread-local value; ``grad_enabled`` and ``anomaly_enabled`` read and set its bits."""

    def __init__(self):
        self.mode = GRAD  # every new thread: grad mode on, anomaly mode off
        self.saved: list = []  # the modes that `with` blocks entered in this thread will restore
        self.fuse = True  # nn.Sequential may run a run of layers as one fused node (chainrule.ops.fused)

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
        """As a decorator: ``fn`` runs in this mode (a generator function: each of its steps does)."""
        value = self._value
        if inspect.isgeneratorfunction(fn):
            return _generator_in_mode(fn, value)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = state.grad_enabled
            state.grad_enabled = value
            try:
                return fn(*args, **kwargs)
            finally:
                state.grad_enabled = prev

        return wrapper


def _generator_in_mode(fn, value: bool):
    """A generator function whose every step (start, send, throw, close) runs with recording ``value``, and the
    caller's mode in between, as PyTorch's decorators do for generators."""

    def step(call, *args):
        prev = state.grad_enabled
        state.grad_enabled = value
        try:
            return call(*args)
        finally:
            state.grad_enabled = prev

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        gen = fn(*args, **kwargs)  # (runs nothing yet)
        try:
            response = step(gen.send, None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    step(gen.close)
                    raise
                except BaseException as e:  # noqa: BLE001 - passed into the generator, as PyTorch does
                    response = step(gen.throw, e)
                else:
                    response = step(gen.send, request)
        except StopIteration as stop:
            return stop.value

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
    """Turn recording on or off, as PyTorch's ``set_grad_enabled``: called as a function it sets the mode at
    once (``cr.set_grad_enabled(False)``); ``with cr.set_grad_enabled(training): ...`` restores the mode
    before it on leaving the block; as a decorator it sets the mode only while the function runs."""

    def __init__(self, mode: bool):
        self._value = bool(mode)
        self._before = state.grad_enabled
        state.grad_enabled = self._value

    def __enter__(self):
        state.saved.append(self._before)  # the mode before this object set it is restored on exit
        state.grad_enabled = self._value
        return self

    def __call__(self, fn):
        state.grad_enabled = self._before  # a decorator changes nothing until the function runs
        return super().__call__(fn)


def is_grad_enabled() -> bool:
    """Whether operations are being recorded right now, in this thread."""
    return state.grad_enabled


def is_anomaly_enabled() -> bool:
    """Whether :func:`chainrule.detect_anomaly` is on in this thread."""
    return state.anomaly_enabled


class set_fusion_enabled:
    """Let ``nn.Sequential`` run ``Conv2d, ReLU, MaxPool2d`` as one fused graph node (the default) or not, in
    this thread. The fused node gives the same values and gradients as the three layers, faster; with fusion off
    every layer is its own node (as ``explain`` and the ONNX export want them). Called as a function it sets the
    mode at once; ``with cr.set_fusion_enabled(False): ...`` restores the mode before it on leaving the block."""

    def __init__(self, mode: bool):
        self._before = state.fuse
        state.fuse = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        state.fuse = self._before
        return False


def is_fusion_enabled() -> bool:
    """Whether ``nn.Sequential`` may fuse layers in this thread (see :class:`set_fusion_enabled`)."""
    return state.fuse
