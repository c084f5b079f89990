"""Two moons: a small MLP learns a curved decision boundary; plots it when matplotlib exists.

    python examples/two_moons.py             # writes outputs/two_moons.png
    python examples/two_moons.py --quick     # a few epochs, no claims about accuracy

Model: 2-16-16-2 tanh MLP (logits), softmax cross-entropy, Adam(lr=0.01), batch 32.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from micrograd_nd import nn, optim
from micrograd_nd.data import make_moons, train_test_split
from micrograd_nd.functional import softmax
from micrograd_nd.training import evaluate, fit, predict


def plot_boundary(model: nn.Module, X: np.ndarray, y: np.ndarray, path: Path,
                  accuracy: float) -> bool:
    """P(class 1) over a grid as a pale background with its 0.5 contour, the points on top in
    saturated colours and two marker shapes; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    (x_min, y_min), (x_max, y_max) = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    grid_x, grid_y = np.meshgrid(np.linspace(x_min, x_max, 200), np.linspace(y_min, y_max, 200))
    logits = predict(model, np.column_stack([grid_x.ravel(), grid_y.ravel()]))
    probability = softmax(logits).data[:, 1].reshape(grid_x.shape)
    fig, axes = plt.subplots(figsize=(6.4, 4.6), layout="constrained")
    # A pale background (alpha) so the saturated points stand out on either side.
    background = axes.contourf(grid_x, grid_y, probability, levels=np.linspace(0, 1, 11),
                               cmap="RdBu_r", alpha=0.25)
    fig.colorbar(background, ax=axes, label="P(class 1) predicted by the MLP")
    axes.contour(grid_x, grid_y, probability, levels=[0.5], colors="k", linewidths=1.5)
    for label, colour, marker in ((0, "#1f4e9c", "o"), (1, "#b2182b", "^")):
        chosen = y == label
        axes.scatter(X[chosen, 0], X[chosen, 1], c=colour, marker=marker, s=26,
                     edgecolors="white", linewidths=0.6, label=f"class {label}")
    axes.plot([], [], color="k", linewidth=1.5, label="decision boundary (P = 0.5)")
    axes.set(xlabel="$x_1$", ylabel="$x_2$",
             title=f"Two moons: a 2-16-16-2 tanh MLP's decision (test accuracy {accuracy:.3f})")
    axes.legend(loc="lower left", framealpha=0.9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--noise", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="5 epochs (smoke test)")
    parser.add_argument("--out", type=Path, default=Path("outputs/two_moons.png"))
    args = parser.parse_args(argv)

    X, y = make_moons(args.samples, noise=args.noise, rng=args.seed)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25,
                                                        random_state=args.seed, stratify=y)
    model = nn.MLP([2, 16, 16, 2], activation="tanh", rng=args.seed)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    epochs = 5 if args.quick else args.epochs
    history = fit(model, loss_fn, optimizer, (X_train, y_train), epochs=epochs, batch_size=32,
                  rng=args.seed, progress=False, verbose=False)
    test = evaluate(model, X_test, y_test, loss_fn)
    print(model)
    print(f"{epochs} epochs: train loss {history.train_loss[-1]:.4f}, "
          f"train accuracy {history.train_accuracy[-1]:.4f}, test accuracy {test.accuracy:.4f}")
    if plot_boundary(model, X, y, args.out, test.accuracy):
        print(f"wrote {args.out}")
    else:
        print("matplotlib is not installed: no plot")
    return {"accuracy": float(test.accuracy)}


if __name__ == "__main__":
    main()
