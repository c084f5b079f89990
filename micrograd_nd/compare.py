"""Three oracles for the gradients of a fully connected network, compared layer by layer.

* the hand-derived delta rule (:mod:`micrograd_nd.reference`, NumPy only),
* autodiff (this library's engine, with ∂C/∂z(l) kept for every layer),
* central differences in float64 of the reference cost (:mod:`micrograd_nd.finite_differences`).

For every layer l and every quantity δ(l) = ∂C/∂z(l), ∂C/∂W(l), ∂C/∂b(l), the report gives the
largest absolute difference between each pair of oracles and the same divided by the largest
magnitude of the two (so a row reads the same whatever the scale of the gradient). A
disagreement therefore names the layer and the quantity where a derivation goes wrong.

Command line::

    python -m micrograd_nd.compare --layers 4,8,3 --activation sigmoid --loss cross_entropy \\
        --batch 16 --seed 0

prints the table and exits with status 1 when a tolerance is exceeded.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import functional as F
from . import reference
from .data import one_hot
from .finite_differences import numerical_gradient
from .nn import Identity, Linear, ReLU, Sequential, Sigmoid, Tanh
from .tensor import Tensor

__all__ = [
    "LOSSES",
    "ComparisonRow",
    "GradientComparison",
    "Network",
    "autodiff_backprop",
    "compare_gradients",
    "main",
    "network_arrays",
    "prepare_problem",
]

QUANTITIES = ("delta", "dW", "db")
PAIRS = ("rule vs autodiff", "rule vs numeric", "autodiff vs numeric")
# Loss names accepted here → the reference's cost names.
LOSSES = {
    "square": "square",
    "mse": "mse",
    "bce": "binary_cross_entropy",
    "binary_cross_entropy": "binary_cross_entropy",
    "cross_entropy": "softmax_cross_entropy",
    "softmax_cross_entropy": "softmax_cross_entropy",
}
# Both exact oracles agree to rounding; central differences (eps = 1e-6) to about 1e-7 relative.
DEFAULT_TOLERANCES = {
    "rule vs autodiff": (1e-10, 1e-8),
    "rule vs numeric": (1e-6, 1e-5),
    "autodiff vs numeric": (1e-6, 1e-5),
}
_ACTIVATION_MODULES = {Sigmoid: "sigmoid", Tanh: "tanh", ReLU: "relu", Identity: "identity"}
_AUTODIFF_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": F.sigmoid, "tanh": F.tanh, "relu": F.relu, "identity": F.identity,
}


@dataclass(frozen=True)
class Network:
    """Plain float64 arrays of a fully connected network: W(l) is (out, in), b(l) is (out,)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activations: list[str]


def network_arrays(network: Any, activations: Sequence[str] | None = None) -> Network:
    """The weights, biases and activation names of an nn ``MLP``/``Sequential`` or of a
    ``(weights, biases)`` pair (which then needs ``activations``, one name per layer)."""
    if isinstance(network, Sequential):
        return _from_sequential(network)
    if isinstance(network, (tuple, list)) and len(network) == 2:
        weights, biases = network
        if activations is None:
            raise ValueError("network_arrays: plain (weights, biases) need `activations`")
        if len(activations) != len(weights):
            raise ValueError(
                f"network_arrays: {len(activations)} activations for {len(weights)} layers"
            )
        return Network(
            [np.array(w, dtype=np.float64) for w in weights],
            [np.array(b, dtype=np.float64) for b in biases],
            list(activations),
        )
    raise TypeError(
        "network_arrays: expected an nn.MLP / nn.Sequential of Linear layers and activations, "
        f"or a (weights, biases) pair; got {type(network).__name__}"
    )


def _from_sequential(model: Sequential) -> Network:
    weights: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    names: list[str] = []
    for module in model:
        if isinstance(module, Linear):
            if module.bias is None:
                raise ValueError("compare: Linear layers without bias are not supported")
            weights.append(np.array(module.weight.data, dtype=np.float64))
            biases.append(np.array(module.bias.data, dtype=np.float64))
            names.append("identity")  # until an activation module follows
        elif type(module) in _ACTIVATION_MODULES and weights and names[-1] == "identity":
            names[-1] = _ACTIVATION_MODULES[type(module)]
        else:
            raise ValueError(
                f"compare: cannot follow a {type(module).__name__} module; the delta rule "
                "covers Linear layers each followed by at most one of "
                "Sigmoid/Tanh/ReLU/Identity (use logits and loss='cross_entropy' for softmax)"
            )
    if not weights:
        raise ValueError("compare: the model has no Linear layer")
    return Network(weights, biases, names)


def prepare_problem(caller: str, network: Any, X: Any, labels: Any, loss: str,
                    activations: Sequence[str] | None = None
                    ) -> tuple[Network, np.ndarray, np.ndarray, str]:
    """Validated float64 network arrays, inputs, label rows and the reference cost name.

    Integer class labels are one-hot encoded for the softmax cross-entropy.
    """
    if loss not in LOSSES:
        raise ValueError(f"{caller}: unknown loss {loss!r}; expected one of {sorted(LOSSES)}")
    cost = LOSSES[loss]
    arrays = network_arrays(network, activations)
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    if cost == "softmax_cross_entropy" and labels.ndim == 1:
        labels = one_hot(labels, arrays.weights[-1].shape[0])
    labels = labels.astype(np.float64).reshape(X.shape[0], -1)
    return arrays, X, labels, cost


@dataclass(frozen=True)
class LayerGradients:
    """δ(l), ∂C/∂W(l), ∂C/∂b(l) for every layer, and the cost."""

    delta: list[np.ndarray]
    dW: list[np.ndarray]
    db: list[np.ndarray]
    cost: float


def _autodiff_cost(z_out: Tensor, a_out: Tensor, labels: np.ndarray, cost: str,
                   reduction: str, bce_guard: float) -> Tensor:
    """The reference's cost C written with the library's losses (none has its own derivative)."""
    n_samples, n_outputs = labels.shape
    per_sample_mean = 1.0 / n_samples if reduction == "mean" else 1.0
    if cost == "square":
        return F.square_loss(a_out, labels, reduction=reduction)
    if cost == "mse":  # the reference averages over outputs, then sums or averages samples
        return F.mse_loss(a_out, labels, reduction="sum") * (per_sample_mean / n_outputs)
    if cost == "binary_cross_entropy":
        if bce_guard > 0:
            summed = F.binary_cross_entropy(a_out, labels, reduction="sum", eps=bce_guard)
        else:  # eq. (4) on σ(z), evaluated stably from the logits
            summed = F.binary_cross_entropy_with_logits(z_out, labels, reduction="sum")
        return summed * per_sample_mean
    if cost == "softmax_cross_entropy":
        return F.cross_entropy(z_out, labels, reduction=reduction)
    raise ValueError(f"unknown cost {cost!r}")


def autodiff_backprop(network: Network, X: np.ndarray, labels: np.ndarray, cost: str,
                      reduction: str = "sum", l2: float = 0.0, bce_guard: float = 0.0
                      ) -> LayerGradients:
    """Gradients by this library's autodiff, keeping ∂C/∂z(l) of every layer (``retain_grad``)."""
    weights = [Tensor(w, requires_grad=True) for w in network.weights]
    biases = [Tensor(b, requires_grad=True) for b in network.biases]
    activation = Tensor(np.asarray(X, dtype=np.float64))
    pre_activations = []
    for w, b, name in zip(weights, biases, network.activations, strict=True):
        z = activation @ w.T + b  # (1) in rows: Z = X Wᵀ + bᵀ
        z.retain_grad()
        pre_activations.append(z)
        activation = _AUTODIFF_ACTIVATIONS[name](z)  # (2)
    total = _autodiff_cost(pre_activations[-1], activation, labels, cost, reduction, bce_guard)
    if l2:
        total = total + F.l2_penalty(weights, l2)
    total.backward()
    return LayerGradients(
        [z.grad.data for z in pre_activations],
        [w.grad.data for w in weights],
        [b.grad.data for b in biases],
        total.item(),
    )


def _numerical_backprop(network: Network, X: np.ndarray, labels: np.ndarray, cost: str,
                        reduction: str, l2: float, bce_guard: float, eps: float
                        ) -> LayerGradients:
    """Central differences of the reference cost w.r.t. every z(l), W(l) and b(l)."""
    n_layers = len(network.weights)

    def cost_of(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> float:
        return reference.cost_value(weights, biases, X, labels, network.activations, cost,
                                    reduction, l2, bce_guard)

    parameter_grads = numerical_gradient(
        lambda *arrays: cost_of(arrays[:n_layers], arrays[n_layers:]),
        [*network.weights, *network.biases], eps,
    )
    zs = reference.forward_backward(network.weights, network.biases, X, labels,
                                    network.activations, cost, reduction, l2, bce_guard).z
    deltas = [
        numerical_gradient(lambda z, layer=layer: _cost_from_layer(
            network, layer, z, labels, cost, reduction, bce_guard), [zs[layer]], eps)[0]
        for layer in range(n_layers)
    ]
    return LayerGradients(deltas, parameter_grads[:n_layers], parameter_grads[n_layers:],
                          cost_of(network.weights, network.biases))


def _cost_from_layer(network: Network, layer: int, z: np.ndarray, labels: np.ndarray,
                     cost: str, reduction: str, bce_guard: float) -> float:
    """The data cost as a function of z(layer) (the L2 term does not depend on z)."""
    activation = reference.activate(network.activations[layer], z)
    for w, b, name in zip(network.weights[layer + 1:], network.biases[layer + 1:],
                          network.activations[layer + 1:], strict=True):
        z = activation @ w.T + b
        activation = reference.activate(name, z)
    costs = reference.sample_costs(cost, z, activation, labels, bce_guard)
    return float(np.sum(costs)) * reference.sample_weight(reduction, labels.shape[0])


@dataclass(frozen=True)
class ComparisonRow:
    """The largest disagreement between two oracles for one quantity of one layer."""

    layer: int  # 1-based, as the source documents number layers
    quantity: str  # "delta", "dW" or "db"
    pair: str
    max_abs: float
    max_rel: float  # max_abs / the largest magnitude among both oracles' values
    tolerance: tuple[float, float]  # (atol, rtol): passes if max_abs ≤ atol + rtol·scale

    @property
    def passed(self) -> bool:
        atol, rtol = self.tolerance
        scale = self.max_abs / self.max_rel if self.max_rel > 0 else 0.0
        return self.max_abs <= atol + rtol * scale


@dataclass(frozen=True)
class GradientComparison:
    """The oracles' gradients and the per-layer table of their disagreements."""

    network: Network
    delta_rule: reference.BackpropResult
    autodiff: LayerGradients
    numeric: LayerGradients | None
    rows: list[ComparisonRow] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> list[ComparisonRow]:
        return [row for row in self.rows if not row.passed]

    def table(self) -> str:
        """The comparison as aligned text: one line per (layer, quantity), a column pair per
        pair of oracles, failures marked with ``!``."""
        pairs = [p for p in PAIRS if any(row.pair == p for row in self.rows)]
        header = f"{'layer':>5} {'grad':<5}" + "".join(f" | {p:^23}" for p in pairs)
        sub = f"{'':>5} {'':<5}" + "".join(f" | {'max abs':>11} {'max rel':>11}" for _ in pairs)
        lines = [header, sub, "-" * len(header)]
        by_key = {(r.layer, r.quantity, r.pair): r for r in self.rows}
        for layer in range(1, len(self.network.weights) + 1):
            for quantity in QUANTITIES:
                cells = []
                for pair in pairs:
                    row = by_key[(layer, quantity, pair)]
                    mark = " " if row.passed else "!"
                    cells.append(f" | {row.max_abs:11.3e} {row.max_rel:10.3e}{mark}")
                label = "δ" if quantity == "delta" else quantity
                lines.append(f"{layer:>5} {label:<5}" + "".join(cells))
        return "\n".join(lines)


def _disagreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(max(np.max(np.abs(a)), np.max(np.abs(b)))) if a.size else 0.0
    return max_abs, (max_abs / scale if scale > 0 else 0.0)


def compare_gradients(
    network: Any,
    X: Any,
    labels: Any,
    loss: str = "cross_entropy",
    reduction: str = "mean",
    l2: float = 0.0,
    bce_guard: float = 0.0,
    activations: Sequence[str] | None = None,
    numeric: bool = True,
    eps: float = 1e-6,
    tolerances: dict[str, tuple[float, float]] | None = None,
) -> GradientComparison:
    """Run the delta rule, autodiff and (if ``numeric``) central differences on one batch.

    ``network`` is an nn ``MLP``/``Sequential`` or ``(weights, biases)`` with ``activations``.
    ``labels`` are target rows; for ``"cross_entropy"`` integer class labels are one-hot
    encoded. ``loss`` is one of :data:`LOSSES`; the cost is the reference's (module docstring
    of :mod:`micrograd_nd.reference`). Everything is computed in float64.
    """
    arrays, X, labels, cost = prepare_problem("compare_gradients", network, X, labels, loss,
                                              activations)
    tolerances = {**DEFAULT_TOLERANCES, **(tolerances or {})}

    rule = reference.forward_backward(arrays.weights, arrays.biases, X, labels,
                                      arrays.activations, cost, reduction, l2, bce_guard)
    auto = autodiff_backprop(arrays, X, labels, cost, reduction, l2, bce_guard)
    num = (_numerical_backprop(arrays, X, labels, cost, reduction, l2, bce_guard, eps)
           if numeric else None)
    oracles = {"rule": (rule.delta, rule.dW, rule.db),
               "autodiff": (auto.delta, auto.dW, auto.db)}
    if num is not None:
        oracles["numeric"] = (num.delta, num.dW, num.db)
    rows = []
    for pair in PAIRS:
        left, right = pair.split(" vs ")
        if left not in oracles or right not in oracles:
            continue
        for layer in range(len(arrays.weights)):
            for q, quantity in enumerate(QUANTITIES):
                max_abs, max_rel = _disagreement(oracles[left][q][layer],
                                                 oracles[right][q][layer])
                rows.append(ComparisonRow(layer + 1, quantity, pair, max_abs, max_rel,
                                          tolerances[pair]))
    return GradientComparison(arrays, rule, auto, num, rows)


# ---------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------
_DEFAULT_OUTPUT = {"square": "sigmoid", "mse": "identity", "bce": "sigmoid",
                   "binary_cross_entropy": "sigmoid", "cross_entropy": "identity",
                   "softmax_cross_entropy": "identity"}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m micrograd_nd.compare",
        description="Compare the delta rule, autodiff and finite differences layer by layer "
                    "on a random network and batch.",
    )
    parser.add_argument("--layers", default="4,8,3",
                        help="layer sizes, input first (default 4,8,3)")
    parser.add_argument("--activation", default="sigmoid",
                        choices=reference.ACTIVATIONS, help="hidden activation")
    parser.add_argument("--output-activation", default=None, choices=reference.ACTIVATIONS,
                        help="output activation (default: sigmoid for square/bce, identity "
                             "for mse and cross_entropy, whose cost applies the softmax)")
    parser.add_argument("--loss", default="cross_entropy", choices=sorted(LOSSES))
    parser.add_argument("--reduction", default="mean", choices=reference.REDUCTIONS)
    parser.add_argument("--l2", type=float, default=0.0, help="L2 penalty λ (seed 003)")
    parser.add_argument("--bce-guard", type=float, default=0.0,
                        help="seed 001's 1e-5 inside the logs of eq. (4)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weight-scale", type=float, default=1.0,
                        help="standard deviation of the random weights")
    parser.add_argument("--no-numeric", action="store_true",
                        help="skip central differences (large networks)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        sizes = [int(s) for s in args.layers.split(",")]
    except ValueError:
        print(f"--layers must be comma-separated integers, got {args.layers!r}", file=sys.stderr)
        return 2
    if len(sizes) < 2 or min(sizes) < 1 or args.batch < 1:
        print("--layers needs at least two positive sizes and --batch must be positive",
              file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    weights = [rng.normal(0.0, args.weight_scale, (n_out, n_in))
               for n_in, n_out in itertools.pairwise(sizes)]
    biases = [rng.normal(0.0, args.weight_scale, n_out) for n_out in sizes[1:]]
    output = args.output_activation or _DEFAULT_OUTPUT[args.loss]
    activations = [args.activation] * (len(sizes) - 2) + [output]
    X = rng.normal(size=(args.batch, sizes[0]))
    if LOSSES[args.loss] == "softmax_cross_entropy":
        labels = rng.integers(0, sizes[-1], args.batch)
    elif LOSSES[args.loss] == "binary_cross_entropy":
        labels = rng.integers(0, 2, (args.batch, sizes[-1])).astype(np.float64)
    else:
        labels = rng.uniform(0.0, 1.0, (args.batch, sizes[-1]))

    result = compare_gradients((weights, biases), X, labels, loss=args.loss,
                               reduction=args.reduction, l2=args.l2, bce_guard=args.bce_guard,
                               activations=activations, numeric=not args.no_numeric)
    print(f"network {args.layers}, activations {activations}, loss {args.loss} "
          f"({args.reduction}), L2 λ={args.l2}, batch {args.batch}, seed {args.seed}")
    print(f"cost: delta rule {result.delta_rule.cost:.12g}, autodiff {result.autodiff.cost:.12g}")
    print(result.table())
    tolerances = ", ".join(f"{pair}: atol {atol:g}, rtol {rtol:g}"
                           for pair, (atol, rtol) in DEFAULT_TOLERANCES.items())
    if result.passed:
        print(f"PASS: every row within tolerance ({tolerances})")
        return 0
    worst = max(result.failures, key=lambda row: row.max_rel)
    print(f"FAIL: {len(result.failures)} rows exceed tolerance; worst: layer {worst.layer} "
          f"{worst.quantity}, {worst.pair}, max abs {worst.max_abs:.3e} ({tolerances})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
