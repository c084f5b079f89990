"""NumPy-only data utilities for training: minibatches, splits, toy datasets and MNIST files.

- :mod:`.batching` — :func:`batches` / :class:`BatchLoader`, :func:`one_hot`,
  :func:`train_test_split`
- :mod:`.datasets` — :func:`make_moons`, :func:`make_spirals`, :func:`load_digits`
- :mod:`.idx` — :func:`load_idx`, :func:`save_idx`, :func:`load_mnist`, :func:`images_to_float`
"""

from micrograd_nd.data.batching import BatchLoader, batches, one_hot, train_test_split
from micrograd_nd.data.datasets import load_digits, make_moons, make_spirals
from micrograd_nd.data.idx import IDXFormatError, images_to_float, load_idx, load_mnist, save_idx

__all__ = [
    "BatchLoader",
    "IDXFormatError",
    "batches",
    "images_to_float",
    "load_digits",
    "load_idx",
    "load_mnist",
    "make_moons",
    "make_spirals",
    "one_hot",
    "save_idx",
    "train_test_split",
]
