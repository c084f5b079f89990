"""Train an MLP on MNIST-format IDX files (MNIST, Fashion-MNIST) and report time per epoch.

    python examples/train_mnist_idx.py --data-dir /usr/share/datasets/fashion-mnist
    python examples/train_mnist_idx.py --data-dir DIR --epochs 2 --limit 1000   # quick

``DIR`` holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``). On
Debian/Ubuntu, ``apt-get install dataset-fashion-mnist`` puts Fashion-MNIST in
``/usr/share/datasets/fashion-mnist``. Model: 784-256-128-10 ReLU MLP, Adam(lr=1e-3),
batch 128, float32, pixels scaled to [0, 1]; the learning rate decays along a cosine
from 1e-3 to 0 over the epochs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from micrograd_nd import nn, optim
from micrograd_nd.data import IDXFormatError, images_to_float, load_mnist
from micrograd_nd.optim.lr_scheduler import CosineAnnealingLR
from micrograd_nd.training import evaluate, fit, limit_blas_threads


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, nargs="*", default=[256, 128])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training and test images (quick runs)")
    parser.add_argument("--save", type=Path, default=None, help="save the model here (.npz)")
    parser.add_argument("--no-progress", action="store_true", help="plain per-epoch lines")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (default: 1; see training.limit_blas_threads)")
    args = parser.parse_args(argv)
    try:
        train_set = load_mnist(args.data_dir, "train")
        test_set = load_mnist(args.data_dir, "t10k")
    except (FileNotFoundError, IDXFormatError) as error:
        parser.error(f"--data-dir: {error}")  # exits with status 2, no traceback
    with limit_blas_threads(args.blas_threads):
        return run(args, train_set, test_set)


def run(args: argparse.Namespace, train_set: tuple[np.ndarray, np.ndarray],
        test_set: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    (train_images, y_train), (test_images, y_test) = train_set, test_set
    if args.limit is not None:
        train_images, y_train = train_images[: args.limit], y_train[: args.limit]
        test_images, y_test = test_images[: args.limit], y_test[: args.limit]
    X_train = images_to_float(train_images, dtype=np.float32)
    X_test = images_to_float(test_images, dtype=np.float32)
    num_classes = 10
    print(f"{len(X_train)} training and {len(X_test)} test images of "
          f"{train_images.shape[1]}×{train_images.shape[2]} from {args.data_dir}")

    model = nn.MLP([X_train.shape[1], *args.hidden, num_classes], rng=args.seed,
                   dtype=np.float32)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    print(model)
    # Decaying the step size to ~0 lets the last epochs settle instead of bouncing
    # ±0.5% around the optimum, so the final accuracy does not depend on luck.
    scheduler = CosineAnnealingLR(optimizer, T_max=max(args.epochs, 1))
    history = fit(
        model, loss_fn, optimizer, (X_train, y_train), epochs=args.epochs,
        batch_size=args.batch_size, rng=args.seed, validation_data=(X_test, y_test),
        progress=not args.no_progress, scheduler=scheduler,
    )
    test = evaluate(model, X_test, y_test, loss_fn)
    per_epoch = float(np.mean(history.epoch_time)) if history.epoch_time else 0.0
    print(f"test accuracy {test.accuracy:.4f}  (loss {test.loss:.4f})")
    print(f"time per epoch {per_epoch:.2f}s (including the test-set evaluation); "
          f"total {sum(history.epoch_time):.1f}s")
    if args.save is not None:
        nn.save(model, args.save)
        print(f"saved to {args.save}")
    return {"accuracy": float(test.accuracy), "seconds_per_epoch": per_epoch}


if __name__ == "__main__":
    main()
