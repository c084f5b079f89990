"""When two computations of one gradient agree, and the table that shows where they do not.

Every checker that compares whole gradient arrays — :func:`micrograd_nd.compare.compare_gradients`
(delta rule, autodiff, central differences, per layer) and
:func:`micrograd_nd.manual.compare_manual` (your gradient, autodiff, central differences, per
parameter) — measures each pair of arrays ``u``, ``v`` of one quantity the same way::

    max abs = max_i |u_i − v_i|
    scale   = max_i max(|u_i|, |v_i|)          the largest magnitude in either array
    max rel = max abs / scale                  (0 when both arrays are all zeros)
    passes  ⇔  max abs ≤ atol + rtol · scale

Measuring against the array's largest magnitude reads the same at any scale of the gradient,
and elements that are (nearly) zero — saturated units, switched-off ReLUs — do not blow it up.
A NaN or infinity anywhere fails the row. Each row also names the worst element (largest
``|u − v|``) and every oracle's value there.

NumPy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .finite_differences import real_number

__all__ = [
    "GradientMismatchError",
    "Report",
    "Row",
    "Tolerance",
    "check_tolerance",
    "compare_pair",
    "tolerances_for_pairs",
]


class GradientMismatchError(AssertionError):
    """Gradients disagree: the message is the comparison table, failing rows marked ``FAIL``."""


class Tolerance(NamedTuple):
    """A row passes when ``max abs ≤ atol + rtol · scale``."""

    atol: float
    rtol: float


def check_tolerance(value: Any, what: str) -> float:
    """A tolerance: a finite real number ≥ 0 (a negative one would pass nothing or, with the
    other one negative too, everything)."""
    number = real_number(value, what)
    if not (np.isfinite(number) and number >= 0.0):
        raise ValueError(f"{what} must be a finite number ≥ 0, got {number}")
    return number


def tolerances_for_pairs(
    caller: str,
    defaults: Mapping[str, tuple[float, float]],
    overrides: Mapping[str, Any] | None,
) -> dict[str, Tolerance]:
    """``defaults`` updated with the user's ``{pair: (atol, rtol)}``, every entry checked."""
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, Mapping):
        raise TypeError(
            f"{caller}: tolerances must be a dict {{pair: (atol, rtol)}}, "
            f"got {type(overrides).__name__}"
        )
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(
            f"{caller}: unknown tolerance pair {unknown[0]!r}; the pairs are {list(defaults)}"
        )
    result = {}
    for pair, value in {**defaults, **overrides}.items():
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
            raise TypeError(f"{caller}: tolerances[{pair!r}] must be a pair (atol, rtol), "
                            f"got {value!r}")
        result[pair] = Tolerance(
            check_tolerance(value[0], f"{caller}: atol of {pair!r}"),
            check_tolerance(value[1], f"{caller}: rtol of {pair!r}"),
        )
    return result


@dataclass(frozen=True)
class Row:
    """The disagreement between two oracles on one quantity (a parameter, a layer's dW, …)."""

    quantity: str
    pair: str  # "left vs right", both names of oracles
    max_abs: float
    max_rel: float
    scale: float  # the largest magnitude in either array
    index: tuple[int, ...]  # the worst element, in the quantity's own shape
    values: Mapping[str, float]  # every oracle's value at that element
    tolerance: Tolerance

    @property
    def passed(self) -> bool:
        # A NaN or infinity in either array makes the scale non-finite: the row fails (an
        # infinite scale would otherwise let inf ≤ atol + rtol·inf pass).
        return bool(math.isfinite(self.scale)
                    and self.max_abs <= self.tolerance.atol + self.tolerance.rtol * self.scale)


def compare_pair(
    quantity: str, pair: str, arrays: Mapping[str, np.ndarray], tolerance: Tolerance
) -> Row:
    """The row for ``pair`` ("left vs right") of the same-shaped ``arrays`` (oracle → array)."""
    left, right = (arrays[name] for name in pair.split(" vs "))
    if left.size == 0:
        return Row(quantity, pair, 0.0, 0.0, 0.0, (), {}, tolerance)
    with np.errstate(invalid="ignore", over="ignore"):
        difference = np.abs(left - right)
        magnitude = np.maximum(np.abs(left), np.abs(right))
    # NaN counts as the worst disagreement: argmax of a NaN array picks the first NaN.
    flat = int(np.argmax(np.where(np.isnan(difference), np.inf, difference)))
    index = tuple(int(i) for i in np.unravel_index(flat, left.shape))
    max_abs = float(difference[index])
    scale = float(np.max(magnitude))
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    values = {name: float(array[index]) for name, array in arrays.items()}
    return Row(quantity, pair, max_abs, max_rel, scale, index, values, tolerance)


def _number(value: float, width: int, digits: int) -> str:
    return f"{value:>{width}.{digits}e}"


@dataclass(frozen=True)
class Report:
    """Rows of :func:`compare_pair`, one per quantity and pair, and the table they print as."""

    oracles: tuple[str, ...]  # the value columns, in order
    rows: tuple[Row, ...]

    @property
    def passed(self) -> bool:
        """True when every row is within its tolerance."""
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> list[Row]:
        return [row for row in self.rows if not row.passed]

    def table(self) -> str:
        """One line per quantity and pair: ``FAIL`` or ``ok``, max abs, max rel, the worst
        element's index and every oracle's value there."""
        quantity_width = max([len("quantity"), *(len(row.quantity) for row in self.rows)])
        pair_width = max([len("pair"), *(len(row.pair) for row in self.rows)])
        index_width = max([len("worst at"), *(len(str(row.index)) for row in self.rows)])
        header = (
            f"{'':4}  {'quantity':<{quantity_width}}  {'pair':<{pair_width}}  "
            f"{'max abs':>9}  {'max rel':>9}  {'worst at':<{index_width}}"
            + "".join(f"  {name:>14}" for name in self.oracles)
        )
        lines = [header, "-" * len(header)]
        previous = None
        for row in self.rows:
            shown = row.quantity if row.quantity != previous else ""
            previous = row.quantity
            values = "".join(
                f"  {_number(row.values[name], 14, 7)}" if name in row.values else f"  {'':>14}"
                for name in self.oracles
            )
            lines.append(
                f"{'ok' if row.passed else 'FAIL':4}  {shown:<{quantity_width}}  "
                f"{row.pair:<{pair_width}}  {_number(row.max_abs, 9, 2)}  "
                f"{_number(row.max_rel, 9, 2)}  {row.index!s:<{index_width}}{values}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def assert_passed(self) -> None:
        """Raise :class:`GradientMismatchError` (an AssertionError) with the table, if a row
        fails."""
        if not self.passed:
            failures = self.failures
            raise GradientMismatchError(
                f"{len(failures)} of {len(self.rows)} comparisons exceed their tolerance "
                f"(first: {failures[0].quantity}, {failures[0].pair}):\n{self.table()}"
            )
