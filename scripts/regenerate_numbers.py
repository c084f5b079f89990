"""Regenerate every number the README and the docs quote, from the commands that print them.

    python scripts/regenerate_numbers.py              # rerun, record, rewrite (timings kept)
    python scripts/regenerate_numbers.py --check      # exit 1 if the docs differ from the commands
    python scripts/regenerate_numbers.py --timings    # also rerun benchmarks and timed runs
    python scripts/regenerate_numbers.py --render     # rewrite the docs from the record only

How it works. ``COMMANDS`` lists each command whose output the docs quote and, for each number,
the regular expression that finds it in the output. ``BLOCKS`` lists the text the script owns:
in a Markdown file, everything between ``<!-- numbers:NAME -->`` and ``<!-- /numbers:NAME -->``
is rewritten from a render function that quotes numbers as ``n["command.number"]``. Every
number last measured is kept, as printed, in ``docs/numbers.json`` (the record), so timing
numbers survive runs that do not re-measure them.

Accuracies and agreements are deterministic on a given machine: every run re-measures them.
Timings depend on the machine's load: they are re-measured only with ``--timings`` (run it on a
quiet machine) and never checked. ``--check`` (run by CI) re-measures the non-timing numbers
and fails when one, written as the docs write it, differs from the record, or when a file's
owned text differs from what the record renders (a hand edit). A command that cannot run here
(its data is not installed) is reported and skipped.

Adding a number: add a ``Number`` to its command (or a new ``Command``), quote it in a block
as ``n["command.number"]``, run the script. Adding a block: add the two markers to the file
and a render function decorated with ``@block(file, name)``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "docs" / "numbers.json"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


# ---- what is measured ----------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    """One number (or block of text) in a command's output.

    ``pattern`` is a regular expression (``re.MULTILINE``); each match contributes its groups
    (or the whole match when it has none). ``pick`` chooses among them: ``"only"`` (exactly one
    is allowed), ``"first"``, ``"last"``, ``"max"`` or ``"min"`` (compared as floats).
    ``style`` is how the docs write it: a format spec such as ``".1e"`` applied to the value as
    a float, or ``""`` for the text exactly as printed.
    """

    pattern: str
    pick: str = "only"
    style: str = ""
    timing: bool = False
    flags: int = 0

    def find(self, output: str) -> str:
        found = [group for match in re.finditer(self.pattern, output, re.MULTILINE | self.flags)
                 for group in (match.groups() or (match.group(0),))]
        if not found or (self.pick == "only" and len(found) > 1):
            raise ValueError(f"pattern {self.pattern!r} matched {len(found)} times "
                             f"({'expected exactly one' if self.pick == 'only' else 'none'})")
        if self.pick in ("max", "min"):
            return (max if self.pick == "max" else min)(found, key=float)
        return found[-1] if self.pick == "last" else found[0]

    def write(self, value: str) -> str:
        return format(float(value), self.style) if self.style else value


@dataclass(frozen=True)
class Command:
    """A command as the docs show it, and the numbers the docs take from its output."""

    name: str
    command: str
    numbers: dict[str, Number]
    requires: Callable[[], str | None] = field(default=lambda: None)  # why it cannot run, or None
    timeout: float = 1800.0

    @property
    def timed(self) -> bool:
        return all(number.timing for number in self.numbers.values())


def needs_fashion_mnist() -> str | None:
    if (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        return None
    return f"no Fashion-MNIST in {FASHION_MNIST} (apt-get install dataset-fashion-mnist)"


# The comparison tables of micrograd_nd.compare and examples/train_digits.py have one row per
# quantity and pair: status, quantity (on its first row only), pair, max abs, max rel, ...
# (Spaces, not \s: a pattern must not run on into the next line.)
def max_rel_of(pair: str) -> str:
    return rf"^\S+ +(?:\S+ +)?{pair} +\S+ +(\S+)"


COMMANDS = [
    Command("digits", "python examples/train_digits.py", {
        "accuracy": Number(r"^test accuracy (\S+)"),
        "reloaded": Number(r"^reloaded model: test accuracy (\S+)"),
        "rule_vs_autodiff": Number(max_rel_of("rule vs autodiff"), pick="max", style=".1e"),
        "train_seconds": Number(r"^trained \d+ epochs in (\S+)s", style=".1f", timing=True),
    }),
    Command("digits_seeds", "python examples/train_digits.py --seeds 10", {
        "min": Number(r"over 10 seeds: min (\S+)"),
        "mean": Number(r"over 10 seeds: .*mean (\S+)"),
        "max": Number(r"over 10 seeds: .*max (\S+);"),
        "at_least_098": Number(r"(\d+) of 10 seeds ≥ 0\.98"),
    }),
    Command("sigmoid_square", "python examples/digit_article_sigmoid.py", {
        "accuracy": Number(r"^test accuracy: (\S+)"),
        "test_digits": Number(r"\((\d+) held-out digits\)"),
        "finite_differences": Number(r"relative difference (\S+)$", pick="max", style=".1e"),
    }),
    Command("sigmoid_ce", "python examples/digit_article_sigmoid.py --cost ce", {
        "accuracy": Number(r"^test accuracy: (\S+)"),
    }),
    Command("fashion", f"python examples/train_mnist_idx.py --data-dir {FASHION_MNIST}", {
        "accuracy": Number(r"^test accuracy (\S+)"),
        "epoch_seconds": Number(r"^time per epoch (\S+)s", timing=True),
    }, requires=needs_fashion_mnist),
    Command("moons", "python examples/two_moons.py", {
        "accuracy": Number(r"test accuracy (\S+)$"),
    }),
    Command("vanishing", "python examples/vanishing_gradients.py", {
        "sigmoid_ratio": Number(r"^‖∂C/∂W\(1\)‖ / ‖∂C/∂W\(\d+\)‖ = (\S+)", pick="first",
                                style=".1e"),
        "relu_ratio": Number(r"^‖∂C/∂W\(1\)‖ / ‖∂C/∂W\(\d+\)‖ = (\S+)", pick="last",
                             style=".2f"),
    }),
    Command("compare", "python -m micrograd_nd.compare --layers 4,8,3 --activation sigmoid "
                       "--loss cross_entropy --batch 16 --seed 0", {
        "rule_vs_autodiff": Number(max_rel_of("rule vs autodiff"), pick="max", style=".1e"),
        "vs_numeric": Number(max_rel_of("(?:rule|autodiff) vs numeric"), pick="max",
                             style=".1e"),
    }),
    # The benchmarks: every number in them is a timing. The docs quote the whole output.
    Command("bench", "python benchmarks/run_all.py", {
        "output": Number(r"\A.*\S", flags=re.DOTALL, timing=True),
    }),
    Command("overhead_again", "python benchmarks/bench_overhead.py", {
        "output": Number(r"\A.*\S", flags=re.DOTALL, timing=True),
    }),
    Command("overhead_once_more", "python benchmarks/bench_overhead.py", {
        "output": Number(r"\A.*\S", flags=re.DOTALL, timing=True),
    }),
]
BY_NAME = {command.name: command for command in COMMANDS}


# ---- running commands ------------------------------------------------------------------------

@dataclass
class Run:
    command: Command
    values: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None
    seconds: float = 0.0


def run(command: Command, log: Callable[[str], None]) -> Run:
    """Run ``command`` from a scratch directory (its files go there) and parse its numbers."""
    reason = command.requires()
    if reason:
        log(f"skipped  {command.command}: {reason}")
        return Run(command, skipped=reason)
    argv = shlex.split(command.command)
    argv = [sys.executable] + [str(ROOT / arg) if (ROOT / arg).is_file() else arg
                               for arg in argv[1:]]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="numbers-") as scratch:
        done = subprocess.run(argv, cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=command.timeout, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"`{command.command}` exited with status {done.returncode}:\n"
                         f"{done.stderr[-3000:]}")
    values = {}
    for name, number in command.numbers.items():
        try:
            values[name] = number.find(done.stdout)
        except ValueError as error:
            raise SystemExit(f"{command.name}.{name}: in the output of `{command.command}`, "
                             f"{error}") from None
    log(f"ran      {command.command}  ({seconds:.1f} s)")
    return Run(command, values, seconds=seconds)


def run_all(commands: list[Command], jobs: int, log: Callable[[str], None]) -> list[Run]:
    if jobs <= 1:
        return [run(command, log) for command in commands]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda command: run(command, log), commands))


# ---- the record --------------------------------------------------------------------------

def load_record(path: Path = RECORD) -> dict[str, dict]:
    """The record; a value stored as a list of lines (long outputs) comes back as one string."""
    record = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for entry in record.values():
        entry["values"] = {name: "\n".join(value) if isinstance(value, list) else value
                           for name, value in entry["values"].items()}
    return record


def save_record(record: dict[str, dict], path: Path = RECORD) -> None:
    """Write the record; multi-line values as lists of lines, so that diffs stay readable."""
    stored = {name: {**entry, "values": {key: value.split("\n") if "\n" in value else value
                                         for key, value in entry["values"].items()}}
              for name, entry in record.items()}
    path.write_text(json.dumps(stored, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                    encoding="utf-8")


def update_record(record: dict[str, dict], fresh: Iterable[Run], timings: bool) -> None:
    """Store the fresh values (timing values only when ``timings``), with the date."""
    today = time.strftime("%Y-%m-%d")
    for result in fresh:
        if result.skipped:
            continue
        entry = record.setdefault(result.command.name, {"values": {}})
        entry["command"] = result.command.command
        entry["measured"] = today
        for name, value in result.values.items():
            if timings or not result.command.numbers[name].timing:
                entry["values"][name] = value
        if timings and any(number.timing for number in result.command.numbers.values()):
            entry["timings measured"] = today


class Numbers:
    """``n["command.number"]``: a recorded number as the docs write it."""

    def __init__(self, record: dict[str, dict]):
        self.record = record

    def raw(self, key: str) -> str:
        command, _, number = key.partition(".")
        try:
            return self.record[command]["values"][number]
        except KeyError:
            timings = " --timings" if self.timing(key) else ""
            raise KeyError(f"{key} has not been measured yet: run "
                           f"scripts/regenerate_numbers.py{timings} --only {command}") from None

    def timing(self, key: str) -> bool:
        command, _, number = key.partition(".")
        return BY_NAME[command].numbers[number].timing

    def __getitem__(self, key: str) -> str:
        command, _, number = key.partition(".")
        return BY_NAME[command].numbers[number].write(self.raw(key))


# ---- the text the script owns ------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    file: str
    name: str
    render: Callable[[Numbers], str]


BLOCKS: list[Block] = []


def block(file: str, name: str) -> Callable[[Callable[[Numbers], str]], Callable]:
    def register(render: Callable[[Numbers], str]) -> Callable[[Numbers], str]:
        BLOCKS.append(Block(file, name, render))
        return render
    return register


def markers(name: str) -> re.Pattern[str]:
    name = re.escape(name)
    return re.compile(rf"(<!-- numbers:{name} -->\n)(.*?)(<!-- /numbers:{name} -->)", re.DOTALL)


def rewrite(text: str, owned: Block, numbers: Numbers) -> str:
    found = list(markers(owned.name).finditer(text))
    if len(found) != 1:
        raise SystemExit(
            f"{owned.file}: expected one '<!-- numbers:{owned.name} -->' … "
            f"'<!-- /numbers:{owned.name} -->' pair, found {len(found)}; put the markers around "
            f"the text that scripts/regenerate_numbers.py writes there")
    body = "\n" + owned.render(numbers).strip("\n") + "\n\n"  # blank lines around it
    match = found[0]
    return text[:match.start(2)] + body + text[match.end(2):]


def rendered_files(numbers: Numbers, root: Path = ROOT) -> dict[str, tuple[str, str]]:
    """File → (text now, text as the record renders it)."""
    files: dict[str, tuple[str, str]] = {}
    for owned in BLOCKS:
        current, new = files.get(owned.file, (None, None))
        if current is None:
            current = new = (root / owned.file).read_text(encoding="utf-8")
        files[owned.file] = (current, rewrite(new, owned, numbers))
    return files


# ---- main --------------------------------------------------------------------------------

def drifted(record: dict[str, dict], fresh: Iterable[Run]) -> list[str]:
    """Non-timing numbers whose fresh value, as the docs write it, differs from the record."""
    problems = []
    recorded = Numbers(record)
    for result in fresh:
        for name, value in result.values.items():
            number = result.command.numbers[name]
            key = f"{result.command.name}.{name}"
            if number.timing:
                continue
            try:
                old = recorded[key]
            except KeyError:
                problems.append(f"{key}: not in the record yet; `{result.command.command}` "
                                f"prints {number.write(value)}")
                continue
            if number.write(value) != old:
                problems.append(f"{key}: the docs say {old}, `{result.command.command}` "
                                f"prints {number.write(value)} now")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="re-measure the non-timing numbers; exit 1 if the docs differ")
    mode.add_argument("--timings", action="store_true",
                      help="also re-measure timings (benchmarks: ~5 minutes; use a quiet machine)")
    mode.add_argument("--render", action="store_true",
                      help="rewrite the docs from docs/numbers.json without running anything")
    parser.add_argument("--only", default=None,
                        help="comma-separated command names: " + ", ".join(BY_NAME))
    parser.add_argument("--jobs", type=int, default=1,
                        help="commands run at once (not with --timings, which runs one at a time)")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, flush=True)

    chosen = COMMANDS
    if args.only:
        unknown = set(args.only.split(",")) - set(BY_NAME)
        if unknown:
            parser.error(f"unknown command names {sorted(unknown)}; known: {', '.join(BY_NAME)}")
        chosen = [command for command in COMMANDS if command.name in args.only.split(",")]
    record = load_record()
    fresh: list[Run] = []
    if not args.render:
        to_run = [command for command in chosen if args.timings or not command.timed]
        fresh = run_all(to_run, 1 if args.timings else args.jobs, log)
        for result in fresh:
            if result.skipped:
                log(f"note: {result.command.name} not re-measured ({result.skipped}); "
                    f"its recorded numbers stay")

    if args.check:
        problems = drifted(record, fresh)
        for file, (now, expected) in rendered_files(Numbers(record)).items():
            if now != expected:
                diff = difflib.unified_diff(now.splitlines(), expected.splitlines(),
                                            f"{file} (now)", f"{file} (from docs/numbers.json)",
                                            lineterm="", n=1)
                problems.append(f"{file}: its numbers differ from docs/numbers.json (edited by "
                                f"hand?); run scripts/regenerate_numbers.py --render:\n"
                                + "\n".join(diff))
        for problem in problems:
            print(f"DRIFT {problem}")
        print("numbers check:", "FAILED" if problems else "every quoted number matches")
        return 1 if problems else 0

    update_record(record, fresh, timings=args.timings)
    if fresh:
        save_record(record)
    try:
        files = rendered_files(Numbers(record))  # every block renders before any is written
    except KeyError as error:
        raise SystemExit(error.args[0]) from None
    for file, (now, expected) in files.items():
        if now != expected:
            (ROOT / file).write_text(expected, encoding="utf-8")
            log(f"rewrote  {file}")
    return 0


# ---- the blocks --------------------------------------------------------------------------
# Each returns the text between its markers. Keep prose that is not a number outside them.

@block("README.md", "results")
def readme_results(n: Numbers) -> str:
    reloaded = ("the reloaded model the same" if n["digits.reloaded"] == n["digits.accuracy"]
                else f"the reloaded model {n['digits.reloaded']}")
    results = {
        "digits": f"held-out test accuracy **{n['digits.accuracy']}** (seed 0), {reloaded}; "
                  f"delta rule vs autodiff on the trained network: largest relative difference "
                  f"{n['digits.rule_vs_autodiff']}; {n['digits.train_seconds']} s of training",
        "digits_seeds": f"over 10 splits/initialisations: min {n['digits_seeds.min']}, "
                        f"**mean {n['digits_seeds.mean']}**, max {n['digits_seeds.max']}; "
                        f"{n['digits_seeds.at_least_098']} of 10 seeds ≥ 0.98",
        "sigmoid_square": f"the digit-network article's all-sigmoid 64-32-10 net, per-sample SGD, "
                          f"square cost (eq. 3): "
                          f"{n['sigmoid_square.accuracy']} on {n['sigmoid_square.test_digits']} "
                          f"held-out digits; finite-difference check: largest relative "
                          f"difference {n['sigmoid_square.finite_differences']}",
        "sigmoid_ce": f"the same with cross-entropy (eq. 4): {n['sigmoid_ce.accuracy']}",
        "fashion": f"Fashion-MNIST, 784-256-128-10 ReLU MLP, 15 epochs: test accuracy "
                   f"**{n['fashion.accuracy']}**, {n['fashion.epoch_seconds']} s per epoch",
        "moons": f"test accuracy {n['moons.accuracy']}",
        "vanishing": f"‖∂C/∂W(1)‖ / ‖∂C/∂W(8)‖ = {n['vanishing.sigmoid_ratio']} with sigmoid, "
                     f"{n['vanishing.relu_ratio']} with ReLU",
        "compare": f"largest relative difference, delta rule vs autodiff: "
                   f"{n['compare.rule_vs_autodiff']}; either vs central differences: "
                   f"{n['compare.vs_numeric']}",
    }
    rows = [f"| `{BY_NAME[name].command}` | {result} |" for name, result in results.items()]
    return "\n".join(["| command | result |", "|---|---|", *rows])


# -- the benchmark output, parsed --
# A benchmark run may lack a section (no Fashion-MNIST data) or a column (PyTorch or HIPS
# autograd not installed): the text then says so instead of quoting a number.

NOT_RUN = "not measured in this run"


def section(output: str, title: str) -> str | None:
    """The part of a benchmark output from the ``== title`` line to the next ``==`` line."""
    match = re.search(rf"^== {re.escape(title)}.*?(?=^== |\Z)", output, re.MULTILINE | re.DOTALL)
    return match.group(0) if match else None


def table(text: str | None) -> list[dict[str, str]]:
    """The rows of the first Markdown table in ``text``, as header → cell."""
    lines = [line for line in (text or "").splitlines() if line.startswith("|")]

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    header = cells(lines[0]) if lines else []
    return [dict(zip(header, cells(line), strict=False)) for line in lines[2:]]


def ratio(cell: str) -> float:
    return float(cell.rstrip("x"))


def per_op(output: str, contestant: str) -> float | None:
    """µs per op of one contestant in a tiny-tensor overhead section."""
    rows = table(section(output, "Tiny-tensor overhead"))
    found = [float(row["µs per op"]) for row in rows if row.get("contestant") == contestant]
    return found[0] if found else None


def versions(output: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for key, pattern in {
        "python": r"python (\S+)  numpy", "numpy": r"numpy (\S+)  micrograd_nd",
        "cpu": r"cpu: (.+) \(", "cores": r"\((\d+) logical cores\)", "blas": r"blas: (\S+ \S+)",
        "blas_threads": r"threads: openblas=(\S+)", "torch": r"torch (\S+) \(threads",
        "torch_threads": r"torch \S+ \(threads (\d+)\)", "autograd": r"HIPS autograd (\d\S*)",
        "date": r"^# (\d{4}-\d\d-\d\d) ",
        "thread_variables": r"env: (.*)  OPENBLAS_CORETYPE",
        "start": r"^# \d{4}-\d\d-\d\d (\d\d:\d\d):\d\d (\S+)",
    }.items():
        match = re.search(pattern, output, re.MULTILINE)
        found[key] = " ".join(match.groups()) if match else None
    if found["blas"]:
        found["blas"] = re.sub(r"(\d+\.\d+\.\d+)\.\S*", r"\1", found["blas"])
    return found


def short_version(version: str) -> str:
    """``2.13.0+cpu`` → ``2.13``."""
    return ".".join(version.split("+")[0].split(".")[:2])


def spread(values: list[float], suffix: str = "×") -> str:
    low, high = min(values), max(values)
    return f"{low:.2f}{suffix}" if low == high else f"{low:.2f}–{high:.2f}{suffix}"


def overhead_runs(n: Numbers) -> tuple[list[float], list[float]]:
    """µs per op of micrograd_nd and of PyTorch in the benchmark run and the two reruns."""
    outputs = (n["bench.output"], n["overhead_again.output"], n["overhead_once_more.output"])
    ours = [per_op(text, "micrograd_nd fwd+bwd") for text in outputs]
    torch = [per_op(text, "torch fwd+bwd") for text in outputs]
    return ([value for value in ours if value is not None],
            [value for value in torch if value is not None])


@block("README.md", "speed")
def readme_speed(n: Numbers) -> str:
    output = n["bench.output"]
    mlp = section(output, "MLP training step") or ""
    lines = [line for line in mlp.splitlines() if line.startswith("|")]
    float32 = "\n".join(lines[:2] + [line for line in lines[2:] if line.startswith("| float32")])
    torch_version = versions(output)["torch"]
    others = (f"PyTorch {short_version(torch_version)} and HIPS autograd timed the same way"
              if torch_version else "(PyTorch and HIPS autograd were not installed for this run)")
    ours, torch = overhead_runs(n)
    chain = table(section(output, "Chain of"))
    overhead = (f"Per-op overhead on tiny tensors is {spread(ours, ' µs')} forward + backward in "
                f"{len(ours)} runs" if ours else f"Per-op overhead on tiny tensors: {NOT_RUN}")
    if torch:
        overhead += f" (PyTorch {spread(torch, ' µs')} in the same runs)"
    if chain:
        overhead += (f"; a chain of 10^6 ops back-propagates in {ratio(chain[0]['bwd/fwd']):.2f}× "
                     f"its forward time and frees all {float(chain[0]['graph MB']):.0f} MB of "
                     f"graph")
    return f"""
Speed (`python benchmarks/run_all.py`; float64, the 10^6-op chain, the Fashion-MNIST epoch and
the test-suite time are in [docs/performance.md](docs/performance.md)). One training step of a
784-256-128-10 MLP (forward, backward, SGD), against the same step hand-written in NumPy, with
{others}:

{float32 or NOT_RUN}

{textwrap.fill(overhead + ".", width=95)}
"""


def table_after(text: str | None, heading: str) -> list[dict[str, str]]:
    """The rows of the Markdown table that follows the line starting with ``heading``."""
    lines = (text or "").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(heading)]
    return table("\n".join(lines[starts[0] + 1:])) if starts else []


def median_of(cell: str) -> str:
    """'1.27x (1.25-1.30)' → '1.27x' (the median of a benchmark cell)."""
    return cell.split()[0] if cell else "—"


@block("README.md", "compile")
def readme_compile(n: Numbers) -> str:
    text = section(n["bench.output"], "micrograd_nd.compile")
    mlp = table_after(text, "MLP ")
    tiny = {row["contestant"]: row for row in table_after(text, "Tiny ops")}
    epoch = table_after(text, "One epoch")
    if not mlp:
        return f"\n{NOT_RUN}\n"
    peers = [name for name in ("torch/np", "autograd/np", "jax/np") if name in mlp[0]]
    header = ["float32", "batch", "eager/np", "compiled/np",
              *(p.replace("jax/", "jax.jit/") for p in peers)]
    rows = [[row["hidden"], row["batch"], median_of(row["eager/np"]),
             median_of(row["compiled/np"]), *(median_of(row[p]) for p in peers)]
            for row in mlp if row["dtype"] == "float32"]
    widths = [max(len(str(cell)) for cell in column)
              for column in zip(header, *rows, strict=True)]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True))
             + " |" for line in (header, *rows)]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    sentences = []
    if epoch:
        by_hidden = {row["hidden"]: row for row in epoch}
        if {"sigmoid", "relu"} <= set(by_hidden):
            sentences.append(
                f"A Fashion-MNIST epoch (batch 128) takes "
                f"{median_of(by_hidden['sigmoid']['compiled/np'])} (sigmoid) and "
                f"{median_of(by_hidden['relu']['compiled/np'])} (ReLU) the NumPy loop's time "
                f"compiled, {median_of(by_hidden['sigmoid']['eager/np'])} and "
                f"{median_of(by_hidden['relu']['eager/np'])} eager")
    if "compiled" in tiny and "eager" in tiny:
        sentences.append(f"on tiny tensors a replayed op costs {tiny['compiled']['µs per op']} µs "
                         f"forward + backward (eager {tiny['eager']['µs per op']} µs)")
    prose = textwrap.fill("; ".join(sentences) + ".", width=95) if sentences else ""
    return f"""
One float32 step of the 784-256-128-10 MLP against the same step hand-written in NumPy, each
framework in its own process with one BLAS thread (`python benchmarks/bench_compile.py`, part
of `python benchmarks/run_all.py`; medians of interleaved rounds, float64 and the spread in
[docs/performance.md](docs/performance.md#compiled-steps)):

{chr(10).join(lines)}

{prose}
"""


@block("docs/performance.md", "machine")
def performance_machine(n: Numbers) -> str:
    v = versions(n["bench.output"])
    settings = [item for item in (v["thread_variables"] or "").split()
                if not item.endswith("=-")]
    thread_variables = ", ".join(settings) if settings else "no thread variables set"
    if v["torch"] or v["autograd"]:
        optional = " and ".join(
            part for part in (v["torch"] and f"PyTorch {v['torch']} ({v['torch_threads']} threads)",
                              v["autograd"] and f"HIPS autograd {v['autograd']}") if part)
        optional = f"{optional} as optional columns"
    else:
        optional = "no PyTorch or HIPS autograd columns (not installed)"
    return f"""
- **Date:** {v["date"]} (run started {v["start"]}, as printed below).
- **Machine:** {v["cores"]} logical cores, CPU model from `/proc/cpuinfo`: `{v["cpu"]}`; OpenBLAS
  ({v["blas"]}) with {v["blas_threads"]} threads, {thread_variables}; Python {v["python"]}, \
NumPy {v["numpy"]};
  {optional}.
"""


@block("docs/performance.md", "output")
def performance_output(n: Numbers) -> str:
    return f"```text\n{n['bench.output']}\n```"


@block("docs/performance.md", "overhead-again")
def performance_overhead_again(n: Numbers) -> str:
    return (f"```text\n{n['overhead_again.output']}\n```\n\n"
            f"```text\n{n['overhead_once_more.output']}\n```")


def status(passed: int, total: int, unit: str) -> str:
    if total == 0:
        return NOT_RUN
    return "met" if passed == total else f"met in {passed} of {total} {unit}" if passed \
        else "not met"


@block("docs/performance.md", "targets")
def performance_targets(n: Numbers) -> str:
    """The targets of the engine-core issue (eager) and the compiled-steps issue, against the
    run above."""
    output = n["bench.output"]
    ours, torch = overhead_runs(n)
    torch_note = (f" (PyTorch {', '.join(f'{value:.2f}' for value in torch)} in the same runs)"
                  if torch else "")
    lines = [
        "| target | result above | status |",
        "|---|---|---|",
        f"| eager tiny-op overhead ≤ 4 µs/op (forward + backward) | "
        f"{', '.join(f'{value:.2f}' for value in ours)} µs in {len(ours)} runs{torch_note} | "
        f"{status(sum(value <= 4.0 for value in ours), len(ours), 'runs')} |",
    ]
    chain = table(section(output, "Chain of"))
    if chain:
        bwd_fwd, graph_mb = ratio(chain[0]["bwd/fwd"]), float(chain[0]["graph MB"])
        left_mb = float(chain[0]["MB left after backward"])
        lines.append(f"| 10^6-op chain completes, backward ≤ 2× forward, memory released | "
                     f"backward {bwd_fwd:.2f}× forward, {left_mb:.3f} MB of the {graph_mb:.0f} MB "
                     f"graph left | {status(int(bwd_fwd <= 2.0 and left_mb < 1.0), 1, '')} |")
    eager_rows = [row for row in table(section(output, "MLP training step"))
                  if row["dtype"] == "float32"]
    for batch, target in ((32, 1.50), (128, 1.25), (1024, 1.08)):
        values = [ratio(row["mg/np"]) for row in eager_rows if row["batch"] == str(batch)]
        lines.append(f"| eager float32 MLP step ≤ {target:.2f}× NumPy at batch {batch} | "
                     f"{spread(values) if values else NOT_RUN} | "
                     f"{status(sum(v <= target for v in values), len(values), 'rows')} |")
    compiled = section(output, "micrograd_nd.compile")
    compiled_rows = table_after(compiled, "MLP ")
    for batch, target in ((32, 1.20), (128, 1.08), (1024, 1.03)):
        values = [ratio(median_of(row["compiled/np"])) for row in compiled_rows
                  if row["batch"] == str(batch)]
        lines.append(f"| compiled MLP step ≤ {target:.2f}× NumPy at batch {batch} (float32 and "
                     f"float64) | {spread(values) if values else NOT_RUN} | "
                     f"{status(sum(v <= target for v in values), len(values), 'rows')} |")
    tiny = {row["contestant"]: row for row in table_after(compiled, "Tiny ops")}
    if "compiled" in tiny:
        value = float(tiny["compiled"]["µs per op"])
        lines.append(f"| compiled tiny-op replay ≤ 1.5 µs/op | {value:.2f} µs | "
                     f"{status(int(value <= 1.5), 1, '')} |")
    epoch = {row["hidden"]: ratio(median_of(row["compiled/np"]))
             for row in table_after(compiled, "One epoch")}
    lines.append("| compiled Fashion-MNIST epoch ≤ 1.05× the NumPy loop | "
                 + (", ".join(f"{value:.2f}× ({name})" for name, value in epoch.items())
                    or NOT_RUN)
                 + f" | {status(sum(v <= 1.05 for v in epoch.values()), len(epoch), 'rows')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
