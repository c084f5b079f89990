"""Train an MLP on scikit-learn's 8×8 digits, save it, reload it, and check the accuracy.

    python examples/train_digits.py                 # one run (seed 0), about a second or two
    python examples/train_digits.py --seeds 10      # the spread over 10 seeds (split + init)
    python examples/train_digits.py --quick         # 2 epochs, for smoke tests

Model: 64-256-128-10 ReLU MLP (logits), softmax cross-entropy, Adam(lr=1e-3) with cosine
decay, batch 16, 60 epochs, float32, on a stratified 80/20 split; pixels standardised with the
training split's mean and spread. Needs scikit-learn (it ships the data). Writes the model,
its input scaler and (with matplotlib) ``digits_curves.png`` to ``--out-dir``
(default ``outputs/digits``), then prints the delta rule vs autodiff comparison for the
trained network.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from micrograd_nd import nn, optim
from micrograd_nd.compare import compare_gradients
from micrograd_nd.data import load_digits, train_test_split
from micrograd_nd.optim.lr_scheduler import CosineAnnealingLR
from micrograd_nd.serialization import load_arrays, save_arrays
from micrograd_nd.training import History, evaluate, fit, limit_blas_threads

SIZES = [64, 256, 128, 10]
LEARNING_RATE = 1e-3
BATCH_SIZE = 16


def standardizer(X: np.ndarray) -> dict[str, np.ndarray]:
    """Per-pixel mean and spread of the training images (+0.1 so constant pixels stay finite)."""
    return {"mean": X.mean(axis=0), "scale": X.std(axis=0) + np.float32(0.1)}


def standardize(X: np.ndarray, scaler: dict[str, np.ndarray]) -> np.ndarray:
    return (X - scaler["mean"]) / scaler["scale"]


def train_once(seed: int, epochs: int, out_dir: Path, verbose: bool) -> dict[str, float]:
    """Split, train, evaluate, save, reload into a fresh model, evaluate again."""
    X, y = load_digits(dtype=np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=seed, stratify=y
    )
    scaler = standardizer(X_train)
    X_train, X_test = standardize(X_train, scaler), standardize(X_test, scaler)
    model = nn.MLP(SIZES, activation="relu", rng=seed, dtype=np.float32)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=LEARNING_RATE)
    # lr = 10⁻³ · (1 + cos(π e / epochs)) / 2 in epoch e: the last epochs settle instead of
    # bouncing around the optimum.
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    if verbose:
        print(model)
        print(f"{model.num_parameters()} parameters; {len(X_train)} train / {len(X_test)} test")
    start = time.perf_counter()
    history = fit(
        model, loss_fn, optimizer, (X_train, y_train), epochs=epochs, batch_size=BATCH_SIZE,
        rng=seed, validation_data=(X_test, y_test), progress=False, verbose=verbose,
        scheduler=scheduler,
    )
    seconds = time.perf_counter() - start
    test = evaluate(model, X_test, y_test, loss_fn)

    # Save, then load into a freshly built (differently initialised) model.
    path = out_dir / f"digits_mlp_seed{seed}.npz"
    scaler_path = out_dir / f"digits_scaler_seed{seed}.npz"
    nn.save(model, path)
    save_arrays(scaler_path, scaler)
    fresh = nn.load(nn.MLP(SIZES, rng=seed + 1000, dtype=np.float32), path)
    assert all(np.array_equal(load_arrays(scaler_path)[k], v) for k, v in scaler.items())
    reloaded = evaluate(fresh, X_test, y_test, loss_fn)

    if verbose:
        print(f"\ntrained {epochs} epochs in {seconds:.2f}s")
        print(f"test accuracy {test.accuracy:.4f}  (loss {test.loss:.4f})")
        print(f"saved to {path} (input scaler: {scaler_path})")
        print(f"reloaded model: test accuracy {reloaded.accuracy:.4f}  (loss {reloaded.loss:.4f})")
        show_gradient_comparison(fresh, X_test[:8], y_test[:8])
        plot_history(history, out_dir / "digits_curves.png")
    return {"accuracy": test.accuracy, "reloaded": reloaded.accuracy, "seconds": seconds}


def show_gradient_comparison(model: nn.MLP, X: np.ndarray, y: np.ndarray) -> None:
    """The trained network's gradients on a few test images, by the hand-derived delta rule
    (micrograd_nd.reference) and by autodiff, compared layer by layer in float64."""
    comparison = compare_gradients(model, X, y, loss="cross_entropy", reduction="mean",
                                   numeric=False)
    print(f"\ngradients of the trained network on {len(X)} test images: "
          "delta rule vs autodiff (float64)")
    print(comparison.table())
    verdict = "agree" if comparison.passed else "DISAGREE"
    print(f"delta rule and autodiff {verdict} (atol 1e-10, rtol 1e-8); add central "
          "differences with: python -m micrograd_nd.compare --layers 64,16,10")


def plot_history(history: History, path: Path) -> None:
    """Loss and accuracy curves (training and test) per epoch; nothing without matplotlib."""
    try:
        history.plot(path, title="64-256-128-10 MLP on the 8×8 digits (test = held-out 20%)")
    except ImportError:
        return  # plotting is optional
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1, help="run seeds seed..seed+N-1")
    parser.add_argument("--quick", action="store_true", help="2 epochs (smoke test)")
    parser.add_argument("--out-dir", type=Path, default=Path("outputs/digits"),
                        help="where the model, scaler and PNG go (default: outputs/digits)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (default: 1; see training.limit_blas_threads)")
    args = parser.parse_args(argv)
    with limit_blas_threads(args.blas_threads):
        return run(args)


def run(args: argparse.Namespace) -> dict[str, float]:
    epochs = 2 if args.quick else args.epochs
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.seeds == 1:
        return train_once(args.seed, epochs, out_dir, verbose=True)
    accuracies = []
    for seed in range(args.seed, args.seed + args.seeds):
        result = train_once(seed, epochs, out_dir, verbose=False)
        same = "same" if result["reloaded"] == result["accuracy"] else "DIFFERENT"
        print(f"seed {seed}: test accuracy {result['accuracy']:.4f} "
              f"(reloaded: {same}) in {result['seconds']:.2f}s")
        accuracies.append(result["accuracy"])
    summary = {"min": min(accuracies), "mean": float(np.mean(accuracies)),
               "max": max(accuracies)}
    reached = sum(a >= 0.98 for a in accuracies)
    print("test accuracy over {} seeds: min {min:.4f}  mean {mean:.4f}  max {max:.4f}"
          .format(args.seeds, **summary) + f"; {reached} of {args.seeds} seeds ≥ 0.98")
    return summary


if __name__ == "__main__":
    main()
