"""Smoke test of the benchmark scripts: they run at tiny sizes. No timing is asserted."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")
SCRIPTS = ["bench_overhead", "bench_mlp", "bench_chain", "bench_epoch", "bench_fit_checks"]


@pytest.fixture(scope="module")
def benchmarks_on_path():
    sys.path.insert(0, BENCHMARKS)
    yield
    sys.path.remove(BENCHMARKS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_script_runs(script, benchmarks_on_path, tmp_path, capsys):
    module = importlib.import_module(script)
    # --no-compare: the optional PyTorch / autograd columns would only add import time here.
    # A data directory that does not exist exercises the epoch benchmark's fallback.
    extra = ["--data-dir", str(tmp_path / "missing")] if script == "bench_epoch" else []
    module.main(["--smoke", "--no-compare", *extra])
    out = capsys.readouterr().out
    assert "| " in out  # printed its table
    if script == "bench_epoch":
        assert "no MNIST-format data" in out


def test_run_all_knows_every_script(benchmarks_on_path):
    run_all = importlib.import_module("run_all")
    listed = sorted(name for name in os.listdir(BENCHMARKS)
                    if name.startswith("bench_") and name.endswith(".py"))
    assert sorted(run_all.SCRIPTS) == listed
