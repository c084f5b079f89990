"""Activations and the softmax family: g(z) and, through the primitives, g′(z).

Each keeps its value and gradient finite for inputs of magnitude 1e3, and none turns a NaN
input into a number.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._arrays import reduced_shape, torch_names
from .._checks import check_real
from ..ops import (
    erf,
    exp,
    expm1,
    log,
    log1p,
    reshape,
    sum,
    tanh,
    values_op,
    where,
)
from ..tensor import ArrayLike, Tensor, apply, as_tensor
from ._common import _as_float, _check_axis


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
