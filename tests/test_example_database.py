"""A shared Hypothesis example database (``HYPOTHESIS_DATABASE``, tests/conftest.py).

Two "hosts" are two directories, each with a copy of the project's conftest.py and of one
property test, run by separate pytest processes under the ``ci`` profile (which keeps no local
database). Host A finds a counterexample; host B, whose test may only *replay* examples from the
database (``Phase.reuse``, no generation), must fail on the same counterexample — so the
example came to it through the shared database, a Redis server started here or a directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# Fails for most n, and shrinks to exactly n = 700. REPLAY_ONLY=1 turns off generation.
PROPERTY_TEST = '''
import os
from hypothesis import Phase, given, settings, strategies as st

PHASES = [Phase.reuse] if os.environ.get("REPLAY_ONLY") == "1" else list(Phase)


@settings(phases=PHASES, max_examples=200)
@given(st.integers(0, 10_000))
def test_property(n):
    assert n < 700, f"counterexample n={n}"
'''


def make_host(root: Path, name: str) -> Path:
    host = root / name
    host.mkdir()
    shutil.copy(TESTS / "conftest.py", host / "conftest.py")
    (host / "test_shared.py").write_text(PROPERTY_TEST, encoding="utf-8")
    return host


def run_host(host: Path, database: str, *, replay_only: bool = False, workers: int = 0):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(HYPOTHESIS_PROFILE="ci", HYPOTHESIS_DATABASE=database,
               REPLAY_ONLY="1" if replay_only else "0")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shared.py"]
    if workers:
        command += ["-n", str(workers)]
    return subprocess.run(command, cwd=host, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def assert_shared(tmp_path: Path, database: str, fresh_database: str, workers: int = 0) -> None:
    """Host A's counterexample is replayed by host B; a database without it replays nothing."""
    found = run_host(make_host(tmp_path, "host_a"), database, workers=workers)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "counterexample n=700" in found.stdout, found.stdout

    host_b = make_host(tmp_path, "host_b")
    replayed = run_host(host_b, database, replay_only=True)
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "counterexample n=700" in replayed.stdout, replayed.stdout

    nothing_to_replay = run_host(host_b, fresh_database, replay_only=True)
    assert nothing_to_replay.returncode == 0, nothing_to_replay.stdout


def _has_xdist() -> bool:
    try:
        import xdist  # noqa: F401
    except ImportError:
        return False
    return True


def test_a_shared_directory_replays_another_hosts_counterexample(tmp_path):
    assert_shared(tmp_path, str(tmp_path / "shared-db"), str(tmp_path / "empty-db"))


# ---- Redis -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server on a free local port, for this test only; its URL (database 0)."""
    redis = pytest.importorskip("redis", reason="the redis package is not installed: "
                                "pip install -e '.[parallel]'")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server); "
                    "the shared-database test needs a real server")
    for _attempt in range(3):  # the free port may be taken between probing and binding
        port = free_port()
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while server.poll() is None and time.monotonic() < deadline:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            server.kill()
            server.wait()
            continue
        try:
            yield f"redis://127.0.0.1:{port}"
        finally:
            client.close()
            server.terminate()
            server.wait(timeout=10)
        return
    pytest.fail("redis-server did not start on a free port in three attempts")


def test_a_redis_server_replays_another_hosts_counterexample(tmp_path, redis_url):
    # Host A runs its shard on two pytest-xdist workers (when installed), as the recipe does.
    assert_shared(tmp_path, f"{redis_url}/0", f"{redis_url}/1", workers=2 if _has_xdist() else 0)


def test_an_unreachable_redis_server_is_a_clear_usage_error(tmp_path):
    pytest.importorskip("redis", reason="the redis package is not installed")
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    done = run_host(make_host(tmp_path, "host"), url)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert f"HYPOTHESIS_DATABASE={url}: no Redis server answers there" in done.stderr


def test_database_none_keeps_nothing(tmp_path):
    host = make_host(tmp_path, "host")
    assert run_host(host, "none").returncode == 1
    assert run_host(host, "none", replay_only=True).returncode == 0
    assert not (host / ".hypothesis" / "examples").exists()  # (.hypothesis/constants is a cache)
