"""Activations and losses: values against closed-form NumPy, gradients against central
differences (``gradcheck``/``gradgradcheck``), extreme inputs, reductions and validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import micrograd_nd as mg
from micrograd_nd import Tensor, gradcheck, gradgradcheck
from micrograd_nd import functional as F

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
moderate = st.floats(-30.0, 30.0, allow_nan=False)
small = st.floats(-3.0, 3.0, allow_nan=False)


@st.composite
def array_and_axis(draw, elements=moderate):
    array = draw(hnp.arrays(np.float64, shapes, elements=elements))
    axis = draw(st.integers(-array.ndim, array.ndim - 1))
    return array, axis


def np_sigmoid(x):
    with np.errstate(over="ignore", invalid="ignore"):  # both branches are evaluated
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-x)), np.exp(x) / (1.0 + np.exp(x)))


def np_log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def probability_rows(n, c):
    """(n, c) rows of positive numbers summing to 1."""
    return hnp.arrays(np.float64, (n, c), elements=st.floats(0.05, 1.0)).map(
        lambda a: a / a.sum(axis=-1, keepdims=True)
    )


# ---------------------------------------------------------------------------------------------
# Activations: values.
# ---------------------------------------------------------------------------------------------
@given(hnp.arrays(np.float64, shapes, elements=moderate))
def test_elementwise_activations_match_closed_form(x):
    np.testing.assert_allclose(F.sigmoid(x).data, 1.0 / (1.0 + np.exp(-x)), rtol=1e-13)
    np.testing.assert_array_equal(F.relu(x).data, np.maximum(x, 0.0))
    np.testing.assert_allclose(F.tanh(Tensor(x)).data, np.tanh(x), rtol=1e-14)
    assert F.identity(x).shape == x.shape


@given(array_and_axis(), st.booleans())
def test_logsumexp_matches_closed_form(case, keepdims):
    x, axis = case
    expected = np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    result = F.logsumexp(x, axis=axis, keepdims=keepdims)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result.data, expected, rtol=1e-12, atol=1e-12)


@given(hnp.arrays(np.float64, shapes, elements=moderate))
def test_logsumexp_over_all_axes(x):
    np.testing.assert_allclose(
        F.logsumexp(x, axis=None).data, np.log(np.sum(np.exp(x))), rtol=1e-12, atol=1e-12
    )


@given(array_and_axis())
def test_softmax_and_log_softmax_match_closed_form(case):
    x, axis = case
    exps = np.exp(x)
    expected = exps / np.sum(exps, axis=axis, keepdims=True)
    np.testing.assert_allclose(F.softmax(x, axis=axis).data, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(
        F.log_softmax(x, axis=axis).data,
        x - np.log(np.sum(exps, axis=axis, keepdims=True)),
        rtol=1e-12, atol=1e-12,
    )


# ---------------------------------------------------------------------------------------------
# Activations: gradients.
# ---------------------------------------------------------------------------------------------
@given(hnp.arrays(np.float64, (2, 3), elements=small))
def test_sigmoid_tanh_gradients(x):
    assert gradcheck(F.sigmoid, [x])
    assert gradcheck(F.tanh, [x])
    # closed form: σ′ = σ(1 − σ)
    t = Tensor(x, requires_grad=True)
    F.sigmoid(t).sum().backward()
    s = 1.0 / (1.0 + np.exp(-x))
    np.testing.assert_allclose(t.grad.data, s * (1 - s), rtol=1e-12)


@given(hnp.arrays(np.float64, (2, 3), elements=small.filter(lambda v: abs(v) > 1e-3)))
def test_relu_gradient(x):
    assert gradcheck(F.relu, [x])


def test_relu_gradient_at_zero_is_zero():
    t = Tensor(np.zeros(2), requires_grad=True)
    F.relu(t).sum().backward()
    np.testing.assert_array_equal(t.grad.data, [0.0, 0.0])


@given(array_and_axis(elements=small))
def test_logsumexp_softmax_log_softmax_gradients(case):
    x, axis = case
    assert gradcheck(lambda t: F.logsumexp(t, axis=axis), [x])
    assert gradcheck(lambda t: F.softmax(t, axis=axis), [x])
    assert gradcheck(lambda t: F.log_softmax(t, axis=axis), [x])


@given(hnp.arrays(np.float64, (2, 3), elements=small))
def test_second_derivatives_of_composites(x):
    assert gradgradcheck(F.sigmoid, [x])
    assert gradgradcheck(lambda t: F.softmax(t, axis=-1), [x])
    assert gradgradcheck(lambda t: F.logsumexp(t, axis=0), [x])
    target = np_sigmoid(x[::-1])
    assert gradgradcheck(lambda t: F.binary_cross_entropy_with_logits(t, target), [x])
    assert gradgradcheck(lambda t: F.cross_entropy(t, np.array([2, 0])), [x])


# ---------------------------------------------------------------------------------------------
# Extreme inputs.
# ---------------------------------------------------------------------------------------------
def _value_and_grad(fn, x):
    t = Tensor(x, requires_grad=True)
    out = fn(t)
    out.sum().backward()
    return out.data, t.grad.data


@pytest.mark.parametrize("magnitude", [50.0, 700.0, 1e3, 1e5])
def test_sigmoid_is_finite_and_accurate_in_the_tails(magnitude):
    x = np.array([-magnitude, magnitude, 0.0])
    value, gradient = _value_and_grad(F.sigmoid, x)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(gradient))
    # σ(−m) = e^{−m}/(1+e^{−m}); σ(m) = 1/(1+e^{−m}); σ′(±m) = e^{−m}/(1+e^{−m})²
    tail = np.exp(-magnitude)
    # Below the smallest normal float64 (2.2e-308) values are noise: compare absolutely there.
    subnormal = np.finfo(np.float64).tiny
    np.testing.assert_allclose(value, [tail / (1 + tail), 1 / (1 + tail), 0.5], rtol=1e-13,
                               atol=subnormal)
    # The chain rule through 1/(1+e^{−z}) passes ∂/∂y = −1/y² ≈ e^{2z}, which underflows for
    # z < −354: the gradient is then 0, wrong by less than 1e-300 in absolute terms.
    np.testing.assert_allclose(
        gradient, [tail / (1 + tail) ** 2, tail / (1 + tail) ** 2, 0.25], rtol=1e-12,
        atol=1e-300,
    )


def test_tanh_and_softmax_are_finite_for_huge_inputs():
    x = np.array([[-1e3, 0.0, 1e3], [1e3, 1e3, -1e3]])
    for fn in (F.tanh, F.softmax, F.log_softmax, F.logsumexp, F.relu):
        value, gradient = _value_and_grad(fn, x)
        assert np.all(np.isfinite(value)), fn.__name__
        assert np.all(np.isfinite(gradient)), fn.__name__
    np.testing.assert_allclose(F.logsumexp(x).data, [1e3, 1e3 + np.log(2.0)], rtol=1e-15)


def test_cross_entropy_with_huge_logits():
    logits = np.array([[1e3, -1e3, 0.0], [-1e3, 1e3, 1e3]])
    labels = np.array([1, 0])
    # per-sample loss: logsumexp − picked logit, exactly 2000 and 2000 + ln 2
    expected = np.array([2e3, 2e3 + np.log(2.0)])
    t = Tensor(logits, requires_grad=True)
    loss = F.cross_entropy(t, labels, reduction="sum")
    np.testing.assert_allclose(loss.item(), expected.sum(), rtol=1e-15)
    loss.backward()
    # ∂/∂logits = softmax − one-hot
    softmax = np.exp(np_log_softmax(logits))
    np.testing.assert_allclose(t.grad.data, softmax - np.eye(3)[labels], atol=1e-15)
    one_hot = Tensor(logits, requires_grad=True)
    F.cross_entropy(one_hot, np.eye(3)[labels], reduction="sum").backward()
    np.testing.assert_allclose(one_hot.grad.data, softmax - np.eye(3)[labels], atol=1e-15)


@pytest.mark.parametrize("magnitude", [1e3, 1e5])
def test_bce_with_logits_with_huge_logits(magnitude):
    x = np.array([magnitude, -magnitude, magnitude, -magnitude])
    target = np.array([0.0, 1.0, 1.0, 0.0])
    t = Tensor(x, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(t, target, reduction="none")
    # wrong side: loss = |x|; right side: ln(1 + e^{−|x|}) = 0 to double precision
    np.testing.assert_allclose(loss.data, [magnitude, magnitude, 0.0, 0.0], rtol=1e-15)
    loss.sum().backward()
    np.testing.assert_allclose(t.grad.data, np_sigmoid(x) - target, atol=1e-15)


def test_logsumexp_with_minus_infinity_entries():
    x = np.array([[-np.inf, 0.0, 1.0], [-np.inf, -np.inf, 2.0]])
    t = Tensor(x, requires_grad=True)
    result = F.logsumexp(t, axis=-1)
    np.testing.assert_allclose(result.data, [np.log(1.0 + np.e), 2.0], rtol=1e-15)
    result.sum().backward()
    expected = np.array([[0.0, 1 / (1 + np.e), np.e / (1 + np.e)], [0.0, 0.0, 1.0]])
    assert np.all(np.isfinite(t.grad.data))
    np.testing.assert_allclose(t.grad.data, expected, rtol=1e-14)
    soft = F.softmax(Tensor(x))
    np.testing.assert_allclose(soft.data, expected, rtol=1e-14)


def test_bce_with_exact_zero_and_one_probabilities_is_finite():
    p = Tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
    target = np.array([1.0, 0.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(p, target, reduction="none")
    assert np.all(np.isfinite(loss.data))
    np.testing.assert_array_equal(loss.data[2:], [0.0, 0.0])
    assert loss.data[0] > 700 and loss.data[1] > 700  # −ln(tiny) ≈ 708
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad.data))


# ---------------------------------------------------------------------------------------------
# Losses: values.
# ---------------------------------------------------------------------------------------------
@given(
    hnp.arrays(np.float64, (4, 3), elements=small),
    hnp.arrays(np.float64, (4, 3), elements=small),
)
def test_mse_and_square_loss(prediction, target):
    squared = (prediction - target) ** 2
    np.testing.assert_allclose(F.mse_loss(prediction, target).item(), squared.mean(),
                               rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(F.mse_loss(prediction, target, reduction="sum").item(),
                               squared.sum(), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(
        F.mse_loss(prediction, target, reduction="none").data, squared, rtol=1e-13, atol=1e-300
    )
    # the digit-network article, eq. (3): cost = Σ_k ½(label_k − y_k)² per sample
    per_sample = 0.5 * squared.sum(axis=1)
    np.testing.assert_allclose(F.square_loss(prediction, target).item(), per_sample.sum(),
                               rtol=1e-13, atol=1e-300)
    for reduction, expected in [("sum", per_sample.sum()), ("mean", per_sample.mean()),
                                ("none", per_sample)]:
        result = F.square_loss(prediction, target, reduction=reduction)
        np.testing.assert_allclose(result.data, expected, rtol=1e-13, atol=1e-300)
    assert gradcheck(lambda p, t: F.mse_loss(p, t), [prediction, target])
    assert gradcheck(lambda p, t: F.square_loss(p, t, reduction="mean"), [prediction, target])
    # closed-form gradients: ∂mse/∂p = 2(p − t)/n, ∂square/∂p = (p − t)
    p = Tensor(prediction, requires_grad=True)
    (F.mse_loss(p, target) + F.square_loss(p, target)).backward()
    np.testing.assert_allclose(p.grad.data, (prediction - target) * (2 / 12 + 1),
                               rtol=1e-12, atol=1e-14)


@given(
    hnp.arrays(np.float64, (3, 2), elements=st.floats(0.01, 0.99)),
    hnp.arrays(np.float64, (3, 2), elements=st.floats(0.0, 1.0)),
    st.sampled_from([0.0, 1e-5]),
)
def test_binary_cross_entropy_eq4(probabilities, target, eps):
    # the digit-network article, eq. (4): −[label·ln y + (1 − label)·ln(1 − y)], with the eps guard
    # inside ln
    losses = -(target * np.log(probabilities + eps)
               + (1 - target) * np.log(1 - probabilities + eps))
    for reduction, expected in [("mean", losses.mean()), ("sum", losses.sum()),
                                ("none", losses)]:
        result = F.binary_cross_entropy(probabilities, target, reduction=reduction, eps=eps)
        np.testing.assert_allclose(result.data, expected, rtol=1e-12)
    # targets held constant: perturbing them could leave [0, 1]
    assert gradcheck(lambda p: F.binary_cross_entropy(p, target, eps=eps), [probabilities])


@given(
    hnp.arrays(np.float64, (3, 2), elements=st.floats(-10.0, 10.0)),
    hnp.arrays(np.float64, (3, 2), elements=st.floats(0.0, 1.0)),
)
def test_bce_with_logits_equals_bce_of_sigmoid(logits, target):
    expected = F.binary_cross_entropy(np_sigmoid(logits), target, reduction="none").data
    direct = -(target * np.log(np_sigmoid(logits)) + (1 - target) * np.log(np_sigmoid(-logits)))
    result = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    np.testing.assert_allclose(result.data, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.data, direct, rtol=1e-12, atol=1e-14)
    assert gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, target), [logits])
    # ∂/∂x = (σ(x) − label)/n
    x = Tensor(logits, requires_grad=True)
    F.binary_cross_entropy_with_logits(x, target).backward()
    np.testing.assert_allclose(x.grad.data, (np_sigmoid(logits) - target) / 6, rtol=1e-12,
                               atol=1e-15)


@given(
    hnp.arrays(np.float64, (4, 3), elements=small),
    hnp.arrays(np.int64, (4,), elements=st.integers(0, 2)),
)
def test_cross_entropy_labels_one_hot_and_by_hand_agree(logits, labels):
    by_hand = -np_log_softmax(logits)[np.arange(4), labels]
    one_hot = np.eye(3)[labels]
    for reduction, expected in [("mean", by_hand.mean()), ("sum", by_hand.sum()),
                                ("none", by_hand)]:
        from_labels = F.cross_entropy(logits, labels, reduction=reduction)
        from_one_hot = F.cross_entropy(logits, one_hot, reduction=reduction)
        np.testing.assert_allclose(from_labels.data, expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(from_one_hot.data, expected, rtol=1e-12, atol=1e-14)
    assert gradcheck(lambda x: F.cross_entropy(x, labels), [logits])
    assert gradcheck(lambda x: F.cross_entropy(x, one_hot, reduction="none"), [logits])
    # labels given as a Tensor and as a list work the same
    np.testing.assert_allclose(F.cross_entropy(logits, Tensor(labels)).data, by_hand.mean(),
                               rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(logits, labels.tolist()).data, by_hand.mean(),
                               rtol=1e-12)


@given(hnp.arrays(np.float64, (2, 3), elements=small), probability_rows(2, 3))
def test_cross_entropy_with_soft_targets(logits, target):
    expected = -(target * np_log_softmax(logits)).sum(axis=-1)
    np.testing.assert_allclose(
        F.cross_entropy(logits, target, reduction="none").data, expected, rtol=1e-12, atol=1e-14
    )
    assert gradcheck(lambda x: F.cross_entropy(x, target), [logits])
    # Perturbing a target by finite differences would leave the simplex (rows must sum to 1),
    # so its gradient is checked against the closed form ∂ mean loss/∂p = −log_softmax / N.
    soft = Tensor(target, requires_grad=True)
    F.cross_entropy(logits, soft).backward()
    np.testing.assert_allclose(soft.grad.data, -np_log_softmax(logits) / 2, rtol=1e-12,
                               atol=1e-15)


def test_cross_entropy_with_extra_batch_axes_and_single_sample():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 4))
    labels = np.array([[0, 3, 1], [2, 2, 0]])
    picked = np.take_along_axis(np_log_softmax(logits), labels[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(
        F.cross_entropy(logits, labels, reduction="none").data, -picked, rtol=1e-12
    )
    np.testing.assert_allclose(F.cross_entropy(logits, labels).item(), -picked.mean(), rtol=1e-12)
    single = F.cross_entropy(logits[0, 0], np.array(3), reduction="none")
    assert single.shape == ()
    np.testing.assert_allclose(single.item(), -np_log_softmax(logits[0, 0])[3], rtol=1e-12)


@pytest.mark.parametrize("parameters_shapes", [[(3, 2)], [(3, 2), (2,), ()]])
@pytest.mark.parametrize("weight", [0.0, 0.1, 2.5])
def test_l2_penalty(parameters_shapes, weight):
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(shape) for shape in parameters_shapes]
    parameters = [Tensor(v, requires_grad=True) for v in values]
    penalty = F.l2_penalty(parameters, weight)
    expected = 0.5 * weight * sum(float(np.sum(v**2)) for v in values)
    np.testing.assert_allclose(penalty.item(), expected, rtol=1e-13)
    grads = mg.grad(penalty, parameters)
    for g, v in zip(grads, values, strict=True):
        np.testing.assert_allclose(g.data, weight * v, rtol=1e-13)


def test_l2_penalty_of_no_parameters_is_zero():
    assert F.l2_penalty([], 0.5).item() == 0.0


# ---------------------------------------------------------------------------------------------
# Validation.
# ---------------------------------------------------------------------------------------------
LOSSES = {
    "mse_loss": lambda r: F.mse_loss(np.ones((2, 2)), np.ones((2, 2)), reduction=r),
    "square_loss": lambda r: F.square_loss(np.ones((2, 2)), np.ones((2, 2)), reduction=r),
    "binary_cross_entropy": lambda r: F.binary_cross_entropy(
        np.full(2, 0.5), np.ones(2), reduction=r),
    "binary_cross_entropy_with_logits": lambda r: F.binary_cross_entropy_with_logits(
        np.zeros(2), np.ones(2), reduction=r),
    "cross_entropy": lambda r: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), reduction=r),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_invalid_reduction_names_op_and_choices(name):
    with pytest.raises(ValueError, match=rf"{name}: reduction must be one of .*'average'"):
        LOSSES[name]("average")
    for reduction in ("mean", "sum", "none"):
        LOSSES[name](reduction)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 3])),
         r"cross_entropy: labels must lie in \[0, 3\).*\[0, 3\]"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([-1, 0])),
         r"cross_entropy: labels must lie in \[0, 3\)"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2])),
         r"cross_entropy: labels of shape \(3,\).*\(2, 3\)"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.ones((2, 2))),
         r"cross_entropy: prediction shape \(2, 3\) and target shape \(2, 2\)"),
        (lambda: F.cross_entropy(np.zeros(()), np.array(0)), r"cross_entropy: .*class axis"),
        (lambda: F.binary_cross_entropy(np.array([0.5, 1.5]), np.ones(2)),
         r"binary_cross_entropy: probabilities must lie in \[0, 1\]"),
        (lambda: F.binary_cross_entropy(np.array([0.5, -0.1]), np.ones(2)),
         r"binary_cross_entropy: probabilities must lie in \[0, 1\]"),
        (lambda: F.binary_cross_entropy(np.full(2, 0.5), np.array([0.0, 2.0])),
         r"binary_cross_entropy: targets must lie in \[0, 1\]"),
        (lambda: F.binary_cross_entropy(np.full(2, 0.5), np.ones(3)),
         r"binary_cross_entropy: prediction shape \(2,\) and target shape \(3,\)"),
        (lambda: F.binary_cross_entropy_with_logits(np.zeros(2), np.array([0.0, -1.0])),
         r"binary_cross_entropy_with_logits: targets must lie in \[0, 1\]"),
        (lambda: F.binary_cross_entropy_with_logits(np.zeros(2), np.ones((2, 1))),
         r"binary_cross_entropy_with_logits: prediction shape \(2,\) and target shape \(2, 1\)"),
        (lambda: F.mse_loss(np.zeros((3, 1)), np.zeros(3)),
         r"mse_loss: prediction shape \(3, 1\) and target shape \(3,\)"),
        (lambda: F.square_loss(np.zeros((2, 3)), np.zeros((3, 2))),
         r"square_loss: prediction shape \(2, 3\) and target shape \(3, 2\)"),
    ],
)
def test_loss_validation_errors_name_the_op_and_the_problem(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_cross_entropy_rejects_bool_targets():
    with pytest.raises(TypeError, match="cross_entropy: target must be integer labels"):
        F.cross_entropy(np.zeros((2, 2)), np.array([True, False]))
