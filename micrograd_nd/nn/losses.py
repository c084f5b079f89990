"""Loss modules: ``loss_fn(input, target)`` wrappers of :mod:`micrograd_nd.functional`.

They hold settings (``reduction``, ``eps``, ``delta``, …), checked when the module is built;
per-class or per-element weights are buffers (in ``state_dict``, as in PyTorch). The formulas
and their docstrings live in the functional versions.
"""

from __future__ import annotations

from .. import functional as F
from .._checks import check_choice, check_int, check_real
from ..tensor import ArrayLike, Tensor
from .module import Module

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "NLLLoss",
    "SmoothL1Loss",
    "SquareLoss",
]

_REDUCTIONS = F.REDUCTIONS


class _Loss(Module):
    def __init__(self, reduction: str, choices: tuple[str, ...] = _REDUCTIONS) -> None:
        super().__init__()
        self.reduction = check_choice(type(self).__name__, "reduction", reduction, choices)

    def _register_weight(self, name: str, weight: ArrayLike | None) -> None:
        """Keep a weight as a buffer (a Tensor, or None when not given)."""
        if isinstance(weight, str):
            raise TypeError(
                f"{type(self).__name__}: {name} must be an array, got the string {weight!r}; "
                f"pass the reduction by name (reduction={weight!r})"
            )
        self.register_buffer(name, None if weight is None else Tensor(weight))

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against integer labels or probability rows (the
    vanishing-gradient article),
    with PyTorch's ``weight``, ``ignore_index`` and ``label_smoothing``
    (:func:`micrograd_nd.functional.cross_entropy`)."""

    def __init__(
        self,
        weight: ArrayLike | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        self._register_weight("weight", weight)
        self.ignore_index = check_int("CrossEntropyLoss", "ignore_index", ignore_index)
        self.label_smoothing = check_real(
            "CrossEntropyLoss", "label_smoothing", label_smoothing, low=0.0, high=1.0
        )

    def forward(self, input: ArrayLike, target: ArrayLike) -> Tensor:
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)

    def extra_repr(self) -> str:
        return (f"reduction={self.reduction!r}, ignore_index={self.ignore_index}, "
                f"label_smoothing={self.label_smoothing}")


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (after :class:`LogSoftmax`)."""

    def __init__(
        self, weight: ArrayLike | None = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction)
        self._register_weight("weight", weight)
        self.ignore_index = check_int("NLLLoss", "ignore_index", ignore_index)

    def forward(self, input: ArrayLike, target: ArrayLike) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Mean squared error over every element: mean (input − target)²."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: ArrayLike, target: ArrayLike) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error over every element: mean |input − target|."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)

    def forward(self, input: ArrayLike, target: ArrayLike) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """½d² for |d| < δ, δ(|d| − ½δ) beyond, d = input − target."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = check_real("HuberLoss", "delta", delta, low=0.0, low_open=True)

    def forward(self, input: ArrayLike, target: ArrayLike) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, delta={self.delta}"


class SmoothL1Loss(_Loss):
    """½d²/β for |d| < β, |d| − ½β beyond, d = input − target (β = 0: L1)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = check_real("SmoothL1Loss", "beta", beta, low=0.0)

    def forward(self, input: ArrayLike, target: ArrayLike) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, beta={self.beta}"


class KLDivLoss(_Loss):
    """KL divergence terms target·(ln target − input), ``input`` being log-probabilities;
    ``reduction='batchmean'`` gives the KL divergence per sample."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction, F.KL_REDUCTIONS)
        self.log_target = bool(log_target)

    def forward(self, input: ArrayLike, target: ArrayLike) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"


class SquareLoss(_Loss):
    """The digit-network article, eq. (3): Σ_k ½(label_k − y_k)² per sample, then ``reduction``
    over samples.

    The default ``"sum"`` is the digit-network article's total cost; with batch size 1 it is eq.
    (3) itself.
    """

    def __init__(self, reduction: str = "sum") -> None:
        super().__init__(reduction)

    def forward(self, input: ArrayLike, target: ArrayLike) -> Tensor:
        return F.square_loss(input, target, reduction=self.reduction)


class BCELoss(_Loss):
    """The digit-network article, eq. (4) elementwise on probabilities: −w·[t ln(y+eps) + (1−t)
    ln(1−y+eps)].

    ``eps=1e-5`` is the digit-network article's guard against ln 0 (a finite number ≥ 0). Reduces
    over every
    element; ``weight`` broadcasts to the input's shape.
    """

    def __init__(
        self, weight: ArrayLike | None = None, reduction: str = "mean", eps: float = 0.0
    ) -> None:
        super().__init__(reduction)
        self._register_weight("weight", weight)
        self.eps = check_real("BCELoss", "eps", eps, low=0.0)

    def forward(self, input: ArrayLike, target: ArrayLike) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction,
                                      eps=self.eps)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, eps={self.eps}"


class BCEWithLogitsLoss(_Loss):
    """Eq. (4) on sigmoid(logits), computed stably from the logits; ``pos_weight`` weighs the
    positive term per class, ``weight`` each element."""

    def __init__(
        self,
        weight: ArrayLike | None = None,
        reduction: str = "mean",
        pos_weight: ArrayLike | None = None,
    ) -> None:
        super().__init__(reduction)
        self._register_weight("weight", weight)
        self._register_weight("pos_weight", pos_weight)

    def forward(self, input: ArrayLike, target: ArrayLike) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )
