"""scripts/regenerate_numbers.py: parsing, rewriting between markers, and drift detection.

The slow part (re-running every example) is ``--check`` in .ci/run; here the one command that
takes a fraction of a second is run for real, and everything else on small texts.
"""

from __future__ import annotations

import copy
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def numbers_script():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return importlib.import_module("regenerate_numbers")
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def test_number_picks_and_formats(numbers_script):
    Number = numbers_script.Number
    text = "a 0.5\na 3e-07\na 2.5e-06\nb 7\n"
    assert Number(r"^b (\S+)").find(text) == "7"
    assert Number(r"^a (\S+)", pick="first").find(text) == "0.5"
    assert Number(r"^a (\S+)", pick="last").find(text) == "2.5e-06"
    assert Number(r"^a (\S+)", pick="max").find(text) == "0.5"
    assert Number(r"^a (\S+)", pick="min").find(text) == "3e-07"
    assert Number(r"^a (\S+)", pick="min", style=".1e").write("3e-07") == "3.0e-07"
    assert Number(r"^a (\S+)").write("0.9805") == "0.9805"  # as printed
    with pytest.raises(ValueError, match="matched 3 times"):
        Number(r"^a (\S+)").find(text)
    with pytest.raises(ValueError, match="matched 0 times"):
        Number(r"^c (\S+)").find(text)


def max_rel_by_pair(output: str) -> dict[str, list[float]]:
    """Max rel of every row of a printed comparison table, by pair ("rule vs autodiff", ...),
    read by splitting each line into words."""
    found: dict[str, list[float]] = {}
    for line in output.splitlines():
        words = line.split()
        if "vs" in words[1:4]:
            at = words.index("vs")
            pair = f"{words[at - 1]} vs {words[at + 1]}"
            found.setdefault(pair, []).append(float(words[at + 3]))
    return found


@pytest.mark.parametrize("name, quick_arguments", [
    ("compare", []),
    ("digits", ["--quick", "--out-dir", "{tmp}"]),  # one pair only
])
def test_the_gradient_table_patterns_read_every_row(numbers_script, tmp_path, name,
                                                     quick_arguments):
    """Against the tables the commands print, read independently."""
    command = numbers_script.BY_NAME[name]
    argv = [arg if not arg.endswith(".py") else str(ROOT / arg)
            for arg in command.command.split()[1:]]
    argv += [arg.format(tmp=tmp_path) for arg in quick_arguments]
    done = subprocess.run([sys.executable, *argv], cwd=tmp_path, capture_output=True,
                          text=True, check=True, timeout=300)
    pairs = max_rel_by_pair(done.stdout)
    assert len(pairs["rule vs autodiff"]) in (6, 9)  # 2 or 3 layers × (δ, dW, db)
    assert float(command.numbers["rule_vs_autodiff"].find(done.stdout)) \
        == max(pairs["rule vs autodiff"])
    if "vs_numeric" in command.numbers:
        numeric = pairs["rule vs numeric"] + pairs["autodiff vs numeric"]
        assert len(numeric) == 2 * len(pairs["rule vs autodiff"])
        assert float(command.numbers["vs_numeric"].find(done.stdout)) == max(numeric)


def test_rewrite_replaces_only_the_text_between_markers(numbers_script):
    owned = numbers_script.Block("f.md", "x", lambda n: "new 1\nnew 2")
    text = "before\n<!-- numbers:x -->\nold\n<!-- /numbers:x -->\nafter\n"
    got = numbers_script.rewrite(text, owned, None)
    assert got == "before\n<!-- numbers:x -->\n\nnew 1\nnew 2\n\n<!-- /numbers:x -->\nafter\n"
    assert numbers_script.rewrite(got, owned, None) == got  # idempotent
    for broken in ("no markers\n", text + text):
        with pytest.raises(SystemExit, match="expected one '<!-- numbers:x -->'"):
            numbers_script.rewrite(broken, owned, None)


def test_the_committed_docs_are_what_the_record_renders(numbers_script):
    """A hand edit inside a marked block (or a stale record) fails here, without running
    anything; `python scripts/regenerate_numbers.py --render` repairs it."""
    record = numbers_script.load_record()
    for file, (now, expected) in numbers_script.rendered_files(
            numbers_script.Numbers(record)).items():
        assert now == expected, f"{file} differs from docs/numbers.json"


def test_every_number_is_quoted_and_every_quote_is_measured(numbers_script):
    record = numbers_script.load_record()
    quoted = set()

    class Recording(numbers_script.Numbers):
        def __getitem__(self, key):
            quoted.add(key)
            return super().__getitem__(key)

    for owned in numbers_script.BLOCKS:
        owned.render(Recording(record))
    defined = {f"{command.name}.{name}" for command in numbers_script.COMMANDS
               for name in command.numbers}
    assert quoted == defined, (f"defined but never quoted: {sorted(defined - quoted)}; "
                               f"quoted but not defined: {sorted(quoted - defined)}")


def test_check_reports_a_number_that_drifted(numbers_script):
    record = numbers_script.load_record()
    command = numbers_script.BY_NAME["compare"]
    fresh = numbers_script.Run(command, dict(record["compare"]["values"]))
    assert numbers_script.drifted(record, [fresh]) == []
    recorded = record["compare"]["values"]["vs_numeric"]  # as printed, e.g. 2.40e-07
    shown = f"{float(recorded):.1e}"  # as the docs write it
    # Below the precision the docs show: not drift.
    nearby = numbers_script.Run(command, {**fresh.values,
                                          "vs_numeric": f"{float(recorded) * 1.0001:.4e}"})
    assert numbers_script.drifted(record, [nearby]) == []
    other = f"{float(recorded) * 1.3:.1e}"
    moved = numbers_script.Run(command, {**fresh.values, "vs_numeric": other})
    assert numbers_script.drifted(record, [moved]) == [
        f"compare.vs_numeric: the docs say {shown}, `{command.command}` prints {other} now"]


def test_timing_numbers_are_kept_unless_timings_are_measured(numbers_script):
    record = numbers_script.load_record()
    command = numbers_script.BY_NAME["digits"]
    values = {"accuracy": "0.5", "reloaded": "0.5", "rule_vs_autodiff": "1e-17",
              "train_seconds": "99.0"}
    untimed = copy.deepcopy(record)
    numbers_script.update_record(untimed, [numbers_script.Run(command, values)], timings=False)
    assert untimed["digits"]["values"]["accuracy"] == "0.5"
    assert untimed["digits"]["values"]["train_seconds"] == record["digits"]["values"][
        "train_seconds"]
    numbers_script.update_record(untimed, [numbers_script.Run(command, values)], timings=True)
    assert untimed["digits"]["values"]["train_seconds"] == "99.0"
    # And a timing change never counts as drift.
    assert numbers_script.drifted(record, [numbers_script.Run(
        command, {**record["digits"]["values"], "train_seconds": "99.0"})]) == []


def test_the_record_round_trips(numbers_script, tmp_path):
    record = numbers_script.load_record()
    path = tmp_path / "numbers.json"
    numbers_script.save_record(record, path)
    assert numbers_script.load_record(path) == record
    assert path.read_text(encoding="utf-8") == (ROOT / "docs" / "numbers.json").read_text(
        encoding="utf-8")


def test_a_fresh_benchmark_run_renders(numbers_script):
    """The benchmark blocks parse what benchmarks/run_all.py prints today (at smoke sizes), so
    a change of its format shows here, not at the next --timings run."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--smoke", "--only",
         "bench_overhead", "bench_mlp", "bench_chain"],
        capture_output=True, text=True, check=True, timeout=600)
    output = numbers_script.BY_NAME["bench"].numbers["output"].find(done.stdout)
    overhead = numbers_script.section(output, "Tiny-tensor overhead").strip()
    record = copy.deepcopy(numbers_script.load_record())
    record["bench"]["values"]["output"] = output
    record["overhead_again"]["values"]["output"] = overhead
    record["overhead_once_more"]["values"]["output"] = overhead
    numbers = numbers_script.Numbers(record)
    ours = numbers_script.per_op(output, "micrograd_nd fwd+bwd")
    assert ours is not None and ours > 0
    speed = numbers_script.readme_speed(numbers)
    assert f"{ours:.2f} µs forward + backward in 3 runs" in speed
    assert "| float32 |" in speed
    targets = numbers_script.performance_targets(numbers)
    assert "backward" in targets and "MB graph left" in targets
    assert numbers_script.NOT_RUN in targets  # smoke sizes: no batch 32/128/1024, no epoch
