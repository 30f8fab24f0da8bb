"""Training diagnostics, per layer and per epoch: gradient norms, update-to-weight ratios, dead ReLUs.

Used by ``fit(..., diagnostics=True)`` (and ``chainrule train --plot``). The
numbers land in the History under ``grad_norm/<param>``,
``update_ratio/<param>`` and ``dead_relu/<module>``, and ``History.plot()``
draws one panel per kind.

- grad_norm: the L2 norm of the weight's gradient, averaged over the epoch's steps;
- update_ratio: ||w_after - w_before|| / ||w_before|| per step, averaged: around 1e-3 is
  healthy for most networks; far smaller means the layer barely learns, far larger that it thrashes;
- dead_relu: the fraction of a ReLU layer's units that did not fire (output > 0) for a single
  training example in the whole epoch.
"""

from __future__ import annotations

import numpy as np

from .nn.layers import ReLU

__all__ = ["Diagnostics", "diagnostics_table"]


class Diagnostics:
    def __init__(self, model):
        self.model = model
        self.params = [(n, p) for n, p in model.named_parameters() if p.ndim >= 2]
        self.relus = [(n, m) for n, m in model.named_modules() if isinstance(m, ReLU)]
        self._handles = []
        self._fired: dict = {}

    def begin_epoch(self) -> None:
        self._gn = {n: 0.0 for n, _ in self.params}
        self._ur = {n: 0.0 for n, _ in self.params}
        self._steps = 0
        self._fired = {n: None for n, _ in self.relus}
        for h in self._handles:
            h.remove()
        self._handles = [m.register_forward_hook(self._relu_hook(n)) for n, m in self.relus]

    def _relu_hook(self, name):
        def hook(module, inputs, out):
            if not module.training:
                return None
            fired = (out.data > 0).reshape(-1, out.shape[-1]).any(axis=0)
            prev = self._fired[name]
            self._fired[name] = fired if prev is None else (prev | fired)
            return None

        return hook

    def before_step(self) -> None:
        self._before = {}
        for n, p in self.params:
            if p.grad is not None:
                g = p.grad.data
                self._gn[n] += float(np.sqrt(np.vdot(g, g)))
            self._before[n] = p.data.copy()

    def after_step(self) -> None:
        self._steps += 1
        for n, p in self.params:
            w0 = self._before[n]
            d = p.data - w0
            norm0 = float(np.sqrt(np.vdot(w0, w0)))
            self._ur[n] += float(np.sqrt(np.vdot(d, d))) / norm0 if norm0 else 0.0

    def close(self) -> None:
        """Remove the forward hooks (idempotent; fit calls it even when training fails)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def end_epoch(self) -> dict:
        self.close()
        k = max(self._steps, 1)
        row = {}
        for n, _ in self.params:
            row[f"grad_norm/{n}"] = self._gn[n] / k
            row[f"update_ratio/{n}"] = self._ur[n] / k
        for n, _ in self.relus:
            fired = self._fired[n]
            row[f"dead_relu/{n}"] = float(1 - fired.mean()) if fired is not None else float("nan")
        return row


def diagnostics_table(history) -> str:
    """The diagnostics of every epoch as a text table (one column per layer quantity)."""
    keys = [k for k in history.keys() if "/" in k]
    if not keys:
        return "no diagnostics recorded (train with diagnostics=True or chainrule train --plot)"
    head = ["epoch"] + keys
    rows = [[str(r["epoch"])] + [f"{r.get(k, float('nan')):.3g}" for k in keys] for r in history.epochs]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)
