"""Tests for micrograd_nd.init: formulas, statistics, shapes, dtypes, seeding and the registry.

Statistical tolerances are derived from the distributions (standard errors of the mean and of
the standard deviation for N draws), at 6 standard errors, so they are not tuned to outputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd_nd import init

SHAPE = (400, 500)  # fan_in = 500, fan_out = 400, N = 200 000 draws
N = math.prod(SHAPE)
Z = 6.0  # standard errors allowed


def _check_uniform(w: np.ndarray, bound: float) -> None:
    """U(−a, a): mean 0, std a/√3; the sample std's standard error is √(μ₄ − σ⁴) / (2σ√N)."""
    sigma = bound / math.sqrt(3.0)
    mu4 = bound**4 / 5.0
    se_std = math.sqrt(mu4 - sigma**4) / (2.0 * sigma * math.sqrt(N))
    assert w.min() >= -bound and w.max() <= bound
    assert w.max() > bound * 0.999 and w.min() < -bound * 0.999  # the whole range is used
    assert abs(w.mean()) < Z * sigma / math.sqrt(N)
    assert abs(w.std() - sigma) < Z * se_std


def _check_normal(w: np.ndarray, sigma: float) -> None:
    """N(0, σ²): mean 0, std σ with standard error σ/√(2N); P(|w| < σ) = erf(1/√2)."""
    assert abs(w.mean()) < Z * sigma / math.sqrt(N)
    assert abs(w.std() - sigma) < Z * sigma / math.sqrt(2.0 * N)
    p = math.erf(1.0 / math.sqrt(2.0))
    assert abs(np.mean(np.abs(w) < sigma) - p) < Z * math.sqrt(p * (1 - p) / N)


def test_uniform_default_matches_source_derivation() -> None:
    w = init.uniform(SHAPE, rng=0)
    _check_uniform(w, 0.1)
    assert w.shape == SHAPE and w.dtype == np.float64


def test_uniform_custom_range() -> None:
    w = init.uniform(SHAPE, low=1.0, high=3.0, rng=1)
    _check_uniform(w - 2.0, 1.0)
    with pytest.raises(ValueError, match="low < high"):
        init.uniform(3, low=1.0, high=1.0)


@pytest.mark.parametrize("gain", [1.0, 5.0 / 3.0])
def test_xavier_uniform(gain: float) -> None:
    w = init.xavier_uniform(SHAPE, gain=gain, rng=2)
    _check_uniform(w, gain * math.sqrt(6.0 / (500 + 400)))


def test_xavier_normal() -> None:
    _check_normal(init.xavier_normal(SHAPE, rng=3), math.sqrt(2.0 / (500 + 400)))


@pytest.mark.parametrize(
    ("nonlinearity", "gain"),
    [("relu", math.sqrt(2.0)), ("tanh", 5.0 / 3.0), ("linear", 1.0), ("sigmoid", 1.0)],
)
def test_kaiming_uniform(nonlinearity: str, gain: float) -> None:
    w = init.kaiming_uniform(SHAPE, nonlinearity=nonlinearity, rng=4)
    _check_uniform(w, gain * math.sqrt(3.0 / 500))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal(mode: str) -> None:
    fan = 500 if mode == "fan_in" else 400
    _check_normal(init.kaiming_normal(SHAPE, mode=mode, rng=5), math.sqrt(2.0) / math.sqrt(fan))


def test_kaiming_leaky_relu_gain() -> None:
    w = init.kaiming_normal(SHAPE, nonlinearity="leaky_relu", negative_slope=0.2, rng=6)
    _check_normal(w, math.sqrt(2.0 / (1.0 + 0.2**2)) / math.sqrt(500))


def test_calculate_gain() -> None:
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2.0))
    assert init.calculate_gain("tanh") == pytest.approx(5.0 / 3.0)
    assert init.calculate_gain("leaky_relu", 0.0) == pytest.approx(math.sqrt(2.0))
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'; valid: identity"):
        init.calculate_gain("gelu")


def test_fan_in_and_fan_out() -> None:
    assert init.fan_in_and_fan_out((3, 7)) == (7, 3)  # (out, in) like torch.nn.Linear
    assert init.fan_in_and_fan_out((8, 3, 5, 5)) == (3 * 25, 8 * 25)  # conv: × kernel size
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.fan_in_and_fan_out((5,))
    with pytest.raises(ValueError, match="mode must be"):
        init.kaiming_uniform((2, 2), mode="fan_avg")
    with pytest.raises(ValueError, match="fan_in is 0"):
        init.kaiming_normal((3, 0))
    with pytest.raises(ValueError, match="fan_in \\+ fan_out is 0"):
        init.xavier_normal((0, 0))


def test_zeros() -> None:
    w = init.zeros((2, 3), rng=0, dtype=np.float32)
    assert w.shape == (2, 3) and w.dtype == np.float32 and not w.any()
    assert init.zeros(4).shape == (4,)


@given(
    name=st.sampled_from(sorted(init.INITIALIZERS)),
    shape=st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple),
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_initializer_shape_dtype_determinism(name, shape, dtype, seed) -> None:
    make = init.get_initializer(name)
    w = make(shape, rng=seed, dtype=dtype)
    assert w.shape == shape and w.dtype == dtype and np.isfinite(w).all()
    np.testing.assert_array_equal(w, make(shape, rng=seed, dtype=dtype))
    # drawn in float64 then cast: the dtype changes rounding, not the numbers
    np.testing.assert_array_equal(w, make(shape, rng=seed).astype(dtype))


def test_generator_continues_its_stream_and_global_state_untouched() -> None:
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    gen = np.random.default_rng(9)
    first, second = init.xavier_uniform((3, 4), rng=gen), init.xavier_uniform((3, 4), rng=gen)
    assert not np.array_equal(first, second)
    replay = np.random.default_rng(9)
    np.testing.assert_array_equal(first, init.xavier_uniform((3, 4), rng=replay))
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_argument_errors() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        init.uniform((2, 2), dtype=np.int32)
    with pytest.raises(ValueError, match="shape must be"):
        init.uniform((2, -1))
    with pytest.raises(TypeError, match="rng must be"):
        init.uniform((2, 2), rng=1.5)


def test_registry() -> None:
    assert init.get_initializer("kaiming_normal") is init.kaiming_normal
    assert set(init.INITIALIZERS) == {
        "zeros",
        "uniform",
        "xavier_uniform",
        "xavier_normal",
        "kaiming_uniform",
        "kaiming_normal",
    }
    with pytest.raises(ValueError, match=r"unknown initializer 'glorot'.*kaiming_normal.*zeros"):
        init.get_initializer("glorot")
    with pytest.raises(TypeError):
        init.INITIALIZERS["mine"] = init.zeros  # read-only


# ---- exact seeded values ------------------------------------------------------------------------
# The statistical checks above cannot see a 0.1 % error in a scale (e.g. fan + 1 for fan = 500);
# these compare every drawn number with the closed form applied to the same Generator's draws.
EXACT_SHAPE = (5, 7, 2)  # fan_in = 14, fan_out = 10


def _standard_normal(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(EXACT_SHAPE)


def _symmetric_uniform(seed: int, bound: float) -> np.ndarray:
    return -bound + 2.0 * bound * np.random.default_rng(seed).random(EXACT_SHAPE)


@pytest.mark.parametrize(
    ("nonlinearity", "mode", "slope", "fan", "gain"),
    [
        ("relu", "fan_in", 0.01, 14, math.sqrt(2.0)),
        ("relu", "fan_out", 0.01, 10, math.sqrt(2.0)),
        ("tanh", "fan_in", 0.01, 14, 5.0 / 3.0),
        ("leaky_relu", "fan_in", 0.2, 14, math.sqrt(2.0 / 1.04)),
        ("linear", "fan_out", 0.01, 10, 1.0),
    ],
)
def test_kaiming_exact_seeded_values(nonlinearity, mode, slope, fan, gain) -> None:
    normal = init.kaiming_normal(EXACT_SHAPE, nonlinearity=nonlinearity, mode=mode,
                                 negative_slope=slope, rng=11)
    np.testing.assert_allclose(normal, gain / math.sqrt(fan) * _standard_normal(11),
                               rtol=1e-14, atol=0)
    bound = gain * math.sqrt(3.0 / fan)
    uniform = init.kaiming_uniform(EXACT_SHAPE, nonlinearity=nonlinearity, mode=mode,
                                   negative_slope=slope, rng=12)
    np.testing.assert_allclose(uniform, _symmetric_uniform(12, bound), rtol=1e-14,
                               atol=4 * np.finfo(np.float64).eps * bound)


@pytest.mark.parametrize("gain", [1.0, 5.0 / 3.0])
def test_xavier_and_uniform_exact_seeded_values(gain: float) -> None:
    std = gain * math.sqrt(2.0 / (14 + 10))
    np.testing.assert_allclose(init.xavier_normal(EXACT_SHAPE, gain=gain, rng=13),
                               std * _standard_normal(13), rtol=1e-14, atol=0)
    bound = gain * math.sqrt(6.0 / (14 + 10))
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(init.xavier_uniform(EXACT_SHAPE, gain=gain, rng=14),
                               _symmetric_uniform(14, bound), rtol=1e-14, atol=4 * eps * bound)
    np.testing.assert_allclose(init.uniform(EXACT_SHAPE, rng=15), _symmetric_uniform(15, 0.1),
                               rtol=1e-14, atol=4 * eps * 0.1)
