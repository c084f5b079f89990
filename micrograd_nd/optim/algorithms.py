"""The update rules: SGD (momentum, Nesterov), Adam, AdamW and RMSprop.

The formulas are PyTorch's documented ones, written out in each class's docstring; g is the
gradient of the step, θ the parameter, γ the group's learning rate, λ its weight decay. Each
rule reads its hyperparameters from the parameter's group, so every group can have its own.

The plain-SGD update θ ← θ − γ·g is the digit-network article's eqs. (15) W ← W − α δ xᵀ and (16)
b ← b − α δ, with the gradient coming from autodiff instead of the delta rule.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import Optimizer, check_nonnegative

__all__ = ["SGD", "Adam", "AdamW", "RMSprop"]


def _check_fraction(name: str, value: object, where: str) -> float:
    """A decay rate in [0, 1): β₁, β₂ of Adam, α of RMSprop (1 would freeze the average)."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not real or not 0.0 <= value < 1.0:  # NaN fails the comparison too
        raise ValueError(f"{where}{name} must lie in [0, 1), got {value!r}")
    return float(value)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum μ, dampening τ and Nesterov.

    ::

        g ← g + λ θ          (weight decay: L2, as in the vanishing-gradient article)
        if μ ≠ 0:  b ← g on the first step, else b ← μ b + (1 − τ) g
                   g ← g + μ b  (Nesterov)   or   g ← b
        θ ← θ − γ g          (the digit-network article, eqs. (15), (16) when μ = λ = 0)
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, {
            "lr": lr, "momentum": momentum, "dampening": dampening,
            "weight_decay": weight_decay, "nesterov": nesterov,
        })

    def _check_group(self, group: dict[str, Any], where: str) -> None:
        super()._check_group(group, where)
        for key in ("momentum", "dampening", "weight_decay"):
            group[key] = check_nonnegative(key, group[key], where)
        group["nesterov"] = bool(group["nesterov"])
        if group["nesterov"] and (group["momentum"] == 0 or group["dampening"] != 0):
            raise ValueError(f"{where}Nesterov momentum needs momentum > 0 and dampening = 0")

    def _update(
        self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        g = grad + weight_decay * theta if weight_decay else grad
        if momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = g.copy()
            else:
                buffer *= momentum
                buffer += (1.0 - group["dampening"]) * g
            g = g + momentum * buffer if group["nesterov"] else buffer
        theta -= group["lr"] * g


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` adds λθ to the gradient (L2).

    ::

        g ← g + λ θ
        m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²        (m = v = 0 at t = 0)
        m̂ = m / (1 − β₁ᵗ)              v̂ = v / (1 − β₂ᵗ)
        θ ← θ − γ m̂ / (√v̂ + ε)
    """

    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
        })

    def _check_group(self, group: dict[str, Any], where: str) -> None:
        super()._check_group(group, where)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{where}betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = (
            _check_fraction("betas[0]", betas[0], where),
            _check_fraction("betas[1]", betas[1], where),
        )
        group["eps"] = check_nonnegative("eps", group["eps"], where)
        group["weight_decay"] = check_nonnegative("weight_decay", group["weight_decay"], where)

    def _update(
        self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        beta1, beta2 = group["betas"]
        lr, weight_decay = group["lr"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(theta), exp_avg_sq=np.zeros_like(theta))
        state["step"] += 1
        t = state["step"]
        if weight_decay:
            if self._decoupled:
                theta *= 1.0 - lr * weight_decay  # AdamW: shrink θ directly
            else:
                grad = grad + weight_decay * theta  # Adam: L2 term in the gradient
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1.0 - beta1) * grad
        v *= beta2
        v += (1.0 - beta2) * (grad * grad)
        m_hat = m / (1.0 - beta1**t)
        v_hat = v / (1.0 - beta2**t)
        theta -= lr * m_hat / (np.sqrt(v_hat) + group["eps"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): the decay is not in m or v.

    ::

        θ ← θ (1 − γ λ)
        then the Adam update of :class:`Adam` with λ = 0 in the gradient
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class RMSprop(Optimizer):
    """RMSprop (Hinton): divide the gradient by a running root mean square of recent ones.

    ::

        g ← g + λ θ
        v ← α v + (1 − α) g²                               (v = 0 at the start)
        ṽ ← v,   or with centered:  ḡ ← α ḡ + (1 − α) g,  ṽ ← v − ḡ²   (ḡ = 0 at the start)
        if μ > 0:  b ← μ b + g / (√ṽ + ε),  θ ← θ − γ b     (b = 0 at the start)
        else:      θ ← θ − γ g / (√ṽ + ε)

    ε is added after the square root (PyTorch's order; TensorFlow adds it inside). The
    centered ṽ is clamped at 0, where rounding could otherwise make it negative (and √ NaN).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, {
            "lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
            "momentum": momentum, "centered": centered,
        })

    def _check_group(self, group: dict[str, Any], where: str) -> None:
        super()._check_group(group, where)
        group["alpha"] = _check_fraction("alpha", group["alpha"], where)
        for key in ("eps", "weight_decay", "momentum"):
            group[key] = check_nonnegative(key, group[key], where)
        group["centered"] = bool(group["centered"])

    def _update(
        self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        alpha, momentum, weight_decay = group["alpha"], group["momentum"], group["weight_decay"]
        if not state:
            state.update(step=0, square_avg=np.zeros_like(theta))
        state["step"] += 1
        if weight_decay:
            grad = grad + weight_decay * theta
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1.0 - alpha) * (grad * grad)
        if group["centered"]:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(theta))
            grad_avg *= alpha
            grad_avg += (1.0 - alpha) * grad
            # v − ḡ² ≥ 0 in exact arithmetic; rounding can take it a hair below 0 (constant
            # gradients, float32), and √ of that would be NaN.
            variance = np.maximum(square_avg - grad_avg * grad_avg, 0.0)
            denominator = np.sqrt(variance) + group["eps"]
        else:
            denominator = np.sqrt(square_avg) + group["eps"]
        if momentum:
            buffer = state.setdefault("momentum_buffer", np.zeros_like(theta))
            buffer *= momentum
            buffer += grad / denominator
            theta -= group["lr"] * buffer
        else:
            theta -= group["lr"] * grad / denominator
