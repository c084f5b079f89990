"""What fit's non-finite checks cost, on the digits example's training run.

    python benchmarks/bench_fit_checks.py                # 5 rounds of 3 epochs each way
    python benchmarks/bench_fit_checks.py --rounds 9 --epochs 5

The model, data, optimiser and batch size are examples/train_digits.py's (64-256-128-10 ReLU
MLP, float32, Adam, batch 16: 90 batches per epoch). Rounds alternate ``check_finite=False``
and ``check_finite=True`` so that machine noise hits both alike; the median epoch time of each
is reported with the difference. The per-batch check itself (one dot product per gradient;
the loss is a single number, the parameters are scanned once per epoch) is also timed alone,
which is the overhead without the noise of whole epochs.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path

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


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    digits = _example()
    X, y = load_digits(dtype=np.float32)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    X_train = digits.standardize(X_train, digits.standardizer(X_train))
    times: dict[bool, list[float]] = {False: [], True: []}
    with limit_blas_threads(1):
        for _ in range(args.rounds):
            for check in (False, True):
                model = nn.MLP(digits.SIZES, rng=0, dtype=np.float32)
                optimizer = optim.Adam(model.parameters(), lr=digits.LEARNING_RATE)
                history = fit(model, nn.CrossEntropyLoss(), optimizer, (X_train, y_train),
                              epochs=args.epochs, batch_size=digits.BATCH_SIZE, rng=0,
                              progress=False, verbose=False, check_finite=check)
                times[check].extend(history.epoch_time)
        # The per-batch check alone, as fit runs it: every gradient (the loss is one number).
        named = list(model.named_parameters())
        for _, p in named:
            p.grad = nn.Parameter(np.ones_like(p.data))
        scan, repeats = _FinitenessScan(), 2000
        start = time.perf_counter()
        for _ in range(repeats):
            scan.first((name, p.grad.data) for name, p in named if p.grad is not None)
        per_batch = (time.perf_counter() - start) / repeats
    batches = -(-len(X_train) // digits.BATCH_SIZE)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"digits example: {len(X_train)} samples, {batches} batches of "
          f"{digits.BATCH_SIZE} per epoch, {model.num_parameters()} parameters in "
          f"{len(named)} arrays, float32")
    print(f"median epoch, check_finite=False: {off * 1e3:8.1f} ms  "
          f"({len(times[False])} epochs)")
    print(f"median epoch, check_finite=True:  {on * 1e3:8.1f} ms  ({len(times[True])} epochs)")
    print(f"difference of the medians: {(on - off) * 1e3:+.1f} ms per epoch "
          f"({(on - off) / off:+.1%})")
    print(f"the checks alone: {per_batch * 1e6:.1f} µs per batch = "
          f"{per_batch * batches * 1e3:.1f} ms per epoch ({per_batch * batches / off:.1%} of "
          "an unchecked epoch)")
    return {"off": off, "on": on, "per_batch": per_batch}


if __name__ == "__main__":
    main()
