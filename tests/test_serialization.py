"""Tests for micrograd_nd.serialization: round trips, atomic saves, no pickle, clear errors."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from micrograd_nd import serialization
from micrograd_nd.serialization import ModelFileError, load_arrays, save_arrays

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
