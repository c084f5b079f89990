"""The NumPy erf (forward of the erf primitive the core will register) against math.erf."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from micrograd_nd._special import erf


def _ulps(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.abs(got - expected) / np.spacing(np.abs(expected)).clip(min=5e-324)


def test_erf_is_within_two_ulps_of_math_erf_on_a_fine_grid():
    x = np.concatenate([np.linspace(-6.0, 6.0, 60001), np.geomspace(1e-300, 1.0, 2000),
                        np.nextafter(1.2, [0.0, 2.0])])
    expected = np.array([math.erf(v) for v in x])
    assert _ulps(erf(x), expected).max() <= 2


@given(st.floats(-30.0, 30.0, allow_nan=False))
def test_erf_matches_math_erf_anywhere(v):
    assert _ulps(erf(np.array([v])), np.array([math.erf(v)]))[0] <= 2


def test_erf_special_values_and_dtypes():
    got = erf(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 40.0]))
    np.testing.assert_array_equal(got[[0, 2, 3, 5]], [0.0, 1.0, -1.0, 1.0])
    assert np.signbit(got[1]) and np.isnan(got[4])
    assert erf(np.ones(2, np.float32)).dtype == np.float32
    assert erf(np.arange(3)).dtype == np.float64
    assert erf(np.float64(0.5)).shape == ()
