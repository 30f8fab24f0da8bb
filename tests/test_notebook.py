"""Notebooks: the HTML reprs of Tensor, Module, History, Trace and StepExplanation; graphs as SVG or, without
Graphviz's dot program, as text with the install hint; cr.summary; and docs/tour.ipynb, executed.

``python tests/test_notebook.py --write`` executes docs/tour.ipynb and stores its outputs in it.
"""

from __future__ import annotations

import base64
import html
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, notebook

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOUR = ROOT / "docs" / "tour.ipynb"


def cells_of(html_text: str, tag: str = "td") -> list[str]:
    """The unescaped contents of every <td> (or other tag) in an HTML string."""
    return [html.unescape(c) for c in re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", html_text, re.S)]


def ipython_bundle(obj) -> dict:
    """What IPython sends to a notebook for ``obj``: mime type -> data."""
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(obj)
    return data


# ----------------------------------------------------------------------------- tensors
def test_tensor_html_escapes_the_name_and_shows_autograd_state():
    w = cr.tensor([[1.5, -2.0, 3.25]], requires_grad=True, name="<b>w & 'x'</b>")
    out = w._repr_html_()
    assert "<b>w & 'x'</b>" not in out and html.escape("<b>w & 'x'</b>") in out
    assert "shape (1, 3)" in out and "float32" in out
    assert "requires_grad=True (leaf)" in out and "grad: none" in out
    y = (w * w).sum()
    assert "grad_fn=&lt;" in y._repr_html_() and "requires_grad" not in y._repr_html_()
    y.backward()
    # the gradient is 2w: its norm, computed here independently, is shown
    norm = float(np.linalg.norm(2 * np.array([1.5, -2.0, 3.25])))
    assert f"grad: shape (1, 3), norm {norm:.4g}" in w._repr_html_()
    assert "requires_grad=False" in cr.tensor([1, 2])._repr_html_()


def test_small_tensor_shows_every_value_in_a_table():
    a = np.random.default_rng(0).standard_normal((3, 4))
    cells = cells_of(cr.tensor(a, dtype=cr.float64)._repr_html_())
    assert len(cells) == a.size
    np.testing.assert_allclose([float(c) for c in cells], a.ravel(), rtol=1e-5)
    assert "value <code>7</code>" in cr.tensor(7)._repr_html_()
    assert "no elements" in cr.zeros((0, 3))._repr_html_()


def test_large_tensor_is_summarised():
    a = np.random.default_rng(1).standard_normal((200, 300))
    a[0, 0] = np.nan
    out = cr.tensor(a, dtype=cr.float64)._repr_html_()
    assert len(out) < 3000  # not 60,000 values
    stats = dict(zip(cells_of(out, "th"), cells_of(out)))
    finite = a[np.isfinite(a)]
    for key, value in (("min", finite.min()), ("max", finite.max()), ("mean", finite.mean()), ("std", finite.std())):
        assert float(stats[key]) == pytest.approx(value, rel=1e-5), key
    assert stats["not finite"] == f"1 of {a.size}"
    first = re.search(r"first values <code>\[(.*?), \.\.\.\]</code>", out).group(1).split(", ")
    np.testing.assert_allclose([float(v) for v in first[1:]], a.ravel()[1 : notebook.FEW_VALUES], rtol=1e-5)
    assert f"{a.size:,} elements" in out
    # a 3-d tensor and a wide row are summarised too; booleans are counted
    assert "<th class='l'>min</th>" in cr.zeros((2, 2, 2))._repr_html_()
    assert "<th class='l'>min</th>" in cr.zeros((1, 40))._repr_html_()
    mask = np.arange(100) % 3 == 0
    assert "34 of 100" in cells_of(cr.tensor(mask)._repr_html_())


def test_parameter_displays_as_a_parameter():
    out = nn.Linear(2, 3).weight._repr_html_()
    assert "<b>Parameter</b>" in out and "requires_grad=True" in out


# ----------------------------------------------------------------------------- cr.summary
class Branchy(nn.Module):
    """A model that is not a Sequential: a CNN trunk, an LSTM over its rows, and a head; two inputs."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        self.rnn = nn.LSTM(16, 8, batch_first=True)
        self.extra = nn.Linear(5, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, x, z):
        h = self.trunk(x)
        h = h.reshape(h.shape[0], 4, 16)
        out, _ = self.rnn(h)
        return self.head(out[:, -1] + self.extra(z))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 10),
    )


def test_summary_counts_and_shapes_against_running_the_layers():
    model = cnn()
    s = cr.summary(model, (2, 1, 8, 8))
    total = sum(p.numel() for p in model.parameters())
    assert s.total_params == total == s.trainable_params and s.non_trainable_params == 0
    assert f"Total params: {total:,}" in str(s)
    # each layer's output shape, found by running the layers one after another by hand
    x = cr.zeros((2, 1, 8, 8))
    expected = {}
    model.eval()
    with cr.no_grad():
        for name, layer in model.named_children():
            x = layer(x)
            expected[name] = tuple(x.shape)
    model.train()
    rows = {r.name: r for r in s.rows}
    assert [r.name for r in s.rows] == [""] + list(expected)
    for name, shape in expected.items():
        assert rows[name].output_shape == shape, name
        layer = model[int(name)]
        assert rows[name].params == sum(p.numel() for p in layer.parameters()), name
        assert f"{name} ({type(layer).__name__})" in str(s)
        assert str(shape) in str(s)
    assert rows[""].output_shape == (2, 10) == s.output_shape
    assert sum(r.params for r in s.rows) == total
    assert rows["0"].params == model[0].weight.numel() + model[0].bias.numel()
    # the batch-norm statistics are buffers, reported apart
    assert s.buffer_values == sum(b.numel() for b in model.buffers()) > 0


def test_summary_restores_modes_and_leaves_state_alone():
    model = cnn()
    model.train()
    model[4].eval()  # one layer in another mode: each flag is restored, not the model's
    bn_before = [b.data.copy() for b in model.buffers()]
    flags = [m.training for m in model.modules()]
    cr.summary(model, (3, 1, 8, 8))
    assert [m.training for m in model.modules()] == flags
    for b, before in zip(model.buffers(), bn_before):
        np.testing.assert_array_equal(b.data, before)  # eval mode: running statistics untouched
    assert all(p.grad is None for p in model.parameters())
    assert all(not h for m in model.modules() for h in [m.__dict__.get("_forward_hooks")])  # hooks removed


def test_summary_nested_names_several_inputs_tuples_and_non_trainable():
    model = Branchy()
    model.extra.weight.requires_grad = False
    s = cr.summary(model, [(2, 1, 8, 8), (2, 5)])
    names = [r.name for r in s.rows]
    assert names == ["", "trunk", "trunk.0", "trunk.1", "trunk.2", "trunk.3", "rnn", "extra", "head"]
    rows = {r.name: r for r in s.rows}
    assert rows["trunk.0"].depth == 2 and "    trunk.0 (Conv2d)" in str(s)
    # the LSTM's output (out, (h, c)), against running it
    with cr.no_grad():
        out, (h, c) = model.rnn(cr.zeros((2, 4, 16)))
    assert rows["rnn"].output_shape == [tuple(out.shape), [tuple(h.shape), tuple(c.shape)]]
    assert "(2, 4, 8), [(1, 2, 8), (1, 2, 8)]" in str(s)
    frozen = model.extra.weight.numel()
    assert s.non_trainable_params == frozen
    assert s.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert f"Non-trainable params: {frozen:,}" in str(s)
    assert rows["trunk"].params == 0 and "--" in str(s)


def test_summary_counts_a_shared_parameter_once():
    a, b = nn.Linear(4, 4), nn.Linear(4, 4)
    b.weight = a.weight
    model = nn.Sequential(a, nn.Tanh(), b)
    s = cr.summary(model, (1, 4))
    assert s.total_params == 16 + 4 + 4 == sum(r.params for r in s.rows)


def test_summary_arguments():
    model = nn.Sequential(nn.Linear(3, 2))
    assert str(cr.summary(model, input_size=(5, 3))) == str(cr.summary(model, (5, 3)))
    assert cr.summary(model, 3).rows[0].output_shape == (2,)  # one int: a 1-d input
    no_shapes = cr.summary(model)
    assert "Output shape" not in str(no_shapes) and no_shapes.total_params == 8
    with pytest.raises(cr.errors.ArgumentError, match="not both"):
        cr.summary(model, (1, 3), input_size=(1, 3))
    with pytest.raises(cr.errors.ArgumentError, match="positive"):
        cr.summary(model, (0, 3))
    with pytest.raises(cr.errors.ArgumentTypeError, match="input_shape"):
        cr.summary(model, "1, 3")
    with pytest.raises(cr.errors.ArgumentTypeError, match="Module"):
        cr.summary(lambda x: x, (1, 3))
    with pytest.raises(cr.errors.ShapeError, match=r"summary: running Sequential on zeros of shape \(1, 4\)"):
        cr.summary(model, (1, 4))
    assert model.training  # restored after the failure too
    emb = nn.Sequential(nn.Embedding(10, 4), nn.Flatten())
    assert cr.summary(emb, (2, 3), dtype=cr.int64).output_shape == (2, 12)
    assert cr.summary(model.double(), (1, 3)).dtype == np.float64  # the parameters' dtype by default


def test_summary_html_and_module_html():
    model = nn.Sequential()
    model.add_module("<in>", nn.Linear(3, 4))
    model.add_module("act", nn.ReLU())
    before = model._repr_html_()
    assert "&lt;in&gt;" in before and "<in>" not in before
    assert "Output shape" not in before  # not run yet: layers and parameters only
    cells = cells_of(before)
    assert "weight (4, 3), bias (4,)" in cells and "16" in cells
    s = cr.summary(model, (2, 3))
    assert s._repr_html_() == s.to_html() and "&lt;in&gt;" in s.to_html()
    after = model._repr_html_()
    assert "Output shape" in after and "(2, 4)" in cells_of(after)
    model.add_module("more", nn.Linear(4, 1))  # the layers changed: the old shapes are not shown
    assert "Output shape" not in model._repr_html_()
    assert ipython_bundle(s)["text/plain"] == str(s)


# ----------------------------------------------------------------------------- History
def a_history(n=4):
    rng = np.random.default_rng(0)
    return cr.train.History(
        [
            {"epoch": e + 1, "loss": float(rng.random()), "accuracy": float(rng.random()), "lr": 0.1, "time": 0.01}
            for e in range(n)
        ]
    )


def test_history_html_plot_is_an_inline_png():
    plt = pytest.importorskip("matplotlib.pyplot")
    h = a_history()
    open_before = plt.get_fignums()
    out = h.to_html(plot=True)
    data = re.search(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", out).group(1)
    assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.get_fignums() == open_before  # closed: an inline backend does not show it a second time
    assert "<table>" not in out.split("</style>", 1)[1]
    assert h._repr_html_() == out  # matplotlib is installed: the default plots


@pytest.mark.parametrize("how", ["plot=False", "no matplotlib"])
def test_history_html_table(how, monkeypatch):
    h = a_history(5)
    if how == "no matplotlib":
        monkeypatch.setitem(sys.modules, "matplotlib", None)
        monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
        assert not notebook.have_matplotlib()
        out = h._repr_html_()
        with pytest.raises(cr.errors.MissingDependencyError, match=r"chainrule\[plot\]"):
            h.to_html(plot=True)
    else:
        out = h.to_html(plot=False)
    assert "data:image/png" not in out
    assert cells_of(out, "th") == h.keys()
    cells = cells_of(out)
    assert len(cells) == 5 * len(h.keys())
    np.testing.assert_allclose([float(c) for c in cells[1 :: len(h.keys())]], h["loss"], rtol=1e-3)


def test_long_history_table_and_empty_history():
    h = a_history(100)
    out = h.to_html(plot=False)
    assert f"... {100 - notebook.HISTORY_MAX_ROWS} epochs ..." in out
    assert len(cells_of(out)) == notebook.HISTORY_MAX_ROWS * len(h.keys()) + 1
    assert "no epochs" in cr.train.History()._repr_html_()


# ----------------------------------------------------------------------------- Trace, StepExplanation
def test_trace_and_step_explanation_html():
    w = cr.tensor([0.5, -1.0], dtype=cr.float64, requires_grad=True, name="<w>")
    loss = (w * w).sum()
    loss.name = "L"
    tr = cr.explain(loss)
    table = tr.to_html_table()
    assert tr._repr_html_() == table and "dL/d&lt;w&gt;" in table and "<w>" not in table
    loss.backward()
    opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
    step = cr.explain.explain_step(opt, w, index=1)
    out = step._repr_html_()
    assert out == step.to_html() and html.escape(step.title) in out and "<w>" not in out
    rows = [cells_of(r) for r in re.findall(r"<tr>(.*?)</tr>", out)[1:]]
    assert [r[0] for r in rows] == [n for n, _, _ in step.lines]
    assert float(rows[-1][2]) == pytest.approx(-1.0 - 0.1 * (2 * -1.0))  # w - lr * g
    assert "StepExplanation" in repr(step) and "object at 0x" not in repr(step)


# ----------------------------------------------------------------------------- graphs
def shopping():
    def t(v, name):
        return cr.tensor(v, dtype=cr.float64, requires_grad=True, name=name)

    apple, n, tax = t(100.0, "apple"), t(2.0, "apple_num"), t(1.1, "<tax>")
    price = apple * n
    price.name = "apple_price"
    total = price * tax
    total.name = "total"
    return total


def test_graph_text_fallback_is_readable():
    g = cr.draw_graph(shopping())
    text = g.to_text()
    assert "1. Mul" in text and "2. Mul" in text
    assert "in:  apple = 100   [dtotal/dapple = 2.2]   (local dapple_price/dapple = 2)" in text
    assert "out: apple_price = 200" in text and "out: total = 220" in text
    assert repr(g).endswith(text) and "object at 0x" not in repr(g)
    assert str(g) == g.source  # str stays the DOT source


def test_graph_without_the_graphviz_package(monkeypatch):
    g = cr.draw_graph(shopping())
    monkeypatch.setitem(sys.modules, "graphviz", None)
    assert g._repr_svg_() is None
    out = g._repr_html_()
    assert "pip install &#x27;chainrule[graph]&#x27;" in out and "&lt;tax&gt;" in out and "<tax>" not in out
    with pytest.raises(cr.errors.MissingDependencyError, match=r"chainrule\[graph\]"):
        g.svg()


def test_graph_with_dot_is_svg():
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed (.ci/run installs it)")
    g = cr.draw_graph(shopping())
    svg = g._repr_svg_()
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "apple_price" in svg
    assert g._repr_html_() is None  # the picture is stored once, as SVG
    bundle = ipython_bundle(g)
    assert set(bundle) == {"image/svg+xml", "text/plain"} and bundle["image/svg+xml"] == svg == g.svg()


NO_DOT = textwrap.dedent(
    """
    import json, chainrule as cr
    from chainrule.errors import MissingDependencyError
    a = cr.tensor(3.0, requires_grad=True, name="a")
    y = a * a
    y.name = "y"
    g = cr.draw_graph(y)
    try:
        g.render("g.svg")
        err = None
    except MissingDependencyError as e:
        err = str(e)
    print(json.dumps({"svg": g._repr_svg_(), "html": g._repr_html_(), "repr": repr(g), "render": err}))
    """
)


def test_graph_without_dot_falls_back_to_text_with_the_program_hint(tmp_path):
    """A real missing program: the child's PATH holds no dot (its Python is started by full path)."""
    pytest.importorskip("graphviz")
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))
    r = subprocess.run(
        [sys.executable, "-c", NO_DOT], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    import json

    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["svg"] is None
    page = html.unescape(out["html"])
    for hint in ("apt-get install graphviz", "brew install graphviz", "dot"):
        assert hint in page and hint in out["render"]
    assert "chainrule[graph]" not in page and "chainrule[graph]" not in out["render"]  # not the Python package
    assert "in:  a = 3   [dy/da = 6]" in page and "out: y = 9" in page
    assert "object at 0x" not in out["repr"] and "out: y = 9" in out["repr"]
    assert not (tmp_path / "g.svg").exists()


# ----------------------------------------------------------------------------- the tour notebook
def execute_notebook(path, cwd, timeout: int = 120):
    """Run every cell of the notebook at ``path`` in a fresh kernel of this very Python (a kernel spec
    written to a temporary directory points at sys.executable; nothing is written to the user's home), in
    directory ``cwd``; any error fails. Returns the executed notebook."""
    import nbformat
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        write_kernel_spec(os.path.join(tmp, "kernels", "chainrule-test"))  # argv: sys.executable -m ipykernel
        ksm = KernelSpecManager(kernel_dirs=[os.path.join(tmp, "kernels")], ensure_native_kernel=False)
        km = KernelManager(
            kernel_name="chainrule-test",
            kernel_spec_manager=ksm,
            connection_file=os.path.join(tmp, "connection.json"),
        )
        assert km.kernel_spec.argv[0] == sys.executable  # the kernel is this Python, whatever ~/.local holds
        env = dict(
            os.environ, IPYTHONDIR=os.path.join(tmp, "ipython"), MPLBACKEND="module://matplotlib_inline.backend_inline"
        )
        client = NotebookClient(
            nb,
            km=km,
            timeout=timeout,  # per cell
            allow_errors=False,
            record_timing=False,
            resources={"metadata": {"path": str(cwd)}},
        )
        client.execute(env=env)
    return nb


def output_of(nb, source_part: str, exact: bool = False) -> dict:
    """The outputs of the one code cell whose source contains ``source_part`` (is it, with ``exact``):
    mime type -> data, and "stdout" -> printed text."""
    found = [
        c
        for c in nb.cells
        if c.cell_type == "code" and (c.source.strip() == source_part if exact else source_part in c.source)
    ]
    assert len(found) == 1, source_part
    out: dict = {}
    for o in found[0].outputs:
        if o.output_type == "stream":
            out[o.name] = out.get(o.name, "") + o.text
        elif "data" in o:
            out.update(o.data)
    return out


def test_tour_notebook_runs(tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("sklearn")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("safetensors")
    nb = execute_notebook(TOUR, tmp_path)
    assert all(not o.get("ename") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    acc = float(re.search(r"test accuracy: ([0-9.]+)", output_of(nb, 'print(f"test accuracy')["stdout"]).group(1))
    assert acc > 0.9
    # the summary's parameter count is the model's, counted here independently
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10))
    total = sum(p.numel() for p in model.parameters())
    summary = output_of(nb, "summary = cr.summary(model, (1, 64))")
    assert f"Total params: {total:,}" in summary["text/plain"] and "<table>" in summary["text/html"]
    assert "(1, 10)" in summary["text/plain"]
    tensor = output_of(nb, "y.backward()\nW")["text/html"]
    assert "requires_grad=True (leaf)" in tensor and "name <b>W</b>" in tensor and "grad: shape (2, 3)" in tensor
    history = output_of(nb, "history = cr.train.fit(")["text/html"]
    assert "data:image/png;base64," in history and "15 epochs" in history
    assert "Output shape" in output_of(nb, "model", exact=True)["text/html"]  # shown after cr.summary
    trace = output_of(nb, "trace = cr.explain(price)")["text/html"]
    assert "dprice/dapple" in trace
    chain = output_of(nb, 'trace.chain("apple")')["stdout"]
    assert chain.strip().endswith("= 2.2")
    graph = output_of(nb, "cr.draw_graph(price)")
    if shutil.which("dot") is not None:
        assert "<svg" in graph["image/svg+xml"] and "text/html" not in graph
    else:
        assert "apt-get install graphviz" in graph["text/html"]
    assert "Adam step for 0.weight" in html.unescape(output_of(nb, "explain_step(")["text/html"])
    saved = output_of(nb, 'cr.save(model, "digits-mlp.npz")')["stdout"]
    assert saved.strip().endswith("predicts the same: True") and (tmp_path / "digits-mlp.npz").exists()
    exported = output_of(nb, "import onnxruntime as ort")["stdout"]
    assert f"safetensors metadata: {cr.__version__}" in exported
    difference = float(re.search(r"largest difference ([0-9.e+-]+)", exported).group(1))
    assert difference < 1e-5 and exported.strip().endswith("same predictions: True")
    assert (tmp_path / "digits-mlp.onnx").exists() and (tmp_path / "digits-mlp.safetensors").exists()


if __name__ == "__main__":  # python tests/test_notebook.py --write: store the tour's outputs in it
    if "--write" in sys.argv:
        import nbformat

        with tempfile.TemporaryDirectory() as d:
            executed = execute_notebook(TOUR, d)
        nbformat.write(executed, str(TOUR))
        print(f"wrote {TOUR}")
