"""The hand-derived delta rule (``micrograd_nd.reference``) against finite differences, against
itself (batched vs per-sample column form), and against the numbers the worked example
("神经网络反向传播", docs/derivation.md) prints."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from reference_cases import (
    FORMS_ATOL,
    FORMS_RTOL,
    Case,
    assert_gradients_close,
    cases,
    check_against_finite_differences,
    gradient_scale,
)

from micrograd_nd import reference
from micrograd_nd.finite_differences import numerical_gradient

# ---------------------------------------------------------------------------------------------
# Properties over random architectures
# ---------------------------------------------------------------------------------------------


@given(cases())
def test_delta_rule_matches_finite_differences(case: Case) -> None:
    check_against_finite_differences(case)


@given(cases())
def test_batched_form_equals_per_sample_form(case: Case) -> None:
    batched = reference.forward_backward(**case.kwargs())
    column = reference.forward_backward_per_sample(**case.kwargs())
    for field in ("z", "a", "delta", "dW", "db"):
        expected = getattr(column, field)
        atol = FORMS_ATOL * gradient_scale(expected)
        assert_gradients_close(getattr(batched, field), expected, FORMS_RTOL, atol, field)
    assert batched.cost == pytest.approx(column.cost, rel=FORMS_RTOL)


@given(cases())
def test_result_shapes_and_no_mutation(case: Case) -> None:
    kwargs = case.kwargs()
    before = [a.copy() for a in (*case.weights, *case.biases, case.X, case.labels)]
    result = reference.forward_backward(**kwargs)
    after = (*case.weights, *case.biases, case.X, case.labels)
    assert all(np.array_equal(b, a) for b, a in zip(before, after, strict=True))
    n = case.X.shape[0]
    for layer, (w, b) in enumerate(zip(case.weights, case.biases, strict=True)):
        assert result.z[layer].shape == result.a[layer].shape == result.delta[layer].shape
        assert result.delta[layer].shape == (n, w.shape[0])
        assert result.dW[layer].shape == w.shape
        assert result.db[layer].shape == b.shape


# ---------------------------------------------------------------------------------------------
# The worked example: the numbers its code prints (three inputs, two sigmoid hidden units,
# one sigmoid output, square cost, no biases)
# ---------------------------------------------------------------------------------------------

WORKED_EXAMPLE = {
    "x": np.array([[0.5, 0.1, -0.2]]),
    "target": np.array([[0.6]]),
    "learnrate": 0.5,
    # The example stores input→hidden as (in, hidden) and computes x·W; ours is (out, in).
    "weights": [
        np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]).T,
        np.array([[0.1, -0.3]]),
    ],
    "biases": [np.zeros(2), np.zeros(1)],  # the example has no biases
}


def _worked_example(form=reference.forward_backward) -> reference.BackpropResult:
    ex = WORKED_EXAMPLE
    return form(
        ex["weights"], ex["biases"], ex["x"], ex["target"], ["sigmoid", "sigmoid"], "square"
    )


def assert_matches_printed(actual: np.ndarray, printed: list[str]) -> None:
    """Each value equals its printed decimal to within half a unit of the last printed digit.

    Fully printed floats (17 digits) get 1e-15 relative instead: our overflow-free sigmoid may
    round differently from the example's ``1 / (1 + exp(−x))`` in the last bit.
    """
    actual = np.ravel(actual)
    assert actual.size == len(printed)
    for value, text in zip(actual, printed, strict=True):
        mantissa, _, exponent = text.lower().partition("e")
        decimals = len(mantissa.partition(".")[2]) - int(exponent or 0)
        tolerance = max(0.5 * 10.0**-decimals, 1e-15 * abs(float(text)))
        assert abs(value - float(text)) <= tolerance, (value, text)


@pytest.mark.parametrize(
    "form", [reference.forward_backward, reference.forward_backward_per_sample]
)
def test_worked_example(form) -> None:
    """The example prints output, error terms and weight changes (= −learnrate · ∂C/∂W)."""
    result = _worked_example(form)
    lr = WORKED_EXAMPLE["learnrate"]
    assert_matches_printed(result.a[-1], ["0.48497343084992534"])
    # Its error terms are −δ: it writes error = target − output, which is −∂cost/∂y (11)
    assert_matches_printed(-result.delta[1], ["0.028730669543515018"])
    assert_matches_printed(-result.delta[0], ["0.00070802", "-0.00204471"])
    assert_matches_printed(-lr * result.dW[1], ["0.00804047", "0.00555918"])
    # It stores input→hidden as (in, hidden): compare the transpose of our (out, in) dW
    printed_input_hidden = [
        *("1.77005547e-04", "-5.11178506e-04"),
        *("3.54011093e-05", "-1.02235701e-04"),
        *("-7.08022187e-05", "2.04471402e-04"),
    ]
    assert_matches_printed(-lr * result.dW[0].T, printed_input_hidden)


def test_worked_example_step_applies_those_changes() -> None:
    result = _worked_example()
    new_w, _ = reference.gradient_descent_step(
        WORKED_EXAMPLE["weights"], WORKED_EXAMPLE["biases"], result, WORKED_EXAMPLE["learnrate"]
    )
    assert_matches_printed(new_w[1] - WORKED_EXAMPLE["weights"][1], ["0.00804047", "0.00555918"])
    assert new_w[0] is not WORKED_EXAMPLE["weights"][0]
    np.testing.assert_array_equal(WORKED_EXAMPLE["weights"][1], [[0.1, -0.3]])  # not mutated


# ---------------------------------------------------------------------------------------------
# Single formulas
# ---------------------------------------------------------------------------------------------


def test_sigmoid_is_stable_and_exact() -> None:
    z = np.array([-1e3, -745.0, -30.0, -1.0, 0.0, 1.0, 30.0, 745.0, 1e3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would warn
        a = reference.sigmoid(z)
    moderate = np.abs(z) <= 30
    np.testing.assert_allclose(a[moderate], 1 / (1 + np.exp(-z[moderate])), rtol=1e-15)
    assert a[0] == 0.0 and a[-1] == 1.0 and a[4] == 0.5


def test_relu_derivative_is_zero_at_the_kink() -> None:
    z = np.array([-1.0, 0.0, 1e-300, 2.0])
    g = reference.activation_derivative("relu", z, reference.activate("relu", z))
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, 1.0])


def test_exact_bce_stays_finite_when_outputs_saturate() -> None:
    weights, biases = [np.array([[800.0], [-800.0]])], [np.zeros(2)]
    X, labels = np.array([[1.0]]), np.array([[0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = reference.forward_backward(
            weights, biases, X, labels, ["sigmoid"], "binary_cross_entropy"
        )
    assert result.cost == pytest.approx(1600.0)  # −ln(1 − σ(800)) − ln σ(−800) = 800 + 800
    np.testing.assert_allclose(result.dW[0], [[1.0], [-1.0]])


def test_bce_guard_reproduces_the_digit_articles_code() -> None:
    rng = np.random.default_rng(1)
    weights, biases = [rng.normal(size=(3, 2))], [rng.normal(size=3)]
    X, labels = rng.normal(size=(4, 2)), rng.uniform(size=(4, 3))
    result = reference.forward_backward(
        weights, biases, X, labels, ["sigmoid"], "binary_cross_entropy", bce_guard=1e-5
    )
    y = result.a[0]
    article_code = np.sum(-labels * np.log(y + 1e-5) - (1 - labels) * np.log(1 - y + 1e-5))
    assert result.cost == pytest.approx(article_code, rel=1e-14)
    d_outlayer = (-labels / (y + 1e-5)) + ((1 - labels) / (1 - y + 1e-5))
    np.testing.assert_allclose(result.delta[0], d_outlayer * y * (1 - y), rtol=1e-14)


def test_mse_is_torch_mean_and_sum_of_sample_means() -> None:
    rng = np.random.default_rng(2)
    weights, biases = [rng.normal(size=(3, 2))], [rng.normal(size=3)]
    X, labels = rng.normal(size=(5, 2)), rng.normal(size=(5, 3))
    outputs = X @ weights[0].T + biases[0]
    args = (weights, biases, X, labels, ["identity"], "mse")
    mean = reference.cost_value(*args, reduction="mean")
    total = reference.cost_value(*args, reduction="sum")
    assert mean == pytest.approx(np.mean((outputs - labels) ** 2), rel=1e-14)
    assert total == pytest.approx(np.sum((outputs - labels) ** 2) / 3, rel=1e-14)


def test_softmax_cross_entropy_output_delta_is_prediction_minus_label() -> None:
    rng = np.random.default_rng(3)
    weights, biases = [rng.normal(size=(4, 3))], [rng.normal(size=4)]
    X, labels = rng.normal(size=(6, 3)), np.eye(4)[[0, 1, 2, 3, 0, 1]]
    result = reference.forward_backward(
        weights, biases, X, labels, ["identity"], "softmax_cross_entropy", reduction="mean"
    )
    logits = X @ weights[0].T + biases[0]
    y_hat = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(result.delta[0], (y_hat - labels) / 6, rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# The output δ: general (10) everywhere, the simplified product only where its pairing holds
# ---------------------------------------------------------------------------------------------


def _numeric_output_delta(args: dict) -> np.ndarray:
    """∂C/∂z(L) by central differences of the cost as a function of z(L) (independent of (10))."""
    problem = reference.validate(**args)
    z_out = reference.forward_backward(**args).z[-1]
    last = len(problem.weights) - 1
    return numerical_gradient(lambda z: reference.data_cost_from_layer(problem, last, z),
                              [z_out])[0]


@pytest.mark.parametrize("output", reference.ACTIVATIONS)
@pytest.mark.parametrize("form", [reference.forward_backward,
                                  reference.forward_backward_per_sample])
def test_softmax_cross_entropy_over_any_output_activation(form, output) -> None:
    """δ(L) = (softmax(y)·Σ label − label) ⊙ g′(z): the article's ŷ − label only for identity."""
    rng = np.random.default_rng(7)
    args = {"weights": [rng.normal(size=(3, 2))], "biases": [rng.normal(size=3)],
            "X": rng.normal(size=(4, 2)), "labels": np.eye(3)[[0, 2, 1, 1]],
            "activations": [output], "cost": "softmax_cross_entropy", "reduction": "mean"}
    result = form(**args)
    np.testing.assert_allclose(result.delta[0], _numeric_output_delta(args), rtol=1e-6,
                               atol=1e-9)
    if output != "identity":  # the shortcut would be wrong here
        shortcut = (reference.softmax(result.a[0]) - args["labels"]) / 4
        assert np.max(np.abs(result.delta[0] - shortcut)) > 1e-2


def test_output_delta_takes_the_shortcut_only_where_the_pairing_holds() -> None:
    """A planted wrong pairing (cross-entropy over an identity output) gets the general (10)."""
    bce = reference.COST_RULES["binary_cross_entropy"]
    z = np.array([[0.3, -1.2]])
    labels = np.array([[1.0, 0.25]])
    y = reference.sigmoid(z)
    paired = reference.output_delta(bce, "sigmoid", z, y, labels, y * (1 - y))
    np.testing.assert_allclose(paired, y - labels, rtol=1e-15)  # (11)·(12) simplified
    a = np.array([[0.6, 0.3]])  # an identity output in (0, 1): (4) is defined there
    general = reference.output_delta(bce, "identity", a, a, labels, np.ones_like(a))
    np.testing.assert_allclose(general, -labels / a + (1 - labels) / (1 - a), rtol=1e-15)
    assert np.max(np.abs(general - (a - labels))) > 0.5


def test_the_pairing_is_validated_where_the_cost_needs_it() -> None:
    args = _valid_arguments()
    with pytest.raises(ValueError, match="binary_cross_entropy needs a sigmoid output layer, "
                                         "got activations\\[-1\\] = 'relu'"):
        reference.forward_backward(**{**args, "cost": "bce", "activations": ["tanh", "relu"]})


def test_every_cost_pairs_with_an_activation_it_is_defined_for() -> None:
    for rule in reference.COST_RULES.values():
        assert rule.pairs_with in reference.ACTIVATIONS
        assert set(rule.outputs) <= set(reference.ACTIVATIONS)
        assert rule.pairs_with in rule.outputs


def test_cost_aliases_name_the_same_records() -> None:
    assert reference.COST_ALIASES["bce"] == "binary_cross_entropy"
    assert reference.COST_ALIASES["cross_entropy"] == "softmax_cross_entropy"
    args = {**_valid_arguments(), "activations": ["tanh", "identity"],
            "labels": np.eye(2)[[0, 1, 1, 0, 1]]}
    by_alias = reference.forward_backward(**{**args, "cost": "cross_entropy"})
    by_name = reference.forward_backward(**{**args, "cost": "softmax_cross_entropy"})
    np.testing.assert_array_equal(by_alias.dW[0], by_name.dW[0])


def test_sigmoid_derivative_keeps_its_digits_when_saturated() -> None:
    """(12) y(1 − y) at z = 21 by 1 − y loses 7 digits; σ(z)σ(−z) keeps them (closed form
    e^{−z}/(1 + e^{−z})², exact to rounding for z > 0)."""
    z = np.array([5.0, 21.0, 30.0, -21.0])
    g_prime = reference.activation_derivative("sigmoid", z, reference.sigmoid(z))
    closed_form = np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))) ** 2
    np.testing.assert_allclose(g_prime, closed_form, rtol=1e-14)


def test_columns_layout_is_rows_transposed() -> None:
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(reference.COLUMNS.as_rows(reference.COLUMNS.as_rows(x)), x)
    np.testing.assert_array_equal(reference.COLUMNS.as_rows(x), x.T)
    rng = np.random.default_rng(5)
    w, b, xs = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(2, 3))
    np.testing.assert_allclose(reference.weighted_input_column(w, b, xs.T).T,
                               reference.weighted_input(w, b, xs), rtol=1e-15)


def test_l2_step_is_the_feed_forward_articles_update() -> None:
    rng = np.random.default_rng(4)
    weights = [rng.normal(size=(3, 2)), rng.normal(size=(1, 3))]
    biases = [rng.normal(size=3), rng.normal(size=1)]
    X, labels = rng.normal(size=(5, 2)), rng.normal(size=(5, 1))
    acts, lam, alpha = ["tanh", "identity"], 0.3, 0.1
    plain = reference.forward_backward(weights, biases, X, labels, acts, "square", "mean")
    with_l2 = reference.forward_backward(weights, biases, X, labels, acts, "square", "mean", lam)
    new_w, new_b = reference.gradient_descent_step(weights, biases, with_l2, alpha)
    for layer in range(2):  # W ← W − α((1/N) Σ_n δ_n x_nᵀ + λ W), b ← b − α (1/N) Σ_n δ_n
        expected = weights[layer] - alpha * (plain.dW[layer] + lam * weights[layer])
        np.testing.assert_allclose(new_w[layer], expected, rtol=1e-14)
        np.testing.assert_allclose(new_b[layer], biases[layer] - alpha * plain.db[layer])
    penalty = 0.5 * lam * sum(np.sum(w**2) for w in weights)
    assert with_l2.cost == pytest.approx(plain.cost + penalty, rel=1e-14)


# ---------------------------------------------------------------------------------------------
# Argument validation
# ---------------------------------------------------------------------------------------------


def _valid_arguments() -> dict:
    return {
        "weights": [np.ones((4, 3)), np.ones((2, 4))],
        "biases": [np.zeros(4), np.zeros(2)],
        "X": np.ones((5, 3)),
        "labels": np.full((5, 2), 0.5),
        "activations": ["tanh", "sigmoid"],
        "cost": "square",
    }


INVALID = [
    (
        {"activations": ["tanh", "softplus"]},
        ValueError,
        "unknown activation 'softplus' for layer 1",
    ),
    ({"activations": ["tanh"]}, ValueError, "1 activation names for 2 layers"),
    ({"activations": "tanh"}, TypeError, "sequence of names"),
    ({"cost": "hinge"}, ValueError, "unknown cost 'hinge'"),
    ({"reduction": "max"}, ValueError, "unknown reduction 'max'"),
    (
        {"weights": [np.ones((4, 3)), np.ones((2, 5))]},
        ValueError,
        r"weights\[1\] has shape \(2, 5\)",
    ),
    ({"weights": [np.ones((4, 3)), np.ones(4)]}, ValueError, r"weights\[1\] must be 2-D"),
    ({"weights": np.ones((4, 3))}, TypeError, "weights must be a sequence"),
    ({"weights": [np.ones((4, 3))]}, ValueError, "2 bias vectors"),
    ({"weights": []}, ValueError, "at least one layer"),
    (
        {"biases": [np.zeros((4, 1)), np.zeros(2)]},
        ValueError,
        r"biases\[0\] must have shape \(4,\)",
    ),
    ({"X": np.ones((5, 2))}, ValueError, r"X has shape \(5, 2\) \(2 features\)"),
    ({"X": np.ones(3)}, ValueError, "X must be 2-D"),
    ({"X": np.array([["a", "b", "c"]])}, TypeError, "X must be a real numeric array"),
    ({"labels": np.ones((5, 3))}, ValueError, r"labels must have shape \(5, 2\)"),
    ({"l2": -0.1}, ValueError, "l2 must be >= 0"),
    ({"l2": "0.1"}, TypeError, "l2 must be a real number"),
    ({"l2": float("nan")}, ValueError, "l2 must be finite"),
    ({"bce_guard": 1e-5}, ValueError, "bce_guard only applies to binary_cross_entropy"),
    (
        {"cost": "binary_cross_entropy", "activations": ["tanh", "tanh"]},
        ValueError,
        "sigmoid output",
    ),
    ({"cost": "binary_cross_entropy", "labels": np.full((5, 2), 2.0)}, ValueError, r"in \[0, 1\]"),
    ({"cost": "bce", "activations": ["tanh", "identity"]}, ValueError,
     "binary_cross_entropy needs a sigmoid output layer, got activations"),
    ({"cost": 3}, TypeError, "cost must be a name"),
    ({"bce_guard": -1e-5, "cost": "bce"}, ValueError, "bce_guard must be >= 0"),
    ({"X": np.full((5, 3), np.nan)}, ValueError,
     r"X has a non-finite value \(nan at index \(0, 0\)\)"),
    ({"weights": [np.ones((4, 3)), np.full((2, 4), np.inf)]}, ValueError,
     r"weights\[1\] has a non-finite value \(inf"),
    ({"labels": np.full((5, 2), -np.inf)}, ValueError, "labels has a non-finite value"),
    (
        {
            "cost": "softmax_cross_entropy",
            "activations": ["tanh", "identity"],
            "labels": np.full((5, 2), 0.3),
        },
        ValueError,
        "rows summing to 1",
    ),
]


@pytest.mark.parametrize(
    "form", [reference.forward_backward, reference.forward_backward_per_sample]
)
@pytest.mark.parametrize(("change", "error", "message"), INVALID)
def test_invalid_arguments_are_named(form, change, error, message) -> None:
    with pytest.raises(error, match=message):
        form(**{**_valid_arguments(), **change})


def test_gradient_descent_step_checks_its_arguments() -> None:
    args = _valid_arguments()
    result = reference.forward_backward(**args)
    with pytest.raises(ValueError, match=re.escape("layer 1: weights (2, 3)")):
        reference.gradient_descent_step(
            [args["weights"][0], np.ones((2, 3))], args["biases"], result, 0.1
        )
    with pytest.raises(ValueError, match="gradients for 2 layers"):
        reference.gradient_descent_step(args["weights"][:1], args["biases"][:1], result, 0.1)
    with pytest.raises(TypeError, match="learning_rate must be a real number"):
        reference.gradient_descent_step(args["weights"], args["biases"], result, None)
