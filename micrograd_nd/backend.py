"""The backend of the reverse pass: what derivative rules run on, and how their results are
turned into gradients.

A backend offers two things:

* the **array functions** a rule may call besides Python operators (``xp.exp``, ``xp.where``,
  ``xp.sum``, …), and
* the reverse pass's **services**: undo broadcasting, cast to the input's dtype, add up the
  gradients of a tensor used several times, keep a zero upstream gradient zero, check for
  NaN/inf under anomaly mode, and hand the loop the saved values in the backend's own kind.

:class:`NumpyBackend` (below) runs rules on plain ndarrays: the ordinary backward pass. The
recording backend in :mod:`micrograd_nd.backward` runs the same rules on tensors, so the
backward pass is itself recorded (``create_graph=True``). Both implement :class:`Backend`;
a test checks that each offers every name listed here and every name a rule uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ._arrays import reduced_axes
from ._kernels import scatter_add, select
from .modes import check_finite

if TYPE_CHECKING:
    from .autograd import Node

__all__ = ["RULE_FUNCTIONS", "SERVICES", "Backend", "NumpyBackend"]

# The array functions rules may call (``xp.<name>``), and the services the loop calls.
RULE_FUNCTIONS = (
    "astype", "broadcast_to", "cos", "einsum", "exp", "log", "reshape", "scatter_add", "sin",
    "sum", "tanh", "transpose", "unbroadcast", "where",
)
SERVICES = ("add", "cast", "check_gradient", "keep_zero", "saved", "unbroadcast")


class Backend(Protocol):
    """What derivative rules and the reverse pass may call."""

    # ---- array functions for rules ----------------------------------------------------------
    def exp(self, x: Any) -> Any: ...
    def log(self, x: Any) -> Any: ...
    def tanh(self, x: Any) -> Any: ...
    def sin(self, x: Any) -> Any: ...
    def cos(self, x: Any) -> Any: ...
    def where(self, condition: Any, x: Any, y: Any) -> Any: ...
    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any: ...
    def transpose(self, x: Any, axes: Any = None) -> Any: ...
    def broadcast_to(self, x: Any, shape: tuple[int, ...]) -> Any: ...
    def sum(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any: ...
    def astype(self, x: Any, dtype: Any) -> Any: ...
    def scatter_add(self, values: Any, index: Any, shape: tuple[int, ...]) -> Any: ...
    def einsum(self, subscripts: str, *operands: Any) -> Any: ...

    # ---- services of the reverse pass -------------------------------------------------------
    def unbroadcast(self, grad: Any, shape: tuple[int, ...]) -> Any:
        """Sum ``grad`` down to ``shape`` (undo broadcasting: the one place this is done)."""

    def cast(self, grad: Any, dtype: np.dtype) -> Any:
        """``grad`` in ``dtype`` (the input's dtype)."""

    def add(self, total: Any, grad: Any) -> Any:
        """The sum of two contributions to one tensor's gradient, as new memory."""

    def keep_zero(self, g: Any, grad: Any) -> Any:
        """``grad`` with 0 where the upstream gradient ``g`` is 0 and ``grad`` is NaN."""

    def check_gradient(self, grad: Any, node: Node, argnum: int) -> None:
        """Under anomaly mode: raise if ``grad`` has NaN or inf."""

    def saved(self, node: Node, output: Any) -> tuple[Any, tuple[Any, ...]]:
        """The node's output and inputs, as the rules receive them."""


def unbroadcast(xp: Any, grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` down to ``shape``, for any backend ``xp``.

    Leading axes are summed away; axes where ``shape`` has size 1 are summed keeping them.
    """
    if grad.shape == shape:
        return grad
    axes = reduced_axes(tuple(grad.shape), tuple(shape))
    lead = grad.ndim - len(shape)
    if lead:
        grad = xp.sum(grad, axis=tuple(range(lead)))
    kept = tuple(axis - lead for axis in axes if axis >= lead)
    if kept:
        grad = xp.sum(grad, axis=kept, keepdims=True)
    return grad


class NumpyBackend:
    """The ordinary backward pass: rules run on ndarrays, gradients are ndarrays.

    Gradients are never added in place: the sum of two contributions is a new array, so a
    gradient handed to several inputs (``add`` passes ``g`` to both) can never be changed
    behind another's back.
    """

    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    tanh = staticmethod(np.tanh)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    where = staticmethod(select)
    # The ndarray methods: the same results as np.reshape / np.transpose without the
    # dispatch wrapper, which costs more than the view itself.
    reshape = staticmethod(np.ndarray.reshape)
    transpose = staticmethod(np.ndarray.transpose)
    broadcast_to = staticmethod(np.broadcast_to)
    scatter_add = staticmethod(scatter_add)

    def __init__(self, anomaly: bool = False) -> None:
        self.anomaly = anomaly

    @staticmethod
    def sum(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.sum(x, axis=axis, keepdims=keepdims))

    @staticmethod
    def astype(x: np.ndarray, dtype: Any) -> np.ndarray:
        return x.astype(dtype, copy=False)

    @staticmethod
    def einsum(subscripts: str, *operands: np.ndarray) -> np.ndarray:
        return np.asarray(np.einsum(subscripts, *operands))

    def unbroadcast(self, grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return unbroadcast(self, grad, shape)

    @staticmethod
    def cast(grad: np.ndarray, dtype: np.dtype) -> np.ndarray:
        if type(grad) is not np.ndarray:
            grad = np.asarray(grad)  # NumPy gives 0-d results as scalars
        return grad if grad.dtype == dtype else grad.astype(dtype)

    @staticmethod
    def add(total: np.ndarray, grad: np.ndarray) -> np.ndarray:
        return np.asarray(total + grad)  # 0-d sums come back as scalars

    @staticmethod
    def keep_zero(g: np.ndarray, grad: np.ndarray) -> np.ndarray:
        # A single NaN scan in the common case; only NaN elements with g == 0 change, so every
        # other derivative (and the second derivatives) stay exact.
        if np.isnan(grad).any():
            grad = np.where(np.isnan(grad) & (g == 0), 0.0, grad).astype(grad.dtype, copy=False)
        return grad

    def check_gradient(self, grad: np.ndarray, node: Node, argnum: int) -> None:
        if self.anomaly:
            check_finite(node.primitive.name, np.asarray(grad), f"gradient for input {argnum}",
                         node.location)

    @staticmethod
    def saved(node: Node, output: Any) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        return node.out, node.inputs
