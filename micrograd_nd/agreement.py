"""When two computations of one gradient agree, and the table that shows where they do not.

Every checker that compares whole gradient arrays — :func:`micrograd_nd.compare.compare_gradients`
(delta rule, autodiff, central differences, per layer) and
:func:`micrograd_nd.manual.compare_manual` (your gradient, autodiff, central differences, per
parameter) — judges each pair of arrays ``u``, ``v`` of one quantity element by element::

    scale   = max_i max(|u_i|, |v_i|)                      the largest magnitude in either array
    size_i  = max(|u_i|, |v_i|, FLOOR · scale)             FLOOR = 1e-3
    passes  ⇔  |u_i − v_i| ≤ atol + rtol · size_i   for every element i
    max abs = max_i |u_i − v_i|        max rel = max_i |u_i − v_i| / size_i

Every element is measured against its own magnitude, so a small element cannot hide behind a
large one (an intercept gradient of 1.66 left out next to a weight gradient of 4·10⁷ fails).
Elements far below the array's scale — saturated units, switched-off ReLUs, sums that cancel
to almost nothing — are measured against a thousandth of it instead, where rounding in a
long sum lives. A NaN or infinity anywhere fails the row. Each row names the worst element
(the one furthest beyond, or nearest to, its tolerance) and every oracle's value there.

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
    "scaled_for_the_loss",
    "tolerances_for_pairs",
]


class GradientMismatchError(AssertionError):
    """Gradients disagree: the message is the comparison table, failing rows marked ``FAIL``."""


# The share of an array's largest magnitude below which an element is judged on that floor.
FLOOR = 1e-3


class Tolerance(NamedTuple):
    """A row passes when every ``|u_i − v_i| ≤ atol + rtol · size_i`` (see the module doc)."""

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


def scaled_for_the_loss(pairs: Mapping[str, Tolerance], loss: float) -> dict[str, Tolerance]:
    """The pairs with central differences get their atol multiplied by ``max(1, |loss|)``.

    A central difference (f(x + h) − f(x − h)) / 2h carries the rounding error of the two
    losses divided by the step, about u·|loss|/h (u = 2.2e-16) and more when the loss is a
    small difference of large values: it grows with the loss, whatever the size of the
    gradient (a loss of 10⁹ makes it 0.2 at h = 1e-6).
    """
    factor = max(1.0, abs(float(loss)))
    return {pair: Tolerance(atol * factor, rtol) if "numeric" in pair else tolerance
            for pair, tolerance in pairs.items() for atol, rtol in [tolerance]}


@dataclass(frozen=True)
class Row:
    """The disagreement between two oracles on one quantity (a parameter, a layer's dW, …)."""

    quantity: str
    pair: str  # "left vs right", both names of oracles
    max_abs: float
    max_rel: float  # the largest |u_i − v_i| / size_i
    scale: float  # the largest magnitude in either array
    index: tuple[int, ...]  # the worst element, in the quantity's own shape
    values: Mapping[str, float]  # every oracle's value at that element
    tolerance: Tolerance
    within: bool = True  # every element within atol + rtol · size_i

    @property
    def passed(self) -> bool:
        # A NaN or infinity in either array makes the scale non-finite: the row fails (an
        # infinite scale would otherwise let inf ≤ atol + rtol·inf pass).
        return bool(math.isfinite(self.scale) and self.within)


def compare_pair(
    quantity: str, pair: str, arrays: Mapping[str, np.ndarray], tolerance: Tolerance
) -> Row:
    """The row for ``pair`` ("left vs right") of the same-shaped ``arrays`` (oracle → array)."""
    left, right = (arrays[name] for name in pair.split(" vs "))
    if left.size == 0:
        return Row(quantity, pair, 0.0, 0.0, 0.0, (), {}, tolerance)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        difference = np.abs(left - right)
        magnitude = np.maximum(np.abs(left), np.abs(right))
        scale = float(np.max(magnitude))
        finite_scale = float(np.max(magnitude, where=np.isfinite(magnitude), initial=0.0))
        size = np.maximum(magnitude, FLOOR * finite_scale)
        excess = difference - (tolerance.atol + tolerance.rtol * size)
        relative = np.where(difference == 0, 0.0, difference / size)
    # A NaN or infinite difference is the worst disagreement: it is made the largest excess.
    excess = np.where(np.isfinite(difference), excess, np.inf)
    flat = int(np.argmax(excess))
    index = tuple(int(i) for i in np.unravel_index(flat, left.shape))
    values = {name: float(array[index]) for name, array in arrays.items()}
    return Row(quantity, pair, float(np.max(difference)), float(np.max(relative)), scale, index,
               values, tolerance, within=bool(np.all(excess <= 0)))


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
