"""A layered drawing of a computational graph, as SVG, made without Graphviz (for the step-by-step page).

The graph's nodes are placed in layers (ranks) along the direction the data flows: every node one layer past
the latest of its inputs, and every leaf (a parameter, a constant) in the layer just before the first node that
uses it. An edge that skips layers is routed through invisible points, one per layer it crosses. Within a layer
the order is improved by the barycenter heuristic (each node moved towards the mean position of its neighbours,
sweeping down and up several times, keeping the order with the fewest crossings), then positions are relaxed
towards the neighbours and pushed apart. The direction is chosen by the graph's shape: left to right or top to
bottom, whichever fits a 1280 x 720 window at the larger scale (left to right when both fit at full size).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["Node", "Layout", "layout", "to_svg"]

CHAR_W = 6.4  # px per character of the labels' 11 px font (an estimate; the text is centred, so errors are halved)
LINE_H = 14.0
PAD_X, PAD_Y = 10.0, 6.0
GAP_RANK, GAP_NODE = 46.0, 14.0
VIEW_W, VIEW_H = 1240.0, 720.0  # the part of a 1280-px window the picture gets


@dataclass
class Node:
    """One box of the picture: an id (used by the page's script), the lines of its label, its kind (which sets
    its style: parameter, constant, intermediate, output, op), and optional hidden lines revealed later."""

    id: str
    lines: list
    kind: str
    late_lines: list = field(default_factory=list)  # (step, text): shown from that step of the page on
    dummy: bool = False
    w: float = 0.0
    h: float = 0.0
    x: float = 0.0  # centre
    y: float = 0.0
    rank: int = 0

    def size(self):
        n = len(self.lines) + len(self.late_lines)
        longest = max([len(t) for t in self.lines] + [len(t) for _, t in self.late_lines] + [1])
        self.w = 0.0 if self.dummy else longest * CHAR_W + 2 * PAD_X
        self.h = 0.0 if self.dummy else n * LINE_H + 2 * PAD_Y


@dataclass
class Layout:
    nodes: dict
    edges: list  # (from id, to id, points [(x, y)], dashed)
    width: float
    height: float
    direction: str  # "LR" or "TB"


def layout(nodes: list[Node], edges: list[tuple[str, str, bool]], direction: str = "auto") -> Layout:
    """Place ``nodes`` joined by ``edges`` (from id, to id, dashed); ``direction`` "LR", "TB" or "auto"."""
    for n in nodes:
        n.size()
    if direction == "auto":
        options = [_place(nodes, edges, d) for d in ("LR", "TB")]
        # the scale at which each fits the window (1: at full size); on a tie, left to right, as text reads
        return max(options, key=lambda lay: min(1.0, VIEW_W / max(lay.width, 1.0), VIEW_H / max(lay.height, 1.0)))
    return _place(nodes, edges, direction)


def _ranks(nodes, edges):
    succ = {n.id: [] for n in nodes}
    pred = {n.id: [] for n in nodes}
    for a, b, _ in edges:
        succ[a].append(b)
        pred[b].append(a)
    rank = {}
    order = _topological(nodes, pred, succ)
    for nid in order:
        rank[nid] = max((rank[p] + 1 for p in pred[nid]), default=0)
    for nid in reversed(order):  # sources move up to just before their first consumer
        if not pred[nid] and succ[nid]:
            rank[nid] = min(rank[s] for s in succ[nid]) - 1
    return rank, order


def _topological(nodes, pred, succ):
    indeg = {k: len(v) for k, v in pred.items()}
    ready = [n.id for n in nodes if indeg[n.id] == 0]
    out = []
    while ready:
        nid = ready.pop(0)
        out.append(nid)
        for s in succ[nid]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    return out


def _place(nodes, edges, direction):
    byid = {n.id: Node(n.id, n.lines, n.kind, n.late_lines, n.dummy, n.w, n.h) for n in nodes}
    rank, order = _ranks(nodes, edges)
    # long edges through one invisible point per layer crossed
    chains = []
    links = []  # (upper id, lower id) between adjacent layers
    for k, (a, b, dashed) in enumerate(edges):
        path = [a]
        for r in range(rank[a] + 1, rank[b]):
            did = f"_d{k}_{r}"
            byid[did] = Node(did, [], "dummy", dummy=True)
            rank[did] = r
            path.append(did)
        path.append(b)
        chains.append((a, b, path, dashed))
        links += list(zip(path, path[1:]))
    for nid, node in byid.items():
        node.rank = rank[nid]
    n_ranks = max(rank.values(), default=0) + 1
    layers = [[] for _ in range(n_ranks)]
    position = {nid: i for i, nid in enumerate(order)}
    for nid in sorted(byid, key=lambda i: (position.get(i, len(position)), i)):
        layers[rank[nid]].append(nid)
    up = {nid: [] for nid in byid}
    down = {nid: [] for nid in byid}
    for a, b in links:
        down[a].append(b)
        up[b].append(a)
    layers = _order(layers, up, down)
    lr = direction == "LR"
    # across: the size of a node along its layer; along: its size in the flow's direction
    across = {nid: (n.h if lr else n.w) for nid, n in byid.items()}
    along = {nid: (n.w if lr else n.h) for nid, n in byid.items()}
    gap = GAP_NODE if lr else GAP_NODE * 1.5
    coord = {}
    for layer in layers:
        pos = 0.0
        for nid in layer:
            coord[nid] = pos + across[nid] / 2
            pos += across[nid] + (gap if across[nid] else gap / 2)
    for _ in range(12):  # relax towards the neighbours, then push apart in order
        for layer in layers:
            want = {}
            for nid in layer:
                nb = up[nid] + down[nid]
                want[nid] = sum(coord[m] for m in nb) / len(nb) if nb else coord[nid]
            _spread(layer, want, across, gap, coord)
    lo = min((coord[nid] - across[nid] / 2 for nid in coord), default=0.0)
    for nid in coord:
        coord[nid] -= lo
    # the flow's coordinate: each layer as deep as its largest node
    depth, pos = [], 0.0
    for layer in layers:
        size = max((along[nid] for nid in layer), default=0.0)
        depth.append(pos + size / 2)
        pos += size + GAP_RANK
    for nid, n in byid.items():
        a, c = depth[n.rank], coord[nid]
        n.x, n.y = (a, c) if lr else (c, a)
    margin = 8.0
    for n in byid.values():
        n.x += margin
        n.y += margin
    width = max((n.x + n.w / 2 for n in byid.values()), default=0.0) + margin
    height = max((n.y + n.h / 2 for n in byid.values()), default=0.0) + margin
    routed = []
    for a, b, path, dashed in chains:
        pts = [(byid[p].x, byid[p].y) for p in path]
        pts[0] = _border(byid[a], pts[1] if len(pts) > 1 else pts[0], lr)
        pts[-1] = _border(byid[b], pts[-2] if len(pts) > 1 else pts[-1], lr)
        routed.append((a, b, pts, dashed))
    real = {nid: n for nid, n in byid.items() if not n.dummy}
    return Layout(real, routed, width, height, direction)


def _spread(layer, want, across, gap, coord):
    """Positions as close to ``want`` as the order and the sizes allow: the mean of the placement packed from
    the first node on and the one packed from the last (each keeps the gaps, so their mean does too)."""
    if not layer:
        return
    sep = [(across[a] + across[b]) / 2 + gap for a, b in zip(layer, layer[1:])]
    left = [want[layer[0]]]
    for k in range(1, len(layer)):
        left.append(max(want[layer[k]], left[-1] + sep[k - 1]))
    right = [want[layer[-1]]]
    for k in range(len(layer) - 2, -1, -1):
        right.append(min(want[layer[k]], right[-1] - sep[k]))
    right.reverse()
    for nid, a, b in zip(layer, left, right):
        coord[nid] = (a + b) / 2


def _order(layers, up, down, sweeps: int = 8):
    """Barycenter ordering, keeping the best order seen (fewest crossings)."""
    best = [list(layer) for layer in layers]
    best_cross = _crossings(best, down)
    cur = [list(layer) for layer in layers]
    for s in range(sweeps):
        rng = range(1, len(cur)) if s % 2 == 0 else range(len(cur) - 2, -1, -1)
        for k in rng:
            ref = cur[k - 1] if s % 2 == 0 else cur[k + 1]
            idx = {nid: i for i, nid in enumerate(ref)}
            nbrs = up if s % 2 == 0 else down
            here = {nid: i for i, nid in enumerate(cur[k])}  # where a node without neighbours there stays

            def key(nid, nbrs=nbrs, idx=idx, here=here):
                ps = [idx[m] for m in nbrs[nid] if m in idx]
                return sum(ps) / len(ps) if ps else here[nid]

            cur[k] = sorted(cur[k], key=key)
        c = _crossings(cur, down)
        if c < best_cross:
            best, best_cross = [list(layer) for layer in cur], c
    return best


def _crossings(layers, down) -> int:
    """The number of edge crossings between adjacent layers: for each pair of layers, the inversions among the
    edges' lower ends once they are sorted by their upper ends (counted with a Fenwick tree, O(E log E))."""
    total = 0
    for k in range(len(layers) - 1):
        idx = {nid: i for i, nid in enumerate(layers[k + 1])}
        pairs = sorted((i, idx[b]) for i, a in enumerate(layers[k]) for b in down[a] if b in idx)
        size = len(layers[k + 1])
        tree = [0] * (size + 1)
        seen = 0
        start = 0
        while start < len(pairs):  # edges from one upper node do not cross each other: add them as a group
            stop = start
            while stop < len(pairs) and pairs[stop][0] == pairs[start][0]:
                stop += 1
            for _, j in pairs[start:stop]:  # crossings: earlier edges whose lower end lies to the right of j
                q, below = j + 1, 0
                while q > 0:
                    below += tree[q]
                    q -= q & -q
                total += seen - below
            for _, j in pairs[start:stop]:
                q = j + 1
                while q <= size:
                    tree[q] += 1
                    q += q & -q
            seen += stop - start
            start = stop
    return total


def _border(node, toward, lr):
    """The point where an edge leaves or enters ``node``: the middle of the side facing ``toward``."""
    if node.dummy:
        return node.x, node.y
    if lr:
        return (node.x + node.w / 2 if toward[0] > node.x else node.x - node.w / 2), node.y
    return node.x, (node.y + node.h / 2 if toward[1] > node.y else node.y - node.h / 2)


def _path_d(pts, lr) -> str:
    """A smooth path through the points: cubic pieces whose handles follow the flow's direction."""
    d = f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if lr:
            m = (x0 + x1) / 2
            d += f" C{m:.1f},{y0:.1f} {m:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
        else:
            m = (y0 + y1) / 2
            d += f" C{x0:.1f},{m:.1f} {x1:.1f},{m:.1f} {x1:.1f},{y1:.1f}"
    return d


def to_svg(lay: Layout) -> str:
    """The picture as an inline SVG element: ``<g class="node KIND" id=...>`` per node, ``<path class="edge"
    data-from= data-to=>`` per edge; the page's stylesheet colours them."""
    lr = lay.direction == "LR"
    out = [
        f"<svg id='graph' viewBox='0 0 {lay.width:.0f} {lay.height:.0f}' data-width='{lay.width:.0f}' "
        f"data-height='{lay.height:.0f}' role='img' aria-label='the computational graph'>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='8' markerHeight='8' "
        "markerUnits='userSpaceOnUse' orient='auto-start-reverse'>"
        "<path d='M0,0 L10,5 L0,10 z' class='arrowhead'/></marker></defs>",
        "<g class='edges'>",
    ]
    for a, b, pts, dashed in lay.edges:
        cls = "edge dashed" if dashed else "edge"
        out.append(
            f"<path class='{cls}' data-from='{a}' data-to='{b}' d='{_path_d(pts, lr)}' marker-end='url(#arrow)'/>"
        )
    out.append("</g><g class='nodes'>")
    for n in lay.nodes.values():
        x0, y0 = n.x - n.w / 2, n.y - n.h / 2
        rx = 12 if "op" in n.kind.split() else 4
        shape = f"<rect x='{x0:.1f}' y='{y0:.1f}' width='{n.w:.1f}' height='{n.h:.1f}' rx='{rx}'/>"
        texts = []
        y = y0 + PAD_Y + LINE_H * 0.75
        for k, line in enumerate(n.lines):
            cls = " class='title'" if k == 0 else ""
            texts.append(f"<text x='{n.x:.1f}' y='{y:.1f}'{cls}>{html.escape(line)}</text>")
            y += LINE_H
        for step, line in n.late_lines:
            texts.append(
                f"<text x='{n.x:.1f}' y='{y:.1f}' class='late' data-from-step='{step}'>{html.escape(line)}</text>"
            )
            y += LINE_H
        out.append(f"<g class='node {n.kind}' id='{n.id}'>{shape}{''.join(texts)}</g>")
    out.append("</g></svg>")
    return "\n".join(out)
