"""The step-by-step page: one self-contained HTML file where a learner walks through backpropagation.

``Trace.to_html()`` (and ``chainrule explain EXAMPLE --format html``) writes it. Everything is inline: the
stylesheet, the script and the graph's SVG (drawn by :mod:`chainrule.explain.layout`, without Graphviz), so the
file opens from a disk or an e-mail with no network. The page shows:

- the computational graph, with a legend, zoom (wheel, buttons) and pan (drag); the direction of the drawing is
  chosen by the graph's shape so that a wide graph fits a 1280-px window;
- the forward pass, one node per step: its rule, its inputs' values and the value it produced;
- the backward pass, one node per step: its rule and local derivative, the gradient arriving from above (written
  as a sum, term by term, where the value fed several nodes), and the product sent to each input, with numbers;
  Linear and matmul nodes write their products as matrices with shapes and one element's sum;
- the gradients of the leaves (and, for seed 003, one step of gradient descent);
- a per-parameter view: pick a parameter, and its gradient's whole chain is written out while the nodes along
  its paths are marked on the graph.

Next/previous buttons, the arrow keys and a slider move through the steps; at each step the current node is
highlighted on the graph, and each tensor's gradient appears in its box once the backward pass has reached it.
"""

from __future__ import annotations

import html
import json
import os
import textwrap

import numpy as np

from ..tensor import Tensor
from .layout import Node, layout, to_svg
from .trace import Trace, fmt

__all__ = ["page"]

#: elements of a tensor written in a box of the graph (more: the box says the shape; the step panel summarises)
BOX_ELEMENTS = 4


def _short(a) -> str:
    a = np.asarray(a)
    if a.size == 1:
        return fmt(a)
    if a.size <= BOX_ELEMENTS:
        return np.array2string(a, precision=4, separator=", ").replace("\n", "")
    return f"shape {a.shape}"


def _graph(tr: Trace, bstep: dict):
    """The nodes and edges of the picture; ``bstep[k]`` is the page's step at which backward step k is shown.

    An operation and the value it produced are one box (the value's name and number over the operation and its
    rule), which halves the drawing's depth; leaves (parameters, constants) are boxes of their own. An operation
    with several outputs keeps a box per output."""
    ids: dict = {}
    nodes: list[Node] = []
    edges = []
    out = tr.out_name
    for k, s in enumerate(tr.steps):
        if s.out_tensor is not None:
            ids[id(s.out_tensor)] = f"o{k}"

    def tensor_id(t: Tensor) -> str:
        if id(t) not in ids:
            ids[id(t)] = f"t{len(nodes)}"
            kind = "parameter" if t.is_leaf and t.requires_grad else "constant" if t.is_leaf else "intermediate"
            nodes.append(Node(ids[id(t)], [tr.name_of(t), _short(t.data)], kind))
        return ids[id(t)]

    when = {}  # node id -> page step at which its gradient is complete
    for k, s in enumerate(tr.steps):
        oid = f"o{k}"
        rule = textwrap.wrap(f"{s.op}: {s.formula}" if s.formula else s.op, 34, break_on_hyphens=False)
        if len(rule) > 2:
            rule = [rule[0], rule[1][:31] + "..."]
        head = [f"{s.out_name} = {_short(s.out_tensor.data)}"] if s.out_tensor is not None else []
        nodes.append(Node(oid, head + rule if head else rule, "op output" if s.out_tensor is tr.output else "op"))
        when[oid] = bstep[k]
        for e in s.edges:
            tid = tensor_id(e.tensor)
            edges.append((tid, oid, not e.needs_grad))
            if e.needs_grad and e.contribution is not None and e.tensor.is_leaf:
                when[tid] = max(when.get(tid, 0), bstep[k])
        for _, t, _, _ in s.outputs:  # several outputs: a box each, after the operation
            if t is not None:
                tid = tensor_id(t)
                edges.append((oid, tid, False))
                when[tid] = bstep[k]
    byid = {n.id: n for n in nodes}
    for t in _tensors(tr):
        tid = ids.get(id(t))
        g = tr.grad(t)
        if g is not None and tid in when:
            byid[tid].late_lines.append((when[tid], f"d{out}/d{tr.name_of(t)} = {_short(g)}"))
    return nodes, edges, ids


def _produced(s) -> list:
    """The tensors a step's node produced: its output, or its outputs that were used (several outputs)."""
    return [s.out_tensor] if s.out_tensor is not None else [t for _, t, _, _ in s.outputs if t is not None]


def _step_ids(s, k: int, ids: dict) -> tuple[list, list]:
    """The picture's ids of step ``k``'s node with what it produced (current), and of its inputs (related)."""
    current = dict.fromkeys([f"o{k}"] + [ids[id(t)] for t in _produced(s) if id(t) in ids])
    return list(current), [ids[id(e.tensor)] for e in s.edges if id(e.tensor) in ids]


def graph_parts(tr: Trace):
    """(nodes, edges, ids) of the picture of ``tr`` for :func:`chainrule.explain.layout.layout`, as the page
    draws it."""
    return _graph(tr, {k: k for k in range(len(tr.steps))})


def _tensors(tr: Trace):
    seen = set()
    for s in tr.steps:
        for t in [e.tensor for e in s.edges] + _produced(s):
            if id(t) not in seen:
                seen.add(id(t))
                yield t


def _rows_html(rows, names=None) -> str:
    """Rows (kind, label, text) of a trace as an HTML table; an incoming gradient and each gradient sent
    are marked (class incoming / sent, with the tensor's name) so they can be found."""
    out = ["<table class='rows'>"]
    for kind, label, text in rows:
        lab = html.escape(label)
        if kind == "head":
            out.append(f"<tr class='head'><th colspan='2'>{lab}</th></tr>")
            continue
        cls, data = "", ""
        if names is not None and kind == "eq":
            if label.startswith("-> ") and label[3:] in names:
                cls, data = "sent", names[label[3:]]
            elif label in names:
                cls, data = "incoming", names[label]
        attrs = f" class='{cls}' data-name='{html.escape(data)}'" if cls else ""
        body = "<br>".join(html.escape(line) for line in text.split("\n"))
        out.append(f"<tr{attrs}><td class='label'>{lab}</td><td class='value'>{body}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _forward_rows(tr: Trace, s, exprs: dict) -> list:
    me = tr.max_elements
    rows = [("kv", "rule", s.formula)] if s.formula else []
    for e in s.edges:
        rows.append(("eq", e.name, fmt(e.tensor.data, me)))
    if s.out_tensor is not None:
        expr = exprs.get(s.out_name)
        value = fmt(s.out_tensor.data, me)
        rows.append(("eq", s.out_name, f"{expr} = {value}" if expr else value))
    for nm, _t, v, _ in s.outputs:
        if v is not None:
            rows.append(("eq", nm, fmt(v, me)))
    return rows


def _paths_to_output(tr: Trace, ids: dict) -> dict:
    """For each leaf with a gradient: the ids of the tensors and nodes on its paths to the output."""
    consumers: dict = {}
    for k, s in enumerate(tr.steps):
        for e in s.edges:
            if e.needs_grad:
                consumers.setdefault(id(e.tensor), []).append((f"o{k}", _produced(s)))
    out = {}
    for leaf in tr.leaves:
        if tr.grad(leaf) is None or id(leaf) not in ids:
            continue
        marked, todo, seen = {ids[id(leaf)]}, [leaf], {id(leaf)}
        while todo:
            t = todo.pop()
            for oid, produced in consumers.get(id(t), []):
                marked.add(oid)
                for p in produced:
                    if id(p) not in seen:
                        seen.add(id(p))
                        marked.add(ids[id(p)])
                        todo.append(p)
        out[tr.name_of(leaf)] = sorted(marked)
    return out


def page(tr: Trace, title: str | None = None) -> str:
    """The whole page as one HTML string (see the module's docstring)."""
    steps = tr.steps
    n_fw = len(steps)
    # page steps: 0 the overview, 1..n_fw the forward pass, then the backward pass, then the result
    bstep = {k: 1 + n_fw + k for k in range(len(steps))}
    nodes, edges, ids = _graph(tr, bstep)
    lay = layout(nodes, edges)
    svg = to_svg(lay)
    title = title or tr.title or f"Backpropagation through {tr.out_name}"
    exprs = {name: expr for name, expr, _ in tr.forward_values if expr}
    name_ids = {f"d{tr.out_name}/d{tr.name_of(t)}": tr.name_of(t) for t in _tensors(tr)}

    panels, meta = [], []

    def add(kind, heading, body, current=(), related=()):
        k = len(panels)
        panels.append(
            f"<section class='step' data-step='{k}' data-phase='{kind}' hidden><h3>{html.escape(heading)}</h3>"
            f"{body}</section>"
        )
        meta.append({"phase": kind, "current": list(current), "related": list(related)})

    intro = [
        f"<p>{len(steps)} operations and {len(tr.leaves)} leaves with a gradient. Step through the forward pass, "
        "then the backward pass: the chain rule from the output down, one node at a time. At each node the "
        "gradient arriving from above is multiplied by the node's local derivative, and the product is sent "
        "to each input; where a value feeds several nodes, its gradient is the sum of one term per use.</p>",
        "<p>Keys: &larr; and &rarr; (or the buttons, or the slider) move a step; Home and End jump to the "
        "start and the end. Wheel or the buttons zoom the graph; drag it to pan.</p>",
    ]
    pre = tr.sections(("forward", "legend", "notes"))
    for sec_title, rows in pre:
        intro.append(f"<h4>{html.escape(sec_title)}</h4>{_rows_html(rows)}")
    add("overview", "Overview", "".join(intro))
    for k in range(n_fw):  # the forward pass: the backward pass's nodes in reverse
        s = steps[n_fw - 1 - k]
        heading = f"Forward {k + 1} of {n_fw}: {s.op} computes {s.out_name}"
        add("forward", heading, _rows_html(_forward_rows(tr, s, exprs)), *_step_ids(s, n_fw - 1 - k, ids))
    for k, s in enumerate(steps):
        (_, head, _), *rows = tr.step_rows(s)  # the heading row becomes the panel's heading
        heading = f"Backward {k + 1} of {len(steps)}: {head}"
        add("backward", heading, _rows_html(rows, name_ids), *_step_ids(s, k, ids))
    result = tr.sections(("leaves", "update"))
    add(
        "result",
        "Result",
        "".join(f"<h4>{html.escape(t)}</h4>{_rows_html(rows)}" for t, rows in result)
        or "<p>No leaf needs a gradient.</p>",
        [ids[id(t)] for t in tr.leaves if id(t) in ids and tr.grad(t) is not None],
    )

    chains, paths = {}, _paths_to_output(tr, ids)
    for name in paths:
        try:
            chains[name] = tr.chain(tr.tensor(name)).text
        except Exception as exc:  # a chain that cannot be written: say why instead of losing the page
            chains[name] = f"(not written: {exc})"
    options = "".join(f"<option value='{html.escape(n)}'>{html.escape(n)}</option>" for n in paths)
    data = {"steps": meta, "paths": paths, "chains": chains}
    # <, > and & as JSON escapes: the data cannot end the script or open a comment, whatever the names hold
    safe = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    script = _SCRIPT.replace("__DATA__", safe)
    legend = (
        "<div class='legend'><span class='key parameter'>parameter (needs a gradient)</span>"
        "<span class='key constant'>constant or data</span><span class='key op'>an operation and the value it "
        "computed</span><span class='key output'>the output</span>"
        "<span class='key current'>current node</span><span class='key related'>its inputs</span>"
        "<span class='key path'>a parameter's paths</span><span class='key dashed'>- - no gradient flows</span>"
        "</div>"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1></header>"
        "<div id='graph-box'><div class='zoom'><button id='zoom-in' title='zoom in'>+</button>"
        "<button id='zoom-out' title='zoom out'>&minus;</button><button id='fit' title='the whole graph'>fit</button>"
        "<label class='follow' title='zoom to the current node at each step when the whole graph is too small to "
        "read'><input type='checkbox' id='follow' checked> follow the step</label>"
        f"</div>{svg}</div>{legend}"
        "<nav id='controls'><button id='prev'>&larr; previous</button>"
        f"<input id='slider' type='range' min='0' max='{len(panels) - 1}' value='0' aria-label='step'>"
        "<button id='next'>next &rarr;</button><span id='where'></span></nav>"
        f"<main id='panels'>{''.join(panels)}</main>"
        "<aside id='chain-view'><h3>One parameter's gradient, as its whole chain</h3>"
        f"<label>parameter <select id='param'><option value=''>(choose)</option>{options}</select></label>"
        "<pre id='chain-text'></pre></aside>"
        f"<script>{script}</script></body></html>\n"
    )


def write(text: str, path) -> str:
    """Write a page made by :func:`page` to ``path`` (atomically: a reader never sees half a page)."""
    from ..io import atomic_write

    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return os.fspath(path)


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1260px;
padding:0 10px 40px;color:#1d2330;background:#fcfcfd}
h1{font-size:20px;margin:12px 0 6px}h3{margin:4px 0 8px;font-size:16px}h4{margin:12px 0 4px}
#graph-box{position:relative;border:1px solid #d5d9e2;border-radius:6px;background:#fff;height:56vh;
min-height:320px;overflow:hidden;cursor:grab}
#graph-box.dragging{cursor:grabbing}
#graph{width:100%;height:100%;display:block;user-select:none}
.zoom{position:absolute;right:8px;top:8px;z-index:2;display:flex;gap:4px}
.zoom button{width:34px;height:28px}
.zoom .follow{background:#fffd;border:1px solid #aab2c0;border-radius:4px;padding:3px 8px;font-size:12px}
button{font:inherit;padding:3px 10px;border:1px solid #aab2c0;border-radius:4px;background:#f4f6fa;cursor:pointer}
button:hover{background:#e6ebf3}
.node text{font:11px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;text-anchor:middle;fill:#1d2330}
.node text.title{font-weight:600}
.node text.late{fill:#a33b00;display:none}
.node text.late.shown{display:inline}
.node rect{stroke:#7a8394;stroke-width:1;fill:#fff}
.node.parameter rect{fill:#e3edff;stroke:#4a6fc2}
.node.constant rect{fill:#f1f1f1;stroke:#9a9a9a;stroke-dasharray:4 2}
.node.output rect{fill:#fde6e4;stroke:#c0392b;stroke-width:1.5}
.node.op rect{fill:#fff7dc;stroke:#b58a00}
.node.op.output rect{fill:#fde6e4;stroke:#c0392b;stroke-width:1.5}
.node.related rect{stroke:#2b7a3d;stroke-width:2.5}
.node.path rect{stroke:#7d3cc9;stroke-width:3}
.node.current rect{stroke:#ff6a00;stroke-width:4}
.edge{fill:none;stroke:#8a93a5;stroke-width:1.2}
.edge.dashed{stroke-dasharray:5 4}
.edge.active{stroke:#ff6a00;stroke-width:2.5}
.edge.path{stroke:#7d3cc9;stroke-width:2.5}
.arrowhead{fill:#8a93a5}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;margin:6px 0;font-size:12px}
.key::before{content:'';display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:-1px;
border:1px solid #7a8394;background:#fff}
.key.parameter::before{background:#e3edff;border-color:#4a6fc2}
.key.constant::before{background:#f1f1f1;border:1px dashed #9a9a9a}
.key.output::before{background:#fde6e4;border-color:#c0392b}
.key.op::before{background:#fff7dc;border-color:#b58a00;border-radius:5px}
.key.current::before{border:3px solid #ff6a00}
.key.related::before{border:2px solid #2b7a3d}
.key.path::before{border:3px solid #7d3cc9}
.key.dashed::before{display:none}
#controls{display:flex;align-items:center;gap:10px;margin:8px 0;position:sticky;top:0;background:#fcfcfd;
padding:6px 0;z-index:3}
#slider{flex:1}
#where{min-width:210px;font-weight:600}
.step{border:1px solid #d5d9e2;border-radius:6px;padding:10px 14px;background:#fff}
table.rows{border-collapse:collapse}
table.rows td{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;vertical-align:top;padding:2px 10px 2px 0}
table.rows td.label{white-space:nowrap;color:#445}
table.rows td.value{white-space:pre-wrap}
table.rows tr.incoming td{background:#fff3e6}
table.rows tr.sent td{background:#eef8ef}
table.rows th{text-align:left;padding:6px 0 2px}
#chain-view{margin-top:14px;border:1px solid #d5d9e2;border-radius:6px;padding:10px 14px;background:#fff}
#chain-text{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;margin:8px 0 0}
"""

_SCRIPT = r"""
(function () {
  const DATA = __DATA__;
  const svg = document.getElementById('graph');
  const box = document.getElementById('graph-box');
  const panels = Array.from(document.querySelectorAll('section.step'));
  const slider = document.getElementById('slider');
  const where = document.getElementById('where');
  const full = [0, 0, +svg.dataset.width, +svg.dataset.height];
  let view = full.slice();
  let current = 0;
  function setView(v) {
    view = v;
    svg.setAttribute('viewBox', v.map(function (x) { return x.toFixed(1); }).join(' '));
  }
  function fit() { setView(full.slice()); }
  function zoom(factor, cx, cy) {
    const w = view[2] * factor, h = view[3] * factor;
    if (w > full[2] * 4 || w < 40) return;
    if (cx === undefined) { cx = view[0] + view[2] / 2; cy = view[1] + view[3] / 2; }
    setView([cx - (cx - view[0]) * factor, cy - (cy - view[1]) * factor, w, h]);
  }
  function toGraph(evt) {
    const r = svg.getBoundingClientRect();
    const s = Math.max(view[2] / r.width, view[3] / r.height);
    const ox = (r.width - view[2] / s) / 2, oy = (r.height - view[3] / s) / 2;
    return [view[0] + (evt.clientX - r.left - ox) * s, view[1] + (evt.clientY - r.top - oy) * s, s];
  }
  box.addEventListener('wheel', function (evt) {
    evt.preventDefault();
    const p = toGraph(evt);
    zoom(evt.deltaY > 0 ? 1.15 : 1 / 1.15, p[0], p[1]);
  }, {passive: false});
  let drag = null;
  box.addEventListener('mousedown', function (evt) {
    if (evt.target.tagName === 'BUTTON') return;
    drag = [evt.clientX, evt.clientY, view.slice(), toGraph(evt)[2]];
    box.classList.add('dragging');
  });
  window.addEventListener('mousemove', function (evt) {
    if (!drag) return;
    const s = drag[3];
    setView([drag[2][0] - (evt.clientX - drag[0]) * s, drag[2][1] - (evt.clientY - drag[1]) * s, view[2], view[3]]);
  });
  window.addEventListener('mouseup', function () { drag = null; box.classList.remove('dragging'); });
  document.getElementById('zoom-in').onclick = function () { zoom(1 / 1.3); };
  document.getElementById('zoom-out').onclick = function () { zoom(1.3); };
  document.getElementById('fit').onclick = function () { follow.checked = false; fit(); };
  document.getElementById('follow').addEventListener('change', function () { show(current); });

  function mark(ids, cls) {
    ids.forEach(function (id) { const el = document.getElementById(id); if (el) el.classList.add(cls); });
  }
  function clear(cls) {
    document.querySelectorAll('#graph .' + cls).forEach(function (el) { el.classList.remove(cls); });
  }
  const follow = document.getElementById('follow');
  function bbox(ids) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    ids.forEach(function (id) {
      const el = document.getElementById(id);
      if (!el) return;
      const b = el.getBBox();
      x0 = Math.min(x0, b.x); y0 = Math.min(y0, b.y);
      x1 = Math.max(x1, b.x + b.width); y1 = Math.max(y1, b.y + b.height);
    });
    return x0 === Infinity ? null : [x0, y0, x1 - x0, y1 - y0];
  }
  function readable() {  // the whole graph, fitted to the box, at a size whose labels can be read
    const r = svg.getBoundingClientRect();
    return Math.min(r.width / full[2], r.height / full[3]) >= 0.75;
  }
  function centre(b) {
    setView([b[0] + b[2] / 2 - view[2] / 2, b[1] + b[3] / 2 - view[3] / 2, view[2], view[3]]);
  }
  function keepInView(m) {
    const cur = bbox(m.current);
    if (!cur) return;
    if (follow.checked && !readable()) {  // zoom to the step: labels at their own size
      const r = svg.getBoundingClientRect();
      view = [view[0], view[1], r.width, r.height];
      const both = bbox(m.current.concat(m.related));
      centre(both && both[2] <= view[2] && both[3] <= view[3] ? both : cur);
      return;
    }
    const inside = cur[0] >= view[0] && cur[1] >= view[1] && cur[0] + cur[2] <= view[0] + view[2] &&
      cur[1] + cur[3] <= view[1] + view[3];
    if (!inside) centre(cur);
  }
  function show(k) {
    k = Math.max(0, Math.min(panels.length - 1, k));
    current = k;
    panels.forEach(function (p, i) { p.hidden = i !== k; });
    slider.value = k;
    const m = DATA.steps[k];
    const nth = DATA.steps.slice(0, k + 1).filter(function (s) { return s.phase === m.phase; }).length;
    const total = DATA.steps.filter(function (s) { return s.phase === m.phase; }).length;
    where.textContent = m.phase === 'overview' || m.phase === 'result'
      ? (m.phase === 'overview' ? 'Overview' : 'Result') + ' (step ' + k + ' of ' + (panels.length - 1) + ')'
      : (m.phase === 'forward' ? 'Forward ' : 'Backward ') + nth + ' of ' + total;
    clear('current'); clear('related'); clear('active');
    mark(m.current, 'current'); mark(m.related, 'related');
    document.querySelectorAll('#graph path.edge').forEach(function (e) {
      const touches = m.current.indexOf(e.dataset.from) >= 0 || m.current.indexOf(e.dataset.to) >= 0;
      if (touches && m.phase !== 'result') e.classList.add('active');
    });
    document.querySelectorAll('#graph text.late').forEach(function (t) {
      t.classList.toggle('shown', +t.dataset.fromStep <= k);
    });
    keepInView(m);
    document.body.dataset.step = k;
  }
  document.getElementById('prev').onclick = function () { show(current - 1); };
  document.getElementById('next').onclick = function () { show(current + 1); };
  slider.addEventListener('input', function () { show(+slider.value); });
  document.addEventListener('keydown', function (evt) {
    // the drop-down keeps its own arrow keys; the slider, the checkbox and the buttons give them to the steps
    if (evt.target.tagName === 'SELECT' || (evt.target.tagName === 'INPUT' && evt.target.type === 'text')) return;
    if (evt.key === 'ArrowRight') { show(current + 1); evt.preventDefault(); }
    else if (evt.key === 'ArrowLeft') { show(current - 1); evt.preventDefault(); }
    else if (evt.key === 'Home') { show(0); evt.preventDefault(); }
    else if (evt.key === 'End') { show(panels.length - 1); evt.preventDefault(); }
  });
  const select = document.getElementById('param');
  select.addEventListener('change', function () {
    clear('path');
    const name = select.value;
    document.getElementById('chain-text').textContent = name ? DATA.chains[name] : '';
    if (!name) return;
    const ids = DATA.paths[name];
    fit();  // the whole graph, with the paths marked
    mark(ids, 'path');
    document.querySelectorAll('#graph path.edge').forEach(function (e) {
      if (ids.indexOf(e.dataset.from) >= 0 && ids.indexOf(e.dataset.to) >= 0) e.classList.add('path');
    });
  });
  fit();
  show(0);
})();
"""
