"""L-BFGS: PyTorch's algorithm (after minFunc), with its optional strong-Wolfe line search.

Line for line the algorithm of ``torch.optim.LBFGS``: the two-loop recursion over the last
``history_size`` curvature pairs, the first step scaled by min(1, 1 / |g|_1), PyTorch's stopping
rules, and the same cubic-interpolating strong-Wolfe search (``line_search_fn="strong_wolfe"``).
All parameters are handled as one flat vector; the scalars of the recursion have the parameters'
dtype, as PyTorch's 0-d tensors do, so float64 trajectories agree with PyTorch's to rounding.
"""

from __future__ import annotations

import numpy as np

from .. import checks
from ..autograd import mark_modified
from ..errors import ArgumentError, ArgumentTypeError, SerializationError
from .optimizer import NON_NEGATIVE, Optimizer

__all__ = ["LBFGS"]


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to ``bounds``."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


class _Bracket:
    """The strong-Wolfe search's interval: step sizes, losses, gradients and directional derivatives."""

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """PyTorch's ``_strong_wolfe``: (loss, flat gradient, step, evaluations) at an accepted step."""
    d_norm = np.abs(d).max()
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    br = None
    while ls_iter < max_ls:  # bracketing phase
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            br = _Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new])
            break
        if abs(gtd_new) <= -c2 * gtd:
            br = _Bracket([t], [f_new], [g_new], None)
            done = True
            break
        if gtd_new >= 0:
            br = _Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new])
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:  # reached the maximum number of iterations
        br = _Bracket([0, t], [f, f_new], [g, g_new], None)
    t, f_new, g_new, ls_func_evals = _zoom(
        obj_func, x, d, f, gtd, br, done, ls_iter, ls_func_evals, d_norm, c1, c2, tolerance_change, max_ls
    )
    return f_new, g_new, t, ls_func_evals


def _zoom(obj_func, x, d, f, gtd, br, done, ls_iter, ls_func_evals, d_norm, c1, c2, tolerance_change, max_ls):
    """The zoom phase: shrink the bracket by cubic interpolation until a point satisfies the conditions."""
    insuf_progress = False
    low, high = (0, 1) if br.f[0] <= br.f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(br.t[1] - br.t[0]) * d_norm < tolerance_change:  # the bracket is too small
            break
        t = _cubic_interpolate(br.t[0], br.f[0], br.gtd[0], br.t[1], br.f[1], br.gtd[1])
        # insufficient progress: too close to a boundary, or no progress made last time
        eps = 0.1 * (max(br.t) - min(br.t))
        if min(max(br.t) - t, t - min(br.t)) < eps:
            if insuf_progress or t >= max(br.t) or t <= min(br.t):
                t = max(br.t) - eps if abs(t - max(br.t)) < abs(t - min(br.t)) else min(br.t) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= br.f[low]:  # Armijo condition fails, or not lower
            br.t[high], br.f[high], br.g[high], br.gtd[high] = t, f_new, g_new.copy(), gtd_new
            low, high = (0, 1) if br.f[0] <= br.f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:  # Wolfe conditions hold
                done = True
            elif gtd_new * (br.t[high] - br.t[low]) >= 0:  # the old high becomes the new low
                br.t[high], br.f[high], br.g[high], br.gtd[high] = br.t[low], br.f[low], br.g[low], br.gtd[low]
            br.t[low], br.f[low], br.g[low], br.gtd[low] = t, f_new, g_new.copy(), gtd_new
    return br.t[low], br.f[low], br.g[low], ls_func_evals


class LBFGS(Optimizer):
    """L-BFGS, as PyTorch's ``torch.optim.LBFGS`` (same arguments, defaults and algorithm).

    ``step(closure)`` needs a closure that clears the gradients, computes the loss, calls
    ``backward()`` and returns the loss; one step runs up to ``max_iter`` iterations and
    ``max_eval`` evaluations of it. One parameter group only, as in PyTorch. ``line_search_fn`` is
    None (fixed steps of ``lr``) or ``"strong_wolfe"``. The state (history of curvature pairs,
    direction, step) is kept for the first parameter, under PyTorch's names.
    """

    hyper_ranges = {"lr": NON_NEGATIVE, "tolerance_grad": NON_NEGATIVE, "tolerance_change": NON_NEGATIVE}

    def __init__(
        self,
        params,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ):
        checks.integer("LBFGS", "max_iter", max_iter, 1)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        checks.integer("LBFGS", "max_eval", max_eval, 1)
        checks.integer("LBFGS", "history_size", history_size, 1)
        if line_search_fn not in (None, "strong_wolfe"):
            raise ArgumentError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ArgumentError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, group: dict) -> None:
        if self.param_groups:
            raise ArgumentError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(group)

    # ------------------------------------------------------------------ the flat vector
    def _gather_flat_grad(self) -> np.ndarray:
        return np.concatenate(
            [np.zeros(p.data.size, p.data.dtype) if p.grad is None else p.grad.data.reshape(-1) for p in self._params]
        )

    def _add_grad(self, step_size, update: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += (update[offset : offset + n] * step_size).reshape(p.data.shape).astype(p.data.dtype, copy=False)
            offset += n
        mark_modified(self._params)

    def _clone_param(self) -> list:
        return [p.data.copy() for p in self._params]

    def _set_param(self, params_data) -> None:
        for p, pdata in zip(self._params, params_data):
            p.data[...] = pdata
        mark_modified(self._params)

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ------------------------------------------------------------------ the step
    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss the closure gave first."""
        if closure is None:
            raise ArgumentTypeError(
                "LBFGS.step needs a closure that clears the gradients, computes the loss, calls backward() and "
                "returns the loss: optimizer.step(closure)"
            )
        from .. import enable_grad, no_grad  # the package's public mode switches

        def evaluate():
            with enable_grad():
                return closure()

        with no_grad():
            return self._run(evaluate)

    def _run(self, closure):
        group = self.param_groups[0]
        lr = group["lr"]
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if np.abs(flat_grad).max() <= tolerance_grad:  # optimal already
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")  # noqa: N806 - PyTorch's name
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1  # noqa: N806
            else:
                H_diag = self._update_history(flat_grad, prev_flat_grad, d, t, old_dirs, old_stps, ro, H_diag)  # noqa: N806
                d = self._direction(state, flat_grad, old_dirs, old_stps, ro, H_diag, history_size)
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss
            # the step: the first one scaled by the gradient's size, then lr
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)  # directional derivative
            if gtd > -tolerance_change:
                break
            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)  # a fixed step
                opt_cond = False
                if n_iter != max_iter:  # re-evaluate (not at the last iteration: the caller evaluates then)
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break  # lack of progress

        state.update(
            d=d,
            t=t,
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            H_diag=H_diag,
            prev_flat_grad=prev_flat_grad,
            prev_loss=prev_loss,
        )
        return orig_loss

    @staticmethod
    def _update_history(flat_grad, prev_flat_grad, d, t, old_dirs, old_stps, ro, H_diag):  # noqa: N803
        """Add the newest curvature pair (y, s) when y.s > 1e-10, dropping the oldest beyond history_size
        (done by the caller's limit); returns the new initial Hessian scale."""
        y = flat_grad - prev_flat_grad
        s = d * t
        ys = y.dot(s)
        if ys > 1e-10:
            old_dirs.append(y)
            old_stps.append(s)
            ro.append(1.0 / ys)
            H_diag = ys / y.dot(y)  # noqa: N806
        return H_diag

    @staticmethod
    def _direction(state, flat_grad, old_dirs, old_stps, ro, H_diag, history_size):  # noqa: N803
        """The two-loop recursion: the approximate inverse Hessian times the negative gradient."""
        while len(old_dirs) > history_size:  # the memory is full: forget the oldest pair
            old_dirs.pop(0)
            old_stps.pop(0)
            ro.pop(0)
        num_old = len(old_dirs)
        if "al" not in state:
            state["al"] = [None] * history_size
        al = state["al"]
        q = -flat_grad
        for i in range(num_old - 1, -1, -1):
            al[i] = old_stps[i].dot(q) * ro[i]
            q += old_dirs[i] * -al[i]
        r = q * H_diag
        for i in range(num_old):
            be_i = old_dirs[i].dot(r) * ro[i]
            r += old_stps[i] * (al[i] - be_i)
        return r

    # ------------------------------------------------------------------ state
    def _public_state(self, state: dict, group: dict) -> dict:
        out = {}
        for k, v in state.items():
            if isinstance(v, list):
                out[k] = [x.copy() if isinstance(x, np.ndarray) else x for x in v]
            else:
                out[k] = v.copy() if isinstance(v, np.ndarray) else v
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the hyper-parameters and the L-BFGS state saved by ``state_dict``."""
        saved = {int(k): v for k, v in state_dict["state"].items()}
        super().load_state_dict({**state_dict, "state": {}})
        if not saved:
            self.state = {}
            return
        if set(saved) != {0}:
            raise SerializationError(f"LBFGS.load_state_dict: expected state for parameter 0 only, got {sorted(saved)}")
        n = sum(p.data.size for p in self._params)
        st = {}
        for k, v in saved[0].items():
            if isinstance(v, (list, tuple)):
                v = [np.array(x, copy=True) if isinstance(x, np.ndarray) else x for x in v]
            elif isinstance(v, np.ndarray) and v.ndim == 1 and v.size != n:
                raise SerializationError(
                    f"LBFGS.load_state_dict: state '{k}' has {v.size} elements, the parameters {n} together"
                )
            elif isinstance(v, np.ndarray):
                v = np.array(v, copy=True) if v.ndim else v[()]
            st[k] = v
        for k in ("func_evals", "n_iter"):
            if k in st:
                st[k] = int(st[k])
        self.state = {self._params[0]: st}
