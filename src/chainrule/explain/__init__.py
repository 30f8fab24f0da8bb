"""See the chain rule: traces, graph pictures, gradient checks of whole graphs, step explanations.

``cr.explain`` is both this module and its main function: ``cr.explain(loss)`` calls
:func:`explain`, and ``help(cr.explain)`` shows that function's signature and docstring first
(the module's ``__doc__`` is composed below from them), then the module's other tools.
"""

import inspect as _inspect
import sys as _sys
import types as _types

from .examples import EXAMPLES, example_graph, example_trace
from .graph import Graph, draw_graph
from .trace import Trace, explain, fmt

__all__ = ["explain", "Trace", "fmt", "draw_graph", "Graph", "EXAMPLES", "example_trace", "example_graph"]

from .check import gradcheck_graph  # noqa: E402
from .model import explain_model  # noqa: E402
from .step import StepExplanation, explain_step  # noqa: E402

__all__ += ["gradcheck_graph", "explain_model", "explain_step", "StepExplanation"]


#: one line per tool, for the contents list of ``help(cr.explain)`` (each tool's own docstring follows it there)
_CONTENTS = {
    "Trace": "what explain returns: print it, or .to_text(), .to_markdown(), .to_html(), .chain(name)",
    "fmt": "a value as traces write it (9 significant digits; a summary for large arrays)",
    "draw_graph": "the graph as a Graphviz picture whose edges carry the local derivatives",
    "Graph": "what draw_graph returns: DOT source; .render(path) writes .svg, .png, .pdf or .dot",
    "EXAMPLES": "the built-in examples (the tutorials' shopping, neuron, seed003): name -> (builder, title, lr)",
    "example_trace": "example_trace(name): the trace of a built-in example, forward values included",
    "example_graph": "example_graph(name, path): write a built-in example's graph picture to path",
    "gradcheck_graph": "check every node's backward against numerical derivatives; names the first faulty one",
    "explain_model": "the trace of a model's loss on one sample, parameters named by their paths",
    "explain_step": "what the next optimizer step does to one weight, with numbers",
    "StepExplanation": "what explain_step returns",
}

_EXAMPLE = """Example::

    import chainrule as cr

    w = cr.tensor(0.5, requires_grad=True, name="w")
    x = cr.tensor(2.0, name="x")
    loss = (w * x - 3.0) ** 2
    trace = cr.explain(loss)      # a Trace; nothing is changed (no .grad is set)
    print(trace)                  # every node: its rule, local derivative, incoming gradient, product
    print(trace.chain("w"))       # dL/dw written as its whole chain (L: the output's default name)
    trace.to_html()               # also .to_markdown(), .to_text()"""


def _first_sentence(obj) -> str:
    doc = " ".join((_inspect.getdoc(obj) or "").split("\n\n")[0].split())
    return doc.split(". ")[0].rstrip(".")


def _compose_doc() -> str:
    """The docstring of ``cr.explain``: the function's signature and docstring, an example, the other tools."""
    doc = _inspect.getdoc(explain) or ""
    sig = _inspect.signature(explain)
    returns = sig.return_annotation  # a string under postponed annotations, else the class
    plain = sig.replace(
        parameters=[p.replace(annotation=_inspect.Parameter.empty) for p in sig.parameters.values()],
        return_annotation=_inspect.Signature.empty,
    )
    if returns is not _inspect.Signature.empty:
        plain = f"{plain} -> {getattr(returns, '__name__', returns)}"
    lines = [
        f"cr.explain{plain}",
        "",
        doc,
        "",
    ]
    if "Example" not in doc:  # an example of its own only where the function's docstring has none
        lines += [_EXAMPLE, ""]
    lines += [
        "cr.explain is also the module chainrule.explain, with these tools (each documented below):",
        "",
    ]
    others = [n for n in __all__ if n != "explain"]
    width = max(len(n) for n in others)
    lines += [f"    {n.ljust(width)}  {_CONTENTS.get(n) or _first_sentence(globals()[n])}" for n in others]
    return "\n".join(lines)


__doc__ = _compose_doc()
#: inspect.signature(cr.explain) (and so a notebook's cr.explain?) gives the function's
__signature__ = _inspect.signature(explain)


class _CallableModule(_types.ModuleType):
    """``cr.explain(loss)`` calls :func:`explain`; ``cr.explain.draw_graph`` etc. stay reachable."""

    def __call__(self, *args, **kwargs):
        return explain(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
