"""Checking the checker: deliberately wrong delta rules must fail the finite-difference property.

Each mutant swaps one piece of :class:`reference.DeltaRule` (one equation) for a plausible
mistake; :func:`hypothesis.find` then searches, deterministically, for a network on which
``check_against_finite_differences`` fails. Each test prints the number of examples the
search needed and the shrunk counterexample (``pytest -s`` or ``-rP`` shows them).
A crash (e.g. a shape mismatch from a wrong transpose) also counts as caught.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis.errors import NoSuchExample, UnsatisfiedAssumption
from reference_cases import Case, cases, check_against_finite_differences

from micrograd_nd import reference
from micrograd_nd.reference import STANDARD_RULE, DeltaRule

SEARCH = settings(
    max_examples=200,
    derandomize=True,  # the same examples every run: the table below is reproducible
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


# ---------------------------------------------------------------------------------------------
# The mutants: one wrong piece each
# ---------------------------------------------------------------------------------------------


def _pullback_without_g_prime(g_prime, delta_next, w_next):
    return delta_next @ w_next  # (13) without g′(z(l))


def _pullback_without_g_prime_column(g_prime, delta_next, w_next):
    return w_next.T @ delta_next


def _sigmoid_derivative_of_z(name, z, a):
    if name == "sigmoid":
        return z * (1.0 - z)  # (12) evaluated on z instead of a = g(z)
    return reference.activation_derivative(name, z, a)


def _output_delta_without_g_prime(cost, activation, z, a, labels, g_prime):
    return reference.output_delta(cost, activation, z, a, labels, np.ones_like(g_prime))  # (10)


def _output_delta_shortcut_for_any_pairing(cost, activation, z, a, labels, g_prime):
    # The old merged (10)–(11): "ŷ − label" whatever the output activation.
    if cost.name == "softmax_cross_entropy":
        return reference.softmax(a) - labels
    if cost.paired_delta is not None:
        return a - labels
    return reference.output_delta(cost, activation, z, a, labels, g_prime)


def _transposed_pullback(g_prime, delta_next, w_next):
    return g_prime * (delta_next @ w_next.T)


def _transposed_pullback_column(g_prime, delta_next, w_next):
    return g_prime * (w_next @ delta_next)


def _transposed_weight_gradient(delta, layer_input):
    return layer_input.T @ delta  # X ᵀΔ instead of Δᵀ X (7)


def _transposed_weight_gradient_column(delta, layer_input):
    return layer_input @ delta.T


def _bias_gradient_first_row(delta):
    return delta[0]  # (8) for the first sample only


def _bias_gradient_mean(delta):
    return np.mean(delta, axis=0)  # averages what the reduction already weighted


def _no_one_over_n(reduction, n_samples):
    return 1.0  # a mean cost treated as a sum


def _softmax_ce_sign_flipped(cost, activation, z, a, labels, g_prime):
    if cost.name == "softmax_cross_entropy":
        return labels - reference.softmax(a)  # label − ŷ instead of ŷ − label
    return reference.output_delta(cost, activation, z, a, labels, g_prime)


def _no_l2_gradient(w, l2):
    return np.zeros_like(w)  # the ½λ‖W‖² penalty forgotten in the gradient


def _same_layer_weight(weights, layer):
    return weights[layer]  # δ(l) pulled back through W(l) instead of W(l+1) (13)


def _column_bias_without_reshape(w, b, x):
    return w @ x + b  # (1) with b of shape (n_l,) added to a column: broadcasts to (n_l, n_l)


def _mutant(rows: dict | None = None, columns: dict | None = None, **pieces) -> DeltaRule:
    return dataclasses.replace(
        STANDARD_RULE,
        rows=dataclasses.replace(STANDARD_RULE.rows, **(rows or {})),
        columns=dataclasses.replace(STANDARD_RULE.columns, **(columns or {})),
        **pieces,
    )


MUTANTS: dict[str, DeltaRule] = {
    "hidden δ without g′ (13)": _mutant(
        rows={"hidden_delta": _pullback_without_g_prime},
        columns={"hidden_delta": _pullback_without_g_prime_column},
    ),
    "hidden δ without g′, column form only (13)": _mutant(
        columns={"hidden_delta": _pullback_without_g_prime_column},
    ),
    "output δ without g′ (10)": _mutant(output_delta=_output_delta_without_g_prime),
    "output δ = ŷ − label for any output activation (10)–(11)": _mutant(
        output_delta=_output_delta_shortcut_for_any_pairing
    ),
    "sigmoid g′ = z(1−z) (12)": _mutant(activation_derivative=_sigmoid_derivative_of_z),
    "transposed W in (13)": _mutant(
        rows={"hidden_delta": _transposed_pullback},
        columns={"hidden_delta": _transposed_pullback_column},
    ),
    "transposed dW (7)": _mutant(
        rows={"weight_gradient": _transposed_weight_gradient},
        columns={"weight_gradient": _transposed_weight_gradient_column},
    ),
    "db = first row of Δ (8)": _mutant(rows={"bias_gradient": _bias_gradient_first_row}),
    "db = mean of Δ rows (8)": _mutant(rows={"bias_gradient": _bias_gradient_mean}),
    "column b not reshaped (1)": _mutant(columns={"weighted_input": _column_bias_without_reshape}),
    "mean cost without 1/N": _mutant(sample_weight=_no_one_over_n),
    "softmax CE δ sign flipped": _mutant(output_delta=_softmax_ce_sign_flipped),
    "L2 term missing": _mutant(l2_gradient=_no_l2_gradient),
    "δ through W(l), not W(l+1) (13)": _mutant(propagating_weight=_same_layer_weight),
}


# ---------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class SearchLog:
    """What one ``find`` did: examples tried until the first failure, and how it failed."""

    valid_examples: int = 0
    first_failure_at: int | None = None
    failure: str = ""


def _fails_property(rule: DeltaRule, log: SearchLog):
    def predicate(case: Case) -> bool:
        try:
            check_against_finite_differences(case, rule)
        except UnsatisfiedAssumption:
            raise  # a relu kink: not an example at all
        except AssertionError:
            kind = "wrong gradient"
        except (ValueError, IndexError) as error:  # e.g. matmul shape mismatch
            kind = f"crash ({type(error).__name__})"
        else:
            log.valid_examples += 1
            return False
        log.valid_examples += 1
        if log.first_failure_at is None:
            log.first_failure_at, log.failure = log.valid_examples, kind
        return True

    return predicate


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_fails_the_finite_difference_property(name: str) -> None:
    log = SearchLog()
    try:
        counterexample = find(cases(), _fails_property(MUTANTS[name], log), settings=SEARCH)
    except NoSuchExample:
        pytest.fail(f"mutant {name!r} survived {SEARCH.max_examples} examples")
    print(
        f"\nmutant {name!r}: caught at example {log.first_failure_at} ({log.failure}); "
        f"shrunk: {counterexample.describe()}"
    )


def test_standard_rule_passes_the_same_search() -> None:
    log = SearchLog()
    with pytest.raises(NoSuchExample):
        find(
            cases(),
            _fails_property(STANDARD_RULE, log),
            settings=settings(SEARCH, max_examples=30),
        )
    assert log.first_failure_at is None
