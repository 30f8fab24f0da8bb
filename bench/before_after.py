"""Before and after: chainrule's own workloads on two source trees, in alternating child processes.

    python bench/before_after.py --before ../old/src            # this repository's src as "after" (~8 min)
    python bench/before_after.py --before ../old/src --quick    # fewer rounds, chains up to 10^5 (~1 min)
    python bench/before_after.py --before A/src --after B/src --only steps,chain

Both trees define the package ``chainrule``, so this process imports neither: every measurement
runs in a fresh child process whose PYTHONPATH is one tree's ``src`` (the child checks that each
``chainrule`` module it loaded came from that tree). The children are launched round-robin, one
at a time: in each round, every workload runs once per tree, the trees taking turns to go first,
so that the machine's noise falls on both alike. The workloads are this repository's definitions
(bench/run.py, bench/ablation.py), the same code for both trees, chainrule only:

``steps``     the MLP 784-512-512-10 SGD and Adam steps (ms) and the tiny XOR step (µs), timed as
              bench/run.py times them (warm-up, then interleaved rounds; the child reports medians)
``chain``     backward time per node of chains of 10^3 .. 10^6 nodes (bench/run.py's scaling part:
              the child reports the fastest of its repeats per length)
``ablation``  bench/ablation.py's variants of the MLP step (those that run in both trees)

Alternating the children evens out the machine's noise, but not a bias each tree carries in every
process: where its arrays land in memory. The heap's layout follows from the sequence of allocations,
which differs between the trees and repeats in every process of one tree, and the step times of
large arrays depend on it by several percent (the same NumPy code, the Adam update, measured 6%
apart with one layout and equal with another). So each child first makes a few padding allocations,
their sizes drawn from a seed that changes every round and is the same for both trees of a round:
the medians are then over layouts too (``--no-jitter`` turns this off).

Per tree the table gives the median over rounds of the children's figures; "after / before" is the
ratio of those medians, "paired" the median over rounds of the ratio within each round (both
children of a round ran side by side in time). One BLAS thread. Results go to
bench/results/before_after.json; ``python bench/report.py bench/results/before_after.json`` prints
the tables again. Nothing is asserted: the verdicts (3% on the steps, flat per-node backward) are
printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_SRC = os.path.normpath(os.path.join(HERE, "..", "src"))

# full run / --quick: rounds of children, and what each child does
SETTINGS = {
    "full": {
        "rounds": 10,
        "steps": {"rounds": 15, "per_round": 10},
        "chain": {"sizes": [10**3, 10**4, 10**5, 10**6], "reps": {"1000000": 1}, "default_reps": 5},
        "ablation": {"rounds": 5, "per_round": 5},
    },
    "quick": {
        "rounds": 3,
        "steps": {"rounds": 7, "per_round": 5},
        "chain": {"sizes": [10**3, 10**4, 10**5], "reps": {}, "default_reps": 3},
        "ablation": {"rounds": 3, "per_round": 3},
    },
}
KINDS = ("steps", "chain", "ablation")


# ============================================================================ child side
def _jitter_heap(seed: int) -> list:
    """Allocate (and free some of) a seeded set of arrays and lists, moving where later arrays land."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pads = [np.ones(int(rng.integers(1, 400_000)), np.uint8) for _ in range(int(rng.integers(1, 24)))]
    del pads[:: int(rng.integers(2, 4))]  # holes in the heap
    return pads + [[0] * int(rng.integers(1, 2000)) for _ in range(int(rng.integers(1, 200)))]


def _child(kind: str, tree: str, params: dict) -> dict:
    """Run one workload on the chainrule found on PYTHONPATH (which must be ``tree``)."""
    t0 = time.perf_counter()
    saved_path = list(sys.path)
    import chainrule  # first, from PYTHONPATH: bench/run.py and bench/ablation.py would put REPO_SRC first

    sys.path.insert(0, HERE)
    import numpy as np
    import run
    from threadpoolctl import threadpool_limits

    out: dict = {}
    pads = _jitter_heap(params["seed"]) if params.get("seed") is not None else None
    with threadpool_limits(1):
        if kind == "info":
            info = run.machine_info()
            info.pop("omp_wait_policy", None)
            out = {"machine": info}
        elif kind == "steps":
            X, y, ws = run.mlp_data()
            fns = {"mlp_sgd": run.cr_mlp_step("sgd", X, y, ws), "mlp_adam": run.cr_mlp_step("adam", X, y, ws)}
            mlp = run.interleaved(fns, params["rounds"], params["per_round"])
            xor = run.interleaved({"xor": run.cr_xor_step()}, params["rounds"], params["per_round"] * 20)
            out = {"mlp_sgd_ms": mlp["mlp_sgd"] * 1e3, "mlp_adam_ms": mlp["mlp_adam"] * 1e3, "xor_us": xor["xor"] * 1e6}
        elif kind == "chain":
            for n in params["sizes"]:
                reps = params["reps"].get(str(n), params["default_reps"])
                dt = min(run.chain_backward_time(n) for _ in range(reps))
                out[f"chain_{n}_us_per_node"] = dt / n * 1e6
        elif kind == "ablation":
            import ablation

            X, y, ws = run.mlp_data()
            usable, failed = [], {}
            for v in ablation.VARIANTS:  # a variant that cannot be built or run in this tree is left out
                try:
                    for opt_name in ("sgd", "adam"):
                        ablation.make_step(v, opt_name, X, y, ws)()
                    usable.append(v)
                except Exception as e:  # reported below, not hidden
                    failed[v] = f"{type(e).__name__}: {e}"
            steps = ablation.measure(params["rounds"], params["per_round"], usable)
            out = {f"ablation/{opt}/{v}": ms for opt, d in steps.items() for v, ms in d.items()}
            if failed:
                out["_failed"] = failed
        else:
            raise SystemExit(f"unknown workload {kind}")
    del pads
    sys.path[:] = saved_path
    tree_real = os.path.realpath(tree)
    strays = sorted(
        name
        for name, m in sys.modules.items()
        if (name == "chainrule" or name.startswith("chainrule."))
        and getattr(m, "__file__", None)
        and not os.path.realpath(m.__file__).startswith(tree_real + os.sep)
    )
    if strays:
        raise SystemExit(f"chainrule modules loaded from outside {tree}: {strays}")
    out["_chainrule"] = os.path.dirname(os.path.realpath(chainrule.__file__))
    out["_version"] = getattr(chainrule, "__version__", "?")
    out["_numpy"] = np.__version__
    out["_wall_s"] = time.perf_counter() - t0
    return out


# ============================================================================ parent side
def _env(tree: str) -> dict:
    env = dict(os.environ)
    env.update(PYTHONPATH=tree, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("PYTHONSTARTUP", None)
    return env


def run_child(kind: str, tree: str, params: dict, timeout: float = 900) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--tree", tree, "--params", json.dumps(params)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(tree), cwd=HERE, timeout=timeout)
    if r.returncode != 0:
        err = r.stderr.strip().splitlines()
        return {"_error": err[-1] if err else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _git(tree: str) -> dict:
    def git(*args):
        r = subprocess.run(["git", "-C", tree, *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {}
    return {
        "commit": commit,
        "subject": git("log", "-1", "--format=%s"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".")),
    }


def summarize(samples: dict) -> dict:
    """Per quantity: each tree's median over rounds, the ratio of the medians, and the median paired ratio."""
    before, after = samples["before"], samples["after"]
    out = {}
    for q in after:
        if q not in before:
            continue
        b, a = before[q], after[q]
        pairs = [y / x for x, y in zip(b, a) if x is not None and y is not None and x > 0]
        bv = [x for x in b if x is not None]
        av = [y for y in a if y is not None]
        if not bv or not av:
            continue
        mb, ma = statistics.median(bv), statistics.median(av)
        out[q] = {
            "before": mb,
            "after": ma,
            "ratio": ma / mb,
            "paired_ratio": statistics.median(pairs) if pairs else None,
            "paired_min": min(pairs) if pairs else None,
            "paired_max": max(pairs) if pairs else None,
            "rounds": len(pairs),
        }
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="chainrule's workloads on two source trees, in alternating processes")
    ap.add_argument("--before", help="the src folder of the old tree (it holds the package chainrule)")
    ap.add_argument("--after", default=REPO_SRC, help="the src folder of the new tree (default: this repository's)")
    ap.add_argument("--quick", action="store_true", help="3 rounds, shorter children, chains up to 10^5")
    ap.add_argument("--rounds", type=int, default=None, help="rounds of children (default 10, quick 3)")
    ap.add_argument("--only", default=",".join(KINDS), help="workloads: " + ",".join(KINDS))
    ap.add_argument("--no-jitter", action="store_true", help="no padding allocations before each workload")
    ap.add_argument("--seed", type=int, default=0, help="round r's children use layout seed seed + r")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "before_after.json"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    ap.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(_child(args.child, args.tree, json.loads(args.params))))
        return
    if not args.before:
        ap.error("--before is required (the old tree's src folder)")
    trees = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}
    for label, t in trees.items():
        if not os.path.isfile(os.path.join(t, "chainrule", "__init__.py")):
            ap.error(f"--{label} {t}: no chainrule package there")
    cfg = SETTINGS["quick" if args.quick else "full"]
    rounds = args.rounds or cfg["rounds"]
    kinds = [k for k in KINDS if k in set(args.only.split(","))]

    started = time.perf_counter()
    result = {
        "kind": "before_after",
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "quick": args.quick,
        "rounds": rounds,
        "heap_jitter": not args.no_jitter,
        "settings": {k: cfg[k] for k in kinds},
        "trees": {label: {"src": t, **_git(t)} for label, t in trees.items()},
        "samples": {label: {} for label in trees},
        "errors": [],
    }
    for label, t in trees.items():
        info = run_child("info", t, {})
        if "_error" in info:
            raise SystemExit(f"{label} tree {t}: {info['_error']}")
        result["trees"][label]["version"] = info["_version"]
        result["machine"] = info["machine"]

    labels = list(trees)
    for r in range(rounds):
        for j, kind in enumerate(kinds):
            order = labels if (r + j) % 2 == 0 else labels[::-1]  # each tree goes first as often as the other
            params = dict(cfg[kind], seed=None if args.no_jitter else args.seed + r)
            for label in order:
                res = run_child(kind, trees[label], params)
                took = res.pop("_wall_s", None)
                if "_error" in res:
                    result["errors"].append(f"round {r + 1}, {kind}, {label}: {res['_error']}")
                    print(f"round {r + 1}/{rounds} {kind:8s} {label:6s} FAILED: {res['_error']}", file=sys.stderr)
                    continue
                if res.get("_failed"):
                    result.setdefault("variants_left_out", {})[label] = res["_failed"]
                for q, v in res.items():
                    if not q.startswith("_"):
                        result["samples"][label].setdefault(q, [None] * rounds)[r] = v
                print(
                    f"round {r + 1}/{rounds} {kind:8s} {label:6s} {took:6.1f} s "
                    f"(elapsed {time.perf_counter() - started:6.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    result["summary"] = summarize(result["samples"])
    result["wall_s"] = time.perf_counter() - started

    from report import before_after_table

    print(before_after_table(result))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
