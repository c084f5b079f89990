"""Shared helpers of the benchmark scripts: environment report, interleaved timing, tables.

The scripts are run directly (``python benchmarks/bench_mlp.py``), so this module also puts
the repository root on ``sys.path``: the micrograd_nd being measured is the checkout's own.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "OPENBLAS_CORETYPE")


def optional(module: str) -> Any:
    """The module if it can be imported, else None (comparison columns are optional)."""
    try:
        return __import__(module)
    except ImportError:
        return None


def blas_name() -> str:
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # the layout of show_config is not a stable API
        return "unknown"


def blas_threads() -> str:
    threadpoolctl = optional("threadpoolctl")
    if threadpoolctl is None:
        return "?"
    pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(f"{p['internal_api']}={p['num_threads']}" for p in pools) or "?"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def setup_torch_threads(torch: Any) -> None:
    """Give PyTorch as many intra-op threads as the BLAS NumPy uses (or the core count)."""
    threadpoolctl = optional("threadpoolctl")
    threads = os.cpu_count() or 1
    if threadpoolctl is not None:
        pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            threads = pools[0]["num_threads"]
    torch.set_num_threads(threads)


def environment_lines(compare: bool = True) -> list[str]:
    """Versions and thread settings, printed above every table."""
    import micrograd_nd

    lines = [
        f"python {platform.python_version()}  numpy {np.__version__}  "
        f"micrograd_nd {getattr(micrograd_nd, '__version__', '?')}",
        f"cpu: {cpu_model()} ({os.cpu_count()} logical cores)",
        f"blas: {blas_name()}  threads: {blas_threads()}",
        "env: " + "  ".join(f"{v}={os.environ.get(v, '-')}" for v in THREAD_VARIABLES),
    ]
    if not compare:
        return lines
    torch = optional("torch")
    if torch is not None:
        setup_torch_threads(torch)
        lines.append(f"torch {torch.__version__} (threads {torch.get_num_threads()})")
    else:
        lines.append("torch: not installed (column omitted)")
    hips = optional("autograd")
    version = getattr(hips, "__version__", None) if hips is not None else None
    if hips is None:
        lines.append("HIPS autograd: not installed (column omitted)")
    else:
        lines.append(f"HIPS autograd {version or _dist_version('autograd')}")
    return lines


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return "?"


def print_header(title: str, args: argparse.Namespace | None = None,
                 compare: bool = True) -> None:
    print(f"== {title}")
    compare = compare and not getattr(args, "no_compare", False)
    for line in environment_lines(compare=compare):
        print("   " + line)
    if args is not None:
        print("   command: python " + " ".join(sys.argv))
    sys.stdout.flush()


def interleaved(
    contestants: dict[str, Callable[[], Any]],
    repeats: int,
    warmup: int,
    inner: int = 1,
) -> dict[str, float]:
    """Median seconds per call of each contestant, timed in rounds that visit all of them.

    Each round runs every contestant ``inner`` times in a row, in a rotating order, so a slow
    period of a shared machine hits them all alike; the median over ``repeats`` rounds is
    reported.
    """
    samples = interleaved_samples(contestants, repeats, warmup, inner)
    return {name: statistics.median(values) for name, values in samples.items()}


def interleaved_samples(
    contestants: dict[str, Callable[[], Any]],
    repeats: int,
    warmup: int,
    inner: int = 1,
) -> dict[str, list[float]]:
    """Seconds per call of each contestant in each of the rounds of :func:`interleaved`."""
    names = list(contestants)
    for _ in range(warmup):
        for name in names:
            contestants[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn = contestants[name]
            start = clock()
            for _ in range(inner):
                fn()
            samples[name].append((clock() - start) / inner)
    return samples


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pastes into docs/performance.md unchanged)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x"


def common_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, a few repetitions: checks the script runs (CI)")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the optional PyTorch / HIPS autograd columns")
    return parser
