"""A small training loop (:func:`fit`), evaluation, prediction and accuracy.

``fit`` is a convenience, not a framework: one epoch is nothing more than ::

    from micrograd_nd.data import batches
    loader = batches(X_train, y_train, batch_size=64, shuffle=True, rng=0)
    for epoch in range(epochs):
        model.train()
        for xb, yb in loader:                 # a new shuffle every epoch
            loss = loss_fn(model(xb), yb)     # forward: records the graph
            optimizer.zero_grad()             # .grad = None on every parameter
            loss.backward()                   # reverse pass: p.grad for every parameter
            optimizer.step()                  # θ ← θ − γ·g (or momentum / Adam)
        print(epoch, evaluate(model, X_test, y_test, loss_fn))

Write that loop yourself when you need something ``fit`` does not do (gradient clipping
with :func:`micrograd_nd.optim.clip_grad_norm_` between backward and step, a learning-rate
schedule by assigning ``optimizer.lr``, an L2 term with :func:`micrograd_nd.l2_penalty`).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ._rng import RNGLike
from .data import batches
from .modes import no_grad
from .nn.module import Module
from .optim import Optimizer
from .tensor import ArrayLike, Tensor

try:  # tqdm is optional: without it fit prints one line per epoch
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # pragma: no cover - depends on the environment
    _tqdm = None

__all__ = [
    "Evaluation", "History", "accuracy", "evaluate", "fit", "limit_blas_threads", "predict",
]

Metric = Callable[[np.ndarray, np.ndarray], float]


def accuracy(outputs: ArrayLike, labels: ArrayLike, threshold: float = 0.5) -> float:
    """Fraction of samples whose predicted class equals the label.

    ``outputs`` of shape (n, k) with k ≥ 2 (logits or probabilities) predict argmax_k;
    shape (n,) or (n, 1) predicts ``output > threshold`` (0.5 for probabilities; pass 0 for
    logits). ``labels`` are integer classes (n,) or one-hot rows (n, k).
    """
    outputs = np.asarray(outputs.data if isinstance(outputs, Tensor) else outputs)
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if outputs.ndim == 2 and outputs.shape[1] >= 2:
        predicted = outputs.argmax(axis=1)
    elif outputs.ndim == 1 or (outputs.ndim == 2 and outputs.shape[1] == 1):
        predicted = (outputs.reshape(-1) > threshold).astype(np.int64)
    else:
        raise ValueError(f"accuracy: outputs must have shape (n,) or (n, k), got {outputs.shape}")
    if labels.ndim == 2 and labels.shape[1] >= 2:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1)
    if labels.shape[0] != predicted.shape[0]:
        raise ValueError(
            f"accuracy: {predicted.shape[0]} predictions but {labels.shape[0]} labels"
        )
    if labels.size == 0:
        raise ValueError("accuracy: no samples")
    return float(np.mean(predicted == labels))


@dataclass
class History:
    """Per-epoch records of a :func:`fit` run (validation lists stay empty without val data)."""

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
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
        parts.append(f"{self.epoch_time[epoch]:.2f}s")
        return "  ".join(parts)


class Evaluation(NamedTuple):
    loss: float
    accuracy: float | None


def _model_dtype(model: Module) -> np.dtype | None:
    params = model.parameters()
    return params[0].dtype if params else None


def _as_inputs(model: Module, X: ArrayLike) -> np.ndarray:
    """Float inputs in the model's dtype (float64 data must not silently upcast a float32 net)."""
    X = np.asarray(X.data if isinstance(X, Tensor) else X)
    dtype = _model_dtype(model)
    if dtype is not None and X.dtype.kind in "fiu" and X.dtype != dtype:
        X = X.astype(dtype)
    return X


def _as_targets(model: Module, y: ArrayLike) -> np.ndarray:
    """Integer labels as they are; float targets (one-hot, regression) in the model's dtype."""
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    dtype = _model_dtype(model)
    if dtype is not None and y.dtype.kind == "f" and y.dtype != dtype:
        y = y.astype(dtype)
    return y


def predict(model: Module, X: ArrayLike, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs for ``X`` as an array, batch by batch, in eval mode and no_grad."""
    X = _as_inputs(model, X)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs = [np.asarray(model(xb).data) for (xb,) in batches(X, batch_size=batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outputs)


def evaluate(
    model: Module,
    X: ArrayLike,
    y: ArrayLike,
    loss_fn: Callable[[Any, Any], Tensor],
    batch_size: int = 1024,
    metric: Metric | None = accuracy,
) -> Evaluation:
    """(loss, metric) of the model on ``(X, y)`` under no_grad and eval mode.

    The loss is the batch-size-weighted mean of the per-batch losses, i.e. the full-set loss
    for ``reduction="mean"``. The metric (default :func:`accuracy`) is None if not wanted.
    """
    X, y = _as_inputs(model, X), _as_targets(model, y)
    was_training = model.training
    model.eval()
    total, outputs = 0.0, []
    try:
        with no_grad():
            for xb, yb in batches(X, y, batch_size=batch_size):
                out = model(xb)
                total += float(loss_fn(out, yb).item()) * len(xb)
                outputs.append(np.asarray(out.data))
    finally:
        model.train(was_training)
    score = None if metric is None else float(metric(np.concatenate(outputs), y))
    return Evaluation(total / len(X), score)


def fit(
    model: Module,
    loss_fn: Callable[[Any, Any], Tensor],
    optimizer: Optimizer,
    train_data: tuple[ArrayLike, ArrayLike],
    epochs: int,
    batch_size: int = 32,
    rng: RNGLike = None,
    validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    metric: Metric | None = accuracy,
    progress: bool = True,
    verbose: bool = True,
    shuffle: bool = True,
    eval_batch_size: int = 1024,
    lr_schedule: Callable[[int], float] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_data = (X, y)``; return a History.

    Each minibatch: forward, ``loss_fn(outputs, targets)``, ``optimizer.zero_grad()``,
    ``backward()``, ``optimizer.step()``. Batches are reshuffled every epoch from ``rng``
    (an int seed makes the run repeatable). Training loss/metric are averaged over the
    epoch's batches as they were trained (so they lag the end-of-epoch model a little);
    validation figures come from :func:`evaluate` after the epoch.

    ``lr_schedule(epoch)`` (epoch counted from 0), if given, sets ``optimizer.lr`` at the
    start of each epoch, e.g. cosine decay ``lambda e: lr0 * 0.5 * (1 + cos(π e / epochs))``.

    Output: with ``progress`` and tqdm installed, a progress bar per epoch; otherwise, if
    ``verbose``, one printed line per epoch. ``progress=False, verbose=False`` is silent.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int ≥ 0, got {epochs!r}")
    X, y = train_data
    X, y = _as_inputs(model, X), _as_targets(model, y)
    loader = batches(X, y, batch_size=batch_size, shuffle=shuffle, rng=rng)
    history = History()
    use_bar = progress and _tqdm is not None
    for epoch in range(epochs):
        start = time.perf_counter()
        if lr_schedule is not None:
            optimizer.lr = float(lr_schedule(epoch))
        model.train()
        loss_sum, metric_sum, seen = 0.0, 0.0, 0
        bar = (
            _tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", leave=True, file=sys.stderr)
            if use_bar else loader
        )
        for xb, yb in bar:
            outputs = model(xb)
            loss = loss_fn(outputs, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = len(xb)
            loss_sum += float(loss.item()) * n
            if metric is not None:
                metric_sum += float(metric(outputs.data, yb)) * n
            seen += n
            if use_bar:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", refresh=False)
        history.train_loss.append(loss_sum / max(seen, 1))
        if metric is not None:
            history.train_accuracy.append(metric_sum / max(seen, 1))
        if validation_data is not None:
            result = evaluate(model, *validation_data, loss_fn,
                              batch_size=eval_batch_size, metric=metric)
            history.val_loss.append(result.loss)
            if result.accuracy is not None:
                history.val_accuracy.append(result.accuracy)
        history.epoch_time.append(time.perf_counter() - start)
        if use_bar:
            bar.set_postfix_str(history.summary(), refresh=True)
            bar.close()
        elif verbose:
            print(f"epoch {epoch + 1}/{epochs}  {history.summary()}", flush=True)
    return history


def limit_blas_threads(count: int | None) -> contextlib.AbstractContextManager:
    """Limit NumPy's BLAS to ``count`` threads (None: leave it), when threadpoolctl exists.

    Why: the matrices of small networks are small, so BLAS threads spend more time starting
    and spin-waiting than multiplying; on a busy 2-core machine the default threading made a
    3-second training run take over a minute. threadpoolctl comes with scikit-learn; without
    it this does nothing.
    """
    if count is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")
