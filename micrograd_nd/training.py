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
        scheduler.step()                      # if there is a learning-rate schedule
        print(epoch, evaluate(model, X_test, y_test, loss_fn))

Write that loop yourself when you need something ``fit`` does not do (gradient clipping
with :func:`micrograd_nd.optim.clip_grad_norm_` between backward and step, an L2 term with
:func:`micrograd_nd.l2_penalty`). What ``fit`` adds: checked inputs, a stop with a clear
error when training diverges to NaN/inf, progress output, a :class:`History`, a learning-rate
scheduler, callbacks (:mod:`micrograd_nd.callbacks`) and bit-identical resumption from a
checkpoint (``resume_from=``).
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np

from ._rng import RNGLike
from .callbacks import Callback, TrainingRun
from .checkpoint import Scheduler, load_checkpoint
from .compiler import CompiledFunction
from .data import batches
from .functional import binary_cross_entropy_with_logits
from .history import History
from .modes import no_grad
from .nn.losses import BCEWithLogitsLoss
from .nn.module import Module
from .optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from .optim.optimizer import Optimizer
from .tensor import ArrayLike, Tensor

try:  # tqdm is optional: without it fit prints one line per epoch
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # pragma: no cover - depends on the environment
    _tqdm = None

__all__ = [
    "Evaluation", "History", "TrainingDivergedError", "accuracy", "evaluate", "fit",
    "limit_blas_threads", "predict",
]

Metric = Callable[[np.ndarray, np.ndarray], float]


class TrainingDivergedError(FloatingPointError):
    """``fit`` stopped: the loss, a gradient or a parameter became NaN or infinite."""


# ---- accuracy ---------------------------------------------------------------------------------
def _class_labels(labels: np.ndarray, num_classes: int, n: int) -> np.ndarray:
    """Integer class labels (n,) from labels (n,), (n, 1) or one-hot/probability rows (n, k)."""
    if labels.ndim == 2 and labels.shape[1] >= 2:
        if labels.shape[1] != num_classes:
            raise ValueError(
                f"accuracy: labels have {labels.shape[1]} columns (one-hot) but the outputs "
                f"have {num_classes} classes"
            )
        labels = labels.argmax(axis=1)
    elif labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    elif labels.ndim != 1:
        raise ValueError(f"accuracy: labels must have shape (n,), (n, 1) or (n, k), got "
                         f"{labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(f"accuracy: {n} predictions but {labels.shape[0]} labels")
    if labels.dtype.kind == "f":
        integral = np.isfinite(labels) & (labels == np.round(labels))
        if not integral.all():
            example = float(labels[~integral][0])
            raise ValueError(
                f"accuracy: labels must be class indices, got the non-integer value {example}"
                "; for a regression, pass metric=None to fit/evaluate"
            )
    elif labels.dtype.kind not in "iub":
        raise TypeError(f"accuracy: labels must be integers, got dtype {labels.dtype}")
    low, high = labels.min().item(), labels.max().item()
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"accuracy: labels must lie in [0, {num_classes}) for {num_classes} classes, got "
            f"values in [{low}, {high}]"
        )
    return labels


def accuracy(outputs: ArrayLike, labels: ArrayLike, threshold: float = 0.5) -> float:
    """Fraction of samples whose predicted class equals the label.

    ``outputs`` of shape (n, k) with k ≥ 2 (logits or probabilities) predict argmax_k;
    shape (n,) or (n, 1) predicts ``output > threshold`` (0.5 for probabilities; pass 0 for
    logits) for two classes. ``labels`` are integer classes in [0, k) of shape (n,) or (n, 1),
    or one-hot rows (n, k); anything else (another class count, a regression target) is an
    error.
    """
    outputs = np.asarray(outputs.data if isinstance(outputs, Tensor) else outputs)
    labels = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if outputs.ndim == 2 and outputs.shape[1] >= 2:
        predicted, num_classes = outputs.argmax(axis=1), outputs.shape[1]
    elif outputs.ndim == 1 or (outputs.ndim == 2 and outputs.shape[1] == 1):
        predicted, num_classes = (outputs.reshape(-1) > threshold).astype(np.int64), 2
    else:
        raise ValueError(f"accuracy: outputs must have shape (n,) or (n, k), got {outputs.shape}")
    if predicted.shape[0] == 0:
        raise ValueError("accuracy: no samples")
    labels = _class_labels(labels, num_classes, predicted.shape[0])
    return float(np.mean(predicted == labels))


def _metric_for(metric: Metric | None, loss_fn: Callable[..., Any]) -> Metric | None:
    """The default :func:`accuracy` reads a single output as a probability (> 0.5); with a
    loss on logits (``BCEWithLogitsLoss``) the same decision is logit > 0."""
    if metric is accuracy and (isinstance(loss_fn, BCEWithLogitsLoss)
                               or loss_fn is binary_cross_entropy_with_logits):
        return functools.partial(accuracy, threshold=0.0)
    return metric


# ---- checked inputs ---------------------------------------------------------------------------
class Evaluation(NamedTuple):
    loss: float
    accuracy: float | None


def _model_dtype(model: Module) -> np.dtype | None:
    params = model.parameters()
    return params[0].dtype if params else None


def _checked_array(model: Module, value: ArrayLike, role: str, where: str,
                   cast_integers: bool) -> np.ndarray:
    """A non-empty array in the model's dtype (floats; integers too if ``cast_integers``)
    whose values are all finite."""
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    if array.ndim == 0:
        raise ValueError(f"{where}: {role} is a single number; it needs a first (sample) "
                         "dimension")
    if len(array) == 0:
        raise ValueError(f"{where}: {role} has 0 samples")
    if array.dtype.kind in "fc":
        finite = np.isfinite(array)
        if not finite.all():
            bad = array.size - int(np.count_nonzero(finite))
            row = int(np.argwhere(~finite)[0][0])
            raise ValueError(
                f"{where}: {role} has {bad} NaN or infinite value(s), the first in row {row}; "
                "clean or impute the data first (a NaN can hide behind relu or sigmoid and "
                "silently ruin the weights)"
            )
    dtype = _model_dtype(model)
    kinds = "fiu" if cast_integers else "f"
    if dtype is not None and array.dtype.kind in kinds and array.dtype != dtype:
        # float64 data must not silently upcast a float32 network
        array = array.astype(dtype)
    return array


def _checked_pair(model: Module, data: object, name: str, where: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` from a two-element tuple/list, aligned, non-empty, finite."""
    if isinstance(data, (np.ndarray, Tensor)) or not isinstance(data, (tuple, list)):
        shape = f" of shape {data.shape}" if hasattr(data, "shape") else ""
        hint = "; call fit(model, loss_fn, optimizer, (X, y), epochs)" if where == "fit" else ""
        raise TypeError(f"{where}: {name} must be a pair (X, y), got "
                        f"{type(data).__name__}{shape}{hint}")
    if len(data) != 2:
        raise ValueError(f"{where}: {name} must be a pair (X, y), got a {type(data).__name__} "
                         f"of {len(data)} element(s)")
    X = _checked_array(model, data[0], f"{name} X", where, cast_integers=True)
    y = _checked_array(model, data[1], f"{name} y", where, cast_integers=False)
    if len(X) != len(y):
        raise ValueError(f"{where}: {name} has {len(X)} samples in X but {len(y)} in y")
    return X, y


def predict(model: Module, X: ArrayLike, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs for ``X`` as an array, batch by batch, in eval mode and no_grad."""
    X = _checked_array(model, X, "X", "predict", cast_integers=True)
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

    The model runs in batches of ``batch_size``; the loss is ``loss_fn`` of the outputs of
    the whole set, so it does not depend on the batch size (a mean of per-batch means would,
    for class weights, ``ignore_index`` or ``reduction="sum"``). The metric (default
    :func:`accuracy`) is None if not wanted.
    """
    X, y = _checked_pair(model, (X, y), "data", "evaluate")
    metric = _metric_for(metric, loss_fn)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with no_grad():
            for xb, _ in batches(X, y, batch_size=batch_size):
                outputs.append(np.asarray(model(xb).data))
            output = np.concatenate(outputs)
            loss = _loss_value(loss_fn(Tensor(output), y), "evaluate")
    finally:
        model.train(was_training)
    score = None if metric is None else float(metric(output, y))
    return Evaluation(loss, score)


def _loss_value(loss: object, where: str) -> float:
    _check_loss(loss, where)
    return float(loss.item())


def _check_loss(loss: object, where: str) -> None:
    """A loss must be a one-element Tensor (checked without reading its value)."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"{where}: loss_fn must return a Tensor (to back-propagate), got "
                        f"{type(loss).__name__}")
    if loss.size != 1:
        raise ValueError(f"{where}: loss_fn returned shape {loss.shape}; it must return one "
                         "number (use reduction='mean' or 'sum')")


# ---- fit --------------------------------------------------------------------------------------
def _check_fit_arguments(model: object, loss_fn: object, optimizer: object,
                         scheduler: object, callbacks: object) -> list[Callback]:
    if not isinstance(model, Module):
        raise TypeError(f"fit: model must be a Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable (e.g. nn.CrossEntropyLoss()), got "
                        f"{type(loss_fn).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"fit: optimizer must be an optimiser (e.g. optim.Adam(model."
                        f"parameters())), got {type(optimizer).__name__}")
    own = {id(p) for p in model.parameters()}
    if not own:
        raise ValueError("fit: the model has no parameters to train")
    trained = [p for group in optimizer.param_groups for p in group["params"] if id(p) in own]
    if not trained:
        raise ValueError(
            "fit: the optimiser updates none of the model's parameters (was it built for "
            "another model?); build it with optimizer = ...(model.parameters())"
        )
    if scheduler is not None:
        if not isinstance(scheduler, (LRScheduler, ReduceLROnPlateau)):
            raise TypeError(f"fit: scheduler must be one of optim.lr_scheduler's schedulers, "
                            f"got {type(scheduler).__name__}")
        if scheduler.optimizer is not optimizer:
            raise ValueError("fit: the scheduler was built for another optimiser")
    if isinstance(callbacks, Callback) or not isinstance(callbacks, Iterable):
        raise TypeError("fit: callbacks must be a list of Callback objects")
    callbacks = list(callbacks)
    strangers = [(i, c) for i, c in enumerate(callbacks) if not isinstance(c, Callback)]
    if strangers:
        index, stranger = strangers[0]
        raise TypeError(f"fit: callbacks[{index}] is a {type(stranger).__name__}, not a "
                        "micrograd_nd.callbacks.Callback")
    return callbacks


class _FinitenessScan:
    """Finds the first array holding NaN or ±inf, with one BLAS dot product per array.

    Σ xᵢ·0 is exactly 0 when every xᵢ is finite and NaN as soon as one is NaN or ±inf
    (inf·0 = NaN), and unlike Σ xᵢ it cannot overflow: no false alarm, no confirmation pass.
    The zeros are allocated once per dtype and sliced.
    """

    def __init__(self) -> None:
        self._zeros: dict[np.dtype, np.ndarray] = {}

    def first(self, named_arrays: Iterable[tuple[str, np.ndarray]]) -> str | None:
        with np.errstate(invalid="ignore"):  # inf·0 warns; the caller reports it instead
            for name, array in named_arrays:
                flat = array.reshape(-1)
                zeros = self._zeros.get(flat.dtype)
                if zeros is None or zeros.size < flat.size:
                    zeros = self._zeros[flat.dtype] = np.zeros(flat.size, flat.dtype)
                if np.dot(flat, zeros[: flat.size]) != 0:
                    return name
        return None


class _DivergenceGuard:
    """fit's checks for NaN and inf: the loss and the gradients every batch, the parameters
    at the end of each epoch and whenever a check fails (to say if the model is ruined)."""

    def __init__(self, model: Module, optimizer: Optimizer, epochs: int, batches: int) -> None:
        self.named = list(model.named_parameters())
        self.optimizer = optimizer
        self.epochs, self.batches = epochs, batches
        self.scan = _FinitenessScan()

    def _ruined(self) -> str | None:
        return self.scan.first((name, p.data) for name, p in self.named)

    def check_loss(self, value: float, epoch: int, batch: int) -> None:
        if not math.isfinite(value):
            self._fail(f"the loss is {value}", self._at(epoch, batch), self._ruined())

    def check_gradients(self, epoch: int, batch: int) -> None:
        bad = self.scan.first((name, p.grad.data) for name, p in self.named
                              if p.grad is not None)
        if bad is not None:
            self._fail(f"the gradient of {bad} has NaN or inf values", self._at(epoch, batch),
                       self._ruined())

    def check_parameters(self, epoch: int) -> None:
        # A finite gradient can still overflow in the update; the next batch's loss shows it,
        # and this catches it in the last batch of the epoch.
        bad = self._ruined()
        if bad is not None:
            self._fail(f"parameter {bad} became NaN or inf in an update",
                       f"the end of epoch {epoch + 1}/{self.epochs}", bad)

    def _at(self, epoch: int, batch: int) -> str:
        return f"epoch {epoch + 1}/{self.epochs}, batch {batch}/{self.batches}"

    def _fail(self, what: str, where: str, ruined: str | None) -> None:
        rates = sorted({group["lr"] for group in self.optimizer.param_groups})
        if ruined is None:
            state = ("training stopped before this batch's update, so the parameters are "
                     "those of the previous batch")
        elif ruined in what:
            state = "the model is ruined: reload a checkpoint"
        else:
            state = (f"parameter {ruined} is already NaN or inf (an earlier update "
                     "overflowed): reload a checkpoint")
        raise TrainingDivergedError(
            f"fit: {what} at {where} (lr {', '.join(f'{r:g}' for r in rates)}); {state}. "
            "Lower the learning rate, clip the gradients (optim.clip_grad_norm_), or check "
            "the data and the loss (fit(..., check_finite=False) turns this check off)"
        )


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
    scheduler: Scheduler | None = None,
    callbacks: Iterable[Callback] = (),
    resume_from: str | None = None,
    check_finite: bool = True,
    compile: bool = False,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_data = (X, y)``; return a History.

    Each minibatch: forward, ``loss_fn(outputs, targets)``, ``optimizer.zero_grad()``,
    ``backward()``, ``optimizer.step()``. Batches are reshuffled every epoch from ``rng``
    (an int seed makes the run repeatable). Training loss/metric are averaged over the
    epoch's batches as they were trained (so they lag the end-of-epoch model a little);
    validation figures come from :func:`evaluate` after the epoch.

    ``scheduler`` (from :mod:`micrograd_nd.optim.lr_scheduler`) steps once after each epoch;
    ``ReduceLROnPlateau`` is given the validation loss (the training loss without validation
    data). ``callbacks`` run at the start, after each epoch and at the end
    (:mod:`micrograd_nd.callbacks`: early stopping, checkpoints). ``resume_from=path`` loads
    a checkpoint that ``ModelCheckpoint`` wrote into model, optimiser, scheduler and the
    shuffling generator, and trains the remaining epochs up to ``epochs``: the result is
    bit-identical to a run that never stopped.

    Inputs and targets must be finite (checked once, up front). With ``check_finite`` (the
    default), every batch's loss and, before the update, every gradient is checked, and the
    parameters at the end of each epoch (an update that overflows shows in the next batch's
    loss); the first NaN or inf raises :class:`TrainingDivergedError` naming the epoch, the
    batch and the tensor, and saying whether the parameters are still finite.

    ``compile=True`` runs each batch's forward and backward pass through
    :func:`micrograd_nd.compile` (traced on the first two batches of each batch shape, then
    replayed as straight-line NumPy): the same results, bit for bit, in less time. A loss the
    trace cannot replay runs eagerly, with one ``CompileWarning``.

    Output: with ``progress`` and tqdm installed, a progress bar per epoch whose final line
    shows the epoch's figures; otherwise, if ``verbose``, one printed line per epoch.
    ``progress=False, verbose=False`` is silent.
    """
    # Misuse first: fit(model, loss, opt, X, y) puts the arrays where the pair and epochs go.
    callbacks = _check_fit_arguments(model, loss_fn, optimizer, scheduler, callbacks)
    metric = _metric_for(metric, loss_fn)
    X, y = _checked_pair(model, train_data, "train_data", "fit")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int ≥ 0, got {epochs!r}")
    validation = (None if validation_data is None else
                  _checked_pair(model, validation_data, "validation_data", "fit"))
    loader = batches(X, y, batch_size=batch_size, shuffle=shuffle, rng=rng)
    history = History()
    start_epoch = 0
    if resume_from is not None:
        saved = load_checkpoint(resume_from, model, optimizer, scheduler,
                                generators={"shuffle": loader.rng})
        if saved.epoch > epochs:
            raise ValueError(f"fit: the checkpoint {resume_from} is after epoch {saved.epoch}, "
                             f"beyond epochs={epochs}")
        start_epoch = saved.epoch
        if saved.history is not None:
            history = History.from_dict(saved.history)
    guard = _DivergenceGuard(model, optimizer, epochs, len(loader)) if check_finite else None
    forward_backward = _forward_backward(model, loss_fn, optimizer)
    if compile:
        forward_backward = CompiledFunction(forward_backward)
    run = TrainingRun(model=model, optimizer=optimizer, scheduler=scheduler, history=history,
                      epochs=epochs, epoch=start_epoch, shuffle_generator=loader.rng,
                      has_validation=validation is not None, has_metric=metric is not None)
    for callback in callbacks:
        callback.on_train_begin(run)
    use_bar = progress and _tqdm is not None
    for epoch in range(start_epoch, epochs):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        bar = (_tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{epochs}", leave=True,
                     file=sys.stderr) if use_bar else None)
        try:
            train_loss, train_metric = _train_epoch(model, forward_backward, optimizer, loader,
                                                    metric, guard, epoch, bar)
            history.train_loss.append(train_loss)
            history.lr.append(lr)
            if train_metric is not None:
                history.train_accuracy.append(train_metric)
            if validation is not None:
                result = evaluate(model, *validation, loss_fn, batch_size=eval_batch_size,
                                  metric=metric)
                history.val_loss.append(result.loss)
                if result.accuracy is not None:
                    history.val_accuracy.append(result.accuracy)
            history.epoch_time.append(time.perf_counter() - start)
            if bar is not None:  # the bar's last line is the epoch's line: drawn before close
                bar.set_postfix_str(history.summary(), refresh=True)
        finally:
            if bar is not None:
                bar.close()
        if bar is None and verbose:
            print(f"epoch {epoch + 1}/{epochs}  {history.summary()}", flush=True)
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(history.val_loss[-1] if validation is not None
                           else history.train_loss[-1])
        elif scheduler is not None:
            scheduler.step()
        run.epoch = epoch + 1
        for callback in callbacks:
            callback.on_epoch_end(run)
        if run.stop_training:
            if verbose or use_bar:
                print(f"stopped after epoch {epoch + 1}/{epochs}: {run.stop_reason}",
                      file=sys.stderr if use_bar else sys.stdout, flush=True)
            break
    for callback in callbacks:
        callback.on_train_end(run)
    return history


def _forward_backward(model: Module, loss_fn: Callable[[Any, Any], Tensor],
                      optimizer: Optimizer) -> Callable[[Any, Any], tuple[Tensor, Tensor]]:
    """One batch up to the update: outputs, loss, zero_grad, backward (compile() replays it)."""
    def forward_backward(xb: Any, yb: Any) -> tuple[Tensor, Tensor]:
        outputs = model(xb)
        loss = loss_fn(outputs, yb)
        _check_loss(loss, "fit")
        optimizer.zero_grad()
        loss.backward()
        return outputs, loss
    return forward_backward


def _train_epoch(
    model: Module,
    forward_backward: Callable[[Any, Any], tuple[Tensor, Tensor]],
    optimizer: Optimizer,
    loader: Iterable[tuple[np.ndarray, np.ndarray]],
    metric: Metric | None,
    guard: _DivergenceGuard | None,
    epoch: int,
    bar: Any,
) -> tuple[float, float | None]:
    """One pass over the loader; the mean loss and metric over the batches as trained."""
    model.train()
    loss_sum, metric_sum, seen = 0.0, 0.0, 0
    for batch, (xb, yb) in enumerate(loader, start=1):
        outputs, loss = forward_backward(xb, yb)
        value = float(loss.item())
        if guard is not None:  # a non-finite loss or gradient stops before the update
            guard.check_loss(value, epoch, batch)
            guard.check_gradients(epoch, batch)
        optimizer.step()
        n = len(xb)
        loss_sum += value * n
        if metric is not None:
            metric_sum += float(metric(outputs.data, yb)) * n
        seen += n
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", refresh=False)
    if guard is not None:
        guard.check_parameters(epoch)
    return loss_sum / seen, (None if metric is None else metric_sum / seen)


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
