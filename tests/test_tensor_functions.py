"""clip/clamp, var, std, argmax/argmin, flatten: values against NumPy, gradients against
central differences and closed forms, PyTorch's edge conventions. (squeeze and unsqueeze are
the core's ``squeeze``/``expand_dims``, tested with the ops.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from micrograd_nd import Tensor, gradcheck
from micrograd_nd import functional as F

TIGHT = {"atol": 1e-8, "rtol": 1e-6}
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
values = st.floats(-5.0, 5.0, allow_nan=False)


@st.composite
def array_and_axis(draw, min_side=1):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=4))
    x = draw(hnp.arrays(np.float64, shape, elements=values))
    axis = draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)))
    return x, axis


# ---- clip -------------------------------------------------------------------------------------
@given(hnp.arrays(np.float64, shapes, elements=values))
def test_clip_values_and_inclusive_gradient(x):
    low, high = -1.0, 2.0
    np.testing.assert_array_equal(F.clip(x, low, high).data, np.clip(x, low, high))
    np.testing.assert_array_equal(F.clamp(x, min=low).data, np.maximum(x, low))
    np.testing.assert_array_equal(F.clip(x, max=high).data, np.minimum(x, high))
    t = Tensor(x, requires_grad=True)
    F.clip(t, low, high).sum().backward()
    np.testing.assert_array_equal(t.grad.data, ((x >= low) & (x <= high)).astype(float))


def test_clip_at_the_bounds_passes_the_gradient_and_keeps_nan():
    t = Tensor(np.array([-1.0, 2.0, 0.5, -3.0, 4.0, np.nan]), requires_grad=True)
    out = F.clip(t, -1.0, 2.0)
    out.sum().backward()
    np.testing.assert_array_equal(out.data[:5], [-1.0, 2.0, 0.5, -1.0, 2.0])
    assert np.isnan(out.data[5])
    np.testing.assert_array_equal(t.grad.data[:5], [1.0, 1.0, 1.0, 0.0, 0.0])


def test_clip_with_tensor_bounds_differentiates_the_bounds():
    x = np.array([0.0, 3.0, -3.0])
    low, high = np.array([-1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0])
    assert gradcheck(lambda a, lo, hi: F.clip(a, lo, hi), [x, low, high], **TIGHT)
    assert F.clip(np.array([0.0, 5.0]), 3.0, 1.0).data.tolist() == [1.0, 1.0]  # min > max


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="clip: give min, max or both"):
        F.clip(np.ones(2))


# ---- var and std ------------------------------------------------------------------------------
@pytest.mark.parametrize("correction", [0, 1, 2.5])
@given(case=array_and_axis(min_side=4), keepdim=st.booleans())
def test_var_std_match_numpy(correction, case, keepdim):
    x, axis = case
    expected = np.var(x, axis=axis, ddof=correction, keepdims=keepdim)
    np.testing.assert_allclose(F.var(x, axis, correction=correction, keepdim=keepdim).data,
                               expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(F.std(x, dim=axis, correction=correction, keepdims=keepdim).data,
                               np.sqrt(expected), rtol=1e-12, atol=1e-14)


@given(case=array_and_axis(min_side=2))
def test_var_gradient(case):
    x, axis = case
    assert gradcheck(lambda t: F.var(t, axis), [x], **TIGHT)
    # closed form: ∂var/∂x_i = 2(x_i − x̄)/(n − 1)
    t = Tensor(x, requires_grad=True)
    F.var(t, axis).sum().backward()
    n = x.size if axis is None else x.shape[axis]
    centred = x - x.mean(axis=axis, keepdims=True)
    np.testing.assert_allclose(t.grad.data, 2 * centred / (n - 1), rtol=1e-12, atol=1e-14)


def test_var_spellings_and_unbiased():
    x = np.arange(6.0).reshape(2, 3)
    assert F.var(x).item() == pytest.approx(np.var(x, ddof=1), rel=1e-15)
    assert F.var(x, unbiased=False).item() == pytest.approx(np.var(x), rel=1e-15)
    np.testing.assert_allclose(F.var(x, 1, unbiased=True).data, np.var(x, axis=1, ddof=1))
    np.testing.assert_allclose(F.var(x, axis=(0, 1)).data, np.var(x, ddof=1))
    with pytest.raises(TypeError, match="var: pass correction= or unbiased=, not both"):
        F.var(x, correction=0, unbiased=True)
    with pytest.raises(TypeError, match="var: pass keepdims= or keepdim=, not both"):
        F.var(x, keepdim=True, keepdims=True)


def test_var_without_degrees_of_freedom_raises_instead_of_returning_inf_or_nan():
    with pytest.raises(ValueError, match=r"var: correction=1 leaves no degrees of freedom for 1 "
                                         r"element\(s\) per reduction"):
        F.var(np.ones((3, 1)), dim=1)
    with pytest.raises(ValueError, match="std: correction=1 leaves no degrees of freedom"):
        F.std(np.ones(1))
    assert F.var(np.ones((3, 1)), dim=1, correction=0).data.tolist() == [0.0, 0.0, 0.0]


def test_std_of_a_constant_has_a_nan_gradient_like_pytorch():
    t = Tensor(np.ones(3), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        F.std(t).backward()
    assert np.all(np.isnan(t.grad.data))


# ---- argmax and argmin ------------------------------------------------------------------------
@given(case=array_and_axis(), keepdim=st.booleans())
def test_argmax_argmin_match_numpy(case, keepdim):
    x, axis = case
    for function, reference in ((F.argmax, np.argmax), (F.argmin, np.argmin)):
        result = function(Tensor(x, requires_grad=True), axis, keepdim)
        np.testing.assert_array_equal(result.data, reference(x, axis=axis, keepdims=keepdim))
        assert result.dtype == np.int64 and not result.requires_grad


def test_argmax_conventions():
    x = np.array([[1.0, 3.0, 3.0], [np.nan, 0.0, 5.0]])
    np.testing.assert_array_equal(F.argmax(x, dim=1).data, [1, 0])  # first tie; NaN is max
    np.testing.assert_array_equal(F.argmin(x, axis=1).data, [0, 0])  # NaN is min too
    assert F.argmax(x).item() == 3  # flattened
    with pytest.raises(ValueError, match=r"argmax: zero-size tensor of shape \(0, 2\)"):
        F.argmax(np.ones((0, 2)), 1)
    with pytest.raises(TypeError, match="argmin: dim must be an int or None"):
        F.argmin(x, (0, 1))
    with pytest.raises(ValueError, match="argmax: axis 2 is out of range"):
        F.argmax(x, 2)


# ---- flatten ------------------------------------------------------------------------------------
def test_flatten_between_two_axes():
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(F.flatten(x).data, x.reshape(-1))
    assert F.flatten(x, 1).shape == (2, 12)
    assert F.flatten(x, 0, 1).shape == (6, 4)
    assert F.flatten(x, -2, -1).shape == (2, 12)
    assert F.flatten(x, 1, 1).shape == (2, 3, 4)
    assert F.flatten(Tensor(5.0)).shape == (1,)
    with pytest.raises(ValueError, match="flatten: start_dim 2 comes after end_dim 1"):
        F.flatten(x, 2, 1)
    with pytest.raises(ValueError, match="flatten: end_dim 3 is out of range for a 3-d tensor"):
        F.flatten(x, 0, 3)
    with pytest.raises(TypeError, match="flatten: start_dim must be an int"):
        F.flatten(x, 0.5)
    assert gradcheck(lambda t: F.flatten(t, 1) * 2.0, [x[0]], **TIGHT)
