"""detect_anomaly(): NaN/inf in a value or a gradient names the op and the user's line."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import micrograd_nd as mg
from micrograd_nd import is_anomaly_enabled

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's own 1/0 warnings


def _line_of(marker: str) -> int:
    """Line number of the source line in this file containing ``marker``."""
    lines = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(
        number for number, text in enumerate(lines, start=1)
        if marker in text and "_line_of" not in text
    )


def test_off_by_default_nan_flows_without_error_and_records_no_location():
    assert not is_anomaly_enabled()
    x = mg.Tensor([0.0, 1.0], requires_grad=True)
    y = mg.log(x)  # -inf, no error
    assert np.isneginf(y.data[0])
    assert y._node.location is None  # no stack walk when off
    y.sum().backward()
    assert np.isinf(x.grad.data[0])


def test_forward_inf_names_the_op_and_the_users_line():
    x = mg.Tensor([0.0, 1.0], requires_grad=True)
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError) as info:
        mg.log(x)  # MARK-forward
    message = str(info.value)
    assert "'log' produced inf in its value" in message
    assert f"test_anomaly.py:{_line_of('MARK-forward')} in " in message
    assert "mg.log(x)" in message


def test_forward_nan_is_reported_as_nan():
    x = mg.Tensor([-1.0, 1.0], requires_grad=True)
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError, match="'log' produced NaN"):
        mg.log(x)


def test_backward_of_sqrt_at_zero_names_power_and_the_forward_line():
    x = mg.Tensor([0.0, 4.0], requires_grad=True)
    with mg.detect_anomaly():
        y = mg.sqrt(x).sum()  # MARK-sqrt
        with pytest.raises(mg.AnomalyError) as info:
            y.backward()
    message = str(info.value)
    assert "'power' produced inf in its gradient for input 0" in message
    assert f":{_line_of('MARK-sqrt')} in " in message


def test_no_nan_gradient_through_where_and_anomaly_mode_still_names_log():
    """where(x > 0, log(x), 0) at x = 0: the unselected branch gets 0, not 0 · log′(0) = NaN."""
    x = mg.Tensor([0.0, 2.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        mg.where(x > 0, mg.log(x), 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5])  # d/dx: 0 where unused, 1/x
    x.grad = None
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError, match="'log' produced inf"):
        mg.where(x > 0, mg.log(x), 0.0)
    # The "double where" keeps even the forward value finite, so anomaly mode is quiet.
    with mg.detect_anomaly():
        safe = mg.where(x > 0, x, 1.0)
        mg.where(x > 0, mg.log(safe), 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5])


def test_finite_computation_passes_unchanged_under_anomaly_mode():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, size=(3, 4))
    x = mg.Tensor(a, requires_grad=True)
    with mg.detect_anomaly():
        (mg.log(x) * mg.tanh(x)).sum().backward()
    expected = 1.0 / a * np.tanh(a) + np.log(a) * (1.0 - np.tanh(a) ** 2)
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)


def test_works_as_a_decorator_and_restores_the_mode():
    @mg.detect_anomaly()
    def step(t):
        assert is_anomaly_enabled()
        return mg.log(t)

    with pytest.raises(mg.AnomalyError, match="'log'"):
        step(mg.Tensor([0.0]))
    assert not is_anomaly_enabled()
    step(mg.Tensor([1.0]))  # a finite call through the same decorated function is fine
    assert not is_anomaly_enabled()


def test_nested_blocks_keep_the_mode_on_until_the_outermost_exits():
    outer = mg.detect_anomaly()
    with outer:
        with mg.detect_anomaly():
            assert is_anomaly_enabled()
        assert is_anomaly_enabled()
        with pytest.raises(mg.AnomalyError):
            mg.exp(mg.Tensor([1e5]))  # overflow to inf
        with outer:  # re-entering the same instance
            assert is_anomaly_enabled()
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()


def test_mode_is_restored_after_an_error_inside_the_block():
    with pytest.raises(mg.AnomalyError), mg.detect_anomaly():
        mg.log(mg.Tensor([0.0]))
    assert not is_anomaly_enabled()
    mg.log(mg.Tensor([0.0]))  # no error once off


def test_integer_results_are_not_checked():
    with mg.detect_anomaly():
        out = mg.Tensor(np.array([1, 2])) + 1
    np.testing.assert_array_equal(out.data, [2, 3])
