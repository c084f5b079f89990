"""Minibatches, one-hot labels and train/test splits over aligned NumPy arrays.

"Aligned" means the arrays share their first dimension and row ``i`` of each belongs to
sample ``i``; every function here keeps it that way.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from micrograd_nd._rng import RNGLike, as_generator

__all__ = ["BatchLoader", "batches", "one_hot", "train_test_split"]


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _unpacked(arrays: tuple[ArrayLike, ...]) -> tuple[ArrayLike, ...]:
    """``(X, y)`` given as one tuple argument becomes the two arrays.

    Only a tuple whose items are all arrays (things with a ``shape``: ndarrays, Tensors)
    counts: a tuple of numbers or of tuples stays one array, as NumPy reads it.
    """
    single = len(arrays) == 1 and isinstance(arrays[0], tuple) and arrays[0]
    if single and all(hasattr(item, "shape") for item in arrays[0]):
        return arrays[0]
    return arrays


def _aligned(arrays: tuple[ArrayLike, ...]) -> tuple[np.ndarray, ...]:
    """``np.asarray`` each array and check they all have the same (non-scalar) first dim."""
    arrays = _unpacked(arrays)
    if not arrays:
        raise ValueError("expected at least one array")
    out = tuple(np.asarray(a) for a in arrays)
    for i, a in enumerate(out):
        if a.ndim == 0:
            raise ValueError(f"array {i} is a scalar; arrays need a first (sample) dimension")
    lengths = [len(a) for a in out]
    if len(set(lengths)) > 1:
        raise ValueError(f"arrays must have the same first dimension, got lengths {lengths}")
    return out


class BatchLoader:
    """A re-iterable source of aligned minibatches, like a small ``torch.utils.data.DataLoader``.

    Each pass (``for batch in loader``) is one epoch and yields tuples ``(a[idx], b[idx], ...)``
    — always a tuple, even for a single array — of ``batch_size`` rows (the last one may be
    smaller unless ``drop_last``). With ``shuffle`` every epoch draws a new permutation from
    the loader's own Generator, so a seeded loader gives the same sequence of epochs every run.
    Batches are fresh arrays (fancy-indexed copies), never views of the inputs.
    """

    def __init__(
        self,
        *arrays: ArrayLike,
        batch_size: int,
        shuffle: bool = False,
        rng: RNGLike = None,
        drop_last: bool = False,
    ) -> None:
        self.arrays = _aligned(arrays)
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = as_generator(rng)

    @property
    def num_samples(self) -> int:
        return len(self.arrays[0])

    def __len__(self) -> int:
        """Number of batches per epoch: ⌈n / batch_size⌉, or ⌊n / batch_size⌋ with drop_last."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        n = self.num_samples
        # The permutation is drawn when the epoch starts, not when the loader is built,
        # so two passes over one loader see two different orders.
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield tuple(a[idx] for a in self.arrays)

    def __repr__(self) -> str:
        return (
            f"BatchLoader(num_samples={self.num_samples}, arrays={len(self.arrays)}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})"
        )


def batches(
    *arrays: ArrayLike,
    batch_size: int,
    shuffle: bool = False,
    rng: RNGLike = None,
    drop_last: bool = False,
) -> BatchLoader:
    """Aligned minibatches of ``arrays``: ``for xb, yb in batches(X, y, batch_size=32): ...``.

    The arrays may also come as one tuple, ``batches((X, y), batch_size=32)``. Returns a
    :class:`BatchLoader`, so the result has ``len()`` and can be iterated once per epoch (a
    new shuffle each time).
    """
    return BatchLoader(
        *arrays, batch_size=batch_size, shuffle=shuffle, rng=rng, drop_last=drop_last
    )


def one_hot(
    labels: ArrayLike, num_classes: int | None = None, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """Rows of the identity: ``out[i, labels[i]] = 1``, shape ``(n, num_classes)``.

    ``labels`` must be a 1-D array of integers in ``[0, num_classes)``; ``num_classes``
    defaults to ``max(labels) + 1``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size == 0 and labels.dtype == np.float64:
        labels = labels.astype(np.int64)  # np.asarray([]) is float64; an empty list is fine
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("cannot infer num_classes from empty labels; pass num_classes")
        num_classes = int(labels.max()) + 1
    num_classes = _positive_int(num_classes, "num_classes")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        raise ValueError(
            f"labels must be in [0, {num_classes}), got {bad[:5].tolist()}"
            + (" ..." if bad.size > 5 else "")
        )
    out = np.zeros((labels.size, num_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out


_UNSET = object()


def _either(name: str, value: object, alias: str, alias_value: object,
            default: object) -> tuple[str, object]:
    """(the name used, the value) of an argument that has two names (ours, scikit-learn's)."""
    if value is not _UNSET and alias_value is not _UNSET:
        raise TypeError(f"train_test_split: give {name} or {alias}, not both (they are the "
                        "same argument)")
    if value is not _UNSET:
        return name, value
    return (name, default) if alias_value is _UNSET else (alias, alias_value)


def _test_count(name: str, size: object, n: int) -> tuple[int | None, float]:
    """``(count, count / n)`` for an int ``test_size``, ``(None, fraction)`` otherwise."""
    if name == "test_size" and isinstance(size, numbers.Integral) and not isinstance(size, bool):
        if not 1 <= size < n:
            raise ValueError(f"train_test_split: an int test_size is a number of samples and "
                             f"must lie in [1, {n - 1}] for {n} samples, got {size}")
        return int(size), int(size) / n
    number = isinstance(size, numbers.Real) and not isinstance(size, bool)
    if not number or not 0.0 < float(size) < 1.0:
        counted = " or an int number of samples" if name == "test_size" else ""
        raise ValueError(f"{name} must be in (0, 1){counted}, got {size!r}")
    return None, float(size)


def _shares(total: int, sizes: np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``sizes`` (largest remainder method).

    Each part is ⌊total · sizeᵢ / Σ sizes⌋ or one more; the parts sum to ``total`` exactly, and
    ties between equal remainders go to the earlier part. No part exceeds its size.
    """
    exact = total * sizes / sizes.sum()
    parts = np.floor(exact).astype(np.int64)
    left_over = total - int(parts.sum())
    by_remainder = np.argsort(-(exact - parts), kind="stable")
    parts[by_remainder[:left_over]] += 1
    return parts


def train_test_split(
    *arrays: ArrayLike,
    test_fraction: float = _UNSET,  # type: ignore[assignment]
    rng: RNGLike = _UNSET,  # type: ignore[assignment]
    stratify: ArrayLike | None = None,
    test_size: float | int = _UNSET,  # type: ignore[assignment]
    random_state: RNGLike = _UNSET,  # type: ignore[assignment]
) -> list[np.ndarray]:
    """Shuffle aligned arrays and split them: returns ``[a_train, a_test, b_train, b_test, ...]``.

    scikit-learn's names work too: ``test_size`` for ``test_fraction`` (and, as there, an int
    ``test_size`` is a number of samples) and ``random_state`` for ``rng``; giving both names
    of one argument is a TypeError. The default test share is 0.2 (scikit-learn's is 0.25).

    The test set has ``test_size`` samples when that is an int, else ``⌈test_fraction · n⌉``.
    With ``stratify=labels`` those samples are shared among the classes in proportion to
    their sizes (each class gets the floor of its share, the samples left over go to the
    largest remainders), so class proportions match in both parts to within one sample per
    class. Both parts must be non-empty.
    """
    arrays_ = _aligned(arrays)
    n = len(arrays_[0])
    size_name, size = _either("test_fraction", test_fraction, "test_size", test_size, 0.2)
    count, fraction = _test_count(size_name, size, n)
    gen = as_generator(_either("rng", rng, "random_state", random_state, None)[1])
    n_test = count if count is not None else math.ceil(fraction * n)
    if stratify is None:
        order = gen.permutation(n)
        test_idx, train_idx = order[:n_test], order[n_test:]
    else:
        strata = np.asarray(stratify)
        if strata.shape != (n,):
            raise ValueError(f"stratify must have shape ({n},), got {strata.shape}")
        classes, class_sizes = np.unique(strata, return_counts=True)
        test_parts, train_parts = [], []
        for cls, k in zip(classes, _shares(n_test, class_sizes), strict=True):
            members = gen.permutation(np.flatnonzero(strata == cls))
            test_parts.append(members[:k])
            train_parts.append(members[k:])
        # Shuffle again so the classes are interleaved rather than in sorted blocks.
        test_idx = gen.permutation(np.concatenate(test_parts))
        train_idx = gen.permutation(np.concatenate(train_parts))
    if len(test_idx) == 0 or len(train_idx) == 0:
        raise ValueError(
            f"{size_name}={size} on {n} samples gives {len(train_idx)} train and "
            f"{len(test_idx)} test samples; both must be non-empty"
        )
    out: list[np.ndarray] = []
    for a in arrays_:
        out += [a[train_idx], a[test_idx]]
    return out
