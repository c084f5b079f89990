"""Vanishing gradients in deep sigmoid networks, and ReLU as the vanishing-gradient article's cure.

Builds two 8-layer MLPs of the same widths on the same batch of digits, one with sigmoid and
one with ReLU hidden layers, and prints ‖δ(l)‖ and ‖∂C/∂W(l)‖ for every layer. With matplotlib
installed it also writes ``vanishing_gradients.png``.

    python examples/vanishing_gradients.py [--depth 8] [--width 32] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from micrograd_nd import data
from micrograd_nd.diagnostics import format_norms, gradient_norms
from micrograd_nd.nn import MLP


def _batch(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    try:
        images, labels = data.load_digits()
    except ImportError:  # scikit-learn missing: a generated 64-feature, 10-class batch
        images, labels = rng.uniform(size=(size, 64)), rng.integers(0, 10, size)
    rows = rng.choice(len(images), size=size, replace=False)
    return images[rows], labels[rows]


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=8, help="number of Linear layers")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs"))
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    X, y = _batch(args.batch, rng)
    sizes = [X.shape[1]] + [args.width] * (args.depth - 1) + [10]
    curves = {}
    for activation in ("sigmoid", "relu"):
        model = MLP(sizes, activation=activation, rng=args.seed, dtype=np.float64)
        norms = gradient_norms(model, X, y, loss="cross_entropy")
        print(f"\n{activation} hidden layers ({args.depth} Linear layers, width {args.width}):")
        print(format_norms(norms))
        ratio = norms[0].weight_grad_norm / norms[-1].weight_grad_norm
        print(f"‖∂C/∂W(1)‖ / ‖∂C/∂W({args.depth})‖ = {ratio:.3e}")
        curves[activation] = [n.weight_grad_norm for n in norms]

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib not installed: table only)")
        return curves
    args.out.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(6, 4))
    for activation, values in curves.items():
        axes.semilogy(range(1, len(values) + 1), values, marker="o",
                      label=f"{activation} hidden layers")
    axes.set_xticks(range(1, len(next(iter(curves.values()))) + 1))
    axes.set_xlabel("layer (1 = input side)")
    axes.set_ylabel("‖∂C/∂W(l)‖")
    axes.set_title("Gradient norm per layer on one batch of digits")
    axes.legend()
    figure.tight_layout()
    path = args.out / "vanishing_gradients.png"
    figure.savefig(path, dpi=120)
    print(f"\nwrote {path}")
    return curves


if __name__ == "__main__":
    main()
