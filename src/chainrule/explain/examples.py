"""The seeds' worked examples as graphs, for ``chainrule explain`` and ``chainrule graph``.

- ``shopping``: seed 004's graph, 2 apples at 100 and 3 oranges at 150, tax 1.1 -> 715.
- ``neuron``: seed 000's neuron a = sigmoid(w1 x1 + w2 x2 + b) feeding two neurons z' and z''
  (illustrative numbers), so dC/da is the sum of two terms.
- ``seed003``: seed 003's worked 2-2-2 network, its forward pass, total error, every gradient
  and the weights after one step at learning rate 0.1.
"""

from __future__ import annotations

from .. import ops
from ..errors import ArgumentError
from ..tensor import Tensor, tensor
from .graph import draw_graph
from .trace import Trace, explain

__all__ = ["EXAMPLES", "build", "example_trace", "example_graph"]


def _t(value, name, grad=True):
    return tensor(value, dtype="float64", requires_grad=grad, name=name)


def shopping() -> tuple[Tensor, list]:
    apple, apple_num = _t(100.0, "apple"), _t(2.0, "apple_num")
    orange, orange_num = _t(150.0, "orange"), _t(3.0, "orange_num")
    tax = _t(1.1, "tax")
    apple_price = apple * apple_num
    apple_price.name = "apple_price"
    orange_price = orange * orange_num
    orange_price.name = "orange_price"
    total = apple_price + orange_price
    total.name = "all_price"
    price = total * tax
    price.name = "price"
    fw = [
        ("apple_price", "apple * apple_num", apple_price),
        ("orange_price", "orange * orange_num", orange_price),
        ("all_price", "apple_price + orange_price", total),
        ("price", "all_price * tax", price),
    ]
    return price, fw


def neuron() -> tuple[Tensor, list]:
    x1, x2 = _t(1.0, "x1", False), _t(-1.0, "x2", False)
    w1, w2, b = _t(1.0, "w1"), _t(-2.0, "w2"), _t(1.0, "b")
    w3, w4 = _t(-1.0, "w3"), _t(2.0, "w4")
    z = w1 * x1 + w2 * x2 + b
    z.name = "z"
    a = ops.sigmoid(z)
    a.name = "a"
    z1 = a * w3
    z1.name = "z'"
    z2 = a * w4
    z2.name = "z''"
    y1, y2 = ops.sigmoid(z1), ops.sigmoid(z2)
    y1.name, y2.name = "y'", "y''"
    c = 0.5 * (y1 - 0.0) ** 2 + 0.5 * (y2 - 1.0) ** 2
    c.name = "C"
    fw = [
        ("z", "w1*x1 + w2*x2 + b", z),
        ("a", "sigmoid(z)", a),
        ("z'", "w3*a", z1),
        ("z''", "w4*a", z2),
        ("y'", "sigmoid(z')", y1),
        ("y''", "sigmoid(z'')", y2),
        ("C", "1/2 y'^2 + 1/2 (y'' - 1)^2", c),
    ]
    return c, fw


SEED003_WEIGHTS = {"w1": 0.25, "w2": 0.25, "w3": 0.15, "w4": 0.20, "w5": 0.30, "w6": 0.35, "w7": 0.40, "w8": 0.35}


def seed003() -> tuple[Tensor, list]:
    i1, i2 = _t(0.02, "i1", False), _t(0.04, "i2", False)
    b1, b2 = _t(0.4, "b1"), _t(0.7, "b2")
    w = {k: _t(v, k) for k, v in SEED003_WEIGHTS.items()}
    v = {}
    v["net_h1"] = w["w1"] * i1 + w["w2"] * i2 + b1
    v["net_h2"] = w["w3"] * i1 + w["w4"] * i2 + b1
    v["out_h1"] = ops.sigmoid(v["net_h1"])
    v["out_h2"] = ops.sigmoid(v["net_h2"])
    v["net_o1"] = w["w5"] * v["out_h1"] + w["w6"] * v["out_h2"] + b2
    v["net_o2"] = w["w7"] * v["out_h1"] + w["w8"] * v["out_h2"] + b2
    v["out_o1"] = ops.sigmoid(v["net_o1"])
    v["out_o2"] = ops.sigmoid(v["net_o2"])
    v["E_o1"] = 0.5 * (0.5 - v["out_o1"]) ** 2
    v["E_o2"] = 0.5 * (0.9 - v["out_o2"]) ** 2
    v["E"] = v["E_o1"] + v["E_o2"]
    for k, t in v.items():
        t.name = k
    exprs = {
        "net_h1": "w1*i1 + w2*i2 + b1",
        "net_h2": "w3*i1 + w4*i2 + b1",
        "out_h1": "sigmoid(net_h1)",
        "out_h2": "sigmoid(net_h2)",
        "net_o1": "w5*out_h1 + w6*out_h2 + b2",
        "net_o2": "w7*out_h1 + w8*out_h2 + b2",
        "out_o1": "sigmoid(net_o1)",
        "out_o2": "sigmoid(net_o2)",
        "E_o1": "1/2 (0.5 - out_o1)^2",
        "E_o2": "1/2 (0.9 - out_o2)^2",
        "E": "E_o1 + E_o2",
    }
    return v["E"], [(k, exprs[k], t) for k, t in v.items()]


EXAMPLES = {
    "shopping": (shopping, "Seed 004: the shopping graph (2 apples at 100, 3 oranges at 150, tax 1.1)", None),
    "neuron": (neuron, "Seed 000: one neuron feeding two (illustrative numbers)", None),
    "seed003": (seed003, "Seed 003: the worked network, one step of gradient descent at learning rate 0.1", 0.1),
}


def build(name: str):
    if name not in EXAMPLES:
        raise ArgumentError(f"unknown example {name!r}; choose one of: {', '.join(EXAMPLES)}")
    return EXAMPLES[name][0]()


def example_trace(name: str) -> Trace:
    """The explain trace of a built-in example, with its forward values and (for seed003) one SGD step."""
    out, fw = build(name)
    _, title, lr = EXAMPLES[name]
    tr = explain(out, lr=lr, title=title)
    tr.forward_values = [(k, e, t.data) for k, e, t in fw]
    if name == "seed003":
        tr.show_chains = ["w6", "w1"]
    return tr


def example_graph(name: str, path: str) -> str:
    out, _ = build(name)
    return draw_graph(out).render(path)
