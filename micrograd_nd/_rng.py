"""One rule for randomness: every random draw goes through an explicit ``np.random.Generator``.

Functions accept ``rng`` as a Generator (used as is, so successive calls continue its stream),
an int seed (a fresh ``default_rng(seed)``: same seed, same numbers), or None (fresh OS
entropy). NumPy's global state (``np.random.seed``) is never read or written.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["RNGLike", "as_generator"]

RNGLike = np.random.Generator | int | None


def as_generator(rng: RNGLike) -> np.random.Generator:
    """Return ``rng`` if it is a Generator, else ``np.random.default_rng(rng)``."""
    if isinstance(rng, np.random.Generator):
        return rng
    # bool is an int subclass; a seed of True is almost certainly a mistake.
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(None if rng is None else int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None, not {type(rng).__name__}"
    )
