"""A very long chain of elementwise ops: forward and backward times, and memory released.

y = x; repeat n times: y = y·c (c a constant tensor close to 1). The graph holds n nodes, so
this checks that the reverse pass is iterative (no recursion limit), that it costs about as
much as the forward pass, and that backward frees what the graph kept alive.

Memory is traced with ``tracemalloc`` (NumPy reports its buffers to it) in a separate run,
because tracing slows every allocation.
"""

from __future__ import annotations

import gc
import time
import tracemalloc

import _harness as H
import numpy as np

import micrograd_nd as mg


def build(n: int, x: mg.Tensor, c: mg.Tensor) -> mg.Tensor:
    y = x
    for _ in range(n):
        y = y * c
    return y.sum()


def timed(n: int) -> tuple[float, float]:
    x = mg.Tensor(np.ones(4), requires_grad=True)
    c = mg.Tensor(np.full(4, 1.0 + 1e-7))
    gc.collect()
    start = time.perf_counter()
    y = build(n, x, c)
    forward = time.perf_counter() - start
    start = time.perf_counter()
    y.backward()
    backward = time.perf_counter() - start
    expected = (1.0 + 1e-7) ** n
    if not np.allclose(x.grad.data, expected, rtol=1e-6):
        raise AssertionError(f"wrong gradient {x.grad.data} (expected {expected})")
    return forward, backward


def memory(n: int) -> tuple[float, float, float]:
    """MB allocated: before the graph, with the graph built, after backward."""
    gc.collect()
    tracemalloc.start()
    x = mg.Tensor(np.ones(4), requires_grad=True)
    c = mg.Tensor(np.full(4, 1.0 + 1e-7))
    before = tracemalloc.get_traced_memory()[0]
    y = build(n, x, c)
    built = tracemalloc.get_traced_memory()[0]
    y.backward()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]  # y (the loss) is still referenced here
    tracemalloc.stop()
    return before / 1e6, built / 1e6, after / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = H.common_arguments(__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.length or (1000 if args.smoke else 100_000 if args.quick else 1_000_000)
    runs = 1 if args.smoke else 3
    H.print_header(f"Chain of {n} elementwise ops (shape (4,)), forward + backward", args)
    forward_times, backward_times = zip(*(timed(n) for _ in range(runs)), strict=True)
    forward, backward = min(forward_times), min(backward_times)
    before, built, after = memory(n)
    rows = [[n, f"{forward:.3f}", f"{backward:.3f}", f"{backward / forward:.2f}",
             f"{built - before:.1f}", f"{after - before:.3f}"]]
    print(H.format_table(["ops", "forward s", "backward s", "bwd/fwd", "graph MB",
                          "MB left after backward"], rows))
    print(f"(best of {runs} runs; memory from tracemalloc relative to before the forward pass)")


if __name__ == "__main__":
    main()
