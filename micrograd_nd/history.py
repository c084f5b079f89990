"""``History``: the per-epoch record of a training run, and its plot."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch records of a :func:`~micrograd_nd.training.fit` run.

    ``train_loss`` / ``train_accuracy`` are averaged over the epoch's batches as they were
    trained; ``val_loss`` / ``val_accuracy`` are measured after the epoch (empty without
    validation data; the accuracy lists are empty without a metric); ``lr`` is the learning
    rate of the first parameter group during the epoch; ``epoch_time`` is in seconds.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def summary(self, epoch: int = -1) -> str:
        """One line describing ``epoch`` (default the last)."""
        parts = [f"loss {self.train_loss[epoch]:.4f}"]
        if self.train_accuracy:
            parts.append(f"acc {self.train_accuracy[epoch]:.4f}")
        if self.val_loss:
            parts.append(f"val_loss {self.val_loss[epoch]:.4f}")
        if self.val_accuracy:
            parts.append(f"val_acc {self.val_accuracy[epoch]:.4f}")
        if self.lr:
            parts.append(f"lr {self.lr[epoch]:.3g}")
        parts.append(f"{self.epoch_time[epoch]:.2f}s")
        return "  ".join(parts)

    def to_dict(self) -> dict[str, list[float]]:
        """The lists by name (copies), e.g. for a checkpoint."""
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> History:
        """The inverse of :meth:`to_dict`; unknown or missing names are an error."""
        names = {f.name for f in fields(cls)}
        if not isinstance(values, dict) or set(values) != names:
            got = sorted(values) if isinstance(values, dict) else type(values).__name__
            raise ValueError(f"History.from_dict: expected the keys {sorted(names)}, got {got}")
        return cls(**{name: [float(v) for v in values[name]] for name in names})

    def plot(self, path: str | os.PathLike[str] | None = None, title: str | None = None) -> Any:
        """Loss (and, with a metric, accuracy) per epoch, training and validation curves.

        Returns a matplotlib ``Figure`` (shown inline by Jupyter); with ``path`` also writes
        it there (PNG, PDF, SVG by the suffix). Each panel has a title, axis labels and a
        legend; the loss axis is logarithmic when every loss is positive. Needs matplotlib.
        """
        # matplotlib is optional and slow to import: only plotting needs it.
        try:
            from matplotlib.figure import Figure
            from matplotlib.ticker import MaxNLocator
        except ImportError as error:
            raise ImportError(
                "History.plot needs matplotlib: pip install matplotlib "
                '(or pip install "micrograd_nd[examples]")'
            ) from error
        if self.epochs == 0:
            raise ValueError("History.plot: there is nothing to plot (0 epochs trained)")
        panels = [("Loss per epoch", "loss", self.train_loss, self.val_loss)]
        if self.train_accuracy:
            panels.append(("Accuracy per epoch", "accuracy", self.train_accuracy,
                           self.val_accuracy))
        figure = Figure(figsize=(4.5 * len(panels), 3.6), layout="constrained")
        epochs = range(1, self.epochs + 1)
        for axes, (panel_title, label, train, val) in zip(
            figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True
        ):
            axes.plot(epochs, train, marker="o", markersize=3, label=f"training {label}")
            if val:
                axes.plot(epochs, val, marker="s", markersize=3, label=f"validation {label}")
            if label == "loss" and min(train + val) > 0:
                axes.set_yscale("log")
            axes.set_title(panel_title)
            axes.set_xlabel("epoch")
            axes.set_ylabel(label)
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(alpha=0.3)
            axes.legend()
        if title:
            figure.suptitle(title)
        if path is not None:
            figure.savefig(path, dpi=100)
        return figure
