"""The primitive table: every differentiable operation, its forward and its derivative rules.

Schema of an entry (read this before adding one)
-------------------------------------------------
``register(name, forward, rules, *, reads=None, keeps_zero=False, variadic=False)``

* ``forward(*arrays, **params) -> ndarray`` computes the value with NumPy.
* ``rules`` holds one vector-Jacobian product per input, ``rule(xp, g, out, *inputs, **params)``
  returning ∂L/∂input given ``g = ∂L/∂out``. ``None`` in place of a rule marks an input the op
  is not differentiable in (a condition, an index); ``rules=None`` marks a whole op as not
  differentiable (comparisons). A variadic op (``concatenate``) has one rule, which also gets
  ``argnum``.
* ``reads`` names the saved values the rules read: input positions, and ``OUT`` for the output
  (``None``: every input and the output). The engine checks exactly these for in-place changes
  before running the rules (a rule that only needs shapes reads nothing), like PyTorch's saved
  tensors.
* ``keeps_zero=True`` marks rules whose local derivative can be infinite at a finite input
  (1/y, eˣ, ln x, xʸ): the engine then keeps a zero upstream gradient zero, so the branch a
  ``where`` did not select gets 0, not 0·∞ = NaN.
* A rule may return its gradient at the *broadcast* output shape and in the output dtype: the
  engine sums it back to the input's shape and casts it, in one place, so no rule repeats that.
  A rule returns new memory, ``g`` itself or a view of ``g``; never one of its saved values.
* Rules use Python operators and the backend ``xp`` (:class:`micrograd_nd.backend.Backend`)
  only, never NumPy directly. ``xp`` runs them on ndarrays for an ordinary backward pass, or
  on tensors when the backward pass is itself recorded (``create_graph=True``): gradients of
  gradients come from these very rules.

Tests enumerate :data:`PRIMITIVES`; an entry without a test domain fails the suite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from ._arrays import checked_cast, reduced_shape
from ._kernels import scatter_add, select
from ._special import erf

__all__ = ["OUT", "PRIMITIVES", "Primitive", "register"]

Rule = Callable[..., Any]
OUT = -1  # in ``reads``: the op's output
_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))


@dataclass(frozen=True, eq=False)
class Primitive:
    """One operation: its NumPy forward and one derivative rule per input."""

    name: str
    forward: Callable[..., np.ndarray]
    rules: tuple[Rule | None, ...] | None
    reads: tuple[int, ...] | None
    keeps_zero: bool = False
    variadic: bool = False

    @property
    def differentiable(self) -> bool:
        return self.rules is not None

    def rules_for(self, count: int) -> tuple[Rule | None, ...]:
        """The rule of each of ``count`` inputs (a variadic op's one rule, bound to each)."""
        if not self.variadic or self.rules is None:
            return self.rules or ()
        return tuple(partial(self.rules[0], argnum=i) for i in range(count))

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


PRIMITIVES: dict[str, Primitive] = {}


def register(
    name: str,
    forward: Callable[..., np.ndarray],
    rules: tuple[Rule | None, ...] | None,
    *,
    reads: tuple[int, ...] | None = None,
    keeps_zero: bool = False,
    variadic: bool = False,
) -> Primitive:
    """Add an entry to the table (names are unique)."""
    if name in PRIMITIVES:
        raise ValueError(f"primitive {name!r} is already registered")
    primitive = Primitive(name, forward, rules, reads, keeps_zero, variadic)
    PRIMITIVES[name] = primitive
    return primitive


# ---------------------------------------------------------------------------------------------
# Elementwise, broadcasting binary ops.  ∂(x∘y)/∂x and ∂(x∘y)/∂y at the output shape.
# ---------------------------------------------------------------------------------------------
ADD = register(
    "add", np.add,
    (lambda xp, g, out, x, y: g,
     lambda xp, g, out, x, y: g),
    reads=(),
)
SUBTRACT = register(
    "subtract", np.subtract,
    (lambda xp, g, out, x, y: g,
     lambda xp, g, out, x, y: -g),
    reads=(),
)
MULTIPLY = register(
    "multiply", np.multiply,
    (lambda xp, g, out, x, y: g * y,
     lambda xp, g, out, x, y: g * x),
    reads=(0, 1),
)
DIVIDE = register(
    "divide", np.divide,
    (lambda xp, g, out, x, y: g / y,          # ∂(x/y)/∂x = 1/y
     lambda xp, g, out, x, y: -g * out / y),  # ∂(x/y)/∂y = −x/y² = −out/y
    reads=(1, OUT), keeps_zero=True,
)


def _power_dbase(xp: Any, g: Any, out: Any, x: Any, y: Any) -> Any:
    """∂(xʸ)/∂x = y·xʸ⁻¹, taken as 0 at x = y = 0 (where the formula gives 0·∞ = NaN)."""
    if y.ndim == 0 and float(y) != 0.0:
        return g * y * x ** (y - 1)
    # Only the point x = y = 0 is replaced (by the base 1), so the rule stays differentiable
    # in y everywhere else, which the mixed second derivative ∂²/∂x∂y needs.
    return g * y * xp.where((x == 0) * (y == 0), 1.0, x) ** (y - 1)


def _power_dexponent(xp: Any, g: Any, out: Any, x: Any, y: Any) -> Any:
    """∂(xʸ)/∂y = xʸ·ln x for x > 0, and 0 elsewhere (ln x is not real there)."""
    positive = x > 0
    return g * xp.where(positive, out, 0.0) * xp.log(xp.where(positive, x, 1.0))


REMAINDER = register(  # x mod y = x − y·⌊x/y⌋ (NumPy's sign convention): ∂/∂x = 1, ∂/∂y = −⌊x/y⌋
    "remainder", np.remainder,
    (lambda xp, g, out, x, y: g,
     lambda xp, g, out, x, y: -g * ((x - out) / y)),  # (x − out)/y is ⌊x/y⌋ to rounding
    reads=(0, 1, OUT),
)
POWER = register(
    "power", np.power, (_power_dbase, _power_dexponent), reads=(0, 1, OUT), keeps_zero=True,
)


def _share(xp: Any, g: Any, wins: Any, ties: Any) -> Any:
    """An argument's share of g: all of it where it wins, half of it at a tie (the mean of the
    one-sided derivatives, which is also what central differences measure)."""
    return xp.where(ties, g * 0.5, xp.where(wins, g, 0.0))


MAXIMUM = register(
    "maximum", np.maximum,
    (lambda xp, g, out, x, y: _share(xp, g, x > y, x == y),
     lambda xp, g, out, x, y: _share(xp, g, y > x, x == y)),
    reads=(0, 1),
)
MINIMUM = register(
    "minimum", np.minimum,
    (lambda xp, g, out, x, y: _share(xp, g, x < y, x == y),
     lambda xp, g, out, x, y: _share(xp, g, y < x, x == y)),
    reads=(0, 1),
)

# ---------------------------------------------------------------------------------------------
# Elementwise unary ops.
# ---------------------------------------------------------------------------------------------
NEGATE = register("negate", np.negative, (lambda xp, g, out, x: -g,), reads=())
ABS = register(  # |x|′ = sign x, taken as 0 at 0 (PyTorch, JAX; what central differences give)
    "abs", np.abs, (lambda xp, g, out, x: xp.where(x > 0, g, xp.where(x < 0, -g, 0.0)),),
    reads=(0,),
)
EXP = register(  # (eˣ)′ = eˣ
    "exp", np.exp, (lambda xp, g, out, x: g * out,), reads=(OUT,), keeps_zero=True,
)
LOG = register(  # (ln x)′ = 1/x
    "log", np.log, (lambda xp, g, out, x: g / x,), reads=(0,), keeps_zero=True,
)
LOG1P = register(  # ln(1 + x), exact for tiny x; its derivative is 1/(1 + x)
    "log1p", np.log1p, (lambda xp, g, out, x: g / (1.0 + x),), reads=(0,), keeps_zero=True,
)
LOG2 = register(  # (log₂ x)′ = 1/(x ln 2); a primitive so the values are NumPy's (log₂ 8 = 3)
    "log2", np.log2, (lambda xp, g, out, x: g / (x * _LN2),), reads=(0,), keeps_zero=True,
)
LOG10 = register(  # (log₁₀ x)′ = 1/(x ln 10)
    "log10", np.log10, (lambda xp, g, out, x: g / (x * _LN10),), reads=(0,), keeps_zero=True,
)
EXP2 = register(  # (2ˣ)′ = 2ˣ ln 2
    "exp2", np.exp2, (lambda xp, g, out, x: g * out * _LN2,), reads=(OUT,), keeps_zero=True,
)
EXPM1 = register(  # eˣ − 1, exact for tiny x; its derivative is eˣ = out + 1
    "expm1", np.expm1, (lambda xp, g, out, x: g * (out + 1.0),), reads=(OUT,), keeps_zero=True,
)
TANH = register(  # tanh′ = 1 − tanh²
    "tanh", np.tanh, (lambda xp, g, out, x: g * (1.0 - out * out),), reads=(OUT,),
)
ERF = register(  # erf′(x) = (2/√π)·e^{−x²}
    "erf", erf, (lambda xp, g, out, x: g * (2.0 / math.sqrt(math.pi)) * xp.exp(-(x * x)),),
    reads=(0,),
)
SIN = register("sin", np.sin, (lambda xp, g, out, x: g * xp.cos(x),), reads=(0,))
COS = register("cos", np.cos, (lambda xp, g, out, x: -g * xp.sin(x),), reads=(0,))
ASTYPE = register(
    "astype", lambda x, dtype: checked_cast(x, dtype, "astype"),
    (lambda xp, g, out, x, dtype: xp.astype(g, x.dtype),),
    reads=(),
)

# ---------------------------------------------------------------------------------------------
# Comparisons: values only, no derivative (the output is boolean).
# ---------------------------------------------------------------------------------------------
EQUAL = register("equal", np.equal, None, reads=())
NOT_EQUAL = register("not_equal", np.not_equal, None, reads=())
LESS = register("less", np.less, None, reads=())
LESS_EQUAL = register("less_equal", np.less_equal, None, reads=())
GREATER = register("greater", np.greater, None, reads=())
GREATER_EQUAL = register("greater_equal", np.greater_equal, None, reads=())

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
    reads=(0,),
)

# ---------------------------------------------------------------------------------------------
# Reductions (``axis`` is normalised by the caller: None, an int or a tuple of ints). The
# array's own methods give np.sum's results without its dispatch wrapper.
# ---------------------------------------------------------------------------------------------
SUM = register(
    "sum",
    lambda x, axis=None, keepdims=False: np.asarray(x.sum(axis=axis, keepdims=keepdims)),
    # Every summed element receives the upstream gradient: reshape to keepdims form, broadcast.
    (lambda xp, g, out, x, axis=None, keepdims=False: xp.broadcast_to(
        xp.reshape(g, reduced_shape(x.shape, axis, True)), x.shape),),
    reads=(),
)


def _extremum_vjp(xp: Any, g: Any, out: Any, x: Any, axis: Any = None,
                  keepdims: bool = False) -> Any:
    """The gradient goes to the extremal elements, shared equally among ties; where the
    extremum is NaN (NumPy propagates it), to the NaN elements."""
    kept_shape = reduced_shape(x.shape, axis, True)
    kept = xp.reshape(out, kept_shape)
    is_extremum = (x == kept) + (x != x) * (kept != kept)  # bools: + is or, * is and
    ties = xp.astype(xp.sum(is_extremum, axis=axis, keepdims=True), g.dtype)
    return xp.where(is_extremum, xp.reshape(g, kept_shape) / ties, 0.0)


MAX = register(
    "max",
    lambda x, axis=None, keepdims=False: np.asarray(x.max(axis=axis, keepdims=keepdims)),
    (_extremum_vjp,),
    reads=(0, OUT),
)
MIN = register(
    "min",
    lambda x, axis=None, keepdims=False: np.asarray(x.min(axis=axis, keepdims=keepdims)),
    (_extremum_vjp,),
    reads=(0, OUT),
)

# ---------------------------------------------------------------------------------------------
# Shape and indexing.
# ---------------------------------------------------------------------------------------------
RESHAPE = register(
    "reshape", lambda x, shape: x.reshape(shape),
    (lambda xp, g, out, x, shape: xp.reshape(g, x.shape),),
    reads=(),
)


def _inverse_permutation(axes: Any, ndim: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(reversed(range(ndim)))
    return tuple(int(i) for i in np.argsort([a % ndim for a in axes]))


TRANSPOSE = register(
    "transpose", lambda x, axes=None: x.transpose(axes),
    (lambda xp, g, out, x, axes=None: xp.transpose(g, _inverse_permutation(axes, x.ndim)),),
    reads=(),
)
# The engine sums every gradient back to its input's shape, so this rule is the identity.
BROADCAST_TO = register(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
    (lambda xp, g, out, x, shape: g,),
    reads=(),
)
# ``index`` is normalised by the caller (``_kernels.normalize_index``).
GETITEM = register(
    "getitem", lambda x, index: x[index],
    (lambda xp, g, out, x, index: xp.scatter_add(g, index, x.shape),),
    reads=(),
)
# The adjoint of getitem: needed so that getitem's own rule is differentiable.
SCATTER_ADD = register(
    "scatter_add", scatter_add,
    (lambda xp, g, out, values, index, shape: g[index],),
    reads=(),
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
    reads=(), variadic=True,
)

# ---------------------------------------------------------------------------------------------
# Linear algebra.
# ---------------------------------------------------------------------------------------------
def _swap_last(xp: Any, x: Any) -> Any:
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return xp.transpose(x, axes)


def _matmul_da(xp: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    """∂L/∂A = G·Bᵀ, with 1-D operands promoted to matrices and demoted again."""
    if b.ndim == 1:  # out = A·b dropped the last axis: G(..., n) → (..., n, 1); b → (1, k)
        return xp.reshape(g, g.shape + (1,)) * xp.reshape(b, (1,) * (a.ndim - 1) + b.shape)
    if a.ndim == 1:  # out = a·B dropped the second-to-last axis
        grad = xp.reshape(g, g.shape[:-1] + (1,) + g.shape[-1:]) @ _swap_last(xp, b)
        return xp.unbroadcast(xp.reshape(grad, grad.shape[:-2] + grad.shape[-1:]), a.shape)
    return g @ _swap_last(xp, b)


def _matmul_db(xp: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    """∂L/∂B = Aᵀ·G, with 1-D operands promoted to matrices and demoted again."""
    if a.ndim == 1 and b.ndim == 1:  # inner product: out = a·b
        return g * a
    if a.ndim == 1:  # a (k,), G (..., m): outer products a ⊗ G
        return xp.reshape(a, a.shape + (1,)) * xp.reshape(g, g.shape[:-1] + (1,) + g.shape[-1:])
    if b.ndim == 1:  # b (k,), A (..., n, k), G (..., n): Σ_n A[n, k]·G[n]
        grad = _swap_last(xp, a) @ xp.reshape(g, g.shape + (1,))
        return xp.unbroadcast(xp.reshape(grad, grad.shape[:-1]), b.shape)
    return _swap_last(xp, a) @ g


# matmul with NumPy semantics: 1-D operands, broadcast batch axes.
MATMUL = register("matmul", np.matmul, (_matmul_da, _matmul_db), reads=(0, 1))


def _linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None
                    ) -> np.ndarray:
    out = x @ weight.T
    if bias is not None:
        out += bias  # ``out`` is new memory: add the bias without another temporary
    return out


def _linear_dweight(xp: Any, g: Any, out: Any, x: Any, weight: Any, bias: Any = None) -> Any:
    """∂L/∂W = Σ_samples gᵀ·x: shape (out, in), laid out like W (C order), made in one product."""
    if x.ndim == 1:
        return xp.reshape(g, g.shape + (1,)) * xp.reshape(x, (1,) + x.shape)
    rows_g = xp.reshape(g, (-1, g.shape[-1]))
    rows_x = xp.reshape(x, (-1, x.shape[-1]))
    return xp.transpose(rows_g) @ rows_x


# linear(x, W, b) = x·Wᵀ + b (PyTorch's addmm): one recorded op for a whole layer.
LINEAR = register(
    "linear", _linear_forward,
    (lambda xp, g, out, x, weight, bias=None: g @ weight,  # ∂L/∂x = g·W
     _linear_dweight,
     lambda xp, g, out, x, weight, bias=None: g),           # ∂L/∂b = Σ_samples g (unbroadcast)
    reads=(0, 1),
)


def _einsum_vjp(xp: Any, g: Any, out: Any, *operands: Any, subscripts: str, argnum: int) -> Any:
    """∂L/∂operand: the einsum of g with the other operands onto this operand's subscripts.

    Indices of this operand that appear nowhere else were summed away by the forward; the
    gradient is the same along them, so it is broadcast back over them.
    """
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    target = _einsum_tokens(terms[argnum])
    others = [t for i, t in enumerate(terms) if i != argnum]
    available = set(_einsum_tokens(output)).union(*(_einsum_tokens(t) for t in others))
    kept = [token for token in target if token in available]
    # This operand has no "..." but the others do: keep their ellipsis axes, then sum them.
    summed_ellipsis = "..." in available and "..." not in target
    spec = ",".join([output, *others]) + "->" + "..." * summed_ellipsis + "".join(kept)
    grad = xp.einsum(spec, g, *(op for i, op in enumerate(operands) if i != argnum))
    if summed_ellipsis:
        grad = xp.sum(grad, axis=tuple(range(grad.ndim - len(kept))))
    if len(kept) == len(target):
        return grad
    # Re-insert the summed-away indices as size-1 axes, then broadcast over them.
    operand = operands[argnum]
    ellipsis_ndim = operand.ndim - sum(1 for token in target if token != "...")
    grad_ellipsis_ndim = grad.ndim - sum(1 for token in kept if token != "...")
    shape: list[int] = []
    full: list[int] = []
    operand_axis = grad_axis = 0
    for token in target:
        width = ellipsis_ndim if token == "..." else 1
        if token in available:
            grad_width = grad_ellipsis_ndim if token == "..." else 1
            sizes = grad.shape[grad_axis:grad_axis + grad_width]
            grad_axis += grad_width
            shape.extend(sizes)
        else:
            sizes = operand.shape[operand_axis:operand_axis + width]
            shape.extend([1] * width)
        full.extend(sizes)
        operand_axis += width
    return xp.broadcast_to(xp.reshape(grad, tuple(shape)), tuple(full))


def _einsum_tokens(term: str) -> list[str]:
    """Subscript letters of one einsum term, with ``...`` as one token."""
    head, ellipsis, tail = term.partition("...")
    return [*head, *(["..."] if ellipsis else []), *tail]


EINSUM = register(
    "einsum",
    lambda *operands, subscripts: np.asarray(np.einsum(subscripts, *operands)),
    (_einsum_vjp,),
    reads=None, variadic=True,
)
