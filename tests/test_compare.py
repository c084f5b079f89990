"""Delta rule == autodiff == central differences, on Hypothesis-drawn networks and batches;
the comparison report, its table and the command line.

Tolerances (per element, relative to its size with a floor of 10⁻³ of the array's scale, see
:mod:`micrograd_nd.agreement`):
  * delta rule (both forms) vs autodiff: 1e-8 — two exact derivations, rounding only;
  * either vs central differences (eps 1e-6, float64): 1e-5.
"""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from micrograd_nd import compare, oracles, reference
from micrograd_nd.agreement import GradientMismatchError, Tolerance, compare_pair
from micrograd_nd.compare import compare_gradients
from micrograd_nd.nn import MLP, Linear, Sequential, Softmax
from micrograd_nd.testing import arrays

EXACT = 1e-8
NUMERIC = 1e-5
FEWER = max(10, settings.default.max_examples // 3)


@st.composite
def problems(draw: st.DrawFn, max_width: int = 12, max_depth: int = 4, large: bool = True
             ) -> reference.Problem:
    """A network (depth 1–4, widths 1–12), a batch (1–16 rows), a cost and its settings."""
    depth = draw(st.integers(1, max_depth))
    sizes = draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1))
    cost = reference.COST_RULES[draw(st.sampled_from(reference.COSTS))]
    hidden = draw(st.lists(st.sampled_from(reference.ACTIVATIONS),
                           min_size=depth - 1, max_size=depth - 1))
    output = draw(st.just(cost.pairs_with) | st.sampled_from(cost.outputs))
    scale = draw(st.sampled_from([0.5, 2.0, 6.0] if large else [0.5, 1.0]))
    weights = [draw(arrays((n_out, n_in), min_value=-scale, max_value=scale))
               for n_in, n_out in itertools.pairwise(sizes)]
    biases = [draw(arrays((n_out,), min_value=-scale, max_value=scale)) for n_out in sizes[1:]]
    batch = draw(st.integers(1, 16))
    X = draw(arrays((batch, sizes[0]), min_value=-2.0, max_value=2.0))
    if cost.name == "softmax_cross_entropy":
        classes = draw(arrays((batch,), dtype=np.int64, min_value=0, max_value=sizes[-1] - 1))
        labels = np.eye(sizes[-1])[classes]
    elif cost.name == "binary_cross_entropy":
        labels = draw(arrays((batch, sizes[-1]), dtype=np.int64, min_value=0, max_value=1)) * 1.0
    else:
        labels = draw(arrays((batch, sizes[-1]), min_value=-1.0, max_value=1.0))
    guard = draw(st.sampled_from([0.0, 1e-5])) if cost.name == "binary_cross_entropy" else 0.0
    return reference.validate(weights, biases, X, labels, [*hidden, output], cost.name,
                              draw(st.sampled_from(reference.REDUCTIONS)),
                              draw(st.sampled_from([0.0, 0.0, 0.3])), guard)


def _assert_agree(left: reference.LayerGradients, right: reference.LayerGradients,
                  tolerance: float, what: str) -> None:
    for quantity in ("delta", "dW", "db"):
        for layer, (a, b) in enumerate(
            zip(getattr(left, quantity), getattr(right, quantity), strict=True), start=1
        ):
            row = compare_pair(f"{quantity}({layer})", "left vs right", {"left": a, "right": b},
                               Tolerance(1e-12, tolerance))
            assert row.passed, (
                f"{what}: layer {layer} {quantity} differs by {row.max_abs:.3e} "
                f"(relative {row.max_rel:.3e} > {tolerance:g}) at {row.index}"
            )


def _away_from_relu_kinks(problem: reference.Problem, margin: float = 1e-4) -> bool:
    """Central differences straddle a ReLU kink when some |z| < eps; keep clear of that."""
    zs, _ = reference.forward_pass(problem)
    return all(name != "relu" or np.min(np.abs(z)) > margin
               for name, z in zip(problem.activations, zs, strict=True))


@given(problems())
def test_delta_rule_equals_autodiff_in_both_forms(problem):
    auto = oracles.autodiff(problem)
    batched = oracles.delta_rule(problem)
    per_sample = oracles.delta_rule(problem, per_sample=True)
    _assert_agree(batched, auto, EXACT, "batched delta rule vs autodiff")
    _assert_agree(per_sample, auto, EXACT, "per-sample delta rule vs autodiff")
    assert auto.cost == pytest.approx(batched.cost, rel=EXACT, abs=1e-12)


def test_guarded_bce_with_a_saturated_sigmoid_agrees_to_rounding():
    """A sigmoid output at z = 21 with the 1e-5 guard: δ(L) ≈ 1e5·(1 − y). Evaluating (12) as
    y(1 − y) made the delta rule 1.1e-7 off (the flaky seed 18); σ(z)σ(−z) keeps its digits."""
    problem = reference.validate(
        [np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((2, 1)), np.array([[3.0, 3.0]])],
        [np.zeros(1), np.zeros(1), np.array([1.0, 6.0]), np.zeros(1)],
        np.zeros((1, 1)), np.zeros((1, 1)), ["sigmoid", "sigmoid", "relu", "sigmoid"],
        "binary_cross_entropy", "sum", 0.0, 1e-5)
    auto = oracles.autodiff(problem)
    for per_sample in (False, True):
        _assert_agree(oracles.delta_rule(problem, per_sample=per_sample), auto, 1e-12,
                      "delta rule vs autodiff")


@settings(max_examples=FEWER)
@given(problems(max_width=6, max_depth=3, large=False))
def test_delta_rule_and_autodiff_equal_central_differences(problem):
    assume(_away_from_relu_kinks(problem))
    comparison = compare_gradients(
        (problem.weights, problem.biases), problem.X, problem.labels,
        loss=problem.cost, reduction=problem.reduction, l2=problem.l2,
        bce_guard=problem.bce_guard, activations=problem.activations,
        tolerances={"rule vs numeric": (1e-7, NUMERIC), "autodiff vs numeric": (1e-7, NUMERIC)},
    )
    comparison.assert_passed()


# ---------------------------------------------------------------------------------------------
# Any memory layout: the oracles see values, not strides.
# ---------------------------------------------------------------------------------------------
def _views(array: np.ndarray) -> dict[str, np.ndarray]:
    """The same values as ``array`` (2-D) in other layouts."""
    wide = np.zeros((array.shape[0], 2 * array.shape[1]))
    wide[:, ::2] = array
    flipped = np.ascontiguousarray(array[::-1, ::-1])
    return {
        "fortran": np.asfortranarray(array),
        "transposed": np.ascontiguousarray(array.T).T,
        "step-2 slice": wide[:, ::2],
        "negative strides": flipped[::-1, ::-1],
    }


@pytest.mark.parametrize("layout", ["fortran", "transposed", "step-2 slice", "negative strides"])
def test_compare_gradients_does_not_depend_on_memory_layout(layout):
    rng = np.random.default_rng(3)
    weights = [rng.normal(size=(4, 3)), rng.normal(size=(2, 4))]
    biases = [rng.normal(size=4), rng.normal(size=2)]
    X = rng.normal(size=(5, 3))
    labels = np.array([0, 1, 1, 0, 1])
    contiguous = compare_gradients((weights, biases), X, labels, activations=["tanh", "identity"])
    views = compare_gradients(([_views(w)[layout] for w in weights], biases), _views(X)[layout],
                              labels, activations=["tanh", "identity"])
    views.assert_passed()
    for name in ("rule", "autodiff", "numeric"):
        for a, b in zip(contiguous.gradients[name].dW, views.gradients[name].dW, strict=True):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# The worked example, by autodiff on an nn.MLP with the same weights.
# ---------------------------------------------------------------------------------------------
def _worked_example_model() -> MLP:
    model = MLP([3, 2, 1], activation="sigmoid", output_activation="sigmoid")
    weights_input_hidden = np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]])  # stored (in, hidden)
    weights_hidden_output = np.array([0.1, -0.3])
    model.load_state_dict({
        "layers.0.weight": weights_input_hidden.T,  # to the (out, in) layout
        "layers.0.bias": np.zeros(2),  # the example's network has no biases
        "layers.2.weight": weights_hidden_output.reshape(1, 2),
        "layers.2.bias": np.zeros(1),
    })
    return model


def test_worked_example_by_autodiff():
    """The numbers the worked example's code prints, reproduced by the engine."""
    model = _worked_example_model()
    x = np.array([[0.5, 0.1, -0.2]])
    target = np.array([[0.6]])
    learnrate = 0.5
    comparison = compare_gradients(model, x, target, loss="square", reduction="sum")
    comparison.assert_passed()

    auto = comparison.autodiff
    output = comparison.delta_rule.a[-1][0, 0]
    assert output == pytest.approx(0.48497343084992534, rel=1e-15)
    # The example's "error term" is −δ: it writes error = target − output.
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
def test_read_network_reads_an_mlp_in_order():
    model = MLP([4, 5, 3], activation="tanh", rng=0)
    weights, _, activations = oracles.read_network(model)
    assert activations == ["tanh", "identity"]
    assert [w.shape for w in weights] == [(5, 4), (3, 5)]
    np.testing.assert_array_equal(weights[1], model[2].weight.data)


def test_every_reference_activation_reads_from_its_module():
    for name in reference.ACTIVATIONS:
        model = MLP([2, 3, 2], activation=name, output_activation=name, rng=0)
        assert oracles.read_network(model)[2] == [name, name]


def test_read_network_rejects_what_the_delta_rule_does_not_cover():
    with pytest.raises(ValueError, match="cannot follow a Softmax"):
        oracles.read_network(Sequential(Linear(2, 2), Softmax()))
    with pytest.raises(ValueError, match="need `activations`"):
        oracles.read_network(([np.ones((2, 2))], [np.zeros(2)]))
    with pytest.raises(TypeError, match=r"expected an nn\.MLP"):
        oracles.read_network("not a network")


def test_integer_labels_are_one_hot_encoded_for_cross_entropy():
    model = MLP([3, 4, 3], activation="relu", rng=1, dtype=np.float64)
    X = np.random.default_rng(0).normal(size=(5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    by_class = compare_gradients(model, X, labels, loss="cross_entropy", numeric=False)
    by_rows = compare_gradients(model, X, np.eye(3)[labels], loss="cross_entropy", numeric=False)
    for a, b in zip(by_class.autodiff.dW, by_rows.autodiff.dW, strict=True):
        np.testing.assert_array_equal(a, b)
    assert by_class.passed


@pytest.mark.parametrize("cost", reference.COSTS)
def test_autodiff_cost_is_the_reference_cost(cost):
    """Each cost of the one list, written with the library's losses, has the reference's value."""
    rng = np.random.default_rng(4)
    rule = reference.COST_RULES[cost]
    labels = (np.eye(3)[[0, 2, 1, 1]] if cost == "softmax_cross_entropy"
              else rng.uniform(size=(4, 3)))
    for reduction, guard in itertools.product(reference.REDUCTIONS, (0.0, 1e-5)):
        if guard and cost != "binary_cross_entropy":
            continue
        problem = reference.validate([rng.normal(size=(3, 2))], [rng.normal(size=3)],
                                     rng.normal(size=(4, 2)), labels, [rule.pairs_with], cost,
                                     reduction, 0.2, guard)
        expected = reference.cost_value(**problem.arguments())
        assert oracles.autodiff(problem).cost == pytest.approx(expected, rel=1e-13)


def test_a_wrong_delta_rule_shows_up_in_its_layer():
    """δ sent through the wrong layer's W: layers before the last disagree, the last does not."""
    model = MLP([3, 4, 4, 2], activation="sigmoid", rng=2, dtype=np.float64)
    X = np.random.default_rng(1).normal(size=(6, 3))
    labels = np.random.default_rng(2).uniform(size=(6, 2))
    problem = oracles.network_problem(model, X, labels, loss="square")
    wrong = dataclasses.replace(reference.STANDARD_RULE,
                                propagating_weight=lambda weights, layer: weights[layer + 1] * 1.5)
    mutant = oracles.delta_rule(problem, rule=wrong)
    auto = oracles.autodiff(problem)
    last = compare_pair("δ", "a vs b", {"a": mutant.delta[-1], "b": auto.delta[-1]},
                        Tolerance(0.0, EXACT))
    first = compare_pair("δ", "a vs b", {"a": mutant.delta[0], "b": auto.delta[0]},
                         Tolerance(0.0, EXACT))
    assert last.passed and first.max_rel > 1e-3


def test_report_marks_failing_rows_and_assert_passed_raises_the_table(monkeypatch):
    wrong = dataclasses.replace(
        reference.STANDARD_RULE,
        rows=dataclasses.replace(reference.ROWS, bias_gradient=lambda delta: delta[0]))
    original = oracles.delta_rule
    monkeypatch.setattr(oracles, "delta_rule",
                        lambda problem: original(problem, rule=wrong))
    rng = np.random.default_rng(0)
    report = compare_gradients(([rng.normal(size=(3, 2))], [np.zeros(3)]),
                               rng.normal(size=(4, 2)), np.array([0, 1, 2, 0]),
                               activations=["identity"])
    assert not report.passed
    assert {(row.quantity, row.pair) for row in report.failures} == {
        ("db(1)", "rule vs autodiff"), ("db(1)", "rule vs numeric")}
    failing_lines = [line for line in report.table().splitlines() if line.startswith("FAIL")]
    assert len(failing_lines) == 2 and "db(1)" in failing_lines[0]
    with pytest.raises(GradientMismatchError, match=r"2 of 9 comparisons") as caught:
        report.assert_passed()
    assert isinstance(caught.value, AssertionError)
    assert report.table() in str(caught.value)


@pytest.mark.parametrize(("tolerances", "error", "message"), [
    ({"rule vs autodiff": (-1.0, 1e-8)}, ValueError, "atol of 'rule vs autodiff' must be a finite"),
    ({"rule vs autodiff": (0.0, float("nan"))}, ValueError, "rtol of 'rule vs autodiff'"),
    ({"rule vs autograd": (0.0, 0.0)}, ValueError, "unknown tolerance pair 'rule vs autograd'"),
    ({"rule vs autodiff": 1e-8}, TypeError, r"must be a pair \(atol, rtol\)"),
])
def test_tolerances_are_checked(tolerances, error, message):
    with pytest.raises(error, match=message):
        compare_gradients(([np.ones((2, 2))], [np.zeros(2)]), np.ones((1, 2)), np.array([0]),
                          activations=["identity"], tolerances=tolerances)


def test_an_overflowing_cost_is_an_error_not_a_table_of_nan():
    with pytest.raises(ValueError, match=r"compare_gradients: the cost is inf at these weights"):
        compare_gradients(([np.full((2, 2), 1e200)], [np.zeros(2)]), np.ones((1, 2)),
                          np.ones((1, 2)), loss="mse", activations=["identity"])


def test_no_l2_penalty_even_where_the_weights_overflow_its_norm():
    """½·0·‖W‖² is 0, not 0·∞ = NaN: a huge but finite network keeps a finite cost."""
    huge = [np.full((1, 1), 1e200)]
    cost = reference.cost_value(huge, [np.zeros(1)], np.ones((1, 1)), np.ones((1, 1)),
                                ["sigmoid"], "bce")
    assert cost == 0.0  # label 1 and σ(1e200) = 1: −ln 1


def test_diagnostics_does_not_import_the_command_line_module():
    code = ("import sys, micrograd_nd.diagnostics; "
            "print('micrograd_nd.compare' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# Command line: 0 agree, 1 disagree, 2 bad arguments (one line on stderr, no traceback).
# ---------------------------------------------------------------------------------------------
def test_cli_passes_and_prints_a_table(capsys):
    assert compare.main(["--layers", "4,8,3", "--activation", "sigmoid", "--loss",
                         "cross_entropy", "--batch", "16", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "rule vs autodiff" in out and "PASS" in out
    assert sum(line.startswith("ok    dW(1) ") for line in out.splitlines()) == 1
    assert sum(line.startswith("ok ") for line in out.splitlines()) == 18  # 2 layers·3·3


def test_cli_fails_when_a_derivation_is_wrong(monkeypatch, capsys):
    wrong = dataclasses.replace(  # forgot Σ over the batch in (8)
        reference.STANDARD_RULE,
        rows=dataclasses.replace(reference.ROWS, bias_gradient=lambda delta: delta[0]))
    original = oracles.delta_rule
    monkeypatch.setattr(oracles, "delta_rule", lambda problem: original(problem, rule=wrong))
    assert compare.main(["--layers", "3,5,2", "--loss", "square", "--batch", "4"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: 4 rows exceed tolerance; worst: db(" in out  # db(1), db(2) × 2 pairs


@pytest.mark.parametrize(("arguments", "message"), [
    (["--l2", "-1"], "argument --l2: must be a finite number ≥ 0, got -1"),
    (["--weight-scale", "-1"], "argument --weight-scale: must be a finite number > 0, got -1"),
    (["--weight-scale", "inf"], "argument --weight-scale: must be a finite number > 0, got inf"),
    (["--weight-scale", "nan"], "argument --weight-scale: must be a finite number > 0, got nan"),
    (["--seed", "-1"], "argument --seed: must be an integer ≥ 0, got -1"),
    (["--batch", "0"], "argument --batch: must be an integer ≥ 1, got 0"),
    (["--layers", "4,x"], "argument --layers: must be comma-separated integers, got '4,x'"),
    (["--layers", "4"], "argument --layers: needs at least two positive sizes"),
    (["--loss", "hinge"], "argument --loss: invalid choice: 'hinge'"),
    (["--loss", "bce", "--output-activation", "tanh"],
     "compare: binary_cross_entropy needs a sigmoid output layer, got activations[-1] = 'tanh'"),
    (["--loss", "square", "--bce-guard", "1e-5"],
     "compare: bce_guard only applies to binary_cross_entropy, not 'square'"),
    (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    (["--weight-scale", "1e300"], "argument --weight-scale: 1e+300 is too large for central "
                                  "differences with step 1e-06"),
    (["--weight-scale", "1e200", "--loss", "mse", "--no-numeric"],
     "compare: the cost is inf at these weights and inputs (float64 overflows)"),
    (["--layers", "2,2,1", "--activation", "identity", "--loss", "mse", "--batch", "2",
      "--weight-scale", "1e6"], "compare_gradients: eps=1e-06 does not change input 0"),
])
def test_cli_bad_arguments_exit_2_with_one_line(arguments, message, capsys):
    assert compare.main(arguments) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("python -m micrograd_nd.compare: error: ")
    assert message in captured.err


def test_cli_as_a_process_exits_2_without_traceback():
    result = subprocess.run([sys.executable, "-m", "micrograd_nd.compare", "--l2", "-1"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


@pytest.mark.parametrize("seed", range(4))
def test_cli_a_right_derivation_passes_at_a_large_cost(seed, capsys):
    """Rounding of a central difference grows like u·|C|/h: at C ≈ 10⁹ it is about 0.2, and
    the numeric rows allow for it (the delta rule and autodiff still agree to 1e-8)."""
    assert compare.main(["--loss", "mse", "--activation", "identity", "--weight-scale", "100",
                         "--seed", str(seed), "--batch", "4"]) == 0
    assert "PASS" in capsys.readouterr().out
