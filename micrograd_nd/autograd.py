"""The graph and the reverse pass: grad mode, graph nodes, topological order, backpropagation.

The engine knows tensors only through a few attributes: ``_node`` (the :class:`Node` that made
the tensor, ``None`` for a leaf), ``requires_grad``, ``data``, ``shape``/``dtype`` and
``_version`` (bumped by every in-place change).
It computes gradients and hands them back; where they are stored (``.grad``, or the return
value of :func:`micrograd_nd.grad`) is the Tensor layer's business.
"""

from __future__ import annotations

import contextlib
import linecache
import operator
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .primitives import Primitive

_ndarray = np.ndarray
_version_of = operator.attrgetter("_version")
_data_of = operator.attrgetter("_data")

__all__ = [
    "AnomalyError",
    "GraphFreedError",
    "InPlaceModificationError",
    "Node",
    "backpropagate",
    "detect_anomaly",
    "enable_grad",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
    "topological_order",
]


class GraphFreedError(RuntimeError):
    """Backward reached a node whose saved inputs an earlier backward pass released."""


class InPlaceModificationError(RuntimeError):
    """A tensor the graph saved for backward was changed in place after it was recorded."""


class AnomalyError(FloatingPointError):
    """Under ``detect_anomaly()``: an op produced NaN or inf in its value or its gradient."""


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
# Anomaly mode: find the first op whose value or gradient is not finite. Off by default (it
# costs a scan of every result and a stack walk per recorded op).
# ---------------------------------------------------------------------------------------------
class _AnomalyMode(threading.local):
    enabled = False


_anomaly_mode = _AnomalyMode()
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def is_anomaly_enabled() -> bool:
    return _anomaly_mode.enabled


class detect_anomaly(contextlib.ContextDecorator):
    """Raise :class:`AnomalyError` at the first op whose value or gradient has NaN or inf.

    The error names the op and the line of *your* code that created it (recorded for every op
    while the mode is on).
    """

    def __init__(self) -> None:
        self._saved: list[bool] = []

    def __enter__(self) -> None:
        self._saved.append(_anomaly_mode.enabled)
        _anomaly_mode.enabled = True

    def __exit__(self, *exc_info: object) -> None:
        _anomaly_mode.enabled = self._saved.pop()


def user_code_location() -> str:
    """``file:line in function: source`` of the innermost caller outside this package."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown location>"
    filename, line = frame.f_code.co_filename, frame.f_lineno
    source = linecache.getline(filename, line).strip()
    return f"{filename}:{line} in {frame.f_code.co_name}" + (f": {source}" if source else "")


def check_finite(op: str, array: Any, what: str, location: str | None) -> None:
    """Raise :class:`AnomalyError` if ``array`` has NaN or inf (anomaly mode only)."""
    if array.dtype.kind != "f" or np.isfinite(array).all():
        return
    kind = "NaN" if np.isnan(array).any() else "inf"
    raise AnomalyError(
        f"'{op}' produced {kind} in its {what} (op created at {location or user_code_location()})"
    )


# ---------------------------------------------------------------------------------------------
# Graph nodes.
# ---------------------------------------------------------------------------------------------
class Node:
    """How a tensor was made: the primitive, its input tensors and its non-tensor parameters.

    ``parents`` becomes ``None`` once a backward pass without ``retain_graph`` has used the
    node, which releases the input arrays it kept alive. ``versions`` are the inputs' versions
    when the op ran; ``location`` is where the op was created (anomaly mode only).
    """

    __slots__ = ("location", "params", "parents", "primitive", "versions")

    def __init__(self, primitive: Primitive, parents: tuple[Any, ...], params: dict) -> None:
        self.primitive = primitive
        self.parents: tuple[Any, ...] | None = parents
        self.params = params
        self.versions = tuple(map(_version_of, parents))
        self.location = user_code_location() if _anomaly_mode.enabled else None

    def __repr__(self) -> str:
        state = "freed" if self.parents is None else f"{len(self.parents)} inputs"
        return f"<Node {self.primitive.name} ({state})>"


def _freed_error(node: Node) -> GraphFreedError:
    return GraphFreedError(
        f"backward through the '{node.primitive.name}' op a second time: an earlier backward() "
        "freed the values it saved. Pass retain_graph=True to the first backward() if you "
        "need to back-propagate through the same graph again."
    )


def _raise_modified(node: Node, output: Any) -> None:
    """Refuse to use saved values that were changed in place since the op ran."""
    changed = [
        f"input {i} (shape {parent.shape}, version {version} → {parent._version})"
        for i, (parent, version) in enumerate(zip(node.parents, node.versions, strict=True))
        if parent._version != version
    ]
    if output._version != 0:
        changed.append(f"its output (shape {output.shape}, version 0 → {output._version})")
    raise InPlaceModificationError(
        f"backward through '{node.primitive.name}': " + ", ".join(changed)
        + " changed in place after the op used it, so its gradient would be wrong. "
        "Change a copy instead, or run the forward pass again after the change."
    )


def topological_order(roots: Sequence[Any]) -> list[Any]:
    """Tensors that require grad and lead to ``roots``, each after every tensor made from it.

    Iterative depth-first search (no recursion, so graphs of any depth work): a tensor is
    emitted once all of its inputs are, and the reversed emission order is returned.
    """
    emitted: list[Any] = []
    visited: set[int] = set()
    # Entries are tensors to expand, each preceded on the stack by a "done" marker (the
    # tuple ``(tensor,)``): when the marker comes off, every input has been emitted.
    stack: list[Any] = list(reversed(roots))
    append, pop, emit, visit = stack.append, stack.pop, emitted.append, visited.add
    while stack:
        tensor = pop()
        if type(tensor) is tuple:
            emit(tensor[0])
            continue
        key = id(tensor)
        if key in visited:
            continue
        visit(key)
        append((tensor,))
        node = tensor._node
        if node is None:
            continue
        parents = node.parents
        if parents is None:
            raise _freed_error(node)
        for parent in parents:
            if parent.requires_grad and id(parent) not in visited:
                append(parent)
    emitted.reverse()
    return emitted


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

    anomaly = _anomaly_mode.enabled
    for tensor in topological_order(roots):
        key = id(tensor)
        grad = grads.pop(key, None)
        if grad is None:  # nothing flowed here (it only leads to roots given no gradient)
            continue
        node = tensor._node
        reported = False
        if wanted is None:
            if node is None or tensor._retains_grad:
                results.append((tensor, grad, key in owned))
                reported = True
        elif key in wanted:
            results.append((tensor, grad, key in owned))
            reported = True
        if node is None:
            continue

        parents = node.parents
        if tensor._version:
            _raise_modified(node, tensor)
        for parent, version in zip(parents, node.versions, strict=False):  # same length
            if parent._version != version:
                _raise_modified(node, tensor)
        inputs = parents if tensor_mode else tuple(map(_data_of, parents))
        out = tensor if tensor_mode else tensor._data
        primitive = node.primitive
        rules = primitive.rules
        params = node.params
        grad_root = None
        for argnum, parent in enumerate(parents):
            if not parent.requires_grad:
                continue
            rule = rules[argnum]
            if rule is None:
                continue
            parent_grad = rule(xp, grad, out, *inputs, **params)
            if tensor_mode:
                fresh = False
            else:
                if type(parent_grad) is not _ndarray:
                    parent_grad = np.asarray(parent_grad)  # NumPy gives 0-d results as scalars
                base = parent_grad.base
                if base is None:
                    fresh = parent_grad is not grad
                elif not parent_grad.flags.writeable:  # a broadcast view
                    fresh = False
                else:
                    if grad_root is None:
                        grad_root = grad if grad.base is None else grad.base
                    if base is grad_root:
                        # A view of ``grad`` (transpose, reshape, slice) may be handed on as
                        # an array the engine owns when nobody else can see ``grad``: the
                        # engine owns it, it is not returned to the caller, and only this
                        # input gets a gradient made from it.
                        fresh = (key in owned and not reported
                                 and _single_target(parents, rules))
                    else:
                        # A view of a temporary the rule made (e.g. a transposed product) is
                        # new memory too, unless it is a view of a saved value.
                        fresh = not any(
                            base is (array if array.base is None else array.base)
                            for array in (*inputs, out)
                        )
            parent_data = parent._data
            if parent_grad.shape != parent_data.shape:
                summed = xp.sum_to_shape(parent_grad, parent_data.shape)
                # a reduction makes a new array (a reshape alone keeps the freshness)
                fresh = fresh or not (tensor_mode or np.may_share_memory(summed, parent_grad))
                parent_grad = summed
            if parent_grad.dtype != parent_data.dtype:
                parent_grad = xp.astype(parent_grad, parent_data.dtype)
                fresh = not tensor_mode  # a cast is a new array
            if anomaly:
                check_finite(
                    primitive.name, parent_grad.data if tensor_mode else parent_grad,
                    f"gradient for input {argnum}", node.location,
                )
            parent_key = id(parent)
            if parent_key in grads:
                if parent_key in owned and not tensor_mode:  # add into our own array
                    total = grads[parent_key]
                    np.add(total, parent_grad, out=total)
                else:
                    _accumulate(grads, owned, parent_key, parent_grad, fresh=fresh,
                                in_place=not tensor_mode)
            else:
                grads[parent_key] = parent_grad
                if fresh:
                    owned.add(parent_key)
        if not retain_graph:
            node.parents = None
    return results


def _single_target(parents: Sequence[Any], rules: Sequence[Any]) -> bool:
    """True when exactly one input of a node receives a gradient."""
    count = 0
    for argnum, parent in enumerate(parents):
        if parent.requires_grad and rules[argnum] is not None:
            count += 1
    return count == 1


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
        np.add(total, grad, out=total)
    else:
        total = total + grad
        if in_place:
            total = np.asarray(total)  # NumPy returns 0-d sums as scalars, which are immutable
            owned.add(key)
        grads[key] = total
