"""Regenerate the rendered explain examples in docs/explain/ (run from the repository root).

python docs/make_explain_examples.py
"""

from __future__ import annotations

import pathlib

from chainrule.explain import EXAMPLES, draw_graph, example_trace
from chainrule.explain.examples import build

OUT = pathlib.Path(__file__).resolve().parent / "explain"


def main():
    OUT.mkdir(exist_ok=True)
    for name in EXAMPLES:
        tr = example_trace(name)
        (OUT / f"{name}.txt").write_text(tr.to_text())
        (OUT / f"{name}.md").write_text(tr.to_markdown())
        (OUT / f"{name}.html").write_text(tr.to_html())
        g = draw_graph(build(name)[0])
        (OUT / f"{name}.dot").write_text(g.source)
        try:
            g.render(OUT / f"{name}.svg")
        except ImportError as e:
            print(f"no SVG for {name}: {e}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
