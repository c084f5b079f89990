"""Tensor constructors with PyTorch's names: ``zeros ones full randn rand arange linspace eye
zeros_like ones_like``, and :func:`manual_seed` for the random ones.

Each takes ``dtype=`` and ``requires_grad=``. Floating results default to the library's
default dtype (:func:`micrograd_nd.set_default_dtype`); ``full`` and ``arange`` infer an
integer or bool dtype from integer or bool arguments, as PyTorch does. Random draws are made
in float64 from a Generator (``generator=``: a Generator, an int seed, or None for the
default one that :func:`manual_seed` reseeds) and then cast, so one seed gives the same
numbers, up to rounding, in every dtype.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._arrays import as_data_array, get_default_dtype, parse_dtype
from ._rng import RNGLike, as_generator, manual_seed  # re-exported: the seed of randn and rand
from .tensor import ArrayLike, Tensor

__all__ = [
    "arange",
    "eye",
    "full",
    "linspace",
    "manual_seed",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "zeros",
    "zeros_like",
]

Size = int | Sequence[int]


def _size(op: str, size: tuple[Any, ...]) -> tuple[int, ...]:
    """``zeros(2, 3)``, ``zeros((2, 3))`` and ``zeros([2, 3])`` all mean the shape (2, 3)."""
    dims = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0 for d in dims):
        raise ValueError(f"{op}: size must be non-negative ints, got {tuple(dims)!r}")
    return tuple(int(d) for d in dims)


def _dtype(op: str, dtype: Any, inferred: np.dtype | None = None) -> np.dtype:
    if dtype is None:
        return get_default_dtype() if inferred is None else inferred
    chosen = parse_dtype(dtype, op)
    if chosen.kind not in "fiub":
        raise TypeError(f"{op}: unsupported dtype {chosen} (use a floating, integer or bool "
                        "dtype)")
    return chosen


def _float_dtype(op: str, dtype: Any) -> np.dtype:
    chosen = _dtype(op, dtype)
    if chosen.kind != "f":
        raise TypeError(f"{op}: random values need a floating dtype, got {chosen}")
    return chosen


def _finite(op: str, name: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{op}: {name} must be finite, got {value!r}")
    return value


def _tensor(array: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(array, requires_grad=requires_grad, copy=False)


def zeros(*size: Size, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return _tensor(np.zeros(_size("zeros", size), _dtype("zeros", dtype)), requires_grad)


def ones(*size: Size, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    return _tensor(np.ones(_size("ones", size), _dtype("ones", dtype)), requires_grad)


def full(size: Size, fill_value: float | int | bool, *, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value (bool,
    int64, or the default float dtype) unless given."""
    if not isinstance(fill_value, (numbers.Real, np.bool_)):
        raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__}")
    if isinstance(fill_value, (bool, np.bool_)):
        inferred = np.dtype(np.bool_)
    elif isinstance(fill_value, numbers.Integral):
        inferred = np.dtype(np.int64)
    else:
        inferred = None
    shape = _size("full", size if isinstance(size, tuple) else (size,))
    chosen = _dtype("full", dtype, inferred)
    if chosen.kind in "iu" and not (isinstance(fill_value, numbers.Integral)
                                    or float(fill_value).is_integer()):
        raise ValueError(f"full: fill_value {fill_value!r} is not a whole number, so it does not "
                         f"fit dtype {chosen}")
    if chosen.kind in "iu" and not np.iinfo(chosen).min <= fill_value <= np.iinfo(chosen).max:
        raise ValueError(f"full: fill_value {fill_value!r} is out of range for dtype {chosen}")
    return _tensor(np.full(shape, fill_value, dtype=chosen), requires_grad)


def randn(*size: Size, generator: RNGLike = None, dtype: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Independent draws from the standard normal N(0, 1)."""
    chosen = _float_dtype("randn", dtype)
    draws = as_generator(generator).standard_normal(_size("randn", size))
    return _tensor(draws.astype(chosen), requires_grad)


def rand(*size: Size, generator: RNGLike = None, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Independent draws from the uniform distribution on [0, 1)."""
    chosen = _float_dtype("rand", dtype)
    draws = as_generator(generator).random(_size("rand", size))
    return _tensor(draws.astype(chosen), requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """start, start + step, … up to but excluding ``end``; ``arange(n)`` is 0 … n − 1.

    ⌈(end − start)/step⌉ elements. Integer arguments give int64, any float the default
    float dtype (unless ``dtype`` is given).
    """
    if end is None:
        start, end = 0, start
    values = [_finite("arange", name, v) for name, v in
              (("start", start), ("end", end), ("step", step))]
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    integral = all(isinstance(v, numbers.Integral) for v in values)
    chosen = _dtype("arange", dtype, np.dtype(np.int64) if integral else None)
    return _tensor(np.arange(start, end, step).astype(chosen), requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    _finite("linspace", "start", start)
    _finite("linspace", "end", end)
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    chosen = _dtype("linspace", dtype)
    return _tensor(np.linspace(start, end, int(steps)).astype(chosen), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None,
        requires_grad: bool = False) -> Tensor:
    """The n × m matrix (m = n by default) with ones on the diagonal and zeros elsewhere."""
    rows, columns = _size("eye", (n, n if m is None else m))
    return _tensor(np.eye(rows, columns, dtype=_dtype("eye", dtype)), requires_grad)


def _like(op: str, input: ArrayLike, dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
    array = input.data if isinstance(input, Tensor) else as_data_array(input)
    return array.shape, _dtype(op, dtype, array.dtype)


def zeros_like(input: ArrayLike, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of ``input``'s shape and dtype (or ``dtype``)."""
    shape, chosen = _like("zeros_like", input, dtype)
    return _tensor(np.zeros(shape, chosen), requires_grad)


def ones_like(input: ArrayLike, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of ``input``'s shape and dtype (or ``dtype``)."""
    shape, chosen = _like("ones_like", input, dtype)
    return _tensor(np.ones(shape, chosen), requires_grad)
