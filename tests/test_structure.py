"""The shape of the code: modules use each other's public names only, and the engine's functions stay small."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import chainrule as cr

SRC = pathlib.Path(cr.__file__).parent
#: The engine: tensors, nodes, the walk, in-place rules, namespaces, modes and the operations. These
#: share the internals of Tensor and Function objects (``t._edge``, ``node._saved``); nothing else may.
CORE = {"tensor.py", "function.py", "autograd.py", "inplace.py", "namespace.py", "modes.py", "anomaly.py"}
#: Tensor and Function internals, by name: outside the engine they are read through public properties
#: (grad_fn, output_nr, is_leaf, requires_grad, _version, n_outputs, freed, hooks(), next_functions).
ENGINE_INTERNALS = {
    "_wrap",
    "_edge",
    "_edges",
    "_requires_grad",
    "_vc",
    "_hooks",
    "_extra",
    "_saved",
    "_tick",
    "_outs",
    "_n_out",
    "_free",
    "_retain",
    "_hooks_for",
}


def _files():
    for p in sorted(SRC.rglob("*.py")):
        rel = p.relative_to(SRC).as_posix()
        yield rel, ast.parse(p.read_text(), filename=rel)


def _imported_names(tree) -> set:
    """Names a module binds by importing from chainrule itself (relative imports)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            names.update(a.asname or a.name for a in node.names)
    return names


def test_no_module_imports_another_modules_underscore_names():
    found = []
    for rel, tree in _files():
        imported = _imported_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                found += [f"{rel}:{node.lineno} imports {a.name}" for a in node.names if a.name.startswith("_")]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                private = node.attr.startswith("_") and not node.attr.startswith("__")
                if private and node.value.id in imported:  # module._name or Class._name of another module
                    found.append(f"{rel}:{node.lineno} reads {node.value.id}.{node.attr}")
    assert not found, "\n".join(found)


def test_outside_the_engine_no_code_reads_tensor_or_node_internals():
    found = []
    for rel, tree in _files():
        if rel in CORE or rel.startswith("ops/"):
            continue
        for node in ast.walk(tree):
            own = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
            if isinstance(node, ast.Attribute) and node.attr in ENGINE_INTERNALS and not own:
                found.append(f"{rel}:{node.lineno} reads .{node.attr}")
    assert not found, "\n".join(found)


def test_engine_functions_stay_below_cyclomatic_complexity_15():
    pytest.importorskip("radon")
    files = [str(SRC / f) for f in ("tensor.py", "function.py", "autograd.py")]
    out = subprocess.run(
        [sys.executable, "-m", "radon", "cc", "--min", "C", "-s", *files], capture_output=True, text=True, check=True
    ).stdout
    too_complex = [line.strip() for line in out.splitlines() if line.strip().endswith(")") and _cc(line) > 15]
    assert not too_complex, "\n".join(too_complex)


def _cc(line: str) -> int:
    return int(line.rsplit("(", 1)[1].rstrip(")"))
