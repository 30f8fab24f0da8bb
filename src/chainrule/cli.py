"""The ``chainrule`` command: train and evaluate MLPs on real data sets, explain gradients.

chainrule train --dataset digits --hidden 256,256 --epochs 40 --out runs/digits
chainrule evaluate runs/digits
chainrule explain seed003
chainrule graph shopping -o graph.svg
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from .errors import ArgumentError

DATASETS = ("xor", "spiral", "digits", "mnist1d", "fashion-mnist")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")
EXAMPLES = ("shopping", "neuron", "seed003")  # chainrule.explain.EXAMPLES (a test keeps the two equal)
GRAPH_FORMATS = ("dot", "gv", "svg", "png", "pdf")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument gives one line on stderr and exit status 2."""

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


def _graph_file(s):
    ext = os.path.splitext(s)[1].lstrip(".").lower()
    if ext not in GRAPH_FORMATS:
        raise argparse.ArgumentTypeError(f"expected a file ending in .{', .'.join(GRAPH_FORMATS)}, got {s!r}")
    return s


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="chainrule", description="Backpropagation you can see, at the speed of BLAS.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train an MLP on a data set", description="Train an MLP classifier.")
    t.add_argument("--dataset", required=True, choices=DATASETS)
    t.add_argument("--hidden", type=_hidden, default=[128], help="hidden layer sizes, e.g. 512,512 (default 128)")
    t.add_argument("--activation", choices=ACTIVATIONS, default="relu")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    t.add_argument("--lr", type=_positive_float, default=1e-3, help="learning rate (default 1e-3)")
    t.add_argument("--momentum", type=_fraction, default=0.9, help="for --optimizer momentum/nesterov (default 0.9)")
    t.add_argument(
        "--weight-decay",
        type=_nonnegative_float,
        default=None,
        help="L2 penalty (default 0; 0.01 for adamw, decoupled)",
    )
    t.add_argument("--dropout", type=_fraction, default=0.0, help="dropout after each hidden layer (default 0)")
    t.add_argument("--batch-norm", action="store_true", help="batch normalisation after each hidden Linear")
    t.add_argument("--batch-size", type=_positive_int, default=128)
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--scheduler", choices=("none", "cosine", "step"), default="none")
    t.add_argument("--label-smoothing", type=_fraction, default=0.0)
    t.add_argument("--seed", type=_nonnegative_int, default=0)
    t.add_argument("--out", default=None, help="directory for model.npz, history.json, plots (default runs/DATASET)")
    t.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    t.add_argument("--plot", action="store_true", help="also record per-layer diagnostics and plot them")
    t.add_argument("--data-root", default=None, help="where to find or cache downloaded data sets")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch table")

    e = sub.add_parser("evaluate", help="re-load a trained model and score it on the test split")
    e.add_argument("dir", help="a directory written by 'chainrule train'")
    e.add_argument("--data-root", default=None)

    x = sub.add_parser("explain", help="write out a gradient as its chain of local derivatives")
    x.add_argument("example", nargs="?", default=None, choices=EXAMPLES, help="shopping, neuron or seed003")
    x.add_argument("--format", choices=("text", "markdown", "html"), default="text")
    x.add_argument("--output", "-o", default=None, help="write to this file instead of stdout")
    x.add_argument("--model", default=None, help="a directory written by 'chainrule train'")
    x.add_argument("--sample", type=_nonnegative_int, default=0, help="with --model: which test sample (default 0)")
    x.add_argument("--data-root", default=None)

    g = sub.add_parser("graph", help="draw the computational graph of an example")
    g.add_argument("example", choices=EXAMPLES, help="shopping, neuron or seed003")
    g.add_argument("-o", "--output", required=True, type=_graph_file, help="file to write: .dot, .svg, .png or .pdf")
    return p


# ----------------------------------------------------------------------------- data and models
def load_dataset(name: str, seed: int = 0, root=None):
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
    raise ArgumentError(f"unknown dataset {name!r}")


def build_mlp(config: dict):
    """The MLP described by a config: Standardize, (Linear, [BatchNorm], act, [Dropout])*, Linear."""
    from . import nn

    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}
    gen = np.random.default_rng(config["seed"])
    drop_gen = np.random.default_rng(config["seed"] + 1)  # one stream shared by every dropout layer
    layers = [nn.Standardize(config["n_features"])]
    width = config["n_features"]
    for h in config["hidden"]:
        layers.append(nn.Linear(width, h, generator=gen))
        if config.get("batch_norm"):
            layers.append(nn.BatchNorm1d(h))
        layers.append(acts[config["activation"]]())
        if config.get("dropout"):
            layers.append(nn.Dropout(config["dropout"], generator=drop_gen))
        width = h
    layers.append(nn.Linear(width, config["n_classes"], generator=gen))
    return nn.Sequential(*layers)


def make_optimizer(args, params):
    from . import optim

    o = args.optimizer
    if o == "sgd":
        return optim.SGD(params, lr=args.lr, weight_decay=args.weight_decay)
    if o == "momentum":
        return optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    if o == "nesterov":
        return optim.SGD(params, lr=args.lr, momentum=args.momentum, nesterov=True, weight_decay=args.weight_decay)
    if o == "adagrad":
        return optim.Adagrad(params, lr=args.lr, weight_decay=args.weight_decay)
    if o == "rmsprop":
        return optim.RMSprop(params, lr=args.lr, weight_decay=args.weight_decay)
    if o == "adam":
        return optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    return optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)


# ----------------------------------------------------------------------------- commands
def cmd_train(args) -> int:
    from . import io, nn, optim
    from .train import Callback, evaluate, fit

    if args.weight_decay is None:
        args.weight_decay = 1e-2 if args.optimizer == "adamw" else 0.0
    data = load_dataset(args.dataset, args.seed, args.data_root)
    out = args.out or os.path.join("runs", args.dataset)
    config = {
        "dataset": args.dataset,
        "n_features": int(data.X_train.shape[1]),
        "n_classes": int(data.n_classes),
        "hidden": args.hidden,
        "activation": args.activation,
        "dropout": args.dropout,
        "batch_norm": args.batch_norm,
        "seed": args.seed,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "scheduler": args.scheduler,
        "label_smoothing": args.label_smoothing,
    }
    if args.batch_norm and args.batch_size < 2:
        raise ArgumentError("--batch-norm needs --batch-size 2 or more: a batch's statistics need two samples")
    _check_resume(args, out, config)
    os.makedirs(out, exist_ok=True)
    model = build_mlp(config)
    model[0].fit(data.X_train)
    opt = make_optimizer(args, model.parameters())
    sched = None
    if args.scheduler == "cosine":
        sched = optim.CosineAnnealingLR(opt, T_max=args.epochs)
    elif args.scheduler == "step":
        sched = optim.StepLR(opt, step_size=max(1, args.epochs // 3), gamma=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    from .data import DataLoader, TensorDataset

    # batch norm cannot normalise a last batch of one sample: drop it (it is a different one each epoch)
    drop_last = bool(args.batch_norm and len(data.X_train) % args.batch_size == 1)
    loader = DataLoader(
        TensorDataset(data.X_train, data.y_train),
        batch_size=args.batch_size,
        shuffle=True,
        seed=args.seed,
        drop_last=drop_last,
    )
    n_par = model.num_parameters()
    if not args.quiet:
        print(
            f"chainrule train: {args.dataset} ({len(data.X_train)} train / {len(data.X_test)} test, "
            f"{data.X_train.shape[1]} features, {data.n_classes} classes)"
        )
        print(
            f"model: {config['n_features']}-{'-'.join(map(str, args.hidden))}{'-' if args.hidden else ''}"
            f"{config['n_classes']} MLP, {args.activation}, {n_par:,} parameters; {args.optimizer} lr {args.lr}, "
            f"batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}"
        )

    class Table(Callback):
        def on_train_begin(self, trainer):
            if not args.quiet:
                print(f"{'epoch':>5}  {'loss':>8}  {'acc':>7}  {'test loss':>9}  {'test acc':>8}  {'time':>6}")

        def on_epoch_end(self, trainer, r):
            if not args.quiet:
                print(
                    f"{r['epoch']:>5}  {r['loss']:>8.4f}  {r['accuracy']:>7.2%}  {r['val_loss']:>9.4f}  "
                    f"{r['val_accuracy']:>8.2%}  {r['time']:>5.2f}s",
                    flush=True,
                )

    io.atomic_write(os.path.join(out, "config.json"), lambda f: f.write(json.dumps(config, indent=1).encode()))
    history = fit(
        model,
        loss_fn,
        opt,
        loader,
        args.epochs,
        val=(data.X_test, data.y_test),
        callbacks=[Table()],
        scheduler=sched,
        checkpoint_dir=out,
        resume=args.resume,
        seed=args.seed,
        progress=False if args.quiet else None,
        diagnostics=args.plot,
    )
    io.save(model, os.path.join(out, "model.npz"))
    history.to_json(os.path.join(out, "history.json"))
    final = evaluate(model, loss_fn, (data.X_test, data.y_test))
    plot_note = ""
    try:
        history.plot(os.path.join(out, "training.png"), val_label="test")
        plot_note = f", {os.path.join(out, 'training.png')}"
    except ImportError:
        plot_note = " (no plot: pip install 'chainrule[plot]' for training.png)"
    if args.plot and not args.quiet:
        print("per-layer diagnostics (gradient norm, update/weight ratio, fraction of dead ReLUs):")
        print(history.diagnostics())
    print(f"test accuracy {final['accuracy']:.2%}  (test loss {final['loss']:.4f})")
    print(f"wrote {os.path.join(out, 'model.npz')}, {os.path.join(out, 'history.json')}{plot_note}")
    return 0


_ARCHITECTURE = ("dataset", "n_features", "n_classes", "hidden", "activation", "dropout", "batch_norm")
# settings a resumed run takes from its checkpoint (the optimizer's state, the loader's position): a
# different value on the command line would be silently ignored, so it is refused instead
_TRAINING = ("optimizer", "lr", "momentum", "weight_decay", "label_smoothing", "batch_size", "scheduler", "seed")


def _check_resume(args, out, config):
    """With --resume, refuse settings that cannot continue the saved run (before anything is written)."""
    from .errors import ChainruleError

    cfg_path = os.path.join(out, "config.json")
    if not args.resume:
        return
    if not os.path.exists(cfg_path):
        sys.stderr.write(f"chainrule train: --resume: there is no run in {out} yet; starting a new one\n")
        return
    with open(cfg_path) as f:
        saved = json.load(f)
    # The optimizer's hyper-parameters as the checkpoint holds them are what a resume will use: they
    # are the truth where they exist (config.json of older versions did not always record them right).
    group = _checkpoint_group(out)
    if group:
        saved = dict(saved)
        saved["lr"] = group.get("initial_lr", group.get("lr", saved.get("lr")))
        saved["weight_decay"] = group.get("weight_decay", saved.get("weight_decay"))
        if "momentum" in group:
            saved["momentum"] = group["momentum"]
    keys = [k for k in _ARCHITECTURE + _TRAINING if k != "momentum" or config["optimizer"] in ("momentum", "nesterov")]
    diff = [k for k in keys if k in saved and saved.get(k) != config.get(k)]
    if diff:
        raise ChainruleError(
            f"--resume: the run in {out} has a different "
            + ", ".join(f"{k} ({saved.get(k)!r} there, {config.get(k)!r} now)" for k in diff)
            + "; use the same settings "
            "or another --out"
        )
    if config["scheduler"] != "none" and saved.get("epochs") != config["epochs"]:
        raise ChainruleError(
            f"--resume: the run in {out} was scheduled ({config['scheduler']}) over {saved.get('epochs')} epochs; "
            f"resuming with --epochs {config['epochs']} would bend that schedule. Use --epochs {saved.get('epochs')}"
        )


def _checkpoint_group(out) -> dict | None:
    """The first parameter group of the optimizer saved in ``out``'s checkpoint (None if unreadable)."""
    from . import io
    from .errors import ChainruleError
    from .train import CHECKPOINT_NAME

    path = os.path.join(out, CHECKPOINT_NAME)
    if not os.path.exists(path):
        return None
    try:
        groups = io.load(path)["optimizer"]["param_groups"]
        return dict(groups[0])
    except (ChainruleError, KeyError, IndexError, TypeError):
        return None  # fit reports an unreadable checkpoint itself


def _training_loss(config: dict):
    """The loss a saved run was trained with (label smoothing included), for scoring it the same way."""
    from . import nn

    return nn.CrossEntropyLoss(label_smoothing=config.get("label_smoothing", 0.0))


def load_run(directory: str):
    """(config, model) of a directory written by ``chainrule train``."""
    from . import io
    from .errors import ChainruleError

    cfg_path = os.path.join(directory, "config.json")
    if not os.path.exists(cfg_path):
        raise ChainruleError(f"{directory} holds no config.json; is it a directory written by 'chainrule train'?")
    with open(cfg_path) as f:
        config = json.load(f)
    try:
        model = build_mlp(config)
        if not isinstance(config["dataset"], str) or config["dataset"] not in DATASETS:
            raise ArgumentError(f"unknown dataset {config['dataset']!r}")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        what = f"missing {e}" if isinstance(e, KeyError) else str(e)
        raise ChainruleError(f"{cfg_path} is not a configuration written by 'chainrule train' ({what})") from None
    model.load_state_dict(io.load(os.path.join(directory, "model.npz")))
    model.eval()
    return config, model


def cmd_evaluate(args) -> int:
    from .train import evaluate

    config, model = load_run(args.dir)
    data = load_dataset(config["dataset"], config["seed"], args.data_root)
    res = evaluate(model, _training_loss(config), (data.X_test, data.y_test))
    print(
        f"{config['dataset']}: test accuracy {res['accuracy']:.2%}  (test loss {res['loss']:.4f}, "
        f"{len(data.X_test)} samples)"
    )
    return 0


def cmd_explain(args) -> int:
    from . import explain as ex

    if args.model:
        config, model = load_run(args.model)
        data = load_dataset(config["dataset"], config["seed"], args.data_root)
        if not 0 <= args.sample < len(data.X_test):
            raise ArgumentError(f"--sample must be in 0..{len(data.X_test) - 1}, got {args.sample}")

        trace = ex.explain_model(
            model,
            data.X_test[args.sample : args.sample + 1],
            data.y_test[args.sample : args.sample + 1],
            loss_fn=_training_loss(config),
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


def cmd_graph(args) -> int:
    from . import explain as ex

    out = ex.example_graph(args.example, args.output)
    print(f"wrote {out}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "explain" and args.example is None and args.model is None:
        parser.error("explain: name an example (shopping, neuron, seed003) or give --model DIR")
    from .errors import ChainruleError

    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "explain": cmd_explain, "graph": cmd_graph}
    try:
        return commands[args.command](args)
    except BrokenPipeError:  # e.g. piped into head
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("chainrule: interrupted" + ("; continue with --resume\n" if args.command == "train" else "\n"))
        return 130
    except (ChainruleError, ValueError, OSError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        sys.stderr.write(f"chainrule {args.command}: error: {msg}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
