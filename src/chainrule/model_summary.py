"""cr.summary: a model's layers, their output shapes and parameter counts, as a table.

``cr.summary(model, input_shape)`` calls the model once on zeros of
``input_shape`` (the whole input, batch dimension included: ``(1, 64)`` for an
MLP on digits, ``(1, 1, 28, 28)`` for a CNN on MNIST), in evaluation mode and
under ``no_grad``, with a forward hook on every module that records the shape
of what it returned. Every module's ``training`` flag is restored afterwards,
so running stats are left alone and dropout draws nothing. The result is a
:class:`ModelSummary`: its ``str`` (and ``repr``, so a terminal prompt shows
it) is a text table, its ``_repr_html_`` an HTML one; ``print(cr.summary(...))``
in a script. Without ``input_shape`` the model is not run and the table has
no output shapes.

A module whose summary was made shows its output shapes in its own notebook
display too (``Module._repr_html_``), for as long as its layers are the ones
that were summarised.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from .errors import ArgumentError, ArgumentTypeError, ChainruleError
from .modes import no_grad
from .tensor import Tensor

__all__ = ["summary", "ModelSummary", "LayerRow", "module_html"]

#: the last summary made of each model (for the model's notebook display); a model that is collected goes
_LAST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class LayerRow:
    """One module of the model: its nested name ("" for the model itself), depth, type, the parameters
    registered on it (name -> shape), their element count, and the shape of its output (None: not run)."""

    name: str
    depth: int
    type: str
    has_children: bool
    param_shapes: dict = field(default_factory=dict)
    params: int = 0
    output_shape: object = None
    calls: int = 0


class ModelSummary:
    """The result of :func:`summary`: ``rows`` (one :class:`LayerRow` per module), ``total_params``,
    ``trainable_params``, ``non_trainable_params``, ``buffer_values``, ``input_shapes``, ``output_shape``."""

    def __init__(self, model, rows: list[LayerRow], input_shapes=None, dtype=None, output_shape=None):
        self.model_name = type(model).__name__
        self.rows = rows
        params = list(model.parameters())
        self.total_params = int(sum(p.numel() for p in params))
        self.trainable_params = int(sum(p.numel() for p in params if p.requires_grad))
        self.non_trainable_params = self.total_params - self.trainable_params
        self.buffer_values = int(sum(b.numel() for b in model.buffers()))
        self.input_shapes = input_shapes
        self.dtype = dtype
        self.output_shape = output_shape

    # ------------------------------------------------------------------ text
    def _header(self) -> str:
        if self.input_shapes is None:
            return f"{self.model_name} (output shapes: cr.summary(model, input_shape))"
        shapes = ", ".join(str(s) for s in self.input_shapes)
        return f"{self.model_name} on input {shapes} ({self.dtype})"

    def _footer(self) -> list[str]:
        lines = [
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
        ]
        if self.buffer_values:
            lines.append(f"Buffers (running statistics, not trained): {self.buffer_values:,} values")
        return lines

    def to_text(self) -> str:
        """The table as plain text: one line per module, indented by depth."""
        ran = self.input_shapes is not None
        cells = [("Layer (type)", "Output shape", "Param #") if ran else ("Layer (type)", "Param #")]
        for r in self.rows:
            label = "  " * r.depth + (f"{r.name} ({r.type})" if r.name else r.type)
            cells.append((label, _shape_cell(r), _params_cell(r)) if ran else (label, _params_cell(r)))
        widths = [max(len(c[k]) for c in cells) for k in range(len(cells[0]))]
        rule = "=" * (sum(widths) + 3 * (len(widths) - 1))
        lines = [self._header(), rule]
        for k, row in enumerate(cells):
            parts = [f"{c:<{w}}" for c, w in zip(row[:-1], widths)] + [f"{row[-1]:>{widths[-1]}}"]
            lines.append("   ".join(parts).rstrip())
            if k == 0:
                lines.append("-" * len(rule))
        lines.append(rule)
        lines += self._footer()
        return "\n".join(lines)

    __str__ = to_text

    def __repr__(self) -> str:
        return self.to_text()

    # ------------------------------------------------------------------ HTML
    def to_html(self) -> str:
        """The table as HTML (layer names and types escaped)."""
        from .notebook import STYLE

        esc = _esc
        ran = self.input_shapes is not None
        shape_th = "<th class='l'>Output shape</th>" if ran else ""
        out = [
            f"<div class='chainrule'>{STYLE}<div><b>{esc(self._header())}</b></div><table>",
            f"<tr><th class='l'>Layer</th><th class='l'>Type</th>{shape_th}"
            "<th class='l'>Parameters</th><th>Param #</th></tr>",
        ]
        for r in self.rows:
            pad = "&nbsp;" * (2 * r.depth)
            shapes = ", ".join(f"{k} {tuple(v)}" for k, v in r.param_shapes.items())
            shape_td = f"<td class='l'>{esc(_shape_cell(r))}</td>" if ran else ""
            out.append(
                f"<tr><td class='l'>{pad}{esc(r.name or '(model)')}</td><td class='l'>{esc(r.type)}</td>"
                f"{shape_td}<td class='l'>{esc(shapes)}</td><td>{esc(_params_cell(r))}</td></tr>"
            )
        out.append("</table>")
        out.append("<div>" + "<br>".join(esc(line) for line in self._footer()) + "</div></div>")
        return "".join(out)

    def _repr_html_(self) -> str:
        return self.to_html()


def _esc(text) -> str:
    import html

    return html.escape(str(text))


def _params_cell(r: LayerRow) -> str:
    if r.has_children and not r.params:
        return "--"  # a container: its layers' parameters are counted on their own rows
    return f"{r.params:,}"


def _shape_cell(r: LayerRow) -> str:
    if r.output_shape is None:
        return "-"
    text = format_shape(r.output_shape)
    return text + (f" (x{r.calls} calls)" if r.calls > 1 else "")


def format_shape(s) -> str:
    """A recorded output shape as text: ``(1, 10)``; several outputs ``(1, 5, 20), (1, 1, 20)``; nested
    outputs (an LSTM's ``(h, c)``) in brackets."""
    if isinstance(s, tuple):
        return str(s)
    if isinstance(s, list):
        return ", ".join(f"[{format_shape(x)}]" if isinstance(x, list) else format_shape(x) for x in s)
    return str(s)


def _shape_of(out):
    """What a module returned, as shapes: a tuple for a tensor, a list for a tuple/list of outputs."""
    if isinstance(out, Tensor):
        return tuple(int(n) for n in out.shape)
    if isinstance(out, (tuple, list)):
        return [_shape_of(x) for x in out]
    if out is None:
        return "None"
    return type(out).__name__


def layer_rows(model) -> list[LayerRow]:
    """One row per module of ``model`` (depth first, in registration order; a shared module once), each
    with the parameters registered on it: a parameter shared by several modules is counted once, on the
    first, so the rows add up to the model's total."""
    rows = {}
    for name, m in model.named_modules():
        rows[name] = LayerRow(
            name=name,
            depth=name.count(".") + 1 if name else 0,
            type=type(m).__name__,
            has_children=any(True for _ in m.children()),
        )
    for pname, p in model.named_parameters():
        owner, _, attr = pname.rpartition(".")
        row = rows.get(owner)
        if row is not None:
            row.param_shapes[attr] = tuple(p.shape)
            row.params += int(p.numel())
    return list(rows.values())


def _structure(model) -> tuple:
    return tuple((name, id(m)) for name, m in model.named_modules())


def _input_shapes(input_shape) -> list[tuple]:
    """One shape, or a list of shapes for a model called with several inputs."""
    if isinstance(input_shape, (int, np.integer)):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        raise ArgumentTypeError(
            f"summary: input_shape must be a tuple of positive ints such as (1, 64), got {input_shape!r}"
        )
    shapes = [input_shape] if all(isinstance(n, (int, np.integer)) for n in input_shape) else list(input_shape)
    out = []
    for s in shapes:
        if not isinstance(s, (tuple, list)) or not all(isinstance(n, (int, np.integer)) for n in s):
            raise ArgumentTypeError(
                f"summary: input_shape must be a tuple of ints, or a list of such tuples (one per input), "
                f"got {input_shape!r}"
            )
        if any(n <= 0 for n in s):
            raise ArgumentError(f"summary: input_shape {tuple(s)} must have positive sizes (batch included)")
        out.append(tuple(int(n) for n in s))
    return out


def _default_dtype(model):
    for p in model.parameters():
        if p.dtype.kind == "f":
            return p.dtype
    return np.dtype(np.float32)


def summary(model, input_shape=None, *, input_size=None, dtype=None) -> ModelSummary:
    """The layers of ``model`` (nested names), their output shapes and parameter counts.

    ``input_shape`` is the shape of the input the model is called with, batch
    dimension included (``(1, 64)``, ``(1, 1, 28, 28)``); a list of shapes calls
    a model that takes several inputs. ``input_size`` is another name for it
    (PyTorch summary tools' spelling). The model runs once on zeros of that
    shape and of ``dtype`` (default: the dtype of its first floating-point
    parameter, else float32; ``dtype=cr.int64`` for a model that starts with an
    Embedding), in eval mode under ``no_grad``; every module's training flag is
    restored afterwards. Without a shape the model is not run and the output
    shapes are left out. Returns a :class:`ModelSummary` (``print`` it, or let
    a notebook show it as an HTML table).
    """
    from .nn.module import Module

    if not isinstance(model, Module):
        raise ArgumentTypeError(f"summary: expected a cr.nn.Module, got {type(model).__name__}")
    if input_size is not None:
        if input_shape is not None:
            raise ArgumentError("summary: give input_shape or input_size (the same argument), not both")
        input_shape = input_size
    rows = layer_rows(model)
    if input_shape is None:
        return ModelSummary(model, rows)
    shapes = _input_shapes(input_shape)
    dtype = np.dtype(dtype) if dtype is not None else _default_dtype(model)
    recorded = _run(model, shapes, dtype)
    for r in rows:
        first, calls = recorded.get(r.name, (None, 0))
        r.output_shape, r.calls = first, calls
    result = ModelSummary(model, rows, shapes, dtype, recorded.get("", (None, 0))[0])
    try:
        _LAST[model] = (_structure(model), result)
    except TypeError:  # a model that cannot be weakly referenced: no shapes in its own display
        pass
    return result


def _run(model, shapes, dtype) -> dict:
    """Call ``model`` on zeros of ``shapes``; name -> (first output's shape, number of calls) per module."""
    from .creation import zeros

    recorded: dict = {}

    def hook(name):
        def record(module, inputs, output):
            first, calls = recorded.get(name, (None, 0))
            recorded[name] = (_shape_of(output) if calls == 0 else first, calls + 1)

        return record

    modules = list(model.named_modules())
    flags = [(m, m.training) for _, m in modules]
    handles = [m.register_forward_hook(hook(name)) for name, m in modules]
    inputs = [zeros(s, dtype=dtype) for s in shapes]
    model.eval()
    try:
        with no_grad():
            model(*inputs)
    except ChainruleError as exc:
        new = _with_context(exc, model, shapes, dtype)
        if new is None:
            raise
        raise new from exc
    finally:
        for h in handles:
            h.remove()
        for m, was in flags:
            object.__setattr__(m, "training", was)
    return recorded


def _with_context(exc, model, shapes, dtype):
    where = ", ".join(str(s) for s in shapes)
    try:
        return type(exc)(f"summary: running {type(model).__name__} on zeros of shape {where} ({dtype}) failed: {exc}")
    except TypeError:  # an error class that takes other arguments: raise it as it is
        return None


def module_html(model) -> str:
    """A module's notebook display: its layer table, with output shapes if :func:`summary` ran it."""
    rows = layer_rows(model)
    last = _LAST.get(model) if _weakrefable(model) else None
    if last is not None and last[0] == _structure(model):
        made = last[1]
        shapes = {r.name: (r.output_shape, r.calls) for r in made.rows}
        for r in rows:
            r.output_shape, r.calls = shapes.get(r.name, (None, 0))
        return ModelSummary(model, rows, made.input_shapes, made.dtype, made.output_shape).to_html()
    return ModelSummary(model, rows).to_html()


def _weakrefable(obj) -> bool:
    try:
        weakref.ref(obj)
    except TypeError:
        return False
    return True
