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

import html
import os
import shutil
import textwrap

import numpy as np

from ..errors import MissingDependencyError, missing
from ..tensor import Tensor
from .layout import layout
from .trace import build_trace, fmt

__all__ = ["draw_graph", "Graph", "DOT_HINT"]

#: the widest line of an operation's label, in characters
LABEL_WIDTH = 48


def _q(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


#: what to install when Graphviz's ``dot`` program is missing (the program, not the Python package)
DOT_HINT = (
    "Graphviz's 'dot' program was not found on PATH. The picture needs the Graphviz program itself, which "
    "pip does not install (pip install graphviz gives only the Python bindings): apt-get install graphviz "
    "(Debian, Ubuntu), brew install graphviz (macOS), conda install graphviz, or https://graphviz.org/download/"
)
#: what to install when the graphviz Python package is missing
PACKAGE_HINT = "The graphviz Python package is not installed: pip install 'chainrule[graph]'"


class Graph:
    """DOT source of a computational graph; ``render(path)`` writes .dot, .svg, .png or .pdf.

    In a notebook the graph shows itself as SVG (``_repr_svg_``, made by Graphviz's ``dot``); without
    ``dot`` (or the graphviz Python package) it shows ``to_text()`` and the line to install what is
    missing (``_repr_html_``). ``repr(graph)`` is the text, so a terminal prompt shows it readably.
    """

    def __init__(self, source: str, text: str | None = None, title: str = "Graph"):
        self.source = source
        self.text = text
        self.title = title
        self._svg: str | None = None

    def __str__(self) -> str:
        return self.source

    def to_text(self) -> str:
        """The graph in words: each operation in the order it ran, its inputs and its output (the DOT
        source for a Graph made from source alone)."""
        return self.text if self.text is not None else self.source

    def __repr__(self) -> str:
        return f"<{self.title}; g.render('graph.svg') draws it>\n{self.to_text()}"

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
            raise MissingDependencyError(f"Rendering a graph to .{ext}: {DOT_HINT}")
        data = graphviz.Source(self.source).pipe(format=ext)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def svg(self) -> str:
        """The picture as SVG text, made once by Graphviz's ``dot``; MissingDependencyError saying what to
        install when the graphviz Python package or the ``dot`` program is missing."""
        if self._svg is None:
            svg, why = self._try_svg()
            if svg is None:
                raise MissingDependencyError(f"Drawing the graph as SVG: {why}")
            self._svg = svg
        return self._svg

    def _try_svg(self) -> tuple[str | None, str]:
        """(SVG, "") or (None, why not)."""
        if self._svg is not None:
            return self._svg, ""
        try:
            import graphviz
        except ImportError:
            return None, PACKAGE_HINT
        try:
            self._svg = graphviz.Source(self.source).pipe(format="svg").decode()
        except graphviz.ExecutableNotFound:
            return None, DOT_HINT
        except (graphviz.CalledProcessError, OSError) as exc:  # dot ran and failed
            return None, f"Graphviz's dot failed: {exc}"
        return self._svg, ""

    def _repr_svg_(self):
        """The SVG for a notebook, or None (then ``_repr_html_`` shows the text)."""
        return self._try_svg()[0]

    def _repr_html_(self):
        """The text and the hint when no SVG can be made; None when ``_repr_svg_`` shows the picture (so a
        notebook stores it once)."""
        svg, why = self._try_svg()
        if svg is not None:
            return None
        return (
            "<div class='chainrule-graph'>"
            f"<div style='color:#a40'>{html.escape(why)}</div>"
            f"<pre>{html.escape(self.to_text())}</pre></div>"
        )


def _op_label(op: str, formula: str, width: int = LABEL_WIDTH) -> str:
    """An operation's name over its rule, the rule wrapped so that a layer's long formula (a convolution's,
    a GRU's) makes a readable node rather than one very wide ellipse."""
    return "\n".join([op] + textwrap.wrap(formula, width=width, break_on_hyphens=False))


def draw_graph(
    output: Tensor,
    show_grad: bool = True,
    local_derivatives: bool = True,
    max_elements: int = 4,
    rankdir: str = "auto",
    name: str | None = None,
    legend: bool = True,
) -> Graph:
    """The graph that produced ``output``: tensors as boxes (name, value or shape, gradient),
    operations as ellipses (op name and rule), edges labelled with local derivatives.

    ``rankdir`` is Graphviz's direction ("LR", "TB", ...); "auto" picks left-to-right or top-to-bottom by the
    graph's shape, whichever fits a 1280 x 720 window at the larger scale (a deep graph such as seed 003's
    is drawn top to bottom rather than as one long strip). ``legend`` adds a key to the box colours and the
    dashed edges.

    Gradients and local derivatives come from :func:`chainrule.explain`, so the
    graph must be intact (draw before ``backward()`` or after ``backward(retain_graph=True)``).
    """
    tr = build_trace(output, max_elements=max_elements, name=name, op="draw_graph")
    if rankdir == "auto":
        rankdir = _direction(tr)
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
    if legend:
        lines += _LEGEND
    lines.append("}")
    return Graph(
        "\n".join(lines), _graph_text(tr, max_elements, show_grad, local_derivatives), f"Graph of {tr.out_name}"
    )


_LEGEND = [
    "  subgraph cluster_legend {",
    '    label="key"; fontname="Helvetica"; fontsize=10; color="#bbbbbb";',
    '    key_p [label="parameter\\n(needs a gradient)", shape=box, style="rounded,filled", fillcolor="#e8f0fe"];',
    '    key_c [label="constant or data", shape=box, style="rounded,filled", fillcolor="#f5f5f5"];',
    '    key_t [label="intermediate value", shape=box, style=rounded];',
    '    key_o [label="output", shape=box, style="rounded,filled,bold", fillcolor="#fde8e8"];',
    '    key_op [label="operation", shape=ellipse];',
    '    key_a [label="", shape=point]; key_b [label="", shape=point];',
    '    key_a -> key_b [style=dashed, label="no gradient flows"];',
    "    key_p -> key_c -> key_t -> key_o -> key_op -> key_a [style=invis];",
    "  }",
]


def _direction(tr) -> str:
    """ "LR" or "TB", as the step-by-step page's layout chooses for the same graph."""
    from . import page

    nodes, edges, _ = page.graph_parts(tr)
    return layout(nodes, edges).direction


def _graph_text(tr, max_elements: int, show_grad: bool, local_derivatives: bool) -> str:
    """The graph in words, for terminals and for notebooks without Graphviz: each operation in the order it
    ran, its rule, its inputs (value, gradient, local derivative) and its output."""

    def describe(t: Tensor) -> str:
        value = fmt(t.data, max_elements) if t.data.size <= max_elements else f"shape {t.shape}"
        text = f"{tr.name_of(t)} = {value}"
        g = tr.grad(t)
        if show_grad and g is not None:
            gtext = fmt(g, max_elements) if g.size <= max_elements else f"norm {float(np.linalg.norm(g)):.4g}"
            text += f"   [d{tr.out_name}/d{tr.name_of(t)} = {gtext}]"
        return text

    n_leaves = len(tr.leaves)
    out = [f"{len(tr.steps)} operations, {n_leaves} leaves; each operation in the order it ran:"]
    for k, s in enumerate(reversed(tr.steps), 1):
        out.append(f"{k}. {s.op}: {s.formula}" if s.formula else f"{k}. {s.op}")
        for e in s.edges:
            local = ""
            if local_derivatives and e.local is not None and e.local.size == 1:
                local = f"   (local d{s.out_name}/d{e.name} = {fmt(e.local)})"
            flag = "" if e.needs_grad else "   (no gradient)"
            out.append(f"     in:  {describe(e.tensor)}{local}{flag}")
        if s.out_tensor is not None:
            out.append(f"     out: {describe(s.out_tensor)}")
        else:
            out.append("     out: " + ", ".join(str(o[0]) for o in s.outputs))
    return "\n".join(out)
