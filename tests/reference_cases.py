"""Hypothesis strategy for fully connected networks, and the gradient-check property.

Shared by ``test_reference.py`` (the reference must pass) and ``test_reference_mutations.py``
(broken variants of the reference must fail the very same property).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from micrograd_nd import reference
from micrograd_nd.finite_differences import numerical_gradient

# Finite differences: central step and the tolerance the hand-derived gradients must meet.
FD_EPS = 1e-6
FD_RTOL = 1e-5
FD_ATOL = 1e-7  # scaled by max(1, |C|, max |∂C/∂θ|): FD rounding error grows like u·|C|/eps
# The two delta-rule forms differ only by summation order.
FORMS_RTOL = 1e-10
FORMS_ATOL = 1e-12  # scaled like FD_ATOL

HIDDEN_ACTIVATIONS = reference.ACTIVATIONS
WEIGHT_SCALES = (0.25, 1.0, 4.0)  # 4.0 saturates sigmoid/tanh and blows up relu/identity
L2_STRENGTHS = (0.0, 0.0, 0.1, 0.75)  # L2 off half of the time


@dataclass(frozen=True)
class Case:
    """One network, batch and cost; ``kwargs()`` are the arguments of the reference API."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    X: np.ndarray
    labels: np.ndarray
    activations: tuple[str, ...]
    cost: str
    reduction: str
    l2: float
    bce_guard: float

    def kwargs(self) -> dict[str, Any]:
        return {
            "weights": list(self.weights),
            "biases": list(self.biases),
            "X": self.X,
            "labels": self.labels,
            "activations": list(self.activations),
            "cost": self.cost,
            "reduction": self.reduction,
            "l2": self.l2,
            "bce_guard": self.bce_guard,
        }

    def widths(self) -> list[int]:
        return [self.weights[0].shape[1], *(w.shape[0] for w in self.weights)]

    def size(self) -> int:
        """Number of parameters: how 'big' a (shrunk) counterexample is."""
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True))

    def describe(self) -> str:
        guard = f", guard={self.bce_guard:g}" if self.bce_guard else ""
        return (
            f"widths={self.widths()} N={self.X.shape[0]} acts={list(self.activations)} "
            f"cost={self.cost}/{self.reduction} l2={self.l2:g}{guard} params={self.size()}"
        )


@st.composite
def _labels(draw: st.DrawFn, rng: np.random.Generator, cost: str, n: int, k: int) -> np.ndarray:
    if cost == "binary_cross_entropy":
        return rng.uniform(0.0, 1.0, size=(n, k))
    if cost == "softmax_cross_entropy":
        if draw(st.booleans()):  # one-hot, as the feed-forward article writes it
            return np.eye(k)[rng.integers(0, k, size=n)]
        weights = rng.uniform(1e-3, 1.0, size=(n, k))
        return weights / weights.sum(axis=1, keepdims=True)
    return rng.uniform(-1.0, 1.0, size=(n, k))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Depth 1–4, widths 1–12, batch 1–16, any activations/cost/reduction, L2 on or off.

    Hypothesis draws (and shrinks) the structure; the numbers come from a NumPy generator
    seeded by Hypothesis, uniform in ±scale with a per-layer scale from WEIGHT_SCALES. Drawing
    every float through Hypothesis made the mutation searches several times slower.
    """
    depth = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 12), min_size=depth + 1, max_size=depth + 1))
    cost = draw(st.sampled_from(reference.COSTS))
    activations = [draw(st.sampled_from(HIDDEN_ACTIVATIONS)) for _ in range(depth - 1)]
    rule = reference.COST_RULES[cost]
    # Mostly the output activation the cost pairs with (sigmoid for cross-entropy, identity for
    # softmax cross-entropy), otherwise any the cost is defined for: the general (10) must hold.
    activations.append(draw(st.just(rule.pairs_with) | st.sampled_from(rule.outputs)))
    scales = [draw(st.sampled_from(WEIGHT_SCALES)) for _ in range(depth)]
    n = draw(st.integers(1, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights, biases = [], []
    for (n_in, n_out), scale in zip(itertools.pairwise(widths), scales, strict=True):
        weights.append(rng.uniform(-scale, scale, size=(n_out, n_in)))
        biases.append(rng.uniform(-scale, scale, size=n_out))
    X = rng.uniform(-2.0, 2.0, size=(n, widths[0]))
    return Case(
        weights=tuple(weights),
        biases=tuple(biases),
        X=X,
        labels=draw(_labels(rng, cost, n, widths[-1])),
        activations=tuple(activations),
        cost=cost,
        reduction=draw(st.sampled_from(reference.REDUCTIONS)),
        l2=draw(st.sampled_from(L2_STRENGTHS)),
        bce_guard=draw(st.sampled_from((0.0, 1e-5))) if cost == "binary_cross_entropy" else 0.0,
    )


def _relu_pattern(case: Case, weights: list[np.ndarray], biases: list[np.ndarray]) -> list:
    """Which relu units are on; finite differences are only valid if no step flips one."""
    pattern, a = [], case.X
    for w, b, name in zip(weights, biases, case.activations, strict=True):
        z = a @ w.T + b
        if name == "relu":
            pattern.append(z > 0)
        a = reference.activate(name, z)
    return pattern


def finite_difference_gradients(case: Case) -> tuple[list[np.ndarray], float]:
    """Central differences of the reduced cost w.r.t. every W(l) then every b(l), and the cost.

    Rejects (``assume``) cases where a step of ±FD_EPS moves a relu pre-activation across 0.
    """
    kwargs = case.kwargs()
    depth = len(case.weights)
    base_pattern = _relu_pattern(case, kwargs["weights"], kwargs["biases"])
    crosses_kink = False

    def cost_of(*params: np.ndarray) -> float:
        nonlocal crosses_kink
        weights, biases = list(params[:depth]), list(params[depth:])
        pattern = _relu_pattern(case, weights, biases)
        if any(np.any(p != q) for p, q in zip(pattern, base_pattern, strict=True)):
            crosses_kink = True
        return reference.cost_value(**{**kwargs, "weights": weights, "biases": biases})

    grads = numerical_gradient(cost_of, [*case.weights, *case.biases], FD_EPS)
    assume(not crosses_kink)
    return grads, reference.cost_value(**kwargs)


def gradient_scale(gradients: list[np.ndarray], cost: float = 0.0) -> float:
    """``max(1, |C|, max |∂C/∂θ|)``: what absolute tolerances are multiplied by."""
    largest = max(float(np.max(np.abs(g), initial=0.0)) for g in gradients)
    return max(1.0, abs(cost), largest)


def assert_gradients_close(
    actual: list[np.ndarray], expected: list[np.ndarray], rtol: float, atol: float, label: str
) -> None:
    """``|actual − expected| ≤ rtol·|expected| + atol`` elementwise, for every array."""
    assert len(actual) == len(expected), f"{label}: {len(actual)} arrays vs {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"{label}[{i}]")


def check_against_finite_differences(
    case: Case, rule: reference.DeltaRule = reference.STANDARD_RULE
) -> None:
    """The property: both delta-rule forms give the finite-difference gradient of C.

    Tolerance: ``rtol = FD_RTOL``, ``atol = FD_ATOL · max(1, |C|, max |∂C/∂θ|)``.
    """
    fd_grads, cost = finite_difference_gradients(case)
    atol = FD_ATOL * gradient_scale(fd_grads, cost)
    for form in (reference.forward_backward, reference.forward_backward_per_sample):
        result = form(**case.kwargs(), rule=rule)
        assert_gradients_close(
            [*result.dW, *result.db], fd_grads, FD_RTOL, atol, f"{form.__name__} vs FD"
        )
