"""Array helpers shared by the primitive table and the Tensor: dtype policy, conversion, axes
and broadcasting.

Nothing here knows about tensors or graphs.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

# float64 by default: it is NumPy's own default (``np.asarray([1.0])``), so a Tensor and the
# array it was made from agree, and gradient checks by finite differences need its precision.
# Pass ``dtype=np.float32`` (or call ``set_default_dtype``) for speed. The setting is
# process-wide (like NumPy's own print options and PyTorch's default dtype), unlike grad mode,
# which is per thread: set it once at start-up, not per thread.
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
    """Set the dtype given to Python floats and new parameters (float32 or float64).

    Process-wide, as in NumPy and PyTorch: every thread sees the same default.
    """
    global _default_dtype
    dtype = parse_dtype(dtype, "set_default_dtype")
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def is_float_dtype(dtype: np.dtype) -> bool:
    return dtype in FLOAT_DTYPES


def check_tensor_dtype(dtype: np.dtype, caller: str) -> np.dtype:
    """The dtypes a Tensor may hold: floating, signed/unsigned integer and bool (native order)."""
    if dtype.kind not in "fiub":
        raise TypeError(
            f"{caller}: unsupported dtype {dtype} for a Tensor: use a floating, integer or bool "
            "dtype (object, string and complex arrays are not supported)"
        )
    if not dtype.isnative:
        dtype = dtype.newbyteorder("=")
    if dtype.kind == "f" and dtype not in FLOAT_DTYPES:
        raise TypeError(f"{caller}: unsupported dtype {dtype}: use float16, float32 or float64")
    return dtype


def as_data_array(value: Any, dtype: Any = None, copy: bool = False) -> np.ndarray:
    """Turn ``value`` into an ndarray a Tensor may hold, or raise a clear error.

    Allowed kinds: floating, signed/unsigned integer and bool, in the machine's byte order.
    Python floats (and lists of them) take the default dtype rather than NumPy's float64, so
    ``set_default_dtype`` works. A cast that cannot represent the values (NaN or 1e30 to an
    integer dtype, −1 to uint8) is an error, never a wrapped number.
    """
    if dtype is not None:
        dtype = check_tensor_dtype(parse_dtype(dtype, "Tensor"), "Tensor")
        if isinstance(value, (list, tuple)) and _infers_object(value):
            # np.array([None, 1], dtype=float) would silently turn None into NaN
            raise TypeError(
                "cannot make a Tensor from a sequence holding non-numeric items (e.g. None)"
            )
    elif _is_python_float_data(value):
        dtype = _default_dtype
    try:
        array = np.array(value, copy=copy or None)
    except (TypeError, ValueError) as error:
        raise TypeError(f"cannot make a Tensor from {type(value).__name__}: {error}") from None
    except OverflowError:
        raise OverflowError(
            f"cannot make a Tensor from {value!r}: an integer does not fit in int64 (pass "
            "dtype=np.float64, or a smaller number)"
        ) from None
    check_tensor_dtype(array.dtype, "Tensor")  # strings, objects: refused before any cast
    target = check_tensor_dtype(array.dtype if dtype is None else dtype, "Tensor")
    if array.dtype != target:
        array = checked_cast(array, target, "Tensor")
    return array


def checked_cast(array: np.ndarray, dtype: np.dtype, caller: str) -> np.ndarray:
    """``array.astype(dtype)``, refusing values the target cannot hold.

    NumPy wraps −1 to 255 in uint8 and turns NaN or 1e30 into an arbitrary integer; a Tensor
    never silently holds such a number.
    """
    if dtype.kind in "iu" and array.dtype.kind in "fiub" and array.size:
        info = np.iinfo(dtype)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(
                f"{caller}: cannot cast {array.dtype} values with NaN or inf to {dtype}"
            )
        low, high = array.min(), array.max()
        if array.dtype.kind != "b" and (low < info.min or high > info.max):
            raise OverflowError(
                f"{caller}: values in [{low}, {high}] do not fit in {dtype} "
                f"(range [{info.min}, {info.max}]); cast to a wider dtype"
            )
    return array.astype(dtype)


def scalar_array(value: bool | int | float, partner: np.dtype | None, caller: str
                 ) -> np.ndarray:
    """A Python number as a 0-d array, taking its partner's dtype where it can (as NumPy ≥ 2
    treats Python scalars), so ``float32_tensor * 2.0`` stays float32.

    A number the partner's integer dtype cannot hold (``int8_tensor * 300``) is a clear error.
    """
    if partner is None:
        dtype = _default_dtype if isinstance(value, float) else None
    else:
        dtype = np.result_type(partner, value)
    try:
        return np.asarray(value, dtype=dtype)
    except OverflowError:
        raise OverflowError(
            f"{caller}: the Python number {value!r} does not fit in "
            f"{dtype if dtype is not None else 'int64'}, the dtype of its partner tensor; "
            "cast the tensor to a wider dtype first (t.astype(np.int64) or np.float64)"
        ) from None


def _infers_object(value: Any) -> bool:
    """True when NumPy would make ``value`` an object (or unconvertible) array."""
    try:
        return np.asarray(value).dtype.kind == "O"
    except (TypeError, ValueError, OverflowError):
        return True


def _is_python_float_data(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)):
        # Decide from NumPy's own inference, which handles nesting; np.asarray is cheap here.
        try:
            return np.asarray(value).dtype == np.float64
        except (TypeError, ValueError, OverflowError):
            return False
    return False


def shape_tuple(op: str, shape: Any) -> tuple[int, ...]:
    """A shape given as an int or a sequence of ints, as a tuple; anything else is a TypeError
    naming ``op`` (NumPy accepts neither floats nor None in a shape)."""
    parts = (shape,) if isinstance(shape, (int, np.integer)) else shape
    try:
        items = tuple(parts)
    except TypeError:
        raise TypeError(f"{op}: a shape must be an int or a sequence of ints, got "
                        f"{type(shape).__name__}") from None
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise TypeError(f"{op}: a shape must be an int or a sequence of ints, got {shape!r}")
    return tuple(int(item) for item in items)


# ---------------------------------------------------------------------------------------------
# Axes.
# ---------------------------------------------------------------------------------------------
def normalize_axis(op: str, axis: Any, ndim: int) -> int | tuple[int, ...] | None:
    """Check ``axis`` (None, an int or a sequence of ints) against ``ndim``.

    Returns ``None``, an int or a tuple of ints in ``[0, ndim)``. A 0-d array has one
    implicit axis, as in PyTorch: ``axis=0`` or ``-1`` there reduces over nothing (None).
    """
    if axis is None:
        return None
    single = not isinstance(axis, (tuple, list))
    axes = (axis,) if single else tuple(axis)
    checked = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(
                f"{op}: axis {a} is out of range for a {ndim}-d tensor "
                f"(valid: {-max(ndim, 1)} to {max(ndim, 1) - 1})"
            )
        checked.append(operator.index(a) % ndim if ndim else 0)
    if ndim == 0:
        return None
    if len(set(checked)) != len(checked):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return checked[0] if single else tuple(checked)


def axes_of(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    """A normalised ``axis`` as a tuple of axes (every axis for None)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    return tuple(int(a) % ndim for a in axes) if ndim else ()


def torch_names(function: Callable[..., Any]) -> Callable[..., Any]:
    """Let ``function`` also accept PyTorch's ``dim=`` and ``keepdim=`` for ``axis=`` and
    ``keepdims=``."""

    @functools.wraps(function)
    def accepting_torch_names(*args: Any, **kwargs: Any) -> Any:
        if "dim" in kwargs or "keepdim" in kwargs:
            for torch_name, numpy_name in (("dim", "axis"), ("keepdim", "keepdims")):
                if torch_name in kwargs:
                    if numpy_name in kwargs:
                        raise TypeError(f"{function.__name__}: pass {numpy_name}= or "
                                        f"{torch_name}=, not both")
                    kwargs[numpy_name] = kwargs.pop(torch_name)
        return function(*args, **kwargs)

    return accepting_torch_names


def reduced_shape(shape: tuple[int, ...], axis: Any, keepdims: bool) -> tuple[int, ...]:
    """Shape of a reduction over ``axis`` (a normalised axis)."""
    axes = axes_of(axis, len(shape))
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


# ---------------------------------------------------------------------------------------------
# Broadcasting.
# ---------------------------------------------------------------------------------------------
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
