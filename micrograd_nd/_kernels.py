"""NumPy kernels the primitive table uses: a branch-free select, scatter-add, and indices in
NumPy's own canonical form.

Nothing here knows about tensors, graphs or derivatives.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

__all__ = ["normalize_index", "scatter_add", "select"]


# ---------------------------------------------------------------------------------------------
# Indices.
# ---------------------------------------------------------------------------------------------
def normalize_index(index: Any) -> tuple[Any, ...]:
    """``index`` as NumPy reads it, written out: a tuple of ints, slices, ``None``,
    ``Ellipsis``, bools and integer/bool ndarrays.

    NumPy's rules: a tuple at the top level indexes several axes; any other sequence — a list,
    or a tuple *inside* the index — is an array of indices (``x[:, (1, 1)]`` picks column 1
    twice); an empty sequence is an empty integer array. An index of basic parts only gets a
    trailing ``...`` so that it always returns a view, even of a single element (as PyTorch's
    ``t[0]`` does), and writes through it reach the base.
    """
    parts = index if isinstance(index, tuple) else (index,)
    normalized = tuple(_normalize_part(part) for part in parts)
    if not any(p is Ellipsis or type(p) is np.ndarray for p in normalized):
        normalized += (Ellipsis,)
    return normalized


def _normalize_part(part: Any) -> Any:
    if part is None or part is Ellipsis or isinstance(part, (slice, bool, np.bool_)):
        return part
    if isinstance(part, (int, np.integer)):
        return operator.index(part)
    try:
        array = np.asarray(part) if not isinstance(part, np.ndarray) else part
    except ValueError as error:  # a ragged nested list
        raise IndexError(f"an index sequence must be rectangular: {error}") from None
    if array.size == 0 and array.dtype.kind not in "iub":
        array = array.astype(np.intp)  # [] and () are empty integer indices
    if array.dtype.kind not in "iub":
        raise IndexError(
            f"only integers, slices, None, ..., and integer or bool arrays are valid indices, "
            f"got an array of {array.dtype}"
        )
    if array.ndim == 0 and array.dtype.kind in "iu":
        return operator.index(array[()])
    return array


def can_repeat(index: tuple[Any, ...]) -> bool:
    """True when a normalised ``index`` may select one element more than once.

    Only integer arrays can: slices, integers and bool masks (whose nonzero positions are
    increasing) select each element at most once, however they are combined.
    """
    return any(type(p) is np.ndarray and p.dtype.kind in "iu" for p in index)


def repeats_a_position(index: tuple[Any, ...], shape: tuple[int, ...]) -> bool:
    """True when a normalised ``index`` into an array of ``shape`` selects some element twice
    (``[0, 0]``; not ``[3, 0]``). Checked on the flat positions it selects."""
    if not can_repeat(index):
        return False
    positions = np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape)[index].ravel()
    return np.unique(positions).size != positions.size


def scatter_add(values: np.ndarray, index: tuple[Any, ...], shape: tuple[int, ...]
                ) -> np.ndarray:
    """Zeros of ``shape`` with ``values`` added at a normalised ``index``; repeated indices
    accumulate (the adjoint of ``x[index]``)."""
    result = np.zeros(shape, dtype=values.dtype)
    if can_repeat(index):
        np.add.at(result, index, values)
    else:
        result[index] = values  # each element is selected at most once: assignment suffices
    return result


# ---------------------------------------------------------------------------------------------
# Select: np.where without branches.
# ---------------------------------------------------------------------------------------------
# Below this many elements np.where is cheaper than the few ufunc calls of the bitwise select.
_SELECT_MIN_SIZE = 2048
_SAME_SIZE_INT = {2: np.dtype(np.int16), 4: np.dtype(np.int32), 8: np.dtype(np.int64)}


def _is_positive_zero(value: np.ndarray) -> bool:
    return value.ndim == 0 and value == 0 and not np.signbit(value)


def select(condition: Any, x: Any, y: Any) -> np.ndarray:
    """``np.where(condition, x, y)``, bit for bit, computed without branches for large floats.

    ``np.where`` picks element by element with a data-dependent branch, which costs ~8× a
    multiply when the condition is unpredictable (a ReLU mask). For float results this uses
    the bit patterns instead: with m all ones where ``condition`` holds and all zeros
    elsewhere, ``y ^ ((x ^ y) & m)`` is x where m is set and y elsewhere, exactly (NaN, ±∞
    and −0.0 included), and ``x & m`` when y is +0.0 (``y & ~m`` when x is). Other cases
    (integers, bools, small arrays) go to ``np.where``.
    """
    if (
        type(condition) is np.ndarray
        and condition.dtype == np.bool_
        and condition.size >= _SELECT_MIN_SIZE
    ):
        dtype = np.result_type(x, y)
        int_type = _SAME_SIZE_INT.get(dtype.itemsize)
        if dtype.kind == "f" and int_type is not None:
            x = np.asarray(x, dtype=dtype)
            y = np.asarray(y, dtype=dtype)
            result = np.empty(np.broadcast_shapes(condition.shape, x.shape, y.shape), dtype)
            bits = result.view(int_type)
            if _is_positive_zero(y):  # all ones where the condition holds
                np.bitwise_and(x.view(int_type), np.subtract(0, condition, dtype=int_type),
                               out=bits)
            elif _is_positive_zero(x):  # all ones where it does not
                np.bitwise_and(y.view(int_type), np.subtract(condition, 1, dtype=int_type),
                               out=bits)
            else:
                mask = np.subtract(0, condition, dtype=int_type)
                y_bits = y.view(int_type)
                np.bitwise_xor(x.view(int_type), y_bits, out=bits)
                np.bitwise_and(bits, mask, out=bits)
                np.bitwise_xor(bits, y_bits, out=bits)
            return result
    return np.where(condition, x, y)
