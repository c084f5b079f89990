"""Grad mode and anomaly mode: per-thread switches the engine consults.

Grad mode says whether new operations are recorded (``no_grad``); anomaly mode whether every
value and gradient is checked for NaN and inf (``detect_anomaly``). Both are per thread, like
PyTorch's, so a model evaluated under ``no_grad()`` in one thread does not stop another
thread's training from being recorded.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
import threading
from typing import Any

import numpy as np

__all__ = [
    "AnomalyError",
    "detect_anomaly",
    "enable_grad",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]


class AnomalyError(FloatingPointError):
    """Under ``detect_anomaly()``: an op produced NaN or inf in its value or its gradient."""


# ---------------------------------------------------------------------------------------------
# Grad mode: whether new operations are recorded. Per thread, like PyTorch's.
# ---------------------------------------------------------------------------------------------
class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require gradients are being recorded."""
    return _grad_mode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn graph recording on or off inside a ``with`` block or a decorated function."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._saved: list[bool] = []  # a stack, so one instance may be re-entered (recursion)

    def __enter__(self) -> None:
        self._saved.append(_grad_mode.enabled)
        _grad_mode.enabled = self.mode

    def __exit__(self, *exc_info: object) -> None:
        _grad_mode.enabled = self._saved.pop()


class no_grad(set_grad_enabled):
    """Record nothing: results of operations need no gradient (evaluation, parameter updates).

    Usable as ``with no_grad():`` and as a decorator ``@no_grad()``.
    """

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record operations again, inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)


# ---------------------------------------------------------------------------------------------
# Anomaly mode: find the first op whose value or gradient is not finite. Off by default (it
# costs a scan of every result and a stack walk per recorded op).
# ---------------------------------------------------------------------------------------------
class _AnomalyMode(threading.local):
    enabled = False


_anomaly_mode = _AnomalyMode()
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def is_anomaly_enabled() -> bool:
    return _anomaly_mode.enabled


class detect_anomaly(contextlib.ContextDecorator):
    """Raise :class:`AnomalyError` at the first op whose value or gradient has NaN or inf.

    The error names the op and the line of *your* code that created it (recorded for every op
    while the mode is on).
    """

    def __init__(self) -> None:
        self._saved: list[bool] = []

    def __enter__(self) -> None:
        self._saved.append(_anomaly_mode.enabled)
        _anomaly_mode.enabled = True

    def __exit__(self, *exc_info: object) -> None:
        _anomaly_mode.enabled = self._saved.pop()


def user_code_location() -> str:
    """``file:line in function: source`` of the innermost caller outside this package."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown location>"
    filename, line = frame.f_code.co_filename, frame.f_lineno
    source = linecache.getline(filename, line).strip()
    return f"{filename}:{line} in {frame.f_code.co_name}" + (f": {source}" if source else "")


def check_finite(op: str, array: Any, what: str, location: str | None) -> None:
    """Raise :class:`AnomalyError` if ``array`` has NaN or inf (anomaly mode only)."""
    if array.dtype.kind != "f" or np.isfinite(array).all():
        return
    kind = "NaN" if np.isnan(array).any() else "inf"
    raise AnomalyError(
        f"'{op}' produced {kind} in its {what} (op created at {location or user_code_location()})"
    )
