"""The graph and the reverse pass: graph nodes, topological order, backpropagation.

The engine knows tensors only through a few attributes: ``_node`` (the :class:`Node` that made
the tensor, ``None`` for a leaf), ``requires_grad``, and ``_versions`` (a one-element list,
the version counter, shared by a tensor and its views and bumped by every in-place change).
It computes gradients and hands them back; where they are stored (``.grad``, or the return
value of :func:`micrograd_nd.grad`) is the Tensor layer's business, and how arrays are
combined is the backend's (:mod:`micrograd_nd.backend`).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import Any

from .backend import Backend
from .modes import _anomaly_mode, user_code_location
from .primitives import OUT, Primitive

__all__ = [
    "GraphFreedError",
    "InPlaceModificationError",
    "Node",
    "backpropagate",
    "topological_order",
]


class GraphFreedError(RuntimeError):
    """Backward reached a node whose saved inputs an earlier backward pass released."""


class InPlaceModificationError(RuntimeError):
    """A value the graph saved was changed in place after it was recorded."""


class Node:
    """How a tensor was made: the primitive, its input tensors, the values its rules need.

    ``inputs`` and ``out`` are the arrays the op saw; ``versions`` are the version counters of
    the values its rules read (``primitive.reads``) when the op ran, checked before the rules
    run, like PyTorch's saved tensors. ``out_counter`` /
    ``out_version`` track the output's memory: if the counter moves, the node no longer
    describes its tensor's value (a write through a view, say), and using that tensor in a new
    op is refused. ``sequence`` numbers nodes in creation order, which is a topological order
    (an op's inputs exist before it runs). ``parents`` becomes ``None`` once a backward pass
    without ``retain_graph`` has used the node, which releases the saved arrays. ``location``
    is where the op was created (anomaly mode only).
    """

    __slots__ = ("inputs", "location", "out", "out_counter", "out_version", "params", "parents",
                 "primitive", "sequence", "versions")

    def __init__(self, primitive: Primitive, parents: tuple[Any, ...],
                 inputs: tuple[Any, ...], output: Any, params: dict) -> None:
        self.primitive = primitive
        self.parents: tuple[Any, ...] | None = parents
        self.inputs = inputs
        self.out = output._data
        self.params = params
        self.sequence = next(_sequence)
        self.out_counter = output._versions
        self.out_version = self.out_counter[0]
        self.versions = self.read_versions() if primitive.reads != () else ()
        self.location = user_code_location() if _anomaly_mode.enabled else None

    def read_versions(self) -> tuple[int, ...]:
        """The current versions of the values the rules read (inputs, and ``OUT``)."""
        parents = self.parents
        reads = self.primitive.reads
        if reads is None:  # a variadic op that reads every input
            reads = (*range(len(parents)), OUT)
        return tuple([self.out_counter[0] if i == OUT else parents[i]._versions[0]
                      for i in reads])

    def check_versions(self) -> None:
        """Refuse to run the rules on saved values that were changed in place since."""
        if self.versions and self.read_versions() != self.versions:
            raise _modified_error(self)

    def rules(self) -> tuple[Any, ...]:
        """The derivative rule of each input (``None`` where the op is not differentiable)."""
        primitive = self.primitive
        return primitive.rules_for(len(self.parents)) if primitive.variadic else primitive.rules

    def release(self) -> None:
        """Drop the input tensors and saved arrays (after a backward without retain_graph)."""
        self.parents = self.inputs = self.out = None

    def __repr__(self) -> str:
        state = "freed" if self.parents is None else f"{len(self.parents)} inputs"
        return f"<Node {self.primitive.name} ({state})>"


_sequence = itertools.count()


def _modified_error(node: Node) -> InPlaceModificationError:
    reads = node.primitive.reads
    positions = (*range(len(node.parents)), OUT) if reads is None else reads
    changed = [
        ("its output" if position == OUT else f"input {position}")
        + f" (shape {(node.out if position == OUT else node.inputs[position]).shape}, "
        f"version {version} → {now})"
        for position, version, now in zip(positions, node.versions, node.read_versions(),
                                          strict=True)
        if now != version
    ]
    return InPlaceModificationError(
        f"backward through '{node.primitive.name}': " + ", ".join(changed)
        + " changed in place after the op saved it, so its gradient would be wrong. "
        "Change a copy instead (t = t + 1, not t += 1), or run the forward pass again after "
        "the change."
    )


def _freed_error(node: Node) -> GraphFreedError:
    return GraphFreedError(
        f"backward through the '{node.primitive.name}' op a second time: an earlier backward() "
        "freed the values it saved. Pass retain_graph=True to the first backward() if you "
        "need to back-propagate through the same graph again."
    )


def topological_order(roots: Sequence[Any]) -> list[Any]:
    """Tensors that require grad and lead to ``roots``, each before every tensor it was made
    from: reverse creation order (``Node.sequence``), leaves last.

    The reachable tensors are collected with an explicit stack (no recursion, so graphs of any
    depth work), then sorted by their nodes' sequence numbers.
    """
    # Tensors hash by identity, so they are their own dictionary keys.
    found: dict[Any, tuple[int, Any]] = {}
    stack = list(roots)
    while stack:
        tensor = stack.pop()
        if tensor in found:
            continue
        node = tensor._node
        if node is None:
            found[tensor] = (-1, tensor)
            continue
        if node.parents is None:
            raise _freed_error(node)
        found[tensor] = (node.sequence, tensor)
        stack.extend([parent for parent in node.parents if parent.requires_grad])
    ordered = sorted(found.values(), key=_first, reverse=True)
    return [tensor for _, tensor in ordered]


_first = operator.itemgetter(0)


def backpropagate(
    roots: Sequence[Any],
    seeds: Sequence[Any],
    backend: Backend,
    retain_graph: bool,
    wanted: set[Any] | None = None,
) -> list[tuple[Any, Any]]:
    """Push ``seeds`` (∂L/∂root) back through the graph: the reverse-mode chain rule.

    Each tensor is reached in topological order, when the sum of its gradients over every use
    (``g``) is complete; each input's rule maps ``g`` to that input's share. Returns
    ``(tensor, gradient)`` for every leaf that requires grad and every tensor that retains its
    gradient (or, when ``wanted`` is given, for the tensors in it).
    """
    grads: dict[Any, Any] = {}  # tensor → ∂L/∂tensor so far (tensors hash by identity)
    for root, seed in zip(roots, seeds, strict=True):
        total = grads.get(root)
        grads[root] = seed if total is None else backend.add(total, seed)
    results = []
    for tensor in topological_order(roots):
        g = grads.pop(tensor, None)
        if g is None:  # nothing flowed here (it only leads to roots given no gradient)
            continue
        node = tensor._node
        if (tensor in wanted) if wanted is not None else (
                node is None or tensor._retains_grad):
            results.append((tensor, g))
        if node is None:
            continue
        node.check_versions()
        out, inputs = backend.saved(node, tensor)
        rules = node.rules()
        for argnum, parent in enumerate(node.parents):
            rule = rules[argnum]
            if rule is None or not parent.requires_grad:
                continue
            grad = rule(backend, g, out, *inputs, **node.params)   # ∂L/∂input: one chain step
            grad = backend.input_gradient(grad, inputs[argnum], g, node, argnum)
            total = grads.get(parent)
            grads[parent] = grad if total is None else backend.add(total, grad)
        if not retain_graph:
            node.release()
    return results
