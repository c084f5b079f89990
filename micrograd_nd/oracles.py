"""Three independent computations of a fully connected network's gradients, on one problem.

* :func:`delta_rule` — the hand-derived delta rule (:mod:`micrograd_nd.reference`, NumPy only);
* :func:`autodiff` — this library's engine, keeping ∂C/∂z(l) of every layer;
* :func:`central_differences` — float64 central differences of the reference cost C with
  respect to every W(l) and b(l), and, by perturbing z(l) and running the layers above it, every
  z(l). It depends on the reference's forward pass only, never on a derivative.

Each returns a :class:`reference.LayerGradients` (δ, dW, db per layer, and C), so any two can be
compared entry by entry (:mod:`micrograd_nd.compare`). The problem they share is a
:class:`reference.Problem`, made by :func:`network_problem` from an ``nn.MLP``/``Sequential``
or from plain ``(weights, biases)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import functional as F
from . import reference
from .data import one_hot
from .finite_differences import numerical_gradient
from .nn import ACTIVATIONS as ACTIVATION_MODULES
from .nn import Linear, Sequential
from .reference import LayerGradients, Problem
from .tensor import Tensor

__all__ = [
    "autodiff",
    "central_differences",
    "delta_rule",
    "network_problem",
    "read_network",
]

# Module class → name, for every activation the delta rule knows (one list: the reference's).
_ACTIVATION_NAMES = {ACTIVATION_MODULES[name]: name for name in reference.ACTIVATIONS}


def read_network(network: Any, activations: Sequence[str] | None = None, *,
                 caller: str = "read_network"
                 ) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Float64 weights (out, in), biases (out,) and activation names of an nn ``MLP`` or
    ``Sequential`` (Linear layers, each followed by at most one activation module), or of a
    ``(weights, biases)`` pair, which then needs ``activations``, one name per layer."""
    if isinstance(network, Sequential):
        if activations is not None:
            raise ValueError(f"{caller}: a model brings its own activations; "
                             "`activations` is only for plain (weights, biases)")
        return _from_sequential(network, caller)
    if isinstance(network, (tuple, list)) and len(network) == 2:
        weights, biases = network
        if activations is None:
            raise ValueError(f"{caller}: plain (weights, biases) need `activations`, "
                             f"one of {reference.ACTIVATIONS} per layer")
        return list(weights), list(biases), list(activations)
    raise TypeError(
        f"{caller}: expected an nn.MLP / nn.Sequential of Linear layers and activations, "
        f"or a (weights, biases) pair; got {type(network).__name__}"
    )


def _from_sequential(model: Sequential, caller: str
                     ) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    names: list[str] = []
    for module in model:
        if isinstance(module, Linear):
            if module.bias is None:
                raise ValueError(f"{caller}: Linear layers without bias are not supported")
            weights.append(np.array(module.weight.data, dtype=np.float64))
            biases.append(np.array(module.bias.data, dtype=np.float64))
            names.append("identity")  # until an activation module follows
        elif type(module) in _ACTIVATION_NAMES and weights and names[-1] == "identity":
            names[-1] = _ACTIVATION_NAMES[type(module)]
        else:
            raise ValueError(
                f"{caller}: cannot follow a {type(module).__name__} module; the delta rule "
                "covers Linear layers each followed by at most one of "
                f"{', '.join(cls.__name__ for cls in _ACTIVATION_NAMES)} "
                "(use logits and loss='cross_entropy' for softmax)"
            )
    if not weights:
        raise ValueError(f"{caller}: the model has no Linear layer")
    return weights, biases, names


def network_problem(
    network: Any, X: Any, labels: Any, loss: str = "cross_entropy", reduction: str = "mean",
    l2: float = 0.0, bce_guard: float = 0.0, activations: Sequence[str] | None = None, *,
    caller: str = "network_problem",
) -> Problem:
    """The validated float64 problem every oracle takes (see :func:`reference.validate`).

    ``loss`` is a name or alias of :data:`reference.COST_ALIASES`. Integer class labels of
    shape ``(N,)`` are one-hot encoded for the softmax cross-entropy; other 1-D labels of
    length N become one column. Errors name ``caller``.
    """
    if not isinstance(loss, str) or loss not in reference.COST_ALIASES:
        raise ValueError(
            f"{caller}: unknown loss {loss!r}; expected one of {sorted(reference.COST_ALIASES)}"
        )
    weights, biases, names = read_network(network, activations, caller=caller)
    try:
        X = np.asarray(X)
        labels = np.asarray(labels)
        if labels.ndim == 1 and X.ndim > 0 and labels.shape[0] == X.shape[0]:
            if (reference.COST_ALIASES[loss] == "softmax_cross_entropy"
                    and labels.dtype.kind in "iu"):
                labels = one_hot(labels, np.shape(weights[-1])[0])
            else:
                labels = labels[:, np.newaxis]
        problem = reference.validate(weights, biases, X, labels, names, loss, reduction, l2,
                                     bce_guard)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{caller}: {error}") from None
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported just below
        cost = reference.cost_value(**problem.arguments())
    if not np.isfinite(cost):
        raise ValueError(f"{caller}: the cost is {cost} at these weights and inputs (float64 "
                         "overflows): gradients cannot be compared; scale them down")
    return problem


def delta_rule(problem: Problem, *, per_sample: bool = False,
               rule: reference.DeltaRule = reference.STANDARD_RULE) -> reference.BackpropResult:
    """The hand-derived delta rule, batched (rows) or one sample at a time (columns)."""
    form = reference.forward_backward_per_sample if per_sample else reference.forward_backward
    return form(**problem.arguments(), rule=rule)


def _autodiff_cost(z_out: Tensor, a_out: Tensor, problem: Problem) -> Tensor:
    """The reference's data cost written with the library's losses (no derivative code)."""
    labels = problem.labels
    n_samples, n_outputs = labels.shape
    weight = reference.sample_weight(problem.reduction, n_samples)
    costs: dict[str, Callable[[], Tensor]] = {
        "square": lambda: F.square_loss(a_out, labels, reduction="sum") * weight,
        # the reference averages over the K outputs, then sums or averages the samples
        "mse": lambda: F.mse_loss(a_out, labels, reduction="sum") * (weight / n_outputs),
        "binary_cross_entropy": lambda: (
            F.binary_cross_entropy(a_out, labels, reduction="sum", eps=problem.bce_guard)
            if problem.bce_guard > 0
            # (4) on σ(z), from the logits: the output layer is a sigmoid (validated)
            else F.binary_cross_entropy_with_logits(z_out, labels, reduction="sum")
        ) * weight,
        "softmax_cross_entropy": lambda: F.cross_entropy(a_out, labels, reduction="sum") * weight,
    }
    return costs[problem.cost]()


def autodiff(problem: Problem) -> LayerGradients:
    """Gradients by this library's autodiff; ∂C/∂z(l) of every layer kept by ``retain_grad``."""
    weights = [Tensor(w, requires_grad=True) for w in problem.weights]
    biases = [Tensor(b, requires_grad=True) for b in problem.biases]
    activation = Tensor(problem.X)
    pre_activations = []
    for w, b, name in zip(weights, biases, problem.activations, strict=True):
        z = activation @ w.T + b  # (1) in rows: Z = X Wᵀ + bᵀ
        z.retain_grad()
        pre_activations.append(z)
        activation = ACTIVATION_MODULES[name]()(z)  # (2)
    total = _autodiff_cost(pre_activations[-1], activation, problem)
    if problem.l2:
        total = total + F.l2_penalty(weights, problem.l2)
    total.backward()
    return LayerGradients(
        [z.grad.data for z in pre_activations],
        [w.grad.data for w in weights],
        [b.grad.data for b in biases],
        total.item(),
    )


def central_differences(problem: Problem, eps: float = 1e-6, *,
                        caller: str = "central_differences") -> LayerGradients:
    """Central differences of the reference cost w.r.t. every W(l), b(l) and z(l)."""
    n_layers = len(problem.weights)
    arguments = problem.arguments()

    def cost_of(*parameters: np.ndarray) -> float:
        return reference.cost_value(**{**arguments, "weights": parameters[:n_layers],
                                       "biases": parameters[n_layers:]})

    parameter_grads = numerical_gradient(cost_of, [*problem.weights, *problem.biases], eps,
                                         caller=caller)
    zs, _ = reference.forward_pass(problem)
    deltas = [
        numerical_gradient(
            lambda z, layer=layer: reference.data_cost_from_layer(problem, layer, z),
            [zs[layer]], eps, caller=caller)[0]
        for layer in range(n_layers)
    ]
    return LayerGradients(deltas, parameter_grads[:n_layers], parameter_grads[n_layers:],
                          cost_of(*problem.weights, *problem.biases))
