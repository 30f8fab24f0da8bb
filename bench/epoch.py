"""Child process for bench/run.py: one library per process, so peak memory is its own.

    python bench/epoch.py epoch {chainrule,pytorch,sklearn} EPOCHS   # Fashion-MNIST, 784-512-512-10, Adam
    python bench/epoch.py growth chainrule STEPS                     # RSS after 100 steps vs after STEPS

Prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np


def rss_mb() -> float:
    """Current resident set size (not the peak), from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_mb() -> float:
    """This process's peak RSS (VmHWM: per address space, so not inherited from the parent like ru_maxrss)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Restart the peak-RSS count from the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def fashion():
    import chainrule as cr

    d = cr.datasets.fashion_mnist()
    return d.X_train, d.y_train, d.X_test, d.y_test


def epoch(lib: str, epochs: int) -> dict:
    X, y, Xt, yt = fashion()
    if lib == "pytorch":
        import torch  # noqa: F401 - import before the count starts, as the others import theirs
    elif lib == "sklearn":
        import sklearn.neural_network  # noqa: F401
    base = rss_mb()
    load_peak = peak_mb()
    reset_peak()
    rng = np.random.default_rng(0)
    bs = 128
    if lib == "chainrule":
        import chainrule as cr

        cr.manual_seed(0)
        model = cr.nn.Sequential(
            cr.nn.Linear(784, 512), cr.nn.ReLU(), cr.nn.Linear(512, 512), cr.nn.ReLU(), cr.nn.Linear(512, 10)
        )
        opt = cr.optim.Adam(model.parameters(), lr=1e-3)
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = rng.permutation(len(X))
            for i in range(0, len(X), bs):
                idx = order[i : i + bs]
                opt.zero_grad()
                cr.nn.functional.cross_entropy(model(cr.as_tensor(X[idx])), y[idx]).backward()
                opt.step()
        dt = time.perf_counter() - t0
        with cr.no_grad():
            acc = float((model(cr.as_tensor(Xt)).numpy().argmax(1) == yt).mean())
    elif lib == "pytorch":
        import torch

        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(784, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, 10),
        )
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        tX, ty = torch.from_numpy(X), torch.from_numpy(y)
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(len(X)))
            for i in range(0, len(X), bs):
                idx = order[i : i + bs]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(tX[idx]), ty[idx]).backward()
                opt.step()
        dt = time.perf_counter() - t0
        with torch.no_grad():
            acc = float((model(torch.from_numpy(Xt)).argmax(1).numpy() == yt).mean())
    elif lib == "sklearn":
        import warnings

        from sklearn.neural_network import MLPClassifier

        clf = MLPClassifier(
            hidden_layer_sizes=(512, 512),
            solver="adam",
            learning_rate_init=1e-3,
            batch_size=bs,
            max_iter=epochs,
            alpha=0.0,
            shuffle=True,
            random_state=0,
            n_iter_no_change=10**6,
            tol=0.0,
        )
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "max_iter reached": intended
            clf.fit(X, y)
        dt = time.perf_counter() - t0
        acc = float((clf.predict(Xt) == yt).mean())
    else:
        raise SystemExit(f"unknown library {lib}")
    return {
        "lib": lib,
        "epochs": epochs,
        "seconds_per_epoch": dt / epochs,
        "test_accuracy": acc,
        "training_peak_rss_mb": peak_mb(),
        "rss_before_training_mb": base,
        "loading_peak_rss_mb": load_peak,
    }


def growth(steps: int) -> dict:
    import chainrule as cr

    rng = np.random.default_rng(0)
    X = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    model = cr.nn.Sequential(
        cr.nn.Linear(784, 512), cr.nn.ReLU(), cr.nn.Linear(512, 512), cr.nn.ReLU(), cr.nn.Linear(512, 10)
    )
    opt = cr.optim.Adam(model.parameters(), lr=1e-4)
    xb = cr.tensor(X)
    out = {}
    for s in range(1, steps + 1):
        opt.zero_grad()
        cr.nn.functional.cross_entropy(model(xb), y).backward()
        opt.step()
        if s == 100:
            out["rss_after_100_mb"] = rss_mb()
    out["steps"] = steps
    out[f"rss_after_{steps}_mb"] = rss_mb()
    out["growth"] = out[f"rss_after_{steps}_mb"] / out["rss_after_100_mb"] - 1
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(100):
        opt.zero_grad()
        cr.nn.functional.cross_entropy(model(xb), y).backward()
        opt.step()
    out["minor_page_faults_per_step"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0) / 100
    return out


if __name__ == "__main__":
    what, lib, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(epoch(lib, n) if what == "epoch" else growth(n)))
