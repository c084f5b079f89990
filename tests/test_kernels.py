"""``_kernels.select``: the branch-free ``where`` must equal ``np.where`` bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from micrograd_nd._kernels import select
from micrograd_nd.backend import NumpyBackend

SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-310, -3.5]


def _values(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    values = rng.standard_normal(shape).astype(dtype)
    flat = values.reshape(-1)
    flat[: len(SPECIALS)] = np.asarray(SPECIALS).astype(dtype)
    return values


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("other", ["zero", "negzero", "scalar", "array", "python"])
@pytest.mark.parametrize("zero_first", [False, True])
def test_select_equals_np_where(dtype, other, zero_first):
    rng = np.random.default_rng(0)
    shape = (64, 80)  # above the size where the bitwise path starts
    condition = rng.random(shape) < 0.5
    x = _values(rng, shape, dtype)
    y = {
        "zero": np.zeros((), dtype), "negzero": np.asarray(-0.0, dtype),
        "scalar": np.asarray(-87.5, dtype), "array": _values(rng, shape, dtype)[::-1],
        "python": 0.0,
    }[other]
    args = (condition, y, x) if zero_first else (condition, x, y)
    assert _same_bits(select(*args), np.where(*args))


def test_select_broadcasts_and_handles_views():
    rng = np.random.default_rng(1)
    condition = rng.random((50, 1, 60)) < 0.3
    x = rng.standard_normal((60, 50)).astype(np.float32).T[:, None, :]  # non-contiguous view
    y = rng.standard_normal((1, 4, 1)).astype(np.float32)
    assert _same_bits(select(condition, x, y), np.where(condition, x, y))
    assert _same_bits(select(condition, x, 0.0), np.where(condition, x, 0.0))


def test_select_promotes_like_np_where():
    rng = np.random.default_rng(2)
    condition = rng.random(4096) < 0.5
    x32 = rng.standard_normal(4096).astype(np.float32)
    y64 = np.asarray(2.5)  # a float64 0-d array promotes, a Python float does not
    assert _same_bits(select(condition, x32, y64), np.where(condition, x32, y64))
    assert _same_bits(select(condition, x32, 2.5), np.where(condition, x32, 2.5))
    ints = rng.integers(0, 9, 4096)
    assert _same_bits(select(condition, ints, 0), np.where(condition, ints, 0))


def test_select_result_is_a_new_array():
    condition = np.arange(4096) % 3 == 0
    x = np.linspace(-1, 1, 4096)
    result = NumpyBackend.where(condition, x, 0.0)
    assert result.base is None and not np.shares_memory(result, x)
