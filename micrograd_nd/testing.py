"""Hypothesis strategies for property-testing code built on micrograd_nd.

Needs the ``hypothesis`` package (``pip install "micrograd_nd[dev]"``)::

    from hypothesis import given
    from micrograd_nd.testing import arrays, broadcastable_shapes, network_problems

    @given(broadcastable_shapes(num_shapes=2))
    def test_my_op(shapes): ...

    @given(network_problems(activations="tanh"))
    def test_my_backprop(p):
        compare_manual(my_loss, my_gradient, p.params, args=(p.X, p.y)).assert_passed()

Floats are drawn without NaN, infinities or subnormals, so finite differences stay meaningful.
Every strategy checks its arguments when it is created: impossible bounds raise a ValueError
(or TypeError) naming the strategy and the argument, not an error from inside Hypothesis.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # pragma: no cover - exercised only without hypothesis
    raise ImportError(
        "micrograd_nd.testing needs the hypothesis package: pip install hypothesis"
    ) from error

from ._arrays import parse_dtype
from .finite_differences import real_number
from .reference import ACTIVATIONS
from .tensor import Tensor

__all__ = [
    "NetworkProblem",
    "arrays",
    "broadcastable_shapes",
    "network_problems",
    "really_broadcasts",
    "shapes",
    "tensors",
]

_MAX_DIMS = 32  # NumPy's limit
_FLOAT_DTYPES = tuple(np.dtype(t) for t in (np.float16, np.float32, np.float64))


# ---------------------------------------------------------------------------------------------
# Argument checks: eager, so a bad bound fails where the strategy is written.
# ---------------------------------------------------------------------------------------------
def _count(value: Any, what: str, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and ≤ {maximum}" if maximum is not None else ""
        raise ValueError(f"{what} must be ≥ {minimum}{upper}, got {value}")
    return int(value)


def _finite(value: Any, what: str) -> float:
    number = real_number(value, what)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {number}")
    return number


def _ordered(low: int | float, high: int | float, caller: str, low_name: str,
             high_name: str) -> None:
    if low > high:
        raise ValueError(f"{caller}: {low_name}={low} is larger than {high_name}={high}")


def _shape_or_strategy(shape: Any, caller: str) -> Any:
    if isinstance(shape, st.SearchStrategy):
        return shape
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{caller}: shape must be a tuple of ints or a strategy of shapes, "
                        f"got {type(shape).__name__}")
    return tuple(_count(side, f"{caller}: shape[{i}]") for i, side in enumerate(shape))


# ---------------------------------------------------------------------------------------------
# Shapes and arrays.
# ---------------------------------------------------------------------------------------------
def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes with ``min_dims``–``max_dims`` axes of ``min_side``–``max_side`` each."""
    min_dims = _count(min_dims, "shapes: min_dims", 0, _MAX_DIMS)
    max_dims = _count(max_dims, "shapes: max_dims", 0, _MAX_DIMS)
    min_side = _count(min_side, "shapes: min_side")
    max_side = _count(max_side, "shapes: max_side")
    _ordered(min_dims, max_dims, "shapes", "min_dims", "max_dims")
    _ordered(min_side, max_side, "shapes", "min_side", "max_side")
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def _inward(bound: float, dtype: np.dtype, upward: bool) -> float:
    """``bound`` rounded into ``dtype`` (Hypothesis needs bounds the dtype represents exactly),
    then moved one step up (a lower bound) or down (an upper bound) if rounding took it outside
    the requested interval."""
    rounded = dtype.type(bound)
    # float() first: NumPy would compare a float32 with a Python float in float32.
    if (upward and float(rounded) < bound) or (not upward and float(rounded) > bound):
        rounded = np.nextafter(rounded, dtype.type(np.inf if upward else -np.inf))
    return float(rounded)


def _float_elements(
    dtype: np.dtype, min_value: float, max_value: float, min_magnitude: float, caller: str
) -> st.SearchStrategy[float]:
    largest = float(np.finfo(dtype).max)
    for name, bound in (("min_value", min_value), ("max_value", max_value)):
        if abs(bound) > largest:
            raise ValueError(f"{caller}: {name}={bound} is outside the range of {dtype} "
                             f"(±{largest:.4g})")
    width = dtype.itemsize * 8

    def floats(low: float, high: float) -> st.SearchStrategy[float]:
        inner_low = _inward(low, dtype, upward=True)
        inner_high = _inward(high, dtype, upward=False)
        if inner_low > inner_high:
            raise ValueError(f"{caller}: no {dtype} value lies in [{low}, {high}]")
        low, high = inner_low, inner_high
        return st.floats(low, high, width=width, allow_nan=False, allow_infinity=False,
                         allow_subnormal=False)

    if min_magnitude <= 0:
        return floats(min_value, max_value)
    parts = []
    if max_value >= min_magnitude:
        parts.append(floats(max(min_value, min_magnitude), max_value))
    if min_value <= -min_magnitude:
        parts.append(floats(min_value, min(max_value, -min_magnitude)))
    if not parts:
        raise ValueError(
            f"{caller}: no value in [{min_value}, {max_value}] has magnitude ≥ {min_magnitude}"
        )
    return st.one_of(*parts)


def _elements(caller: str, dtype: Any, min_value: Any, max_value: Any, min_magnitude: Any,
              unique: bool, shape: Any) -> tuple[np.dtype, st.SearchStrategy[Any]]:
    dtype = parse_dtype(dtype, caller)
    min_value = _finite(min_value, f"{caller}: min_value")
    max_value = _finite(max_value, f"{caller}: max_value")
    min_magnitude = _finite(min_magnitude, f"{caller}: min_magnitude")
    if min_magnitude < 0:
        raise ValueError(f"{caller}: min_magnitude must be ≥ 0, got {min_magnitude}")
    _ordered(min_value, max_value, caller, "min_value", "max_value")
    if dtype.kind == "f":
        if dtype not in _FLOAT_DTYPES:
            raise TypeError(f"{caller}: unsupported dtype {dtype} (float16, float32 or float64)")
        return dtype, _float_elements(dtype, min_value, max_value, min_magnitude, caller)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = max(math.ceil(min_value), info.min), min(math.floor(max_value), info.max)
        if low > high:
            raise ValueError(f"{caller}: no {dtype} value lies in [{min_value}, {max_value}]")
        distinct = high - low + 1
        elements: st.SearchStrategy[Any] = st.integers(low, high)
    elif dtype.kind == "b":
        distinct, elements = 2, st.booleans()
    else:
        raise TypeError(f"{caller}: unsupported dtype {dtype} (use a float, int or bool dtype)")
    if unique and isinstance(shape, tuple) and math.prod(shape) > distinct:
        raise ValueError(f"{caller}: unique=True needs {math.prod(shape)} distinct values of "
                         f"shape {shape}, but only {distinct} {dtype} values are allowed")
    return dtype, elements


def arrays(
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    dtype: Any = np.float64,
    min_value: float = -10.0,
    max_value: float = 10.0,
    min_magnitude: float = 0.0,
    unique: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``shape`` (a tuple or a strategy) and ``dtype``.

    Floats lie in [min_value, max_value] with |x| ≥ min_magnitude (keep away from a pole, such
    as 0 for division); integers in the same bounds (and the dtype's range); bools are
    unconstrained.
    """
    shape = _shape_or_strategy(shape, "arrays")
    dtype, elements = _elements("arrays", dtype, min_value, max_value, min_magnitude,
                                bool(unique), shape)
    return hnp.arrays(dtype, shape, elements=elements, unique=bool(unique))


def tensors(
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    dtype: Any = np.float64,
    min_value: float = -10.0,
    max_value: float = 10.0,
    min_magnitude: float = 0.0,
    requires_grad: bool = False,
) -> st.SearchStrategy[Tensor]:
    """Tensors wrapping :func:`arrays` (float dtypes only when ``requires_grad``)."""
    if requires_grad and parse_dtype(dtype, "tensors").kind != "f":
        raise TypeError(f"tensors: requires_grad=True needs a float dtype, got {dtype}")
    return arrays(shape, dtype, min_value, max_value, min_magnitude).map(
        lambda a: Tensor(a, requires_grad=requires_grad)
    )


def really_broadcasts(shape_list: list[tuple[int, ...]]) -> bool:
    """True when some axis of the broadcast pairs a missing or size-1 axis with a size > 1."""
    full = np.broadcast_shapes(*shape_list)
    for shape in shape_list:
        padded = (1,) * (len(full) - len(shape)) + tuple(shape)
        if any(have == 1 and want > 1 for have, want in zip(padded, full, strict=True)):
            return True
    return False


def broadcastable_shapes(
    num_shapes: int = 2, max_dims: int = 3, max_side: int = 4
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """``num_shapes`` shapes that broadcast together and really broadcast.

    Every result pairs at least one size-1 (or missing leading) axis with an axis of size ≥ 2
    (see :func:`really_broadcasts`), so a gradient that forgets to sum over the broadcast
    axes is caught. Drawn from a full shape by dropping leading axes and squashing others to 1.
    """
    num_shapes = _count(num_shapes, "broadcastable_shapes: num_shapes", 2)
    max_dims = _count(max_dims, "broadcastable_shapes: max_dims", 1, _MAX_DIMS)
    max_side = _count(max_side, "broadcastable_shapes: max_side", 2)
    return _broadcastable_shapes(num_shapes, max_dims, max_side)


@st.composite
def _broadcastable_shapes(
    draw: st.DrawFn, num_shapes: int, max_dims: int, max_side: int
) -> tuple[tuple[int, ...], ...]:
    ndim = draw(st.integers(1, max_dims))
    full = draw(st.tuples(*[st.integers(2, max_side)] * ndim))
    result = []
    for _ in range(num_shapes):
        dropped = draw(st.integers(0, ndim))
        squash = draw(st.lists(st.booleans(), min_size=ndim - dropped, max_size=ndim - dropped))
        result.append(tuple(1 if s else n for s, n in zip(squash, full[dropped:], strict=True)))
    if not really_broadcasts(result):
        # Everything came out identical: make the first shape full and squash the second's
        # last axis, which keeps the draw's other choices.
        result[0] = full
        result[1] = tuple(full[len(full) - len(result[1]):-1]) + (1,) if result[1] else ()
    return tuple(result)


# ---------------------------------------------------------------------------------------------
# Whole problems: a fully connected network, a batch and its targets.
# ---------------------------------------------------------------------------------------------
TARGETS = ("real", "binary", "classes", "one_hot")


@dataclass(frozen=True)
class NetworkProblem:
    """A fully connected network and a batch whose shapes agree.

    Layer ``l`` (from 1) has ``weights[l-1]`` of shape ``(n_l, n_{l-1})`` — (out, in), as
    ``nn.Linear`` stores it — ``biases[l-1]`` of shape ``(n_l,)`` and activation
    ``activations[l-1]``. ``X`` is ``(N, n_0)``; ``y`` holds the targets: ``(N, n_L)`` floats
    in [−1, 1] (``"real"``), 0/1 floats (``"binary"``), integer classes of shape ``(N,)``
    (``"classes"``) or their one-hot rows (``"one_hot"``).
    """

    layer_sizes: tuple[int, ...]
    activations: tuple[str, ...]
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    X: np.ndarray
    y: np.ndarray

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{"W1": …, "b1": …, "W2": …}``: the parameters by name, as compare_manual takes."""
        named: dict[str, np.ndarray] = {}
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True), start=1):
            named[f"W{layer}"] = w
            named[f"b{layer}"] = b
        return named

    @property
    def args(self) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)``, the extra arguments of the loss."""
        return self.X, self.y


def _strategy(value: Any) -> st.SearchStrategy[Any]:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def _activation_name(name: Any, caller: str, what: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"{caller}: unknown {what} {name!r}; expected one of {ACTIVATIONS}")
    return str(name)


def network_problems(
    layer_sizes: Sequence[int] | st.SearchStrategy[Sequence[int]] | None = None,
    activations: str | Sequence[str] | st.SearchStrategy[str] = "tanh",
    output_activation: str = "identity",
    batch_sizes: int | st.SearchStrategy[int] | None = None,
    dtype: Any = np.float64,
    targets: str = "real",
    weight_bound: float = 1.0,
    input_bound: float = 2.0,
) -> st.SearchStrategy[NetworkProblem]:
    """:class:`NetworkProblem` s: weights, biases, inputs and targets with consistent shapes.

    ``layer_sizes`` is a fixed list (input size first), a strategy of such lists, or None for
    1–3 layers of width 1–4. ``activations`` is the hidden layers' activation: a name, a
    sequence of names to draw from for each hidden layer, or a strategy of names;
    ``output_activation`` is the last layer's. ``batch_sizes`` is an int or a strategy (None:
    1–4). Hypothesis draws (and shrinks) the structure — a failure shrinks to the fewest
    layers, narrowest widths and smallest batch — and the seed of a NumPy generator, which
    draws weights and biases uniformly in ±``weight_bound`` and inputs in ±``input_bound``.
    """
    caller = "network_problems"
    if layer_sizes is None:
        layer_sizes = st.lists(st.integers(1, 4), min_size=2, max_size=4)
    elif not isinstance(layer_sizes, st.SearchStrategy):
        if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Sequence):
            raise TypeError(f"{caller}: layer_sizes must be a list of ints (input first) or a "
                            f"strategy of such lists, got {type(layer_sizes).__name__}")
        if len(layer_sizes) < 2:
            raise ValueError(f"{caller}: layer_sizes needs at least two sizes (input and "
                             f"output), got {list(layer_sizes)}")
        layer_sizes = [_count(n, f"{caller}: layer_sizes[{i}]", 1)
                       for i, n in enumerate(layer_sizes)]
    if isinstance(activations, str):
        hidden = st.just(_activation_name(activations, caller, "activation"))
    elif isinstance(activations, st.SearchStrategy):
        hidden = activations
    else:
        names = [_activation_name(name, caller, "activation") for name in activations]
        if not names:
            raise ValueError(f"{caller}: activations is empty")
        hidden = st.sampled_from(names)
    output = _activation_name(output_activation, caller, "output_activation")
    if batch_sizes is None:
        batch_sizes = st.integers(1, 4)
    elif not isinstance(batch_sizes, st.SearchStrategy):
        batch_sizes = _count(batch_sizes, f"{caller}: batch_sizes", 1)
    dtype = parse_dtype(dtype, caller)
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{caller}: dtype must be float16, float32 or float64, got {dtype}")
    if targets not in TARGETS:
        raise ValueError(f"{caller}: unknown targets {targets!r}; expected one of {TARGETS}")
    weight_bound = _bound(weight_bound, caller, "weight_bound")
    input_bound = _bound(input_bound, caller, "input_bound")
    if weight_bound > float(np.finfo(dtype).max) or input_bound > float(np.finfo(dtype).max):
        raise ValueError(f"{caller}: weight_bound and input_bound must fit in {dtype}")
    return _network_problems(_strategy(layer_sizes), hidden, output, _strategy(batch_sizes),
                             dtype, targets, weight_bound, input_bound)


def _bound(value: Any, caller: str, what: str) -> float:
    bound = _finite(value, f"{caller}: {what}")
    if bound <= 0:
        raise ValueError(f"{caller}: {what} must be > 0, got {bound}")
    return bound


@st.composite
def _network_problems(draw: st.DrawFn, layer_sizes: st.SearchStrategy[Sequence[int]],
                      hidden: st.SearchStrategy[str], output: str,
                      batch_sizes: st.SearchStrategy[int], dtype: np.dtype, targets: str,
                      weight_bound: float, input_bound: float) -> NetworkProblem:
    sizes = tuple(int(n) for n in draw(layer_sizes))
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"network_problems: layer_sizes drew {list(sizes)}; it needs at least "
                         "two sizes ≥ 1")
    names = tuple(_activation_name(draw(hidden), "network_problems", "activation")
                  for _ in sizes[2:]) + (output,)
    n_samples = draw(batch_sizes)
    if n_samples < 1:
        raise ValueError(f"network_problems: batch_sizes drew {n_samples}; it must be ≥ 1")
    # The numbers come from a generator seeded by Hypothesis: the structure shrinks on its own
    # (the values do not shift when a layer is removed), and continuous draws almost never
    # land exactly on a kink (a ReLU at 0), where central differences are meaningless.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def uniform(bound: float, shape: tuple[int, ...]) -> np.ndarray:
        return rng.uniform(-bound, bound, size=shape).astype(dtype)

    ws = tuple(uniform(weight_bound, (n_out, n_in)) for n_in, n_out in itertools.pairwise(sizes))
    bs = tuple(uniform(weight_bound, (n_out,)) for n_out in sizes[1:])
    X = uniform(input_bound, (n_samples, sizes[0]))
    n_out = sizes[-1]
    if targets in ("classes", "one_hot"):
        classes = rng.integers(0, n_out, size=n_samples)
        y = classes if targets == "classes" else np.eye(n_out, dtype=dtype)[classes]
    elif targets == "binary":
        y = rng.integers(0, 2, size=(n_samples, n_out)).astype(dtype)
    else:
        y = uniform(1.0, (n_samples, n_out))
    return NetworkProblem(sizes, names, ws, bs, X, y)
