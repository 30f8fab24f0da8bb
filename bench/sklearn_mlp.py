"""chainrule.sklearn.MLPClassifier against scikit-learn's own MLPClassifier, same settings, one process.

    python bench/sklearn_mlp.py            # digits and Fashion-MNIST (a few minutes)
    python bench/sklearn_mlp.py --quick    # a short check (a subset, few epochs, one seed)

Both estimators get the same data, the same parameters (hidden layers, Adam, learning rate, batch
size, max_iter epochs, early stopping off, a tol and n_iter_no_change that let every epoch run)
and the same random_state, on one BLAS thread (threadpoolctl). For each configuration and seed it
times ``fit`` (the two estimators one after the other, so both meet the same machine load) and
scores the test split; the table gives the mean test accuracy of each, the median fit time and the
median over seeds of the fit-time ratio (chainrule / scikit-learn). Times are the process's CPU
seconds (``time.process_time``; with one BLAS thread, wall time on an idle machine): on a shared
machine they move less than wall-clock time, which the JSON keeps as well. Two input dtypes: float64
(what scikit-learn's loaders and scalers give; scikit-learn then computes in float64 and
chainrule in float32, its default ``dtype``) and float32 (scikit-learn then computes in float32
too). Results go to bench/results/sklearn_mlp.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import time
import warnings

import numpy as np

RESULTS = pathlib.Path(__file__).parent / "results" / "sklearn_mlp.json"


def load(name: str, quick: bool):
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    import chainrule as cr

    d = cr.datasets.fashion_mnist()
    X, y, Xt, yt = d.X_train, d.y_train, d.X_test, d.y_test
    if quick:
        X, y, Xt, yt = X[:10000], y[:10000], Xt[:2000], yt[:2000]
    return X.astype(np.float64), Xt.astype(np.float64), y, yt


#: (data set, hidden layers, epochs, epochs with --quick)
CONFIGS = [
    ("digits", (100,), 100, 30),
    ("digits", (256,), 100, 30),
    ("fashion-mnist", (256,), 10, 2),
]


def settings(hidden, epochs: int, seed: int) -> dict:
    return dict(
        hidden_layer_sizes=hidden,
        solver="adam",
        learning_rate_init=1e-3,
        batch_size=200,
        max_iter=epochs,
        early_stopping=False,
        tol=0.0,
        n_iter_no_change=epochs + 1,  # no early stop on the training loss: every epoch runs
        random_state=seed,
    )


def run_one(cls, params, X, y, Xt, yt) -> dict:
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is reached on purpose
        t0, c0 = time.perf_counter(), time.process_time()
        est.fit(X, y)
        fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    return {"fit_s": fit_s, "cpu_s": cpu_s, "accuracy": float(est.score(Xt, yt)), "n_iter": int(est.n_iter_)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a short check: subsets, few epochs, one seed")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per configuration (default 3, 1 with --quick)")
    ap.add_argument("--datasets", default="digits,fashion-mnist")
    ap.add_argument("--dtypes", default="float64,float32", help="input dtypes to run")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results/sklearn_mlp.json")
    args = ap.parse_args(argv)
    from sklearn.neural_network import MLPClassifier as SkMLP
    from threadpoolctl import threadpool_limits

    from chainrule.sklearn import MLPClassifier as CrMLP

    n_seeds = args.seeds or (1 if args.quick else 3)
    out = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": platform.processor() or platform.machine(),
        "blas_threads": 1,
        "quick": args.quick,
        "rows": [],
    }
    rows = []
    with threadpool_limits(limits=1):
        wanted = args.datasets.split(",")
        data = {}
        for name, hidden, epochs, quick_epochs in CONFIGS:
            if name not in wanted:
                continue
            if name not in data:
                data[name] = load(name, args.quick)
            X, Xt, y, yt = data[name]
            epochs = quick_epochs if args.quick else epochs
            for dtype in args.dtypes.split(","):
                Xd, Xtd = X.astype(dtype), Xt.astype(dtype)
                warm = settings(hidden, 1, 0)
                run_one(SkMLP, warm, Xd[:1000], y[:1000], Xtd, yt)  # first calls (imports, caches) are not timed
                run_one(CrMLP, warm, Xd[:1000], y[:1000], Xtd, yt)
                runs = []
                for seed in range(n_seeds):
                    params = settings(hidden, epochs, seed)
                    sk = run_one(SkMLP, params, Xd, y, Xtd, yt)
                    cr = run_one(CrMLP, params, Xd, y, Xtd, yt)
                    runs.append(
                        {
                            "seed": seed,
                            "sklearn": sk,
                            "chainrule": cr,
                            "cpu_ratio": cr["cpu_s"] / sk["cpu_s"],
                            "wall_ratio": cr["fit_s"] / sk["fit_s"],
                        }
                    )
                    print(
                        f"{name} {hidden} X {dtype} seed {seed}: scikit-learn {sk['accuracy']:.4f} in "
                        f"{sk['cpu_s']:.2f} s CPU ({sk['fit_s']:.2f} s wall), chainrule {cr['accuracy']:.4f} in "
                        f"{cr['cpu_s']:.2f} s CPU ({cr['fit_s']:.2f} s wall): ratio {runs[-1]['cpu_ratio']:.2f}",
                        flush=True,
                    )
                rows.append(
                    {
                        "dataset": name,
                        "input_dtype": dtype,
                        "n_train": int(X.shape[0]),
                        "n_test": int(Xt.shape[0]),
                        "hidden_layer_sizes": list(hidden),
                        "epochs": epochs,
                        "batch_size": params["batch_size"],
                        "seeds": n_seeds,
                        "sklearn_accuracy": statistics.mean(r["sklearn"]["accuracy"] for r in runs),
                        "chainrule_accuracy": statistics.mean(r["chainrule"]["accuracy"] for r in runs),
                        "sklearn_cpu_s": statistics.median(r["sklearn"]["cpu_s"] for r in runs),
                        "chainrule_cpu_s": statistics.median(r["chainrule"]["cpu_s"] for r in runs),
                        "cpu_ratio_median": statistics.median(r["cpu_ratio"] for r in runs),
                        "wall_ratio_median": statistics.median(r["wall_ratio"] for r in runs),
                        "runs": runs,
                    }
                )
    out["rows"] = rows
    print()
    print(table(rows))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=1) + "\n")
        print(f"\nwritten to {RESULTS}")
    return out


def table(rows) -> str:
    lines = [
        "| data set | X dtype | train / test | hidden | epochs | seeds | accuracy scikit-learn | accuracy chainrule "
        "| fit scikit-learn | fit chainrule | time ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        net = ",".join(str(s) for s in r["hidden_layer_sizes"])
        lines.append(
            f"| {r['dataset']} | {r['input_dtype']} | {r['n_train']} / {r['n_test']} | {net} | {r['epochs']} "
            f"| {r['seeds']} | {100 * r['sklearn_accuracy']:.2f}% | {100 * r['chainrule_accuracy']:.2f}% "
            f"| {r['sklearn_cpu_s']:.2f} s | {r['chainrule_cpu_s']:.2f} s | {r['cpu_ratio_median']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
