"""Grad mode and anomaly mode are per thread, as in PyTorch: threads training their own models at once
get exactly what each gets alone, and no thread's no_grad (or backward) changes another thread's mode."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F


def _train(seed: int, start: threading.Barrier | None = None, steps: int = 60) -> list[np.ndarray]:
    """A small MLP trained by SGD with momentum, with a no_grad evaluation every few steps."""
    rng = np.random.default_rng(seed)
    X = cr.tensor(rng.normal(size=(48, 6)))  # float64
    y = rng.integers(0, 3, 48)
    gen = np.random.default_rng(100 + seed)
    model = cr.nn.Sequential(
        cr.nn.Linear(6, 16, dtype=np.float64, generator=gen),
        cr.nn.Tanh(),
        cr.nn.Linear(16, 3, dtype=np.float64, generator=gen),
    )
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if start is not None:
        start.wait()
    for step in range(steps):
        loss = F.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        for p in model.parameters():  # every step leaves every parameter a gradient
            assert p.grad is not None
        opt.step()
        if step % 5 == 0:
            with cr.no_grad():
                out = model(X)
                assert not out.requires_grad and not cr.is_grad_enabled()
            assert cr.is_grad_enabled()
    return [p.numpy().copy() for p in model.parameters()]


def _run_together(*fns) -> None:
    threads = [threading.Thread(target=f) for f in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_four_threads_training_at_once_end_with_the_weights_of_each_run_alone():
    alone = [_train(seed) for seed in range(4)]
    start = threading.Barrier(4)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda s: _train(s, start), range(4)))
    for a, b in zip(alone, together):
        for pa, pb in zip(a, b):
            np.testing.assert_array_equal(pa, pb)


def test_a_new_thread_starts_with_grad_mode_on_even_inside_no_grad():
    seen = []
    with cr.no_grad():
        t = threading.Thread(target=lambda: seen.append((cr.is_grad_enabled(), cr.modes.is_anomaly_enabled())))
        t.start()
        t.join()
        assert not cr.is_grad_enabled()
    assert seen == [(True, False)]


def test_overlapping_no_grad_blocks_in_two_threads_restore_each_threads_own_mode():
    # A enters, B enters, A leaves, B leaves: each thread ends with grad mode on, and so does this one
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    modes = {}

    def a():
        with cr.no_grad():
            a_in.set()
            b_in.wait()
        modes["a"] = cr.is_grad_enabled()
        a_out.set()

    def b():
        a_in.wait()
        with cr.no_grad():
            b_in.set()
            a_out.wait()
            modes["b inside"] = cr.is_grad_enabled()
        modes["b"] = cr.is_grad_enabled()

    _run_together(a, b)
    assert modes == {"a": True, "b inside": False, "b": True}
    assert cr.is_grad_enabled()


def test_a_backward_in_one_thread_leaves_another_threads_recording_alone():
    # thread A pauses in the middle of its backward (in a gradient hook); meanwhile thread B records a graph
    paused, resume = threading.Event(), threading.Event()
    seen = {}

    def a():
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        h = x * 3.0

        def hook(g):
            paused.set()
            resume.wait()

        h.register_hook(hook)
        (h * h).sum().backward()
        seen["a grad"] = x.grad.numpy().tolist()

    def b():
        paused.wait()
        w = cr.tensor([1.0], requires_grad=True)
        seen["b records"] = (w * 2).requires_grad and cr.is_grad_enabled()
        resume.set()

    _run_together(a, b)
    assert seen == {"b records": True, "a grad": [18.0, 36.0]}  # d/dx (3x)^2 = 18 x


def test_detect_anomaly_in_one_thread_is_not_seen_by_another():
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def a():
        with cr.detect_anomaly():
            inside.set()
            done.wait()
            seen["a"] = cr.modes.is_anomaly_enabled()

    def b():
        inside.wait()
        seen["b"] = cr.modes.is_anomaly_enabled()
        done.set()

    _run_together(a, b)
    assert seen == {"a": True, "b": False}
