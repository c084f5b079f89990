"""The primitive table: every differentiable operation, its forward and its derivative rules.

Schema of an entry (read this before adding one)
-------------------------------------------------
``Primitive(name, forward, vjps)``

* ``forward(*arrays, **params) -> ndarray`` computes the value with NumPy.
* ``vjps`` holds one vector-Jacobian product per input, ``vjp(xp, g, out, *inputs, **params)``,
  returning ∂L/∂input given ``g = ∂L/∂out``. ``None`` in place of a rule marks an input the
  op is not differentiable in (a condition, an index); ``vjps=None`` marks a whole op as not
  differentiable (comparisons).
* A rule may return its gradient at the *broadcast* output shape and in the output dtype: the
  engine sums it back to the input's shape (``_arrays.sum_to_shape``) and casts it, in one
  place, so no rule repeats that.
* Rules are written against the array namespace ``xp`` and Python operators only, never NumPy
  directly. The engine passes :data:`ARRAY_OPS` (plain ndarrays, fast) or the differentiable
  tensor namespace (``create_graph=True``), so gradients of gradients come from these very
  rules.
* Variadic ops (``concatenate``) have a single rule that also receives ``argnum``.

Tests enumerate :data:`PRIMITIVES`; an entry without a test domain fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import sum_to_shape

__all__ = ["ARRAY_OPS", "PRIMITIVES", "Primitive", "register", "select"]

VJP = Callable[..., Any]


@dataclass(frozen=True, eq=False)
class Primitive:
    """One differentiable operation: its NumPy forward and one derivative rule per input."""

    name: str
    forward: Callable[..., np.ndarray]
    vjps: tuple[VJP | None, ...] | None
    variadic: bool = False

    def __post_init__(self) -> None:
        # ``rules[argnum]`` is what :meth:`vjp` returns; kept as a tuple for the backward
        # loop. Variadic ops get their rules made on demand (see ``_VariadicRules``).
        rules: Any = () if self.vjps is None else self.vjps
        if self.vjps is not None and self.variadic:
            rules = _VariadicRules(self.vjps[0])
        object.__setattr__(self, "rules", rules)

    @property
    def differentiable(self) -> bool:
        return self.vjps is not None

    def vjp(self, argnum: int) -> VJP | None:
        """The rule for input ``argnum`` (``None`` if the op is not differentiable in it)."""
        if self.vjps is None:
            return None
        return self.rules[argnum]

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


class _VariadicRules:
    """``rules[argnum]`` for a variadic op: its single rule with ``argnum`` bound."""

    __slots__ = ("rule",)

    def __init__(self, rule: VJP) -> None:
        self.rule = rule

    def __getitem__(self, argnum: int) -> VJP:
        rule = self.rule
        return lambda *args, **params: rule(*args, argnum=argnum, **params)


PRIMITIVES: dict[str, Primitive] = {}


def register(
    name: str,
    forward: Callable[..., np.ndarray],
    vjps: tuple[VJP | None, ...] | None,
    variadic: bool = False,
) -> Primitive:
    """Add an entry to the table (names are unique)."""
    if name in PRIMITIVES:
        raise ValueError(f"primitive {name!r} is already registered")
    primitive = Primitive(name, forward, vjps, variadic)
    PRIMITIVES[name] = primitive
    return primitive


# ---------------------------------------------------------------------------------------------
# The array namespace rules are written against. Its twin over tensors lives in tensor.py and
# must offer the same names.
# ---------------------------------------------------------------------------------------------
def _is_basic_index(index: Any) -> bool:
    """True when ``index`` cannot select an element twice (no integer arrays or lists)."""
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if isinstance(part, (list, np.ndarray)) and np.asarray(part).dtype != np.bool_:
            return False
    return True


def _scatter_add(g: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of ``shape`` with ``g`` added at ``index``; repeated indices accumulate."""
    result = np.zeros(shape, dtype=g.dtype)
    if _is_basic_index(index):
        result[index] = g  # each element is selected at most once: plain assignment suffices
    else:
        np.add.at(result, index, g)
    return result


# Below this many elements np.where is cheaper than the few ufunc calls of the bitwise select.
_SELECT_MIN_SIZE = 2048
_SAME_SIZE_INT = {2: np.dtype(np.int16), 4: np.dtype(np.int32), 8: np.dtype(np.int64)}


def _is_positive_zero(value: np.ndarray) -> bool:
    return value.ndim == 0 and value == 0 and not np.signbit(value)


def select(condition: Any, x: Any, y: Any) -> np.ndarray:
    """``np.where(condition, x, y)``, bit for bit, computed without branches for large floats.

    ``np.where`` picks element by element with a data-dependent branch, which costs ~8× a
    multiply when the condition is unpredictable (a ReLU mask). For float results this uses
    the bit patterns instead: with m all ones where ``condition`` holds and all zeros
    elsewhere, ``y ^ ((x ^ y) & m)`` is x where m is set and y elsewhere, exactly (NaN, ±∞
    and −0.0 included), and ``x & m`` when y is +0.0 (``y & ~m`` when x is). Other cases
    (integers, bools, small arrays) go to ``np.where``.
    """
    if (
        type(condition) is np.ndarray
        and condition.dtype == np.bool_
        and condition.size >= _SELECT_MIN_SIZE
    ):
        dtype = np.result_type(x, y)
        int_type = _SAME_SIZE_INT.get(dtype.itemsize)
        if dtype.kind == "f" and int_type is not None:
            x = np.asarray(x, dtype=dtype)
            y = np.asarray(y, dtype=dtype)
            result = np.empty(np.broadcast_shapes(condition.shape, x.shape, y.shape), dtype)
            bits = result.view(int_type)
            if _is_positive_zero(y):  # all ones where the condition holds
                np.bitwise_and(x.view(int_type), np.subtract(0, condition, dtype=int_type),
                               out=bits)
            elif _is_positive_zero(x):  # all ones where it does not
                np.bitwise_and(y.view(int_type), np.subtract(condition, 1, dtype=int_type),
                               out=bits)
            else:
                mask = np.subtract(0, condition, dtype=int_type)
                y_bits = y.view(int_type)
                np.bitwise_xor(x.view(int_type), y_bits, out=bits)
                np.bitwise_and(bits, mask, out=bits)
                np.bitwise_xor(bits, y_bits, out=bits)
            return result
    return np.where(condition, x, y)


class ArrayOps:
    """Plain-NumPy implementations of the functions derivative rules may call."""

    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    tanh = staticmethod(np.tanh)
    where = staticmethod(select)
    # The ndarray methods: the same results as np.reshape / np.transpose without the
    # dispatch wrapper, which costs more than the view itself.
    reshape = staticmethod(np.ndarray.reshape)
    transpose = staticmethod(np.ndarray.transpose)
    broadcast_to = staticmethod(np.broadcast_to)
    scatter_add = staticmethod(_scatter_add)

    @staticmethod
    def sum(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        return np.asarray(np.sum(x, axis=axis, keepdims=keepdims))

    @staticmethod
    def astype(x: np.ndarray, dtype: Any) -> np.ndarray:
        return x.astype(dtype, copy=False)

    @staticmethod
    def sum_to_shape(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return sum_to_shape(ArrayOps, g, shape)

    @staticmethod
    def keep_zero(g: np.ndarray, value: np.ndarray) -> np.ndarray:
        """``value`` with its NaNs replaced by 0 where the upstream gradient ``g`` is 0.

        A rule whose local derivative can be infinite (1/x at 0, eˣ past overflow) would turn
        the exact zero that ``where`` sends an unselected branch into 0·∞ = NaN. Only those
        elements change, so the common case costs a single NaN scan.
        """
        if np.isnan(value).any():
            value = np.where(np.isnan(value) & (g == 0), 0.0, value)
        return value


ARRAY_OPS = ArrayOps()


# ---------------------------------------------------------------------------------------------
# Small helpers shared by several rules.
# ---------------------------------------------------------------------------------------------
def _normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(int(a) % ndim if ndim else 0 for a in axes)


def _keepdims_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """``shape`` with the reduced axes kept as size 1 (what ``keepdims=True`` gives)."""
    axes = _normalize_axes(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _swap_last(xp: Any, x: Any) -> Any:
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return xp.transpose(x, axes)


def _inverse_permutation(axes: Any, ndim: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(reversed(range(ndim)))
    return tuple(int(i) for i in np.argsort([a % ndim for a in axes]))


# ---------------------------------------------------------------------------------------------
# Elementwise, broadcasting binary ops.  ∂(x∘y)/∂x and ∂(x∘y)/∂y at the output shape.
# ---------------------------------------------------------------------------------------------
ADD = register(
    "add", np.add,
    (lambda xp, g, out, x, y: g,
     lambda xp, g, out, x, y: g),
)
SUBTRACT = register(
    "subtract", np.subtract,
    (lambda xp, g, out, x, y: g,
     lambda xp, g, out, x, y: -g),
)
MULTIPLY = register(
    "multiply", np.multiply,
    (lambda xp, g, out, x, y: g * y,
     lambda xp, g, out, x, y: g * x),
)
# Rules whose local derivative can be infinite at finite inputs (1/y, eˣ, ln, xʸ) pass their
# result through ``xp.keep_zero``: a zero upstream gradient (a branch ``where`` did not
# select) then gives 0, not 0·∞ = NaN.
DIVIDE = register(
    "divide", np.divide,
    (lambda xp, g, out, x, y: xp.keep_zero(g, g / y),         # ∂(x/y)/∂x = 1/y
     lambda xp, g, out, x, y: xp.keep_zero(g, -g * out / y)),  # ∂(x/y)/∂y = −x/y² = −out/y
)


def _power_dbase(xp: Any, g: Any, out: Any, x: Any, y: Any) -> Any:
    """∂(xʸ)/∂x = y·xʸ⁻¹, taken as 0 at x = y = 0 (where the formula gives 0·∞ = NaN)."""
    if y.ndim == 0 and float(y) != 0.0:
        return xp.keep_zero(g, g * y * x ** (y - 1))
    # Only the point x = y = 0 is replaced (by the base 1), so the rule stays differentiable
    # in y everywhere else, which the mixed second derivative ∂²/∂x∂y needs.
    base = xp.where((x == 0) * (y == 0), 1.0, x)
    return xp.keep_zero(g, g * y * base ** (y - 1))


def _power_dexponent(xp: Any, g: Any, out: Any, x: Any, y: Any) -> Any:
    """∂(xʸ)/∂y = xʸ·ln x for x > 0, and 0 elsewhere (ln is not real there)."""
    return xp.keep_zero(g, g * out * xp.log(xp.where(x > 0, x, 1.0)))


POWER = register("power", np.power, (_power_dbase, _power_dexponent))


def _maximum_share(xp: Any, g: Any, x: Any, y: Any) -> Any:
    """Gradient share of the first argument: all of it where it wins, half of it at a tie."""
    return xp.where(x > y, g, xp.where(x == y, g * 0.5, 0.0))


MAXIMUM = register(
    "maximum", np.maximum,
    (lambda xp, g, out, x, y: _maximum_share(xp, g, x, y),
     lambda xp, g, out, x, y: _maximum_share(xp, g, y, x)),
)

# ---------------------------------------------------------------------------------------------
# Elementwise unary ops.
# ---------------------------------------------------------------------------------------------
NEGATE = register("negate", np.negative, (lambda xp, g, out, x: -g,))
EXP = register("exp", np.exp, (lambda xp, g, out, x: xp.keep_zero(g, g * out),))  # (eˣ)′ = eˣ
LOG = register("log", np.log, (lambda xp, g, out, x: xp.keep_zero(g, g / x),))  # (ln x)′ = 1/x
TANH = register("tanh", np.tanh, (lambda xp, g, out, x: g * (1.0 - out * out),))  # 1 − tanh²
ASTYPE = register(
    "astype",
    lambda x, dtype: x.astype(dtype),
    (lambda xp, g, out, x, dtype: xp.astype(g, x.dtype),),
)

# ---------------------------------------------------------------------------------------------
# Comparisons: values only, no derivative (the output is boolean).
# ---------------------------------------------------------------------------------------------
EQUAL = register("equal", np.equal, None)
NOT_EQUAL = register("not_equal", np.not_equal, None)
LESS = register("less", np.less, None)
LESS_EQUAL = register("less_equal", np.less_equal, None)
GREATER = register("greater", np.greater, None)
GREATER_EQUAL = register("greater_equal", np.greater_equal, None)

# ---------------------------------------------------------------------------------------------
# Selection.
# ---------------------------------------------------------------------------------------------
# where(c, x, y): the gradient reaches only the branch that was selected, and is an exact zero
# for the other one, so a NaN or inf in the unselected branch's value never leaks into it.
WHERE = register(
    "where", select,
    (None,
     lambda xp, g, out, c, x, y: xp.where(c, g, 0.0),
     lambda xp, g, out, c, x, y: xp.where(c, 0.0, g)),
)

# ---------------------------------------------------------------------------------------------
# Reductions.
# ---------------------------------------------------------------------------------------------
SUM = register(
    "sum",
    lambda x, axis=None, keepdims=False: np.asarray(np.sum(x, axis=axis, keepdims=keepdims)),
    # Every summed element receives the upstream gradient: reshape to keepdims form, broadcast.
    (lambda xp, g, out, x, axis=None, keepdims=False: xp.broadcast_to(
        xp.reshape(g, _keepdims_shape(x.shape, axis)), x.shape),),
)


def _max_vjp(xp: Any, g: Any, out: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The gradient goes to the maximal elements, shared equally among ties."""
    kept_shape = _keepdims_shape(x.shape, axis)
    is_max = x == xp.reshape(out, kept_shape)
    ties = xp.astype(xp.sum(is_max, axis=axis, keepdims=True), g.dtype)
    return xp.where(is_max, xp.reshape(g, kept_shape) / ties, 0.0)


MAX = register(
    "max",
    lambda x, axis=None, keepdims=False: np.asarray(np.max(x, axis=axis, keepdims=keepdims)),
    (_max_vjp,),
)

# ---------------------------------------------------------------------------------------------
# Shape and indexing.
# ---------------------------------------------------------------------------------------------
RESHAPE = register(
    "reshape", lambda x, shape: x.reshape(shape),
    (lambda xp, g, out, x, shape: xp.reshape(g, x.shape),),
)
TRANSPOSE = register(
    "transpose", lambda x, axes=None: x.transpose(axes),
    (lambda xp, g, out, x, axes=None: xp.transpose(g, _inverse_permutation(axes, x.ndim)),),
)
# The engine sums every gradient back to its input's shape, so this rule is the identity.
BROADCAST_TO = register(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
    (lambda xp, g, out, x, shape: g,),
)
GETITEM = register(
    "getitem", lambda x, index: np.asarray(x[index]),
    (lambda xp, g, out, x, index: xp.scatter_add(g, index, x.shape),),
)
# The adjoint of getitem: needed so that getitem's own rule is differentiable.
SCATTER_ADD = register(
    "scatter_add", _scatter_add,
    (lambda xp, g, out, values, index, shape: g[index],),
)


def _concatenate_vjp(xp: Any, g: Any, out: Any, *inputs: Any, argnum: int, axis: int = 0) -> Any:
    """The slice of the upstream gradient that input ``argnum`` filled."""
    axis = axis % g.ndim
    start = sum(inputs[i].shape[axis] for i in range(argnum))
    index = (slice(None),) * axis + (slice(start, start + inputs[argnum].shape[axis]),)
    return g[index]


CONCATENATE = register(
    "concatenate",
    lambda *arrays, axis=0: np.concatenate(arrays, axis=axis),
    (_concatenate_vjp,),
    variadic=True,
)

# ---------------------------------------------------------------------------------------------
# Linear algebra: matmul with NumPy semantics (1-D operands, broadcast batch axes).
# ---------------------------------------------------------------------------------------------
def _matmul_da(xp: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    """∂L/∂A = G·Bᵀ, with 1-D operands promoted to matrices and demoted again."""
    if b.ndim == 1:  # out = A·b dropped the last axis: G(..., n) → (..., n, 1); b → (1, k)
        return xp.reshape(g, g.shape + (1,)) * xp.reshape(b, (1,) * (a.ndim - 1) + b.shape)
    if a.ndim == 1:  # out = a·B dropped the second-to-last axis
        grad = xp.reshape(g, g.shape[:-1] + (1,) + g.shape[-1:]) @ _swap_last(xp, b)
        return xp.sum_to_shape(xp.reshape(grad, grad.shape[:-2] + grad.shape[-1:]), a.shape)
    return g @ _swap_last(xp, b)


def _matmul_db(xp: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    """∂L/∂B = Aᵀ·G, with 1-D operands promoted to matrices and demoted again."""
    if a.ndim == 1 and b.ndim == 1:  # inner product: out = a·b
        return g * a
    if a.ndim == 1:  # a (k,), G (..., m): outer products a ⊗ G
        return xp.reshape(a, a.shape + (1,)) * xp.reshape(g, g.shape[:-1] + (1,) + g.shape[-1:])
    if b.ndim == 1:  # b (k,), A (..., n, k), G (..., n): Σ_n A[n, k]·G[n]
        grad = _swap_last(xp, a) @ xp.reshape(g, g.shape + (1,))
        return xp.sum_to_shape(xp.reshape(grad, grad.shape[:-1]), b.shape)
    if _is_transposed_matrix(b):
        # B is a transposed view (``x @ W.T``): compute (Gᵀ·A)ᵀ, the same numbers laid out
        # like B, so the transpose's rule hands W a gradient in W's own (C) order.
        return _swap_last(xp, _swap_last(xp, g) @ a)
    return _swap_last(xp, a) @ g


def _is_transposed_matrix(x: Any) -> bool:
    """A 2-D ndarray in Fortran order only (e.g. ``W.T``); tensors (create_graph) never."""
    flags = getattr(x, "flags", None)
    return (flags is not None and x.ndim == 2 and flags.f_contiguous
            and not flags.c_contiguous)


MATMUL = register("matmul", np.matmul, (_matmul_da, _matmul_db))
