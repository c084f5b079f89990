"""Running the reverse pass for users: ``Tensor.backward``, :func:`grad`, and the recording
backend that makes ``create_graph=True`` work.

The chain rule itself is :func:`micrograd_nd.autograd.backpropagate`; this module picks the
backend (plain arrays, or recorded tensors so that gradients are differentiable again), makes
the seed gradients, and stores the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import ops
from . import primitives as P
from ._arrays import as_data_array
from ._tracing import state as _trace
from .autograd import Node, backpropagate
from .backend import NumpyBackend, Services, unbroadcast
from .modes import check_finite, enable_grad, is_anomaly_enabled
from .tensor import ArrayLike, Tensor, apply

__all__ = ["RecordingBackend", "backward", "grad", "store_gradients"]


class RecordingBackend(Services):
    """Rules run on tensors, so every operation of the backward pass is itself recorded and
    the gradients it returns can be differentiated again (``create_graph=True``)."""

    exp = staticmethod(ops.exp)
    log = staticmethod(ops.log)
    tanh = staticmethod(ops.tanh)
    sin = staticmethod(ops.sin)
    cos = staticmethod(ops.cos)
    where = staticmethod(ops.where)
    reshape = staticmethod(ops.reshape)
    transpose = staticmethod(ops.transpose)
    broadcast_to = staticmethod(ops.broadcast_to)
    astype = staticmethod(ops.astype)
    einsum = staticmethod(ops.einsum)
    add = staticmethod(ops.add)

    @staticmethod
    def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def scatter_add(values: Tensor, index: Any, shape: tuple[int, ...]) -> Tensor:
        return apply(P.SCATTER_ADD, values, index=index, shape=shape)

    def unbroadcast(self, grad: Tensor, shape: tuple[int, ...]) -> Tensor:
        return unbroadcast(self, grad, shape)

    @staticmethod
    def cast(grad: Tensor, dtype: np.dtype) -> Tensor:
        return ops.astype(grad, dtype)

    @staticmethod
    def keep_zero(g: Tensor, grad: Tensor) -> Tensor:
        # The elements NumpyBackend.keep_zero changes (NaN where g is 0), chosen with a where so
        # the derivatives everywhere else are untouched; x != x is the NaN test.
        if not np.isnan(grad._data).any():
            return grad
        return ops.where((grad != grad) * (g == 0.0), 0.0, grad)

    def __init__(self, anomaly: bool = False) -> None:
        self.anomaly = anomaly

    @staticmethod
    def check_gradient(grad: Tensor, node: Node, argnum: int) -> None:
        check_finite(node.primitive.name, grad._data, f"gradient for input {argnum}",
                     node.location)

    @staticmethod
    def saved(node: Node) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Differentiable handles on the node's saved values: its output as a tensor made by
        the node, and each input as it was when the op ran (a leaf itself; a result whose
        tensor has since been given a new history by an in-place change, as a handle on the
        old one)."""
        inputs = tuple(
            parent if parent_node is None or parent._node is parent_node
            else _handle(array, parent_node)
            for parent, parent_node, array in zip(node.parents, node.parent_nodes, node.inputs,
                                                  strict=True)
        )
        return _handle(node.out, node), inputs


def _handle(array: np.ndarray, node: Node) -> Tensor:
    """A tensor for a value ``node`` made, connected to the graph at that node."""
    tensor = Tensor._make(array)
    tensor._node, tensor.requires_grad = node, True
    return tensor


def _check_differentiable_output(output: Any, caller: str) -> None:
    if not isinstance(output, Tensor):
        raise TypeError(f"{caller}: expected a Tensor output, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError(
            f"{caller}: this tensor does not require grad, so there is no graph to go back "
            "through (create the inputs with requires_grad=True, outside no_grad())"
        )


def _seed(output: Tensor, gradient: ArrayLike | None, create_graph: bool, caller: str) -> Any:
    """∂L/∂output to start from: 1 for a single-element output, else the given array."""
    if gradient is None:
        if output.size != 1:
            raise RuntimeError(
                f"{caller}: a gradient argument is needed for an output of shape "
                f"{output.shape}; the implicit gradient 1 is only for single-element outputs"
            )
        seed = Tensor._make(np.ones(output.shape, dtype=output.dtype))
    elif isinstance(gradient, Tensor) and create_graph:
        seed = gradient
    else:
        seed = Tensor._make(as_data_array(
            gradient._data if isinstance(gradient, Tensor) else np.asarray(gradient)))
    if seed.shape != output.shape:
        raise ValueError(
            f"{caller}: gradient has shape {seed.shape} but the output has shape {output.shape}"
        )
    if seed.dtype != output.dtype:
        seed = ops.astype(seed, output.dtype)
    return seed if create_graph else seed._data


def _run(roots: list[Tensor], seeds: list[Any], retain_graph: bool, create_graph: bool,
         wanted: Sequence[Tensor] | None = None) -> list[tuple[Tensor, Any]]:
    if create_graph:
        with enable_grad():
            return backpropagate(roots, seeds, RecordingBackend(is_anomaly_enabled()),
                                 retain_graph, wanted)
    return backpropagate(roots, seeds, NumpyBackend(is_anomaly_enabled()), retain_graph, wanted)


class _Owner:
    """Decides when a gradient array may be handed to the user without a copy.

    Gradients are never added in place during the pass, so an array is safe to keep when it is
    new memory (no ``base``), not a seed the caller passed, and not already handed out (``add``
    gives the same ``g`` to both of its inputs). Anything else is copied once, laid out like
    the tensor it belongs to.
    """

    def __init__(self, seeds: Sequence[Any]) -> None:
        self.handed_out = {id(seed) for seed in seeds}

    def take(self, tensor: Tensor, gradient: Any) -> np.ndarray:
        if type(gradient) is not np.ndarray:
            gradient = np.asarray(gradient)  # NumPy gives 0-d results as scalars: new memory
        elif gradient.base is not None or id(gradient) in self.handed_out:
            gradient = _copy_like(gradient, tensor)
        self.handed_out.add(id(gradient))
        return gradient


def _copy_like(gradient: np.ndarray, tensor: Tensor) -> np.ndarray:
    copy = np.empty_like(tensor._data, dtype=gradient.dtype)  # the tensor's own layout
    copy[...] = gradient
    return copy


def _check_shape(tensor: Tensor, gradient: Any) -> None:
    if gradient.shape != tensor.shape:
        raise RuntimeError(
            f"backward: the gradient of a tensor of shape {tensor.shape} has shape "
            f"{gradient.shape}: its .data was replaced by an array of another shape after the "
            "forward pass. Run the forward pass again after changing it."
        )


def backward(
    tensor: Tensor,
    gradient: ArrayLike | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> None:
    """Accumulate ∂tensor/∂leaf (times ``gradient``) into ``.grad`` of every leaf.

    ``gradient`` is ∂L/∂tensor for some scalar L, of the tensor's shape; it may be omitted
    only for a single-element tensor (it is then 1). Leaves *add* to ``.grad`` across calls
    (set ``.grad = None`` or use ``Module.zero_grad`` to clear it); non-leaf tensors keep no
    ``.grad`` unless ``retain_grad()`` was called.

    The graph is freed afterwards unless ``retain_graph=True`` (default: ``create_graph``); a
    second backward through a freed graph raises ``GraphFreedError``. With
    ``create_graph=True`` the backward pass is itself recorded, so ``.grad`` can be
    differentiated again.
    """
    _check_differentiable_output(tensor, "backward()")
    seed = _seed(tensor, gradient, create_graph, "backward()")
    retain = create_graph if retain_graph is None else retain_graph
    if _trace.tracer is not None:  # inside compile(fn): the pass is recorded (compile.py)
        if not create_graph:
            _trace.tracer.backward(tensor, seed, retain)
            return
        _trace.tracer.escape("backward(create_graph=True)")
    results = _run([tensor], [seed], retain, create_graph)
    if not create_graph:
        store_gradients(results, [seed])
        return
    for leaf, leaf_grad in results:
        _check_shape(leaf, leaf_grad)
        leaf.grad = _recorded_copy(leaf_grad) if leaf.grad is None else leaf.grad + leaf_grad


def store_gradients(results: list[tuple[Tensor, np.ndarray]], seeds: Sequence[np.ndarray]
                    ) -> None:
    """Add each ``(leaf, gradient)`` of a backward pass to ``leaf.grad`` (new memory: a
    gradient that is a view, a seed or handed out twice is copied once)."""
    owner = _Owner(seeds)
    for leaf, leaf_grad in results:
        _check_shape(leaf, leaf_grad)
        if leaf.grad is None:
            leaf.grad = Tensor._make(owner.take(leaf, leaf_grad))
        else:
            leaf.grad = Tensor._make(np.asarray(leaf.grad._data + leaf_grad))


def _recorded_copy(gradient: Tensor) -> Tensor:
    """A new tensor equal to ``gradient`` and differentiable like it (``create_graph``).

    Recorded gradients may be one object for several leaves (``a + b``), the caller's seed, or
    views of it (reshape); a copy keeps each result's memory its own. ×1 keeps the sign of 0.
    """
    return ops.multiply(gradient, 1.0)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: ArrayLike | Sequence[ArrayLike] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Σ_k grad_outputs[k]ᵀ · ∂outputs[k]/∂inputs, returned instead of accumulated in ``.grad``.

    With ``create_graph=True`` the results are themselves differentiable (Hessian-vector
    products, gradient penalties). An input the outputs do not depend on raises an error,
    or gives ``None`` with ``allow_unused=True``.
    """
    if _trace.tracer is not None:  # inside compile(fn): its results would be frozen
        _trace.tracer.escape("micrograd_nd.grad()")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray, np.generic, int,
                                                         float)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(
            f"grad: {len(grad_outputs)} grad_outputs given for {len(outputs)} outputs"
        )
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError("grad: every input must be a Tensor with requires_grad=True")
    seeds = []
    for output, seed in zip(outputs, grad_outputs, strict=True):
        _check_differentiable_output(output, "grad")
        seeds.append(_seed(output, seed, create_graph, "grad"))
    retain = create_graph if retain_graph is None else retain_graph
    found = dict(
        (id(t), g) for t, g in _run(outputs, seeds, retain, create_graph, wanted=inputs)
    )
    owner = _Owner(seeds)
    results: list[Tensor | None] = []
    for position, t in enumerate(inputs):
        if id(t) not in found:
            if not allow_unused:
                raise ValueError(
                    f"grad: input {position} (shape {t.shape}) is not used to compute the "
                    "outputs; pass allow_unused=True to get None for it"
                )
            results.append(None)
            continue
        g = found[id(t)]
        _check_shape(t, g)
        results.append(_recorded_copy(g) if create_graph else Tensor._make(owner.take(t, g)))
    return tuple(results)
