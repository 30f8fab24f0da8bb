"""detect_anomaly: stop at the first NaN or Inf, forward or backward, and say where it came from.

Inside ``with cr.detect_anomaly():`` every node records the line of the
user's code that created it, checks its outputs, and backward checks every
gradient it computes. The first non-finite value raises AnomalyError naming
the node (op and tensor names), that source line, and the range of the
node's inputs. When off, the cost is one flag test per operation.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from .errors import AnomalyError
from .modes import state
from .tensor import Tensor

__all__ = ["detect_anomaly", "check_forward", "check_backward_node"]

_PKG = os.path.dirname(os.path.abspath(__file__))


class detect_anomaly:
    """Context manager (and decorator) that turns anomaly detection on, in this thread."""

    def __enter__(self):
        state.saved.append(state.anomaly_enabled)  # this thread's own stack (see chainrule.modes)
        state.anomaly_enabled = True
        return self

    def __exit__(self, *exc):
        state.anomaly_enabled = state.saved.pop()
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with detect_anomaly():
                return fn(*a, **k)

        return wrapper


def _user_line() -> str:
    """file:line of the innermost frame outside chainrule, with its source text."""
    f = sys._getframe(1)
    while f is not None and os.path.abspath(f.f_code.co_filename).startswith(_PKG):
        f = f.f_back
    if f is None:
        return "<unknown>"
    import linecache

    code = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return f"{f.f_code.co_filename}:{f.f_lineno}" + (f": {code}" if code else "")


def _range(a) -> str:
    a = np.asarray(a)
    if a.dtype.kind not in "fc" or a.size == 0:
        return f"shape {a.shape}"
    finite = np.isfinite(a)
    note = "" if finite.all() else f", {int((~finite).sum())} non-finite"
    if finite.any():
        return f"shape {a.shape}, range [{a[finite].min():.4g}, {a[finite].max():.4g}]{note}"
    return f"shape {a.shape}, all non-finite"


def _name(t) -> str:
    return t.name if isinstance(t, Tensor) and t.name else ("a tensor" if isinstance(t, Tensor) else "a constant")


def _bad(a) -> bool:
    a = np.asarray(a)
    return a.dtype.kind in "fc" and not np.isfinite(a).all()


def check_forward(node, args, outputs) -> None:
    """Record where ``node`` was created; raise if its outputs are not finite."""
    src = _user_line()
    if node.inputs:  # recorded: keep the source line for backward's messages
        extra = node._extra or {}
        extra["source"] = src
        node._extra = extra
    outs = outputs if isinstance(outputs, tuple) else (outputs,)
    for k, o in enumerate(outs):
        if isinstance(o, Tensor) and _bad(o.data):
            inputs = "; ".join(
                f"input {i} ({_name(a)}): {_range(a.data if isinstance(a, Tensor) else a)}" for i, a in enumerate(args)
            )
            what = "NaN" if np.isnan(o.data).any() else "Inf"
            raise AnomalyError(
                f"detect_anomaly: {type(node).__name__} produced {what} in its output{f' {k}' if len(outs) > 1 else ''}"
                f" in the forward pass, at {src}. Inputs: {inputs}"
            )


def check_backward_node(node, grads_out, grads_in) -> None:
    """Observer for the backward walk: raise at the first non-finite gradient."""
    for i, g in enumerate(grads_in):
        if g is None or not _bad(g.data if isinstance(g, Tensor) else g):
            continue
        src = (node._extra or {}).get("source", "<not recorded: the node was made outside detect_anomaly>")
        inp = node.inputs[i]
        ins = "; ".join(
            f"input {j} ({_name(a)}): {_range(a.data if isinstance(a, Tensor) else a)}"
            for j, a in enumerate(node.inputs)
        )
        gout = "; ".join(_range(x.data if isinstance(x, Tensor) else x) for x in grads_out)
        raise AnomalyError(
            f"detect_anomaly: the backward of {type(node).__name__} (created at {src}) produced a non-finite "
            f"gradient for its input {i} ({_name(inp)}). Incoming gradient: {gout}. Inputs: {ins}"
        )
