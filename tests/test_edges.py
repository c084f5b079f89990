"""Edges of the engine's ops: kinks, 0-d tensors, empty tensors, non-finite values.

Oracles: closed forms, and NumPy/PyTorch's documented conventions (stated in each test).
"""

from __future__ import annotations

import numpy as np
import pytest

import micrograd_nd as mg


def test_the_exponent_derivative_of_a_power_is_zero_where_the_base_is_not_positive():
    """∂(xʸ)/∂y = xʸ ln x is taken as 0 for x ≤ 0 (docs/engine.md), even where xʸ is ∞."""
    x = mg.Tensor([0.0, 0.0, -2.0, 2.0], requires_grad=True)
    y = mg.Tensor([-1.0, 2.0, 2.0, 3.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        (x ** y).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [0.0, 0.0, 0.0, 8.0 * np.log(2.0)])
    np.testing.assert_array_equal(x.grad.data, [-np.inf, 0.0, -4.0, 12.0])


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
def test_a_zero_d_tensor_has_one_implicit_axis_as_in_pytorch(op, axis):
    t = mg.Tensor(2.5, requires_grad=True)
    out = getattr(mg, op)(t, axis=axis)
    assert out.shape == () and out.item() == 2.5
    out.backward()
    assert t.grad.item() == 1.0


@pytest.mark.parametrize("function", [mg.softmax, mg.log_softmax, mg.logsumexp])
def test_softmax_family_of_a_zero_d_tensor(function):
    value = function(mg.Tensor(1.0)).item()
    assert value == {"softmax": 1.0, "log_softmax": 0.0, "logsumexp": 1.0}[function.__name__]


def test_reductions_of_empty_tensors_follow_numpy():
    empty = mg.Tensor(np.zeros((0, 3)), requires_grad=True)
    assert mg.sum(empty).item() == 0.0
    np.testing.assert_array_equal(mg.sum(empty, axis=0).data, np.zeros(3))
    assert np.isnan(mg.mean(empty).item())  # NumPy and PyTorch: the mean of nothing is NaN
    assert np.isnan(mg.mean(empty, axis=0).data).all()
    np.testing.assert_array_equal(mg.max(empty, axis=1).data.shape, (0,))  # nothing reduced
    with pytest.raises(ValueError, match=r"max: a zero-size tensor of shape \(0, 3\) has no "
                                         r"maximum over axis 0"):
        mg.max(empty, axis=0)
    mg.mean(empty).backward()
    assert empty.grad.shape == (0, 3)


def test_nan_passes_through_abs_and_clip_and_maximum():
    t = mg.Tensor([np.nan, -1.0, 2.0])
    assert np.isnan(mg.abs(t).data[0])
    assert np.isnan(mg.clip(t, 0.0, 1.0).data[0])
    assert np.isnan(mg.maximum(t, 0.0).data[0])
    assert np.isnan(mg.minimum(t, 0.0).data[0])


def test_min_and_minimum_share_the_gradient_at_ties_like_max():
    x = mg.Tensor([1.0, 1.0, 3.0], requires_grad=True)
    mg.min(x).backward()
    np.testing.assert_array_equal(x.grad.data, [0.5, 0.5, 0.0])
    a, b = mg.Tensor([2.0], requires_grad=True), mg.Tensor([2.0], requires_grad=True)
    mg.minimum(a, b).backward()
    assert a.grad.item() == b.grad.item() == 0.5


def test_clip_gradient_is_one_inside_the_bounds_inclusive_as_in_pytorch():
    x = mg.Tensor([-1.0, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    mg.clip(x, 0.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_with_crossed_bounds_gives_numpys_value():
    values = np.array([-1.0, 0.5, 3.0])
    np.testing.assert_array_equal(mg.clip(mg.Tensor(values), 2.0, 1.0).data,
                                  np.clip(values, 2.0, 1.0))


def test_norm_gradient_at_the_zero_vector_is_zero_not_nan():
    x = mg.Tensor(np.zeros(3), requires_grad=True)
    mg.norm(x).backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros(3))


def test_transpose_method_with_two_axes_swaps_them_as_in_pytorch():
    t = mg.Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(t.transpose(0, 1).data, t.data.T)
    np.testing.assert_array_equal(t.transpose().data, t.data.T)
    cube = mg.Tensor(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_array_equal(cube.transpose(0, 2).data, np.swapaxes(cube.data, 0, 2))
    np.testing.assert_array_equal(cube.transpose((2, 0, 1)).data, cube.data.transpose(2, 0, 1))


def test_dim_and_keepdim_are_accepted_where_axis_and_keepdims_are():
    t = mg.Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(t.sum(dim=1, keepdim=True).data, [[3.0], [12.0]])
    np.testing.assert_array_equal(mg.mean(t, dim=0).data, [1.5, 2.5, 3.5])
    values, indices = t.max(dim=-1)  # PyTorch's spelling gets PyTorch's (values, indices)
    np.testing.assert_array_equal(values.data, [2.0, 5.0])
    np.testing.assert_array_equal(indices.data, [2, 2])
    np.testing.assert_array_equal(t.min(axis=0).data, [0.0, 1.0, 2.0])  # NumPy's: values
    with pytest.raises(TypeError, match="pass axis= or dim=, not both"):
        t.sum(axis=0, dim=0)


def test_maximum_and_max_share_the_gradient_at_ties():
    """Central differences at a tie measure the mean of the one-sided slopes: ½ each."""
    a, b = mg.Tensor([2.0, 1.0], requires_grad=True), mg.Tensor([2.0, 3.0], requires_grad=True)
    mg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 0.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 1.0])
    x = mg.Tensor([[3.0, 3.0, 1.0], [0.0, 5.0, 5.0]], requires_grad=True)
    mg.max(x, axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    mg.gradcheck(lambda t: mg.maximum(t, mg.Tensor([2.0])), [np.array([2.0])])


def test_reductions_follow_numpys_accumulators():
    """np.mean sums integers in float64 and float16 in float32; np.linalg.norm casts ints."""
    big = np.array([2 ** 62, 2 ** 62], np.int64)
    assert mg.mean(mg.Tensor(big)).item() == np.mean(big)
    half = np.array([6e4, 6e4], np.float16)
    assert mg.mean(mg.Tensor(half)).item() == np.mean(half) == np.float16(6e4)
    small = np.array([200, 200], np.int16)
    assert mg.norm(mg.Tensor(small)).item() == np.linalg.norm(small)
    signed = np.array([-128, 1], np.int8)
    assert mg.norm(mg.Tensor(signed), ord=1).item() == np.linalg.norm(signed, ord=1)
    values = np.random.default_rng(0).random(999).astype(np.float32)
    assert mg.mean(mg.Tensor(values)).item() == np.mean(values)  # sum / n, not sum·(1/n)


def test_abs_has_derivative_zero_at_zero_like_pytorch_and_central_differences():
    x = mg.Tensor([-2.0, 0.0, 3.0], requires_grad=True)
    mg.abs(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [-1.0, 0.0, 1.0])
    mg.gradcheck(mg.abs, [np.array([0.0])])


def test_abs_of_negative_zero_is_positive_zero_as_in_numpy():
    values = np.array([-0.0, 0.0, -1.5])
    result = mg.abs(mg.Tensor(values)).data
    np.testing.assert_array_equal(np.signbit(result), np.signbit(np.abs(values)))
    with np.errstate(divide="ignore"):
        assert mg.divide(1.0, mg.abs(mg.Tensor(-0.0))).item() == np.inf


def test_the_gradient_of_max_reaches_a_nan_that_is_the_maximum():
    x = mg.Tensor([1.0, np.nan, 3.0], requires_grad=True)
    mg.max(x).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 0.0])


def test_the_entropy_term_written_with_the_double_where_has_gradient_zero_at_zero():
    """docs/engine.md: a product with an infinite factor is not guarded; the double where is."""
    p = mg.Tensor([0.0, 0.5], requires_grad=True)
    mg.where(p > 0, p * mg.log(mg.where(p > 0, p, 1.0)), 0.0).sum().backward()
    np.testing.assert_allclose(p.grad.data, [0.0, np.log(0.5) + 1.0])
    q = mg.Tensor([0.0, 0.5], requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(mg.AnomalyError,
                                                                       match="'log' produced"), \
            mg.detect_anomaly():
        mg.where(q > 0, q * mg.log(q), 0.0).sum().backward()


def test_python_operators_numpy_code_uses():
    """&, |, ^, ~ on masks; // and round() without gradient; % with NumPy's sign convention."""
    x = mg.Tensor([5.3, -2.5, 7.0], requires_grad=True)
    np.testing.assert_array_equal(((x > 0) & (x < 6)).data, [True, False, False])
    np.testing.assert_array_equal(((x < 0) | (x > 6)).data, [False, True, True])
    np.testing.assert_array_equal(((x > 0) ^ (x > 6)).data, [True, False, False])
    np.testing.assert_array_equal((~(x > 0)).data, [False, True, False])
    np.testing.assert_array_equal((x // 2).data, np.floor_divide(x.data, 2))
    assert not (x // 2).requires_grad
    np.testing.assert_array_equal(round(x).data, np.round(x.data))
    y = mg.Tensor([2.0, 2.0, -3.0], requires_grad=True)
    r = x % y
    np.testing.assert_array_equal(r.data, np.remainder(x.data, y.data))
    r.sum().backward()
    np.testing.assert_array_equal(y.grad.data, -np.floor_divide(x.data, y.data))
    with pytest.raises(TypeError, match="bitwise_and: not defined for float64"):
        x & x


def test_max_and_min_with_dim_on_a_0d_tensor_use_its_one_implicit_axis():
    for reduce in (mg.max, mg.min):
        x = mg.Tensor(3.0, requires_grad=True)
        values, indices = reduce(x, dim=0)
        assert values.item() == 3.0 and indices.item() == 0
        values.backward()
        assert x.grad.item() == 1.0
        with pytest.raises(TypeError, match="dim= must be a single int"):
            reduce(mg.Tensor([1.0, 2.0]), dim=(0,))
