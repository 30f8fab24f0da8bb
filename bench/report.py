"""Turn bench/results/latest.json into the Markdown tables of the README.

python bench/report.py [results.json] [--readme README.md]   # print; with --readme, replace its table
python bench/report.py bench/results/before_after.json [--readme README.md]  # bench/before_after.py's tables
python bench/report.py bench/results/nets.json [--readme README.md]  # bench/nets.py's table
"""

from __future__ import annotations

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _r(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def _targets(res) -> list[tuple]:
    """(target, measured, met, what stands in the way when missed) for each target of the 1-thread run."""
    one = res["by_threads"].get("1", {})
    out = []
    mlp = one.get("mlp")
    if mlp:
        s, a = mlp["sgd"], mlp["adam"]
        why_pt = ""
        if "floor_torch" in s:
            why_pt = (
                f"NumPy's eight matrix products alone take {s['floor'] / s['pytorch']:.2f}x PyTorch's whole "
                f"step: PyTorch's BLAS runs them {s['floor'] / s['floor_torch']:.2f}x faster than NumPy's"
            )
        why_adam = (
            f"the Adam update costs {a['chainrule'] - s['chainrule']:.2f} ms in chainrule against "
            f"{a['pytorch'] - s['pytorch']:.2f} ms in PyTorch (Adam step minus SGD step), but the rest "
            f"is the SGD step, {s['chainrule'] / s['pytorch']:.2f}x PyTorch's"
        )
        why_floor = (
            f"a hand-written NumPy step is {s['numpy'] / s['floor']:.2f}x the floor (bias, ReLU, loss and "
            f"update are passes NumPy cannot fuse into the products); chainrule is "
            f"{s['chainrule'] / s['numpy']:.2f}x that step"
        )
        out.append(
            (
                "MLP SGD step <= 0.85 x PyTorch",
                f"{s['chainrule'] / s['pytorch']:.3f}",
                s["chainrule"] / s["pytorch"] <= 0.85,
                why_pt,
            )
        )
        out.append(
            (
                "MLP SGD step <= 1.15 x the GEMM floor",
                f"{s['chainrule'] / s['floor']:.3f}",
                s["chainrule"] / s["floor"] <= 1.15,
                why_floor,
            )
        )
        out.append(
            (
                "MLP Adam step <= 0.75 x PyTorch",
                f"{a['chainrule'] / a['pytorch']:.3f}",
                a["chainrule"] / a["pytorch"] <= 0.75,
                why_adam,
            )
        )
    x = one.get("xor")
    if x:
        why_xor = (
            f"a hand-written NumPy step takes {x['numpy']:.0f} µs; the other {x['chainrule'] - x['numpy']:.0f} µs of "
            f"chainrule's {x['chainrule']:.0f} µs are Python overhead, about {(x['chainrule'] - x['numpy']) / 5:.0f} "
            "µs per graph node (5 nodes) for recording, the backward walk and the update"
        )
        out.append(
            (
                "tiny XOR step <= 0.5 x PyTorch",
                f"{x['chainrule'] / x['pytorch']:.3f}",
                x["chainrule"] / x["pytorch"] <= 0.5,
                why_xor,
            )
        )
    sc = one.get("scaling")
    if sc:
        per = [v["us_per_node"] for v in sc["chain"].values()]
        flat = max(per) / min(per)
        out.append(("backward time per node flat, 10^3..10^6 (within 1.5x)", f"{flat:.2f}x", flat <= 1.5, ""))
        big = sc["chain"].get("1000000")
        if big:
            out.append(("10^6-node chain backward < 5 s", f"{big['seconds']:.2f} s", big["seconds"] < 5, ""))
    mem = one.get("memory")
    if mem and "growth" in mem:
        out.append(
            (
                f"RSS after {mem['steps']:,} steps within 5% of after 100",
                f"{mem['growth']:+.1%}",
                abs(mem["growth"]) <= 0.05,
                "",
            )
        )
    ep = one.get("epoch")
    if ep and "chainrule" in ep and "pytorch" in ep and "training_peak_rss_mb" in ep["chainrule"]:
        c, t = ep["chainrule"]["training_peak_rss_mb"], ep["pytorch"]["training_peak_rss_mb"]
        out.append(("peak training memory <= PyTorch's", f"{c:.0f} MB vs {t:.0f} MB", c <= t, ""))
    return out


def report(res: dict) -> str:
    m = res["machine"]
    blas = m.get("blas")
    kern = (
        ", ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')})" for b in blas)
        if isinstance(blas, list)
        else str(blas)
    )
    lines = [
        f"Measured {res['when']} on {m.get('cpu', '?')} ({m.get('cpus')} cores), Python {m['python']}, "
        f"NumPy {m['numpy']}, PyTorch {m.get('torch', '-')}, scikit-learn {m.get('sklearn', '-')}; "
        f"BLAS: {kern}"
        + (f"; OMP_WAIT_POLICY={m['omp_wait_policy']}" if m.get("omp_wait_policy") else "")
        + ". Medians of interleaved rounds; lower is better; ratios are chainrule / peer."
        + (" (quick run)" if res.get("quick") else ""),
        "",
    ]
    for n, r in res["by_threads"].items():
        if "mlp" in r:
            lines += [
                f"**MLP 784-512-512-10, batch 128, float32, one training step, {n} thread{'s' * (n != '1')}** (ms)",
                "",
                "| step | chainrule | PyTorch | scikit-learn | NumPy by hand | GEMM floor | vs PyTorch | "
                "vs scikit-learn | vs NumPy | vs floor |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for opt, d in r["mlp"].items():
                c = d["chainrule"]
                lines.append(
                    f"| {opt.upper() if opt == 'sgd' else 'Adam'} | {c:.2f} | {d['pytorch']:.2f} | "
                    f"{d.get('sklearn', 0):.2f} | {d['numpy']:.2f} | {d['floor']:.2f} | "
                    f"{_r(c, d['pytorch'])} | {_r(c, d.get('sklearn'))} | {_r(c, d['numpy'])} | "
                    f"{_r(c, d['floor'])} |"
                )
            lines.append("")
            floors = [(opt, d) for opt, d in r["mlp"].items() if "floor_torch" in d]
            if floors:
                lines.append(
                    "Each library's own floor: the eight matrix products alone take "
                    + "; ".join(
                        f"{d['floor']:.2f} ms in NumPy and {d['floor_torch']:.2f} ms in PyTorch "
                        f"({'SGD' if opt == 'sgd' else 'Adam'} run), so the "
                        f"{'SGD' if opt == 'sgd' else 'Adam'} step is "
                        f"{d['chainrule'] / d['floor']:.2f}x NumPy's floor in chainrule and "
                        f"{d['pytorch'] / d['floor_torch']:.2f}x PyTorch's floor in PyTorch"
                        for opt, d in floors
                    )
                    + "."
                )
                lines.append("")
        if "xor" in r:
            x = r["xor"]
            lines += [
                f"**Tiny 2-2-1 sigmoid XOR network, one step, {n} thread{'s' * (n != '1')}** (µs)",
                "",
                "| chainrule | PyTorch | NumPy by hand | vs PyTorch | vs NumPy | chainrule with detect_anomaly |",
                "|---|---|---|---|---|---|",
                f"| {x['chainrule']:.1f} | {x['pytorch']:.1f} | {x['numpy']:.1f} | "
                f"{_r(x['chainrule'], x['pytorch'])} | {_r(x['chainrule'], x['numpy'])} | "
                f"{x['chainrule_anomaly_on']:.1f} |",
                "",
            ]
            if "anomaly_off_cost_us" in x:
                lines += [
                    f"With anomaly detection off its checks cost {x['anomaly_off_cost_us'] * 1000:.0f} ns per "
                    f"step ({x['anomaly_off_cost_us'] / x['chainrule']:.2%} of it): one flag test per node.",
                    "",
                ]
        if "scaling" in r:
            sc = r["scaling"]
            lines += [
                "**Backward pass, time per node** (1 thread)",
                "",
                "| graph | nodes | backward | µs per node |",
                "|---|---|---|---|",
            ]
            for k, v in sc["chain"].items():
                lines.append(f"| chain | {int(k):,} | {v['seconds']:.3f} s | {v['us_per_node']:.2f} |")
            for k, v in sc["tree"].items():
                lines.append(
                    f"| balanced sum tree | {int(k):,} leaves | {v['seconds']:.3f} s | {v['us_per_node']:.2f} |"
                )
            lines.append("")
        if "epoch" in r:
            ep = r["epoch"]
            c = ep.get("chainrule", {})
            lines += [
                f"**Fashion-MNIST, 60,000 images, 784-512-512-10, Adam, batch 128, {n} thread"
                f"{'s' * (n != '1')}** (whole epochs, {c.get('epochs', '?')} epoch(s))",
                "",
                "| library | seconds per epoch | test accuracy | RSS before training | peak RSS in training "
                "| chainrule time ratio |",
                "|---|---|---|---|---|---|",
            ]
            for lib in ("chainrule", "pytorch", "sklearn"):
                e = ep.get(lib, {})
                if "error" in e or not e:
                    lines.append(f"| {lib} | - | - | - | {e.get('error', 'not run')} |")
                    continue
                lines.append(
                    f"| {lib} | {e['seconds_per_epoch']:.2f} | {e['test_accuracy']:.2%} | "
                    f"{e['rss_before_training_mb']:.0f} MB | {e['training_peak_rss_mb']:.0f} MB | "
                    f"{_r(c.get('seconds_per_epoch'), e['seconds_per_epoch'])} |"
                )
            lines.append("")
        if "memory" in r:
            mm = r["memory"]
            if "growth" in mm:
                end_rss = mm[f"rss_after_{mm['steps']}_mb"]
                lines += [
                    f"**Memory over a long run** (MLP, Adam, 1 thread): RSS {mm['rss_after_100_mb']:.1f} MB "
                    f"after 100 steps, {end_rss:.1f} MB after {mm['steps']:,} ({mm['growth']:+.2%}); "
                    f"{mm['minor_page_faults_per_step']:.1f} minor page faults per step.",
                    "",
                ]
    t = _targets(res)
    if t:
        lines += ["**Targets** (1 thread)", "", "| target | measured | | what stands in the way |", "|---|---|---|---|"]
        lines += [
            f"| {row[0]} | {row[1]} | {'met' if row[2] else 'missed'} | {row[3] if not row[2] else ''} |" for row in t
        ]
    return "\n".join(lines)


ACC_START, ACC_END = "<!-- accuracy:start -->", "<!-- accuracy:end -->"


def accuracy_table(acc: dict) -> str:
    lines = [
        "Measured by `python bench/accuracy.py` (one BLAS thread per run; the machine has 2 cores and was shared "
        "with other work, several runs at once for the newer rows, so times vary from row to row; peak memory is "
        "the whole process's, data set included).",
        "",
        "| data set | command (seed S) | test accuracy, seeds 0 / 1 / 2 | target | time per run | peak memory "
        "| measured |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in acc["runs"].items():
        accs = [s["test_accuracy"] for s in r["seeds"]]
        ok = "met" if all(a >= r["target"] for a in accs) else "missed"
        wall = sorted(s["wall_seconds"] for s in r["seeds"])[len(accs) // 2]
        mem = max(s["peak_rss_mb"] for s in r["seeds"])
        target = f"{r['target']:.0%}" if round(r["target"] * 100, 6).is_integer() else f"{r['target']:.1%}"
        lines.append(
            f"| {name} | `{r['command']}` | {' / '.join(f'{a:.2%}' for a in accs)} | "
            f">= {target} ({ok}) | {wall:.1f} s | {mem:.0f} MB | {r.get('when', acc['when'])} |"
        )
    peers = [f"{n}: {r['peer']}" for n, r in acc["runs"].items() if r.get("peer")]
    if peers:
        lines += ["", "For comparison: " + "; ".join(peers) + "."]
    return "\n".join(lines)


ABL_START, ABL_END = "<!-- ablation:start -->", "<!-- ablation:end -->"


def ablation_table(res: dict) -> str:
    s, a = res["steps"]["sgd"], res["steps"]["adam"]
    base_s, base_a = s["as shipped"], a["as shipped"]
    lines = [
        f"Measured {res['when']} by `python bench/ablation.py` (1 thread; medians of interleaved rounds; "
        "ratio = variant / as shipped, so a ratio above 1 is what that choice saves).",
        "",
        "| MLP step with one choice undone | SGD (ms) | ratio | Adam (ms) | ratio |",
        "|---|---|---|---|---|",
    ]
    for v in s:
        lines.append(f"| {v} | {s[v]:.2f} | {s[v] / base_s:.2f} | {a[v]:.2f} | {a[v] / base_a:.2f} |")
    return "\n".join(lines)


NETS_START, NETS_END = "<!-- nets:start -->", "<!-- nets:end -->"
NETS_TARGETS = {"cnn_pytorch": 0.85, "cnn_floor": 1.3, "rnn_pytorch": 1.0}


def _nets_targets(res) -> list[tuple]:
    """(target, measured, met, what stands in the way when missed) for issue 12's targets, 1 thread."""
    one = res["by_threads"].get("1", {})
    out = []
    cnn = one.get("cnn", {})
    for opt, d in cnn.items():
        name = "SGD" if opt == "sgd" else "Adam"
        c, t, f = d["chainrule"], d["pytorch"], d["floor"]
        if opt == "sgd":
            why = (
                f"the matrix products alone take {f:.1f} ms ({f / t:.2f}x PyTorch's step), chainrule's step "
                f"{c - f:.1f} ms more{_parts(one.get('cnn_breakdown'))}"
            )
        else:
            s = cnn.get("sgd", {})
            why = (
                f"Adam step minus SGD step, same rounds: chainrule {c - s.get('chainrule', 0):.1f} ms, PyTorch "
                f"{t - s.get('pytorch', 0):.1f} ms; the rest is the SGD step's (above)"
            )
        out.append(
            (
                f"CNN {name} step <= {NETS_TARGETS['cnn_pytorch']} x PyTorch",
                f"{c / t:.2f}",
                c / t <= NETS_TARGETS["cnn_pytorch"],
                why,
            )
        )
        out.append(
            (
                f"CNN {name} step <= {NETS_TARGETS['cnn_floor']} x its GEMM floor",
                f"{c / f:.2f}",
                c / f <= NETS_TARGETS["cnn_floor"],
                f"{c - f:.1f} ms of the {c:.1f} ms step are not matrix products (see the breakdown above)",
            )
        )
    for kind in ("gru", "lstm"):
        d = one.get(kind)
        if d:
            c, t, f = d["chainrule"], d["pytorch"], d["floor"]
            out.append(
                (
                    f"{kind.upper()} step <= {NETS_TARGETS['rnn_pytorch']} x PyTorch",
                    f"{c / t:.2f}",
                    c / t <= NETS_TARGETS["rnn_pytorch"],
                    f"the matrix products alone take {f:.1f} ms of chainrule's {c:.1f} ms"
                    + _top(one.get(f"{kind}_breakdown")),
                )
            )
    mem = res.get("memory", {})
    c, t = mem.get("chainrule", {}), mem.get("pytorch", {})
    if "peak_above_baseline_mb" in c and "peak_above_baseline_mb" in t:
        a, b = c["peak_above_baseline_mb"], t["peak_above_baseline_mb"]
        out.append(
            (
                "CNN training peak memory <= PyTorch's",
                f"{a:.0f} MB vs {b:.0f} MB ({a / b:.2f}x)",
                a <= b,
                "",
            )
        )
    return out


def _parts(b) -> str:
    """The breakdown of chainrule's SGD step (1 thread), grouped by layer kind, as a clause."""
    if not b:
        return ""
    groups = {
        "Conv2d + ReLU + MaxPool2d fused": "ConvReluPoolOp",
        "convolutions": "ConvOp",
        "max pooling": "MaxPoolOp",
        "ReLU": "ReLUOp",
        "Linear": "LinearOp",
    }
    sums = {g: sum(v for k, v in b.items() if k.split(".")[0] == cls) for g, cls in groups.items()}
    text = ", ".join(f"{g} {v:.1f} ms" for g, v in sums.items() if v >= 0.05)
    return f"; forward + backward by layer kind (breakdown above): {text}, matrix products included"


def _top(b, k=3) -> str:
    """The ``k`` largest parts of a step's breakdown, as a clause."""
    if not b:
        return ""
    parts = sorted(((n, v) for n, v in b.items() if n != "total"), key=lambda kv: -kv[1])[:k]
    return "; largest parts of the step timed alone: " + ", ".join(f"{n} {v:.1f} ms" for n, v in parts)


def nets_table(res: dict) -> str:
    """The README's table of bench/nets.py: CNN, GRU and LSTM steps beside PyTorch, peak memory, targets."""
    m = res["machine"]
    lines = [
        f"Measured {res['when']} by `python bench/nets.py`{' --quick' if res.get('quick') else ''} on "
        f"{m.get('cpu', '?')} ({m.get('cpus')} cores, shared with other work), NumPy {m['numpy']}, PyTorch "
        f"{m.get('torch', '-')}. Float32, batch 128, one training step; medians of {res['rounds']} interleaved "
        f"rounds of {res['per_round']} step(s); lower is better; ratios are chainrule / the other."
        + (
            f" The machine's 1-minute load average was {res['load_average_before']:.1f} before the timings and "
            f"{res['load_average_after_timing']:.1f} after them (about 1 of it this benchmark, the rest other "
            "jobs on the 2 cores)."
            if "load_average_before" in res
            else ""
        ),
        "",
        "| step | threads | chainrule (ms) | PyTorch (ms) | GEMM floor (ms) | vs PyTorch | vs floor | chainrule, "
        "fusion off (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = {"sgd": "CNN, SGD", "adam": "CNN, Adam", "gru": "GRU + Linear, SGD", "lstm": "LSTM + Linear, SGD"}
    for n, r in res["by_threads"].items():
        rows = [(k, d) for k, d in r.get("cnn", {}).items()] + [(k, r[k]) for k in ("gru", "lstm") if k in r]
        for k, d in rows:
            c = d["chainrule"]
            unfused = d.get("chainrule_unfused")
            lines.append(
                f"| {names[k]} | {n} | {c:.1f} | {d['pytorch']:.1f} | {d['floor']:.1f} | "
                f"{_r(c, d['pytorch'])} | {_r(c, d['floor'])} | "
                + ("-" if unfused is None else f"{unfused:.1f} ({_r(unfused, d['pytorch'])} PyTorch)")
                + " |"
            )
    mem = res.get("memory")
    if mem:
        lines += [
            "",
            "| CNN training, SGD, 1 thread, own process | data | batches | RSS before training | peak RSS in "
            "training | peak above before | ms per step |",
            "|---|---|---|---|---|---|---|",
        ]
        for lib in ("chainrule", "pytorch"):
            e = mem.get(lib, {})
            if "error" in e or not e:
                lines.append(f"| {lib} | {e.get('error', 'not run')} | | | | | |")
                continue
            part = "" if e["steps"] == e["steps_per_epoch"] else f" (of {e['steps_per_epoch']}: part of the epoch)"
            lines.append(
                f"| {lib} | {e['data']}, {e['samples']:,} images | {e['steps']}{part} | "
                f"{e['rss_before_training_mb']:.0f} MB | {e['training_peak_rss_mb']:.0f} MB | "
                f"{e['peak_above_baseline_mb']:.0f} MB | {e['seconds_per_step'] * 1e3:.1f} |"
            )
    b = res["by_threads"].get("1", {}).get("cnn_breakdown")
    if b:
        total = b["total"]
        lines += [
            "",
            f"Where chainrule's CNN SGD step goes (1 thread; each node's forward and vjp timed in the step, "
            f"medians of a few steps, {total:.1f} ms in all with the timers on):",
            "",
            "| part | ms | share |",
            "|---|---|---|",
        ]
        for k, v in sorted(((k, v) for k, v in b.items() if k != "total"), key=lambda kv: -kv[1]):
            if v >= 0.05 * total / 100:
                lines.append(f"| {k} | {v:.1f} | {v / total:.0%} |")
    t = _nets_targets(res)
    if t:
        lines += ["", "| target (issue 12, 1 thread) | measured | | what stands in the way |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {'met' if ok else 'missed'} | {why if not ok else ''} |" for a, b, ok, why in t]
    return "\n".join(lines)


BA_START, BA_END = "<!-- before_after:start -->", "<!-- before_after:end -->"
STEP_LIMIT = 1.03  # before_after: a step within 3% of before (or faster)
FLAT_LIMIT = 1.5  # before_after: per-node backward time, slowest / fastest chain length


def before_after_table(res: dict) -> str:
    """The tables of bench/before_after.py: steps, per-node backward and ablation, before and after."""
    summ, trees = res["summary"], res["trees"]

    def tree(label):
        t = trees[label]
        ref = f"{t['commit'][:7]}{' + changes' if t.get('dirty') else ''}" if t.get("commit") else "?"
        return f"{label}: {t['src']} ({ref})"

    def paired(d):
        if d.get("paired_ratio") is None:
            return "-"
        return f"{d['paired_ratio']:.3f} ({d['paired_min']:.2f}..{d['paired_max']:.2f})"

    lines = [
        f"Measured {res['when']} by `python bench/before_after.py`{' --quick' if res.get('quick') else ''}: "
        f"{tree('before')}; {tree('after')}. One BLAS thread; each figure is the median over "
        f"{res['rounds']} rounds of one child process per tree, the trees' children alternating"
        + ("; each child's heap layout perturbed by a seed per round. " if res.get("heap_jitter") else ". ")
        + "after / before: the ratio of the medians; paired: the median (and range) of the ratio within each round.",
        "",
    ]
    steps = [
        ("mlp_sgd_ms", "MLP SGD step (ms)"),
        ("mlp_adam_ms", "MLP Adam step (ms)"),
        ("xor_us", "tiny XOR step (µs)"),
    ]
    if any(q in summ for q, _ in steps):
        lines += [
            "| workload | before | after | after / before | paired | within 3% or faster |",
            "|---|---|---|---|---|---|",
        ]
        for q, name in steps:
            d = summ.get(q)
            if d:
                ok = "yes" if d["ratio"] <= STEP_LIMIT else "no"
                lines.append(
                    f"| {name} | {d['before']:.2f} | {d['after']:.2f} | {d['ratio']:.3f} | {paired(d)} | {ok} |"
                )
        lines.append("")
    chain = sorted(
        (int(q.split("_")[1]), d) for q, d in summ.items() if q.startswith("chain_") and q.endswith("_us_per_node")
    )
    if chain:
        lines += [
            "| chain backward, nodes | before (µs per node) | after (µs per node) | after / before | paired |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {n:,} | {d['before']:.2f} | {d['after']:.2f} | {d['ratio']:.3f} | {paired(d)} |" for n, d in chain
        ]
        flat, verdict = {}, {}
        for label in ("before", "after"):
            per = [d[label] for _, d in chain]
            flat[label] = max(per) / min(per)
            verdict[label] = "yes" if flat[label] <= FLAT_LIMIT else "no"
        lines += [
            f"| slowest / fastest length | {flat['before']:.2f}x | {flat['after']:.2f}x | | |",
            "",
            f"Per-node backward time flat (slowest / fastest length within {FLAT_LIMIT}x): before "
            f"{verdict['before']}, after {verdict['after']}.",
            "",
        ]
    abl = [q for q in summ if q.startswith("ablation/")]
    if abl:
        opts = ("sgd", "adam")
        variants = [q.split("/", 2)[2] for q in abl if q.startswith("ablation/sgd/")]
        lines += [
            "| MLP step with one choice undone | SGD before (ms) | ratio | SGD after (ms) | ratio | after / before "
            "| Adam before (ms) | ratio | Adam after (ms) | ratio | after / before |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        base = {o: summ.get(f"ablation/{o}/as shipped") for o in opts}
        for v in variants:
            cells = [v]
            for o in opts:
                d, b = summ.get(f"ablation/{o}/{v}"), base[o]
                if d is None or b is None:
                    cells += ["-"] * 5
                    continue
                cells += [
                    f"{d['before']:.2f}",
                    f"{d['before'] / b['before']:.2f}",
                    f"{d['after']:.2f}",
                    f"{d['after'] / b['after']:.2f}",
                    f"{d['ratio']:.3f}",
                ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "ratio: the variant / that tree's step as shipped (above 1: what the choice saves); "
            "after / before: the variant in the new tree / in the old.",
        ]
        for label, failed in (res.get("variants_left_out") or {}).items():
            lines.append(f"Left out in {label}: " + "; ".join(f"{v} ({e})" for v, e in failed.items()))
    if res.get("errors"):
        lines += ["", "Children that failed: " + "; ".join(res["errors"])]
    return "\n".join(lines)


def _replace(body: str, start: str, end: str, text: str, readme: str) -> str:
    if start not in body:
        raise SystemExit(f"{readme} has no {start} ... {end} block")
    head, rest = body.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + "\n" + text + "\n" + end + tail


def main():
    import argparse

    ap = argparse.ArgumentParser(description="Markdown tables from the benchmark results")
    ap.add_argument("results", nargs="?", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--readme", default=None, help="replace the tables between the markers in this file")
    opts = ap.parse_args()
    path = opts.results
    with open(path) as f:
        res = json.load(f)
    kinds = {"before_after": (before_after_table, BA_START, BA_END), "nets": (nets_table, NETS_START, NETS_END)}
    if res.get("kind") in kinds:  # bench/before_after.py's or bench/nets.py's results: their README block
        table, start, end = kinds[res["kind"]]
        text = table(res)
        if opts.readme:
            with open(opts.readme) as f:
                body = _replace(f.read(), start, end, text, opts.readme)
            with open(opts.readme, "w") as f:
                f.write(body)
            print(f"updated {opts.readme}")
        else:
            print(text)
        return
    text = report(res)
    if opts.readme:
        readme = opts.readme
        with open(readme) as f:
            body = f.read()
        body = _replace(body, START, END, text, readme)
        acc_path = os.path.join(HERE, "results", "accuracy.json")
        if os.path.exists(acc_path):
            with open(acc_path) as f:
                body = _replace(body, ACC_START, ACC_END, accuracy_table(json.load(f)), readme)
        abl_path = os.path.join(HERE, "results", "ablation.json")
        if os.path.exists(abl_path) and ABL_START in body:
            with open(abl_path) as f:
                body = _replace(body, ABL_START, ABL_END, ablation_table(json.load(f)), readme)
        nets_path = os.path.join(HERE, "results", "nets.json")
        if os.path.exists(nets_path) and NETS_START in body:
            with open(nets_path) as f:
                body = _replace(body, NETS_START, NETS_END, nets_table(json.load(f)), readme)
        with open(readme, "w") as f:
            f.write(body)
        print(f"updated {readme}")
    else:
        print(text)


if __name__ == "__main__":
    main()
