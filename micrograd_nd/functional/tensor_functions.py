"""Reductions and reshapes PyTorch users call as methods: var, std, argmax, argmin, flatten.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._arrays import torch_names
from .._checks import check_real
from ..ops import (
    clip,
    mean,
    reshape,
    sqrt,
    sum,
)
from ..tensor import ArrayLike, Tensor, as_tensor
from ._common import _as_float, _check_axis

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
