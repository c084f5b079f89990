"""Central finite differences in float64: the numerical oracle every gradient is checked against.

NumPy only, so it stays independent of the autodiff engine it is used to check.

    ∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h        (error O(h²))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["numerical_gradient", "numerical_jacobian"]


def numerical_jacobian(
    fn: Callable[..., np.ndarray],
    arrays: Sequence[np.ndarray],
    eps: float = 1e-6,
) -> list[np.ndarray]:
    """Jacobians of ``fn(*arrays)`` with respect to each array, by central differences.

    Returns one array per input, of shape ``output.shape + input.shape``. Every input is
    copied to float64 first; ``fn`` is evaluated on the perturbed copies, never on the caller's
    arrays.
    """
    points = [np.array(a, dtype=np.float64, copy=True) for a in arrays]
    out_shape = np.shape(fn(*points))
    jacobians = []
    for point in points:
        jac = np.zeros(out_shape + point.shape, dtype=np.float64)
        flat_point = point.reshape(-1)  # a view: perturbing it perturbs `point`
        jac_columns = jac.reshape(out_shape + (flat_point.size,))
        for i in range(flat_point.size):
            original = flat_point[i]
            flat_point[i] = original + eps
            f_plus = np.asarray(fn(*points), dtype=np.float64)
            flat_point[i] = original - eps
            f_minus = np.asarray(fn(*points), dtype=np.float64)
            flat_point[i] = original
            jac_columns[..., i] = (f_plus - f_minus) / (2.0 * eps)
        jacobians.append(jac)
    return jacobians


def numerical_gradient(
    fn: Callable[..., float],
    arrays: Sequence[np.ndarray],
    eps: float = 1e-6,
) -> list[np.ndarray]:
    """Gradients of a scalar-valued ``fn(*arrays)``, one per input and of that input's shape."""
    jacobians = numerical_jacobian(lambda *xs: np.asarray(fn(*xs)).reshape(()), arrays, eps)
    return jacobians
