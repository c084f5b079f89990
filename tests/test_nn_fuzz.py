"""Fuzz the nn toolkit with bad arguments: only the documented errors (test_fuzz_api.ALLOWED:
TypeError, ValueError, OverflowError) may come out, with a message, never an AttributeError,
ZeroDivisionError, KeyError or a raw NumPy error.

A call may also succeed (junk is sometimes valid). The junk is test_fuzz_api.py's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz_api import ALLOWED, junk  # pytest puts tests/ (no __init__.py) on sys.path

from micrograd_nd import Tensor, creation, nn
from micrograd_nd import functional as F

arrays = st.sampled_from([np.ones((2, 3)), np.ones(3), np.ones((3, 1)), np.ones(()),
                          np.ones((0, 3)), np.arange(6).reshape(2, 3), np.full((2, 3), 1 / 3)])
X = np.linspace(-1.0, 1.0, 6).reshape(2, 3)


def _small(value):
    """A finite float clamped to [−10, 10] (arange(0, 5e9) would try to allocate 37 GiB)."""
    if isinstance(value, float) and np.isfinite(value):
        return float(np.clip(value, -10.0, 10.0))
    return value

FUNCTIONS = {
    "leaky_relu": lambda a, b: F.leaky_relu(a, b),
    "elu": lambda a, b: F.elu(a, b),
    "gelu": lambda a, b: F.gelu(a, approximate="tanh"),
    "silu": lambda a, b: F.silu(a),
    "softplus": lambda a, b: F.softplus(a, b),
    "softmax.dim": lambda a, b: F.softmax(a, dim=b),
    "log_softmax.dim": lambda a, b: F.log_softmax(a, b),
    "logsumexp.keepdim": lambda a, b: F.logsumexp(a, b, keepdim=True),
    "dropout": lambda a, b: F.dropout(a, b, rng=0),
    "dropout.rng": lambda a, b: F.dropout(X, 0.5, rng=b),
    "batch_norm": lambda a, b: F.batch_norm(a, None, None, training=True, eps=b),
    "layer_norm": lambda a, b: F.layer_norm(a, b),
    "clip": lambda a, b: F.clip(a, b, None),
    "var": lambda a, b: F.var(a, b),
    "std.correction": lambda a, b: F.std(X, correction=b),
    "argmax": lambda a, b: F.argmax(a, b),
    "flatten": lambda a, b: F.flatten(a, b),
    "nll_loss": lambda a, b: F.nll_loss(a, b),
    "cross_entropy.weight": lambda a, b: F.cross_entropy(X, np.array([0, 1]), weight=b),
    "cross_entropy.target": lambda a, b: F.cross_entropy(a, b),
    "cross_entropy.smoothing": lambda a, b: F.cross_entropy(X, np.array([0, 1]),
                                                            label_smoothing=b, ignore_index=a),
    "l1_loss": lambda a, b: F.l1_loss(a, b),
    "huber_loss": lambda a, b: F.huber_loss(X, X, delta=b, reduction=a),
    "smooth_l1_loss": lambda a, b: F.smooth_l1_loss(X, X, beta=b),
    "kl_div": lambda a, b: F.kl_div(a, b, reduction="batchmean"),
    "bce.weight": lambda a, b: F.binary_cross_entropy(np.full(3, 0.5), np.ones(3), weight=b),
    "bce_with_logits.pos_weight": lambda a, b: F.binary_cross_entropy_with_logits(
        X, np.ones((2, 3)), pos_weight=b),
    "l2_penalty": lambda a, b: F.l2_penalty(a, b),
    "zeros": lambda a, b: creation.zeros(a, dtype=b),
    "full": lambda a, b: creation.full(a, b),
    "randn": lambda a, b: creation.randn(a, generator=b),
    "arange": lambda a, b: creation.arange(_small(a), _small(b)),
    "linspace": lambda a, b: creation.linspace(0.0, 1.0, a),
    "eye": lambda a, b: creation.eye(a, b),
    "zeros_like": lambda a, b: creation.zeros_like(a, dtype=b),
    "manual_seed": lambda a, b: creation.manual_seed(a),
    "BatchNorm1d": lambda a, b: nn.BatchNorm1d(a, momentum=b),
    "BatchNorm1d.forward": lambda a, b: nn.BatchNorm1d(3)(a),
    "LayerNorm": lambda a, b: nn.LayerNorm(a, eps=b),
    "LayerNorm.forward": lambda a, b: nn.LayerNorm(3)(a),
    "Dropout": lambda a, b: nn.Dropout(a, rng=b),
    "Flatten": lambda a, b: nn.Flatten(a, b)(X),
    "CrossEntropyLoss": lambda a, b: nn.CrossEntropyLoss(weight=a, label_smoothing=b),
    "BCEWithLogitsLoss": lambda a, b: nn.BCEWithLogitsLoss(weight=a, pos_weight=b),
    "HuberLoss": lambda a, b: nn.HuberLoss(reduction=a, delta=b),
    "ModuleDict": lambda a, b: nn.ModuleDict({a: nn.ReLU()}) if isinstance(a, str) else
    nn.ModuleDict(a),
    "register_buffer": lambda a, b: nn.Module().register_buffer(a, b),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@settings(max_examples=40)
@given(a=st.one_of(junk, arrays), b=st.one_of(junk, arrays))
def test_bad_arguments_raise_only_documented_errors(name, a, b):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN/∞ data may warn, not raise
            result = FUNCTIONS[name](a, b)
    except ALLOWED as error:
        assert str(error), f"{type(error).__name__} without a message"
    else:
        assert result is None or isinstance(result, (Tensor, nn.Module, np.random.Generator))
