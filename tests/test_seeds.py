"""The seed tutorials' worked examples, reproduced by the library.

Expected values come from two independent sources: the tutorials' own printed
figures (at the precision they print), and the same formulas evaluated by hand
here with Python's math module (no chainrule involved).
"""

from __future__ import annotations

import importlib.util
import math
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def sig9(x):
    """x rounded to 9 significant digits."""
    return float(f"{x:.9g}")


# ------------------------------------------------------------------ seed 004: the shopping graph
def test_seed004_apples():
    r = load_example("seed004_shopping").apples()
    apple, num, tax = 100.0, 2.0, 1.1
    assert r["price"] == pytest.approx(apple * num * tax)  # 220
    assert r["price"] == pytest.approx(220)
    assert r["d_apple"] == pytest.approx(num * tax)  # 2.2: d(price)/d(apple)
    assert r["d_apple_num"] == pytest.approx(apple * tax)  # 110
    assert r["d_tax"] == pytest.approx(apple * num)  # 200


def test_seed004_apples_and_oranges():
    r = load_example("seed004_shopping").apples_and_oranges()
    a, an, o, on, tax = 100.0, 2.0, 150.0, 3.0, 1.1
    assert r["price"] == pytest.approx((a * an + o * on) * tax)
    assert r["price"] == pytest.approx(715)
    # The add node passes the gradient unchanged to both branches; each mul node swaps its inputs.
    assert r["d_apple"] == pytest.approx(an * tax)
    assert r["d_apple_num"] == pytest.approx(a * tax)
    assert r["d_orange"] == pytest.approx(on * tax)
    assert r["d_orange_num"] == pytest.approx(o * tax)
    assert r["d_tax"] == pytest.approx(a * an + o * on)


# ------------------------------------------------------------------ seed 003: the worked network
def by_hand():
    """Seed 003's network and its backpropagation formulas, written out with math.exp."""
    i1, i2, b1, b2, t1, t2 = 0.02, 0.04, 0.4, 0.7, 0.5, 0.9
    w1, w2, w3, w4, w5, w6, w7, w8 = 0.25, 0.25, 0.15, 0.20, 0.30, 0.35, 0.40, 0.35

    def s(x):
        return 1 / (1 + math.exp(-x))

    f = {}
    f["net_h1"] = w1 * i1 + w2 * i2 + b1
    f["net_h2"] = w3 * i1 + w4 * i2 + b1
    f["out_h1"], f["out_h2"] = s(f["net_h1"]), s(f["net_h2"])
    f["net_o1"] = w5 * f["out_h1"] + w6 * f["out_h2"] + b2
    f["net_o2"] = w7 * f["out_h1"] + w8 * f["out_h2"] + b2
    f["out_o1"], f["out_o2"] = s(f["net_o1"]), s(f["net_o2"])
    f["E_o1"] = 0.5 * (t1 - f["out_o1"]) ** 2
    f["E_o2"] = 0.5 * (t2 - f["out_o2"]) ** 2
    f["E_total"] = f["E_o1"] + f["E_o2"]
    # output deltas: dE/dnet_o = -(target - out) * out * (1 - out)
    d_o1 = -(t1 - f["out_o1"]) * f["out_o1"] * (1 - f["out_o1"])
    d_o2 = -(t2 - f["out_o2"]) * f["out_o2"] * (1 - f["out_o2"])
    # hidden deltas: dE/dout_h sums over both outputs it feeds, times the sigmoid's slope
    d_h1 = (d_o1 * w5 + d_o2 * w7) * f["out_h1"] * (1 - f["out_h1"])
    d_h2 = (d_o1 * w6 + d_o2 * w8) * f["out_h2"] * (1 - f["out_h2"])
    g = {
        "w1": d_h1 * i1,
        "w2": d_h1 * i2,
        "w3": d_h2 * i1,
        "w4": d_h2 * i2,
        "w5": d_o1 * f["out_h1"],
        "w6": d_o1 * f["out_h2"],
        "w7": d_o2 * f["out_h1"],
        "w8": d_o2 * f["out_h2"],
        "b1": d_h1 + d_h2,
        "b2": d_o1 + d_o2,
    }
    w = {"w1": w1, "w2": w2, "w3": w3, "w4": w4, "w5": w5, "w6": w6, "w7": w7, "w8": w8, "b1": b1, "b2": b2}
    updated = {k: w[k] - 0.1 * g[k] for k in w}
    return f, g, updated


@pytest.fixture(scope="module")
def seed003():
    return load_example("seed003_worked_network").run()


def test_seed003_forward_pass_to_9_digits(seed003):
    f, _, _ = by_hand()
    for k, v in f.items():
        assert sig9(seed003["forward"][k]) == sig9(v), k


def test_seed003_gradients_and_update_to_9_digits(seed003):
    _, g, updated = by_hand()
    for k in g:
        assert sig9(seed003["grads"][k]) == sig9(g[k]), k
        assert sig9(seed003["updated"][k]) == sig9(updated[k]), k


def test_seed003_matches_the_tutorials_printed_figures(seed003):
    fw = seed003["forward"]
    # figures as printed in the tutorial (9 decimals)
    printed = {
        "net_h1": 0.415,
        "out_h1": 0.602286177,
        "net_h2": 0.411,
        "out_h2": 0.601327636,
        "net_o1": 1.091150525,
        "out_o1": 0.748598311,
        "net_o2": 1.151379143,
        "out_o2": 0.759762733,
    }
    for k, v in printed.items():
        assert round(fw[k], 9) == pytest.approx(v, abs=1.5e-9), k
    c = seed003["chain_w6"]
    assert round(c["dE/dout_o1"], 9) == 0.248598311
    assert round(c["dout_o1/dnet_o1"], 8) == 0.18819888
    assert round(c["dnet_o1/dw6"], 9) == 0.601327636
    assert round(seed003["grads"]["w6"], 9) == 0.028133669
    assert round(seed003["updated"]["w6"], 9) == 0.347186633
    assert c["dE/dout_o1"] * c["dout_o1/dnet_o1"] * c["dnet_o1/dw6"] == pytest.approx(seed003["grads"]["w6"])
    # E(o2) as printed; the tutorial's E(o1) = 0.01545028 is half of its own formula
    # 1/2 (0.748598311 - 0.5)^2 = 0.0309005602, so its E_total 0.025283526 is off too.
    assert round(fw["E_o2"], 9) == 0.009833246
    assert fw["E_o1"] == pytest.approx(2 * 0.01545028, rel=1e-6)


def test_seed003_script_prints_every_number(capsys):
    load_example("seed003_worked_network").main()
    out = capsys.readouterr().out
    f, g, updated = by_hand()
    for v in list(f.values()) + list(g.values()) + list(updated.values()):
        assert f"{v:.9g}" in out
