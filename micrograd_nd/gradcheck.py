"""Check autodiff against central differences, element by element of the Jacobian, in float64.

``gradcheck`` builds the whole Jacobian ∂out/∂input twice, once row by row with vector-Jacobian
products (one backward per output element) and once by central differences
(:mod:`micrograd_nd.finite_differences`), and compares every element with
``|analytic − numeric| ≤ atol + rtol·|numeric|``. It is meant for small inputs.

Both Jacobians are taken at a C-ordered float64 copy of each input, so any layout (transposed,
strided, negative strides, broadcast views) is checked the same. Arguments that would make the
check meaningless are refused: non-finite or non-real inputs, a step ``eps`` that is not > 0
or does not move an element, negative or non-finite tolerances.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .agreement import check_tolerance
from .backward import grad
from .finite_differences import check_step, float64_point, numerical_jacobian
from .ops import concatenate, reshape
from .tensor import Tensor

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


class GradcheckError(AssertionError):
    """Analytic and numerical derivatives disagree; the message names the worst element."""


def _checked_arguments(
    caller: str, inputs: Sequence[Any], eps: Any, atol: Any, rtol: Any
) -> tuple[list[np.ndarray], float, float, float]:
    """Float64 copies of the inputs and the validated step and tolerances."""
    if isinstance(inputs, (np.ndarray, Tensor)) or not isinstance(inputs, Sequence):
        raise TypeError(
            f"{caller}: inputs must be a list or tuple of arrays (one per argument of fn), "
            f"got {type(inputs).__name__}"
        )
    if not inputs:
        raise ValueError(f"{caller}: needs at least one input")
    arrays = [float64_point(x, f"{caller}: input {i}") for i, x in enumerate(inputs)]
    step = check_step(eps, caller, arrays)
    return arrays, step, check_tolerance(atol, f"{caller}: atol"), check_tolerance(
        rtol, f"{caller}: rtol"
    )


def _checked_output(output: Any) -> Tensor:
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(output).__name__}")
    return output


def _evaluate(fn: Callable[..., Tensor], arrays: Sequence[np.ndarray]) -> np.ndarray:
    return _checked_output(fn(*[Tensor(a) for a in arrays])).data


def analytic_jacobian(fn: Callable[..., Tensor], arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """∂fn/∂input for each input, shape ``output.shape + input.shape``, by one VJP per row."""
    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    output = _checked_output(fn(*leaves))
    jacobians = [np.zeros(output.shape + a.shape) for a in arrays]
    if not output.requires_grad:  # the output does not depend on the inputs at all
        return jacobians
    for row in np.ndindex(*output.shape):
        seed = np.zeros(output.shape)
        seed[row] = 1.0
        row_grads = grad(output, leaves, grad_outputs=seed, retain_graph=True, allow_unused=True)
        for jacobian, row_grad in zip(jacobians, row_grads, strict=True):
            if row_grad is not None:
                jacobian[row] = row_grad.data
    return jacobians


def _worst_mismatch(
    analytic: list[np.ndarray], numeric: list[np.ndarray], atol: float, rtol: float
) -> tuple[float, str] | None:
    """The element that exceeds its tolerance the most, described, or None if all pass.

    The numeric Jacobian is finite (``numerical_jacobian`` refuses a function that is not), so a
    NaN or infinity here is in the analytic one, and fails.
    """
    worst: tuple[float, str] | None = None
    for position, (a, n) in enumerate(zip(analytic, numeric, strict=True)):
        if a.size == 0:
            continue
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            difference = np.abs(a - n)
            allowed = atol + rtol * np.abs(n)
            excess = np.where(difference <= allowed, 0.0, difference / allowed)
        excess = np.where(np.isnan(excess), np.inf, excess)
        index = np.unravel_index(int(np.argmax(excess)), excess.shape)
        if excess[index] > 0.0 and (worst is None or excess[index] > worst[0]):
            detail = (
                f"input {position}, Jacobian element {tuple(int(i) for i in index)} "
                f"(output index, then input index): analytic {float(a[index])!r}, "
                f"numeric {float(n[index])!r}, |difference| {difference[index]:.3e} "
                f"> atol {atol:g} + rtol {rtol:g}·|numeric|"
            )
            worst = (float(excess[index]), detail)
    return worst


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare every element of fn's Jacobian with central differences, in float64.

    ``fn`` takes one Tensor per input and returns a Tensor. The Jacobian's rows come from
    backward passes seeded with 1 at one output element; one more pass, seeded with a fixed
    vector v of mixed signs and sizes, is compared with vᵀ·(numeric Jacobian), so a rule that
    uses the upstream gradient other than linearly (ignores it, takes |g|) fails even where
    the seeds 0 and 1 cannot show it (``op(x).sum()``). An element passes when
    ``|analytic − numeric| ≤ atol + rtol·|numeric|``: ``atol`` is absolute, so elements
    smaller than it (a function scaled down, a Gaussian's tail) are hardly checked — scale
    the function up or lower ``atol`` there. Raises :class:`GradcheckError` naming
    the worst element (input, index, analytic and numeric values) on a mismatch, or returns
    False when ``raise_exception=False``.
    """
    arrays, eps, atol, rtol = _checked_arguments("gradcheck", inputs, eps, atol, rtol)
    analytic = analytic_jacobian(fn, arrays)
    numeric = numerical_jacobian(lambda *xs: _evaluate(fn, xs), arrays, eps, caller="gradcheck")
    worst = _worst_mismatch(analytic, numeric, atol, rtol)
    if worst is None:
        vector, products = _vector_jacobian_products(fn, arrays)
        if products is not None:
            expected = [np.tensordot(vector, n, axes=vector.ndim) for n in numeric]
            worst = _worst_mismatch(products, expected, atol, rtol)
            if worst is not None:
                worst = (worst[0], worst[1].replace("Jacobian element", "element of vᵀJ (v a "
                                                    "fixed vector of mixed signs)", 1))
    if worst is None:
        return True
    if raise_exception:
        dtype = _evaluate(fn, arrays).dtype
        hint = "" if dtype != np.float32 and dtype != np.float16 else (
            f" (fn returns {dtype}: its central differences at eps={eps:g} are mostly rounding "
            "noise; check the computation in float64, e.g. a model built with "
            "dtype=np.float64)")
        raise GradcheckError("gradcheck failed at " + worst[1] + hint)
    return False


def _vector_jacobian_products(fn: Callable[..., Tensor], arrays: Sequence[np.ndarray]
                              ) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """vᵀ·∂fn/∂input for each input, by one backward pass seeded with v (None if fn does not
    depend on its inputs). v is fixed: magnitudes in [0.5, 1.5], signs alternating."""
    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    output = _checked_output(fn(*leaves))
    magnitudes = np.random.default_rng(0).uniform(0.5, 1.5, output.shape)
    vector = np.where(np.arange(output.size).reshape(output.shape) % 2 == 0, -1.0, 1.0)
    vector = vector * magnitudes
    if not output.requires_grad:
        return vector, None
    grads = grad(output, leaves, grad_outputs=vector, allow_unused=True)
    return vector, [np.zeros(a.shape) if g is None else g.data
                    for g, a in zip(grads, arrays, strict=True)]


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check second derivatives: gradcheck of x ↦ vᵀ·∂fn/∂x computed with ``create_graph``.

    ``grad_outputs`` (v) defaults to a fixed random array of fn's output shape, so every
    output element takes part.
    """
    arrays, eps, atol, rtol = _checked_arguments("gradgradcheck", inputs, eps, atol, rtol)
    output_shape = _evaluate(fn, arrays).shape
    if grad_outputs is None:
        grad_outputs = np.random.default_rng(seed).standard_normal(output_shape)
    vector = float64_point(grad_outputs, "gradgradcheck: grad_outputs")
    if vector.shape != output_shape:
        raise ValueError(
            f"gradgradcheck: grad_outputs has shape {vector.shape} but fn's output has shape "
            f"{output_shape}"
        )

    def first_derivatives(*leaves: Tensor) -> Tensor:
        leaves = [leaf if leaf.requires_grad else leaf.detach().requires_grad_() for leaf in leaves]
        output = fn(*leaves)
        if not output.requires_grad:
            return Tensor(np.zeros(sum(leaf.size for leaf in leaves)))
        grads = grad(output, leaves, grad_outputs=vector, create_graph=True, allow_unused=True)
        flat = [
            reshape(g, (-1,)) if g is not None else Tensor(np.zeros(leaf.size))
            for g, leaf in zip(grads, leaves, strict=True)
        ]
        return concatenate(flat)

    return gradcheck(first_derivatives, arrays, eps, atol, rtol, raise_exception)
