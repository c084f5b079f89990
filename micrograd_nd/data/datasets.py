"""Small classification datasets: two toy generators and scikit-learn's bundled 8×8 digits.

Every loader returns ``(X, y)`` with ``X`` float and ``y`` int64 class indices. The generators
shuffle their rows (so unshuffled minibatches still mix the classes) and are determined
entirely by ``rng``.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import DTypeLike

from micrograd_nd._rng import RNGLike, as_generator

__all__ = ["load_digits", "make_moons", "make_spirals"]


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_noise(noise: float) -> float:
    noise = float(noise)
    if not noise >= 0.0:  # also rejects NaN
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    return noise


def _class_sizes(n_samples: int, n_classes: int) -> list[int]:
    """Split n as evenly as possible; the first ``n % k`` classes get one extra sample."""
    base, extra = divmod(n_samples, n_classes)
    return [base + (k < extra) for k in range(n_classes)]


def _shuffled(X: np.ndarray, y: np.ndarray, gen: np.random.Generator) -> tuple[np.ndarray, ...]:
    order = gen.permutation(len(y))
    return X[order], y[order]


def make_moons(
    n_samples: int = 100, noise: float = 0.1, rng: RNGLike = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles in 2-D, not linearly separable.

    Class 0: ``(cos t, sin t)``; class 1: ``(1 − cos t, ½ − sin t)``, with ``t`` evenly spaced
    in ``[0, π]``, plus Gaussian noise of standard deviation ``noise`` on each coordinate.
    Returns ``X`` float64 ``(n_samples, 2)`` and ``y`` int64 ``(n_samples,)``; class 0 gets
    the extra sample when ``n_samples`` is odd.
    """
    n_samples = _check_count(n_samples, "n_samples", 1)
    noise = _check_noise(noise)
    gen = as_generator(rng)
    n0, n1 = _class_sizes(n_samples, 2)
    t0, t1 = np.linspace(0.0, np.pi, n0), np.linspace(0.0, np.pi, n1)
    upper = np.column_stack([np.cos(t0), np.sin(t0)])
    lower = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
    X = np.concatenate([upper, lower]) + noise * gen.standard_normal((n_samples, 2))
    y = np.repeat(np.array([0, 1], dtype=np.int64), [n0, n1])
    return _shuffled(X, y, gen)


def make_spirals(
    n_samples: int = 300, n_classes: int = 3, noise: float = 0.05, rng: RNGLike = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n_classes`` interleaved spiral arms in 2-D, the classic test of a nonlinear classifier.

    Arm ``k`` is ``r · (cos θ, sin θ)`` with ``r`` evenly spaced in ``[0, 1]`` and
    ``θ = 2πk / n_classes + 4r`` (each arm turns 4 radians from the centre out), plus
    Gaussian noise of standard deviation ``noise`` on each coordinate. ``n_samples`` is the
    total, split as evenly as possible between the classes. Returns ``X`` float64
    ``(n_samples, 2)`` and ``y`` int64 ``(n_samples,)``.
    """
    n_classes = _check_count(n_classes, "n_classes", 2)
    n_samples = _check_count(n_samples, "n_samples", n_classes)
    noise = _check_noise(noise)
    gen = as_generator(rng)
    sizes = _class_sizes(n_samples, n_classes)
    arms = []
    for k, size in enumerate(sizes):
        r = np.linspace(0.0, 1.0, size)
        theta = 2.0 * np.pi * k / n_classes + 4.0 * r
        arms.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
    X = np.concatenate(arms) + noise * gen.standard_normal((n_samples, 2))
    y = np.repeat(np.arange(n_classes, dtype=np.int64), sizes)
    return _shuffled(X, y, gen)


_DIGITS_PIXEL_MAX = 16.0  # the 8×8 digits count set pixels in 4×4 blocks: values 0..16


def load_digits(
    flatten: bool = True, dtype: DTypeLike = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8×8 handwritten digits (1797 images, 10 classes), scaled to [0, 1].

    Returns ``X`` of shape ``(1797, 64)`` (or ``(1797, 8, 8)`` with ``flatten=False``), pixel
    values divided by 16, and ``y`` int64 labels 0–9, in scikit-learn's order. Needs
    scikit-learn (``pip install "micrograd_nd[examples]"``), which ships the data; nothing is
    downloaded.
    """
    # Imported here, not at module level, because scikit-learn is an optional dependency.
    try:
        from sklearn.datasets import load_digits as _sklearn_load_digits
    except ImportError as err:
        raise ImportError(
            "load_digits needs scikit-learn, which bundles the digits data: "
            'pip install "micrograd_nd[examples]" (or pip install scikit-learn)'
        ) from err
    bunch = _sklearn_load_digits()
    images = np.asarray(bunch.images, dtype=np.float64) / _DIGITS_PIXEL_MAX
    X = images.reshape(len(images), -1) if flatten else images
    return X.astype(dtype, copy=False), np.asarray(bunch.target, dtype=np.int64)
