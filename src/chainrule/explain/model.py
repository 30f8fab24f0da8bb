"""explain_model: one sample through a trained model, the chain rule summarised per layer."""

from __future__ import annotations

import numpy as np

from ..ops import cross_entropy
from ..tensor import Tensor, tensor
from .trace import Trace, explain, fmt

__all__ = ["explain_model"]


def explain_model(model, x, y, loss_fn=None, max_elements: int = 4) -> Trace:
    """Trace the loss of ``model`` on one sample (x of shape (1, features), y its label).

    Each module's output is named by the module's path (``"1.out"``, beside its parameters ``"1.weight"`` and
    ``"1.bias"``), the sample ``x`` and its label ``target``, so the trace reads layer by layer; a note lists the
    layers by path, and tensors are shown as shape and summary statistics. A table of per-parameter gradient
    norms is added as the first section.
    """
    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    was_training = model.training
    model.eval()
    handles = []
    for name, m in model.named_modules():
        if name:
            handles.append(
                m.register_forward_hook(
                    lambda mod, inp, out, name=name: (
                        setattr(out, "name", f"{name}.out") if isinstance(out, Tensor) and out.name is None else None
                    )
                )
            )
    try:
        out = model(tensor(x, name="x"))
        loss = (loss_fn or cross_entropy)(out, tensor(np.asarray(y), name="target"))
        loss.name = "L"
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    tr = explain(
        loss,
        max_elements=max_elements,
        title=f"One sample through {type(model).__name__}: "
        f"label {int(np.asarray(y).reshape(-1)[0]) if np.size(y) == 1 else y}, "
        f"prediction {int(out.data.argmax())}, loss {fmt(loss.data)}",
    )
    rows = []
    for pname, p in model.named_parameters():
        g = tr.grad(p)
        if g is None:
            continue
        rows.append((pname, p.data, g))
    tr.forward_values = [
        (f"|dL/d{n}|", f"shape {tuple(p.shape)}", float(np.sqrt((g.astype(np.float64) ** 2).sum()))) for n, p, g in rows
    ]
    tr.forward_title = "Per layer: the norm of each parameter's gradient"
    tr.legend_title = "The layers, by path (a layer's output is named PATH.out)"
    for name, m in model.named_modules():
        if name and not list(m.children()):
            params = [f"{name}.{p} {tuple(t.shape)}" for p, t in m.named_parameters(recurse=False)]
            tr.legend.append((name, _describe(m) + (f"; parameters {', '.join(params)}" if params else "")))
    return tr


def _describe(module) -> str:
    """``Linear(64 -> 128)`` for a layer with in/out features, else the class name with its settings."""
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return f"{type(module).__name__}({module.in_features} -> {module.out_features})"
    extra = module.extra_repr() if hasattr(module, "extra_repr") else ""
    return f"{type(module).__name__}({extra})" if extra and len(extra) <= 40 else type(module).__name__
