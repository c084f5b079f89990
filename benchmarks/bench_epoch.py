"""One training epoch on an MNIST-format set (Fashion-MNIST by default) vs a NumPy loop.

Both loops draw the same shuffled minibatches from ``micrograd_nd.data.batches`` (the same
seed, so the same order), start from the same weights and run the same step per batch as
``bench_mlp.py`` (784-256-128-10, softmax cross-entropy, plain SGD). Epochs are interleaved:
numpy, micrograd_nd, numpy, ... and the median epoch time of each is reported.

Data: ``--data-dir`` (default ``/usr/share/datasets/fashion-mnist``, from the Debian package
``dataset-fashion-mnist``). Without it the script says so and falls back to scikit-learn's
8×8 digits upsampled to 28×28 (if scikit-learn is installed) or to generated data of the same
shape, so the timing still runs.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import _harness as H
import bench_mlp as M
import numpy as np

from micrograd_nd import functional as F
from micrograd_nd import nn, optim
from micrograd_nd.data import batches, images_to_float, load_mnist

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


def load(data_dir: str, dtype: np.dtype, limit: int | None) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        images, labels = load_mnist(data_dir, "train")
        source = f"MNIST-format files in {data_dir}"
    except (FileNotFoundError, OSError) as error:
        print(f"   note: no MNIST-format data ({error}).")
        print("   Install it with `apt-get install dataset-fashion-mnist` or pass --data-dir;")
        images, labels, source = _fallback()
        print(f"   falling back to {source}.")
    X = images_to_float(images, dtype=dtype)
    if limit is not None:
        X, labels = X[:limit], labels[:limit]
    return X, labels, source


def _fallback() -> tuple[np.ndarray, np.ndarray, str]:
    sklearn_datasets = H.optional("sklearn.datasets")
    if sklearn_datasets is not None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        small = (digits.images / 16.0 * 255).astype(np.uint8)  # (n, 8, 8)
        big = np.zeros((len(small), 28, 28), dtype=np.uint8)
        big[:, 2:26, 2:26] = np.kron(small, np.ones((3, 3), dtype=np.uint8))
        reps = 60000 // len(big) + 1  # an epoch of about the size of MNIST's
        return (np.tile(big, (reps, 1, 1))[:60000], np.tile(digits.target, reps)[:60000],
                "scikit-learn digits upsampled to 28x28, tiled to 60000 samples")
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, 60000), "generated random images (60000 x 28 x 28)")


def numpy_epoch_factory(weights: list[np.ndarray], activation: str, X: np.ndarray,
                        y: np.ndarray, batch_size: int) -> Any:
    params = [w.copy() for w in weights]
    loader = batches(X, y, batch_size=batch_size, shuffle=True, rng=0)

    def epoch() -> float:
        total = 0.0
        for xb, yb in loader:
            total += M.numpy_step(params, activation, xb, yb)
        return total

    return epoch


def micrograd_epoch_factory(model: nn.MLP, X: np.ndarray, y: np.ndarray,
                            batch_size: int) -> Any:
    optimizer = optim.SGD(model.parameters(), lr=M.LR)
    loader = batches(X, y, batch_size=batch_size, shuffle=True, rng=0)

    def epoch() -> float:
        total = 0.0
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        return total

    return epoch


def main(argv: list[str] | None = None) -> None:
    parser = H.common_arguments(__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DIR", DEFAULT_DIR))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs per contestant")
    parser.add_argument("--activations", default="sigmoid,relu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args(argv)
    limit = 1024 if args.smoke else 15000 if args.quick else None
    epochs = args.epochs or (1 if args.smoke else 3 if args.quick else 5)
    dtype = np.dtype(args.dtype)
    H.print_header(f"One epoch, batch {args.batch_size}, {args.dtype}", args, compare=False)
    X, y, source = load(args.data_dir, dtype, limit)
    print(f"   data: {source}; {len(X)} samples per epoch")
    sizes = [784, 16, 8, 10] if args.smoke else [784, 256, 128, 10]
    rows = []
    for activation in args.activations.split(","):
        model = nn.MLP(sizes, activation=activation, rng=0, dtype=dtype)
        weights = [p.data.copy() for p in model.parameters()]
        contestants = {
            "numpy": numpy_epoch_factory(weights, activation, X, y, args.batch_size),
            "micrograd_nd": micrograd_epoch_factory(model, X, y, args.batch_size),
        }
        samples: dict[str, list[float]] = {name: [] for name in contestants}
        losses: dict[str, float] = {}
        for _ in range(epochs):
            for name, epoch in contestants.items():
                start = time.perf_counter()
                losses[name] = epoch()
                samples[name].append(time.perf_counter() - start)
        # same batches, same weights, same formulas: the summed losses agree
        if abs(losses["numpy"] - losses["micrograd_nd"]) > 1e-3 * abs(losses["numpy"]):
            raise AssertionError(f"the two loops disagree on the loss: {losses}")
        base = statistics.median(samples["numpy"])
        mine = statistics.median(samples["micrograd_nd"])
        rows.append([activation, len(X), f"{base:.3f}", f"{mine:.3f}", H.ratio(mine, base)])
    print(H.format_table(["hidden", "samples", "numpy s/epoch", "micrograd_nd s/epoch",
                          "mg/np"], rows))
    print(f"(median of {epochs} interleaved epochs each)")


if __name__ == "__main__":
    main()
