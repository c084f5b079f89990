"""Recording one call: the operations, the reverse pass and the updates a function ran, as
instructions over numbered slots.

A *slot* holds one array of the call: an argument's, an external tensor's (a parameter, or a
constant the function made), a constant's (the seed 1 of ``backward()``), or an instruction's
result. The :class:`Tracer` is installed as ``micrograd_nd._tracing.state.tracer`` while the
function runs *eagerly*; the engine's hooks tell it every op (``apply``), the reverse pass
(``backward()``, which it runs through :class:`TracingBackend` so that each derivative rule
and each service becomes an instruction), and each optimiser ``step()`` / ``zero_grad()``
(run as one unit). Anything a replay could not reproduce — a value read into Python, an
in-place write, a gradient assigned by hand — *escapes*: the tracer stops recording and the
call finishes eagerly (or, when strict, raises :class:`CompileError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._tracing import state
from ..autograd import backpropagate
from ..backend import NumpyBackend
from ..backward import store_gradients
from ..modes import user_code_location
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
    tensor from outside the trace; ``source`` = the tensor, read at replay), ``"constant"``
    (``source`` = the array) or ``"value"`` (made by an instruction).
    """

    kind: str
    source: Any = None
    traced_as: tuple = ()  # an external's (shape, dtype, requires_grad) when it was traced


@dataclass(frozen=True, eq=False)
class Forward:
    """``output = primitive.forward(*inputs, **params)`` (what ``apply`` computed)."""

    primitive: Primitive
    inputs: tuple[int, ...]
    params: dict
    output: int
    shapes: tuple[tuple[int, ...], ...]  # of the inputs, for error messages
    zero_d: bool  # a 0-d result, which NumPy may return as a scalar (apply makes it an array)


@dataclass(frozen=True, eq=False)
class Rule:
    """``output = rule(xp, upstream, forward.output, *forward.inputs, **forward.params)``: the
    derivative rule of input ``argnum`` of ``forward``'s primitive, from the table."""

    forward: Forward
    argnum: int
    upstream: int
    output: int


@dataclass(frozen=True, eq=False)
class Service:
    """``output = xp.<name>(*inputs, *extra)``: keep_zero, unbroadcast or cast of a rule's
    result (what ``Services.input_gradient`` decided to call, given shapes and dtypes)."""

    name: str
    inputs: tuple[int, ...]
    extra: tuple[Any, ...]
    output: int


@dataclass(frozen=True, eq=False)
class Add:
    """``output = xp.add(*inputs)``: two contributions to one tensor's gradient."""

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
    """

    slots: list[Slot]
    instructions: list[Any]
    output: Any = None

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
        state).
        """
        if len(self.slots) != len(other.slots) or len(self.instructions) != len(
                other.instructions):
            return "it ran a different number of operations"
        for position, (mine, theirs) in enumerate(zip(self.slots, other.slots, strict=True)):
            if mine.kind != theirs.kind:
                return "it ran different operations"
            if mine.kind == "external" and mine.source is not theirs.source:
                if _requires_grad(mine.source) or _requires_grad(theirs.source):
                    return "it creates a tensor that requires grad on each call"
                if not _same_array(mine.source._data, theirs.source._data):
                    return (f"a tensor it makes (slot {position}, shape "
                            f"{theirs.source.shape}) has other values on each call (random "
                            "numbers? an array from outside that changes?)")
            elif mine.kind == "constant" and not _same_array(mine.source, theirs.source):
                return "a constant differs between calls"
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


def _requires_grad(tensor: Tensor) -> bool:
    return bool(tensor.requires_grad)


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
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
    if isinstance(a, Rule):
        return (a.argnum == b.argnum and a.upstream == b.upstream and a.output == b.output
                and a.forward.output == b.forward.output)
    if isinstance(a, Service):
        return (a.name == b.name and a.inputs == b.inputs and a.output == b.output
                and _same_value(a.extra, b.extra))
    if isinstance(a, Add):
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
    if isinstance(value, dict):
        return [array for item in value.values() for array in _arrays_in(item)]
    return []


# ---------------------------------------------------------------------------------------------
# The tracer.
# ---------------------------------------------------------------------------------------------
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
        self._node_forward: dict[int, Forward] = {}
        self._alive: list[Any] = []  # every object whose id is a key above stays alive
        self._shadow: dict[Tensor, Any] = {p: p.grad for p in watched}
        self._entry_grads = [g for g in self._shadow.values() if g is not None]
        self.backend = TracingBackend(self)
        for position, tensor in enumerate(arguments):
            self._bind(tensor, self._new_slot(Slot("argument", position)))

    # ---- bookkeeping ------------------------------------------------------------------------
    def _new_slot(self, slot: Slot) -> int:
        self.trace.slots.append(slot)
        return len(self.trace.slots) - 1

    def _bind(self, tensor: Tensor, slot: int) -> None:
        self._tensor_slot[id(tensor)] = slot
        self._bind_array(tensor._data, slot)
        self._alive.append(tensor)

    def _bind_array(self, array: Any, slot: int) -> None:
        self._array_slot[id(array)] = slot
        self._alive.append(array)

    def slot_of_array(self, array: Any) -> int:
        return self._array_slot[id(array)]

    def emit(self, instruction: Any, result: Any = None) -> None:
        """Append ``instruction``; ``result`` is the array its ``output`` slot holds now."""
        self.trace.instructions.append(instruction)
        if result is not None:
            self._bind_array(result, instruction.output)

    def value_slot(self) -> int:
        return self._new_slot(Slot("value"))

    def input_slot(self, tensor: Tensor) -> int:
        """The slot of a tensor an op uses; one the trace has not seen is an external (read
        afresh on every replay) unless it wraps an array of the trace (``detach()``)."""
        slot = self._tensor_slot.get(id(tensor))
        if slot is None:
            slot = self._array_slot.get(id(tensor._data))
            if slot is None:
                traced_as = (tensor.shape, tensor.dtype, bool(tensor.requires_grad))
                slot = self._new_slot(Slot("external", tensor, traced_as))
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

    def record(self, primitive: Primitive, inputs: tuple[Tensor, ...], params: dict,
               result: Tensor) -> None:
        slots = tuple(self.input_slot(t) for t in inputs)
        if any(id(a) in self._array_slot for a in _arrays_in(params)):
            self.escape(f"'{primitive.name}' with an index or parameter taken from a tensor")
            return
        forward = Forward(primitive, slots, params, self.value_slot(),
                          tuple(t.shape for t in inputs), result._data.ndim == 0)
        self.trace.instructions.append(forward)
        self._bind(result, forward.output)
        if result._node is not None:
            self._node_forward[id(result._node)] = forward
            self._alive.append(result._node)

    def forward_of(self, node: Any) -> Forward | None:
        return self._node_forward.get(id(node))

    def backward(self, tensor: Tensor, seed: np.ndarray, retain_graph: bool) -> None:
        self._check_gradients("backward()")
        seed_slot = -1
        if self.live:
            if id(tensor) not in self._tensor_slot:
                self.escape("backward() of a tensor computed before the compiled function ran")
            seed_slot = self._array_slot.get(id(seed), -1)
            if seed_slot < 0:
                seed_slot = self._new_slot(Slot("constant", seed))
                self._bind_array(seed, seed_slot)
        backend = self.backend if self.live else NumpyBackend()
        results = backpropagate([tensor], [seed], backend, retain_graph)
        if self.live:
            if any(leaf._node is not None for leaf, _ in results):
                self.escape("retain_grad() on a tensor inside the compiled function")
            else:
                self.emit(Store(tuple(self.input_slot(leaf) for leaf, _ in results),
                                tuple(self.slot_of_array(g) for _, g in results), (seed_slot,)))
        store_gradients(results, [seed])
        self._resnapshot()

    def unit(self, owner: Any, method: str, *args: Any) -> Any:
        if method == "step" and args and args[0] is not None:
            self.escape("optimizer.step(closure)")
        self._check_gradients(f"{type(owner).__name__}.{method}()")
        if self.live:
            self.emit(Unit(owner, method, args))
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
            slot = self.input_slot(value)
            shares = None
            if self.trace.slots[slot].kind == "value":
                shares = next((s for s, t in self._sources() if t._versions is value._versions),
                              None)
            return ("tensor", slot, shares)
        if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
            return ("sequence", type(value), tuple(self._output(v) for v in value))
        if type(value) is dict:
            return ("dict", tuple(value), tuple(self._output(v) for v in value.values()))
        return ("value", value)

    def _sources(self) -> list[tuple[int, Tensor]]:
        """Arguments and externals with their tensors."""
        return [(self._tensor_slot[id(t)], t) for t in self._alive
                if isinstance(t, Tensor) and self.trace.slots[self._tensor_slot[id(t)]].kind
                in ("argument", "external")]


class TracingBackend(NumpyBackend):
    """The ordinary backward pass, which also records each rule call and each service as an
    instruction (the derivative rules themselves come from the table, unchanged)."""

    def __init__(self, tracer: Tracer) -> None:
        super().__init__(anomaly=False)
        self.tracer = tracer
        self._forward: Forward | None = None
        self._upstream = -1
        self._services = False

    def saved(self, node: Any, output: Any) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        if self.tracer.live:
            self._forward = self.tracer.forward_of(node)
            self._upstream = -1
            if self._forward is None:
                self.tracer.escape(f"backward() through '{node.primitive.name}', an op "
                                   "recorded before the compiled function ran")
        return super().saved(node, output)

    def input_gradient(self, grad: Any, like: Any, g: Any, node: Any, argnum: int) -> Any:
        tracer = self.tracer
        if tracer.live:
            if self._upstream < 0:  # the same g for every input of this node
                self._upstream = tracer.slot_of_array(g)
            tracer.emit(Rule(self._forward, argnum, self._upstream, tracer.value_slot()), grad)
        self._services = True
        try:
            return super().input_gradient(grad, like, g, node, argnum)
        finally:
            self._services = False

    def _service(self, name: str, inputs: tuple[Any, ...], extra: tuple[Any, ...],
                 result: Any) -> Any:
        tracer = self.tracer
        if self._services and tracer.live:
            slots = tuple(self._upstream if i == 0 and name == "keep_zero"
                          else tracer.slot_of_array(a) for i, a in enumerate(inputs))
            tracer.emit(Service(name, slots, extra, tracer.value_slot()), result)
        return result

    def keep_zero(self, g: Any, grad: Any) -> Any:
        return self._service("keep_zero", (g, grad), (), NumpyBackend.keep_zero(g, grad))

    def unbroadcast(self, grad: Any, shape: tuple[int, ...]) -> Any:
        return self._service("unbroadcast", (grad,), (shape,), super().unbroadcast(grad, shape))

    def cast(self, grad: Any, dtype: np.dtype) -> Any:
        return self._service("cast", (grad,), (dtype,), NumpyBackend.cast(grad, dtype))

    def add(self, total: Any, grad: Any) -> Any:
        tracer = self.tracer
        result = NumpyBackend.add(total, grad)
        if tracer.live:
            tracer.emit(Add((tracer.slot_of_array(total), tracer.slot_of_array(grad)),
                            tracer.value_slot()), result)
        return result
