"""``micrograd_nd.compile(fn)``: trace a training step once, replay it as straight-line NumPy.

::

    @mg.compile
    def train_step(x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    for xb, yb in loader:
        loss = train_step(xb, yb)        # a Tensor; loss.item() outside the step

How it works. A call runs ``fn`` *eagerly* while a tracer watches (:mod:`.trace`): every
primitive ``apply`` runs, every derivative rule and service of ``backward()``, every store
into ``.grad``, every optimiser ``step()`` and ``zero_grad()``. Array arguments reach ``fn``
as Tensors sharing their memory. The second call with the same *signature* (argument shapes
and dtypes, grad mode, the default dtype, what ``fn``'s closure and globals refer to, the
modules' structure) traces again, and if both traces ran the same operations on the same
values (see :meth:`.trace.Trace.difference`), later calls *replay* the trace: the same NumPy
forwards, the same rules from the table, the same ``store_gradients`` and optimiser calls,
as one generated Python function (:mod:`.replay`) — no tensors, graph or bookkeeping. So a
replay gives bit-identical results to running ``fn``.

What cannot be replayed is never frozen: a value read into Python (``float(t)``,
``t.item()``, ``if t > 0``, ``t.data``, ``np.asarray(t)``), an in-place change of a tensor, a
gradient assigned by hand, ``grad()``, ``create_graph``, a tensor that changes between calls
without being an argument (random numbers) — each makes that signature run eagerly from then
on, with one :class:`CompileWarning` naming the line (or, with ``strict=True``, raises
:class:`CompileError`). Under ``detect_anomaly()`` every call runs eagerly.
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .._arrays import FLOAT_DTYPES, get_default_dtype
from .._tracing import state
from ..modes import is_anomaly_enabled, is_grad_enabled
from ..nn.module import structure_signature
from ..tensor import Tensor, as_tensor
from .replay import RETRACE, Replay, build
from .trace import CompileError, Trace, Tracer

__all__ = ["CompileError", "CompileWarning", "CompiledFunction", "compile"]


_TENSOR_DTYPES = frozenset(FLOAT_DTYPES | {np.dtype(t) for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)})


class CompileWarning(UserWarning):
    """A compiled function runs eagerly for a signature (the message says why)."""


class _Entry:
    """What the cache knows about one signature."""

    def __init__(self, environment: list[Any], first: Trace | None = None,
                 eager: bool = False) -> None:
        self.first = first  # the first call's trace, until the second one matches it
        self.replay: Replay | None = None
        self.eager = eager
        # What fn's closure and globals referred to: the key holds their ids, and keeping
        # them alive here means no other object can take one of those ids meanwhile.
        self.environment = environment


class CompiledFunction:
    """``fn`` with its calls traced once per signature and replayed (see the module doc).

    ``cache_size`` signatures are kept (least recently used first out). ``replays`` counts
    the calls that were replayed; ``source(*args)`` shows the code replayed for those
    arguments' signature.
    """

    def __init__(self, fn: Callable[..., Any], cache_size: int = 8, strict: bool = False
                 ) -> None:
        if not callable(fn):
            raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"compile: cache_size must be an int ≥ 1, got {cache_size!r}")
        self.fn = fn
        self.cache_size = cache_size
        self.strict = bool(strict)
        self.replays = 0
        self._cache: OrderedDict[tuple, _Entry] = OrderedDict()
        self._environment = _environment_reader(fn)
        self._label = getattr(fn, "__qualname__", type(fn).__name__)
        self._warned = False
        self._traced_in_a_row = 0
        self._always_eager = False
        functools.update_wrapper(self, fn, updated=())

    def __repr__(self) -> str:
        return f"<compiled {self._label}: {len(self._cache)} signatures, {self.replays} replays>"

    def clear(self) -> None:
        """Forget every trace (the next calls trace again)."""
        self._cache.clear()

    # ---- calling ----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if state.tracer is not None or is_anomaly_enabled() or self._always_eager:
            # Inside another compiled function's trace its tracer sees these operations;
            # under detect_anomaly() every op must be checked as it runs: run eagerly.
            return self.fn(*_as_tensors(args), **_as_tensors(kwargs))
        key, arguments, environment = self._signature(args, kwargs)
        if key is None:
            self._run_eagerly_warning("an argument is neither a Tensor, an array nor a "
                                      "plain Python value (its signature is unknown)", 3)
            return self.fn(*_as_tensors(args), **_as_tensors(kwargs))
        entry = self._cache.get(key)
        if entry is not None:
            if entry.replay is not None:
                result = entry.replay.function(*arguments)
                if result is not RETRACE:
                    self._cache.move_to_end(key)
                    self.replays += 1
                    self._traced_in_a_row = 0
                    return result
                entry = None  # a parameter changed shape, dtype or requires_grad
            elif entry.eager:
                return self.fn(*_as_tensors(args), **_as_tensors(kwargs))
        return self._trace(key, entry, args, kwargs, arguments, environment)

    def source(self, *args: Any, **kwargs: Any) -> str | None:
        """The replayed code for the signature of these arguments (None if not compiled)."""
        key, _, _ = self._signature(args, kwargs)
        entry = self._cache.get(key) if key is not None else None
        return entry.replay.source if entry is not None and entry.replay else None

    def _signature(self, args: tuple, kwargs: dict) -> tuple[tuple | None, list[Any], list[Any]]:
        """The cache key of a call, its tensors and arrays (what a replay takes), and what
        ``fn``'s closure and globals refer to."""
        environment = self._environment()
        parts: list[Any] = [is_grad_enabled(), get_default_dtype(), structure_signature(),
                            tuple(map(id, environment))]
        arguments: list[Any] = []
        for value in (*args, *(kwargs[name] for name in sorted(kwargs))):
            part = _argument_signature(value)
            if part is None:
                return None, [], []
            parts.append(part)
            if _is_tensor_like(value):
                arguments.append(value)
        if kwargs:
            parts.append(tuple(sorted(kwargs)))
        return tuple(parts), arguments, environment

    # ---- tracing ----------------------------------------------------------------------------
    def _trace(self, key: tuple, entry: _Entry | None, args: tuple, kwargs: dict,
               arguments: list[Any], environment: list[Any]) -> Any:
        tensors = [a if isinstance(a, Tensor) else Tensor._make(a) for a in arguments]
        wrapped = iter(tensors)  # the same tensors the tracer knows as arguments
        args = tuple(next(wrapped) if _is_tensor_like(a) else a for a in args)
        kwargs = {name: next(wrapped) if _is_tensor_like(kwargs[name]) else kwargs[name]
                  for name in sorted(kwargs)}
        watched = [] if entry is None else _parameters(entry.first)
        tracer = Tracer(tensors, watched, self.strict)
        state.tracer = tracer
        try:
            result = self.fn(*args, **kwargs)
        except BaseException:
            if not tracer.live and not self.strict:  # e.g. a version check fails after an
                # in-place write escaped: later calls run eagerly (and fail alike)
                self._run_eagerly(key, environment, tracer.reason)
            raise
        finally:
            state.tracer = None
        trace = tracer.finish(result)
        self._traced_in_a_row += 1
        if trace is None:
            self._run_eagerly(key, environment, tracer.reason)
        elif entry is None or entry.first.changed_externals(trace):
            self._remember(key, _Entry(environment, trace))
        else:
            difference = entry.first.difference(trace)
            if difference is not None:
                self._run_eagerly(key, environment, f"two calls with the same signature "
                                  f"differ: {difference}")
            else:
                trace.freeze_constants(entry.first)
                entry.first = None
                entry.replay = build(trace, tuple(isinstance(a, Tensor) for a in arguments),
                                     self._label)
                self._remember(key, entry)
        if self._traced_in_a_row > 2 * self.cache_size + 2:
            self._run_eagerly_warning(
                f"it was traced on {self._traced_in_a_row} calls in a row without a replay: "
                f"its signature keeps changing (more than cache_size={self.cache_size} "
                "argument shapes, or a global or closure variable rebound on every call?)", 4)
            self._cache.clear()
            self._always_eager = True
        return result

    def _remember(self, key: tuple, entry: _Entry) -> None:
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _run_eagerly(self, key: tuple, environment: list[Any], reason: str | None) -> None:
        self._run_eagerly_warning(reason, 5)
        self._remember(key, _Entry(environment, eager=True))

    def _run_eagerly_warning(self, reason: str | None, stacklevel: int) -> None:
        """One warning per compiled function (``stacklevel`` reaches the caller's line); with
        ``strict``, a CompileError instead, on every such call."""
        if self.strict:
            raise CompileError(f"compile(strict=True): {self._label} cannot be replayed: "
                               f"{reason}")
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"micrograd_nd.compile: {self._label} runs eagerly (not replayed) for this "
                f"signature: {reason}. Results are correct, only not faster (strict=True "
                "raises instead).", CompileWarning, stacklevel=stacklevel)


def _as_tensors(values: Any) -> Any:
    """Arguments (a tuple, or a dict of keyword arguments) with every ndarray made a Tensor
    sharing its memory: a compiled function sees tensors however its call runs."""
    if isinstance(values, dict):
        return {name: _as_tensor(value) for name, value in values.items()}
    return tuple(_as_tensor(value) for value in values)


def _as_tensor(value: Any) -> Any:
    return as_tensor(value) if type(value) is np.ndarray else value


def _is_tensor_like(value: Any) -> bool:
    """A Tensor or an ndarray: the arguments a replay takes (see ``_argument_signature``)."""
    return isinstance(value, Tensor) or type(value) is np.ndarray


def _argument_signature(value: Any) -> Any:
    """What a trace depends on in one argument (None: not a kind compile handles)."""
    if isinstance(value, Tensor):
        return ("tensor", value.shape, value.dtype, value.requires_grad, value._node is None)
    if type(value) is np.ndarray:
        # Other kinds and byte orders are converted (or refused) by as_tensor: run eagerly.
        native = value.dtype.isnative and value.dtype in _TENSOR_DTYPES
        return ("array", value.shape, value.dtype) if native else None
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return ("value", type(value), value)
    return None


def _parameters(trace: Trace) -> list[Tensor]:
    """The external tensors of a trace that require grad (whose .grad backward writes)."""
    return [tensor for _, tensor in trace.externals() if tensor.requires_grad]


def _environment_reader(fn: Callable[..., Any]) -> Callable[[], list[Any]]:
    """A function giving what ``fn``'s closure cells and global names refer to now (their
    identities are part of the signature: ``model = other_model`` means a new trace)."""
    function = getattr(fn, "__func__", fn)
    code = getattr(function, "__code__", None)
    if code is None:
        return list
    cells = function.__closure__ or ()
    namespace = function.__globals__
    names = [n for n in code.co_names if n in namespace]
    bound = getattr(fn, "__self__", None)

    def environment() -> list[Any]:
        return [bound, *[_contents(c) for c in cells], *[namespace.get(n) for n in names]]

    return environment


def _contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a closure variable not assigned yet
        return None


def compile(fn: Callable[..., Any] | None = None, *, cache_size: int = 8, strict: bool = False
            ) -> Any:
    """Compile ``fn`` (a training step: forward, ``backward()``, optimiser calls) for replay.

    Use as ``step = compile(fn)``, ``@compile`` or ``@compile(strict=True)``. See the module
    docstring for what is traced, what makes a call run eagerly, and the guarantees: replayed
    calls give bit-identical results to eager ones. Array arguments reach ``fn`` as Tensors
    sharing their memory; a replay returns new Tensors (without graph) where ``fn`` returned
    tensors it computed.
    """
    if fn is None:
        return lambda f: CompiledFunction(f, cache_size=cache_size, strict=strict)
    return CompiledFunction(fn, cache_size=cache_size, strict=strict)
