"""Hypothesis strategies for property-testing code built on micrograd_nd.

Needs the ``hypothesis`` package (``pip install "micrograd_nd[dev]"``)::

    from hypothesis import given
    from micrograd_nd.testing import arrays, broadcastable_shapes

    @given(broadcastable_shapes(num_shapes=2))
    def test_my_op(shapes): ...

Floats are drawn without NaN, infinities or subnormals, so finite differences stay meaningful.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # pragma: no cover - exercised only without hypothesis
    raise ImportError(
        "micrograd_nd.testing needs the hypothesis package: pip install hypothesis"
    ) from error

from .tensor import Tensor

__all__ = ["arrays", "broadcastable_shapes", "really_broadcasts", "shapes", "tensors"]


def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes with ``min_dims``–``max_dims`` axes of ``min_side``–``max_side`` each."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def _float_elements(
    dtype: np.dtype, min_value: float, max_value: float, min_magnitude: float
) -> st.SearchStrategy[float]:
    width = 32 if dtype == np.float32 else 16 if dtype == np.float16 else 64

    def floats(low: float, high: float) -> st.SearchStrategy[float]:
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
            f"no value in [{min_value}, {max_value}] has magnitude ≥ {min_magnitude}"
        )
    return st.one_of(*parts)


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
    as 0 for division); integers in the same bounds; bools are unconstrained.
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        elements = _float_elements(dtype, min_value, max_value, min_magnitude)
    elif dtype.kind in "iu":
        elements = st.integers(int(np.ceil(min_value)), int(np.floor(max_value)))
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        raise TypeError(f"arrays: unsupported dtype {dtype}")
    return hnp.arrays(dtype, shape, elements=elements, unique=unique)


def tensors(
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    dtype: Any = np.float64,
    min_value: float = -10.0,
    max_value: float = 10.0,
    min_magnitude: float = 0.0,
    requires_grad: bool = False,
) -> st.SearchStrategy[Tensor]:
    """Tensors wrapping :func:`arrays` (float dtypes only when ``requires_grad``)."""
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


@st.composite
def broadcastable_shapes(
    draw: st.DrawFn, num_shapes: int = 2, max_dims: int = 3, max_side: int = 4
) -> tuple[tuple[int, ...], ...]:
    """``num_shapes`` shapes that broadcast together and really broadcast.

    Every result pairs at least one size-1 (or missing leading) axis with an axis of size ≥ 2
    (see :func:`really_broadcasts`), so a gradient that forgets to sum over the broadcast
    axes is caught. Drawn from a full shape by dropping leading axes and squashing others to 1.
    """
    if num_shapes < 2:
        raise ValueError("broadcastable_shapes: num_shapes must be at least 2")
    ndim = draw(st.integers(1, max_dims))
    full = draw(st.tuples(*[st.integers(2, max(2, max_side))] * ndim))
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
