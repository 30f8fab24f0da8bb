"""Rich display in Jupyter: the HTML that Tensor, Module, History and StepExplanation show in a notebook.

Jupyter (IPython) calls an object's ``_repr_html_`` to display it; chainrule's
classes keep those methods one line long and build the HTML here:

- a tensor: its shape, dtype, name, whether it requires grad (and the node that
  made it), whether it has a gradient, and its values: a table for a small
  tensor, the minimum, maximum, mean and a few values for a large one;
- a module: its layers (nested names), their types, parameter shapes and counts,
  and their output shapes once :func:`chainrule.summary` has run the model
  (see :mod:`chainrule.summary`);
- a history: the loss and metric curves as an inline PNG when matplotlib is
  installed, a table of the epochs otherwise;
- a step explanation (``cr.explain.explain_step``): its lines as a table.

Graphs (``cr.draw_graph``) display themselves as SVG, or as text with a hint
when Graphviz's ``dot`` program is missing (:mod:`chainrule.explain.graph`).
Everything a user gave a name (tensor names, layer names) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io

import numpy as np

__all__ = ["tensor_html", "history_html", "step_html", "value_text", "have_matplotlib", "TABLE_MAX_ELEMENTS", "STYLE"]

#: tensors with at most this many elements (and at most 2 dimensions) show every value in a table
TABLE_MAX_ELEMENTS = 64
#: the widest table shown in full (columns)
TABLE_MAX_COLUMNS = 16
#: how many values a large tensor's summary lists
FEW_VALUES = 6
#: histories longer than this many epochs show their first and last epochs in the table
HISTORY_MAX_ROWS = 30

#: the CSS every chainrule table uses (scoped to the class ``chainrule``)
STYLE = (
    "<style>.chainrule table{border-collapse:collapse;margin:2px 0}"
    ".chainrule td,.chainrule th{padding:1px 8px;text-align:right;font-family:monospace}"
    ".chainrule th{border-bottom:1px solid #999}.chainrule td.l,.chainrule th.l{text-align:left}"
    ".chainrule .note{color:#666;font-size:90%}</style>"
)


def _esc(text) -> str:
    return html.escape(str(text))


def value_text(v) -> str:
    """One number for a table: 6 significant digits for floats, ints and bools as they are."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return str(v)


# ----------------------------------------------------------------------------- tensors
def tensor_html(t) -> str:
    """A tensor as HTML: a line of facts (shape, dtype, name, autograd, gradient) over its values."""
    a = np.asarray(t.data)
    facts = [f"shape {_esc(tuple(a.shape))}", _esc(a.dtype)]
    if t.name is not None:
        facts.append(f"name <b>{_esc(t.name)}</b>")
    facts.append(_autograd_text(t))
    facts.append(_grad_text(t))
    head = f"<div><b>{_esc(type(t).__name__)}</b> &middot; " + " &middot; ".join(facts) + "</div>"
    return f"<div class='chainrule'>{STYLE}{head}{_values_html(a)}</div>"


def _autograd_text(t) -> str:
    fn = t.grad_fn
    if fn is not None:
        return f"grad_fn=&lt;{_esc(type(fn).__name__)}&gt;"
    return "requires_grad=True (leaf)" if t.requires_grad else "requires_grad=False"


def _grad_text(t) -> str:
    g = t.grad
    if g is None:
        return "grad: none"
    ga = np.asarray(g.data if hasattr(g, "data") else g)
    if ga.size == 1:
        return f"grad: {_esc(value_text(ga.reshape(()).item()))}"
    norm = float(np.linalg.norm(ga.astype(np.float64).ravel())) if ga.size else 0.0
    return f"grad: shape {_esc(tuple(ga.shape))}, norm {norm:.4g}"


def _values_html(a: np.ndarray) -> str:
    if a.size == 0:
        return "<div class='note'>no elements</div>"
    if a.ndim == 0:
        return f"<div>value <code>{_esc(value_text(a.item()))}</code></div>"
    if a.size <= TABLE_MAX_ELEMENTS and a.ndim <= 2 and a.shape[-1] <= TABLE_MAX_COLUMNS:
        return _table_html(a.reshape(1, -1) if a.ndim == 1 else a)
    return _summary_html(a)


def _table_html(a: np.ndarray) -> str:
    head = "<tr><th></th>" + "".join(f"<th>{j}</th>" for j in range(a.shape[1])) + "</tr>"
    rows = [
        f"<tr><th>{i}</th>" + "".join(f"<td>{_esc(value_text(v))}</td>" for v in row) + "</tr>"
        for i, row in enumerate(a.tolist())
    ]
    return "<table>" + head + "".join(rows) + "</table>"


def _summary_html(a: np.ndarray) -> str:
    """The statistics of a large tensor, computed in float64 over its finite values, and its first values."""
    flat = a.ravel()
    items = []
    if a.dtype.kind == "b":
        items.append(("true", f"{int(flat.sum())} of {flat.size}"))
    elif a.dtype.kind in "iuf":
        x = flat.astype(np.float64)
        finite = np.isfinite(x)
        xs = x[finite]
        if xs.size:
            items += [("min", xs.min()), ("max", xs.max()), ("mean", xs.mean()), ("std", xs.std())]
        if xs.size < x.size:
            items.append(("not finite", f"{x.size - xs.size} of {x.size}"))
    stats = "".join(f"<th class='l'>{_esc(k)}</th><td class='l'>{_esc(value_text(v))}</td>" for k, v in items)
    first = ", ".join(value_text(v) for v in flat[:FEW_VALUES].tolist())
    more = ", ..." if flat.size > FEW_VALUES else ""
    return (
        f"<table><tr>{stats}</tr></table>"
        f"<div>first values <code>[{_esc(first)}{more}]</code> "
        f"<span class='note'>({a.size:,} elements)</span></div>"
    )


# ----------------------------------------------------------------------------- histories
def have_matplotlib() -> bool:
    """Whether matplotlib can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def history_html(history, plot: bool | None = None) -> str:
    """A training history as HTML: the curves as an inline PNG (``plot=True``), or a table of the epochs
    (``plot=False``). ``plot=None`` plots when matplotlib is installed and falls back to the table when it
    is not (or when plotting fails)."""
    if not len(history):
        return f"<div class='chainrule'>{STYLE}History: no epochs yet</div>"
    head = f"<div><b>History</b> &middot; {len(history)} epochs &middot; last: {_esc(_last_row(history))}</div>"
    if plot is None:
        plot = have_matplotlib()
        if plot:
            try:
                return f"<div class='chainrule'>{STYLE}{head}{_plot_html(history)}</div>"
            except Exception as exc:  # a display must not fail: say why, and show the numbers
                note = f"<div class='note'>(no plot: {_esc(type(exc).__name__)}: {_esc(exc)})</div>"
                return f"<div class='chainrule'>{STYLE}{head}{note}{_history_table(history)}</div>"
    body = _plot_html(history) if plot else _history_table(history)
    return f"<div class='chainrule'>{STYLE}{head}{body}</div>"


def _last_row(history) -> str:
    last = history.epochs[-1]
    return ", ".join(f"{k} {value_text(v)}" for k, v in last.items() if isinstance(v, float) and k != "time")


def _plot_html(history) -> str:
    from .plotting import plot_history

    fig = plot_history(history)
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)  # or a notebook's inline backend would show the figure a second time
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='training curves' src='data:image/png;base64,{data}'/>"


def _history_table(history) -> str:
    keys = history.keys()
    rows = history.epochs
    n = len(rows)
    if n > HISTORY_MAX_ROWS:
        head_n = HISTORY_MAX_ROWS // 3
        shown = [*rows[:head_n], None, *rows[n - (HISTORY_MAX_ROWS - head_n) :]]
    else:
        shown = rows
    out = ["<table><tr>" + "".join(f"<th>{_esc(k)}</th>" for k in keys) + "</tr>"]
    for row in shown:
        if row is None:
            out.append(f"<tr><td class='l' colspan='{len(keys)}'>... {n - HISTORY_MAX_ROWS} epochs ...</td></tr>")
            continue
        out.append("<tr>" + "".join(f"<td>{_esc(_cell(row.get(k)))}</td>" for k in keys) + "</tr>")
    return "".join(out) + "</table>"


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    return value_text(v)


# ----------------------------------------------------------------------------- step explanations
def step_html(step) -> str:
    """``explain_step``'s lines as a table: name, expression, value."""
    from .explain.trace import fmt

    rows = []
    for name, expr, value in step.lines:
        rows.append(
            f"<tr><td class='l'>{_esc(name)}</td><td class='l'>{_esc(expr)}</td><td>{_esc(fmt(value))}</td></tr>"
        )
    return (
        f"<div class='chainrule'>{STYLE}<div><b>{_esc(step.title)}</b></div><table>"
        "<tr><th class='l'>name</th><th class='l'>expression</th><th>value</th></tr>"
        + "".join(rows)
        + f"</table><div>new value <code>{_esc(fmt(step.new_value))}</code></div></div>"
    )
