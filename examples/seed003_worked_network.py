"""Seed 003's worked network, every number computed by chainrule.

Inputs i1 = 0.02, i2 = 0.04; biases b1 = 0.4 (shared by h1, h2) and b2 = 0.7
(shared by o1, o2); targets 0.5 and 0.9; weights w1..w8 as in the tutorial;
sigmoid everywhere; E = 1/2 (target - out)^2 summed over both outputs; one
gradient-descent step at learning rate 0.1.

Run: python examples/seed003_worked_network.py
"""

from __future__ import annotations

import chainrule as cr

INPUTS = {"i1": 0.02, "i2": 0.04}
BIASES = {"b1": 0.4, "b2": 0.7}
TARGETS = {"o1": 0.5, "o2": 0.9}
WEIGHTS = {"w1": 0.25, "w2": 0.25, "w3": 0.15, "w4": 0.20, "w5": 0.30, "w6": 0.35, "w7": 0.40, "w8": 0.35}
LEARNING_RATE = 0.1


def build(weights=WEIGHTS, inputs=INPUTS, biases=BIASES, targets=TARGETS):
    """The network as a graph of scalar tensors; returns (named tensors, total error)."""

    def t(name, value, grad=False):
        return cr.tensor(value, dtype=cr.float64, requires_grad=grad, name=name)

    i1, i2 = t("i1", inputs["i1"]), t("i2", inputs["i2"])
    b1, b2 = t("b1", biases["b1"], True), t("b2", biases["b2"], True)
    w = {k: t(k, v, True) for k, v in weights.items()}
    v = {}
    v["net_h1"] = w["w1"] * i1 + w["w2"] * i2 + b1
    v["net_h2"] = w["w3"] * i1 + w["w4"] * i2 + b1
    v["out_h1"] = v["net_h1"].sigmoid()
    v["out_h2"] = v["net_h2"].sigmoid()
    v["net_o1"] = w["w5"] * v["out_h1"] + w["w6"] * v["out_h2"] + b2
    v["net_o2"] = w["w7"] * v["out_h1"] + w["w8"] * v["out_h2"] + b2
    v["out_o1"] = v["net_o1"].sigmoid()
    v["out_o2"] = v["net_o2"].sigmoid()
    v["E_o1"] = 0.5 * (targets["o1"] - v["out_o1"]) ** 2
    v["E_o2"] = 0.5 * (targets["o2"] - v["out_o2"]) ** 2
    total = v["E_o1"] + v["E_o2"]
    v["E_total"] = total
    for name, tensor in v.items():
        tensor.name = name
        tensor.retain_grad()
    return {**w, "b1": b1, "b2": b2, **v}, total


def run(lr=LEARNING_RATE):
    """Forward, backward and one SGD step. Returns every number of the worked example."""
    named, total = build()
    total.backward()
    forward = {
        k: named[k].item()
        for k in (
            "net_h1",
            "out_h1",
            "net_h2",
            "out_h2",
            "net_o1",
            "out_o1",
            "net_o2",
            "out_o2",
            "E_o1",
            "E_o2",
            "E_total",
        )
    }
    params = list(WEIGHTS) + ["b1", "b2"]
    grads = {k: named[k].grad.item() for k in params}
    # The chain for w6, factor by factor, as the tutorial writes it.
    chain_w6 = {
        "dE/dout_o1": named["out_o1"].grad.item(),
        "dout_o1/dnet_o1": named["out_o1"].item() * (1 - named["out_o1"].item()),
        "dnet_o1/dw6": named["out_h2"].item(),
    }
    # One step of gradient descent, w <- w - lr * dE/dw, as the tutorial does it.
    updated = {k: (named[k] - lr * named[k].grad).item() for k in params}
    return {"forward": forward, "grads": grads, "chain_w6": chain_w6, "updated": updated}


def main():
    r = run()
    print("forward pass")
    for k, v in r["forward"].items():
        print(f"  {k:8s} = {v:.9g}")
    print("gradients")
    for k, v in r["grads"].items():
        print(f"  dE/d{k:3s} = {v:.9g}")
    c = r["chain_w6"]
    print("  dE/dw6 = dE/dout_o1 * dout_o1/dnet_o1 * dnet_o1/dw6")
    print("         = " + " * ".join(f"{v:.9g}" for v in c.values()) + f" = {r['grads']['w6']:.9g}")
    print(f"weights after one step at learning rate {LEARNING_RATE}")
    for k, v in r["updated"].items():
        print(f"  {k:3s} = {v:.9g}")


if __name__ == "__main__":
    main()
