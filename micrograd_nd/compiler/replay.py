"""A trace as straight-line Python: one NumPy call per line, no tensors, no graph.

:func:`build` turns a :class:`~micrograd_nd.compiler.trace.Trace` into a function of the
call's arguments. Its first lines read each external tensor's array afresh (parameters change
between calls) and check that it still has the traced shape, dtype and ``requires_grad``
(else it returns :data:`RETRACE`); then come the forward primitives, the primitives the
derivative rules applied, the zero-gradient guards, the stores into ``.grad`` and the
optimiser units, in the order the call ran them, each a local variable assignment. ``source``
of the result shows the code (``print`` it to see what a compiled step does).
"""

from __future__ import annotations

import itertools
import linecache
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import NumpyBackend
from ..backward import store_gradients
from ..tensor import Tensor
from .trace import Forward, KeepZero, Store, Trace, Unit

__all__ = ["RETRACE", "Replay", "build"]

_HERE = os.path.dirname(os.path.abspath(__file__))
RETRACE = object()  # a replay's answer when an external tensor changed shape, dtype or grad
_counter = itertools.count()


class Replay:
    """The compiled form of one trace: ``replay(*arguments)``; ``source`` is its code."""

    def __init__(self, function: Callable[..., Any], source: str) -> None:
        self.function = function
        self.source = source


def _op_error(error: Exception, name: str, shapes: str) -> Exception:
    """The error ``apply`` raises for a failing forward (the same text, so a replay and an
    eager call fail alike)."""
    return type(error)(f"{name}: {error} (input shapes: {shapes})")


class _Writer:
    """Collects the lines and the names they refer to (the function's globals)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "RETRACE": RETRACE, "asarray": np.asarray, "Tensor_make": Tensor._make,
            "store_gradients": store_gradients, "op_error": _op_error,
            "keep_zero": NumpyBackend.keep_zero,
        }
        self._names: dict[int, str] = {}

    def name(self, value: Any, prefix: str) -> str:
        """A global name bound to ``value`` (one per object)."""
        known = self._names.get(id(value))
        if known is not None and self.namespace[known] is value:
            return known
        name = f"{prefix}{len(self.namespace)}"
        self.namespace[name] = value
        self._names[id(value)] = name
        return name

    def line(self, text: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + text)


def _keywords(writer: _Writer, params: dict) -> str:
    return "".join(f", {key}={writer.name(value, 'K')}" for key, value in params.items())


def build(trace: Trace, tensor_arguments: tuple[bool, ...], label: str) -> Replay:
    """The replay function of ``trace``.

    ``tensor_arguments[i]`` says whether argument ``i`` arrives as a Tensor (else as an
    ndarray); ``label`` names the compiled function in the generated code's file name.
    """
    w = _Writer()
    local = {}
    persistent = []
    folded = _fold_constants(trace)
    for slot, info in enumerate(trace.slots):
        if info.kind == "argument":
            position = info.source
            if tensor_arguments[position]:
                local[slot] = f"v{slot}"
                w.line(f"v{slot} = a{position}._data")
            else:
                local[slot] = f"a{position}"
        elif info.kind == "constant":
            local[slot] = w.name(info.source, "C")
        elif slot in folded:
            local[slot] = w.name(folded[slot], "C")
        else:
            local[slot] = f"v{slot}"
            if info.kind == "external":
                persistent.append(slot)
    # ---- external tensors: read afresh, guarded ---------------------------------------------
    externals = {slot: w.name(trace.slots[slot].source, "E") for slot in persistent}
    for slot in persistent:
        tensor = trace.slots[slot].source
        array = tensor._data
        w.line(f"v{slot} = {externals[slot]}._data")
        w.line(f"if v{slot}.shape != {array.shape!r} or v{slot}.dtype != "
               f"{w.name(array.dtype, 'D')} or {externals[slot]}.requires_grad is not "
               f"{bool(tensor.requires_grad)}:")
        w.line("return RETRACE", 2)
    # ---- the instructions -------------------------------------------------------------------
    dead_after = _dead_after(trace, folded)
    for index, instruction in enumerate(trace.instructions):
        if isinstance(instruction, Forward):
            if instruction.output not in folded:
                _forward(w, instruction, local)
        elif isinstance(instruction, KeepZero):
            g, grad = (local[s] for s in instruction.inputs)
            w.line(f"{local[instruction.output]} = keep_zero({g}, {grad})")
        elif isinstance(instruction, Store):
            pairs = "".join(f"({_tensor_of(trace, leaf, externals)}, {local[g]}), "
                            for leaf, g in zip(instruction.leaves, instruction.grads, strict=True))
            seeds = "".join(f"{local[s]}, " for s in instruction.seeds)
            w.line(f"store_gradients(({pairs}), ({seeds}))")
        elif isinstance(instruction, Unit):
            method = getattr(instruction.owner, instruction.method)
            arguments = ", ".join(w.name(a, "K") for a in instruction.args)
            w.line(f"{w.name(method, 'U')}({arguments})")
            for slot in persistent:  # a unit may give a tensor new memory
                w.line(f"v{slot} = {externals[slot]}._data")
        else:  # pragma: no cover - every instruction kind is handled above
            raise TypeError(f"unknown instruction {instruction!r}")
        if dead_after[index]:  # free memory as soon as eager execution would (same reuse)
            w.line("del " + ", ".join(local[s] for s in dead_after[index]))
    w.line(f"return {_output(w, trace, trace.output, local, externals, tensor_arguments)}")
    arguments = ", ".join(f"a{i}" for i in range(len(tensor_arguments)))
    source = f"def replay({arguments}):\n" + "\n".join(w.lines) + "\n"
    # Named inside the package: tracebacks show the generated lines (linecache), and frames
    # of replays count as the library's, not the user's (modes.user_code_location).
    filename = os.path.join(_HERE, f"<replay {next(_counter)} of {label}>")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), w.namespace)  # our own code, from the trace
    return Replay(w.namespace["replay"], source)


def _reads(instruction: Any) -> tuple[int, ...]:
    """The slots an instruction reads."""
    if isinstance(instruction, (Forward, KeepZero)):
        return instruction.inputs
    if isinstance(instruction, Store):
        return (*instruction.grads, *instruction.seeds)
    return ()


def _fold_constants(trace: Trace) -> dict[int, np.ndarray]:
    """The results of the forwards whose inputs are all constants (the first steps of the
    reverse pass start from the constant seed 1), computed once, here.

    Not for a result that can leave the call (returned, stored into ``.grad``, or a view of
    one of those): every call must hand out memory of its own.
    """
    leaving = set(_output_slots(trace.output))
    for instruction in trace.instructions:
        if isinstance(instruction, Store):
            leaving.update(instruction.grads)
    for instruction in reversed(trace.instructions):  # views of what leaves leave too
        if isinstance(instruction, Forward) and instruction.output in leaving:
            leaving.update(instruction.inputs[i] for i in instruction.views)
        elif isinstance(instruction, KeepZero) and instruction.output in leaving:
            leaving.add(instruction.inputs[1])  # it may return its input
    known = {slot: info.source for slot, info in enumerate(trace.slots)
             if info.kind == "constant"}
    folded: dict[int, np.ndarray] = {}
    for instruction in trace.instructions:
        if (isinstance(instruction, Forward) and instruction.output not in leaving
                and all(slot in known for slot in instruction.inputs)):
            value = instruction.primitive.forward(*(known[s] for s in instruction.inputs),
                                                  **instruction.params)
            known[instruction.output] = folded[instruction.output] = np.asarray(value)
    return folded


def _dead_after(trace: Trace, folded: dict[int, np.ndarray]) -> list[list[int]]:
    """For each instruction, the value slots nothing reads after it (nor the result)."""
    last: dict[int, int] = {}
    for index, instruction in enumerate(trace.instructions):
        for slot in _reads(instruction):
            last[slot] = index
        output = getattr(instruction, "output", None)
        if output is not None:
            last.setdefault(output, index)  # made and never read: dead at once
    kept = set(_output_slots(trace.output))
    dead: list[list[int]] = [[] for _ in trace.instructions]
    for slot, index in last.items():
        if trace.slots[slot].kind == "value" and slot not in kept and slot not in folded:
            dead[index].append(slot)
    return [sorted(set(slots)) for slots in dead]


def _output_slots(output: Any) -> list[int]:
    if output[0] == "tensor":
        return [output[1]]
    if output[0] in ("sequence", "dict"):
        return [slot for item in output[2] for slot in _output_slots(item)]
    return []


def _forward(w: _Writer, instruction: Forward, local: dict[int, str]) -> None:
    primitive = instruction.primitive
    call = (f"{w.name(primitive.forward, 'F')}({', '.join(local[s] for s in instruction.inputs)}"
            f"{_keywords(w, instruction.params)})")
    target = local[instruction.output]
    shapes = ", ".join(str(s) for s in instruction.shapes)
    # ``apply`` makes a NumPy scalar result (from 0-d inputs) an array; errors name the op.
    w.line("try:")
    w.line(f"{target} = asarray({call})" if instruction.zero_d else f"{target} = {call}", 2)
    w.line("except (ValueError, IndexError, TypeError) as error:")
    w.line(f"raise op_error(error, {primitive.name!r}, {shapes!r}) from None", 2)


def _tensor_of(trace: Trace, slot: int, externals: dict[int, str]) -> str:
    """The tensor object of a leaf slot (an argument's or an external's)."""
    info = trace.slots[slot]
    if info.kind == "argument":
        return f"a{info.source}"
    return externals[slot]


def _output(w: _Writer, trace: Trace, output: Any, local: dict[int, str],
            externals: dict[int, str], tensor_arguments: tuple[bool, ...]) -> str:
    """An expression building the return value: new tensors around the replayed arrays
    (sharing the version counter of the argument or parameter they are views of)."""
    kind = output[0]
    if kind == "tensor":
        _, slot, shares = output
        info = trace.slots[slot]
        if info.kind == "external":
            return externals[slot]
        if info.kind == "argument":
            position = info.source
            return f"a{position}" if tensor_arguments[position] else f"Tensor_make(a{position})"
        if shares is not None and trace.slots[shares].kind == "external":
            return f"Tensor_make({local[slot]}, {externals[shares]}._versions)"
        if shares is not None and tensor_arguments[trace.slots[shares].source]:
            return f"Tensor_make({local[slot]}, a{trace.slots[shares].source}._versions)"
        return f"Tensor_make({local[slot]})"
    if kind == "sequence":
        items = "".join(f"{_output(w, trace, item, local, externals, tensor_arguments)}, "
                        for item in output[2])
        return f"({items})" if output[1] is tuple else f"[{items}]"
    if kind == "dict":
        items = ", ".join(
            f"{w.name(key, 'K')}: {_output(w, trace, item, local, externals, tensor_arguments)}"
            for key, item in zip(output[1], output[2], strict=True))
        return "{" + items + "}"
    return w.name(output[1], "K")
