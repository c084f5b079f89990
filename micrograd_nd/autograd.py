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
    """One recorded op: the primitive, its input tensors, and the values its rules need.

    The graph is made of nodes: ``parent_nodes`` are the nodes that made the inputs *when this
    op ran* (``None`` for a leaf), so a gradient always reaches the history an input had then,
    even if that tensor is changed in place later and gets a new history (``h += 1``).
    ``inputs`` and ``out`` are the arrays the op saw (an input that borrows a caller's ndarray
    is saved as a copy, since a write into that array would be invisible). ``versions`` are
    the version counters of the values the rules read (``primitive.reads``) when the op ran,
    checked before the rules run, like PyTorch's saved tensors; ``out_counter`` is the
    output's counter; ``view`` says the output is a view of an input's memory. ``sequence``
    numbers nodes in creation order, which is a topological order (an op's inputs exist
    before it runs). ``parents`` becomes ``None`` once a backward pass without
    ``retain_graph`` has used the node, which releases the saved arrays. ``location`` is
    where the op was created (anomaly mode only).
    """

    __slots__ = ("inputs", "location", "out", "out_counter", "params", "parent_nodes", "parents",
                 "primitive", "sequence", "versions", "view")

    def __init__(self, primitive: Primitive, parents: tuple[Any, ...],
                 inputs: tuple[Any, ...], output: Any, params: dict, view: bool = False) -> None:
        self.primitive = primitive
        self.parents: tuple[Any, ...] | None = parents
        self.parent_nodes = tuple(map(_node_of, parents))
        self.out = output._data
        self.params = params
        self.sequence = next(_sequence)
        self.out_counter = output._versions
        versions = []
        reads = primitive.reads
        for i in (*range(len(parents)), OUT) if reads is None else reads:
            counter = self.out_counter if i == OUT else parents[i]._versions
            versions.append(counter[0])
            if counter[2]:  # memory of a caller's ndarray (unseen writes): the rules get a copy
                if i == OUT:
                    self.out = self.out.copy()
                else:
                    inputs = (*inputs[:i], inputs[i].copy(), *inputs[i + 1:])
        self.inputs = inputs
        self.versions = tuple(versions)
        self.location = user_code_location() if _anomaly_mode.enabled else None
        self.view = view

    def read_positions(self) -> tuple[int, ...]:
        """The saved values the rules read: input positions, and ``OUT``."""
        reads = self.primitive.reads
        return (*range(len(self.parents)), OUT) if reads is None else reads

    def read_versions(self) -> tuple[int, ...]:
        """The current versions of the values the rules read."""
        parents = self.parents
        return tuple([self.out_counter[0] if i == OUT else parents[i]._versions[0]
                      for i in self.read_positions()])

    def check_versions(self) -> None:
        """Refuse to run the rules on saved values that were changed in place since."""
        if self.versions and self.read_versions() != self.versions:
            raise _modified_error(self)

    def rules(self) -> tuple[Any, ...]:
        """The derivative rule of each input (``None`` where the op is not differentiable)."""
        primitive = self.primitive
        return primitive.rules_for(len(self.parents)) if primitive.variadic else primitive.rules

    def release(self) -> None:
        """Drop the input tensors, the nodes behind them and the saved arrays (after a backward
        without retain_graph), so the graph is freed as the pass goes."""
        self.parents = self.parent_nodes = self.inputs = self.out = None

    def __repr__(self) -> str:
        state = "freed" if self.parents is None else f"{len(self.parents)} inputs"
        return f"<Node {self.primitive.name} ({state})>"


_sequence = itertools.count()
_node_of = operator.attrgetter("_node")


def vertex_of(tensor: Any) -> Any:
    """Where a tensor's gradient collects: its node, or the tensor itself for a leaf."""
    node = tensor._node
    return tensor if node is None else node


def _modified_error(node: Node) -> InPlaceModificationError:
    changed = [
        ("its output" if position == OUT else f"input {position}")
        + f" (shape {(node.out if position == OUT else node.inputs[position]).shape}, "
        f"version {version} → {now})"
        for position, version, now in zip(node.read_positions(), node.versions,
                                          node.read_versions(), strict=True)
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
    """The nodes and leaves that lead to ``roots`` (vertices: a node, or a leaf tensor), each
    before every vertex it was made from: reverse creation order (``Node.sequence``), leaves
    last.

    The reachable vertices are collected with an explicit stack (no recursion, so graphs of
    any depth work), then sorted by sequence number.
    """
    found: dict[Any, int] = {}  # nodes and tensors hash by identity
    stack = list(roots)
    while stack:
        vertex = stack.pop()
        if vertex in found:
            continue
        if type(vertex) is not Node:  # a leaf tensor
            found[vertex] = -1
            continue
        parents = vertex.parents
        if parents is None:
            raise _freed_error(vertex)
        found[vertex] = vertex.sequence
        for parent, parent_node in zip(parents, vertex.parent_nodes):  # noqa: B905
            if parent_node is not None:
                stack.append(parent_node)
            elif parent.requires_grad:
                stack.append(parent)
    return sorted(found, key=found.__getitem__, reverse=True)


def backpropagate(
    roots: Sequence[Any],
    seeds: Sequence[Any],
    backend: Backend,
    retain_graph: bool,
    wanted: Sequence[Any] | None = None,
) -> list[tuple[Any, Any]]:
    """Push ``seeds`` (∂L/∂root) back through the graph: the reverse-mode chain rule.

    Each node is reached in topological order, when the sum of the gradients of its output
    over every use (``g``) is complete; each input's rule maps ``g`` to that input's share,
    which collects at the input's vertex. Returns ``(tensor, gradient)`` for every leaf that
    requires grad and every tensor that retains its gradient (or, when ``wanted`` is given,
    for the tensors in it).
    """
    grads: dict[Any, Any] = {}  # vertex → ∂L/∂(its value) so far
    for root, seed in zip(roots, seeds, strict=True):
        key = vertex_of(root)
        total = grads.get(key)
        grads[key] = seed if total is None else backend.add(total, seed)
    reported = _reported_vertices(roots, wanted)
    results = []
    for vertex in topological_order([vertex_of(root) for root in roots]):
        g = grads.pop(vertex, None)
        if g is None:  # nothing flowed here (it only leads to roots given no gradient)
            continue
        if type(vertex) is not Node:  # a leaf
            if wanted is None or vertex in reported:
                results.append((vertex, g))
            continue
        if vertex in reported:
            results.append((reported[vertex], g))
        node = vertex
        node.check_versions()
        out, inputs = backend.saved(node)
        rules = node.rules()
        for argnum, parent in enumerate(node.parents):
            rule = rules[argnum]
            if rule is None or not parent.requires_grad:
                continue
            grad = rule(backend, g, out, *inputs, **node.params)   # ∂L/∂input: one chain step
            grad = backend.input_gradient(grad, inputs[argnum], g, node, argnum)
            key = node.parent_nodes[argnum] or parent
            total = grads.get(key)
            grads[key] = grad if total is None else backend.add(total, grad)
            if parent._retains_grad and wanted is None and parent._node is key:
                reported[key] = parent
        if not retain_graph:
            node.release()
    return results


def _reported_vertices(roots: Sequence[Any], wanted: Sequence[Any] | None) -> dict[Any, Any]:
    """Vertex → the tensor whose gradient is reported there (``wanted``, or the roots that
    retain their gradient; retaining inputs are added as the pass meets them)."""
    if wanted is not None:
        return {vertex_of(t): t for t in wanted}
    return {root._node: root for root in roots if root._retains_grad and root._node is not None}
