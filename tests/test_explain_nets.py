"""cr.explain, cr.draw_graph and gradcheck_graph on layer graphs: a small CNN and a GRU.

The gradients a trace writes must be backward's; its text must stay within 100 columns however large the
tensors; a convolution must say its rule and that its input gradient is a correlation with the flipped
kernel; the picture must hold the layers' nodes; and every node must pass a numerical check in float64.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F


def small_cnn(dtype=np.float32, seed=0, fused=False):
    """Conv2d(1, 4, 3) -> ReLU -> MaxPool2d(2) -> Flatten -> Linear -> cross_entropy, 2 images of 8x8; the first
    three one node each (``fused``: one fused node, as nn.Sequential runs them by default)."""
    cr.manual_seed(seed)
    model = cr.nn.Sequential(
        cr.nn.Conv2d(1, 4, 3), cr.nn.ReLU(), cr.nn.MaxPool2d(2), cr.nn.Flatten(), cr.nn.Linear(4 * 3 * 3, 10)
    ).to(dtype)
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((2, 1, 8, 8)).astype(dtype))
    y = cr.tensor(np.array([1, 7]))
    with cr.set_fusion_enabled(fused):
        return model, F.cross_entropy(model(x), y)


def small_cnn_fused(dtype=np.float32, seed=0):
    return small_cnn(dtype, seed, fused=True)


class GRUNet(cr.nn.Module):
    """GRU(1, 8) over the sequence, then Linear(8, 1) on its last output."""

    def __init__(self):
        super().__init__()
        self.gru = cr.nn.GRU(1, 8, batch_first=True)
        self.fc = cr.nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.fc(out[:, -1])


def small_gru(dtype=np.float32, seed=0):
    """GRUNet on 2 sequences of length 5, mean squared error against fixed targets."""
    cr.manual_seed(seed)
    model = GRUNet().to(dtype)
    rng = np.random.default_rng(seed)
    x = cr.tensor(rng.standard_normal((2, 5, 1)).astype(dtype))
    target = cr.tensor(np.array([[0.5], [-1.0]], dtype))
    return model, F.mse_loss(model(x), target)


MODELS = {"cnn": small_cnn, "cnn fused": small_cnn_fused, "gru": small_gru}


@pytest.mark.parametrize("name", list(MODELS))
def test_explains_gradients_are_backwards(name):
    model, loss = MODELS[name](np.float64)
    tr = cr.explain(loss)
    loss.backward()
    params = dict(model.named_parameters())
    assert params
    for pname, p in params.items():
        np.testing.assert_allclose(tr.grad(p), p.grad.numpy(), rtol=1e-12, atol=1e-15, err_msg=pname)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_text_trace_fits_100_columns(name, dtype):
    _, loss = MODELS[name](dtype)
    text = cr.explain(loss).to_text()
    too_long = [line for line in text.splitlines() if len(line) > 100]
    assert not too_long, "\n".join(too_long)
    # large tensors are summarized, never printed element by element
    big = {"gru": "shape (2, 5, 8): mean", "cnn": "shape (2, 4, 6, 6): mean", "cnn fused": "shape (2, 4, 3, 3): mean"}
    assert big[name] in text
    assert len(text.splitlines()) < 200


def _step_text(text, op):
    """The lines of the first step of the trace whose op is ``op``, up to the next step."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("[") and f"] {op}:" in line)
    end = next((k for k in range(start + 1, len(lines)) if lines[k].startswith(("[", "Gradients"))), len(lines))
    return "\n".join(lines[start:end])


def test_conv_step_states_its_rule_and_the_flipped_kernel_correlation():
    _, loss = small_cnn()
    step = _step_text(cr.explain(loss).to_text(), "Conv")
    flat = " ".join(step.split())  # undo the wrapping
    assert "rule: y[n,o,p] = sum_{c,k} w[o,c,k] * x[n,c,p*stride + k*dilation - pad] + b[o]" in flat
    # the local derivative: in words and as a formula, one line per input
    assert "local derivative: dL/dx = the incoming gradient g correlated with the kernel flipped in space" in flat
    assert "flip(w)[o,c,j]" in flat and "transposed convolution" in flat
    assert "dL/dw = the correlation of x with g" in flat and "dL/db[o] = sum_{n,p} g[n,o,p]" in flat
    assert any(line.lstrip().startswith("dL/dw = ") for line in step.splitlines())
    # its inputs (image, weight, bias) a line each, the large ones summarized
    assert "inputs: c1 = shape (2, 1, 8, 8): mean" in step
    assert any(line.lstrip().startswith("0.weight = shape (4, 1, 3, 3): mean") for line in step.splitlines())


def test_a_fused_conv_relu_pool_step_states_its_rule_and_how_to_see_the_layers():
    _, loss = small_cnn(fused=True)
    step = _step_text(cr.explain(loss).to_text(), "ConvReluPool")
    flat = " ".join(step.split())
    assert "rule: y = max_pool2d(relu(conv2d(x, w) + b)) = relu(max over each k x k tile of z)" in flat
    assert "cr.set_fusion_enabled(False) to see them one by one" in flat
    assert "dL/dz = g routed to each tile's first maximum where y > 0" in flat
    assert "dL/dx = dL/dz correlated with the kernel flipped in space (a transposed convolution)" in flat
    assert "inputs: c1 = shape (2, 1, 8, 8): mean" in step
    # the graph built without fusion has the three nodes instead
    _, loss = small_cnn(fused=False)
    text = cr.explain(loss).to_text()
    assert "ConvReluPool" not in text and "] Conv:" in text and "] MaxPool:" in text and "] ReLU:" in text


def test_gru_step_states_backpropagation_through_time():
    _, loss = small_gru()
    step = _step_text(cr.explain(loss).to_text(), "GRULayer")
    flat = " ".join(step.split())
    assert "h_t = (1 - z) * n + z * h_(t-1)" in flat
    assert "local derivative: backpropagation through time" in flat
    assert "shape (2, 8): all 0" in flat  # the zero initial state, said as such
    for p in ("gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0"):
        assert f"-> dL/d{p} = shape" in step


@pytest.mark.parametrize(
    "name, ops",
    [
        ("cnn", ("Conv", "MaxPool", "ReLU", "Linear")),
        ("cnn fused", ("ConvReluPool", "Linear")),
        ("gru", ("GRULayer",)),
    ],
)
def test_draw_graph_holds_the_layers(name, ops, tmp_path):
    _, loss = MODELS[name]()
    g = cr.draw_graph(loss)
    src = g.source
    assert src.startswith("digraph chainrule {") and src.rstrip().endswith("}")
    labels = [line for line in src.splitlines() if "shape=ellipse" in line]
    for op in ops:
        assert any(f'label="{op}\\n' in line for line in labels), op
    # long rules are wrapped: no line of an operation's label is wider than 48 characters
    for line in labels:
        label = line.split('label="', 1)[1].split('", shape=ellipse', 1)[0]
        assert max(len(part) for part in label.split("\\n")) <= 48, label
    assert g.render(tmp_path / "g.dot") and (tmp_path / "g.dot").read_text() == src
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed: the DOT source is checked, the SVG is not")
    pytest.importorskip("graphviz", reason="the graphviz Python package is not installed: no SVG")
    svg = (tmp_path / "g.svg").read_text() if g.render(tmp_path / "g.svg") else ""
    assert "<svg" in svg
    for op in ops:
        assert f">{op}</text>" in svg, op


@pytest.mark.parametrize("name", list(MODELS))
def test_gradcheck_graph_passes_in_float64(name):
    _, loss = MODELS[name](np.float64)
    assert cr.gradcheck_graph(loss)


def test_a_conv_step_states_its_settings():
    conv = cr.nn.Conv2d(1, 2, 3, stride=2, padding=(1, 0), dtype=np.float64)
    x = cr.tensor(np.linspace(-1, 1, 2 * 5 * 5).reshape(2, 1, 5, 5))
    text = str(cr.explain(conv(x).sum()))
    assert "[stride (2, 2), padding (1, 0), dilation (1, 1), groups 1]" in " ".join(text.split())
