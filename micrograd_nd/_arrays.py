"""Array helpers shared by the primitive table and the Tensor: dtype policy and broadcasting.

Nothing here knows about tensors or graphs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

# float64 by default: it is NumPy's own default (``np.asarray([1.0])``), so a Tensor and the
# array it was made from agree, and gradient checks by finite differences need its precision.
# Pass ``dtype=np.float32`` (or call ``set_default_dtype``) for speed.
_default_dtype = np.dtype(np.float64)

FLOAT_DTYPES = frozenset(np.dtype(t) for t in (np.float16, np.float32, np.float64))


def get_default_dtype() -> np.dtype:
    """The dtype given to Python floats, lists of them, and new parameters."""
    return _default_dtype


def parse_dtype(dtype: Any, caller: str) -> np.dtype:
    """``np.dtype(dtype)``, with any parsing failure (NumPy raises TypeError, ValueError or even
    SyntaxError for strings like ``","``) turned into a TypeError that names the caller."""
    try:
        return np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError) as error:
        raise TypeError(f"{caller}: {dtype!r} is not a dtype ({error})") from None


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype given to Python floats and new parameters (float32 or float64)."""
    global _default_dtype
    dtype = parse_dtype(dtype, "set_default_dtype")
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def is_float_dtype(dtype: np.dtype) -> bool:
    return dtype in FLOAT_DTYPES


def as_data_array(value: Any, dtype: Any = None, copy: bool = False) -> np.ndarray:
    """Turn ``value`` into an ndarray a Tensor may hold, or raise a clear TypeError.

    Allowed kinds: floating, signed/unsigned integer and bool. Python floats (and lists of
    them) take the default dtype rather than NumPy's float64, so ``set_default_dtype`` works.
    """
    if dtype is not None:
        dtype = parse_dtype(dtype, "Tensor")
        if isinstance(value, (list, tuple)) and _infers_object(value):
            # np.array([None, 1], dtype=float) would silently turn None into NaN
            raise TypeError(
                "cannot make a Tensor from a sequence holding non-numeric items (e.g. None)"
            )
    elif _is_python_float_data(value):
        dtype = _default_dtype
    try:
        array = np.array(value, dtype=dtype, copy=copy or None)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"cannot make a Tensor from {type(value).__name__}: {error}"
        ) from None
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"unsupported dtype {array.dtype} for a Tensor: use a floating, integer or bool "
            "array (object, string and complex arrays are not supported)"
        )
    return array


def _infers_object(value: Any) -> bool:
    """True when NumPy would make ``value`` an object (or unconvertible) array."""
    try:
        return np.asarray(value).dtype.kind == "O"
    except (TypeError, ValueError):
        return True


def _is_python_float_data(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)):
        # Decide from NumPy's own inference, which handles nesting; np.asarray is cheap here.
        try:
            return np.asarray(value).dtype == np.float64
        except (TypeError, ValueError):
            return False
    return False


@lru_cache(maxsize=4096)
def reduced_axes(from_shape: tuple[int, ...], to_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Axes of ``from_shape`` to sum over so the result broadcasts back to ``to_shape``.

    ``from_shape`` must be the broadcast of ``to_shape`` with something: leading extra axes are
    summed away, and so are axes where ``to_shape`` has size 1 but ``from_shape`` does not.
    """
    lead = len(from_shape) - len(to_shape)
    if lead < 0:
        raise ValueError(f"cannot reduce shape {from_shape} to the larger shape {to_shape}")
    axes = list(range(lead))
    for axis, size in enumerate(to_shape):
        full = from_shape[lead + axis]
        if size == 1 and full != 1:
            axes.append(lead + axis)
        elif size != full:
            raise ValueError(f"shape {to_shape} does not broadcast to {from_shape}")
    return tuple(axes)


def sum_to_shape(xp: Any, grad: Any, shape: tuple[int, ...]) -> Any:
    """Undo broadcasting: sum ``grad`` down to ``shape`` (the one place this is done).

    ``xp`` is the array namespace of the backward pass (plain arrays, or differentiable
    tensors when the backward pass is itself recorded), so this serves both.
    """
    if grad.shape == shape:
        return grad
    axes = reduced_axes(tuple(grad.shape), tuple(shape))
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
    if grad.shape != shape:  # drop the leading axes that keepdims kept
        grad = xp.reshape(grad, shape)
    return grad


@lru_cache(maxsize=4096)
def _broadcast_shapes(shapes: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    # Cached: a training loop meets the same few shape pairs on every step, and
    # np.broadcast_shapes costs microseconds (exceptions are not cached, so errors re-raise).
    return np.broadcast_shapes(*shapes)


def broadcast_shapes(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """``np.broadcast_shapes`` with an error that names the op and every shape."""
    try:
        return _broadcast_shapes(tuple(tuple(s) for s in shapes))
    except ValueError:
        listed = ", ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{op}: operand shapes {listed} cannot be broadcast together") from None
