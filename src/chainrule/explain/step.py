"""explain_step: what one optimizer step does to one parameter element, with numbers.

The numbers come from the optimizer's reference rule (``chainrule.optim.reference``:
PyTorch's formulas and state names) run on one element of the parameter, its
gradient and its public state, so they are the ones the real step produces (a test
checks that the reference rules and the fast kernels give the same trajectories).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ChainruleError, IndexOutOfRangeError
from ..optim import reference
from ..optim.optimizer import Optimizer
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

    def to_html(self) -> str:
        """The lines as an HTML table (name, expression, value)."""
        from ..notebook import step_html

        return step_html(self)

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"<StepExplanation: {self.title}; new value {fmt(self.new_value)}>"


def explain_step(optimizer: Optimizer, param, index=0) -> StepExplanation:
    """Explain the update the next ``optimizer.step()`` will make to ``param[index]``.

    Nothing is changed: the optimizer's reference rule is run on a one-element
    copy of the parameter, its gradient and its optimizer state, so the numbers
    are the ones the real step will produce.
    """
    if param.grad is None:
        raise ChainruleError("explain_step: the parameter has no gradient yet; call backward() first")
    group = next((g for g in optimizer.param_groups if any(p is param for p in g["params"])), None)
    if group is None:
        raise ChainruleError("explain_step: the parameter is not in this optimizer")
    if optimizer.reference_rule is None:
        raise ChainruleError(
            f"explain_step: {type(optimizer).__name__} has no reference rule to explain its step with; give the "
            "class a reference_rule (param, grad, state, **hyper-parameters) -> (new param, new state)"
        )
    index = _element(param, index)
    w0 = float(param.data[index])
    g = float(param.grad.data[index])
    before = {k: _one(v, index, param.shape) for k, v in optimizer.public_state(param).items()}
    w1, after = optimizer.reference_step(np.array([w0]), np.array([g]), before, group)
    new = float(w1[0])
    name = param.name or "w"
    explain_rule = _EXPLAINED.get(optimizer.reference_rule, _state_lines)
    lines = [(name, "", w0), ("g", "the gradient", g)]
    lines += explain_rule(group, g, w0, before, after, new)
    lines.append(("new w", f"{fmt(w0)} - {fmt(w0 - new)}", new))
    title = (
        f"{type(optimizer).__name__} step for {name}{list(map(int, np.atleast_1d(index))) if param.ndim else ''}"
        f" (lr {group['lr']:g})"
    )
    return StepExplanation(title, lines, new)


def _element(param, index) -> tuple:
    """``index`` (flat or one index per axis) as a tuple naming one element of ``param``."""
    if param.ndim == 0:
        return ()  # the one element of a scalar parameter
    if isinstance(index, (int, np.integer)):
        if not -param.data.size <= index < param.data.size:
            raise IndexOutOfRangeError(
                f"explain_step: element {index} is out of range for a parameter of shape {param.shape}"
            )
        return np.unravel_index(int(index) % param.data.size, param.shape)
    index = tuple(index)
    if len(index) != param.ndim or not all(-n <= i < n for i, n in zip(index, param.shape)):
        raise IndexOutOfRangeError(
            f"explain_step: index {index} does not name one element of a parameter of shape {param.shape}"
        )
    return index


def _one(value, index, shape):
    """One element of a per-parameter state array (as a float64 array of one element); numbers as they are."""
    if isinstance(value, np.ndarray) and value.shape == shape:
        return np.array([value[index]], dtype=np.float64)
    return value


def _v(state, key, default=None):
    v = state.get(key)
    if v is None:
        return default
    return float(np.asarray(v).reshape(-1)[0]) if isinstance(v, np.ndarray) else v


def _gradient_lines(group, g, w0, coupled_decay=True):
    """The gradient the rule works with: negated to ascend (maximize), plus an L2 term (weight decay)."""
    lines = []
    gd = g
    if group.get("maximize"):  # ascend: the rule runs on the negated gradient
        gd = -g
        lines.append(("g", f"-grad (maximize) = -({fmt(g)})", gd))
    wd = group.get("weight_decay", 0.0)
    if wd and coupled_decay:
        expr = f"{'-grad' if group.get('maximize') else 'grad'} + weight_decay * w = {fmt(gd)} + {wd:g} * {fmt(w0)}"
        gd = gd + wd * w0
        lines.append(("g", expr, gd))
    return lines, gd


def _sgd_lines(group, g, w0, before, after, new):
    lines, gd = _gradient_lines(group, g, w0)
    lr, mom = group["lr"], group["momentum"]
    if not mom:
        return lines + [("update", f"lr * g = {lr:g} * {fmt(gd)}", lr * gd)]
    b0, b1 = _v(before, "momentum_buffer"), _v(after, "momentum_buffer")
    if b0 is None:
        lines.append(("v", "g (first step)", b1))
    else:
        expr = f"momentum * v + (1 - dampening) * g = {mom:g} * {fmt(b0)} + {1 - group['dampening']:g} * {fmt(gd)}"
        lines.append(("v", expr, b1))
    if not group["nesterov"]:
        return lines + [("update", f"lr * v = {lr:g} * {fmt(b1)}", lr * b1)]
    d = gd + mom * b1
    lines.append(("d", f"g + momentum * v = {fmt(gd)} + {mom:g} * {fmt(b1)}", d))
    return lines + [("update", f"lr * d = {lr:g} * {fmt(d)}", lr * d)]


def _adam_lines(group, g, w0, before, after, new, decoupled=False):
    lr, wd, (b1, b2), eps = group["lr"], group["weight_decay"], group["betas"], group["eps"]
    lines, gd = _gradient_lines(group, g, w0, coupled_decay=not decoupled)
    if decoupled and wd:
        lines.append(("w", f"w * (1 - lr * weight_decay) = {fmt(w0)} * (1 - {lr:g} * {wd:g})", w0 * (1 - lr * wd)))
    t = after["step"]
    m0, v0 = _v(before, "exp_avg", 0.0), _v(before, "exp_avg_sq", 0.0)
    m1, v1 = _v(after, "exp_avg"), _v(after, "exp_avg_sq")
    lines.append(("t", "step count", t))
    lines.append(("m", f"beta1 * m + (1 - beta1) * g = {b1:g} * {fmt(m0)} + {1 - b1:g} * {fmt(gd)}", m1))
    lines.append(("v", f"beta2 * v + (1 - beta2) * g^2 = {b2:g} * {fmt(v0)} + {1 - b2:g} * ({fmt(gd)})^2", v1))
    if group["amsgrad"]:
        vmax0, v1 = _v(before, "max_exp_avg_sq", 0.0), _v(after, "max_exp_avg_sq")
        lines.append(("v_max", f"max(v_max, v) = max({fmt(vmax0)}, {fmt(_v(after, 'exp_avg_sq'))})", v1))
    mh, vh = m1 / (1 - b1**t), v1 / (1 - b2**t)
    lines.append(("m_hat", f"m / (1 - beta1^t) = {fmt(m1)} / (1 - {b1:g}^{t})", mh))
    v_name = "v_max" if group["amsgrad"] else "v"
    lines.append(("v_hat", f"{v_name} / (1 - beta2^t) = {fmt(v1)} / (1 - {b2:g}^{t})", vh))
    expr = f"lr * m_hat / (sqrt(v_hat) + eps) = {lr:g} * {fmt(mh)} / (sqrt({fmt(vh)}) + {eps:g})"
    return lines + [("update", expr, lr * mh / (math.sqrt(vh) + eps))]


def _adamw_lines(group, g, w0, before, after, new):
    return _adam_lines(group, g, w0, before, after, new, decoupled=True)


def _adagrad_lines(group, g, w0, before, after, new):
    lines, gd = _gradient_lines(group, g, w0)
    lr, eps = group["lr"], group["eps"]
    s0, s1 = _v(before, "sum", group["initial_accumulator_value"]), _v(after, "sum")
    clr = lr / (1 + (after["step"] - 1) * group["lr_decay"])
    if group["lr_decay"]:
        expr = f"lr / (1 + (t - 1) * lr_decay) = {lr:g} / (1 + {after['step'] - 1} * {group['lr_decay']:g})"
        lines.append(("lr~", expr, clr))
    lines.append(("G", f"G + g^2 = {fmt(s0)} + ({fmt(gd)})^2", s1))
    expr = f"lr * g / (sqrt(G) + eps) = {clr:g} * {fmt(gd)} / (sqrt({fmt(s1)}) + {eps:g})"
    return lines + [("update", expr, clr * gd / (math.sqrt(s1) + eps))]


def _rmsprop_lines(group, g, w0, before, after, new):
    lines, gd = _gradient_lines(group, g, w0)
    lr, a, eps, mom = group["lr"], group["alpha"], group["eps"], group["momentum"]
    s0, s1 = _v(before, "square_avg", 0.0), _v(after, "square_avg")
    lines.append(("s", f"alpha * s + (1 - alpha) * g^2 = {a:g} * {fmt(s0)} + {1 - a:g} * ({fmt(gd)})^2", s1))
    s_t, s_name = s1, "s"
    if group["centered"]:
        ga0, ga1 = _v(before, "grad_avg", 0.0), _v(after, "grad_avg")
        lines.append(("g_avg", f"alpha * g_avg + (1 - alpha) * g = {a:g} * {fmt(ga0)} + {1 - a:g} * {fmt(gd)}", ga1))
        s_t, s_name = s1 - ga1 * ga1, "s~"
        lines.append(("s~", f"s - g_avg^2 = {fmt(s1)} - ({fmt(ga1)})^2", s_t))
    scaled = f"{fmt(gd)} / (sqrt({fmt(s_t)}) + {eps:g})"
    if mom > 0:
        b0, b1 = _v(before, "momentum_buffer", 0.0), _v(after, "momentum_buffer")
        lines.append(("b", f"momentum * b + g / (sqrt({s_name}) + eps) = {mom:g} * {fmt(b0)} + {scaled}", b1))
        return lines + [("update", f"lr * b = {lr:g} * {fmt(b1)}", lr * b1)]
    expr = f"lr * g / (sqrt({s_name}) + eps) = {lr:g} * {scaled}"
    return lines + [("update", expr, lr * gd / (math.sqrt(s_t) + eps))]


def _state_lines(group, g, w0, before, after, new):
    """An optimizer whose rule has no written-out explanation: its state after the step, and the update."""
    lines = [(k, f"was {fmt(_v(before, k))}, now" if k in before else "", _v(after, k)) for k in after]
    return lines + [("update", "w_before - w_after", w0 - new)]


# each reference rule's explanation (a rule not listed here gets _state_lines)
_EXPLAINED = {
    reference.sgd: _sgd_lines,
    reference.adam: _adam_lines,
    reference.adamw: _adamw_lines,
    reference.adagrad: _adagrad_lines,
    reference.rmsprop: _rmsprop_lines,
}
