"""Learning-rate schedules: StepLR, ExponentialLR, CosineAnnealingLR, ReduceLROnPlateau.

Call ``scheduler.step()`` once per epoch after the optimizer's steps
(``ReduceLROnPlateau.step(metric)`` takes the monitored value). A scheduler says
which it needs: ``needs_metric`` is True for one stepped with a metric, and then
``monitor`` names the quantity (``"val_loss"`` by default), so a training loop
need not know the schedulers by name.
"""

from __future__ import annotations

import math

from ..errors import ArgumentError, ArgumentTypeError
from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau"]


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
        self._step_count = 0
        self._initial = True
        self.step()
        self._initial = False

    def _next_lrs(self) -> list[float]:
        raise NotImplementedError

    def closed_form(self, epoch: int) -> list[float]:
        """The lr of each group at ``epoch`` of an undisturbed schedule."""
        raise NotImplementedError

    def step(self) -> None:
        self._step_count += 1
        self.last_epoch += 1
        for g, lr in zip(self.optimizer.param_groups, self._next_lrs()):
            g["lr"] = lr

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
