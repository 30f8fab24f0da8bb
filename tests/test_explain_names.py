"""Names a learner can follow, one gradient's chain as an object, and matrix nodes written out.

The numbers are checked against independent computations: PyTorch's autograd where it is installed, else a
separate chainrule backward pass, and NumPy for the products.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import explain_model
from chainrule.explain.trace import Chain

from conftest import requires_torch, torch

F = cr.nn.functional


def leaf(value, name=None, grad=True):
    return cr.tensor(value, dtype=cr.float64, requires_grad=grad, name=name)


# ------------------------------------------------------------------------------ names
def test_unnamed_leaves_are_never_named_by_their_value():
    w, v, b = leaf(2.5), leaf(0.5), leaf(0.5)
    x = leaf(3.0, grad=False)
    loss = (w * x + v * x + b) ** 2
    tr = cr.explain(loss)
    names = [tr.name_of(t) for t in (w, v, b, x)]
    assert names == ["p1", "p2", "p3", "c1"]  # parameters in the order the forward pass used them, then data
    text = tr.to_text()
    for value in ("2.5", "0.5", "3"):
        assert f"dL/d{value}" not in text
    assert "inputs: p1 = 2.5, c1 = 3" in text  # the value is still shown, beside the name
    # each automatic name leads to that tensor's own gradient
    loss.backward()
    for t, name in ((w, "p1"), (v, "p2"), (b, "p3")):
        assert tr.grad(tr.tensor(name)) == pytest.approx(t.grad.item())


def test_automatic_names_avoid_the_users_and_repeated_names_are_told_apart():
    a, b, c = leaf(1.0, "p1"), leaf(2.0), leaf(3.0)
    w1, w2 = leaf(4.0, "w"), leaf(5.0, "w")
    loss = a * b + c * w1 + w2
    tr = cr.explain(loss)
    assert tr.name_of(a) == "p1"
    assert tr.name_of(b) == "p2" and tr.name_of(c) == "p3"  # p1 is the user's
    assert {tr.name_of(w1), tr.name_of(w2)} == {"w", "w#2"}
    names = [tr.name_of(t) for t in tr.leaves]
    assert len(set(names)) == len(names) == 5


def test_the_same_graph_gets_the_same_names():
    def build():
        x = leaf(np.arange(6.0).reshape(2, 3), grad=False)
        w = leaf(np.ones((3, 2)))
        h = cr.tanh(x @ w)
        return (h * h).sum(), (x, w, h)

    names = []
    for _ in range(3):
        loss, ts = build()
        tr = cr.explain(loss)
        names.append([tr.name_of(t) for t in ts])
    assert names[0] == names[1] == names[2] == [names[0][0], names[0][1], names[0][2]]
    assert names[0][:2] == ["c1", "p1"] and names[0][2].startswith("t")


def test_module_parameters_keep_their_attribute_paths():
    cr.manual_seed(0)

    class Net(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh())
            self.head = cr.nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.body(x))

    net = Net()
    loss = F.cross_entropy(net(cr.randn(5, 3)), cr.tensor([0, 1, 1, 0, 1]))
    tr = cr.explain(loss)
    assert sorted(tr.name_of(p) for p in net.parameters()) == sorted(n for n, _ in net.named_parameters())
    assert "dL/dbody.0.weight" in tr.to_text() and "dL/dhead.bias" in tr.to_text()


def test_explain_model_labels_the_sample_the_target_and_the_layers():
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(4, 6), cr.nn.ReLU(), cr.nn.Linear(6, 3))
    x = np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)
    tr = explain_model(model, x, np.array([2]))
    text = tr.to_text()
    assert re.search(r"inputs: 2.out = .*, target = 2$", text, re.M)  # the label is named, not a bare value
    assert "x = [" in text
    assert "0: Linear(4 -> 6); parameters 0.weight (6, 4), 0.bias (6,)" in text
    assert "2: Linear(6 -> 3)" in text and "dL/d2.out" in text
    assert "dL/d0.weight" in text


# ------------------------------------------------------------------------------ Trace.chain
def test_chain_prints_as_text_and_renders_as_markdown_and_html():
    from chainrule.explain import example_trace

    c = example_trace("seed003").chain("w6")
    assert isinstance(c, Chain)
    assert str(c) == repr(c) == c.text and c.text.startswith("dE/dw6 = ")
    assert c["text"] == c.text and c["total"] == c.total and c.keys() == ["paths", "terms", "total", "text"]
    with pytest.raises(KeyError, match="the parts are paths, terms, total, text"):
        c["value"]
    assert c._repr_markdown_() == "```text\n" + c.text + "\n```"
    assert c._repr_html_().startswith("<pre") and c.text.split("\n")[0].replace("/", "/") in c._repr_html_()


def test_chain_errors_name_the_call_and_list_what_there_is():
    w = leaf(2.0, "w")
    u = leaf(1.0, "u")
    tr = cr.explain(w * w)
    known = r"Trace.chain: no tensor named 'v' in this graph; its tensors are: L, w"
    with pytest.raises(cr.errors.NotFoundError, match=known):
        tr.chain("v")
    tr2 = cr.explain(w * w + u * 0)
    assert tr2.chain("u").total == 0


def test_chain_writes_every_factor_when_nothing_in_between_is_named():
    w, x = leaf(0.5), leaf(3.0, grad=False)
    loss = cr.sigmoid(w * x) ** 2
    c = cr.explain(loss).chain("p1")
    labels = [lab for lab, _ in c.paths[0]]
    assert len(labels) == 3  # dL/dt2 * dt2/dt1 * dt1/dp1, not one merged factor
    s = 1 / (1 + np.exp(-1.5))
    assert [v for _, v in c.paths[0]] == pytest.approx([2 * s, s * (1 - s), 3.0])
    assert c.total == pytest.approx(2 * s * s * (1 - s) * 3.0)


# ------------------------------------------------------------------------------ matrix nodes
def _rows_for(text, lhs):
    """The lines of the trace from ``-> lhs = `` up to the next arrow or step."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"-> {lhs} = "))
    out = [lines[start]]
    for line in lines[start + 1 :]:
        if line.strip().startswith(("->", "[")) or not line.strip():
            break
        out.append(line)
    return " ".join(x.strip() for x in out)


def _terms(body):
    """The numbers of 'a*b + c*(−d) - e*f' as products, signs applied."""
    total = 0.0
    for sign, a, b in re.findall(r"(^|[+-]) ?([\d.e+-]+)\*\(?(-?[\d.e+-]+)\)?", body.split("  (")[0]):
        total += (-1 if sign == "-" else 1) * float(a) * float(b)
    return total


@requires_torch
def test_linear_node_writes_each_gradient_as_a_product_with_shapes_and_one_elements_sum():
    rng = np.random.default_rng(1)
    x_np, w_np, b_np = rng.standard_normal((3, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    t_np = rng.standard_normal((3, 4))
    x, w, b = leaf(x_np, "x"), leaf(w_np, "W"), leaf(b_np, "b")
    y = F.linear(x, w, b)
    y.name = "y"
    loss = ((y - cr.tensor(t_np)) ** 2).sum()
    text = cr.explain(loss).to_text(width=400)

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    ((torch.nn.functional.linear(xt, wt, bt) - torch.tensor(t_np)) ** 2).sum().backward()
    expected = {"W": wt.grad.numpy(), "x": xt.grad.numpy(), "b": bt.grad.numpy()}

    row = _rows_for(text, "dL/dW")
    assert "(dL/dy)^T @ x,  (4, 5) = (4, 3) @ (3, 5)" in row
    row_x = _rows_for(text, "dL/dx")
    assert "(dL/dy) @ W,  (3, 5) = (3, 4) @ (4, 5)" in row_x
    row_b = _rows_for(text, "dL/db")
    assert "(dL/dy) summed over the batch,  (4,): each element the sum of a row of (4, 3)" in row_b
    for name, r in (("W", row), ("x", row_x)):
        idx, body, value = _element(r)
        g = expected[name]
        assert np.abs(g[idx]) == pytest.approx(np.abs(g).max())  # the element of largest magnitude
        assert value == pytest.approx(g[idx], rel=1e-8)
        assert _terms(body) == pytest.approx(g[idx], rel=1e-3, abs=1e-6)  # the written terms add up to it
    (j,), body, value = _element(row_b)
    assert value == pytest.approx(expected["b"][j], rel=1e-8)
    numbers = re.findall(r"-?[\d.]+(?:e[+-]?\d+)?", body.replace(" - ", " -"))
    assert sum(float(v) for v in numbers) == pytest.approx(expected["b"][j], rel=1e-3)


def _element(row):
    """(index, the written sum, its value) of a row's 'element [i, j]: ... = value'."""
    at, body, value = re.search(r"element \[([\d, ]+)\]: (.*?) = (-?[\d.]+(?:e[+-]?\d+)?)", row).groups()
    return tuple(int(i) for i in at.split(",")), body, float(value)


def test_matmul_node_and_a_long_sum_written_with_its_count():
    rng = np.random.default_rng(2)
    a_np, b_np = rng.standard_normal((2, 9)), rng.standard_normal((9, 3))
    a, b = leaf(a_np, "A"), leaf(b_np, "B")
    c = a @ b
    c.name = "C"
    loss = (c * c).sum()
    text = cr.explain(loss).to_text(width=400)
    row = _rows_for(text, "dL/dA")
    assert "(dL/dC) @ B^T,  (2, 9) = (2, 3) @ (3, 9)" in row
    assert "A^T @ (dL/dC),  (9, 3) = (9, 2) @ (2, 3)" in _rows_for(text, "dL/dB")
    # an inner size of 3 is written in full; the gradient of A sums over 3 terms
    g = 2 * (a_np @ b_np) @ b_np.T  # d sum(C^2)/dA = 2 C B^T, by hand
    at = tuple(int(i) for i in re.search(r"element \[(\d+), (\d+)\]", row).groups())
    assert np.abs(g[at]) == pytest.approx(np.abs(g).max())
    assert "terms)" not in row
    # a longer sum (B's gradient sums over 12 rows of A) is cut, with its count
    a12, b12 = leaf(rng.standard_normal((12, 2)), "A"), leaf(rng.standard_normal((2, 1)), "B")
    long = _rows_for(cr.explain((a12 @ b12).sum()).to_text(width=400), "dL/dB")
    assert "(2, 1) = (2, 12) @ (12, 1)" in long and "+ ... +" in long and "(12 terms)" in long
    idx, _, value = _element(long)
    assert value == pytest.approx(a12.data.sum(axis=0)[idx[0]])  # d sum(A B)/dB = A^T 1
