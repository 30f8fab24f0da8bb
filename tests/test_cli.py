"""The chainrule command: train, evaluate, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main


def test_train_then_evaluate_digits(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "digits", "--hidden", "64", "--epochs", "3", "--out", str(out), "--seed", "0"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "epoch" in text and "test acc" in text and "test accuracy" in text
    for f in ("model.npz", "history.json", "config.json", "training.png", "checkpoint.npz"):
        assert (out / f).exists(), f
    hist = json.loads((out / "history.json").read_text())["epochs"]
    assert len(hist) == 3
    # evaluate re-loads the saved model and scores it independently of the training process
    assert main(["evaluate", str(out)]) == 0
    ev = capsys.readouterr().out
    acc = float(ev.split("test accuracy ")[1].split("%")[0]) / 100
    assert acc == pytest.approx(hist[-1]["val_accuracy"], abs=1e-4)
    assert f"test accuracy {acc:.2%}" in text


def test_resume_continues(tmp_path, capsys):
    out = tmp_path / "run"
    main(
        [
            "train",
            "--dataset",
            "xor",
            "--hidden",
            "8",
            "--epochs",
            "2",
            "--out",
            str(out),
            "--quiet",
            "--batch-size",
            "4",
            "--lr",
            "0.05",
        ]
    )
    main(
        [
            "train",
            "--dataset",
            "xor",
            "--hidden",
            "8",
            "--epochs",
            "4",
            "--out",
            str(out),
            "--quiet",
            "--batch-size",
            "4",
            "--lr",
            "0.05",
            "--resume",
        ]
    )
    hist = json.loads((out / "history.json").read_text())["epochs"]
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["train", "--dataset", "nope"], "invalid choice: 'nope'"),
        (["train", "--dataset", "xor", "--hidden", "4,x"], "comma-separated layer sizes"),
        (["train", "--dataset", "xor", "--lr", "-1"], "expected a positive number"),
        (["train", "--dataset", "xor", "--epochs", "0"], "expected a positive integer"),
        (["train"], "required: --dataset"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_one_line_and_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_runtime_error_is_one_line(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err
    assert "holds no config.json" in err and len(err.strip().splitlines()) == 1


def test_console_script_entry_point(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainrule.cli",
            "train",
            "--dataset",
            "spiral",
            "--hidden",
            "16",
            "--epochs",
            "2",
            "--out",
            str(tmp_path / "s"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout
    state = cr.load(tmp_path / "s" / "model.npz")
    assert state["1.weight"].shape == (16, 2) and state["1.weight"].dtype == np.float32


@pytest.mark.parametrize("fmt_", ["text", "markdown", "html"])
def test_explain_examples(fmt_, tmp_path, capsys):
    out = tmp_path / f"trace.{fmt_}"
    assert main(["explain", "seed003", "--format", fmt_, "--output", str(out)]) == 0
    body = out.read_text()
    from chainrule.explain import example_trace

    tr = example_trace("seed003")
    for p in ("w1", "w6", "b2"):
        assert f"{tr.grad(tr.tensor(p)).item():.9g}" in body
    assert main(["explain", "shopping"]) == 0
    assert "dprice/dtax = 650" in capsys.readouterr().out


def test_graph_command(tmp_path, capsys):
    assert main(["graph", "shopping", "-o", str(tmp_path / "g.dot")]) == 0
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    # an unknown example, an unknown picture format, or no example at all: argument errors (status 2)
    for argv, said in (
        (["graph", "nope", "-o", str(tmp_path / "g.dot")], "invalid choice: 'nope'"),
        (["graph", "shopping", "-o", str(tmp_path / "g.txt")], "expected a file ending in"),
        (["explain", "nope"], "invalid choice: 'nope'"),
        (["explain"], "name an example"),
    ):
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and said in err and len(err.strip().splitlines()) == 1


def test_cli_examples_are_the_explain_examples():
    from chainrule.cli import EXAMPLES
    from chainrule.explain import EXAMPLES as defined

    assert set(EXAMPLES) == set(defined)


def test_explain_a_saved_model(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "--dataset", "digits", "--hidden", "16", "--epochs", "1", "--out", str(out), "--quiet"])
    capsys.readouterr()
    assert main(["explain", "--model", str(out), "--sample", "5"]) == 0
    text = capsys.readouterr().out
    assert "One sample through Sequential" in text and "|dL/d1.weight|" in text and "[1] CrossEntropy" in text
    assert main(["explain", "--model", str(out), "--sample", "100000"]) == 1


def test_dropout_layers_draw_different_masks():
    from chainrule.runs import RunConfig, build_mlp

    cfg = RunConfig(dataset="xor", n_features=4, n_classes=2, hidden=[64, 64], dropout=0.5, seed=0)
    model = build_mlp(cfg)
    drops = [m for m in model if isinstance(m, cr.nn.Dropout)]
    a = drops[0](cr.ones(8, 64)).numpy()
    b = drops[1](cr.ones(8, 64)).numpy()
    assert not np.array_equal(a == 0, b == 0)


def test_resume_with_other_settings_is_refused_and_changes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--dataset", "xor", "--hidden", "8", "--epochs", "2", "--out", str(out), "--quiet"]
    assert main(args) == 0
    cfg = (out / "config.json").read_text()
    assert (
        main(["train", "--dataset", "xor", "--hidden", "16", "--epochs", "3", "--out", str(out), "--quiet", "--resume"])
        == 1
    )
    assert "different hidden ([8] there, [16] now)" in capsys.readouterr().err
    assert (out / "config.json").read_text() == cfg
    assert main(["evaluate", str(out)]) == 0


def test_adamw_weight_decay_as_given(tmp_path):
    out = tmp_path / "run"
    main(
        [
            "train",
            "--dataset",
            "xor",
            "--optimizer",
            "adamw",
            "--weight-decay",
            "0",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert json.loads((out / "config.json").read_text())["weight_decay"] == 0.0
    main(
        ["train", "--dataset", "xor", "--optimizer", "adamw", "--epochs", "1", "--out", str(tmp_path / "r2"), "--quiet"]
    )
    assert json.loads((tmp_path / "r2" / "config.json").read_text())["weight_decay"] == 0.01


def test_negative_seed_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", "xor", "--seed", "-1"])
    assert e.value.code == 2 and "--seed" in capsys.readouterr().err


def test_batch_norm_trains_when_the_last_batch_has_one_sample(tmp_path):
    n = len(cr.datasets.xor().X_train)
    bs = next(b for b in range(2, n) if n % b == 1)
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--dataset",
                "xor",
                "--hidden",
                "4",
                "--epochs",
                "1",
                "--out",
                str(out),
                "--quiet",
                "--batch-norm",
                "--batch-size",
                str(bs),
            ]
        )
        == 0
    )


def test_batch_norm_with_batch_size_one_is_refused_with_advice(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--batch-norm", "--batch-size", "1", "--out", str(out)]) == 1
    assert "--batch-size 2" in capsys.readouterr().err


# ------------------------------------------------------------------------------ evaluate
def test_evaluate_with_a_foreign_config_fails_in_one_line(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert main(["evaluate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "config.json" in err and len(err.strip().splitlines()) == 1


def test_evaluate_scores_with_the_loss_the_run_trained_with(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--dataset",
                "xor",
                "--hidden",
                "8",
                "--epochs",
                "3",
                "--out",
                str(out),
                "--quiet",
                "--label-smoothing",
                "0.3",
                "--batch-size",
                "8",
            ]
        )
        == 0
    )
    trained = capsys.readouterr().out
    assert main(["evaluate", str(out)]) == 0
    evaluated = capsys.readouterr().out
    loss = [float(t.split("test loss ")[1].split(",")[0].split(")")[0]) for t in (trained, evaluated)]
    assert loss[0] == loss[1]


# ------------------------------------------------------------------------------ resume
def test_resume_refuses_a_changed_optimizer_and_lr_and_rewrites_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--dataset", "xor", "--hidden", "4", "--out", str(out), "--quiet", "--batch-size", "4"]
    assert main(base + ["--epochs", "2"]) == 0
    config = (out / "config.json").read_text()
    capsys.readouterr()
    assert main(base + ["--epochs", "4", "--resume", "--optimizer", "sgd", "--lr", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "optimizer" in err and "lr" in err
    assert (out / "config.json").read_text() == config  # nothing rewritten


def test_resume_compares_with_the_optimizer_settings_the_checkpoint_holds(tmp_path):
    out = tmp_path / "run"
    base = ["train", "--dataset", "xor", "--hidden", "4", "--optimizer", "adamw", "--out", str(out), "--quiet"]
    assert main(base + ["--epochs", "2"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    cfg["weight_decay"] = 0.0  # what an older version wrote for adamw, while training with 0.01
    (out / "config.json").write_text(json.dumps(cfg))
    assert main(base + ["--epochs", "3", "--resume"]) == 0
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())["epochs"]] == [1, 2, 3]
    assert main(base + ["--epochs", "4", "--resume", "--weight-decay", "0.5"]) == 1


def test_resume_without_a_saved_run_says_it_starts_anew(tmp_path, capsys):
    out = tmp_path / "fresh"
    assert (
        main(["train", "--dataset", "xor", "--hidden", "4", "--epochs", "1", "--out", str(out), "--quiet", "--resume"])
        == 0
    )
    assert "no run in" in capsys.readouterr().err


# -- the run configuration, and the command's boundaries
def test_run_config_reads_and_writes_config_json_and_says_what_differs(tmp_path):
    import dataclasses

    from chainrule.runs import RunConfig

    # a config.json as the command has always written it (every setting, in this order)
    written = {
        "dataset": "digits",
        "n_features": 64,
        "n_classes": 10,
        "hidden": [256, 256],
        "activation": "tanh",
        "dropout": 0.3,
        "batch_norm": False,
        "seed": 4,
        "optimizer": "momentum",
        "lr": 0.05,
        "momentum": 0.8,
        "weight_decay": 0.0,
        "batch_size": 64,
        "epochs": 20,
        "scheduler": "cosine",
        "label_smoothing": 0.1,
    }
    (tmp_path / "config.json").write_text(json.dumps(written, indent=1))
    cfg = RunConfig.from_json(tmp_path / "config.json")
    # (with the settings added since: the network, mlp, as every older run's)
    assert cfg.to_dict() == written | {"model": "mlp", "channels": []}
    assert list(json.loads(cfg.to_json()))[: len(written)] == list(written)
    assert RunConfig.from_json(cfg.to_json()) == cfg
    # settings a file lacks take their defaults (weight decay: the optimizer's usual one)
    least = RunConfig.from_dict({k: written[k] for k in RunConfig.REQUIRED} | {"optimizer": "adamw"})
    assert (least.label_smoothing, least.batch_norm, least.dropout, least.weight_decay) == (0.0, False, 0.0, 0.01)
    changed = dataclasses.replace(cfg, lr=0.1, hidden=[256], epochs=30)
    assert cfg.diff(changed) == {"hidden": ([256, 256], [256]), "lr": (0.05, 0.1), "epochs": (20, 30)}
    assert list(cfg.diff(changed, ignore=("epochs",))) == ["hidden", "lr"]
    # momentum is a setting only of the optimizers that use it
    assert cfg.diff(dataclasses.replace(cfg, momentum=0.5)) == {"momentum": (0.8, 0.5)}
    adam = dataclasses.replace(cfg, optimizer="adam")
    assert adam.diff(dataclasses.replace(adam, momentum=0.5)) == {}
    for bad, said in (
        ({"dataset": "xor"}, "missing n_features, n_classes, hidden, activation, seed"),
        (written | {"activation": "swish"}, "activation must be one of relu"),
        (written | {"hidden": "256"}, "hidden must be a list"),
        ([1, 2], "expected a JSON object"),
    ):
        with pytest.raises(cr.errors.SerializationError, match=said):
            RunConfig.from_dict(bad, "run/config.json")


def test_resume_compares_the_lr_a_schedule_started_from(tmp_path, capsys):
    # a cosine schedule moves the optimizer's lr; the run's lr is the one it started from (initial_lr)
    out = tmp_path / "run"
    args = ["train", "--dataset", "xor", "--hidden", "4", "--scheduler", "cosine", "--out", str(out), "--quiet"]
    assert main(args + ["--epochs", "3", "--lr", "0.01"]) == 0
    assert cr.load(out / "checkpoint.npz")["optimizer"]["param_groups"][0]["lr"] != 0.01
    assert main(args + ["--epochs", "3", "--lr", "0.01", "--resume"]) == 0
    assert main(args + ["--epochs", "3", "--lr", "0.02", "--resume"]) == 1
    assert "different lr (0.01 there, 0.02 now)" in capsys.readouterr().err
    assert main(args + ["--epochs", "5", "--lr", "0.01", "--resume"]) == 1
    assert "would bend that schedule. Use --epochs 3" in capsys.readouterr().err


def test_cli_and_the_modules_it_uses_read_no_private_names():
    # the command parses and prints; runs, training, optimizers and step explanations use each other's public
    # names only (no `from .x import _y`, no `module._name` or `Class._name` of another module)
    import pathlib
    import re

    src = pathlib.Path(cr.__file__).parent
    files = ["cli.py", "runs.py", "train.py", "io.py", "explain/step.py", "explain/model.py"]
    files += [str(p.relative_to(src)) for p in (src / "optim").glob("*.py")]
    private_import = re.compile(r"^\s*from \.+[\w.]* import [^\n]*\b_[a-z]\w*", re.M)
    private_attr = re.compile(r"(?<![\w.])(?!self\b|cls\b)[A-Za-z]\w*\._[a-z]\w*")
    for f in files:
        text = (src / f).read_text()
        assert not private_import.search(text), f
        assert not private_attr.findall(text), (f, private_attr.findall(text))
    cli = (src / "cli.py").read_text()
    assert "param_groups" not in cli and "load_checkpoint" not in cli and "state_dict" not in cli


def test_train_cnn_and_gru_with_their_defaults_resume_and_evaluate(tmp_path, capsys):
    from chainrule.runs import RunConfig, model_defaults

    out = tmp_path / "cnn"
    base = ["train", "--dataset", "digits", "--model", "cnn", "--channels", "4,8", "--hidden", "16", "--out", str(out)]
    assert main(base + ["--epochs", "1", "--quiet"]) == 0
    cfg = RunConfig.from_json(out / "config.json")
    want = model_defaults("cnn", "digits")
    assert (cfg.model, cfg.channels, cfg.hidden) == ("cnn", [4, 8], [16])
    assert (cfg.batch_norm, cfg.dropout, cfg.scheduler) == (want["batch_norm"], want["dropout"], want["scheduler"])
    assert cfg.batch_norm and cfg.dropout > 0  # an image CNN's defaults
    # resuming needs no flags beyond what differs from the defaults (epochs: more of them)
    assert main(base + ["--epochs", "2", "--quiet", "--resume", "--scheduler", "cosine"]) == 1  # schedule bent
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    out = tmp_path / "gru"
    assert (
        main(["train", "--dataset", "digits", "--model", "gru", "--hidden", "8", "--epochs", "1", "--out", str(out)])
        == 0
    )
    text = capsys.readouterr().out
    assert "GRU, hidden 8" in text and "test accuracy" in text
    assert main(["evaluate", str(out)]) == 0


def test_train_refuses_a_cnn_on_plain_features(tmp_path, capsys):
    assert main(["train", "--dataset", "xor", "--model", "cnn", "--out", str(tmp_path / "x"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "needs data with a structure" in err and "use model 'mlp'" in err


def test_bare_command_prints_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: chainrule") and "train" in out and "sweep" in out and "export" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"chainrule {cr.__version__}"


def test_help_states_every_default():
    """Each option that takes a value says its default in --help (or is required): the text of the ones
    whose default depends on the model and data set says so; the others get "(default: X)" added."""
    import argparse

    from chainrule.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = []
    for name, sub in commands.items():
        text = sub.format_help()
        for action in sub._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS or action.nargs == 0 or action.required:
                continue
            shown = sub._get_formatter()._get_help_string(action) % vars(action)
            if "default" not in shown and "required" not in shown:
                missing.append(f"{name} {action.option_strings[0]}")
            assert " ".join(shown.split()[:3]) in " ".join(text.split())  # the formatted help is what --help shows
    assert missing == []
    assert "(default: 1)" in " ".join(commands["train"].format_help().split())  # --nproc's, added by the formatter


@pytest.mark.parametrize(("dataset", "at_least"), [("xor", 1.0), ("spiral", 0.99)])
def test_the_default_command_learns_the_toy_data_sets(dataset, at_least, tmp_path, capsys):
    """``chainrule train --dataset xor`` (and spiral) with every other setting left to its default."""
    assert main(["train", "--dataset", dataset, "--out", str(tmp_path / dataset), "--quiet"]) == 0
    text = capsys.readouterr().out
    accuracy = float(text.split("test accuracy ")[1].split("%")[0]) / 100
    assert accuracy >= at_least, text
    # scored again, independently of the training process
    assert main(["evaluate", str(tmp_path / dataset)]) == 0
    again = float(capsys.readouterr().out.split("test accuracy ")[1].split("%")[0]) / 100
    assert again == pytest.approx(accuracy, abs=1e-4)


def test_resume_reads_the_settings_from_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    first = ["train", "--dataset", "xor", "--hidden", "8", "--lr", "0.05", "--epochs", "2", "--out", str(out)]
    assert main(first + ["--quiet"]) == 0
    capsys.readouterr()
    # no --dataset, --hidden or --lr: they come from the run's config.json
    assert main(["train", "--resume", "--out", str(out), "--epochs", "4"]) == 0
    text = capsys.readouterr().out
    assert "2-8-2 MLP" in text and "lr 0.05" in text
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())["epochs"]] == [1, 2, 3, 4]
    # a flag that disagrees with the run is refused, as before
    assert main(["train", "--resume", "--out", str(out), "--lr", "0.5"]) == 1
    assert "different lr (0.05 there, 0.5 now)" in capsys.readouterr().err
    # --resume on a directory with no run, and no --dataset: says so
    assert main(["train", "--resume", "--out", str(tmp_path / "none")]) == 1
    assert f"--resume found no run in {tmp_path / 'none'}" in capsys.readouterr().err


def test_resuming_a_finished_run_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    before = json.loads((out / "history.json").read_text())["epochs"]
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"the run in {out} has already trained all its 2 epochs; nothing left to train" in text
    assert "epoch      loss" not in text  # no empty table
    assert json.loads((out / "history.json").read_text())["epochs"] == before
