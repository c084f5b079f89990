"""The delta rule, autodiff and central differences side by side, layer by layer.

:func:`compare_gradients` runs the three oracles of :mod:`micrograd_nd.oracles` on one network,
batch and cost, and reports, for every layer l and every quantity δ(l) = ∂C/∂z(l), ∂C/∂W(l),
∂C/∂b(l), how far each pair of oracles is apart (measured as in :mod:`micrograd_nd.agreement`).
A disagreement therefore names the layer and the quantity where a derivation goes wrong.

Command line::

    python -m micrograd_nd.compare --layers 4,8,3 --activation sigmoid --loss cross_entropy \\
        --batch 16 --seed 0

prints the table and exits with status 0 when every row is within tolerance, 1 when one is
not, and 2 (with a one-line message) when an argument is invalid.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from . import oracles, reference
from .agreement import (
    Report,
    Row,
    Tolerance,
    compare_pair,
    scaled_for_the_loss,
    tolerances_for_pairs,
)
from .finite_differences import check_step
from .reference import LayerGradients, Problem

__all__ = [
    "DEFAULT_TOLERANCES",
    "PAIRS",
    "GradientComparison",
    "compare_gradients",
    "main",
]

PAIRS = ("rule vs autodiff", "rule vs numeric", "autodiff vs numeric")
# Both exact oracles agree to rounding; central differences (eps = 1e-6) to about 1e-7
# relative, their atol multiplied by max(1, |C|) (agreement.scaled_for_the_loss).
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "rule vs autodiff": (1e-10, 1e-8),
    "rule vs numeric": (1e-6, 1e-5),
    "autodiff vs numeric": (1e-6, 1e-5),
}
_STEP = 1e-6  # the central-difference step of compare_gradients' default eps
# Row labels: δ(l), dW(l), db(l), with l counted from 1 as the derivation numbers layers.
_QUANTITIES = {"delta": "δ", "dW": "dW", "db": "db"}


@dataclass(frozen=True)
class GradientComparison(Report):
    """The oracles' gradients (``gradients["rule" | "autodiff" | "numeric"]``) and one row per
    layer, quantity and pair of oracles."""

    problem: Problem
    gradients: dict[str, LayerGradients]

    @property
    def delta_rule(self) -> reference.BackpropResult:
        return self.gradients["rule"]  # type: ignore[return-value]

    @property
    def autodiff(self) -> LayerGradients:
        return self.gradients["autodiff"]

    @property
    def numeric(self) -> LayerGradients | None:
        return self.gradients.get("numeric")


def _rows(gradients: dict[str, LayerGradients], pairs: dict[str, Tolerance]) -> list[Row]:
    rows = []
    n_layers = len(gradients["rule"].dW)
    for layer in range(n_layers):
        for field, symbol in _QUANTITIES.items():
            arrays = {name: getattr(g, field)[layer] for name, g in gradients.items()}
            for pair, tolerance in pairs.items():
                rows.append(compare_pair(f"{symbol}({layer + 1})", pair, arrays, tolerance))
    return rows


def compare_gradients(
    network: Any, X: Any, labels: Any, loss: str = "cross_entropy", reduction: str = "mean",
    l2: float = 0.0, bce_guard: float = 0.0, activations: Sequence[str] | None = None,
    numeric: bool = True, eps: float = _STEP,
    tolerances: dict[str, tuple[float, float]] | None = None,
) -> GradientComparison:
    """Run the delta rule, autodiff and (if ``numeric``) central differences on one batch.

    ``network`` is an nn ``MLP``/``Sequential`` or ``(weights, biases)`` with ``activations``.
    ``labels`` are target rows; for ``"cross_entropy"`` integer class labels are one-hot
    encoded. ``loss`` is a name of :data:`reference.COST_ALIASES`; the cost is the reference's
    (module docstring of :mod:`micrograd_nd.reference`). Everything is computed in float64.
    ``tolerances`` overrides ``{pair: (atol, rtol)}`` of :data:`DEFAULT_TOLERANCES`.
    """
    problem = oracles.network_problem(network, X, labels, loss, reduction, l2, bce_guard,
                                      activations, caller="compare_gradients")
    pairs = tolerances_for_pairs("compare_gradients", DEFAULT_TOLERANCES, tolerances)
    gradients: dict[str, LayerGradients] = {
        "rule": oracles.delta_rule(problem),
        "autodiff": oracles.autodiff(problem),
    }
    if numeric:
        gradients["numeric"] = oracles.central_differences(problem, eps,
                                                            caller="compare_gradients")
        pairs = scaled_for_the_loss(pairs, reference.cost_value(**problem.arguments()))
    else:
        pairs = {pair: pairs[pair] for pair in PAIRS if "numeric" not in pair}
    return GradientComparison(tuple(gradients), tuple(_rows(gradients, pairs)), problem,
                              gradients)


# ---------------------------------------------------------------------------------------------
# Command line. Exit status: 0 all rows pass, 1 a row fails, 2 a bad argument.
# ---------------------------------------------------------------------------------------------
class _UsageError(Exception):
    """A bad command-line argument; main() prints it on one line and returns 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _number(minimum: float, strict: bool) -> Any:
    """An argparse type: a finite float ≥ minimum (> minimum when strict)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not np.isfinite(value) or value < minimum or (strict and value == minimum):
            relation = ">" if strict else "≥"
            raise argparse.ArgumentTypeError(
                f"must be a finite number {relation} {minimum:g}, got {text}")
        return value

    return parse


def _count(minimum: int) -> Any:
    """An argparse type: an integer ≥ minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer ≥ {minimum}, got {text}")
        return value

    return parse


def _layer_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated integers, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"needs at least two positive sizes (input first), got {text!r}")
    return sizes


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m micrograd_nd.compare",
        description="Compare the delta rule, autodiff and finite differences layer by layer "
                    "on a random network and batch. Exit status: 0 agree, 1 disagree, "
                    "2 bad arguments.",
    )
    parser.add_argument("--layers", type=_layer_sizes, default="4,8,3",
                        help="layer sizes, input first (default 4,8,3)")
    parser.add_argument("--activation", default="sigmoid", choices=reference.ACTIVATIONS,
                        help="hidden activation")
    parser.add_argument("--output-activation", default=None, choices=reference.ACTIVATIONS,
                        help="output activation (default: the one the loss pairs with — "
                             "sigmoid for square and bce, identity for mse and cross_entropy, "
                             "whose cost applies the softmax)")
    parser.add_argument("--loss", default="cross_entropy", choices=sorted(reference.COST_ALIASES))
    parser.add_argument("--reduction", default="mean", choices=reference.REDUCTIONS)
    parser.add_argument("--l2", type=_number(0.0, strict=False), default=0.0,
                        help="L2 penalty λ ≥ 0")
    parser.add_argument("--bce-guard", type=_number(0.0, strict=False), default=0.0,
                        help="the 1e-5 the handwritten-digit article's code adds inside the "
                             "logs of eq. (4)")
    parser.add_argument("--batch", type=_count(1), default=16)
    parser.add_argument("--seed", type=_count(0), default=0)
    parser.add_argument("--weight-scale", type=_number(0.0, strict=True), default=1.0,
                        help="standard deviation of the random weights (> 0)")
    parser.add_argument("--no-numeric", action="store_true",
                        help="skip central differences (large networks)")
    return parser


def _random_problem(args: argparse.Namespace) -> Problem:
    sizes = args.layers
    rng = np.random.default_rng(args.seed)
    weights = [rng.normal(0.0, args.weight_scale, (n_out, n_in))
               for n_in, n_out in itertools.pairwise(sizes)]
    biases = [rng.normal(0.0, args.weight_scale, n_out) for n_out in sizes[1:]]
    cost = reference.COST_RULES[reference.COST_ALIASES[args.loss]]
    output = args.output_activation or cost.pairs_with
    activations = [args.activation] * (len(sizes) - 2) + [output]
    X = rng.normal(size=(args.batch, sizes[0]))
    if cost.name == "softmax_cross_entropy":
        labels = rng.integers(0, sizes[-1], args.batch)
    elif cost.name == "binary_cross_entropy":
        labels = rng.integers(0, 2, (args.batch, sizes[-1])).astype(np.float64)
    else:
        labels = rng.uniform(0.0, 1.0, (args.batch, sizes[-1]))
    problem = oracles.network_problem((weights, biases), X, labels, args.loss, args.reduction,
                                      args.l2, args.bce_guard, activations, caller="compare")
    if not args.no_numeric:
        try:
            check_step(_STEP, "compare", [*problem.weights, *problem.biases])
        except ValueError:
            raise _UsageError(
                f"argument --weight-scale: {args.weight_scale:g} is too large for central "
                f"differences with step {_STEP:g} (w ± {_STEP:g} == w); use a smaller scale "
                "or --no-numeric") from None
    return problem


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        problem = _random_problem(args)  # every ValueError here is about the arguments
        # ... and so is one here: a problem whose values no float64 step can difference
        # (--weight-scale 1e6 makes pre-activations of 1e11).
        result = compare_gradients((problem.weights, problem.biases), problem.X,
                                   problem.labels, problem.cost, problem.reduction, problem.l2,
                                   problem.bce_guard, problem.activations,
                                   numeric=not args.no_numeric)
    except (_UsageError, ValueError) as error:
        print(f"python -m micrograd_nd.compare: error: {error}", file=sys.stderr)
        return 2
    print(f"network {','.join(map(str, args.layers))}, activations {problem.activations}, "
          f"loss {args.loss} ({args.reduction}), L2 λ={args.l2}, batch {args.batch}, "
          f"seed {args.seed}")
    print(f"cost: delta rule {result.delta_rule.cost:.12g}, autodiff {result.autodiff.cost:.12g}")
    print(result.table())
    tolerance_text = ", ".join(f"{pair}: atol {atol:g}, rtol {rtol:g}"
                               for pair, (atol, rtol) in DEFAULT_TOLERANCES.items())
    tolerance_text += "; numeric atol × max(1, |C|)"
    if result.passed:
        print(f"PASS: every row within tolerance ({tolerance_text})")
        return 0
    worst = max(result.failures, key=lambda row: row.max_rel)
    print(f"FAIL: {len(result.failures)} rows exceed tolerance; worst: {worst.quantity}, "
          f"{worst.pair}, max abs {worst.max_abs:.3e} ({tolerance_text})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
