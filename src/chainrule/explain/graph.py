"""cr.draw_graph: the computational graph as a picture, with values, gradients and local derivatives.

``draw_graph(output)`` returns a :class:`Graph` whose ``source`` is Graphviz
DOT text, made without any extra dependency. ``Graph.render("g.svg")``
renders it through the ``graphviz`` Python package and Graphviz's ``dot``
program when both are installed (``pip install 'chainrule[graph]'`` and
``apt-get install graphviz``), and says how to install them when not.
Like the seeds' figures, every edge can carry the local derivative, and every
value its gradient.
"""

from __future__ import annotations

import os
import shutil
import textwrap

import numpy as np

from ..errors import missing
from ..tensor import Tensor
from .trace import explain, fmt

__all__ = ["draw_graph", "Graph"]

#: the widest line of an operation's label, in characters
LABEL_WIDTH = 48


def _q(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class Graph:
    """DOT source of a computational graph; ``render(path)`` writes .dot, .svg, .png or .pdf."""

    def __init__(self, source: str):
        self.source = source

    def __str__(self) -> str:
        return self.source

    def render(self, path) -> str:
        """Write the picture to ``path``; the format is taken from the extension."""
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lstrip(".").lower() or "dot"
        if ext in ("dot", "gv"):
            with open(path, "w") as f:
                f.write(self.source)
            return path
        try:
            import graphviz
        except ImportError:
            raise missing("graphviz", "graph", f"Rendering a graph to .{ext}") from None
        if shutil.which("dot") is None:
            raise missing(
                "graphviz",
                "graph",
                f"Rendering a graph to .{ext} (Graphviz's 'dot' program, "
                "from your system's package manager: apt-get install graphviz)",
            )
        data = graphviz.Source(self.source).pipe(format=ext)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def _repr_svg_(self):
        try:
            import graphviz

            return graphviz.Source(self.source).pipe(format="svg").decode()
        except Exception:  # no renderer: notebooks fall back to text
            return None


def _op_label(op: str, formula: str, width: int = LABEL_WIDTH) -> str:
    """An operation's name over its rule, the rule wrapped so that a layer's long formula (a convolution's,
    a GRU's) makes a readable node rather than one very wide ellipse."""
    return "\n".join([op] + textwrap.wrap(formula, width=width, break_on_hyphens=False))


def draw_graph(
    output: Tensor,
    show_grad: bool = True,
    local_derivatives: bool = True,
    max_elements: int = 4,
    rankdir: str = "LR",
    name: str | None = None,
) -> Graph:
    """The graph that produced ``output``: tensors as boxes (name, value or shape, gradient),
    operations as ellipses (op name and rule), edges labelled with local derivatives.

    Gradients and local derivatives come from :func:`chainrule.explain`, so the
    graph must be intact (draw before ``backward()`` or after ``backward(retain_graph=True)``).
    """
    tr = explain(output, max_elements=max_elements, name=name)
    lines = [
        "digraph chainrule {",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    tensor_ids: dict = {}

    def tensor_node(t: Tensor) -> str:
        key = id(t)
        if key in tensor_ids:
            return tensor_ids[key]
        nid = f"t{len(tensor_ids)}"
        tensor_ids[key] = nid
        label = [tr.name_of(t)]
        label.append(fmt(t.data, max_elements) if t.data.size <= max_elements else f"shape {t.shape}")
        g = tr.grad(t)
        if show_grad and g is not None:
            gtext = fmt(g, max_elements) if g.size <= max_elements else f"norm {float(np.linalg.norm(g)):.4g}"
            label.append(f"d{tr.out_name}/d{tr.name_of(t)} = {gtext}")
        style = (
            'shape=box, style="rounded,filled", fillcolor="#e8f0fe"'
            if t.requires_grad and t.is_leaf
            else 'shape=box, style="rounded,filled", fillcolor="#f5f5f5"'
            if t.is_leaf
            else "shape=box, style=rounded"
        )
        if t is output:
            style = 'shape=box, style="rounded,filled,bold", fillcolor="#fde8e8"'
        lines.append(f"  {nid} [label={_q(chr(10).join(label))}, {style}];")
        return nid

    for k, s in enumerate(tr.steps):
        oid = f"op{k}"
        lines.append(f"  {oid} [label={_q(_op_label(s.op, s.formula))}, shape=ellipse];")
        out_t = s.out_tensor
        if out_t is not None:
            lines.append(f"  {oid} -> {tensor_node(out_t)};")
        for e in s.edges:
            attrs = []
            if local_derivatives and e.local is not None and e.local.size == 1:
                attrs.append(f"label={_q(f'd{s.out_name}/d{e.name} = {fmt(e.local)}')}")
            if not e.needs_grad:
                attrs.append("style=dashed")
            lines.append(f"  {tensor_node(e.tensor)} -> {oid}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return Graph("\n".join(lines))
