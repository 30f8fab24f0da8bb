"""See the chain rule: traces, graph pictures, gradient checks of whole graphs, step explanations."""

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


class _CallableModule(_types.ModuleType):
    """``cr.explain(loss)`` calls :func:`explain`; ``cr.explain.draw_graph`` etc. stay reachable."""

    def __call__(self, *args, **kwargs):
        return explain(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
