"""Indexing follows NumPy's basic and advanced rules exactly, forward and backward.

Oracles: NumPy's own ``x[index]`` for the value, and ``np.add.at`` (NumPy's unbuffered
scatter-add, which accumulates repeated indices) for the gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import micrograd_nd as mg

SHAPE = (3, 4, 2)


def _part(draw: st.DrawFn, size: int) -> Any:
    """One index part for an axis of ``size``, in every form NumPy accepts."""
    kind = draw(st.sampled_from(
        ["int", "slice", "list", "tuple", "array", "bool", "empty", "negative-step", "none"]))
    integers = st.integers(-size, size - 1)
    if kind == "int":
        return draw(integers)
    if kind == "slice":
        return slice(draw(st.none() | integers), draw(st.none() | integers),
                     draw(st.sampled_from([None, 1, 2])))
    if kind == "negative-step":
        return slice(None, None, -draw(st.integers(1, 2)))
    if kind in ("list", "tuple", "array"):
        values = draw(st.lists(integers, min_size=1, max_size=4))  # repeats are common
        return {"list": values, "tuple": tuple(values), "array": np.asarray(values)}[kind]
    if kind == "bool":
        return np.asarray(draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    if kind == "empty":
        return []
    return None


@st.composite
def indices(draw: st.DrawFn) -> Any:
    count = draw(st.integers(1, 3))
    parts = [_part(draw, SHAPE[axis]) for axis in range(count)]
    parts = [p for p in parts if p is not None] + [None] * any(p is None for p in parts)
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), Ellipsis)
    return parts[0] if len(parts) == 1 and draw(st.booleans()) else tuple(parts)


def _numpy_result(x: np.ndarray, index: Any) -> np.ndarray | None:
    try:
        return np.asarray(x[index])
    except IndexError:
        return None


@given(index=indices(), data=st.data())
def test_getitem_value_and_gradient_follow_numpy(index, data):
    x = np.arange(np.prod(SHAPE), dtype=np.float64).reshape(SHAPE)
    expected = _numpy_result(x, index)
    t = mg.Tensor(x, requires_grad=True)
    if expected is None:  # NumPy refuses this index: so does micrograd_nd, with an IndexError
        with pytest.raises(IndexError, match="getitem"):
            t[index]
        return
    out = t[index]
    np.testing.assert_array_equal(out.data, expected)
    upstream = np.asarray(data.draw(st.lists(st.floats(-3, 3), min_size=expected.size,
                                              max_size=expected.size))).reshape(expected.shape)
    out.backward(upstream)
    oracle = np.zeros(SHAPE)
    np.add.at(oracle, index, upstream)  # repeated positions accumulate
    np.testing.assert_allclose(t.grad.data, oracle, rtol=0, atol=1e-12)


@given(index=indices())
def test_setitem_under_no_grad_follows_numpy(index):
    x = np.arange(np.prod(SHAPE), dtype=np.float64).reshape(SHAPE)
    expected = x.copy()
    try:
        expected[index] = -1.0
    except IndexError:
        return
    t = mg.Tensor(x)
    t[index] = -1.0
    np.testing.assert_array_equal(t.data, expected)


@given(index=indices(), data=st.data())
def test_recorded_setitem_routes_gradients_or_refuses_repeated_positions(index, data):
    """h[index] = v on a result: value as NumPy's; ∂/∂x is the upstream gradient off the
    index, ∂/∂v the upstream gradient at it. An index that selects a position twice (which
    write wins?) is refused; one that does not (``[3, 0]``) is fine."""
    x0 = np.arange(np.prod(SHAPE), dtype=np.float64).reshape(SHAPE)
    selected = _numpy_result(x0, index)
    if selected is None:
        return
    v0 = -1.0 - np.arange(selected.size, dtype=np.float64).reshape(selected.shape)
    hits = np.zeros(SHAPE)
    np.add.at(hits, index, 1.0)
    x, v = mg.Tensor(x0, requires_grad=True), mg.Tensor(v0, requires_grad=True)
    h = x * 1.0
    if hits.max(initial=0.0) > 1:
        with pytest.raises(RuntimeError, match="repeated positions"):
            h[index] = v
        return
    h[index] = v
    expected = x0.copy()
    expected[index] = v0
    np.testing.assert_array_equal(h.data, expected)
    upstream = np.asarray(data.draw(st.lists(st.floats(-3, 3), min_size=x0.size,
                                              max_size=x0.size))).reshape(SHAPE)
    h.backward(upstream)
    np.testing.assert_array_equal(x.grad.data, np.where(hits > 0, 0.0, upstream))
    np.testing.assert_array_equal(v.grad.data, upstream[index])


@pytest.mark.parametrize(
    ("index", "expected_grad"),
    [
        ((slice(None), (1, 1)), [[0, 2, 0], [0, 2, 0]]),  # a tuple inside: an integer array
        (((0, 0), slice(None)), [[2, 2, 2], [0, 0, 0]]),
        ([1, 1, 0], [[1, 1, 1], [2, 2, 2]]),
        ((np.array([0, 0]), np.array([2, 2])), [[0, 0, 2], [0, 0, 0]]),
        ((mg.Tensor(np.array([1, 1])),), [[0, 0, 0], [2, 2, 2]]),
    ],
)
def test_repeated_indices_accumulate(index, expected_grad):
    t = mg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    t[index].sum().backward()
    np.testing.assert_array_equal(t.grad.data, expected_grad)


def test_empty_index_lists_select_nothing():
    t = mg.Tensor([1.0, 2.0], requires_grad=True)
    out = t[[]]
    assert out.shape == (0,)
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.data, [0.0, 0.0])


def test_a_single_element_is_a_view_as_in_pytorch():
    t = mg.Tensor([1.0, 2.0, 3.0])
    element = t[1]
    element += 5.0
    np.testing.assert_array_equal(t.data, [1.0, 7.0, 3.0])


@pytest.mark.parametrize("index", [1.5, np.array([0.5]), "a", (0, 0, 0, 0)])
def test_invalid_indices_raise_index_errors_naming_getitem(index):
    with pytest.raises(IndexError, match="getitem"):
        mg.Tensor(np.ones((2, 2)))[index]
