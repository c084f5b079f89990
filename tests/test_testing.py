"""The shipped Hypothesis strategies keep their promises."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from micrograd_nd import Tensor
from micrograd_nd.testing import arrays, broadcastable_shapes, really_broadcasts, shapes, tensors


@given(st.integers(2, 4).flatmap(lambda n: st.tuples(st.just(n), broadcastable_shapes(n))))
def test_broadcastable_shapes_broadcast_and_really_pair_one_with_more(drawn):
    count, shape_list = drawn
    assert len(shape_list) == count
    full = np.broadcast_shapes(*shape_list)  # raises if they do not broadcast
    assert really_broadcasts(list(shape_list))
    # Some operand is missing an axis, or has size 1 where the result is larger.
    assert any(
        len(s) < len(full)
        or any(a == 1 < b for a, b in zip(s, full[len(full) - len(s):], strict=True))
        for s in shape_list
    )


def test_really_broadcasts_on_known_pairs():
    assert really_broadcasts([(3, 1), (1, 4)])
    assert really_broadcasts([(), (2,)])
    assert not really_broadcasts([(2, 3), (2, 3)])
    assert not really_broadcasts([(1, 1), (1,)])


@given(arrays(shapes(0, 3), min_value=-2.0, max_value=3.0, min_magnitude=0.5))
def test_arrays_respect_bounds_and_magnitude(array):
    assert array.dtype == np.float64
    assert np.all((array >= -2.0) & (array <= 3.0))
    assert np.all(np.abs(array) >= 0.5)


@given(arrays((5,), dtype=np.float32))
def test_arrays_of_float32_are_finite_float32(array):
    assert array.dtype == np.float32
    assert np.all(np.isfinite(array))


@given(tensors(shapes(1, 2), requires_grad=True))
def test_tensors_wrap_arrays(tensor):
    assert isinstance(tensor, Tensor)
    assert tensor.requires_grad and tensor.ndim in (1, 2)
