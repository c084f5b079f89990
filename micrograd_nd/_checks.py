"""Argument checks shared by the functional and the nn layers: one message format for each.

Nothing here knows about tensors; every check names the caller (``op``) and the argument.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["check_choice", "check_int", "check_real"]


def check_real(
    op: str,
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """``float(value)`` after checking it is a finite real number in [low, high] (or (low, …]).

    A non-number (or a bool) is a TypeError; NaN, ±∞ or a value out of range a ValueError.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__}")
    number = float(value)
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and number > high
    if not math.isfinite(number) or below or above:
        if low is None and high is None:
            wanted = "a finite number"
        else:
            opening = "(" if low_open else "["
            lower = "-∞" if low is None else f"{low:g}"
            upper = "∞)" if high is None else f"{high:g}]"
            wanted = f"a finite number in {opening}{lower}, {upper}"
        raise ValueError(f"{op}: {name} must be {wanted}, got {value!r}")
    return number


def check_choice(op: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{op}: {name} must be one of {choices}, got {value!r}")
    return value


def check_int(op: str, name: str, value: Any) -> int:
    """``int(value)`` after checking it is an integer (not a bool, not a float)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__}")
    return int(value)
