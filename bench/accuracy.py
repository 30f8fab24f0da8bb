"""The full accuracy runs behind the README's table: the `chainrule train` commands, three seeds each.

    python bench/accuracy.py            # writes bench/results/accuracy.json and prints the table
    python bench/report.py --readme README.md   # puts both tables into the README

Each run is a separate `chainrule train` process (one BLAS thread); its test
accuracy is read back from the run's history.json, its time and peak memory
from the operating system.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time

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
        "the dataset authors' MLP: 68%; scikit-learn's MLPClassifier: about 61%",
    ),
    "fashion-mnist": (
        "--dataset fashion-mnist --hidden 512,512 --dropout 0.2 --scheduler cosine --epochs 10",
        0.89,
        "",
    ),
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
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    with open(os.path.join(out, "history.json")) as f:
        acc = json.load(f)["epochs"][-1]["val_accuracy"]
    return {
        "seed": seed,
        "test_accuracy": acc,
        "wall_seconds": wall,
        "peak_rss_mb": after.ru_maxrss / 1024,
        "cpu_seconds": after.ru_utime - before.ru_utime,
    }


def main():
    results = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": {}}
    with tempfile.TemporaryDirectory() as work:
        for name, (args, target, peer) in RUNS.items():
            rs = [run(args, s, work) for s in SEEDS]
            results["runs"][name] = {
                "command": f"chainrule train {args} --seed S",
                "target": target,
                "peer": peer,
                "seeds": rs,
            }
            print(name, [f"{r['test_accuracy']:.2%}" for r in rs], flush=True)
    path = os.path.join(HERE, "results", "accuracy.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    sys.path.insert(0, HERE)
    from report import accuracy_table

    print(accuracy_table(results))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
