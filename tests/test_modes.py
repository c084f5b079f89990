"""Grad mode and anomaly mode are per thread (like PyTorch's); the default dtype is
process-wide (like NumPy's and PyTorch's settings). Each test runs two threads at once."""

from __future__ import annotations

import threading

import numpy as np

import micrograd_nd as mg


def _in_other_thread_while(mode_factory, probe):
    """Run ``probe`` in a second thread while this thread is inside ``mode_factory()``."""
    entered, probed = threading.Event(), threading.Event()
    seen = {}

    def other():
        entered.wait(5)
        seen["value"] = probe()
        probed.set()

    thread = threading.Thread(target=other)
    thread.start()
    with mode_factory():
        inside = probe()
        entered.set()
        probed.wait(5)
    thread.join(5)
    return inside, seen["value"]


def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    def recorded():
        return (mg.Tensor([1.0], requires_grad=True) * 2.0).requires_grad

    inside, other = _in_other_thread_while(mg.no_grad, recorded)
    assert inside is False and other is True


def test_anomaly_mode_in_one_thread_does_not_check_another():
    def anomaly_raised():
        try:
            mg.log(mg.Tensor([-1.0]))
        except mg.AnomalyError:
            return True
        return False

    with np.errstate(invalid="ignore"):
        inside, other = _in_other_thread_while(mg.detect_anomaly, anomaly_raised)
    assert inside is True and other is False


def test_the_default_dtype_is_process_wide():
    before = mg.get_default_dtype()
    try:
        thread = threading.Thread(target=mg.set_default_dtype, args=(np.float32,))
        thread.start()
        thread.join(5)
        assert mg.get_default_dtype() == np.float32
        assert mg.Tensor([1.0]).dtype == np.float32
    finally:
        mg.set_default_dtype(before)
