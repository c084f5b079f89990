"""Learning-rate schedules with PyTorch's names, arguments, formulas and ``step()`` semantics.

A scheduler wraps an optimiser and sets ``group["lr"]`` of every parameter group. Building it
records each group's starting rate (``group["initial_lr"]``, the ``base_lrs``) and applies the
rate of epoch 0; each ``step()`` (once per epoch, after the epoch's optimiser steps) advances
``last_epoch`` by one and applies that epoch's rate::

    scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        train_one_epoch(...)          # optimizer.step() per batch, at get_last_lr()
        scheduler.step()

With e = ``last_epoch`` and η₀ a group's base rate:

====================  ===========================================================
StepLR                η₀ · γ^⌊e / step_size⌋
ExponentialLR         η₀ · γ^e
CosineAnnealingLR     η_min + (η₀ − η_min) · (1 + cos(π e / T_max)) / 2
LinearLR              η₀ · (s + (f − s) · min(e, total_iters) / total_iters)
LambdaLR              η₀ · lr_lambda(e)
ReduceLROnPlateau     η ← max(η · factor, min_lr) after ``patience`` epochs without
                      improvement of the metric given to ``step(metric)``
====================  ===========================================================

Each rate is computed from its closed form (PyTorch's ``step()`` mostly updates the previous
rate recursively; for one scheduler the values agree to rounding). Closed forms do not chain:
a rate changed by anything else since the last ``step()`` (a second scheduler on the same
optimiser, a hand edit) is an error, not silently undone. Every rate a schedule produces is checked:
NaN, inf or a negative rate raises a ValueError naming the scheduler, the epoch and the group
instead of reaching the optimiser. ``load_state_dict`` also sets the optimiser's rates to the
loaded ``get_last_lr()`` (PyTorch leaves them to the optimiser's own state dict), so the
order in which optimiser and scheduler are restored does not matter.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, check_nonnegative

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "ReduceLROnPlateau",
    "StepLR",
]


def _int_at_least(name: str, value: object, minimum: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{where}{name} must be an int ≥ {minimum}, got {value!r}")
    return int(value)


def _in_range(name: str, value: object, low: float, high: float, where: str,
              low_open: bool = False) -> float:
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    inside = real and (low < value if low_open else low <= value) and value <= high
    if not inside:  # NaN is never inside
        interval = f"{'(' if low_open else '['}{low}, {high}]"
        raise ValueError(f"{where}{name} must lie in {interval}, got {value!r}")
    return float(value)


def _check_optimizer(optimizer: object, where: str) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{where}expected an optimiser (e.g. optim.SGD), got "
                        f"{type(optimizer).__name__}")
    return optimizer


class _ScheduleBase:
    """What every scheduler shares: checked rates, ``get_last_lr()``, and state dicts.

    ``state_dict()`` is every attribute but the optimiser (and functions); loading checks
    that the keys are this scheduler's own."""

    _not_saved: tuple[str, ...] = ("optimizer",)

    def state_dict(self) -> dict[str, Any]:
        return {key: (list(value) if isinstance(value, list) else value)
                for key, value in vars(self).items() if key not in self._not_saved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        name = type(self).__name__
        own = self.state_dict()
        if not isinstance(state_dict, dict) or set(state_dict) != set(own):
            keys = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict)
            raise ValueError(
                f"{name}.load_state_dict: expected {name}'s state (keys "
                f"{sorted(own)}), got {keys}"
            )
        groups = len(self.optimizer.param_groups)  # type: ignore[attr-defined]
        for key in ("base_lrs", "_last_lr", "min_lrs"):
            if key in state_dict and len(state_dict[key]) != groups:
                raise ValueError(
                    f"{name}.load_state_dict: {key} has {len(state_dict[key])} entries, the "
                    f"optimiser has {groups} parameter groups"
                )
        for key, value in state_dict.items():
            setattr(self, key, list(value) if isinstance(value, (list, tuple)) and
                    key in ("base_lrs", "_last_lr", "min_lrs") else value)
        # The rates in force are part of the schedule's state: set them, so that loading the
        # optimiser's state before or after building the scheduler gives the same rates.
        self._apply(self._last_lr)  # type: ignore[attr-defined]

    def _check_group_count(self, where: str) -> None:
        """The optimiser must still have the groups this scheduler was built for."""
        built_for = len(self._last_lr)  # type: ignore[attr-defined]
        groups = len(self.optimizer.param_groups)  # type: ignore[attr-defined]
        if groups != built_for:
            raise ValueError(
                f"{where}: the optimiser now has {groups} parameter groups, this scheduler was "
                f"built for {built_for} (a group added with add_param_group has no schedule); "
                "build the scheduler after adding every group"
            )

    def get_last_lr(self) -> list[float]:
        """The learning rate of each parameter group as last set by this scheduler."""
        return list(self._last_lr)  # type: ignore[attr-defined]

    def _apply(self, lrs: Sequence[float]) -> None:
        """Check every new rate (finite, ≥ 0), then set them all."""
        epoch = self.last_epoch  # type: ignore[attr-defined]
        checked = []
        for index, lr in enumerate(lrs):
            real = isinstance(lr, numbers.Real) and not isinstance(lr, bool)
            if not real or not math.isfinite(lr) or lr < 0:
                raise ValueError(
                    f"{type(self).__name__}: at epoch {epoch} the schedule gives lr={lr!r} for "
                    f"param group {index}; a learning rate must be a finite number ≥ 0"
                )
            checked.append(float(lr))
        for group, lr in zip(self.optimizer.param_groups, checked, strict=True):  # type: ignore[attr-defined]
            group["lr"] = lr
        self._last_lr = checked


class LRScheduler(_ScheduleBase):
    """Base of the epoch-indexed schedules: subclasses give the closed form in :meth:`get_lr`.

    ``last_epoch=-1`` (the default) starts a schedule; another value resumes one, and then
    every group must already carry the ``"initial_lr"`` an earlier scheduler recorded.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        where = f"{type(self).__name__}: "
        self.optimizer = _check_optimizer(optimizer, where)
        last_epoch = _int_at_least("last_epoch", last_epoch, -1, where)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{where}last_epoch={last_epoch} resumes a schedule, but param_groups"
                        f"[{index}] has no 'initial_lr' (recorded by a scheduler built with "
                        "last_epoch=-1); start with last_epoch=-1 or use load_state_dict"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self) -> list[float]:
        """The rate of each group at epoch ``last_epoch``."""
        return [self._rate(base, self.last_epoch) for base in self.base_lrs]

    def _rate(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set every group's rate for it.

        The closed form would silently undo a rate set since by someone else (another
        scheduler chained on the same optimiser, or a hand edit of ``group["lr"]``), so that
        is an error.
        """
        last = getattr(self, "_last_lr", None)
        if last is not None:
            self._check_group_count(f"{type(self).__name__}.step")
        for index, group in enumerate(self.optimizer.param_groups):
            if last is not None and group["lr"] != last[index]:
                raise ValueError(
                    f"{type(self).__name__}.step: param group {index}'s lr is {group['lr']}, "
                    f"but this scheduler set it to {last[index]}: something else changed it "
                    "(another scheduler on the same optimiser, or a hand edit). Schedules here "
                    "are closed forms and do not chain; combine them in one LambdaLR"
                )
        self.last_epoch += 1
        self._apply(self.get_lr())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()})"


class StepLR(LRScheduler):
    """η₀ · γ^⌊e / step_size⌋: the rate is multiplied by γ every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _int_at_least("step_size", step_size, 1, "StepLR: ")
        self.gamma = check_nonnegative("gamma", gamma, "StepLR: ")
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """η₀ · γ^e: the rate is multiplied by γ every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = check_nonnegative("gamma", gamma, "ExponentialLR: ")
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """η_min + (η₀ − η_min)(1 + cos(π e / T_max)) / 2: half a cosine from η₀ down to η_min.

    At e = T_max the rate is η_min; past it the cosine rises again (as in PyTorch), so pick
    T_max = the number of epochs for a single decay.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_max = _int_at_least("T_max", T_max, 1, "CosineAnnealingLR: ")
        self.eta_min = check_nonnegative("eta_min", eta_min, "CosineAnnealingLR: ")
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, epoch: int) -> float:
        cosine = 1.0 + math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * cosine / 2.0


class LinearLR(LRScheduler):
    """η₀ · (s + (f − s) · min(e, total_iters) / total_iters): a linear warm-up (or decay)
    of the factor from s = ``start_factor`` to f = ``end_factor`` over ``total_iters`` epochs,
    then constant."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1) -> None:
        self.start_factor = _in_range("start_factor", start_factor, 0.0, 1.0, "LinearLR: ",
                                      low_open=True)
        self.end_factor = _in_range("end_factor", end_factor, 0.0, 1.0, "LinearLR: ")
        self.total_iters = _int_at_least("total_iters", total_iters, 1, "LinearLR: ")
        super().__init__(optimizer, last_epoch)

    def _rate(self, base_lr: float, epoch: int) -> float:
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class LambdaLR(LRScheduler):
    """η₀ · lr_lambda(e): any schedule as a function of the epoch (one per group, or one for
    all). The functions are not part of ``state_dict()``: rebuild the scheduler with them."""

    _not_saved = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        groups = len(_check_optimizer(optimizer, "LambdaLR: ").param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(lambdas) != groups or not all(callable(f) for f in lambdas):
            raise TypeError(
                f"LambdaLR: lr_lambda must be a function or a list of {groups} functions "
                f"(one per param group), got {lr_lambda!r}"
            )
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * f(self.last_epoch)
                for base, f in zip(self.base_lrs, self.lr_lambdas, strict=True)]


class ReduceLROnPlateau(_ScheduleBase):
    """Cut the rate when a metric stops improving: ``step(val_loss)`` once per epoch.

    The metric improves when (``mode="min"``) it is below best − threshold·|best|
    (``threshold_mode="rel"``; PyTorch's best·(1 − threshold) for positive metrics, and never
    looser for negative ones) or best − threshold (``"abs"``); ``mode="max"`` mirrors that.
    After more than ``patience`` epochs without improvement every group's rate becomes
    max(η·factor, min_lr) (changes smaller than ``eps`` are skipped), then ``cooldown`` epochs
    pass before bad epochs count again. A NaN or infinite metric is an error (PyTorch
    would count it as one more bad epoch).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        where = "ReduceLROnPlateau: "
        self.optimizer = _check_optimizer(optimizer, where)
        if mode not in ("min", "max"):
            raise ValueError(f"{where}mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{where}threshold_mode must be 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        factor_ok = isinstance(factor, numbers.Real) and 0.0 <= factor < 1.0
        if not factor_ok or isinstance(factor, bool):
            raise ValueError(f"{where}factor must lie in [0, 1), got {factor!r}")
        groups = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * groups
        if len(min_lrs) != groups:
            raise ValueError(f"{where}min_lr has {len(min_lrs)} entries, the optimiser has "
                             f"{groups} param groups")
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.factor = float(factor)
        self.patience = _int_at_least("patience", patience, 0, where)
        self.threshold = check_nonnegative("threshold", threshold, where)
        self.cooldown = _int_at_least("cooldown", cooldown, 0, where)
        self.min_lrs = [check_nonnegative("min_lr", value, where) for value in min_lrs]
        self.eps = check_nonnegative("eps", eps, where)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _is_better(self, value: float) -> bool:
        if self.threshold_mode == "rel":
            margin = self.threshold * abs(self.best) if math.isfinite(self.best) else 0.0
        else:
            margin = self.threshold
        if self.mode == "min":
            return value < self.best - margin
        return value > self.best + margin

    def step(self, metrics: float | Tensor | np.ndarray) -> None:
        """Record this epoch's metric; reduce the rates if it has not improved for long."""
        try:
            value = float(np.asarray(metrics.data if isinstance(metrics, Tensor) else metrics))
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metrics must be a single number, got "
                            f"{metrics!r}") from None
        if not math.isfinite(value):
            raise ValueError(
                f"ReduceLROnPlateau.step: the metric is {value} at epoch {self.last_epoch + 1}; "
                "a NaN or infinite loss means training diverged"
            )
        self._check_group_count("ReduceLROnPlateau.step")
        self.last_epoch += 1
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            lrs = []
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                old = group["lr"]
                new = max(old * self.factor, min_lr)
                lrs.append(new if old - new > self.eps else old)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
            self._apply(lrs)
        else:
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau(mode={self.mode!r}, factor={self.factor}, "
                f"patience={self.patience}, best={self.best}, lr={self.get_last_lr()})")
