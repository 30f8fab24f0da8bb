"""Where the fused Conv2d + ReLU + MaxPool2d node (chainrule.ops.fused) spends the CNN step's time, part by part.

    python bench/fused_parts.py            # 15 steps, 1 BLAS thread
    python bench/fused_parts.py --steps 30

Runs bench/nets.py's CNN with SGD at batch 128 and times, inside each ConvReluPoolOp's forward and vjp, the
library functions the node calls (im2col, the matrix products, the tile maxima, the gradient's routing, the weight
gradient, the input gradient) by wrapping them with timers for the run; the rest of each node's time is its own
loop and bookkeeping. Medians per step, in ms, printed as a table. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from run import threads  # noqa: E402  (sets OMP_WAIT_POLICY)

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402
import chainrule.ops.conv as conv  # noqa: E402
import chainrule.ops.fused as fused  # noqa: E402

# the functions ConvReluPoolOp calls, by the name the fused module holds them under
PARTS = {
    "im2col_tiled": "im2col rows (forward)",
    "max_over_tiles": "tile maxima, masks, ReLU (forward)",
    "route": "routing the gradient (backward)",
    "conv_weight_array": "weight gradient: im2col again + product (backward)",
    "conv_transpose_array": "input gradient: product + kernel offsets (backward)",
}
# inside those: every im2col the nodes make, forward and backward (chainrule.ops.conv's helpers)
IM2COL = ("_im2row", "_im2col_per_sample")


def measure(steps: int, batch: int = 128) -> dict:
    from nets import cr_cnn, timed

    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    cr.manual_seed(0)
    model = cr_cnn()
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    xb = cr.tensor(X)
    spent: dict = {}

    originals = {name: getattr(fused, name) for name in PARTS}
    helpers = {name: getattr(conv, name) for name in IM2COL}
    op = fused.ConvReluPoolOp
    node_fns = {"forward": op.forward, "vjp": op.vjp}
    rows = []
    try:
        for name, fn in originals.items():
            setattr(fused, name, timed(spent, name, fn))
        for name, fn in helpers.items():
            setattr(conv, name, timed(spent, "im2col", fn))
        for name, fn in node_fns.items():
            setattr(op, name, timed(spent, f"node.{name}", fn))
        for k in range(steps + 3):
            spent.clear()
            t0 = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(model(xb), y).backward()
            opt.step()
            total = time.perf_counter() - t0
            if k >= 3:  # warm-up
                rows.append(dict(spent, total=total))
    finally:
        for name, fn in originals.items():
            setattr(fused, name, fn)
        for name, fn in helpers.items():
            setattr(conv, name, fn)
        for name, fn in node_fns.items():
            setattr(op, name, fn)
    med = {k: float(np.median([r.get(k, 0.0) for r in rows])) * 1e3 for k in rows[0]}
    # the matrix products of the forward pass and the nodes' own work: what the wrapped parts leave
    forward_rest = med["node.forward"] - med["im2col_tiled"] - med["max_over_tiles"]
    backward_rest = med["node.vjp"] - med["route"] - med["conv_weight_array"] - med["conv_transpose_array"]
    return {
        **{PARTS[k]: med[k] for k in PARTS},
        "forward products (conv1 per sample, conv2 rows) and the node's own work": forward_rest,
        "backward: copying g channels last, the bias gradient, the node's own work": backward_rest,
        "of which im2col copies, forward and backward": med["im2col"],
        "fused nodes in all": med["node.forward"] + med["node.vjp"],
        "the whole step": med["total"],
    }


def main():
    ap = argparse.ArgumentParser(description="the fused conv/ReLU/pool node's time, part by part")
    ap.add_argument("--steps", type=int, default=15)
    args = ap.parse_args()
    with threads(1):
        res = measure(args.steps)
    print("| part (1 thread, ms per step, median) | ms |")
    print("|---|---|")
    for k, v in res.items():
        print(f"| {k} | {v:.1f} |")


if __name__ == "__main__":
    main()
