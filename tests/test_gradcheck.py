"""The checker is checked: gradcheck/gradgradcheck pass correct derivatives and reject wrong ones
with a message that locates the mismatch."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import micrograd_nd as mg
from micrograd_nd import GradcheckError, Tensor, gradcheck, gradgradcheck
from micrograd_nd.finite_differences import numerical_gradient, numerical_jacobian
from micrograd_nd.primitives import PRIMITIVES, register
from micrograd_nd.tensor import apply

_names = itertools.count()


@pytest.fixture
def temporary_primitive():
    """Register test-only primitives under unique names; remove them from the table afterwards,
    so registry-driven tests elsewhere never see them."""
    added: list[str] = []

    def make(forward, vjps):
        name = f"_test_gradcheck_{next(_names)}"
        primitive = register(name, forward, vjps)
        added.append(name)
        return primitive

    yield make
    for name in added:
        PRIMITIVES.pop(name, None)


def test_fixture_leaves_the_registry_as_it_was(temporary_primitive):
    before = set(PRIMITIVES)
    temporary_primitive(np.negative, (lambda xp, g, out, x: -g,))
    assert len(PRIMITIVES) == len(before) + 1


def test_registry_has_no_test_primitives_left():
    assert not [name for name in PRIMITIVES if name.startswith("_test_gradcheck_")]


# ---------------------------------------------------------------------------------------------
# Correct functions pass.
# ---------------------------------------------------------------------------------------------
@given(
    hnp.arrays(np.float64, (2, 3), elements=st.floats(0.5, 2.0)),
    hnp.arrays(np.float64, (3,), elements=st.floats(-2.0, 2.0)),
)
def test_gradcheck_passes_correct_functions(x, y):
    assert gradcheck(lambda a, b: a * b + mg.exp(b), [x, y])
    assert gradcheck(lambda a, b: mg.log(a) @ b, [x, y])
    assert gradcheck(lambda a, b: (a / (b * b + 1.0)).sum(axis=0), [x, y])
    assert gradcheck(lambda a: mg.tanh(a).T, [x])
    assert gradgradcheck(lambda a, b: a * a * b, [x, y])
    assert gradgradcheck(lambda a: mg.sqrt(a).sum(), [x])


def test_gradcheck_accepts_constant_functions_and_tensors():
    assert gradcheck(lambda a: Tensor(np.ones(2)), [np.ones(3)])
    assert gradcheck(lambda a: a * 2.0, [Tensor([1.0, 2.0])])
    assert gradgradcheck(lambda a: a * 2.0, [np.ones(2)])  # second derivative zero


def test_gradcheck_does_not_mutate_inputs():
    x = np.array([1.0, 2.0, 3.0])
    t = Tensor(x.copy())
    gradcheck(lambda a, b: a * b, [x, t])
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(t.data, [1.0, 2.0, 3.0])


def test_gradcheck_needs_inputs_and_a_tensor_output():
    with pytest.raises(ValueError, match="gradcheck: needs at least one input"):
        gradcheck(lambda: Tensor(1.0), [])
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda a: a.data, [np.ones(2)])


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(GradcheckError, AssertionError)


# ---------------------------------------------------------------------------------------------
# Wrong first derivatives are caught.
# ---------------------------------------------------------------------------------------------
def _numbers(message: str) -> dict[str, float]:
    found = re.search(r"analytic (\S+), numeric (\S+),", message)
    assert found, message
    return {"analytic": float(found.group(1)), "numeric": float(found.group(2))}


def test_gradcheck_rejects_a_wrong_rule_and_locates_it(temporary_primitive):
    # x·y with ∂/∂y given as 1.5·x instead of x: right for input 0, wrong for input 1.
    bad_multiply = temporary_primitive(
        np.multiply,
        (lambda xp, g, out, x, y: g * y,
         lambda xp, g, out, x, y: g * x * 1.5),
    )
    x, y = np.array([1.0, 4.0]), np.array([2.0, 3.0])
    fn = lambda a, b: apply(bad_multiply, a, b)  # noqa: E731
    with pytest.raises(GradcheckError) as caught:
        gradcheck(fn, [x, y])
    message = str(caught.value)
    # the worst element: |1.5·4 − 4| / (1e-5 + 1e-3·4) beats |1.5·1 − 1| / (1e-5 + 1e-3·1)
    assert "input 1" in message
    assert "Jacobian element (1, 1)" in message
    numbers = _numbers(message)
    assert numbers["analytic"] == 6.0
    assert numbers["numeric"] == pytest.approx(4.0, rel=1e-8)
    assert gradcheck(fn, [x, y], raise_exception=False) is False
    # the correct input alone passes
    assert gradcheck(lambda a: apply(bad_multiply, a, Tensor(y)), [x])


def test_gradcheck_catches_a_wrong_off_diagonal_element(temporary_primitive):
    # cumulative sum whose rule forgets the contribution of later outputs: J[2, 0] is missed
    def wrong_rule(xp, g, out, x):
        grad = np.cumsum(g[::-1])[::-1].copy()
        grad[0] -= g[2]
        return grad

    cumsum = temporary_primitive(np.cumsum, (wrong_rule,))
    with pytest.raises(GradcheckError, match=r"input 0, Jacobian element \(2, 0\)") as caught:
        gradcheck(lambda a: apply(cumsum, a), [np.array([1.0, 2.0, 3.0])])
    numbers = _numbers(str(caught.value))
    assert numbers["analytic"] == 0.0
    assert numbers["numeric"] == pytest.approx(1.0, rel=1e-8)


def test_gradcheck_tolerances_are_used(temporary_primitive):
    # analytic 2x·(1 + 1e-4): within rtol 1e-3, outside rtol 1e-5
    slightly_off = temporary_primitive(np.square, (lambda xp, g, out, x: g * 2.0 * x * 1.0001,))
    fn = lambda a: apply(slightly_off, a)  # noqa: E731
    x = np.array([3.0])
    assert gradcheck(fn, [x])
    with pytest.raises(GradcheckError, match=r"rtol 1e-05"):
        gradcheck(fn, [x], rtol=1e-5, atol=0.0)


def test_gradcheck_rejects_nan_gradients(temporary_primitive):
    nan_rule = temporary_primitive(np.square, (lambda xp, g, out, x: g * np.nan,))
    with pytest.raises(GradcheckError, match=r"analytic nan"):
        gradcheck(lambda a: apply(nan_rule, a), [np.array([1.0, 2.0])])
    assert gradcheck(lambda a: apply(nan_rule, a), [np.ones(1)], raise_exception=False) is False


# ---------------------------------------------------------------------------------------------
# Wrong second derivatives are caught.
# ---------------------------------------------------------------------------------------------
def _frozen(value):
    """The bare values of a rule's input: a constant under create_graph (the planted bug)."""
    return value.detach().data if isinstance(value, Tensor) else value


def test_gradgradcheck_rejects_a_rule_whose_own_derivative_is_missing(temporary_primitive):
    # (x³)′ = 3x², but written with x's bare values: the value is right, yet under
    # create_graph the factor 3x² is a constant, so d/dx of the gradient misses 6x·g.
    frozen_cube = temporary_primitive(
        lambda x: x**3, (lambda xp, g, out, x: g * (3.0 * _frozen(x) ** 2),)
    )
    cube = temporary_primitive(lambda x: x**3, (lambda xp, g, out, x: g * 3.0 * x * x,))
    x = np.array([0.5, -1.0, 2.0])
    frozen = lambda a: apply(frozen_cube, a)  # noqa: E731
    assert gradcheck(frozen, [x])  # first derivatives are right
    assert gradgradcheck(lambda a: apply(cube, a), [x])  # the xp-written rule is fine
    vector = np.array([1.0, 1.0, 1.0])
    with pytest.raises(GradcheckError) as caught:
        gradgradcheck(frozen, [x], grad_outputs=vector)
    message = str(caught.value)
    # Hessian is diag(6x·v) = diag(3, −6, 12); the analytic one is 0; worst is element (2, 2)
    assert "input 0" in message
    assert "Jacobian element (2, 2)" in message
    numbers = _numbers(message)
    assert numbers["analytic"] == 0.0
    assert numbers["numeric"] == pytest.approx(12.0, rel=1e-6)
    assert gradgradcheck(frozen, [x], raise_exception=False) is False


def test_gradgradcheck_rejects_wrong_second_derivative_of_a_binary_rule(temporary_primitive):
    # x·y where ∂/∂x = g·y is right in value but y is frozen: ∂²/∂x∂y (= g) is lost.
    frozen_multiply = temporary_primitive(
        np.multiply,
        (lambda xp, g, out, x, y: g * _frozen(y),
         lambda xp, g, out, x, y: g * x),
    )
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    fn = lambda a, b: apply(frozen_multiply, a, b)  # noqa: E731
    assert gradcheck(fn, [x, y])
    with pytest.raises(GradcheckError, match=r"input 1"):
        gradgradcheck(fn, [x, y], grad_outputs=np.ones(2))


# ---------------------------------------------------------------------------------------------
# Any memory layout: transposed, strided, reversed, 0-d and broadcast views check the same.
# ---------------------------------------------------------------------------------------------
_BASE = np.arange(1.0, 13.0).reshape(3, 4) / 7.0
LAYOUTS = {
    "transposed": _BASE.T,
    "fortran": np.asfortranarray(_BASE),
    "step slice": _BASE[::2, ::3],
    "negative strides": _BASE[::-1, ::-2],
    "0-d": np.array(0.75),
    "0-d view": _BASE[1, 2, ...],
    "broadcast view": np.broadcast_to(_BASE[0], (2, 4)),
    "float32 transposed": _BASE.astype(np.float32).T,
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_numerical_gradient_does_not_depend_on_layout(layout):
    """Σ w² has gradient 2w (closed form); the old reshape(-1) perturbed a copy for A.T."""
    view = LAYOUTS[layout]
    (numeric,) = numerical_gradient(lambda w: np.sum(w * w), [view])
    assert numeric.shape == view.shape
    np.testing.assert_allclose(numeric, 2.0 * np.asarray(view, dtype=np.float64), rtol=1e-9,
                               atol=1e-9)
    (jacobian,) = numerical_jacobian(lambda w: w * w, [view])
    expected = np.diag(2.0 * np.ravel(np.asarray(view, dtype=np.float64)))
    np.testing.assert_allclose(jacobian.reshape(expected.shape), expected, atol=1e-8)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_gradcheck_passes_a_correct_gradient_in_any_layout(layout):
    view = LAYOUTS[layout]
    assert gradcheck(lambda w: (w * w).sum(), [view])
    assert gradcheck(lambda w: mg.tanh(w) * 3.0, [Tensor(view)])
    assert gradgradcheck(lambda w: (w * w * w).sum(), [view])


@pytest.mark.parametrize("layout", ["transposed", "negative strides", "broadcast view"])
def test_gradcheck_still_catches_a_wrong_rule_in_any_layout(layout, temporary_primitive):
    wrong_square = temporary_primitive(np.square, (lambda xp, g, out, x: g * 2.0 * x * 1.01,))
    with pytest.raises(GradcheckError):
        gradcheck(lambda w: apply(wrong_square, w).sum(), [LAYOUTS[layout]], rtol=1e-3)


# ---------------------------------------------------------------------------------------------
# Arguments that would make the check meaningless are refused (issue: a rule 100x wrong passed).
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def hundredfold_square(temporary_primitive):
    rule = temporary_primitive(np.square, (lambda xp, g, out, x: g * 200.0 * x,))
    return lambda w: apply(rule, w).sum()


@pytest.mark.parametrize(("inputs", "kwargs", "error", "message"), [
    ([np.ones(3)], {"atol": -1.0, "rtol": -1.0}, ValueError,
     r"gradcheck: atol must be a finite number ≥ 0, got -1\.0"),
    ([np.ones(3)], {"rtol": float("nan")}, ValueError, r"gradcheck: rtol must be a finite"),
    ([np.ones(3)], {"atol": float("inf")}, ValueError, r"gradcheck: atol must be a finite"),
    ([np.ones(3)], {"rtol": "1e-3"}, TypeError, r"gradcheck: rtol must be a real number"),
    ([np.ones(3)], {"eps": 0.0}, ValueError, r"gradcheck: eps must be a finite number > 0"),
    ([np.ones(3)], {"eps": -1e-6}, ValueError, r"gradcheck: eps must be a finite number > 0"),
    ([np.ones(3)], {"eps": float("nan")}, ValueError, r"gradcheck: eps must be a finite"),
    ([np.full(3, 1e12)], {"eps": 1e-6}, ValueError,
     r"gradcheck: eps=1e-06 does not change input 0 at index \(0,\) \(value 1000000000000\.0\)"),
    ([np.full(3, np.nan)], {}, ValueError,
     r"gradcheck: input 0 has a non-finite value \(nan at index \(0,\)\)"),
    ([np.array([1.0, np.inf])], {}, ValueError, r"input 0 has a non-finite value \(inf"),
    ([np.ones(2, dtype=complex)], {}, TypeError, r"input 0 must hold real numbers"),
    ([np.array([True, False])], {}, TypeError, r"input 0 must hold real numbers .* got dtype bool"),
    (np.ones(3), {}, TypeError, r"inputs must be a list or tuple of arrays"),
])
def test_gradcheck_refuses_meaningless_arguments(hundredfold_square, inputs, kwargs, error,
                                                 message):
    with pytest.raises(error, match=message):
        gradcheck(hundredfold_square, inputs, **kwargs)


def test_a_hundredfold_wrong_rule_never_passes(hundredfold_square):
    with pytest.raises(GradcheckError):
        gradcheck(hundredfold_square, [np.array([0.5, -1.5])], atol=0.0, rtol=0.0)
    assert gradcheck(hundredfold_square, [np.ones(2)], raise_exception=False) is False


def test_gradcheck_refuses_a_function_that_is_not_finite_near_the_point():
    with np.errstate(all="ignore"), pytest.raises(
        ValueError, match=r"gradcheck: fn is not finite at input 0 index \(0,\) ± eps \(nan"
    ):
        gradcheck(lambda w: mg.sqrt(w), [np.array([0.0, 1.0])])


def test_gradgradcheck_checks_its_vector():
    with pytest.raises(ValueError, match=r"grad_outputs has shape \(2,\) but fn's output has "
                                         r"shape \(3,\)"):
        gradgradcheck(lambda w: w * w, [np.ones(3)], grad_outputs=np.ones(2))
    with pytest.raises(ValueError, match=r"grad_outputs has a non-finite value"):
        gradgradcheck(lambda w: w * w, [np.ones(3)], grad_outputs=np.full(3, np.nan))


def test_the_difference_is_divided_by_the_step_actually_taken():
    """At 1e8, x ± 1e-6 rounds: dividing by the nominal 2e-6 gave a slope of 0.998."""
    assert gradcheck(lambda t: t * 1.0, [np.array([1e8, -3e8])])
    numeric = mg.finite_differences.numerical_gradient(lambda x: float(np.sum(x)),
                                                       [np.array([1e8])])[0]
    assert numeric[0] == 1.0


def test_a_function_that_changes_its_argument_cannot_change_the_next_evaluation():
    def halves_in_place(x):
        x /= 2.0
        return float(np.sum(x))

    (gradient,) = mg.finite_differences.numerical_gradient(halves_in_place, [np.ones(2)])
    np.testing.assert_allclose(gradient, [0.5, 0.5], rtol=1e-9)


@pytest.mark.parametrize(("rule", "seen_by"), [
    (lambda xp, g, out, x: 1.0 / (1.0 + np.exp(-x)), "Jacobian element"),  # forgets g
    (lambda xp, g, out, x: abs(g) / (1.0 + np.exp(-x)), "element of vᵀJ"),  # right for 0, 1
])
def test_a_rule_that_does_not_scale_with_the_upstream_gradient_fails(rule, seen_by):
    softplus = mg.custom_op(lambda x: np.logaddexp(0.0, x), rule, name="softplus_rule_probe")
    x = [np.linspace(-2.0, 2.0, 5)]
    with pytest.raises(GradcheckError, match=seen_by):
        gradcheck(softplus, x)
    # the sum's upstream gradient is always 1; the extra seeded pass still sees it
    assert not gradcheck(lambda t: softplus(t).sum(), x, raise_exception=False)


def test_inputs_that_are_tensors_requiring_grad_are_checked_at_their_values():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    assert gradcheck(lambda t: mg.tanh(t) * 2.0, [x])
    assert x.grad is None  # the checker worked on copies


def test_a_float32_function_that_fails_is_told_why():
    with pytest.raises(GradcheckError, match=r"fn returns float32: its central differences"):
        gradcheck(lambda t: mg.tanh(t.astype(np.float32) * 3.0), [np.array([0.3, -0.2])])
