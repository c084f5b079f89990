"""The shipped Hypothesis strategies keep their promises."""

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from micrograd_nd import Tensor
from micrograd_nd.testing import (
    arrays,
    broadcastable_shapes,
    network_problems,
    really_broadcasts,
    shapes,
    tensors,
)


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


# ---------------------------------------------------------------------------------------------
# Impossible bounds fail where the strategy is written, with the strategy and argument named.
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: arrays((3,), min_value=3, max_value=1), ValueError,
     r"arrays: min_value=3\.0 is larger than max_value=1\.0"),
    (lambda: arrays((3,), min_value=float("nan")), ValueError, r"arrays: min_value must be finite"),
    (lambda: arrays((3,), max_value=float("inf")), ValueError, r"arrays: max_value must be finite"),
    (lambda: arrays((3,), min_magnitude=-1), ValueError, r"arrays: min_magnitude must be ≥ 0"),
    (lambda: arrays((3,), min_value=-1, max_value=1, min_magnitude=2), ValueError,
     r"arrays: no value in \[-1\.0, 1\.0\] has magnitude ≥ 2\.0"),
    (lambda: arrays((3,), np.float16, max_value=1e6), ValueError,
     r"arrays: max_value=1000000\.0 is outside the range of float16"),
    (lambda: arrays((3,), np.int8, min_value=200, max_value=300), ValueError,
     r"arrays: no int8 value lies in \[200\.0, 300\.0\]"),
    (lambda: arrays((3,), np.float32, min_value=0.1, max_value=0.1), ValueError,
     r"arrays: no float32 value lies in"),
    (lambda: arrays((5,), bool, unique=True), ValueError, r"unique=True needs 5 distinct values"),
    (lambda: arrays((3,), complex), TypeError, r"arrays: unsupported dtype complex128"),
    (lambda: arrays((3,), "not a dtype"), TypeError, r"arrays: 'not a dtype' is not a dtype"),
    (lambda: arrays((-1, 2)), ValueError, r"arrays: shape\[0\] must be ≥ 0, got -1"),
    (lambda: arrays("3"), TypeError, r"arrays: shape must be a tuple of ints or a strategy"),
    (lambda: shapes(3, 1), ValueError, r"shapes: min_dims=3 is larger than max_dims=1"),
    (lambda: shapes(0, 40), ValueError, r"shapes: max_dims must be ≥ 0 and ≤ 32, got 40"),
    (lambda: shapes(min_side=5, max_side=2), ValueError, r"shapes: min_side=5 is larger"),
    (lambda: shapes(max_dims=2.5), TypeError, r"shapes: max_dims must be an int, got float"),
    (lambda: tensors((2,), np.int64, requires_grad=True), TypeError,
     r"tensors: requires_grad=True needs a float dtype"),
    (lambda: broadcastable_shapes(1), ValueError, r"num_shapes must be ≥ 2, got 1"),
    (lambda: broadcastable_shapes(max_side=1), ValueError, r"max_side must be ≥ 2, got 1"),
    (lambda: broadcastable_shapes(max_dims=0), ValueError, r"max_dims must be ≥ 1 and ≤ 32"),
    (lambda: network_problems(layer_sizes=[3]), ValueError, r"layer_sizes needs at least two"),
    (lambda: network_problems(layer_sizes=[3, 0]), ValueError,
     r"network_problems: layer_sizes\[1\] must be ≥ 1, got 0"),
    (lambda: network_problems(activations="gelu"), ValueError,
     r"network_problems: unknown activation 'gelu'"),
    (lambda: network_problems(activations=[]), ValueError, r"activations is empty"),
    (lambda: network_problems(output_activation="softmax"), ValueError,
     r"unknown output_activation 'softmax'"),
    (lambda: network_problems(batch_sizes=0), ValueError, r"batch_sizes must be ≥ 1, got 0"),
    (lambda: network_problems(dtype=np.int32), TypeError, r"dtype must be float16, float32"),
    (lambda: network_problems(targets="labels"), ValueError, r"unknown targets 'labels'"),
    (lambda: network_problems(weight_bound=0), ValueError, r"weight_bound must be > 0"),
])
def test_impossible_arguments_raise_at_once(make, error, message):
    with pytest.raises(error, match=message):
        make()


@given(arrays((4,), np.float32, min_value=0.1, max_value=0.3))
def test_float32_bounds_need_not_be_representable(array):
    exact = array.astype(np.float64)  # NumPy would compare float32 with 0.1 in float32
    assert np.all((exact >= 0.1) & (exact <= 0.3))


@given(arrays((6,), np.uint8))
def test_integer_bounds_are_clipped_to_the_dtype(array):
    assert array.dtype == np.uint8 and np.all(array <= 10)


# ---------------------------------------------------------------------------------------------
# network_problems
# ---------------------------------------------------------------------------------------------
@given(network_problems(activations=["tanh", "relu"], output_activation="sigmoid",
                        targets="binary"))
def test_network_problems_have_consistent_shapes(p):
    n_samples = p.X.shape[0]
    assert len(p.weights) == len(p.biases) == len(p.activations) == len(p.layer_sizes) - 1
    assert p.X.shape == (n_samples, p.layer_sizes[0]) and n_samples >= 1
    for layer, (w, b) in enumerate(zip(p.weights, p.biases, strict=True)):
        assert w.shape == (p.layer_sizes[layer + 1], p.layer_sizes[layer])
        assert b.shape == (p.layer_sizes[layer + 1],)
    assert set(p.activations[:-1]) <= {"tanh", "relu"} and p.activations[-1] == "sigmoid"
    assert p.y.shape == (n_samples, p.layer_sizes[-1]) and set(np.unique(p.y)) <= {0.0, 1.0}
    assert list(p.params) == [f"{kind}{layer}" for layer in range(1, len(p.weights) + 1)
                              for kind in "Wb"]
    assert p.args == (p.X, p.y)


@given(network_problems(layer_sizes=[3, 5, 2], batch_sizes=7, targets="classes",
                        dtype=np.float32, weight_bound=0.5))
def test_network_problems_with_fixed_sizes_and_classes(p):
    assert p.layer_sizes == (3, 5, 2) and p.X.shape == (7, 3) and p.X.dtype == np.float32
    assert p.y.shape == (7,) and p.y.dtype.kind == "i" and np.all((p.y >= 0) & (p.y < 2))
    assert all(np.all(np.abs(w) <= 0.5) for w in (*p.weights, *p.biases))


def test_network_problems_shrink_to_the_smallest_network_and_batch():
    """Whatever fails for every problem shrinks to one layer of width 1 and one sample."""
    smallest = find(network_problems(layer_sizes=st.lists(st.integers(1, 6), min_size=2,
                                                          max_size=5),
                                     batch_sizes=st.integers(1, 8)),
                    lambda p: True, settings=settings(database=None, derandomize=True))
    assert smallest.layer_sizes == (1, 1) and smallest.X.shape == (1, 1)
