"""Convolutional and recurrent networks beside PyTorch: training steps, their GEMM floors, peak memory.

    python bench/nets.py              # 1 and 2 threads, full CNN epoch for the memory figure (a few minutes)
    python bench/nets.py --quick      # fewer rounds, memory over the first 20 batches of the epoch
    python bench/nets.py --only cnn   # some of: cnn, rnn, memory

Workloads (float32, batch 128, one training step: zero_grad, forward, cross-entropy, backward, update):

- CNN: Conv2d 1->32 3x3 pad 1, ReLU, MaxPool2d 2; Conv2d 32->64 3x3 pad 1, ReLU, MaxPool2d 2; Flatten;
  Linear 3136->128, ReLU; Linear 128->10, on 1x28x28 inputs, with SGD and with Adam. The same nn.Sequential
  in both libraries; chainrule runs each Conv2d, ReLU, MaxPool2d as one fused node (its default), and is also
  timed with fusion off (one node per layer). Beside them: the GEMM floor, the matrix products of chainrule's
  im2col formulation of the step (forward, weight gradients, the second convolution's input gradient, the
  Linear layers' three products each) replayed with NumPy on preallocated whole-batch arrays (the fused node
  makes the same products a few samples at a time).
- GRU and LSTM: MNIST-1D-shaped input (sequence 40, batch 128, 1 feature; batch_first), hidden 128, one
  layer, then Linear 128->10 on the last step's output, SGD; with their GEMM floor (the recurrent product
  of each step forward and backward, the weight gradients as one product over all steps, the Linear's).
- memory: one library per child process, one epoch of the CNN with SGD on Fashion-MNIST (60,000 images,
  batch 128; random data of that shape when the data set cannot be loaded); the peak RSS above the
  process's RSS once the data are loaded and the library imported.

Timing is bench/run.py's: a warm-up, then rounds alternating between the contenders, the median per step;
BLAS and PyTorch pinned to the same thread count, OMP_WAIT_POLICY=PASSIVE in this process. Results go to
bench/results/nets.json; ``python bench/report.py bench/results/nets.json --readme README.md`` puts the
table into the README. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from run import interleaved, machine_info, run_child, threads  # noqa: E402  (sets OMP_WAIT_POLICY: before torch)

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402

BATCH = 128
SEQ, HIDDEN = 40, 128


# ----------------------------------------------------------------------------- CNN
def small_cnn(nn):
    """Issue 12's small CNN, built from either library's ``nn`` (their layers take the same arguments)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3136, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def cr_cnn():
    return small_cnn(cr.nn)


def torch_cnn():
    import torch

    return small_cnn(torch.nn)


def _load_into_torch(tmodel, cmodel):
    """The chainrule model's parameters, copied into the PyTorch model of the same layout."""
    import torch

    tmodel.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in cmodel.state_dict().items()})


def _optimizers(opt_name, cparams, tparams):
    import torch

    if opt_name == "sgd":
        return cr.optim.SGD(cparams, lr=0.01), torch.optim.SGD(tparams, lr=0.01)
    return cr.optim.Adam(cparams, lr=1e-3), torch.optim.Adam(tparams, lr=1e-3)


def _step_pair(cmodel, tmodel, opt_name, X, y):
    """chainrule's and PyTorch's training steps of the same model on the same batch."""
    import torch

    copt, topt = _optimizers(opt_name, cmodel.parameters(), tmodel.parameters())
    xb = cr.tensor(X)
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)

    def cr_step():
        copt.zero_grad()
        F.cross_entropy(cmodel(xb), y).backward()
        copt.step()

    def cr_step_unfused():
        with cr.set_fusion_enabled(False):
            cr_step()

    def torch_step():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(tX), ty).backward()
        topt.step()

    cr_step.unfused = cr_step_unfused
    return cr_step, torch_step


def cnn_floor(batch=BATCH, seed=1):
    """The matrix products of chainrule's CNN step (see chainrule.ops.conv: im2col matrices (C*k*k, N*H*W),
    channels first; the second convolution's input gradient over rows widened by the kernel's width - 1;
    the first convolution needs no input gradient), on preallocated arrays."""
    rng = np.random.default_rng(seed)

    def a(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    m1, m2, w2 = batch * 28 * 28, batch * 14 * 14, batch * 14 * (14 + 2)
    # conv1: y = W1 @ cols1, dW1 = g1 @ cols1^T
    W1, C1, G1 = a(32, 9), a(9, m1), a(32, m1)
    Y1, DW1 = np.empty((32, m1), np.float32), np.empty((32, 9), np.float32)
    # conv2: y = W2 @ cols2, dW2 = g2 @ cols2^T, dcols = W2^T @ g2 (widened rows)
    W2, C2, G2, G2w = a(64, 288), a(288, m2), a(64, m2), a(64, w2)
    Y2, DW2, DC2 = (np.empty(s, np.float32) for s in ((64, m2), (64, 288), (288, w2)))
    # Linear 3136 -> 128 and 128 -> 10: y = x @ W^T, dW = g^T @ x, dx = g @ W
    X3, W3, G3 = a(batch, 3136), a(128, 3136), a(batch, 128)
    Y3, DW3, DX3 = (np.empty(s, np.float32) for s in ((batch, 128), (128, 3136), (batch, 3136)))
    X4, W4, G4 = a(batch, 128), a(10, 128), a(batch, 10)
    Y4, DW4, DX4 = (np.empty(s, np.float32) for s in ((batch, 10), (10, 128), (batch, 128)))
    mm = np.matmul

    def step():
        mm(W1, C1, out=Y1)
        mm(W2, C2, out=Y2)
        mm(X3, W3.T, out=Y3)
        mm(X4, W4.T, out=Y4)
        mm(G4.T, X4, out=DW4)
        mm(G4, W4, out=DX4)
        mm(G3.T, X3, out=DW3)
        mm(G3, W3, out=DX3)
        mm(G2, C2.T, out=DW2)
        mm(W2.T, G2w, out=DC2)
        mm(G1, C1.T, out=DW1)

    return step


def cnn_steps(batch=BATCH, seed=0):
    """{opt: {contender: step}} for the CNN with SGD and with Adam; all start from the same weights."""

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    out, floor = {}, cnn_floor(batch)  # the same products for both optimizers: timed once
    for opt_name in ("sgd", "adam"):
        cr.manual_seed(seed)
        cmodel = cr_cnn()
        tmodel = torch_cnn()
        _load_into_torch(tmodel, cmodel)
        cr_step, torch_step = _step_pair(cmodel, tmodel, opt_name, X, y)
        out[opt_name] = {
            "chainrule": cr_step,
            "pytorch": torch_step,
            "floor": floor,
            "chainrule_unfused": cr_step.unfused,
        }
    return out


def timed(store, key, fn):
    """``fn``, adding the seconds each call takes to ``store[key]``."""

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            store[key] = store.get(key, 0.0) + time.perf_counter() - t0

    return wrapper


def cnn_breakdown(steps=5, batch=BATCH, seed=0) -> dict:
    """Where chainrule's CNN SGD step spends its time (see :func:`breakdown`)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    cr.manual_seed(seed)
    model = cr_cnn()
    return breakdown(model, cr.optim.SGD(model.parameters(), lr=0.01), X, y, steps)


def breakdown(model, opt, X, y, steps) -> dict:
    """Where a chainrule training step spends its time: each node class's forward and vjp (the walk calls
    them), the optimizer's step and zero_grad, and the rest (recording, the walk itself), in ms per step,
    medians over ``steps`` steps after a warm-up."""
    from chainrule.explain.trace import collect_nodes

    xb = cr.tensor(X)
    classes = {type(n) for n in collect_nodes(F.cross_entropy(model(xb), y))}
    patched = [(c, name, c.__dict__.get(name)) for c in classes for name in ("forward", "vjp")]
    per_step = []
    store: dict = {}
    try:
        for c, name, _ in patched:
            setattr(c, name, timed(store, f"{c.__name__}.{name}", getattr(c, name)))
        zero_grad, step = timed(store, "optimizer.zero_grad", opt.zero_grad), timed(store, "optimizer.step", opt.step)
        for i in range(steps + 2):
            store.clear()
            t0 = time.perf_counter()
            zero_grad()
            F.cross_entropy(model(xb), y).backward()
            step()
            total = time.perf_counter() - t0
            if i >= 2:
                per_step.append({**store, "rest (recording, walk)": total - sum(store.values()), "total": total})
    finally:
        for c, name, orig in patched:
            if orig is None:
                delattr(c, name)
            else:
                setattr(c, name, orig)
    keys = per_step[0].keys()
    return {k: float(np.median([d.get(k, 0.0) for d in per_step])) * 1e3 for k in keys}


# ----------------------------------------------------------------------------- GRU and LSTM
class _Last:
    """The recurrent layer, then a Linear on the last step's output (one class for both libraries)."""

    def __init__(self, rnn, head):
        self.rnn, self.head = rnn, head

    def __call__(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])

    def parameters(self):
        return list(self.rnn.parameters()) + list(self.head.parameters())


def rnn_floor(kind, batch=BATCH, seed=1):
    """The matrix products of a recurrent step of chainrule's (chainrule.ops.rnn): per time step the
    recurrent projection forward and its gradient backward; the recurrent and input weights' gradients
    as one product over all steps; the Linear head's three. (The input projection of a 1-feature input
    is an elementwise product there, not a matrix product.)"""
    rng = np.random.default_rng(seed)
    gh = {"gru": 3, "lstm": 4}[kind] * HIDDEN
    rows = SEQ * batch

    def a(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    Whh, H, G = a(gh, HIDDEN), a(SEQ, batch, HIDDEN), a(SEQ, batch, gh)
    X = a(rows, 1)
    out_f = np.empty((SEQ, batch, gh), np.float32)
    out_b = np.empty((SEQ, batch, HIDDEN), np.float32)
    DWhh, DWih = np.empty((gh, HIDDEN), np.float32), np.empty((gh, 1), np.float32)
    Gr, Hr = G.reshape(rows, gh), H.reshape(rows, HIDDEN)
    Hl, Wl, Gl = a(batch, HIDDEN), a(10, HIDDEN), a(batch, 10)
    Yl, DWl, DXl = (np.empty(s, np.float32) for s in ((batch, 10), (10, HIDDEN), (batch, HIDDEN)))
    mm = np.matmul

    def step():
        WhhT = Whh.T
        for t in range(SEQ):
            mm(H[t], WhhT, out=out_f[t])
        mm(Hl, Wl.T, out=Yl)
        mm(Gl.T, Hl, out=DWl)
        mm(Gl, Wl, out=DXl)
        for t in range(SEQ - 1, -1, -1):
            mm(G[t], Whh, out=out_b[t])
        mm(Gr.T, Hr, out=DWhh)
        mm(Gr.T, X, out=DWih)

    return step


def rnn_steps(batch=BATCH, seed=0):
    """{kind: {contender: step}} for the GRU and the LSTM (SGD), from the same weights."""
    import torch

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, SEQ, 1)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    out = {}
    for kind in ("gru", "lstm"):
        c_model = cr_rnn(kind, seed)
        t_rnn = (torch.nn.GRU if kind == "gru" else torch.nn.LSTM)(1, HIDDEN, batch_first=True)
        t_head = torch.nn.Linear(HIDDEN, 10)
        _load_into_torch(t_rnn, c_model.rnn)
        _load_into_torch(t_head, c_model.head)
        cr_step, torch_step = _step_pair(c_model, _Last(t_rnn, t_head), "sgd", X, y)
        out[kind] = {"chainrule": cr_step, "pytorch": torch_step, "floor": rnn_floor(kind, batch)}
    return out


def cr_rnn(kind, seed=0):
    cr.manual_seed(seed)
    rnn = (cr.nn.GRU if kind == "gru" else cr.nn.LSTM)(1, HIDDEN, batch_first=True)
    return _Last(rnn, cr.nn.Linear(HIDDEN, 10))


def rnn_breakdown(kind, steps=5, batch=BATCH, seed=0) -> dict:
    """Where chainrule's GRU or LSTM SGD step spends its time (see :func:`breakdown`)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, SEQ, 1)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    model = cr_rnn(kind, seed)
    return breakdown(model, cr.optim.SGD(model.parameters(), lr=0.01), X, y, steps)


# ----------------------------------------------------------------------------- peak memory of an epoch
def _memory_child(lib: str, steps: int) -> dict:
    """One CNN epoch (or its first ``steps`` batches) with SGD in this process; RSS figures in MB."""
    from epoch import peak_mb, reset_peak, rss_mb

    try:
        from epoch import fashion

        X, y = fashion()[:2]
        data = "Fashion-MNIST"
    except Exception:  # noqa: BLE001 - no copy of the data set and no network: data of its shape
        rng = np.random.default_rng(0)
        X, y = rng.random((60000, 784), np.float32), rng.integers(0, 10, 60000)
        data = "random"
    X = np.ascontiguousarray(X.reshape(-1, 1, 28, 28), np.float32)
    if lib == "pytorch":
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    base = rss_mb()
    reset_peak()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    batches = [order[i : i + BATCH] for i in range(0, len(X), BATCH)][:steps]
    if lib == "chainrule":
        cr.manual_seed(0)
        model = cr_cnn()
        opt = cr.optim.SGD(model.parameters(), lr=0.01)
        t0 = time.perf_counter()
        for idx in batches:
            opt.zero_grad()
            F.cross_entropy(model(cr.as_tensor(X[idx])), y[idx]).backward()
            opt.step()
    else:
        torch.manual_seed(0)
        model = torch_cnn()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        tX, ty = torch.from_numpy(X), torch.from_numpy(np.asarray(y))
        t0 = time.perf_counter()
        for idx in batches:
            idx = torch.from_numpy(idx)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(tX[idx]), ty[idx]).backward()
            opt.step()
    dt = time.perf_counter() - t0
    peak = peak_mb()
    return {
        "lib": lib,
        "data": data,
        "samples": len(X),
        "steps": len(batches),
        "steps_per_epoch": -(-len(X) // BATCH),
        "seconds_per_step": dt / len(batches),
        "rss_before_training_mb": base,
        "training_peak_rss_mb": peak,
        "peak_above_baseline_mb": peak - base,
    }


def bench_memory(steps: int) -> dict:
    return {lib: run_child(["--child-memory", lib, str(steps)], 1, script=__file__) for lib in ("chainrule", "pytorch")}


# ----------------------------------------------------------------------------- main
def _nested_ms(groups: dict, rounds: int, per_round: int) -> dict:
    """{group: {contender: ms}}: every contender of every group in ONE set of interleaved rounds (so the
    groups' figures come from the same stretch of time); a function shared by groups is timed once."""
    flat, names = {}, {}
    for g, fns in groups.items():
        for c, f in fns.items():
            key = names.setdefault(id(f), f"{g}/{c}")
            flat[key] = f
    ms = {k: v * 1e3 for k, v in interleaved(flat, rounds, per_round).items()}
    return {g: {c: ms[names[id(f)]] for c, f in fns.items()} for g, fns in groups.items()}


def run(only, thread_counts, quick) -> dict:
    rounds, per_round = (3, 1) if quick else (25, 1)
    res = {
        "kind": "nets",
        "machine": machine_info(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": quick,
        "rounds": rounds,
        "per_round": per_round,
        "by_threads": {},
        "load_average_before": os.getloadavg()[0],  # other work on the machine, 1-minute average
    }
    for n in thread_counts:
        r = {}
        with threads(n):
            if "cnn" in only:
                r["cnn"] = _nested_ms(cnn_steps(), rounds, per_round)
                print(f"[{n} thread] CNN step (ms):", _rounded(r["cnn"]), flush=True)
                if n == 1:
                    r["cnn_breakdown"] = cnn_breakdown(3 if quick else 7)
                    print("[1 thread] chainrule's CNN SGD step by part (ms):", _rounded(r["cnn_breakdown"]), flush=True)
            if "rnn" in only:
                r.update(_nested_ms(rnn_steps(), rounds, per_round))
                print(f"[{n} thread] GRU/LSTM step (ms):", _rounded({k: r[k] for k in ("gru", "lstm")}), flush=True)
                if n == 1:
                    for kind in ("gru", "lstm"):
                        r[f"{kind}_breakdown"] = rnn_breakdown(kind, 3 if quick else 7)
        res["by_threads"][str(n)] = r
    res["load_average_after_timing"] = os.getloadavg()[0]
    if "memory" in only:
        res["memory"] = bench_memory(20 if quick else 10**9)
        print("[1 thread] CNN epoch memory:", res["memory"], flush=True)
    return res


def _rounded(d):
    return {k: _rounded(v) if isinstance(v, dict) else round(v, 2) for k, v in d.items()}


def main():
    ap = argparse.ArgumentParser(description="CNN, GRU and LSTM training steps beside PyTorch")
    ap.add_argument("--quick", action="store_true", help="3 rounds, memory over 20 batches")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--only", default="cnn,rnn,memory")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "nets.json"))
    ap.add_argument("--child-memory", nargs=2, metavar=("LIB", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_memory:
        lib, steps = args.child_memory
        print(json.dumps(_memory_child(lib, int(steps))))
        return
    res = run(set(args.only.split(",")), [int(t) for t in args.threads.split(",")], args.quick)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    from report import nets_table

    print(nets_table(res))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
