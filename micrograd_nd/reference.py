"""The hand-derived "delta rule" backpropagation, NumPy only: an independent oracle.

This module imports nothing from ``micrograd_nd`` on purpose: it re-derives the gradients of a
fully connected network by hand, so the autodiff engine can be checked against it (and both
against finite differences). Equation numbers (1)–(16) are those of the handwritten-digit
article, which derives the per-sample delta rule and gives its code; the worked example, the
feed-forward article (softmax cross-entropy, L2 penalty, ReLU, mean cost) and the MLP
derivation (summed batch cost) add the rest. ``docs/derivation.md`` gives their titles and
states every formula implemented here.

How it is organised (the same shape as the engine's primitive table)
--------------------------------------------------------------------
* :data:`ACTIVATION_RULES`: one :class:`ActivationRule` per activation, ``g`` (2) and ``g′`` (12).
* :data:`COST_RULES`: one :class:`CostRule` per cost: its value (3)/(4), ``∂cost/∂y`` (11), the
  output activation it pairs with, the output activations and labels it is defined for.
* :data:`SAMPLE_WEIGHTS`: per reduction, the weight of one sample in the reduced cost.
* :class:`Layout`: where the samples sit — rows of a batch (:data:`ROWS`) or one sample as a
  column vector, as the handwritten-digit article's code does (:data:`COLUMNS`). One algorithm,
  :func:`_backpropagate`, runs (1)–(13) in either layout.
* :class:`DeltaRule`: the pieces the algorithm wires together. Tests swap one piece for a
  plausible mistake and check that the gradient checks notice.

Layout shared by both forms
---------------------------
* ``weights[l]`` has shape ``(out, in)`` = ``(n_l, n_{l-1})`` and ``biases[l]`` shape ``(n_l,)``,
  the layout an ``nn.Linear`` layer stores. Python index ``l`` is layer ``l + 1``.
* ``X`` has shape ``(N, n_in)`` (one sample per row), ``labels`` shape ``(N, n_L)``.

:func:`forward_backward` runs the batched row form once; :func:`forward_backward_per_sample`
runs the column form once per sample and adds up the per-sample gradients. Both return the
same numbers (up to the order of the additions).

The cost
--------
``C = reduce_n cost_n + ½ λ Σ_l ‖W(l)‖²_F`` where ``reduce`` is ``"sum"`` (MLP derivation) or
``"mean"`` (feed-forward article) over the N samples, and the L2 penalty is added once. Per
sample:

* ``"square"``: ``cost_n = Σ_k ½ (label_k − y_k)²`` (3).
* ``"mse"``: ``cost_n = (1/K) Σ_k (y_k − label_k)²``, the mean over the K output units, *without*
  the ½. With ``reduction="mean"`` the total is the mean over all N·K elements (``torch``'s
  ``MSELoss()``); with ``reduction="sum"`` it is the sum over samples of the per-sample means.
* ``"binary_cross_entropy"`` (alias ``"bce"``): ``cost_n = Σ_k [−label_k ln y_k − (1 − label_k)
  ln(1 − y_k)]`` (4) over sigmoid outputs; ``bce_guard=1e-5`` reproduces the article's code,
  which adds 1e-5 inside both logs (the gradient is then that of the guarded cost).
* ``"softmax_cross_entropy"`` (alias ``"cross_entropy"``): the cost applies the softmax to the
  output, ``cost_n = −Σ_k label_k ln softmax(y)_k``; labels are probability rows. The output
  layer is normally linear (``"identity"``); any output activation is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_RULES",
    "COLUMNS",
    "COSTS",
    "COST_ALIASES",
    "COST_RULES",
    "REDUCTIONS",
    "ROWS",
    "SAMPLE_WEIGHTS",
    "STANDARD_RULE",
    "ActivationRule",
    "BackpropResult",
    "CostRule",
    "DeltaRule",
    "LayerGradients",
    "Layout",
    "Problem",
    "activate",
    "activation_derivative",
    "bias_gradient",
    "bias_gradient_column",
    "cost_rule",
    "cost_value",
    "data_cost_from_layer",
    "forward_backward",
    "forward_backward_per_sample",
    "forward_pass",
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
    "validate",
    "weight_gradient",
    "weight_gradient_column",
    "weighted_input",
    "weighted_input_column",
]

# Softmax labels must be probability rows; this is how far a row sum may stray from 1.
_LABEL_SUM_TOLERANCE = 1e-8


# --------------------------------------------------------------------------------------------
# Activations: g (2) and g′ (12; tanh and relu from the feed-forward article)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationRule:
    """One activation: ``a = g(z)`` (2) and ``g′(z)`` (12), written with ``a`` where it helps."""

    name: str
    g: Callable[[np.ndarray], np.ndarray]
    g_prime: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (z, a = g(z)) → g′(z)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``g(z) = 1 / (1 + e^{−z})`` (2), evaluated through ``e^{−|z|}`` so it never overflows."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))  # in (0, 1]: no overflow whatever the sign of z
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_prime(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    # (12) is y(1 − y); 1 − y is evaluated as σ(−z), since 1 − y loses its digits as y → 1
    # (at z = 21 it has a relative error of 1e-7, which a δ(L) of 1e5·(1 − y) inherits).
    return a * sigmoid(-z)


def _identity(z: np.ndarray) -> np.ndarray:
    return np.array(z, dtype=np.float64, copy=True)


ACTIVATION_RULES: dict[str, ActivationRule] = {
    rule.name: rule
    for rule in (
        ActivationRule("sigmoid", sigmoid, _sigmoid_prime),
        # 1 − a², as the primitive table writes tanh′; both lose digits alike as |a| → 1.
        ActivationRule("tanh", np.tanh, lambda z, a: 1.0 - a * a),
        ActivationRule("relu", lambda z: np.maximum(z, 0.0),
                       lambda z, a: (z > 0).astype(np.float64)),  # 0 at the kink
        ActivationRule("identity", _identity, lambda z, a: np.ones_like(z, dtype=np.float64)),
    )
}
ACTIVATIONS: tuple[str, ...] = tuple(ACTIVATION_RULES)


def _activation_rule(name: str) -> ActivationRule:
    if name not in ACTIVATION_RULES:
        raise ValueError(f"unknown activation {name!r}; expected one of {ACTIVATIONS}")
    return ACTIVATION_RULES[name]


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """``a = g(z)`` (2) for the activation called ``name``."""
    return _activation_rule(name).g(z)


def activation_derivative(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``g′(z)`` (12) for the activation called ``name``, given ``a = g(z)``.

    sigmoid: ``a(1 − a)``; tanh: ``1 − a²``; relu: ``[z > 0]`` (0 at the kink); identity: 1.
    """
    return _activation_rule(name).g_prime(z, a)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise ``softmax(z)_k = e^{z_k} / Σ_j e^{z_j}``, shifted by the row max."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


# --------------------------------------------------------------------------------------------
# Costs: value (3)/(4), ∂cost/∂y (11), and what they need of the output layer and the labels
# --------------------------------------------------------------------------------------------


def _any_labels(labels: np.ndarray) -> str | None:
    return None


def _unit_interval_labels(labels: np.ndarray) -> str | None:
    if np.any((labels < 0) | (labels > 1)):
        return "binary_cross_entropy labels must lie in [0, 1]"
    return None


def _probability_rows(labels: np.ndarray) -> str | None:
    if np.any(labels < 0) or np.any(np.abs(labels.sum(axis=-1) - 1.0) > _LABEL_SUM_TOLERANCE):
        return "softmax_cross_entropy labels must be non-negative rows summing to 1"
    return None


@dataclass(frozen=True)
class CostRule:
    """One per-sample cost of the network output ``y = g(z(L))`` (rows: samples, last axis: the
    K output units).

    ``value(z, y, labels)`` is the cost of each row, ``d_output(z, y, labels)`` its derivative
    ``∂cost/∂y`` (11). ``pairs_with`` is the output activation the cost is normally used with;
    when the network's output activation is that one and ``paired_delta`` is given, (11)·(12)
    collapses to ``paired_delta(z, y, labels)`` (``y − label``), used because it stays finite
    where the general product would meet 0·∞. ``outputs`` are the output activations the cost
    is defined for; ``labels`` returns what is wrong with a label array, or None.
    """

    name: str
    value: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    d_output: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    pairs_with: str
    outputs: tuple[str, ...] = ACTIVATIONS
    paired_delta: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    labels: Callable[[np.ndarray], str | None] = _any_labels
    aliases: tuple[str, ...] = ()


def _exact_bce(z: np.ndarray, y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    # (4) from the logits, finite for any z: −ln σ(z) = softplus(−z), −ln(1 − σ(z)) = softplus(z).
    # Valid because binary cross-entropy is only defined here over a sigmoid output, y = σ(z).
    terms = labels * np.logaddexp(0.0, -z) + (1 - labels) * np.logaddexp(0.0, z)
    return np.sum(terms, axis=-1)


def _guarded_bce(guard: float) -> CostRule:
    """The handwritten-digit article's code: (4) with ``guard`` (1e-5) added inside both logs."""

    def value(z: np.ndarray, y: np.ndarray, labels: np.ndarray) -> np.ndarray:
        # 1 − y is taken as σ(−z): rounding 1 − y near y = 1 costs ~1e-16 absolute, which the
        # guard turns into ~1e-11 noise in the cost, visible to finite differences.
        one_minus_y = sigmoid(-z)
        terms = -labels * np.log(y + guard) - (1 - labels) * np.log(one_minus_y + guard)
        return np.sum(terms, axis=-1)

    def d_output(z: np.ndarray, y: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return -labels / (y + guard) + (1 - labels) / (1 - y + guard)  # (11) with the guard

    return CostRule("binary_cross_entropy", value, d_output, "sigmoid", ("sigmoid",),
                    labels=_unit_interval_labels, aliases=("bce",))


def _softmax_cross_entropy_d_output(z: np.ndarray, y: np.ndarray, labels: np.ndarray
                                    ) -> np.ndarray:
    # ∂/∂y_k of −Σ_j l_j (y_j − ln Σ_i e^{y_i}) = softmax(y)_k·Σ_j l_j − l_k; with rows summing
    # to 1 and an identity output layer this is the feed-forward article's δ(L) = ŷ − label.
    return softmax(y) * np.sum(labels, axis=-1, keepdims=True) - labels


COST_RULES: dict[str, CostRule] = {
    rule.name: rule
    for rule in (
        CostRule("square", lambda z, y, labels: 0.5 * np.sum((labels - y) ** 2, axis=-1),
                 lambda z, y, labels: -(labels - y), pairs_with="sigmoid"),
        CostRule("mse", lambda z, y, labels: np.mean((y - labels) ** 2, axis=-1),
                 lambda z, y, labels: (2.0 / y.shape[-1]) * (y - labels), pairs_with="identity"),
        CostRule("binary_cross_entropy", _exact_bce,
                 lambda z, y, labels: -labels / y + (1 - labels) / (1 - y),
                 pairs_with="sigmoid", outputs=("sigmoid",),
                 paired_delta=lambda z, y, labels: y - labels,  # (11)·(12) with y = σ(z)
                 labels=_unit_interval_labels, aliases=("bce",)),
        CostRule("softmax_cross_entropy",
                 lambda z, y, labels: -np.sum(labels * _log_softmax(y), axis=-1),
                 _softmax_cross_entropy_d_output, pairs_with="identity",
                 labels=_probability_rows, aliases=("cross_entropy",)),
    )
}
COSTS: tuple[str, ...] = tuple(COST_RULES)
# Every name a cost is accepted under (the CLI's --loss choices) → its name in COST_RULES.
COST_ALIASES: dict[str, str] = {
    alias: rule.name for rule in COST_RULES.values() for alias in (rule.name, *rule.aliases)
}


def cost_rule(cost: str, bce_guard: float = 0.0) -> CostRule:
    """The record of ``cost`` (a name or alias); with ``bce_guard > 0`` binary cross-entropy
    is the article's guarded cost."""
    if cost not in COST_ALIASES:
        raise ValueError(f"unknown cost {cost!r}; expected one of {tuple(COST_ALIASES)}")
    name = COST_ALIASES[cost]
    if bce_guard > 0.0:
        if name != "binary_cross_entropy":
            raise ValueError(f"bce_guard only applies to binary_cross_entropy, not {name!r}")
        return _guarded_bce(bce_guard)
    return COST_RULES[name]


def sample_costs(
    cost: str, z: np.ndarray, a: np.ndarray, labels: np.ndarray, bce_guard: float = 0.0
) -> np.ndarray:
    """Per-sample costs ``cost_n`` (one per row) of output pre-activations ``z``, outputs ``a``."""
    return cost_rule(cost, bce_guard).value(z, a, labels)


# The weight of one sample in the reduced cost: 1 for a sum (MLP derivation), 1/N for a mean.
SAMPLE_WEIGHTS: dict[str, Callable[[int], float]] = {
    "sum": lambda n_samples: 1.0,
    "mean": lambda n_samples: 1.0 / n_samples,
}
REDUCTIONS: tuple[str, ...] = tuple(SAMPLE_WEIGHTS)


def sample_weight(reduction: str, n_samples: int) -> float:
    """Weight of one sample in the reduced cost: 1 for ``"sum"``, 1/N for ``"mean"``."""
    if reduction not in SAMPLE_WEIGHTS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    return SAMPLE_WEIGHTS[reduction](n_samples)


def _l2_penalty(weights: Sequence[np.ndarray], l2: float) -> float:
    """``½ λ Σ_l ‖W(l)‖²_F`` (feed-forward article); biases are not penalised."""
    if l2 == 0.0:  # no penalty, even where ‖W‖² overflows (0·∞ would be NaN)
        return 0.0
    return 0.5 * l2 * sum(float(np.sum(w * w)) for w in weights)


# --------------------------------------------------------------------------------------------
# Backward pieces: each is one equation
# --------------------------------------------------------------------------------------------


def output_delta(
    cost: CostRule, activation: str, z: np.ndarray, a: np.ndarray, labels: np.ndarray,
    g_prime: np.ndarray,
) -> np.ndarray:
    """``δ(L) = ∂cost/∂y ⊙ g′(z(L))`` (9)–(10), per sample (rows), before the reduction.

    ``∂cost/∂y`` is (11) of ``cost``. Only where the output activation is the one the cost
    pairs with and the record gives the simplified product (binary cross-entropy over a
    sigmoid: ``y − label``) is that used instead; any other pairing gets the general product.
    """
    if cost.paired_delta is not None and activation == cost.pairs_with:
        return cost.paired_delta(z, a, labels)
    return cost.d_output(z, a, labels) * g_prime


def propagating_weight(weights: Sequence[np.ndarray], layer: int) -> np.ndarray:
    """The matrix δ(layer) is pulled back through: ``W(layer + 1)``, the next layer's (13)."""
    return weights[layer + 1]


def weighted_input(w: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Batched (1): ``Z(l) = A(l−1) W(l)ᵀ + b(l)ᵀ``, rows are samples."""
    return x @ w.T + b


def weighted_input_column(w: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Column form (1): ``z(l) = W(l)·x(l) + b(l)``, with b reshaped to the column ``(n_l, 1)``."""
    return w @ x + b.reshape(-1, 1)


def hidden_delta(g_prime: np.ndarray, delta_next: np.ndarray, w_next: np.ndarray) -> np.ndarray:
    """Batched (13): ``Δ(l) = g′(Z(l)) ⊙ (Δ(l+1) W(l+1))``, rows are samples."""
    return g_prime * (delta_next @ w_next)


def hidden_delta_column(
    g_prime: np.ndarray, delta_next: np.ndarray, w_next: np.ndarray
) -> np.ndarray:
    """Column form (13): ``δ(l) = g′(z(l)) ⊙ (W(l+1)ᵀ · δ(l+1))``."""
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


def bias_gradient_column(delta: np.ndarray) -> np.ndarray:
    """Column form (8): ``∂cost/∂b(l) = δ(l)``, returned in the ``(n_l,)`` layout of b."""
    return delta[:, 0]


def l2_gradient(w: np.ndarray, l2: float) -> np.ndarray:
    """Gradient of ``½ λ ‖W‖²_F``: ``λ W``; added once to the summed/averaged dW."""
    return l2 * w


@dataclass(frozen=True)
class Layout:
    """Where the samples sit, and the equations that depend on it.

    ``as_rows`` turns an array of this layout into rows of samples (units on the last axis),
    the layout the cost records are written for; it is its own inverse.
    """

    name: str
    weighted_input: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (1)
    hidden_delta: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (13)
    weight_gradient: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (7)
    bias_gradient: Callable[[np.ndarray], np.ndarray]  # (8)
    as_rows: Callable[[np.ndarray], np.ndarray]


ROWS = Layout("rows", weighted_input, hidden_delta, weight_gradient, bias_gradient,
              lambda array: array)
COLUMNS = Layout("columns", weighted_input_column, hidden_delta_column, weight_gradient_column,
                 bias_gradient_column, np.transpose)


@dataclass(frozen=True)
class DeltaRule:
    """The pieces of the backward pass, one equation each (defaults are the correct ones).

    Tests build mutants with ``dataclasses.replace(STANDARD_RULE, piece=wrong_piece)`` (or a
    layout with one wrong piece); :func:`forward_backward` and
    :func:`forward_backward_per_sample` only wire these pieces together.
    """

    activation_derivative: Callable[[str, np.ndarray, np.ndarray], np.ndarray] = (
        activation_derivative
    )
    output_delta: Callable[..., np.ndarray] = output_delta
    sample_weight: Callable[[str, int], float] = sample_weight
    propagating_weight: Callable[[Sequence[np.ndarray], int], np.ndarray] = propagating_weight
    l2_gradient: Callable[[np.ndarray, float], np.ndarray] = l2_gradient
    rows: Layout = ROWS
    columns: Layout = COLUMNS


STANDARD_RULE = DeltaRule()


# --------------------------------------------------------------------------------------------
# Results and argument checking
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerGradients:
    """The gradients of C, per layer; list index ``l`` is layer ``l + 1``.

    ``delta[l] = ∂C/∂z(l)`` of shape ``(N, n_l)`` (one row per sample), ``dW[l] = ∂C/∂W(l)``
    (shape ``(n_l, n_{l-1})``), ``db[l] = ∂C/∂b(l)`` (shape ``(n_l,)``); ``cost`` is C. Every
    oracle (delta rule, autodiff, central differences) returns one of these.
    """

    delta: list[np.ndarray]
    dW: list[np.ndarray]
    db: list[np.ndarray]
    cost: float


@dataclass(frozen=True)
class BackpropResult(LayerGradients):
    """Everything one forward/backward pass of the delta rule computed.

    Besides the gradients, ``z[l]`` and ``a[l]`` (shape ``(N, n_l)``) of the forward pass.
    ``delta`` is of the *reduced* cost C, so with ``reduction="mean"`` it includes the 1/N;
    ``dW`` includes ``λ W``; ``cost`` includes the L2 penalty.
    """

    z: list[np.ndarray]
    a: list[np.ndarray]


@dataclass(frozen=True)
class Problem:
    """Validated float64 copies of the arguments shared by every entry point (see
    :func:`validate`)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    X: np.ndarray
    labels: np.ndarray
    activations: list[str]
    cost: str  # a key of COST_RULES (aliases resolved)
    reduction: str
    l2: float
    bce_guard: float

    @property
    def cost_rule(self) -> CostRule:
        return cost_rule(self.cost, self.bce_guard)

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of :func:`forward_backward` and :func:`cost_value`."""
        return {
            "weights": self.weights, "biases": self.biases, "X": self.X, "labels": self.labels,
            "activations": self.activations, "cost": self.cost, "reduction": self.reduction,
            "l2": self.l2, "bce_guard": self.bce_guard,
        }


def _as_float_array(value: object, what: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":  # signed, unsigned, floating; not bool/complex/object
        raise TypeError(f"{what} must be a real numeric array, got dtype {array.dtype}")
    array = np.array(array, dtype=np.float64, copy=True)
    if not np.all(np.isfinite(array)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{what} has a non-finite value ({array[index]} at index {index})")
    return array


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


def _check_activations(activations: object, n_layers: int) -> list[str]:
    if isinstance(activations, str) or not isinstance(activations, Sequence):
        raise TypeError("activations must be a sequence of names, one per layer")
    names = list(activations)
    if len(names) != n_layers:
        raise ValueError(f"got {len(names)} activation names for {n_layers} layers")
    for layer, name in enumerate(names):
        if name not in ACTIVATION_RULES:
            raise ValueError(
                f"unknown activation {name!r} for layer {layer}; expected one of {ACTIVATIONS}"
            )
    return names


def _check_cost(rule: CostRule, output_activation: str, labels: np.ndarray) -> None:
    if output_activation not in rule.outputs:
        needed = " or ".join(rule.outputs)
        raise ValueError(
            f"{rule.name} needs a {needed} output layer, got activations[-1] = "
            f"{output_activation!r}"
        )
    complaint = rule.labels(labels)
    if complaint is not None:
        raise ValueError(complaint)


def validate(
    weights: object,
    biases: object,
    X: object,
    labels: object,
    activations: object,
    cost: object,
    reduction: object = "sum",
    l2: object = 0.0,
    bce_guard: object = 0.0,
) -> Problem:
    """Check the arguments every entry point takes and return float64 copies of them.

    Raises TypeError/ValueError naming the argument: shapes that do not chain, unknown names,
    non-finite numbers, a cost over an output activation it is not defined for, labels outside
    the cost's domain.
    """
    ws = _as_array_list(weights, "weights")
    bs = _as_array_list(biases, "biases")
    _check_layers(ws, bs)
    X_arr = _as_float_array(X, "X")
    labels_arr = _as_float_array(labels, "labels")
    _check_data(ws, X_arr, labels_arr)
    names = _check_activations(activations, len(ws))
    if not isinstance(reduction, str) or reduction not in SAMPLE_WEIGHTS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    l2_value = _as_finite_scalar(l2, "l2")
    if l2_value < 0.0:
        raise ValueError(f"l2 must be >= 0, got {l2_value}")
    guard = _as_finite_scalar(bce_guard, "bce_guard")
    if guard < 0.0:
        raise ValueError(f"bce_guard must be >= 0, got {guard}")
    if not isinstance(cost, str):
        raise TypeError(f"cost must be a name, one of {tuple(COST_ALIASES)}; got {cost!r}")
    rule = cost_rule(cost, guard)
    _check_cost(rule, names[-1], labels_arr)
    return Problem(ws, bs, X_arr, labels_arr, names, rule.name, reduction, l2_value, guard)


# --------------------------------------------------------------------------------------------
# The algorithm, once for both layouts
# --------------------------------------------------------------------------------------------


def _forward(problem: Problem, layout: Layout, x: np.ndarray, first_layer: int = 0
             ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(1), (2) from layer ``first_layer + 1`` on: ``z(l) = W(l)·x(l) + b(l)``, ``a = g(z)``."""
    zs, as_ = [], []
    a = x
    for w, b, name in zip(problem.weights[first_layer:], problem.biases[first_layer:],
                          problem.activations[first_layer:], strict=True):
        z = layout.weighted_input(w, b, a)
        a = activate(name, z)
        zs.append(z)
        as_.append(a)
    return zs, as_


@dataclass(frozen=True)
class _Pass:
    """One forward and backward pass over some samples, arrays in that pass's layout."""

    z: list[np.ndarray]
    a: list[np.ndarray]
    delta: list[np.ndarray]
    dW: list[np.ndarray]
    db: list[np.ndarray]


def _backpropagate(problem: Problem, rule: DeltaRule, layout: Layout, x: np.ndarray,
                   labels: np.ndarray, scale: float) -> _Pass:
    """The delta rule on the samples in ``x`` (laid out by ``layout``): forward (1)–(2), δ(L)
    (9)–(12), δ(l) (13) from the output back, then (7)–(8) for the gradients.

    δ(L) carries ``scale``, the weight of each sample in the reduced cost, so every δ and
    gradient does; the L2 term is the caller's, added once.
    """
    zs, as_ = _forward(problem, layout, x)
    g_primes = [rule.activation_derivative(name, z, a)
                for name, z, a in zip(problem.activations, zs, as_, strict=True)]
    rows = layout.as_rows
    deltas = [np.empty(0)] * len(zs)
    deltas[-1] = scale * rows(rule.output_delta(
        problem.cost_rule, problem.activations[-1], rows(zs[-1]), rows(as_[-1]), rows(labels),
        rows(g_primes[-1])))
    for layer in range(len(zs) - 2, -1, -1):  # back to front: (13) needs δ(l+1) first
        w_next = rule.propagating_weight(problem.weights, layer)
        deltas[layer] = layout.hidden_delta(g_primes[layer], deltas[layer + 1], w_next)
    layer_inputs = [x, *as_[:-1]]
    return _Pass(
        zs, as_, deltas,
        [layout.weight_gradient(delta, xi) for delta, xi in zip(deltas, layer_inputs, strict=True)],
        [layout.bias_gradient(delta) for delta in deltas],
    )


def _reduced_cost(problem: Problem, z_out: np.ndarray, a_out: np.ndarray) -> float:
    """``C = reduce_n cost_n + ½ λ Σ ‖W‖²`` from the output rows."""
    costs = problem.cost_rule.value(z_out, a_out, problem.labels)
    data_cost = float(np.sum(costs)) * sample_weight(problem.reduction, problem.X.shape[0])
    return data_cost + _l2_penalty(problem.weights, problem.l2)


def _run(problem: Problem, rule: DeltaRule, layout: Layout, per_sample: bool) -> BackpropResult:
    """All samples in one pass, or one pass per sample; per-layer results stacked into rows
    (z, a, δ) or added up (dW, db), then ``λ W`` added once to each dW."""
    scale = rule.sample_weight(problem.reduction, problem.X.shape[0])
    batches = ([(problem.X[n:n + 1], problem.labels[n:n + 1]) for n in range(len(problem.X))]
               if per_sample else [(problem.X, problem.labels)])
    passes = [_backpropagate(problem, rule, layout, layout.as_rows(x), layout.as_rows(labels),
                             scale) for x, labels in batches]

    def stacked(field: str, layer: int) -> np.ndarray:
        return np.concatenate([layout.as_rows(getattr(p, field)[layer]) for p in passes])

    layers = range(len(problem.weights))
    z = [stacked("z", layer) for layer in layers]
    a = [stacked("a", layer) for layer in layers]
    delta = [stacked("delta", layer) for layer in layers]
    dW = [sum(p.dW[layer] for p in passes) + rule.l2_gradient(problem.weights[layer], problem.l2)
          for layer in layers]
    db = [sum(p.db[layer] for p in passes) for layer in layers]
    return BackpropResult(delta, dW, db, _reduced_cost(problem, z[-1], a[-1]), z, a)


def forward_backward(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], X: np.ndarray,
    labels: np.ndarray, activations: Sequence[str], cost: str, reduction: str = "sum",
    l2: float = 0.0, bce_guard: float = 0.0, *, rule: DeltaRule = STANDARD_RULE,
) -> BackpropResult:
    """Batched row-major delta rule: forward (1)–(2), δ(L) (9)–(12), δ(l) (13), dW/db (7)–(8).

    Rows are samples: ``Z = X Wᵀ + bᵀ``, ``Δ(l) = g′(Z(l)) ⊙ (Δ(l+1) W(l+1))``, ``dW = Δᵀ X``,
    ``db = Σ_rows Δ``; Δ(L) carries the 1/N of a mean cost, dW the ``λ W`` of the L2 penalty.
    """
    problem = validate(weights, biases, X, labels, activations, cost, reduction, l2, bce_guard)
    return _run(problem, rule, rule.rows, per_sample=False)


def forward_backward_per_sample(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], X: np.ndarray,
    labels: np.ndarray, activations: Sequence[str], cost: str, reduction: str = "sum",
    l2: float = 0.0, bce_guard: float = 0.0, *, rule: DeltaRule = STANDARD_RULE,
) -> BackpropResult:
    """The handwritten-digit article's column-vector delta rule, one sample at a time.

    Each sample ``x`` is a column ``(n_in, 1)``; biases are reshaped to ``(n_l, 1)`` internally.
    Per sample: δ(L) (9)–(12), δ(l) = g′ ⊙ (W(l+1)ᵀ δ(l+1)) (13), ∂W = δ xᵀ (7), ∂b = δ (8),
    weighted by the sample's weight (1 or 1/N) and added up; ``λ W`` is added once to each dW.
    The returned z, a, δ are stacked back into rows.
    """
    problem = validate(weights, biases, X, labels, activations, cost, reduction, l2, bce_guard)
    return _run(problem, rule, rule.columns, per_sample=True)


def cost_value(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], X: np.ndarray,
    labels: np.ndarray, activations: Sequence[str], cost: str, reduction: str = "sum",
    l2: float = 0.0, bce_guard: float = 0.0,
) -> float:
    """The reduced cost C of the module docstring (forward pass only; for finite differences)."""
    problem = validate(weights, biases, X, labels, activations, cost, reduction, l2, bce_guard)
    zs, as_ = forward_pass(problem)
    return _reduced_cost(problem, zs[-1], as_[-1])


def forward_pass(problem: Problem) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``z(l)`` and ``a(l)`` of every layer by (1)–(2), one row per sample."""
    return _forward(problem, ROWS, problem.X)


def data_cost_from_layer(problem: Problem, layer: int, z: np.ndarray) -> float:
    """C without its L2 term (which does not depend on z) as a function of ``z(layer + 1)``,
    the rows of weighted inputs of the layer at list index ``layer``: the layers above it are
    run forward from ``a = g(z)``. Central differences of this give δ independently of (13)."""
    a = activate(problem.activations[layer], z)
    zs, as_ = _forward(problem, ROWS, a, first_layer=layer + 1)
    z_out, a_out = (zs[-1], as_[-1]) if zs else (z, a)
    costs = problem.cost_rule.value(z_out, a_out, problem.labels)
    return float(np.sum(costs)) * sample_weight(problem.reduction, problem.X.shape[0])


def gradient_descent_step(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    result: LayerGradients,
    learning_rate: float,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One plain gradient-descent step, (15) ``W ← W − α dW`` and (16) ``b ← b − α db``.

    ``result.dW`` already holds the L2 term, so this is the feed-forward article's
    ``W − α(mean_n δ xᵀ + λ W)``. Returns new arrays; the inputs are not modified.
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

