"""max_pool2d 2x2 and BatchNorm2d forward+backward on (128, 32, 28, 28) float32, beside PyTorch, one thread.

Run: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=src python bench/bench_pool.py
Prints the median of repeats for each and the ratio chainrule / PyTorch.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import chainrule as cr  # noqa: E402

torch.set_num_threads(1)


def median_time(fn, repeats=15, warmup=3):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(size=(128, 32, 28, 28)), 0).astype(np.float32)  # after a ReLU: many ties
    g = rng.normal(size=(128, 32, 14, 14)).astype(np.float32)
    gb = rng.normal(size=x.shape).astype(np.float32)

    def cr_pool():
        a = cr.as_tensor(x).requires_grad_()
        cr.nn.functional.max_pool2d(a, 2).backward(cr.as_tensor(g))

    def torch_pool():
        a = torch.from_numpy(x).requires_grad_()
        torch.nn.functional.max_pool2d(a, 2).backward(torch.from_numpy(g))

    bn, tbn = cr.nn.BatchNorm2d(32), torch.nn.BatchNorm2d(32)

    def cr_bn():
        a = cr.as_tensor(x).requires_grad_()
        bn(a).backward(cr.as_tensor(gb))

    def torch_bn():
        a = torch.from_numpy(x).requires_grad_()
        tbn(a).backward(torch.from_numpy(gb))

    for name, ours, theirs in (("max_pool2d 2x2", cr_pool, torch_pool), ("BatchNorm2d", cr_bn, torch_bn)):
        a, b = median_time(ours), median_time(theirs)
        ms = f"chainrule {a * 1e3:7.2f} ms  PyTorch {b * 1e3:7.2f} ms"
        print(f"{name:16s} (128,32,28,28) fwd+bwd: {ms}  ratio {a / b:.2f}")


if __name__ == "__main__":
    main()
