"""custom_op: your NumPy forward and hand-derived rules become an op the checkers accept."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import micrograd_nd as mg
from micrograd_nd.testing import arrays, shapes


def softplus_forward(x):
    return np.logaddexp(0.0, x)


def softplus_vjp(xp, g, out, x):
    return g / (1.0 + np.exp(-x))  # sigmoid(x), written with NumPy


softplus = mg.custom_op(softplus_forward, softplus_vjp)


@given(arrays(shapes(0, 2, 1, 4), min_value=-5.0, max_value=5.0))
def test_a_right_rule_passes_gradcheck_and_gradgradcheck(x):
    mg.gradcheck(softplus, [x], atol=1e-7, rtol=1e-6)
    mg.gradgradcheck(softplus, [x], atol=1e-6, rtol=1e-5)  # the NumPy rule runs on tensors


def test_a_wrong_rule_is_caught_by_gradcheck():
    wrong = mg.custom_op(softplus_forward, lambda xp, g, out, x: g * np.exp(-x))
    with pytest.raises(mg.GradcheckError, match="input 0"):
        mg.gradcheck(wrong, [np.linspace(-2.0, 2.0, 5)])


def test_two_inputs_broadcasting_and_a_non_differentiable_input():
    scaled = mg.custom_op(lambda x, s: x * s,
                          lambda xp, g, out, x, s: g * s,
                          lambda xp, g, out, x, s: g * x)  # at the broadcast shape: summed
    x, s = np.arange(6.0).reshape(2, 3), np.array([0.5, 1.5, 2.5])
    mg.gradcheck(scaled, [x, s])
    indexed = mg.custom_op(lambda x, i: x[i.astype(int)], lambda xp, g, out, x, i: None, None)
    assert indexed(np.arange(3.0), np.array([2])).item() == 2.0


def test_defining_the_same_op_twice_is_fine_and_never_touches_the_table():
    before = set(mg.primitives.PRIMITIVES)
    first = mg.custom_op(softplus_forward, softplus_vjp, name="add")
    second = mg.custom_op(softplus_forward, softplus_vjp, name="add")
    assert set(mg.primitives.PRIMITIVES) == before
    assert first(mg.Tensor([0.0])).item() == second(mg.Tensor([0.0])).item() == np.log(2.0)
    assert mg.add(1.0, 2.0).item() == 3.0


@pytest.mark.parametrize(
    ("make", "call", "error", "pattern"),
    [
        (lambda: mg.custom_op(np.exp), None, TypeError, "give one derivative rule per input"),
        (lambda: mg.custom_op(np.exp, "rule"), None, TypeError, "rule 0 must be callable"),
        (lambda: mg.custom_op(np.exp, softplus_vjp),
         lambda op: op(np.ones(2), np.ones(2)), TypeError, r"takes 1 tensor input\(s\)"),
        (lambda: mg.custom_op(np.exp, lambda xp, g, out, x: None, name="bad"),
         lambda op: op(mg.Tensor([1.0], requires_grad=True)).backward(np.ones(1)),
         TypeError, "bad: the rule for input 0 returned None"),
        (lambda: mg.custom_op(np.exp, lambda xp, g, out, x: np.ones(5), name="bad"),
         lambda op: op(mg.Tensor([1.0, 2.0], requires_grad=True)).sum().backward(),
         ValueError, r"bad: the rule for input 0 returned shape \(5,\); a rule returns "
                     r"∂L/∂input at the input's shape \(2,\) or at the output's shape \(2,\)"),
        (lambda: mg.custom_op(lambda x: x * 2, lambda xp, g, out, x: np.outer(g, x), name="big"),
         lambda op: op(mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)).sum().backward(),
         ValueError, r"big: the rule for input 0 returned shape \(3, 3\)"),
        (lambda: mg.custom_op(lambda x: np.array(["a"]), softplus_vjp, name="bad"),
         lambda op: op(np.ones(1)), TypeError, r"^bad: the forward returned a <U1 array"),
    ],
)
def test_misuse_gives_clear_errors(make, call, error, pattern):
    with pytest.raises(error, match=pattern):
        op = make()
        call(op)
