"""The training loop: ``fit`` with metrics, callbacks, schedules, checkpoints and resume.

A checkpoint holds everything that decides what happens next (weights,
optimizer state, scheduler state, the data order and dropout generators, the
callbacks' state and the history), written atomically at the end of every
epoch. ``fit(..., resume=True)`` continues from it, so a run that was killed
ends with exactly the weights and optimizer state of one that was not.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from . import _mode, creation, io
from .data import DataLoader, Dataset, TensorDataset
from .errors import ArgumentError, ArgumentTypeError, ChainruleError, NotFoundError
from .nn.layers import BCEWithLogitsLoss
from .nn.module import Module
from .optim.lr_scheduler import ReduceLROnPlateau
from .tensor import Tensor

__all__ = ["fit", "evaluate", "predict", "History", "Callback", "EarlyStopping", "accuracy"]


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
    threshold = 0.0 if isinstance(loss_fn, BCEWithLogitsLoss) else 0.5
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
    """Hooks called by ``fit``. Set ``trainer.stop = True`` to end training after this epoch."""

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
def _as_loader(data, batch_size, shuffle, seed, what):
    if data is None or isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size or 32, shuffle=shuffle, seed=seed)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return DataLoader(TensorDataset(*data), batch_size=batch_size or 32, shuffle=shuffle, seed=seed)
    raise ArgumentTypeError(f"fit: {what} must be a DataLoader, a Dataset or a tuple (X, y), got {type(data).__name__}")


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


@_mode.no_grad()
def evaluate(model: Module, loss_fn, data, metrics=("accuracy",), batch_size: int = 1024) -> dict:
    """Average loss and metrics of ``model`` on ``data`` (a DataLoader or (X, y)), in eval mode."""
    loader = _as_loader(data, batch_size, False, None, "data")
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


@_mode.no_grad()
def predict(model: Module, X, batch_size: int = 1024) -> np.ndarray:
    """Model outputs for every row of ``X`` (eval mode, no graph), as one array."""
    X = X.data if isinstance(X, Tensor) else np.asarray(X)
    was_training = model.training
    model.eval()
    try:
        if len(X) == 0:
            return model(Tensor._wrap(X)).data  # no rows: the outputs' shape still comes from the model
        return np.concatenate([model(Tensor._wrap(X[i : i + batch_size])).data for i in range(0, len(X), batch_size)])
    finally:
        model.train(was_training)


class _Trainer:
    """State visible to callbacks: model, optimizer, epoch, history, stop flag."""

    def __init__(self, model, optimizer, history):
        self.model = model
        self.optimizer = optimizer
        self.history = history
        self.epoch = 0
        self.stop = False


CHECKPOINT_NAME = "checkpoint.npz"


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
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

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
    if epochs < 0:
        raise ArgumentError(f"fit: epochs must be >= 0, got {epochs}")
    if seed is not None:
        creation.manual_seed(seed)
    train_loader = _as_loader(train, batch_size, True, seed, "train")
    val_loader = _as_loader(val, batch_size or 1024, False, None, "val")
    fns = _metric_fns(metrics, loss_fn)
    callbacks = list(callbacks or ())
    history = History()
    trainer = _Trainer(model, optimizer, history)
    log = log or print
    if progress is None:
        progress = sys.stderr.isatty()
    diag = None
    if diagnostics:
        from .diagnostics import Diagnostics

        diag = Diagnostics(model)

    try:
        return _fit_loop(
            model,
            loss_fn,
            optimizer,
            epochs,
            train_loader,
            val_loader,
            metrics,
            fns,
            callbacks,
            scheduler,
            checkpoint_dir,
            resume,
            history,
            trainer,
            log,
            progress,
            verbose,
            diag,
        )
    finally:
        if diag is not None:
            diag.close()


def _fit_loop(
    model,
    loss_fn,
    optimizer,
    epochs,
    train_loader,
    val_loader,
    metrics,
    fns,
    callbacks,
    scheduler,
    checkpoint_dir,
    resume,
    history,
    trainer,
    log,
    progress,
    verbose,
    diag,
):
    start_epoch = 1
    ckpt_path = os.path.join(checkpoint_dir, CHECKPOINT_NAME) if checkpoint_dir else None
    if resume:
        if ckpt_path is None:
            raise ArgumentError("fit: resume=True needs checkpoint_dir")
        if os.path.exists(ckpt_path):
            done, stopped = _restore(io.load(ckpt_path), model, optimizer, scheduler, train_loader, callbacks, history)
            start_epoch = done + 1
            if stopped:  # the run had already ended (early stopping): nothing left to train
                trainer.stop = True
                start_epoch = epochs + 1
            if verbose:
                log(
                    f"resumed from {ckpt_path} after epoch {done}"
                    + (" (training had stopped early)" if stopped else "")
                )

    if len(train_loader) == 0 and start_epoch <= epochs:
        raise ChainruleError(
            f"fit: the training data gives no batches ({len(train_loader.dataset)} samples, batch_size "
            f"{train_loader.batch_size}{', drop_last' if train_loader.drop_last else ''}): nothing to train on"
        )
    for cb in callbacks:
        cb.on_train_begin(trainer)
    for epoch in range(start_epoch, epochs + 1):
        trainer.epoch = epoch
        t0 = time.perf_counter()
        model.train()
        total, n = 0.0, 0
        correct_parts = {name: 0.0 for name in fns}
        bar = _progress(len(train_loader), f"epoch {epoch}/{epochs}", progress)
        if diag is not None:
            diag.begin_epoch()
        for xb, yb in train_loader:
            optimizer.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            b = len(xb)
            lv = _batch_total(loss_fn, loss, b, "fit")
            if not math.isfinite(lv):  # before the step: the weights stay those that gave it
                raise ChainruleError(
                    f"fit: the loss became {lv} in epoch {epoch}; lower the learning rate, or find "
                    "the first NaN with `with cr.detect_anomaly(): ...`"
                )
            loss.backward()
            if diag is not None:
                diag.before_step()
            optimizer.step()
            if diag is not None:
                diag.after_step()
            total += lv
            n += b
            for name, fn in fns.items():
                correct_parts[name] += fn(out.data, yb.data) * b
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{total / n:.4f}", refresh=False)
        if bar is not None:
            bar.close()
        row = {"epoch": epoch, "loss": total / max(n, 1)}
        for name in fns:
            row[name] = correct_parts[name] / max(n, 1)
        if val_loader is not None:
            for k, v in evaluate(model, loss_fn, val_loader, metrics).items():
                row["val_" + k] = v
        row["lr"] = float(optimizer.param_groups[0]["lr"])
        if scheduler is not None:
            if isinstance(scheduler, ReduceLROnPlateau):
                scheduler.step(row.get("val_loss", row["loss"]))
            else:
                scheduler.step()
        row["time"] = time.perf_counter() - t0
        if diag is not None:
            row.update(diag.end_epoch())
        history.append(row)
        for cb in callbacks:
            cb.on_epoch_end(trainer, row)
        if verbose:
            log(format_row(row, fns))
        if ckpt_path is not None:
            _checkpoint(ckpt_path, epoch, model, optimizer, scheduler, train_loader, callbacks, history, trainer.stop)
        if trainer.stop:
            break
    for cb in callbacks:
        cb.on_train_end(trainer)
    return history


def format_row(row: dict, metric_names=()) -> str:
    parts = [f"epoch {row['epoch']:>3d}", f"loss {row['loss']:.4f}"]
    for name in metric_names:
        parts.append(f"{name} {row[name]:.4f}")
    for k, v in row.items():
        if k.startswith("val_"):
            parts.append(f"{k} {v:.4f}")
    parts.append(f"{row['time']:.2f}s")
    return "  ".join(parts)


def _checkpoint(path, epoch, model, optimizer, scheduler, loader, callbacks, history, stopped=False):
    state = {
        "epoch": epoch,
        "stopped": bool(stopped),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "loader": loader.state_dict(),
        "default_generator": creation.default_generator().bit_generator.state,
        "module_generators": {k: g.bit_generator.state for k, g in _generators(model).items()},
        "callbacks": [cb.state_dict() for cb in callbacks],
        "history": {"epochs": _finite(history.epochs, keep_nan=True)},
    }
    io.save(state, path)


def _restore(state, model, optimizer, scheduler, loader, callbacks, history) -> tuple[int, bool]:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(dict(state["scheduler"]))
    loader.load_state_dict(_plain(state["loader"]))
    creation.default_generator().bit_generator.state = _plain(state["default_generator"])
    gens = _generators(model)
    for k, s in state.get("module_generators", {}).items():
        if k in gens:
            gens[k].bit_generator.state = _plain(s)
    for cb, s in zip(callbacks, state.get("callbacks", [])):
        cb.load_state_dict(dict(s))
    history.epochs[:] = [dict(r) for r in state["history"]["epochs"]]
    return int(state["epoch"]), bool(state.get("stopped", False))


def _plain(x):
    """Nested OrderedDicts from io.load back to plain dicts (for numpy's bit-generator state setter)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x
