"""help(cr.explain): the function's signature and docstring first, then the module's other tools."""

from __future__ import annotations

import contextlib
import inspect
import io
import pydoc
import re

import chainrule as cr
from chainrule.explain.trace import explain as explain_function

ARGUMENTS = list(inspect.signature(explain_function).parameters)


def help_text(obj) -> str:
    """What ``help(obj)`` prints, through pydoc's own Helper."""
    out = io.StringIO()
    pydoc.Helper(output=out).help(obj)
    return out.getvalue()


def test_help_shows_the_function_first():
    assert ARGUMENTS[:2] == ["output", "max_elements"]  # the function these checks are about
    for text in (pydoc.render_doc(cr.explain, renderer=pydoc.plaintext), help_text(cr.explain)):
        description = text.split("DESCRIPTION", 1)[1]
        # the signature, with every argument, names the package; the docstring opens the description
        name_line = text.split("NAME", 1)[1].strip().splitlines()[0]
        assert name_line.startswith("chainrule.explain - cr.explain(output, "), name_line
        assert name_line.endswith(") -> Trace") and all(re.search(rf"\b{a}\b", name_line) for a in ARGUMENTS)
        doc_lines = [line.strip() for line in inspect.getdoc(explain_function).splitlines() if line.strip()]
        body = [line.strip() for line in description.splitlines() if line.strip()]
        assert body[: len(doc_lines)] == doc_lines  # the function's docstring, whole and first
        # then an example, then the module's other tools, listed before pydoc's sections document them
        assert description.index("Example::") < description.index("cr.explain is also the module")
        assert description.index("cr.explain is also the module") < description.index("FUNCTIONS")
        listing = description.split("cr.explain is also the module", 1)[1].split("PACKAGE CONTENTS")[0]
        for name in cr.explain.__all__:
            if name != "explain":
                assert re.search(rf"^\s+{name}\s{{2,}}\S", listing, re.M), name


def test_doc_and_signature_are_the_functions():
    first = cr.explain.__doc__.splitlines()[0]
    sig = inspect.signature(explain_function)
    params = [p.replace(annotation=p.empty) for p in sig.parameters.values()]
    plain = sig.replace(parameters=params, return_annotation=sig.empty)
    assert first == f"cr.explain{plain} -> Trace"  # today: (output, max_elements=6, lr=None, name=None, title=None)
    assert inspect.getdoc(explain_function) in cr.explain.__doc__
    assert inspect.signature(cr.explain) == inspect.signature(explain_function)  # what a notebook's `?` shows
    assert cr.explain.explain is explain_function and isinstance(cr.explain, type(cr))  # still a module


def test_the_examples_in_the_help_run():
    examples = [m.group(1) for m in re.finditer(r"Example::\n((?:(?:    .*)?\n)+)", cr.explain.__doc__ + "\n")]
    assert examples, "help(cr.explain) shows no example"
    for example in examples:
        code = inspect.cleandoc(example)
        assert "cr.explain(" in code
        ns: dict = {"cr": cr}  # as in a session that has imported chainrule as cr
        with contextlib.redirect_stdout(io.StringIO()) as out:
            exec(code, ns)
        assert "dL/dw" in out.getvalue(), code  # each example prints a gradient of its weight w
        assert ns["w"].grad is None  # explain changes no .grad
