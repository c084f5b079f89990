"""Losses against NumPy closed forms written here from the formulas (PyTorch's documented
semantics), gradients against tight central differences or closed forms, non-finite inputs
and the argument checks. The older losses (mse, square, BCE, cross-entropy basics) are also
covered in test_functional.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import micrograd_nd as mg
from micrograd_nd import Tensor, gradcheck, nn
from micrograd_nd import functional as F

TIGHT = {"atol": 1e-8, "rtol": 1e-6}
small = st.floats(-3.0, 3.0, allow_nan=False)
C = 4  # classes


def np_log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def reduce(losses, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](losses)


# ---------------------------------------------------------------------------------------------
# Class-index losses: weight, ignore_index, label smoothing.
# ---------------------------------------------------------------------------------------------
def np_cross_entropy(logits, labels, weight, ignore_index, reduction, smoothing):
    """PyTorch's documented semantics, written as a soft target: q = (1 − ε)·onehot + ε/C,
    ℓ_n = −Σ_c w_c q_{n,c} ln p_{n,c} (0 if ignored), mean = Σ ℓ_n / Σ_{counted} w_{y_n}."""
    num_classes = logits.shape[-1]
    w = np.ones(num_classes) if weight is None else weight
    counted = labels != ignore_index
    safe = np.where(counted, labels, 0)
    q = (1 - smoothing) * np.eye(num_classes)[safe] + smoothing / num_classes
    losses = np.where(counted, -(w * q * np_log_softmax(logits)).sum(axis=-1), 0.0)
    if reduction == "mean":
        return losses.sum() / np.where(counted, w[safe], 0.0).sum()
    return reduce(losses, reduction)


@st.composite
def class_problems(draw):
    n = draw(st.integers(1, 5))
    logits = draw(hnp.arrays(np.float64, (n, C), elements=small))
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, C - 1)))
    ignore = draw(st.sampled_from([-100, 1]))
    if ignore == 1 and np.all(labels == 1):
        labels[0] = 0  # keep one counted sample so 'mean' has a denominator
    weight = draw(st.one_of(st.none(),
                            hnp.arrays(np.float64, (C,), elements=st.floats(0.1, 3.0))))
    smoothing = draw(st.sampled_from([0.0, 0.1, 1.0]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return logits, labels, weight, ignore, reduction, smoothing


@given(class_problems())
def test_cross_entropy_weight_ignore_index_label_smoothing(problem):
    logits, labels, weight, ignore, reduction, smoothing = problem
    expected = np_cross_entropy(logits, labels, weight, ignore, reduction, smoothing)
    result = F.cross_entropy(logits, labels, weight=weight, ignore_index=ignore,
                             reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(result.data, expected, rtol=1e-12, atol=1e-14)
    module = nn.CrossEntropyLoss(weight=weight, ignore_index=ignore, reduction=reduction,
                                 label_smoothing=smoothing)
    np.testing.assert_array_equal(module(logits, labels).data, result.data)
    assert gradcheck(lambda x: F.cross_entropy(x, labels, weight, ignore, reduction, smoothing),
                     [logits], **TIGHT)


@given(class_problems())
def test_nll_loss_of_log_softmax_is_cross_entropy(problem):
    logits, labels, weight, ignore, reduction, _ = problem
    expected = np_cross_entropy(logits, labels, weight, ignore, reduction, 0.0)
    log_probs = np_log_softmax(logits)
    result = F.nll_loss(log_probs, labels, weight=weight, ignore_index=ignore,
                        reduction=reduction)
    np.testing.assert_allclose(result.data, expected, rtol=1e-12, atol=1e-14)
    module = nn.NLLLoss(weight=weight, ignore_index=ignore, reduction=reduction)
    np.testing.assert_array_equal(module(log_probs, labels).data, result.data)
    # ∂ℓ/∂input is −w_y at the label (divided by Σ w for 'mean'), 0 elsewhere
    assert gradcheck(lambda x: F.nll_loss(x, labels, weight, ignore, reduction), [log_probs],
                     **TIGHT)


def test_label_smoothing_by_hand():
    # q = (0.9, 0.1) on two equal logits: ℓ = −(0.9 + 0.1)·ln ½ = ln 2
    assert F.cross_entropy(np.zeros((1, 2)), np.array([0]), label_smoothing=0.2).item() == (
        pytest.approx(np.log(2.0), rel=1e-15))
    # class weights (1, 3), label 1, ε = 0.5: q = (0.25, 0.75); ℓ = −(1·0.25 + 3·0.75)·ln ½,
    # and 'mean' divides by w_1 = 3
    result = F.cross_entropy(np.zeros((1, 2)), np.array([1]), weight=np.array([1.0, 3.0]),
                             label_smoothing=0.5)
    assert result.item() == pytest.approx(2.5 * np.log(2.0) / 3.0, rel=1e-15)


def test_ignored_samples_contribute_nothing_even_when_their_loss_is_infinite():
    logits = Tensor(np.array([[0.0, -np.inf], [1.0, 2.0]]), requires_grad=True)
    labels = np.array([1, 0])  # sample 0's label has probability 0: loss +∞
    loss = F.cross_entropy(logits, np.array([-100, 0]), reduction="none")
    assert loss.data[0] == 0.0
    full = F.cross_entropy(logits, labels, reduction="none")
    assert full.data[0] == np.inf
    total = F.cross_entropy(logits, np.array([-100, 0]))
    total.backward()
    np.testing.assert_array_equal(logits.grad.data[0], [0.0, 0.0])
    expected = np.exp(np_log_softmax(np.array([1.0, 2.0]))) - np.array([1.0, 0.0])
    np.testing.assert_allclose(logits.grad.data[1], expected, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_with_a_minus_infinity_logit_of_another_class(dtype):
    """One-hot masking by multiplication would give 0·(−∞) = NaN; the value is finite."""
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, 0.0]], dtype=dtype)
    labels = np.array([2, 1])
    finite = np.where(np.isinf(x), -1e30, x).astype(np.float64)  # e^{−1e30} = 0 exactly
    expected = -np_log_softmax(finite)[np.arange(2), labels]
    softmax = np.exp(np_log_softmax(finite))
    for target in (labels, np.eye(3, dtype=dtype)[labels]):
        t = Tensor(x, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = F.cross_entropy(t, target, reduction="sum")
            loss.backward()
        np.testing.assert_allclose(loss.item(), expected.sum(), rtol=4 * np.finfo(dtype).eps)
        np.testing.assert_allclose(t.grad.data, softmax - np.eye(3)[labels],
                                   atol=4 * np.finfo(dtype).eps)
        assert t.grad.data[0, 1] == 0.0 and t.grad.data[1, 0] == 0.0
    nll = F.nll_loss(np_log_softmax(finite) + np.where(np.isinf(x), -np.inf, 0.0), labels)
    np.testing.assert_allclose(nll.item(), expected.mean(), rtol=1e-15)


@given(hnp.arrays(np.float64, (3, C), elements=small),
       hnp.arrays(np.float64, (3, C), elements=st.floats(0.05, 1.0)),
       st.one_of(st.none(), hnp.arrays(np.float64, (C,), elements=st.floats(0.1, 3.0))),
       st.sampled_from([0.0, 0.3]))
def test_cross_entropy_with_probability_targets_weight_and_smoothing(logits, raw, weight,
                                                                       smoothing):
    target = raw / raw.sum(axis=-1, keepdims=True)
    q = (1 - smoothing) * target + smoothing / C
    w = np.ones(C) if weight is None else weight
    per_sample = -(w * q * np_log_softmax(logits)).sum(axis=-1)
    for reduction in ("mean", "sum", "none"):
        result = F.cross_entropy(logits, target, weight=weight, reduction=reduction,
                                 label_smoothing=smoothing)
        # 'mean' divides by the number of samples here, not by the weights (PyTorch)
        np.testing.assert_allclose(result.data, reduce(per_sample, reduction), rtol=1e-12)
    assert gradcheck(lambda x: F.cross_entropy(x, target, weight, label_smoothing=smoothing),
                     [logits], **TIGHT)


@pytest.mark.parametrize(
    ("target", "pattern"),
    [
        (np.array([[0.5, 0.6]]), r"each row of probability targets must sum to 1 \(within "
                                 r"1\.0e-08\), got row sums in \[1\.1, 1\.1\]"),
        (np.array([[0.5, 0.4]]), r"must sum to 1"),
        (np.array([[1.5, -0.5]]), r"probability targets must be ≥ 0"),
        (np.array([[np.nan, 1.0]]), r"probability targets must be ≥ 0 \(and not NaN\)"),
    ],
)
def test_probability_rows_that_are_not_distributions_are_refused(target, pattern):
    with pytest.raises(ValueError, match=pattern):
        F.cross_entropy(np.zeros((1, 2)), target)


def test_probability_rows_within_rounding_are_accepted():
    F.cross_entropy(np.zeros((1, 2)), np.array([[0.5, 0.5 + 5e-9]]))
    rows = F.softmax(np.random.default_rng(0).standard_normal((50, 10)).astype(np.float32))
    F.cross_entropy(np.zeros((50, 10), np.float32), rows.data)  # C·eps(float32) tolerance


# ---------------------------------------------------------------------------------------------
# Elementwise losses.
# ---------------------------------------------------------------------------------------------
def np_huber(d, delta):
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


def np_smooth_l1(d, beta):
    return np.abs(d) if beta == 0 else np.where(np.abs(d) < beta, 0.5 * d * d / beta,
                                                 np.abs(d) - 0.5 * beta)


pairs = st.tuples(hnp.arrays(np.float64, (3, 2), elements=small),
                  hnp.arrays(np.float64, (3, 2), elements=small))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(pair=pairs, delta=st.sampled_from([0.5, 1.0, 2.0]))
def test_l1_huber_smooth_l1_values(reduction, pair, delta):
    x, y = pair
    d = x - y
    cases = [
        (F.l1_loss(x, y, reduction), np.abs(d), nn.L1Loss(reduction)),
        (F.huber_loss(x, y, reduction, delta), np_huber(d, delta), nn.HuberLoss(reduction, delta)),
        (F.smooth_l1_loss(x, y, reduction, delta), np_smooth_l1(d, delta),
         nn.SmoothL1Loss(reduction, delta)),
        (F.smooth_l1_loss(x, y, reduction, 0.0), np.abs(d), nn.SmoothL1Loss(reduction, 0.0)),
    ]
    for result, elementwise, module in cases:
        np.testing.assert_allclose(result.data, reduce(elementwise, reduction), rtol=1e-14,
                                   atol=1e-15)
        np.testing.assert_array_equal(module(x, y).data, result.data)


@given(pair=pairs, delta=st.sampled_from([0.5, 1.0, 2.0]))
def test_l1_huber_smooth_l1_gradients(pair, delta):
    x, y = pair
    # away from the kinks: |d| = 0 (l1) and |d| = δ (the switch; continuous derivative anyway)
    d = x - y
    x = np.where((np.abs(d) < 1e-3) | (np.abs(np.abs(d) - delta) < 1e-3), y + 0.25, x)
    for loss in (F.l1_loss, lambda a, b: F.huber_loss(a, b, delta=delta),
                 lambda a, b: F.smooth_l1_loss(a, b, beta=delta)):
        assert gradcheck(loss, [x, y], **TIGHT)
    t = Tensor(x, requires_grad=True)
    F.huber_loss(t, y, reduction="sum", delta=delta).backward()
    d = x - y
    np.testing.assert_allclose(t.grad.data, np.clip(d, -delta, delta), rtol=1e-14)


def test_l1_gradient_is_zero_where_prediction_equals_target():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    F.l1_loss(x, np.array([1.0, 0.0, 5.0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, -1.0])  # sign(d), sign(0) = 0


def test_huge_differences_do_not_overflow_and_nan_stays_nan():
    x = np.array([1e200, -1e200, np.nan])
    y = np.zeros(3)
    with np.errstate(over="raise", invalid="raise"):
        huber = F.huber_loss(x[:2], y[:2], reduction="none").data
    np.testing.assert_allclose(huber, [1e200 - 0.5, 1e200 - 0.5])
    for loss in (F.l1_loss, F.huber_loss, F.smooth_l1_loss, F.mse_loss):
        with np.errstate(over="ignore"):  # mse of 1e200 is +∞, rightly
            assert np.isnan(loss(x, y, reduction="none").data[2]), loss.__name__


def np_kl(log_q, p, log_target):
    with np.errstate(divide="ignore", invalid="ignore"):  # in the branch np.where drops
        if log_target:
            return np.where(p == -np.inf, 0.0, np.exp(p) * (p - log_q))
        return np.where(p == 0, 0.0, p * (np.log(p) - log_q))


@pytest.mark.parametrize("log_target", [False, True])
@given(raw=hnp.arrays(np.float64, (3, C), elements=st.floats(0.0, 1.0)),
       logits=hnp.arrays(np.float64, (3, C), elements=small))
def test_kl_div(log_target, raw, logits):
    raw[:, 0] += 0.1  # every row has mass
    p = raw / raw.sum(axis=-1, keepdims=True)
    log_q = np_log_softmax(logits)
    with np.errstate(divide="ignore"):
        target = np.log(p) if log_target else p
    elementwise = np_kl(log_q, target, log_target)
    expected = {"none": elementwise, "sum": elementwise.sum(), "mean": elementwise.mean(),
                "batchmean": elementwise.sum() / 3}
    for reduction, value in expected.items():
        result = F.kl_div(log_q, target, reduction=reduction, log_target=log_target)
        np.testing.assert_allclose(result.data, value, rtol=1e-12, atol=1e-15)
        module = nn.KLDivLoss(reduction=reduction, log_target=log_target)
        np.testing.assert_array_equal(module(log_q, target).data, result.data)
    # the true KL divergence of each row, Σ p ln(p/q), is 'batchmean' times the batch size
    assert gradcheck(lambda x: F.kl_div(x, target, "batchmean", log_target), [log_q], **TIGHT)


def test_kl_div_of_an_impossible_class_is_zero_not_nan():
    log_q = np.array([[0.0, -np.inf]])  # q = (1, 0)
    for target, log_target in ((np.array([[1.0, 0.0]]), False),
                               (np.array([[0.0, -np.inf]]), True)):
        t = Tensor(log_q, requires_grad=True)
        loss = F.kl_div(t, target, reduction="sum", log_target=log_target)
        loss.backward()
        assert loss.item() == 0.0
        np.testing.assert_array_equal(t.grad.data, [[-1.0, 0.0]])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(logits=hnp.arrays(np.float64, (3, 2), elements=st.floats(-10.0, 10.0)),
       target=hnp.arrays(np.float64, (3, 2), elements=st.floats(0.0, 1.0)),
       weight=hnp.arrays(np.float64, (2,), elements=st.floats(0.1, 2.0)),
       pos_weight=hnp.arrays(np.float64, (2,), elements=st.floats(0.1, 5.0)))
def test_weighted_binary_cross_entropies(reduction, logits, target, weight, pos_weight):
    log_p, log_not_p = np_log_sigmoid(logits), np_log_sigmoid(-logits)
    expected = -weight * (pos_weight * target * log_p + (1 - target) * log_not_p)
    result = F.binary_cross_entropy_with_logits(logits, target, weight, reduction, pos_weight)
    np.testing.assert_allclose(result.data, reduce(expected, reduction), rtol=1e-12,
                               atol=1e-14)
    module = nn.BCEWithLogitsLoss(weight=weight, reduction=reduction, pos_weight=pos_weight)
    np.testing.assert_array_equal(module(logits, target).data, result.data)
    plain = -weight * (target * log_p + (1 - target) * log_not_p)
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(logits, target, weight, reduction).data,
        reduce(plain, reduction), rtol=1e-12, atol=1e-14)
    probabilities = np.exp(log_p)
    bce = -weight * (target * np.log(probabilities) + (1 - target) * np.log1p(-probabilities))
    np.testing.assert_allclose(
        F.binary_cross_entropy(probabilities, target, weight, reduction).data,
        reduce(bce, reduction), rtol=1e-9, atol=1e-12)
    assert gradcheck(
        lambda x: F.binary_cross_entropy_with_logits(x, target, weight, pos_weight=pos_weight),
        [logits], **TIGHT)


@pytest.mark.parametrize("magnitude", [1e3, 1e5])
def test_pos_weight_form_is_finite_for_huge_logits(magnitude):
    x = Tensor(np.array([magnitude, -magnitude, magnitude, -magnitude]), requires_grad=True)
    target = np.array([0.0, 1.0, 1.0, 0.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.binary_cross_entropy_with_logits(x, target, reduction="none",
                                                  pos_weight=np.full(4, 2.0))
        loss.sum().backward()
    np.testing.assert_allclose(loss.data, [magnitude, 2 * magnitude, 0.0, 0.0], rtol=1e-15)
    assert np.all(np.isfinite(x.grad.data))


# ---------------------------------------------------------------------------------------------
# Argument checks.
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), "sum"), TypeError,
         r"cross_entropy: weight must be an array, got the string 'sum'; pass the reduction "
         r"by name"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), weight=np.ones(2)),
         ValueError, r"weight must have one entry per class, shape \(3,\), got shape \(2,\)"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=1.5),
         ValueError, r"label_smoothing must be a finite number in \[0, 1\], got 1\.5"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), ignore_index=0.5),
         TypeError, "ignore_index must be an int"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.full((2, 3), 1 / 3), ignore_index=0),
         ValueError, "ignore_index=0 applies to integer class labels"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([-100, -100])), ValueError,
         r"reduction='mean' divides by the total weight of the counted targets, which is 0"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 5]), ignore_index=5),
         None, ""),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([5, 7]), ignore_index=5),
         ValueError, r"labels must lie in \[0, 3\).*ignore_index=5 aside"),
        (lambda: F.nll_loss(np.zeros((2, 3)), np.array([0.0, 1.0])), TypeError,
         "nll_loss: target must be integer class labels"),
        (lambda: F.nll_loss(np.zeros((2, 3)), np.array([0, 1]), weight=np.zeros(3)), ValueError,
         "total weight of the counted targets, which is 0"),
        (lambda: F.huber_loss(np.ones(2), np.ones(2), delta=0.0), ValueError,
         r"huber_loss: delta must be a finite number in \(0, ∞\)"),
        (lambda: F.smooth_l1_loss(np.ones(2), np.ones(2), beta=-1.0), ValueError,
         r"smooth_l1_loss: beta must be a finite number in \[0, ∞\)"),
        (lambda: F.kl_div(np.zeros(2), np.array([0.5, -0.5])), ValueError,
         "kl_div: target probabilities must be ≥ 0.*log_target=True"),
        (lambda: F.kl_div(np.zeros(2), np.ones(2), reduction="batch"), ValueError,
         r"kl_div: reduction must be one of \('mean', 'batchmean', 'sum', 'none'\)"),
        (lambda: F.l1_loss(np.ones((0, 2)), np.ones((0, 2))), ValueError,
         r"l1_loss: reduction='mean' over no elements"),
        (lambda: F.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)),
                                                    pos_weight=np.ones(2)), ValueError,
         r"pos_weight of shape \(2,\) does not broadcast to the input shape \(2, 3\)"),
        (lambda: F.binary_cross_entropy(np.full(2, 0.5), np.ones(2), eps=float("nan")),
         ValueError, "binary_cross_entropy: eps must be a finite number"),
        (lambda: nn.BCELoss(eps=-1e-5), ValueError, "BCELoss: eps must be a finite number"),
        (lambda: nn.BCELoss("sum"), TypeError, "BCELoss: weight must be an array"),
        (lambda: nn.HuberLoss(delta=float("inf")), ValueError, "HuberLoss: delta"),
        (lambda: nn.KLDivLoss(reduction="avg"), ValueError, "KLDivLoss: reduction must be"),
        (lambda: nn.CrossEntropyLoss(ignore_index=True), TypeError,
         "CrossEntropyLoss: ignore_index must be an int"),
        (lambda: F.l2_penalty([np.ones(2)], 0.1), TypeError,
         r"l2_penalty: parameter 0 is a numpy\.ndarray, not a Tensor: it has no gradient"),
        (lambda: F.l2_penalty(Tensor(np.ones(2)), 0.1), TypeError, "got one Tensor"),
        (lambda: F.l2_penalty(nn.Linear(2, 2), 0.1), TypeError,
         r"parameters must be an iterable of tensors \(e\.g\. model\.parameters\(\)\), got "
         r"Linear"),
        (lambda: F.l2_penalty([], -1.0), ValueError,
         r"l2_penalty: weight must be a finite number in \[0, ∞\), got -1\.0"),
        (lambda: F.l2_penalty([], float("nan")), ValueError, "l2_penalty: weight"),
        (lambda: F.l2_penalty([], "0.1"), TypeError, "l2_penalty: weight must be a real number"),
    ],
)
def test_loss_arguments_are_checked(call, error, pattern):
    if error is None:
        call()  # a label equal to ignore_index may lie outside [0, C)
        return
    with pytest.raises(error, match=pattern):
        call()


def test_sum_of_all_ignored_targets_is_zero():
    loss = F.cross_entropy(np.zeros((2, 3)), np.array([-100, -100]), reduction="sum")
    assert loss.item() == 0.0


def test_loss_weights_are_buffers_in_the_state_dict():
    loss = nn.CrossEntropyLoss(weight=np.array([1.0, 2.0, 3.0]))
    assert list(loss.state_dict()) == ["weight"]
    assert loss.parameters() == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=np.ones(2)).state_dict()) == ["pos_weight"]
    assert nn.NLLLoss().state_dict() == {}


def test_l2_penalty_still_accepts_model_parameters():
    model = nn.Linear(3, 2, rng=0)
    value = mg.l2_penalty(model.parameters(), 0.5)
    expected = 0.25 * sum(float(np.sum(p.data**2)) for p in model.parameters())
    np.testing.assert_allclose(value.item(), expected, rtol=1e-14)


def test_nan_inputs_are_not_hidden_by_the_zero_probability_rules():
    log_q = np.array([[0.0, np.nan]])
    assert np.isnan(F.kl_div(log_q, np.array([[1.0, 0.0]]), reduction="sum").item())
    assert np.isnan(F.kl_div(log_q, np.array([[0.0, -np.inf]]), reduction="sum",
                             log_target=True).item())
    logits = np.array([[0.0, np.nan, -np.inf]])
    assert np.isnan(F.cross_entropy(logits, np.array([[1.0, 0.0, 0.0]])).item())
    assert np.isnan(F.cross_entropy(logits, np.array([0])).item())


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int32, np.uint64])
def test_labels_of_any_integer_dtype_give_the_int64_loss(dtype):
    """uint8 labels meet the default ignore_index=-100 as numbers (PyTorch accepts them)."""
    logits = np.random.default_rng(0).normal(size=(5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    for loss in (F.cross_entropy, F.nll_loss):
        expected = loss(mg.Tensor(logits), labels).item()
        assert loss(mg.Tensor(logits), labels.astype(dtype)).item() == expected
    assert F.cross_entropy(mg.Tensor(logits), labels.astype(np.int8), ignore_index=300).item() \
        == F.cross_entropy(mg.Tensor(logits), labels).item()
