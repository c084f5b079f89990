"""Losses: regression (MSE, square, L1, Huber, smooth L1, KL) and classification (NLL,
cross-entropy, binary cross-entropies), with PyTorch's reductions, weights and ignore_index.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._checks import check_choice, check_int, check_real
from ..ops import (
    abs,
    astype,
    exp,
    log,
    mean,
    reshape,
    sum,
    values_op,
    where,
)
from ..tensor import ArrayLike, Tensor, apply, as_tensor
from ._common import REDUCTIONS, _as_float
from .activations import _constant_shift, _signed_parts, log_softmax


# ---------------------------------------------------------------------------------------------
# Losses: helpers.
# ---------------------------------------------------------------------------------------------
def _reduce(losses: Tensor, reduction: str, op: str,
            allowed: tuple[str, ...] = REDUCTIONS) -> Tensor:
    check_choice(op, "reduction", reduction, allowed)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return sum(losses)
    if losses.size == 0:
        raise ValueError(
            f"{op}: reduction={reduction!r} over no elements (losses of shape {losses.shape}) "
            "has no value; use reduction='sum' (0) or check the batch"
        )
    return mean(losses) if reduction == "mean" else sum(losses) * (1.0 / losses.shape[0])


def _loss_operands(op: str, input: ArrayLike, target: ArrayLike) -> tuple[Tensor, Tensor]:
    """Input and target as tensors of the same shape."""
    input, target = as_tensor(input, None, op), as_tensor(target, None, op)
    _same_shape(op, input, target)
    return input, target


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
    apply(_unit_interval_check(op), values, name=name)  # replayed by compiled steps


@functools.cache
def _unit_interval_check(op: str) -> Any:
    return values_op(op, _in_unit_interval)


def _in_unit_interval(data: np.ndarray, name: str) -> np.ndarray:
    if data.size and not (np.all(data >= 0) and np.all(data <= 1)):  # NaN fails both
        raise ValueError(
            f"{name} must lie in [0, 1], got values in [{np.min(data)}, {np.max(data)}]"
        )
    return np.True_  # checked


def _not_a_reduction(op: str, name: str, value: Any) -> None:
    """``loss(x, y, 'sum')``: PyTorch's third positional argument is ``weight``."""
    if isinstance(value, str):
        raise TypeError(
            f"{op}: {name} must be an array, got the string {value!r}; pass the reduction "
            f"by name (reduction={value!r})"
        )


def _elementwise_weight(op: str, name: str, weight: ArrayLike, shape: tuple[int, ...]
                        ) -> Tensor:
    """``weight`` as a tensor that broadcasts to the loss ``shape`` without changing it."""
    _not_a_reduction(op, name, weight)
    weight = _as_float(weight, op)
    try:
        fits = np.broadcast_shapes(weight.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{op}: {name} of shape {weight.shape} does not broadcast to the input shape {shape}"
        )
    return weight


# ---------------------------------------------------------------------------------------------
# Regression losses.
# ---------------------------------------------------------------------------------------------
def mse_loss(input: ArrayLike, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean over every element of (input − target)²."""
    input, target = _loss_operands("mse_loss", input, target)
    difference = input - target
    return _reduce(difference * difference, reduction, "mse_loss")


def square_loss(input: ArrayLike, target: ArrayLike, reduction: str = "sum") -> Tensor:
    """The digit-network article, eq. (3): cost = Σ_k ½ (label_k − y_k)² per sample, summed over
    samples (the MLP-derivation article)."""
    input, target = _loss_operands("square_loss", input, target)
    difference = target - input
    return _reduce(_per_sample(0.5 * (difference * difference)), reduction, "square_loss")


def l1_loss(input: ArrayLike, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """Mean absolute error: mean |input − target|; the gradient is sign(input − target),
    0 where they are equal."""
    input, target = _loss_operands("l1_loss", input, target)
    return _reduce(abs(input - target), reduction, "l1_loss")


def _huber(difference: Tensor, delta: float) -> Tensor:
    """½d² for |d| < δ, δ(|d| − ½δ) otherwise (continuous, with a continuous derivative)."""
    magnitude = abs(difference)
    inside = magnitude < delta
    small = where(inside, difference, 0.0)  # a huge d is never squared (no overflow)
    return where(inside, 0.5 * (small * small), delta * (magnitude - 0.5 * delta))


def huber_loss(
    input: ArrayLike, target: ArrayLike, reduction: str = "mean", delta: float = 1.0
) -> Tensor:
    """Huber loss of d = input − target: ½d² for |d| < δ, δ(|d| − ½δ) beyond (δ > 0)."""
    delta = check_real("huber_loss", "delta", delta, low=0.0, low_open=True)
    input, target = _loss_operands("huber_loss", input, target)
    return _reduce(_huber(input - target, delta), reduction, "huber_loss")


def smooth_l1_loss(
    input: ArrayLike, target: ArrayLike, reduction: str = "mean", beta: float = 1.0
) -> Tensor:
    """Smooth L1 of d = input − target: ½d²/β for |d| < β, |d| − ½β beyond; the Huber loss
    divided by β (β = 0 is the L1 loss)."""
    beta = check_real("smooth_l1_loss", "beta", beta, low=0.0)
    input, target = _loss_operands("smooth_l1_loss", input, target)
    difference = input - target
    losses = abs(difference) if beta == 0.0 else _huber(difference, beta) / beta
    return _reduce(losses, reduction, "smooth_l1_loss")


KL_REDUCTIONS = ("mean", "batchmean", "sum", "none")


def kl_div(
    input: ArrayLike, target: ArrayLike, reduction: str = "mean", log_target: bool = False
) -> Tensor:
    """KL(target ‖ q) terms with ``input`` = ln q: target·(ln target − input) elementwise
    (0 where target = 0, whatever the input); with ``log_target`` the target is ln p:
    e^target·(target − input).

    ``reduction='batchmean'`` (sum / batch size) is the true KL divergence per sample;
    ``'mean'`` (the default, as in PyTorch) divides by the number of elements instead.
    """
    x, target = _as_float(input, "kl_div"), _as_float(target, "kl_div")
    _same_shape("kl_div", x, target)
    data = target.data
    if not log_target and data.size and not np.all(data >= 0):
        raise ValueError(
            f"kl_div: target probabilities must be ≥ 0 (and not NaN), got values in "
            f"[{np.min(data)}, {np.max(data)}]; pass log_target=True for log-probabilities"
        )
    # A class the target gives probability 0 adds exactly 0 (0·ln 0 = 0), even where the
    # input is −∞ (PyTorch gives 0·∞ = NaN there): both factors are replaced there. A NaN
    # input still gives NaN.
    impossible = data == (-np.inf if log_target else 0.0)
    x = where(impossible & (x.data == -np.inf), 0.0, x)
    if log_target:
        terms = exp(target) * (where(impossible, 0.0, target) - x)
    else:
        terms = target * (log(where(impossible, 1.0, target)) - x)
    if reduction == "batchmean" and x.ndim == 0:
        reduction = "sum"  # a single element is a batch of one
    return _reduce(terms, reduction, "kl_div", KL_REDUCTIONS)


# ---------------------------------------------------------------------------------------------
# Classification losses.
# ---------------------------------------------------------------------------------------------
# The reference (reference.py) accepts probability rows whose sums are this close to 1; in
# lower precision the rounding of C numbers allows up to C·eps.
_ROW_SUM_TOLERANCE = 1e-8


def _check_probability_rows(op: str, target: np.ndarray) -> None:
    if target.size == 0:
        return
    if not np.all(target >= 0):  # NaN fails too
        raise ValueError(
            f"{op}: probability targets must be ≥ 0 (and not NaN), got values in "
            f"[{np.min(target)}, {np.max(target)}]"
        )
    tolerance = max(_ROW_SUM_TOLERANCE, target.shape[-1] * float(np.finfo(target.dtype).eps))
    sums = np.sum(target, axis=-1)
    if not np.all(np.abs(sums - 1.0) <= tolerance):
        raise ValueError(
            f"{op}: each row of probability targets must sum to 1 (within {tolerance:.1e}), "
            f"got row sums in [{np.min(sums)}, {np.max(sums)}]; normalise the rows, or pass "
            "integer class labels"
        )


def _class_labels(op: str, scores: Tensor, target: ArrayLike, ignore_index: int
                  ) -> tuple[Tensor, Tensor]:
    """(labels with ignored entries set to class 0, the mask of the counted ones), after
    checking one label per sample and every counted label in [0, C).

    The values are read by forward-only ops (``values_op``), so a compiled step reads and
    checks each call's labels.
    """
    labels = as_tensor(target, None, op)
    if labels.dtype.kind in "iu" and labels.dtype != np.int64:
        # One label dtype: uint8 labels meet ignore_index=-100 (and int8 ones 300) as numbers.
        labels = astype(labels, np.int64)
    batch_shape, num_classes = scores.shape[:-1], scores.shape[-1]
    if labels.shape != batch_shape:
        raise ValueError(
            f"{op}: labels of shape {labels.shape} do not match logits of shape "
            f"{scores.shape} (expected {batch_shape}: one label per sample)"
        )
    checked = apply(_checked_labels_op(op), labels, num_classes=num_classes,
                    ignore_index=ignore_index)
    return checked, labels != ignore_index


def _checked_labels(labels: np.ndarray, num_classes: int, ignore_index: int) -> np.ndarray:
    if labels.size:
        low, high = labels.min(), labels.max()
        if low >= 0 and high < num_classes and not low <= ignore_index <= high:
            return labels  # the common case: every label valid, none ignored
    ignored = labels == ignore_index
    counted = labels[~ignored]
    if counted.size and (counted.min() < 0 or counted.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}) for {num_classes} classes, "
            f"got values in [{counted.min()}, {counted.max()}]"
            + (f" (ignore_index={ignore_index} aside)" if ignored.any() else "")
        )
    return np.where(ignored, 0, labels)


@functools.cache
def _checked_labels_op(op: str) -> Any:
    return values_op(op, _checked_labels)


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.arange(num_classes) == labels[..., None]


_ONE_HOT = values_op("one_hot", _one_hot)


def _inverse_count(counted: np.ndarray, dtype: np.dtype, op: str) -> np.ndarray:
    """1 / (the number of counted targets), in ``dtype``; none counted is an error."""
    count = int(np.count_nonzero(counted))
    if not count:
        raise ValueError(
            f"reduction='mean' divides by the total weight of the counted targets, which is "
            f"0.0 ({counted.size} target(s), none counted with a nonzero weight: all ignored, "
            "or their class weights are 0); use reduction='sum'"
        )
    return np.asarray(1.0 / count, dtype=dtype)


@functools.cache
def _inverse_count_op(op: str) -> Any:
    return values_op(op, _inverse_count)


def _class_scores(op: str, input: ArrayLike, weight: ArrayLike | None, ignore_index: Any
                  ) -> tuple[Tensor, int, Tensor | None]:
    """(scores with a class axis, the checked ignore_index, the class weights or None)."""
    scores = _as_float(input, op)
    if scores.ndim == 0:
        raise ValueError(f"{op}: input needs a class axis (the last), got a 0-d tensor")
    return scores, check_int(op, "ignore_index", ignore_index), _class_weight(op, weight, scores)


def _class_weight(op: str, weight: ArrayLike | None, scores: Tensor) -> Tensor | None:
    if weight is None:
        return None
    _not_a_reduction(op, "weight", weight)
    weight = _as_float(weight, op)
    if weight.shape != scores.shape[-1:]:
        raise ValueError(
            f"{op}: weight must have one entry per class, shape ({scores.shape[-1]},), got "
            f"shape {weight.shape}"
        )
    return weight


def _pick_class(scores: Tensor, labels: Tensor) -> Tensor:
    """scores[..., label] per sample, as Σ_k [k = label]·scores_k with a ``where`` (far cheaper
    to differentiate than fancy indexing, whose adjoint is a scatter-add; and another class's
    −∞ adds 0, not 0·(−∞) = NaN)."""
    one_hot = apply(_ONE_HOT, labels, num_classes=scores.shape[-1])
    return sum(where(one_hot, scores, 0.0), axis=-1)


def _reduce_class_losses(
    op: str,
    losses: Tensor,
    labels: Tensor,
    counted: Tensor,
    class_weight: Tensor | None,
    reduction: str,
) -> Tensor:
    """PyTorch's reduction for class-index targets: ignored samples give 0, and ``'mean'`` is
    Σ_n ℓ_n / Σ_n w_{y_n} over the counted samples (the number of them without weights)."""
    check_choice(op, "reduction", reduction, REDUCTIONS)
    losses = where(counted, losses, 0.0)  # all counted: the same values and gradients
    if reduction == "none":
        return losses
    total = sum(losses)
    if reduction == "sum":
        return total
    if class_weight is None:
        return total * apply(_inverse_count_op(op), counted, dtype=total.dtype, op=op)
    sample_weight = class_weight[labels]
    denominator = sum(where(counted, sample_weight, 0.0))
    denominator_value = float(denominator.data)
    if denominator_value != 0.0:
        return total / denominator
    raise ValueError(
        f"{op}: reduction='mean' divides by the total weight of the counted targets, which is "
        f"{denominator_value} ({labels.size} target(s), none counted with a nonzero weight: "
        "all ignored, or their class weights are 0); use reduction='sum'"
    )


def nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (classes on the last axis):
    ℓ_n = −w_{y_n}·input[n, y_n], 0 for a target equal to ``ignore_index``; ``'mean'`` is
    Σ ℓ_n / Σ w_{y_n} over the counted targets."""
    log_probs, ignore_index, class_weight = _class_scores("nll_loss", input, weight,
                                                          ignore_index)
    target_dtype = (target if isinstance(target, Tensor) else np.asarray(target)).dtype
    if target_dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must be integer class labels, got dtype "
                        f"{target_dtype}")
    labels, counted = _class_labels("nll_loss", log_probs, target, ignore_index)
    losses = -_pick_class(log_probs, labels)
    if class_weight is not None:
        losses = class_weight[labels] * losses
    return _reduce_class_losses("nll_loss", losses, labels, counted, class_weight, reduction)


def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy of logits (classes on the last axis; the vanishing-gradient article).

    Integer labels y: ℓ_n = w_{y_n}·(−ln softmax(x_n)_{y_n}), 0 where y_n = ``ignore_index``;
    ``'mean'`` is Σ ℓ_n / Σ w_{y_n} over the counted samples (PyTorch's weighted mean).
    With ``label_smoothing`` ε: ℓ_n = (1 − ε)·ℓ_n + (ε/C)·Σ_c w_c·(−ln softmax(x_n)_c).

    Probability rows p (same shape as the logits, each summing to 1):
    ℓ_n = −Σ_c w_c·p̃_{n,c}·ln softmax(x_n)_c with p̃ = (1 − ε)p + ε/C; ``'mean'`` divides by
    the number of samples.
    """
    op = "cross_entropy"
    logits, ignore_index, class_weight = _class_scores(op, input, weight, ignore_index)
    smoothing = check_real(op, "label_smoothing", label_smoothing, low=0.0, high=1.0)
    num_classes = logits.shape[-1]
    target_data = target if isinstance(target, Tensor) else np.asarray(target)
    if target_data.dtype.kind in "iu":
        labels, counted = _class_labels(op, logits, target, ignore_index)
        # With z = logits − max (a constant shift): −ln softmax(logits)_y = ln Σ_k e^{z_k} − z_y.
        shifted = logits - _constant_shift(logits, -1)
        log_total = log(sum(exp(shifted), axis=-1))
        losses = log_total - _pick_class(shifted, labels)
        if class_weight is not None:
            losses = class_weight[labels] * losses
        if smoothing > 0.0:
            log_probs = shifted - reshape(log_total, log_total.shape + (1,))
            if class_weight is not None:
                log_probs = log_probs * class_weight
            losses = (1.0 - smoothing) * losses - (smoothing / num_classes) * sum(log_probs,
                                                                                  axis=-1)
        return _reduce_class_losses(op, losses, labels, counted, class_weight, reduction)
    if target_data.dtype.kind != "f":
        raise TypeError(
            f"cross_entropy: target must be integer labels or float probabilities, "
            f"got dtype {target_data.dtype}"
        )
    if ignore_index != -100:
        raise ValueError(
            f"cross_entropy: ignore_index={ignore_index} applies to integer class labels, "
            "not to probability targets"
        )
    probabilities = as_tensor(target, None, op)
    if probabilities.shape == logits.shape[:-1]:
        raise ValueError(
            f"{op}: target of shape {probabilities.shape} and dtype {probabilities.dtype} looks "
            "like class labels, but float targets are read as probability rows of the logits' "
            f"shape {logits.shape}; pass integer labels (y.astype(np.int64))"
        )
    _same_shape(op, logits, probabilities)
    _check_probability_rows(op, probabilities.data)
    if smoothing > 0.0:
        probabilities = probabilities * (1.0 - smoothing) + smoothing / num_classes
    log_probs = log_softmax(logits, axis=-1)
    impossible = (probabilities.data == 0) & (log_probs.data == -np.inf)
    if impossible.any():  # a class of probability 0 adds 0, not 0·(−∞) = NaN
        log_probs = where(impossible, 0.0, log_probs)
    terms = probabilities * log_probs
    if class_weight is not None:
        terms = terms * class_weight
    return _reduce(-sum(terms, axis=-1), reduction, op)


def _safe_log(p: Tensor) -> Tensor:
    """ln(p + tiny), tiny the dtype's smallest normal number: ln 0 is finite (≈ −708 in
    float64), its slope there 1/tiny is finite and pushes a confident wrong prediction hard,
    and for every p above the subnormal range p + tiny rounds to p."""
    return log(p + float(np.finfo(p.dtype).tiny))


def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    eps: float = 0.0,
) -> Tensor:
    """Eq. (4) elementwise: −w·[t·ln(p + eps) + (1−t)·ln(1 − p + eps)] for probabilities p.

    ``weight`` (broadcast to the input's shape) rescales each element. ``eps=1e-5``
    reproduces the guard of the digit-network article's code; with ``eps=0`` an exact 0 or 1
    probability gives
    a large finite loss instead of ∞ (ln is floored at the smallest normal number, ≈ −708 in
    float64, where PyTorch clamps ln at −100).
    """
    op = "binary_cross_entropy"
    eps = check_real(op, "eps", eps, low=0.0)
    probabilities, target = _as_float(input, op), as_tensor(target, None, op)
    _same_shape(op, probabilities, target)
    _check_unit_interval(op, "probabilities", probabilities)
    _check_unit_interval(op, "targets", target)
    losses = -(target * _safe_log(probabilities + eps)
               + (1.0 - target) * _safe_log(1.0 - probabilities + eps))
    if weight is not None:
        losses = losses * _elementwise_weight(op, "weight", weight, losses.shape)
    return _reduce(losses, reduction, op)


def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    pos_weight: ArrayLike | None = None,
) -> Tensor:
    """Eq. (4) on σ(x), from the logits x: −w·[p_w·t·ln σ(x) + (1−t)·ln(1 − σ(x))].

    With −ln σ(x) = max(−x, 0) + ln(1 + e^{−|x|}) and −ln(1 − σ(x)) = max(x, 0) + ln(1 +
    e^{−|x|}), nothing overflows; without ``pos_weight`` this is max(x,0) − x·t + ln(1 +
    e^{−|x|}). ``pos_weight`` (broadcast along the last axis, one per class) weighs the positive
    term, ``weight`` each element.
    """
    op = "binary_cross_entropy_with_logits"
    logits, target = _as_float(input, op), as_tensor(target, None, op)
    _same_shape(op, logits, target)
    _check_unit_interval(op, "targets", target)
    magnitude, positive_part = _signed_parts(logits)
    log_term = log(1.0 + exp(-magnitude))  # ln(1 + e^{−|x|}) ∈ (0, ln 2]
    if pos_weight is None:
        losses = positive_part - logits * target + log_term
    else:
        positive_weight = _elementwise_weight(op, "pos_weight", pos_weight, logits.shape)
        negative_part = positive_part - logits  # max(−x, 0), exactly
        losses = ((1.0 - target) * (positive_part + log_term)
                  + positive_weight * target * (negative_part + log_term))
    if weight is not None:
        losses = losses * _elementwise_weight(op, "weight", weight, losses.shape)
    return _reduce(losses, reduction, op)


def l2_penalty(parameters: Iterable[Tensor], weight: float) -> Tensor:
    """½ λ Σ_l ‖W(l)‖²_F, λ = ``weight`` ≥ 0 (the vanishing-gradient article's structural
    risk).

    ``parameters`` are tensors (``model.parameters()``); a NumPy array has no gradient, so
    penalising one would train nothing: it is refused.
    """
    weight = check_real("l2_penalty", "weight", weight, low=0.0)
    if isinstance(parameters, Tensor):
        raise TypeError(
            "l2_penalty: parameters must be an iterable of tensors (e.g. model.parameters()), "
            "got one Tensor; wrap it in a list"
        )
    try:
        items = list(parameters)
    except TypeError:
        raise TypeError(
            "l2_penalty: parameters must be an iterable of tensors (e.g. model.parameters()), "
            f"got {type(parameters).__name__}"
        ) from None
    total: Any = 0.0
    for index, parameter in enumerate(items):
        if not isinstance(parameter, Tensor):
            kind = type(parameter)
            raise TypeError(
                f"l2_penalty: parameter {index} is a {kind.__module__}.{kind.__qualname__}, "
                "not a Tensor: it has no gradient, so penalising it would change nothing; pass "
                "the model's parameters (model.parameters())"
            )
        total = total + sum(parameter * parameter)
    return as_tensor(total, None, "l2_penalty") * (0.5 * weight)
