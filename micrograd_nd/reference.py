"""The hand-derived "delta rule" backpropagation, NumPy only: an independent oracle.

This module imports nothing from ``micrograd_nd`` on purpose: it re-derives the gradients of a
fully connected network by hand, so the autodiff engine can be checked against it (and both
against finite differences). Equation numbers (1)–(16) are those of
``spec/backprop-formulas.md``, which restates the source articles: 001 (derivation and code),
002 (worked example), 003 (softmax cross-entropy, L2 penalty, ReLU), 004 (summed batch cost).

Layout shared by both forms
---------------------------
* ``weights[l]`` has shape ``(out, in)`` = ``(n_l, n_{l-1})`` and ``biases[l]`` shape ``(n_l,)``,
  the layout an ``nn.Linear`` layer stores. Python index ``l`` is layer ``l + 1`` of the spec.
* ``X`` has shape ``(N, n_in)`` (one sample per row), ``labels`` shape ``(N, n_L)``.

Two forms compute the same numbers:

* :func:`forward_backward_per_sample` loops over the samples and, for each, uses the column
  vectors of 001 (``x`` of shape ``(n_in, 1)``, ``b`` reshaped to ``(n_l, 1)``); the per-sample
  gradients are then summed or averaged.
* :func:`forward_backward` is the batched row-major form: ``Z = X Wᵀ + bᵀ``, ``dW = Δᵀ X``,
  ``db = Σ_rows Δ``, ``Δ(l) = g′(Z(l)) ⊙ (Δ(l+1) W(l+1))``.

The cost
--------
``C = reduce_n cost_n + ½ λ Σ_l ‖W(l)‖²_F`` where ``reduce`` is ``"sum"`` (004) or ``"mean"``
(003) over the N samples, and the L2 penalty (003) is added once, not per sample. Per sample:

* ``"square"``: ``cost_n = Σ_k ½ (label_k − y_k)²`` (3).
* ``"mse"``: ``cost_n = (1/K) Σ_k (y_k − label_k)²``, the mean over the K output units, *without*
  the ½. With ``reduction="mean"`` the total is the mean over all N·K elements (``torch``'s
  ``MSELoss()``); with ``reduction="sum"`` it is the sum over samples of the per-sample means
  (``MSELoss(reduction="sum") / K``).
* ``"binary_cross_entropy"``: ``cost_n = Σ_k [−label_k ln y_k − (1 − label_k) ln(1 − y_k)]`` (4)
  over sigmoid outputs; ``bce_guard=1e-5`` reproduces 001's code, which adds 1e-5 inside both
  logs (the gradient is then that of the guarded cost).
* ``"softmax_cross_entropy"`` (003): the output layer is linear (``"identity"``) and the cost
  applies the softmax, ``cost_n = −Σ_k label_k ln softmax(z)_k``; labels are probability rows.

Every backward step is a small named function collected in :class:`DeltaRule`, so tests can
swap one of them for a deliberately wrong variant and check that the gradient check notices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "REDUCTIONS",
    "STANDARD_RULE",
    "BackpropResult",
    "DeltaRule",
    "activate",
    "activation_derivative",
    "bias_gradient",
    "cost_value",
    "forward_backward",
    "forward_backward_per_sample",
    "gradient_descent_step",
    "hidden_delta",
    "hidden_delta_column",
    "l2_gradient",
    "output_delta",
    "propagating_weight",
    "sample_costs",
    "sample_weight",
    "sigmoid",
    "softmax",
    "weight_gradient",
    "weight_gradient_column",
]

Activation = Literal["sigmoid", "tanh", "relu", "identity"]
Cost = Literal["square", "mse", "binary_cross_entropy", "softmax_cross_entropy"]
Reduction = Literal["sum", "mean"]

ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu", "identity")
COSTS: tuple[str, ...] = ("square", "mse", "binary_cross_entropy", "softmax_cross_entropy")
REDUCTIONS: tuple[str, ...] = ("sum", "mean")

# Softmax labels must be probability rows; this is how far a row sum may stray from 1.
_LABEL_SUM_TOLERANCE = 1e-8


# --------------------------------------------------------------------------------------------
# Activations: forward (2) and derivatives (12; tanh and relu from 003)
# --------------------------------------------------------------------------------------------


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``g(z) = 1 / (1 + e^{−z})`` (2), evaluated through ``e^{−|z|}`` so it never overflows."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))  # in (0, 1]: no overflow whatever the sign of z
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """``a = g(z)`` (2) for the activation called ``name``."""
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "identity":
        return np.array(z, dtype=np.float64, copy=True)
    raise ValueError(f"unknown activation {name!r}; expected one of {ACTIVATIONS}")


def activation_derivative(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``g′(z)``, written with the output ``a = g(z)`` where the sources do.

    sigmoid: ``a(1 − a)`` (12); tanh: ``1 − a²``; relu: ``[z > 0]`` (0 at the kink); identity: 1.
    """
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "identity":
        return np.ones_like(z, dtype=np.float64)
    raise ValueError(f"unknown activation {name!r}; expected one of {ACTIVATIONS}")


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise ``softmax(z)_k = e^{z_k} / Σ_j e^{z_j}`` (003), shifted by the row max."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


# --------------------------------------------------------------------------------------------
# Costs: values (3), (4), mse, 003's softmax cross-entropy and L2 penalty
# --------------------------------------------------------------------------------------------


def sample_costs(
    cost: str, z: np.ndarray, a: np.ndarray, labels: np.ndarray, bce_guard: float = 0.0
) -> np.ndarray:
    """Per-sample costs ``cost_n`` (one per row) of the output pre-activations ``z``/outputs ``a``.

    square (3), mse (mean over outputs, no ½), binary cross-entropy (4), softmax CE (003).
    """
    if cost == "square":
        return 0.5 * np.sum((labels - a) ** 2, axis=-1)
    if cost == "mse":
        return np.mean((a - labels) ** 2, axis=-1)
    if cost == "binary_cross_entropy":
        if bce_guard > 0.0:  # 001's code: ln(y + 1e-5) and ln(1 − y + 1e-5)
            # 1 − y is taken as σ(−z): rounding 1 − y near y = 1 costs ~1e-16 absolute, which
            # the guard turns into ~1e-11 noise in the cost, visible to finite differences.
            one_minus_y = sigmoid(-z)
            terms = -labels * np.log(a + bce_guard) - (1 - labels) * np.log(one_minus_y + bce_guard)
        else:  # exact (4) from the logits: −ln σ(z) = softplus(−z), −ln(1 − σ(z)) = softplus(z)
            terms = labels * np.logaddexp(0.0, -z) + (1 - labels) * np.logaddexp(0.0, z)
        return np.sum(terms, axis=-1)
    if cost == "softmax_cross_entropy":
        return -np.sum(labels * _log_softmax(z), axis=-1)
    raise ValueError(f"unknown cost {cost!r}; expected one of {COSTS}")


def sample_weight(reduction: str, n_samples: int) -> float:
    """Weight of one sample in the reduced cost: 1 for ``"sum"`` (004), 1/N for ``"mean"`` (003)."""
    if reduction == "sum":
        return 1.0
    if reduction == "mean":
        return 1.0 / n_samples
    raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")


def _l2_penalty(weights: Sequence[np.ndarray], l2: float) -> float:
    """``½ λ Σ_l ‖W(l)‖²_F`` (003); biases are not penalised."""
    return 0.5 * l2 * sum(float(np.sum(w * w)) for w in weights)


# --------------------------------------------------------------------------------------------
# Backward pieces: each is one equation, and each is a field of DeltaRule
# --------------------------------------------------------------------------------------------


def output_delta(
    cost: str, a: np.ndarray, labels: np.ndarray, g_prime: np.ndarray, bce_guard: float = 0.0
) -> np.ndarray:
    """``δ(L) = ∂cost/∂y ⊙ g′(z(L))`` (9, 10), per sample (rows), before the reduction.

    ``∂cost/∂y`` is (11): ``−(label − y)`` for (3), ``(2/K)(y − label)`` for mse,
    ``−label/y + (1 − label)/(1 − y)`` for (4). With sigmoid outputs (11)·(12) collapse to
    ``y − label`` for exact cross-entropy (used here: it stays finite when y rounds to 0 or 1).
    Softmax cross-entropy (003): ``δ(L) = ŷ − label`` with ``ŷ = softmax(z(L))``, ``z(L) = a``.
    """
    if cost == "square":
        return -(labels - a) * g_prime
    if cost == "mse":
        return (2.0 / a.shape[-1]) * (a - labels) * g_prime
    if cost == "binary_cross_entropy":
        if bce_guard > 0.0:  # derivative of 001's guarded cost, literally (10)·(11)
            d_cost_d_y = -labels / (a + bce_guard) + (1 - labels) / (1 - a + bce_guard)
            return d_cost_d_y * g_prime
        return a - labels
    if cost == "softmax_cross_entropy":
        return softmax(a) - labels
    raise ValueError(f"unknown cost {cost!r}; expected one of {COSTS}")


def propagating_weight(weights: Sequence[np.ndarray], layer: int) -> np.ndarray:
    """The matrix δ(layer) is pulled back through: ``W(layer + 1)``, the next layer's (13)."""
    return weights[layer + 1]


def hidden_delta(g_prime: np.ndarray, delta_next: np.ndarray, w_next: np.ndarray) -> np.ndarray:
    """Batched (13): ``Δ(l) = g′(Z(l)) ⊙ (Δ(l+1) W(l+1))``, rows are samples."""
    return g_prime * (delta_next @ w_next)


def hidden_delta_column(
    g_prime: np.ndarray, delta_next: np.ndarray, w_next: np.ndarray
) -> np.ndarray:
    """Column form (13): ``δ(l) = g′(z(l)) ⊙ (W(l+1)ᵀ · δ(l+1))``, as 001 writes it."""
    return g_prime * (w_next.T @ delta_next)


def weight_gradient(delta: np.ndarray, layer_input: np.ndarray) -> np.ndarray:
    """Batched (7) summed over samples: ``dW(l) = Δ(l)ᵀ X(l)``, shape ``(n_l, n_{l-1})``."""
    return delta.T @ layer_input


def weight_gradient_column(delta: np.ndarray, layer_input: np.ndarray) -> np.ndarray:
    """Column form (7): ``∂cost/∂W(l) = δ(l) · x(l)ᵀ`` for one sample."""
    return delta @ layer_input.T


def bias_gradient(delta: np.ndarray) -> np.ndarray:
    """Batched (8) summed over samples: ``db(l) = Σ_rows Δ(l)``, shape ``(n_l,)``."""
    return np.sum(delta, axis=0)


def l2_gradient(w: np.ndarray, l2: float) -> np.ndarray:
    """Gradient of ``½ λ ‖W‖²_F``: ``λ W`` (003); added once to the summed/averaged dW."""
    return l2 * w


@dataclass(frozen=True)
class DeltaRule:
    """The pieces of the backward pass, one equation each (defaults are the correct ones).

    Tests build mutants with ``dataclasses.replace(STANDARD_RULE, piece=wrong_piece)``; the
    algorithm in :func:`forward_backward` and :func:`forward_backward_per_sample` only wires
    these pieces together.
    """

    activation_derivative: Callable[[str, np.ndarray, np.ndarray], np.ndarray] = (
        activation_derivative
    )
    output_delta: Callable[..., np.ndarray] = output_delta
    sample_weight: Callable[[str, int], float] = sample_weight
    propagating_weight: Callable[[Sequence[np.ndarray], int], np.ndarray] = propagating_weight
    hidden_delta: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] = hidden_delta
    hidden_delta_column: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] = (
        hidden_delta_column
    )
    weight_gradient: Callable[[np.ndarray, np.ndarray], np.ndarray] = weight_gradient
    weight_gradient_column: Callable[[np.ndarray, np.ndarray], np.ndarray] = weight_gradient_column
    bias_gradient: Callable[[np.ndarray], np.ndarray] = bias_gradient
    l2_gradient: Callable[[np.ndarray, float], np.ndarray] = l2_gradient


STANDARD_RULE = DeltaRule()


# --------------------------------------------------------------------------------------------
# Results and argument checking
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackpropResult:
    """Everything one forward/backward pass computed; list index ``l`` is layer ``l + 1``.

    ``z[l]``, ``a[l]``, ``delta[l]`` have shape ``(N, n_l)`` (one row per sample, in both forms);
    ``delta[l] = ∂C/∂z(l)`` of the *reduced* cost C, so with ``reduction="mean"`` it includes
    the 1/N. ``dW[l]`` (shape ``(n_l, n_{l-1})``, includes ``λ W``) and ``db[l]`` (shape
    ``(n_l,)``) are ``∂C/∂W(l)`` and ``∂C/∂b(l)``; ``cost`` is C including the L2 penalty.
    """

    z: list[np.ndarray]
    a: list[np.ndarray]
    delta: list[np.ndarray]
    dW: list[np.ndarray]
    db: list[np.ndarray]
    cost: float


@dataclass(frozen=True)
class _Problem:
    """Validated float64 copies of the arguments shared by every entry point."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    X: np.ndarray
    labels: np.ndarray
    activations: list[str]
    cost: str
    reduction: str
    l2: float
    bce_guard: float


def _as_float_array(value: object, what: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":  # signed, unsigned, floating; not bool/complex/object
        raise TypeError(f"{what} must be a real numeric array, got dtype {array.dtype}")
    return np.array(array, dtype=np.float64, copy=True)


def _as_array_list(values: object, what: str) -> list[np.ndarray]:
    if isinstance(values, np.ndarray) or not isinstance(values, Sequence):
        raise TypeError(f"{what} must be a sequence (list or tuple) of arrays, one per layer")
    return [_as_float_array(v, f"{what}[{i}]") for i, v in enumerate(values)]


def _as_finite_scalar(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__}")
    result = float(value)
    if not np.isfinite(result):
        raise ValueError(f"{what} must be finite, got {result}")
    return result


def _check_layers(weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
    if not weights:
        raise ValueError("the network needs at least one layer (weights is empty)")
    if len(biases) != len(weights):
        raise ValueError(f"got {len(weights)} weight matrices but {len(biases)} bias vectors")
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        if w.ndim != 2:
            raise ValueError(f"weights[{layer}] must be 2-D (out, in), got shape {w.shape}")
        if b.shape != (w.shape[0],):
            raise ValueError(
                f"biases[{layer}] must have shape ({w.shape[0]},) to match weights[{layer}] "
                f"of shape {w.shape}, got {b.shape}"
            )
        if layer > 0 and w.shape[1] != weights[layer - 1].shape[0]:
            raise ValueError(
                f"weights[{layer}] has shape {w.shape} and expects {w.shape[1]} inputs, but "
                f"weights[{layer - 1}] has shape {weights[layer - 1].shape} and produces "
                f"{weights[layer - 1].shape[0]} outputs"
            )


def _check_data(weights: list[np.ndarray], X: np.ndarray, labels: np.ndarray) -> None:
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be 2-D (N, n_in) with N >= 1, got shape {X.shape}")
    if X.shape[1] != weights[0].shape[1]:
        raise ValueError(
            f"X has shape {X.shape} ({X.shape[1]} features) but weights[0] has shape "
            f"{weights[0].shape} and expects {weights[0].shape[1]} inputs"
        )
    expected = (X.shape[0], weights[-1].shape[0])
    if labels.shape != expected:
        raise ValueError(f"labels must have shape {expected} (N, n_out), got {labels.shape}")


def _check_cost(cost: str, activations: list[str], labels: np.ndarray, bce_guard: float) -> None:
    if cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}; expected one of {COSTS}")
    if bce_guard < 0.0:
        raise ValueError(f"bce_guard must be >= 0, got {bce_guard}")
    if bce_guard > 0.0 and cost != "binary_cross_entropy":
        raise ValueError(f"bce_guard only applies to binary_cross_entropy, not {cost!r}")
    if cost == "binary_cross_entropy":
        if activations[-1] != "sigmoid":
            raise ValueError(
                "binary_cross_entropy needs a sigmoid output layer, "
                f"got activations[-1] = {activations[-1]!r}"
            )
        if np.any((labels < 0) | (labels > 1)):
            raise ValueError("binary_cross_entropy labels must lie in [0, 1]")
    if cost == "softmax_cross_entropy":
        if activations[-1] != "identity":
            raise ValueError(
                "softmax_cross_entropy applies the softmax itself: the output layer must be "
                f"'identity', got activations[-1] = {activations[-1]!r}"
            )
        if np.any(labels < 0) or np.any(np.abs(labels.sum(axis=1) - 1.0) > _LABEL_SUM_TOLERANCE):
            raise ValueError("softmax_cross_entropy labels must be non-negative rows summing to 1")


def _validate(
    weights: object,
    biases: object,
    X: object,
    labels: object,
    activations: object,
    cost: object,
    reduction: object,
    l2: object,
    bce_guard: object,
) -> _Problem:
    ws = _as_array_list(weights, "weights")
    bs = _as_array_list(biases, "biases")
    _check_layers(ws, bs)
    X_arr = _as_float_array(X, "X")
    labels_arr = _as_float_array(labels, "labels")
    _check_data(ws, X_arr, labels_arr)
    if isinstance(activations, str) or not isinstance(activations, Sequence):
        raise TypeError("activations must be a sequence of names, one per layer")
    names = list(activations)
    if len(names) != len(ws):
        raise ValueError(f"got {len(names)} activation names for {len(ws)} layers")
    for layer, name in enumerate(names):
        if name not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {name!r} for layer {layer}; expected one of {ACTIVATIONS}"
            )
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    l2_value = _as_finite_scalar(l2, "l2")
    if l2_value < 0.0:
        raise ValueError(f"l2 must be >= 0, got {l2_value}")
    guard = _as_finite_scalar(bce_guard, "bce_guard")
    _check_cost(str(cost), names, labels_arr, guard)
    return _Problem(ws, bs, X_arr, labels_arr, names, str(cost), str(reduction), l2_value, guard)


# --------------------------------------------------------------------------------------------
# The two forms
# --------------------------------------------------------------------------------------------


def _forward_rows(problem: _Problem) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Batched (1), (2): ``Z(l) = A(l−1) W(l)ᵀ + b(l)ᵀ``, ``A(l) = g(Z(l))``, ``A(0) = X``."""
    zs, as_ = [], []
    a = problem.X
    for w, b, name in zip(problem.weights, problem.biases, problem.activations, strict=True):
        z = a @ w.T + b
        a = activate(name, z)
        zs.append(z)
        as_.append(a)
    return zs, as_


def _reduced_cost(problem: _Problem, z_out: np.ndarray, a_out: np.ndarray) -> float:
    """``C = reduce_n cost_n + ½ λ Σ ‖W‖²`` (3)/(4)/003, reduced as 004 ("sum") or 003 ("mean")."""
    costs = sample_costs(problem.cost, z_out, a_out, problem.labels, problem.bce_guard)
    data_cost = float(np.sum(costs)) * sample_weight(problem.reduction, problem.X.shape[0])
    return data_cost + _l2_penalty(problem.weights, problem.l2)


def cost_value(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    X: np.ndarray,
    labels: np.ndarray,
    activations: Sequence[str],
    cost: Cost,
    reduction: Reduction = "sum",
    l2: float = 0.0,
    bce_guard: float = 0.0,
) -> float:
    """The reduced cost C of the module docstring (forward pass only; for finite differences)."""
    problem = _validate(weights, biases, X, labels, activations, cost, reduction, l2, bce_guard)
    zs, as_ = _forward_rows(problem)
    return _reduced_cost(problem, zs[-1], as_[-1])


def forward_backward(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    X: np.ndarray,
    labels: np.ndarray,
    activations: Sequence[str],
    cost: Cost,
    reduction: Reduction = "sum",
    l2: float = 0.0,
    bce_guard: float = 0.0,
    *,
    rule: DeltaRule = STANDARD_RULE,
) -> BackpropResult:
    """Batched row-major delta rule: forward (1)–(2), δ(L) (9)–(12), δ(l) (13), dW/db (7)–(8).

    Rows are samples: ``Z = X Wᵀ + bᵀ``, ``Δ(l) = g′(Z(l)) ⊙ (Δ(l+1) W(l+1))``, ``dW = Δᵀ X``,
    ``db = Σ_rows Δ``; Δ(L) carries the 1/N of a mean cost, dW the ``λ W`` of the L2 penalty.
    """
    problem = _validate(weights, biases, X, labels, activations, cost, reduction, l2, bce_guard)
    zs, as_ = _forward_rows(problem)
    g_primes = [
        rule.activation_derivative(name, z, a)
        for name, z, a in zip(problem.activations, zs, as_, strict=True)
    ]
    scale = rule.sample_weight(problem.reduction, problem.X.shape[0])
    deltas = [np.empty(0)] * len(zs)
    deltas[-1] = scale * rule.output_delta(
        problem.cost, as_[-1], problem.labels, g_primes[-1], problem.bce_guard
    )
    for layer in range(len(zs) - 2, -1, -1):  # back to front: (13) needs δ(l+1) first
        w_next = rule.propagating_weight(problem.weights, layer)
        deltas[layer] = rule.hidden_delta(g_primes[layer], deltas[layer + 1], w_next)
    layer_inputs = [problem.X, *as_[:-1]]
    d_weights = [
        rule.weight_gradient(delta, x) + rule.l2_gradient(w, problem.l2)
        for delta, x, w in zip(deltas, layer_inputs, problem.weights, strict=True)
    ]
    d_biases = [rule.bias_gradient(delta) for delta in deltas]
    return BackpropResult(
        zs, as_, deltas, d_weights, d_biases, _reduced_cost(problem, zs[-1], as_[-1])
    )


def _forward_column(problem: _Problem, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """001's forward pass for one sample: ``z = W·x + b`` (1), ``a = g(z)`` (2), columns."""
    zs, as_ = [], []
    a = x
    for w, b, name in zip(problem.weights, problem.biases, problem.activations, strict=True):
        z = w @ a + b.reshape(-1, 1)  # biases arrive as (n_l,); 001 keeps them as (n_l, 1)
        a = activate(name, z)
        zs.append(z)
        as_.append(a)
    return zs, as_


def _backward_column(
    problem: _Problem, rule: DeltaRule, x: np.ndarray, label: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """One sample, as 001's ``cal_gradient``: (9)–(13) for δ, then (7), (8) for the gradients.

    Returns z, a, δ, ∂cost/∂W of that sample's own (unreduced) cost; ∂cost/∂b(l) = δ(l) (8).
    """
    zs, as_ = _forward_column(problem, x)
    g_primes = [
        rule.activation_derivative(name, z, a)
        for name, z, a in zip(problem.activations, zs, as_, strict=True)
    ]
    deltas = [np.empty(0)] * len(zs)
    # The cost pieces are written for rows of output units: pass the column as a one-row batch.
    deltas[-1] = rule.output_delta(
        problem.cost, as_[-1].T, label.T, g_primes[-1].T, problem.bce_guard
    ).T
    for layer in range(len(zs) - 2, -1, -1):
        w_next = rule.propagating_weight(problem.weights, layer)
        deltas[layer] = rule.hidden_delta_column(g_primes[layer], deltas[layer + 1], w_next)
    layer_inputs = [x, *as_[:-1]]
    d_weights = [
        rule.weight_gradient_column(delta, xi)
        for delta, xi in zip(deltas, layer_inputs, strict=True)
    ]
    return zs, as_, deltas, d_weights


def forward_backward_per_sample(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    X: np.ndarray,
    labels: np.ndarray,
    activations: Sequence[str],
    cost: Cost,
    reduction: Reduction = "sum",
    l2: float = 0.0,
    bce_guard: float = 0.0,
    *,
    rule: DeltaRule = STANDARD_RULE,
) -> BackpropResult:
    """001's column-vector delta rule, one sample at a time, gradients summed/averaged (004/003).

    Each sample ``x`` is a column ``(n_in, 1)``; biases are reshaped to ``(n_l, 1)`` internally.
    Per sample: δ(L) (9)–(12), δ(l) = g′ ⊙ (W(l+1)ᵀ δ(l+1)) (13), ∂W = δ xᵀ (7), ∂b = δ (8).
    The returned z, a, δ are stacked back into rows; δ and the gradients carry the sample
    weight (1 or 1/N), and ``λ W`` is added once to each dW.
    """
    problem = _validate(weights, biases, X, labels, activations, cost, reduction, l2, bce_guard)
    n_samples = problem.X.shape[0]
    scale = rule.sample_weight(problem.reduction, n_samples)
    z_rows = [[] for _ in problem.weights]
    a_rows = [[] for _ in problem.weights]
    delta_rows = [[] for _ in problem.weights]
    d_weights = [rule.l2_gradient(w, problem.l2) for w in problem.weights]
    d_biases = [np.zeros(b.shape) for b in problem.biases]
    for n in range(n_samples):
        x = problem.X[n].reshape(-1, 1)
        label = problem.labels[n].reshape(-1, 1)
        zs, as_, deltas, sample_dw = _backward_column(problem, rule, x, label)
        for layer in range(len(problem.weights)):
            z_rows[layer].append(zs[layer][:, 0])
            a_rows[layer].append(as_[layer][:, 0])
            delta_rows[layer].append(scale * deltas[layer][:, 0])
            d_weights[layer] = d_weights[layer] + scale * sample_dw[layer]
            d_biases[layer] = d_biases[layer] + scale * deltas[layer][:, 0]
    z = [np.array(rows) for rows in z_rows]
    a = [np.array(rows) for rows in a_rows]
    delta = [np.array(rows) for rows in delta_rows]
    return BackpropResult(z, a, delta, d_weights, d_biases, _reduced_cost(problem, z[-1], a[-1]))


def gradient_descent_step(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    result: BackpropResult,
    learning_rate: float,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One plain gradient-descent step, (15) ``W ← W − α dW`` and (16) ``b ← b − α db``.

    ``result.dW`` already holds the L2 term, so this is 003's ``W − α(mean_n δ xᵀ + λ W)``.
    Returns new arrays; the inputs are not modified.
    """
    alpha = _as_finite_scalar(learning_rate, "learning_rate")
    ws = _as_array_list(weights, "weights")
    bs = _as_array_list(biases, "biases")
    if len(ws) != len(result.dW) or len(bs) != len(result.db):
        raise ValueError(
            f"result holds gradients for {len(result.dW)} layers, got {len(ws)} weight "
            f"matrices and {len(bs)} bias vectors"
        )
    for layer, (w, b, dw, db) in enumerate(zip(ws, bs, result.dW, result.db, strict=True)):
        if w.shape != dw.shape or b.shape != db.shape:
            raise ValueError(
                f"layer {layer}: weights {w.shape} / biases {b.shape} do not match the "
                f"gradients {dw.shape} / {db.shape} in result"
            )
    new_weights = [w - alpha * dw for w, dw in zip(ws, result.dW, strict=True)]
    new_biases = [b - alpha * db for b, db in zip(bs, result.db, strict=True)]
    return new_weights, new_biases
