"""Recording one call: the primitives, the gradient stores and the optimiser calls a function
ran, as instructions over numbered slots.

A *slot* holds one array of the call: an argument's, an external tensor's (a parameter, or a
constant the function made), or an instruction's result. The :class:`Tracer` is installed as
``micrograd_nd._tracing.state.tracer`` while the function runs *eagerly*. The engine's hooks
tell it:

* every primitive ``apply`` runs (:class:`Forward`);
* ``backward()``, which the tracer runs with :class:`TracingBackend`: the derivative rules of
  the table run on tensors, as for ``create_graph=True``, so every array operation of every
  rule is itself a primitive that joins the trace (the zero-gradient guard ``keep_zero``,
  which looks at values, becomes a :class:`KeepZero` instruction that looks again on each
  replay), and the gradients reach ``.grad`` through :class:`Store`;
* each optimiser ``step()`` and ``zero_grad()``, run as one :class:`Unit`.

Anything a replay could not reproduce *escapes*: Python reading a value that may differ on the
next call (``float(t)`` of a loss, ``if t > 0``), an in-place write, a gradient assigned by
hand. The tracer then stops recording and the call finishes eagerly (or, when strict, raises
:class:`CompileError`). Reading a *constant* (a number the function wrapped in a tensor) is
fine; whether a tensor from outside is one is only known by the next call's trace
(:meth:`Trace.difference`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._tracing import state
from ..autograd import backpropagate
from ..backend import NumpyBackend
from ..backward import RecordingBackend, store_gradients
from ..modes import no_grad, user_code_location
from ..primitives import Primitive
from ..tensor import Tensor

__all__ = ["CompileError", "Trace", "Tracer"]


class CompileError(RuntimeError):
    """``compile(fn, strict=True)``: ``fn`` did something a trace cannot replay."""


# ---------------------------------------------------------------------------------------------
# Slots and instructions.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Slot:
    """Where an array of the call comes from.

    ``kind`` is ``"argument"`` (``source`` = the argument's position), ``"external"`` (a
    tensor from outside the trace, read at replay; ``traced_as`` = its shape, dtype and
    requires_grad then), ``"constant"`` (``source`` = the array) or ``"value"`` (made by an
    instruction).
    """

    kind: str
    source: Any = None
    traced_as: tuple = ()


@dataclass(frozen=True, eq=False)
class Forward:
    """``output = primitive.forward(*inputs, **params)``, as ``apply`` computed it."""

    primitive: Primitive
    inputs: tuple[int, ...]
    params: dict
    output: int
    shapes: tuple[tuple[int, ...], ...]  # of the inputs, for error messages
    zero_d: bool  # a 0-d result, which NumPy may return as a scalar (apply makes it an array)
    views: tuple[int, ...]  # the input positions whose memory the result shares


@dataclass(frozen=True, eq=False)
class KeepZero:
    """``output = xp.keep_zero(*inputs)``: the reverse pass's zero-gradient guard."""

    inputs: tuple[int, int]
    output: int


@dataclass(frozen=True, eq=False)
class Store:
    """``store_gradients([(leaf, grad) …], seeds)``: the end of ``backward()``."""

    leaves: tuple[int, ...]
    grads: tuple[int, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Unit:
    """``owner.<method>(*args)``: an optimiser's step or a zero_grad, run as it is."""

    owner: Any
    method: str
    args: tuple[Any, ...]


@dataclass(eq=False)
class Trace:
    """What one call did: ``slots``, ``instructions`` and the ``output`` structure.

    ``output`` mirrors the function's return value: ``("tensor", slot, shares)`` for a tensor
    (``shares``: the slot of an argument or external whose version counter it shares, else
    None), ``("sequence", type, items)``, ``("dict", keys, items)``, ``("value", v)``.
    ``reads`` maps external slots whose value Python read to where it did.
    """

    slots: list[Slot]
    instructions: list[Any]
    output: Any = None
    reads: dict[int, str] = field(default_factory=dict)

    def externals(self) -> list[tuple[int, Tensor]]:
        return [(i, s.source) for i, s in enumerate(self.slots) if s.kind == "external"]

    def changed_externals(self, other: Trace) -> bool:
        """Whether an external tensor of both traces changed shape, dtype or requires_grad
        in between (``other`` is then a first trace of a new computation)."""
        return any(mine.kind == theirs.kind == "external" and mine.source is theirs.source
                   and mine.traced_as != theirs.traced_as
                   for mine, theirs in zip(self.slots, other.slots, strict=False))

    def difference(self, other: Trace) -> str | None:
        """Why ``other`` (the next call's trace) is not the same computation, or None.

        Both must run the same instructions on the same slots; an external that is another
        object in each call (a tensor the function made) must hold the same value, bit for
        bit, or the function depends on something a trace cannot see (random numbers, Python
        state); and a tensor from outside whose value Python read must be such a constant.
        """
        if len(self.slots) != len(other.slots) or len(self.instructions) != len(
                other.instructions):
            return "it ran a different number of operations"
        for position, (mine, theirs) in enumerate(zip(self.slots, other.slots, strict=True)):
            if mine.kind != theirs.kind:
                return "it ran different operations"
            if mine.kind != "external":
                continue
            if mine.source is theirs.source:
                if position in other.reads:
                    return (f"{other.reads[position]} reads the value of a tensor from outside "
                            "the function, which may change between calls")
            elif mine.traced_as[2] or theirs.traced_as[2]:
                return "it creates a tensor that requires grad on each call"
            elif not _same_array(mine.source._data, theirs.source._data):
                return (f"a tensor it makes (shape {theirs.source.shape}) has other values on "
                        "each call (random numbers? an array from outside that changes?)")
        for mine, theirs in zip(self.instructions, other.instructions, strict=True):
            if not _same_instruction(mine, theirs):
                return (f"it ran different operations ({_describe(mine)} on one call, "
                        f"{_describe(theirs)} on the next)")
        if not _same_value(self.output, other.output):
            return "it returns different Python values on each call"
        return None

    def freeze_constants(self, previous: Trace) -> None:
        """Make constants of the externals that were other objects in ``previous`` (tensors
        the function makes on each call, with equal values: :meth:`difference` checked)."""
        for position, (mine, theirs) in enumerate(zip(self.slots, previous.slots, strict=True)):
            if mine.kind == "external" and mine.source is not theirs.source:
                self.slots[position] = Slot("constant", mine.source._data)


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _same_value(a: Any, b: Any) -> bool:
    """Equal as replay needs it: arrays bit for bit, containers item by item."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and _same_array(a, b)
    if isinstance(a, (tuple, list)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same_value(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(_same_value(a[k], b[k]) for k in a))
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # an object whose == is not a truth value: compare by identity only
        return False


def _same_instruction(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, Forward):
        return (a.primitive is b.primitive and a.inputs == b.inputs and a.output == b.output
                and _same_value(a.params, b.params))
    if isinstance(a, KeepZero):
        return a.inputs == b.inputs and a.output == b.output
    if isinstance(a, Store):
        return a.leaves == b.leaves and a.grads == b.grads and a.seeds == b.seeds
    return a.owner is b.owner and a.method == b.method and _same_value(a.args, b.args)


def _describe(instruction: Any) -> str:
    if isinstance(instruction, Forward):
        return f"'{instruction.primitive.name}'"
    if isinstance(instruction, Unit):
        return f"{type(instruction.owner).__name__}.{instruction.method}()"
    return type(instruction).__name__.lower()


def _arrays_in(value: Any) -> list[np.ndarray]:
    """The ndarrays inside an op's parameters (index arrays, nested in tuples)."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)):
        return [array for item in value for array in _arrays_in(item)]
    return []


# ---------------------------------------------------------------------------------------------
# The tracer.
# ---------------------------------------------------------------------------------------------
_FROM_ARGUMENTS = None  # the dependencies of a slot computed from the arguments


class Tracer:
    """Records one eager call of a function into a :class:`Trace` (see the module docstring).

    ``arguments`` are the tensors the function receives; ``watched`` the parameters whose
    ``.grad`` the previous trace saw written: every change to their ``.grad`` must come from
    a recorded ``backward()`` or unit, or the trace escapes (a replay would not repeat it).
    """

    def __init__(self, arguments: list[Tensor], watched: list[Tensor], strict: bool) -> None:
        self.trace = Trace([], [])
        self.live = True
        self.reason: str | None = None
        self.strict = strict
        self._tensor_slot: dict[int, int] = {}
        self._array_slot: dict[int, int] = {}
        # Per slot: the external slots its value comes from (None: from the arguments).
        self._depends: list[frozenset[int] | None] = []
        self._recorded_nodes: set[int] = set()
        self._alive: list[Any] = []  # every object whose id is a key above stays alive
        self._shadow: dict[Tensor, Any] = {p: p.grad for p in watched}
        self._entry_grads = [g for g in self._shadow.values() if g is not None]
        self.backend = TracingBackend(self)
        for position, tensor in enumerate(arguments):
            self._bind(tensor, self._new_slot(Slot("argument", position), _FROM_ARGUMENTS))

    # ---- bookkeeping ------------------------------------------------------------------------
    def _new_slot(self, slot: Slot, depends: frozenset[int] | None) -> int:
        self.trace.slots.append(slot)
        self._depends.append(depends)
        return len(self.trace.slots) - 1

    def _value_slot(self, inputs: tuple[int, ...]) -> int:
        depends: frozenset[int] | None = frozenset()
        for slot in inputs:
            if self._depends[slot] is _FROM_ARGUMENTS:
                depends = _FROM_ARGUMENTS
                break
            depends |= self._depends[slot]
        return self._new_slot(Slot("value"), depends)

    def _bind(self, tensor: Tensor, slot: int) -> None:
        self._tensor_slot[id(tensor)] = slot
        self._array_slot[id(tensor._data)] = slot
        self._alive.append(tensor)

    def slot_of(self, tensor: Tensor) -> int:
        """The slot of a tensor the call uses; one the trace has not seen is an external
        (read afresh on every replay) unless it wraps an array of the trace (``detach()``)."""
        slot = self._tensor_slot.get(id(tensor))
        if slot is None:
            slot = self._array_slot.get(id(tensor._data))
            if slot is None:
                traced_as = (tensor.shape, tensor.dtype, bool(tensor.requires_grad))
                slot = len(self.trace.slots)
                self._new_slot(Slot("external", tensor, traced_as), frozenset((slot,)))
            self._bind(tensor, slot)
        return slot

    # ---- the hooks (micrograd_nd._tracing.Tracer) -------------------------------------------
    def escape(self, what: str) -> None:
        if not self.live:
            return
        self.live = False
        self.reason = f"{what} (at {user_code_location()})"
        state.tracer = None  # the rest of the call runs eagerly, unobserved
        if self.strict:
            raise CompileError(
                f"compile(strict=True): {self.reason}. A compiled function replays tensor "
                "operations, not Python code: keep values inside tensors (return the loss and "
                "call .item() outside), or compile without strict=True to run such calls "
                "eagerly"
            )

    def read(self, what: str, values: tuple[Any, ...]) -> None:
        """A value read is harmless for constants; for a tensor computed from the arguments
        or a parameter it decides something a replay would not decide again."""
        for value in values:
            if not isinstance(value, Tensor):
                continue
            slot = self.slot_of(value)
            depends = self._depends[slot]
            if depends is _FROM_ARGUMENTS or any(
                    self.trace.slots[s].traced_as[2] for s in depends):
                self.escape(f"{what} reads a tensor's value")
                return
            for external in depends:  # a constant, if the next call makes it anew
                self.trace.reads.setdefault(external, f"{what} (at {user_code_location()})")

    def record(self, primitive: Primitive, inputs: tuple[Tensor, ...], params: dict,
               result: Tensor) -> None:
        slots = tuple(self.slot_of(t) for t in inputs)
        if any(id(a) in self._array_slot for a in _arrays_in(params)):
            self.escape(f"'{primitive.name}' with an index or parameter taken from a tensor")
            return
        views = tuple(i for i, t in enumerate(inputs)
                      if np.may_share_memory(result._data, t._data))
        forward = Forward(primitive, slots, params, self._value_slot(slots),
                          tuple(t.shape for t in inputs), result._data.ndim == 0, views)
        self.trace.instructions.append(forward)
        self._bind(result, forward.output)
        if result._node is not None:
            self._recorded_nodes.add(id(result._node))
            self._alive.append(result._node)

    def keep_zero(self, g: Tensor, grad: Tensor, result: Tensor) -> None:
        inputs = (self.slot_of(g), self.slot_of(grad))
        instruction = KeepZero(inputs, self._value_slot(inputs))
        self.trace.instructions.append(instruction)
        self._bind(result, instruction.output)

    def recorded(self, node: Any) -> bool:
        return id(node) in self._recorded_nodes

    def backward(self, tensor: Tensor, seed: np.ndarray, retain_graph: bool) -> None:
        self._check_gradients("backward()")
        if self.live and id(tensor) not in self._tensor_slot:
            self.escape("backward() of a tensor computed before the compiled function ran")
        if not self.live:
            results = backpropagate([tensor], [seed], NumpyBackend(), retain_graph)
            store_gradients(results, [seed])
            return
        seed_tensor = Tensor._make(seed)
        if id(seed) not in self._array_slot:  # the implicit 1 (else a gradient= argument)
            self._bind(seed_tensor, self._new_slot(Slot("constant", seed), frozenset()))
        seed_slot = self.slot_of(seed_tensor)
        with no_grad():  # the rules' operations are traced, not recorded in a graph
            results = backpropagate([tensor], [seed_tensor], self.backend, retain_graph)
        if self.live:
            if any(leaf._node is not None for leaf, _ in results):
                self.escape("retain_grad() on a tensor inside the compiled function")
            else:
                self.trace.instructions.append(Store(
                    tuple(self.slot_of(leaf) for leaf, _ in results),
                    tuple(self.slot_of(g) for _, g in results), (seed_slot,)))
        store_gradients([(leaf, g._data) for leaf, g in results], [seed])
        self._resnapshot()

    def unit(self, owner: Any, method: str, *args: Any) -> Any:
        if method == "step" and args and args[0] is not None:
            self.escape("optimizer.step(closure)")
        self._check_gradients(f"{type(owner).__name__}.{method}()")
        if self.live:
            self.trace.instructions.append(Unit(owner, method, args))
        state.tracer = None  # the unit reads and writes values on its own
        try:
            return getattr(owner, method)(*args)
        finally:
            state.tracer = self if self.live else None
            self._resnapshot()

    # ---- .grad changes the trace did not see -------------------------------------------------
    def _check_gradients(self, before: str) -> None:
        for p, expected in self._shadow.items():
            if p.grad is not expected:
                self.escape(f"a change of .grad before {before} that is not backward() or "
                            "zero_grad()")
                return

    def _resnapshot(self) -> None:
        for p in self._shadow:
            self._shadow[p] = p.grad

    # ---- the end of the call -----------------------------------------------------------------
    def finish(self, value: Any) -> Trace | None:
        """The trace of the call that returned ``value``, or None if it escaped."""
        self._check_gradients("the end of the function")
        if self.live:
            gradients = [*self._entry_grads, *(p.grad for p in self._shadow)]
            for _, tensor in self.trace.externals():
                if any(tensor is g for g in gradients):
                    self.escape("using a .grad tensor in an operation")
        if self.live:
            output = self._output(value)
            if self.live:
                self.trace.output = output
                return self.trace
        return None

    def _output(self, value: Any) -> Any:
        if isinstance(value, Tensor):
            node = value._node
            if node is not None and node.parents is not None:
                self.escape("it returns a tensor whose graph is still alive (backward() was "
                            "not called on it)")
                return None
            slot = self.slot_of(value)
            shares = None
            if self.trace.slots[slot].kind == "value":
                shares = next((self._tensor_slot[id(t)] for t in self._alive
                               if isinstance(t, Tensor) and t._versions is value._versions
                               and self.trace.slots[self._tensor_slot[id(t)]].kind
                               in ("argument", "external")), None)
            return ("tensor", slot, shares)
        if type(value) in (tuple, list):
            return ("sequence", type(value), tuple(self._output(v) for v in value))
        if type(value) is dict:
            return ("dict", tuple(value), tuple(self._output(v) for v in value.values()))
        return ("value", value)


class TracingBackend(RecordingBackend):
    """The reverse pass on tensors, as for ``create_graph=True`` (but run under ``no_grad``):
    each array operation of each derivative rule is a primitive ``apply``, so it joins the
    trace. The derivative rules themselves are the table's, unchanged."""

    def __init__(self, tracer: Tracer) -> None:
        super().__init__(anomaly=False)
        self.tracer = tracer

    def saved(self, node: Any) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self.tracer.live and not self.tracer.recorded(node):
            self.tracer.escape(f"backward() through '{node.primitive.name}', an op recorded "
                               "before the compiled function ran")
        return super().saved(node)

    def keep_zero(self, g: Tensor, grad: Tensor) -> Tensor:
        # The guard looks at values (is there a NaN?): a replay must look again, so it is one
        # instruction, computed as the ordinary backward pass computes it.
        if not self.tracer.live:
            return super().keep_zero(g, grad)
        result = Tensor._make(NumpyBackend.keep_zero(g._data, grad._data))
        self.tracer.keep_zero(g, grad, result)
        return result
