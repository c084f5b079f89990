"""What micrograd_nd.compile's hooks in the engine cost when nothing is being traced.

    python benchmarks/bench_hooks.py

The engine tells a tracer what happens (``micrograd_nd/_tracing.py``): ``apply``,
``backward()``, ``grad()``, ``Optimizer.step``/``zero_grad`` and ``Module.zero_grad`` test
one thread-local attribute; ``t.data`` tests it inline; the other ways a value leaves a tensor
(``item``, ``numpy``, ``np.asarray(t)`` …) and the in-place writes call
``_tracing.value_read``/``value_write``, which return at once. This times each of those
no-op paths (nanoseconds per call, minus an empty loop's cost) next to the operations they
sit in: a recorded elementwise op on 4 elements (forward, and forward + backward per op).
"""

from __future__ import annotations

import statistics
import timeit

import _harness as H
import numpy as np

import micrograd_nd as mg
from micrograd_nd import _tracing

NUMBER = 200_000


def per_call(statement: str, namespace: dict, number: int, repeat: int) -> float:
    """Nanoseconds per execution of ``statement``, less the loop's own cost (median)."""
    timer = timeit.Timer(statement, globals=namespace)
    empty = timeit.Timer("pass", globals=namespace)
    samples = [(timer.timeit(number) - empty.timeit(number)) / number * 1e9
               for _ in range(repeat)]
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> list[list[str]]:
    parser = H.common_arguments(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    number = 2_000 if args.smoke else 20_000 if args.quick else NUMBER
    repeat = 3 if args.smoke else 7
    H.print_header("compile's hooks when nothing is traced (ns per call)", args, compare=False)
    rng = np.random.default_rng(0)
    x = mg.Tensor(rng.uniform(0.5, 1.0, 4), requires_grad=True)
    w = mg.Tensor(rng.uniform(0.5, 1.0, 4), requires_grad=True)
    namespace = {"state": _tracing.state, "value_read": _tracing.value_read, "x": x, "w": w,
                 "mg": mg}

    def chain() -> None:
        y = x
        for _ in range(50):
            y = y * w
        x.grad = w.grad = None
        y.sum().backward()

    namespace["chain"] = chain
    statements = {"read": 'value_read("t.item()", x)'}
    rows = [
        ["the test in apply, backward(), step(), zero_grad()",
         f"{per_call('state.tracer is not None', namespace, number, repeat):.0f}"],
        ["value_read(...) (item, numpy, np.asarray, in-place writes ...)",
         f"{per_call(statements['read'], namespace, number, repeat):.0f}"],
        ["t.data (the property, with its inline test)",
         f"{per_call('x.data', namespace, number, repeat):.0f}"],
        ["t._data (the attribute, for comparison)",
         f"{per_call('x._data', namespace, number, repeat):.0f}"],
        ["one recorded op, x * w on 4 elements",
         f"{per_call('x * w', namespace, number // 10, repeat):.0f}"],
        ["one op forward + backward (a chain of 50, per op)",
         f"{per_call('chain()', namespace, max(1, number // 500), repeat) / 50:.0f}"],
    ]
    print(H.format_table(["what", "ns per call"], rows))
    return rows


if __name__ == "__main__":
    main()
