"""Tests for micrograd_nd.serialization: round trips, atomic saves, no pickle, clear errors."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from micrograd_nd import serialization
from micrograd_nd.serialization import ModelFileError, load_arrays, save_arrays

ROOT = Path(__file__).resolve().parent.parent

PARAMS = {
    "layers.0.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
    "layers.0.bias": np.zeros(2),
    "layers.1.weight": np.array([[1.5]]),
    "step": np.array(7, dtype=np.int64),  # 0-d
    "mask": np.array([True, False]),
    "empty": np.zeros((0, 4), dtype=np.int16),
    "file": np.arange(2),  # names that clash with np.savez's own parameters
    "allow_pickle": np.arange(3),
}


def _assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert list(got) == list(expected)
    for name, array in expected.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        np.testing.assert_array_equal(got[name], array)


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path: Path, compress: bool) -> None:
    path = tmp_path / "model.npz"
    save_arrays(path, PARAMS, compress=compress)
    _assert_same(load_arrays(path), PARAMS)
    with np.load(path, allow_pickle=False) as npz:  # a standard .npz
        _assert_same({k: npz[k] for k in npz.files}, PARAMS)


def test_path_is_used_exactly_and_np_savez_files_load(tmp_path: Path) -> None:
    save_arrays(str(tmp_path / "weights"), {"a": np.ones(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights"]  # no ".npz" appended
    np.savez(tmp_path / "other.npz", x=np.eye(2), y=np.arange(3))
    _assert_same(load_arrays(tmp_path / "other.npz"), {"x": np.eye(2), "y": np.arange(3)})


@given(
    arrays=st.dictionaries(
        st.text(st.characters(codec="ascii", exclude_characters="\x00/"), min_size=1, max_size=12),
        hnp.arrays(
            dtype=st.one_of(hnp.integer_dtypes(), hnp.floating_dtypes(), hnp.boolean_dtypes()),
            shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        ),
        max_size=4,
    )
)
def test_round_trip_property(tmp_path_factory, arrays: dict[str, np.ndarray]) -> None:
    path = tmp_path_factory.mktemp("ser") / "p.npz"
    save_arrays(path, arrays)
    got = load_arrays(path)
    assert list(got) == list(arrays)
    for name, array in arrays.items():
        assert got[name].dtype == array.dtype
        np.testing.assert_array_equal(got[name], array)  # NaN == NaN here


def test_overwrite_replaces_contents(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    save_arrays(path, {"old": np.ones(3)})
    save_arrays(path, {"new": np.zeros(2)})
    _assert_same(load_arrays(path), {"new": np.zeros(2)})


def _crash(*args, **kwargs):
    raise OSError("simulated crash")


@pytest.mark.parametrize(
    "target",
    [
        (os, "replace"),  # after the temp file is complete, before it is renamed
        (os, "fsync"),  # before the data is on disk
        (np.lib.format, "write_array"),  # in the middle of writing the archive
    ],
)
def test_crash_mid_save_keeps_previous_file(tmp_path: Path, monkeypatch, target) -> None:
    path = tmp_path / "model.npz"
    save_arrays(path, PARAMS)
    before = path.read_bytes()
    monkeypatch.setattr(*target, _crash)
    with pytest.raises(OSError, match="simulated crash"):
        save_arrays(path, {"new": np.ones(5)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    _assert_same(load_arrays(path), PARAMS)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temp file left


def test_interrupt_mid_save_leaves_no_file(tmp_path: Path, monkeypatch) -> None:
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_arrays(tmp_path / "fresh.npz", {"a": np.ones(2)})
    assert list(tmp_path.iterdir()) == []


def test_temp_file_is_in_target_directory(tmp_path: Path, monkeypatch) -> None:
    # os.replace is only atomic within one file system, so the temp file must be a sibling.
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((Path(src).parent, Path(dst).parent))
        real_replace(src, dst)

    monkeypatch.setattr(serialization.os, "replace", spy)
    save_arrays(tmp_path / "m.npz", {"a": np.ones(1)})
    assert seen == [(tmp_path, tmp_path)]


def test_object_arrays_and_bad_names_rejected(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    with pytest.raises(TypeError, match=r"'bad' has dtype object.*pickle"):
        save_arrays(path, {"ok": np.ones(2), "bad": np.array([1, None], dtype=object)})
    with pytest.raises(TypeError, match="non-empty strings"):
        save_arrays(path, {"": np.ones(1)})
    with pytest.raises(TypeError, match="non-empty strings"):
        save_arrays(path, {3: np.ones(1)})
    assert list(tmp_path.iterdir()) == []  # validation happens before anything is written


def test_object_array_in_file_is_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelFileError, match=r"evil\.npz: cannot read 'payload\.npy'.*pickle"):
        load_arrays(path)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    save_arrays(path, PARAMS)
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 5):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=r"m\.npz: not a valid \.npz") as info:
            load_arrays(path)
        assert info.value.path == str(path)


def test_corrupt_member_data(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    save_arrays(path, {"w": np.arange(1000, dtype=np.float64)})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the stored array bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"m\.npz: not a valid \.npz.*CRC"):
        load_arrays(path)


def test_not_an_npz(tmp_path: Path) -> None:
    npy = tmp_path / "single.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(ModelFileError, match=r"single\.npy: not a valid \.npz"):
        load_arrays(npy)
    odd = tmp_path / "odd.npz"
    with zipfile.ZipFile(odd, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ModelFileError, match=r"unexpected member 'notes\.txt'"):
        load_arrays(odd)
    broken = tmp_path / "broken.npz"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("w.npy", b"\x93NUMPY garbage")
    with pytest.raises(ModelFileError, match=r"cannot read 'w\.npy'"):
        load_arrays(broken)
    assert issubclass(ModelFileError, ValueError)


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_arrays(tmp_path / "absent.npz")


# ---- OS errors name the target, not the hidden temp file ---------------------------------------
def _assert_names_target(error: OSError, path: Path) -> None:
    assert error.filename == str(path), error.filename
    assert str(path) in str(error) and ".tmp" not in str(error), str(error)


def test_read_only_directory_names_the_target(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "model.npz"

    def refuse(file, *args, **kwargs):  # what os.open does in a read-only directory
        raise PermissionError(13, "Permission denied", os.fspath(file))

    monkeypatch.setattr(serialization.os, "open", refuse)
    with pytest.raises(PermissionError) as info:
        save_arrays(path, {"a": np.ones(2)})
    _assert_names_target(info.value, path)
    assert isinstance(info.value.__cause__, PermissionError)  # the original is kept as cause


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only directories")
def test_real_read_only_directory_names_the_target(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as info:
            save_arrays(directory / "model.npz", {"a": np.ones(2)})
    finally:
        directory.chmod(0o755)
    _assert_names_target(info.value, directory / "model.npz")


def test_disk_full_while_writing_names_the_target(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "model.npz"

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(serialization.os, "fsync", full)
    with pytest.raises(OSError) as info:
        save_arrays(path, {"a": np.ones(2)})
    _assert_names_target(info.value, path)
    assert list(tmp_path.iterdir()) == []


# ---- stale temp files of killed saves ----------------------------------------------------------
def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_next_save_removes_temp_files_of_dead_writers_only(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    dead, alive = _dead_pid(), os.getpid()
    stale = [tmp_path / f".model.npz.{dead}-{secrets.token_hex(6)}.tmp" for _ in range(3)]
    old_unowned = tmp_path / f".model.npz.{secrets.token_hex(6)}.tmp"  # an older version's
    kept = [
        tmp_path / f".model.npz.{alive}-{secrets.token_hex(6)}.tmp",  # a save still running
        tmp_path / f".model.npz.{secrets.token_hex(6)}.tmp",  # older version's, recent
        tmp_path / f".other.npz.{dead}-{secrets.token_hex(6)}.tmp",  # another target
        tmp_path / f".model.npz.{dead}-{secrets.token_hex(6)}.tmp.bak",  # not our pattern
        tmp_path / "model.npz.tmp",
        tmp_path / "notes.txt",
    ]
    for file in stale + kept + [old_unowned]:
        file.write_bytes(b"x" * 10)
    two_hours_ago = time.time() - 7200
    os.utime(old_unowned, (two_hours_ago, two_hours_ago))
    save_arrays(path, {"a": np.ones(2)})
    left = set(tmp_path.iterdir())
    assert left == set(kept) | {path}


def test_stale_temp_cleanup_after_sigkills(tmp_path: Path) -> None:
    """Kill processes in the middle of saving, again and again: temp files never pile up
    (each new save removes the one the last killed process left), and a final save leaves
    only the target."""
    path = tmp_path / "model.npz"
    saver = (
        "import sys, numpy as np\n"
        "from micrograd_nd.serialization import save_arrays\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    save_arrays(sys.argv[1], {'w': np.zeros(3_000_000)})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    kills_that_left_a_file = 0
    for attempt in range(6):
        process = subprocess.Popen([sys.executable, "-c", saver, str(path)],
                                   stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert process.stdout.readline().strip() == "ready"
            time.sleep(0.2 + 0.05 * attempt)
            process.kill()  # SIGKILL: no except/finally runs, the temp file stays
        finally:
            process.wait(timeout=30)
            process.stdout.close()
        leftovers = [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
        assert len(leftovers) <= 1, leftovers  # before the fix: one more per kill
        kills_that_left_a_file += len(leftovers)
    assert kills_that_left_a_file >= 1, "no kill landed inside a save"
    save_arrays(path, {"w": np.ones(3)})
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    np.testing.assert_array_equal(load_arrays(path)["w"], np.ones(3))


# ---- nn.save refuses a diverged model -----------------------------------------------------------
def test_save_refuses_nonfinite_parameters_and_keeps_the_good_file(tmp_path: Path) -> None:
    from micrograd_nd import nn

    path = tmp_path / "model.npz"
    model = nn.MLP([3, 4, 2], rng=0)
    model.save(path)
    good = path.read_bytes()
    weight = model.parameters()[0]
    weight.data = np.where(np.arange(weight.size).reshape(weight.shape) < 2, np.nan, weight.data)
    model.parameters()[-1].data = np.full(2, np.inf)
    with pytest.raises(ValueError, match=r"refusing to save .*model.npz: parameters "
                                         r"layers.0.weight \(2 of 12 values NaN or inf\), "
                                         r"layers.2.bias \(2 of 2 values NaN or inf\) are not "
                                         r"finite.*allow_nonfinite=True"):
        nn.save(model, path)
    assert path.read_bytes() == good
    model.save(path, allow_nonfinite=True)  # explicitly asked for
    assert np.isnan(load_arrays(path)["layers.0.weight"]).sum() == 2


# ---- nested state: save_tree / load_tree -------------------------------------------------------
def _assert_tree_equal(got, expected, where="root") -> None:
    assert type(got) is type(expected), (where, type(got), type(expected))
    if isinstance(expected, np.ndarray | np.generic):
        assert got.dtype == expected.dtype and got.shape == expected.shape, where
        assert got.tobytes() == expected.tobytes(), where  # bit for bit, NaN payloads too
    elif isinstance(expected, dict):
        assert list(got) == list(expected), where
        for key in expected:
            _assert_tree_equal(got[key], expected[key], f"{where}/{key!r}")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            _assert_tree_equal(a, b, f"{where}/{i}")
    elif isinstance(expected, float) and np.isnan(expected):
        assert np.isnan(got), where
    else:
        assert got == expected, where


def test_tree_round_trip_is_exact(tmp_path: Path) -> None:
    tree = {
        "optimizer": {
            "state": {0: {"step": 3, "exp_avg": np.array([1.5, -2.0], dtype=np.float32)},
                      7: {"momentum_buffer": np.arange(6.0).reshape(2, 3)}},
            "param_groups": [{"lr": 0.1 + 0.2, "betas": (0.9, 0.999), "params": [0, 7],
                              "param_names": ["a.weight", "b"]}],
        },
        "rng": {"bit_generator": "PCG64", "state": {"state": 2**127 + 12345, "inc": 2**64 + 1},
                "has_uint32": 0, "uinteger": 0},
        "floats": [np.inf, -np.inf, np.nan, 5e-324, 1 / 3],
        "scalars": (None, True, False, "text", -7),
        "numpy scalars": [np.float32(0.25), np.float64(0.1), np.int64(-3), np.bool_(True)],
        "0-d": np.array(3, dtype=np.int64),
        "empty": {},
        "__array__": "a user key that looks like a tag",
        "__scalar__": ["so does this one"],
        "paths": {"a/b": np.ones(2),
                  "a": {"b": np.zeros(2)}},  # would share a member name with "a/b" if naive
        "": [],
    }
    path = tmp_path / "state.npz"
    serialization.save_tree(path, tree)
    got = serialization.load_tree(path)
    _assert_tree_equal(got, tree)  # NumPy scalars stay NumPy scalars (a lr from np.logspace)
    assert list(got["optimizer"]["state"]) == [0, 7]  # int keys stay ints
    with np.load(path) as plain:  # still an ordinary .npz, no pickle
        assert "__tree__" in plain.files


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5)
    | hnp.arrays(hnp.floating_dtypes() | hnp.integer_dtypes(), hnp.array_shapes(max_dims=2)),
    lambda children: st.lists(children, max_size=3) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=4) | st.integers(), children, max_size=3),
    max_leaves=8,
))
def test_tree_round_trip_property(tmp_path_factory, value) -> None:
    path = tmp_path_factory.mktemp("tree") / "t.npz"
    serialization.save_tree(path, {"value": value})
    _assert_tree_equal(serialization.load_tree(path)["value"], value)


def test_keys_a_zip_member_name_cannot_hold_round_trip(tmp_path: Path) -> None:
    """Found by the round-trip property under CI's random seed: a key "\\x00" truncated the
    member name built from it."""
    tree = {"value": {"\x00": np.array([0.0], dtype=np.float16), "a\nb": np.ones(2)}}
    serialization.save_tree(tmp_path / "t.npz", tree)
    _assert_tree_equal(serialization.load_tree(tmp_path / "t.npz"), tree)


def test_a_user_dict_shaped_like_the_scalar_tag_in_an_older_file_loads(tmp_path: Path) -> None:
    """Files written before the ``__scalar__`` tag stored such a dict as it was."""
    path = tmp_path / "old.npz"
    skeleton = {"user": {"__scalar__": ["x"]}, "note": {"__scalar__": "no such member"}}
    np.savez(path, __tree__=np.array(json.dumps(skeleton)))
    assert serialization.load_tree(path) == skeleton


def test_tree_refuses_what_would_need_pickle(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"cannot store set at optimizer/lrs"):
        serialization.save_tree(tmp_path / "t.npz", {"optimizer": {"lrs": {0.1}}})
    with pytest.raises(TypeError, match="expected a dict"):
        serialization.save_tree(tmp_path / "t.npz", [1, 2])
    assert list(tmp_path.iterdir()) == []


def test_load_tree_of_a_plain_npz_is_a_model_file_error(tmp_path: Path) -> None:
    save_arrays(tmp_path / "plain.npz", {"a": np.ones(2)})
    with pytest.raises(ModelFileError, match="not a saved state"):
        serialization.load_tree(tmp_path / "plain.npz")
