"""The ``chainrule`` command: train and evaluate MLPs on real data sets, explain gradients.

Argument parsing and printing only: runs (their configuration, models, data, loading) are
``chainrule.runs``; training is ``chainrule.train``.

chainrule train --dataset digits --hidden 256,256 --epochs 40 --out runs/digits
chainrule train --dataset digits --epochs 40 --nproc 2      (2 ranks on this machine, through mpiexec)
chainrule evaluate runs/digits
chainrule sweep --dataset digits --trials 20 --param lr=log:1e-4:1e-2 --workers 2
chainrule explain seed003
chainrule graph shopping -o graph.svg
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from .errors import ArgumentError, ChainruleError
from .runs import ACTIVATIONS, DATASETS, MODELS, OPTIMIZERS, SCHEDULERS

EXAMPLES = ("shopping", "neuron", "seed003")  # chainrule.explain.EXAMPLES (a test keeps the two equal)
GRAPH_FORMATS = ("dot", "gv", "svg", "png", "pdf")
DATA_ROOT_HELP = (
    "where to find or cache downloaded data sets (default: Debian's dataset-fashion-mnist directory when "
    "installed, then $CHAINRULE_DATA or ~/.cache/chainrule)"
)


class _Help(argparse.HelpFormatter):
    """Help that states each option's default: "(default: X)" after the text, unless the text already says
    it or there is none to state (flags, and options whose default is chosen per model and data set, which
    their text describes)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument gives one line on stderr and exit status 2, and help states defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _number(convert, ok, what):
    """An argparse type: ``convert`` the text, and accept it only if ``ok(value)``; else say ``what`` is expected."""

    def parse(s):
        try:
            v = convert(s)
        except ValueError:
            v = None
        if v is None or not ok(v):
            raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}")
        return v

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_positive_float = _number(float, lambda v: v > 0, "a positive number")
_nonnegative_float = _number(float, lambda v: v >= 0, "a number >= 0")
_fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_nonnegative_int = _number(int, lambda v: v >= 0, "an integer >= 0")


def _hidden(s):
    if s.strip() in ("", "none", "0"):
        return []
    try:
        sizes = [int(p) for p in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes like 512,512, got {s!r}") from None
    if any(v < 1 for v in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {s!r}")
    return sizes


def _sweep_param(s):
    from .sweep import parse_param

    try:
        return parse_param(s)
    except ArgumentError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(f"--param {s!r}: ")) from None


def _pruner(s):
    from .sweep import parse_pruner

    try:
        return parse_pruner(s)
    except ArgumentError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--pruner: ")) from None


def _directory(s):
    if not s.strip():
        raise argparse.ArgumentTypeError("expected a directory, got an empty name; leave --out out for runs/DATASET")
    return s


def _graph_file(s):
    ext = os.path.splitext(s)[1].lstrip(".").lower()
    if ext not in GRAPH_FORMATS:
        raise argparse.ArgumentTypeError(f"expected a file ending in .{', .'.join(GRAPH_FORMATS)}, got {s!r}")
    return s


def _version() -> str:
    return sys.modules[__package__].__version__


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="chainrule", description="Backpropagation you can see, at the speed of BLAS.")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser(
        "train",
        help="train an MLP, CNN, GRU or LSTM on a data set",
        description="Train a classifier. Settings not given take defaults chosen per --model and --dataset "
        '(python -c \'import chainrule.runs as r; print(r.model_defaults("cnn", "fashion-mnist"))\').',
    )
    t.add_argument("--dataset", choices=DATASETS, default=None, help="the data (required unless --config gives it)")
    t.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="start from the settings of a config.json (a run's, or a sweep's best_config.json); "
        "flags given override them (default: none)",
    )
    t.add_argument("--model", choices=MODELS, default=None, help="the network (default mlp)")
    t.add_argument("--hidden", type=_hidden, default=None, help="hidden layer sizes, e.g. 512,512 (default 128)")
    t.add_argument(
        "--channels",
        type=_hidden,
        default=None,
        help="--model cnn: convolution channels, e.g. 32,64 (default per data)",
    )
    t.add_argument("--activation", choices=ACTIVATIONS, default=None, help="(default relu)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="(default adam)")
    t.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default 1e-3; per model and data)")
    t.add_argument("--momentum", type=_fraction, default=None, help="for --optimizer momentum/nesterov (default 0.9)")
    t.add_argument(
        "--weight-decay",
        type=_nonnegative_float,
        default=None,
        help="L2 penalty (default 0; 0.01 for adamw, decoupled)",
    )
    t.add_argument("--dropout", type=_fraction, default=None, help="dropout rate (default 0; 0.25 for image CNNs)")
    t.add_argument(
        "--batch-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="batch normalisation after each hidden Linear or convolution (default: on for image CNNs)",
    )
    t.add_argument("--batch-size", type=_positive_int, default=None, help="(default 128)")
    t.add_argument("--epochs", type=_positive_int, default=None, help="(default 10; per model and data)")
    t.add_argument("--scheduler", choices=SCHEDULERS, default=None, help="(default none; cosine for CNNs and RNNs)")
    t.add_argument("--label-smoothing", type=_fraction, default=None, help="(default 0)")
    t.add_argument("--seed", type=_nonnegative_int, default=None, help="(default 0)")
    t.add_argument(
        "--out",
        type=_directory,
        default=None,
        help="directory for model.npz, history.json, plots (default runs/DATASET)",
    )
    again = t.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    again.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --out (its files are removed first)"
    )
    t.add_argument("--plot", action="store_true", help="also record per-layer diagnostics and plot them")
    t.add_argument("--data-root", default=None, help=DATA_ROOT_HELP)
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch table")
    t.add_argument(
        "--nproc",
        type=_positive_int,
        default=1,
        help="train data-parallel on N processes of this machine, launched with mpiexec (extra 'mpi'); "
        "--batch-size is per process. On a cluster, start 'chainrule train ...' with mpiexec or srun instead",
    )

    _add_sweep_parser(sub)

    e = sub.add_parser("evaluate", help="re-load a trained model and score it on the test split")
    e.add_argument("dir", help="a directory written by 'chainrule train'")
    e.add_argument("--data-root", default=None, help=DATA_ROOT_HELP)

    x = sub.add_parser("explain", help="write out a gradient as its chain of local derivatives")
    x.add_argument("example", nargs="?", default=None, choices=EXAMPLES, help="shopping, neuron or seed003")
    x.add_argument("--format", choices=("text", "markdown", "html"), default="text", help="how the trace is written")
    x.add_argument("--output", "-o", default=None, help="write to this file (default: standard output)")
    x.add_argument(
        "--model", default=None, help="a directory written by 'chainrule train' (default: none; name an example)"
    )
    x.add_argument("--sample", type=_nonnegative_int, default=0, help="with --model: which test sample (default 0)")
    x.add_argument("--data-root", default=None, help=DATA_ROOT_HELP)

    o = sub.add_parser(
        "export",
        help="write a trained model as an ONNX file",
        description="Write the model of a run as ONNX (needs pip install 'chainrule[onnx]'): input 'input' of shape "
        "(batch, n_features), the flat samples of the data set; output 'output', the raw class scores.",
    )
    o.add_argument("dir", help="a directory written by 'chainrule train'")
    o.add_argument("--format", choices=("onnx",), default="onnx", help="the file format (onnx)")
    o.add_argument("-o", "--output", required=True, help="the file to write, e.g. model.onnx")
    o.add_argument("--opset", type=_positive_int, default=17, help="the ONNX operator set (default 17)")

    g = sub.add_parser("graph", help="draw the computational graph of an example")
    g.add_argument("example", choices=EXAMPLES, help="shopping, neuron or seed003")
    g.add_argument("-o", "--output", required=True, type=_graph_file, help="file to write: .dot, .svg, .png or .pdf")
    return p


def _add_sweep_parser(sub) -> None:
    w = sub.add_parser(
        "sweep",
        help="search hyper-parameters with Optuna: trials of 'chainrule train', on workers that share a study",
        description="Search hyper-parameters: each trial trains with values sampled from the --param ranges "
        "(NAME=log:LOW:HIGH, float:LOW:HIGH, int:LOW:HIGH or choice:A,B,C; NAME a RunConfig setting such as "
        "lr, weight_decay, dropout, batch_size, hidden (choice:256,512x512), optimizer). Needs "
        "pip install 'chainrule[sweep]'.",
    )
    w.add_argument("--dataset", choices=DATASETS, default=None, help="the data (required unless --join)")
    w.add_argument("--trials", type=_positive_int, default=None, help="trials in the study (default 20)")
    w.add_argument(
        "--param",
        type=_sweep_param,
        action="append",
        default=None,
        metavar="NAME=KIND:...",
        help="a setting to vary (repeatable; default: none)",
    )
    w.add_argument(
        "--workers",
        type=_nonnegative_int,
        default=1,
        help="worker processes on this machine (default 1; 0: none, only create the study or print its results)",
    )
    w.add_argument("--out", type=_directory, default=None, help="the sweep's directory (default runs/sweep-DATASET)")
    w.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="where the study lives: sqlite:///FILE, postgresql://USER@HOST:PORT/DB, or a journal file "
        "(default OUT/study.journal)",
    )
    w.add_argument("--study", default=None, metavar="NAME", help="the study's name (default: the --out folder's)")
    w.add_argument(
        "--join",
        default=None,
        metavar="URL",
        help="work on the study NAME in URL (started elsewhere; default: none, a new sweep)",
    )
    w.add_argument("--model", choices=MODELS, default=None, help="the network (default mlp)")
    w.add_argument("--epochs", type=_positive_int, default=None, help="epochs per trial (default per model and data)")
    w.add_argument(
        "--metric",
        choices=("val_accuracy", "val_loss", "accuracy", "loss"),
        default=None,
        help="what each epoch reports to the pruner and what the best trial is chosen by (default val_accuracy)",
    )
    w.add_argument("--pruner", type=_pruner, default=None, help="median (default), none, or threshold:X")
    w.add_argument("--warmup-epochs", type=_positive_int, default=None, help="no pruning before this epoch (default 1)")
    w.add_argument(
        "--seed", type=_nonnegative_int, default=None, help="every trial's seed, and the sampler's (default 0)"
    )
    w.add_argument("--data-root", default=None, help=DATA_ROOT_HELP)
    w.add_argument("--quiet", action="store_true", help="no line per trial")
    w.add_argument("--worker-index", type=_nonnegative_int, default=None, help=argparse.SUPPRESS)
    w.add_argument("--no-results", action="store_true", help=argparse.SUPPRESS)


#: what a sweep's creator sets and a worker joining it takes from the study
_SWEEP_SETTINGS = ("dataset", "trials", "param", "storage", "model", "epochs", "metric", "pruner", "warmup_epochs")


def _sweep_usage_error(args) -> str | None:
    """What is wrong with the sweep command's arguments taken together (None if nothing)."""
    if args.join is not None:
        given = [n for n in _SWEEP_SETTINGS if getattr(args, n) is not None]
        if given:
            flags = ", ".join("--" + n.replace("_", "-") for n in given)
            return f"sweep --join: {flags}: a joining worker takes the sweep's settings from the study; leave them out"
        return None
    if args.worker_index is not None:
        return "sweep: --worker-index is for workers started with --join"
    if args.dataset is None:
        return "sweep: the following arguments are required: --dataset (or --join URL --study NAME)"
    if not args.param:
        return "sweep: give at least one --param NAME=KIND:..., e.g. --param lr=log:1e-4:1e-2"
    names = [p.name for p in args.param]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        return f"sweep: --param {', '.join(twice)} given more than once"
    return None


# ----------------------------------------------------------------------------- commands
def _base_config(args) -> dict | None:
    """The settings of ``--config FILE`` (None without it); fills in ``args.dataset`` and ``args.seed``."""
    from .runs import RunConfig

    base = None
    if args.config is not None:
        base = RunConfig.from_json(args.config).to_dict() if os.path.isfile(args.config) else None
        if base is None:
            raise ArgumentError(f"--config {args.config}: no such file; give a config.json or best_config.json")
    if args.dataset is None:
        if base is None:
            where = f"; --resume found no run in {args.out} (no config.json)" if args.resume and args.out else ""
            raise ArgumentError(f"give --dataset (or --config FILE with the settings of a run){where}")
        args.dataset = base["dataset"]
    if args.seed is None:
        args.seed = 0 if base is None else base["seed"]
    return base


def _run_config(args, data, base=None):
    """The run configuration the train command's arguments describe (``data`` gives the shapes): the flags
    given over ``base`` (the settings of --config) or, without it, over the defaults per model and data."""
    from .runs import make_run_config

    given = {
        "hidden": args.hidden,
        "channels": args.channels,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "scheduler": args.scheduler,
        "dropout": args.dropout,
        "batch_norm": args.batch_norm,
        "activation": args.activation,
        "seed": args.seed,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "label_smoothing": args.label_smoothing,
    }
    return make_run_config(args.dataset, data, model=args.model, base=base, **given)


def _table(quiet: bool):
    """A callback that prints the per-epoch table (nothing when ``quiet``, or on ranks other than 0)."""
    from .train import Callback

    class Table(Callback):
        def on_train_begin(self, trainer):
            if not quiet:
                print(f"{'epoch':>5}  {'loss':>8}  {'acc':>7}  {'test loss':>9}  {'test acc':>8}  {'time':>6}")

        def on_epoch_end(self, trainer, r):
            if not quiet:
                print(
                    f"{r['epoch']:>5}  {r['loss']:>8.4f}  {r['accuracy']:>7.2%}  {r['val_loss']:>9.4f}  "
                    f"{r['val_accuracy']:>8.2%}  {r['time']:>5.2f}s",
                    flush=True,
                )

    return Table()


def _print_header(config, data, n_par: int) -> None:
    print(
        f"chainrule train: {config.dataset} ({len(data.X_train)} train / {len(data.X_test)} test, "
        f"{data.X_train.shape[1]} features, {data.n_classes} classes)"
    )
    hidden = "-".join(map(str, config.hidden))
    if config.model == "mlp":
        shape = f"{config.n_features}-{hidden}{'-' if config.hidden else ''}{config.n_classes} MLP"
    elif config.model == "cnn":
        shape = f"CNN, channels {'-'.join(map(str, config.channels))}, dense {hidden or '-'}"
    else:
        shape = f"{config.model.upper()}, hidden {hidden}"
    print(
        f"model: {shape}, {config.activation}, {n_par:,} parameters; {config.optimizer} lr {config.lr}, "
        f"batch {config.batch_size}, {config.epochs} epochs, seed {config.seed}"
    )


def _existing_run(out: str, resume: bool, overwrite: bool) -> list[str]:
    """The files of a run already in ``out`` that ``--overwrite`` is to replace; refuse to train into a
    directory that holds a run unless told to continue it (``--resume``) or to replace it."""
    from .runs import RUN_FILES

    if os.path.exists(out) and not os.path.isdir(out):
        raise ArgumentError(f"--out {out} is a file, not a directory; choose another --out")
    present = [name for name in RUN_FILES if os.path.isfile(os.path.join(out, name))]
    if not present or resume:
        return []
    if not overwrite:
        raise ArgumentError(
            f"{out} already holds a run ({', '.join(present)}); continue it with --resume, replace it with "
            "--overwrite, or choose another --out"
        )
    return present


def _launch(argv: list[str], nproc: int) -> int:
    """Run this same command on ``nproc`` ranks with mpiexec (without --nproc); returns its exit status."""
    import subprocess

    from .distributed import find_mpiexec

    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            rest.append(a)
    env = dict(os.environ)
    if not any(v in env for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")):
        # the ranks share this machine's cores: one BLAS pool each would oversubscribe them
        threads = str(max(1, (os.cpu_count() or 1) // nproc))
        env.update(OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    cmd = [find_mpiexec(), "-n", str(nproc), sys.executable, "-m", "chainrule.cli", *rest]
    return subprocess.run(cmd, env=env).returncode


def _resumed_settings(args) -> dict | None:
    """With ``--resume --out DIR`` and no ``--config``: the settings of the run in DIR (None if it has none),
    so that they need not be typed again; flags given must agree with them (``runs.check_resume``)."""
    from .runs import saved_config

    if not args.resume or args.config is not None or args.out is None:
        return None
    saved = saved_config(args.out)
    if saved is None:
        return None
    base = saved.to_dict()
    args.dataset = base["dataset"] if args.dataset is None else args.dataset
    args.seed = base["seed"] if args.seed is None else args.seed
    return base


def cmd_train(args) -> int:
    from . import runs
    from .distributed import is_main, launched_size

    if args.nproc > 1 and launched_size() == 1:
        return _launch(args.argv, args.nproc)
    quiet = args.quiet or not is_main()  # on several ranks, rank 0 prints
    base = _resumed_settings(args) or _base_config(args)
    out = os.path.join("runs", args.dataset) if args.out is None else args.out
    replaced = _existing_run(out, args.resume, args.overwrite)
    data = runs.load_dataset(args.dataset, args.seed, args.data_root)
    config = _run_config(args, data, base)
    if config.batch_norm and config.batch_size < 2:
        raise ArgumentError("--batch-norm needs --batch-size 2 or more: a batch's statistics need two samples")
    if args.resume and runs.check_resume(config, out) is None and is_main():
        sys.stderr.write(f"chainrule train: --resume: there is no run in {out} yet; starting a new one\n")
    run = runs.TrainingRun(config, data, out)
    if is_main():
        for name in replaced:  # only now that the new run is built: a run that cannot start loses nothing
            os.remove(os.path.join(out, name))
    finished = runs.finished_run(out, config.epochs) if args.resume else None
    if finished is not None and is_main():
        print(
            f"chainrule train: the run in {out} has already {finished}; nothing left to train (a larger "
            "--epochs trains it further, where its schedule allows)"
        )
    elif not quiet:
        _print_header(config, data, run.model.num_parameters())
    history = run.train(
        callbacks=[_table(quiet or finished is not None)],
        resume=args.resume,
        progress=False if quiet else None,
        diagnostics=args.plot,
    )
    if not is_main():
        return 0
    final = run.evaluate()
    plot_note = ""
    try:
        history.plot(run.path("training.png"), val_label="test")
        plot_note = f", {run.path('training.png')}"
    except ImportError:
        plot_note = " (no plot: pip install 'chainrule[plot]' for training.png)"
    if args.plot and not args.quiet:
        print("per-layer diagnostics (gradient norm, update/weight ratio, fraction of dead ReLUs):")
        print(history.diagnostics())
    print(f"test accuracy {final['accuracy']:.2%}  (test loss {final['loss']:.4f})")
    print(f"wrote {run.path('model.npz')}, {run.path('history.json')}{plot_note}")
    return 0


def cmd_sweep(args) -> int:
    from . import sweep as sw

    if args.join is not None:
        sweep = sw.load_sweep(sw.storage_url(args.join), args.study)
        out = sweep.settings.out if args.out is None else os.path.abspath(args.out)
        index = args.worker_index
    else:
        out = os.path.abspath(os.path.join("runs", f"sweep-{args.dataset}") if args.out is None else args.out)
        settings = sw.SweepSettings(
            dataset=args.dataset,
            params=[p.text for p in args.param],
            trials=20 if args.trials is None else args.trials,
            out=out,
            model=args.model or "mlp",
            epochs=args.epochs,
            seed=args.seed or 0,
            metric=args.metric or "val_accuracy",
            pruner=args.pruner or "median",
            warmup_epochs=args.warmup_epochs or 1,
            data_root=args.data_root,
        )
        url = sw.storage_url(args.storage or os.path.join(out, sw.JOURNAL_NAME))
        sweep = sw.create_sweep(settings, url, args.study or os.path.basename(out))
        index = 0
    name, where = sweep.study.study_name, sweep.url.removeprefix("journal:")
    if not args.no_results and not args.quiet:
        s = sweep.settings
        print(
            f"chainrule sweep: study {name!r} in {where}: {s.trials} trials of {s.model} on {s.dataset}, "
            f"{s.metric} ({sweep.settings.direction}), pruner {s.pruner}; {args.workers} worker(s) here"
        )
        print(f"  more workers, from any machine that reaches it: chainrule sweep --join {where} --study {name}")
    failed = 0
    if args.workers == 1:
        sw.work(sweep, out, worker_index=index, quiet=args.quiet)
    elif args.workers > 1:
        failed = sw.run_workers(sweep.url, name, args.workers, out=out, quiet=args.quiet, seeded=args.join is None)
    if args.no_results:
        return 0
    res = sw.write_results(sweep, out)
    print(sw.format_table(res["rows"], sweep.settings))
    running = sum(r["state"] in ("RUNNING", "WAITING") for r in res["rows"])
    if running:
        print(
            f"{running} trial(s) still running or waiting on other workers; for the final table later: "
            f"chainrule sweep --join {where} --study {name} --workers 0"
        )
    print(f"wrote {os.path.join(out, 'results.csv')}, {os.path.join(out, 'results.json')}")
    best = res["best"]
    if best is None:
        print("no trial completed: no best configuration")
    else:
        shown = ", ".join(f"{s.name}={sw.show(best[s.name])}" for s in sweep.settings.specs)
        print(f"best: trial {best['trial']}, {sweep.settings.metric} {best[sweep.settings.metric]:.4f} ({shown})")
        print(f"train it: chainrule train --config {res['best_config']} --out runs/best")
    if failed:
        sys.stderr.write(f"chainrule sweep: {failed} worker process(es) failed; see their errors above\n")
        return 1
    return 0


def cmd_evaluate(args) -> int:
    from .runs import load_dataset, load_run, training_loss
    from .train import evaluate

    config, model = load_run(args.dir)
    data = load_dataset(config.dataset, config.seed, args.data_root)
    res = evaluate(model, training_loss(config), (data.X_test, data.y_test))
    print(
        f"{config.dataset}: test accuracy {res['accuracy']:.2%}  (test loss {res['loss']:.4f}, "
        f"{len(data.X_test)} samples)"
    )
    return 0


def cmd_explain(args) -> int:
    from . import explain as ex
    from .runs import load_dataset, load_run, training_loss

    if args.model:
        config, model = load_run(args.model)
        data = load_dataset(config.dataset, config.seed, args.data_root)
        if not 0 <= args.sample < len(data.X_test):
            raise ArgumentError(f"--sample must be in 0..{len(data.X_test) - 1}, got {args.sample}")

        trace = ex.explain_model(
            model,
            data.X_test[args.sample : args.sample + 1],
            data.y_test[args.sample : args.sample + 1],
            loss_fn=training_loss(config),
        )
    else:
        if args.example is None:
            raise ArgumentError("name an example (shopping, neuron, seed003) or give --model DIR")
        trace = ex.example_trace(args.example)
    text = {"text": trace.to_text, "markdown": trace.to_markdown, "html": trace.to_html}[args.format]()
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0


def cmd_export(args) -> int:
    import numpy as np

    from . import onnx as onnx_export
    from .runs import load_run

    config, model = load_run(args.dir)
    n = config.n_features  # every model of a run takes the flat samples (an image's or signal's values, in order)
    example = np.random.default_rng(0).standard_normal((2, n)).astype(np.float32)
    onnx_export.export(model, example, args.output, opset=args.opset)
    print(
        f"wrote {args.output}: ONNX opset {args.opset}, input 'input' (batch, {n}) float32, "
        f"output 'output' (batch, {config.n_classes}) class scores"
    )
    return 0


def cmd_graph(args) -> int:
    from . import explain as ex

    out = ex.example_graph(args.example, args.output)
    print(f"wrote {out}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare 'chainrule': what it can do
        parser.print_help()
        return 0
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command == "explain" and args.example is None and args.model is None:
        parser.error("explain: name an example (shopping, neuron, seed003) or give --model DIR")
    if args.command == "train" and args.dataset is None and args.config is None and not (args.resume and args.out):
        parser.error("the following arguments are required: --dataset (or --config FILE)")
    if args.command == "sweep" and _sweep_usage_error(args):
        parser.error(_sweep_usage_error(args))
    commands = {"train": cmd_train, "sweep": cmd_sweep, "evaluate": cmd_evaluate}
    commands.update(explain=cmd_explain, graph=cmd_graph, export=cmd_export)
    try:
        return commands[args.command](args)
    except BrokenPipeError:  # e.g. piped into head
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("chainrule: interrupted" + ("; continue with --resume\n" if args.command == "train" else "\n"))
        return 130
    except (ChainruleError, ValueError, OSError, MemoryError) as e:
        sys.stderr.write(f"chainrule {args.command}: error: {_one_line(e)}\n")
        _abort_other_ranks()
        return 1


def _abort_other_ranks() -> None:
    """Under mpiexec with several ranks, end them all (the others may wait for this one in a collective)."""
    from .distributed import abort, launched_size

    if launched_size() > 1:
        abort(1)


def _one_line(e: BaseException) -> str:
    """The first line of an error's message, with what to do for running out of memory or disk."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if isinstance(e, MemoryError) and not isinstance(e, ChainruleError):
        return f"out of memory ({msg}); use smaller sizes (--hidden, --channels, --batch-size)"
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        where = f" writing {e.filename}" if e.filename else ""
        return f"{msg}{where}: the disk (or the file size limit) is full; free space, or choose another --out"
    return msg


if __name__ == "__main__":
    sys.exit(main())
