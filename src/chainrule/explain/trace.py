"""cr.explain: the chain rule written out, node by node, with numbers.

``explain(output)`` walks the recorded graph backward (it does not touch any
``.grad``), and records for every node: the op, its forward rule and local
derivative formula (taken from the op's own class, so a new op documents
itself), its input values, the local derivative's value, the gradient
arriving from above, and the products it sends to its inputs. Where a value
feeds several nodes, its gradient is written as the sum of one term per use.
``Trace.chain(param)`` writes one gradient as its full chain of factors.
"""

from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass, field

import numpy as np

from .. import namespace
from ..autograd import leaf_hooks, walk
from ..errors import ArgumentTypeError, GraphError, GraphFreedError, NotFoundError
from ..modes import no_grad
from ..tensor import Tensor

__all__ = ["explain", "Trace", "fmt"]

WIDTH = 100


# ----------------------------------------------------------------------------- number formatting
def fmt(x, max_elements: int = 6) -> str:
    """A value for humans: 9 significant digits for scalars, a summary for large arrays."""
    a = np.asarray(x.data if isinstance(x, Tensor) else x)
    if a.size == 1:
        v = a.reshape(()).item()
        if isinstance(v, bool):
            return str(v)
        return f"{v:.9g}" if isinstance(v, float) else str(v)
    if a.size <= max_elements:
        return np.array2string(a, precision=6, separator=", ", suppress_small=False).replace("\n", "")
    af = a.astype(np.float64)
    if a.size and af.min() == af.max():  # a constant (a zero initial state, a mask of ones): say so
        return f"shape {a.shape}: all {af.flat[0]:.9g}"
    return f"shape {a.shape}: mean {af.mean():.4g}, std {af.std():.4g}, min {af.min():.4g}, max {af.max():.4g}"


def _scalar(a) -> bool:
    return a is not None and np.size(a) == 1


# ----------------------------------------------------------------------------- records
@dataclass
class Edge:
    """One input of one node: what the node sent back to it."""

    index: int
    tensor: Tensor
    name: str
    needs_grad: bool
    local: np.ndarray | None = None  # local derivative d(out)/d(input) (elementwise ops), or None
    contribution: np.ndarray | None = None  # gradient sent to this input (after un-broadcasting)
    broadcast: str = ""  # a sentence when the gradient was summed over broadcast axes
    product: list | None = None  # matrix nodes: the product formula with shapes, then one element's sum


@dataclass
class Step:
    """One node of the backward pass."""

    order: int
    node: object
    op: str
    formula: str
    derivative: str
    out_name: str
    out_value: np.ndarray | None
    grad_out: np.ndarray | None
    edges: list[Edge] = field(default_factory=list)
    # nodes with several outputs (split): (name, tensor, value, gradient) per output; grad_out is None
    outputs: list = field(default_factory=list)
    out_tensor: Tensor | None = None  # the tensor the node produced (single-output nodes)


@dataclass
class Use:
    """One use of a tensor by a node, and the gradient term it contributed."""

    step: Step
    edge: Edge


_GLUE = "\x00"  # stands for a space that must not become a line break while wrapping
_OPEN, _CLOSE = "([{", ")]}"


def wrap_text(text: str, width: int, indent: str = "") -> list[str]:
    """``textwrap.wrap`` that never breaks a line inside brackets: a bracketed group, such as
    ``(summed over the batch)`` or ``(1, 128)``, stays on one line whenever it fits on one."""
    chars, depth, start = list(text), 0, 0
    for i, ch in enumerate(text):
        if ch in _OPEN:
            start = i if depth == 0 else start
            depth += 1
        elif ch in _CLOSE and depth:
            depth -= 1
            if depth == 0 and i - start < width - len(indent):
                chars[start:i] = [_GLUE if c == " " else c for c in chars[start:i]]
    lines = textwrap.wrap("".join(chars), width=width, subsequent_indent=indent, break_on_hyphens=False)
    return [line.replace(_GLUE, " ") for line in lines] or [""]


class Chain:
    """One gradient written as its chain of local derivatives: what :meth:`Trace.chain` returns.

    ``print(chain)`` writes it as text; a notebook shows it as HTML (``_repr_html_``) and ``to_markdown()`` gives
    Markdown. The parts are attributes: ``paths`` (per path from the output down to the parameter, its factors
    as ``(label, value)``), ``terms`` (each path's product), ``total`` (the gradient) and ``text``. For a tensor,
    or a path through a matrix-valued local derivative, ``paths`` and ``terms`` are empty and ``text`` lists the
    nodes along one path with the gradient reaching each. ``chain["text"]`` and the other keys still work, as
    they did when this was a dict.
    """

    KEYS = ("paths", "terms", "total", "text")

    def __init__(self, name: str, paths: list, terms: list, total, text: str):
        self.name = name
        self.paths = paths
        self.terms = terms
        self.total = total
        self.text = text

    def __getitem__(self, key: str):
        if key not in self.KEYS:
            raise KeyError(f"Trace.chain: no part {key!r}; the parts are {', '.join(self.KEYS)}")
        return getattr(self, key)

    def keys(self):
        return list(self.KEYS)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def to_markdown(self) -> str:
        return "```text\n" + self.text + "\n```"

    def to_html(self) -> str:
        return f"<pre class='chainrule-chain'>{html.escape(self.text)}</pre>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


class Trace:
    """The recorded backward pass of one output. Render with to_text, to_markdown, to_html."""

    def __init__(
        self,
        output: Tensor,
        out_name: str,
        steps: list[Step],
        names: dict,
        grads: dict,
        uses: dict,
        leaves: list[Tensor],
        max_elements: int,
        title: str | None = None,
    ):
        self.output = output
        self.out_name = out_name
        self.steps = steps
        self._names = names
        self._grads = grads  # id(tensor) -> full gradient array
        self._uses = uses  # id(tensor) -> list[Use]
        self.leaves = leaves
        self.max_elements = max_elements
        self.title = title
        self.forward_values: list[tuple[str, str, object]] = []  # optional: (name, expression, value)
        self.lr: float | None = None
        self.show_chains: list[str] = []  # parameters whose full chain gets a section of its own
        self.forward_title = "Forward pass"
        self.notes: list[str] = []  # said before the backward pass (e.g. gradient hooks that were not run)
        self._by_name: dict | None = None  # name -> tensor, made on the first look-up
        self.legend: list[tuple[str, str]] = []  # (name, what it is): a section naming the parts, e.g. a model's layers
        self.legend_title = "Names"

    # ------------------------------------------------------------------ queries
    def name_of(self, t: Tensor) -> str:
        return self._names.get(id(t), "?")

    def grad(self, t: Tensor) -> np.ndarray | None:
        """d(output)/d(t) as computed by the trace (None if t does not affect the output)."""
        return self._grads.get(id(t))

    def d(self, t: Tensor) -> str:
        return f"d{self.out_name}/d{self.name_of(t)}"

    def uses(self, t: Tensor) -> list[Use]:
        return self._uses.get(id(t), [])

    def tensor(self, name: str, op: str = "Trace.tensor") -> Tensor:
        """The tensor of this graph named ``name`` (NotFoundError listing the names when there is none)."""
        if self._by_name is None:  # (names are unique in a trace: auto_names tells repeated ones apart)
            self._by_name = {}
            for t in self._all_tensors():
                self._by_name.setdefault(self.name_of(t), t)
        t = self._by_name.get(name)
        if t is not None:
            return t
        known = ", ".join(sorted(self._by_name, key=_natural))
        raise NotFoundError(f"{op}: no tensor named {name!r} in this graph; its tensors are: {known}")

    def _all_tensors(self):
        seen = set()
        for s in self.steps:
            for e in s.edges:
                if id(e.tensor) not in seen:
                    seen.add(id(e.tensor))
                    yield e.tensor
        if id(self.output) not in seen:
            yield self.output

    # ------------------------------------------------------------------ the chain of one gradient
    def chain(self, param, max_paths: int = 16) -> Chain:
        """d(output)/d(param) as products of local derivatives along every path, grouped at named tensors.

        ``param`` is a tensor of the graph or its name. Returns a :class:`Chain`, which prints as text
        (``print(trace.chain("w6"))``). Factors that are exactly 1 (from sums) are folded into their
        neighbour. Written as products of numbers for scalar graphs (every tensor on the paths has one
        element); for tensors the text lists the nodes along the path with gradient summaries.
        """
        if isinstance(param, str):
            param = self.tensor(param, "Trace.chain")
        total = self.grad(param)
        if total is None:
            raise GraphError(
                f"Trace.chain: {self.name_of(param)} does not affect {self.out_name}; name a tensor whose gradient the "
                f"trace has: {', '.join(self.name_of(t) for t in self.leaves if self.grad(t) is not None)}"
            )
        paths = []
        self._dropped = False
        self._paths(param, [], paths, max_paths + 1)
        truncated = len(paths) > max_paths
        paths = paths[:max_paths]
        scalar = bool(paths) and not self._dropped and all(_scalar(f[2]) for p in paths for f in p)
        if not scalar:
            # a tensor, or a path through a node whose local derivative is a matrix (matmul, stack, ...):
            # no product of numbers to write; the gradients along the way are shown instead
            return self._tensor_chain(param, paths, total)
        # factors through tensors the user left unnamed are merged at the named ones; in a graph with no named
        # intermediate tensor at all, every factor is written (each with its automatic name)
        merge = any(self._is_named(u) and u is not self.output for p in paths for u, _, _ in p)
        grouped = [self._group(p, merge) for p in paths]
        terms = [float(np.prod([v for _, v in g])) if g else 1.0 for g in grouped]
        pname = self.name_of(param)
        symbolic = " + ".join(" * ".join(lab for lab, _ in g) or "1" for g in grouped)
        numeric = " + ".join(" * ".join(fmt(v) for _, v in g) or "1" for g in grouped)
        lhs = f"d{self.out_name}/d{pname}"
        text = f"{lhs} = {symbolic}\n{' ' * len(lhs)} = {numeric}"
        if len(grouped) > 1:
            text += f"\n{' ' * len(lhs)} = " + " + ".join(fmt(t) for t in terms)
        if truncated:
            text += f"\n{' ' * len(lhs)}   (+ the terms of the paths beyond the first {max_paths}, not written out)"
        text += f"\n{' ' * len(lhs)} = {fmt(total)}"
        return Chain(pname, grouped, terms, float(np.asarray(total).reshape(())), text)

    def _paths(self, t, suffix, out, max_paths):
        """All paths from the output down to t: lists of (upper tensor, lower tensor, local) from the top."""
        if len(out) >= max_paths:
            return
        if t is self.output:
            out.append(list(reversed(suffix)))
            return
        for use in self.uses(t):
            if use.edge.local is None and use.edge.contribution is None:
                continue
            upper = _output_tensor(use.step)
            if upper is None:
                continue
            local = use.edge.local
            if local is None:  # not elementwise: the local derivative of a scalar node is contribution / grad_out
                g = use.step.grad_out
                local = use.edge.contribution / g if _scalar(g) and float(np.asarray(g).reshape(())) != 0 else None
            if local is None:
                self._dropped = True  # a path whose local derivative is not one number
                continue
            self._paths(upper, suffix + [(upper, t, local)], out, max_paths)

    def _group(self, path, merge: bool = True):
        """Merge consecutive factors through unnamed tensors; fold factors equal to 1."""
        groups = []  # [top tensor, bottom tensor, value]
        for upper, lower, local in path:
            v = float(np.asarray(local).reshape(()))
            if groups and merge and not self._is_named(upper):
                groups[-1][1] = lower
                groups[-1][2] *= v
            else:
                groups.append([upper, lower, v])
        out = []
        pending_top = None
        for top, bottom, v in groups:
            if pending_top is not None:
                top = pending_top
                pending_top = None
            if v == 1.0 and bottom is not path[-1][1]:
                pending_top = top
                continue
            out.append((f"d{self._label(top)}/d{self._label(bottom)}", v))
        return out

    def _label(self, t):
        return self.out_name if t is self.output else self.name_of(t)

    def _is_named(self, t):
        return t is self.output or t.name is not None

    def _tensor_chain(self, param, paths, total):
        """The chain of a tensor (or through matrix-valued local derivatives): the nodes along one path
        to the output, with the gradient reaching each, then the total."""
        path = [(u, lo) for u, lo, _ in paths[0]] if paths else self._any_path(param)
        lines = [f"d{self.out_name}/d{self.name_of(param)}: shape {np.shape(total)}, through"]
        for upper, lower in path:
            lines.append(
                f"  {self._label(upper)} <- {self.name_of(lower)}  (d{self.out_name}/d{self.name_of(lower)}: "
                f"{fmt(self.grad(lower), self.max_elements)})"
            )
        n_uses = len(self.uses(param))
        if n_uses > 1:
            lines.append(f"  ({self.name_of(param)} feeds {n_uses} nodes: its gradient is the sum over all of them)")
        lines.append(f"  = {fmt(total, self.max_elements)}")
        return Chain(self.name_of(param), [], [], total, "\n".join(lines))

    def _any_path(self, t):
        """One path (upper, lower) pairs from the output down to ``t``, following the first use at each step."""
        path = []
        seen = set()
        while t is not self.output and id(t) not in seen:
            seen.add(id(t))
            uses = [u for u in self.uses(t) if _output_tensor(u.step) is not None]
            if not uses:
                break
            upper = _output_tensor(uses[0].step)
            path.append((upper, t))
            t = upper
        return list(reversed(path))

    # ------------------------------------------------------------------ rendering
    #: the parts of a trace, in the order they are written
    PARTS = ("forward", "legend", "notes", "backward", "leaves", "chains", "update")

    def sections(self, parts=PARTS):
        """The trace as (title, rows) sections; a row is (kind, label, text), kind one of head, kv, eq, text.
        ``parts`` picks some of :attr:`PARTS` (the forward values, the legend, the notes, the backward pass,
        the leaves' gradients, the chains of ``show_chains``, the step of gradient descent)."""
        return [(title, rows) for part, title, rows in self._parts() if part in parts]

    def _parts(self):
        me = self.max_elements
        secs = []
        if self.forward_values:
            rows = [
                ("eq", name, f"{expr} = {fmt(v, me)}" if expr else fmt(v, me)) for name, expr, v in self.forward_values
            ]
            secs.append(("forward", self.forward_title, rows))
        if self.legend:
            secs.append(("legend", self.legend_title, [("kv", name, what) for name, what in self.legend]))
        if self.notes:
            secs.append(("notes", "Note", [("text", "note", n) for n in self.notes]))
        rows = []
        for s in self.steps:
            rows.extend(self.step_rows(s))
        secs.append(("backward", f"Backward pass: the chain rule from {self.out_name}, node by node", rows))
        rows = []
        for leaf in self.leaves:
            g = self.grad(leaf)
            if g is None:
                continue
            rows.append(("eq", self.d(leaf), self._sum_text(leaf, g)))
        if rows:
            secs.append(("leaves", "Gradients of the leaves", rows))
        if self.show_chains:
            rows = []
            for pname in self.show_chains:
                text = self.chain(pname).text
                lhs, rest = text.split(" = ", 1)
                rows.append(
                    (
                        "eq",
                        lhs,
                        "\n".join(
                            part.strip().lstrip("= ") if k else part for k, part in enumerate(rest.split("\n"))
                        ).replace("\n", "\n= "),
                    )
                )
            secs.append(("chains", "One gradient as its whole chain (factors of 1 from sums left out)", rows))
        if self.lr is not None:
            rows = []
            for leaf in self.leaves:
                g = self.grad(leaf)
                if g is None:
                    continue
                new = leaf.data - self.lr * g
                rows.append(
                    ("eq", self.name_of(leaf), f"{fmt(leaf.data, me)} - {self.lr:g} * {fmt(g, me)} = {fmt(new, me)}")
                )
            secs.append(("update", f"One step of gradient descent: w <- w - {self.lr:g} * d{self.out_name}/dw", rows))
        return secs

    def _sum_text(self, t, g):
        uses = [u for u in self.uses(t) if u.edge.contribution is not None]
        me = self.max_elements
        if len(uses) <= 1:
            return fmt(g, me)
        terms = []
        nums = []
        for u in uses:
            out = _output_name(u.step, self)
            if u.edge.local is not None and _scalar(u.edge.local) and _scalar(u.step.grad_out):
                terms.append(f"d{self.out_name}/d{out} * d{out}/d{self.name_of(t)}")
                nums.append(f"{fmt(u.step.grad_out)} * {fmt(u.edge.local)}")
            else:
                terms.append(f"(via {u.step.op} -> {out})")
                nums.append(fmt(u.edge.contribution, me))
        return " + ".join(terms) + "\n= " + " + ".join(nums) + f"\n= {fmt(g, me)}"

    def step_rows(self, s: Step):
        """One node's part of the backward pass as rows (kind, label, text): the head, the rule, the inputs,
        the incoming gradient (label ``dL/dy``) and what it sends to each input (label ``-> dL/dx``)."""
        me = self.max_elements
        head = f"[{s.order}] {s.op}: {s.out_name}"
        if s.out_value is not None:
            head += f" = {fmt(s.out_value, me)}"
        rows = [("head", head, "")]
        if s.outputs:
            head = f"[{s.order}] {s.op}: {len(s.outputs)} outputs"
            rows = [("head", head, "")]
            rows += [("eq", nm, fmt(v, me)) for nm, t, v, _ in s.outputs if v is not None]
        rows += _rule_rows(s.formula, s.derivative)
        shown = [
            e.name if e.name == fmt(e.tensor.data, me) else f"{e.name} = {fmt(e.tensor.data, me)}" for e in s.edges
        ]
        # one input a line where any is a summary (a layer's input, weight and bias), else one line
        ins = ("\n" if len(shown) > 1 and any(" = shape (" in x for x in shown) else ", ").join(shown)
        if ins:
            rows.append(("kv", "inputs", ins))
        if s.outputs:
            for nm, t, _, g in s.outputs:
                text = self._sum_text(t, g) if t is not None and len(self.uses(t)) > 1 else fmt(g, me)
                rows.append(("eq", f"d{self.out_name}/d{nm}", text))
        else:
            rows.append(("eq", f"d{self.out_name}/d{s.out_name}", self._incoming_text(s)))
        for e in s.edges:
            if not e.needs_grad or e.contribution is None:
                continue
            lhs = f"-> d{self.out_name}/d{e.name}"
            if e.local is not None and _scalar(e.local) and _scalar(s.grad_out):
                rhs = (
                    f"d{self.out_name}/d{s.out_name} * d{s.out_name}/d{e.name} = {fmt(s.grad_out)} * "
                    f"{fmt(e.local)} = {fmt(e.contribution)}"
                )
            elif e.product is not None:
                rhs = "\n".join(e.product) + f"\n= {fmt(e.contribution, me)}"
            elif e.local is not None:
                rhs = (
                    f"d{self.out_name}/d{s.out_name} * d{s.out_name}/d{e.name} (elementwise), with "
                    f"d{s.out_name}/d{e.name} = {fmt(e.local, me)}\n= {fmt(e.contribution, me)}"
                )
            else:
                rhs = f"{fmt(e.contribution, me)}"
            if e.broadcast:
                rhs += f"  ({e.broadcast})"
            if len(self.uses(e.tensor)) > 1:
                rhs += f"  [one of {len(self.uses(e.tensor))} terms of d{self.out_name}/d{e.name}]"
            rows.append(("eq", lhs, rhs))
        return rows

    def _incoming_text(self, s: Step):
        out_t = _output_tensor(s)
        if out_t is not None and out_t is not self.output and len(self.uses(out_t)) > 1:
            return self._sum_text(out_t, s.grad_out)
        if out_t is self.output:
            return f"{fmt(s.grad_out, self.max_elements)}  (the starting gradient)"
        return fmt(s.grad_out, self.max_elements)

    def to_text(self, width: int = WIDTH) -> str:
        """Plain text, wrapped to ``width`` columns (100 by default)."""
        lines = []

        def wrap(text, indent=""):
            return wrap_text(text, width, indent)

        if self.title:
            lines += wrap(self.title) + ["=" * min(len(self.title), width), ""]
        for title, rows in self.sections():
            lines += wrap(title) + ["-" * min(len(title), width)]
            for kind, label, text in rows:
                if kind == "head":
                    lines += wrap(label, "    ")
                    continue
                indent = "    " if title.startswith("Backward") else "  "
                prefix = indent + label + (" = " if kind == "eq" else ": ")
                for k, part in enumerate(text.split("\n")):
                    first = prefix if k == 0 else " " * (len(prefix) - 2) + ("= " if part.startswith("= ") else "  ")
                    if k and part.startswith("= "):
                        part = part[2:]
                    # a wrapped line hangs two columns in, so the next line of the text stands out
                    wrapped = wrap_text(part, max(width - len(first), 30), "  ")
                    lines.append(first + wrapped[0])
                    lines += [" " * len(first) + w for w in wrapped[1:]]
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def to_markdown(self) -> str:
        out = []
        if self.title:
            out += [f"# {_md_text(self.title)}", ""]
        for title, rows in self.sections():
            out += [f"## {_md_text(title)}", "", "| | |", "|---|---|"]
            for kind, label, text in rows:
                if kind == "head":
                    out.append(f"| **{_md_text(label)}** | |")
                    continue
                body = "<br>".join(_md_code(c) for c in text.split("\n"))
                out.append(f"| {_md_code(label)} | {body} |")
            out.append("")
        return "\n".join(out)

    def to_html(self, path=None, title: str | None = None) -> str:
        """The step-by-step page: one self-contained HTML file (inline style, script and SVG; no network) with
        the graph, the forward and the backward pass step by step and a per-parameter view (see
        :mod:`chainrule.explain.page`). Returns the page; with ``path``, also writes it there."""
        from . import page

        text = page.page(self, title)
        if path is not None:
            page.write(text, path)
        return text

    def to_html_table(self) -> str:
        """The trace as HTML tables (what a notebook shows for a trace; ``to_html`` gives the whole page)."""
        parts = [
            "<div class='chainrule-trace'>",
            "<style>.chainrule-trace td{font-family:monospace;vertical-align:top;padding:1px 8px}"
            ".chainrule-trace th{text-align:left}</style>",
        ]
        if self.title:
            parts.append(f"<h2>{html.escape(self.title)}</h2>")
        for title, rows in self.sections():
            parts.append(f"<h3>{html.escape(title)}</h3><table>")
            for kind, label, text in rows:
                lab = html.escape(label)
                if kind == "head":
                    parts.append(f"<tr><th colspan='2'>{lab}</th></tr>")
                else:
                    parts.append(f"<tr><td>{lab}</td><td>{html.escape(text).replace(chr(10), '<br>')}</td></tr>")
            parts.append("</table>")
        parts.append("</div>")
        return "\n".join(parts)

    def _repr_html_(self):
        return self.to_html_table()

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<Trace of {self.out_name}: {len(self.steps)} nodes, {len(self.leaves)} leaves>"


def _rule_rows(formula: str, derivative: str) -> list:
    """The rule and the local derivative: one row when they fit on a line together, else a row each (a
    derivative of several lines, one per input as a convolution's, keeps its lines)."""
    if not formula:
        return []
    if not derivative:
        return [("kv", "rule", formula)]
    together = f"{formula};  local derivative: {derivative}"
    if "\n" not in derivative and len(together) <= WIDTH - len("    rule: "):
        return [("kv", "rule", together)]
    return [("kv", "rule", formula), ("kv", "local derivative", derivative)]


def _output_tensor(step: Step):
    return step.out_tensor


def _output_name(step: Step, trace: Trace) -> str:
    return step.out_name


# ----------------------------------------------------------------------------- building the trace
def _check_unchanged(n, op: str) -> None:
    """Refuse a node whose input tensor was changed in place by a recorded operation after the node used it:
    the tensor then holds values (and a history) that are not the ones this node computed with."""
    edges = n.next_functions
    for k, t in enumerate(n.inputs):
        if not isinstance(t, Tensor):
            continue
        was = edges[k][0] if k < len(edges) else None
        if t.grad_fn is not was or (was is not None and t.output_nr != edges[k][1]):
            label = f"{t.name!r}" if t.name else f"input {k}"
            raise GraphError(
                f"{op}: {label} of {n.name} was changed in place after {n.name} used it, so "
                f"its values are no longer those of the forward pass. Call cr.{op} before the in-place change, "
                "or change a copy (.clone()) instead"
            )


def collect_nodes(output: Tensor, op: str = "explain") -> list:
    """The nodes of ``output``'s graph in forward order (inputs' nodes before their consumers); ``op`` names
    the caller in the error for a freed graph."""
    order, seen = [], set()
    stack = [(output.grad_fn, False)] if output.grad_fn is not None else []
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.freed:
            raise GraphFreedError(
                f"{op}: the graph was already freed by backward(); call cr.{op}(loss) before "
                "loss.backward(), or pass retain_graph=True to backward"
            )
        _check_unchanged(n, op)
        stack.append((n, True))
        for t in reversed(n.inputs):  # reversed: the first input's graph comes first in the order
            if isinstance(t, Tensor) and t.grad_fn is not None and id(t.grad_fn) not in seen:
                stack.append((t.grad_fn, False))
    return order


#: the letters of automatic names: trainable leaves (parameters), constant leaves, intermediate tensors
AUTO_PREFIX = {"parameter": "p", "constant": "c", "intermediate": "t"}


def auto_names(order, output: Tensor, out_name: str) -> dict:
    """A name for every tensor of the graph, by id, never a value and never the same for two tensors.

    A tensor keeps its own ``name`` (a module's parameter has its attribute path, ``"fc1.weight"``); a second
    tensor with a name already taken gets ``#2``, ``#3`` added. Unnamed tensors are numbered in the order the
    forward pass used them, by kind: ``p1, p2, ...`` for leaves that require grad (parameters), ``c1, c2, ...``
    for constant leaves (data, targets, numbers such as the 0.5 in ``0.5 * x``) and ``t1, t2, ...`` for
    intermediate results; numbers whose name a tensor already has are skipped. The same graph always gets the
    same names.
    """
    tensors, seen = [], {id(output)}
    for n in order:
        for t in n.inputs:
            if isinstance(t, Tensor) and id(t) not in seen:
                seen.add(id(t))
                tensors.append(t)
    taken = {out_name} | {t.name for t in tensors if t.name}
    names = {id(output): out_name}
    used = {out_name}
    counters = dict.fromkeys(AUTO_PREFIX.values(), 0)
    for t in tensors:
        if t.name:
            name, k = t.name, 1
            while name in used:
                k += 1
                name = f"{t.name}#{k}"
        else:
            kind = "intermediate" if not t.is_leaf else "parameter" if t.requires_grad else "constant"
            prefix = AUTO_PREFIX[kind]
            while True:
                counters[prefix] += 1
                name = f"{prefix}{counters[prefix]}"
                if name not in taken and name not in used:
                    break
        names[id(t)] = name
        used.add(name)
    return names


def _natural(name: str):
    """Sort key putting w2 before w10 and grouping names by their letters."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _broadcast_sentence(name, in_shape, out_shape) -> str:
    lead = len(out_shape) - len(in_shape)
    axes = list(range(lead)) + [lead + k for k, s in enumerate(in_shape) if s == 1 and out_shape[lead + k] != 1]
    ax = ", ".join(map(str, axes))
    return f"summed over axis {ax}: {name} {tuple(in_shape)} was broadcast to {tuple(out_shape)}"


def explain(
    output: Tensor, max_elements: int = 6, lr: float | None = None, name: str | None = None, title: str | None = None
) -> Trace:
    """Write out the backward pass of ``output`` as the chain rule with numbers; returns a :class:`Trace`.

    ``output`` is a one-element tensor (a loss) whose graph is still intact: call ``explain`` before
    ``backward()`` (or after ``backward(retain_graph=True)``). It only looks: no ``.grad`` changes and no
    gradient hook runs.

    Arguments: ``max_elements`` (tensors with more elements are summarized by shape, mean, std, min and max),
    ``lr`` (adds one step of gradient descent on every leaf, written out), ``name`` (the output's symbol in the
    derivatives; default its ``name``, else ``L``) and ``title`` (a heading).

    The trace prints as text (``print(trace)``, ``trace.to_text(width)``), renders as Markdown
    (``to_markdown()``), as HTML tables in a notebook, and as a page to step through in a browser
    (``trace.to_html("page.html")``). ``trace.chain("w")`` writes one gradient as its chain of local
    derivatives; ``trace.grad(t)`` is the gradient it computed for ``t``. Example::

        w = cr.tensor(2.5, requires_grad=True, name="w")
        loss = cr.sigmoid(w * 2.0 - 4.0)
        print(cr.explain(loss).chain("w"))   # dL/dw = dL/dt2 * dt2/dw = 0.196611956 * 2 = 0.393223912
    """
    return build_trace(output, max_elements, lr, name, title, op="explain")


def build_trace(output, max_elements=6, lr=None, name=None, title=None, op: str = "explain") -> Trace:
    """:func:`explain`, with ``op`` naming the call in errors (``draw_graph`` draws from a trace)."""
    if not isinstance(output, Tensor):
        raise ArgumentTypeError(f"{op}: expected a Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise GraphError(f"{op}: the output does not require grad, so there is no graph to explain")
    if output.data.size != 1:
        raise GraphError(f"{op}: the output must have one element (a loss), got shape {output.shape}; reduce it")
    out_name = name or output.name or "L"
    order = collect_nodes(output, op)
    names = auto_names(order, output, out_name)
    leaves, seen = [], set()
    for n in order:
        for t in n.inputs:
            if isinstance(t, Tensor) and t.is_leaf and t.requires_grad and id(t) not in seen:
                seen.add(id(t))
                leaves.append(t)
    leaves.sort(key=lambda t: _natural(names.get(id(t), "")))
    # output tensors of each node, by (node, output index): the root, and inputs of consumers
    outputs = {(id(output.grad_fn), output.output_nr): output} if output.grad_fn is not None else {}
    for n in order:
        for t in n.inputs:
            if isinstance(t, Tensor) and t.grad_fn is not None:
                outputs.setdefault((id(t.grad_fn), t.output_nr), t)

    steps: list[Step] = []
    grads: dict = {}
    uses: dict = {}

    def observe(node, gs, fitted):
        if len(gs) == 1:
            out_t = outputs.get((id(node), 0))
            g = np.asarray(gs[0])
            st = Step(
                order=len(steps) + 1,
                node=node,
                op=node.name,
                formula=node.formula,  # (a node may state its settings in its own)
                derivative=type(node).derivative,
                out_name=names.get(id(out_t), "?") if out_t is not None else "?",
                out_value=out_t.data if out_t is not None else None,
                grad_out=g,
            )
            if out_t is not None:
                grads[id(out_t)] = g
        else:  # several outputs: each with its own value and gradient
            out_t = None
            outs = []
            for i, gi in enumerate(gs):
                t = outputs.get((id(node), i))
                nm = names.get(id(t), "?") if t is not None else f"(output {i}, unused)"
                outs.append((nm, t, t.data if t is not None else None, np.asarray(gi)))
                if t is not None:
                    grads[id(t)] = np.asarray(gi)
            st = Step(
                order=len(steps) + 1,
                node=node,
                op=node.name,
                formula=node.formula,  # (a node may state its settings in its own)
                derivative=type(node).derivative,
                out_name=", ".join(o[0] for o in outs),
                out_value=None,
                grad_out=None,
                outputs=outs,
            )
        st.out_tensor = out_t
        locals_ = _local_derivatives(node, out_t)
        for i, t in enumerate(node.inputs):
            if not isinstance(t, Tensor):
                continue
            e = Edge(
                index=i,
                tensor=t,
                name=names.get(id(t), "?"),
                needs_grad=node.needs_input_grad[i],
                local=locals_[i] if locals_ is not None else None,
                contribution=fitted[i],
            )
            if (
                e.contribution is not None
                and out_t is not None
                and t.shape != out_t.shape
                and (type(node).elementwise or i in type(node).broadcasts)
            ):
                e.broadcast = _broadcast_sentence(e.name, t.shape, out_t.shape)
            st.edges.append(e)
            if e.needs_grad:
                uses.setdefault(id(t), []).append(Use(st, e))
        _matrix_products(st, out_name)
        steps.append(st)

    seed = np.ones_like(output.data)
    results = walk([output], [seed], retain_graph=True, inputs=leaves, observer=observe, run_hooks=False)
    for leaf, g in zip(leaves, results):
        if g is not None:
            grads[id(leaf)] = np.asarray(g)
    tr = Trace(output, out_name, steps, names, grads, uses, leaves, max_elements, title)
    tr.lr = lr
    hooked = [names.get(id(t), "?") for t in leaves if leaf_hooks(t)]
    for n in order:
        for idx, fns in n.hooks().items():
            if fns:
                t = outputs.get((id(n), idx))
                hooked.append(names.get(id(t), "?") if t is not None else f"output {idx} of {n.name}")
    if hooked:
        tr.notes.append(
            f"gradient hooks are registered on {', '.join(hooked)}; this trace runs none of them (it only "
            "looks), so where a hook changes a gradient, backward() gives a different .grad than written here"
        )
    return tr


def _matrix_products(st: Step, out_name: str, max_terms: int = 4) -> None:
    """For a node whose gradients are matrix products (Linear, matmul; see ``Function.products``), write on each
    edge the product with its shapes and, for the element of largest magnitude, the sum it comes from."""
    products = type(st.node).products
    if products is None or st.grad_out is None:
        return
    inputs = [t.data if isinstance(t, Tensor) else t for t in st.node.inputs]
    try:
        found = st.node.products(inputs, st.grad_out)
    except Exception:  # a user's op whose description cannot be computed: the trace still works without it
        return
    names = {str(e.index): e.name for e in st.edges}
    names["g"] = f"d{out_name}/d{st.out_name}"
    for e in st.edges:
        if e.index not in found or e.contribution is None:
            continue
        formula, left, right = found[e.index]
        left = np.asarray(left)
        result = left.sum(axis=1) if right is None else left @ np.asarray(right)
        if result.size != np.size(e.contribution):
            continue
        text = formula
        for key, name in names.items():
            text = text.replace("{" + key + "}", _bracketed(name))
        if right is None:
            shapes = f"{tuple(np.shape(e.contribution))}: each element the sum of a row of {left.shape}"
        else:
            shapes = f"{tuple(np.shape(e.contribution))} = {left.shape} @ {np.shape(right)}"
        flat = np.abs(result).reshape(-1)
        at = np.unravel_index(int(np.argmax(flat)) if flat.size else 0, result.shape)
        if right is None:
            terms = left[at[0]]
        else:
            terms = [(left[at[0], k], np.asarray(right)[k, at[1]]) for k in range(left.shape[1])]
        e.product = [f"{text},  {shapes}", _element_sum(list(at), terms, result[at], max_terms)]


def _bracketed(name: str) -> str:
    """A name as a factor of a formula: ``(dL/dy)`` for a derivative, the name itself otherwise."""
    return f"({name})" if "/" in name else name


def _element_sum(at: list, terms, value, max_terms: int) -> str:
    """``element [i, j] = a*b + c*d + ... = value``: the first and last terms of a long sum with a count."""

    def term(t):
        if not isinstance(t, tuple):
            return f"{float(t):.4g}"
        b = f"{float(t[1]):.4g}"
        return f"{float(t[0]):.4g}*" + (f"({b})" if b.startswith("-") else b)

    n = len(terms)
    if n <= max_terms:
        body = " + ".join(term(t) for t in terms)
    else:
        body = " + ".join(term(t) for t in terms[: max_terms - 1]) + f" + ... + {term(terms[-1])}  ({n} terms)"
    index = ", ".join(str(int(i)) for i in at)
    return f"element [{index}]: {body.replace('+ -', '- ')} = {fmt(value)}"


def _md_text(s: str) -> str:
    """Text for a Markdown table or heading: HTML-significant characters, pipes and backticks escaped."""
    return html.escape(s, quote=False).replace("|", "\\|").replace("`", "\\`")


def _md_code(s: str) -> str:
    """A Markdown code span holding ``s`` exactly (a longer fence when ``s`` holds backticks)."""
    s = s.replace("|", "\\|")
    if "`" not in s:
        return f"`{s}`"
    fence = "`" * (max(len(m) for m in re.findall(r"`+", s)) + 1)
    return f"{fence} {s} {fence}"


def _local_derivatives(node, out_t):
    """d(out)/d(input_i) for elementwise nodes (and any node whose inputs and output are scalars).

    Computed by running the node's own backward on a gradient of ones: for an
    elementwise op that is exactly the diagonal of its Jacobian.
    """
    elementwise = getattr(type(node), "elementwise", False)
    if out_t is None:
        return None
    scalar_node = out_t.data.size == 1 and all((not isinstance(t, Tensor)) or t.data.size == 1 for t in node.inputs)
    if not (elementwise or scalar_node) or node.n_outputs != 1:
        return None
    try:
        with no_grad():
            res = node.vjp(namespace.numpy_ns, np.ones_like(out_t.data))
    except Exception:  # a user's backward that cannot run twice: no local values, the trace still works
        return None
    if not isinstance(res, (tuple, list)):
        res = (res,)
    return [None if r is None else np.asarray(r) for r in res]
