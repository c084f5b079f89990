"""Activations and the softmax family: values against NumPy closed forms, gradients against
central differences (float64, tight tolerances) and closed-form derivatives, extreme inputs
without a floating-point warning, NaN propagation, empty and integer inputs, float32 accuracy.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from micrograd_nd import Tensor, gradcheck, gradgradcheck, nn
from micrograd_nd import functional as F

TIGHT = {"atol": 1e-8, "rtol": 1e-6}  # a 0.05 % error in a derivative fails
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
# Away from the kinks at 0 (central differences straddling a kink measure the mean slope).
away_from_zero = st.floats(-4.0, 4.0, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


def np_sigmoid(x):
    """1/(1+e^{−x}) = e^x/(1+e^x), each form where its exponential cannot overflow."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # in the branch np.where drops
        return np.where(x < 0, np.exp(x) / (1.0 + np.exp(x)), 1.0 / (1.0 + np.exp(-x)))


def np_gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def np_softplus(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.logaddexp(0.0, beta * x) / beta)


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


# name → (function, NumPy closed form, closed-form derivative)
ELEMENTWISE = {
    "relu": (F.relu, lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
    "leaky_relu": (
        lambda x: F.leaky_relu(x, 0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
        lambda x: np.where(x > 0, 1.0, 0.2),
    ),
    "elu": (
        lambda x: F.elu(x, 1.5),
        lambda x: np.where(x > 0, x, 1.5 * np.expm1(x)),
        lambda x: np.where(x > 0, 1.0, 1.5 * np.exp(x)),
    ),
    "sigmoid": (F.sigmoid, np_sigmoid, lambda x: np_sigmoid(x) * np_sigmoid(-x)),
    "silu": (
        F.silu,
        lambda x: x * np_sigmoid(x),
        lambda x: np_sigmoid(x) * (1.0 + x * np_sigmoid(-x)),
    ),
    "softplus": (
        lambda x: F.softplus(x, beta=2.0, threshold=3.0),
        lambda x: np_softplus(x, 2.0, 3.0),
        lambda x: np.where(2.0 * x > 3.0, 1.0, np_sigmoid(2.0 * x)),
    ),
    "gelu_tanh": (
        gelu_tanh,
        np_gelu_tanh,
        lambda x: (
            0.5 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
            + 0.5 * x * (1 - np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)) ** 2)
            * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x**2)
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(x=hnp.arrays(np.float64, shapes, elements=st.floats(-30.0, 30.0)))
def test_values_match_closed_form(name, x):
    function, closed_form, _ = ELEMENTWISE[name]
    np.testing.assert_allclose(function(x).data, closed_form(x), rtol=1e-13, atol=1e-300)


def _clear_of_the_softplus_switch(name, x):
    """Softplus(β=2, threshold=3) switches to linear at 2x = 3: keep off that point too."""
    return np.where(np.abs(2.0 * x - 3.0) < 1e-3, 0.5, x) if name == "softplus" else x


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(x=hnp.arrays(np.float64, (2, 3), elements=away_from_zero))
def test_gradients_match_central_differences_and_closed_form(name, x):
    function, _, derivative = ELEMENTWISE[name]
    x = _clear_of_the_softplus_switch(name, x)
    assert gradcheck(function, [x], **TIGHT)
    t = Tensor(x, requires_grad=True)
    function(t).sum().backward()
    np.testing.assert_allclose(t.grad.data, derivative(x), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", ["elu", "sigmoid", "silu", "softplus", "gelu_tanh"])
@given(x=hnp.arrays(np.float64, (2, 2), elements=away_from_zero))
def test_second_derivatives(name, x):
    assert gradgradcheck(ELEMENTWISE[name][0], [_clear_of_the_softplus_switch(name, x)])


def test_kink_conventions_match_pytorch():
    """Gradient at exactly 0: relu 0, leaky_relu the slope, elu α·e⁰ = α."""
    for function, expected in ((F.relu, 0.0), (lambda x: F.leaky_relu(x, 0.3), 0.3),
                               (lambda x: F.elu(x, 2.0), 2.0)):
        t = Tensor(np.zeros(1), requires_grad=True)
        function(t).sum().backward()
        assert t.grad.data[0] == expected


def test_tails_keep_full_relative_precision():
    """ln(1+y) and e^x − 1 are computed without cancellation (PyTorch's log1p/expm1)."""
    x = np.array([-1e-10, -1e-5, -0.3, -40.0, -700.0])
    np.testing.assert_allclose(F.elu(x).data, np.expm1(x), rtol=4e-16)
    z = np.array([-40.0, -20.0, -1e-8, 1e-8, 5.0])
    np.testing.assert_allclose(F.softplus(z).data, np.log1p(np.exp(z)), rtol=4e-16)


# ---------------------------------------------------------------------------------------------
# Extreme and non-finite inputs.
# ---------------------------------------------------------------------------------------------
ALL_ACTIVATIONS = {**{name: spec[0] for name, spec in ELEMENTWISE.items()},
                   "tanh": F.tanh, "softmax": F.softmax, "log_softmax": F.log_softmax,
                   "logsumexp": F.logsumexp}


def _value_and_grad_strict(function, x):
    """Value and gradient with every overflow, 0/0 and division by zero raising."""
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        t = Tensor(x, requires_grad=True)
        out = function(t)
        out.sum().backward()
    return out.data, t.grad.data


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(ALL_ACTIVATIONS))
def test_huge_inputs_give_finite_values_and_gradients_without_warnings(name, dtype):
    x = np.array([[-1e3, -50.0, 0.5, 50.0, 1e3], [1e3, 1e3, -1e3, -1e3, 0.0]], dtype=dtype)
    value, gradient = _value_and_grad_strict(ALL_ACTIVATIONS[name], x)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(gradient))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_does_not_overflow_for_very_negative_inputs(dtype):
    """e^{−z} must not overflow for z ≪ 0 (past z ≈ −88.7 in float32, −709.8 in float64):
    value, gradient and silence are all checked, in both dtypes."""
    z = np.array([-1e3, -1e5, -30.0, -10.0, 1e3], dtype=dtype)
    value, gradient = _value_and_grad_strict(F.sigmoid, z)
    expected = np_sigmoid(z)
    tiny = np.finfo(dtype).tiny  # below the normal range only absolute errors mean anything
    np.testing.assert_allclose(value, expected, rtol=4 * np.finfo(dtype).eps, atol=tiny)
    np.testing.assert_allclose(gradient, expected * (1 - expected),
                               rtol=8 * np.finfo(dtype).eps, atol=tiny)
    assert value.dtype == dtype


@pytest.mark.parametrize("name", sorted(ALL_ACTIVATIONS))
def test_nan_stays_nan(name):
    """An activation must not turn a NaN into a number (the loss would hide it)."""
    x = np.array([[np.nan, -2.0, 0.0, 3.0]])
    value = ALL_ACTIVATIONS[name](Tensor(x)).data
    if name in ("softmax", "log_softmax", "logsumexp"):
        assert np.all(np.isnan(value))  # the whole row depends on the NaN
    else:
        assert np.isnan(value[0, 0]) and np.all(np.isfinite(value[0, 1:]))


def test_nan_stays_nan_through_modules():
    modules = [nn.ReLU(), nn.LeakyReLU(), nn.ELU(), nn.SiLU(), nn.Softplus(), nn.Sigmoid(),
               nn.Tanh(), nn.GELU("tanh"), nn.Softmax(), nn.LogSoftmax(dim=-1)]
    for module in modules:
        assert np.isnan(module(np.array([[np.nan, 1.0]])).data[0, 0]), module


def test_infinities():
    x = np.array([-np.inf, np.inf])
    np.testing.assert_array_equal(F.relu(x).data, [0.0, np.inf])
    low, high = F.sigmoid(x).data  # σ(−∞) = 0 up to the floor (below the normal range)
    assert 0.0 <= low < np.finfo(np.float64).tiny and high == 1.0
    np.testing.assert_array_equal(F.elu(x).data, [-1.0, np.inf])
    np.testing.assert_array_equal(F.softplus(x).data, [0.0, np.inf])
    np.testing.assert_array_equal(F.leaky_relu(x).data, [-np.inf, np.inf])


def test_gelu_exact_form_is_z_phi_z():
    """Oracle: z·Φ(z) with Φ from Python's math.erf; the gradient by central differences."""
    z = np.linspace(-6.0, 6.0, 25)
    expected = [0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in z]
    np.testing.assert_allclose(F.gelu(z).data, expected, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(nn.GELU()(z).data, expected, rtol=1e-14, atol=1e-300)
    gradcheck(F.gelu, [z], atol=1e-8, rtol=1e-6)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        F.gelu(np.ones(2), approximate="sigmoid")
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: F.leaky_relu(np.ones(2), float("nan")), ValueError,
         "leaky_relu: negative_slope must be a finite number"),
        (lambda: F.elu(np.ones(2), "1"), TypeError, "elu: alpha must be a real number"),
        (lambda: F.softplus(np.ones(2), beta=0.0), ValueError,
         r"softplus: beta must be a finite number in \(0, ∞\)"),
        (lambda: nn.Softplus(threshold=float("inf")), ValueError, "Softplus: threshold"),
        (lambda: nn.LeakyReLU(True), TypeError, "LeakyReLU: negative_slope"),
    ],
)
def test_activation_arguments_are_checked(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# ---------------------------------------------------------------------------------------------
# Softmax family: precision, dtypes, empty tensors, dim/axis.
# ---------------------------------------------------------------------------------------------
def test_float32_softmax_of_equal_large_logits_is_exactly_one_half():
    x = np.array([1000.0, 1000.0], dtype=np.float32)
    assert F.softmax(x).data.tolist() == [0.5, 0.5]
    np.testing.assert_array_equal(F.log_softmax(x).data, np.log(np.float32(0.5)))


@given(hnp.arrays(np.int16, (3, 4), elements=st.integers(-2000, 2000)))
def test_float32_softmax_is_accurate_to_a_few_ulps(halves):
    # Logits on a grid of 0.5 so that x − max is exact in float32: any error is then the
    # algorithm's (a rounded difference d would add |d|·eps of relative error, for any method).
    x = (halves / 2).astype(np.float32)
    reference = np.exp(x.astype(np.float64) - x.max(axis=-1, keepdims=True))
    reference /= reference.sum(axis=-1, keepdims=True)
    result = F.softmax(x).data
    assert result.dtype == np.float32
    eps = np.finfo(np.float32).eps
    # relative error of a few ulps wherever the value is a normal float32
    np.testing.assert_allclose(result, reference, rtol=4 * eps,
                               atol=np.finfo(np.float32).tiny)
    shifted = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
    log_reference = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(F.log_softmax(x).data, log_reference, rtol=4 * eps, atol=4 * eps)


def test_integer_inputs_are_promoted_before_any_arithmetic():
    x = np.array([200, 0], dtype=np.uint8)  # −x would wrap in uint8
    expected = np.exp([0.0, -200.0]) / (1.0 + np.exp(-200.0))
    np.testing.assert_allclose(F.softmax(x).data, expected, rtol=1e-15)
    assert F.softmax(x).dtype == np.float64
    np.testing.assert_allclose(F.logsumexp(x).data, 200.0 + np.log1p(np.exp(-200.0)),
                               rtol=1e-15)
    np.testing.assert_allclose(F.sigmoid(np.array([-3], dtype=np.int8)).data,
                               np_sigmoid(np.array([-3.0])), rtol=1e-15)
    np.testing.assert_allclose(F.silu(np.array([True])).data, np_sigmoid(np.array([1.0])))


@pytest.mark.parametrize(("shape", "axis"), [((0, 3), -1), ((3, 0), -1), ((3, 0), 0),
                                             ((0,), 0), ((2, 0, 3), 1)])
def test_empty_tensors_follow_numpys_conventions(shape, axis):
    x = np.ones(shape)
    t = Tensor(x, requires_grad=True)
    # logsumexp: ln of an empty sum is −∞ (NumPy's np.log(np.sum(np.exp(x))), PyTorch's too)
    expected = np.full(np.sum(x, axis=axis).shape, -np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = F.logsumexp(t, axis=axis)
        np.testing.assert_array_equal(result.data, expected)
        result.sum().backward()
        assert t.grad.shape == shape
        for function in (F.softmax, F.log_softmax):
            assert function(x, axis=axis).shape == shape


def test_logsumexp_of_rows_of_minus_infinity_is_minus_infinity_without_a_warning():
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    t = Tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = F.logsumexp(t)
        result.sum().backward()
    np.testing.assert_array_equal(result.data, [-np.inf, 0.0])
    np.testing.assert_array_equal(t.grad.data[1], [1.0, 0.0])


def test_dim_and_axis_spellings():
    x = np.arange(6.0).reshape(2, 3)
    for function in (F.softmax, F.log_softmax, F.logsumexp):
        np.testing.assert_array_equal(function(x, 0).data, function(x, axis=0).data)
        np.testing.assert_array_equal(function(x, dim=0).data, function(x, axis=0).data)
        with pytest.raises(TypeError, match="pass axis= or dim=, not both"):
            function(x, dim=0, axis=0)
    np.testing.assert_allclose(F.logsumexp(x, dim=1, keepdim=True).data,
                               np.log(np.exp(x).sum(axis=1, keepdims=True)), rtol=1e-15)
    np.testing.assert_allclose(F.logsumexp(x, axis=None).data, np.log(np.exp(x).sum()),
                               rtol=1e-15)
    assert nn.Softmax(dim=0)(x).shape == (2, 3)
    np.testing.assert_allclose(nn.Softmax(dim=0)(x).data.sum(axis=0), [1, 1, 1])
    np.testing.assert_allclose(nn.Softmax(axis=0)(x).data.sum(axis=0), [1, 1, 1])
    np.testing.assert_allclose(np.exp(nn.LogSoftmax(0)(x).data).sum(axis=0), [1, 1, 1])


def test_softmax_family_of_a_zero_dimensional_tensor():
    # a 0-d tensor has one implicit axis (PyTorch): softmax 1, log_softmax 0, logsumexp x
    t = Tensor(3.0, requires_grad=True)
    assert F.softmax(t).item() == 1.0
    assert F.log_softmax(t, 0).item() == 0.0
    result = F.logsumexp(t)
    result.backward()
    assert result.item() == 3.0 and t.grad.item() == 1.0
