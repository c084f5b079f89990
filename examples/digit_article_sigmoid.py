"""The digit-network article's network as written: sigmoid layers, per-sample SGD, autodiff.

    python examples/digit_article_sigmoid.py                  # square cost, eq. (3)
    python examples/digit_article_sigmoid.py --cost ce        # cross-entropy, eq. (4)
    python examples/digit_article_sigmoid.py --quick          # a short smoke run

Setup (the digit-network article): every layer is z = W·x + b (eq. (1)) followed by the sigmoid
(eq. (2)),
W drawn from U(−0.1, 0.1) and b = 0; one-hot targets; the cost of a sample is eq. (3)
Σ_k ½(label_k − y_k)² or eq. (4) Σ_k −[label_k ln y_k + (1 − label_k) ln(1 − y_k)] (with the
1e-5 guard of the digit-network article's code); the weights are updated after *every* sample with
W ← W − α ∂cost/∂W and b ← b − α ∂cost/∂b (eqs. (15), (16)), α = 0.033 by default. The
derivatives come from autodiff; a finite-difference check on a few weights (the digit-network
article's
check_gradient) confirms them. Data: scikit-learn's 8×8 digits, not MNIST, so it runs in
seconds rather than hours.
"""

from __future__ import annotations

import argparse

import numpy as np

from micrograd_nd import nn, no_grad, optim
from micrograd_nd.data import load_digits, one_hot, train_test_split
from micrograd_nd.training import evaluate, fit, limit_blas_threads


def build(sizes: list[int], seed: int) -> nn.MLP:
    """All-sigmoid MLP (hidden and output) with the digit-network article's U(−0.1, 0.1) weights,
    zero biases."""
    return nn.MLP(sizes, activation="sigmoid", output_activation="sigmoid",
                  init="uniform", bias_init="zeros", rng=seed)


def cost_function(name: str) -> nn.Module:
    """Per-sample cost summed over the output units: eq. (3) or eq. (4) with the 1e-5 guard."""
    if name == "square":
        return nn.SquareLoss(reduction="sum")
    return nn.BCELoss(reduction="sum", eps=1e-5)


def gradient_check(model: nn.MLP, cost: nn.Module, x: np.ndarray, label: np.ndarray,
                   count: int = 3, eps: float = 1e-5, seed: int = 0) -> float:
    """The digit-network article's check: (J(w+ε) − J(w−ε)) / 2ε against autodiff for a few weights
    per layer.

    Returns the largest relative difference |numeric − autodiff| / max(|numeric|, 1e-12).
    """
    model.zero_grad()
    cost(model(x), label).backward()
    picker = np.random.default_rng(seed)
    worst = 0.0
    for name, parameter in model.named_parameters():
        for _ in range(count):
            index = tuple(int(picker.integers(n)) for n in parameter.shape)
            original = parameter.data[index]
            with no_grad():
                parameter.data[index] = original + eps
                upper = cost(model(x), label).item()
                parameter.data[index] = original - eps
                lower = cost(model(x), label).item()
                parameter.data[index] = original
            numeric = (upper - lower) / (2 * eps)
            analytic = float(parameter.grad.data[index])
            relative = abs(numeric - analytic) / max(abs(numeric), 1e-12)
            worst = max(worst, relative)
            print(f"  {name}{list(index)}: finite difference {numeric:+.8e}  "
                  f"autodiff {analytic:+.8e}  relative difference {relative:.1e}")
    model.zero_grad()
    return worst



def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cost", choices=("square", "ce"), default="square")
    parser.add_argument("--hidden", type=int, nargs="*", default=[32])
    parser.add_argument("--epochs", type=int, default=30, help="the digit-network article uses 30")
    parser.add_argument("--lr", type=float, default=0.033,
                        help="α; the digit-network article uses 0.033")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1 epoch on 200 samples")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (default: 1; see training.limit_blas_threads)")
    args = parser.parse_args(argv)
    with limit_blas_threads(args.blas_threads):
        return run(args)


def run(args: argparse.Namespace) -> dict[str, float]:

    X, y = load_digits()  # float64: the gradient check needs the precision
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_fraction=0.2, rng=args.seed, stratify=y
    )
    epochs = args.epochs
    if args.quick:
        X_train, y_train, epochs = X_train[:200], y_train[:200], 1
    targets = one_hot(y_train, 10)  # eqs. (3)/(4) compare the outputs with one-hot labels
    sizes = [64, *args.hidden, 10]
    model = build(sizes, args.seed)
    cost = cost_function(args.cost)
    print(model)
    print(f"cost: {'eq. (3) square' if args.cost == 'square' else 'eq. (4) cross-entropy'}, "
          f"α = {args.lr}, {epochs} epochs of per-sample SGD on {len(X_train)} samples")

    print("gradient check before training (the digit-network article's check_gradient):")
    worst = gradient_check(model, cost, X_train[:1], targets[:1])
    print(f"  largest relative difference: {worst:.1e}")

    optimizer = optim.SGD(model.parameters(), lr=args.lr)  # eqs. (15), (16)
    history = fit(model, cost, optimizer, (X_train, targets), epochs=epochs, batch_size=1,
                  rng=args.seed, progress=False, verbose=True)
    test = evaluate(model, X_test, one_hot(y_test, 10), cost)
    print(f"mean cost per training sample in the last epoch: {history.train_loss[-1]:.4f}")
    print(f"test accuracy: {test.accuracy:.4f} ({len(X_test)} held-out digits)")
    return {"accuracy": float(test.accuracy), "gradcheck_relative": worst}


if __name__ == "__main__":
    main()
