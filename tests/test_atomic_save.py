"""SIGKILL in the middle of saving a large model leaves the previous file whole and loadable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from micrograd_nd.serialization import load_arrays, save_arrays

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

N_ARRAYS, ARRAY_SIZE = 8, 1_000_000  # 8 × 8 MB float64 = 64 MB per save
ROOT = Path(__file__).resolve().parent.parent

# Save generation k (every element of every array equals k) over and over, printing k after
# each completed save, so the parent knows saves are happening and which ones finished.
SAVER = textwrap.dedent(f"""
    import sys
    import numpy as np
    from micrograd_nd.serialization import save_arrays
    path = sys.argv[1]
    k = 1
    while True:
        value = np.full({ARRAY_SIZE}, float(k))
        save_arrays(path, {{f"layer{{i}}.weight": value for i in range({N_ARRAYS})}})
        print(k, flush=True)
        k += 1
""")


def _generation(path: Path) -> int:
    arrays = load_arrays(path)  # must not raise: never a partial file
    assert sorted(arrays) == sorted(f"layer{i}.weight" for i in range(N_ARRAYS))
    values = {float(a[0]) for a in arrays.values()}
    assert len(values) == 1, f"arrays from different saves mixed: {values}"
    for array in arrays.values():
        assert array.shape == (ARRAY_SIZE,)
        assert np.all(array == array[0]), "an array is partly from one save, partly another"
    return int(values.pop())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_during_save_keeps_the_previous_file(tmp_path, seed):
    path = tmp_path / "model.npz"
    save_arrays(path, {f"layer{i}.weight": np.zeros(ARRAY_SIZE) for i in range(N_ARRAYS)})
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        first = process.stdout.readline()  # one save completed: the loop is running
        assert first.strip() == "1"
        time.sleep(random.Random(seed).uniform(0.0, 0.6))  # somewhere inside a later save
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        finished = [int(line) for line in process.stdout.read().split()]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    last_reported = finished[-1] if finished else 1
    generation = _generation(path)
    # The file is the last completed save, or the one whose rename happened just before
    # the kill, before its number could be printed; never anything older or half-written.
    assert generation in (last_reported, last_reported + 1)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.npz"]
    assert len(leftovers) <= 1  # at most the temp file of the save that was killed
    assert all(name.startswith(".model.npz.") and name.endswith(".tmp") for name in leftovers)
