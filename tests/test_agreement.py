"""The measure every checker's table uses, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from micrograd_nd.agreement import (
    GradientMismatchError,
    Report,
    Tolerance,
    check_tolerance,
    compare_pair,
    tolerances_for_pairs,
)


def _row(u, v, atol=0.0, rtol=1e-8, w=None):
    arrays = {"a": np.asarray(u, dtype=np.float64), "b": np.asarray(v, dtype=np.float64)}
    if w is not None:
        arrays["c"] = np.asarray(w, dtype=np.float64)
    return compare_pair("W", "a vs b", arrays, Tolerance(atol, rtol))


def test_max_abs_max_rel_worst_element_and_values_by_hand():
    row = _row([[1.0, -4.0], [2.0, 0.5]], [[1.0, -4.2], [2.1, 0.5]], w=[[9, 8], [7, 6]])
    assert row.max_abs == pytest.approx(0.2)  # |−4 − (−4.2)|
    assert row.scale == 4.2 and row.max_rel == pytest.approx(0.2 / 4.2)
    assert row.index == (0, 1)
    assert row.values == {"a": -4.0, "b": -4.2, "c": 8.0}
    assert not row.passed
    assert _row([1.0, -4.0], [1.0, -4.2], rtol=0.05).passed  # 0.2 ≤ 0.05 · 4.2
    assert not _row([1.0, -4.0], [1.0, -4.2], rtol=0.04).passed  # 0.2 > 0.04 · 4.2
    assert _row([1.0], [1.5], atol=0.5, rtol=0.0).passed


def test_small_entries_do_not_blow_up_the_relative_measure():
    row = _row([1.0, 1e-20], [1.0, 2e-20])  # 100 % off on an entry 1e20 times smaller
    assert row.max_rel == pytest.approx(1e-20) and row.passed


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_fails_the_row_and_is_the_worst_element(bad):
    row = _row([1.0, 2.0, 3.0], [1.0, bad, 3.0], atol=1e300, rtol=1e300)
    assert not row.passed
    assert row.index == (1,)


def test_both_non_finite_still_fails():
    assert not _row([np.nan], [np.nan], atol=1.0, rtol=1.0).passed
    assert not _row([np.inf], [np.inf], atol=1.0, rtol=1.0).passed


def test_zeros_and_empty_arrays_pass_and_a_difference_from_zero_fails():
    assert _row([0.0, 0.0], [0.0, 0.0]).passed
    assert _row(np.zeros((0, 3)), np.zeros((0, 3))).passed
    row = _row([0.0], [1e-30])
    assert row.max_rel == 1.0 and not row.passed  # exact zero vs not: nothing to scale by


def test_tolerances_are_checked_and_merged():
    defaults = {"a vs b": (1e-10, 1e-8), "a vs c": (1e-6, 1e-5)}
    merged = tolerances_for_pairs("check", defaults, {"a vs c": (0, 1e-3)})
    assert merged == {"a vs b": Tolerance(1e-10, 1e-8), "a vs c": Tolerance(0.0, 1e-3)}
    with pytest.raises(ValueError, match=r"check: unknown tolerance pair 'b vs c'; the pairs "
                                         r"are \['a vs b', 'a vs c'\]"):
        tolerances_for_pairs("check", defaults, {"b vs c": (0, 0)})
    with pytest.raises(TypeError, match=r"must be a dict"):
        tolerances_for_pairs("check", defaults, [("a vs b", (0, 0))])
    for bad in (-1e-9, np.nan, np.inf):
        with pytest.raises(ValueError, match=r"atol must be a finite number ≥ 0"):
            check_tolerance(bad, "atol")
    with pytest.raises(TypeError, match=r"atol must be a real number, got bool"):
        check_tolerance(True, "atol")


def test_report_table_marks_failures_and_assert_passed_raises_it():
    rows = (_row([1.0, 2.0], [1.0, 2.0]), _row([1.0, 2.0], [1.0, 3.0]))
    report = Report(("a", "b"), rows)
    assert not report.passed and report.failures == [rows[1]]
    lines = report.table().splitlines()
    assert lines[0].split()[:2] == ["quantity", "pair"]
    assert lines[2].startswith("ok    W ") and lines[3].startswith("FAIL ")
    with pytest.raises(GradientMismatchError, match=r"1 of 2 comparisons") as caught:
        report.assert_passed()
    assert report.table() in str(caught.value)
    Report(("a", "b"), rows[:1]).assert_passed()  # nothing raised


def test_a_small_element_cannot_hide_behind_a_large_one():
    """An intercept gradient of 1.66 left out, next to a weight gradient of 4.2e7."""
    row = _row([4.2e7, 0.0], [4.2e7, 1.66], rtol=1e-7)
    assert not row.passed and row.index == (1,)
    assert row.max_rel == pytest.approx(1.66 / (1e-3 * 4.2e7))  # judged on the floor


def test_elements_far_below_the_scale_are_judged_on_a_thousandth_of_it():
    # 1e-12 apart on an element of 1e-12 (100 % relative), in an array whose scale is 1:
    # rounding in a long sum lives at that level, so it passes at rtol 1e-7 ...
    assert _row([1.0, 1e-12], [1.0, 2e-12], rtol=1e-7).passed
    # ... while an error of 1e-9 there, 10× a ten-millionth of a thousandth of 1, fails.
    assert not _row([1.0, 1e-12], [1.0, 1e-9], rtol=1e-7).passed
