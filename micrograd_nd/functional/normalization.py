"""Dropout, batch normalisation and layer normalisation, composed from the primitives.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .._checks import check_real
from .._rng import RNGLike, as_generator
from ..ops import (
    mean,
    reshape,
    sqrt,
    values_op,
)
from ..tensor import ArrayLike, Tensor, apply, as_tensor
from ._common import _as_float


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
