"""Train an MLP on scikit-learn's 8×8 digits, save it, reload it, and check the accuracy.

    python examples/train_digits.py                 # one run (seed 0), about a second or two
    python examples/train_digits.py --seeds 10      # the spread over 10 seeds (split + init)
    python examples/train_digits.py --quick         # 2 epochs, for smoke tests

Model: 64-256-128-10 ReLU MLP (logits), softmax cross-entropy, Adam(lr=1e-3), batch 32,
40 epochs, float32, on a stratified 80/20 split. Needs scikit-learn (it ships the data);
writes ``digits_curves.png`` when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np

from micrograd_nd import nn, optim
from micrograd_nd.data import load_digits, train_test_split
from micrograd_nd.training import History, evaluate, fit

SIZES = [64, 256, 128, 10]


def train_once(seed: int, epochs: int, out_dir: Path, verbose: bool) -> dict[str, float]:
    """Split, train, evaluate, save, reload into a fresh model, evaluate again."""
    X, y = load_digits(dtype=np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_fraction=0.2, rng=seed, stratify=y
    )
    model = nn.MLP(SIZES, activation="relu", rng=seed, dtype=np.float32)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    if verbose:
        print(model)
        print(f"{model.num_parameters()} parameters; {len(X_train)} train / {len(X_test)} test")
    start = time.perf_counter()
    history = fit(
        model, loss_fn, optimizer, (X_train, y_train), epochs=epochs, batch_size=32,
        rng=seed, validation_data=(X_test, y_test), progress=False, verbose=verbose,
    )
    seconds = time.perf_counter() - start
    test = evaluate(model, X_test, y_test, loss_fn)

    # Save, then load into a freshly built (differently initialised) model.
    path = out_dir / f"digits_mlp_seed{seed}.npz"
    nn.save(model, path)
    fresh = nn.load(nn.MLP(SIZES, rng=seed + 1000, dtype=np.float32), path)
    reloaded = evaluate(fresh, X_test, y_test, loss_fn)

    if verbose:
        print(f"\ntrained {epochs} epochs in {seconds:.2f}s")
        print(f"test accuracy {test.accuracy:.4f}  (loss {test.loss:.4f})")
        print(f"saved to {path}")
        print(f"reloaded model: test accuracy {reloaded.accuracy:.4f}  (loss {reloaded.loss:.4f})")
        show_gradient_comparison(fresh, X_test[:8], y_test[:8])
        plot_history(history, out_dir / "digits_curves.png")
    return {"accuracy": test.accuracy, "reloaded": reloaded.accuracy, "seconds": seconds}


def show_gradient_comparison(model: nn.MLP, X: np.ndarray, y: np.ndarray) -> None:
    """HOOK — manual (delta-rule) vs autodiff gradients for the trained network.

    To be filled in when the comparison API lands from its own branch: compute the
    autodiff gradients of ``model`` on ``(X, y)`` and the reference backprop's, and print
    the largest relative difference per parameter. Deliberately not implemented here.
    """
    print("\n[gradient comparison: manual delta rule vs autodiff — pending the comparison API]")


def plot_history(history: History, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return  # plotting is optional
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = range(1, history.epochs + 1)
    left.plot(epochs, history.train_loss, label="train")
    left.plot(epochs, history.val_loss, label="test")
    left.set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
    right.plot(epochs, history.train_accuracy, label="train")
    right.plot(epochs, history.val_accuracy, label="test")
    right.set(xlabel="epoch", ylabel="accuracy")
    for axes in (left, right):
        axes.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def blas_threads(count: int | None) -> contextlib.AbstractContextManager:
    """Limit NumPy's BLAS to ``count`` threads (None: leave it) when threadpoolctl exists.

    Why: these matrices are small, so BLAS threads spend more time starting and spin-waiting
    than multiplying; on a busy 2-core machine the default threading made a 3-second run
    take over a minute. threadpoolctl comes with scikit-learn; without it this does nothing.
    """
    if count is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1, help="run seeds seed..seed+N-1")
    parser.add_argument("--quick", action="store_true", help="2 epochs (smoke test)")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where the model and PNG go (default: a temporary directory)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (default: 1; see blas_threads)")
    args = parser.parse_args(argv)
    with blas_threads(args.blas_threads):
        return run(args)


def run(args: argparse.Namespace) -> dict[str, float]:
    epochs = 2 if args.quick else args.epochs
    with tempfile.TemporaryDirectory() as scratch:
        out_dir = args.out_dir or Path(scratch)
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
        print("test accuracy over {} seeds: min {min:.4f}  mean {mean:.4f}  max {max:.4f}"
              .format(args.seeds, **summary))
        return summary


if __name__ == "__main__":
    main()
