"""What fit's non-finite checks cost, on the digits example's training run.

    python benchmarks/bench_fit_checks.py            # 7 rounds of 3 epochs with and without
    python benchmarks/bench_fit_checks.py --quick    # 3 rounds

The model, data, optimiser and batch size are examples/train_digits.py's (64-256-128-10 ReLU
MLP, float32, Adam, batch 16: 90 batches per epoch; without scikit-learn, random data of the
same shape). Rounds alternate ``check_finite=False`` and ``check_finite=True`` so that machine
noise hits both alike; the median epoch time of each is reported. The per-batch check itself
(one dot product per gradient; the loss is a single number, the parameters are scanned once
per epoch) is also timed alone, which is the overhead without the noise of whole epochs.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from pathlib import Path

import _harness as H
import numpy as np

from micrograd_nd import nn, optim
from micrograd_nd.data import load_digits, train_test_split
from micrograd_nd.training import _FinitenessScan, fit, limit_blas_threads

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"


def _example():
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _training_data(digits, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        X, y = load_digits(dtype=np.float32)
    except ImportError:
        rng = np.random.default_rng(0)
        X, y = rng.random((1797, 64), dtype=np.float32), rng.integers(0, 10, 1797)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    X_train = digits.standardize(X_train, digits.standardizer(X_train))
    return X_train[:limit], y_train[:limit]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = H.common_arguments(__doc__.split("\n")[0])
    args = parser.parse_args(argv)
    rounds, epochs = (1, 1) if args.smoke else (3, 3) if args.quick else (7, 3)
    H.print_header("fit's non-finite checks on the digits example", args, compare=False)
    digits = _example()
    X_train, y_train = _training_data(digits, 160 if args.smoke else None)
    times: dict[bool, list[float]] = {False: [], True: []}
    with limit_blas_threads(1):
        for _ in range(rounds):
            for check in (False, True):
                model = nn.MLP(digits.SIZES, rng=0, dtype=np.float32)
                optimizer = optim.Adam(model.parameters(), lr=digits.LEARNING_RATE)
                history = fit(model, nn.CrossEntropyLoss(), optimizer, (X_train, y_train),
                              epochs=epochs, batch_size=digits.BATCH_SIZE, rng=0,
                              progress=False, verbose=False, check_finite=check)
                times[check].extend(history.epoch_time)
        # The per-batch check alone, as fit runs it: every gradient.
        named = list(model.named_parameters())
        for _, p in named:
            p.grad = nn.Parameter(np.ones_like(p.data))
        scan, repeats = _FinitenessScan(), 20 if args.smoke else 2000
        start = time.perf_counter()
        for _ in range(repeats):
            scan.first((name, p.grad.data) for name, p in named if p.grad is not None)
        per_batch = (time.perf_counter() - start) / repeats
    batches = -(-len(X_train) // digits.BATCH_SIZE)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"   {len(X_train)} samples, {batches} batches of {digits.BATCH_SIZE} per epoch, "
          f"{model.num_parameters()} parameters in {len(named)} arrays, float32; "
          f"{len(times[True])} epochs each way")
    print(H.format_table(
        ["", "ms per epoch", "vs unchecked"],
        [["check_finite=False (median epoch)", H.ms(off), "1.00x"],
         ["check_finite=True (median epoch)", H.ms(on), H.ratio(on, off)],
         ["the check alone, per epoch", H.ms(per_batch * batches),
          f"{per_batch * batches / off:.1%}"]],
    ))
    print(f"   the check alone: {per_batch * 1e6:.1f} µs per batch")
    return {"off": off, "on": on, "per_batch": per_batch}


if __name__ == "__main__":
    main()
