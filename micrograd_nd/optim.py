"""Optimisers: SGD (momentum, Nesterov), Adam, AdamW, and global gradient-norm clipping.

Every update works on the parameters' NumPy arrays in place (``p.data``), outside the graph:
no operation is recorded, and the arrays a model and its optimiser share stay the same
objects. Parameters whose ``.grad`` is None (unused in the last backward pass) are skipped.
The formulas are PyTorch's documented ones, written out in each class's docstring; g_t is
the gradient of step t, θ the parameter, γ the learning rate, λ the weight decay.

The plain-SGD update θ ← θ − γ·g is seed 001's eqs. (15) W ← W − α δ xᵀ and (16)
b ← b − α δ, with the gradient coming from autodiff instead of the delta rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .modes import no_grad
from .tensor import Tensor

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "clip_grad_norm_"]


def _check_nonnegative(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number ≥ 0, got {value!r}")
    return float(value)


def _as_parameter_list(params: Iterable[Tensor]) -> list[Tensor]:
    if isinstance(params, Tensor):
        raise TypeError(
            "params must be an iterable of tensors (e.g. model.parameters()), got one Tensor"
        )
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            "params must be an iterable of tensors (e.g. model.parameters()), "
            f"got {type(params).__name__}"
        ) from None
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    seen: set[int] = set()
    for index, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"parameter {index} is a {type(p).__name__}, not a Tensor")
        if not p.requires_grad or not p.is_leaf:
            raise ValueError(
                f"parameter {index} (shape {p.shape}) must be a leaf tensor with "
                "requires_grad=True; an optimiser can only update leaves"
            )
        if id(p) in seen:
            raise ValueError(f"parameter {index} (shape {p.shape}) appears twice")
        seen.add(id(p))
    return params


class Optimizer:
    """Base class: holds the parameter list, ``lr`` and per-parameter ``state``.

    Subclasses implement :meth:`_update` for one parameter; :meth:`step` calls it for every
    parameter that has a gradient, with recording switched off.
    """

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = _as_parameter_list(params)
        self.lr = _check_nonnegative("lr", lr)
        # state[i] belongs to params[i]; filled lazily on the first step that sees a gradient
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """``.grad = None`` on every parameter (the next backward starts from nothing)."""
        for p in self.params:
            p.grad = None

    @no_grad()
    def step(self) -> None:
        """Apply one update to every parameter whose ``.grad`` is set."""
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            grad = np.asarray(p.grad.data, dtype=p.dtype)
            theta = p.data
            self._update(theta, grad, state)
            # Assign through the ``data`` setter (as ``p.data -= step`` would): it bumps
            # p.version, so a graph that saved the old values refuses to back-propagate.
            p.data = theta

    def _update(self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self._settings().items())
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"

    def _settings(self) -> dict[str, Any]:
        return {"lr": self.lr}


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum μ, dampening τ and Nesterov.

    ::

        g ← g_t + λ θ                                  (weight decay: L2, seed 003)
        if μ ≠ 0:  b ← g on the first step, else b ← μ b + (1 − τ) g
                   g ← g + μ b  (Nesterov)   or   g ← b
        θ ← θ − γ g                                    (seed 001 eqs. (15), (16) when μ = λ = 0)
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = _check_nonnegative("momentum", momentum)
        self.dampening = _check_nonnegative("dampening", dampening)
        self.weight_decay = _check_nonnegative("weight_decay", weight_decay)
        if nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        self.nesterov = bool(nesterov)

    def _update(self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        g = grad + self.weight_decay * theta if self.weight_decay else grad
        if self.momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = g.copy()
            else:
                buffer *= self.momentum
                buffer += (1.0 - self.dampening) * g
            g = g + self.momentum * buffer if self.nesterov else buffer
        theta -= self.lr * g

    def _settings(self) -> dict[str, Any]:
        return {
            "lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
            "nesterov": self.nesterov, "weight_decay": self.weight_decay,
        }


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` adds λθ to the gradient (L2).

    ::

        g ← g_t + λ θ
        m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²        (m = v = 0 at t = 0)
        m̂ = m / (1 − β₁ᵗ)              v̂ = v / (1 − β₂ᵗ)
        θ ← θ − γ m̂ / (√v̂ + ε)
    """

    _decoupled = False

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        for name, beta in (("betas[0]", beta1), ("betas[1]", beta2)):
            number = not isinstance(beta, bool) and isinstance(beta, (int, float))
            if not number or not 0.0 <= beta < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {beta!r}")
        self.betas = (float(beta1), float(beta2))
        self.eps = _check_nonnegative("eps", eps)
        self.weight_decay = _check_nonnegative("weight_decay", weight_decay)

    def _update(self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        beta1, beta2 = self.betas
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(theta), exp_avg_sq=np.zeros_like(theta))
        state["step"] += 1
        t = state["step"]
        if self.weight_decay:
            if self._decoupled:
                theta *= 1.0 - self.lr * self.weight_decay  # AdamW: shrink θ directly
            else:
                grad = grad + self.weight_decay * theta  # Adam: L2 term in the gradient
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1.0 - beta1) * grad
        v *= beta2
        v += (1.0 - beta2) * (grad * grad)
        m_hat = m / (1.0 - beta1**t)
        v_hat = v / (1.0 - beta2**t)
        theta -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def _settings(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps,
                "weight_decay": self.weight_decay}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): the decay is not in m or v.

    ::

        θ ← θ (1 − γ λ)
        then the Adam update of :class:`Adam` with λ = 0 in the gradient
    """

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def clip_grad_norm_(params: Iterable[Tensor], max_norm: float, eps: float = 1e-6) -> float:
    """Scale all gradients together so their global L2 norm is at most ``max_norm`` (seed 003).

    total = √(Σ_p ‖g_p‖²) over parameters with a gradient; if total > max_norm every g_p is
    multiplied by max_norm / (total + eps). Returns total (before clipping), which may be
    inf or nan — the gradients are then left alone, so the caller can see and skip the step.
    """
    max_norm = _check_nonnegative("max_norm", max_norm)
    with_grad = [p for p in params if isinstance(p, Tensor) and p.grad is not None]
    # Accumulate in float64: a float32 sum of many squares loses digits or overflows.
    total = math.sqrt(
        sum(float(np.sum(np.square(p.grad.data, dtype=np.float64))) for p in with_grad)
    )
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + eps)
        for p in with_grad:
            # A new array rather than in place: the caller may hold the old gradient.
            p.grad = Tensor(p.grad.data * np.asarray(scale, dtype=p.grad.dtype), copy=False)
    return total
