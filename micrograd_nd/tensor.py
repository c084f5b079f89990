"""The Tensor: an ndarray, its version counter, and the graph node that made it.

This module holds the data structure and the one path that makes tensors from primitives
(:func:`apply`). The operations (``t + u``, ``t.sum()``, ``np.exp(t)``) are functions of
:mod:`micrograd_nd.ops` and :mod:`micrograd_nd.functional`; :mod:`micrograd_nd._methods` binds
them to the class as operators and methods, so this module depends on neither.

Views and in-place changes follow PyTorch: a tensor whose value is a view of another's memory
(``t[1:]``, ``t.T``, ``t.reshape(..)``, ``t.detach()``) shares its version counter, so a write
through any alias bumps the version that every saved value of that memory is checked against.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import primitives as P
from ._arrays import (
    as_data_array,
    check_tensor_dtype,
    get_default_dtype,
    is_float_dtype,
    scalar_array,
)
from ._kernels import normalize_index, repeats_a_position
from ._tracing import state as _trace
from ._tracing import value_read, value_write
from .autograd import InPlaceModificationError, Node
from .modes import _anomaly_mode, _grad_mode, check_finite

__all__ = ["ArrayLike", "Tensor", "apply", "as_tensor"]

_ndarray = np.ndarray
_new = object.__new__
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
        "__weakref__", "_created_at", "_data", "_grad", "_node", "_retains_grad", "_versions",
        "requires_grad",
    )

    def __init__(
        self,
        data: ArrayLike,
        requires_grad: bool = False,
        dtype: Any = None,
        copy: bool = True,
    ) -> None:
        source = data
        if isinstance(data, Tensor):
            data = data._data
        array = as_data_array(data, dtype=dtype, copy=copy)
        if array is not data and isinstance(source, Tensor):
            value_read("Tensor(t) (a copy)", source)  # a replay would not copy it again
        if copy or not np.may_share_memory(array, data):
            self._init(array, None)
        elif isinstance(source, Tensor):
            self._init(array, source._versions)  # the same memory: the same version counter
        else:
            self._init(array, _borrowed_counter())
        if requires_grad is not False:
            self.requires_grad_(requires_grad)

    def _init(self, data: np.ndarray, versions: list | None) -> None:
        """Set every field: the one place a tensor's state is made.

        ``versions`` is the version counter of the memory ``data`` lives in, shared by every
        tensor that views it: [changes so far, the change a recorded op made last (−1: none),
        whether the memory is a caller's ndarray the tensor borrowed]. ``_created_at`` is the
        version this tensor's value was made at.
        """
        self._data = data
        self._versions = [0, -1, False] if versions is None else versions
        self._created_at = self._versions[0]
        self._grad: Tensor | None = None
        self._node: Node | None = None
        self._retains_grad = False
        self.requires_grad = False

    @staticmethod
    def _make(data: np.ndarray, versions: list | None = None) -> Tensor:
        """A tensor around an array the library already validated (no copy); ``versions`` is
        the counter to share when ``data`` is a view of another tensor's memory."""
        tensor = _new(Tensor)
        tensor._init(data, versions)
        return tensor

    @property
    def grad(self) -> Tensor | None:
        """∂L/∂self accumulated by ``backward()`` (a tensor of this shape and dtype), or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f".grad must be a Tensor or None, got {type(value).__name__} (wrap an array "
                    "with micrograd_nd.Tensor(array))"
                )
            if value.shape != self.shape or value.dtype != self.dtype:
                raise ValueError(
                    f".grad must match its tensor: shape {self.shape} and dtype {self.dtype}, "
                    f"got shape {value.shape} and dtype {value.dtype}"
                )
        self._grad = value

    # ---- the array and its version -----------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The underlying ndarray.

        Assigning to it (``t.data = a``, and ``t.data -= step``, which Python turns into an
        assignment) bumps the tensor's version, so a graph that saved the old value refuses to
        back-propagate through it (see ``InPlaceModificationError``). Writing into the array
        returned here (``t.data[0] = 1``) is not seen: use ``t[0] = 1`` or the in-place
        operators, which are.
        """
        if _trace.tracer is not None:  # inside compile(fn): the value leaves the trace
            value_read("t.data", self)
        return self._data

    @data.setter
    def data(self, value: ArrayLike) -> None:
        value_write("t.data = ...")
        self._data = as_data_array(value._data if isinstance(value, Tensor) else value)
        self._versions[0] += 1

    @property
    def version(self) -> int:
        """How many times this tensor's memory was changed in place (through it or a view)."""
        return self._versions[0]

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
    def is_leaf(self) -> bool:
        """True for tensors the user made (not the result of a recorded operation)."""
        return self._node is None

    @property
    def grad_fn(self) -> str | None:
        """Name of the primitive that made this tensor, ``None`` for a leaf."""
        return None if self._node is None else self._node.primitive.name

    def item(self) -> float | int | bool:
        """The value of a single-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item() needs a single-element tensor, got shape {self.shape}")
        value_read("t.item() (or float(t), int(t))", self)
        return self._data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied; gradients do not flow through it)."""
        value_read("t.numpy()", self)
        return self._data

    def tolist(self) -> Any:
        value_read("t.tolist()", self)
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The values as an ndarray, for a tensor that does not require grad.

        NumPy calls this for ``np.asarray(t)`` and for every tensor inside a list it converts
        (``np.sum([w, w])``, ``Tensor([a, b])``), where a tensor that requires grad would
        silently become a constant: that is refused, as in PyTorch.
        """
        if self.requires_grad:
            raise RuntimeError(
                f"converting a tensor that requires grad (shape {self.shape}) to a NumPy array "
                "would drop its gradient (NumPy does this to each tensor in a list, e.g. "
                "np.sum([w, v]) or Tensor([w, v])): combine tensors with micrograd_nd.stack or "
                "concatenate, and use t.detach() (or t.data) for the values alone"
            )
        value_read("np.asarray(t) (or another conversion to an ndarray)", self)
        if dtype is None and not copy:
            return self._data
        return np.array(self._data, dtype=dtype, copy=True if copy else None)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __contains__(self, value: Any) -> bool:
        """``value in t``: whether any element equals ``value`` (as PyTorch and NumPy)."""
        value_read("x in t", self, value)
        other = value._data if isinstance(value, Tensor) else np.asarray(value)
        return bool(np.any(self._data == other))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use (t == x).all() style checks on np.asarray(t)"
            )
        value_read("bool(t) (an if or while on a tensor)", self)
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError(
                f"only single-element integer tensors can be used as an index, got shape "
                f"{self.shape} and dtype {self.dtype}"
            )
        return int(self.item())

    __hash__ = object.__hash__  # tensors are hashable by identity; == is elementwise

    def __repr__(self) -> str:
        value_read("repr(t) (or print(t))", self)
        body = np.array2string(self._data, separator=", ", prefix="Tensor(")
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
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"requires_grad must be True or False, got {requires_grad!r}")
        if requires_grad and not is_float_dtype(self.dtype):
            raise TypeError(
                f"requires_grad=True needs a floating dtype, got {self.dtype}: integer and "
                "bool tensors hold data and labels and have no gradient"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's memory and version counter, cut off from the graph."""
        return Tensor._make(self._data, self._versions)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True

    # ---- in-place changes -------------------------------------------------------------------
    def __iadd__(self, other: ArrayLike) -> Tensor:
        return self._update(P.ADD, other, "+=")

    def __isub__(self, other: ArrayLike) -> Tensor:
        return self._update(P.SUBTRACT, other, "-=")

    def __imul__(self, other: ArrayLike) -> Tensor:
        return self._update(P.MULTIPLY, other, "*=")

    def __itruediv__(self, other: ArrayLike) -> Tensor:
        return self._update(P.DIVIDE, other, "/=")

    def __ipow__(self, other: ArrayLike) -> Tensor:
        return self._update(P.POWER, other, "**=")

    def __imatmul__(self, other: ArrayLike) -> Tensor:
        return self._update(P.MATMUL, other, "@=")

    def zero_(self) -> Tensor:
        """Set every element to 0 in place; returns the tensor."""
        return self.fill_(0)

    def fill_(self, value: bool | int | float) -> Tensor:
        """Set every element to ``value`` in place; returns the tensor."""
        self[...] = value
        return self

    def copy_(self, source: ArrayLike) -> Tensor:
        """Copy ``source`` (broadcast to this shape) into this tensor in place; returns it."""
        self[...] = source
        return self

    def __setitem__(self, index: Any, value: ArrayLike) -> None:
        index = index_of(index, "setitem")
        value = as_tensor(value, self.dtype, "setitem")
        if self._records_update(value, "setitem"):
            if self._node is None and _is_stale(self):
                raise InPlaceModificationError(
                    "setitem: a recorded in-place change through a view of this tensor made "
                    "part of it depend on tensors that require grad, which this tensor's "
                    "history cannot show (t[1:3] += w runs as v = t[1:3]; v += w; t[1:3] = v). "
                    "Write t[1:3] = t[1:3] + w instead"
                )
            if repeats_a_position(index, self.shape):
                raise RuntimeError(
                    "setitem: assigning through an index with repeated positions into a tensor "
                    "whose graph is being recorded is ambiguous (which write wins?); use unique "
                    "indices, or build the result with where()/concatenate()"
                )
            # x with x[index] replaced by v, composed from primitives:
            # where(mask, scatter(v at index), x), so both x and v keep their gradients.
            selected = _checked_setitem_shape(self, index, value)
            mask = np.zeros(self.shape, dtype=bool)
            mask[index] = True
            placed = apply(P.SCATTER_ADD, apply(P.BROADCAST_TO, value, shape=selected),
                           index=index, shape=self.shape)
            self._rebind(P.WHERE, lambda before: apply(P.WHERE, Tensor._make(mask), placed,
                                                       before), "setitem", position=2)
            return
        if not np.can_cast(value.dtype, self.dtype, "same_kind"):
            raise TypeError(
                f"setitem: cannot store {value.dtype} values in a {self.dtype} tensor "
                "(they would be truncated); cast the value or the tensor first"
            )
        _check_writeable(self, "setitem")
        value_write("t[index] = value")
        try:
            self._data[index] = value._data
        except IndexError as error:
            raise IndexError(f"setitem: {error} (tensor shape {self.shape})") from None
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"setitem: cannot assign a value of shape {value.shape} into a tensor of shape "
                f"{self.shape} at this index: {error}"
            ) from None
        self._versions[0] += 1

    def _update(self, primitive: P.Primitive, other: ArrayLike, symbol: str) -> Tensor:
        """``self <op>= other``: the result is written into this tensor's own memory, so every
        view and alias sees it, and the version counter moves (PyTorch's semantics)."""
        other = as_tensor(other, self.dtype, symbol)
        if self._records_update(other, symbol):
            self._rebind(primitive, lambda before: apply(primitive, before, other), symbol)
            return self
        try:
            value = primitive.forward(self._data, other._data)
        except (TypeError, ValueError) as error:
            raise type(error)(
                f"{symbol}: {error} (shapes {self.shape} and {other.shape})"
            ) from None
        self._write(np.asarray(value), symbol)
        return self

    def _records_update(self, other: Tensor, symbol: str) -> bool:
        """Whether an in-place change must be recorded in the graph (and may it be at all)."""
        if not (_grad_mode.enabled and (self.requires_grad or other.requires_grad)):
            return False
        node = self._node
        if node is not None and node.view:
            raise RuntimeError(
                f"{symbol}: this tensor is a view of another tensor's memory (made by "
                f"'{node.primitive.name}') in a recorded graph; changing it in place would "
                "change that tensor behind its history. Change the base instead, e.g. "
                "h[0] = h[0] + y rather than h[0] += y"
            )
        if self._node is None and self.requires_grad:
            instead = ("build a new tensor with where() or concatenate()" if symbol == "setitem"
                       else f"make a new tensor (t = t {symbol.rstrip('=')} x)")
            raise RuntimeError(
                f"{symbol}: an in-place change of a leaf tensor that requires grad, while "
                "gradients are recorded, would lose the value its gradient is taken at. Update "
                "parameters inside a micrograd_nd.no_grad() block (as optimisers do), or "
                f"{instead}"
            )
        return True

    def _rebind(self, primitive: P.Primitive, compute: Any, symbol: str, position: int = 0
                ) -> None:
        """Record an in-place change. ``compute(old)`` applies ``primitive`` with this tensor's
        old value at input ``position``; this tensor then becomes the op's result, written into
        its own memory. Ops recorded earlier keep the history it had (their nodes point at
        it), and every other tensor sharing this memory is stale from now on: using one in a
        recorded op raises.

        If the op's rules read the old value, it is passed as a copy (the write destroys it).
        Another input the rules read must not share this memory (``h *= h``, ``h /= h[::-1]``):
        the write would change it under them, so that is refused here, before any write.
        """
        reads = primitive.reads
        old = self
        if reads is None or position in reads:
            old = Tensor._make(self._data.copy())
            old._node, old.requires_grad = self._node, self.requires_grad
        result = compute(old)
        node = result._node
        if node is not None:
            _refuse_overwritten_operands(self, node, position, symbol)
        self._write(result._data, symbol)
        counter = self._versions
        counter[1] = counter[0]  # a recorded write: other aliases no longer match their history
        self._created_at = counter[0]
        self._node = node
        self.requires_grad = result.requires_grad
        if node is not None:  # the node's output is now this tensor's memory
            node.out, node.out_counter = self._data, counter
            node.versions = tuple(
                counter[0] if i == P.OUT or _shares_counter_not_memory(node.parents[i], self)
                else version for i, version in zip(node.read_positions(), node.versions,
                                                   strict=True))

    def _write(self, value: np.ndarray, symbol: str) -> None:
        if value.shape != self.shape:
            raise ValueError(
                f"{symbol}: the result has shape {value.shape} but an in-place operation keeps "
                f"the tensor's shape {self.shape}; write t = t {symbol.rstrip('=')} x instead"
            )
        _check_writeable(self, symbol)
        value_write(f"'{symbol}'")
        try:
            np.copyto(self._data, value, casting="same_kind")
        except TypeError:
            raise TypeError(
                f"{symbol}: cannot store the {value.dtype} result in a {self.dtype} tensor in "
                f"place; cast the tensor first (t = t.astype({value.dtype}))"
            ) from None
        self._versions[0] += 1


def _refuse_overwritten_operands(tensor: Tensor, node: Node, position: int, symbol: str) -> None:
    """Refuse an in-place change whose op saved another operand living in ``tensor``'s memory
    (``tensor`` itself, a view or any alias of it): the op's rules would read it after the
    write changed it."""
    for i in node.read_positions():
        if i in (position, P.OUT):
            continue
        operand = node.parents[i]
        if np.may_share_memory(operand._data, tensor._data) and np.shares_memory(
                operand._data, tensor._data):
            raise RuntimeError(
                f"{symbol}: operand {i} of '{node.primitive.name}' is this tensor or a view of "
                "its memory, and the derivative reads it: the in-place write would change it "
                "before backward uses it, giving a wrong gradient. Write t = t "
                f"{symbol.rstrip('=')} x, which keeps the old value"
            )


def _shares_counter_not_memory(operand: Tensor, tensor: Tensor) -> bool:
    """A view of another part of ``tensor``'s base: the write moved its version counter but
    did not change its values (an overlapping one was refused before the write; if that
    refusal were missed, its saved version would stay behind and backward would raise)."""
    return operand._versions is tensor._versions and not np.shares_memory(operand._data,
                                                                          tensor._data)


def _check_writeable(tensor: Tensor, symbol: str) -> None:
    if not tensor._data.flags.writeable:
        raise ValueError(
            f"{symbol}: this tensor's memory is read-only (a broadcast view, or an array "
            "NumPy marked read-only); change a copy instead"
        )


def _checked_setitem_shape(tensor: Tensor, index: tuple, value: Tensor) -> tuple[int, ...]:
    """The shape ``tensor[index]`` selects, after checking that ``value`` broadcasts to it."""
    try:
        selected = tensor._data[index].shape
        np.broadcast_shapes(value.shape, selected)
    except IndexError as error:
        raise IndexError(f"setitem: {error} (tensor shape {tensor.shape})") from None
    except ValueError:
        raise ValueError(
            f"setitem: cannot assign a value of shape {value.shape} into a tensor of shape "
            f"{tensor.shape} at an index selecting shape {selected}"
        ) from None
    return selected


# ---------------------------------------------------------------------------------------------
# Recording an operation.
# ---------------------------------------------------------------------------------------------
def apply(primitive: P.Primitive, *inputs: Tensor, **params: Any) -> Tensor:
    """Run a primitive's forward on the inputs' arrays and record it if a gradient is needed."""
    arrays = tuple(map(_data_of, inputs))
    try:
        data = primitive.forward(*arrays, **params)
    except (ValueError, IndexError, TypeError) as error:
        shapes = ", ".join(str(t.shape) for t in inputs)
        raise type(error)(f"{primitive.name}: {error} (input shapes: {shapes})") from None
    if type(data) is not _ndarray:
        data = np.asarray(data)
    if _anomaly_mode.enabled:
        check_finite(primitive.name, data, "value", None)
    shared = None if data.base is None else _shared_counter(data, inputs)
    result = _new(Tensor)
    result._init(data, shared)
    if _grad_mode.enabled and primitive.rules is not None and data.dtype.kind == "f":
        recorded = False
        for t in inputs:
            recorded = recorded or t.requires_grad
            # the version test first, inline: almost every input is unchanged (hot path)
            if t._versions[0] != t._created_at and _is_stale(t):
                raise _stale_history_error(primitive, t)
        if recorded:
            result._node = Node(primitive, inputs, arrays, result, params, shared is not None)
            result.requires_grad = True
    if _trace.tracer is not None:  # inside compile(fn): the op joins the trace (compile.py)
        _trace.tracer.record(primitive, inputs, params, result)
    return result


def _is_stale(t: Tensor) -> bool:
    """A result changed in place since it was made (its history no longer gives its value),
    or any tensor whose memory a recorded op changed through an alias."""
    counter = t._versions
    return counter[0] != t._created_at and (t._node is not None or counter[1] > t._created_at)


def _shared_counter(view: np.ndarray, inputs: tuple[Tensor, ...]) -> list[int] | None:
    """The version counter of the input whose memory ``view`` shares, if any."""
    for t in inputs:
        if np.may_share_memory(view, t._data):
            return t._versions
    return None


def _stale_history_error(primitive: P.Primitive, tensor: Tensor) -> InPlaceModificationError:
    made = "a leaf" if tensor._node is None else f"made by '{tensor._node.primitive.name}'"
    return InPlaceModificationError(
        f"'{primitive.name}': an input (shape {tensor.shape}, {made}) was changed in place "
        "after it was made, through itself or another tensor sharing its memory, so its "
        "recorded history no longer gives its value. Use the tensor the change was made "
        "through (or compute this one again after the change); call .detach() after the "
        "change for a constant."
    )


# ---------------------------------------------------------------------------------------------
# Operands.
# ---------------------------------------------------------------------------------------------
def as_tensor(value: ArrayLike, partner: np.dtype | None = None, op: str = "Tensor") -> Tensor:
    """``value`` as a Tensor (itself if it is one; no copy of an ndarray).

    A Python number takes its ``partner``'s dtype when it can (as NumPy ≥ 2 treats Python
    scalars), so ``float32_tensor * 2.0`` stays float32; one the partner's integer dtype cannot
    hold is an error naming ``op``.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)):
        return Tensor._make(scalar_array(value, partner, op))
    if type(value) is _ndarray:
        check_tensor_dtype(value.dtype, op)
        if value.dtype.isnative:  # borrowed, not copied: a node that reads it saves a copy
            return Tensor._make(value, _borrowed_counter())
    try:
        return Tensor._make(as_data_array(value))
    except (TypeError, ValueError, OverflowError) as error:
        raise type(error)(f"{op}: an operand is not numeric data: {error}") from None


def _borrowed_counter() -> list:
    """A version counter for memory that belongs to a caller's ndarray: writes into it are not
    seen, so a recorded op that reads it saves a copy."""
    return [0, -1, True]


def as_tensors(x: ArrayLike, y: ArrayLike, op: str) -> tuple[Tensor, Tensor]:
    """Two operands as tensors; a Python number takes the other operand's dtype."""
    if isinstance(x, Tensor):
        return x, as_tensor(y, x.dtype, op)
    y = as_tensor(y, None, op)
    return as_tensor(x, y.dtype, op), y


def _plain_index(index: Any) -> Any:
    """An index NumPy understands: tensors inside it become their arrays."""
    if isinstance(index, Tensor):
        value_read("indexing with a tensor", index)
        return index._data
    if isinstance(index, tuple):
        value_read("indexing with a tensor", *index)
        return tuple(part._data if isinstance(part, Tensor) else part for part in index)
    return index


def index_of(index: Any, op: str) -> tuple[Any, ...]:
    """A user's index (tensors, lists, nested tuples …) in NumPy's canonical form."""
    try:
        return normalize_index(_plain_index(index))
    except IndexError as error:
        raise IndexError(f"{op}: {error}") from None
