"""Tests for micrograd_nd.data: batching, one-hot, splits, toy datasets, digits and IDX files."""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from micrograd_nd.data import (
    BatchLoader,
    IDXFormatError,
    batches,
    images_to_float,
    load_digits,
    load_idx,
    load_mnist,
    make_moons,
    make_spirals,
    one_hot,
    save_idx,
    train_test_split,
)

# ---------------------------------------------------------------- batching


def _epoch_ids(loader: BatchLoader) -> np.ndarray:
    return np.concatenate([b[0] for b in loader]) if len(loader) else np.array([], dtype=int)


@given(
    n=st.integers(0, 60),
    batch_size=st.integers(1, 20),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_sample_once_per_epoch(n: int, batch_size: int, shuffle: bool, seed: int) -> None:
    loader = batches(np.arange(n), batch_size=batch_size, shuffle=shuffle, rng=seed)
    for _ in range(2):
        got = [b[0] for b in loader]
        assert len(got) == len(loader) == -(-n // batch_size)
        assert all(len(b) == batch_size for b in got[:-1])
        ids = np.concatenate(got) if got else np.array([], dtype=int)
        np.testing.assert_array_equal(np.sort(ids), np.arange(n))
        if not shuffle:
            np.testing.assert_array_equal(ids, np.arange(n))


@given(n=st.integers(0, 60), batch_size=st.integers(1, 20), shuffle=st.booleans())
def test_drop_last_keeps_only_full_batches(n: int, batch_size: int, shuffle: bool) -> None:
    loader = batches(np.arange(n), batch_size=batch_size, shuffle=shuffle, drop_last=True, rng=0)
    got = [b[0] for b in loader]
    assert len(got) == len(loader) == n // batch_size
    assert all(len(b) == batch_size for b in got)
    ids = np.concatenate(got) if got else np.array([], dtype=int)
    assert len(np.unique(ids)) == len(ids) == (n // batch_size) * batch_size


def test_aligned_arrays_stay_aligned() -> None:
    n = 23
    X = np.arange(n * 3).reshape(n, 3)
    y = np.arange(n) * 10
    names = np.array([f"s{i}" for i in range(n)])
    for xb, yb, nb in batches(X, y, names, batch_size=5, shuffle=True, rng=1):
        assert xb.shape[1:] == (3,)
        np.testing.assert_array_equal(xb[:, 0] // 3 * 10, yb)
        np.testing.assert_array_equal([f"s{v // 10}" for v in yb], nb)


def test_batches_are_tuples_and_copies() -> None:
    X = np.zeros(4)
    (batch,) = next(iter(batches(X, batch_size=4)))
    batch[:] = 1  # must not write through to the caller's data
    assert not X.any()


def test_same_seed_same_order_and_epochs_differ() -> None:
    data = np.arange(100)
    a = BatchLoader(data, batch_size=7, shuffle=True, rng=42)
    b = BatchLoader(data, batch_size=7, shuffle=True, rng=42)
    epochs_a = [_epoch_ids(a) for _ in range(3)]
    epochs_b = [_epoch_ids(b) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b, strict=True):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    assert not np.array_equal(epochs_a[0], data)


def test_shuffle_uses_the_given_generator_not_global_state() -> None:
    gen = np.random.default_rng(3)
    expected = np.random.default_rng(3).permutation(10)
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    got = _epoch_ids(batches(np.arange(10), batch_size=3, shuffle=True, rng=gen))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_batch_errors() -> None:
    with pytest.raises(ValueError, match=r"same first dimension.*\[3, 4\]"):
        batches(np.zeros(3), np.zeros(4), batch_size=2)
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            batches(np.zeros(3), batch_size=bad)
    with pytest.raises(ValueError, match="at least one array"):
        batches(batch_size=2)
    with pytest.raises(ValueError, match="scalar"):
        batches(np.float64(1.0), batch_size=2)
    with pytest.raises(TypeError, match="rng"):
        batches(np.zeros(3), batch_size=2, shuffle=True, rng="seed")


# ---------------------------------------------------------------- one_hot


@given(st.lists(st.integers(0, 9), max_size=50), st.integers(10, 12))
def test_one_hot_rows_are_identity_rows(labels: list[int], num_classes: int) -> None:
    out = one_hot(labels, num_classes)
    assert out.shape == (len(labels), num_classes)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.sum(axis=1), 1)
    np.testing.assert_array_equal(out.argmax(axis=1), labels)


def test_one_hot_infers_classes_and_dtype() -> None:
    out = one_hot(np.array([2, 0], dtype=np.uint8), dtype=np.float32)
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 0, 0]])
    assert out.dtype == np.float32
    assert one_hot([], num_classes=4).shape == (0, 4)


def test_one_hot_errors() -> None:
    with pytest.raises(ValueError, match=r"1-D.*\(2, 1\)"):
        one_hot([[0], [1]])
    with pytest.raises(TypeError, match=r"integers.*float64"):
        one_hot([0.0, 1.0])
    with pytest.raises(ValueError, match=r"in \[0, 3\).*\[3, -1\]"):
        one_hot([0, 3, -1], num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        one_hot([])
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        one_hot([0], num_classes=0)


# ---------------------------------------------------------------- train_test_split


@given(n=st.integers(2, 80), frac=st.floats(0.05, 0.95), seed=st.integers(0, 1000))
def test_split_partitions_and_aligns(n: int, frac: float, seed: int) -> None:
    X = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    n_test = int(np.ceil(frac * n))
    if n_test >= n:
        with pytest.raises(ValueError, match="both must be non-empty"):
            train_test_split(X, y, test_fraction=frac, rng=seed)
        return
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_fraction=frac, rng=seed)
    assert len(y_te) == n_test and len(y_tr) == n - n_test
    np.testing.assert_array_equal(np.sort(np.concatenate([y_tr, y_te])), y)
    np.testing.assert_array_equal(X_tr[:, 0] // 2, y_tr)
    np.testing.assert_array_equal(X_te[:, 0] // 2, y_te)
    again = train_test_split(X, y, test_fraction=frac, rng=seed)
    np.testing.assert_array_equal(again[3], y_te)


@given(
    counts=st.lists(st.integers(1, 40), min_size=2, max_size=5),
    size=st.one_of(st.floats(0.1, 0.5), st.integers(1, 80)),
    seed=st.integers(0, 1000),
)
def test_stratified_split_has_the_asked_size_and_class_proportions(
        counts: list[int], size: float | int, seed: int):
    labels = np.repeat(np.arange(len(counts)), counts)
    n = len(labels)
    n_test = size if isinstance(size, int) else math.ceil(size * n)
    assume(n_test < n)
    y_tr, y_te = train_test_split(labels, test_size=size, rng=seed, stratify=labels)
    assert len(y_te) == n_test  # exactly what an unstratified split gives
    for cls, count in enumerate(counts):
        in_test = int(np.sum(y_te == cls))
        share = n_test * count / n  # this class's exact share of the test set
        assert math.floor(share) <= in_test <= math.floor(share) + 1
        assert in_test + int(np.sum(y_tr == cls)) == count


def test_stratified_split_gives_the_left_over_samples_to_the_largest_shares():
    labels = np.repeat([0, 1, 2], [2, 5, 3])  # shares of 4 test samples: 0.8, 2.0, 1.2
    _, y_test = train_test_split(labels, test_size=4, rng=0, stratify=labels)
    assert np.bincount(y_test, minlength=3).tolist() == [1, 2, 1]
    _, y_test = train_test_split(np.repeat([0, 1], 5), test_size=3, rng=0,
                                 stratify=np.repeat([0, 1], 5))
    assert np.bincount(y_test).tolist() == [2, 1]  # equal remainders: the first class


def test_split_errors() -> None:
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        train_test_split(np.arange(10), test_fraction=1.0)
    with pytest.raises(ValueError, match="same first dimension"):
        train_test_split(np.arange(10), np.arange(9))
    with pytest.raises(ValueError, match=r"stratify must have shape \(10,\)"):
        train_test_split(np.arange(10), stratify=np.arange(9))
    with pytest.raises(ValueError, match="0 train and 1 test"):
        train_test_split(np.arange(1))


def test_scikit_learn_names_are_the_same_arguments() -> None:
    X, y = np.arange(40).reshape(20, 2), np.arange(20)
    ours = train_test_split(X, y, test_fraction=0.25, rng=3)
    theirs = train_test_split(X, y, test_size=0.25, random_state=3)
    mixed = train_test_split(X, y, test_size=0.25, rng=3)
    for a, b, c in zip(ours, theirs, mixed, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert len(ours[3]) == 5  # ⌈0.25 · 20⌉


def test_int_test_size_is_a_sample_count_as_in_scikit_learn() -> None:
    y_train, y_test = train_test_split(np.arange(20), test_size=7, random_state=0)
    assert len(y_test) == 7 and len(y_train) == 13
    with pytest.raises(ValueError, match=r"an int test_size is a number of samples and must "
                                         r"lie in \[1, 19\] for 20 samples, got 20"):
        train_test_split(np.arange(20), test_size=20)
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\), got 3"):
        train_test_split(np.arange(20), test_fraction=3)  # our name stays a fraction


def test_default_split_is_a_fifth_not_scikit_learns_quarter() -> None:
    assert len(train_test_split(np.arange(20), rng=0)[1]) == 4


@pytest.mark.parametrize("arguments, message", [
    (dict(test_fraction=0.2, test_size=0.3), "give test_fraction or test_size, not both"),
    (dict(rng=0, random_state=0), "give rng or random_state, not both"),
])
def test_both_names_of_one_argument_is_an_error(arguments, message) -> None:
    with pytest.raises(TypeError, match=message):
        train_test_split(np.arange(10), **arguments)


def test_batches_accepts_a_tuple_of_arrays() -> None:
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    from_tuple = list(batches((X, y), batch_size=4, shuffle=True, rng=1))
    from_args = list(batches(X, y, batch_size=4, shuffle=True, rng=1))
    assert len(from_tuple) == 3
    for (xa, ya), (xb, yb) in zip(from_tuple, from_args, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    # a tuple of numbers is one array, as NumPy reads it
    assert [b[0].tolist() for b in batches((1.0, 2.0, 3.0), batch_size=2)] == [[1.0, 2.0], [3.0]]
    with pytest.raises(ValueError, match="same first dimension"):
        batches((X, y[:9]), batch_size=4)


# ---------------------------------------------------------------- generators


@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_make_moons_shapes_balance_determinism(n: int) -> None:
    X, y = make_moons(n, noise=0.1, rng=5)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.bincount(y, minlength=2).tolist() == [(n + 1) // 2, n // 2]
    X2, y2 = make_moons(n, noise=0.1, rng=5)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_make_moons_geometry_without_noise() -> None:
    X, y = make_moons(200, noise=0.0, rng=0)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)  # unit half circle above the axis
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert (upper[:, 1] >= -1e-12).all() and (lower[:, 1] <= 0.5 + 1e-12).all()
    assert not np.array_equal(y, np.sort(y))  # rows are shuffled


@given(n_classes=st.integers(2, 6), extra=st.integers(0, 50), seed=st.integers(0, 100))
def test_make_spirals_shapes_balance_determinism(n_classes: int, extra: int, seed: int) -> None:
    n = n_classes + extra
    X, y = make_spirals(n, n_classes=n_classes, noise=0.05, rng=seed)
    assert X.shape == (n, 2) and X.dtype == np.float64 and y.dtype == np.int64
    counts = np.bincount(y, minlength=n_classes)
    assert counts.sum() == n and counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(X, make_spirals(n, n_classes, 0.05, rng=seed)[0])


def test_make_spirals_geometry_without_noise() -> None:
    X, y = make_spirals(300, n_classes=3, noise=0.0, rng=0)
    r = np.hypot(*X.T)
    assert r.max() == pytest.approx(1.0) and r.min() == pytest.approx(0.0)
    for k in range(3):
        arm = X[y == k]
        radius = np.hypot(*arm.T)
        outer = arm[np.argmax(radius)]
        # The tip of arm k sits at angle 2πk/3 + 4 (radians).
        np.testing.assert_allclose(
            outer, [np.cos(2 * np.pi * k / 3 + 4), np.sin(2 * np.pi * k / 3 + 4)]
        )


def test_generator_errors() -> None:
    with pytest.raises(ValueError, match="n_samples"):
        make_moons(0)
    with pytest.raises(ValueError, match="noise"):
        make_moons(10, noise=-0.1)
    with pytest.raises(ValueError, match="n_classes"):
        make_spirals(10, n_classes=1)
    with pytest.raises(ValueError, match="n_samples must be an int >= 4"):
        make_spirals(3, n_classes=4)


def test_load_digits_scaled_to_unit_interval() -> None:
    pytest.importorskip("sklearn")
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    images, _ = load_digits(flatten=False, dtype=np.float32)
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32


def test_load_digits_without_sklearn_says_how_to_install(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"micrograd_nd\[examples\]"):
        load_digits()


# ---------------------------------------------------------------- IDX files
# The files are written byte by byte here (not with save_idx), so the parser is checked
# against the format itself.

_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def _idx_bytes(array: np.ndarray, code: int | None = None, ndim: int | None = None) -> bytes:
    code = _CODES[array.dtype.type] if code is None else code
    ndim = array.ndim if ndim is None else ndim
    header = bytes([0, 0, code, ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload) if path.name.endswith(".gz") else payload)
    return path


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_load_idx_parses_hand_written_files(tmp_path: Path, suffix: str, dtype) -> None:
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    got = load_idx(_write(tmp_path / f"a.idx{suffix}", _idx_bytes(array)))
    assert got.dtype == np.dtype(dtype)
    assert got.dtype.isnative and got.flags.writeable
    np.testing.assert_array_equal(got, array)


def test_load_idx_known_bytes(tmp_path: Path) -> None:
    # 0x0B = int16, 1 dim of size 2, values 258 and -2 big-endian.
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    np.testing.assert_array_equal(load_idx(_write(tmp_path / "k.idx", raw)), [258, -2])


@given(
    shape=st.lists(st.integers(0, 4), min_size=0, max_size=3),
    dtype=st.sampled_from(list(_CODES)),
    gz=st.booleans(),
)
def test_save_idx_round_trip(tmp_path_factory, shape, dtype, gz) -> None:
    path = tmp_path_factory.mktemp("idx") / ("r.idx.gz" if gz else "r.idx")
    array = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    save_idx(path, array)
    assert path.read_bytes()[:2] == (b"\x1f\x8b" if gz else b"\x00\x00")
    got = load_idx(path)
    assert got.dtype == array.dtype and got.shape == array.shape
    np.testing.assert_array_equal(got, array)


def test_save_idx_rejects_unstorable_dtype(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="IDX cannot store dtype int64"):
        save_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))


def test_load_idx_format_errors(tmp_path: Path) -> None:
    good = _idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))
    cases = {
        "bad_magic.idx": (b"\x01" + good[1:], "bad magic number 0x01000802"),
        "bad_code.idx": (good[:2] + b"\x07" + good[3:], "unknown IDX type code 0x07"),
        "short.idx": (good[:3], "too short"),
        "short_header.idx": (good[:6], "truncated header: 2 dims need 12 bytes, file has 6"),
        "truncated.idx": (good[:-2], "truncated data.*needs 6 bytes, found 4"),
        "trailing.idx": (good + b"\x00", "trailing bytes.*needs 6 bytes, found 7"),
        "truncated.idx.gz": (good[:-1], "truncated data"),
    }
    for name, (payload, message) in cases.items():
        path = _write(tmp_path / name, payload)
        with pytest.raises(IDXFormatError, match=message) as info:
            load_idx(path)
        assert name in str(info.value) and info.value.path == str(path)
    broken_gzip = tmp_path / "broken.gz"
    broken_gzip.write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(IDXFormatError, match=r"broken\.gz: corrupt or truncated gzip"):
        load_idx(broken_gzip)
    assert issubclass(IDXFormatError, ValueError)


def _mnist_dir(
    tmp_path: Path, kind: str = "train", n_images: int = 5, n_labels: int = 5, gz: bool = False
) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n_images, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n_labels, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    _write(tmp_path / f"{kind}-images-idx3-ubyte{suffix}", _idx_bytes(images))
    _write(tmp_path / f"{kind}-labels-idx1-ubyte{suffix}", _idx_bytes(labels))
    return tmp_path, images, labels


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("kind", ["train", "t10k"])
def test_load_mnist(tmp_path: Path, kind: str, gz: bool) -> None:
    directory, images, labels = _mnist_dir(tmp_path, kind, gz=gz)
    got_images, got_labels = load_mnist(str(directory), kind=kind)
    assert got_images.dtype == np.uint8 and got_images.shape == (5, 28, 28)
    assert got_labels.dtype == np.int64
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_load_mnist_count_mismatch(tmp_path: Path) -> None:
    directory, _, _ = _mnist_dir(tmp_path, n_images=5, n_labels=4)
    with pytest.raises(IDXFormatError, match="has 4 labels but train-images-idx3-ubyte has 5"):
        load_mnist(directory)


def test_load_mnist_wrong_magic_and_ndim(tmp_path: Path) -> None:
    directory, images, labels = _mnist_dir(tmp_path)
    # labels stored as a 2-D array: magic 0x00000802 instead of 0x00000801
    _write(directory / "train-labels-idx1-ubyte", _idx_bytes(labels.reshape(5, 1)))
    with pytest.raises(
        IDXFormatError,
        match=r"labels-idx1-ubyte: bad magic number 0x00000802"
        r".*expected 0x00000801 \(uint8, 1 dims\)",
    ):
        load_mnist(directory)
    # images stored as float32: magic 0x00000D03
    _write(directory / "train-labels-idx1-ubyte", _idx_bytes(labels))
    _write(directory / "train-images-idx3-ubyte", _idx_bytes(images.astype(np.float32)))
    with pytest.raises(IDXFormatError, match=r"0x00000D03.*expected 0x00000803"):
        load_mnist(directory)


def test_load_mnist_truncated_images(tmp_path: Path) -> None:
    directory, images, _ = _mnist_dir(tmp_path)
    _write(directory / "train-images-idx3-ubyte", _idx_bytes(images)[:-100])
    expected = images.size
    with pytest.raises(
        IDXFormatError, match=f"truncated data.*needs {expected} bytes, found {expected - 100}"
    ):
        load_mnist(directory)


def test_load_mnist_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="directory not found"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(
        FileNotFoundError,
        match=r"t10k images.*t10k-images-idx3-ubyte, "
        r"t10k-images-idx3-ubyte\.gz",
    ):
        load_mnist(tmp_path, kind="t10k")
    _mnist_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"train labels.*train-labels-idx1-ubyte"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="kind must be one of"):
        load_mnist(tmp_path, kind="test")


def test_images_to_float() -> None:
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    flat = images_to_float(images)
    assert flat.shape == (1, 4) and flat.dtype == np.float64
    np.testing.assert_allclose(flat, [[0.0, 1.0, 0.2, 0.4]])
    kept = images_to_float(images, flatten=False, dtype=np.float32)
    assert kept.shape == (1, 2, 2) and kept.dtype == np.float32
    with pytest.raises(TypeError, match="uint8"):
        images_to_float(images.astype(np.float64))
