"""gradcheck_graph: check every node of a recorded graph against numerical derivatives.

Each node is re-run on its own recorded inputs (in float64) and its backward
compared with central differences, in forward order, so the first faulty node
and input are named without bisecting the model by hand.
"""

from __future__ import annotations

import numpy as np

from ..errors import GradcheckError, GraphError
from ..gradcheck import gradcheck
from ..tensor import Tensor
from .trace import auto_names, collect_nodes

__all__ = ["gradcheck_graph"]


def gradcheck_graph(
    output: Tensor, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, max_elements: int = 2000
) -> bool:
    """Check the backward of every node in ``output``'s graph; return True or raise GradcheckError.

    The error names the first faulty node (its op, the tensor it produced) and
    the input whose gradient is wrong, with the numbers. Inputs larger than
    ``max_elements`` elements are skipped (numerical differentiation costs two
    evaluations per element). The graph must be intact (before backward).
    """
    if output.grad_fn is None:
        raise GraphError("gradcheck_graph: the tensor was not produced by a recorded operation")
    order = collect_nodes(output, "gradcheck_graph")
    names = auto_names(order, output, output.name or "L")
    produced = {}
    for n in order:
        for t in n.inputs:
            if isinstance(t, Tensor) and t.grad_fn is not None:
                produced.setdefault(id(t.grad_fn), t)
    produced.setdefault(id(output.grad_fn), output)
    for k, node in enumerate(order, 1):
        needs = node.needs_input_grad
        args = []
        for t, need in zip(node.inputs, needs):
            if isinstance(t, Tensor):
                data = t.data.astype(np.float64) if t.data.dtype.kind == "f" else t.data
                args.append(Tensor(data, requires_grad=bool(need and t.data.size <= max_elements)))
            else:
                args.append(t)
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            continue
        try:
            gradcheck(lambda *xs, node=node: node.fresh()(*xs), *args, eps=eps, atol=atol, rtol=rtol)
        except GradcheckError as e:
            if _passes_nearby(node, args, eps, atol, rtol):
                # correct a little way off: the recorded inputs sit on a kink (an exact 0 into ReLU after
                # another ReLU or a dropout), where central differences straddle two slopes
                continue
            out_t = produced.get(id(node))
            out_name = names.get(id(out_t), "?") if out_t is not None else "?"
            msg = str(e)
            idx = msg.split("input ", 1)[1].split(" ", 1)[0].rstrip(",") if "input " in msg else "?"
            in_name = "?"
            if idx.isdigit() and isinstance(node.inputs[int(idx)], Tensor):
                in_name = names.get(id(node.inputs[int(idx)]), "?")
            raise GradcheckError(
                f"gradcheck_graph: node {k} of {len(order)}, {node.name} (producing '{out_name}'), has a "
                f"wrong gradient for its input {idx} ('{in_name}'). {msg.replace('gradcheck: ', '')}"
            ) from None
    return True


def _passes_nearby(node, args, eps, atol, rtol, tries: int = 2) -> bool:
    """Whether the node's gradient check passes at slightly moved inputs (seeded, so repeatable)."""
    rng = np.random.default_rng(0)
    for _ in range(tries):
        moved = []
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad:
                d = a.data
                scale = 1e-3 * (float(np.abs(d).mean()) if d.size else 0.0) + 1e-4
                moved.append(
                    Tensor(
                        d + rng.uniform(scale, 2 * scale, d.shape) * rng.choice([-1, 1], d.shape), requires_grad=True
                    )
                )
            else:
                moved.append(a)
        try:
            gradcheck(lambda *xs, node=node: node.fresh()(*xs), *moved, eps=eps, atol=atol, rtol=rtol)
        except (GradcheckError, ArithmeticError, ValueError):
            continue
        return True
    return False
