"""Per-op overhead on tiny tensors: a chain of ops, forward + backward, µs per op.

The chain cycles through ``x·w``, ``x + b``, ``tanh x``, ``x·x`` and ``−x`` on tensors of
4 elements, so the arithmetic is negligible and what is measured is the framework's own cost
of recording an op and back-propagating through it. ``numpy fwd`` is the same chain in plain
NumPy, forward only (the floor any framework starts from).
"""

from __future__ import annotations

from typing import Any

import _harness as H
import numpy as np

import micrograd_nd as mg

SHAPE = (4,)


def chain_generic(x: Any, w: Any, b: Any, length: int, tanh: Any) -> Any:
    """The benchmark chain on any array type: NumPy, micrograd_nd, PyTorch or HIPS autograd."""
    y = x
    for i in range(length):
        kind = i % 5
        if kind == 0:
            y = y * w
        elif kind == 1:
            y = y + b
        elif kind == 2:
            y = tanh(y)
        elif kind == 3:
            y = y * y
        else:
            y = -y
    return y.sum()


def contestants(length: int, compare: bool) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x0, w0, b0 = (rng.uniform(0.5, 1.0, SHAPE) for _ in range(3))
    result: dict[str, Any] = {"numpy fwd": lambda: chain_generic(x0, w0, b0, length, np.tanh)}

    x, w, b = (mg.Tensor(a, requires_grad=True) for a in (x0, w0, b0))

    def micrograd_step() -> None:
        x.grad = w.grad = b.grad = None
        chain_generic(x, w, b, length, mg.tanh).backward()

    def micrograd_forward() -> None:
        chain_generic(x, w, b, length, mg.tanh)

    result["micrograd_nd fwd"] = micrograd_forward
    result["micrograd_nd fwd+bwd"] = micrograd_step
    if compare:
        torch = H.optional("torch")
        if torch is not None:
            tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x0, w0, b0))

            def torch_step() -> None:
                tx.grad = tw.grad = tb.grad = None
                chain_generic(tx, tw, tb, length, torch.tanh).backward()

            result["torch fwd+bwd"] = torch_step
        if H.optional("autograd") is not None:
            import autograd
            import autograd.numpy as anp

            grad_fn = autograd.grad(
                lambda ps: chain_generic(ps[0], ps[1], ps[2], length, anp.tanh))

            def hips_step() -> None:
                grad_fn([x0, w0, b0])

            result["autograd fwd+bwd"] = hips_step
    return result


def main(argv: list[str] | None = None) -> None:
    parser = H.common_arguments(__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=100)
    args = parser.parse_args(argv)
    repeats = 3 if args.smoke else 21 if args.quick else 101
    length = 10 if args.smoke else args.length
    H.print_header(f"Tiny-tensor overhead: chain of {length} ops on shape {SHAPE}", args)
    times = H.interleaved(contestants(length, not args.no_compare), repeats=repeats,
                          warmup=1 if args.smoke else 5)
    rows = [[name, f"{seconds / length * 1e6:.2f}", f"{seconds * 1e3:.3f}"]
            for name, seconds in times.items()]
    print(H.format_table(["contestant", "µs per op", "ms per chain"], rows))


if __name__ == "__main__":
    main()
