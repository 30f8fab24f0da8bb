"""Hyper-parameter sweeps on Optuna: ``chainrule sweep``.

A sweep is an Optuna study whose trials are ``chainrule train`` runs (:class:`chainrule.runs.TrainingRun`),
each with the values its trial samples from the ``--param`` ranges over the sweep's settings. The study lives
in a journal file under the sweep's directory by default, or in a database (``sqlite:///...``,
``postgresql://...``) that workers on other machines join with ``chainrule sweep --join URL --study NAME``:
the sweep's settings are stored in the study itself (its ``user_attrs``), so a worker needs nothing else.

The command that creates the sweep puts its ``--trials N`` trials in the study's queue; workers (``--workers K``
processes on this machine, and any that join) take trials from the queue until it is empty, so the study ends
with exactly N trials however many workers share it. A trial reports the validation metric after every epoch;
the pruner (Optuna's MedianPruner by default) ends trials that fall behind. At the end the results table is
printed and written to ``results.csv`` and ``results.json``, and the best trial's configuration to
``best_config.json``, which ``chainrule train --config DIR/best_config.json`` trains again.

Needs the optional package optuna (``pip install 'chainrule[sweep]'``); a PostgreSQL study also psycopg2
(``chainrule[sweep-postgres]``).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field

from . import io
from .errors import ArgumentError, ChainruleError, missing
from .runs import ACTIVATIONS, DATASETS, MODELS, OPTIMIZERS, SCHEDULERS, RunConfig
from .train import Callback

__all__ = [
    "ParamSpec",
    "SweepSettings",
    "Sweep",
    "parse_param",
    "parse_pruner",
    "storage_url",
    "create_sweep",
    "load_sweep",
    "run_workers",
    "work",
    "PruningReport",
    "results",
    "write_results",
    "format_table",
    "show",
    "METRICS",
    "ATTR",
    "JOURNAL_NAME",
]

METRICS = ("val_accuracy", "val_loss", "accuracy", "loss")
#: the study's user_attr that holds the sweep's settings
ATTR = "chainrule_sweep"
JOURNAL_NAME = "study.journal"
KINDS = ("log", "float", "int", "choice")

_LISTS = ("hidden", "channels")
_WORDS = {"optimizer": OPTIMIZERS, "scheduler": SCHEDULERS, "activation": ACTIVATIONS}
_INTS = ("batch_size", "epochs")
_FLOATS = ("lr", "weight_decay", "dropout", "momentum", "label_smoothing")
_BOOLS = ("batch_norm",)
#: the RunConfig settings a sweep can vary
TUNABLE = _FLOATS + _INTS + _LISTS + tuple(_WORDS) + _BOOLS
_FIXED = ("dataset", "n_features", "n_classes", "model", "seed")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise missing("optuna", "sweep", "chainrule sweep (hyper-parameter search)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ----------------------------------------------------------------------------- what is swept
@dataclass(frozen=True)
class ParamSpec:
    """One ``--param``: a RunConfig setting and the range its values are sampled from.

    ``kind`` is 'log' (log-uniform), 'float' (uniform), 'int' (uniform integers) or 'choice' (one of
    ``choices``, kept as the text given: ``512x512`` is hidden=[512, 512]). ``text`` is the ``--param`` text.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    text: str = ""

    def suggest(self, trial):
        """Sample this setting in an Optuna trial; returns the RunConfig value."""
        if self.kind == "choice":
            return setting_value(self.name, trial.suggest_categorical(self.name, list(self.choices)))
        if self.name in _INTS:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.kind == "log")
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "log")


def setting_value(name: str, text: str):
    """A RunConfig value from its text in a choice: ``512x512`` -> [512, 512] (``none`` or ``0``: no layers)
    for hidden and channels, true/false for batch_norm, numbers for the numeric settings."""
    t = str(text).strip()
    if name in _LISTS:
        if t.lower() in ("none", "0", ""):
            return []
        return [int(p) for p in t.lower().split("x")]
    if name in _BOOLS:
        v = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}
        return v[t.lower()]
    if name in _INTS:
        return int(t)
    if name in _FLOATS:
        return float(t)
    return t


def _check_value(name: str, value, where: str) -> None:
    """Refuse a value RunConfig would refuse (the same checks, on a small configuration)."""
    try:
        RunConfig(dataset="xor", n_features=2, n_classes=2, **{name: value})
    except ArgumentError as e:
        raise ArgumentError(f"--param {where}: {str(e).removeprefix('RunConfig: ')}") from None


def parse_param(text: str) -> ParamSpec:
    """``NAME=log:LOW:HIGH``, ``NAME=float:LOW:HIGH``, ``NAME=int:LOW:HIGH`` or ``NAME=choice:A,B,C``, where
    NAME is a RunConfig setting (:data:`TUNABLE`); raises ArgumentError saying what is wrong."""
    name, eq, spec = str(text).partition("=")
    name = name.strip().replace("-", "_")
    if not eq or not name:
        raise ArgumentError(
            f"--param {text!r}: expected NAME=KIND:..., e.g. lr=log:1e-4:1e-2 or hidden=choice:256,512x512"
        )
    if name in _FIXED:
        raise ArgumentError(
            f"--param {text!r}: {name} is a setting of the whole sweep, not one to vary"
            + ("" if name in ("n_features", "n_classes") else f" (give --{name})")
        )
    if name not in TUNABLE:
        raise ArgumentError(f"--param {text!r}: unknown setting {name!r}; choose one of {', '.join(TUNABLE)}")
    kind, colon, rest = spec.partition(":")
    kind = kind.strip()
    if kind not in KINDS or not colon:
        raise ArgumentError(
            f"--param {text!r}: the range must start with one of {', '.join(k + ':' for k in KINDS)} "
            f"(e.g. {name}=choice:...), got {spec!r}"
        )
    if kind == "choice":
        choices = tuple(c.strip() for c in rest.split(","))
        if not rest.strip() or any(not c for c in choices):
            raise ArgumentError(f"--param {text!r}: expected choice:A,B,C with no empty choice")
        if len(set(choices)) != len(choices):
            raise ArgumentError(f"--param {text!r}: a choice is given twice")
        for c in choices:
            try:
                value = setting_value(name, c)
            except (ValueError, KeyError):
                what = {"hidden": "layer sizes like 512x512", "channels": "channel counts like 32x64"}
                what.update(batch_norm="true or false", batch_size="integers", epochs="integers")
                raise ArgumentError(
                    f"--param {text!r}: {c!r} is not a value of {name} (expected {what.get(name, 'numbers')})"
                ) from None
            _check_value(name, value, repr(text))
        return ParamSpec(name, kind, choices=choices, text=text)
    if name not in _FLOATS + _INTS:
        raise ArgumentError(f"--param {text!r}: {name} takes no range; use {name}=choice:A,B,...")
    parts = rest.split(":")
    convert = int if kind == "int" or name in _INTS else float
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = convert(parts[0]), convert(parts[1])
    except ValueError:
        typ = "integers" if convert is int else "numbers"
        raise ArgumentError(f"--param {text!r}: expected {kind}:LOW:HIGH with LOW and HIGH {typ}") from None
    if kind == "int" and name in _FLOATS:
        raise ArgumentError(f"--param {text!r}: {name} is a number, not an integer; use float: or log:")
    if kind == "float" and name in _INTS:
        raise ArgumentError(f"--param {text!r}: {name} is an integer; use int: or log:")
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ArgumentError(f"--param {text!r}: expected LOW < HIGH, got {low} and {high}")
    if kind == "log" and low <= 0:
        raise ArgumentError(f"--param {text!r}: a log range needs LOW > 0, got {low}")
    _check_value(name, low, repr(text))
    _check_value(name, high, repr(text))
    return ParamSpec(name, kind, float(low) if convert is float else low, high, text=text)


def parse_pruner(text: str):
    """``median``, ``none`` or ``threshold:X`` (end a trial whose metric is worse than X); returns the spec
    as given, or raises ArgumentError."""
    t = str(text).strip()
    if t in ("median", "none"):
        return t
    kind, _, value = t.partition(":")
    if kind == "threshold":
        try:
            if math.isfinite(float(value)):
                return t
        except ValueError:
            pass
    raise ArgumentError(f"--pruner: expected median, none or threshold:X (a metric value), got {text!r}")


@dataclass
class SweepSettings:
    """Everything a worker needs to run a sweep's trials: stored in the study (``user_attrs[ATTR]``)."""

    dataset: str
    params: list[str]
    trials: int
    out: str
    model: str = "mlp"
    epochs: int | None = None
    seed: int = 0
    metric: str = "val_accuracy"
    pruner: str = "median"
    warmup_epochs: int = 1
    data_root: str | None = None
    version: int = 1
    specs: list[ParamSpec] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ArgumentError(f"sweep: unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if self.model not in MODELS:
            raise ArgumentError(f"sweep: unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.metric not in METRICS:
            raise ArgumentError(f"--metric: expected one of {', '.join(METRICS)}, got {self.metric!r}")
        parse_pruner(self.pruner)
        if not self.params:
            raise ArgumentError("sweep: give at least one --param NAME=KIND:..., e.g. --param lr=log:1e-4:1e-2")
        self.specs = [parse_param(p) for p in self.params]
        names = [s.name for s in self.specs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ArgumentError(f"--param: {', '.join(twice)} given more than once")

    @property
    def direction(self) -> str:
        return "maximize" if "acc" in self.metric else "minimize"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("specs")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SweepSettings:
        names = {f.name for f in dataclasses.fields(cls)} - {"specs"}
        return cls(**{k: v for k, v in d.items() if k in names})

    def pruner_object(self):
        optuna = _optuna()
        if self.pruner == "none":
            return optuna.pruners.NopPruner()
        if self.pruner == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=self.warmup_epochs)
        x = float(self.pruner.partition(":")[2])
        bound = {"lower": x} if self.direction == "maximize" else {"upper": x}
        return optuna.pruners.ThresholdPruner(**bound, n_warmup_steps=self.warmup_epochs)


# ----------------------------------------------------------------------------- where the study lives
def storage_url(url_or_path: str) -> str:
    """A storage as Optuna's database URLs (``sqlite:///...``, ``postgresql://...``, ``mysql://...``) or a journal
    file: ``journal:PATH`` or a path (e.g. ``runs/sweep/study.journal``); returns it normalised."""
    s = str(url_or_path).strip()
    if not s:
        raise ArgumentError("--storage/--join: expected a database URL or a journal file, got an empty text")
    if "://" in s:
        return s
    return "journal:" + os.path.abspath(s.removeprefix("journal:"))


def _storage(url: str):
    optuna = _optuna()
    if url.startswith("journal:"):
        path = url[len("journal:") :]
        journal = optuna.storages.journal if hasattr(optuna.storages, "journal") else None
        if journal is not None and hasattr(journal, "JournalFileBackend"):
            return journal.JournalStorage(journal.JournalFileBackend(path))
        return optuna.storages.JournalStorage(optuna.storages.JournalFileStorage(path))  # optuna < 4
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres", "postgresql+psycopg2"):
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise missing("psycopg2-binary", "sweep-postgres", "A sweep in a PostgreSQL database") from None
        # the driver named: SQLAlchemy 2.1 takes a bare postgresql:// for psycopg 3, which chainrule does not install
        url = "postgresql+psycopg2://" + rest
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as e:  # sqlalchemy's errors: a bad URL, a server that does not answer
        raise ChainruleError(f"sweep: cannot open the study's storage {url}: {str(e).splitlines()[0]}") from None


@dataclass
class Sweep:
    """A sweep's study, its settings, and the Optuna storage (and its URL) the study lives in."""

    study: object
    settings: SweepSettings
    storage: object
    url: str


def create_sweep(settings: SweepSettings, storage: str, study_name: str) -> Sweep:
    """Create the study (or continue the one of that name with the same settings) and fill its queue up to
    ``settings.trials`` trials."""
    optuna = _optuna()
    os.makedirs(settings.out, exist_ok=True)
    backend = _storage(storage)
    study = optuna.create_study(
        storage=backend,
        study_name=study_name,
        direction=settings.direction,
        pruner=settings.pruner_object(),
        load_if_exists=True,
    )
    stored = study.user_attrs.get(ATTR)
    mine = settings.to_dict()
    if stored is None:
        study.set_user_attr(ATTR, mine)
    else:
        differ = {k: (stored.get(k), v) for k, v in mine.items() if k not in ("trials", "out") and stored.get(k) != v}
        if differ:
            raise ArgumentError(
                f"sweep: the study {study_name!r} in {storage} already holds a sweep with other settings ("
                + ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in differ.items())
                + "); choose another --study, or join it with --join URL --study NAME"
            )
        study.set_user_attr(ATTR, {**stored, "trials": max(settings.trials, stored["trials"])})
    state = optuna.trial.TrialState
    alive = (state.COMPLETE, state.PRUNED, state.RUNNING, state.WAITING)
    for _ in range(settings.trials - len(study.get_trials(deepcopy=False, states=alive))):
        study.enqueue_trial({})  # parameters left to the sampler, when a worker takes it
    return Sweep(study, settings, backend, storage)


def load_sweep(storage: str, study_name: str | None) -> Sweep:
    """The sweep created by ``chainrule sweep`` (the only study there when no name)."""
    optuna = _optuna()
    if storage.startswith("journal:") and not os.path.isfile(storage[len("journal:") :]):
        raise ArgumentError(
            f"--join {storage.removeprefix('journal:')}: no such journal file; give the study.journal of a sweep "
            "(on a file system this machine shares) or the database URL of its --storage"
        )
    backend = _storage(storage)
    if study_name is None:
        names = optuna.study.get_all_study_names(backend)
        if len(names) != 1:
            raise ArgumentError(
                f"--join {storage}: name the study with --study NAME (there are "
                + (", ".join(names) if names else "no studies")
                + ")"
            )
        study_name = names[0]
    try:
        study = optuna.load_study(study_name=study_name, storage=backend)
    except KeyError:
        names = optuna.study.get_all_study_names(backend)
        raise ArgumentError(
            f"--join: no study {study_name!r} in {storage} (it has {', '.join(names) or 'none'})"
        ) from None
    if ATTR not in study.user_attrs:
        raise ArgumentError(f"--join: the study {study_name!r} in {storage} was not created by 'chainrule sweep'")
    settings = SweepSettings.from_dict(study.user_attrs[ATTR])
    study = optuna.load_study(study_name=study_name, storage=backend, pruner=settings.pruner_object())
    return Sweep(study, settings, backend, storage)


# ----------------------------------------------------------------------------- workers
def run_workers(
    storage: str, study_name: str, workers: int, out: str | None = None, quiet: bool = False, seeded: bool = True
) -> int:
    """Start ``workers`` processes of ``chainrule sweep --join`` on this machine, each with
    max(1, cores // workers) BLAS/OpenMP threads, and wait for them; returns how many failed. With ``seeded``
    (the sweep's creator) worker i's sampler is seeded with seed * 1000 + i; workers that join are unseeded,
    so that they never repeat the creator's workers' samples."""
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
        env[var] = threads
    procs = []
    for i in range(workers):
        cmd = [sys.executable, "-m", "chainrule.cli", "sweep", "--join", storage, "--study", study_name]
        cmd += (["--worker-index", str(i)] if seeded else []) + ["--workers", "1", "--no-results"]
        cmd += (["--out", out] if out else []) + (["--quiet"] if quiet else [])
        procs.append(subprocess.Popen(cmd, env=env))
    try:
        return sum(p.wait() != 0 for p in procs)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        raise


@contextlib.contextmanager
def _claim_lock(url: str):
    """For SQLite, a lock file next to the database around taking a trial: SQLite ignores the row lock
    (SELECT ... FOR UPDATE) that makes it atomic in PostgreSQL and MySQL, and two workers could take the same
    trial. (A journal file has a lock of its own.) Released when the process ends, however it ends."""
    path = url.partition(":///")[2] if url.startswith("sqlite:///") else ""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one worker per SQLite study there, or use a journal file
        fcntl = None
    if not path or path == ":memory:" or fcntl is None:
        yield
        return
    with open(os.path.abspath(path) + ".chainrule-lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _claim(study, storage):
    """Take a waiting trial from the study's queue (None when it is empty): set it running, atomically in
    the storage, so that no two workers take the same one (Optuna's ask would start a new trial instead)."""
    optuna = _optuna()
    state = optuna.trial.TrialState
    study_id = storage.get_study_id_from_name(study.study_name)
    for t in storage.get_all_trials(study_id, deepcopy=False, states=(state.WAITING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            if storage.set_trial_state_values(trial_id, state=state.RUNNING):
                return optuna.trial.Trial(study, trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


class PruningReport(Callback):
    """A fit callback: report the metric to the Optuna trial after each epoch, and end the run (``pruned``)
    when the study's pruner says so."""

    def __init__(self, trial, metric: str):
        self.trial, self.metric, self.pruned = trial, metric, False

    def on_epoch_end(self, trainer, logs):
        value = float(logs[self.metric])
        self.trial.report(value, int(logs["epoch"]))
        if self.trial.should_prune():
            self.pruned = True
            trainer.stop = True


def work(sweep: Sweep, out: str | None = None, worker_index: int | None = None, quiet: bool = False) -> int:
    """Run trials from the study's queue until it is empty; returns how many this worker ran. Each trial's
    run goes to ``out/trial-NNNN`` (``out``: the sweep's directory unless given); ``worker_index`` seeds the
    sampler (settings.seed * 1000 + index; unseeded without one)."""
    from . import runs

    optuna = _optuna()
    study, settings = sweep.study, sweep.settings
    out = settings.out if out is None else out
    seed = None if worker_index is None else settings.seed * 1000 + worker_index
    study.sampler = optuna.samplers.TPESampler(seed=seed)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    data = runs.load_dataset(settings.dataset, settings.seed, settings.data_root)
    done = 0
    while True:
        with _claim_lock(sweep.url):
            trial = _claim(study, sweep.storage)
        if trial is None:
            return done
        run_dir = os.path.join(out, f"trial-{trial.number:04d}")
        for k, v in {"worker": worker, "host": socket.gethostname(), "pid": os.getpid(), "run_dir": run_dir}.items():
            trial.set_user_attr(k, v)
        try:
            values = {s.name: s.suggest(trial) for s in settings.specs}
            config = runs.make_run_config(
                settings.dataset, data, model=settings.model, epochs=settings.epochs, seed=settings.seed, **values
            )
            trial.set_user_attr("config", config.to_dict())
            run = runs.TrainingRun(config, data, run_dir)
            report = PruningReport(trial, settings.metric)
            history = run.train(callbacks=[report], progress=False)
            trial.set_user_attr("epochs_run", len(history.epochs))
            value = float(history.epochs[-1][settings.metric])
        except KeyboardInterrupt:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        except (ChainruleError, ValueError, ArithmeticError, MemoryError, OSError) as e:
            trial.set_user_attr("error", str(e).splitlines()[0] if str(e) else type(e).__name__)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            if not quiet:
                print(f"trial {trial.number} ({worker}): failed: {trial.user_attrs['error']}", flush=True)
            done += 1
            continue
        state = optuna.trial.TrialState.PRUNED if report.pruned else optuna.trial.TrialState.COMPLETE
        if state == optuna.trial.TrialState.PRUNED:
            study.tell(trial, state=state)
        else:
            study.tell(trial, value)
        done += 1
        if not quiet:
            shown = ", ".join(f"{k}={show(trial.params[k])}" for k in trial.params)
            print(
                f"trial {trial.number} ({worker}): {shown} -> {settings.metric} {value:.4f} after "
                f"{len(history.epochs)} epoch(s){' [pruned]' if report.pruned else ''}",
                flush=True,
            )


def show(v) -> str:
    """A sampled value as the tables show it (floats to 4 significant digits)."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# ----------------------------------------------------------------------------- results
def results(sweep: Sweep) -> list[dict]:
    """One row per trial: number, state, the sampled values (as sampled: a choice's text), the metric (the
    last epoch's), epochs run, the worker that ran it and its run directory."""
    settings, rows = sweep.settings, []
    for t in sweep.study.get_trials(deepcopy=False):
        value = t.value
        if value is None and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        row = {"trial": t.number, "state": t.state.name}
        row.update({s.name: t.params.get(s.name) for s in settings.specs})
        row[settings.metric] = value
        row["epochs"] = t.user_attrs.get("epochs_run", len(t.intermediate_values) or None)
        row["worker"] = t.user_attrs.get("worker")
        row["run_dir"] = t.user_attrs.get("run_dir")
        if "error" in t.user_attrs:
            row["error"] = t.user_attrs["error"]
        rows.append(row)
    return rows


def format_table(rows: list[dict], settings: SweepSettings) -> str:
    cols = ["trial", "state", *[s.name for s in settings.specs], settings.metric, "epochs", "worker"]
    cells = [[_cell(r.get(c), c == settings.metric) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _cell(v, metric: bool) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if metric and isinstance(v, float) else show(v)


def write_results(sweep: Sweep, out: str | None = None) -> dict:
    """Write results.csv, results.json and (when a trial completed) best_config.json to ``out``; returns
    ``{"rows", "best", "best_config"}`` (best: the best completed trial's row, or None)."""
    optuna = _optuna()
    study, settings = sweep.study, sweep.settings
    out = settings.out if out is None else out
    rows = results(sweep)
    os.makedirs(out, exist_ok=True)
    cols = list(dict.fromkeys(k for r in rows for k in r)) or ["trial", "state"]

    def write_csv(f):
        import io as text_io

        buf = text_io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
        f.write(buf.getvalue().encode())

    io.atomic_write(os.path.join(out, "results.csv"), write_csv)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    best = best_config = None
    if complete:
        bt = study.best_trial
        best = next(r for r in rows if r["trial"] == bt.number)
        best_config = os.path.join(out, "best_config.json")
        RunConfig.from_dict(bt.user_attrs["config"]).to_json(best_config)
    doc = {
        "study": study.study_name,
        "settings": settings.to_dict(),
        "direction": settings.direction,
        "metric": settings.metric,
        "best": best,
        "trials": rows,
    }
    text = json.dumps(doc, indent=1)
    io.atomic_write(os.path.join(out, "results.json"), lambda f: f.write(text.encode()))
    return {"rows": rows, "best": best, "best_config": best_config}
