"""Compiled training steps (``micrograd_nd.compile``) side by side with eager ones, the
hand-written NumPy step and, optionally, PyTorch eager, HIPS autograd and ``jax.jit``.

    python benchmarks/bench_compile.py                 # all three tables
    python benchmarks/bench_compile.py --only mlp --batches 32 --dtypes float32

Three tables, each a ratio to the hand-written NumPy step timed in the same process. The
contestants take turns in short rounds (a few milliseconds each, in rotating order), so a busy
moment of a shared machine slows all of them alike; each cell is the median over rounds of the
round's ratio to NumPy, with the 25th-75th percentile of those ratios as the spread:

* ``mlp``: one training step of the 784-256-128-10 MLP of ``bench_mlp.py`` (same weights,
  data, sigmoid floor, softmax cross-entropy and plain SGD as its ``numpy_step``), float32
  and float64, sigmoid and ReLU, batch 32 / 128 / 1024: eager, compiled (the step is
  ``mg.compile``-d: traced on the first two calls, replayed after);
* ``tiny``: the 100-op chain of ``bench_overhead.py`` on 4-element tensors, forward and
  backward, in µs per op (the replay's own cost per op);
* ``profile``: where a replayed step's time goes (float32, batch ``--profile-batch``): the
  generated code is timed statement by statement and summed per primitive (``linear`` and
  ``matmul`` are the BLAS products the NumPy step makes too), against the NumPy step;
* ``epoch``: one epoch of ``bench_epoch.py`` (Fashion-MNIST, batch 128, float32): the NumPy
  loop, eager and compiled, each with its own loader drawing the same shuffled batches; the
  three take turns batch by batch and each one's batch times are summed per epoch.

Every process limits BLAS (and PyTorch's and XLA's pools) to ``--threads`` threads (default
1: on a shared 2-core machine, spinning pools of several frameworks only measure each other).
The optional peers run each in a process of its own (``--peer NAME``, started by this
script), so no two thread pools ever share one, each against its own NumPy baseline. They
are never dependencies: a peer that cannot be imported is left out.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import _harness as H
import bench_epoch as E
import bench_mlp as M
import bench_overhead as O
import numpy as np

import micrograd_nd as mg
from micrograd_nd import functional as F
from micrograd_nd import nn, optim
from micrograd_nd.data import batches

PEERS = ("torch", "autograd", "jax")
SIZES = [784, 256, 128, 10]


# ---------------------------------------------------------------------------------------------
# Timing: interleaved rounds, the ratio to numpy per round.
# ---------------------------------------------------------------------------------------------
def ratios(contestants: dict[str, Callable[[], Any]], repeats: int, warmup: int, inner: int
           ) -> dict[str, tuple[float, float, float, float]]:
    """For each contestant: (median seconds per call, median ratio to "numpy", 25th and 75th
    percentile of the per-round ratio)."""
    samples = H.interleaved_samples(contestants, repeats, warmup, inner)
    names = list(contestants)
    result = {}
    for name in names:
        per_round = [t / base for t, base in zip(samples[name], samples["numpy"], strict=True)]
        quartiles = statistics.quantiles(per_round, n=4) if len(per_round) > 1 else per_round * 3
        result[name] = (statistics.median(samples[name]), statistics.median(per_round),
                        quartiles[0], quartiles[-1])
    return result


def cell(result: tuple[float, float, float, float]) -> str:
    _, median, low, high = result
    return f"{median:.2f}x ({low:.2f}-{high:.2f})"


# ---------------------------------------------------------------------------------------------
# The contestants.
# ---------------------------------------------------------------------------------------------
def sgd_step(model: nn.MLP) -> Callable[[Any, Any], mg.Tensor]:
    """bench_mlp's micrograd_nd step as a function of the batch, returning the loss tensor."""
    optimizer = optim.SGD(model.parameters(), lr=M.LR)

    def step(xb: Any, yb: Any) -> mg.Tensor:
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step


def compiled_step_factory(model: nn.MLP, x: np.ndarray, y: np.ndarray) -> Callable[[], Any]:
    """bench_mlp's micrograd_nd step, compiled."""
    step = mg.compile(sgd_step(model))
    return lambda: step(x, y).item()


def jax_step_factory(weights: list[np.ndarray], activation: str, x: np.ndarray,
                     y: np.ndarray) -> Callable[[], Any]:
    """The same step with jax.numpy, the whole step (gradient and update) under jax.jit."""
    import jax
    import jax.numpy as jnp

    floor = M.sigmoid_floor(x.dtype)
    layers = len(weights) // 2
    onehot = jnp.asarray(np.eye(weights[-1].shape[0], dtype=x.dtype)[y])

    def loss_fn(params: list[Any], xb: Any) -> Any:
        a = xb
        for index in range(layers):
            a = a @ params[2 * index].T + params[2 * index + 1]
            if index < layers - 1:
                a = (1.0 / (1.0 + jnp.exp(-jnp.maximum(a, floor))) if activation == "sigmoid"
                     else jnp.maximum(a, 0.0))
        shift = jax.lax.stop_gradient(a.max(axis=1, keepdims=True))
        lse = jnp.log(jnp.exp(a - shift).sum(axis=1)) + shift[:, 0]
        return jnp.mean(lse - (a * onehot).sum(axis=1))

    @jax.jit
    def step(params: list[Any], xb: Any) -> tuple[list[Any], Any]:
        loss, grads = jax.value_and_grad(loss_fn)(params, xb)
        return [p - M.LR * g for p, g in zip(params, grads, strict=True)], loss

    state = {"params": [jnp.asarray(w) for w in weights]}
    xj = jnp.asarray(x)

    def run() -> float:
        state["params"], loss = step(state["params"], xj)
        return float(loss)  # waits for the result

    return run


def peer_factory(peer: str, weights: list[np.ndarray], activation: str, x: np.ndarray,
                 y: np.ndarray) -> Callable[[], Any]:
    if peer == "torch":
        import torch

        return M.torch_step_factory(torch, weights, activation, x, y)
    if peer == "autograd":
        return M.hips_step_factory(weights, activation, x, y)
    return jax_step_factory(weights, activation, x, y)


# ---------------------------------------------------------------------------------------------
# Table 1: the MLP step.
# ---------------------------------------------------------------------------------------------
def configurations(args: Any) -> list[tuple[str, str, int]]:
    return [(dtype, activation, int(batch)) for dtype in args.dtypes.split(",")
            for activation in args.activations.split(",") for batch in args.batches.split(",")]


def mlp_contestants(dtype_name: str, activation: str, batch: int, sizes: list[int],
                    peer: str | None) -> dict[str, Callable[[], Any]]:
    dtype = np.dtype(dtype_name)
    model = nn.MLP(sizes, activation=activation, rng=0, dtype=dtype)
    weights = [p.data.copy() for p in model.parameters()]
    x, y = M.make_data(batch, dtype)
    contestants = {"numpy": M.numpy_step_factory(weights, activation, x, y)}
    if peer is None:
        contestants["eager"] = M.micrograd_step_factory(model, x, y)
        twin = nn.MLP(sizes, activation=activation, rng=0, dtype=dtype)
        contestants["compiled"] = compiled_step_factory(twin, x, y)
    else:
        contestants[peer] = peer_factory(peer, weights, activation, x, y)
    # same weights, same data, same formulas: the first step's losses agree
    losses = {name: fn() for name, fn in contestants.items()}
    if max(losses.values()) - min(losses.values()) > (1e-3 if dtype == np.float32 else 1e-9):
        raise AssertionError(f"contestants disagree on the loss: {losses}")
    return contestants


def mlp_table(args: Any, sizes: list[int]) -> dict[tuple, dict[str, Any]]:
    rows = {}
    for dtype, activation, batch in configurations(args):
        contestants = mlp_contestants(dtype, activation, batch, sizes, args.peer)
        inner = 1 if args.smoke else max(1, 128 // batch)  # rounds of a few milliseconds
        rows[(dtype, activation, batch)] = ratios(contestants, args.repeats, args.warmup, inner)
        if args.peer is None:
            result = rows[(dtype, activation, batch)]
            print(f"   {dtype} {activation} {batch}: numpy {H.ms(result['numpy'][0])} ms, "
                  f"eager {cell(result['eager'])}, compiled {cell(result['compiled'])}",
                  file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# Table 2: tiny ops.
# ---------------------------------------------------------------------------------------------
def tiny_contestants(length: int, peer: str | None) -> dict[str, Callable[[], Any]]:
    rng = np.random.default_rng(0)
    x0, w0, b0 = (rng.uniform(0.5, 1.0, O.SHAPE) for _ in range(3))
    contestants: dict[str, Callable[[], Any]] = {
        "numpy": lambda: O.chain_generic(x0, w0, b0, length, np.tanh)}
    if peer is None:
        x, w, b = (mg.Tensor(a, requires_grad=True) for a in (x0, w0, b0))

        def chain() -> None:
            O.chain_generic(x, w, b, length, mg.tanh).backward()

        compiled = mg.compile(chain)

        def eager() -> None:
            x.grad = w.grad = b.grad = None
            chain()

        def replayed() -> None:
            x.grad = w.grad = b.grad = None
            compiled()

        contestants.update(eager=eager, compiled=replayed)
    elif peer == "torch":
        import torch

        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x0, w0, b0))

        def torch_step() -> None:
            tx.grad = tw.grad = tb.grad = None
            O.chain_generic(tx, tw, tb, length, torch.tanh).backward()

        contestants["torch"] = torch_step
    elif peer == "autograd":
        import autograd
        import autograd.numpy as anp

        grad_fn = autograd.grad(lambda ps: O.chain_generic(ps[0], ps[1], ps[2], length, anp.tanh))
        contestants["autograd"] = lambda: grad_fn([x0, w0, b0])
    else:
        import jax
        import jax.numpy as jnp

        grad_fn = jax.jit(jax.grad(lambda ps: O.chain_generic(ps[0], ps[1], ps[2], length,
                                                              jnp.tanh)))
        params = [jnp.asarray(a) for a in (x0, w0, b0)]
        contestants["jax"] = lambda: [g.block_until_ready() for g in grad_fn(params)]
    return contestants


def tiny_table(args: Any) -> dict[str, Any]:
    length = 10 if args.smoke else 100
    contestants = tiny_contestants(length, args.peer)
    result = ratios(contestants, args.repeats * 2, args.warmup, 10 if not args.smoke else 1)
    return {name: (seconds / length * 1e6, median, low, high)
            for name, (seconds, median, low, high) in result.items()}


# ---------------------------------------------------------------------------------------------
# Table 3: where a replay's time goes.
# ---------------------------------------------------------------------------------------------
def _statements(source: str) -> list[list[str]]:
    """The generated function's body as statements: a guarded ``try`` block or an ``if``
    guard with its body are one statement each."""
    body, statements, index = source.splitlines()[1:], [], 0
    while index < len(body):
        width = 4 if body[index].strip() == "try:" else 2 if body[index].strip().startswith(
            "if ") else 1
        statements.append(body[index:index + width])
        index += width
    return statements


def _label(statement: list[str], namespace: dict[str, Any]) -> str:
    text = " ".join(line.strip() for line in statement)
    named = re.search(r"op_error\(error, '([^']+)'", text)
    if named:
        return named.group(1)
    if text.startswith(("if ", "return")) or "._data" in text:
        return "guards, reads, return"
    unit = re.match(r"(U\d+)\(", text)
    if unit:
        method = namespace[unit.group(1)]
        return f"{type(method.__self__).__name__}.{method.__name__}"
    return text.split("(")[0].split(" = ")[-1].split(" ")[0]  # keep_zero, del, store_gradients


def profile_rows(activation: str, batch: int, sizes: list[int], calls: int) -> list[list[Any]]:
    dtype = np.dtype(np.float32)
    model = nn.MLP(sizes, activation=activation, rng=0, dtype=dtype)
    weights = [p.data.copy() for p in model.parameters()]
    x, y = M.make_data(batch, dtype)
    replay = _replay_of(model, x, y)
    namespace = dict(replay.function.__globals__)
    statements = _statements(replay.source)
    lines = [replay.source.splitlines()[0], "    _t = _clock()"]
    for index, statement in enumerate(statements):
        lines += statement if not statement[0].strip().startswith("return") else [
            f"    _spent[{index}] += _clock() - _t", *statement]
        lines.append(f"    _n = _clock(); _spent[{index}] += _n - _t; _t = _n")
    spent = collections.Counter()
    namespace.update(_clock=time.perf_counter, _spent=spent)
    exec("\n".join(lines), namespace)  # the replay with a clock between statements
    timed = namespace["replay"]
    numpy_step = M.numpy_step_factory(weights, activation, x, y)
    numpy_seconds = []
    for _ in range(calls):
        timed(x, y)
        start = time.perf_counter()
        numpy_step()
        numpy_seconds.append(time.perf_counter() - start)
    base = statistics.median(numpy_seconds)
    per_label: collections.Counter = collections.Counter()
    for index, seconds in spent.items():
        per_label[_label(statements[index], namespace)] += seconds / calls
    total = sum(per_label.values())
    rows = [[label, f"{seconds * 1e6:.1f}", f"{seconds / base:.1%}"]
            for label, seconds in per_label.most_common()]
    rows.append(["total (with the clock's own cost)", f"{total * 1e6:.1f}", f"{total / base:.1%}"])
    rows.append(["the NumPy step", f"{base * 1e6:.1f}", "100.0%"])
    return rows


def _replay_of(model: nn.MLP, x: np.ndarray, y: np.ndarray) -> Any:
    """The Replay of bench_mlp's step on this model (traced here: two calls, then built)."""
    compiled = mg.compile(sgd_step(model))
    for _ in range(2):
        compiled(x, y)
    (entry,) = compiled._cache.values()
    return entry.replay


# ---------------------------------------------------------------------------------------------
# Table 4: one epoch.
# ---------------------------------------------------------------------------------------------
def epoch_steps(sizes: list[int], activation: str) -> dict[str, Callable[[Any, Any], float]]:
    """One batch's step of each contestant, from the same initial weights: bench_epoch's NumPy
    and eager loop bodies, and the eager body compiled."""
    models = [nn.MLP(sizes, activation=activation, rng=0, dtype=np.float32) for _ in range(2)]
    params = [p.data.copy() for p in models[0].parameters()]
    eager, compiled = sgd_step(models[0]), mg.compile(sgd_step(models[1]))
    return {"numpy": lambda xb, yb: M.numpy_step(params, activation, xb, yb),
            "eager": lambda xb, yb: eager(xb, yb).item(),
            "compiled": lambda xb, yb: compiled(xb, yb).item()}


def epoch_table(args: Any, sizes: list[int]) -> list[list[Any]]:
    limit = 1024 if args.smoke else None
    X, labels, source = E.load(args.data_dir, np.dtype(np.float32), limit)
    print(f"   epoch data: {source}; {len(X)} samples, batch {args.batch_size}")
    rows = []
    epochs = 1 if args.smoke else args.epochs
    for activation in args.activations.split(","):
        steps = epoch_steps(sizes, activation)
        loaders = {name: batches(X, labels, batch_size=args.batch_size, shuffle=True, rng=0)
                   for name in steps}
        totals: dict[str, list[float]] = {name: [] for name in steps}
        losses: dict[str, float] = {}
        # one epoch first: the compiled step traces its two batch shapes (twice each) in it
        for epoch in range(epochs + (0 if args.smoke else 1)):
            seconds = dict.fromkeys(steps, 0.0)
            losses = dict.fromkeys(steps, 0.0)
            names = list(steps)
            for index, rounds in enumerate(zip(*(loaders[n] for n in names), strict=True)):
                order = names[index % 3:] + names[:index % 3]
                for name in order:
                    xb, yb = rounds[names.index(name)]
                    start = time.perf_counter()
                    losses[name] += steps[name](xb, yb)
                    seconds[name] += time.perf_counter() - start
            if epoch or args.smoke:
                for name in names:
                    totals[name].append(seconds[name])
        if abs(losses["numpy"] - losses["compiled"]) > 1e-3 * abs(losses["numpy"]):
            raise AssertionError(f"the loops disagree on the loss: {losses}")
        per_epoch = {name: statistics.median(values) for name, values in totals.items()}
        ratio = {name: [t / n for t, n in zip(values, totals["numpy"], strict=True)]
                 for name, values in totals.items()}
        rows.append([activation, len(X), *(f"{per_epoch[n]:.3f}" for n in steps),
                     *(f"{statistics.median(ratio[n]):.2f}x ({min(ratio[n]):.2f}-"
                       f"{max(ratio[n]):.2f})" for n in ("eager", "compiled"))])
    return rows


# ---------------------------------------------------------------------------------------------
# Peers: one process each.
# ---------------------------------------------------------------------------------------------
def run_peer(peer: str, args: Any) -> dict[str, Any] | None:
    """Time ``peer`` in a child process (this script with ``--peer``); None if unavailable."""
    if H.optional(peer) is None:
        return None
    environment = dict(os.environ)
    threads = str(args.threads)
    environment.update(OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads,
                       MKL_NUM_THREADS=threads,
                       XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=false "
                                 f"intra_op_parallelism_threads={threads}")
    forwarded = [a for a in sys.argv[1:] if not a.startswith("--peer")]
    command = [sys.executable, os.path.abspath(__file__), *forwarded, "--peer", peer]
    result = subprocess.run(command, env=environment, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        print(f"   {peer}: failed ({result.stderr.strip().splitlines()[-1:]}); column omitted")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def peer_main(args: Any, sizes: list[int]) -> None:
    if args.peer == "jax" and "float64" in args.dtypes:
        import jax

        jax.config.update("jax_enable_x64", True)
    if args.peer == "torch":
        import torch

        torch.set_num_threads(args.threads)
    out: dict[str, Any] = {"version": _version(args.peer)}
    if args.peer == "jax" and not args.smoke:
        out["matmul"] = matmul_probe(args.repeats)
    if "mlp" in args.only:
        out["mlp"] = {" ".join(map(str, key)): value[args.peer][1:]
                      for key, value in mlp_table(args, sizes).items()}
    if "tiny" in args.only:
        out["tiny"] = tiny_table(args)[args.peer]
    print(json.dumps(out))


def matmul_probe(repeats: int) -> dict[str, float]:
    """jax's time for the first layer's product at batch 1024, as a ratio to NumPy's
    (float32 and float64): how much of jax.jit's lead is its matrix product kernel."""
    import jax
    import jax.numpy as jnp

    product = jax.jit(lambda a, b: a @ b.T)
    ratio = {}
    for dtype in ("float32", "float64"):
        rng = np.random.default_rng(0)
        a = rng.random((1024, 784)).astype(dtype)
        b = rng.random((256, 784)).astype(dtype)
        aj, bj = jnp.asarray(a), jnp.asarray(b)
        result = ratios({"numpy": lambda a=a, b=b: a @ b.T,
                         "jax": lambda aj=aj, bj=bj: product(aj, bj).block_until_ready()},
                        repeats, 5, 1)
        ratio[dtype] = result["jax"][1]
    return ratio


def _version(peer: str) -> str:
    module = __import__(peer)
    return str(getattr(module, "__version__", None) or H._dist_version(peer))


# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = H.common_arguments(__doc__.splitlines()[0])
    parser.add_argument("--only", default="mlp,tiny,profile,epoch",
                        help="tables: mlp, tiny, profile, epoch")
    parser.add_argument("--profile-batch", type=int, default=128)
    parser.add_argument("--batches", default="32,128,1024")
    parser.add_argument("--activations", default="sigmoid,relu")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per process")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--data-dir", default=os.environ.get("MNIST_DIR", E.DEFAULT_DIR))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per contestant")
    parser.add_argument("--peer", choices=PEERS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.only = set(args.only.split(","))
    sizes = SIZES
    if args.smoke:
        sizes, args.batches, args.dtypes = [784, 16, 8, 10], "8", "float32"
    if args.repeats is None:
        args.repeats = 3 if args.smoke else 31 if args.quick else 101
    if args.warmup is None:
        args.warmup = 3 if args.smoke else 5  # ≥ 2: the compiled step traces twice
    limits = H.optional("threadpoolctl")
    pool = limits.threadpool_limits(args.threads) if limits is not None else None
    try:
        if args.peer is not None:
            peer_main(args, sizes)
            return
        report(args, sizes)
    finally:
        if pool is not None:
            pool.restore_original_limits()


def report(args: Any, sizes: list[int]) -> None:
    H.print_header("micrograd_nd.compile: eager and compiled training steps vs hand-written "
                   "NumPy (ratio: median over interleaved rounds, 25th-75th percentile)",
                   args, compare=False)
    print(f"   load (uptime): {_load()}; BLAS threads per process: {args.threads}")
    peers = {} if args.no_compare else {
        peer: result for peer in PEERS if (result := run_peer(peer, args)) is not None}
    for peer, result in peers.items():
        print(f"   {peer} {result['version']} (its own process, {args.threads} thread(s))")
        if "matmul" in result:
            print("   jax's (1024, 784) @ (784, 256) product / NumPy's: " + ", ".join(
                f"{dtype} {value:.2f}x" for dtype, value in result["matmul"].items()))
    if "mlp" in args.only:
        rows = mlp_table(args, sizes)
        headers = ["dtype", "hidden", "batch", "numpy ms", "eager/np", "compiled/np",
                   *(f"{peer}/np" for peer in peers)]
        table = []
        for key, result in rows.items():
            label = " ".join(map(str, key))
            table.append([*key, H.ms(result["numpy"][0]), cell(result["eager"]),
                          cell(result["compiled"]),
                          *(cell((0.0, *peers[p]["mlp"][label])) for p in peers)])
        print(f"MLP {'-'.join(map(str, sizes))} training step (forward, backward, SGD):")
        print(H.format_table(headers, table))
    if "tiny" in args.only:
        result = tiny_table(args)
        for peer, values in peers.items():
            result[peer] = tuple(values["tiny"])
        print("Tiny ops (chain on 4-element tensors), forward + backward; numpy: forward only:")
        print(H.format_table(["contestant", "µs per op", "vs numpy fwd"],
                             [[name, f"{v[0]:.2f}", cell(v)] for name, v in result.items()]))
    if "profile" in args.only:
        batch = 8 if args.smoke else args.profile_batch
        calls = 3 if args.smoke else 200
        for activation in args.activations.split(","):
            print(f"Where a replayed float32 {activation} step's time goes, batch {batch} "
                  f"(µs per step, mean of {calls}; share of the NumPy step's median):")
            print(H.format_table(["statements", "µs", "of numpy"],
                                 profile_rows(activation, batch, sizes, calls)))
    if "epoch" in args.only:
        rows = epoch_table(args, sizes)
        print(f"One epoch, batch {args.batch_size}, float32 (s/epoch, median of "
              f"{1 if args.smoke else args.epochs}; "
              "ratio to the NumPy loop: median (min-max) over epochs):")
        print(H.format_table(["hidden", "samples", "numpy s", "eager s", "compiled s",
                              "eager/np", "compiled/np"], rows))
    print(f"   load after the run (uptime): {_load()}")


def _load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return "load average " + " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
