"""What each engine choice is worth: the MLP step with one choice undone at a time.

    python bench/ablation.py            # 1 thread, writes bench/results/ablation.json
    python bench/ablation.py --quick
    python bench/report.py --readme README.md   # puts its table into the README

The 784-512-512-10 MLP step (batch 128, float32) of bench/run.py, as shipped and
in variants that each undo one of the choices the README's "Speed" section lists,
built from chainrule's own public pieces (or a small Function/Optimizer written
here the way a straightforward implementation would write it). All variants run
in one process, in interleaved rounds, medians reported with the ratio to the
shipped step: a ratio above 1 is what that choice saves. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from report import ablation_table  # noqa: E402
from run import interleaved, machine_info, mlp_data, threads  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402


class UnfusedLinear(cr.nn.Module):
    """x @ W.T + b as three recorded nodes (transpose, matmul, add) instead of one."""

    def __init__(self, lin):
        super().__init__()
        self.weight, self.bias = lin.weight, lin.bias

    def forward(self, x):
        return x @ self.weight.T + self.bias


class MaskIndexReLU(cr.Function):
    """ReLU whose backward zeroes the gradient by boolean-mask indexing."""

    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, g):
        gx = g.copy()
        gx[self.inputs[0].data <= 0] = 0
        return gx


class IndexReLU(cr.nn.Module):
    def forward(self, x):
        return MaskIndexReLU()(x)


class AllocatingSGD(cr.optim.Optimizer):
    """w <- w - lr * g written plainly: a new temporary array every step."""

    def __init__(self, params, lr):
        super().__init__(params, dict(lr=lr))

    def _update(self, p, w, g, state, group):
        w -= group["lr"] * g


class TextbookAdam(cr.optim.Optimizer):
    """Adam as usually written: m, v updated with temporaries, bias corrections as arrays (13+ passes)."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    def _update(self, p, w, g, state, group):
        b1, b2 = group["betas"]
        t = state["step"] = state.get("step", 0) + 1
        m = state["m"] = b1 * state.get("m", 0) + (1 - b1) * g
        v = state["v"] = b2 * state.get("v", 0) + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        w -= group["lr"] * m_hat / (np.sqrt(v_hat) + group["eps"])


def _whole_arrays(self, kernel, arrays, state, n_scratch, *consts):
    """The optimizer's update run over whole parameters at once (one pass of memory per operation)."""
    w = arrays[0]
    scratch = []
    for key in ("tmp", "tmp2")[:n_scratch]:
        if key not in state:
            state[key] = np.empty_like(w)
        scratch.append(state[key])
    kernel(*arrays, *scratch, *consts)


class WholeArraySGD(cr.optim.SGD):
    _sliced = _whole_arrays


class WholeArrayAdam(cr.optim.Adam):
    _sliced = _whole_arrays


def make_step(variant: str, opt_name: str, X, y, ws):
    layers = [cr.nn.Linear(784, 512), cr.nn.ReLU(), cr.nn.Linear(512, 512), cr.nn.ReLU(), cr.nn.Linear(512, 10)]
    for lin, (w, b) in zip(layers[0::2], ws):
        lin.weight.data[...] = w
        lin.bias.data[...] = b
    if variant == "unfused Linear":
        layers = [UnfusedLinear(m) if isinstance(m, cr.nn.Linear) else m for m in layers]
    if variant == "ReLU backward by mask indexing":
        layers = [IndexReLU() if isinstance(m, cr.nn.ReLU) else m for m in layers]
    model = cr.nn.Sequential(*layers)
    dtype = np.float64 if variant == F64 else np.float32
    if variant == F64:  # what the float32 default saves: the same step with the model and the batch in float64
        model.double()
    params = list(model.parameters())
    if opt_name == "sgd":
        kind = {"update with temporaries": AllocatingSGD, WHOLE: WholeArraySGD}.get(variant, cr.optim.SGD)
        opt = kind(params, lr=0.01)
    else:
        kind = {"update with temporaries": TextbookAdam, WHOLE: WholeArrayAdam}.get(variant, cr.optim.Adam)
        opt = kind(params, lr=1e-3)
    xb = cr.tensor(X, dtype=dtype, requires_grad=(variant == "gradient for the input too"))
    if variant == "unfused loss (log_softmax, nll_loss)":

        def loss_fn(out):
            return F.nll_loss(cr.log_softmax(out, -1), y)
    else:

        def loss_fn(out):
            return F.cross_entropy(out, y)

    def step():
        opt.zero_grad()
        loss_fn(model(xb)).backward()
        opt.step()

    return step


WHOLE = "update over whole parameters, not cache-sized slices"
# Formerly "float64 from a scalar on the input" (x * a float64 0-d tensor silently made the network float64);
# a float64 operand can no longer get into a float32 network unasked (a 0-d tensor takes the other operand's
# dtype, and Linear refuses a dtype mismatch, as in PyTorch), so this measures what float64 itself costs.
F64 = "float64 model and input, converted explicitly"
VARIANTS = [
    "as shipped",
    "unfused Linear",
    "unfused loss (log_softmax, nll_loss)",
    "gradient for the input too",
    "ReLU backward by mask indexing",
    "update with temporaries",
    WHOLE,
    F64,
]


def measure(rounds: int, per_round: int, variants=None) -> dict:
    """{"sgd": {variant: ms}, "adam": {...}}: every variant's step, timed in interleaved rounds (the MLP's data
    of bench/run.py). bench/before_after.py calls this in its child processes."""
    X, y, ws = mlp_data()
    steps = {}
    for opt_name in ("sgd", "adam"):
        fns = {v: make_step(v, opt_name, X, y, ws) for v in variants or VARIANTS}
        steps[opt_name] = {v: t * 1e3 for v, t in interleaved(fns, rounds, per_round).items()}
    return steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "ablation.json"))
    args = ap.parse_args(argv)
    rounds, per_round = (5, 5) if args.quick else (15, 10)
    result = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_info(), "threads": 1}
    with threads(1):
        result["steps"] = measure(rounds, per_round)
    print(ablation_table(result))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
