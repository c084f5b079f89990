"""Loss modules: ``loss_fn(prediction, target)`` wrappers of :mod:`micrograd_nd.functional`.

They hold only settings (``reduction``, ``eps``); the formulas and their docstrings live in
the functional versions.
"""

from __future__ import annotations

from .. import functional as F
from ..tensor import ArrayLike, Tensor
from .module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "SquareLoss"]

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction: str) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}"
            )
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against integer labels or probability rows (seed 003).

    −Σ_k label_k · ln softmax(logits)_k per sample, then ``reduction`` over samples.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, logits: ArrayLike, target: ArrayLike) -> Tensor:
        return F.cross_entropy(logits, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error over every element: mean (prediction − target)²."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, prediction: ArrayLike, target: ArrayLike) -> Tensor:
        return F.mse_loss(prediction, target, reduction=self.reduction)


class SquareLoss(_Loss):
    """Seed 001 eq. (3): Σ_k ½(label_k − y_k)² per sample, then ``reduction`` over samples.

    The default ``"sum"`` is seed 001's total cost; with batch size 1 it is eq. (3) itself.
    """

    def __init__(self, reduction: str = "sum") -> None:
        super().__init__(reduction)

    def forward(self, prediction: ArrayLike, target: ArrayLike) -> Tensor:
        return F.square_loss(prediction, target, reduction=self.reduction)


class BCELoss(_Loss):
    """Seed 001 eq. (4) elementwise on probabilities: −[t ln(y+eps) + (1−t) ln(1−y+eps)].

    ``eps=1e-5`` is seed 001's guard against ln 0. Reduces over every element.
    """

    def __init__(self, reduction: str = "mean", eps: float = 0.0) -> None:
        super().__init__(reduction)
        if eps < 0:
            raise ValueError(f"BCELoss: eps must be ≥ 0, got {eps}")
        self.eps = float(eps)

    def forward(self, probabilities: ArrayLike, target: ArrayLike) -> Tensor:
        return F.binary_cross_entropy(
            probabilities, target, reduction=self.reduction, eps=self.eps
        )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, eps={self.eps}"


class BCEWithLogitsLoss(_Loss):
    """Eq. (4) on sigmoid(logits), computed stably from the logits."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, logits: ArrayLike, target: ArrayLike) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, reduction=self.reduction)
