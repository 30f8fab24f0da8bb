"""chainrule's benchmark suite: chainrule beside its peers, in one process run, as ratios.

    python bench/run.py                 # everything, 1 and 2 threads (several minutes)
    python bench/run.py --quick         # fewer repeats, smaller scaling sizes, no full epoch
    python bench/run.py --only mlp,xor  # some workloads

Peers: PyTorch (CPU), scikit-learn's MLPClassifier, a hand-written NumPy step,
and the GEMM-only replay of the step (the floor BLAS sets). Every workload is
timed with a warm-up, then in rounds that alternate between the contenders
(so a noisy machine slows them alike); the figure is the median per step.
BLAS and PyTorch are pinned to the same thread count. Results go to
bench/results/latest.json; bench/report.py turns them into the README's table.
Nothing here asserts a time: benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time

# Several thread pools share this process: NumPy's OpenBLAS and PyTorch's OpenMP. By default OpenMP's
# threads keep spinning after each parallel region, taking the cores from whoever runs next in the
# interleaved rounds (on a 2-core machine PyTorch's own 2-thread MLP step went from about 4 ms to 21 ms).
# Here they sleep instead; the epoch runs, one library per process, keep the library's default.
_WAIT_POLICY_SET = "OMP_WAIT_POLICY" not in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402


# ----------------------------------------------------------------------------- timing
def interleaved(fns: dict, rounds: int, per_round: int, warmup: int = 3) -> dict:
    """Median seconds per call of each function, timed in alternating rounds."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    samples = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.perf_counter()
            for _ in range(per_round):
                f()
            samples[k].append((time.perf_counter() - t0) / per_round)
    return {k: float(np.median(v)) for k, v in samples.items()}


def machine_info() -> dict:
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "chainrule": cr.__version__,
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    try:
        import sklearn

        info["sklearn"] = sklearn.__version__
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
            for p in threadpool_info()
        ]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    return info


class threads:
    """Pin BLAS (threadpoolctl) and PyTorch to n threads."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        from threadpoolctl import threadpool_limits

        self._tp = threadpool_limits(self.n)
        try:
            import torch

            self._torch_prev = torch.get_num_threads()
            torch.set_num_threads(self.n)
        except ImportError:
            self._torch_prev = None
        return self

    def __exit__(self, *exc):
        self._tp.unregister() if hasattr(self._tp, "unregister") else self._tp.__exit__(None, None, None)
        if self._torch_prev is not None:
            import torch

            torch.set_num_threads(self._torch_prev)


# ----------------------------------------------------------------------------- MLP 784-512-512-10
SIZES = (784, 512, 512, 10)


def _weights(rng):
    ws = []
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        b = 1 / np.sqrt(i)
        ws.append((rng.uniform(-b, b, (o, i)).astype(np.float32), rng.uniform(-b, b, o).astype(np.float32)))
    return ws


def mlp_data(batch=128, seed=0):
    """The MLP's batch (X, y) and weights [(W, b)] every contender starts from."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], batch)
    return X, y, _weights(rng)


def mlp_steps(batch=128, seed=0):
    """Step functions of every contender for one SGD step and one Adam step."""
    import torch

    X, y, ws = mlp_data(batch, seed)
    out = {}

    for opt_name in ("sgd", "adam"):
        cr_step = cr_mlp_step(opt_name, X, y, ws)

        # PyTorch
        tm = torch.nn.Sequential(
            torch.nn.Linear(784, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, 10),
        )
        with torch.no_grad():
            for lin, (w, b) in zip([tm[0], tm[2], tm[4]], ws):
                lin.weight.copy_(torch.from_numpy(w))
                lin.bias.copy_(torch.from_numpy(b))
        topt = (
            torch.optim.SGD(tm.parameters(), lr=0.01)
            if opt_name == "sgd"
            else torch.optim.Adam(tm.parameters(), lr=1e-3)
        )
        tX, ty = torch.from_numpy(X), torch.from_numpy(y)

        def torch_step(tm=tm, topt=topt, tX=tX, ty=ty):
            topt.zero_grad()
            torch.nn.functional.cross_entropy(tm(tX), ty).backward()
            topt.step()

        out[opt_name] = {
            "chainrule": cr_step,
            "pytorch": torch_step,
            "numpy": numpy_step(X, y, ws, opt_name),
            "sklearn": sklearn_step(X, y, opt_name, batch),
            "floor": floor_step(X, ws, batch),
            "floor_torch": floor_step_torch(X, ws, batch),
        }
    return out


def cr_mlp_step(opt_name, X, y, ws):
    """chainrule's step (SGD or Adam) of the MLP, with weights ``ws``: the one bench/before_after.py times."""
    model = cr.nn.Sequential(
        cr.nn.Linear(784, 512), cr.nn.ReLU(), cr.nn.Linear(512, 512), cr.nn.ReLU(), cr.nn.Linear(512, 10)
    )
    for lin, (w, b) in zip([model[0], model[2], model[4]], ws):
        lin.weight.data[...] = w
        lin.bias.data[...] = b
    if opt_name == "sgd":
        opt = cr.optim.SGD(model.parameters(), lr=0.01)
    else:
        opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    xb = cr.tensor(X)

    def cr_step():
        opt.zero_grad()
        F.cross_entropy(model(xb), y).backward()
        opt.step()

    return cr_step


def numpy_step(X, y, ws, opt_name):
    """A hand-written NumPy training step (forward, backward, update) for the same MLP."""
    W = [w.copy() for w, _ in ws]
    B = [b.copy() for _, b in ws]
    n = len(X)
    onehot = np.zeros((n, 10), np.float32)
    onehot[np.arange(n), y] = 1
    state = {"t": 0, "m": [np.zeros_like(p) for p in W + B], "v": [np.zeros_like(p) for p in W + B]}

    def step():
        z1 = X @ W[0].T + B[0]
        h1 = np.maximum(z1, 0)
        z2 = h1 @ W[1].T + B[1]
        h2 = np.maximum(z2, 0)
        z3 = h2 @ W[2].T + B[2]
        e = np.exp(z3 - z3.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        d3 = (p - onehot) / n
        gW3, gB3 = d3.T @ h2, d3.sum(0)
        d2 = (d3 @ W[2]) * (z2 > 0)
        gW2, gB2 = d2.T @ h1, d2.sum(0)
        d1 = (d2 @ W[1]) * (z1 > 0)
        gW1, gB1 = d1.T @ X, d1.sum(0)
        grads = [gW1, gW2, gW3, gB1, gB2, gB3]
        params = W + B
        if opt_name == "sgd":
            for w, g in zip(params, grads):
                w -= 0.01 * g
        else:
            state["t"] += 1
            t = state["t"]
            for w, g, m, v in zip(params, grads, state["m"], state["v"]):
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                w -= 1e-3 / (1 - 0.9**t) * m / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)

    return step


def floor_step(X, ws, batch):
    """Only the eight matrix products of a training step, on arrays of the right shapes."""
    rng = np.random.default_rng(1)
    W1, W2, W3 = (w for w, _ in ws)
    h1 = rng.standard_normal((batch, 512)).astype(np.float32)
    h2 = rng.standard_normal((batch, 512)).astype(np.float32)
    g3 = rng.standard_normal((batch, 10)).astype(np.float32)
    g2 = rng.standard_normal((batch, 512)).astype(np.float32)
    g1 = rng.standard_normal((batch, 512)).astype(np.float32)

    def step():
        X @ W1.T
        h1 @ W2.T
        h2 @ W3.T
        g3.T @ h2
        g3 @ W3
        g2.T @ h1
        g2 @ W2
        g1.T @ X

    return step


def floor_step_torch(X, ws, batch):
    """The same eight matrix products on PyTorch tensors: the floor PyTorch's own BLAS sets."""
    import torch

    rng = np.random.default_rng(1)
    W1, W2, W3 = (torch.from_numpy(w) for w, _ in ws)
    tX = torch.from_numpy(X)
    h1, h2, g2, g1 = (torch.from_numpy(rng.standard_normal((batch, 512)).astype(np.float32)) for _ in range(4))
    g3 = torch.from_numpy(rng.standard_normal((batch, 10)).astype(np.float32))

    def step():
        tX @ W1.T
        h1 @ W2.T
        h2 @ W3.T
        g3.T @ h2
        g3 @ W3
        g2.T @ h1
        g2 @ W2
        g1.T @ tX

    return step


def sklearn_step(X, y, opt_name, batch):
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    import warnings

    clf = MLPClassifier(
        hidden_layer_sizes=(512, 512),
        solver="sgd" if opt_name == "sgd" else "adam",
        learning_rate_init=0.01 if opt_name == "sgd" else 1e-3,
        momentum=0.0,
        batch_size=batch,
        alpha=0.0,
        random_state=0,
    )
    classes = np.arange(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(X, y, classes=classes)

    def step():
        clf.partial_fit(X, y)

    return step


def bench_mlp(rounds, per_round):
    res = {}
    for opt_name, fns in mlp_steps().items():
        fns = {k: f for k, f in fns.items() if f is not None}
        res[opt_name] = {k: v * 1e3 for k, v in interleaved(fns, rounds, per_round).items()}  # ms
    return res


# ----------------------------------------------------------------------------- tiny XOR network
def xor_data():
    """The XOR inputs X, targets Y and first weights W1, b1, W2, b2."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    Y = np.array([[0], [1], [1], [0]], np.float32)
    rng = np.random.default_rng(0)
    W1, b1 = rng.uniform(-1, 1, (2, 2)).astype(np.float32), np.zeros(2, np.float32)
    W2, b2 = rng.uniform(-1, 1, (1, 2)).astype(np.float32), np.zeros(1, np.float32)
    return X, Y, W1, b1, W2, b2


def cr_xor_step():
    """chainrule's XOR step (2-2-1, sigmoid, MSE, SGD): the one bench/before_after.py times."""
    X, Y, W1, _, W2, _ = xor_data()
    m = cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.Sigmoid(), cr.nn.Linear(2, 1), cr.nn.Sigmoid())
    m[0].weight.data[...], m[2].weight.data[...] = W1, W2
    opt = cr.optim.SGD(m.parameters(), lr=0.5)
    xb, yb = cr.tensor(X), cr.tensor(Y)
    mse = cr.nn.MSELoss()

    def cr_step():
        opt.zero_grad()
        mse(m(xb), yb).backward()
        opt.step()

    return cr_step


def xor_steps():
    import torch

    X, Y, W1, b1, W2, b2 = xor_data()
    cr_step = cr_xor_step()

    tm = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 1), torch.nn.Sigmoid())
    topt = torch.optim.SGD(tm.parameters(), lr=0.5)
    tX, tY = torch.from_numpy(X), torch.from_numpy(Y)
    tmse = torch.nn.MSELoss()

    def torch_step():
        topt.zero_grad()
        tmse(tm(tX), tY).backward()
        topt.step()

    P = [W1.copy(), b1.copy(), W2.copy(), b2.copy()]

    def numpy_step():
        w1, c1, w2, c2 = P
        h = 1 / (1 + np.exp(-(X @ w1.T + c1)))
        o = 1 / (1 + np.exp(-(h @ w2.T + c2)))
        d = 2 * (o - Y) / o.size * o * (1 - o)
        dh = (d @ w2) * h * (1 - h)
        w2 -= 0.5 * (d.T @ h)
        c2 -= 0.5 * d.sum(0)
        w1 -= 0.5 * (dh.T @ X)
        c1 -= 0.5 * dh.sum(0)

    return {"chainrule": cr_step, "pytorch": torch_step, "numpy": numpy_step}


def bench_xor(rounds, per_round):
    res = {k: v * 1e6 for k, v in interleaved(xor_steps(), rounds, per_round * 20).items()}  # microseconds
    # anomaly detection: the same chainrule step with it on (off is the line above)
    fns = xor_steps()
    with cr.detect_anomaly():
        on = interleaved({"chainrule": fns["chainrule"]}, max(rounds // 2, 3), per_round * 5)["chainrule"] * 1e6
    res["chainrule_anomaly_on"] = on
    # anomaly detection when off: one test of the thread's mode per recorded node and one per backward call
    import timeit

    from chainrule.explain.trace import collect_nodes
    from chainrule.modes import state

    m = cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.Sigmoid(), cr.nn.Linear(2, 1), cr.nn.Sigmoid())
    checks = len(collect_nodes(cr.nn.MSELoss()(m(cr.tensor(np.ones((4, 2)))), cr.tensor(np.ones((4, 1)))))) + 1
    per_check = min(timeit.repeat("state.mode", globals={"state": state}, number=10**6, repeat=5)) / 1e6
    res["anomaly_off_cost_us"] = checks * per_check * 1e6
    return res


# ----------------------------------------------------------------------------- scaling of backward
def chain_backward_time(n):
    x = cr.tensor(1.0, dtype=cr.float64, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0000001
    gc.collect()
    t0 = time.perf_counter()
    y.backward()
    dt = time.perf_counter() - t0
    del y
    return dt


def tree_backward_time(leaves):
    xs = [cr.tensor(float(i), dtype=cr.float64, requires_grad=True) for i in range(leaves)]
    level = xs
    while len(level) > 1:
        level = [level[i] + level[i + 1] for i in range(0, len(level), 2)]
    gc.collect()
    t0 = time.perf_counter()
    level[0].backward()
    return time.perf_counter() - t0, 2 * leaves - 1  # nodes: leaves - 1 additions (+ the leaves)


def bench_scaling(quick):
    chain = {}
    for n in [10**3, 10**4, 10**5] if quick else [10**3, 10**4, 10**5, 10**6]:
        reps = 5 if n < 10**6 else 2
        dt = min(chain_backward_time(n) for _ in range(reps))
        chain[n] = {"seconds": dt, "us_per_node": dt / n * 1e6}
    tree = {}
    for k in [10, 12, 14] if quick else [10, 12, 14, 16]:
        res = [tree_backward_time(2**k) for _ in range(5)]
        dt = min(r[0] for r in res)
        tree[2**k] = {"seconds": dt, "us_per_node": dt / (2**k - 1) * 1e6}
    # the forward pass of the longest chain, for the "10^6-node chain in under 5 s" figure
    return {"chain": chain, "tree": tree}


# ----------------------------------------------------------------------------- a Fashion-MNIST epoch, memory
EPOCH_SCRIPT = os.path.join(HERE, "epoch.py")


def run_child(args: list[str], n_threads: int, script: str = EPOCH_SCRIPT) -> dict:
    """Run ``script`` with ``args`` in a child process with ``n_threads`` threads; its last line of JSON."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(n_threads),
        OPENBLAS_NUM_THREADS=str(n_threads),
        MKL_NUM_THREADS=str(n_threads),
        PYTHONPATH=os.path.join(HERE, "..", "src"),
    )
    if _WAIT_POLICY_SET:
        env.pop("OMP_WAIT_POLICY", None)  # one library per process: its own default
    r = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, env=env, timeout=3600)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_epoch(n_threads, epochs):
    out = {}
    for lib in ("chainrule", "pytorch", "sklearn"):
        out[lib] = run_child(["epoch", lib, str(epochs)], n_threads)
    return out


def bench_memory(n_threads, steps):
    return run_child(["growth", "chainrule", str(steps)], n_threads)


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description="chainrule beside its peers")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--only", default="mlp,xor,scaling,epoch,memory")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "latest.json"))
    args = ap.parse_args()
    only = set(args.only.split(","))
    rounds, per_round = (7, 5) if args.quick else (21, 10)
    results = {
        "machine": machine_info(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": args.quick,
        "by_threads": {},
    }
    for n in [int(t) for t in args.threads.split(",")]:
        r = {}
        with threads(n):
            if "mlp" in only:
                r["mlp"] = bench_mlp(rounds, per_round)
                print(
                    f"[{n} thread] MLP step (ms):",
                    {k: {c: round(v, 3) for c, v in d.items()} for k, d in r["mlp"].items()},
                    flush=True,
                )
            if "xor" in only:
                r["xor"] = bench_xor(rounds, per_round)
                print(f"[{n} thread] XOR step (us):", {k: round(v, 1) for k, v in r["xor"].items()}, flush=True)
            if "scaling" in only and n == 1:
                r["scaling"] = bench_scaling(args.quick)
                print("[1 thread] scaling:", json.dumps(r["scaling"]), flush=True)
        if "epoch" in only and not args.quick:
            r["epoch"] = bench_epoch(n, args.epochs)
            print(f"[{n} thread] Fashion-MNIST epoch:", r["epoch"], flush=True)
        if "memory" in only and n == 1:
            r["memory"] = bench_memory(n, 1000 if args.quick else 10000)
            print("[1 thread] memory:", r["memory"], flush=True)
        results["by_threads"][str(n)] = r
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    from report import report

    print(report(results))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
