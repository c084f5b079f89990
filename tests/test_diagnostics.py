"""Per-layer gradient norms, checked against the delta rule's gradients."""

import itertools

import numpy as np
import pytest

from micrograd_nd import reference
from micrograd_nd.diagnostics import format_norms, gradient_norms
from micrograd_nd.nn import MLP


def test_norms_match_the_delta_rule():
    model = MLP([5, 7, 4, 3], activation="tanh", rng=3, dtype=np.float64)
    rng = np.random.default_rng(0)
    X, labels = rng.normal(size=(6, 5)), np.array([0, 2, 1, 1, 0, 2])
    norms = gradient_norms(model, X, labels, loss="cross_entropy", reduction="mean")
    layers = [module for module in model if hasattr(module, "weight")]
    expected = reference.forward_backward(
        [m.weight.data for m in layers], [m.bias.data for m in layers], X, np.eye(3)[labels],
        ["tanh", "tanh", "identity"], "softmax_cross_entropy", reduction="mean")
    assert [n.layer for n in norms] == [1, 2, 3]
    assert [n.activation for n in norms] == ["tanh", "tanh", "identity"]
    for n, delta, dw, db in zip(norms, expected.delta, expected.dW, expected.db, strict=True):
        assert n.delta_norm == pytest.approx(np.linalg.norm(delta), rel=1e-10)
        assert n.weight_grad_norm == pytest.approx(np.linalg.norm(dw), rel=1e-10)
        assert n.bias_grad_norm == pytest.approx(np.linalg.norm(db), rel=1e-10)


def test_deep_sigmoid_gradients_shrink_towards_the_input():
    """The vanishing-gradient article: σ′ ≤ ¼, so with modest weights each sigmoid layer shrinks
    δ."""
    model = MLP([8] * 7 + [2], activation="sigmoid", rng=0, dtype=np.float64)
    X = np.random.default_rng(1).normal(size=(16, 8))
    norms = gradient_norms(model, X, np.arange(16) % 2)
    deltas = [n.delta_norm for n in norms]
    assert all(a < b for a, b in itertools.pairwise(deltas))
    assert deltas[0] < 1e-2 * deltas[-1]


def test_format_and_errors():
    model = MLP([2, 3, 2], rng=0)
    table = format_norms(gradient_norms(model, np.ones((1, 2)), np.array([1])))
    assert table.splitlines()[0].split()[:2] == ["layer", "activation"]
    assert len(table.splitlines()) == 3
    with pytest.raises(ValueError, match="gradient_norms: unknown loss 'hinge'"):
        gradient_norms(model, np.ones((1, 2)), np.array([1]), loss="hinge")
