"""Save and load named arrays (model parameters) as ``.npz`` files, atomically and without pickle.

The file is a standard NumPy ``.npz``: a zip archive with one ``{name}.npy`` member per array,
so ``np.load(path)`` reads it too, and names such as ``layers.0.weight`` round-trip unchanged.
:func:`save_tree` / :func:`load_tree` store nested state (optimiser and scheduler state, RNG
states) in the same format: the arrays as members, everything else as a JSON member.

Saving writes a temporary file next to the target, flushes and fsyncs it, then renames it over
the target with ``os.replace`` (atomic on POSIX and Windows): a crash mid-save leaves either
the old file or the new one, never a half-written mix. The temporary file is named
``.{target}.{pid}-{random}.tmp``; one left behind by a killed process is removed by the next
save to the same target (only files of that pattern, only for that target, only when the
process that wrote it no longer runs).
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import time
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "ModelFileError", "check_finite_arrays", "load_arrays", "load_tree", "save_arrays",
    "save_tree",
]

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


def _temp_name(target: Path) -> str:
    return f".{target.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp"


def _create_temp(target: Path) -> tuple[int, Path]:
    """A new, exclusively created file in the target's directory (so os.replace is a rename)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = target.with_name(_temp_name(target))
        try:
            # Mode 0o666 minus the umask: the saved file gets the permissions a plain
            # open() would give it (mkstemp's 0o600 would survive the rename).
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue


# Temp files of older versions had no pid in their name: removed once they are this old
# (no save writes for an hour without touching its file).
_UNOWNED_TEMP_AGE = 3600.0


def _process_is_running(pid: int) -> bool:
    """Whether ``pid`` names a live process; True when unsure (never delete a live save)."""
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill would terminate it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists but belongs to another user
        return True
    return True


def _remove_stale_temps(target: Path) -> None:
    """Delete temp files of earlier saves to ``target`` whose writer was killed.

    Only names this module creates for this very target, and only when the process that
    wrote one is gone (or, for the pid-less names of older versions, after an hour): a save
    running concurrently in another process keeps its file.
    """
    name = re.escape(target.name)
    owned = re.compile(rf"\.{name}\.(\d+)-[0-9a-f]{{12}}\.tmp")
    unowned = re.compile(rf"\.{name}\.[0-9a-f]{{12}}\.tmp")
    try:
        candidates = [entry for entry in os.scandir(target.parent)
                      if entry.name.startswith(f".{target.name}.") and entry.is_file()]
    except OSError:
        return  # the save itself will report an unreadable directory
    for entry in candidates:
        match = owned.fullmatch(entry.name)
        try:
            if match:
                stale = not _process_is_running(int(match.group(1)))
            elif unowned.fullmatch(entry.name):
                stale = time.time() - entry.stat().st_mtime > _UNOWNED_TEMP_AGE
            else:
                continue
            if stale:
                os.unlink(entry.path)
        except OSError:
            continue  # gone already, or not ours to delete: the save goes on


def _naming_target(error: OSError, target: Path) -> OSError:
    """The same OS error, naming the file the caller asked for instead of our temp file."""
    if error.errno is None:
        return error
    return type(error)(error.errno, f"cannot save {target}: {error.strerror}", os.fspath(target))


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
    the members, like ``np.savez_compressed``. An OS error (read-only directory, disk full)
    names ``path``, not the temporary file.
    """
    validated = _validated(arrays)
    target = Path(path)
    if not target.parent.is_dir():  # else the error would name our temporary file
        raise FileNotFoundError(f"cannot save {target}: directory {target.parent} does not exist")
    _remove_stale_temps(target)
    try:
        fd, temp = _create_temp(target)
    except OSError as error:
        raise _naming_target(error, target) from error
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
    except BaseException as error:
        # Whatever went wrong (including KeyboardInterrupt), leave no temp file behind.
        temp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _naming_target(error, target) from error
        raise
    _fsync_directory(target.parent)


def check_finite_arrays(
    arrays: Mapping[str, np.ndarray], path: PathLike, what: str = "parameters"
) -> None:
    """Refuse to save ``arrays`` to ``path`` if a floating array holds NaN or inf.

    A diverged model is all NaN; writing it over the previous file would lose the good one.
    The ValueError names every non-finite array and how many of its values are bad.
    """
    bad = []
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            count = int(array.size - np.count_nonzero(np.isfinite(array)))
            bad.append(f"{name} ({count} of {array.size} values NaN or inf)")
    if bad:
        raise ValueError(
            f"refusing to save {os.fspath(path)}: {what} {', '.join(bad)} are not finite "
            "(training diverged?); saving would replace the file with a ruined model. "
            "Pass allow_nonfinite=True to save anyway"
        )


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


# ---- nested state -----------------------------------------------------------------------------
# A tree of dicts, lists, tuples, numbers, strings, None and arrays is stored as: each array a
# member "tree/<n>" of the .npz, numbered in order (a name built from the user's keys could
# hold what a zip member name cannot: "\x00" truncates it), and the rest as JSON in the member
# "__tree__", where an array appears as {"__array__": member}, a NumPy scalar (np.float64(0.1),
# a learning rate computed with NumPy) as {"__scalar__": member}, and the containers JSON lacks
# are tagged: a tuple as {"__tuple__": [...]}, a dict with non-string keys (or a key that looks
# like a tag) as {"__items__": [[key, value], ...]}. Python's json writes inf and NaN (as Infinity,
# NaN) and arbitrarily large ints (RNG states) exactly, and floats round-trip bit for bit.
_TREE_MEMBER = "__tree__"
_TAGS = frozenset({"__array__", "__scalar__", "__tuple__", "__items__"})


def _child(path: str, key: object) -> str:
    return f"{path}/{key}" if path else str(key)


def _encode(value: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        member = f"tree/{len(arrays)}"
        arrays[member] = np.asarray(value)
        return {"__scalar__" if isinstance(value, np.generic) else "__array__": member}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, _child(path, i), arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, _child(path, i), arrays) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        plain = all(isinstance(k, str) and k and "/" not in k for k in value) and not (
            _TAGS & set(value))
        if plain:
            return {k: _encode(v, _child(path, k), arrays) for k, v in value.items()}
        items = []
        for i, (k, v) in enumerate(value.items()):
            if not (k is None or isinstance(k, bool | int | float | str)):
                raise TypeError(f"save_tree: key {k!r} at {path or '/'} is not a number or "
                                "string")
            items.append([k, _encode(v, _child(path, i), arrays)])
        return {"__items__": items}
    raise TypeError(
        f"save_tree: cannot store {type(value).__name__} at {path or '/'} (only dicts, lists, "
        "tuples, numbers, strings, None and arrays; no pickle)"
    )


def _decode(value: Any, arrays: Mapping[str, np.ndarray], path: PathLike) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays, path) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"__array__"}:
        member = value["__array__"]
        if member not in arrays:
            raise ModelFileError(path, f"the state refers to array {member!r}, which is missing")
        return arrays[member]
    if set(value) == {"__scalar__"} and isinstance(value["__scalar__"], str) and (
            value["__scalar__"] in arrays):  # else a user's dict from a file older than the tag
        return arrays[value["__scalar__"]][()]
    if set(value) == {"__tuple__"}:
        return tuple(_decode(v, arrays, path) for v in value["__tuple__"])
    if set(value) == {"__items__"}:
        return {k: _decode(v, arrays, path) for k, v in value["__items__"]}
    return {k: _decode(v, arrays, path) for k, v in value.items()}


def save_tree(path: PathLike, tree: Mapping[str, Any], *, compress: bool = False) -> None:
    """Save nested state (dicts, lists, tuples, numbers, strings, None, arrays) atomically.

    The file is an ``.npz`` like :func:`save_arrays` writes (no pickle): arrays are stored
    exactly (dtype, shape, bits), the structure and the scalars as JSON. Floats, including
    inf and NaN, and ints of any size round-trip exactly; NumPy scalars stay NumPy scalars of
    their dtype; tuples stay tuples and dict keys keep their types.
    """
    if not isinstance(tree, Mapping):
        raise TypeError(f"save_tree: expected a dict, got {type(tree).__name__}")
    arrays: dict[str, np.ndarray] = {}
    skeleton = _encode(tree, "", arrays)
    arrays[_TREE_MEMBER] = np.array(json.dumps(skeleton, allow_nan=True))
    save_arrays(path, arrays, compress=compress)


def load_tree(path: PathLike) -> dict[str, Any]:
    """Read what :func:`save_tree` wrote; a file that is not such a tree is a ModelFileError."""
    arrays = load_arrays(path)
    text = arrays.pop(_TREE_MEMBER, None)
    if text is None or text.dtype.kind != "U" or text.ndim != 0:
        raise ModelFileError(path, "not a saved state: the __tree__ member is missing")
    try:
        skeleton = json.loads(str(text))
    except ValueError as error:
        raise ModelFileError(path, f"the __tree__ member is not valid JSON: {error}") from None
    return _decode(skeleton, arrays, path)
