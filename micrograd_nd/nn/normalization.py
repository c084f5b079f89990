"""Normalisation layers: ``BatchNorm1d`` (batch statistics, running averages) and ``LayerNorm``.

The formulas live in :func:`micrograd_nd.functional.batch_norm` and
:func:`micrograd_nd.functional.layer_norm`; these modules hold the learnable γ (``weight``) and
β (``bias``) and, for BatchNorm, the running statistics as buffers (saved in ``state_dict``).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functional as F
from .._arrays import get_default_dtype, parse_dtype
from .._checks import check_real
from ..tensor import ArrayLike, Tensor
from .layers import InputShapeError
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "LayerNorm"]


def _layer_dtype(owner: str, dtype: Any) -> np.dtype:
    chosen = get_default_dtype() if dtype is None else parse_dtype(dtype, owner)
    if chosen.kind != "f":
        raise TypeError(f"{owner}: dtype must be a floating dtype, got {chosen}")
    return chosen


def _as_input(x: ArrayLike, dtype: np.dtype) -> Tensor:
    # Plain arrays take the layer's dtype, so float32 models stay float32 end to end.
    return x if isinstance(x, Tensor) else Tensor(x, dtype=dtype, copy=False)


class BatchNorm1d(Module):
    """y = (x − μ)/√(σ² + eps)·γ + β per channel, for inputs (N, C) or (N, C, L).

    In training μ and σ² are the batch's (biased variance), and ``running_mean`` /
    ``running_var`` move towards them: running ← (1 − momentum)·running + momentum·batch,
    with the unbiased variance for ``running_var``; ``momentum=None`` takes the plain average
    of all batches so far (factor 1/``num_batches_tracked``). In evaluation (``eval()``) the
    running statistics are used. ``track_running_stats=False`` keeps none and always uses the
    batch's. γ starts at 1 and β at 0 (``affine=False``: neither exists).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if (isinstance(num_features, bool) or not isinstance(num_features, numbers.Integral)
                or num_features < 1):
            raise ValueError(f"BatchNorm1d: num_features must be a positive int, got "
                             f"{num_features!r}")
        self.num_features = int(num_features)
        self.eps = check_real("BatchNorm1d", "eps", eps, low=0.0)
        self.momentum = (None if momentum is None
                         else check_real("BatchNorm1d", "momentum", momentum, low=0.0, high=1.0))
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dtype = _layer_dtype("BatchNorm1d", dtype)
        shape = (self.num_features,)
        self.weight: Parameter | None = Parameter(np.ones(shape, dtype)) if affine else None
        self.bias: Parameter | None = Parameter(np.zeros(shape, dtype)) if affine else None
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(shape, dtype)))
            self.register_buffer("running_var", Tensor(np.ones(shape, dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self._dtype = dtype

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean.data = np.zeros(self.num_features, self._dtype)
            self.running_var.data = np.ones(self.num_features, self._dtype)
            self.num_batches_tracked.data = np.array(0, dtype=np.int64)

    def forward(self, x: ArrayLike) -> Tensor:
        x = _as_input(x, self._dtype)
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise InputShapeError(
                f"{self!r}: expected input of shape (N, {self.num_features}) or "
                f"(N, {self.num_features}, L), got shape {x.shape}"
            )
        updating = self.training and self.track_running_stats
        factor = 0.0 if self.momentum is None else self.momentum
        if updating:
            batches = int(self.num_batches_tracked.data) + 1
            if self.momentum is None:
                factor = 1.0 / batches
        output = F.batch_norm(
            x,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight,
            self.bias,
            training=self.training or self.running_mean is None,
            momentum=factor,
            eps=self.eps,
        )
        if updating:  # only once the batch was accepted
            self.num_batches_tracked.data = np.array(batches, dtype=np.int64)
        return output

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class LayerNorm(Module):
    """y = (x − μ)/√(σ² + eps)·γ + β, μ and the biased σ² over the trailing
    ``normalized_shape`` axes of each sample; γ (``weight``, 1s) and β (``bias``, 0s) have
    shape ``normalized_shape`` (``elementwise_affine=False``: neither; ``bias=False``: no β).
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        dims = ((normalized_shape,) if isinstance(normalized_shape, numbers.Integral)
                else tuple(normalized_shape))
        if not dims or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1
                           for d in dims):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive int or a "
                             f"non-empty tuple of them, got {normalized_shape!r}")
        self.normalized_shape = tuple(int(d) for d in dims)
        self.eps = check_real("LayerNorm", "eps", eps, low=0.0)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = _layer_dtype("LayerNorm", dtype)
        self._dtype = dtype
        self.weight: Parameter | None = None
        self.bias: Parameter | None = None
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype))

    def forward(self, x: ArrayLike) -> Tensor:
        x = _as_input(x, self._dtype)
        size = len(self.normalized_shape)
        if x.ndim < size or x.shape[x.ndim - size:] != self.normalized_shape:
            raise InputShapeError(
                f"{self!r}: expected input of shape (..., "
                f"{', '.join(map(str, self.normalized_shape))}), got shape {x.shape}"
            )
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
