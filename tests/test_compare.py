"""Delta rule == autodiff == central differences, on Hypothesis-drawn networks and batches.

Tolerances (relative to the largest magnitude in the compared arrays, see
``compare._disagreement``):
  * delta rule (both forms) vs autodiff: 1e-8 — two exact derivations, rounding only;
  * either vs central differences (eps 1e-6, float64): 1e-5.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from micrograd_nd import compare, reference
from micrograd_nd.compare import (
    Network,
    _disagreement,
    autodiff_backprop,
    compare_gradients,
    network_arrays,
)
from micrograd_nd.nn import MLP, Linear, Sequential, Softmax
from micrograd_nd.testing import arrays

EXACT = 1e-8
NUMERIC = 1e-5
FEWER = max(10, settings.default.max_examples // 3)


@st.composite
def problems(draw: st.DrawFn, max_width: int = 12, max_depth: int = 4, large: bool = True):
    """A network (depth 1–4, widths 1–12), a batch (1–16 rows), a cost and its settings."""
    depth = draw(st.integers(1, max_depth))
    sizes = draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1))
    cost = draw(st.sampled_from(reference.COSTS))
    hidden = draw(st.lists(st.sampled_from(reference.ACTIVATIONS),
                           min_size=depth - 1, max_size=depth - 1))
    if cost == "softmax_cross_entropy":
        output = "identity"
    elif cost == "binary_cross_entropy":
        output = "sigmoid"
    else:
        output = draw(st.sampled_from(reference.ACTIVATIONS))
    scale = draw(st.sampled_from([0.5, 2.0, 6.0] if large else [0.5, 1.0]))
    weights = [draw(arrays((n_out, n_in), min_value=-scale, max_value=scale))
               for n_in, n_out in itertools.pairwise(sizes)]
    biases = [draw(arrays((n_out,), min_value=-scale, max_value=scale)) for n_out in sizes[1:]]
    batch = draw(st.integers(1, 16))
    X = draw(arrays((batch, sizes[0]), min_value=-2.0, max_value=2.0))
    if cost == "softmax_cross_entropy":
        classes = draw(arrays((batch,), dtype=np.int64, min_value=0, max_value=sizes[-1] - 1))
        labels = np.eye(sizes[-1])[classes]
    elif cost == "binary_cross_entropy":
        labels = draw(arrays((batch, sizes[-1]), dtype=np.int64, min_value=0, max_value=1)) * 1.0
    else:
        labels = draw(arrays((batch, sizes[-1]), min_value=-1.0, max_value=1.0))
    return {
        "network": Network(weights, biases, [*hidden, output]),
        "X": X,
        "labels": labels,
        "cost": cost,
        "reduction": draw(st.sampled_from(reference.REDUCTIONS)),
        "l2": draw(st.sampled_from([0.0, 0.0, 0.3])),
        "bce_guard": draw(st.sampled_from([0.0, 1e-5])) if cost == "binary_cross_entropy"
        else 0.0,
    }


def _delta_rule(problem: dict, per_sample: bool = False,
                rule: reference.DeltaRule = reference.STANDARD_RULE):
    net = problem["network"]
    form = reference.forward_backward_per_sample if per_sample else reference.forward_backward
    return form(net.weights, net.biases, problem["X"], problem["labels"], net.activations,
                problem["cost"], problem["reduction"], problem["l2"], problem["bce_guard"],
                rule=rule)


def _autodiff(problem: dict):
    return autodiff_backprop(problem["network"], problem["X"], problem["labels"],
                             problem["cost"], problem["reduction"], problem["l2"],
                             problem["bce_guard"])


def _assert_agree(left, right, tolerance: float, what: str) -> None:
    for quantity in ("delta", "dW", "db"):
        for layer, (a, b) in enumerate(
            zip(getattr(left, quantity), getattr(right, quantity), strict=True), start=1
        ):
            max_abs, max_rel = _disagreement(a, b)
            assert max_rel <= tolerance or max_abs <= 1e-12, (
                f"{what}: layer {layer} {quantity} differs by {max_abs:.3e} "
                f"(relative {max_rel:.3e} > {tolerance:g})"
            )


def _away_from_relu_kinks(problem: dict, margin: float = 1e-4) -> bool:
    """Central differences straddle a ReLU kink when some |z| < eps; keep clear of that."""
    result = _delta_rule(problem)
    return all(name != "relu" or np.min(np.abs(z)) > margin
               for name, z in zip(problem["network"].activations, result.z, strict=True))


@given(problems())
def test_delta_rule_equals_autodiff_in_both_forms(problem):
    auto = _autodiff(problem)
    batched = _delta_rule(problem)
    per_sample = _delta_rule(problem, per_sample=True)
    _assert_agree(batched, auto, EXACT, "batched delta rule vs autodiff")
    _assert_agree(per_sample, auto, EXACT, "per-sample delta rule vs autodiff")
    assert auto.cost == pytest.approx(batched.cost, rel=EXACT, abs=1e-12)


@settings(max_examples=FEWER)
@given(problems(max_width=6, max_depth=3, large=False))
def test_delta_rule_and_autodiff_equal_central_differences(problem):
    assume(_away_from_relu_kinks(problem))
    net = problem["network"]
    comparison = compare_gradients(
        (net.weights, net.biases), problem["X"], problem["labels"],
        loss=problem["cost"], reduction=problem["reduction"], l2=problem["l2"],
        bce_guard=problem["bce_guard"], activations=net.activations,
        tolerances={"rule vs numeric": (1e-7, NUMERIC), "autodiff vs numeric": (1e-7, NUMERIC)},
    )
    assert comparison.passed, "\n" + comparison.table()


# ---------------------------------------------------------------------------------------------
# Seed 002's worked example, by autodiff on an nn.MLP with the same weights.
# ---------------------------------------------------------------------------------------------
def _seed_002_model() -> MLP:
    model = MLP([3, 2, 1], activation="sigmoid", output_activation="sigmoid")
    weights_input_hidden = np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]])  # 002: (in, hidden)
    weights_hidden_output = np.array([0.1, -0.3])
    model.load_state_dict({
        "layers.0.weight": weights_input_hidden.T,  # to the (out, in) layout
        "layers.0.bias": np.zeros(2),  # 002's network has no biases
        "layers.2.weight": weights_hidden_output.reshape(1, 2),
        "layers.2.bias": np.zeros(1),
    })
    return model


def test_seed_002_worked_example_by_autodiff():
    """The numbers of spec/backprop-formulas.md (seed 002), reproduced by the engine."""
    model = _seed_002_model()
    x = np.array([[0.5, 0.1, -0.2]])
    target = np.array([[0.6]])
    learnrate = 0.5
    comparison = compare_gradients(model, x, target, loss="square", reduction="sum")
    assert comparison.passed, comparison.table()

    auto = comparison.autodiff
    output = comparison.delta_rule.a[-1][0, 0]
    assert output == pytest.approx(0.48497343084992534, rel=1e-15)
    # 002's "error term" is −δ: it writes error = target − output.
    assert -auto.delta[1][0, 0] == pytest.approx(0.028730669543515018, rel=1e-12)
    np.testing.assert_allclose(-auto.delta[0][0], [0.00070802, -0.00204471], rtol=1e-5)
    np.testing.assert_allclose(-learnrate * auto.dW[1][0], [0.00804047, 0.00555918], rtol=1e-6)
    np.testing.assert_allclose(
        -learnrate * auto.dW[0].T,
        [[1.77005547e-04, -5.11178506e-04],
         [3.54011093e-05, -1.02235701e-04],
         [-7.08022187e-05, 2.04471402e-04]],
        rtol=1e-8,
    )


# ---------------------------------------------------------------------------------------------
# The API around it.
# ---------------------------------------------------------------------------------------------
def test_network_arrays_reads_an_mlp_in_order():
    model = MLP([4, 5, 3], activation="tanh", rng=0)
    net = network_arrays(model)
    assert net.activations == ["tanh", "identity"]
    assert [w.shape for w in net.weights] == [(5, 4), (3, 5)]
    np.testing.assert_array_equal(net.weights[1], model[2].weight.data)


def test_network_arrays_rejects_what_the_delta_rule_does_not_cover():
    with pytest.raises(ValueError, match="cannot follow a Softmax"):
        network_arrays(Sequential(Linear(2, 2), Softmax()))
    with pytest.raises(ValueError, match="need `activations`"):
        network_arrays(([np.ones((2, 2))], [np.zeros(2)]))
    with pytest.raises(TypeError, match=r"expected an nn\.MLP"):
        network_arrays("not a network")


def test_integer_labels_are_one_hot_encoded_for_cross_entropy():
    model = MLP([3, 4, 3], activation="relu", rng=1, dtype=np.float64)
    X = np.random.default_rng(0).normal(size=(5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    by_class = compare_gradients(model, X, labels, loss="cross_entropy", numeric=False)
    by_rows = compare_gradients(model, X, np.eye(3)[labels], loss="cross_entropy", numeric=False)
    for a, b in zip(by_class.autodiff.dW, by_rows.autodiff.dW, strict=True):
        np.testing.assert_array_equal(a, b)
    assert by_class.passed


def test_a_wrong_delta_rule_shows_up_in_its_layer():
    """δ sent through the wrong layer's W: layers before the last disagree, the last does not."""
    model = MLP([3, 4, 4, 2], activation="sigmoid", rng=2, dtype=np.float64)
    X = np.random.default_rng(1).normal(size=(6, 3))
    labels = np.random.default_rng(2).uniform(size=(6, 2))
    net = network_arrays(model)
    problem = {"network": net, "X": X, "labels": labels, "cost": "square",
               "reduction": "mean", "l2": 0.0, "bce_guard": 0.0}
    wrong = dataclasses.replace(reference.STANDARD_RULE,
                                propagating_weight=lambda weights, layer: weights[layer + 1] * 1.5)
    mutant = _delta_rule(problem, rule=wrong)
    auto = _autodiff(problem)
    assert _disagreement(mutant.delta[-1], auto.delta[-1])[1] < EXACT
    assert _disagreement(mutant.delta[0], auto.delta[0])[1] > 1e-3


def test_cli_passes_and_prints_a_table(capsys):
    assert compare.main(["--layers", "4,8,3", "--activation", "sigmoid", "--loss",
                         "cross_entropy", "--batch", "16", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "rule vs autodiff" in out and "PASS" in out
    assert out.count("\n    1 ") == 3  # δ, dW and db of layer 1


def test_cli_fails_when_a_derivation_is_wrong(monkeypatch, capsys):
    wrong = dataclasses.replace(reference.STANDARD_RULE,
                                bias_gradient=lambda delta: delta[0])  # forgot Σ over the batch
    original = reference.forward_backward
    monkeypatch.setattr(reference, "forward_backward",
                        lambda *args, **kwargs: original(*args, **kwargs, rule=wrong))
    assert compare.main(["--layers", "3,5,2", "--loss", "square", "--batch", "4"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_rejects_bad_layer_specs(capsys):
    assert compare.main(["--layers", "4,x"]) == 2
    assert compare.main(["--layers", "4"]) == 2
