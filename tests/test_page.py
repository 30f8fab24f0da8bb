"""The step-by-step page without a browser: self-contained, its layout, the command line, Graphviz's picture.

tests/test_page_browser.py runs the page itself in headless Chromium.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import draw_graph, example_trace, examples
from chainrule.explain.layout import VIEW_H, VIEW_W, Node, layout


def _page(tr):
    return tr.to_html()


def test_the_page_needs_nothing_outside_the_file():
    text = _page(example_trace("seed003"))
    assert text.startswith("<!DOCTYPE html>")
    assert (
        "http:" not in text
        and "https:" not in text
        and "//" not in re.sub(r"<script>.*?</script>", "", text, flags=re.S)
    )
    assert not re.search(r"<(link|img|iframe|object|embed)\b", text)
    assert not re.search(r"\bsrc\s*=", text) and "@import" not in text
    assert re.findall(r"url\(([^)]*)\)", text) == ["#arrow"] * len(re.findall(r"url\(", text))  # the SVG's own marker
    assert "fetch(" not in text and "XMLHttpRequest" not in text
    assert text.count("<svg") == 1 and text.count("<script>") == 1 and text.count("<style>") == 1


def test_the_page_has_every_step_and_the_data_the_script_reads():
    tr = example_trace("seed003")
    text = _page(tr)
    n = len(tr.steps)
    assert len(re.findall(r"<section class='step' data-step='\d+' data-phase='forward'", text)) == n
    assert len(re.findall(r"data-phase='backward'", text)) == n
    data = json.loads(re.search(r"const DATA = (\{.*?\});\n", text, re.S).group(1))
    assert len(data["steps"]) == 2 * n + 2
    # every id the steps and the parameter view name is a node of the picture
    ids = set(re.findall(r"<g class='node [\w ]+' id='(\w+)'", text))
    for step in data["steps"]:
        assert set(step["current"]) | set(step["related"]) <= ids
    assert set(data["paths"]) == {"b1", "b2", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"}
    for name, path_ids in data["paths"].items():
        assert set(path_ids) <= ids
        assert data["chains"][name] == tr.chain(name).text


def test_to_html_writes_the_page_it_returns(tmp_path):
    tr = example_trace("shopping")
    path = tmp_path / "sub" / "page.html"
    text = tr.to_html(path)
    assert path.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in path.parent.iterdir()) == ["page.html"]  # no temporary file left
    assert tr._repr_html_().startswith("<div class='chainrule-trace'>")  # a notebook shows the tables


def _overlap(a, b):
    return abs(a.x - b.x) * 2 < a.w + b.w - 0.5 and abs(a.y - b.y) * 2 < a.h + b.h - 0.5


def _chain_graph(n):
    nodes = [Node(f"n{k}", [f"t{k} = 0.5", "Sigmoid: y = 1 / (1 + exp(-x))"], "op") for k in range(n)]
    return nodes, [(f"n{k}", f"n{k + 1}", False) for k in range(n - 1)]


def _fan_graph(n):
    nodes = [Node(f"p{k}", [f"w{k}", "0.5"], "parameter") for k in range(n)] + [Node("s", ["s = 1", "Sum"], "op")]
    return nodes, [(f"p{k}", "s", False) for k in range(n)]


@pytest.mark.parametrize("make, n", [(_chain_graph, 40), (_fan_graph, 40), (_chain_graph, 3)])
def test_the_direction_is_the_one_that_fits_a_1280_px_window_best(make, n):
    scale = {}
    for d in ("LR", "TB"):
        lay = layout(*make(n), direction=d)
        scale[d] = min(1.0, VIEW_W / lay.width, VIEW_H / lay.height)
    auto = layout(*make(n)).direction
    assert scale[auto] == max(scale.values())
    if scale["LR"] == scale["TB"]:
        assert auto == "LR"


def test_a_deep_graph_of_wide_boxes_is_drawn_down_the_page():
    assert layout(*_chain_graph(40)).direction == "TB"  # 40 wide boxes in a row would be a longer strip
    assert layout(*_chain_graph(2)).direction == "LR"  # two boxes side by side fit at full size


def test_no_two_boxes_overlap_and_edges_join_the_boxes():
    tr = example_trace("seed003")
    from chainrule.explain.page import graph_parts

    nodes, edges, _ = graph_parts(tr)
    for d in ("LR", "TB"):
        lay = layout(nodes, edges, direction=d)
        boxes = list(lay.nodes.values())
        for a, b in itertools.combinations(boxes, 2):
            assert not _overlap(a, b), (d, a.lines, b.lines)
        for n in boxes:
            assert 0 <= n.x - n.w / 2 and n.x + n.w / 2 <= lay.width
            assert 0 <= n.y - n.h / 2 and n.y + n.h / 2 <= lay.height
        for a, b, pts, _ in lay.edges:
            na, nb = lay.nodes[a], lay.nodes[b]
            # an edge leaves its source's border facing the flow and ends on its target's
            (x0, y0), (x1, y1) = pts[0], pts[-1]
            if d == "LR":
                assert x0 == pytest.approx(na.x + na.w / 2) and x1 == pytest.approx(nb.x - nb.w / 2)
            else:
                assert y0 == pytest.approx(na.y + na.h / 2) and y1 == pytest.approx(nb.y - nb.h / 2)


def test_every_leaf_sits_just_before_its_first_use():
    tr = example_trace("seed003")
    from chainrule.explain.page import graph_parts

    nodes, edges, _ = graph_parts(tr)
    lay = layout(nodes, edges, direction="TB")
    for a, b, _ in edges:
        assert lay.nodes[a].y < lay.nodes[b].y  # every edge goes down the page
    for n in lay.nodes.values():
        if n.kind in ("parameter", "constant"):
            first = min(lay.nodes[b].y for a, b, _ in edges if a == n.id)
            gaps = sorted({round(m.y, 1) for m in lay.nodes.values() if n.y < m.y <= first})
            assert gaps == [round(first, 1)]  # no layer between the leaf and its first consumer


def test_command_line_writes_the_page(tmp_path):
    out = tmp_path / "seed003.html"
    r = subprocess.run(
        [sys.executable, "-m", "chainrule", "explain", "seed003", "--format", "html", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<svg id='graph'" in text and "dE/dw5" in text


def test_a_large_graph_is_summarised_in_its_boxes():
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(64, 128), cr.nn.ReLU(), cr.nn.Linear(128, 10))
    loss = cr.nn.functional.cross_entropy(model(cr.randn(256, 64)), cr.tensor(np.arange(256) % 10))
    text = _page(cr.explain(loss))
    assert len(text) < 200_000  # summaries, not the 16,384 numbers of a weight
    boxes = re.findall(r"<g class='node [\w ]+' id='\w+'>(.*?)</g>", text)
    for box in boxes:
        for line in re.findall(r"<text[^>]*>(.*?)</text>", box):
            assert len(line) <= 60, line


def test_graphviz_picture_is_drawn_by_shape_with_a_key():
    out, _ = examples.build("seed003")
    src = draw_graph(out).source
    assert "rankdir=TB;" in src  # deep: down the page, not a 6,600-px strip
    assert "cluster_legend" in src and "no gradient flows" in src
    assert "rankdir=LR;" in draw_graph(out, rankdir="LR", legend=False).source
    assert "cluster_legend" not in draw_graph(out, legend=False).source


def test_names_are_escaped_and_a_node_with_several_outputs_keeps_a_box_per_output():
    x = cr.tensor([1.0, 2.0, 3.0, 4.0], dtype=cr.float64, requires_grad=True, name='<x&"y">')
    a, b = cr.split(x, 2)
    text = _page(cr.explain((a * b).sum()))
    assert "<x&" not in text and "&lt;x&amp;&quot;y&quot;&gt;" in text
    data = json.loads(re.search(r"const DATA = (\{.*?\});\n", text, re.S).group(1))
    assert list(data["paths"]) == ['<x&"y">']  # the script gets the name itself
    boxes = re.findall(r"<g class='node ([\w ]+)' id='(\w+)'>", text)
    assert len(boxes) == 6  # x, Split, its two outputs, Mul, Sum


def test_a_leaf_alone_makes_a_page_with_nothing_to_step_through():
    w = cr.tensor(3.0, requires_grad=True, name="w")
    text = _page(cr.explain(w))
    assert text.count("<section class='step'") == 2  # the overview and the result
    assert "0 operations" in text


def test_crossings_are_counted_as_a_pairwise_count_would():
    import random

    from chainrule.explain.layout import _crossings

    def pairwise(layers, down):  # every pair of edges between two adjacent layers, compared
        total = 0
        for k in range(len(layers) - 1):
            idx = {nid: i for i, nid in enumerate(layers[k + 1])}
            pairs = [(i, idx[b]) for i, a in enumerate(layers[k]) for b in down[a]]
            total += sum(1 for (a, b), (c, d) in itertools.combinations(pairs, 2) if (a - c) * (b - d) < 0)
        return total

    rng = random.Random(0)
    for _ in range(200):
        layers = [[f"{k}_{i}" for i in range(rng.randint(1, 7))] for k in range(rng.randint(2, 5))]
        down = {n: [] for layer in layers for n in layer}
        for k in range(len(layers) - 1):
            for a in layers[k]:
                down[a] = rng.sample(layers[k + 1], rng.randint(0, len(layers[k + 1])))
        assert _crossings(layers, down) == pairwise(layers, down)
