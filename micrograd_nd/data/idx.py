"""IDX files, the format MNIST and Fashion-MNIST are distributed in (plain or gzipped).

Layout: a 4-byte magic number ``00 00 TT DD`` — two zero bytes, a type code ``TT`` and the
number of dimensions ``DD`` — then ``DD`` big-endian uint32 sizes, then the values in
row-major order, big-endian::

    0x08 uint8   0x09 int8   0x0B int16   0x0C int32   0x0D float32   0x0E float64

MNIST images are ``0x00000803`` (uint8, 3 dims: N × rows × cols); labels ``0x00000801``.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["IDXFormatError", "images_to_float", "load_idx", "load_mnist", "save_idx"]

PathLike = str | os.PathLike[str]

# type code -> big-endian dtype, as stored in the file
_CODE_TO_DTYPE = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_DTYPE_TO_CODE = {dt.newbyteorder("="): code for code, dt in _CODE_TO_DTYPE.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """A file is not a valid IDX file (or not the IDX file that was expected)."""

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _read_bytes(path: PathLike) -> bytes:
    """The file's bytes, gunzipped if they start with the gzip magic (whatever the name says)."""
    raw = Path(path).read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise IDXFormatError(path, f"corrupt or truncated gzip data ({err})") from err


def _magic(code: int, ndim: int) -> str:
    return f"0x{(code << 8) | ndim:08X}"


def load_idx(path: PathLike) -> np.ndarray:
    """Parse one IDX file (plain or gzip) into an array in native byte order.

    Raises :class:`IDXFormatError` naming the file for a bad magic number, an unknown type
    code, a truncated header, or a data section whose length differs from what the header
    promises (prod(dims) · itemsize bytes).
    """
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise IDXFormatError(path, f"file is {len(raw)} bytes, too short for the IDX magic number")
    zero0, zero1, code, ndim = raw[:4]
    if zero0 or zero1:
        raise IDXFormatError(
            path, f"bad magic number 0x{raw[:4].hex().upper()}: IDX files start with two 0 bytes"
        )
    if code not in _CODE_TO_DTYPE:
        valid = ", ".join(f"0x{c:02X}" for c in _CODE_TO_DTYPE)
        raise IDXFormatError(path, f"unknown IDX type code 0x{code:02X} (valid: {valid})")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise IDXFormatError(
            path, f"truncated header: {ndim} dims need {header_len} bytes, file has {len(raw)}"
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    dtype = _CODE_TO_DTYPE[code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        what = "truncated data" if actual < expected else "trailing bytes after the data"
        raise IDXFormatError(
            path,
            f"{what}: header shape {shape} of {dtype.name} needs {expected} bytes, found {actual}",
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    # astype copies into a writable array (frombuffer over bytes is read-only) in native order.
    return data.astype(dtype.newbyteorder("="))


def save_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in ``.gz``).

    The dtype must be one IDX can store (uint8, int8, int16, int32, float32, float64) and
    there can be at most 255 dimensions, each below 2³².
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _DTYPE_TO_CODE:
        valid = ", ".join(sorted(str(d) for d in _DTYPE_TO_CODE))
        raise TypeError(f"IDX cannot store dtype {array.dtype} (valid: {valid})")
    if array.ndim > 255 or any(d >= 2**32 for d in array.shape):
        raise ValueError(f"IDX cannot store shape {array.shape}")
    code = _DTYPE_TO_CODE[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=_CODE_TO_DTYPE[code]).tobytes()
    if os.fspath(path).endswith(".gz"):
        payload = gzip.compress(payload)
    Path(path).write_bytes(payload)


# The usual names, gzipped or not; the dotted variant is how some MNIST mirrors spell them.
_MNIST_PATTERNS = ("{kind}-{part}-idx{n}-ubyte", "{kind}-{part}.idx{n}-ubyte")
_MNIST_KINDS = ("train", "t10k")


def _find_mnist_file(directory: Path, kind: str, part: str, ndim: int) -> Path:
    candidates = [
        directory / (pattern.format(kind=kind, part=part, n=ndim) + suffix)
        for pattern in _MNIST_PATTERNS
        for suffix in ("", ".gz")
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    names = ", ".join(c.name for c in candidates)
    raise FileNotFoundError(f"no MNIST {kind} {part} file in {directory}: looked for {names}")


def _load_mnist_part(path: Path, ndim: int) -> np.ndarray:
    array = load_idx(path)
    expected_magic = _magic(0x08, ndim)
    if array.dtype != np.uint8 or array.ndim != ndim:
        found = _magic(_DTYPE_TO_CODE[array.dtype], array.ndim)
        raise IDXFormatError(
            path,
            f"bad magic number {found} ({array.dtype}, {array.ndim} dims): expected "
            f"{expected_magic} (uint8, {ndim} dims)",
        )
    return array


def load_mnist(directory: PathLike, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST-format images and labels (MNIST, Fashion-MNIST, ...) from ``directory``.

    Looks for ``{kind}-images-idx3-ubyte`` and ``{kind}-labels-idx1-ubyte``, each optionally
    ``.gz``, with ``kind`` ``"train"`` or ``"t10k"``. Returns images uint8 ``(N, rows, cols)``
    (28 × 28 for MNIST) and labels int64 ``(N,)``. Use :func:`images_to_float` for features.
    Raises FileNotFoundError naming the files looked for, and :class:`IDXFormatError` for
    wrong magic numbers, truncated files, or image and label counts that disagree.
    """
    if kind not in _MNIST_KINDS:
        raise ValueError(f"kind must be one of {_MNIST_KINDS}, got {kind!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory not found: {directory}")
    images_path = _find_mnist_file(directory, kind, "images", 3)
    labels_path = _find_mnist_file(directory, kind, "labels", 1)
    images = _load_mnist_part(images_path, 3)
    labels = _load_mnist_part(labels_path, 1)
    if len(images) != len(labels):
        raise IDXFormatError(
            labels_path,
            f"has {len(labels)} labels but {images_path.name} has {len(images)} images",
        )
    return images, labels.astype(np.int64)


def images_to_float(
    images: np.ndarray, flatten: bool = True, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """uint8 images ``(N, rows, cols)`` → floats in [0, 1] (pixel / 255), ``(N, rows·cols)``.

    With ``flatten=False`` the shape is kept.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images (pixel values 0..255), got dtype {images.dtype}")
    if images.ndim < 1:
        raise ValueError("expected an array of images with a leading sample dimension")
    out = images.astype(dtype) / np.asarray(255, dtype=dtype)
    return out.reshape(len(out), -1) if flatten else out
