"""The Tensor API: construction, dtypes, attributes, repr, interop, grad modes, in-place rules.

Expected values come from NumPy computed directly or from closed-form derivatives.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import micrograd_nd as mg
from micrograd_nd import Tensor, enable_grad, is_grad_enabled, no_grad, set_grad_enabled

finite_floats = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@pytest.fixture
def restore_default_dtype():
    saved = mg.get_default_dtype()
    yield
    mg.set_default_dtype(saved)


# ---------------------------------------------------------------------------------------------
# Construction: copies and dtypes.
# ---------------------------------------------------------------------------------------------
def test_construction_copies_the_source_array():
    source = np.array([1.0, 2.0, 3.0])
    t = Tensor(source)
    source[0] = 100.0
    assert t.data[0] == 1.0
    assert not np.shares_memory(t.data, source)


def test_construction_from_a_tensor_copies_it():
    original = Tensor([1.0, 2.0])
    copy = Tensor(original)
    original.data[0] = 7.0
    assert copy.data[0] == 1.0


def test_tensor_function_copies_too():
    source = np.arange(4.0)
    t = mg.tensor(source, requires_grad=True)
    source[:] = -1
    np.testing.assert_array_equal(t.data, np.arange(4.0))


@pytest.mark.parametrize("data", [1.5, [1.0, 2.0], [[1.0], [2.5]], (0.5, 1.5)])
def test_python_floats_take_float64(data):
    t = Tensor(data)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.data, np.asarray(data, dtype=np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_float_arrays_keep_their_dtype(dtype):
    assert Tensor(np.ones(3, dtype=dtype)).dtype == dtype


@pytest.mark.parametrize("data", [3, [1, 2, 3], np.arange(4, dtype=np.int32), np.array([True])])
def test_integer_and_bool_data_is_allowed(data):
    t = Tensor(data)
    assert t.dtype == np.asarray(data).dtype
    assert not t.requires_grad


def test_explicit_dtype_is_used():
    assert Tensor([1, 2], dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize(
    "data",
    [
        np.array([1 + 2j, 3j]),
        np.array(["a", "b"]),
        np.array([object(), object()], dtype=object),
        [1.0, "x"],
        None,
    ],
    ids=["complex", "string", "object", "mixed-list", "None"],
)
def test_unsupported_data_raises_a_clear_type_error(data):
    with pytest.raises(TypeError, match="Tensor"):
        Tensor(data)


def test_ragged_list_raises_type_error():
    with pytest.raises(TypeError, match="cannot make a Tensor"):
        Tensor([[1.0, 2.0], [3.0]])


@pytest.mark.parametrize("data", [[1, 2], np.array([True, False]), 3])
def test_requires_grad_on_integer_or_bool_tensor_raises(data):
    with pytest.raises(TypeError, match="floating dtype"):
        Tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match="floating dtype"):
        Tensor(data).requires_grad_()


def test_set_default_dtype_affects_python_floats_only(restore_default_dtype):
    mg.set_default_dtype(np.float32)
    assert mg.get_default_dtype() == np.float32
    assert Tensor(1.0).dtype == np.float32
    assert Tensor([[1.0, 2.0]]).dtype == np.float32
    assert Tensor(np.ones(2)).dtype == np.float64  # arrays keep theirs
    assert Tensor([1, 2]).dtype == np.int64  # integers stay integers
    # repr shows the dtype when it is not the default
    assert "dtype" not in repr(Tensor([1.0]))
    assert "dtype=float64" in repr(Tensor(np.ones(1)))


@pytest.mark.parametrize("dtype", [np.int32, np.float16, "complex128"])
def test_set_default_dtype_rejects_other_dtypes(dtype, restore_default_dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        mg.set_default_dtype(dtype)
    assert mg.get_default_dtype() == np.float64


# ---------------------------------------------------------------------------------------------
# Attributes.
# ---------------------------------------------------------------------------------------------
@given(hnp.arrays(np.float64, small_shapes, elements=finite_floats))
def test_array_attributes_match_numpy(array):
    t = Tensor(array)
    assert t.shape == array.shape
    assert t.ndim == array.ndim
    assert t.dtype == array.dtype
    assert t.size == array.size
    np.testing.assert_array_equal(t.numpy(), array)
    np.testing.assert_array_equal(np.asarray(t), array)
    np.testing.assert_array_equal(t.T.data, array.T)
    assert t.tolist() == array.tolist()


def test_numpy_shares_data():
    t = Tensor([1.0, 2.0])
    assert np.shares_memory(t.numpy(), t.data)


def test_item():
    assert Tensor([[2.5]]).item() == 2.5
    assert isinstance(Tensor(3).item(), int)
    with pytest.raises(ValueError, match="single-element"):
        Tensor([1.0, 2.0]).item()


def test_float_and_int_conversions():
    assert float(Tensor(2.5)) == 2.5
    assert int(Tensor([7])) == 7


def test_transpose_property_is_differentiable():
    a = np.arange(6.0).reshape(2, 3)
    t = Tensor(a, requires_grad=True)
    weights = np.arange(6.0).reshape(3, 2) + 1
    (t.T * weights).sum().backward()
    np.testing.assert_array_equal(t.grad.data, weights.T)


def test_grad_has_the_leaf_shape_and_converts_to_an_array():
    t = Tensor(np.ones((2, 3)), requires_grad=True)
    (t * 2.0).sum().backward()
    assert isinstance(t.grad, Tensor)
    assert t.grad.shape == (2, 3)
    np.testing.assert_array_equal(np.asarray(t.grad), np.full((2, 3), 2.0))


def test_repr_is_readable():
    leaf = Tensor([1.5, -2.0], requires_grad=True)
    text = repr(leaf)
    assert text.startswith("Tensor(")
    assert "1.5" in text and "-2." in text
    assert "requires_grad=True" in text
    assert "dtype" not in text
    product = leaf * 2.0
    assert "grad_fn=<multiply>" in repr(product)
    assert "3." in repr(product)
    assert "dtype=float32" in repr(Tensor(np.array([1.0], dtype=np.float32)))
    assert "dtype" not in repr(Tensor([1, 2]))
    assert "True" in repr(Tensor([True]))


def test_grad_fn_and_is_leaf():
    leaf = Tensor([1.0], requires_grad=True)
    assert leaf.is_leaf and leaf.grad_fn is None
    out = leaf + 1.0
    assert not out.is_leaf and out.grad_fn == "add"


# ---------------------------------------------------------------------------------------------
# NumPy interop.
# ---------------------------------------------------------------------------------------------
def test_np_asarray_of_a_tensor_is_its_data():
    t = Tensor([1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(t), [1.0, 2.0])
    assert np.asarray(t, dtype=np.float32).dtype == np.float32


@given(
    hnp.arrays(np.float64, (3,), elements=st.floats(0.5, 3.0)),
    hnp.arrays(np.float64, (2, 3), elements=st.floats(-3.0, 3.0)),
)
def test_ndarray_operators_with_tensors_are_differentiable(x_value, array):
    # Forward: compare with NumPy; backward: closed-form derivatives summed over the broadcast.
    cases = [
        (lambda x: array + x, lambda x: array + x, np.full(3, 2.0)),
        (lambda x: array * x, lambda x: array * x, array.sum(axis=0)),
        (lambda x: array - x, lambda x: array - x, np.full(3, -2.0)),
        (lambda x: array / x, lambda x: array / x, (-array / x_value**2).sum(axis=0)),
        (lambda x: 2.0 * x, lambda x: 2.0 * x, np.full(3, 2.0)),
        (lambda x: x / 3, lambda x: x / 3, np.full(3, 1.0 / 3.0)),
        (lambda x: 1.0 - x, lambda x: 1.0 - x, np.full(3, -1.0)),
        (lambda x: 2.0 / x, lambda x: 2.0 / x, -2.0 / x_value**2),
        (lambda x: x**2, lambda x: x**2, 2 * x_value),
        (lambda x: 2.0**x, lambda x: 2.0**x, np.log(2.0) * 2.0**x_value),
        (lambda x: np.exp(x), np.exp, np.exp(x_value)),
        (lambda x: np.log(x), np.log, 1 / x_value),
        (lambda x: np.sqrt(x), np.sqrt, 0.5 / np.sqrt(x_value)),
        (lambda x: np.tanh(x), np.tanh, 1 - np.tanh(x_value) ** 2),
        (lambda x: np.square(x), np.square, 2 * x_value),
        (lambda x: np.negative(x), np.negative, -np.ones(3)),
        (lambda x: array @ x, lambda x: array @ x, array.sum(axis=0)),
    ]
    for tensor_fn, numpy_fn, expected_grad in cases:
        x = Tensor(x_value, requires_grad=True)
        out = tensor_fn(x)
        assert isinstance(out, Tensor)
        np.testing.assert_allclose(out.data, numpy_fn(x_value), rtol=1e-12)
        out.sum().backward()
        np.testing.assert_allclose(x.grad.data, expected_grad, rtol=1e-10, atol=1e-12)


def test_np_maximum_minimum_and_absolute_on_tensors():
    x_value = np.array([-2.0, 0.5, 3.0])
    x = Tensor(x_value, requires_grad=True)
    (np.maximum(x, 1.0) + np.minimum(x, 1.0) * 10.0 + np.absolute(x) * 100.0).sum().backward()
    expected = np.array([10.0, 10.0, 1.0]) + 100.0 * np.sign(x_value)
    np.testing.assert_array_equal(x.grad.data, expected)


@pytest.mark.parametrize(
    "operation",
    [lambda t: t * 2.0, lambda t: 2.0 * t, lambda t: t / 3, lambda t: t + 1, lambda t: 1.5 - t,
     lambda t: t**2.0, lambda t: np.multiply(t, 2.0), lambda t: mg.sqrt(t)],
)
def test_float32_with_python_scalar_stays_float32(operation):
    t = Tensor(np.array([1.0, 4.0], dtype=np.float32), requires_grad=True)
    out = operation(t)
    assert out.dtype == np.float32
    out.sum().backward()
    assert t.grad.dtype == np.float32


def test_float32_with_float64_array_promotes_like_numpy():
    t = Tensor(np.ones(2, dtype=np.float32))
    assert (t * np.ones(2)).dtype == np.float64


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda t: np.arcsinh(t), "numpy.arcsinh"),
        (lambda t: np.multiply.reduce(t), "numpy.multiply.reduce"),
        (lambda t: np.add(t, 1.0, out=np.empty(2)), "numpy.add"),
    ],
)
def test_unsupported_ufunc_raises_type_error_naming_it(call, name):
    with pytest.raises(TypeError, match=name.replace(".", r"\.")):
        call(Tensor([1.0, 2.0], requires_grad=True))


# ---------------------------------------------------------------------------------------------
# Comparisons.
# ---------------------------------------------------------------------------------------------
@given(
    hnp.arrays(np.float64, (4,), elements=st.integers(-3, 3).map(float)),
    hnp.arrays(np.float64, (4,), elements=st.integers(-3, 3).map(float)),
)
def test_comparisons_give_bool_tensors_without_grad(a, b):
    x = Tensor(a, requires_grad=True)
    y = Tensor(b, requires_grad=True)
    cases = [
        (x == y, a == b), (x != y, a != b), (x < y, a < b), (x <= y, a <= b),
        (x > y, a > b), (x >= y, a >= b), (x > 0.0, a > 0.0), (b < x, b < a),
        (mg.equal(x, b), a == b),
    ]
    for result, expected in cases:
        assert isinstance(result, Tensor)
        assert result.dtype == np.bool_
        assert not result.requires_grad
        assert result.is_leaf
        np.testing.assert_array_equal(result.data, expected)


def test_tensors_are_hashable_by_identity():
    a, b = Tensor([1.0]), Tensor([1.0])
    assert len({a, b}) == 2


# ---------------------------------------------------------------------------------------------
# __setitem__.
# ---------------------------------------------------------------------------------------------
def test_setitem_on_a_plain_tensor_writes_into_it():
    t = Tensor(np.zeros((2, 3)))
    t[0, 1] = 5.0
    t[1] = Tensor([1.0, 2.0, 3.0])
    t[Tensor(np.array([False, True])), 0] = -1.0
    np.testing.assert_array_equal(t.data, [[0.0, 5.0, 0.0], [-1.0, 2.0, 3.0]])


def test_setitem_on_a_leaf_that_requires_grad_raises_and_on_a_result_is_recorded():
    leaf = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place change of a leaf tensor that requires grad"):
        leaf[0] = 3.0
    np.testing.assert_array_equal(leaf.data, [1.0, 2.0])
    doubled = leaf * 2.0
    doubled[0] = 3.0  # as in PyTorch: recorded, so element 0 no longer depends on the leaf
    np.testing.assert_array_equal(doubled.data, [3.0, 4.0])
    doubled.sum().backward()
    np.testing.assert_array_equal(leaf.grad.data, [0.0, 2.0])


def test_assigning_into_data_under_no_grad_is_the_documented_escape():
    leaf = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        leaf.data[0] = 3.0
    np.testing.assert_array_equal(leaf.data, [3.0, 2.0])


def test_setitem_on_a_tensor_saved_for_backward_is_detected():
    w = Tensor([2.0], requires_grad=True)
    x = Tensor([3.0])
    y = w * x  # the multiply node keeps x for ∂y/∂w = x = 3
    x[0] = 100.0
    with pytest.raises(mg.InPlaceModificationError, match=r"'multiply'.*input 1"):
        y.backward(np.ones(1))


def test_data_assignment_on_a_saved_leaf_is_detected():
    w = Tensor([2.0], requires_grad=True)
    loss = (w * w).sum()
    w.data -= 0.5  # an optimiser step before backward: the saved value is gone
    with pytest.raises(mg.InPlaceModificationError, match="changed in place"):
        loss.backward()


def test_setitem_after_backward_is_fine():
    w = Tensor([2.0], requires_grad=True)
    x = Tensor([3.0])
    (w * x).sum().backward()
    x[0] = 100.0
    np.testing.assert_array_equal(w.grad.data, [3.0])


# ---------------------------------------------------------------------------------------------
# Grad modes.
# ---------------------------------------------------------------------------------------------
def test_no_grad_context_manager():
    x = Tensor([1.0], requires_grad=True)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2.0
    assert is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert (x * 2.0).requires_grad


def test_no_grad_as_decorator_and_re_entry():
    x = Tensor([1.0], requires_grad=True)
    seen = []

    @no_grad()
    def recursive(depth):
        seen.append(is_grad_enabled())
        result = x * 2.0
        if depth:
            recursive(depth - 1)
        return result

    assert not recursive(3).requires_grad
    assert seen == [False] * 4
    assert is_grad_enabled()

    # one instance used twice and nested in itself
    guard = no_grad()
    with guard:
        with guard:
            assert not is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    @no_grad()
    def failing():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        failing()
    assert is_grad_enabled()
    with pytest.raises(ZeroDivisionError), no_grad():
        raise ZeroDivisionError
    assert is_grad_enabled()
    with no_grad():
        with pytest.raises(ValueError), enable_grad():
            raise ValueError
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = Tensor([1.0], requires_grad=True)
    with no_grad():
        with enable_grad():
            assert is_grad_enabled()
            y = x * 3.0
        z = x * 3.0
    assert y.requires_grad and not z.requires_grad
    y.backward(np.ones(1))
    np.testing.assert_array_equal(x.grad.data, [3.0])


def test_enable_grad_as_decorator_and_set_grad_enabled():
    @enable_grad()
    def f(x):
        return x * 2.0

    x = Tensor([1.0], requires_grad=True)
    with no_grad():
        assert f(x).requires_grad
    with set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
        with set_grad_enabled(True):
            assert (x * 2.0).requires_grad
    assert is_grad_enabled()


# ---------------------------------------------------------------------------------------------
# detach and requires_grad_.
# ---------------------------------------------------------------------------------------------
def test_detach_shares_data_and_cuts_the_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    assert np.shares_memory(d.data, y.data)
    z = x * d  # d is a constant: ∂z/∂x = d = 2x
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_requires_grad_on_leaves_only():
    x = Tensor([1.0])
    assert x.requires_grad_() is x
    assert x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    y = Tensor([1.0], requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    new_leaf = y.detach().requires_grad_()
    assert new_leaf.requires_grad and new_leaf.is_leaf


# ---------------------------------------------------------------------------------------------
# bool, len, iteration.
# ---------------------------------------------------------------------------------------------
def test_bool():
    assert bool(Tensor([1.0]))
    assert not bool(Tensor(0.0))
    assert bool(Tensor([[True]]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor(np.zeros(0)))


def test_len():
    assert len(Tensor(np.zeros((4, 2)))) == 4
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))


def test_iteration_yields_differentiable_rows():
    data = np.arange(6.0).reshape(3, 2)
    x = Tensor(data, requires_grad=True)
    rows = list(x)
    assert len(rows) == 3
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(row.data, data[i])
    (rows[0] * 1.0 + rows[2] * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]])
    with pytest.raises(TypeError):
        iter(Tensor(1.0)).__next__()
