"""Your own differentiable op: a NumPy forward and your hand-derived derivative rules.

``custom_op`` makes a primitive of the same kind as those in :mod:`micrograd_nd.primitives`,
but kept out of the built-in table: defining one twice (a notebook cell run again) is fine,
and a user op never collides with a library one. The result is an ordinary differentiable
function, so ``gradcheck``, ``gradgradcheck`` and the Hypothesis strategies check it like any
op of the library.

    def softplus_forward(x):
        return np.logaddexp(0.0, x)

    def softplus_vjp(xp, g, out, x):
        return g / (1.0 + np.exp(-x))      # ∂/∂x log(1 + eˣ) = sigmoid(x)

    softplus = mg.custom_op(softplus_forward, softplus_vjp)
    mg.gradcheck(softplus, [np.linspace(-3, 3, 7)])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .primitives import Primitive
from .tensor import ArrayLike, Tensor, apply, as_tensor

__all__ = ["custom_op"]


def custom_op(
    forward: Callable[..., np.ndarray],
    *vjps: Callable[..., Any] | None,
    name: str | None = None,
    keeps_zero: bool = False,
) -> Callable[..., Tensor]:
    """A differentiable function made of ``forward`` and one rule per input.

    ``forward(*arrays, **params)`` computes the value with NumPy. Each rule has the table's
    signature, ``rule(xp, g, out, *inputs, **params)``, and returns ∂L/∂input given
    g = ∂L/∂out (at the input's shape, or at the broadcast output shape: it is summed back).
    Write the rule with NumPy functions: in an ordinary backward pass they run on arrays, and
    under ``create_graph=True`` on tensors, so your rule is differentiated again. ``None``
    marks an input the op is not differentiable in. ``keeps_zero=True`` makes a zero upstream
    gradient stay zero where your rule gives NaN (for rules with infinite derivatives).
    """
    if not callable(forward):
        raise TypeError(f"custom_op: forward must be callable, got {type(forward).__name__}")
    for position, rule in enumerate(vjps):
        if rule is not None and not callable(rule):
            raise TypeError(f"custom_op: rule {position} must be callable or None, "
                            f"got {type(rule).__name__}")
    if not vjps:
        raise TypeError("custom_op: give one derivative rule per input (None for an input "
                        "the op is not differentiable in)")
    op_name = name or getattr(forward, "__name__", "custom_op")
    checked = tuple(None if rule is None else _checked_rule(rule, op_name, position)
                    for position, rule in enumerate(vjps))
    primitive = Primitive(op_name, _checked_forward(forward, op_name), checked, None,
                          keeps_zero=keeps_zero)

    def op(*inputs: ArrayLike, **params: Any) -> Tensor:
        if len(inputs) != len(vjps):
            raise TypeError(f"{op_name}: takes {len(vjps)} tensor input(s) (one per rule), "
                            f"got {len(inputs)}")
        return apply(primitive, *(as_tensor(x, None, op_name) for x in inputs), **params)

    op.__name__ = op.__qualname__ = op_name
    op.__doc__ = forward.__doc__
    op.primitive = primitive  # type: ignore[attr-defined]
    return op


def _checked_forward(forward: Callable[..., Any], name: str) -> Callable[..., np.ndarray]:
    def run(*arrays: np.ndarray, **params: Any) -> np.ndarray:
        value = np.asarray(forward(*arrays, **params))
        if value.dtype.kind not in "fiub":
            raise TypeError(f"the forward returned a {value.dtype} array; return floating "
                            "(or integer/bool) values")  # apply() puts the op's name first
        return value
    return run


def _checked_rule(rule: Callable[..., Any], name: str, position: int) -> Callable[..., Any]:
    """``rule`` with its result checked: a gradient of a numeric kind, never None."""
    def run(xp: Any, g: Any, out: Any, *inputs: Any, **params: Any) -> Any:
        grad = rule(xp, g, out, *inputs, **params)
        if grad is None:
            raise TypeError(f"{name}: the rule for input {position} returned None; return "
                            "∂L/∂input (zeros if the input does not matter)")
        shape = np.shape(grad)
        if shape not in (tuple(inputs[position].shape), tuple(out.shape)):
            raise ValueError(
                f"{name}: the rule for input {position} returned shape {shape}; a rule returns "
                f"∂L/∂input at the input's shape {tuple(inputs[position].shape)} or at the "
                f"output's shape {tuple(out.shape)} (which is summed down to the input's)"
            )
        if isinstance(grad, Tensor) or isinstance(g, Tensor):
            return grad if isinstance(grad, Tensor) else as_tensor(grad, None, name)
        grad = np.asarray(grad)
        if grad.dtype.kind not in "fiub":
            raise TypeError(f"{name}: the rule for input {position} returned a {grad.dtype} "
                            "array")
        return grad
    return run
