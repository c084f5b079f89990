"""Check a hand-written backprop, layer by layer, the way the handwritten-digit article writes it.

    python examples/check_my_backprop.py                       # the correct derivation: PASS
    python examples/check_my_backprop.py --bug missing-g-prime # a planted mistake: the table
                                                               # shows which layer and parameter

The network is the article's code style: one sample is a column vector, every layer is an
object with ``W``, ``b``, and after ``backward`` its ``delta``, ``gradient_W`` and
``gradient_b`` (eqs. (1), (2), (7), (8), (10)–(13)); the cost of a batch is the square cost
(3) summed over the samples. ``compare_manual`` compares those stored gradients with autodiff
and central differences of the same cost, one row per layer parameter.

Planted mistakes (``--bug``):

* ``missing-g-prime``: the hidden error term forgets g′(z), δ(l) = W(l+1)ᵀ δ(l+1) (13) —
  every layer below the output is wrong, the output layer is right;
* ``transposed-w``: δ(l) pulled back through W(l+1) instead of W(l+1)ᵀ (13) — every layer
  below the output is wrong (the layers are square, so the shapes do not give it away);
* ``mean-not-sum``: the bias gradients are averaged over the batch while the cost sums it
  (8) — every b is wrong, every W is right;
* ``wrong-sign``: the output error term uses label − y (the worked example's "error") as if it
  were ∂cost/∂y (11) — everything is wrong, with the opposite sign.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence

import numpy as np

import micrograd_nd as mg
from micrograd_nd.manual import ManualComparison, compare_manual

BUGS = ("missing-g-prime", "transposed-w", "mean-not-sum", "wrong-sign")
LAYER_SIZES = (3, 3, 3, 3)  # square layers: a transposed W keeps its shape
BATCH = 5


class Sigmoid:
    """The article's activator: forward g(z) (2), backward g′ from the output, y(1 − y) (12)."""

    def forward(self, z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-z))

    def backward(self, output: np.ndarray) -> np.ndarray:
        return output * (1.0 - output)


class FullConnectedLayer:
    """One layer, one sample at a time: ``input`` and ``output`` are columns."""

    def __init__(self, W: np.ndarray, b: np.ndarray, activator: Sigmoid, bug: str | None):
        self.W = W            # (output_size, input_size)
        self.b = b            # (output_size, 1)
        self.activator = activator
        self.bug = bug
        self.input = np.empty(0)
        self.output = np.empty(0)
        self.delta = np.empty(0)       # the error term of the layer below (as the article does)
        self.gradient_W = np.empty(0)
        self.gradient_b = np.empty(0)

    def forward(self, input: np.ndarray) -> None:
        z = self.W @ input + self.b                       # (1)
        self.input = input
        self.output = self.activator.forward(z)           # (2)

    def backward(self, delta: np.ndarray) -> None:
        """``delta`` is this layer's δ; store its gradients (7), (8) and the δ below (13)."""
        pulled_back = (self.W if self.bug == "transposed-w" else self.W.T) @ delta
        # g′ of the layer below, from its output (= this layer's input), as in (12)-(13)
        g_prime = 1.0 if self.bug == "missing-g-prime" else self.activator.backward(self.input)
        self.delta = g_prime * pulled_back
        self.gradient_W = delta @ self.input.T            # (7)
        self.gradient_b = delta                            # (8)


class Network:
    def __init__(self, params: dict[str, np.ndarray], bug: str | None = None):
        self.bug = bug
        self.layers = [FullConnectedLayer(params[f"layer{i}.W"], params[f"layer{i}.b"],
                                          Sigmoid(), bug)
                       for i in range(1, len(LAYER_SIZES))]

    def predict(self, sample: np.ndarray) -> np.ndarray:
        output = sample
        for layer in self.layers:
            layer.forward(output)
            output = layer.output
        return output

    def cal_gradient(self, label: np.ndarray) -> None:
        """δ(L) = ∂cost/∂y ⊙ g′(z(L)) (10)–(12), then every layer's backward, last first."""
        output = self.layers[-1].output
        d_cost_d_y = (label - output) if self.bug == "wrong-sign" else -(label - output)  # (11)
        delta = self.layers[-1].activator.backward(output) * d_cost_d_y
        for layer in reversed(self.layers):
            layer.backward(delta)
            delta = layer.delta

    def batch_gradients(self, samples: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
        """∂/∂θ of Σ_n cost_n: the per-sample gradients added up over the batch."""
        totals: dict[str, np.ndarray] = {}
        for sample, label in zip(samples, labels, strict=True):
            self.predict(sample)
            self.cal_gradient(label)
            for i, layer in enumerate(self.layers, start=1):
                for name, gradient in ((f"layer{i}.W", layer.gradient_W),
                                       (f"layer{i}.b", layer.gradient_b)):
                    totals[name] = totals.get(name, 0.0) + gradient
        if self.bug == "mean-not-sum":
            for i in range(1, len(self.layers) + 1):
                totals[f"layer{i}.b"] = totals[f"layer{i}.b"] / len(samples)
        return totals


def square_cost(params: dict[str, mg.Tensor], samples: np.ndarray, labels: np.ndarray
                ) -> mg.Tensor:
    """Σ_n Σ_k ½ (label_k − y_k)² (3), with the samples side by side as columns."""
    activation = mg.Tensor(samples[:, :, 0].T)            # (n_in, N)
    for i in range(1, len(LAYER_SIZES)):
        activation = mg.sigmoid(params[f"layer{i}.W"] @ activation + params[f"layer{i}.b"])
    return 0.5 * ((labels[:, :, 0].T - activation) ** 2).sum()


def problem(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Parameters, samples (N, n_in, 1) and one-hot labels (N, n_out, 1), as the article's
    data: every sample and label a column."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(LAYER_SIZES), start=1):
        params[f"layer{i}.W"] = rng.normal(0.0, 1.0, (n_out, n_in))
        params[f"layer{i}.b"] = rng.normal(0.0, 0.5, (n_out, 1))
    samples = rng.normal(size=(BATCH, LAYER_SIZES[0], 1))
    labels = np.eye(LAYER_SIZES[-1])[rng.integers(0, LAYER_SIZES[-1], BATCH)][:, :, None]
    return params, samples, labels


def check(bug: str | None = None, seed: int = 0) -> ManualComparison:
    """compare_manual of the article-style network's stored gradients."""
    params, samples, labels = problem(seed)
    return compare_manual(
        square_cost,
        lambda p, samples, labels: Network(p, bug).batch_gradients(samples, labels),
        params, args=(samples, labels),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bug", choices=BUGS, default=None, help="plant a derivation mistake")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = check(args.bug, args.seed)
    print(f"network {'-'.join(map(str, LAYER_SIZES))}, sigmoid layers, square cost (3) summed "
          f"over {BATCH} samples; planted bug: {args.bug or 'none'}")
    print(report)
    if report.passed:
        print("PASS: your gradients agree with autodiff and central differences")
        return 0
    wrong = sorted({row.quantity for row in report.failures if row.pair.startswith("manual")})
    print(f"FAIL: your gradient is wrong for {', '.join(wrong)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
