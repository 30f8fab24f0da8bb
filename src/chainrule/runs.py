"""Training runs as ``chainrule train`` makes them: a run configuration and what is built from it.

A :class:`RunConfig` holds every setting of a run; it is written to ``config.json``
in the run's directory and read back from there (files of older versions too).
From it come the data set (:func:`load_dataset`), the network (:func:`build_model`: an MLP, a CNN, a GRU
or an LSTM), the
optimizer and its schedule (:func:`make_optimizer`, :func:`make_scheduler`) and the
loss (:func:`training_loss`). :class:`TrainingRun` puts them together and trains;
:func:`load_run` brings a trained run back; :func:`check_resume` says whether a run
can be continued with a configuration.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import io
from .errors import ArgumentError, ChainruleError, SerializationError
from .nn.module import Module

__all__ = [
    "RunConfig",
    "TrainingRun",
    "load_dataset",
    "build_mlp",
    "build_model",
    "build_cnn",
    "build_rnn",
    "model_defaults",
    "make_run_config",
    "make_optimizer",
    "make_scheduler",
    "training_loss",
    "load_run",
    "saved_config",
    "check_resume",
    "DATASETS",
    "MODELS",
    "ACTIVATIONS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "CONFIG_NAME",
    "finished_run",
]

DATASETS = ("xor", "spiral", "digits", "mnist1d", "fashion-mnist")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULERS = ("none", "cosine", "step")
MODELS = ("mlp", "cnn", "gru", "lstm")
#: what one sample of each data set is, for the networks that see its structure: (channels, height, width)
#: images, (channels, length) signals; a recurrent network reads the rows (or the signal) as a sequence
SAMPLE_SHAPES = {"fashion-mnist": (1, 28, 28), "digits": (1, 8, 8), "mnist1d": (1, 40)}
CONFIG_NAME = "config.json"
#: The files a run of ``chainrule train`` writes in its directory (``--overwrite`` removes these, and only these).
RUN_FILES = (CONFIG_NAME, "checkpoint.npz", "model.npz", "history.json", "training.png")


def _is_int(v, low: int) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low


def _is_number(v, ok) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and ok(float(v))


# what each setting may be: (check, what is expected)
_VALID = {
    "dataset": (lambda v: v in DATASETS, f"one of {', '.join(DATASETS)}"),
    "model": (lambda v: v in MODELS, f"one of {', '.join(MODELS)}"),
    "channels": (lambda v: isinstance(v, list) and all(_is_int(c, 1) for c in v), "a list of positive channel counts"),
    "n_features": (lambda v: _is_int(v, 1), "a positive integer"),
    "n_classes": (lambda v: _is_int(v, 1), "a positive integer"),
    "hidden": (lambda v: isinstance(v, list) and all(_is_int(h, 1) for h in v), "a list of positive layer sizes"),
    "activation": (lambda v: v in ACTIVATIONS, f"one of {', '.join(ACTIVATIONS)}"),
    "dropout": (lambda v: _is_number(v, lambda x: 0 <= x < 1), "a number in [0, 1)"),
    "batch_norm": (lambda v: isinstance(v, bool), "true or false"),
    "seed": (lambda v: _is_int(v, 0), "an integer >= 0"),
    "optimizer": (lambda v: v in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}"),
    "lr": (lambda v: _is_number(v, lambda x: x > 0), "a positive number"),
    "momentum": (lambda v: _is_number(v, lambda x: 0 <= x < 1), "a number in [0, 1)"),
    "weight_decay": (lambda v: _is_number(v, lambda x: x >= 0), "a number >= 0"),
    "batch_size": (lambda v: _is_int(v, 1), "a positive integer"),
    "epochs": (lambda v: _is_int(v, 1), "a positive integer"),
    "scheduler": (lambda v: v in SCHEDULERS, f"one of {', '.join(SCHEDULERS)}"),
    "label_smoothing": (lambda v: _is_number(v, lambda x: 0 <= x < 1), "a number in [0, 1)"),
}


@dataclass
class RunConfig:
    """Every setting of a training run: the data, the network, the optimizer and the schedule.

    ``weight_decay=None`` means the optimizer's usual value: 0.01 for adamw (decoupled), 0 otherwise.
    ``momentum`` is used by the ``momentum`` and ``nesterov`` optimizers only.
    """

    dataset: str
    n_features: int
    n_classes: int
    hidden: list[int] = field(default_factory=lambda: [128])
    activation: str = "relu"
    dropout: float = 0.0
    batch_norm: bool = False
    seed: int = 0
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float | None = None
    batch_size: int = 128
    epochs: int = 10
    scheduler: str = "none"
    label_smoothing: float = 0.0
    model: str = "mlp"  # (new settings come last: config.json files of older versions lack them)
    channels: list[int] = field(default_factory=list)  # the convolutions' output channels (model cnn)

    #: settings that a config.json must hold (the others have defaults)
    REQUIRED = ("dataset", "n_features", "n_classes", "hidden", "activation", "seed")

    def __post_init__(self):
        if self.weight_decay is None:
            self.weight_decay = 1e-2 if self.optimizer == "adamw" else 0.0
        self.hidden = list(self.hidden) if isinstance(self.hidden, (list, tuple)) else self.hidden
        self.channels = list(self.channels) if isinstance(self.channels, (list, tuple)) else self.channels
        for name, (ok, expected) in _VALID.items():
            value = getattr(self, name)
            if not ok(value):
                raise ArgumentError(f"RunConfig: {name} must be {expected}, got {value!r}")
        if self.model != "mlp" and self.dataset not in SAMPLE_SHAPES:
            raise ArgumentError(
                f"RunConfig: model {self.model!r} needs data with a structure to see (images or signals: "
                f"{', '.join(SAMPLE_SHAPES)}); {self.dataset} has {self.n_features} plain features: use model 'mlp'"
            )
        if self.model in ("gru", "lstm") and not self.hidden:
            raise ArgumentError(f"RunConfig: model {self.model!r} needs a hidden size (hidden=[128], for instance)")

    @property
    def uses_momentum(self) -> bool:
        return self.optimizer in ("momentum", "nesterov")

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, path=None) -> str:
        """The configuration as JSON text; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            io.atomic_write(path, lambda f: f.write(text.encode()))
        return text

    @classmethod
    def from_dict(cls, d: Mapping, source: str = "the configuration") -> RunConfig:
        """A RunConfig from a dict such as config.json holds; settings it lacks take their defaults."""
        try:
            if not isinstance(d, Mapping):
                raise ArgumentError(f"expected a JSON object, got {type(d).__name__}")
            missing = [k for k in cls.REQUIRED if k not in d]
            if missing:
                raise ArgumentError(f"missing {', '.join(missing)}")
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in d.items() if k in names})
        except ArgumentError as e:
            why = str(e).removeprefix("RunConfig: ")
            raise SerializationError(f"{source} is not a configuration written by 'chainrule train' ({why})") from None

    @classmethod
    def from_json(cls, path_or_text) -> RunConfig:
        """A RunConfig from a config.json file (or its text)."""
        source, text = "the configuration", path_or_text
        if os.path.exists(str(path_or_text)):
            source = str(path_or_text)
            with open(path_or_text) as f:
                text = f.read()
        try:
            d = json.loads(text)
        except ValueError as e:
            raise SerializationError(f"{source} is not a configuration written by 'chainrule train' ({e})") from None
        return cls.from_dict(d, source)

    # ------------------------------------------------------------------ comparing
    def diff(self, other: RunConfig, ignore=()) -> dict[str, tuple]:
        """The settings in which ``other`` differs: ``{name: (value here, value there)}``, in field order.

        ``momentum`` counts only when one of the two optimizers uses it; names in ``ignore`` are skipped.
        """
        out = {}
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name in ignore or a == b:
                continue
            if f.name == "momentum" and not (self.uses_momentum or other.uses_momentum):
                continue
            out[f.name] = (a, b)
        return out


def _config(config) -> RunConfig:
    return config if isinstance(config, RunConfig) else RunConfig.from_dict(config)


# ----------------------------------------------------------------------------- what a config builds
def load_dataset(name: str, seed: int = 0, root=None):
    """The train/test split of a data set ``chainrule train`` knows (``DATASETS``)."""
    from . import datasets

    if name == "xor":
        return datasets.xor()
    if name == "spiral":
        return datasets.spiral(seed=seed)
    if name == "digits":
        return datasets.digits()
    if name == "mnist1d":
        return datasets.mnist1d()
    if name == "fashion-mnist":
        return datasets.fashion_mnist(root=root)
    raise ArgumentError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def build_mlp(config):
    """The MLP a RunConfig (or a dict of its settings) describes:
    Standardize, (Linear, [BatchNorm], activation, [Dropout])*, Linear."""
    from . import nn

    config = _config(config)
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}
    gen = np.random.default_rng(config.seed)
    drop_gen = np.random.default_rng(config.seed + 1)  # one stream shared by every dropout layer
    layers = [nn.Standardize(config.n_features)]
    width = config.n_features
    for h in config.hidden:
        layers.append(nn.Linear(width, h, generator=gen))
        if config.batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(acts[config.activation]())
        if config.dropout:
            layers.append(nn.Dropout(config.dropout, generator=drop_gen))
        width = h
    layers.append(nn.Linear(width, config.n_classes, generator=gen))
    return nn.Sequential(*layers)


def build_model(config):
    """The network a RunConfig describes: its ``model`` (mlp, cnn, gru or lstm) on its data set's samples.
    Every one takes the flat samples the data sets give, (N, n_features), and scales them first."""
    config = _config(config)
    if config.model == "mlp":
        return build_mlp(config)
    if config.model == "cnn":
        return build_cnn(config)
    return build_rnn(config)


def _scaler():
    """One mean and standard deviation over all the pixels (not per pixel: a border pixel that is always 0
    in training must not be divided by 0)."""
    from . import nn

    return nn.Standardize(1)


def build_cnn(config):
    """Convolutions (3x3 for images, 5 for signals), each followed by [BatchNorm], the activation and a 2x2
    max-pool (images) or a stride of 2 (signals, after the first); then [Dropout], the hidden Linear layers
    and the output layer."""
    from . import nn

    config = _config(config)
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}
    shape = SAMPLE_SHAPES[config.dataset]
    image = len(shape) == 3
    layers = [_scaler(), nn.Unflatten(1, shape)]
    c, size = shape[0], list(shape[1:])
    for k, ch in enumerate(config.channels):
        if image:
            layers.append(nn.Conv2d(c, ch, 3, padding=1))
        else:
            stride = 1 if k == 0 else 2
            layers.append(nn.Conv1d(c, ch, 5, stride=stride, padding=2))
        if config.batch_norm:
            layers.append((nn.BatchNorm2d if image else nn.BatchNorm1d)(ch))
        layers.append(acts[config.activation]())
        if image:
            layers.append(nn.MaxPool2d(2))
            size = [n // 2 for n in size]
        elif k > 0:
            size = [(size[0] - 1) // 2 + 1]
        c = ch
    layers.append(nn.Flatten())
    width = c * int(np.prod(size))
    for h in config.hidden:
        if config.dropout:
            layers.append(nn.Dropout(config.dropout))
        layers.append(nn.Linear(width, h))
        layers.append(acts[config.activation]())
        width = h
    if config.dropout:
        layers.append(nn.Dropout(config.dropout))
    layers.append(nn.Linear(width, config.n_classes))
    return nn.Sequential(*layers)


def build_rnn(config):
    """A GRU or LSTM (one layer per hidden size, all of the first size) reading each sample as a sequence:
    an image's rows, a signal's values; the output layer reads its last output."""
    from . import nn

    config = _config(config)
    shape = SAMPLE_SHAPES[config.dataset]
    steps, features = (shape[1], shape[2]) if len(shape) == 3 else (shape[1], shape[0])
    kind = nn.GRU if config.model == "gru" else nn.LSTM
    rnn = kind(features, config.hidden[0], num_layers=len(config.hidden), batch_first=True, dropout=config.dropout)
    return nn.Sequential(
        _scaler(),
        nn.Unflatten(1, (steps, features) if len(shape) == 3 else (features, steps)),
        *([] if len(shape) == 3 else [Transpose(1, 2)]),
        LastOutput(rnn),
        nn.Linear(config.hidden[0], config.n_classes),
    )


class Transpose(Module):
    """Swap two dimensions (a signal's (channels, length) to the sequence (length, channels))."""

    def __init__(self, dim0: int, dim1: int):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x):
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self) -> str:
        return f"{self.dim0}, {self.dim1}"


class LastOutput(Module):
    """A recurrent layer's output at the last step (what a classifier of whole sequences reads)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        out, _ = self.rnn(x)
        return out[:, -1]


def model_defaults(model: str, dataset: str) -> dict:
    """The settings ``chainrule train --model MODEL --dataset DATASET`` uses for what is not given: chosen
    per model and data set (the README's accuracy table is measured with them)."""
    base = {
        "hidden": [128],
        "channels": [],
        "optimizer": "adam",
        "lr": 1e-3,
        "batch_size": 128,
        "epochs": 10,
        "scheduler": "none",
        "dropout": 0.0,
        "batch_norm": False,
    }
    if model == "mlp" and dataset == "xor":  # 4 samples: one step an epoch, so more epochs, larger steps
        base.update(lr=1e-2, epochs=50)
    elif model == "mlp" and dataset == "spiral":  # 480 samples: smaller batches, larger steps
        base.update(lr=1e-2, batch_size=32, epochs=100)
    elif model == "cnn":
        if dataset == "mnist1d":
            base.update(channels=[32, 32, 32], hidden=[], lr=1e-2, batch_size=100, epochs=100, scheduler="cosine")
        else:
            base.update(channels=[32, 64], batch_norm=True, dropout=0.25, epochs=15, scheduler="cosine")
            if dataset == "digits":
                base.update(epochs=40)
    elif model in ("gru", "lstm"):
        if dataset == "mnist1d":
            base.update(lr=3e-3, batch_size=100, epochs=50, scheduler="cosine")
        elif dataset == "digits":
            base.update(epochs=40)
    return base


def make_run_config(dataset: str, data, model: str | None = None, base: Mapping | None = None, **given) -> RunConfig:
    """The RunConfig of a run on ``data`` (the split :func:`load_dataset` gives: it sets ``n_features`` and
    ``n_classes``): the settings in ``base`` (a RunConfig's ``to_dict()``, e.g. a config.json) or else
    :func:`model_defaults` for ``model`` and ``dataset``, with the settings in ``given`` that are not None on top.

    This is how ``chainrule train`` (flags over defaults, or over ``--config FILE``) and ``chainrule sweep``
    (a trial's sampled values over the sweep's settings) build their runs.
    """
    names = {f.name for f in dataclasses.fields(RunConfig)} - {"dataset", "n_features", "n_classes"}
    unknown = sorted(set(given) - names)
    if unknown:
        raise ArgumentError(
            f"make_run_config: unknown settings {', '.join(unknown)}; choose from {', '.join(sorted(names))}"
        )
    if base is None:
        settings = model_defaults(model or "mlp", dataset)
        settings["model"] = model or "mlp"
    else:
        settings = {k: v for k, v in base.items() if k in names}
        if model is not None:
            settings["model"] = model
    settings.update({k: v for k, v in given.items() if v is not None})
    return RunConfig(dataset=dataset, n_features=int(data.X_train.shape[1]), n_classes=int(data.n_classes), **settings)


def make_optimizer(config: RunConfig, params):
    """The optimizer a RunConfig names, with its lr, weight decay and (for momentum, nesterov) momentum."""
    from . import optim

    o, lr, wd = config.optimizer, config.lr, config.weight_decay
    if o in ("momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=config.momentum, nesterov=o == "nesterov", weight_decay=wd)
    kind = {"sgd": optim.SGD, "adagrad": optim.Adagrad, "rmsprop": optim.RMSprop, "adam": optim.Adam}
    return kind.get(o, optim.AdamW)(params, lr=lr, weight_decay=wd)


def make_scheduler(config: RunConfig, optimizer):
    """The learning-rate schedule over ``config.epochs`` (None for 'none')."""
    from . import optim

    if config.scheduler == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.scheduler == "step":
        return optim.StepLR(optimizer, step_size=max(1, config.epochs // 3), gamma=0.1)
    return None


def training_loss(config):
    """The loss a run is trained with (label smoothing included), for scoring it the same way."""
    from . import nn

    return nn.CrossEntropyLoss(label_smoothing=_config(config).label_smoothing)


# ----------------------------------------------------------------------------- a run, new or saved
class TrainingRun:
    """A run of ``chainrule train``: the model, optimizer, schedule, loss and data loader a config
    describes, trained and saved in the directory ``out`` (config.json, checkpoint.npz, model.npz,
    history.json, training.png)."""

    def __init__(self, config: RunConfig, data, out: str):
        from .data import DataLoader, TensorDataset

        self.config, self.data, self.out = config, data, out
        self.model = build_model(config)  # first: sizes too large to allocate leave no directory behind
        os.makedirs(out, exist_ok=True)
        X = data.X_train if config.model == "mlp" else np.asarray(data.X_train).reshape(-1, 1)
        self.model[0].fit(X)  # the Standardize layer learns the training data's scale
        self.optimizer = make_optimizer(config, self.model.parameters())
        self.scheduler = make_scheduler(config, self.optimizer)
        self.loss_fn = training_loss(config)
        # batch norm cannot normalise a last batch of one sample: drop it (it is a different one each epoch)
        drop_last = bool(config.batch_norm and len(data.X_train) % config.batch_size == 1)
        self.loader = DataLoader(
            TensorDataset(data.X_train, data.y_train),
            batch_size=config.batch_size,
            shuffle=True,
            seed=config.seed,
            drop_last=drop_last,
        )

    def path(self, name: str) -> str:
        return os.path.join(self.out, name)

    def train(self, callbacks=(), resume: bool = False, progress: bool | None = None, diagnostics: bool = False):
        """Write config.json, train (checkpointing every epoch; continuing the saved run with ``resume``),
        and save model.npz and history.json; returns the History. Temporary files a killed run left
        behind in ``out`` are removed first (this run is now the directory's only writer)."""
        from .distributed import is_main
        from .train import fit

        c = self.config
        main = is_main()  # on several ranks (mpiexec), only rank 0 writes files
        if main:
            for name in (CONFIG_NAME, "model.npz", "history.json", "training.png"):
                io.remove_stale_temps(self.path(name))  # a killed run's leftovers (fit does checkpoint.npz's)
            c.to_json(self.path(CONFIG_NAME))
        history = fit(
            self.model,
            self.loss_fn,
            self.optimizer,
            self.loader,
            c.epochs,
            val=(self.data.X_test, self.data.y_test),
            callbacks=callbacks,
            scheduler=self.scheduler,
            checkpoint_dir=self.out,
            resume=resume,
            seed=c.seed,
            progress=progress,
            diagnostics=diagnostics,
        )
        if main:
            io.save(self.model, self.path("model.npz"), metadata={"chainrule.run_config": json.dumps(c.to_dict())})
            history.to_json(self.path("history.json"))
        return history

    def evaluate(self) -> dict:
        """Loss and accuracy of the model on the test split."""
        from .train import evaluate

        return evaluate(self.model, self.loss_fn, (self.data.X_test, self.data.y_test))


def load_run(directory: str):
    """``(config, model)`` of a directory written by ``chainrule train``; the model in eval mode."""
    cfg_path = os.path.join(directory, CONFIG_NAME)
    if not os.path.exists(cfg_path):
        raise ChainruleError(f"{directory} holds no {CONFIG_NAME}; is it a directory written by 'chainrule train'?")
    config = RunConfig.from_json(cfg_path)
    model = build_model(config)
    model.load_state_dict(io.load(os.path.join(directory, "model.npz")))
    model.eval()
    return config, model


def saved_config(directory: str) -> RunConfig | None:
    """The configuration of the run in ``directory`` (None if there is none yet), with the optimizer
    settings its checkpoint holds where it has one: those are what resuming it will use (the
    config.json of older versions did not always record them right)."""
    path = os.path.join(directory, CONFIG_NAME)
    if not os.path.exists(path):
        return None
    saved = RunConfig.from_json(path)
    return dataclasses.replace(saved, **_checkpoint_settings(directory, saved))


def _checkpoint_settings(directory: str, saved: RunConfig) -> dict:
    """lr, weight_decay and momentum as the checkpoint's optimizer has them ({} without a readable one)."""
    from .train import load_checkpoint

    try:
        state = load_checkpoint(directory)
        if state is None:
            return {}
        optimizer = make_optimizer(saved, build_model(saved).parameters())
        optimizer.load_state_dict(state["optimizer"])
    except (ChainruleError, KeyError, IndexError, TypeError):
        return {}  # fit reports an unreadable checkpoint itself
    group = optimizer.hyperparameters()
    out = {"lr": float(group.get("initial_lr", group["lr"])), "weight_decay": float(group["weight_decay"])}
    if "momentum" in group:
        out["momentum"] = float(group["momentum"])
    return out


def finished_run(directory: str, epochs: int) -> str | None:
    """What the run in ``directory`` has done, when its checkpoint leaves nothing to train up to ``epochs``
    ("trained all its 10 epochs", "stopped early after epoch 7"); None when there is something left (or no
    readable checkpoint, which training itself reports)."""
    from .train import load_checkpoint

    try:
        state = load_checkpoint(directory)
    except (ChainruleError, OSError, ValueError):
        return None
    if state is None:
        return None
    done = int(state.get("epoch", 0))
    if state.get("stopped"):
        return f"stopped early after epoch {done}"
    return f"trained all its {done} epochs" if done >= epochs else None


def check_resume(config: RunConfig, out: str) -> RunConfig | None:
    """Refuse to resume the run in ``out`` with ``config`` if a setting differs (the checkpoint would
    silently override it) or a schedule would be bent; returns the saved configuration, None if none."""
    saved = saved_config(out)
    if saved is None:
        return None
    changed = saved.diff(config, ignore=("epochs",))
    if changed:
        raise ChainruleError(
            f"--resume: the run in {out} has a different "
            + ", ".join(f"{k} ({there!r} there, {now!r} now)" for k, (there, now) in changed.items())
            + "; use the same settings or another --out"
        )
    if config.scheduler != "none" and saved.epochs != config.epochs:
        raise ChainruleError(
            f"--resume: the run in {out} was scheduled ({config.scheduler}) over {saved.epochs} epochs; "
            f"resuming with --epochs {config.epochs} would bend that schedule. Use --epochs {saved.epochs}"
        )
    return saved
