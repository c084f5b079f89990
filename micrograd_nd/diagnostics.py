"""Per-layer gradient norms: watch gradients vanish or explode.

The feed-forward article observes that the sigmoid's derivative is at most ¼, so every sigmoid
layer shrinks the back-propagated error δ(l) = g′(z(l)) ⊙ (W(l+1)ᵀ δ(l+1)) (eq. (13)) by at
least 75 % unless the weights are large, in which case it can grow instead.
:func:`gradient_norms` measures
‖δ(l)‖ and ‖∂C/∂W(l)‖ for every layer of a network on one batch, by autodiff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .oracles import autodiff, network_problem

__all__ = ["LayerNorms", "format_norms", "gradient_norms"]


@dataclass(frozen=True)
class LayerNorms:
    """Frobenius norms of one layer's error term and gradients (layer numbered from 1)."""

    layer: int
    activation: str
    delta_norm: float
    weight_grad_norm: float
    bias_grad_norm: float


def gradient_norms(
    network: Any, X: Any, labels: Any, loss: str = "cross_entropy", reduction: str = "mean",
    activations: Sequence[str] | None = None,
) -> list[LayerNorms]:
    """‖δ(l)‖, ‖∂C/∂W(l)‖ and ‖∂C/∂b(l)‖ for each layer of an nn ``MLP`` (or weight lists).

    ``loss`` names a cost as in :func:`micrograd_nd.compare.compare_gradients`; integer class
    labels are one-hot encoded for ``"cross_entropy"``.
    """
    problem = network_problem(network, X, labels, loss, reduction, activations=activations,
                              caller="gradient_norms")
    grads = autodiff(problem)
    return [
        LayerNorms(layer + 1, name, float(np.linalg.norm(grads.delta[layer])),
                   float(np.linalg.norm(grads.dW[layer])), float(np.linalg.norm(grads.db[layer])))
        for layer, name in enumerate(problem.activations)
    ]


def format_norms(norms: Sequence[LayerNorms]) -> str:
    """A text table of :func:`gradient_norms`' result, input layer first."""
    lines = [f"{'layer':>5} {'activation':<10} {'‖δ‖':>11} {'‖∂C/∂W‖':>11} {'‖∂C/∂b‖':>11}"]
    lines += [
        f"{n.layer:>5} {n.activation:<10} {n.delta_norm:11.3e} {n.weight_grad_norm:11.3e} "
        f"{n.bias_grad_norm:11.3e}"
        for n in norms
    ]
    return "\n".join(lines)
