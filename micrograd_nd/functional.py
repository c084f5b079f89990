"""Activations, losses and tensor helpers composed from the primitives: none has a derivative
rule of its own, so every gradient here is the chain rule through the primitive table.

Names, argument names, defaults and formulas follow ``torch.nn.functional`` (see docs/nn.md
for the few deliberate differences). Axis arguments are NumPy's ``axis``/``keepdims``;
``@torch_names`` lets each also take PyTorch's ``dim=``/``keepdim=``.

Each function is written so that its value *and* its gradient stay finite for finite inputs
of magnitude up to 1e3 and beyond: no exp of a large positive number, no log of 0, no ∞·0 in
the backward pass of a branch that ``where`` did not select. And none turns a NaN input into a
number: ``where`` conditions are written so that a NaN (for which every comparison is False)
selects the branch that carries it.

Reductions (``reduction=``): ``"mean"``, ``"sum"`` or ``"none"``. ``mse_loss`` and the other
elementwise losses reduce over every element, as PyTorch does; ``cross_entropy`` and
``square_loss`` first sum over the output units of each sample (the digit-network article, eqs.
(3), (4);
003), then reduce over samples.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._arrays import get_default_dtype, normalize_axis, reduced_shape, torch_names
from ._checks import check_choice, check_int, check_real
from ._rng import RNGLike, as_generator
from .ops import (
    abs,
    astype,
    clip,
    erf,
    exp,
    expm1,
    log,
    log1p,
    mean,
    reshape,
    sqrt,
    sum,
    tanh,
    values_op,
    where,
)
from .tensor import ArrayLike, Tensor, apply, as_tensor

__all__ = [
    "argmax",
    "argmin",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "clamp",
    "clip",
    "cross_entropy",
    "dropout",
    "elu",
    "flatten",
    "gelu",
    "huber_loss",
    "identity",
    "kl_div",
    "l1_loss",
    "l2_penalty",
    "layer_norm",
    "leaky_relu",
    "log_softmax",
    "logsumexp",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "square_loss",
    "std",
    "tanh",
    "var",
]

REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------------------------
# Argument helpers.
# ---------------------------------------------------------------------------------------------
def _as_float(x: ArrayLike, op: str) -> Tensor:
    """``x`` as a Tensor of a floating dtype: integer and bool inputs take the default dtype
    (so ``softmax`` of a uint8 tensor does not compute −x in wrapping uint8 arithmetic)."""
    x = as_tensor(x, None, op)
    return x if x.dtype.kind == "f" else astype(x, get_default_dtype())


def _check_axis(op: str, x: Tensor, axis: Any) -> Any:
    return normalize_axis(op, axis, x.ndim)


# ---------------------------------------------------------------------------------------------
# Activations.
# ---------------------------------------------------------------------------------------------
def identity(input: ArrayLike) -> Tensor:
    """g(z) = z."""
    return as_tensor(input, None, "identity")


def relu(input: ArrayLike) -> Tensor:
    """g(z) = max(z, 0), with g′(z) = [z > 0] (the vanishing-gradient article; 0 at the kink); NaN
    stays NaN."""
    x = as_tensor(input, None, "relu")
    return where(x <= 0, 0.0, x)  # NaN <= 0 is False: the NaN itself is selected


def leaky_relu(input: ArrayLike, negative_slope: float = 0.01) -> Tensor:
    """g(z) = z for z > 0, negative_slope·z otherwise (g′(0) = negative_slope, as PyTorch)."""
    slope = check_real("leaky_relu", "negative_slope", negative_slope)
    x = as_tensor(input, None, "leaky_relu")
    return where(x > 0, x, x * slope)


def sigmoid(input: ArrayLike) -> Tensor:
    """g(z) = 1/(1+e^{−z}) (the digit-network article, eq. (2)); g′ = g(1−g) (eq. (12)) comes from
    the primitives.

    z is first floored at 1 − ln(dtype max) (≈ −708.8 in float64, −87.7 in float32), so e^{−z}
    never overflows (no warning, finite gradients). Above the floor the value has full
    relative precision; below it the true value is below the smallest normal number and the
    result is the floor's (below the smallest normal number too), with gradient 0. The
    gradient underflows to 0 (an absolute error below the smallest normal number) once
    z < −354 in float64, z < −44 in float32. NaN stays NaN: the floor's condition
    ``z < floor`` is False for it. (The exact two-branch form n/(1 + e^{−|z|}) needs a second
    ``where`` on the hot path of every sigmoid network, which costs far more than this floor.)
    """
    x = _as_float(input, "sigmoid")
    floor = 1.0 - float(np.log(np.finfo(x.dtype).max))
    return 1.0 / (1.0 + exp(-where(x < floor, floor, x)))


def silu(input: ArrayLike) -> Tensor:
    """SiLU (swish): g(z) = z·σ(z)."""
    x = _as_float(input, "silu")
    return x * sigmoid(x)


def _signed_parts(x: Tensor) -> tuple[Tensor, Tensor]:
    """(|x|, max(x, 0)) from one condition, so their derivatives agree at 0; NaN stays NaN."""
    negative_part = x < 0
    return where(negative_part, -x, x), where(negative_part, 0.0, x)


def _softplus(z: Tensor) -> Tensor:
    """ln(1 + e^z) = max(z, 0) + ln(1 + e^{−|z|}): never overflows, full precision for any z."""
    magnitude, positive_part = _signed_parts(z)
    return positive_part + log1p(exp(-magnitude))


def softplus(input: ArrayLike, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """g(z) = (1/β)·ln(1 + e^{βz}), and g(z) = z where βz > threshold (PyTorch's switch)."""
    beta = check_real("softplus", "beta", beta, low=0.0, low_open=True)
    threshold = check_real("softplus", "threshold", threshold)
    x = _as_float(input, "softplus")
    scaled = x * beta
    return where(scaled > threshold, x, _softplus(scaled) / beta)


def elu(input: ArrayLike, alpha: float = 1.0) -> Tensor:
    """g(z) = z for z > 0, α·(e^z − 1) otherwise (e^z − 1 by the expm1 primitive)."""
    alpha = check_real("elu", "alpha", alpha)
    x = _as_float(input, "elu")
    positive = x > 0
    nonpositive_part = where(positive, 0.0, x)  # e^x is never taken of a large positive x
    return where(positive, x, alpha * expm1(nonpositive_part))


_GELU_TANH_SCALE = math.sqrt(2.0 / math.pi)
_INVERSE_SQRT_2 = 1.0 / math.sqrt(2.0)


def gelu(input: ArrayLike, approximate: str = "none") -> Tensor:
    """GELU: g(z) = z·Φ(z) = ½z(1 + erf(z/√2)) (``approximate='none'``, exact), or PyTorch's
    ``'tanh'`` form ½z(1 + tanh(√(2/π)(z + 0.044715z³)))."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    x = _as_float(input, "gelu")
    if approximate == "none":
        return 0.5 * x * (1.0 + erf(x * _INVERSE_SQRT_2))
    inner = _GELU_TANH_SCALE * (x + 0.044715 * (x * x * x))
    return 0.5 * x * (1.0 + tanh(inner))


# ---------------------------------------------------------------------------------------------
# Softmax and friends: shifted by the (constant) maximum, so no exponent is positive.
# ---------------------------------------------------------------------------------------------
def _constant_shift(x: Tensor, axis: Any) -> Tensor:
    """max x over ``axis`` (kept as size 1), without gradient: a constant for the graph.

    A row of no elements, or one whose maximum is ±∞ or NaN, is shifted by 0 instead (the
    shift cancels out of every formula, so any finite constant is right). A forward-only op
    (``values_op``), so a compiled step recomputes it from each call's values.
    """
    return apply(_SHIFT, x, axis=axis)


def _finite_max(x: np.ndarray, axis: Any) -> np.ndarray:
    if x.size == 0:
        return np.zeros_like(np.sum(x, axis=axis, keepdims=True))
    shift = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(shift), shift, 0.0).astype(x.dtype)


_SHIFT = values_op("logsumexp", _finite_max)


@torch_names
def logsumexp(input: ArrayLike, axis: Any = -1, keepdims: bool = False) -> Tensor:
    """ln Σ eˣ over ``axis`` (default −1; None: every axis), as m + ln Σ e^{x−m}, m = max x.

    The identity holds for any constant m, so treating m as a constant leaves the gradient
    (softmax) exact while every exponent is ≤ 0. Over no elements the sum is 0 and the result
    −∞, as in NumPy and PyTorch.
    """
    x = _as_float(input, "logsumexp")
    axis = _check_axis("logsumexp", x, axis)
    if x.size == 0:  # the sum over no elements is 0: connected to x, no log(0) warning
        return sum(x, axis=axis, keepdims=keepdims) + float("-inf")
    shift = _constant_shift(x, axis)
    total = sum(exp(x - shift), axis=axis, keepdims=True)
    # Rows of −∞ only: ln 0 = −∞, without NumPy's warning. Elsewhere the two where() leave the
    # value and the gradient of log(total) exactly as they are (no branch on the values, so a
    # compiled step replays the same operations for every call).
    empty = total == 0
    result = where(empty, float("-inf"), log(where(empty, 1.0, total))) + shift
    return result if keepdims else reshape(result, reduced_shape(shift.shape, axis, False))


@torch_names
def log_softmax(input: ArrayLike, axis: int = -1) -> Tensor:
    """log softmax(x) = (x − m) − ln Σ e^{x−m} (m = max x, constant), along ``axis``.

    Subtracting the shift first keeps full precision in float32 (x − m is exact near the
    maximum; x − logsumexp(x) would round logsumexp at the scale of x).
    """
    x = _as_float(input, "log_softmax")
    axis = _check_axis("log_softmax", x, axis)
    if x.size == 0:
        return x + 0.0
    shifted = x - _constant_shift(x, axis)
    return shifted - log(sum(exp(shifted), axis=axis, keepdims=True))


@torch_names
def softmax(input: ArrayLike, axis: int = -1) -> Tensor:
    """softmax(x)_k = e^{x_k−m} / Σ_j e^{x_j−m} along ``axis`` (default −1; the vanishing-gradient
    article).

    Computed directly (not as exp(log_softmax)), so two equal logits of 1000 give exactly 0.5
    in float32 too: every result is within a few ulps.
    """
    x = _as_float(input, "softmax")
    axis = _check_axis("softmax", x, axis)
    if x.size == 0:
        return x + 0.0
    exps = exp(x - _constant_shift(x, axis))
    return exps / sum(exps, axis=axis, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Dropout and normalisation.
# ---------------------------------------------------------------------------------------------
def dropout(
    input: ArrayLike, p: float = 0.5, training: bool = True, *, rng: RNGLike = None
) -> Tensor:
    """Inverted dropout: each element is kept with probability 1 − p and scaled by 1/(1 − p).

    ``E[dropout(x)] = x``, so nothing changes at evaluation time (``training=False`` returns
    ``input`` itself). The mask is ``rng.random(shape) >= p``; ``rng`` is a Generator, an int
    seed or None (the default Generator, see :func:`micrograd_nd.manual_seed`). ``p = 1``
    multiplies by 0: zeros for finite inputs (NaN and ±∞ stay NaN, as in PyTorch).
    """
    p = check_real("dropout", "p", p, low=0.0, high=1.0)
    x = _as_float(input, "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * np.zeros(x.shape, dtype=x.dtype)
    return x * apply(_DROPOUT_MASK, x, rng=rng, p=p)


def _dropout_mask(x: np.ndarray, rng: RNGLike, p: float) -> np.ndarray:
    keep = as_generator(rng).random(x.shape) >= p
    return (keep * (1.0 / (1.0 - p))).astype(x.dtype)


# A forward-only op: a compiled step draws a new mask from the same Generator on every call.
_DROPOUT_MASK = values_op("dropout", _dropout_mask)


def _normalize(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """((x − μ)/√(σ² + eps), μ, σ²) with μ and the biased σ² taken over ``axes`` (kept)."""
    centre = mean(x, axis=axes, keepdims=True)
    centred = x - centre
    variance = mean(centred * centred, axis=axes, keepdims=True)
    return centred / sqrt(variance + eps), centre, variance


def batch_norm(
    input: ArrayLike,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """y = (x − μ)/√(σ² + eps)·γ + β per channel (axis 1) of an (N, C) or (N, C, L) input.

    With ``training`` (or without running statistics) μ and σ² are the batch's: the mean and
    the *biased* variance over N (and L), and the gradient flows through both. Training also
    updates the running statistics in place, without recording: running ← (1 − momentum)·
    running + momentum·batch, with the *unbiased* variance (σ²·n/(n − 1), n = N·L) for
    ``running_var``. Otherwise μ and σ² are the running statistics.
    """
    x = _as_float(input, "batch_norm")
    momentum = check_real("batch_norm", "momentum", momentum, low=0.0, high=1.0)
    eps = check_real("batch_norm", "eps", eps, low=0.0)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"batch_norm: expected an input of shape (N, C) or (N, C, L), got shape {x.shape}"
        )
    channels = x.shape[1]
    axes = (0,) if x.ndim == 2 else (0, 2)
    stat_shape = (1, channels) + (1,) * (x.ndim - 2)
    for name, statistic in (("running_mean", running_mean), ("running_var", running_var)):
        if statistic is not None and statistic.shape != (channels,):
            raise ValueError(
                f"batch_norm: {name} has shape {statistic.shape}, expected ({channels},) for an "
                f"input of shape {x.shape}"
            )
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: pass both running_mean and running_var, or neither")
    if training or running_mean is None:
        count = x.size // channels if channels else 0
        if training and count <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got an "
                f"input of shape {x.shape}"
            )
        normalized, centre, variance = _normalize(x, axes, eps)
        if training and running_mean is not None and running_var is not None:
            unbiased = variance.data.reshape(channels) * (count / (count - 1))
            # In place, like PyTorch: a graph that saved the statistics sees the new version.
            running_mean[...] = ((1 - momentum) * running_mean.data
                                 + momentum * centre.data.reshape(channels))
            running_var[...] = (1 - momentum) * running_var.data + momentum * unbiased
    else:
        centre = reshape(running_mean, stat_shape)
        variance = reshape(running_var, stat_shape)
        normalized = (x - centre) / sqrt(variance + eps)
    for name, affine in (("weight", weight), ("bias", bias)):
        if affine is None:
            continue
        affine = as_tensor(affine, None, "batch_norm")
        if affine.shape != (channels,):
            raise ValueError(f"batch_norm: {name} has shape {affine.shape}, expected "
                             f"({channels},) for an input of shape {x.shape}")
        affine = reshape(affine, stat_shape)
        normalized = normalized * affine if name == "weight" else normalized + affine
    return normalized


def _shape_tuple(op: str, name: str, shape: int | Sequence[int]) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0 for d in dims):
        raise ValueError(f"{op}: {name} must be a non-negative int or a tuple of them, got "
                         f"{shape!r}")
    return tuple(int(d) for d in dims)


def layer_norm(
    input: ArrayLike,
    normalized_shape: int | Sequence[int],
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """y = (x − μ)/√(σ² + eps)·γ + β, μ and the biased σ² over the trailing
    ``normalized_shape`` axes of each sample (γ, β of shape ``normalized_shape``)."""
    shape = _shape_tuple("layer_norm", "normalized_shape", normalized_shape)
    eps = check_real("layer_norm", "eps", eps, low=0.0)
    x = _as_float(input, "layer_norm")
    if not shape or x.shape[x.ndim - len(shape):] != shape or x.ndim < len(shape):
        raise ValueError(
            f"layer_norm: input of shape {x.shape} does not end with normalized_shape {shape}"
        )
    normalized, _, _ = _normalize(x, tuple(range(x.ndim - len(shape), x.ndim)), eps)
    for name, affine in (("weight", weight), ("bias", bias)):
        if affine is None:
            continue
        affine = as_tensor(affine, None, "layer_norm")
        if affine.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {affine.shape}, expected "
                             f"normalized_shape {shape}")
        normalized = normalized * affine if name == "weight" else normalized + affine
    return normalized


# ---------------------------------------------------------------------------------------------
# Tensor helpers (also bound as Tensor methods).
# ---------------------------------------------------------------------------------------------
# clip (PyTorch's clamp) is the core's op: gradient 1 where min ≤ x ≤ max, NaN stays NaN.
clamp = clip


def _reduced_count(x: Tensor, axis: Any) -> int:
    if axis is None or x.ndim == 0:  # a 0-d tensor accepts axis 0: its single element
        return x.size
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    return math.prod(x.shape[a] for a in axes)


def _variance(op: str, input: ArrayLike, axis: Any, correction: float | None,
              keepdims: bool, unbiased: bool | None) -> Tensor:
    x = _as_float(input, op)
    axis = _check_axis(op, x, axis)
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: pass correction= or unbiased=, not both")
    if correction is None:
        correction = 1.0 if unbiased is None or unbiased else 0.0
    correction = check_real(op, "correction", correction, low=0.0)
    count = _reduced_count(x, axis)
    if count == 0:
        raise ValueError(f"{op}: no elements to reduce (tensor shape {x.shape}, dim={axis})")
    if count - correction <= 0:
        raise ValueError(
            f"{op}: correction={correction:g} leaves no degrees of freedom for {count} "
            f"element(s) per reduction (tensor shape {x.shape}, dim={axis}); use "
            "correction=0 for the population value"
        )
    centred = x - mean(x, axis=axis, keepdims=True)
    return sum(centred * centred, axis=axis, keepdims=keepdims) * (1.0 / (count - correction))


@torch_names
def var(input: ArrayLike, axis: Any = None, *, correction: float | None = None,
        keepdims: bool = False, unbiased: bool | None = None) -> Tensor:
    """Σ(x − x̄)² / (n − correction) over ``axis`` (None: every element), n elements reduced.

    ``correction=1`` (the default) is the unbiased estimate, 0 the population variance;
    ``unbiased=True/False`` is PyTorch's older spelling of 1/0. n − correction ≤ 0 raises
    (there is no estimate: NumPy and PyTorch return inf or NaN with a warning).
    """
    return _variance("var", input, axis, correction, keepdims, unbiased)


@torch_names
def std(input: ArrayLike, axis: Any = None, *, correction: float | None = None,
        keepdims: bool = False, unbiased: bool | None = None) -> Tensor:
    """√var (the arguments of :func:`var`); its gradient is NaN where the variance is 0 (√ is
    not differentiable at 0), as in PyTorch."""
    return sqrt(_variance("std", input, axis, correction, keepdims, unbiased))


def _arg_extreme(op: str, extreme: str, reducer: Any, input: ArrayLike, axis: Any,
                 keepdims: bool) -> Tensor:
    x = as_tensor(input, None, op)
    if axis is not None and (isinstance(axis, bool) or not isinstance(axis, (int, np.integer))):
        raise TypeError(f"{op}: dim must be an int or None, got {type(axis).__name__}")
    axis = _check_axis(op, x, axis)
    if x.size == 0:
        raise ValueError(f"{op}: zero-size tensor of shape {x.shape} has no {extreme}")
    indices = reducer(x.data, axis=axis, keepdims=keepdims)
    return Tensor(np.asarray(indices, dtype=np.int64), copy=False)


@torch_names
def argmax(input: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the (first) maximum along ``axis``, or into the flattened tensor for None.

    An int64 tensor, not differentiable. NaN counts as the maximum (NumPy's and PyTorch's
    rule).
    """
    return _arg_extreme("argmax", "maximum", np.argmax, input, axis, keepdims)


@torch_names
def argmin(input: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the (first) minimum along ``axis`` (see :func:`argmax`; NaN counts as minimum)."""
    return _arg_extreme("argmin", "minimum", np.argmin, input, axis, keepdims)


def _flatten_bounds(start_dim: Any, end_dim: Any, ndim: int) -> tuple[int, int]:
    """``start_dim`` and ``end_dim`` as axes of an ``ndim``-d tensor (they may be equal)."""
    bounds = []
    for name, d in (("start_dim", start_dim), ("end_dim", end_dim)):
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"flatten: {name} must be an int, got {type(d).__name__}")
        if not -ndim <= d < ndim:
            raise ValueError(f"flatten: {name} {d} is out of range for a {ndim}-d tensor")
        bounds.append(int(d) % ndim)
    return bounds[0], bounds[1]


def flatten(input: ArrayLike, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes ``start_dim`` … ``end_dim`` (inclusive) into one; a 0-d tensor becomes (1,)."""
    x = as_tensor(input, None, "flatten")
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = _flatten_bounds(start_dim, end_dim, x.ndim)
    if start > end:
        raise ValueError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a tensor of "
            f"shape {x.shape}"
        )
    merged = math.prod(x.shape[start:end + 1])
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


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
