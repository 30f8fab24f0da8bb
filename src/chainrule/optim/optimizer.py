"""Optimizer base class and the update rules: SGD (momentum, Nesterov), Adagrad, RMSprop, Adam, AdamW.

Each rule follows PyTorch's definition exactly (same hyper-parameter names and
defaults), so trajectories agree to rounding. Every optimizer has two versions
of its rule: a readable reference rule (``chainrule.optim.reference``, PyTorch's
formulas and state names, used by ``explain_step``) and the fast kernel below,
which is what ``step()`` runs; a test checks that both give the same trajectory.
Updates are done in place on the parameters' arrays with per-parameter state
buffers allocated once, so a step allocates (almost) nothing. Plain SGD and the Adam family update a large
parameter slice by slice (``_CHUNK`` elements at a time), so that the
temporaries of one update stay in the CPU cache instead of streaming the whole
parameter through memory once per arithmetic operation: the same operations in
the same order, so the same numbers.
"""

from __future__ import annotations

import math

import numpy as np

from .. import checks
from ..autograd import mark_modified
from ..errors import ArgumentError, ArgumentTypeError, ChainruleError, SerializationError, ShapeError
from ..tensor import Tensor, as_tensor
from . import reference

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "clip_grad_norm_", "clip_grad_value_"]

#: Elements per slice of a sliced update: the slices of the five or six arrays one Adam update
#: touches (128 KiB each in float32) stay in a core's L2 cache between its arithmetic passes.
_CHUNK = 32768


# Ranges of hyper-parameters, as (low, high, low_open, high_open) for checks.real.
NON_NEGATIVE = (0.0, math.inf, False, False)
UNIT = (0.0, 1.0, False, False)


class Optimizer:
    """Holds parameter groups and per-parameter state; subclasses define ``_update``.

    ``params`` is an iterable of tensors, or of dicts ``{"params": [...], "lr": ...}``
    giving groups their own hyper-parameters.

    ``reference_rule`` is the readable version of the update (a function of
    :mod:`chainrule.optim.reference`, or None for an optimizer without one):
    ``reference_step`` runs it on plain arrays.
    """

    reference_rule = None

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}
        self._scratch: dict = {}  # (dtype, k) -> a scratch vector of _CHUNK elements, shared by all parameters
        params = list(params)
        if not params:
            raise ArgumentError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for g in params:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in ps:
            if not isinstance(p, Tensor):
                raise ArgumentTypeError(f"{type(self).__name__}: parameters must be Tensors, got {type(p).__name__}")
            if not p.requires_grad:
                raise ArgumentError(
                    f"{type(self).__name__}: parameter {p.name or ''} of shape {p.shape} does not require grad"
                )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in ps):
            raise ArgumentError(f"{type(self).__name__}: a parameter appears in more than one group")
        group["params"] = ps
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check_group(group)
        self.param_groups.append(group)

    # The accepted range of each hyper-parameter, checked for every parameter group as it is added:
    # name -> (low, high, low_open, high_open); an infinite bound is open.
    hyper_ranges: dict = {"lr": NON_NEGATIVE}

    def _check_group(self, group: dict) -> None:
        owner = type(self).__name__
        for name, bounds in self.hyper_ranges.items():
            if name in group:
                checks.real(owner, name, group[name], *bounds)
        if "betas" in group:
            betas = group["betas"]
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise ArgumentTypeError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
            for k, b in enumerate(betas):
                checks.real(owner, f"betas[{k}]", b, 0.0, 1.0, high_open=True)
            group["betas"] = tuple(betas)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter (set them to None)."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad = as_tensor(np.zeros_like(p.data))

    def step(self, closure=None):
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            from .. import enable_grad  # the package's public mode switch

            with enable_grad():
                loss = closure()
        updated = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = {}
                g = p.grad.data
                if g.shape != p.data.shape:
                    raise ShapeError(
                        f"{type(self).__name__}.step: parameter {p.name or ''} has shape {p.data.shape} but its "
                        f".grad has shape {g.shape}; a gradient must have its parameter's shape"
                    )
                self._update(p, p.data, g, st, group)
                updated.append(p)
        mark_modified(updated)  # a graph recorded before this step is now stale for these parameters
        return loss

    def _update(self, p, w: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    def _sliced(self, kernel, arrays, state: dict, n_scratch: int, *consts) -> None:
        """``kernel(*array_slices, *scratch, *consts)`` over aligned slices of ``arrays`` (``arrays[0]`` is
        the parameter; None entries stay None), each slice at most ``_CHUNK`` elements."""
        w = arrays[0]
        n = w.size
        if n <= _CHUNK:  # one slice: the parameter's own scratch arrays (small; no slicing overhead)
            t = state.get("tmp")
            if t is None:
                t = state["tmp"] = np.empty_like(w)
            if n_scratch == 1:
                kernel(*arrays, t, *consts)
            else:
                kernel(*arrays, t, _buf(state, "tmp2", w), *consts)
            return
        key = w.dtype
        scratch = []
        for k in range(n_scratch):
            buf = self._scratch.get((key, k))
            if buf is None:
                buf = self._scratch[(key, k)] = np.empty(_CHUNK, key)
            scratch.append(buf)
        if not all(a is None or (a.flags.c_contiguous and a.dtype == key) for a in arrays):
            kernel(*arrays, *[np.empty_like(w) for _ in scratch], *consts)  # unusual layouts: whole arrays
            return
        flat = [None if a is None else a.reshape(-1) for a in arrays]
        for start in range(0, n, _CHUNK):
            end = min(start + _CHUNK, n)
            m = end - start
            kernel(*[None if f is None else f[start:end] for f in flat], *[b[:m] for b in scratch], *consts)

    def _public_state(self, state: dict, group: dict) -> dict:
        """The state of one parameter under PyTorch's names and meanings (copies)."""
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items() if k not in self._SCRATCH}

    def _export_state(self, state: dict, group: dict) -> dict:
        """The state of one parameter as state_dict() saves it: the public state, plus whatever a
        subclass needs to resume bit for bit."""
        return self._public_state(state, group)

    def _import_state(self, state: dict, group: dict) -> dict:
        """Inverse of _export_state."""
        return dict(state)

    def group_of(self, p) -> dict:
        """The parameter group that holds ``p``."""
        group = next((g for g in self.param_groups if any(q is p for q in g["params"])), None)
        if group is None:
            raise ArgumentError(f"{type(self).__name__}: the parameter {p.name or ''} is not in this optimizer")
        return group

    def public_state(self, p) -> dict:
        """The optimizer's state for parameter ``p`` under PyTorch's names (exp_avg, momentum_buffer, ...)."""
        group = self.group_of(p)
        st = self.state.get(p)
        return self._public_state(st, group) if st else {}

    def hyperparameters(self, group: int = 0) -> dict:
        """The settings of parameter group ``group`` (lr, weight_decay, ...), without its parameters.

        As in PyTorch, a learning-rate schedule records the lr it started from as ``initial_lr``.
        """
        return {k: v for k, v in self.param_groups[group].items() if k != "params"}

    def reference_step(self, value: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> tuple[np.ndarray, dict]:
        """One step of the reference rule on plain arrays: ``(new value, new state)``; nothing is changed.

        ``state`` is a parameter's state as :meth:`public_state` gives it (empty before the first
        step), ``group`` its parameter group (for the hyper-parameters).
        """
        rule = self.reference_rule
        if rule is None:
            raise ChainruleError(
                f"{type(self).__name__} has no reference rule; set reference_rule to a function "
                "(param, grad, state, **hyper-parameters) -> (new param, new state)"
            )
        return rule(value, grad, state, **{k: group[k] for k in self.defaults})

    # ------------------------------------------------------------------ state
    _SCRATCH = ("tmp", "tmp2")

    def state_dict(self) -> dict:
        """``{"state": {index: {name: array or number}}, "param_groups": [...]}`` (parameters by index)."""
        index = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[index[id(p)]] = self._export_state(self.state[p], g)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by ``state_dict``; checks that it fits."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise SerializationError(
                f"{type(self).__name__}.load_state_dict: {len(groups)} parameter groups saved, "
                f"{len(self.param_groups)} here"
            )
        params = []
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = tuple(v) if isinstance(v, list) else v
            if len(saved["params"]) != len(own["params"]):
                raise SerializationError(
                    f"{type(self).__name__}.load_state_dict: a group has {len(saved['params'])} parameters "
                    f"saved but {len(own['params'])} here"
                )
            params.extend((i, p, own) for i, p in zip(saved["params"], own["params"]))
        new_state = {}
        raw = {int(k): v for k, v in state_dict["state"].items()}
        for idx, p, group in params:
            if idx in raw:
                st = {}
                for k, v in raw[idx].items():
                    if k == "step":
                        st[k] = int(v)
                    elif isinstance(v, np.ndarray) and (v.ndim > 0 or p.ndim == 0):
                        if v.shape != p.shape:
                            raise SerializationError(
                                f"{type(self).__name__}.load_state_dict: state '{k}' of parameter {idx} has "
                                f"shape {v.shape}, the parameter {p.shape}"
                            )
                        st[k] = np.array(v, dtype=p.data.dtype, copy=True)
                    else:
                        st[k] = v.item() if isinstance(v, np.ndarray) else v
                new_state[p] = self._import_state(st, group)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"


def _buf(state: dict, key: str, w: np.ndarray, fill: float = 0.0) -> np.ndarray:
    b = state.get(key)
    if b is None:
        b = state[key] = np.full_like(w, fill)
    return b


def _decayed(g, w, wd, state):
    """g + wd * w, in a scratch buffer (the gradient itself is never modified)."""
    if not wd:
        return g
    t = _buf(state, "tmp2", w)
    np.multiply(w, wd, out=t)
    t += g
    return t


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (heavy-ball or Nesterov) and weight decay.

    v <- momentum * v + (1 - dampening) * g;  w <- w - lr * (g + momentum * v if nesterov else v)
    """

    reference_rule = staticmethod(reference.sgd)

    hyper_ranges = {
        "lr": NON_NEGATIVE,
        "momentum": UNIT,
        "dampening": UNIT,
        "weight_decay": NON_NEGATIVE,
    }

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
            ),
        )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ArgumentError(
                f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got momentum={momentum}, "
                f"dampening={dampening}"
            )

    def _update(self, p, w, g, state, group):
        lr, mom = group["lr"], group["momentum"]
        if not mom and not group["weight_decay"] and not group["maximize"]:  # plain SGD: w -= lr * g
            if w.size <= _CHUNK:  # small: inline, the overhead counts for tiny networks
                t = state.get("tmp")
                if t is None:
                    t = state["tmp"] = np.empty_like(w)
                np.multiply(g, lr, out=t)
                w -= t
            else:
                self._sliced(_sgd_slice, (w, g), state, 1, lr)
            return
        if group["maximize"]:
            g = -g
        g = _decayed(g, w, group["weight_decay"], state)
        if mom:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, copy=True)
            else:
                buf *= mom
                damp = 1 - group["dampening"]
                if damp == 1:
                    buf += g
                else:
                    t = _buf(state, "tmp", w)
                    np.multiply(g, damp, out=t)
                    buf += t
            if group["nesterov"]:
                t = _buf(state, "tmp", w)
                np.multiply(buf, mom, out=t)
                t += g
                g = t
            else:
                g = buf
        t = _buf(state, "tmp", w) if g is not state.get("tmp") else g
        np.multiply(g, lr, out=t)
        w -= t


class Adagrad(Optimizer):
    """Adagrad: per-coordinate steps lr / sqrt(sum of squared gradients)."""

    reference_rule = staticmethod(reference.adagrad)

    hyper_ranges = {
        "lr": NON_NEGATIVE,
        "lr_decay": NON_NEGATIVE,
        "weight_decay": NON_NEGATIVE,
        "initial_accumulator_value": NON_NEGATIVE,
        "eps": NON_NEGATIVE,
    }

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                eps=eps,
                initial_accumulator_value=initial_accumulator_value,
            ),
        )

    def _update(self, p, w, g, state, group):
        step = state["step"] = state.get("step", 0) + 1
        acc = _buf(state, "sum", w, group["initial_accumulator_value"])
        g = _decayed(g, w, group["weight_decay"], state)
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        t = _buf(state, "tmp", w)
        np.multiply(g, g, out=t)
        acc += t
        np.sqrt(acc, out=t)
        t += group["eps"]
        np.divide(g, t, out=t)
        t *= clr
        w -= t


class RMSprop(Optimizer):
    """RMSprop: divide by a running root-mean-square of the gradients (optionally centred, with momentum)."""

    reference_rule = staticmethod(reference.rmsprop)

    hyper_ranges = {
        "lr": NON_NEGATIVE,
        "alpha": UNIT,
        "eps": NON_NEGATIVE,
        "weight_decay": NON_NEGATIVE,
        "momentum": UNIT,
    }

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        super().__init__(
            params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        )

    def _update(self, p, w, g, state, group):
        state["step"] = state.get("step", 0) + 1
        alpha, eps = group["alpha"], group["eps"]
        g = _decayed(g, w, group["weight_decay"], state)
        sq = _buf(state, "square_avg", w)
        t = _buf(state, "tmp", w)
        sq *= alpha
        np.multiply(g, g, out=t)
        t *= 1 - alpha
        sq += t
        if group["centered"]:
            ga = _buf(state, "grad_avg", w)
            ga *= alpha
            np.multiply(g, 1 - alpha, out=t)
            ga += t
            np.multiply(ga, ga, out=t)
            np.subtract(sq, t, out=t)
            np.sqrt(t, out=t)
        else:
            np.sqrt(sq, out=t)
        t += eps
        np.divide(g, t, out=t)
        if group["momentum"] > 0:
            buf = _buf(state, "momentum_buffer", w)
            buf *= group["momentum"]
            buf += t
            np.multiply(buf, group["lr"], out=t)
        else:
            t *= group["lr"]
        w -= t


class Adam(Optimizer):
    """Adam (Kingma & Ba): moving averages of the gradient and its square, bias-corrected.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    w <- w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    _decoupled = False
    reference_rule = staticmethod(reference.adam)

    hyper_ranges = {
        "lr": NON_NEGATIVE,
        "eps": NON_NEGATIVE,
        "weight_decay": NON_NEGATIVE,
    }

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def _update(self, p, w, g, state, group):
        # The moments are kept scaled, M = m / (1 - b1) and V = v / (1 - b2), so that each update is
        # M <- b1 M + g and V <- b2 V + g^2 (no multiply by 1 - b), and every constant of the step
        # folds into one scalar: 10 passes over the parameter instead of 13, same numbers.
        # state_dict() exports PyTorch's exp_avg = m and exp_avg_sq = v.
        b1, b2 = group["betas"]
        lr, wd = group["lr"], group["weight_decay"]
        step = state["step"] = state.get("step", 0) + 1
        M = state.get("M")
        if M is None:
            M = state["M"] = np.zeros_like(w)
            state["V"] = np.zeros_like(w)
        V = state["V"]
        vmax = _buf(state, "Vmax", w) if group["amsgrad"] else None
        decay = 1 - lr * wd if (self._decoupled and wd) else None
        l2 = wd if (wd and not self._decoupled) else 0.0
        bc1 = 1 - b1**step
        k = math.sqrt((1 - b2**step) / (1 - b2))  # sqrt(v_hat) = sqrt(V) / k
        self._sliced(
            _adam_slice, (w, g, M, V, vmax), state, 2, b1, b2, decay, l2, group["eps"] * k, lr * (1 - b1) * k / bc1
        )

    def _public_state(self, state, group):
        # PyTorch's exp_avg = m = (1 - b1) M, exp_avg_sq = v = (1 - b2) V, max_exp_avg_sq likewise
        b1, b2 = group["betas"]
        out = {"step": state["step"]}
        if "M" in state:
            out["exp_avg"] = state["M"] * np.asarray(1 - b1, state["M"].dtype)
            out["exp_avg_sq"] = state["V"] * np.asarray(1 - b2, state["V"].dtype)
        if "Vmax" in state:
            out["max_exp_avg_sq"] = state["Vmax"] * np.asarray(1 - b2, state["Vmax"].dtype)
        return out

    def _export_state(self, state, group):
        # PyTorch's exp_avg / exp_avg_sq for reading, plus the exact scaled arrays M / V so that a
        # checkpoint resumes bit for bit (rescaling in floating point would round).
        out = {"step": state["step"]}
        for k in ("M", "V", "Vmax"):
            if k in state:
                out[k] = state[k].copy()
        out.update(self._public_state(state, group))
        return out

    def _import_state(self, state, group):
        b1, b2 = group["betas"]
        out = {"step": int(state["step"])}
        if "M" in state:
            out.update({k: np.array(state[k], copy=True) for k in ("M", "V", "Vmax") if k in state})
            return out
        if "exp_avg" in state:
            out["M"] = state["exp_avg"] / np.asarray(1 - b1, state["exp_avg"].dtype)
            out["V"] = state["exp_avg_sq"] / np.asarray(1 - b2, state["exp_avg_sq"].dtype)
        if "max_exp_avg_sq" in state:
            out["Vmax"] = state["max_exp_avg_sq"] / np.asarray(1 - b2, state["max_exp_avg_sq"].dtype)
        return out


def _sgd_slice(w, g, t, lr):
    np.multiply(g, lr, out=t)
    w -= t


def _adam_slice(w, g, M, V, vmax, t, t2, b1, b2, decay, l2, eps_k, scale):
    if decay is not None:  # AdamW: decoupled weight decay
        w *= decay
    if l2:  # Adam's L2 penalty: g + wd * w (the gradient itself is never modified)
        np.multiply(w, l2, out=t2)
        t2 += g
        g = t2
    M *= b1
    M += g
    V *= b2
    np.multiply(g, g, out=t)
    V += t
    if vmax is not None:
        np.maximum(vmax, V, out=vmax)
        V = vmax
    np.sqrt(V, out=t)
    t += eps_k
    np.divide(M, t, out=t)
    t *= scale
    w -= t


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): w <- w (1 - lr wd) before the Adam step."""

    _decoupled = True
    reference_rule = staticmethod(reference.adamw)

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


def clip_grad_norm_(
    parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None
) -> float:
    """Scale all gradients together so that their joint norm is at most ``max_norm``; return the norm before.

    The gradient arrays are replaced by scaled copies (never modified in place,
    since a gradient array may be shared by two tensors). ``error_if_nonfinite`` raises when the
    norm is NaN or infinite (PyTorch's option); ``foreach`` is accepted and ignored.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    ps = [p for p in parameters if p.grad is not None]
    if not ps:
        return 0.0
    norm_type = float(norm_type)
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(p.grad.data))) if p.grad.data.size else 0.0 for p in ps)
    else:
        total = float(
            sum(float(np.sum(np.abs(p.grad.data, dtype=np.float64) ** norm_type)) for p in ps) ** (1.0 / norm_type)
        )
    if error_if_nonfinite and not math.isfinite(total):
        raise ArgumentError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, so they cannot be "
            "clipped; set error_if_nonfinite=False to clip anyway"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for p in ps:
            p.grad = as_tensor(p.grad.data * np.asarray(coef, p.grad.data.dtype))
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clip every gradient element to [-clip_value, clip_value] (PyTorch's ``clip_grad_value_``).

    As with ``clip_grad_norm_``, the gradient arrays are replaced by clipped copies, never
    changed in place. ``foreach`` is accepted and ignored.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    c = float(clip_value)
    for p in parameters:
        g = p.grad
        if g is not None:
            a = g.data
            p.grad = as_tensor(np.clip(a, np.asarray(-c, a.dtype), np.asarray(c, a.dtype)))
