"""Save and load named arrays (model parameters) as ``.npz`` files, atomically and without pickle.

The file is a standard NumPy ``.npz``: a zip archive with one ``{name}.npy`` member per array,
so ``np.load(path)`` reads it too, and names such as ``layers.0.weight`` round-trip unchanged.

Saving writes a temporary file next to the target, flushes and fsyncs it, then renames it over
the target with ``os.replace`` (atomic on POSIX and Windows): a crash mid-save leaves either
the old file or the new one, never a half-written mix.
"""

from __future__ import annotations

import io
import os
import secrets
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ModelFileError", "load_arrays", "save_arrays"]

PathLike = str | os.PathLike[str]
_MEMBER_SUFFIX = ".npy"


class ModelFileError(ValueError):
    """A saved-arrays file exists but cannot be read: corrupt, truncated, or not an ``.npz``."""

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def _validated(arrays: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a mapping of name → array, got {type(arrays).__name__}")
    out = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"array names must be non-empty strings, got {name!r}")
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as error:  # e.g. ragged nested lists
            raise TypeError(f"array {name!r} cannot be converted to an array: {error}") from None
        # Object arrays could only be stored by pickling, and unpickling runs arbitrary code.
        if array.dtype.hasobject:
            raise TypeError(
                f"array {name!r} has dtype {array.dtype}, which would need pickle; "
                "only numeric/bool/string arrays can be saved"
            )
        out[name] = array
    return out


def _create_temp(target: Path) -> tuple[int, Path]:
    """A new, exclusively created file in the target's directory (so os.replace is a rename)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            # Mode 0o666 minus the umask: the saved file gets the permissions a plain
            # open() would give it (mkstemp's 0o600 would survive the rename).
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself; best effort, since not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_arrays(path: PathLike, arrays: Mapping[str, ArrayLike], *, compress: bool = False) -> None:
    """Write ``arrays`` to ``path`` (exactly that name; no suffix is added) as an ``.npz``.

    Atomic: the previous file at ``path``, if any, stays intact unless the new one is complete.
    Raises TypeError for object arrays (no pickle) or non-string names. ``compress`` deflates
    the members, like ``np.savez_compressed``.
    """
    validated = _validated(arrays)
    target = Path(path)
    if not target.parent.is_dir():  # else the error would name our temporary file
        raise FileNotFoundError(f"cannot save {target}: directory {target.parent} does not exist")
    fd, temp = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as file:
            compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            with zipfile.ZipFile(file, "w", compression=compression, allowZip64=True) as archive:
                for name, array in validated.items():
                    with archive.open(name + _MEMBER_SUFFIX, "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())  # the data must be on disk before the rename is
        os.replace(temp, target)
    except BaseException:
        # Whatever went wrong (including KeyboardInterrupt), leave no temp file behind.
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def load_arrays(path: PathLike) -> dict[str, np.ndarray]:
    """Read a file written by :func:`save_arrays` (or ``np.savez``) into ``{name: array}``.

    Never unpickles. A missing file raises FileNotFoundError; anything else that prevents
    reading every array (not a zip, truncated, bad checksum, object arrays) raises
    :class:`ModelFileError` naming the path and the problem.
    """
    arrays: dict[str, np.ndarray] = {}
    member = "the archive"  # what was being read when something failed, for the message
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                member = repr(info.filename)
                if not info.filename.endswith(_MEMBER_SUFFIX):
                    raise ModelFileError(path, f"unexpected member {info.filename!r} in archive")
                name = info.filename[: -len(_MEMBER_SUFFIX)]
                if name in arrays:
                    raise ModelFileError(path, f"array {name!r} is stored twice")
                data = archive.read(info)  # reads the whole member, so the CRC is checked
                arrays[name] = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise  # the file is absent or unreadable, not corrupt
    except ModelFileError:
        raise
    except zipfile.BadZipFile as err:
        raise ModelFileError(path, f"not a valid .npz (zip) archive: {err}") from err
    except (ValueError, EOFError, OSError, zlib.error, RuntimeError, NotImplementedError) as err:
        raise ModelFileError(path, f"cannot read {member}: {type(err).__name__}: {err}") from err
    return arrays
