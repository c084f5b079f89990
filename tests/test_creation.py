"""Constructors and manual_seed: values against NumPy, dtype rules (default float dtype,
PyTorch's inference for full/arange), requires_grad, seeded draws equal to NumPy's Generator."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd_nd as mg
from micrograd_nd import _rng, nn
from micrograd_nd import creation as C


@pytest.fixture
def float32_default():
    mg.set_default_dtype(np.float32)
    try:
        yield
    finally:
        mg.set_default_dtype(np.float64)


def test_zeros_ones_full_eye_values_and_shapes():
    for size in ((2, 3), ((2, 3),), ([2, 3],)):
        np.testing.assert_array_equal(C.zeros(*size).data, np.zeros((2, 3)))
        np.testing.assert_array_equal(C.ones(*size).data, np.ones((2, 3)))
    assert C.zeros().shape == () and C.ones(0).shape == (0,)
    np.testing.assert_array_equal(C.full((2, 2), 1.5).data, np.full((2, 2), 1.5))
    np.testing.assert_array_equal(C.full(3, 7).data, [7, 7, 7])
    np.testing.assert_array_equal(C.eye(3).data, np.eye(3))
    np.testing.assert_array_equal(C.eye(2, 4).data, np.eye(2, 4))


def test_dtype_rules(float32_default):
    for tensor in (C.zeros(2), C.ones(2), C.full(2, 0.5), C.randn(2), C.rand(2), C.eye(2),
                   C.linspace(0, 1, 3), C.arange(0.0, 1.0, 0.5)):
        assert tensor.dtype == np.float32
    assert C.full(2, 3).dtype == np.int64 and C.full(2, True).dtype == np.bool_
    assert C.arange(4).dtype == np.int64 and C.arange(0, 2, 0.5).dtype == np.float32
    assert C.zeros(2, dtype=np.int32).dtype == np.int32
    assert C.zeros_like(np.arange(3)).dtype == np.int64
    assert C.ones_like([1.0, 2.0]).dtype == np.float32  # Python floats: the default dtype
    assert C.zeros_like(mg.Tensor(np.ones(2, np.float16))).dtype == np.float16
    assert C.ones_like(np.ones((2, 1)), dtype=np.float64).dtype == np.float64


def test_requires_grad():
    w = C.randn(2, 3, generator=0, requires_grad=True)
    assert w.requires_grad and w.is_leaf
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.data, 2 * w.data, rtol=1e-15)
    for make in (lambda: C.zeros(2, dtype=np.int64, requires_grad=True),
                 lambda: C.arange(3, requires_grad=True)):
        with pytest.raises(TypeError, match="requires_grad=True needs a floating dtype"):
            make()


def test_arange_and_linspace_match_numpy():
    np.testing.assert_array_equal(C.arange(5).data, np.arange(5))
    np.testing.assert_array_equal(C.arange(2, 9, 3).data, np.arange(2, 9, 3))
    np.testing.assert_array_equal(C.arange(1.0, 0.0, -0.25).data, np.arange(1.0, 0.0, -0.25))
    np.testing.assert_array_equal(C.linspace(-1, 1, 5).data, np.linspace(-1, 1, 5))
    assert C.linspace(0, 1, 0).shape == (0,)


def test_like_constructors():
    source = mg.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    z, o = C.zeros_like(source), C.ones_like(source, requires_grad=True)
    assert z.shape == o.shape == (2, 3) and z.dtype == o.dtype == np.float32
    assert not z.requires_grad and o.requires_grad
    np.testing.assert_array_equal(o.data, 1.0)


def test_seeded_draws_are_numpys_generator_draws():
    np.testing.assert_array_equal(C.randn(3, 4, generator=5).data,
                                  np.random.default_rng(5).standard_normal((3, 4)))
    np.testing.assert_array_equal(C.rand(3, generator=5).data,
                                  np.random.default_rng(5).random(3))
    gen = np.random.default_rng(8)
    first, second = C.randn(2, generator=gen), C.randn(2, generator=gen)
    replay = np.random.default_rng(8)
    np.testing.assert_array_equal(first.data, replay.standard_normal(2))
    np.testing.assert_array_equal(second.data, replay.standard_normal(2))
    # drawn in float64 then cast
    np.testing.assert_array_equal(C.randn(4, generator=1, dtype=np.float32).data,
                                  np.random.default_rng(1).standard_normal(4).astype(np.float32))


def test_manual_seed_makes_the_default_generator_default_rng_of_the_seed():
    C.manual_seed(42)
    draws = C.randn(3).data
    np.testing.assert_array_equal(draws, np.random.default_rng(42).standard_normal(3))
    C.manual_seed(42)
    np.testing.assert_array_equal(C.randn(3).data, draws)
    # a Generator obtained before the reseed follows it (it is the same object)
    kept = _rng.default_generator()
    C.manual_seed(7)
    assert _rng.as_generator(None) is kept
    np.testing.assert_array_equal(kept.random(2), np.random.default_rng(7).random(2))


def test_layers_built_without_rng_are_reproducible_after_manual_seed():
    C.manual_seed(0)
    first = nn.MLP([4, 8, 3])
    C.manual_seed(0)
    second = nn.MLP([4, 8, 3])
    seeded = nn.MLP([4, 8, 3], rng=0)
    for name, value in first.state_dict().items():
        np.testing.assert_array_equal(value, second.state_dict()[name])
        np.testing.assert_array_equal(value, seeded.state_dict()[name])


def test_rng_state_round_trip():
    C.manual_seed(3)
    C.rand(5)
    state = _rng.get_rng_state()
    expected = C.rand(4).data
    C.rand(10)
    _rng.set_rng_state(state)
    np.testing.assert_array_equal(C.rand(4).data, expected)
    with pytest.raises(ValueError, match="set_rng_state: expected a state dict"):
        _rng.set_rng_state({"bit_generator": "MT19937"})


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: C.manual_seed(-1), ValueError, r"manual_seed: seed must be ≥ 0, got -1"),
        (lambda: C.manual_seed(1.5), TypeError, "manual_seed: seed must be an int, got float"),
        (lambda: C.manual_seed(True), TypeError, "manual_seed: seed must be an int"),
        (lambda: C.zeros(2, -1), ValueError, r"zeros: size must be non-negative ints, got "
                                             r"\(2, -1\)"),
        (lambda: C.ones(2.5), ValueError, "ones: size must be non-negative ints"),
        (lambda: C.randn(2, dtype=np.int32), TypeError,
         "randn: random values need a floating dtype, got int32"),
        (lambda: C.rand(2, generator="seed"), TypeError, "rng must be a numpy.random.Generator"),
        (lambda: C.full(2, 2.5, dtype=np.int64), ValueError,
         "full: fill_value 2.5 is not a whole number"),
        (lambda: C.full(2, 300, dtype=np.uint8), ValueError,
         "full: fill_value 300 is out of range for dtype uint8"),
        (lambda: C.full(2, "x"), TypeError, "full: fill_value must be a number"),
        (lambda: C.arange(0, 1, 0), ValueError, "arange: step must be nonzero"),
        (lambda: C.arange(0, float("inf")), ValueError, "arange: end must be finite"),
        (lambda: C.linspace(0, 1, -2), ValueError, "linspace: steps must be a non-negative int"),
        (lambda: C.eye(-1), ValueError, "eye: size must be non-negative ints"),
        (lambda: C.zeros(2, dtype="complex64"), TypeError, "zeros: unsupported dtype complex64"),
        (lambda: C.zeros(2, dtype=","), TypeError, "zeros: ',' is not a dtype"),
    ],
)
def test_constructor_arguments_are_checked(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
