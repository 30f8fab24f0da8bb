"""Where the small CNN's training step spends its time, beside PyTorch (a tool for working on speed).

    python bench/profile_cnn.py                # step times (interleaved rounds), per-op times, GEMM floor
    python bench/profile_cnn.py --cprofile     # plus cProfile's top entries of the chainrule step
    python bench/profile_cnn.py --rounds 40    # more rounds on a noisy machine

The model is issue 12's: batch 128 of 1x28x28 float32; Conv2d 1->32 3x3 pad 1, ReLU, MaxPool2d 2; Conv2d 32->64
3x3 pad 1, ReLU, MaxPool2d 2; Flatten; Linear 3136->128, ReLU; Linear 128->10; cross_entropy; SGD. One thread:
BLAS and PyTorch pinned to 1 (set before NumPy loads). Per-op times come from wrapping each Function class's
forward and vjp with a timer during extra steps (not during the timed rounds). The GEMM floor replays the step's
matrix products alone (NumPy, same shapes and layouts as an im2col implementation needs).
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import collections  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import chainrule as cr  # noqa: E402
import chainrule.nn as nn  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
from chainrule.function import Function  # noqa: E402

sys.path.insert(0, HERE)
from nets import small_cnn  # noqa: E402  (the same model as the benchmark's)
from run import interleaved  # noqa: E402  (the same timing as the benchmark's)

BATCH = 128


def cr_model():
    return small_cnn(nn)


def torch_model(torch):
    return small_cnn(torch.nn)


def make_steps():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    model = cr_model()
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    xt, yt = cr.tensor(x), cr.tensor(y)

    def cr_step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()

    steps = {"chainrule": cr_step}
    try:
        import torch
    except ImportError:
        return steps, None
    torch.set_num_threads(1)
    tm = torch_model(torch)
    tm.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in model.state_dict().items()})
    topt = torch.optim.SGD(tm.parameters(), lr=0.01)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def torch_step():
        topt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tm(tx), ty)
        loss.backward()
        topt.step()

    steps["torch"] = torch_step
    return steps, cr_step


def gemm_floor():
    """The step's matrix products alone, in the layouts an im2col implementation uses."""
    rng = np.random.default_rng(1)
    f = np.float32

    def r(*s):
        return rng.standard_normal(s).astype(f)

    n = BATCH
    c1 = r(n * 784, 9)
    w1 = r(9, 32)
    g1 = r(n * 784, 32)
    c2 = r(n * 196, 288)
    w2 = r(288, 64)
    g2 = r(n * 196, 64)
    a3 = r(n, 3136)
    w3 = r(3136, 128)
    g3 = r(n, 128)
    a4 = r(n, 128)
    w4 = r(128, 10)
    g4 = r(n, 10)

    def floor():
        c1 @ w1  # conv1 forward
        g1.T @ c1  # conv1 weight gradient (no input gradient: the input needs none)
        c2 @ w2  # conv2 forward
        g2.T @ c2  # conv2 weight gradient
        g2 @ w2.T  # conv2 input gradient (then col2im)
        a3 @ w3  # linear 1
        g3 @ w3.T
        a3.T @ g3
        a4 @ w4  # linear 2
        g4 @ w4.T
        a4.T @ g4

    return floor


def per_op(step, reps):
    """Median per-step time of each Function class's forward and vjp, over ``reps`` steps."""
    classes = set()
    todo = [Function]
    while todo:
        c = todo.pop()
        for s in c.__subclasses__():
            if s not in classes:
                classes.add(s)
                todo.append(s)
    totals = collections.defaultdict(float)
    saved = []

    def wrap(cls, name):
        orig = cls.__dict__[name]
        key = f"{cls.__name__}.{name}"

        def timed(self, *a, **k):
            t0 = time.perf_counter()
            try:
                return orig(self, *a, **k)
            finally:
                totals[key] += time.perf_counter() - t0

        setattr(cls, name, timed)
        saved.append((cls, name, orig))

    for cls in classes:
        for name in ("forward", "vjp"):
            if name in cls.__dict__:
                wrap(cls, name)
    per = collections.defaultdict(list)
    whole = []
    try:
        for _ in range(reps):
            totals.clear()
            t0 = time.perf_counter()
            step()
            whole.append(time.perf_counter() - t0)
            for k, v in totals.items():
                per[k].append(v)
    finally:
        for cls, name, orig in saved:
            setattr(cls, name, orig)
    rows = sorted(((float(np.median(v)), k) for k, v in per.items()), reverse=True)
    return float(np.median(whole)), rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--cprofile", action="store_true")
    args = ap.parse_args()
    steps, cr_step = make_steps()
    steps["gemm floor"] = gemm_floor()
    t = interleaved(steps, args.rounds, per_round=3)
    for k, v in t.items():
        print(f"{k:>12}: {v * 1e3:7.1f} ms")
    if "torch" in t:
        print(f"chainrule / torch      = {t['chainrule'] / t['torch']:.2f}  (target <= 0.85)")
    print(f"chainrule / GEMM floor = {t['chainrule'] / t['gemm floor']:.2f}  (target <= 1.3)")
    whole, rows = per_op(steps["chainrule"], 9)
    print(f"\nper op (median of 9 steps; whole step {whole * 1e3:.1f} ms with the timers):")
    acc = 0.0
    for v, k in rows:
        acc += v
        print(f"  {k:<32} {v * 1e3:7.2f} ms")
    print(f"  {'(sum of ops)':<32} {acc * 1e3:7.2f} ms; outside the ops {(whole - acc) * 1e3:.2f} ms")
    if args.cprofile:
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(10):
            steps["chainrule"]()
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
