"""MLP training step (forward, backward, SGD update) vs the same step written by hand in NumPy.

Network 784-H1-H2-10 (default 784-256-128-10) with sigmoid or ReLU hidden layers and softmax
cross-entropy on integer labels, mean over the batch. Every contestant starts from the same
weights and does the same work per step:

* ``numpy``: the reference delta rule, batched, written out by hand (the baseline);
* ``micrograd_nd``: ``nn.MLP`` + ``functional.cross_entropy`` + ``optim.SGD``, as a user
  writes it;
* ``torch`` and ``autograd`` (HIPS): optional columns, when importable.

Times are medians of interleaved rounds (see ``_harness.interleaved``), in ms per step; the
torch column is the ratio to a numpy baseline timed in its own interleaved rounds.
"""

from __future__ import annotations

import sys
from typing import Any

import _harness as H
import numpy as np

from micrograd_nd import functional as F
from micrograd_nd import nn, optim

LR = 0.05


def make_data(batch: int, dtype: np.dtype, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 784)).astype(dtype)
    y = rng.integers(0, 10, size=batch)
    return x, y


def sigmoid_floor(dtype: np.dtype) -> float:
    """The floor micrograd_nd's sigmoid applies before e^{−z} (no overflow)."""
    return 1.0 - float(np.log(np.finfo(dtype).max))


# ---------------------------------------------------------------------------------------------
# The baseline: the delta rule, batched, by hand.
# ---------------------------------------------------------------------------------------------
def numpy_step(params: list[np.ndarray], activation: str, x: np.ndarray,
               y: np.ndarray) -> float:
    """One SGD step on the batch (x, y), updating ``params`` = [W1, b1, W2, b2, ...] in place.

    W is (out, in) and b (out,), as in micrograd_nd's Linear. Returns the loss.
    """
    dtype = x.dtype
    n = x.shape[0]
    layers = len(params) // 2
    onehot = np.eye(params[-1].shape[0], dtype=dtype)[y]  # cross_entropy makes the same mask
    # forward: z = a Wᵀ + b, a = g(z); the last layer gives the logits
    acts = [x]
    zs = []
    a = x
    for index in range(layers):
        z = a @ params[2 * index].T + params[2 * index + 1]
        zs.append(z)
        if index < layers - 1:
            if activation == "sigmoid":
                a = 1.0 / (1.0 + np.exp(-np.maximum(z, sigmoid_floor(dtype))))
            else:
                a = np.maximum(z, 0.0)
            acts.append(a)
    logits = zs[-1]
    # stable softmax cross-entropy: lse = m + ln Σ e^{z−m}
    shift = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - shift)
    total = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(total[:, 0]) + shift[:, 0] - (logits * onehot).sum(axis=1)))
    # backward: δ_L = (softmax − onehot)/n; δ_l = (δ_{l+1} W_{l+1}) ⊙ g′(z_l); SGD update
    delta = (e / total - onehot) * dtype.type(1.0 / n)
    for index in reversed(range(layers)):
        W = params[2 * index]
        grad_W = delta.T @ acts[index]
        grad_b = delta.sum(axis=0)
        if index > 0:
            upstream = delta @ W
            a = acts[index]
            if activation == "sigmoid":
                delta = upstream * (a * (1.0 - a))
            else:
                delta = upstream * (zs[index - 1] > 0)
        W -= LR * grad_W
        params[2 * index + 1] -= LR * grad_b
    return loss


def numpy_step_factory(weights: list[np.ndarray], activation: str, x: np.ndarray,
                       y: np.ndarray) -> Any:
    params = [w.copy() for w in weights]
    return lambda: numpy_step(params, activation, x, y)


# ---------------------------------------------------------------------------------------------
# micrograd_nd, through its public API.
# ---------------------------------------------------------------------------------------------
def micrograd_step_factory(model: nn.MLP, x: np.ndarray, y: np.ndarray) -> Any:
    optimizer = optim.SGD(model.parameters(), lr=LR)

    def step() -> float:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


# ---------------------------------------------------------------------------------------------
# Optional: PyTorch and HIPS autograd.
# ---------------------------------------------------------------------------------------------
def torch_step_factory(torch: Any, weights: list[np.ndarray], activation: str, x: np.ndarray,
                       y: np.ndarray) -> Any:
    modules: list[Any] = []
    layers = len(weights) // 2
    for index in range(layers):
        W, b = weights[2 * index], weights[2 * index + 1]
        linear = torch.nn.Linear(W.shape[1], W.shape[0], dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        modules.append(linear)
        if index < layers - 1:
            modules.append(torch.nn.Sigmoid() if activation == "sigmoid" else torch.nn.ReLU())
    model = torch.nn.Sequential(*modules)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> float:
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def hips_step_factory(weights: list[np.ndarray], activation: str, x: np.ndarray,
                      y: np.ndarray) -> Any:
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    params = [w.copy() for w in weights]
    floor = sigmoid_floor(x.dtype)
    onehot = np.eye(params[-1].shape[0], dtype=x.dtype)[y]
    layers = len(params) // 2

    def loss_fn(ps: list[Any]) -> Any:
        a = x
        for index in range(layers):
            z = anp.dot(a, ps[2 * index].T) + ps[2 * index + 1]
            if index < layers - 1:
                if activation == "sigmoid":
                    a = 1.0 / (1.0 + anp.exp(-anp.maximum(z, floor)))
                else:
                    a = anp.maximum(z, 0.0)
            else:
                a = z
        return anp.mean(logsumexp(a, axis=1) - anp.sum(a * onehot, axis=1))

    value_and_grad = autograd.value_and_grad(loss_fn)

    def step() -> float:
        loss, grads = value_and_grad(params)
        for p, g in zip(params, grads, strict=True):
            p -= LR * g
        return float(loss)

    return step


# ---------------------------------------------------------------------------------------------
def run(args: Any) -> list[list[Any]]:
    torch = None if args.no_compare else H.optional("torch")
    hips = None if args.no_compare else H.optional("autograd")
    sizes = [int(s) for s in args.sizes.split("-")]
    rows = []
    for dtype_name in args.dtypes.split(","):
        dtype = np.dtype(dtype_name)
        for activation in args.activations.split(","):
            for batch in [int(b) for b in args.batches.split(",")]:
                model = nn.MLP(sizes, activation=activation, rng=0, dtype=dtype)
                weights = [p.data.copy() for p in model.parameters()]
                x, y = make_data(batch, dtype)
                contestants = {
                    "numpy": numpy_step_factory(weights, activation, x, y),
                    "micrograd_nd": micrograd_step_factory(model, x, y),
                }
                if hips is not None:
                    contestants["autograd"] = hips_step_factory(weights, activation, x, y)
                # PyTorch runs its own OpenMP pool: interleaved with the OpenBLAS contestants on
                # two cores, each pool's spinning threads would slow the other. So torch is
                # timed in a separate round against its own numpy baseline.
                torch_group = {}
                if torch is not None:
                    torch_group = {
                        "numpy": numpy_step_factory(weights, activation, x, y),
                        "torch": torch_step_factory(torch, weights, activation, x, y),
                    }
                # first-step losses agree (same weights, same data, same formulas)
                losses = {name: fn() for name, fn in contestants.items()}
                losses.update({name: fn() for name, fn in torch_group.items()})
                spread = max(losses.values()) - min(losses.values())
                if spread > (1e-3 if dtype == np.float32 else 1e-9):
                    raise AssertionError(f"contestants disagree on the loss: {losses}")
                inner = max(1, 2048 // batch) if not args.smoke else 1
                times = H.interleaved(contestants, repeats=args.repeats, warmup=args.warmup,
                                      inner=inner)
                base = times["numpy"]
                row = [dtype_name, activation, batch, H.ms(base), H.ms(times["micrograd_nd"]),
                       H.ratio(times["micrograd_nd"], base)]
                if torch_group:
                    torch_times = H.interleaved(torch_group, repeats=args.repeats,
                                                warmup=args.warmup, inner=inner)
                    row.append(H.ratio(torch_times["torch"], torch_times["numpy"]))
                if "autograd" in times:
                    row.append(H.ratio(times["autograd"], base))
                rows.append(row)
                print("   " + " ".join(str(c) for c in row), file=sys.stderr, flush=True)
    headers = ["dtype", "hidden", "batch", "numpy ms", "micrograd_nd ms", "mg/np"]
    if torch is not None:
        headers.append("torch/np")
    if hips is not None:
        headers.append("autograd/np")
    print(H.format_table(headers, rows))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = H.common_arguments(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="784-256-128-10")
    parser.add_argument("--batches", default="32,128,1024")
    parser.add_argument("--activations", default="sigmoid,relu")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.batches, args.dtypes = "784-16-8-10", "8", "float32"
    if args.repeats is None:
        args.repeats = 3 if args.smoke else 15 if args.quick else 51
    if args.warmup is None:
        args.warmup = 1 if args.smoke else 3 if args.quick else 10
    H.print_header("MLP training step: forward + backward + SGD (ms per step, median)", args)
    run(args)


if __name__ == "__main__":
    main()
