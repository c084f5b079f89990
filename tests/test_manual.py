"""compare_manual: a user's hand-derived gradient against autodiff and central differences.

The "manual" gradients here come from the hand-derived delta rule (micrograd_nd.reference,
NumPy only), from closed forms, or from deliberately broken variants of those.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings

import micrograd_nd as mg
from micrograd_nd import nn, reference
from micrograd_nd.agreement import GradientMismatchError
from micrograd_nd.manual import DEFAULT_TOLERANCES, compare_manual
from micrograd_nd.testing import NetworkProblem, network_problems

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# ---------------------------------------------------------------------------------------------
# A tanh network with a mean-squared-error loss, written with micrograd_nd ops; its gradient
# by the reference's delta rule (an independent, hand-derived oracle).
# ---------------------------------------------------------------------------------------------
def mse_loss(params: dict, X, y, activations: tuple[str, ...] = ("tanh", "identity")):
    a = X
    for layer, name in enumerate(activations, start=1):
        z = a @ params[f"W{layer}"].T + params[f"b{layer}"]
        a = {"tanh": mg.tanh, "identity": lambda t: t, "sigmoid": mg.sigmoid,
             "relu": mg.relu}[name](z)
    return ((a - y) ** 2).mean()


def delta_rule_gradient(params: dict, X, y, activations=("tanh", "identity"),
                        rule: reference.DeltaRule = reference.STANDARD_RULE) -> dict:
    n_layers = len(activations)
    result = reference.forward_backward(
        [params[f"W{layer}"] for layer in range(1, n_layers + 1)],
        [params[f"b{layer}"] for layer in range(1, n_layers + 1)],
        X, y, list(activations), "mse", "mean", rule=rule)
    grads = {}
    for layer in range(1, n_layers + 1):
        grads[f"W{layer}"] = result.dW[layer - 1]
        grads[f"b{layer}"] = result.db[layer - 1]
    return grads


def _pullback_without_g_prime(g_prime, delta_next, w_next):
    return delta_next @ w_next


FORGOT_G_PRIME = dataclasses.replace(
    reference.STANDARD_RULE,
    rows=dataclasses.replace(reference.ROWS, hidden_delta=_pullback_without_g_prime))


def small_problem(seed: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=4),
              "W2": rng.normal(size=(2, 4)), "b2": rng.normal(size=2)}
    return params, rng.normal(size=(5, 3)), rng.normal(size=(5, 2))


# ---------------------------------------------------------------------------------------------
# Right gradients pass, wrong ones fail in the right rows.
# ---------------------------------------------------------------------------------------------
def test_a_correct_derivation_passes_every_row():
    params, X, y = small_problem()
    report = compare_manual(mse_loss, delta_rule_gradient, params, args=(X, y))
    assert report.passed
    assert report.oracles == ("manual", "autodiff", "numeric")
    assert [(row.quantity, row.pair) for row in report.rows[:3]] == [
        ("W1", "manual vs autodiff"), ("W1", "manual vs numeric"), ("W1", "autodiff vs numeric")]
    assert len(report.rows) == 12
    report.assert_passed()
    # the loss is the mean over N·K squared errors, by hand
    out = np.tanh(X @ params["W1"].T + params["b1"]) @ params["W2"].T + params["b2"]
    assert report.loss == pytest.approx(np.mean((out - y) ** 2), rel=1e-14)


def test_a_wrong_derivation_fails_in_its_parameters_and_says_so():
    params, X, y = small_problem()
    report = compare_manual(mse_loss,
                            lambda p, X, y: delta_rule_gradient(p, X, y, rule=FORGOT_G_PRIME),
                            params, args=(X, y))
    assert not report.passed
    assert {(row.quantity, row.pair) for row in report.failures} == {
        (name, pair) for name in ("W1", "b1")
        for pair in ("manual vs autodiff", "manual vs numeric")}
    worst = report.failures[0]
    assert worst.values["autodiff"] == pytest.approx(worst.values["numeric"], rel=1e-5)
    assert abs(worst.values["manual"] - worst.values["autodiff"]) == pytest.approx(worst.max_abs)
    with pytest.raises(GradientMismatchError) as caught:
        report.assert_passed()
    assert isinstance(caught.value, AssertionError)
    message = str(caught.value)
    assert message.startswith("4 of 12 comparisons exceed their tolerance (first: W1, manual "
                              "vs autodiff)")
    failing = [line for line in message.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 4 and "W1" in failing[0] and "b1" in failing[2]
    assert str(report) == report.table() and report.table() in message


def test_a_small_error_is_caught_by_the_exact_pair_only():
    """A gradient 1e-6 relative off: within central differences' noise budget (rtol 1e-5), but
    not within rounding of autodiff (rtol 1e-7)."""
    params, X, y = small_problem()
    report = compare_manual(
        mse_loss,
        lambda p, X, y: {k: v * (1 + 1e-6) for k, v in delta_rule_gradient(p, X, y).items()},
        params, args=(X, y))
    assert {row.pair for row in report.failures} == {"manual vs autodiff"}


# ---------------------------------------------------------------------------------------------
# Structures: dict, list, tuple, nn.Module.
# ---------------------------------------------------------------------------------------------
def test_list_and_tuple_parameters():
    params, X, y = small_problem()
    names = ["W1", "b1", "W2", "b2"]

    def loss(seq, X, y):
        return mse_loss(dict(zip(names, seq, strict=True)), X, y)

    def gradient(seq, X, y):
        grads = delta_rule_gradient(dict(zip(names, seq, strict=True)), X, y)
        return type(seq)(grads[name] for name in names)

    for kind in (list, tuple):
        seen: list[type] = []

        def recording(seq, X, y, seen=seen):
            seen.append(type(seq))
            return gradient(seq, X, y)

        report = compare_manual(loss, recording, kind(params[n] for n in names), args=(X, y))
        assert report.passed and seen == [kind]
        assert report.names == ("params[0]", "params[1]", "params[2]", "params[3]")


def test_a_module_is_compared_by_its_parameter_names_and_left_alone():
    model = nn.MLP([3, 4, 2], activation="tanh", rng=0, dtype=np.float32)
    model.zero_grad()
    before = {name: (p.data.copy(), p.version, p.dtype) for name, p in model.named_parameters()}
    _, X, y = small_problem()

    def loss(module, X, y):
        return ((module(X) - y) ** 2).mean()

    def gradient(module, X, y):
        weights = [module[0].weight.data, module[2].weight.data]
        biases = [module[0].bias.data, module[2].bias.data]
        result = reference.forward_backward(weights, biases, X, y, ["tanh", "identity"], "mse",
                                            "mean")
        assert module is not model and weights[0].dtype == np.float64
        return {"layers.0.weight": result.dW[0], "layers.0.bias": result.db[0],
                "layers.2.weight": result.dW[1], "layers.2.bias": result.db[1]}

    report = compare_manual(loss, gradient, model, args=(X, y))
    report.assert_passed()
    assert report.names == ("layers.0.weight", "layers.0.bias", "layers.2.weight",
                            "layers.2.bias")
    for name, p in model.named_parameters():
        data, version, dtype = before[name]
        np.testing.assert_array_equal(p.data, data)
        assert (p.version, p.dtype, p.grad) == (version, dtype, None)


def test_an_unused_parameter_has_gradient_zero():
    params, X, y = small_problem()
    params["unused"] = np.ones(3)

    def gradient(p, X, y):
        return {**delta_rule_gradient(p, X, y), "unused": np.zeros(3)}

    report = compare_manual(mse_loss, gradient, params, args=(X, y))
    report.assert_passed()
    np.testing.assert_array_equal(report.gradients["autodiff"]["unused"], np.zeros(3))


# ---------------------------------------------------------------------------------------------
# Any layout, float32 compared in float64.
# ---------------------------------------------------------------------------------------------
def _layouts(array: np.ndarray) -> dict[str, np.ndarray]:
    wide = np.zeros((array.shape[0], 3 * array.shape[1]))
    wide[:, ::3] = array
    return {
        "transposed": np.ascontiguousarray(array.T).T,
        "fortran": np.asfortranarray(array),
        "step slice": wide[:, ::3],
        "negative strides": np.ascontiguousarray(array[::-1, ::-1])[::-1, ::-1],
    }


@pytest.mark.parametrize("layout", ["transposed", "fortran", "step slice", "negative strides"])
def test_parameters_in_any_layout(layout):
    params, X, y = small_problem()
    viewed = {name: _layouts(v)[layout] if v.ndim == 2 else v for name, v in params.items()}
    contiguous = compare_manual(mse_loss, delta_rule_gradient, params, args=(X, y))
    report = compare_manual(mse_loss, delta_rule_gradient, viewed, args=(X, y))
    report.assert_passed()
    for oracle in ("manual", "autodiff", "numeric"):
        for name in params:
            np.testing.assert_array_equal(report.gradients[oracle][name],
                                          contiguous.gradients[oracle][name])


def test_zero_d_and_broadcast_view_parameters():
    """loss = Σ (s·v)² with a 0-d s and a read-only broadcast view v: closed-form gradient."""
    s, v = np.array(1.5), np.broadcast_to(np.array([1.0, -2.0]), (3, 2))

    def loss(p, *_):
        return ((p["s"] * p["v"]) ** 2).sum()

    def gradient(p, *_):
        return {"s": np.sum(2 * p["s"] * p["v"] ** 2), "v": 2 * p["s"] ** 2 * p["v"]}

    compare_manual(loss, gradient, {"s": s, "v": v}).assert_passed()


def test_float32_inputs_are_compared_in_float64():
    params, X, y = small_problem()
    single = {name: value.astype(np.float32) for name, value in params.items()}
    dtypes = set()

    def gradient(p, X, y):
        dtypes.update({value.dtype for value in p.values()} | {X.dtype, y.dtype})
        return delta_rule_gradient(p, X, y)

    report = compare_manual(mse_loss, gradient, single,
                            args=(X.astype(np.float32), y.astype(np.float32)))
    report.assert_passed()  # at the default manual-vs-autodiff rtol of 1e-7
    assert dtypes == {np.dtype(np.float64)}


def test_numeric_false_compares_manual_and_autodiff_only():
    params, X, y = small_problem()
    report = compare_manual(mse_loss, delta_rule_gradient, params, args=(X, y), numeric=False)
    assert report.oracles == ("manual", "autodiff")
    assert {row.pair for row in report.rows} == {"manual vs autodiff"}


def test_tolerances_can_be_loosened_and_the_numeric_atol_grows_with_the_loss():
    params, X, y = small_problem()
    off = {k: v * (1 + 1e-6) for k, v in delta_rule_gradient(params, X, y).items()}
    assert compare_manual(mse_loss, lambda *_: off, params, args=(X, y),
                          tolerances={"manual vs autodiff": (0.0, 1e-5)}).passed
    scaled = compare_manual(lambda p, X, y: 1e4 * mse_loss(p, X, y),
                            lambda p, X, y: {k: 1e4 * v for k, v in
                                             delta_rule_gradient(p, X, y).items()},
                            params, args=(X, y))
    atol, _ = DEFAULT_TOLERANCES["manual vs numeric"]
    numeric_rows = [row for row in scaled.rows if "numeric" in row.pair]
    assert all(row.tolerance.atol == pytest.approx(atol * scaled.loss) for row in numeric_rows)
    exact_rows = [row for row in scaled.rows if row.pair == "manual vs autodiff"]
    assert all(row.tolerance == DEFAULT_TOLERANCES["manual vs autodiff"] for row in exact_rows)


# ---------------------------------------------------------------------------------------------
# Errors name the parameter.
# ---------------------------------------------------------------------------------------------
def _grads_then(change):
    def gradient(p, X, y):
        return change(delta_rule_gradient(p, X, y))
    return gradient


def _set(grads, name, value):
    grads[name] = value
    return grads


ERRORS = [
    ({"manual_grad": _grads_then(lambda g: _set(g, "W1", g["W1"].T))}, ValueError,
     r"compare_manual: the manual gradient for 'W1' has shape \(3, 4\) but the parameter has "
     r"shape \(4, 3\) \(transposed\?\)"),
    ({"manual_grad": _grads_then(lambda g: _set(g, "b2", np.zeros(3)))}, ValueError,
     r"manual gradient for 'b2' has shape \(3,\) but the parameter has shape \(2,\)$"),
    ({"manual_grad": _grads_then(lambda g: {k: v for k, v in g.items() if k != "b1"})},
     ValueError, r"manual_grad returned no gradient for 'b1' \(missing: \['b1'\]\)"),
    ({"manual_grad": _grads_then(lambda g: _set(g, "W3", np.zeros(2)))}, ValueError,
     r"manual_grad returned a gradient for 'W3', which is not a parameter \(parameters: "
     r"\['W1', 'b1', 'W2', 'b2'\]\)"),
    ({"manual_grad": _grads_then(lambda g: _set(g, "W2", np.full((2, 4), np.nan)))}, ValueError,
     r"the manual gradient for 'W2' has a non-finite value \(nan at index \(0, 0\)\)"),
    ({"manual_grad": _grads_then(lambda g: _set(g, "b1", None))}, TypeError,
     r"the manual gradient for 'b1' is None"),
    ({"manual_grad": _grads_then(lambda g: _set(g, "b1", np.array(["a"] * 4)))}, TypeError,
     r"the manual gradient for 'b1' must hold real numbers"),
    ({"manual_grad": _grads_then(lambda g: list(g.values()))}, TypeError,
     r"manual_grad must return a dict name → gradient \(like params\), got list"),
    ({"params": {"W": np.array([1.0, np.inf])}}, ValueError,
     r"compare_manual: parameter 'W' has a non-finite value \(inf at index \(1,\)\)"),
    ({"params": {}}, ValueError, r"compare_manual: params is empty"),
    ({"params": np.ones(3)}, TypeError, r"params must be a dict name → array, a list or tuple "
                                        r"of arrays, or an nn\.Module; got ndarray"),
    ({"loss_fn": lambda p, X, y: float(np.sum(X))}, TypeError,
     r"compare_manual: loss_fn returned float, not a Tensor"),
    ({"loss_fn": lambda p, X, y: p["W1"] * 2.0}, ValueError,
     r"loss_fn must return a scalar, got shape \(4, 3\)"),
    ({"loss_fn": lambda p, X, y: mg.Tensor(1.0) + (X.sum() * 0.0)}, ValueError,
     r"the loss does not depend on any parameter loss_fn was given"),
    ({"loss_fn": lambda p, X, y: mg.log(p["b1"] * 0.0).sum()}, ValueError,
     r"loss_fn is not finite at the parameters \(-inf\)"),
    ({"loss_fn": "mse"}, TypeError, r"compare_manual: loss_fn must be a function, got str"),
    ({"args": np.ones((5, 3))}, TypeError, r"args must be a tuple of extra arguments for "
                                           r"loss_fn and manual_grad, got ndarray"),
    ({"tolerances": {"manual vs autodiff": (1e-12, -1.0)}}, ValueError,
     r"compare_manual: rtol of 'manual vs autodiff' must be a finite number ≥ 0, got -1\.0"),
    ({"tolerances": {"mine vs autodiff": (0.0, 0.0)}}, ValueError,
     r"unknown tolerance pair 'mine vs autodiff'"),
    ({"eps": 0.0}, ValueError, r"compare_manual: eps must be a finite number > 0"),
    ({"numeric": "yes"}, TypeError, r"numeric must be True or False"),
]


@pytest.mark.parametrize(("change", "error", "message"), ERRORS)
def test_bad_calls_raise_clear_errors(change, error, message):
    params, X, y = small_problem()
    arguments = {"loss_fn": mse_loss, "manual_grad": delta_rule_gradient, "params": params,
                 "args": (X, y), **change}
    with np.errstate(divide="ignore"), pytest.raises(error, match=message):
        compare_manual(arguments.pop("loss_fn"), arguments.pop("manual_grad"),
                       arguments.pop("params"), **arguments)


def test_a_list_of_gradients_must_have_one_per_parameter():
    params, X, y = small_problem()
    values = list(params.values())
    with pytest.raises(ValueError, match=r"manual_grad returned 3 gradients for 4 parameters"):
        compare_manual(lambda p, X, y: mse_loss(dict(zip(params, p, strict=True)), X, y),
                       lambda p, X, y: [np.zeros_like(v) for v in p[:3]], values, args=(X, y))


# ---------------------------------------------------------------------------------------------
# Property tests of one's own derivation.
# ---------------------------------------------------------------------------------------------
def _check(p: NetworkProblem, rule: reference.DeltaRule = reference.STANDARD_RULE) -> None:
    def loss(params, X, y):
        return mse_loss(params, X, y, p.activations)

    def gradient(params, X, y):
        return delta_rule_gradient(params, X, y, p.activations, rule)

    compare_manual(loss, gradient, p.params, args=p.args).assert_passed()


@given(network_problems(activations=["tanh", "sigmoid"], output_activation="identity"))
def test_the_delta_rule_passes_as_a_manual_gradient(p):
    _check(p)


def test_a_failing_property_shrinks_to_the_smallest_network_and_batch():
    def fails(p: NetworkProblem) -> bool:
        try:
            _check(p, FORGOT_G_PRIME)
        except GradientMismatchError:
            return True
        return False

    smallest = find(network_problems(), fails,
                    settings=settings(database=None, derandomize=True, max_examples=500,
                                      suppress_health_check=list(HealthCheck)))
    assert smallest.layer_sizes == (1, 1, 1) and smallest.X.shape == (1, 1)
    assert smallest.activations == ("tanh", "identity")


# ---------------------------------------------------------------------------------------------
# The example: a per-sample, column-vector network with layers storing their gradients.
# ---------------------------------------------------------------------------------------------
def _example():
    spec = importlib.util.spec_from_file_location("check_my_backprop",
                                                  EXAMPLES / "check_my_backprop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HIDDEN = {"layer1.W", "layer1.b", "layer2.W", "layer2.b"}
EVERY = HIDDEN | {"layer3.W", "layer3.b"}


@pytest.mark.parametrize(("bug", "wrong"), [
    (None, set()),
    ("missing-g-prime", HIDDEN),
    ("transposed-w", HIDDEN),
    ("mean-not-sum", {"layer1.b", "layer2.b", "layer3.b"}),
    ("wrong-sign", EVERY),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_planted_bug_of_the_example_is_caught_and_located(bug, wrong, seed):
    report = _example().check(bug, seed)
    failing = {row.quantity for row in report.failures}
    assert failing == wrong
    for row in report.failures:
        assert row.pair in ("manual vs autodiff", "manual vs numeric")
    assert all(row.passed for row in report.rows if row.pair == "autodiff vs numeric")
    if bug == "wrong-sign":
        for row in report.failures:
            assert np.sign(row.values["manual"]) == -np.sign(row.values["autodiff"])


def test_the_example_prints_the_table_and_names_the_wrong_parameters(capsys):
    example = _example()
    assert example.main([]) == 0
    assert "PASS" in capsys.readouterr().out
    assert example.main(["--bug", "mean-not-sum"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: your gradient is wrong for layer1.b, layer2.b, layer3.b" in out
    assert "FAIL  layer1.b" in out and "ok    layer1.W" in out


# ---------------------------------------------------------------------------------------------
# A loss in plain NumPy runs on Tensors: NumPy functions dispatch to differentiable ops.
# ---------------------------------------------------------------------------------------------
def numpy_loss(params, X, y):
    hidden = np.tanh(np.dot(X, params["W1"].T) + params["b1"])
    out = np.dot(hidden, params["W2"].T) + params["b2"]
    return np.mean(np.square(out - y))


def numpy_exp_loss(params, X, y):
    return np.sum(np.exp(np.dot(X, params["W1"].T)))


def test_a_plain_numpy_loss_is_checked_unchanged():
    params, X, y = small_problem()
    compare_manual(numpy_loss, delta_rule_gradient, params, args=(X, y)).assert_passed()


def test_a_plain_numpy_loss_with_exp_and_sum():
    params, X, y = small_problem()

    def gradient(p, X, y):  # ∂/∂W Σ exp(X Wᵀ) = exp(X Wᵀ)ᵀ X
        return {"W1": np.exp(X @ p["W1"].T).T @ X, "b1": np.zeros(4), "W2": np.zeros((2, 4)),
                "b2": np.zeros(2)}

    compare_manual(numpy_exp_loss, gradient, params, args=(X, y)).assert_passed()


def test_the_numeric_rows_see_an_autodiff_error_above_their_loss_scaled_atol():
    """loss = 9189 + Σ w·stop(w): autodiff and the (same) manual derivation give w, central
    differences 2w. The numeric rows allow 1e-6·9189 ≈ 9e-3 (rounding of values of 10⁴);
    the error here is 0.2 or more."""
    def loss(params):
        w = params["w"]
        return 9189.0 + mg.sum(w * w.detach())

    def manual_grad(params):
        return {"w": params["w"].copy()}

    report = mg.compare_manual(loss, manual_grad, {"w": np.array([0.2, -0.4, 0.3])})
    verdicts = {row.pair: row.passed for row in report.rows}
    assert verdicts == {"manual vs autodiff": True, "manual vs numeric": False,
                        "autodiff vs numeric": False}


def test_a_manual_gradient_computed_in_float32_is_judged_at_float32_precision():
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(16, 8)), "W2": rng.normal(size=(4, 16))}
    X, y = rng.normal(size=(32, 8)), rng.normal(size=(32, 4))

    def loss(p, X, y):
        return ((mg.tanh(X @ p["W1"].T) @ p["W2"].T - y) ** 2).mean()

    def manual(p, X, y, dtype=np.float32, factor=1.0):
        W1, W2, X, y = (a.astype(dtype) for a in (p["W1"], p["W2"], X, y))
        h = np.tanh(X @ W1.T)
        d = 2 * (h @ W2.T - y) / y.size
        return {"W1": ((d @ W2) * (1 - h ** 2)).T @ X, "W2": factor * (d.T @ h)}

    assert mg.compare_manual(loss, manual, params, args=(X, y)).passed
    wrong = mg.compare_manual(loss, lambda *a: manual(*a, factor=np.float32(1.01)), params,
                              args=(X, y))
    assert [row.quantity for row in wrong.failures] == ["W2", "W2"]
    # float64 arithmetic keeps float64's tolerance: a 1e-5 relative error fails there
    slightly = mg.compare_manual(loss, lambda *a: manual(*a, dtype=np.float64, factor=1 + 1e-5),
                                 params, args=(X, y))
    assert [(row.quantity, row.pair) for row in slightly.failures] == [
        ("W2", "manual vs autodiff")]


@pytest.mark.parametrize("seed", range(8))
def test_a_right_gradient_at_the_optimum_of_a_fit_to_large_targets_passes(seed):
    """Loss ≈ 1 made of values ≈ 10⁴: central differences carry ≈ 1e-7 of rounding there."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, 10)
    y = 1e4 + 3.0 * x + rng.normal(0.0, 1.0, 10)
    b, a = np.linalg.lstsq(np.stack([np.ones(10), x], axis=1), y, rcond=None)[0]

    def loss(p, x, y):
        return ((p["b"] + p["a"] * x - y) ** 2).mean()

    def manual(p, x, y):
        r = p["b"] + p["a"] * x - y
        return {"b": 2 * r.mean(), "a": 2 * (r * x).mean()}

    assert mg.compare_manual(loss, manual, {"b": np.float64(b), "a": np.float64(a)},
                             args=(x, y)).passed
