"""Weight initialisers: NumPy arrays of a given shape, drawn from an explicit Generator.

Weights are laid out ``(out, in)`` like PyTorch's ``Linear`` (and the source derivation's
``W(l)`` of shape ``(n_l, n_{l-1})``), so ``fan_in = shape[1]`` and ``fan_out = shape[0]``;
trailing dimensions (e.g. a convolution kernel) multiply both.

Every initialiser takes ``(shape, *, rng=None, dtype=np.float64, ...)``, so code holding one
from :func:`get_initializer` can call it without knowing which it is. Values are drawn in
float64 and then cast, so one seed gives the same numbers (up to rounding) in every dtype.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from types import MappingProxyType
from typing import Literal

import numpy as np
from numpy.typing import DTypeLike

from micrograd_nd._rng import RNGLike, as_generator

from ._arrays import parse_dtype

__all__ = [
    "INITIALIZERS",
    "calculate_gain",
    "fan_in_and_fan_out",
    "get_initializer",
    "kaiming_normal",
    "kaiming_uniform",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

Shape = int | tuple[int, ...]
Initializer = Callable[..., np.ndarray]


def _shape(shape: Shape) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0 for d in dims):
        raise ValueError(f"shape must be a non-negative int or a tuple of them, got {shape!r}")
    return tuple(int(d) for d in dims)


def _float_dtype(dtype: DTypeLike) -> np.dtype:
    dt = parse_dtype(dtype, "init")
    if not np.issubdtype(dt, np.floating):
        raise TypeError(f"initialisers produce floating-point arrays, got dtype {dt}")
    return dt


def fan_in_and_fan_out(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out) = (shape[1]·k, shape[0]·k)`` with ``k = prod(shape[2:])``.

    Needs at least two dimensions: a 1-D array (a bias) has no fan-in/fan-out split.
    """
    dims = _shape(shape)
    if len(dims) < 2:
        raise ValueError(
            f"fan_in/fan_out need a weight shape of at least 2 dims (out, in, ...), got {dims}"
        )
    receptive_field = math.prod(dims[2:])
    return dims[1] * receptive_field, dims[0] * receptive_field


_Nonlinearity = Literal["linear", "identity", "sigmoid", "tanh", "relu", "leaky_relu"]


def calculate_gain(nonlinearity: _Nonlinearity, negative_slope: float = 0.01) -> float:
    """The factor that keeps activations' variance steady through ``nonlinearity``.

    linear/identity/sigmoid: 1; tanh: 5/3; relu: √2; leaky_relu: √(2 / (1 + negative_slope²)).
    """
    gains = {
        "linear": 1.0,
        "identity": 1.0,
        "sigmoid": 1.0,
        "tanh": 5.0 / 3.0,
        "relu": math.sqrt(2.0),
        "leaky_relu": math.sqrt(2.0 / (1.0 + negative_slope**2)),
    }
    if nonlinearity not in gains:
        raise ValueError(
            f"unknown nonlinearity {nonlinearity!r}; valid: {', '.join(sorted(gains))}"
        )
    return gains[nonlinearity]


def zeros(shape: Shape, *, rng: RNGLike = None, dtype: DTypeLike = np.float64) -> np.ndarray:
    """All zeros (the usual bias initialiser). ``rng`` is accepted for a uniform signature."""
    del rng  # deterministic; accepting it lets every initialiser be called the same way
    return np.zeros(_shape(shape), dtype=_float_dtype(dtype))


def uniform(
    shape: Shape,
    low: float = -0.1,
    high: float = 0.1,
    *,
    rng: RNGLike = None,
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """Independent draws from U(low, high); the digit-network article uses U(−0.1, 0.1).

    Mean ``(low + high) / 2``, standard deviation ``(high − low) / √12``.
    """
    if not low < high:
        raise ValueError(f"need low < high, got low={low}, high={high}")
    gen = as_generator(rng)
    dt = _float_dtype(dtype)
    return gen.uniform(low, high, size=_shape(shape)).astype(dt)


def _normal(shape: Shape, std: float, rng: RNGLike, dtype: DTypeLike) -> np.ndarray:
    gen = as_generator(rng)
    dt = _float_dtype(dtype)
    return (std * gen.standard_normal(_shape(shape))).astype(dt)


def _glorot_fan_sum(shape: Shape) -> int:
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if fan_in + fan_out == 0:
        raise ValueError(f"cannot initialise shape {_shape(shape)}: fan_in + fan_out is 0")
    return fan_in + fan_out


def xavier_uniform(
    shape: Shape, gain: float = 1.0, *, rng: RNGLike = None, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """Glorot uniform: U(−a, a) with ``a = gain · √(6 / (fan_in + fan_out))``.

    Its variance ``a² / 3 = gain² · 2 / (fan_in + fan_out)`` matches :func:`xavier_normal`.
    """
    bound = gain * math.sqrt(6.0 / _glorot_fan_sum(shape))
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def xavier_normal(
    shape: Shape, gain: float = 1.0, *, rng: RNGLike = None, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """Glorot normal: N(0, σ²) with ``σ = gain · √(2 / (fan_in + fan_out))``."""
    return _normal(shape, gain * math.sqrt(2.0 / _glorot_fan_sum(shape)), rng, dtype)


def _kaiming_fan(shape: Shape, mode: str) -> int:
    fan_in, fan_out = fan_in_and_fan_out(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"cannot initialise shape {_shape(shape)}: {mode} is 0")
    return fan


def kaiming_uniform(
    shape: Shape,
    nonlinearity: _Nonlinearity = "relu",
    mode: Literal["fan_in", "fan_out"] = "fan_in",
    negative_slope: float = 0.01,
    *,
    rng: RNGLike = None,
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """He uniform: U(−b, b) with ``b = gain · √(3 / fan)``, ``gain = calculate_gain(nonlinearity)``.

    ``fan`` is fan_in (default: preserves the forward variance) or fan_out (the backward one);
    the variance is ``gain² / fan``, e.g. ``2 / fan_in`` for relu.
    """
    fan = _kaiming_fan(shape, mode)
    bound = calculate_gain(nonlinearity, negative_slope) * math.sqrt(3.0 / fan)
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def kaiming_normal(
    shape: Shape,
    nonlinearity: _Nonlinearity = "relu",
    mode: Literal["fan_in", "fan_out"] = "fan_in",
    negative_slope: float = 0.01,
    *,
    rng: RNGLike = None,
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """He normal: N(0, σ²) with ``σ = gain / √fan``, ``gain = calculate_gain(nonlinearity)``."""
    fan = _kaiming_fan(shape, mode)
    std = calculate_gain(nonlinearity, negative_slope) / math.sqrt(fan)
    return _normal(shape, std, rng, dtype)


INITIALIZERS: MappingProxyType[str, Initializer] = MappingProxyType(
    {
        "zeros": zeros,
        "uniform": uniform,
        "xavier_uniform": xavier_uniform,
        "xavier_normal": xavier_normal,
        "kaiming_uniform": kaiming_uniform,
        "kaiming_normal": kaiming_normal,
    }
)
"""Read-only name → initialiser table; every entry is called as ``f(shape, rng=..., ...)``."""


def get_initializer(name: str) -> Initializer:
    """Look an initialiser up by name: ``get_initializer("xavier_uniform")(shape, rng=0)``."""
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(INITIALIZERS))
        raise ValueError(f"unknown initializer {name!r}; valid names: {valid}") from None
