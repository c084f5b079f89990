"""Run every benchmark script in turn: ``python benchmarks/run_all.py [--quick | --smoke]``.

Each script runs in its own process (a fresh interpreter, so one benchmark's garbage or
thread pools do not affect the next) and prints its own table; the options are passed on.
``--smoke`` runs everything at tiny sizes in a few seconds (used by tests/test_benchmarks.py).
A full run (neither ``--quick`` nor ``--smoke``) ends by timing the default test suite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["bench_overhead.py", "bench_mlp.py", "bench_chain.py", "bench_epoch.py",
           "bench_fit_checks.py"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: does everything run?")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the optional PyTorch / HIPS autograd columns")
    parser.add_argument("--only", nargs="*", default=None, help="script names to run")
    args = parser.parse_args(argv)
    passed = [flag for flag, on in (("--quick", args.quick), ("--smoke", args.smoke),
                                     ("--no-compare", args.no_compare)) if on]
    print(f"# python benchmarks/run_all.py {' '.join(passed)}".rstrip())
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", flush=True)
    failures = 0
    for script in SCRIPTS:
        if args.only and script not in args.only and script.removesuffix(".py") not in args.only:
            continue
        start = time.perf_counter()
        result = subprocess.run([sys.executable, os.path.join(HERE, script), *passed],
                                check=False)
        print(f"({script}: {time.perf_counter() - start:.1f} s)\n", flush=True)
        failures += result.returncode != 0
    if not (args.quick or args.smoke or args.only):
        failures += time_test_suite() != 0
    return 1 if failures else 0


def time_test_suite() -> int:
    """Run the default test suite (the default Hypothesis profile) and print its summary."""
    print("== Default test suite: python -m pytest -q", flush=True)
    environment = {key: value for key, value in os.environ.items()
                   if key != "HYPOTHESIS_PROFILE"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                            cwd=os.path.dirname(HERE), env=environment, capture_output=True,
                            text=True, check=False)
    lines = result.stdout.strip().splitlines()
    print(f"   {lines[-1] if lines else result.stderr.strip()[-300:]}")
    print(f"(test suite: {time.perf_counter() - start:.1f} s wall clock)\n", flush=True)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
