"""One rule for randomness: every random draw goes through an explicit ``np.random.Generator``.

Functions accept ``rng`` as a Generator (used as is, so successive calls continue its stream),
an int seed (a fresh ``default_rng(seed)``: same seed, same numbers), or None: the library's
default Generator, which :func:`manual_seed` reseeds (PyTorch's ``torch.manual_seed``). So
``manual_seed(0)`` followed by building a model, shuffling batches and drawing dropout masks
without an explicit ``rng`` repeats exactly. Until the first ``manual_seed`` the default
Generator is seeded from OS entropy. NumPy's global state (``np.random.seed``) is never read
or written.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = [
    "RNGLike",
    "as_generator",
    "default_generator",
    "get_rng_state",
    "manual_seed",
    "set_rng_state",
]

RNGLike = np.random.Generator | int | None

# One object for the life of the process: manual_seed resets its state in place, so code that
# kept a reference to it (a BatchLoader built with rng=None) follows the new seed too.
_DEFAULT_GENERATOR = np.random.Generator(np.random.PCG64())


def _is_seed(value: Any) -> bool:
    # bool is an int subclass; a seed of True is almost certainly a mistake.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_generator(rng: RNGLike) -> np.random.Generator:
    """``rng`` if it is a Generator, ``default_rng(rng)`` for an int, the default for None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return _DEFAULT_GENERATOR
    if _is_seed(rng):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None, not {type(rng).__name__}"
    )


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default Generator; afterwards it draws what ``default_rng(seed)`` would.

    Returns the default Generator. ``seed`` must be an int ≥ 0.
    """
    if not _is_seed(seed):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be ≥ 0, got {seed}")
    _DEFAULT_GENERATOR.bit_generator.state = np.random.PCG64(int(seed)).state
    return _DEFAULT_GENERATOR


def default_generator() -> np.random.Generator:
    """The Generator used wherever ``rng`` is None (the one :func:`manual_seed` reseeds)."""
    return _DEFAULT_GENERATOR


def get_rng_state() -> dict[str, Any]:
    """A copy of the default Generator's state, for :func:`set_rng_state` (checkpoints)."""
    return _DEFAULT_GENERATOR.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state from :func:`get_rng_state`: the default stream continues from there."""
    if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
        raise ValueError(
            "set_rng_state: expected a state dict from get_rng_state() (a PCG64 state), "
            f"got {type(state).__name__}"
        )
    _DEFAULT_GENERATOR.bit_generator.state = state
