"""Learning-rate schedules: StepLR, MultiStepLR, ExponentialLR, LinearLR, LambdaLR, CosineAnnealingLR,
CosineAnnealingWarmRestarts, OneCycleLR, SequentialLR, ReduceLROnPlateau.

Call ``scheduler.step()`` once per epoch after the optimizer's steps
(``ReduceLROnPlateau.step(metric)`` takes the monitored value). A scheduler says
which it needs: ``needs_metric`` is True for one stepped with a metric, and then
``monitor`` names the quantity (``"val_loss"`` by default), so a training loop
need not know the schedulers by name.
"""

from __future__ import annotations

import math
import types
from bisect import bisect_right
from collections import Counter

from ..errors import ArgumentError, ArgumentTypeError
from .optimizer import Optimizer

__all__ = [
    "LRScheduler",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "LinearLR",
    "LambdaLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "OneCycleLR",
    "SequentialLR",
    "ReduceLROnPlateau",
]


class LRScheduler:
    """Base: each ``step()`` moves every group's lr on from its *current* value.

    As in PyTorch, the schedules are written incrementally (the new lr is a function of the
    current one), so they compose: two schedulers on one optimizer, or an lr changed by hand
    between epochs, carry on from where the lr is. ``closed_form(epoch)`` gives the lr an
    undisturbed schedule has at ``epoch``.
    """

    needs_metric = False  # step() takes no argument

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, g in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                g.setdefault("initial_lr", g["lr"])
            elif "initial_lr" not in g:
                raise ArgumentError(
                    f"{type(self).__name__}: last_epoch={last_epoch} resumes a schedule, but param_groups[{i}] has "
                    "no 'initial_lr'; create the scheduler with last_epoch=-1, or load the optimizer's state first"
                )
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The step every scheduler takes when it is made (it sets the lr of epoch last_epoch + 1)."""
        self._step_count = 0
        self._initial = True
        try:
            self.step()
        finally:
            self._initial = False

    def _next_lrs(self) -> list[float]:
        raise NotImplementedError

    def closed_form(self, epoch: int) -> list[float]:
        """The lr of each group at ``epoch`` of an undisturbed schedule."""
        raise NotImplementedError

    def step(self) -> None:
        self._step_count += 1
        self.last_epoch += 1
        self._set(self._next_lrs())

    def _set(self, lrs) -> None:
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = lr

    def restart(self, epoch: int = 0) -> None:
        """Jump to ``epoch``: the closed form's lr there if the schedule has one, else the next lr
        (what SequentialLR does when it hands over to a scheduler; PyTorch's ``_update_lr(epoch)``)."""
        self.last_epoch = epoch
        has_closed_form = type(self).closed_form is not LRScheduler.closed_form
        self._set(self.closed_form(epoch) if has_closed_form else self._next_lrs())

    def _current(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return self._current()

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in state.items()})


def _positive_int(cls, name, v):
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ArgumentError(f"{cls}: {name} must be a positive integer, got {v!r}")


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs: base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        _positive_int("StepLR", "step_size", step_size)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._current()
        return [lr * self.gamma for lr in self._current()]

    def closed_form(self, epoch):
        return [b * self.gamma ** (epoch // self.step_size) for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch: base_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        if self._initial:
            return self._current()
        return [lr * self.gamma for lr in self._current()]

    def closed_form(self, epoch):
        return [b * self.gamma**epoch for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine from base_lr down to eta_min over T_max epochs (then back up, periodically):

    lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2, taken step to step as the
    ratio of consecutive values of that curve, applied to the current lr.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):  # noqa: N803
        _positive_int("CosineAnnealingLR", "T_max", T_max)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        e, t, lo = self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return self._current()
        if self._step_count == 1 and e > 0:  # created mid-schedule (last_epoch given): the curve's value
            return self.closed_form(e)
        if (e - 1 - t) % (2 * t) == 0:  # leaving the minimum: the curve's ratio is 0/0 there, step up instead
            return [lr + (b - lo) * (1 - math.cos(math.pi / t)) / 2 for lr, b in zip(self._current(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * e / t)) / (1 + math.cos(math.pi * (e - 1) / t))
        return [ratio * (lr - lo) + lo for lr in self._current()]

    def closed_form(self, epoch):
        return [
            self.eta_min + (b - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2 for b in self.base_lrs
        ]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each of the ``milestones`` (epochs; one listed n times: gamma ** n):
    base_lr * gamma ** (number of milestones <= epoch)."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        if self.last_epoch not in self.milestones:
            return self._current()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._current()]

    def closed_form(self, epoch):
        passed = bisect_right(sorted(self.milestones.elements()), epoch)
        return [b * self.gamma**passed for b in self.base_lrs]

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.milestones = Counter({int(k): int(v) for k, v in dict(self.milestones).items()})


class LinearLR(LRScheduler):
    """Scale the lr by a factor going linearly from ``start_factor`` to ``end_factor`` over ``total_iters``
    epochs, then constant: base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters).
    The usual warm-up: ``LinearLR(opt, start_factor=0.1, total_iters=5)``."""

    def __init__(
        self,
        optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        if not 0 < start_factor <= 1:
            raise ArgumentError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ArgumentError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        e, sf, ef, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        if e == 0:
            return [lr * sf for lr in self._current()]
        if self._initial or e > n:
            return self._current()
        return [lr * (1.0 + (ef - sf) / (n * sf + (e - 1) * (ef - sf))) for lr in self._current()]

    def closed_form(self, epoch):
        sf, ef, n = self.start_factor, self.end_factor, self.total_iters
        return [b * (sf + (ef - sf) * min(n, epoch) / n) for b in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch): ``lr_lambda`` a function of the epoch, or a list of them (one per
    parameter group).

    As in PyTorch, ``state_dict()`` leaves the functions out (it keeps the attributes of callable
    objects that are not plain functions), so a saved schedule is resumed with the same functions.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ArgumentError(
                    f"LambdaLR: expected {n} lr_lambdas (one per parameter group), got {len(lr_lambda)}"
                )
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for f in self.lr_lambdas:
            if not callable(f):
                raise ArgumentTypeError(f"LambdaLR: lr_lambda must be a function of the epoch, got {f!r}")
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        return self.closed_form(self.last_epoch)

    def closed_form(self, epoch):
        return [b * f(epoch) for f, b in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        out["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else dict(f.__dict__) for f in self.lr_lambdas]
        return out

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        saved = state.pop("lr_lambdas", None) or []
        super().load_state_dict(state)
        for f, d in zip(self.lr_lambdas, saved):
            if d is not None:
                f.__dict__.update(d)


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing from base_lr to ``eta_min`` over ``T_0`` epochs, then a restart, each period
    ``T_mult`` times longer (SGDR): lr = eta_min + (base_lr - eta_min) (1 + cos(pi T_cur / T_i)) / 2.

    ``step()`` moves one epoch on; ``step(epoch)`` jumps to ``epoch``, which may be fractional
    (``scheduler.step(epoch + i / iters_per_epoch)`` inside an epoch), as in PyTorch.
    """

    def __init__(self, optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1):  # noqa: N803
        _positive_int("CosineAnnealingWarmRestarts", "T_0", T_0)
        _positive_int("CosineAnnealingWarmRestarts", "T_mult", T_mult)
        if isinstance(eta_min, bool) or not isinstance(eta_min, (int, float)):
            raise ArgumentTypeError(f"CosineAnnealingWarmRestarts: eta_min must be a number, got {eta_min!r}")
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self):
        lo = self.eta_min
        return [lo + (b - lo) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2 for b in self.base_lrs]

    def step(self, epoch=None) -> None:
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            self._jump(epoch)
        self.last_epoch = math.floor(epoch)
        self._set(self._next_lrs())

    def _jump(self, epoch) -> None:
        if epoch < 0:
            raise ArgumentError(f"CosineAnnealingWarmRestarts.step: epoch must be non-negative, got {epoch}")
        t0, mult = self.T_0, self.T_mult
        if epoch >= t0:
            if mult == 1:
                self.T_cur = epoch % t0
            else:
                n = int(math.log((epoch / t0 * (mult - 1) + 1), mult))
                self.T_cur = epoch - t0 * (mult**n - 1) / (mult - 1)
                self.T_i = t0 * mult**n
        else:
            self.T_i = t0
            self.T_cur = epoch


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin): the lr rises from max_lr / div_factor to ``max_lr`` over the first
    ``pct_start`` of ``total_steps`` (or ``epochs * steps_per_epoch``) steps, then falls to
    initial_lr / final_div_factor (``three_phase``: back to the initial lr first), by cosine or linear
    annealing; the momentum (SGD's ``momentum``, Adam's beta1) cycles inversely between
    ``max_momentum`` and ``base_momentum``. Stepped after every batch, as in PyTorch.
    """

    def __init__(
        self,
        optimizer,
        max_lr,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ):
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(f"OneCycleLR: expected an Optimizer, got {type(optimizer).__name__}")
        if total_steps is not None:
            _positive_int("OneCycleLR", "total_steps", total_steps)
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            _positive_int("OneCycleLR", "epochs", epochs)
            _positive_int("OneCycleLR", "steps_per_epoch", steps_per_epoch)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ArgumentError("OneCycleLR: give either total_steps or both epochs and steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ArgumentError(f"OneCycleLR: pct_start must be a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ArgumentError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self._schedule_phases = _one_cycle_phases(self.total_steps, pct_start, three_phase)
        self._anneal_func_type = anneal_strategy
        groups = optimizer.param_groups
        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for m, g in zip(max_lrs, groups):
                g["initial_lr"] = m / div_factor
                g["max_lr"] = m
                g["min_lr"] = g["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ArgumentError(
                    f"OneCycleLR: cycle_momentum needs an optimizer with momentum or betas; "
                    f"{type(optimizer).__name__} has neither (pass cycle_momentum=False)"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            maxs = _per_group("max_momentum", optimizer, max_momentum)
            bases = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m, b, g in zip(maxs, bases, groups):
                    self._set_momentum(g, m)
                    g["max_momentum"] = m
                    g["base_momentum"] = b
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, m: float) -> None:
        if self.use_beta1:
            group["betas"] = (m, *group["betas"][1:])
        else:
            group["momentum"] = m

    def _anneal(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _next_lrs(self):
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ArgumentError(
                f"OneCycleLR: tried to step {step_num} times; the specified number of total steps is {self.total_steps}"
            )
        lrs = []
        phases = self._schedule_phases
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == len(phases) - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        m = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                        self._set_momentum(group, m)
                    break
                start_step = phase["end_step"]
        return lrs


def _one_cycle_phases(total: int, pct_start: float, three_phase: bool) -> list:
    up = {
        "end_step": float(pct_start * total) - 1,
        "start_lr": "initial_lr",
        "end_lr": "max_lr",
        "start_momentum": "max_momentum",
        "end_momentum": "base_momentum",
    }
    if three_phase:
        return [
            up,
            {
                "end_step": float(2 * pct_start * total) - 2,
                "start_lr": "max_lr",
                "end_lr": "initial_lr",
                "start_momentum": "base_momentum",
                "end_momentum": "max_momentum",
            },
            {
                "end_step": total - 1,
                "start_lr": "initial_lr",
                "end_lr": "min_lr",
                "start_momentum": "max_momentum",
                "end_momentum": "max_momentum",
            },
        ]
    return [
        up,
        {
            "end_step": total - 1,
            "start_lr": "max_lr",
            "end_lr": "min_lr",
            "start_momentum": "base_momentum",
            "end_momentum": "max_momentum",
        },
    ]


def _per_group(name: str, optimizer: Optimizer, value) -> list:
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ArgumentError(f"{name} has {len(value)} values, but the optimizer has {n} parameter groups")
        return list(value)
    return [value] * n


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the epochs in ``milestones`` (one fewer than
    schedulers): at a milestone the next scheduler starts from its epoch 0. Warm-up then decay:
    ``SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5), CosineAnnealingLR(opt, T_max=95)], [5])``.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        schedulers = list(schedulers)
        milestones = list(milestones)
        if not schedulers:
            raise ArgumentError("SequentialLR: expected at least one scheduler")
        for k, sch in enumerate(schedulers):
            if not isinstance(sch, LRScheduler):
                raise ArgumentTypeError(
                    f"SequentialLR: schedulers[{k}] is a {type(sch).__name__}; it must be an epoch-stepped "
                    "LRScheduler (ReduceLROnPlateau, stepped with a metric, cannot be sequenced)"
                )
            if sch.optimizer is not optimizer:
                raise ArgumentError(f"SequentialLR: schedulers[{k}] belongs to another optimizer")
        if len(milestones) != len(schedulers) - 1:
            raise ArgumentError(
                f"SequentialLR: expected {len(schedulers) - 1} milestones for {len(schedulers)} schedulers, "
                f"got {len(milestones)}"
            )
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for g in optimizer.param_groups:  # back to the initial lr: undo the schedulers' first steps
            g["lr"] = g["initial_lr"]
        _undo_first_step(self)
        self._schedulers[bisect_right(milestones, 0)]._initial_step()

    @property
    def schedulers(self) -> list:
        """The schedulers, in the order they run."""
        return list(self._schedulers)

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        sch = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            sch.restart(0)
        else:
            sch.step()

    def state_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        out["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return out

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        saved = state.pop("_schedulers")
        super().load_state_dict(state)
        for sch, st in zip(self._schedulers, saved):
            sch.load_state_dict(st)


def _undo_first_step(sch) -> None:
    """Take back the epoch that making a scheduler counted (PyTorch's ``recursive_undo``)."""
    if isinstance(sch, SequentialLR):
        for s in sch.schedulers:
            _undo_first_step(s)
    else:
        sch.last_epoch -= 1


class ReduceLROnPlateau:
    """Multiply the lr by ``factor`` when the metric has not improved for ``patience`` epochs.

    ``step(metric)`` takes the monitored value; ``monitor`` names it for a training loop
    (``fit`` passes that entry of the epoch's row: ``"val_loss"`` by default, the training
    loss when there is no validation data).
    """

    needs_metric = True

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
        monitor: str = "val_loss",
    ):
        if factor >= 1.0:
            raise ArgumentError("ReduceLROnPlateau: factor must be < 1")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ArgumentError("ReduceLROnPlateau: mode is 'min' or 'max', threshold_mode 'rel' or 'abs'")
        if not isinstance(monitor, str):
            raise ArgumentTypeError(f"ReduceLROnPlateau: monitor names a quantity (like 'val_loss'), got {monitor!r}")
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps
        self.monitor = monitor
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def _better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            ref = best * (1 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold
            return a < ref
        ref = best * (1 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold
        return a > ref

    def step(self, metric: float) -> None:
        metric = float(metric)
        self.last_epoch += 1
        if self._better(metric, self.best):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g in self.optimizer.param_groups:
                new = max(g["lr"] * self.factor, self.min_lr)
                if g["lr"] - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)
