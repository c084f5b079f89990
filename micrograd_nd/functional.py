"""Activations and losses composed from the primitives: none has a derivative rule of its own.

Each one is written so that its value *and* its gradient stay finite for inputs of magnitude
up to 1e3 and beyond: no exp of a large positive number, no log of 0, no ∞·0 in the backward
pass of a branch that ``where`` did not select.

Reductions (``reduction=``): ``"mean"``, ``"sum"`` or ``"none"``. ``mse_loss`` and the binary
cross-entropies reduce over every element, as PyTorch does; ``cross_entropy`` and
``square_loss`` first sum over the output units of each sample (seed 001 eqs. (3), (4);
003), then reduce over samples (the leading axis).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ._arrays import normalize_axis
from .ops import exp, log, maximum, mean, multiply, reshape, sum, tanh, where
from .tensor import ArrayLike, Tensor
from .tensor import as_tensor as _operand


def _check_axis(op: str, x: Tensor, axis: Any) -> Any:
    return normalize_axis(op, axis, x.ndim)


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "identity",
    "l2_penalty",
    "log_softmax",
    "logsumexp",
    "mse_loss",
    "relu",
    "sigmoid",
    "softmax",
    "square_loss",
    "tanh",
]

REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------------------------
# Activations.
# ---------------------------------------------------------------------------------------------
def identity(x: ArrayLike) -> Tensor:
    """g(z) = z."""
    return _operand(x)


def _signed_parts(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(x ≥ 0, |x|, max(x, 0)) with one condition, so their derivatives agree at 0."""
    nonnegative = x >= 0
    return nonnegative, where(nonnegative, x, -x), where(nonnegative, x, 0.0)


def sigmoid(x: ArrayLike) -> Tensor:
    """g(z) = 1/(1+e^{−z}) (seed 001 eq. (2)); g′ = g(1−g) (eq. (12)) comes from the primitives.

    z is first floored at 1 − ln(dtype max) (≈ −708.8 in float64, −87.7 in float32), so e^{−z}
    never overflows: without that, the backward pass would meet 0·∞ = NaN for very negative z.
    Above the floor the value has full relative precision; below it the true value is below
    the smallest normal number (subnormal or 0), and the gradient there is 0. The gradient
    itself underflows to 0 (an absolute error below 1e-300) once z < −354 in float64.
    """
    x = _operand(x)
    floor = 1.0 - float(np.log(np.finfo(x.dtype if x.dtype.kind == "f" else np.float64).max))
    safe = where(x > floor, x, floor)
    return 1.0 / (1.0 + exp(-safe))


def relu(x: ArrayLike) -> Tensor:
    """g(z) = max(z, 0), with g′(z) = [z > 0] (seed 003; 0 at the kink)."""
    x = _operand(x)
    return where(x > 0, x, 0.0)


def logsumexp(x: ArrayLike, axis: int | tuple[int, ...] | None = -1, keepdims: bool = False
              ) -> Tensor:
    """log Σ eˣ over ``axis``, as m + log Σ e^{x−m} with m = max x held constant.

    The identity holds for any constant m, so treating m as a constant leaves the gradient
    (softmax) exact while every exponent is ≤ 0.
    """
    x = _operand(x)
    axis = _check_axis("logsumexp", x, axis)
    shift = _constant_shift(x, axis)
    shifted_sum = sum(exp(x - shift), axis=axis, keepdims=True)
    result = log(shifted_sum) + shift
    if not keepdims:
        result = reshape(result, np.sum(shift, axis=axis).shape)
    return result


def _constant_shift(x: Tensor, axis: Any) -> np.ndarray:
    """max x over ``axis`` (kept as size 1) as a plain array: a constant for the graph."""
    shift = np.max(x.data, axis=axis, keepdims=True)
    return np.where(np.isfinite(shift), shift, 0.0).astype(x.dtype)  # all −∞ rows: no NaN


def log_softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    """log softmax(x) = x − logsumexp(x), finite for any finite logits."""
    x = _operand(x)
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    """softmax(x)_k = e^{x_k} / Σ_j e^{x_j} (seed 003), as exp(log_softmax(x))."""
    return exp(log_softmax(x, axis=axis))


# ---------------------------------------------------------------------------------------------
# Losses.
# ---------------------------------------------------------------------------------------------
def _reduce(losses: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return mean(losses)
    if reduction == "sum":
        return sum(losses)
    if reduction == "none":
        return losses
    raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _same_shape(op: str, prediction: Tensor, target: Tensor) -> None:
    if prediction.shape != target.shape:
        raise ValueError(
            f"{op}: prediction shape {prediction.shape} and target shape {target.shape} "
            "differ (broadcasting them silently would give a wrong loss)"
        )


def _per_sample(values: Tensor) -> Tensor:
    """Sum over every axis but the leading (sample) axis."""
    return values if values.ndim <= 1 else sum(values, axis=tuple(range(1, values.ndim)))


def _check_unit_interval(op: str, name: str, values: Tensor) -> None:
    data = values.data
    if data.size and not (np.all(data >= 0) and np.all(data <= 1)):
        raise ValueError(
            f"{op}: {name} must lie in [0, 1], got values in [{np.min(data)}, {np.max(data)}]"
        )


def mse_loss(prediction: ArrayLike, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean over every element of (prediction − target)²."""
    prediction, target = _operand(prediction), _operand(target)
    _same_shape("mse_loss", prediction, target)
    difference = prediction - target
    return _reduce(difference * difference, reduction, "mse_loss")


def square_loss(prediction: ArrayLike, target: ArrayLike, reduction: str = "sum") -> Tensor:
    """Seed 001 eq. (3): cost = Σ_k ½ (label_k − y_k)² per sample, summed over samples (004)."""
    prediction, target = _operand(prediction), _operand(target)
    _same_shape("square_loss", prediction, target)
    difference = target - prediction
    return _reduce(_per_sample(0.5 * (difference * difference)), reduction, "square_loss")


def _safe_log(p: Tensor) -> Tensor:
    """ln p with p floored at the dtype's smallest normal number, so ln 0 is finite."""
    return log(maximum(p, float(np.finfo(p.dtype).tiny)))


def binary_cross_entropy(
    probabilities: ArrayLike,
    target: ArrayLike,
    reduction: str = "mean",
    eps: float = 0.0,
) -> Tensor:
    """Eq. (4) elementwise: −[label·ln(y + eps) + (1−label)·ln(1 − y + eps)].

    ``eps=1e-5`` reproduces the guard of seed 001's code; with ``eps=0`` an exact 0 or 1
    probability gives a large finite loss instead of ∞ (ln is floored at the smallest normal).
    """
    probabilities, target = _operand(probabilities), _operand(target)
    _same_shape("binary_cross_entropy", probabilities, target)
    _check_unit_interval("binary_cross_entropy", "probabilities", probabilities)
    _check_unit_interval("binary_cross_entropy", "targets", target)
    losses = -(target * _safe_log(probabilities + eps)
               + (1.0 - target) * _safe_log(1.0 - probabilities + eps))
    return _reduce(losses, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(
    logits: ArrayLike, target: ArrayLike, reduction: str = "mean"
) -> Tensor:
    """Eq. (4) on sigmoid(logits), as max(x,0) − x·label + ln(1 + e^{−|x|}): never overflows."""
    logits, target = _operand(logits), _operand(target)
    _same_shape("binary_cross_entropy_with_logits", logits, target)
    _check_unit_interval("binary_cross_entropy_with_logits", "targets", target)
    _, magnitude, positive_part = _signed_parts(logits)
    losses = positive_part - logits * target + log(1.0 + exp(-magnitude))
    return _reduce(losses, reduction, "binary_cross_entropy_with_logits")


def cross_entropy(logits: ArrayLike, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy −Σ_k label_k ln softmax(logits)_k per sample (seed 003).

    Classes are on the last axis. ``target`` is either integer class labels of shape
    ``logits.shape[:-1]``, or one-hot / probability rows of the logits' shape.
    """
    logits = _operand(logits)
    if logits.ndim == 0:
        raise ValueError("cross_entropy: logits need a class axis, got a 0-d tensor")
    target_data = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target_data.dtype.kind in "iu":
        # With z = logits − max (a constant shift) and the label's one-hot row m:
        # −ln softmax(logits)_label = ln Σ_k e^{z_k} − Σ_k m_k z_k. Same value as picking from
        # log_softmax, with two fewer ops on the tape.
        mask = _class_mask(logits, target_data)
        shifted = logits - _constant_shift(logits, -1)
        losses = log(sum(exp(shifted), axis=-1)) - sum(multiply(shifted, mask), axis=-1)
    elif target_data.dtype.kind == "f":
        target = _operand(target)
        _same_shape("cross_entropy", logits, target)
        losses = -sum(multiply(target, log_softmax(logits, axis=-1)), axis=-1)
    else:
        raise TypeError(
            f"cross_entropy: target must be integer labels or float probabilities, "
            f"got dtype {target_data.dtype}"
        )
    return _reduce(losses, reduction, "cross_entropy")


def _class_mask(logits: Tensor, labels: np.ndarray) -> np.ndarray:
    """One-hot rows of ``labels`` (shape of ``logits``), with the label count and range checked.

    Σ_k onehot_k · v_k picks the labelled class; a mask multiply is much cheaper to
    differentiate than fancy indexing (whose adjoint is a scatter-add).
    """
    batch_shape, num_classes = logits.shape[:-1], logits.shape[-1]
    if labels.shape != batch_shape:
        raise ValueError(
            f"cross_entropy: labels of shape {labels.shape} do not match logits of shape "
            f"{logits.shape} (expected {batch_shape}: one label per sample)"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"cross_entropy: labels must lie in [0, {num_classes}) for {num_classes} classes, "
            f"got values in [{labels.min()}, {labels.max()}]"
        )
    return np.eye(num_classes, dtype=logits.dtype)[labels]


def l2_penalty(parameters: Iterable[Tensor], weight: float) -> Tensor:
    """½ λ Σ_l ‖W(l)‖²_F (seed 003's structural-risk term)."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.floating)):
        raise TypeError(f"l2_penalty: weight must be a number, got {type(weight).__name__}")
    total: Any = 0.0
    for parameter in parameters:
        total = total + sum(parameter * parameter)
    return _operand(total) * (0.5 * weight)
