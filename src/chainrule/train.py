"""The training loop: a :class:`Trainer` in named steps, and ``fit`` to run one; metrics, callbacks,
schedules, checkpoints and resume.

A checkpoint holds everything that decides what happens next (weights,
optimizer state, scheduler state, the data order and dropout generators, the
callbacks' state and the history), written atomically at the end of every
epoch. ``fit(..., resume=True)`` continues from it, so a run that was killed
ends with exactly the weights and optimizer state of one that was not. A run
killed while writing its checkpoint leaves the previous checkpoint intact and a
temporary ``.checkpoint.npz.XXXXXXXX.tmp`` beside it; a Trainer created with
that ``checkpoint_dir`` removes such files (:func:`chainrule.io.remove_stale_temps`:
only that exact pattern, in that directory), since a run starting again in its
directory is the only one writing there.

**On several processes** (started by ``mpiexec -n N``, or ``chainrule train ... --nproc N``; see
:mod:`chainrule.distributed`), ``fit`` trains data-parallel: the model is wrapped in
:class:`~chainrule.distributed.DistributedDataParallel` (rank 0's weights everywhere, gradients averaged
during backward); training data given as arrays, a Dataset or a DataLoader without a sampler is split
among the ranks with a :class:`~chainrule.distributed.DistributedSampler` (``batch_size`` is per rank, so
the global batch is N times it; shuffled with ``seed``, 0 when None, and ``set_epoch`` at every epoch);
the epoch's training loss and metrics are reduced over the ranks (sums of value x count, and counts); the
validation data is evaluated whole on every rank, so every rank has the same history and callbacks take
the same decisions (early stopping ends all ranks together). Only rank 0 prints, shows progress and
writes the checkpoint (the others wait for it at a barrier); ``resume`` has every rank read it (so the
checkpoint directory must be visible to all, as on a cluster's shared file system). An error on any rank
ends the whole job (``MPI_Abort``) after printing it, instead of leaving the other ranks waiting.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from . import checks, creation, distributed, io
from .data import DataLoader, Dataset, TensorDataset
from .errors import ArgumentError, ArgumentTypeError, ChainruleError, NotFoundError
from .nn.module import Module
from .tensor import Tensor, as_tensor

__all__ = [
    "fit",
    "Trainer",
    "evaluate",
    "predict",
    "History",
    "Callback",
    "EarlyStopping",
    "accuracy",
    "load_checkpoint",
    "CHECKPOINT_NAME",
]


# ----------------------------------------------------------------------------- metrics
def accuracy(output: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of correct predictions: argmax over classes, or ``output > threshold`` for one output."""
    output = np.asarray(output)
    target = np.asarray(target)
    if output.ndim == 2 and output.shape[1] > 1:
        pred = output.argmax(axis=1)
        if target.ndim == 2 and target.shape == output.shape:  # probability targets
            target = target.argmax(axis=1)
    else:
        pred = (output.reshape(-1) > threshold).astype(np.int64)
        target = target.reshape(-1)
        if target.dtype.kind == "f":
            target = (target > 0.5).astype(np.int64)
    return float(np.mean(pred == target)) if pred.size else float("nan")


def _metric_fns(metrics, loss_fn) -> dict[str, Callable]:
    out = {}
    # where a single output counts as the positive class: the loss says (0.0 for logits losses)
    threshold = getattr(loss_fn, "decision_threshold", 0.5)
    for m in metrics or ():
        if m == "accuracy":
            out["accuracy"] = lambda o, t, th=threshold: accuracy(o, t, th)
        elif callable(m):
            out[getattr(m, "__name__", "metric")] = m
        else:
            raise ArgumentError(f"fit: unknown metric {m!r}; use 'accuracy' or a function (output, target) -> float")
    return out


# ----------------------------------------------------------------------------- history
def _finite(obj, keep_nan: bool = False):
    """Plain Python numbers, lists and dicts; non-finite floats become None unless ``keep_nan``."""
    if isinstance(obj, (np.generic, np.ndarray)):
        obj = obj.tolist()
    if isinstance(obj, float):
        return obj if keep_nan or math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v, keep_nan) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v, keep_nan) for v in obj]
    return obj


class History:
    """Per-epoch records of a training run: ``history["loss"]``, ``history.epochs[-1]``, ``plot()``."""

    def __init__(self, epochs: list[dict] | None = None):
        self.epochs: list[dict] = list(epochs or [])

    def append(self, row: dict) -> None:
        self.epochs.append(row)

    def __len__(self) -> int:
        return len(self.epochs)

    def __getitem__(self, key: str) -> list:
        if not self.epochs or key not in self.keys():
            raise NotFoundError(f"History has no {key!r}; it has {', '.join(self.keys()) or 'no epochs yet'}")
        return [row.get(key) for row in self.epochs]

    def keys(self) -> list[str]:
        seen: dict = {}
        for row in self.epochs:
            for k in row:
                seen.setdefault(k, None)
        return list(seen)

    @property
    def history(self) -> dict[str, list]:
        return {k: self[k] for k in self.keys()}

    def to_json(self, path=None) -> str:
        # non-finite numbers become null: NaN and Infinity are not JSON
        text = json.dumps(_finite({"epochs": self.epochs}), indent=1, default=_jsonable, allow_nan=False)
        if path is not None:
            io.atomic_write(path, lambda f: f.write(text.encode()))
        return text

    @classmethod
    def from_json(cls, path_or_text) -> History:
        text = path_or_text
        if os.path.exists(str(path_or_text)):
            with open(path_or_text) as f:
                text = f.read()
        # null stands for a number that was not finite (JSON has no NaN): read it back as NaN
        return cls([{k: (math.nan if v is None else v) for k, v in r.items()} for r in json.loads(text)["epochs"]])

    def diagnostics(self) -> str:
        """Per-layer diagnostics of every epoch as a text table (needs fit(..., diagnostics=True))."""
        from .diagnostics import diagnostics_table

        return diagnostics_table(self)

    def plot(self, path=None, keys: Sequence[str] | None = None, val_label: str = "val"):
        """Loss and metric curves (train and validation) with matplotlib; saved as PNG when ``path`` is given."""
        from .plotting import plot_history

        return plot_history(self, path, keys, val_label)

    def to_html(self, plot: bool | None = None) -> str:
        """The history as HTML: the curves as an inline PNG (``plot=True``, needs matplotlib) or a table of
        the epochs (``plot=False``); by default the curves when matplotlib is installed, else the table."""
        from .notebook import history_html

        return history_html(self, plot)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        if not self.epochs:
            return "History(no epochs)"
        last = self.epochs[-1]
        parts = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
        return f"History({len(self.epochs)} epochs; last: {parts})"


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise ArgumentTypeError(f"not JSON serialisable: {type(x).__name__}")


# ----------------------------------------------------------------------------- callbacks
class Callback:
    """Hooks called by a :class:`Trainer` (and so by ``fit``). Set ``trainer.stop = True`` to end training
    after this epoch."""

    def on_train_begin(self, trainer) -> None:
        pass

    def on_epoch_end(self, trainer, logs: dict) -> None:
        pass

    def on_train_end(self, trainer) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    ``mode`` is 'min', 'max' or 'auto' (max for accuracies, min otherwise). With
    ``restore_best_weights`` the model ends with the weights of its best epoch.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ):
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ArgumentError(f"EarlyStopping: mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if mode == "min" else -math.inf
        self.wait = 0
        self.best_epoch = None
        self.best_weights = None
        self.stopped_epoch = None

    def on_epoch_end(self, trainer, logs):
        if self.monitor not in logs:
            raise ChainruleError(
                f"EarlyStopping: no {self.monitor!r} in the epoch's logs ({', '.join(logs)}); "
                "pass val= to fit to monitor a validation quantity"
            )
        v = float(logs[self.monitor])
        better = v < self.best - self.min_delta if self.mode == "min" else v > self.best + self.min_delta
        if better:
            self.best, self.wait, self.best_epoch = v, 0, logs["epoch"]
            if self.restore_best_weights:
                self.best_weights = {k: a.copy() for k, a in trainer.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = logs["epoch"]
                trainer.stop = True

    def on_train_end(self, trainer):
        if self.restore_best_weights and self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def state_dict(self):
        return {
            "best": self.best,
            "wait": self.wait,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state):
        self.best, self.wait = float(state["best"]), int(state["wait"])
        self.best_epoch, self.stopped_epoch = state["best_epoch"], state["stopped_epoch"]
        bw = state.get("best_weights")
        self.best_weights = dict(bw) if bw is not None else None


# ----------------------------------------------------------------------------- helpers
def _as_loader(data, batch_size, shuffle, seed, what, owner="fit"):
    batch_size = 32 if batch_size is None else checks.integer(owner, "batch_size", batch_size, 1)
    if data is None or isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=shuffle, seed=seed)
    raise ArgumentTypeError(
        f"{owner}: {what} must be a DataLoader, a Dataset or a tuple (X, y), got {type(data).__name__}"
    )


def _shard(loader: DataLoader, seed) -> DataLoader:
    """In a world of more than one: ``loader`` over this rank's shard (a DistributedSampler, shuffled when the
    loader shuffles); a loader that already has a sampler is the user's choice and is kept."""
    if distributed.world_size() == 1 or loader is None or getattr(loader, "sampler", None) is not None:
        return loader
    sampler = distributed.DistributedSampler(loader.dataset, shuffle=loader.shuffle, seed=0 if seed is None else seed)
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        drop_last=loader.drop_last,
        collate_fn=loader.collate_fn,
        sampler=sampler,
    )


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, leave=False, unit="batch", dynamic_ncols=True, file=sys.stderr)


def _generators(model: Module) -> dict[str, np.random.Generator]:
    """The random generators owned by modules (dropout), by module name."""
    return {
        name: m.generator
        for name, m in model.named_modules()
        if isinstance(getattr(m, "generator", None), np.random.Generator)
    }


def _batch_total(loss_fn, loss, batch: int, where: str) -> float:
    """The sum over the batch's samples of the loss, whatever the loss function's reduction."""
    reduction = getattr(loss_fn, "reduction", "mean")
    if loss.data.size != 1 or (where == "fit" and reduction == "none"):
        if where == "fit":
            raise ChainruleError(
                f"fit: the loss has shape {loss.shape}; training needs one number per batch. Use a loss with "
                "reduction='mean' (the default) or 'sum'"
            )
        return float(loss.data.sum())
    value = loss.data.reshape(-1)[0].item()  # a one-element loss of any shape
    return value if reduction == "sum" else value * batch


def evaluate(model: Module, loss_fn, data, metrics=("accuracy",), batch_size: int = 1024) -> dict:
    """Average loss and metrics of ``model`` on ``data`` (a DataLoader or (X, y)), in eval mode."""
    from . import no_grad  # the package's public mode switch (bound once the package has loaded)

    with no_grad():
        return _evaluate(model, loss_fn, data, metrics, batch_size)


def _evaluate(model, loss_fn, data, metrics, batch_size) -> dict:
    loader = _as_loader(data, batch_size, False, None, "data", "evaluate")
    fns = _metric_fns(metrics, loss_fn)
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    outs, targets = [], []
    try:
        for xb, yb in loader:
            out = model(xb)
            total += _batch_total(loss_fn, loss_fn(out, yb), len(xb), "evaluate")
            n += len(xb)
            outs.append(out.data)
            targets.append(yb.data)
    finally:
        model.train(was_training)
    if n == 0:
        raise ArgumentError("evaluate: the data holds no samples")
    res = {"loss": total / n}
    if fns and outs:
        o, t = np.concatenate(outs), np.concatenate(targets)
        for name, fn in fns.items():
            res[name] = float(fn(o, t))
    return res


def predict(model: Module, X, batch_size: int = 1024) -> np.ndarray:
    """Model outputs for every row of ``X`` (eval mode, no graph), as one array."""
    from . import no_grad

    checks.integer("predict", "batch_size", batch_size, 1)
    X = X.data if isinstance(X, Tensor) else np.asarray(X)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            if len(X) == 0:
                return model(as_tensor(X)).data  # no rows: the outputs' shape still comes from the model
            return np.concatenate([model(as_tensor(X[i : i + batch_size])).data for i in range(0, len(X), batch_size)])
    finally:
        model.train(was_training)


CHECKPOINT_NAME = "checkpoint.npz"


def load_checkpoint(checkpoint_dir) -> dict | None:
    """The checkpoint ``fit`` wrote in ``checkpoint_dir``, or None when there is none.

    Its entries: ``epoch`` (epochs done), ``stopped`` (the run had ended early),
    ``model``, ``optimizer`` and ``scheduler`` (their state_dicts), ``loader``,
    ``default_generator`` and ``module_generators`` (the random streams),
    ``callbacks`` (their state_dicts, in order) and ``history``.
    """
    path = os.path.join(checkpoint_dir, CHECKPOINT_NAME)
    return io.load(path) if os.path.exists(path) else None


def _check_epochs(epochs) -> None:
    checks.integer("fit", "epochs", epochs, 0)


class Trainer:
    """A training run in named steps; ``fit(epochs)`` runs them in order.

    For each epoch: :meth:`run_epoch` (one pass over the training batches, each a
    :meth:`train_step`), :meth:`end_epoch` (validation, lr schedule, history,
    callbacks) and, with a ``checkpoint_dir``, :meth:`save_checkpoint`; with
    ``fit(..., resume=True)`` a saved run is first brought back by :meth:`restore`.
    Created with a ``checkpoint_dir``, it removes the temporary files an interrupted
    checkpoint write left there (another process must not be writing that checkpoint).
    The arguments are those of :func:`fit`. Callbacks receive the trainer: its
    ``model``, ``optimizer``, ``history``, ``epoch``, and ``stop`` (set it to True
    to end training after this epoch).

    What the loop needs to know about the loss and the scheduler, they declare:
    the loss's ``decision_threshold`` (default 0.5) is where a single output
    counts as the positive class for accuracy, and a scheduler with
    ``needs_metric = True`` (ReduceLROnPlateau) is stepped with the value of its
    ``monitor`` entry of the epoch's row (without ``val``, the training value of
    a ``val_`` quantity).
    """

    def __init__(
        self,
        model: Module,
        loss_fn,
        optimizer,
        train,
        val=None,
        metrics=("accuracy",),
        callbacks=(),
        scheduler=None,
        checkpoint_dir=None,
        seed: int | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
        verbose: bool = False,
        log: Callable[[str], None] | None = None,
        diagnostics: bool = False,
    ):
        if seed is not None:
            creation.manual_seed(seed)
        self.world = distributed.world_size()
        self.is_main = distributed.is_main()
        if self.world > 1 and not isinstance(model, distributed.DistributedDataParallel):
            model = distributed.DistributedDataParallel(model)
        self.model, self.loss_fn, self.optimizer, self.scheduler = model, loss_fn, optimizer, scheduler
        self.train_loader = _shard(_as_loader(train, batch_size, True, seed, "train"), seed)
        self.val_loader = _as_loader(val, 1024 if batch_size is None else batch_size, False, None, "val")
        self.metrics = metrics
        self.metric_fns = _metric_fns(metrics, loss_fn)
        self.callbacks = list(callbacks or ())
        self.history = History()
        self.checkpoint_path = os.path.join(checkpoint_dir, CHECKPOINT_NAME) if checkpoint_dir else None
        self.progress = (sys.stderr.isatty() if progress is None else progress) and self.is_main
        self.verbose = verbose and self.is_main
        self.log = log or print
        if self.checkpoint_path is not None and self.is_main:
            # a run killed while writing its checkpoint left the temporary file behind; this run, starting
            # in the same directory, is its only writer, so a file of that pattern there is stale
            removed = io.remove_stale_temps(self.checkpoint_path)
            if removed and verbose:
                self.log(f"removed {len(removed)} temporary file(s) an interrupted checkpoint write left behind")
        self.diagnostics = diagnostics
        self.epoch = 0
        self.epochs = 0
        self.stop = False
        self._diag = None
        self._epoch_start = 0.0

    # ------------------------------------------------------------------ the run
    def fit(self, epochs: int, resume: bool = False) -> History:
        """Train up to epoch ``epochs`` (continuing a saved run with ``resume``); return the history."""
        _check_epochs(epochs)
        self.epochs = epochs
        if self.diagnostics:
            from .diagnostics import Diagnostics

            self._diag = Diagnostics(self.model)
        try:
            first = self._first_epoch(resume)
            self._check_batches(first)
            for cb in self.callbacks:
                cb.on_train_begin(self)
            for epoch in range(first, epochs + 1):
                self.end_epoch(self.run_epoch(epoch))
                if self.checkpoint_path is not None:
                    self.save_checkpoint()
                if self.stop:
                    break
            for cb in self.callbacks:
                cb.on_train_end(self)
        except BaseException:
            if self.world > 1:  # the other ranks may be waiting in a collective call: end them all
                import traceback

                sys.stderr.write(f"fit: rank {distributed.rank()} of {self.world} failed; ending every rank\n")
                traceback.print_exc()
                distributed.abort(1)
            raise
        finally:
            if self._diag is not None:
                self._diag.close()
                self._diag = None
        return self.history

    def _first_epoch(self, resume: bool) -> int:
        """1, or with ``resume`` the epoch after those the checkpoint holds (none left if it had stopped)."""
        if not resume:
            return 1
        if self.checkpoint_path is None:
            raise ArgumentError("fit: resume=True needs checkpoint_dir")
        if not os.path.exists(self.checkpoint_path):
            return 1
        done = self.restore()
        if self.verbose:
            self.log(
                f"resumed from {self.checkpoint_path} after epoch {done}"
                + (" (training had stopped early)" if self.stop else "")
            )
        return self.epochs + 1 if self.stop else done + 1  # a run that had stopped early trains no more

    def _check_batches(self, first: int) -> None:
        loader = self.train_loader
        if len(loader) == 0 and first <= self.epochs:
            raise ChainruleError(
                f"fit: the training data gives no batches ({len(loader.dataset)} samples, batch_size "
                f"{loader.batch_size}{', drop_last' if loader.drop_last else ''}): nothing to train on"
            )

    # ------------------------------------------------------------------ one epoch
    def run_epoch(self, epoch: int) -> dict:
        """One pass over the training batches; returns the epoch's row so far: epoch, loss, training metrics."""
        self.epoch = epoch
        self._epoch_start = time.perf_counter()
        self.model.train()
        total, n = 0.0, 0
        sums = dict.fromkeys(self.metric_fns, 0.0)
        bar = _progress(len(self.train_loader), f"epoch {epoch}/{self.epochs}", self.progress)
        set_epoch = getattr(getattr(self.train_loader, "sampler", None), "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)
        if self._diag is not None:
            self._diag.begin_epoch()
        for xb, yb in self.train_loader:
            out, lv = self.train_step(xb, yb)
            b = len(xb)
            total += lv
            n += b
            for name, fn in self.metric_fns.items():
                sums[name] += fn(out.data, yb.data) * b
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{total / n:.4f}", refresh=False)
        if bar is not None:
            bar.close()
        if self.world > 1:  # the epoch's sums and counts over every rank
            sums_all = np.array([total, n, *sums.values()], np.float64)
            distributed.all_reduce(sums_all, "sum")
            total, n = float(sums_all[0]), int(sums_all[1])
            sums = dict(zip(sums, map(float, sums_all[2:])))
        row = {"epoch": epoch, "loss": total / max(n, 1)}
        row.update({name: s / max(n, 1) for name, s in sums.items()})
        return row

    def train_step(self, xb, yb) -> tuple[Tensor, float]:
        """Forward, backward and one optimizer step on a batch; returns the outputs and the batch's summed loss."""
        self.optimizer.zero_grad()
        out = self.model(xb)
        loss = self.loss_fn(out, yb)
        lv = _batch_total(self.loss_fn, loss, len(xb), "fit")
        if not math.isfinite(lv):  # before the step: the weights stay those that gave it
            raise ChainruleError(
                f"fit: the loss became {lv} in epoch {self.epoch}; lower the learning rate, or find "
                "the first NaN with `with cr.detect_anomaly(): ...`"
            )
        loss.backward()
        finish = getattr(self.model, "finish_gradient_sync", None)
        if finish is not None:  # DistributedDataParallel: the averaged gradients are all in .grad
            finish()
        if self._diag is not None:
            self._diag.before_step()
        self.optimizer.step()
        if self._diag is not None:
            self._diag.after_step()
        return out, lv

    def end_epoch(self, row: dict) -> dict:
        """Complete the epoch's row (validation, lr, time, diagnostics), step the scheduler, record the row
        in the history, and call the callbacks; returns the row."""
        if self.val_loader is not None:
            for k, v in evaluate(self.model, self.loss_fn, self.val_loader, self.metrics).items():
                row["val_" + k] = v
        row["lr"] = float(self.optimizer.param_groups[0]["lr"])
        self.step_scheduler(row)
        row["time"] = time.perf_counter() - self._epoch_start
        if self._diag is not None:
            row.update(self._diag.end_epoch())
        self.history.append(row)
        for cb in self.callbacks:
            cb.on_epoch_end(self, row)
        if self.verbose:
            self.log(format_row(row, self.metric_fns))
        return row

    def step_scheduler(self, row: dict) -> None:
        """One scheduler step; a scheduler that declares ``needs_metric`` gets its ``monitor`` value from ``row``."""
        if self.scheduler is None:
            return
        if not getattr(self.scheduler, "needs_metric", False):
            self.scheduler.step()
            return
        monitor = getattr(self.scheduler, "monitor", "val_loss")
        if monitor not in row and monitor.startswith("val_") and self.val_loader is None:
            monitor = monitor[len("val_") :]  # no validation data: the training value stands in
        if monitor not in row:
            raise ChainruleError(
                f"fit: {type(self.scheduler).__name__} monitors {monitor!r}, which the epoch's row does not have "
                f"({', '.join(row)}); pass val= to fit for a validation quantity, or set its monitor to one of those"
            )
        self.scheduler.step(row[monitor])

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, path=None) -> None:
        """Write everything that decides what happens next to ``path`` (default: the checkpoint_dir's), atomically.

        On several ranks only rank 0 writes (every rank holds the same state); the others wait for it."""
        if not self.is_main:
            distributed.barrier()
            return
        state = {
            "epoch": self.epoch,
            "stopped": bool(self.stop),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "loader": self.train_loader.state_dict(),
            "default_generator": creation.default_generator().bit_generator.state,
            "module_generators": {k: g.bit_generator.state for k, g in _generators(self.model).items()},
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "history": {"epochs": _finite(self.history.epochs, keep_nan=True)},
        }
        try:
            io.save(state, self._path(path))
        finally:
            if self.world > 1:
                distributed.barrier()

    def restore(self, path=None) -> int:
        """Bring back the run saved in ``path`` (default: the checkpoint_dir's); returns the epochs it had done.

        Sets ``stop`` when that run had already ended (early stopping).
        """
        state = io.load(self._path(path))
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(dict(state["scheduler"]))
        self.train_loader.load_state_dict(_plain(state["loader"]))
        creation.default_generator().bit_generator.state = _plain(state["default_generator"])
        gens = _generators(self.model)
        for k, s in state.get("module_generators", {}).items():
            if k in gens:
                gens[k].bit_generator.state = _plain(s)
        for cb, s in zip(self.callbacks, state.get("callbacks", [])):
            cb.load_state_dict(dict(s))
        self.history.epochs[:] = [dict(r) for r in state["history"]["epochs"]]
        self.epoch = int(state["epoch"])
        self.stop = bool(state.get("stopped", False))
        return self.epoch

    def _path(self, path):
        if path is None:
            path = self.checkpoint_path
        if path is None:
            raise ArgumentError("Trainer: no checkpoint file; give a path, or checkpoint_dir when creating the trainer")
        return path


def fit(
    model: Module,
    loss_fn,
    optimizer,
    train,
    epochs: int,
    val=None,
    metrics=("accuracy",),
    callbacks=(),
    scheduler=None,
    checkpoint_dir=None,
    resume: bool = False,
    seed: int | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
    verbose: bool = False,
    log: Callable[[str], None] | None = None,
    diagnostics: bool = False,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History` (a :class:`Trainer`, run).

    ``train`` and ``val`` are DataLoaders or ``(X, y)`` tuples (then batched by
    ``batch_size``, default 32, shuffled with ``seed``). ``metrics`` are names
    ('accuracy') or functions ``(outputs, targets) -> float``, reported for the
    training batches and for ``val``. ``scheduler`` steps once per epoch
    (ReduceLROnPlateau on val_loss, or loss without val). ``checkpoint_dir``
    gets a checkpoint after every epoch; ``resume=True`` continues from it.
    ``seed`` seeds chainrule's default generator (dropout) and the shuffling,
    so the same seed gives the same result. ``progress`` shows a progress bar
    (default: only when stderr is a terminal). ``verbose`` prints a line per
    epoch through ``log`` (default print). ``diagnostics`` records per-layer
    gradient norms, update-to-weight ratios and dead ReLU fractions.
    """
    _check_epochs(epochs)
    trainer = Trainer(
        model,
        loss_fn,
        optimizer,
        train,
        val=val,
        metrics=metrics,
        callbacks=callbacks,
        scheduler=scheduler,
        checkpoint_dir=checkpoint_dir,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
        verbose=verbose,
        log=log,
        diagnostics=diagnostics,
    )
    return trainer.fit(epochs, resume=resume)


def format_row(row: dict, metric_names=()) -> str:
    parts = [f"epoch {row['epoch']:>3d}", f"loss {row['loss']:.4f}"]
    for name in metric_names:
        parts.append(f"{name} {row[name]:.4f}")
    for k, v in row.items():
        if k.startswith("val_"):
            parts.append(f"{k} {v:.4f}")
    parts.append(f"{row['time']:.2f}s")
    return "  ".join(parts)


def _plain(x):
    """Nested OrderedDicts from io.load back to plain dicts (for numpy's bit-generator state setter)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x
