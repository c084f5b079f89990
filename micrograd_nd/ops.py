"""The operations on tensors: each is a primitive applied through :func:`~micrograd_nd.tensor.apply`
(which records the graph) or a short composition of primitives; none has derivative code.

Arguments are checked here, where they enter, so that errors name the op and the shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import primitives as P
from ._arrays import (
    axes_of,
    broadcast_shapes,
    normalize_axis,
    parse_dtype,
    shape_tuple,
    torch_names,
)
from .primitives import _einsum_tokens
from .tensor import ArrayLike, Tensor, apply, as_tensor, as_tensors, index_of

__all__ = [
    "abs", "add", "astype", "bitwise_and", "bitwise_or", "bitwise_xor", "broadcast_to", "clip",
    "concatenate", "cos", "divide", "dot", "einsum", "equal", "erf", "exp", "exp2", "expand_dims",
    "expm1", "flatten", "floor_divide", "getitem", "greater", "greater_equal", "invert", "less",
    "less_equal", "linear", "log", "log1p", "log2", "log10", "matmul", "max", "maximum", "mean",
    "min", "minimum", "moveaxis", "multiply", "negative", "norm", "not_equal", "outer", "permute",
    "power", "remainder", "reshape", "round", "sin", "sqrt", "square", "squeeze", "stack",
    "subtract", "sum", "swapaxes", "tanh", "tensor", "transpose", "where",
]


def values_op(name: str, function: Callable[..., np.ndarray]) -> P.Primitive:
    """An operation without derivative, ``function(*arrays, **params)`` on its inputs' values:
    what a composite treats as a constant (a max shift, a one-hot mask, a check of labels).

    Applied with ``apply`` like a primitive (errors are prefixed with ``name``), so a compiled
    step recomputes it from each call's values instead of freezing the traced call's value.
    """
    return P.Primitive(name, function, None, reads=())


def tensor(data: ArrayLike, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A Tensor holding a copy of ``data``, e.g. ``tensor([1.0, 2.0], requires_grad=True)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _broadcasting(primitive: P.Primitive, doc: str) -> Any:
    """The public function of an elementwise binary primitive: operands made tensors (a
    Python number takes its partner's dtype), shapes checked with an error naming the op."""
    name = primitive.name

    def op(x: ArrayLike, y: ArrayLike) -> Tensor:
        if type(x) is not Tensor or type(y) is not Tensor:
            x, y = as_tensors(x, y, name)
        if x._data.shape != y._data.shape:
            broadcast_shapes(name, x.shape, y.shape)
        return apply(primitive, x, y)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


# ---------------------------------------------------------------------------------------------
# Elementwise operations.
# ---------------------------------------------------------------------------------------------
add = _broadcasting(P.ADD, "x + y, broadcasting.")
subtract = _broadcasting(P.SUBTRACT, "x − y, broadcasting.")
multiply = _broadcasting(P.MULTIPLY, "x · y elementwise, broadcasting.")
divide = _broadcasting(P.DIVIDE, "x / y elementwise (true division), broadcasting.")
power = _broadcasting(P.POWER, "xʸ elementwise; differentiable in both (∂/∂y only where x > 0).")
maximum = _broadcasting(
    P.MAXIMUM,
    "Elementwise maximum; at a tie each argument gets half the gradient (the mean of the "
    "one-sided derivatives, which is also what central differences measure).",
)
minimum = _broadcasting(
    P.MINIMUM, "Elementwise minimum (same tie convention as :func:`maximum`).",
)
remainder = _broadcasting(
    P.REMAINDER, "x mod y with NumPy's convention (the sign of y): x − y·⌊x/y⌋, broadcasting.",
)
equal = _broadcasting(P.EQUAL, "Elementwise x == y (a bool tensor; not differentiable).")
not_equal = _broadcasting(P.NOT_EQUAL, "Elementwise x != y (a bool tensor; not differentiable).")
less = _broadcasting(P.LESS, "Elementwise x < y (a bool tensor; not differentiable).")
less_equal = _broadcasting(P.LESS_EQUAL,
                           "Elementwise x <= y (a bool tensor; not differentiable).")
greater = _broadcasting(P.GREATER, "Elementwise x > y (a bool tensor; not differentiable).")
greater_equal = _broadcasting(P.GREATER_EQUAL,
                              "Elementwise x >= y (a bool tensor; not differentiable).")


def _constant_binary(function: np.ufunc, doc: str) -> Any:
    """A binary NumPy ufunc whose result has no gradient (piecewise constant, or bits)."""
    name = function.__name__

    def op(x: ArrayLike, y: ArrayLike) -> Tensor:
        x, y = as_tensors(x, y, name)
        broadcast_shapes(name, x.shape, y.shape)
        try:
            return Tensor._make(np.asarray(function(x._data, y._data)))
        except TypeError as error:
            raise TypeError(f"{name}: not defined for {x.dtype} and {y.dtype} ({error})") from None

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


floor_divide = _constant_binary(np.floor_divide, "⌊x/y⌋ (a tensor without gradient: its "
                                                 "derivative is 0 wherever it exists).")
bitwise_and = _constant_binary(np.bitwise_and, "x & y for bool or integer tensors (no gradient).")
bitwise_or = _constant_binary(np.bitwise_or, "x | y for bool or integer tensors (no gradient).")
bitwise_xor = _constant_binary(np.bitwise_xor, "x ^ y for bool or integer tensors (no gradient).")


def invert(x: ArrayLike) -> Tensor:
    """~x for bool or integer tensors (no gradient)."""
    x = as_tensor(x, None, "invert")
    try:
        return Tensor._make(np.asarray(np.invert(x._data)))
    except TypeError:
        raise TypeError(f"invert: ~ is not defined for {x.dtype} tensors (bool or integer "
                        "only)") from None


def round(x: ArrayLike, decimals: int = 0) -> Tensor:
    """x rounded to ``decimals`` (NumPy's half-to-even); no gradient (0 wherever it exists)."""
    x = as_tensor(x, None, "round")
    return Tensor._make(np.asarray(np.round(x._data, decimals)))


def negative(x: ArrayLike) -> Tensor:
    """−x."""
    return apply(P.NEGATE, as_tensor(x, None, "negative"))


def exp(x: ArrayLike) -> Tensor:
    """eˣ elementwise."""
    return apply(P.EXP, as_tensor(x, None, "exp"))


def log(x: ArrayLike) -> Tensor:
    """Natural logarithm elementwise."""
    return apply(P.LOG, as_tensor(x, None, "log"))


def tanh(x: ArrayLike) -> Tensor:
    """Hyperbolic tangent elementwise."""
    return apply(P.TANH, as_tensor(x, None, "tanh"))


def log1p(x: ArrayLike) -> Tensor:
    """ln(1 + x) elementwise, accurate for tiny x."""
    return apply(P.LOG1P, as_tensor(x, None, "log1p"))


def log2(x: ArrayLike) -> Tensor:
    """log₂ x elementwise (NumPy's values: log₂ 8 is exactly 3)."""
    return apply(P.LOG2, as_tensor(x, None, "log2"))


def log10(x: ArrayLike) -> Tensor:
    """log₁₀ x elementwise (NumPy's values: log₁₀ 1000 is exactly 3)."""
    return apply(P.LOG10, as_tensor(x, None, "log10"))


def exp2(x: ArrayLike) -> Tensor:
    """2ˣ elementwise."""
    return apply(P.EXP2, as_tensor(x, None, "exp2"))


def expm1(x: ArrayLike) -> Tensor:
    """eˣ − 1 elementwise, accurate for tiny x."""
    return apply(P.EXPM1, as_tensor(x, None, "expm1"))


def erf(x: ArrayLike) -> Tensor:
    """The error function erf x = (2/√π)∫₀ˣ e^{−t²} dt elementwise (no SciPy needed)."""
    return apply(P.ERF, as_tensor(x, None, "erf"))


def sin(x: ArrayLike) -> Tensor:
    """Sine elementwise."""
    return apply(P.SIN, as_tensor(x, None, "sin"))


def cos(x: ArrayLike) -> Tensor:
    """Cosine elementwise."""
    return apply(P.COS, as_tensor(x, None, "cos"))


def sqrt(x: ArrayLike) -> Tensor:
    """√x as x^0.5."""
    return power(as_tensor(x, None, "sqrt"), 0.5)


def square(x: ArrayLike) -> Tensor:
    """x² as x·x."""
    x = as_tensor(x, None, "square")
    return multiply(x, x)


def abs(x: ArrayLike) -> Tensor:
    """|x| elementwise (NumPy's values, |−0.0| = +0.0 included); its derivative is sign x,
    0 at 0 (as in PyTorch and JAX, and what central differences measure)."""
    return apply(P.ABS, as_tensor(x, None, "abs"))


def astype(x: ArrayLike, dtype: Any) -> Tensor:
    """Cast to ``dtype``; the gradient is cast back to the input's dtype."""
    x = as_tensor(x, None, "astype")
    dtype = parse_dtype(dtype, "astype")
    if dtype.kind not in "fiub":
        raise TypeError(
            f"astype: unsupported dtype {dtype} for a Tensor (use a floating, integer or bool "
            "dtype)"
        )
    if x.dtype == dtype:
        return x
    if x.requires_grad and dtype.kind != "f":
        raise TypeError(f"astype: casting a tensor that requires grad to {dtype} loses it")
    return apply(P.ASTYPE, x, dtype=dtype)


def where(condition: ArrayLike, x: ArrayLike, y: ArrayLike) -> Tensor:
    """``x`` where ``condition`` holds, else ``y``; the gradient reaches only the chosen one."""
    condition = as_tensor(condition, None, "where")
    if condition.dtype != np.bool_:
        raise TypeError(f"where: the condition must be a bool tensor, got {condition.dtype}")
    x, y = as_tensors(x, y, "where")
    broadcast_shapes("where", condition.shape, x.shape, y.shape)
    return apply(P.WHERE, condition, x, y)


def clip(x: ArrayLike, min: ArrayLike | None = None, max: ArrayLike | None = None) -> Tensor:
    """x limited to [min, max] (``np.clip``; PyTorch's ``clamp``), as NumPy computes it:
    min(max(x, lo), hi). The gradient is 1 where lo ≤ x ≤ hi (bounds included, as in PyTorch)
    and reaches a bound where it is the value; NaN stays NaN."""
    x = as_tensor(x, None, "clip")
    if min is None and max is None:
        raise ValueError("clip: give min, max or both")
    bounds = [as_tensor(b, x.dtype, "clip") for b in (min, max) if b is not None]
    broadcast_shapes("clip", x.shape, *(b.shape for b in bounds))
    result = x
    if min is not None:
        result = where(x < min, min, result)
    if max is not None:
        result = where(result > max, max, result)
    return result


# ---------------------------------------------------------------------------------------------
# Reductions.
# ---------------------------------------------------------------------------------------------
@torch_names
def sum(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Σ over ``axis`` (all axes when ``None``)."""
    x = as_tensor(x, None, "sum")
    return apply(P.SUM, x, axis=normalize_axis("sum", axis, x.ndim), keepdims=bool(keepdims))


@torch_names
def mean(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``: the sum divided by the number of elements reduced.

    As ``np.mean``: integers and bools are summed in float64 (no overflow), float16 in float32
    and the result rounded back; the mean of no elements is NaN (without NumPy's warning).
    """
    x = as_tensor(x, None, "mean")
    dtype = x.dtype
    accumulate = _MEAN_ACCUMULATOR.get(dtype.kind + str(dtype.itemsize), dtype)
    total = sum(astype(x, accumulate), axis=axis, keepdims=keepdims)
    count = x.size // total.size if total.size else 0
    result = divide(total, count) if count else multiply(total, float("nan"))
    return astype(result, np.float16) if dtype == np.float16 else result


# np.mean's accumulators: float64 for integers and bools, float32 for float16.
_MEAN_ACCUMULATOR = {
    **{f"{kind}{size}": np.dtype(np.float64) for kind in "iub" for size in (1, 2, 4, 8)},
    "f2": np.dtype(np.float32),
}


class ValuesIndices(NamedTuple):
    """What ``max``/``min`` return when called with PyTorch's ``dim=``: both results."""

    values: Tensor
    indices: Tensor


def _extremum(primitive: P.Primitive, x: ArrayLike, axis: Any, keepdims: bool, dim: Any,
              keepdim: Any) -> Tensor | ValuesIndices:
    """max/min over an axis. Called with ``dim=`` (PyTorch's spelling), the result is
    PyTorch's too: ``(values, indices)``, so ``values, indices = t.max(dim=1)`` unpacks as a
    PyTorch user expects; with ``axis=`` (NumPy's), the values alone."""
    name = primitive.name
    x = as_tensor(x, None, name)
    torch_style = dim is not None
    if torch_style and axis is not None:
        raise TypeError(f"{name}: pass axis= or dim=, not both")
    if torch_style and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
        raise TypeError(f"{name}: dim= must be a single int (PyTorch returns the indices along "
                        f"one axis), got {dim!r}")
    if keepdim is not None:
        keepdims = keepdim
    axis = normalize_axis(name, dim if torch_style else axis, x.ndim)
    if any(x.shape[a] == 0 for a in axes_of(axis, x.ndim)):
        raise ValueError(
            f"{name}: a zero-size tensor of shape {x.shape} has no "
            f"{'maximum' if primitive is P.MAX else 'minimum'} over axis {axis}"
        )
    values = apply(primitive, x, axis=axis, keepdims=bool(keepdims))
    if not torch_style:
        return values
    select = np.argmax if primitive is P.MAX else np.argmin
    indices = select(x.data, axis=axis, keepdims=bool(keepdims)) if x.ndim else np.int64(0)
    return ValuesIndices(values, Tensor._make(np.asarray(indices, dtype=np.int64)))


def max(x: ArrayLike, axis: Any = None, keepdims: bool = False, *, dim: int | None = None,
        keepdim: bool | None = None) -> Tensor | ValuesIndices:
    """Maximum over ``axis``; tied maxima share the gradient equally. With PyTorch's ``dim=``
    it returns ``(values, indices)`` as PyTorch does."""
    return _extremum(P.MAX, x, axis, keepdims, dim, keepdim)


def min(x: ArrayLike, axis: Any = None, keepdims: bool = False, *, dim: int | None = None,
        keepdim: bool | None = None) -> Tensor | ValuesIndices:
    """Minimum over ``axis``; tied minima share the gradient equally. With PyTorch's ``dim=``
    it returns ``(values, indices)`` as PyTorch does."""
    return _extremum(P.MIN, x, axis, keepdims, dim, keepdim)


# ---------------------------------------------------------------------------------------------
# Shape operations.
# ---------------------------------------------------------------------------------------------
def reshape(x: ArrayLike, shape: Any) -> Tensor:
    """The same elements in a new shape (one dimension may be −1); a view where NumPy gives one."""
    x = as_tensor(x, None, "reshape")
    shape = shape_tuple("reshape", shape)
    if shape == x.shape:
        return x
    return apply(P.RESHAPE, x, shape=shape)


def flatten(x: ArrayLike) -> Tensor:
    """The elements as a 1-d tensor."""
    return reshape(x, (-1,))


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None)."""
    x = as_tensor(x, None, "transpose")
    if axes is not None:
        axes = tuple(int(a) for a in axes)
        valid = len(axes) == x.ndim and all(-x.ndim <= a < x.ndim for a in axes)
        if not valid or sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes")
    return apply(P.TRANSPOSE, x, axes=axes)


def permute(x: ArrayLike, axes: Sequence[int]) -> Tensor:
    """Alias of :func:`transpose` with explicit axes (PyTorch's name)."""
    return transpose(x, axes)


def swapaxes(x: ArrayLike, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    x = as_tensor(x, None, "swapaxes")
    first, second = (normalize_axis("swapaxes", a, x.ndim) for a in (axis1, axis2))
    axes = list(range(x.ndim))
    axes[first], axes[second] = axes[second], axes[first]
    return transpose(x, axes)


def moveaxis(x: ArrayLike, source: int | Sequence[int],
             destination: int | Sequence[int]) -> Tensor:
    """Move axes ``source`` to positions ``destination`` (ints, or sequences of one length, as
    ``np.moveaxis``), keeping the others in order."""
    x = as_tensor(x, None, "moveaxis")
    sources = _axes_tuple(normalize_axis("moveaxis", source, x.ndim))
    destinations = _axes_tuple(normalize_axis("moveaxis", destination, x.ndim))
    if len(sources) != len(destinations):
        raise ValueError(f"moveaxis: source {source!r} and destination {destination!r} must "
                         "name as many axes")
    axes = [a for a in range(x.ndim) if a not in sources]
    for dest, src in sorted(zip(destinations, sources, strict=True)):
        axes.insert(dest, src)
    return transpose(x, axes)


def _axes_tuple(axis: int | tuple[int, ...] | None) -> tuple[int, ...]:
    return () if axis is None else (axis,) if isinstance(axis, int) else axis


@torch_names
def expand_dims(x: ArrayLike, axis: int | Sequence[int]) -> Tensor:
    """Insert size-1 axes at ``axis`` (an int or a tuple, positions in the result, as
    ``np.expand_dims``; ``unsqueeze`` in PyTorch)."""
    x = as_tensor(x, None, "expand_dims")
    count = 1 if isinstance(axis, (int, np.integer)) else len(tuple(axis))
    new = axes_of(normalize_axis("expand_dims", axis, x.ndim + count), x.ndim + count)
    sizes = iter(x.shape)
    return reshape(x, tuple(1 if i in new else next(sizes) for i in range(x.ndim + count)))


@torch_names
def squeeze(x: ArrayLike, axis: Any = None) -> Tensor:
    """Remove size-1 axes (all of them, or those in ``axis``)."""
    x = as_tensor(x, None, "squeeze")
    axis = normalize_axis("squeeze", axis, x.ndim)
    axes = axes_of(axis, x.ndim)
    if axis is not None:
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, "
                                 "not 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def broadcast_to(x: ArrayLike, shape: Sequence[int]) -> Tensor:
    """Repeat ``x`` along size-1 and new leading axes to ``shape`` (a read-only view)."""
    x = as_tensor(x, None, "broadcast_to")
    shape = shape_tuple("broadcast_to", shape)
    if broadcast_shapes("broadcast_to", x.shape, shape) != shape:
        raise ValueError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}")
    return apply(P.BROADCAST_TO, x, shape=shape)


def getitem(x: ArrayLike, index: Any) -> Tensor:
    """``x[index]`` with NumPy's basic and advanced indexing rules; repeated indices add up
    in the gradient. Basic indexing gives a view (writes through it reach ``x``)."""
    return apply(P.GETITEM, as_tensor(x, None, "getitem"), index=index_of(index, "getitem"))


@torch_names
def concatenate(tensors: Sequence[ArrayLike], axis: int | None = 0) -> Tensor:
    """Join tensors along an existing axis; ``axis=None`` joins them flattened (as NumPy)."""
    tensors = [as_tensor(t, None, "concatenate") for t in tensors]
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    if axis is None:
        tensors, axis = [flatten(t) for t in tensors], 0
    return apply(P.CONCATENATE, *tensors, axis=axis)


@torch_names
def stack(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis (reshape each, then concatenate)."""
    tensors = [as_tensor(t, None, "stack") for t in tensors]
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    axis = normalize_axis("stack", axis, tensors[0].ndim + 1)
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis)


# ---------------------------------------------------------------------------------------------
# Linear algebra.
# ---------------------------------------------------------------------------------------------
def matmul(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands, broadcast batch dimensions."""
    x, y = as_tensors(x, y, "matmul")
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(
            f"matmul: operands must be at least 1-d, got shapes {x.shape} and {y.shape} "
            "(use * to scale by a scalar)"
        )
    inner_y = y.shape[0] if y.ndim == 1 else y.shape[-2]
    if x.shape[-1] != inner_y:
        raise ValueError(
            f"matmul: inner dimensions differ: {x.shape} @ {y.shape} "
            f"({x.shape[-1]} != {inner_y})"
        )
    if x.ndim > 2 or y.ndim > 2:
        broadcast_shapes("matmul (batch dimensions)", x.shape[:-2], y.shape[:-2])
    return apply(P.MATMUL, x, y)


def linear(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None) -> Tensor:
    """x·Wᵀ + b (PyTorch's ``linear``): W is (out, in), b is (out,), x is (..., in).

    One recorded op for a whole layer; ∂L/∂W comes out in W's own layout.
    """
    x, weight = as_tensors(x, weight, "linear")
    operands = [x, weight]
    if weight.ndim != 2:
        raise ValueError(f"linear: the weight must be 2-d (out, in), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not match weight of shape {weight.shape} "
            f"(expected (..., {weight.shape[1]}))"
        )
    if bias is not None:
        bias = as_tensor(bias, weight.dtype, "linear")
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"linear: bias of shape {bias.shape} does not match weight of shape "
                f"{weight.shape} (expected ({weight.shape[0]},))"
            )
        operands.append(bias)
    dtypes = {t.dtype for t in operands}
    if len(dtypes) > 1:
        raise TypeError(f"linear: operands have different dtypes {sorted(map(str, dtypes))}; "
                        "cast them to one dtype")
    return apply(P.LINEAR, *operands)


def dot(x: ArrayLike, y: ArrayLike) -> Tensor:
    """NumPy's ``dot``: products for scalars, inner product of vectors, matrix product, and
    for N-d arrays a sum over the last axis of x and the second-to-last of y."""
    x, y = as_tensors(x, y, "dot")
    if x.ndim == 0 or y.ndim == 0:
        return multiply(x, y)
    if y.ndim <= 2:
        return matmul(x, y)
    # dot(x, y)[i…, j…, k] = Σ_m x[i…, m]·y[j…, m, k]: move y's summed axis first, flatten.
    if x.shape[-1] != y.shape[-2]:
        raise ValueError(f"dot: shapes {x.shape} and {y.shape} are not aligned "
                         f"({x.shape[-1]} != {y.shape[-2]})")
    moved = moveaxis(y, -2, 0)
    product = matmul(reshape(x, (-1, x.shape[-1])), reshape(moved, (y.shape[-2], -1)))
    return reshape(product, x.shape[:-1] + moved.shape[1:])


def outer(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Outer product of the flattened inputs: out[i, j] = x[i]·y[j]."""
    x, y = as_tensors(x, y, "outer")
    return multiply(reshape(x, (-1, 1)), reshape(y, (1, -1)))


def einsum(subscripts: str, *operands: ArrayLike) -> Tensor:
    """Einstein summation with NumPy's notation (``"ij,jk->ik"``, implicit output, ``...``).

    Differentiable in every operand whose subscripts have no repeated index (a repeated index
    within one operand takes a diagonal, whose gradient this does not implement).
    """
    if not isinstance(subscripts, str):
        raise TypeError("einsum: the first argument must be the subscripts string")
    tensors = [as_tensor(t, None, "einsum") for t in operands]
    spec = _explicit_subscripts(subscripts, len(tensors))
    for term, t in zip(spec.split("->")[0].split(","), tensors, strict=True):
        letters = [token for token in _einsum_tokens(term) if token != "..."]
        if t.requires_grad and len(set(letters)) != len(letters):
            raise ValueError(
                f"einsum: operand subscripts {term!r} repeat an index (a diagonal or trace); "
                "its gradient is not supported. Write it with a mask instead, e.g. "
                "sum(x * eye) for a trace"
            )
    return apply(P.EINSUM, *tensors, subscripts=spec)


def _explicit_subscripts(subscripts: str, count: int) -> str:
    """``subscripts`` with spaces removed and the output written out (NumPy's implicit rule:
    the indices that appear once, in alphabetical order, after any ``...``)."""
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != count:
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(terms)} operands, "
                         f"{count} given")
    for term in [*terms, output]:
        if not all(c.isalpha() for c in term.replace("...", "")):
            raise ValueError(f"einsum: invalid subscripts {subscripts!r}")
    if not arrow:
        letters = [c for term in terms for c in term.replace("...", "")]
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        output = ("..." if "..." in inputs else "") + "".join(once)
    return ",".join(terms) + "->" + output


@torch_names
def norm(x: ArrayLike, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Vector and Frobenius norms (``np.linalg.norm`` for ``ord`` None, 2 (vectors), 1, inf,
    'fro'); the gradient at the zero vector is taken as 0 (a subgradient), not NaN."""
    x = as_tensor(x, None, "norm")
    if x.dtype.kind != "f":  # as np.linalg.norm: integers would overflow when squared
        x = astype(x, np.float64)
    axis = normalize_axis("norm", axis, x.ndim)
    vector = (axis is not None and isinstance(axis, int)) or (axis is None and x.ndim == 1)
    if ord in (None, "fro") or (ord == 2 and vector):
        if ord == "fro" and vector:
            raise ValueError("norm: ord='fro' is for matrices; use ord=None or 2 for vectors")
        total = sum(x * x, axis=axis, keepdims=keepdims)
        positive = total > 0
        return where(positive, sqrt(where(positive, total, 1.0)), 0.0)
    if vector and ord == 1:
        return sum(abs(x), axis=axis, keepdims=keepdims)
    if vector and ord in (np.inf, float("inf")):
        return max(abs(x), axis=axis, keepdims=keepdims)
    raise ValueError(
        f"norm: ord={ord!r} with axis={axis!r} is not supported (use ord None, 2, 1 or inf on "
        "vectors, or None/'fro' on matrices)"
    )

