"""chainrule sweep: Optuna studies of training runs, shared by worker processes (a journal file, a real
PostgreSQL server), pruning, results and the best configuration trained again with one command."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

optuna = pytest.importorskip("optuna")  # in the test extra: CI runs these

from chainrule.cli import main  # noqa: E402
from chainrule.errors import ArgumentError  # noqa: E402
from chainrule.sweep import parse_param, setting_value  # noqa: E402

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
# a trial long enough (about 0.5 s) that two workers started together both get some of the queue
SLOW_TRIAL = ["--dataset", "digits", "--param", "lr=log:1e-3:1e-2", "--param", "batch_size=choice:16"]
SLOW_TRIAL += ["--param", "hidden=choice:128", "--epochs", "2", "--pruner", "none", "--quiet"]


def _cli(*args, timeout=120):
    """The chainrule command in a process of its own (the source tree under test first on the path)."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "chainrule.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _journal(path):
    j = optuna.storages.journal
    return j.JournalStorage(j.JournalFileBackend(str(path)))


# ----------------------------------------------------------------------------- arguments
def test_param_syntax():
    p = parse_param("lr=log:1e-4:1e-2")
    assert (p.name, p.kind, p.low, p.high) == ("lr", "log", 1e-4, 1e-2)
    assert parse_param("dropout=float:0:0.5").kind == "float"
    b = parse_param("batch_size=log:16:256")  # an integer setting on a log scale
    assert (b.kind, b.low, b.high) == ("log", 16, 256) and isinstance(b.low, int)
    h = parse_param("hidden=choice:256,512,512x512")
    assert h.choices == ("256", "512", "512x512")
    assert [setting_value("hidden", c) for c in h.choices] == [[256], [512], [512, 512]]
    assert setting_value("hidden", "none") == [] and setting_value("batch_norm", "off") is False
    assert parse_param("optimizer=choice:adam,sgd").choices == ("adam", "sgd")
    assert parse_param("weight-decay=float:0:0.01").name == "weight_decay"
    with pytest.raises(ArgumentError, match="unknown setting 'lrate'"):
        parse_param("lrate=log:1e-4:1e-2")


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--param", "frobs=log:1e-4:1e-2"], "unknown setting 'frobs'"),
        (["--param", "lr=uniform:1e-4:1e-2"], "the range must start with one of log:, float:, int:, choice:"),
        (["--param", "lr"], "expected NAME=KIND:"),
        (["--param", "lr=log:1e-2:1e-4"], "expected LOW < HIGH"),
        (["--param", "weight_decay=log:0:0.1"], "a log range needs LOW > 0"),
        (["--param", "lr=log:1e-4"], "expected log:LOW:HIGH"),
        (["--param", "lr=log:a:b"], "expected log:LOW:HIGH"),
        (["--param", "dropout=float:0:1.5"], "dropout must be a number in [0, 1)"),
        (["--param", "hidden=choice:64,12a"], "'12a' is not a value of hidden"),
        (["--param", "hidden=log:16:256"], "hidden takes no range"),
        (["--param", "optimizer=choice:adam,adamz"], "optimizer must be one of"),
        (["--param", "epochs=float:1:5"], "epochs is an integer"),
        (["--param", "lr=int:1:5"], "lr is a number, not an integer"),
        (["--param", "seed=int:0:5"], "seed is a setting of the whole sweep"),
        (["--param", "lr=log:1e-4:1e-2", "--param", "lr=float:0.1:0.2"], "--param lr given more than once"),
        ([], "give at least one --param"),
        (["--param", "lr=log:1e-4:1e-2", "--pruner", "average"], "expected median, none or threshold:X"),
        (["--param", "lr=log:1e-4:1e-2", "--trials", "0"], "expected a positive integer"),
    ],
)
def test_bad_sweep_arguments_exit_2_with_one_line(argv, fragment, capsys):
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--dataset", "xor", *argv])
    err = capsys.readouterr().err
    assert e.value.code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def test_join_takes_the_settings_from_the_study(capsys):
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--join", "x.journal", "--study", "s", "--param", "lr=log:1e-4:1e-2", "--epochs", "3"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--param, --epochs" in err and "takes the sweep's settings" in err
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--param", "lr=log:1e-4:1e-2"])
    assert e.value.code == 2 and "required: --dataset" in capsys.readouterr().err


# ----------------------------------------------------------------------------- workers sharing a study
def _check_shared(trials, n, parent_pid):
    """n finished trials, run by two worker processes (never the parent), each worker named on its trials."""
    assert len(trials) == n, [t.state for t in trials]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    pids = {t.user_attrs["pid"] for t in trials}
    assert len(pids) == 2 and parent_pid not in pids, pids
    assert all(t.user_attrs["worker"].endswith(f":{t.user_attrs['pid']}") for t in trials)
    assert sorted(t.number for t in trials) == list(range(n))


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_worker_processes_share_one_local_study(tmp_path, kind):
    out = tmp_path / "sweep"
    # the default: a journal file in the sweep's directory; or an SQLite database (which needs a lock of
    # chainrule's so that two workers never take the same trial)
    where = [] if kind == "journal" else ["--storage", f"sqlite:///{tmp_path / 'study.db'}"]
    r = _cli("sweep", *SLOW_TRIAL, "--trials", "6", "--workers", "2", "--out", str(out), "--study", "s", *where)
    assert r.returncode == 0, r.stderr
    storage = _journal(out / "study.journal") if kind == "journal" else f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.load_study(study_name="s", storage=storage)
    trials = study.get_trials()
    _check_shared(trials, 6, parent_pid=None)
    # each trial is a chainrule training run in its own directory, the metric its last epoch's
    for t in trials:
        run = out / f"trial-{t.number:04d}"
        history = json.loads((run / "history.json").read_text())["epochs"]
        assert t.value == history[-1]["val_accuracy"] and len(history) == 2
        config = json.loads((run / "config.json").read_text())
        assert config["lr"] == t.params["lr"] and config["batch_size"] == 16 and config["hidden"] == [128]
    results = json.loads((out / "results.json").read_text())
    assert [row["trial"] for row in results["trials"]] == list(range(6))
    assert results["best"]["trial"] == study.best_trial.number
    assert "trial" in r.stdout and "COMPLETE" in r.stdout and "best_config.json" in r.stdout


def test_pruning_ends_the_trials_the_pruner_rejects(tmp_path, capsys):
    # val_accuracy can never reach 1.5: a threshold pruner must end every trial after its first epoch
    out = tmp_path / "pruned"
    argv = ["sweep", "--dataset", "xor", "--param", "lr=log:1e-3:1e-1", "--trials", "3", "--epochs", "3"]
    assert main([*argv, "--out", str(out), "--pruner", "threshold:1.5", "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["state"] for r in results["trials"]] == ["PRUNED"] * 3
    assert [r["epochs"] for r in results["trials"]] == [1] * 3
    for r in results["trials"]:  # the run itself stopped after one epoch
        assert len(json.loads((out / f"trial-{r['trial']:04d}" / "history.json").read_text())["epochs"]) == 1
    assert results["best"] is None and not (out / "best_config.json").exists()
    assert "no trial completed" in capsys.readouterr().out
    # and a threshold every trial passes prunes none
    out2 = tmp_path / "kept"
    assert main([*argv, "--out", str(out2), "--pruner", "threshold:-1", "--quiet"]) == 0
    results = json.loads((out2 / "results.json").read_text())
    assert [(r["state"], r["epochs"]) for r in results["trials"]] == [("COMPLETE", 3)] * 3


def test_median_pruner_settings():
    from chainrule.sweep import SweepSettings

    s = SweepSettings(dataset="xor", params=["lr=log:1e-3:1e-1"], trials=2, out=".", warmup_epochs=3)
    p = s.pruner_object()
    assert isinstance(p, optuna.pruners.MedianPruner)
    none = SweepSettings(dataset="xor", params=["lr=log:1e-3:1e-1"], trials=2, out=".", pruner="none")
    assert isinstance(none.pruner_object(), optuna.pruners.NopPruner)
    loss = SweepSettings(dataset="xor", params=["lr=log:1e-3:1e-1"], trials=2, out=".", metric="val_loss")
    assert loss.direction == "minimize" and s.direction == "maximize"


def test_best_config_trains_again_to_the_same_result_with_one_command(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--dataset", "digits", "--param", "lr=log:1e-3:3e-2", "--param", "hidden=choice:16,32x32"]
    assert main([*argv, "--trials", "4", "--epochs", "3", "--out", str(out), "--pruner", "none", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    best_config = out / "best_config.json"
    assert f"chainrule train --config {best_config} --out runs/best" in printed
    # the best trial, found again from the runs' own histories
    finals = {}
    for d in sorted(glob.glob(str(out / "trial-*"))):
        finals[d] = json.loads(open(os.path.join(d, "history.json")).read())["epochs"][-1]["val_accuracy"]
    best_dir = max(finals, key=lambda d: (finals[d], -int(d[-4:])))
    assert json.loads(best_config.read_text()) == json.loads(open(os.path.join(best_dir, "config.json")).read())
    assert json.loads(best_config.read_text())["seed"] == 3
    # one command trains it again: same settings, same seed, the same final validation accuracy exactly
    assert main(["train", "--config", str(best_config), "--out", str(tmp_path / "best"), "--quiet"]) == 0
    again = json.loads((tmp_path / "best" / "history.json").read_text())["epochs"]
    assert again[-1]["val_accuracy"] == finals[best_dir]
    assert json.loads((tmp_path / "best" / "config.json").read_text()) == json.loads(best_config.read_text())
    # flags given override the file's settings
    assert main(["train", "--config", str(best_config), "--epochs", "1", "--out", str(tmp_path / "b1"), "--quiet"]) == 0
    one = json.loads((tmp_path / "b1" / "config.json").read_text())
    assert one == {**json.loads(best_config.read_text()), "epochs": 1}


def test_rerunning_a_sweep_tops_up_its_queue_and_refuses_other_settings(tmp_path, capsys):
    out = str(tmp_path / "s")
    argv = ["sweep", "--dataset", "xor", "--param", "lr=log:1e-3:1e-1", "--epochs", "1", "--out", out, "--quiet"]
    assert main([*argv, "--trials", "2"]) == 0
    assert main([*argv, "--trials", "3"]) == 0
    assert len(json.loads(open(os.path.join(out, "results.json")).read())["trials"]) == 3
    capsys.readouterr()
    assert main([*[a if a != "1" else "2" for a in argv], "--trials", "3"]) == 1
    assert "already holds a sweep with other settings (epochs: 1 there, 2 now)" in capsys.readouterr().err


# ----------------------------------------------------------------------------- a real PostgreSQL server
def _postgres_bin():
    for d in [os.path.dirname(shutil.which("initdb") or "")] + sorted(glob.glob("/usr/lib/postgresql/*/bin"))[::-1]:
        if d and all(os.path.exists(os.path.join(d, p)) for p in ("initdb", "pg_ctl", "createdb")):
            return d
    return None


def _unprivileged():
    """The command prefix that runs PostgreSQL's programs as an unprivileged user (it refuses root)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A PostgreSQL server on 127.0.0.1 with a database 'chainrule', in a temporary cluster; its URL."""
    bindir, prefix = _postgres_bin(), _unprivileged()
    if bindir is None or prefix is None:
        why = "no PostgreSQL (initdb, pg_ctl)" if bindir is None else "running as root with no runuser or setpriv"
        if os.environ.get("CHAINRULE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"CHAINRULE_REQUIRE_POSTGRES=1 but {why}; apt-get install postgresql")
        pytest.skip(why)
    pytest.importorskip("psycopg2")
    root = tempfile.mkdtemp(prefix="chainrule-pg-")
    if os.geteuid() == 0:
        shutil.chown(root, "nobody", "nogroup")
    data, port = os.path.join(root, "data"), _free_port()

    def pg(tool, *args):
        subprocess.run([*prefix, os.path.join(bindir, tool), *args], check=True, capture_output=True, timeout=120)

    started = False
    try:
        pg("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
        pg("pg_ctl", "-D", data, "-l", os.path.join(root, "log"), "-w", "-t", "60", "-o", opts, "start")
        started = True
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "chainrule")
        yield f"postgresql://postgres@127.0.0.1:{port}/chainrule"
    finally:
        if started:
            pg("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_a_study_in_a_real_postgresql_server(postgres, tmp_path):
    import psycopg2

    out = str(tmp_path / "sweep")
    # create the study and its queue of 6 trials, with no worker here ...
    r = _cli(
        "sweep", *SLOW_TRIAL, "--trials", "6", "--workers", "0", "--storage", postgres, "--study", "pg", "--out", out
    )
    assert r.returncode == 0, r.stderr
    # ... then two workers that know only the database and the study's name, as on two other machines
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    join = [sys.executable, "-m", "chainrule.cli", "sweep", "--join", postgres, "--study", "pg", "--quiet"]
    workers = [subprocess.Popen(join, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err.decode()
    study = optuna.load_study(study_name="pg", storage=postgres.replace("postgresql://", "postgresql+psycopg2://"))
    _check_shared(study.get_trials(), 6, parent_pid=os.getpid())
    # the trials are rows of the server's database
    with psycopg2.connect(postgres) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'")
        assert cur.fetchone()[0] == 6
    # the settings came from the study: every trial trained with the creator's settings
    assert all(
        t.user_attrs["config"]["hidden"] == [128] and t.user_attrs["config"]["epochs"] == 2 for t in study.trials
    )
    final = _cli("sweep", "--join", postgres, "--study", "pg", "--workers", "0")
    assert final.returncode == 0 and final.stdout.count("COMPLETE") == 6, final.stderr


def test_without_optuna_the_error_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now fails, as when it is not installed
    argv = ["sweep", "--dataset", "xor", "--param", "lr=log:1e-3:1e-1", "--out", str(tmp_path / "s")]
    assert main(argv) == 1
    assert "pip install 'chainrule[sweep]'" in capsys.readouterr().err


def test_without_psycopg2_a_postgresql_study_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    argv = ["sweep", "--dataset", "xor", "--param", "lr=log:1e-3:1e-1", "--out", str(tmp_path / "s")]
    assert main([*argv, "--storage", "postgresql://u@127.0.0.1:1/db"]) == 1
    assert "pip install 'chainrule[sweep-postgres]'" in capsys.readouterr().err


def test_join_finds_the_study_or_says_what_is_there(tmp_path, capsys):
    assert main(["sweep", "--join", str(tmp_path / "nothing.journal"), "--study", "s"]) == 1
    assert "no such journal file" in capsys.readouterr().err and not (tmp_path / "nothing.journal").exists()
    out = str(tmp_path / "s")
    argv = ["sweep", "--dataset", "xor", "--param", "lr=log:1e-3:1e-1", "--epochs", "1", "--trials", "1"]
    assert main([*argv, "--out", out, "--quiet", "--study", "first"]) == 0
    journal = os.path.join(out, "study.journal")
    assert main(["sweep", "--join", journal, "--study", "other"]) == 1
    assert "no study 'other'" in capsys.readouterr().err
    # with one study in the storage its name can be left out; --workers 0 only prints the results
    capsys.readouterr()
    assert main(["sweep", "--join", journal, "--workers", "0"]) == 0
    assert "COMPLETE" in capsys.readouterr().out


def test_train_config_that_is_not_there_or_not_a_config(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.json"), "--out", str(tmp_path / "r")]) == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"lr": 0.1}')
    assert main(["train", "--config", str(tmp_path / "bad.json"), "--out", str(tmp_path / "r")]) == 1
    assert "is not a configuration written by 'chainrule train' (missing dataset" in capsys.readouterr().err
