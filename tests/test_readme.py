"""The README's first lines, and every example in it, run as pasted.

Every ```python block runs in a fresh interpreter (a subprocess in its own temporary directory, with
PYTHONPATH pointing at src/), exactly as written; checks of its results run in the same process after
it, against numbers computed independently. Every ``chainrule`` command of the ```sh blocks is
parsed by the command's own argument parser in every form the README writes it (``{a,b}``,
``[--x | --y]``, ``text|markdown``), and the cheap ones are run too, in order, in one directory per
block; the long ones are listed in SKIP_RUN with the reason they are only parsed.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import itertools
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import textwrap

import pytest

from chainrule.cli import build_parser

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TIMEOUT = 120  # seconds for one block or command: far more than any takes


def test_first_lines_are_the_two_commands():
    lines = README.splitlines()
    assert lines[0] == "# chainrule" and lines[1].startswith("```")
    assert lines[2].endswith("# (1) the main job") and "chainrule train --dataset" in lines[2]
    assert lines[3].endswith("# (2) the tests") and "pytest" in lines[3]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "# \\(2\\) the tests" in ci  # .ci/run executes exactly that README line


def blocks(language: str) -> list[tuple[int, str]]:
    """(line number, dedented text) of every fenced block of ``language`` (indented ones in lists too)."""
    found = []
    for m in re.finditer(rf"^( *)```{language}\n(.*?)^\1```", README, re.S | re.M):
        found.append((README.count("\n", 0, m.start()) + 1, textwrap.dedent(m.group(2))))
    return found


def child_env() -> dict:
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, MPLBACKEND="Agg")


def run(argv: list[str], cwd, what: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=TIMEOUT)
    tail = f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, f"{what} failed (exit {proc.returncode}):\n{tail}"
    return proc


# ------------------------------------------------------------------------------------------- python blocks
#: checks run after a block (chosen by a line the block contains), in the block's process; ``ns`` holds
#: the block's names. Each compares with a value computed another way.
CHECKS = {
    "W -= 0.1 * W.grad": """
        import numpy as np
        x, W = ns["x"].numpy(), ns["W"].numpy()
        W0 = W.astype(np.float64) + 0.1 * ns["W"].grad.numpy()   # the weights before the in-place step (to rounding)
        s = 1 / (1 + np.exp(-(x @ W0)))
        assert ns["x"].grad.shape == (1, 2)
        # d sum(sigmoid(x W)) / dx = (s (1 - s)) W^T
        np.testing.assert_allclose(ns["x"].grad.numpy(), (s * (1 - s)) @ W0.T, rtol=1e-4, atol=1e-6)
    """,
    "class MulLayer": """
        import pytest
        assert ns["price"].item() == pytest.approx(220)     # the tutorial's numbers
        assert ns["apple"].grad.item() == pytest.approx(2.2)
        assert ns["apple_num"].grad.item() == pytest.approx(110)
        assert ns["tax"].grad.item() == pytest.approx(200)
    """,
    "cr.data.DataLoader((X, y)": """
        import numpy as np
        assert np.isfinite(ns["loss"].item()) and ns["X"].shape == (1024, 784)
    """,
    "class Cube": """
        import numpy as np
        np.testing.assert_allclose(ns["g"].numpy(), 6 * np.array([1.0, 2.0]) ** 2)   # d/dx 2 x^3 = 6 x^2
        np.testing.assert_allclose(ns["h"].numpy(), 12 * np.array([1.0, 2.0]))       # d/dx 6 x^2 = 12 x
    """,
    "dist.DistributedDataParallel": """
        from chainrule import distributed as dist
        assert dist.world_size() == 1 and len(list(ns["loader"])) == 8   # a world of one: every batch of 64
    """,
    "cr.onnx.export(model": """
        import numpy as np
        expected = ns["model"](ns["X_test"]).numpy()         # chainrule's own output
        assert ns["scores"].shape == (len(ns["X_test"]), 10)
        np.testing.assert_allclose(ns["scores"], expected, rtol=1e-5, atol=1e-5)
    """,
    "MLPClassifier(hidden_layer_sizes": """
        assert ns["clf"].score(ns["X_test"], ns["y_test"]) > 0.95      # digits, 256 hidden units
        assert type(ns["net"]).__name__ == "Sequential"
    """,
    "safetensors.torch.load_file": """
        import numpy as np, torch
        x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
        with torch.no_grad():
            theirs = ns["torch_model"](torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(ns["model"](x).numpy(), theirs, rtol=1e-6, atol=1e-6)   # the same weights
    """,
    "class Sin(cr.Function)": """
        import numpy as np
        import chainrule as cr
        x = cr.tensor([0.5, 1.0], dtype=cr.float64, requires_grad=True)
        (g,) = cr.grad(ns["Sin"]()(x).sum(), [x], create_graph=True)
        (h,) = cr.grad(g.sum(), [x])
        np.testing.assert_allclose(g.numpy(), np.cos([0.5, 1.0]))
        np.testing.assert_allclose(h.numpy(), -np.sin([0.5, 1.0]))     # second derivatives through backward
    """,
}


def summary_output_check(block_line: int, stdout: str) -> None:
    """The summary block's output is the text block the README shows right after it."""
    shown = re.search(r"print\(cr\.summary\(model, \(1, 1, 8, 8\)\)\)\n```\n```\n(.*?)```", README, re.S).group(1)
    assert stdout == shown


OUTPUT_CHECKS = {"print(cr.summary(model, (1, 1, 8, 8)))": summary_output_check}


def imported_modules(code: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


PYTHON_BLOCKS = blocks("python")


def test_every_check_finds_its_block():
    for marker in list(CHECKS) + list(OUTPUT_CHECKS):
        assert sum(marker in code for _, code in PYTHON_BLOCKS) == 1, marker


@pytest.mark.parametrize("line, code", PYTHON_BLOCKS, ids=[f"README line {n}" for n, _ in PYTHON_BLOCKS])
def test_python_block_runs_as_pasted(line, code, tmp_path):
    missing = sorted(m for m in imported_modules(code) if importlib.util.find_spec(m) is None)
    if missing:
        pytest.skip(f"the block imports {', '.join(missing)}, which is not installed")
    (tmp_path / "snippet.py").write_text(code)
    checks = "".join(textwrap.dedent(c) for marker, c in CHECKS.items() if marker in code)
    driver = "import runpy\nns = runpy.run_path('snippet.py', run_name='__main__')\n" + checks
    proc = run([sys.executable, "-c", driver], tmp_path, f"README line {line}:\n{code}")
    for marker, check in OUTPUT_CHECKS.items():
        if marker in code:
            check(line, proc.stdout)


# ----------------------------------------------------------------------------------------------- sh blocks
#: commands only parsed, never run here: a prefix of the command (as the README writes it) -> why
SKIP_RUN = {
    "chainrule train --dataset digits --hidden 512 --dropout 0.3": "command (1), the main job: 60 epochs on digits",
    "chainrule train --dataset fashion-mnist": "a network on Fashion-MNIST: minutes, and the data set",
    "chainrule train ...": "'...' stands for the options above",
    "chainrule train --config": "needs the best_config.json a sweep writes",
    "chainrule sweep": "a sweep trains many runs (tests/test_sweep.py runs small ones)",
    "chainrule export runs/digits": "needs command (1)'s run in runs/digits",
    "python3 -m venv": "installs the package into a new virtual environment",
    "python -m pytest": "the test suite itself",
    "python train.py": "the reader's own script",
}

#: the README's placeholders, and what a run here puts in their place
PLACEHOLDERS = {"DIR2": "runs/readme2", "DIR": "runs/readme", "FILE": "explain.txt", "N": "0"}

LAUNCHERS = {"mpiexec", "mpirun", "srun"}


def commands(text: str) -> list[str]:
    """The ``chainrule`` and ``python`` commands of a sh block, one string each (continuations joined,
    comments dropped; a command started by mpiexec/mpirun/srun is taken from its chainrule or python on)."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" # ")[0].split("   #")[0].strip()
        if not line or line.startswith("#"):
            continue
        for part in line.split("&&"):
            words = part.split()
            while words and re.match(r"^[A-Z_]+=", words[0]):
                words = words[1:]  # VAR=value before the command
            if words and words[0] in LAUNCHERS:
                words = list(itertools.dropwhile(lambda w: w not in ("chainrule", "python", "python3"), words))
            if words and words[0] in ("chainrule", "python", "python3"):
                out.append(" ".join(words))
    return out


def variants(command: str) -> list[list[str]]:
    """Every form the README's notation allows: ``[a | b]`` none, a or b; ``{x,y}`` and ``p|q`` each choice."""
    pieces = re.split(r"(\[[^\]]*\])", command)
    options = []
    for piece in pieces:
        if piece.startswith("["):
            options.append([""] + [alt.strip() for alt in piece[1:-1].split(" | ")])
        else:
            options.append([piece])
    forms = []
    for combo in itertools.product(*options):
        words = [w for w in " ".join(combo).split() if w != "..."]
        choices = [re.sub(r"^\{(.*)\}$", r"\1", w).split(",") if w.startswith("{") else w.split("|") for w in words]
        forms += [list(f) for f in itertools.product(*choices)]
    return [[PLACEHOLDERS.get(w, w.replace("DIR/", "runs/readme/")) for w in f] for f in forms]


def run_form(command: str) -> list[str]:
    """The form that is run: optional parts left out, the first of each choice."""
    return variants(re.sub(r"\s*\[[^\]]*\]", "", command))[0]


SH_BLOCKS = blocks("sh")


def test_the_sh_blocks_hold_the_commands_this_test_knows():
    found = [c for _, text in SH_BLOCKS for c in commands(text)]
    assert len(SH_BLOCKS) >= 6 and len(found) >= 20, found
    for prefix in SKIP_RUN:
        assert any(c.startswith(prefix) for c in found), f"SKIP_RUN lists {prefix!r}, which the README no longer has"


def parse(argv: list[str]) -> None:
    """Parse ``chainrule`` arguments with the command's own parser; fail with argparse's message."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as e:
        assert e.code == 0, f"chainrule {shlex.join(argv)}: {err.getvalue().strip()}"


def why_not_run(command: str) -> str | None:
    reason = next((why for prefix, why in SKIP_RUN.items() if command.startswith(prefix)), None)
    if reason is None and command.startswith("chainrule graph") and shutil.which("dot") is None:
        reason = "Graphviz's dot program is not installed"
    if reason is None and command.startswith("chainrule export") and importlib.util.find_spec("onnx") is None:
        reason = "the onnx package is not installed"
    return reason


@pytest.mark.parametrize("line, text", SH_BLOCKS, ids=[f"README line {n}" for n, _ in SH_BLOCKS])
def test_sh_block_commands_parse_and_the_cheap_ones_run(line, text, tmp_path):
    skipped = []
    for command in commands(text):
        if command.startswith("chainrule "):
            for argv in variants(command):
                parse(argv[1:])
        reason = why_not_run(command)
        if reason is not None:
            skipped.append(f"{command!r}: {reason}")
            continue
        argv = run_form(command)
        if argv[0] == "chainrule":
            argv = [sys.executable, "-c", "import sys; from chainrule.cli import main; sys.exit(main())", *argv[1:]]
        else:
            argv = [sys.executable, *argv[1:]]
        run(argv, tmp_path, f"README line {line}: {command}")
    print("\n".join(["only parsed:"] + skipped) if skipped else "every command ran")
