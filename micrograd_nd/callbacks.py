"""Callbacks: code that :func:`~micrograd_nd.training.fit` runs at fixed points of training.

The protocol is three methods, each given the :class:`TrainingRun` (the model, optimiser,
scheduler, history, epoch counts), all optional (the base class does nothing)::

    class PrintLR(Callback):
        def on_epoch_end(self, run):
            print(run.epoch, run.optimizer.param_groups[0]["lr"])

- ``on_train_begin(run)`` — before the first epoch (after a resumed run's checkpoint loaded);
- ``on_epoch_end(run)`` — after each epoch: its history entries are recorded and the
  scheduler has stepped; ``run.stop(reason)`` ends training after this epoch;
- ``on_train_end(run)`` — once, after the last epoch (also after an early stop).

Two are provided: :class:`EarlyStopping` and :class:`ModelCheckpoint`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import Scheduler, save_checkpoint
from .history import History
from .nn.module import Module
from .optim.optimizer import Optimizer

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "TrainingRun"]

MONITORED = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


@dataclass
class TrainingRun:
    """The state of a :func:`~micrograd_nd.training.fit` call, as callbacks see it.

    ``epoch`` counts completed epochs (1 after the first); ``epochs`` is the total asked for.
    ``shuffle_generator`` is the Generator that orders the batches (saved in checkpoints).
    """

    model: Module
    optimizer: Optimizer
    scheduler: Scheduler | None
    history: History
    epochs: int
    epoch: int
    shuffle_generator: np.random.Generator
    has_validation: bool
    has_metric: bool
    stop_reason: str | None = None

    @property
    def stop_training(self) -> bool:
        return self.stop_reason is not None

    def stop(self, reason: str) -> None:
        """End training after the current epoch; ``reason`` is printed by a verbose fit."""
        self.stop_reason = reason

    def save_checkpoint(self, path: str | os.PathLike[str], **options: Any) -> None:
        """A checkpoint of this run after ``epoch`` epochs (see :mod:`micrograd_nd.checkpoint`),
        from which ``fit(..., resume_from=path)`` continues bit-identically."""
        save_checkpoint(
            path, self.model, self.optimizer, self.scheduler, epoch=self.epoch,
            generators={"shuffle": self.shuffle_generator}, history=self.history.to_dict(),
            **options,
        )


class Callback:
    """Base class: override any of the three hooks (each does nothing here)."""

    def on_train_begin(self, run: TrainingRun) -> None:
        """Before the first epoch."""

    def on_epoch_end(self, run: TrainingRun) -> None:
        """After every epoch."""

    def on_train_end(self, run: TrainingRun) -> None:
        """After the last epoch."""


def _mode_for(monitor: str, mode: str, owner: str) -> str:
    if monitor not in MONITORED:
        raise ValueError(f"{owner}: monitor must be one of {', '.join(MONITORED)}, got "
                         f"{monitor!r}")
    if mode == "auto":
        return "max" if monitor.endswith("accuracy") else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


def _check_available(monitor: str, run: TrainingRun, owner: str) -> None:
    if monitor.startswith("val_") and not run.has_validation:
        raise ValueError(f"{owner} monitors {monitor!r}, but fit was given no validation_data")
    if monitor.endswith("accuracy") and not run.has_metric:
        raise ValueError(f"{owner} monitors {monitor!r}, but fit was given metric=None")


class _Monitor:
    """Tracks the best value of one history entry: improved if it beats best by min_delta."""

    def __init__(self, monitor: str, mode: str, min_delta: float, owner: str) -> None:
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode, owner)
        if isinstance(min_delta, bool) or not (isinstance(min_delta, (int, float))
                                               and math.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(f"{owner}: min_delta must be a finite number ≥ 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best = value
        return better


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row (Keras's names and rule).

    ``mode="auto"`` minimises losses and maximises accuracies. With
    ``restore_best_weights=True`` the model gets the parameters of its best epoch back when
    training ends. After a resumed run, the best value and the count of epochs without
    improvement are rebuilt from the history (the best weights of the earlier part are not:
    they are in the checkpoint only if it was saved at the best epoch).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        self.monitor = monitor
        self.mode = mode
        self.min_delta = min_delta
        self._tracker = _Monitor(monitor, mode, min_delta, "EarlyStopping")  # checks them
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int ≥ 0, got {patience!r}")
        self.patience = patience
        self.restore_best_weights = bool(restore_best_weights)
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._wait = 0
        self._best_state: dict[str, np.ndarray] | None = None

    @property
    def best(self) -> float:
        return self._tracker.best

    def on_train_begin(self, run: TrainingRun) -> None:
        _check_available(self.monitor, run, "EarlyStopping")
        self._tracker = _Monitor(self.monitor, self.mode, self.min_delta, "EarlyStopping")
        self._wait, self.best_epoch, self.stopped_epoch, self._best_state = 0, None, None, None
        for epoch, value in enumerate(getattr(run.history, self.monitor), start=1):
            self._record(epoch, value)

    def _record(self, epoch: int, value: float) -> bool:
        if self._tracker.improved(value):
            self.best_epoch, self._wait = epoch, 0
            return True
        self._wait += 1
        return False

    def on_epoch_end(self, run: TrainingRun) -> None:
        if self._record(run.epoch, getattr(run.history, self.monitor)[-1]):
            if self.restore_best_weights:
                self._best_state = run.model.state_dict()
        elif self._wait >= self.patience:
            self.stopped_epoch = run.epoch
            run.stop(f"EarlyStopping: {self.monitor} has not improved for {self._wait} "
                     f"epoch(s); best {self.best:.4g} at epoch {self.best_epoch}")

    def on_train_end(self, run: TrainingRun) -> None:
        if self.restore_best_weights and self._best_state is not None:
            run.model.load_state_dict(self._best_state)


class ModelCheckpoint(Callback):
    """Write a checkpoint at the end of every epoch (or only when ``monitor`` improved).

    ``path`` may contain ``{epoch}`` (e.g. ``"ckpt-{epoch:03d}.npz"``) to keep one file per
    epoch; otherwise each save replaces the last, atomically. ``fit(..., resume_from=path)``
    continues from the file bit-identically.
    """

    def __init__(self, path: str | os.PathLike[str], monitor: str | None = None,
                 mode: str = "auto", save_best_only: bool = False) -> None:
        self.path = os.fspath(path)
        if save_best_only and monitor is None:
            raise ValueError("ModelCheckpoint: save_best_only=True needs a monitor, e.g. "
                             "monitor='val_loss'")
        self.monitor = monitor
        self.mode = mode
        self.save_best_only = bool(save_best_only)
        if monitor is not None:
            _Monitor(monitor, mode, 0.0, "ModelCheckpoint")  # check the arguments now
        self.saved: list[Path] = []

    def on_train_begin(self, run: TrainingRun) -> None:
        if self.monitor is not None:
            _check_available(self.monitor, run, "ModelCheckpoint")
            self._tracker = _Monitor(self.monitor, self.mode, 0.0, "ModelCheckpoint")
            for value in getattr(run.history, self.monitor):
                self._tracker.improved(value)

    def on_epoch_end(self, run: TrainingRun) -> None:
        latest = getattr(run.history, self.monitor)[-1] if self.save_best_only else None
        if self.save_best_only and not self._tracker.improved(latest):
            return
        path = Path(self.path.format(epoch=run.epoch))
        run.save_checkpoint(path)
        self.saved.append(path)
