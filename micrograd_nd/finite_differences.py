"""Central finite differences in float64: the numerical oracle every gradient is checked against.

NumPy only, so it stays independent of the autodiff engine it is used to check.

    ∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h        (error O(h²) + O(u·|f|/h))

Every input is first copied into a fresh C-ordered float64 array (:func:`float64_point`), and
each element is perturbed through its own index, so the result does not depend on the memory
layout of what the caller passed: transposed, sliced with steps, negative strides, 0-d or
broadcast views all give the same numbers as a contiguous copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_step",
    "float64_point",
    "numerical_gradient",
    "numerical_jacobian",
    "real_number",
]


def real_number(value: Any, what: str) -> float:
    """``value`` as a float, or a TypeError naming ``what`` (bools and strings are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__}")
    return float(value)


def _first_non_finite(array: np.ndarray) -> str:
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
    return f"{array[index]} at index {index}"


def float64_point(value: Any, what: str) -> np.ndarray:
    """A fresh C-ordered float64 copy of a real, finite array (or Tensor, or nested list).

    A Tensor that requires grad gives its values (what a checker needs; PyTorch users pass
    such tensors to gradcheck). Raises TypeError for bool, complex, string or object data and
    ValueError for NaN or ±inf: a derivative at a non-finite point means nothing, and finite
    differences would compare NaN with NaN.
    """
    if callable(getattr(value, "detach", None)) and getattr(value, "requires_grad", False):
        value = value.detach()  # duck-typed: this module stays NumPy-only
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} is not an array of numbers: {error}") from None
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"{what} must hold real numbers (a float or integer array), got dtype {array.dtype}"
        )
    point = np.array(array, dtype=np.float64, order="C", copy=True)
    if not np.all(np.isfinite(point)):
        raise ValueError(f"{what} has a non-finite value ({_first_non_finite(point)})")
    return point


def check_step(eps: Any, caller: str, points: Sequence[np.ndarray] = ()) -> float:
    """The central-difference step: a finite number > 0 that moves every element of ``points``.

    A step below the float64 spacing of an element (``x + eps == x``) would make the numeric
    derivative 0 there, a false failure; it is refused with the element named.
    """
    step = real_number(eps, f"{caller}: eps")
    if not (np.isfinite(step) and step > 0.0):
        raise ValueError(f"{caller}: eps must be a finite number > 0, got {step}")
    for position, point in enumerate(points):
        stuck = (point + step == point) | (point - step == point)
        if np.any(stuck):
            index = tuple(int(i) for i in np.argwhere(stuck)[0])
            raise ValueError(
                f"{caller}: eps={step:g} does not change input {position} at index {index} "
                f"(value {float(point[index])!r}): x ± eps == x in float64; use a larger eps"
            )
    return step


def _finite_output(
    fn: Callable[..., Any], points: Sequence[np.ndarray], shape: tuple[int, ...] | None,
    caller: str, where: str,
) -> np.ndarray:
    value = np.asarray(fn(*points), dtype=np.float64)
    if shape is not None and value.shape != shape:
        raise ValueError(
            f"{caller}: fn returned shape {value.shape} {where}, but shape {shape} at the point"
        )
    if not np.all(np.isfinite(value)):
        raise ValueError(
            f"{caller}: fn is not finite {where} ({_first_non_finite(value)}); central "
            "differences need a function that is finite within eps of the point"
        )
    return value


def numerical_jacobian(
    fn: Callable[..., Any],
    arrays: Sequence[Any],
    eps: float = 1e-6,
    *,
    caller: str = "numerical_jacobian",
) -> list[np.ndarray]:
    """Jacobians of ``fn(*arrays)`` with respect to each array, by central differences.

    Returns one array per input, of shape ``output.shape + input.shape``. ``fn`` is evaluated
    on fresh float64 copies of the perturbed point (see :func:`float64_point`): never on the
    caller's arrays, and a function that changes its arguments (``x /= 2``, ``x.sort()``)
    cannot change the next evaluation. The difference is divided by the step actually taken,
    ``(x + eps) − (x − eps)`` in float64, which differs from ``2·eps`` at large ``|x|``.
    """
    points = [float64_point(a, f"{caller}: input {i}") for i, a in enumerate(arrays)]
    step = check_step(eps, caller, points)

    def at(where: str, shape: tuple[int, ...] | None) -> np.ndarray:
        return _finite_output(fn, [point.copy() for point in points], shape, caller, where)

    out_shape = at("at the point", None).shape
    jacobians = []
    for position, point in enumerate(points):
        jacobian = np.zeros(out_shape + point.shape, dtype=np.float64)
        for index in np.ndindex(*point.shape):
            where = f"at input {position} index {index} ± eps"
            original = point[index]
            point[index] = plus = original + step
            f_plus = at(where, out_shape)
            point[index] = minus = original - step
            f_minus = at(where, out_shape)
            point[index] = original
            jacobian[(Ellipsis, *index)] = (f_plus - f_minus) / (plus - minus)
        jacobians.append(jacobian)
    return jacobians


def numerical_gradient(
    fn: Callable[..., Any],
    arrays: Sequence[Any],
    eps: float = 1e-6,
    *,
    caller: str = "numerical_gradient",
) -> list[np.ndarray]:
    """Gradients of a scalar-valued ``fn(*arrays)``, one per input and of that input's shape."""

    def scalar(*points: np.ndarray) -> np.ndarray:
        value = np.asarray(fn(*points), dtype=np.float64)
        if value.size != 1:
            raise ValueError(f"{caller}: fn must return a scalar, got shape {value.shape}")
        return value.reshape(())

    return numerical_jacobian(scalar, arrays, eps, caller=caller)
