"""cr.explain, graph pictures, whole-graph checks, step explanations, diagnostics, anomaly detection.

Every number a trace prints is checked against a value computed independently
here (by hand with math, or by a separate backward pass), never against pasted text.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import AnomalyError, GradcheckError, GraphFreedError
from chainrule.explain import example_trace, explain_step, gradcheck_graph

from test_seeds import by_hand

F = cr.nn.functional


def g9(x):
    return f"{x:.9g}"


# ------------------------------------------------------------------------------ traces of the seeds
@pytest.fixture(scope="module")
def seed003_text():
    return example_trace("seed003").to_text()


def test_seed003_trace_every_number(seed003_text):
    f, g, updated = by_hand()
    for k, v in f.items():
        if k != "E_total":
            assert f"{k} = " in seed003_text and g9(v) in seed003_text, k
    assert f"E = E_o1 + E_o2 = {g9(f['E_total'])}" in seed003_text
    for k, v in g.items():
        assert re.search(rf"dE/d{k} = .*{re.escape(g9(v))}", seed003_text, re.S), k
    for k, v in updated.items():
        w0 = {"b1": 0.4, "b2": 0.7}.get(k) or example_weights()[k]
        assert f"{k} = {g9(w0)} - 0.1 * {g9(g[k])} = {g9(v)}" in seed003_text


def example_weights():
    from chainrule.explain.examples import SEED003_WEIGHTS

    return SEED003_WEIGHTS


def test_seed003_chain_for_w6_is_the_tutorials():
    f, g, _ = by_hand()
    c = example_trace("seed003").chain("w6")
    labels = [lab for lab, _ in c["paths"][0]]
    assert labels == ["dE/dout_o1", "dout_o1/dnet_o1", "dnet_o1/dw6"]
    values = [v for _, v in c["paths"][0]]
    expect = [-(0.5 - f["out_o1"]), f["out_o1"] * (1 - f["out_o1"]), f["out_h2"]]
    assert values == pytest.approx(expect, rel=1e-12)
    assert c["total"] == pytest.approx(g["w6"], rel=1e-12)
    assert " * ".join(g9(v) for v in expect) in c["text"]  # 0.248598311 * 0.18819888 * 0.601327636


def test_seed003_chain_for_w1_sums_two_paths():
    f, g, _ = by_hand()
    c = example_trace("seed003").chain("w1")
    assert len(c["paths"]) == 2
    d_o1 = -(0.5 - f["out_o1"]) * f["out_o1"] * (1 - f["out_o1"])
    d_o2 = -(0.9 - f["out_o2"]) * f["out_o2"] * (1 - f["out_o2"])
    s1 = f["out_h1"] * (1 - f["out_h1"])
    assert sorted(c["terms"]) == pytest.approx(sorted([d_o1 * 0.30 * s1 * 0.02, d_o2 * 0.40 * s1 * 0.02]))
    assert sum(c["terms"]) == pytest.approx(g["w1"])


def test_shared_bias_gradient_written_as_a_sum(seed003_text):
    f, g, _ = by_hand()
    d_o1 = -(0.5 - f["out_o1"]) * f["out_o1"] * (1 - f["out_o1"])
    d_o2 = -(0.9 - f["out_o2"]) * f["out_o2"] * (1 - f["out_o2"])
    leaves = seed003_text[seed003_text.index("Gradients of the leaves") :]
    block = leaves[leaves.index("dE/db2 = dE/dnet_o") :]
    assert f"{g9(d_o2)} * 1 + {g9(d_o1)} * 1" in block or f"{g9(d_o1)} * 1 + {g9(d_o2)} * 1" in block
    assert g9(g["b2"]) in block.split("\n")[2]


def test_neuron_trace_writes_seed000_sum():
    """dC/da = dC/dz' * w3 + dC/dz'' * w4, each term computed here by hand."""
    tr = example_trace("neuron")
    text = tr.to_text()
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    a = s(1 * 1 + (-2) * (-1) + 1)
    w3, w4 = -1.0, 2.0
    y1, y2 = s(w3 * a), s(w4 * a)
    dz1 = y1 * y1 * (1 - y1)  # dC/dz' for C = 1/2 y'^2
    dz2 = (y2 - 1) * y2 * (1 - y2)  # dC/dz'' for C = 1/2 (y'' - 1)^2
    assert tr.grad(tr.tensor("a")).item() == pytest.approx(w3 * dz1 + w4 * dz2, rel=1e-12)
    terms = {f"{g9(dz1)} * {g9(w3)}", f"{g9(dz2)} * {g9(w4)}"}
    line = next(ln for ln in text.splitlines() if "dC/da = " in ln and " + " in ln)
    assert "dC/dz'' * dz''/da" in line and "dC/dz' * dz'/da" in line
    nums = text[text.index(line) :].splitlines()[1]
    assert all(t in nums for t in terms)


def test_shopping_trace():
    tr = example_trace("shopping")
    text = tr.to_text()
    a, an, o, on, tax = 100.0, 2.0, 150.0, 3.0, 1.1
    for name, v in {
        "apple": an * tax,
        "apple_num": a * tax,
        "orange": on * tax,
        "orange_num": o * tax,
        "tax": a * an + o * on,
    }.items():
        assert f"dprice/d{name} = {g9(v)}" in text


def test_formats_and_width():
    tr = example_trace("seed003")
    text, md, html, page = tr.to_text(), tr.to_markdown(), tr.to_html_table(), tr.to_html()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert md.startswith("# Seed 003") and "| `" in md and "## Backward pass" in md
    assert html.startswith("<div") and "<table>" in html and "&lt;-" in html
    assert page.startswith("<!DOCTYPE html>")
    _, g, _ = by_hand()
    for v in g.values():
        assert g9(v) in md and g9(v) in html and g9(v) in page


def test_explain_leaves_grads_alone_and_needs_the_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (x * x).sum()
    tr = cr.explain(y)
    assert x.grad is None
    np.testing.assert_allclose(tr.grad(x), [2.0, 4.0])
    y.backward()
    with pytest.raises(GraphFreedError, match="before loss.backward"):
        cr.explain(y)


def test_broadcasting_said_in_words():
    x = cr.tensor(np.ones((64, 3), np.float32))
    lin = cr.nn.Linear(3, 10)
    b = cr.tensor(np.zeros(10), requires_grad=True, name="b")
    loss = (x @ lin.weight.T + b).sum()
    flat = " ".join(cr.explain(loss).to_text().split())  # undo the wrapping at 100 columns
    assert "summed over axis 0: b (10,) was broadcast to (64, 10)" in flat
    loss2 = F.cross_entropy(lin(x), np.zeros(64, np.int64))
    assert "summed over axis 0: bias (10,) was broadcast to (64, 10)" in " ".join(cr.explain(loss2).to_text().split())


def test_a_new_op_documents_itself():
    class Cube(cr.Function):
        formula = "y = x^3"
        derivative = "dy/dx = 3 x^2"

        def forward(self, x):
            self.x = x
            return x**3

        def backward(self, g):
            return g * 3 * self.x**2

    x = cr.tensor(2.0, requires_grad=True, name="x")
    text = cr.explain(Cube()(x)).to_text()
    assert "y = x^3;  local derivative: dy/dx = 3 x^2" in text
    assert "dL/dx = dL/dL * dL/dx = 1 * 12 = 12" in text


def test_explain_gives_each_output_of_a_multi_output_node_its_gradient():
    """Per-output gradients through split equal backward's."""
    x = cr.tensor(np.arange(1.0, 6.0), requires_grad=True, name="x", dtype="float64")
    a, b = cr.split(x, [2, 3], dim=0)
    a.name, b.name = "a", "b"
    L = (a * a).sum() + (b * 3).sum()
    tr = cr.explain(L)
    L.backward()
    np.testing.assert_array_equal(tr.grad(x), x.grad.numpy())
    np.testing.assert_array_equal(tr.grad(a), 2 * np.arange(1.0, 3.0))
    np.testing.assert_array_equal(tr.grad(b), np.full(3, 3.0))
    text = tr.to_text()
    assert "Split: 2 outputs" in text and "dL/da" in text and "dL/db" in text


def test_explain_leaves_retained_gradients_untouched():
    x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = x * 3
    y.retain_grad()
    L = y.sum()
    cr.explain(L)
    assert y.grad is None and x.grad is None
    L.backward()
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])


def test_explain_says_when_hooks_were_not_run():
    x = cr.tensor([0.5, 1.0], requires_grad=True, name="x")
    h = x.tanh()
    h.name = "h"
    h.register_hook(lambda g: g * 3)
    text = cr.explain((h * h).sum()).to_text()
    assert "hooks are registered on h" in text
    plain = cr.explain((x.tanh() ** 2).sum()).to_text()
    assert "hooks" not in plain


def test_chain_of_a_matrix_through_matmul():
    W = cr.tensor(np.ones((2, 2)), requires_grad=True, name="W")
    c = cr.explain((cr.tensor(np.ones((3, 2))) @ W).sum()).chain("W")
    np.testing.assert_array_equal(c["total"], np.full((2, 2), 3.0))  # independent: d sum(X W)/dW = X^T 1
    assert "shape (2, 2)" in c["text"]


def test_chain_of_a_scalar_through_stack_counts_every_path():
    a = cr.tensor(2.0, requires_grad=True, name="a", dtype=np.float64)
    c = cr.explain(a * 3 + cr.stack([a, a * a]).sum()).chain("a")
    assert c["total"] == 3 + 1 + 2 * 2.0  # every path counted, not just the elementwise one
    assert "= 8" in c["text"]


def test_chain_says_when_paths_are_left_out():
    x = cr.tensor(1.01, requires_grad=True, name="x", dtype=np.float64)
    h = x
    for i in range(5):
        h = h * h
        h.name = f"h{i}"
    c = cr.explain(h).chain("x", max_paths=16)
    assert len(c["terms"]) == 16 and "not written out" in c["text"]
    assert c["total"] == pytest.approx(32 * 1.01**31, rel=1e-12)


def test_text_trace_lines_fit_the_width():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal(6) * 1e-7, requires_grad=True, name="x", dtype=np.float64)
    y = cr.tensor(rng.standard_normal(6) * 1e5, requires_grad=True, name="y", dtype=np.float64)
    text = cr.explain(((x * y).exp() * x - y).sum(), title="A long title " * 12).to_text()
    assert max(len(line) for line in text.splitlines()) <= 100


def test_markdown_trace_escapes_names_and_titles():
    h = cr.tensor([1.0], requires_grad=True, name="h|<i>&`x")
    md = cr.explain((h * 3).sum(), title="T <b>|&").to_markdown()
    assert "# T &lt;b&gt;\\|&amp;" in md
    outside = re.sub(r"``.*?``|`[^`]*`", "", md)  # what is left outside code spans
    assert "<" not in outside and "`" not in outside  # no raw HTML, no code span closed early
    assert "`` dL/dh\\|<i>&`x ``" in md  # a name holding a backtick sits in a longer fence


# ------------------------------------------------------------------------------ graph pictures
def test_draw_graph_dot_carries_values_and_local_derivatives(tmp_path):
    from chainrule.explain.examples import shopping

    price, _ = shopping()
    g = cr.draw_graph(price)
    src = g.source
    assert src.startswith("digraph") and src.count("->") >= 12
    assert "dapple_price/dapple = 2" in src and "dprice/dtax = 650" in src.replace("\\n", " ")
    assert "dall_price/dapple_price = 1" in src and "dprice/dall_price = 1.1" in src
    g.render(tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text() == src


def test_render_svg_or_clear_message(tmp_path, monkeypatch):
    import shutil
    import sys

    from chainrule.explain.examples import neuron

    out, _ = neuron()
    g = cr.draw_graph(out)
    have = shutil.which("dot") is not None
    try:
        import graphviz  # noqa: F401
    except ImportError:
        have = False
    if have:
        g.render(tmp_path / "g.svg")
        assert (tmp_path / "g.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(cr.errors.MissingDependencyError, match=r"chainrule\[graph\]"):
        g.render(tmp_path / "h.png")


# ------------------------------------------------------------------------------ checking a learner's backward
class WrongSquare(cr.Function):
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return g * self.x  # forgot the factor 2


def test_gradcheck_graph_names_the_faulty_node():
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True, name="x")
    w = cr.tensor(rng.standard_normal((3, 2)), requires_grad=True, name="w")
    h = (x @ w).tanh()
    h.name = "h"
    sq = WrongSquare()(h)
    sq.name = "h2"
    loss = sq.mean()
    with pytest.raises(GradcheckError) as e:
        gradcheck_graph(loss)
    msg = str(e.value)
    assert "WrongSquare (producing 'h2')" in msg and "input 0 ('h')" in msg
    good = ((x @ w).tanh() ** 2).mean()
    assert gradcheck_graph(good)


def test_check_backward_for_one_function():
    with pytest.raises(GradcheckError, match="WrongSquare.backward"):
        cr.check_backward(WrongSquare, cr.tensor([0.5, -1.0]))


def test_gradcheck_graph_reruns_dropout_with_its_recorded_mask():
    g = np.random.default_rng(0)
    m = cr.nn.Sequential(
        cr.nn.Linear(4, 8, generator=g), cr.nn.ReLU(), cr.nn.Dropout(0.5, generator=g), cr.nn.Linear(8, 3, generator=g)
    )
    x = cr.tensor(g.normal(size=(5, 4)).astype(np.float32))
    L = cr.nn.functional.cross_entropy(m(x), np.array([0, 1, 2, 0, 1]))
    assert cr.gradcheck_graph(L)


def test_gradcheck_graph_does_not_blame_relu_at_an_exact_zero():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 3))
    y = rng.integers(0, 2, 5)
    m = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.ReLU(), cr.nn.Linear(4, 2)).double()
    assert cr.gradcheck_graph(F.cross_entropy(m(cr.tensor(X)), y))


def test_gradcheck_graph_catches_a_relu_that_is_wrong_everywhere():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 3))
    y = rng.integers(0, 2, 5)
    m = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.ReLU(), cr.nn.Linear(4, 2)).double()

    class WrongReLU(cr.Function):  # wrong everywhere, not only at the kink: still caught
        def forward(self, x):
            self.x = x
            return np.maximum(x, 0)

        def backward(self, g):
            return g * (self.x > 0) * 2

    h = WrongReLU()(m[1](m[0](cr.tensor(X))))
    with pytest.raises(cr.errors.GradcheckError, match="WrongReLU"):
        cr.gradcheck_graph(F.cross_entropy(m[3](h), y))


# ------------------------------------------------------------------------------ optimizer step explained
OPTS = [
    lambda ps: cr.optim.SGD(ps, lr=0.1),
    lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
    lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: cr.optim.Adam(ps, lr=0.05),
    lambda ps: cr.optim.Adam(ps, lr=0.05, amsgrad=True, weight_decay=0.1),
    lambda ps: cr.optim.AdamW(ps, lr=0.05),
    lambda ps: cr.optim.AdamW(ps, lr=0.05, weight_decay=0.1, amsgrad=True),
    lambda ps: cr.optim.Adagrad(ps, lr=0.1),
    lambda ps: cr.optim.Adagrad(ps, lr=0.1, lr_decay=0.1, weight_decay=0.01, initial_accumulator_value=0.5),
    lambda ps: cr.optim.RMSprop(ps, lr=0.01),
    lambda ps: cr.optim.RMSprop(ps, lr=0.01, centered=True, momentum=0.5, weight_decay=0.01),
]


@pytest.mark.parametrize("make", OPTS)
def test_explain_step_predicts_the_real_step(make):
    p = cr.nn.Parameter(np.array([[0.5, -1.0], [2.0, 0.3]]), name="w")
    opt = make([p])
    for _ in range(3):
        opt.zero_grad()
        (p**3).sum().backward()
        e = explain_step(opt, p, 2)
        before = p.numpy().copy()
        opt.step()
        assert e.new_value == pytest.approx(p.numpy()[1, 0], rel=1e-12, abs=1e-15)
        assert e.lines[0][2] == before[1, 0] and e.lines[1][2] == pytest.approx(3 * before[1, 0] ** 2)
        # the update line is the step (AdamW's decoupled decay is its own line, before the update)
        update = [v for name, _, v in e.lines if name == "update"][0]
        decayed = [v for _, expr, v in e.lines if expr.startswith("w * (1 - lr * weight_decay)")]
        start = decayed[0] if decayed else before[1, 0]
        assert update == pytest.approx(start - p.numpy()[1, 0], rel=1e-9)
        text = e.to_text()
        assert g9(e.new_value) in text


def test_explain_step_adam_shows_moments_and_bias_correction():
    p = cr.nn.Parameter(np.array([1.0]), name="w")
    opt = cr.optim.Adam([p], lr=0.1)
    (p * 3).sum().backward()
    text = explain_step(opt, p, 0).to_text()
    m, v = 0.1 * 3, 0.001 * 9
    assert f"m      = beta1 * m + (1 - beta1) * g = 0.9 * 0 + 0.1 * 3 = {g9(m)}" in text
    assert f"m_hat  = m / (1 - beta1^t) = {g9(m)} / (1 - 0.9^1) = {g9(m / 0.1)}" in text
    assert f"v_hat  = v / (1 - beta2^t) = {g9(v)} / (1 - 0.999^1) = {g9(v / (1 - 0.999))}" in text


def test_explain_step_on_a_0d_parameter_predicts_the_real_step():
    w = cr.nn.Parameter(cr.tensor(np.array(1.5)))
    opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
    (w * w).backward()
    ex = cr.explain.explain_step(opt, w)
    opt.step()
    assert ex.new_value == pytest.approx(float(w.item()))


def test_explain_step_refuses_an_index_out_of_range():
    v = cr.nn.Parameter(cr.tensor(np.zeros((2, 3))))
    (v * v).sum().backward()
    with pytest.raises(IndexError, match="out of range"):
        cr.explain.explain_step(cr.optim.SGD([v], lr=0.1), v, 6)


def test_explain_step_with_maximize_predicts_the_real_step():
    p = cr.nn.Parameter(np.array([0.5, -1.0]), name="w")
    opt = cr.optim.SGD([p], lr=0.1, maximize=True, weight_decay=0.01)
    (p**2).sum().backward()
    e = explain_step(opt, p, 0)
    before = p.numpy()[0]
    opt.step()
    assert e.new_value == pytest.approx(p.numpy()[0], rel=1e-12)
    update = [v for name, _, v in e.lines if name == "update"][0]
    assert update == pytest.approx(before - p.numpy()[0], rel=1e-12)


def test_explain_step_rmsprop_centered_with_momentum_by_hand():
    # PyTorch's RMSprop written out for one element and two steps, by hand
    p = cr.nn.Parameter(np.array([2.0]), name="w")
    opt = cr.optim.RMSprop([p], lr=0.01, alpha=0.9, centered=True, momentum=0.5)
    s = g_avg = b = 0.0
    w = 2.0
    for _ in range(2):
        opt.zero_grad()
        (p**2).sum().backward()
        e = explain_step(opt, p, 0)
        g = 2 * w
        s = 0.9 * s + 0.1 * g * g
        g_avg = 0.9 * g_avg + 0.1 * g
        b = 0.5 * b + g / (math.sqrt(s - g_avg**2) + 1e-8)
        w = w - 0.01 * b
        values = {name: v for name, _, v in e.lines}
        assert values["s"] == pytest.approx(s, rel=1e-12) and values["g_avg"] == pytest.approx(g_avg, rel=1e-12)
        assert values["b"] == pytest.approx(b, rel=1e-12) and e.new_value == pytest.approx(w, rel=1e-12)
        opt.step()
        assert p.numpy()[0] == pytest.approx(w, rel=1e-12)
    assert f"s~     = s - g_avg^2 = {g9(s)} - ({g9(g_avg)})^2" in e.to_text()


def test_explain_step_runs_the_optimizers_reference_rule():
    # an optimizer is explained by its reference rule, whatever its fast kernel; one without a rule is refused
    def halve(param, grad, state, *, lr):
        return param - lr * grad / 2, {"calls": state.get("calls", 0) + 1}

    class Halving(cr.optim.SGD):
        reference_rule = staticmethod(halve)

        def __init__(self, params, lr):
            cr.optim.Optimizer.__init__(self, params, dict(lr=lr))

    p = cr.nn.Parameter(np.array([1.0, 4.0]), name="w")
    (p**2).sum().backward()
    e = explain_step(Halving([p], lr=0.1), p, 1)
    assert e.new_value == pytest.approx(4.0 - 0.1 * 8.0 / 2)
    assert ("calls", "", 1) in e.lines and e.lines[-2] == ("update", "w_before - w_after", pytest.approx(0.4))

    class NoRule(cr.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

    with pytest.raises(cr.errors.ChainruleError, match="NoRule has no reference rule"):
        explain_step(NoRule([p]), p, 0)


# ------------------------------------------------------------------------------ training diagnostics
def test_diagnostics_recorded_and_correct(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    g = np.random.default_rng(1)
    model = cr.nn.Sequential(cr.nn.Linear(3, 4, generator=g), cr.nn.ReLU(), cr.nn.Linear(4, 2, generator=g))
    model[0].bias.data[1] = -1e3  # unit 1 can never fire: dead fraction 1/4
    w0 = model[0].weight.numpy().copy()
    # the gradient of the one full-batch step, computed independently
    ref = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    ref.load_state_dict(model.state_dict())
    F.cross_entropy(ref(X), y).backward()
    gnorm = float(np.linalg.norm(ref[0].weight.grad.numpy()))
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    h = cr.train.fit(model, cr.nn.CrossEntropyLoss(), opt, (X, y), epochs=1, batch_size=40, diagnostics=True)
    row = h.epochs[0]
    assert row["grad_norm/0.weight"] == pytest.approx(gnorm, rel=1e-5)
    assert row["update_ratio/0.weight"] == pytest.approx(0.1 * gnorm / np.linalg.norm(w0), rel=1e-4)
    assert row["dead_relu/1"] == pytest.approx(0.25)
    assert "dead_relu/1" in h.diagnostics()
    h.plot(tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 5000


# ------------------------------------------------------------------------------ anomaly detection
def test_anomaly_forward_names_node_line_and_inputs():
    x = cr.tensor([1.0, -2.0], requires_grad=True, name="x")
    with cr.detect_anomaly():
        with pytest.raises(AnomalyError) as e:
            y = cr.log(x) * 2  # noqa: F841 - the line the error must point at
    msg = str(e.value)
    assert "Log produced NaN" in msg and "test_explain.py" in msg and "cr.log(x) * 2" in msg
    assert "input 0 (x): shape (2,), range [-2, 1]" in msg
    assert np.isnan(cr.log(x).numpy()[1])  # outside the block: no checks


def test_anomaly_backward():
    x = cr.tensor([0.0, 4.0], requires_grad=True, name="x")
    with cr.detect_anomaly():
        y = cr.sqrt(x).sum()  # finite forward; d sqrt/dx at 0 is inf
        with pytest.raises(AnomalyError) as e:
            y.backward()
    msg = str(e.value)
    assert "backward of Sqrt" in msg and "cr.sqrt(x).sum()" in msg and "input 0 (x)" in msg
    assert x.grad is None  # raised before the bad gradient reached the leaf


def test_anomaly_off_costs_no_checks():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    y = cr.log(x)  # NaN allowed when off
    assert np.isnan(y.numpy()).any()


def test_text_never_wraps_inside_brackets_that_fit_on_a_line():
    import re

    from chainrule.explain.trace import wrap_text

    text = "local derivative: dy/dx = W; dy/dW = x (summed over the batch); dy/db = 1 (summed over the batch) " * 3
    for width in (30, 45, 60, 100):
        lines = wrap_text(text, width, "  ")
        assert all(len(line) <= width for line in lines), lines
        for line in lines:  # every bracket opened on a line closes on it
            assert line.count("(") == line.count(")"), (width, line)
        assert re.sub(r"\s+", " ", " ".join(lines)).strip() == re.sub(r"\s+", " ", text).strip()
    # a group longer than the line is broken (the width wins), never a line over the width
    long = "x (" + " ".join(["word"] * 40) + ")"
    assert all(len(line) <= 40 for line in wrap_text(long, 40))
