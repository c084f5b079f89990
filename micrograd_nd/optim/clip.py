"""Gradient clipping by the global norm of all gradients together (the vanishing-gradient
article)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from ..nn.module import Module
from ..tensor import Tensor
from .optimizer import check_nonnegative

__all__ = ["clip_grad_norm_"]


def _tensors(parameters: object) -> list[Tensor]:
    if isinstance(parameters, Module):
        raise TypeError(
            "clip_grad_norm_: got a Module; pass its parameters: "
            "clip_grad_norm_(model.parameters(), max_norm)"
        )
    if isinstance(parameters, Tensor):
        return [parameters]
    if not isinstance(parameters, Iterable) or isinstance(parameters, (str, bytes)):
        raise TypeError(
            "clip_grad_norm_: parameters must be a Tensor or an iterable of tensors, "
            f"got {type(parameters).__name__}"
        )
    tensors = list(parameters)
    for index, p in enumerate(tensors):
        if not isinstance(p, Tensor):
            raise TypeError(f"clip_grad_norm_: parameter {index} is a {type(p).__name__}, "
                            "not a Tensor")
    return tensors


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients together so their global norm is at most ``max_norm``.

    total = (Σ_p Σ_i |g_pi|^q)^(1/q) with q = ``norm_type`` over the parameters that have a
    gradient (q = inf: the largest |g_pi|). If total > max_norm every g_p is multiplied by
    max_norm / (total + 10⁻⁶). Returns total (before clipping). A non-finite total leaves
    the gradients alone (the caller can see it and skip the step), or raises
    FloatingPointError with ``error_if_nonfinite=True``.
    """
    tensors = _tensors(parameters)
    max_norm = check_nonnegative("max_norm", max_norm, "clip_grad_norm_: ")
    real = isinstance(norm_type, numbers.Real) and not isinstance(norm_type, bool)
    if not real or not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type!r}")
    grads = [p.grad.data for p in tensors if p.grad is not None]
    # Accumulate in float64: a float32 sum of many powers loses digits or overflows.
    if math.isinf(norm_type):
        total = max((float(np.max(np.abs(g), initial=0.0)) for g in grads), default=0.0)
    elif norm_type == 2:
        total = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
    else:
        powered = sum(float(np.sum(np.abs(g, dtype=np.float64) ** norm_type)) for g in grads)
        total = powered ** (1.0 / norm_type)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise FloatingPointError(
                f"clip_grad_norm_: the total gradient norm is {total}; a gradient has NaN or "
                "inf values"
            )
        return total
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in tensors:
            if p.grad is not None:
                # A new array rather than in place: the caller may hold the old gradient.
                p.grad = Tensor(p.grad.data * np.asarray(scale, dtype=p.grad.dtype), copy=False)
    return total
