"""The hook through which :func:`micrograd_nd.compile` watches a function run.

While a compiled function is traced, ``state.tracer`` (per thread) is the tracer of
:mod:`micrograd_nd.compile`; otherwise it is ``None`` and every hook is one attribute test.
The engine calls the tracer at the few places where a trace must see what happens:

* ``apply`` hands it every operation (:meth:`Tracer.record`);
* ``backward()`` and ``grad()`` hand it the reverse pass, the optimisers and modules their
  ``step()`` and ``zero_grad()``, so these are replayed as units;
* every place where a tensor's *value* leaves the engine (``float(t)``, ``t.item()``,
  ``t.data``, ``np.asarray(t)`` …) or is changed behind the engine's back (in-place writes)
  reports it (:func:`value_read`, :func:`value_write`): a trace cannot replay what Python did
  with a value that changes from call to call, so the tracer gives up on the trace (the call
  completes eagerly).

This module sits below the Tensor and imports nothing of the package.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

__all__ = ["Tracer", "state", "value_read", "value_write"]


class Tracer(Protocol):
    """What the engine tells a tracer (implemented in :mod:`micrograd_nd.compile`)."""

    def record(self, primitive: Any, inputs: tuple[Any, ...], params: dict, result: Any
               ) -> None:
        """``result = primitive(*inputs, **params)`` just ran."""

    def escape(self, what: str) -> None:
        """Something the trace cannot replay happened (an in-place write, ``grad()`` …)."""

    def read(self, what: str, values: tuple[Any, ...]) -> None:
        """Python reads the value of the tensors among ``values`` (``what`` says how)."""

    def backward(self, tensor: Any, seed: Any, retain_graph: bool) -> None:
        """Run (and record) ``tensor.backward()`` with the seed gradient ``seed``."""

    def unit(self, owner: Any, method: str, *args: Any) -> Any:
        """Run (and record, as one replayed call) ``owner.<method>(*args)``: an optimiser's
        ``step`` or a ``zero_grad``, which read and write values on their own."""


class _State(threading.local):
    tracer: Tracer | None = None


state = _State()


def value_read(what: str, *values: Any) -> None:
    """The value of the tensors among ``values`` is about to leave the engine (``what`` names
    how, for the message)."""
    tracer = state.tracer
    if tracer is not None:
        tracer.read(what, values)


def value_write(what: str) -> None:
    """A tensor's memory is about to be changed in place."""
    tracer = state.tracer
    if tracer is not None:
        tracer.escape(f"{what} changes a tensor in place")
