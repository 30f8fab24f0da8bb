"""explain_step: what one optimizer step does to one parameter element, with numbers."""

from __future__ import annotations

import copy
import math

import numpy as np

from ..errors import ChainruleError, IndexOutOfRangeError
from ..optim.optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .trace import fmt

__all__ = ["explain_step", "StepExplanation"]


class StepExplanation:
    """Lines of ``name = expression = value`` for one element's update; ``new_value`` is the result."""

    def __init__(self, title: str, lines: list[tuple[str, str, float]], new_value: float):
        self.title = title
        self.lines = lines
        self.new_value = new_value

    def to_text(self) -> str:
        width = max(len(n) for n, _, _ in self.lines)
        out = [self.title]
        for name, expr, value in self.lines:
            if expr == "the gradient":
                out.append(f"  {name:<{width}} = {fmt(value)}  (the gradient)")
                continue
            out.append(f"  {name:<{width}} = {expr + ' = ' if expr else ''}{fmt(value)}")
        return "\n".join(out) + "\n"

    __str__ = to_text


def explain_step(optimizer: Optimizer, param, index=0) -> StepExplanation:
    """Explain the update the next ``optimizer.step()`` will make to ``param[index]``.

    Nothing is changed: the update rule is run on a one-element copy of the
    parameter, its gradient and its optimizer state, so the numbers are the
    ones the real step will produce.
    """
    if param.grad is None:
        raise ChainruleError("explain_step: the parameter has no gradient yet; call backward() first")
    group = next((g for g in optimizer.param_groups if any(p is param for p in g["params"])), None)
    if group is None:
        raise ChainruleError("explain_step: the parameter is not in this optimizer")
    if param.ndim == 0:
        index = ()  # the one element of a scalar parameter
    elif isinstance(index, (int, np.integer)):
        if not -param.data.size <= index < param.data.size:
            raise IndexOutOfRangeError(
                f"explain_step: element {index} is out of range for a parameter of shape {param.shape}"
            )
        index = np.unravel_index(int(index) % param.data.size, param.shape)
    else:
        index = tuple(index)
        if len(index) != param.ndim or not all(-n <= i < n for i, n in zip(index, param.shape)):
            raise IndexOutOfRangeError(
                f"explain_step: index {index} does not name one element of a parameter of shape {param.shape}"
            )
    w0 = float(param.data[index])
    g = float(param.grad.data[index])
    st = optimizer.state.get(param, {})
    elem = {
        k: (np.array([v[index]], dtype=np.float64) if isinstance(v, np.ndarray) and v.shape == param.shape else v)
        for k, v in st.items()
        if k not in ("tmp", "tmp2")
    }
    before = optimizer._export_state(copy.deepcopy(elem), group) if elem else {}
    w = np.array([w0], np.float64)
    optimizer._update(param, w, np.array([g], np.float64), elem, group)
    after = optimizer._export_state(elem, group)
    new = float(w[0])
    name = param.name or "w"
    lines = [(f"{name}", "", w0), ("g", "the gradient", g)]
    lines += _rule_lines(optimizer, group, g, w0, before, after, new)
    title = (
        f"{type(optimizer).__name__} step for {name}{list(map(int, np.atleast_1d(index))) if param.ndim else ''}"
        f" (lr {group['lr']:g})"
    )
    return StepExplanation(title, lines, new)


def _v(state, key):
    v = state.get(key)
    if v is None:
        return None
    return float(np.asarray(v).reshape(-1)[0]) if isinstance(v, np.ndarray) else v


def _rule_lines(opt, group, g, w0, before, after, new):
    lr = group["lr"]
    lines = []
    wd = group.get("weight_decay", 0.0)
    gd = g
    if group.get("maximize"):  # ascend: the rule runs on the negated gradient
        gd = -g
        lines.append(("g", f"-grad (maximize) = -({fmt(g)})", gd))
    if wd and not isinstance(opt, AdamW):
        lines.append(
            (
                "g",
                f"{'-grad' if group.get('maximize') else 'grad'} + weight_decay * w = {fmt(gd)} + {wd:g} * {fmt(w0)}",
                gd + wd * w0,
            )
        )
        gd = gd + wd * w0
    if isinstance(opt, SGD):
        mom = group["momentum"]
        if mom:
            b0 = _v(before, "momentum_buffer")
            b1 = _v(after, "momentum_buffer")
            if b0 is None:
                lines.append(("v", "g (first step)", b1))
            else:
                lines.append(
                    (
                        "v",
                        f"momentum * v + (1 - dampening) * g = {mom:g} * {fmt(b0)} + "
                        f"{1 - group['dampening']:g} * {fmt(gd)}",
                        b1,
                    )
                )
            step = gd + mom * b1 if group["nesterov"] else b1
            if group["nesterov"]:
                lines.append(("d", f"g + momentum * v = {fmt(gd)} + {mom:g} * {fmt(b1)}", step))
        else:
            step = gd
        lines.append(
            (
                "update",
                f"lr * {'d' if mom and group['nesterov'] else 'v' if mom else 'g'} = {lr:g} * {fmt(step)}",
                lr * step,
            )
        )
    elif isinstance(opt, Adam):
        b1, b2 = group["betas"]
        t = after["step"]
        if isinstance(opt, AdamW) and wd:
            lines.append(("w", f"w * (1 - lr * weight_decay) = {fmt(w0)} * (1 - {lr:g} * {wd:g})", w0 * (1 - lr * wd)))
        m0, v0 = _v(before, "exp_avg") or 0.0, _v(before, "exp_avg_sq") or 0.0
        m1, v1 = _v(after, "exp_avg"), _v(after, "exp_avg_sq")
        lines.append(("t", "step count", t))
        lines.append(("m", f"beta1 * m + (1 - beta1) * g = {b1:g} * {fmt(m0)} + {1 - b1:g} * {fmt(gd)}", m1))
        lines.append(("v", f"beta2 * v + (1 - beta2) * g^2 = {b2:g} * {fmt(v0)} + {1 - b2:g} * ({fmt(gd)})^2", v1))
        mh, vh = m1 / (1 - b1**t), (_v(after, "max_exp_avg_sq") if group["amsgrad"] else v1) / (1 - b2**t)
        lines.append(("m_hat", f"m / (1 - beta1^t) = {fmt(m1)} / (1 - {b1:g}^{t})", mh))
        lines.append(
            (
                "v_hat",
                f"v / (1 - beta2^t) = {fmt(v1 if not group['amsgrad'] else _v(after, 'max_exp_avg_sq'))}"
                f" / (1 - {b2:g}^{t})",
                vh,
            )
        )
        lines.append(
            (
                "update",
                f"lr * m_hat / (sqrt(v_hat) + eps) = {lr:g} * {fmt(mh)} / (sqrt({fmt(vh)}) + {group['eps']:g})",
                lr * mh / (math.sqrt(vh) + group["eps"]),
            )
        )
    elif isinstance(opt, Adagrad):
        s0, s1 = _v(before, "sum") or group["initial_accumulator_value"], _v(after, "sum")
        t = after["step"]
        clr = lr / (1 + (t - 1) * group["lr_decay"])
        lines.append(("G", f"G + g^2 = {fmt(s0)} + ({fmt(gd)})^2", s1))
        lines.append(
            (
                "update",
                f"lr * g / (sqrt(G) + eps) = {clr:g} * {fmt(gd)} / (sqrt({fmt(s1)}) + {group['eps']:g})",
                clr * gd / (math.sqrt(s1) + group["eps"]),
            )
        )
    elif isinstance(opt, RMSprop):
        a = group["alpha"]
        s0, s1 = _v(before, "square_avg") or 0.0, _v(after, "square_avg")
        lines.append(("s", f"alpha * s + (1 - alpha) * g^2 = {a:g} * {fmt(s0)} + {1 - a:g} * ({fmt(gd)})^2", s1))
        lines.append(("update", "w_before - w_after", w0 - new))
    lines.append(("new " + "w", f"{fmt(w0)} - {fmt(w0 - new)}", new))
    return lines
