"""docs/manual-gradients.md runs as written: its snippets execute in order, the tables it shows
are what they print, and the two promises of its workflow hold (a verdict per parameter in at
most 5 lines, a property test in at most 8)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, find, settings

import micrograd_nd as mg
from micrograd_nd import manual
from micrograd_nd.agreement import GradientMismatchError
from micrograd_nd.testing import network_problems

DOC = Path(__file__).resolve().parent.parent / "docs" / "manual-gradients.md"
# Rows whose max rel is below this are rounding or finite-difference noise: the index of the
# worst element and the digits differ between machines, so only their verdict is compared.
NOISE = 1e-6


def test_compare_manual_is_exported_as_the_docs_write_it():
    assert mg.compare_manual is manual.compare_manual


def _blocks() -> list[tuple[str, str]]:
    return re.findall(r"```(python|text)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _code_lines(code: str) -> int:
    return sum(1 for line in code.splitlines() if line.strip() and not line.startswith("#"))


def _run_in_order() -> tuple[dict, list[tuple[str, str]]]:
    """Execute every python block except the property test; pair each printed table with the
    text block shown after it."""
    namespace: dict = {}
    shown = []
    output = None
    for kind, code in _blocks():
        if kind == "python":
            if "@given" in code:
                continue
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(code, namespace)
            output = buffer.getvalue()
        elif code.splitlines()[0].split()[:1] == ["quantity"] and output is not None:
            shown.append((output, code))
            output = None
    return namespace, shown


def _row(line: str) -> dict:
    fields = line.split()
    status, rest = fields[0], fields[1:]
    if rest[0] not in ("manual", "autodiff"):  # the first row of a parameter names it
        rest = rest[1:]
    pair = " ".join(rest[:3])
    max_abs, max_rel = float(rest[3]), float(rest[4])
    return {"status": status, "pair": pair, "max_abs": max_abs, "max_rel": max_rel,
            "rest": rest[5:], "quantity": fields[1] if fields[1] != rest[0] else None}


def test_the_tables_shown_are_what_the_snippets_print():
    _, shown = _run_in_order()
    assert len(shown) == 2
    for printed, documented in shown:
        printed_lines = printed.strip("\n").splitlines()
        documented_lines = documented.strip("\n").splitlines()
        assert printed_lines[:2] == documented_lines[:2]
        assert len(printed_lines) == len(documented_lines)
        for got, want in zip(printed_lines[2:], documented_lines[2:], strict=True):
            got_row, want_row = _row(got), _row(want)
            assert (got_row["status"], got_row["pair"], got_row["quantity"]) == (
                want_row["status"], want_row["pair"], want_row["quantity"])
            if want_row["max_rel"] >= NOISE:  # a real difference: every digit shown agrees
                assert got == want
            else:
                assert got_row["max_rel"] < NOISE


def test_the_verdict_takes_at_most_five_lines_and_the_property_test_at_most_eight():
    verdict = next(code for kind, code in _blocks() if "report = mg.compare_manual" in code)
    prop = next(code for kind, code in _blocks() if "@given" in code)
    assert _code_lines(verdict) <= 5
    assert _code_lines(prop) <= 8


def test_the_property_test_passes_for_the_right_derivation_and_fails_for_the_wrong_one():
    namespace, _ = _run_in_order()
    prop = next(code for kind, code in _blocks() if "@given" in code)
    exec(prop, namespace)
    namespace["test_my_gradient"]()
    wrong = dict(namespace)
    exec(prop.replace("my_gradient, p.params", "forgot_g_prime, p.params"), wrong)
    with pytest.raises(GradientMismatchError, match=r"comparisons exceed their tolerance"):
        wrong["test_my_gradient"]()


def test_the_failure_shrinks_to_two_layers_of_width_one_and_one_sample():
    """What the docs promise the failing property test prints."""
    namespace, _ = _run_in_order()

    def fails(p) -> bool:
        report = mg.compare_manual(namespace["loss"], namespace["forgot_g_prime"], p.params,
                                   args=(p.X, p.y))
        return not report.passed

    smallest = find(network_problems(activations="tanh", output_activation="identity"), fails,
                    settings=settings(database=None, derandomize=True,
                                      suppress_health_check=list(HealthCheck)))
    assert smallest.layer_sizes == (1, 1, 1) and smallest.X.shape == (1, 1)
    assert smallest.activations == ("tanh", "identity")
    text = DOC.read_text(encoding="utf-8")
    assert "p=NetworkProblem(layer_sizes=(1, 1, 1),\nE        activations=('tanh', 'identity')," \
        in text


def test_the_custom_op_with_a_wrong_rule_is_caught():
    namespace, _ = _run_in_order()
    block = next(code for kind, code in _blocks() if "mg.custom_op(" in code)
    assert "np.exp(-x)" in block
    with pytest.raises(mg.GradcheckError, match=r"input 0, Jacobian element"):
        exec(block.replace("np.exp(-x)", "np.exp(x)"), namespace)
