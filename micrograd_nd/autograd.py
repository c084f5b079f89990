"""The graph and the reverse pass: grad mode, graph nodes, topological order, backpropagation.

The engine knows tensors only through four attributes: ``_node`` (the :class:`Node` that made
the tensor, ``None`` for a leaf), ``requires_grad``, ``data`` and ``shape``/``dtype``.
It computes gradients and hands them back; where they are stored (``.grad``, or the return
value of :func:`micrograd_nd.grad`) is the Tensor layer's business.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .primitives import Primitive

__all__ = [
    "GraphFreedError",
    "Node",
    "backpropagate",
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
    "topological_order",
]


class GraphFreedError(RuntimeError):
    """Backward reached a node whose saved inputs an earlier backward pass released."""


# ---------------------------------------------------------------------------------------------
# Grad mode: whether new operations are recorded. Per thread, like PyTorch's.
# ---------------------------------------------------------------------------------------------
class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require gradients are being recorded."""
    return _grad_mode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn graph recording on or off inside a ``with`` block or a decorated function."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._saved: list[bool] = []  # a stack, so one instance may be re-entered (recursion)

    def __enter__(self) -> None:
        self._saved.append(_grad_mode.enabled)
        _grad_mode.enabled = self.mode

    def __exit__(self, *exc_info: object) -> None:
        _grad_mode.enabled = self._saved.pop()


class no_grad(set_grad_enabled):
    """Record nothing: results of operations need no gradient (evaluation, parameter updates).

    Usable as ``with no_grad():`` and as a decorator ``@no_grad()``.
    """

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record operations again, inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)


# ---------------------------------------------------------------------------------------------
# Graph nodes.
# ---------------------------------------------------------------------------------------------
class Node:
    """How a tensor was made: the primitive, its input tensors and its non-tensor parameters.

    ``parents`` becomes ``None`` once a backward pass without ``retain_graph`` has used the
    node, which releases the input arrays it kept alive.
    """

    __slots__ = ("params", "parents", "primitive")

    def __init__(self, primitive: Primitive, parents: tuple[Any, ...], params: dict) -> None:
        self.primitive = primitive
        self.parents: tuple[Any, ...] | None = parents
        self.params = params

    def __repr__(self) -> str:
        state = "freed" if self.parents is None else f"{len(self.parents)} inputs"
        return f"<Node {self.primitive.name} ({state})>"


def _freed_error(node: Node) -> GraphFreedError:
    return GraphFreedError(
        f"backward through the '{node.primitive.name}' op a second time: an earlier backward() "
        "freed the values it saved. Pass retain_graph=True to the first backward() if you "
        "need to back-propagate through the same graph again."
    )


def topological_order(roots: Sequence[Any]) -> list[Any]:
    """Tensors that require grad and lead to ``roots``, each after every tensor made from it.

    Iterative depth-first search (no recursion, so graphs of any depth work): a tensor is
    emitted once all of its inputs are, and the reversed emission order is returned.
    """
    emitted: list[Any] = []
    visited: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            emitted.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        node = tensor._node
        if node is None:
            continue
        if node.parents is None:
            raise _freed_error(node)
        for parent in node.parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    emitted.reverse()
    return emitted


def _is_fresh(grad: Any, upstream: Any) -> bool:
    """True when ``grad`` is a new array no one else holds, so the engine may own it."""
    return isinstance(grad, np.ndarray) and grad.base is None and grad is not upstream


def backpropagate(
    roots: Sequence[Any],
    root_grads: Sequence[Any],
    xp: Any,
    retain_graph: bool,
    wanted: set[int] | None = None,
) -> list[tuple[Any, Any, bool]]:
    """Push ``root_grads`` from ``roots`` back through the graph (reverse-mode chain rule).

    For each tensor in topological order, its total gradient ``g`` (the sum over every use,
    which is complete by then) is passed through each input's vector-Jacobian product.

    ``xp`` is the namespace the rules run on: plain arrays, or tensors when the backward pass
    is recorded (``create_graph``); gradients and rule inputs are then of that kind.

    Returns ``(tensor, gradient, owned)`` for every leaf that requires grad (or, when ``wanted``
    is given, for the tensors whose ids are in it); ``owned`` says no other object refers to
    the gradient array, so it can be stored without a copy.
    """
    tensor_mode = getattr(xp, "records_graph", False)
    results: list[tuple[Any, Any, bool]] = []
    grads: dict[int, Any] = {}
    owned: set[int] = set()
    for root, grad in zip(roots, root_grads, strict=True):
        _accumulate(grads, owned, id(root), grad, fresh=False, in_place=not tensor_mode)

    for tensor in topological_order(roots):
        key = id(tensor)
        grad = grads.pop(key, None)
        if grad is None:  # nothing flowed here (it only leads to roots given no gradient)
            continue
        node = tensor._node
        if wanted is None:
            if node is None or getattr(tensor, "_retains_grad", False):
                results.append((tensor, grad, key in owned))
        elif key in wanted:
            results.append((tensor, grad, key in owned))
        if node is None:
            continue

        parents = node.parents
        inputs = parents if tensor_mode else [parent.data for parent in parents]
        out = tensor if tensor_mode else tensor.data
        primitive = node.primitive
        for argnum, parent in enumerate(parents):
            if not parent.requires_grad:
                continue
            rule = primitive.vjp(argnum)
            if rule is None:
                continue
            parent_grad = rule(xp, grad, out, *inputs, **node.params)
            if not tensor_mode and type(parent_grad) is not np.ndarray:
                # 0-d arithmetic gives NumPy scalars: immutable, so `total += g` would be lost
                parent_grad = np.asarray(parent_grad)
            if parent_grad.shape != parent.shape:
                parent_grad = xp.sum_to_shape(parent_grad, parent.shape)
            if parent_grad.dtype != parent.dtype:
                parent_grad = xp.astype(parent_grad, parent.dtype)
            _accumulate(
                grads, owned, id(parent), parent_grad,
                fresh=_is_fresh(parent_grad, grad), in_place=not tensor_mode,
            )
        if not retain_graph:
            node.parents = None
    return results


def _accumulate(
    grads: dict[int, Any], owned: set[int], key: int, grad: Any, fresh: bool, in_place: bool
) -> None:
    """Add ``grad`` to the running total for ``key``; in place only into arrays we own."""
    total = grads.get(key)
    if total is None:
        grads[key] = grad
        if fresh:
            owned.add(key)
    elif in_place and key in owned:
        total += grad
    elif in_place:
        grads[key] = np.asarray(total + grad)  # 0-d + 0-d gives a NumPy scalar, not an array
        owned.add(key)
    else:
        grads[key] = total + grad
