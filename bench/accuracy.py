"""The full accuracy runs behind the README's table: the `chainrule train` commands, three seeds each.

    python bench/accuracy.py            # writes bench/results/accuracy.json and prints the table
    python bench/accuracy.py --only "mnist1d gru" --jobs 2   # some runs, two processes at once
    python bench/report.py --readme README.md   # puts both tables into the README

Each run is a separate `chainrule train` process (one BLAS thread); its test
accuracy is read back from the run's history.json, its time and peak memory
from the operating system.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))

RUNS = {
    "digits": (
        "--dataset digits --hidden 512 --dropout 0.3 --scheduler cosine --epochs 60",
        0.98,
        "scikit-learn's MLPClassifier (100, 100): 97.8%",
    ),
    "mnist1d": (
        "--dataset mnist1d --hidden 512,512 --dropout 0.2 --scheduler cosine --epochs 100",
        0.68,
        "the dataset authors' MLP, as published: 68%; scikit-learn's MLPClassifier: about 61%",
    ),
    "fashion-mnist": (
        "--dataset fashion-mnist --hidden 512,512 --dropout 0.2 --scheduler cosine --epochs 10",
        0.89,
        "",
    ),
    "fashion-mnist cnn": (
        "--dataset fashion-mnist --model cnn",
        0.925,
        "a PyTorch CNN of the same convolutions (no batch norm, 10 epochs) measured here: 91.95%",
    ),
    "mnist1d cnn": ("--dataset mnist1d --model cnn", 0.94, "the dataset authors' CNN, as published: 94%"),
    "mnist1d gru": ("--dataset mnist1d --model gru", 0.91, "the dataset authors' GRU, as published: 91%"),
}
SEEDS = (0, 1, 2)


def run(args: str, seed: int, workdir: str) -> dict:
    out = os.path.join(workdir, f"{abs(hash(args))}-{seed}")
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "chainrule"),
        "train",
        *shlex.split(args),
        "--seed",
        str(seed),
        "--out",
        out,
        "--quiet",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    t0 = time.perf_counter()
    err_path = out + ".stderr"
    with open(err_path, "w") as err:
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own time and peak memory (runs may overlap)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        with open(err_path) as f:
            raise SystemExit(f"{' '.join(cmd)} failed: {f.read().strip()}")
    with open(os.path.join(out, "history.json")) as f:
        acc = json.load(f)["epochs"][-1]["val_accuracy"]
    return {
        "seed": seed,
        "test_accuracy": acc,
        "wall_seconds": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_seconds": usage.ru_utime,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="comma-separated run names (default all): " + ", ".join(RUNS))
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (each is one process, one BLAS thread)")
    parser.add_argument("--results", default=os.path.join(HERE, "results", "accuracy.json"), help="the JSON to update")
    opts = parser.parse_args()
    names = list(RUNS) if opts.only is None else [n.strip() for n in opts.only.split(",")]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise SystemExit(f"unknown run(s) {unknown}; choose from {list(RUNS)}")
    path = opts.results
    results = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": {}}
    if opts.only is not None and os.path.exists(path):  # the other runs keep their last results
        with open(path) as f:
            results["runs"] = json.load(f).get("runs", {})
    with tempfile.TemporaryDirectory() as work, ThreadPoolExecutor(opts.jobs) as pool:
        for name in names:
            args, target, peer = RUNS[name]
            rs = list(pool.map(lambda s, a=args: run(a, s, work), SEEDS))
            results["runs"][name] = {
                "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": f"chainrule train {args} --seed S",
                "target": target,
                "peer": peer,
                "seeds": rs,
            }
            print(name, [f"{r['test_accuracy']:.2%}" for r in rs], flush=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    sys.path.insert(0, HERE)
    from report import accuracy_table

    print(accuracy_table(results))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
