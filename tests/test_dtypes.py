"""Integer, bool and unusual float inputs: results equal NumPy's, or a clear error.

Oracle: NumPy itself, on the same arrays. A value NumPy would wrap or garble in a conversion
(−1 to uint8, NaN to int64) is refused with an error instead.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import micrograd_nd as mg

INTEGER_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                  np.uint64, np.bool_]


def _extreme_arrays(dtype: type) -> st.SearchStrategy[np.ndarray]:
    """Arrays that include the dtype's extremes, where −max(−x) style shortcuts break."""
    if dtype is np.bool_:
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.sampled_from([info.min, info.max, 0, 1]) | st.integers(info.min, info.max)
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
                      elements=elements)


OPS = {
    "min": (lambda t: t.min(), lambda a: np.min(a)),
    "max": (lambda t: t.max(), lambda a: np.max(a)),
    "min-axis": (lambda t: mg.min(t, axis=0), lambda a: np.min(a, axis=0)),
    "max-axis": (lambda t: mg.max(t, axis=-1, keepdims=True),
                 lambda a: np.max(a, axis=-1, keepdims=True)),
    "minimum": (lambda t: mg.minimum(t, t[..., ::-1]), lambda a: np.minimum(a, a[..., ::-1])),
    "maximum": (lambda t: mg.maximum(t, t[..., ::-1]), lambda a: np.maximum(a, a[..., ::-1])),
    "sum": (lambda t: t.sum(axis=0), lambda a: np.sum(a, axis=0)),
    "where": (lambda t: mg.where(t == t[..., :1], t, t[..., ::-1]),
              lambda a: np.where(a == a[..., :1], a, a[..., ::-1])),
    "getitem": (lambda t: t[..., [0, 0]], lambda a: a[..., [0, 0]]),
    "concatenate": (lambda t: mg.concatenate([t, t]), lambda a: np.concatenate([a, a])),
    "comparison": (lambda t: t <= t[..., :1], lambda a: a <= a[..., :1]),
}


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("dtype", INTEGER_DTYPES, ids=lambda d: np.dtype(d).name)
def test_integer_and_bool_results_equal_numpy(op, dtype):
    ours, numpys = OPS[op]

    @given(_extreme_arrays(dtype))
    def check(array):
        expected = np.asarray(numpys(array))
        result = ours(mg.Tensor(array))
        assert result.dtype == expected.dtype
        np.testing.assert_array_equal(result.data, expected)

    check()


def test_abs_of_integers_and_the_most_negative_integer_match_numpy():
    array = np.array([-128, -5, 0, 7], dtype=np.int8)
    np.testing.assert_array_equal(mg.abs(mg.Tensor(array)).data, np.abs(array))


def test_mean_of_integers_is_a_float_like_numpy():
    array = np.array([1, 2, 4], dtype=np.int64)
    result = mg.mean(mg.Tensor(array))
    assert result.dtype == np.mean(array).dtype
    np.testing.assert_allclose(result.item(), np.mean(array))


@pytest.mark.parametrize("order", [">", "<"])
def test_arrays_of_either_byte_order_are_stored_natively_and_differentiate(order):
    array = np.array([1.0, 2.0, 3.0], dtype=f"{order}f8")
    t = mg.Tensor(array, requires_grad=True)
    assert t.dtype == np.float64 and t.dtype.isnative
    (t * t).sum().backward()
    np.testing.assert_array_equal(t.grad.data, [2.0, 4.0, 6.0])
    np.testing.assert_array_equal((mg.Tensor([1.0, 1.0, 1.0]) + array).data, array + 1.0)


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: mg.Tensor(-1, dtype=np.uint8), OverflowError,
         r"Tensor: values in \[-1, -1\] do not fit in uint8"),
        (lambda: mg.Tensor([300], dtype=np.int8), OverflowError, r"do not fit in int8"),
        (lambda: mg.Tensor(np.array([np.nan]), dtype=np.int64), ValueError,
         r"cannot cast float64 values with NaN or inf to int64"),
        (lambda: mg.Tensor([1.0, np.inf]).astype(np.int32), ValueError,
         r"astype: cannot cast float64 values with NaN or inf to int32"),
        (lambda: mg.Tensor(np.array([1], dtype=np.int8)) * 300, OverflowError,
         r"multiply: the Python number 300 does not fit in int8"),
        (lambda: mg.Tensor(np.array([1])) + 2 ** 70, OverflowError,
         r"add: the Python number 1180591620717411303424 does not fit in int64"),
        (lambda: mg.Tensor([1.0, 2.0]).sum(axis=1.5), TypeError,
         r"sum: axis must be an int or a tuple of ints, got 1.5"),
        (lambda: mg.Tensor(np.array([1.0], dtype=np.longdouble)), TypeError,
         r"unsupported dtype float128"),
        (lambda: mg.Tensor([1.0]).requires_grad_("yes"), TypeError,
         r"requires_grad must be True or False"),
    ],
)
def test_values_a_dtype_cannot_hold_raise_instead_of_wrapping(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_in_checks_elements_like_numpy():
    t = mg.Tensor([1.0, 2.0, 3.0])
    assert 2.0 in t and 5.0 not in t
    assert mg.Tensor([1.0]) in t
