"""The Tensor: a NumPy array that records the operations made from it, and their public forms.

Every operation here is either a primitive applied through :func:`apply` (which records the
graph) or a short composition of primitives; none has derivative code of its own.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import primitives as P
from ._arrays import (
    as_data_array,
    broadcast_shapes,
    get_default_dtype,
    is_float_dtype,
    parse_dtype,
    sum_to_shape,
)
from .autograd import (
    Node,
    _anomaly_mode,
    _grad_mode,
    backpropagate,
    check_finite,
    enable_grad,
)

__all__ = [
    "Tensor", "abs", "add", "apply", "astype", "broadcast_to", "concatenate", "divide",
    "equal", "exp", "grad", "greater", "greater_equal", "less", "less_equal", "log", "matmul",
    "max", "maximum", "mean", "min", "minimum", "multiply", "negative", "not_equal", "permute",
    "power", "reshape", "sqrt", "square", "stack", "subtract", "sum", "tanh", "tensor",
    "transpose", "where",
]

_ndarray = np.ndarray
_new_tensor = object.__new__
_data_of = operator.attrgetter("_data")

ArrayLike = Any  # a Tensor, an ndarray, a Python/NumPy scalar or nested sequence of them


class Tensor:
    """An n-dimensional array with optional gradient tracking.

    ``Tensor(data, requires_grad=False, dtype=None, copy=True)`` copies ``data`` by default, so
    later changes to the caller's array do not reach the tensor. Python floats take the default
    dtype (float64, see :func:`micrograd_nd.set_default_dtype`); arrays keep theirs. Integer
    and bool tensors hold data and labels and cannot require gradients.
    """

    __slots__ = (
        "__weakref__", "_data", "_node", "_retains_grad", "_version", "grad", "requires_grad",
    )

    def __init__(
        self,
        data: ArrayLike,
        requires_grad: bool = False,
        dtype: Any = None,
        copy: bool = True,
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self._data: np.ndarray = as_data_array(data, dtype=dtype, copy=copy)
        self._version = 0
        self.grad: Tensor | None = None
        self._node: Node | None = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: np.ndarray, requires_grad: bool = False, node: Node | None = None
              ) -> Tensor:
        """Make a tensor around an array the library already validated (no copy)."""
        tensor = cls.__new__(cls)
        tensor._data = data
        tensor._version = 0
        tensor.grad = None
        tensor._node = node
        tensor._retains_grad = False
        tensor.requires_grad = requires_grad
        return tensor

    # ---- the array and its version -----------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The underlying ndarray.

        Assigning to it (``t.data = a``, and ``t.data -= step``, which Python turns into an
        assignment) bumps the tensor's version, so a graph that saved the old value refuses to
        back-propagate through it (see ``InPlaceModificationError``). Writing into the array
        returned here (``t.data[0] = 1``) is not seen: do that only to tensors in no live graph.
        """
        return self._data

    @data.setter
    def data(self, value: ArrayLike) -> None:
        self._data = as_data_array(value.data if isinstance(value, Tensor) else value)
        self._version += 1

    @property
    def version(self) -> int:
        """How many times this tensor was changed in place (``data`` assignment, ``t[i] = v``)."""
        return self._version

    # ---- array-like attributes --------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def T(self) -> Tensor:
        """The axes reversed (a matrix transposed), like ``ndarray.T``."""
        return transpose(self)

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user made (not the result of a recorded operation)."""
        return self._node is None

    @property
    def grad_fn(self) -> str | None:
        """Name of the primitive that made this tensor, ``None`` for a leaf."""
        return None if self._node is None else self._node.primitive.name

    def item(self) -> float | int | bool:
        """The value of a single-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a single-element tensor, got shape {self.shape}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied; gradients do not flow through it)."""
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is None and not copy:
            return self.data
        return np.array(self.data, dtype=dtype, copy=True if copy else None)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use (t == x).all() style checks on np.asarray(t)"
            )
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    __hash__ = object.__hash__  # tensors are hashable by identity; == is elementwise

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extras = []
        if self.dtype not in (get_default_dtype(), np.dtype(np.int64), np.dtype(np.bool_)):
            extras.append(f"dtype={self.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn=<{self._node.primitive.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "Tensor(" + ", ".join([body, *extras]) + ")"

    # ---- gradient bookkeeping ---------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` on a leaf tensor in place; returns the tensor."""
        if self._node is not None:
            raise RuntimeError(
                "requires_grad_() changes leaf tensors only; this tensor is the result of "
                f"'{self._node.primitive.name}'. Use .detach().requires_grad_() for a new leaf."
            )
        if requires_grad and not is_float_dtype(self.dtype):
            raise TypeError(
                f"requires_grad=True needs a floating dtype, got {self.dtype}: integer and "
                "bool tensors hold data and labels and have no gradient"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor._wrap(self.data)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True

    def backward(
        self,
        gradient: ArrayLike | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Accumulate ∂self/∂leaf (times ``gradient``) into ``.grad`` of every leaf.

        ``gradient`` is ∂L/∂self for some scalar L, of this tensor's shape; it may be omitted
        only for a single-element tensor (it is then 1). Leaves *add* to ``.grad`` across
        calls (set ``.grad = None`` or use ``Module.zero_grad`` to clear it); non-leaf tensors
        keep no ``.grad`` unless :meth:`retain_grad` was called.

        The graph is freed afterwards unless ``retain_graph=True`` (default: ``create_graph``);
        a second backward through a freed graph raises ``GraphFreedError``. With
        ``create_graph=True`` the backward pass is itself recorded, so ``.grad`` can be
        differentiated again.
        """
        _check_differentiable_output(self, "backward()")
        seed = _seed_gradient(self, gradient, create_graph, "backward()")
        retain = create_graph if retain_graph is None else retain_graph
        for leaf, leaf_grad, owned in _run_backward([self], [seed], retain, create_graph):
            _store_grad(leaf, leaf_grad, owned, create_graph)

    # ---- operators --------------------------------------------------------------------------
    def __add__(self, other: ArrayLike) -> Tensor:
        return _broadcasting(P.ADD, self, other)  # what add() does, one call shorter

    def __radd__(self, other: ArrayLike) -> Tensor:
        return add(other, self)

    def __sub__(self, other: ArrayLike) -> Tensor:
        return _broadcasting(P.SUBTRACT, self, other)  # what subtract() does, one call shorter

    def __rsub__(self, other: ArrayLike) -> Tensor:
        return subtract(other, self)

    def __mul__(self, other: ArrayLike) -> Tensor:
        return _broadcasting(P.MULTIPLY, self, other)  # what multiply() does, one call shorter

    def __rmul__(self, other: ArrayLike) -> Tensor:
        return multiply(other, self)

    def __truediv__(self, other: ArrayLike) -> Tensor:
        return _broadcasting(P.DIVIDE, self, other)  # what divide() does, one call shorter

    def __rtruediv__(self, other: ArrayLike) -> Tensor:
        return divide(other, self)

    def __pow__(self, other: ArrayLike) -> Tensor:
        return power(self, other)

    def __rpow__(self, other: ArrayLike) -> Tensor:
        return power(other, self)

    def __matmul__(self, other: ArrayLike) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: ArrayLike) -> Tensor:
        return matmul(other, self)

    def __neg__(self) -> Tensor:
        return negative(self)

    def __pos__(self) -> Tensor:
        return self

    def __eq__(self, other: ArrayLike) -> Tensor:  # type: ignore[override]
        return equal(self, other)

    def __ne__(self, other: ArrayLike) -> Tensor:  # type: ignore[override]
        return not_equal(self, other)

    def __lt__(self, other: ArrayLike) -> Tensor:
        return less(self, other)

    def __le__(self, other: ArrayLike) -> Tensor:
        return less_equal(self, other)

    def __gt__(self, other: ArrayLike) -> Tensor:
        return greater(self, other)

    def __ge__(self, other: ArrayLike) -> Tensor:
        return greater_equal(self, other)

    def __getitem__(self, index: Any) -> Tensor:
        return apply(P.GETITEM, self, index=_plain_index(index))

    def __setitem__(self, index: Any, value: ArrayLike) -> None:
        if self.requires_grad:
            raise RuntimeError(
                "in-place assignment into a tensor that requires grad would bypass the graph; "
                "build a new tensor (where, concatenate) or assign into .data under no_grad()"
            )
        value = value.data if isinstance(value, Tensor) else value
        try:
            self._data[_plain_index(index)] = value
        except IndexError as error:
            raise IndexError(f"setitem: {error} (tensor shape {self.shape})") from None
        except (TypeError, ValueError) as error:
            raise type(error)(
                f"setitem: cannot assign {type(value).__name__} of shape {np.shape(value)} "
                f"into a tensor of shape {self.shape} and dtype {self.dtype}: {error}"
            ) from None
        self._version += 1

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """``ndarray + Tensor``, ``np.exp(t)`` …: NumPy ufuncs we differentiate return Tensors."""
        function = _UFUNCS.get(ufunc)
        if method != "__call__" or function is None or kwargs:
            raise TypeError(
                f"numpy.{ufunc.__name__}"
                + ("" if method == "__call__" else f".{method}")
                + " is not supported on Tensors (it would lose the gradient); use the "
                "micrograd_nd function, or np.asarray(tensor) for a plain array"
            )
        return function(*inputs)

    # ---- methods mirroring the functions below ----------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return min(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        return reshape(self, shape[0] if len(shape) == 1 else shape)

    def flatten(self) -> Tensor:
        return reshape(self, (-1,))

    def transpose(self, *axes: Any) -> Tensor:
        return transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    def permute(self, *axes: int) -> Tensor:
        return transpose(self, axes[0] if len(axes) == 1 else axes)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return broadcast_to(self, shape)

    def astype(self, dtype: Any) -> Tensor:
        return astype(self, dtype)

    def exp(self) -> Tensor:
        return exp(self)

    def log(self) -> Tensor:
        return log(self)

    def tanh(self) -> Tensor:
        return tanh(self)

    def sqrt(self) -> Tensor:
        return sqrt(self)

    def abs(self) -> Tensor:
        return abs(self)


# ---------------------------------------------------------------------------------------------
# Recording an operation.
# ---------------------------------------------------------------------------------------------
def apply(primitive: P.Primitive, *inputs: Tensor, **params: Any) -> Tensor:
    """Run a primitive's forward on the inputs' arrays and record it if a gradient is needed."""
    try:
        data = primitive.forward(*map(_data_of, inputs), **params)
    except (ValueError, IndexError, TypeError) as error:
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise type(error)(f"{primitive.name}: {error} (input shapes: {shapes})") from None
    if type(data) is not _ndarray:
        data = np.asarray(data)
    if _anomaly_mode.enabled:
        check_finite(primitive.name, data, "value", None)
    result = _new_tensor(Tensor)
    result._data = data
    result._version = 0
    result.grad = None
    result._retains_grad = False
    if _grad_mode.enabled and primitive.vjps is not None and data.dtype.kind == "f":
        for t in inputs:
            if t.requires_grad:
                result._node = Node(primitive, inputs, params)
                result.requires_grad = True
                return result
    result._node = None
    result.requires_grad = False
    return result


def _operand(value: ArrayLike, partner_dtype: np.dtype | None = None) -> Tensor:
    """Turn an operand into a Tensor; a Python number takes its partner's dtype when it can.

    ``float32_tensor * 2.0`` stays float32 (as NumPy ≥ 2 treats Python scalars), where a
    0-d float64 array would promote it.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)):
        if partner_dtype is None:
            dtype = get_default_dtype() if isinstance(value, float) else None
        else:
            dtype = np.result_type(partner_dtype, value)
        return Tensor._wrap(np.asarray(value, dtype=dtype))
    return Tensor._wrap(as_data_array(value))


def _operands(x: ArrayLike, y: ArrayLike) -> tuple[Tensor, Tensor]:
    if isinstance(x, Tensor):
        return x, _operand(y, x.dtype)
    y = _operand(y)
    return _operand(x, y.dtype), y


def _plain_index(index: Any) -> Any:
    """An index NumPy understands: tensors inside it become their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(part.data if isinstance(part, Tensor) else part for part in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _broadcasting(primitive: P.Primitive, x: ArrayLike, y: ArrayLike) -> Tensor:
    """An elementwise binary op with a shape error that names it and both shapes."""
    if type(x) is not Tensor or type(y) is not Tensor:
        x, y = _operands(x, y)
    if x._data.shape != y._data.shape:
        broadcast_shapes(primitive.name, x.shape, y.shape)
    return apply(primitive, x, y)


# ---------------------------------------------------------------------------------------------
# Elementwise operations.
# ---------------------------------------------------------------------------------------------
def add(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x + y, broadcasting."""
    return _broadcasting(P.ADD, x, y)


def subtract(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x − y, broadcasting."""
    return _broadcasting(P.SUBTRACT, x, y)


def multiply(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x · y elementwise, broadcasting."""
    return _broadcasting(P.MULTIPLY, x, y)


def divide(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x / y elementwise (true division), broadcasting."""
    return _broadcasting(P.DIVIDE, x, y)


def power(x: ArrayLike, y: ArrayLike) -> Tensor:
    """xʸ elementwise; differentiable in both (∂/∂y only where x > 0)."""
    return _broadcasting(P.POWER, x, y)


def maximum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise maximum; at a tie each argument gets half the gradient (the mean of the
    one-sided derivatives, which is also what central differences measure)."""
    return _broadcasting(P.MAXIMUM, x, y)


def minimum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise minimum, as −max(−x, −y) (same tie convention as :func:`maximum`)."""
    x, y = _operands(x, y)
    return negative(maximum(negative(x), negative(y)))


def negative(x: ArrayLike) -> Tensor:
    """−x."""
    return apply(P.NEGATE, _operand(x))


def exp(x: ArrayLike) -> Tensor:
    """eˣ elementwise."""
    return apply(P.EXP, _operand(x))


def log(x: ArrayLike) -> Tensor:
    """Natural logarithm elementwise."""
    return apply(P.LOG, _operand(x))


def tanh(x: ArrayLike) -> Tensor:
    """Hyperbolic tangent elementwise."""
    return apply(P.TANH, _operand(x))


def sqrt(x: ArrayLike) -> Tensor:
    """√x as x^0.5."""
    x = _operand(x)
    return power(x, 0.5)


def square(x: ArrayLike) -> Tensor:
    """x² as x·x."""
    x = _operand(x)
    return multiply(x, x)


def abs(x: ArrayLike) -> Tensor:
    """|x| as where(x ≥ 0, x, −x); its derivative at 0 is taken as +1."""
    x = _operand(x)
    return where(x >= 0, x, negative(x))


def astype(x: ArrayLike, dtype: Any) -> Tensor:
    """Cast to ``dtype``; the gradient is cast back to the input's dtype."""
    x = _operand(x)
    dtype = parse_dtype(dtype, "astype")
    if dtype.kind not in "fiub":
        raise TypeError(
            f"astype: unsupported dtype {dtype} for a Tensor (use a floating, integer or bool "
            "dtype)"
        )
    if x.dtype == dtype:
        return x
    if x.requires_grad and not is_float_dtype(dtype):
        raise TypeError(f"astype: casting a tensor that requires grad to {dtype} loses it")
    return apply(P.ASTYPE, x, dtype=dtype)


def _comparison(primitive: P.Primitive) -> Any:
    def compare(x: ArrayLike, y: ArrayLike) -> Tensor:
        return _broadcasting(primitive, x, y)

    compare.__name__ = primitive.name
    compare.__doc__ = f"Elementwise {primitive.name} (a bool tensor; not differentiable)."
    return compare


equal = _comparison(P.EQUAL)
not_equal = _comparison(P.NOT_EQUAL)
less = _comparison(P.LESS)
less_equal = _comparison(P.LESS_EQUAL)
greater = _comparison(P.GREATER)
greater_equal = _comparison(P.GREATER_EQUAL)


def where(condition: ArrayLike, x: ArrayLike, y: ArrayLike) -> Tensor:
    """``x`` where ``condition`` holds, else ``y``; the gradient reaches only the chosen one."""
    condition = _operand(condition)
    if condition.dtype != np.bool_:
        raise TypeError(f"where: the condition must be a bool tensor, got {condition.dtype}")
    x, y = _operands(x, y)
    broadcast_shapes("where", condition.shape, x.shape, y.shape)
    return apply(P.WHERE, condition, x, y)


# ---------------------------------------------------------------------------------------------
# Reductions.
# ---------------------------------------------------------------------------------------------
def _check_axis(op: str, x: Tensor, axis: Any) -> Any:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -x.ndim <= a < builtins.max(x.ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor of shape {x.shape}")
    return axis if isinstance(axis, (int, np.integer)) else axes


def sum(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Σ over ``axis`` (all axes when ``None``)."""
    x = _operand(x)
    return apply(P.SUM, x, axis=_check_axis("sum", x, axis), keepdims=keepdims)


def mean(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over ``axis``: the sum times 1/(number of elements reduced)."""
    x = _operand(x)
    total = sum(x, axis=axis, keepdims=keepdims)
    count = x.size // total.size if total.size else 0
    if count == 0:
        raise ValueError(f"mean: no elements to average in a tensor of shape {x.shape}")
    return multiply(total, 1.0 / count)


def max(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; tied maxima share the gradient equally."""
    x = _operand(x)
    if x.size == 0:
        raise ValueError(f"max: zero-size tensor of shape {x.shape} has no maximum")
    return apply(P.MAX, x, axis=_check_axis("max", x, axis), keepdims=keepdims)


def min(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``, as −max(−x)."""
    return negative(max(negative(x), axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------------------------------------
# Shape operations.
# ---------------------------------------------------------------------------------------------
def reshape(x: ArrayLike, shape: Any) -> Tensor:
    """The same elements in a new shape (one dimension may be −1)."""
    x = _operand(x)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if shape == x.shape:
        return x
    return apply(P.RESHAPE, x, shape=shape)


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None)."""
    x = _operand(x)
    if axes is not None:
        axes = tuple(int(a) for a in axes)
        valid = len(axes) == x.ndim and all(-x.ndim <= a < x.ndim for a in axes)
        if not valid or sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes")
    return apply(P.TRANSPOSE, x, axes=axes)


def permute(x: ArrayLike, axes: Sequence[int]) -> Tensor:
    """Alias of :func:`transpose` with explicit axes (PyTorch's name)."""
    return transpose(x, axes)


def broadcast_to(x: ArrayLike, shape: Sequence[int]) -> Tensor:
    """Repeat ``x`` along size-1 and new leading axes to ``shape``."""
    x = _operand(x)
    shape = tuple(shape)
    if broadcast_shapes("broadcast_to", x.shape, shape) != shape:
        raise ValueError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}")
    return apply(P.BROADCAST_TO, x, shape=shape)


def concatenate(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = [_operand(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    return apply(P.CONCATENATE, *tensors, axis=axis)


def stack(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis (reshape each, then concatenate)."""
    tensors = [_operand(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    ndim = tensors[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"stack: axis {axis} is out of range for {ndim}-d result")
    axis %= ndim
    expanded = [reshape(t, t.shape[:axis] + (1,) + t.shape[axis:]) for t in tensors]
    return concatenate(expanded, axis=axis)


def matmul(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands, broadcast batch dimensions."""
    x, y = _operands(x, y)
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


def tensor(data: ArrayLike, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A Tensor holding a copy of ``data``, e.g. ``tensor([1.0, 2.0], requires_grad=True)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


_UFUNCS = {
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.divide: divide,
    np.power: power, np.maximum: maximum, np.minimum: minimum, np.matmul: matmul,
    np.negative: negative, np.exp: exp, np.log: log, np.tanh: tanh, np.sqrt: sqrt,
    np.square: square, np.absolute: abs,
    np.equal: equal, np.not_equal: not_equal, np.less: less, np.less_equal: less_equal,
    np.greater: greater, np.greater_equal: greater_equal,
}


# ---------------------------------------------------------------------------------------------
# The namespace derivative rules run on when the backward pass is recorded (create_graph).
# ---------------------------------------------------------------------------------------------
class TensorOps:
    """Differentiable twins of :class:`micrograd_nd.primitives.ArrayOps`."""

    records_graph = True
    exp = staticmethod(exp)
    log = staticmethod(log)
    tanh = staticmethod(tanh)
    where = staticmethod(where)
    reshape = staticmethod(reshape)
    transpose = staticmethod(transpose)
    broadcast_to = staticmethod(broadcast_to)
    astype = staticmethod(astype)

    @staticmethod
    def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
        return apply(P.SUM, _operand(x), axis=axis, keepdims=keepdims)

    @staticmethod
    def scatter_add(g: Tensor, index: Any, shape: tuple[int, ...]) -> Tensor:
        return apply(P.SCATTER_ADD, g, index=index, shape=shape)

    @staticmethod
    def sum_to_shape(g: Tensor, shape: tuple[int, ...]) -> Tensor:
        return sum_to_shape(TensorOps, g, shape)

    @staticmethod
    def keep_zero(g: Tensor, value: Tensor) -> Tensor:
        # Same elements as ArrayOps.keep_zero (NaN where g is 0), chosen with a where so the
        # derivatives everywhere else are untouched; x != x is the NaN test.
        if not np.isnan(value.data).any():
            return value
        return where(not_equal(value, value) * equal(g, 0.0), 0.0, value)


TENSOR_OPS = TensorOps()


# ---------------------------------------------------------------------------------------------
# Running the reverse pass.
# ---------------------------------------------------------------------------------------------
def _check_differentiable_output(output: Tensor, caller: str) -> None:
    if not isinstance(output, Tensor):
        raise TypeError(f"{caller}: expected a Tensor output, got {type(output).__name__}")
    if not output.requires_grad:
        raise RuntimeError(
            f"{caller}: this tensor does not require grad, so there is no graph to go back "
            "through (create the inputs with requires_grad=True, outside no_grad())"
        )


def _seed_gradient(output: Tensor, gradient: ArrayLike | None, as_tensor: bool, caller: str
                   ) -> Any:
    """∂L/∂output to start from: 1 for a single-element output, else the given array."""
    if gradient is None:
        if output.size != 1:
            raise RuntimeError(
                f"{caller}: a gradient argument is needed for an output of shape "
                f"{output.shape}; the implicit gradient 1 is only for single-element outputs"
            )
        seed = np.ones(output.shape, dtype=output.dtype)
        return Tensor._wrap(seed) if as_tensor else seed
    if isinstance(gradient, Tensor) and as_tensor:
        seed_tensor = gradient
    else:
        seed_tensor = Tensor._wrap(as_data_array(np.asarray(gradient)))
    if seed_tensor.shape != output.shape:
        raise ValueError(
            f"{caller}: gradient has shape {seed_tensor.shape} but the output has shape "
            f"{output.shape}"
        )
    if not is_float_dtype(seed_tensor.dtype) and seed_tensor.dtype.kind not in "iub":
        raise TypeError(f"{caller}: gradient dtype {seed_tensor.dtype} is not numeric")
    if seed_tensor.dtype != output.dtype:
        seed_tensor = astype(seed_tensor, output.dtype)
    return seed_tensor if as_tensor else seed_tensor.data


def _run_backward(
    roots: list[Tensor],
    seeds: list[Any],
    retain_graph: bool,
    create_graph: bool,
    wanted: set[int] | None = None,
) -> list[tuple[Tensor, Any, bool]]:
    if create_graph:
        with enable_grad():
            return backpropagate(roots, seeds, TENSOR_OPS, retain_graph, wanted)
    return backpropagate(roots, seeds, P.ARRAY_OPS, retain_graph, wanted)


def _store_grad(leaf: Tensor, gradient: Any, owned: bool, create_graph: bool) -> None:
    """Add a gradient to ``leaf.grad``, never sharing memory with another array."""
    if create_graph:
        leaf.grad = _recorded_copy(gradient) if leaf.grad is None else leaf.grad + gradient
        return
    if leaf.grad is None:
        leaf.grad = Tensor._wrap(gradient if owned else gradient.copy())
    else:
        leaf.grad = Tensor._wrap(np.asarray(leaf.grad.data + gradient))  # 0-d: no scalar


def _recorded_copy(gradient: Tensor) -> Tensor:
    """A new tensor equal to ``gradient`` and differentiable like it (``create_graph``).

    Recorded gradients may be one object for several leaves (``a + b``), the caller's seed, or
    views of it (reshape); a copy keeps each result's memory its own. ×1 keeps the sign of 0.
    """
    return multiply(gradient, 1.0)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: ArrayLike | Sequence[ArrayLike] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Σ_k grad_outputs[k]ᵀ · ∂outputs[k]/∂inputs, returned instead of accumulated in ``.grad``.

    With ``create_graph=True`` the results are themselves differentiable (Hessian-vector
    products, gradient penalties). An input the outputs do not depend on raises an error,
    or gives ``None`` with ``allow_unused=True``.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray, int, float)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(
            f"grad: {len(grad_outputs)} grad_outputs given for {len(outputs)} outputs"
        )
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError("grad: every input must be a Tensor with requires_grad=True")
    seeds = []
    for output, seed in zip(outputs, grad_outputs, strict=True):
        _check_differentiable_output(output, "grad")
        seeds.append(_seed_gradient(output, seed, create_graph, "grad"))
    retain = create_graph if retain_graph is None else retain_graph
    found = {
        id(t): (g, owned)
        for t, g, owned in _run_backward(
            outputs, seeds, retain, create_graph, wanted={id(t) for t in inputs}
        )
    }
    results: list[Tensor | None] = []
    for position, t in enumerate(inputs):
        if id(t) not in found:
            if not allow_unused:
                raise ValueError(
                    f"grad: input {position} (shape {t.shape}) is not used to compute the "
                    "outputs; pass allow_unused=True to get None for it"
                )
            results.append(None)
            continue
        g, owned = found[id(t)]
        g = _recorded_copy(g) if create_graph else Tensor._wrap(g if owned else g.copy())
        results.append(g)
    return tuple(results)
