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

__all__ = ["RULE_FUNCTIONS", "SERVICES", "Backend", "NumpyBackend", "Services"]

# The array functions rules may call (``xp.<name>``), and the services the loop calls.
RULE_FUNCTIONS = (
    "astype", "broadcast_to", "cos", "einsum", "exp", "log", "reshape", "scatter_add", "sin",
    "sum", "tanh", "transpose", "unbroadcast", "where",
)
SERVICES = ("add", "cast", "check_gradient", "input_gradient", "keep_zero", "saved",
            "unbroadcast")


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

    def saved(self, node: Node) -> tuple[Any, tuple[Any, ...]]:
        """The node's output and inputs, as the rules receive them."""

    def input_gradient(self, grad: Any, like: Any, g: Any, node: Node, argnum: int) -> Any:
        """A rule's result as the gradient of input ``argnum`` (see :class:`Services`)."""


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


class Services:
    """The reverse pass's handling of a rule's result, the same for every backend."""

    anomaly = False

    def input_gradient(self, grad: Any, like: Any, g: Any, node: Node, argnum: int) -> Any:
        """``grad``, a rule's result, as the gradient of input ``argnum`` (whose saved value is
        ``like``): a zero upstream gradient ``g`` kept zero where the entry asks
        (``keeps_zero``), broadcasting undone, cast to the input's dtype, and checked for
        NaN/inf under anomaly mode."""
        if node.primitive.keeps_zero:
            grad = self.keep_zero(g, grad)
        if grad.shape != like.shape:
            try:
                grad = self.unbroadcast(grad, like.shape)
            except ValueError:
                raise ValueError(
                    f"'{node.primitive.name}': the derivative rule for input {argnum} returned "
                    f"shape {tuple(grad.shape)}, which does not sum down to the input's shape "
                    f"{tuple(like.shape)}"
                ) from None
        if grad.dtype != like.dtype:
            grad = self.cast(grad, like.dtype)
        if self.anomaly:
            self.check_gradient(grad, node, argnum)
        return grad


class NumpyBackend(Services):
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
    # The array's own methods: the same results as np.reshape / np.transpose without the
    # dispatch wrapper, which costs more than the view itself (and NumPy scalars have them).
    reshape = staticmethod(lambda x, shape: x.reshape(shape))
    transpose = staticmethod(lambda x, axes=None: x.transpose(axes))
    broadcast_to = staticmethod(np.broadcast_to)
    scatter_add = staticmethod(scatter_add)

    def __init__(self, anomaly: bool = False) -> None:
        self.anomaly = anomaly

    @staticmethod
    def sum(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(x.sum(axis=axis, keepdims=keepdims))

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
        return grad.astype(dtype)

    @staticmethod
    def add(total: np.ndarray, grad: np.ndarray) -> np.ndarray:
        return total + grad

    @staticmethod
    def keep_zero(g: np.ndarray, grad: np.ndarray) -> np.ndarray:
        # A single NaN scan in the common case; only NaN elements with g == 0 change, so every
        # other derivative (and the second derivatives) stay exact.
        if np.isnan(grad).any():
            grad = np.where(np.isnan(grad) & (g == 0), 0.0, grad).astype(grad.dtype, copy=False)
        return grad

    @staticmethod
    def check_gradient(grad: np.ndarray, node: Node, argnum: int) -> None:
        check_finite(node.primitive.name, np.asarray(grad), f"gradient for input {argnum}",
                     node.location)

    @staticmethod
    def saved(node: Node) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        return node.out, node.inputs
