"""Hostile and careless use of the command line: one line on stderr, a non-zero status, nothing lost.

Resource errors are real ones: a file-size limit set on the child process (the kernel refuses the
write, as it does on a full disk) and an address-space limit (NumPy's allocation fails).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from chainrule.cli import main

CHILD = "import sys; from chainrule.cli import main; sys.exit(main())"


def _run_limited(args, cwd, limit=None, timeout=300):
    """The chainrule command in a child process, with ``limit`` = (resource, bytes) applied to it."""

    def apply():
        if limit is not None:
            resource.setrlimit(limit[0], (limit[1], limit[1]))

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=cwd,
        env=env,
        preexec_fn=apply,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_error_line(stderr: str, command: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"chainrule {command}: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_an_empty_out_is_an_argument_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["train", "--dataset", "xor", "--out", ""])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --out: expected a directory, got an empty name" in err
    assert not (tmp_path / "runs").exists()  # it did not silently mean runs/xor


def test_train_refuses_a_directory_that_holds_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--dataset", "xor", "--hidden", "4", "--epochs", "1", "--out", str(out), "--quiet"]
    assert main(base + ["--seed", "1"]) == 0
    before = {name: (out / name).read_bytes() for name in ("model.npz", "checkpoint.npz", "config.json")}
    capsys.readouterr()
    assert main(base + ["--seed", "2"]) == 1
    line = _one_error_line(capsys.readouterr().err, "train")
    assert f"{out} already holds a run (config.json, checkpoint.npz, model.npz, history.json" in line
    assert "--resume" in line and "--overwrite" in line
    assert {name: (out / name).read_bytes() for name in before} == before  # nothing was touched


def test_overwrite_replaces_the_run_and_only_the_runs_files(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--dataset", "xor", "--hidden", "4", "--out", str(out), "--quiet"]
    assert main(base + ["--epochs", "3"]) == 0
    (out / "notes.txt").write_text("mine")
    before = {name: (out / name).read_bytes() for name in ("model.npz", "checkpoint.npz", "config.json")}
    # a replacement that cannot start (sizes too large) loses nothing of the old run
    assert main(base + ["--epochs", "2", "--overwrite", "--hidden", "1000000000000"]) == 1
    assert {name: (out / name).read_bytes() for name in before} == before
    assert main(base + ["--epochs", "2", "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"  # a file the run did not write is kept
    assert json.loads((out / "config.json").read_text())["epochs"] == 2
    # a new run, not the old one continued: two epochs in its history, and its own checkpoint
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())["epochs"]] == [1, 2]
    assert (out / "checkpoint.npz").read_bytes() != before["checkpoint.npz"]


def test_resume_and_overwrite_together_are_an_argument_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--dataset", "xor", "--out", str(tmp_path / "r"), "--resume", "--overwrite"])
    assert info.value.code == 2
    assert "--overwrite: not allowed with argument --resume" in capsys.readouterr().err


def test_out_naming_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "a-file"
    f.write_text("x")
    assert main(["train", "--dataset", "xor", "--out", str(f), "--quiet"]) == 1
    assert f"--out {f} is a file, not a directory" in _one_error_line(capsys.readouterr().err, "train")
    assert f.read_text() == "x"


def test_layer_sizes_too_large_to_allocate_end_in_one_line(tmp_path, capsys):
    out = tmp_path / "huge"
    assert main(["train", "--dataset", "xor", "--hidden", "1000000000000", "--out", str(out), "--quiet"]) == 1
    line = _one_error_line(capsys.readouterr().err, "train")
    assert "Linear: a tensor of shape (1000000000000, 2) and dtype float32 needs 7.28 TiB" in line
    assert not out.exists()  # refused before anything was written


def test_evaluate_on_a_run_whose_config_lists_huge_sizes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--hidden", "4", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    config["hidden"] = [10**12]
    (out / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 1
    line = _one_error_line(capsys.readouterr().err, "evaluate")
    assert "a tensor of shape (1000000000000, 2)" in line and "TiB" in line


def test_a_full_disk_ends_in_one_line_and_leaves_no_temporary_file(tmp_path):
    """The kernel refuses writes past the file-size limit (EFBIG), as it refuses them on a full disk."""
    r = _run_limited(
        ["train", "--dataset", "digits", "--hidden", "64", "--epochs", "1", "--out", "run", "--quiet"],
        cwd=tmp_path,
        limit=(resource.RLIMIT_FSIZE, 16_000),
    )
    assert r.returncode == 1, r.stderr
    line = _one_error_line(r.stderr, "train")
    assert "File too large" in line and "free space, or choose another --out" in line
    left = sorted(os.listdir(tmp_path / "run"))
    assert left == ["config.json"], left  # the checkpoint's temporary file was removed


def test_running_out_of_memory_ends_in_one_line(tmp_path):
    """Sizes the machine could hold, in a process allowed 1 GiB: NumPy's own MemoryError, reported in a line."""
    r = _run_limited(
        ["train", "--dataset", "xor", "--hidden", "30000,30000", "--epochs", "1", "--out", "run", "--quiet"],
        cwd=tmp_path,
        limit=(resource.RLIMIT_AS, 1 << 30),
    )
    assert r.returncode == 1, r.stderr
    line = _one_error_line(r.stderr, "train")
    assert "out of memory" in line and "use smaller sizes (--hidden, --channels, --batch-size)" in line
