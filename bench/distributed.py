"""Data-parallel training over MPI: where the time of a step goes at 1 and 2 ranks, and what that predicts
for more ranks on a real network.

    python bench/distributed.py            # MLP and CNN, 1 and 2 ranks (about two minutes)
    python bench/distributed.py --quick    # fewer rounds

Each configuration runs as ``mpiexec -n P python bench/distributed.py --child MODEL`` with one BLAS
thread per rank (this machine has 2 cores: 2 ranks x 1 thread). Workloads, float32, SGD with momentum,
batch per rank fixed (weak scaling):

- MLP: 784-512-512-10 (Fashion-MNIST-shaped), batch 128 per rank;
- CNN: bench/nets.py's small_cnn (two 3x3 convolutions, 32 and 64 channels, Linear 3136-128-10) on
  1x28x28 inputs, batch 64 per rank.

Measured per step (the fastest of the rounds, as the machine is shared and others' load only adds time;
the medians are in the JSON too; in each round the figure is the slowest rank's):

- ``compute``: forward, backward and update of the plain model, no communication;
- ``allreduce``: one blocking Allreduce of all the gradients (one flat buffer), alone;
- ``sequential``: the step with backward under ``no_sync`` then that blocking Allreduce (no overlap);
- ``ddp``: the DistributedDataParallel step (bucketed Iallreduce started during backward; 1 MB buckets,
  as PyTorch's first bucket, since the whole gradient is smaller than the default 25 MB);
- ``wait``: the part of the ddp step spent waiting once backward had started every bucket (DDP's
  ``last_wait_s``);
- ``hidden`` = allreduce - wait (at least 0): the communication that did not show as waiting once backward
  was done, so was hidden behind it (sequential - ddp measures the same, more noisily);
- the Allreduce bandwidth (bytes / time) for the model's gradients and for 1M float32.

Then the estimate for 8, 16 and 64 ranks on 10 and 100 Gb/s networks (a ring all-reduce:
time = 2(p-1)/p * bytes / bandwidth + 2(p-1) * latency per hop), with the 1-rank compute time and the
measured fraction of communication that backward hides. Results go to bench/results/distributed.json.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "src")
sys.path.insert(0, SRC)

import numpy as np  # noqa: E402

MODELS = {"mlp": 128, "cnn": 64}  # batch per rank
BUCKET_MB = 1.0  # these models' gradients are 1.7-2.7 MB: 25 MB buckets would make one bucket, nothing to overlap
NETWORKS = {"10 Gb/s": 10e9 / 8, "100 Gb/s": 100e9 / 8}  # bytes per second
LATENCIES = (5e-6, 20e-6)  # per hop: the range the estimate spans
RANKS = (8, 16, 64)


def build(name):
    import chainrule as cr

    cr.manual_seed(0)
    if name == "mlp":
        nn = cr.nn
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    sys.path.insert(0, HERE)
    from nets import small_cnn

    return small_cnn(cr.nn)


def child(name: str, rounds: int, per_round: int) -> None:
    import chainrule as cr
    from chainrule import distributed as dist

    dist.init()
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    W = dist.world_size()
    batch = MODELS[name]
    rng = np.random.default_rng(dist.rank())
    shape = (batch, 784) if name == "mlp" else (batch, 1, 28, 28)
    x = cr.tensor(rng.standard_normal(shape).astype(np.float32))
    y = cr.tensor(rng.integers(0, 10, batch))
    model = build(name)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=BUCKET_MB)
    params = list(model.parameters())
    opt = cr.optim.SGD(params, lr=0.01, momentum=0.9)
    loss_fn = cr.nn.CrossEntropyLoss()
    nbytes = sum(p.data.nbytes for p in params)
    flat = np.zeros(nbytes // 4, np.float32)
    big = np.ones(1 << 20, np.float32)
    waits = []

    def compute():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    def ddp_step():
        opt.zero_grad()
        loss_fn(ddp(x), y).backward()
        ddp.finish_gradient_sync()
        waits.append(ddp.last_wait_s)
        opt.step()

    def sequential():
        opt.zero_grad()
        with ddp.no_sync():
            loss_fn(ddp(x), y).backward()
        if W > 1:
            o = 0
            for p in params:
                flat[o : o + p.data.size] = p.grad.data.reshape(-1)
                o += p.data.size
            comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
            flat[...] /= W
            o = 0
            for p in params:
                p.grad.data[...] = flat[o : o + p.data.size].reshape(p.data.shape)
                o += p.data.size
        opt.step()

    def allreduce():
        comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)

    def allreduce_1m():
        comm.Allreduce(MPI.IN_PLACE, big, op=MPI.SUM)

    kinds = {"compute": compute, "ddp": ddp_step, "sequential": sequential}
    if W > 1:
        kinds.update(allreduce=allreduce, allreduce_1m=allreduce_1m)
    for fn in kinds.values():  # warm-up
        for _ in range(2):
            fn()
    times = {k: [] for k in kinds}
    for _ in range(rounds):
        for k, fn in kinds.items():
            n = per_round * (10 if k.startswith("allreduce") else 1)
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            dt = np.array([(time.perf_counter() - t0) / n])
            comm.Allreduce(MPI.IN_PLACE, dt, op=MPI.MAX)  # the slowest rank's
            times[k].append(float(dt[0]))
    # the fastest round: this 2-core machine is shared, and the other processes' load only ever adds time
    res = {k: float(np.min(v)) for k, v in times.items()}
    res["median"] = {k: float(np.median(v)) for k, v in times.items()}
    w = np.array([float(np.min(waits))])
    comm.Allreduce(MPI.IN_PLACE, w, op=MPI.MAX)
    res["wait"] = float(w[0]) if W > 1 else 0.0
    res.update(model=name, ranks=W, batch_per_rank=batch, grad_bytes=nbytes, buckets=len(ddp.bucket_sizes))
    # the backward part of compute (for how much communication it can hide)
    bw = []
    for _ in range(max(5, rounds)):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        t0 = time.perf_counter()
        loss.backward()
        bw.append(time.perf_counter() - t0)
    res["backward"] = float(np.min(bw))
    if dist.is_main():
        print(json.dumps(res))


def run_config(name: str, ranks: int, rounds: int, per_round: int) -> dict:
    from chainrule.distributed import find_mpiexec

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([SRC] + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [find_mpiexec(), "-n", str(ranks), sys.executable, os.path.abspath(__file__), "--child", name]
    cmd += ["--rounds", str(rounds), "--per-round", str(per_round)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ring_time(nbytes: float, p: int, bandwidth: float, latency: float) -> float:
    """A ring all-reduce of ``nbytes`` over ``p`` ranks: 2(p-1) steps of nbytes/p, each with one latency."""
    return 2 * (p - 1) / p * nbytes / bandwidth + 2 * (p - 1) * latency


def estimate(one: dict, two: dict) -> dict:
    """Weak-scaling efficiency compute / (compute + exposed communication) at RANKS on NETWORKS.

    compute: the 1-rank step; the communication backward can hide: at most the backward time, and the
    fraction of the 2-rank Allreduce that did not show as waiting at the end of backward
    (1 - wait / allreduce, in [0, 1]; the wait also holds the ranks' skew, so this errs low). The
    difference of the steps without and with overlap (sequential - ddp) is recorded too, but on a shared
    2-core machine it is within the noise."""
    t_c, t_b = one["compute"], one["backward"]
    ar = two["allreduce"]
    frac = min(1.0, max(0.0, 1.0 - two["wait"] / ar)) if ar > 0 else 0.0
    out = {"hidden_fraction": frac, "sequential_minus_ddp_s": two["sequential"] - two["ddp"]}
    for net, bw in NETWORKS.items():
        for p in RANKS:
            effs = []
            for lat in LATENCIES:
                t_comm = ring_time(one["grad_bytes"], p, bw, lat)
                exposed = t_comm - min(frac * t_comm, t_b)
                effs.append(t_c / (t_c + exposed))
            out[f"{net}, {p} ranks"] = {"comm_s": ring_time(one["grad_bytes"], p, bw, 10e-6), "efficiency": effs}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", choices=sorted(MODELS))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--per-round", type=int, default=None)
    ap.add_argument("--only", default="mlp,cnn")
    args = ap.parse_args()
    rounds = args.rounds or (3 if args.quick else 11)
    per_round = args.per_round or (3 if args.quick else 5)
    if args.child:
        child(args.child, rounds, per_round)
        return
    results = {"machine": {"cpus": os.cpu_count(), "numpy": np.__version__, "blas_threads_per_rank": 1}}
    rows = []
    for name in args.only.split(","):
        one = run_config(name, 1, rounds, per_round)
        two = run_config(name, 2, rounds, per_round)
        est = estimate(one, two)
        results[name] = {"1 rank": one, "2 ranks": two, "estimate": est}
        rows.append((name, one, two, est))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "distributed.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(table(rows))
    print(f"wrote {path}")


def table(rows) -> str:
    ms = 1e3
    lines = [
        "| model | ranks | grad MB | compute ms | DDP step ms | no-overlap step ms | Allreduce ms | hidden ms | "
        "wait ms | Allreduce GB/s | 1M float32 GB/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, one, two, _ in rows:
        for r in (one, two):
            ar = r.get("allreduce")
            cells = [
                name,
                str(r["ranks"]),
                f"{r['grad_bytes'] / 1e6:.2f}",
                f"{r['compute'] * ms:.1f}",
                f"{r['ddp'] * ms:.1f}",
                f"{r['sequential'] * ms:.1f}",
                f"{ar * ms:.2f}" if ar else "-",
                f"{max(0.0, ar - r['wait']) * ms:.2f}" if ar else "-",
                f"{r['wait'] * ms:.2f}" if ar else "-",
                f"{r['grad_bytes'] / ar / 1e9:.2f}" if ar else "-",
                f"{4 * 2**20 / r['allreduce_1m'] / 1e9:.2f}" if ar else "-",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Estimated weak-scaling efficiency (latency 5-20 us per hop):", ""]
    head = "| model | hidden fraction | " + " | ".join(f"{net}, {p}" for net in NETWORKS for p in RANKS) + " |"
    lines += [head, "|" + "---|" * (2 + len(NETWORKS) * len(RANKS))]
    for name, _, _, est in rows:
        cells = [name, f"{est['hidden_fraction']:.2f}"]
        for net in NETWORKS:
            for p in RANKS:
                lo, hi = sorted(est[f"{net}, {p} ranks"]["efficiency"])
                cells.append(f"{lo:.0%}-{hi:.0%}" if round(lo, 2) != round(hi, 2) else f"{lo:.0%}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
