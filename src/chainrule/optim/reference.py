"""The optimizers' reference rules: each update written as PyTorch's documentation writes it.

One function per algorithm, line for line the pseudo-code of ``torch.optim``'s
documentation, with PyTorch's names for the state (``momentum_buffer``, ``sum``,
``square_avg``, ``grad_avg``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``,
``step``). A rule takes plain NumPy arrays (the parameter, its gradient) and the
parameter's state (a dict, empty before the first step), changes none of them,
and returns the new parameter and the new state.

These are for reading and for explaining (``cr.explain.explain_step`` runs them);
training runs the optimizers' fast kernels (in place, slice by slice, with
constants folded), and ``tests/test_optim.py`` checks that both give the same
trajectory.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sgd", "adagrad", "rmsprop", "adam", "adamw"]


def sgd(param, grad, state, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    """SGD: g <- -grad if maximize; g <- g + weight_decay * w; b <- momentum * b + (1 - dampening) * g
    (b <- g on the first step); g <- g + momentum * b if nesterov else b; w <- w - lr * g."""
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    new_state = {}
    if momentum != 0:
        if state.get("momentum_buffer") is not None:  # t > 1
            b = momentum * state["momentum_buffer"] + (1 - dampening) * g
        else:
            b = g.copy()
        new_state["momentum_buffer"] = b
        g = g + momentum * b if nesterov else b
    return param - lr * g, new_state


def adagrad(param, grad, state, *, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    """Adagrad: lr~ <- lr / (1 + (t - 1) lr_decay); g <- g + weight_decay * w; sum <- sum + g^2;
    w <- w - lr~ * g / (sqrt(sum) + eps), with sum starting at initial_accumulator_value."""
    t = state.get("step", 0) + 1
    state_sum = state.get("sum", np.full_like(param, initial_accumulator_value))
    g = grad
    clr = lr / (1 + (t - 1) * lr_decay)
    if weight_decay != 0:
        g = g + weight_decay * param
    state_sum = state_sum + g * g
    return param - clr * g / (np.sqrt(state_sum) + eps), {"step": t, "sum": state_sum}


def rmsprop(param, grad, state, *, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    """RMSprop: g <- g + weight_decay * w; v <- alpha v + (1 - alpha) g^2; v~ <- v;
    if centered: g_ave <- alpha g_ave + (1 - alpha) g, v~ <- v~ - g_ave^2;
    if momentum > 0: b <- momentum b + g / (sqrt(v~) + eps), w <- w - lr b; else w <- w - lr g / (sqrt(v~) + eps)."""
    zeros = np.zeros_like(param)
    new_state = {"step": state.get("step", 0) + 1}
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    v = alpha * state.get("square_avg", zeros) + (1 - alpha) * g * g
    new_state["square_avg"] = v
    v_tilde = v
    if centered:
        g_ave = state.get("grad_avg", zeros) * alpha + (1 - alpha) * g
        new_state["grad_avg"] = g_ave
        v_tilde = v_tilde - g_ave * g_ave
    if momentum > 0:
        b = momentum * state.get("momentum_buffer", zeros) + g / (np.sqrt(v_tilde) + eps)
        new_state["momentum_buffer"] = b
        return param - lr * b, new_state
    return param - lr * g / (np.sqrt(v_tilde) + eps), new_state


def adam(param, grad, state, *, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    """Adam: g <- g + weight_decay * w; m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
    m^ <- m / (1 - b1^t); v^ <- v / (1 - b2^t) (amsgrad: v_max <- max(v_max, v), v^ <- v_max / (1 - b2^t));
    w <- w - lr m^ / (sqrt(v^) + eps)."""
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    return _adam_moments(param, g, state, lr, betas, eps, amsgrad)


def adamw(param, grad, state, *, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
    """AdamW: w <- w - lr weight_decay w (decoupled weight decay), then Adam's step without the L2 term."""
    param = param - lr * weight_decay * param
    return _adam_moments(param, grad, state, lr, betas, eps, amsgrad)


def _adam_moments(param, g, state, lr, betas, eps, amsgrad):
    """The part Adam and AdamW share: the moments, their bias corrections and the step."""
    beta1, beta2 = betas
    zeros = np.zeros_like(param)
    t = state.get("step", 0) + 1
    m = beta1 * state.get("exp_avg", zeros) + (1 - beta1) * g
    v = beta2 * state.get("exp_avg_sq", zeros) + (1 - beta2) * g * g
    new_state = {"step": t, "exp_avg": m, "exp_avg_sq": v}
    m_hat = m / (1 - beta1**t)
    if amsgrad:
        v_max = np.maximum(state.get("max_exp_avg_sq", zeros), v)
        new_state["max_exp_avg_sq"] = v_max
        v_hat = v_max / (1 - beta2**t)
    else:
        v_hat = v / (1 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), new_state
