"""BatchNorm1d, LayerNorm and Dropout: values against NumPy closed forms, gradients against
central differences and the closed-form batch-norm backward, running statistics, train/eval,
buffers in the state dict, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import micrograd_nd as mg
from micrograd_nd import Tensor, gradcheck, nn
from micrograd_nd import functional as F
from micrograd_nd._rng import manual_seed
from micrograd_nd.nn import InputShapeError

TIGHT = {"atol": 1e-8, "rtol": 1e-6}
values = st.floats(-3.0, 3.0, allow_nan=False)


def np_batch_norm(x, gamma, beta, eps, mean=None, var=None):
    axes = (0,) if x.ndim == 2 else (0, 2)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)  # the biased variance normalises
    return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape)
            + beta.reshape(shape))


def spread(x):
    """Rows that are not all equal in any channel (a constant channel has σ² = 0)."""
    return x + np.arange(x.shape[0]).reshape((-1,) + (1,) * (x.ndim - 1))


batch_inputs = st.one_of(
    hnp.arrays(np.float64, st.tuples(st.integers(2, 5), st.integers(1, 3)), elements=values),
    hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(2, 3)),
               elements=values),
).map(spread)


# ---- BatchNorm1d ------------------------------------------------------------------------------
@given(batch_inputs)
def test_batch_norm_training_values_and_gradients(x):
    channels = x.shape[1]
    rng = np.random.default_rng(0)
    gamma, beta = rng.uniform(0.5, 2.0, channels), rng.standard_normal(channels)
    layer = nn.BatchNorm1d(channels)
    layer.weight.data, layer.bias.data = gamma.copy(), beta.copy()
    np.testing.assert_allclose(layer(x).data, np_batch_norm(x, gamma, beta, 1e-5),
                               rtol=1e-12, atol=1e-12)

    def normalise(t, g, b):
        return F.batch_norm(t, None, None, g, b, training=True)

    assert gradcheck(normalise, [x, gamma, beta], **TIGHT)


def test_batch_norm_backward_matches_the_closed_form():
    """dx = γ/(Nσ)·(N·g − Σg − x̂·Σ(g·x̂)) per channel, the classic hand-derived backward."""
    rng = np.random.default_rng(1)
    x, upstream = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    gamma, eps = np.array([0.5, 1.0, 2.0]), 1e-5
    t = Tensor(x, requires_grad=True)
    F.batch_norm(t, None, None, gamma, None, training=True, eps=eps).backward(upstream)
    n = x.shape[0]
    sigma = np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) / sigma
    expected = gamma / (n * sigma) * (n * upstream - upstream.sum(axis=0)
                                      - x_hat * (upstream * x_hat).sum(axis=0))
    np.testing.assert_allclose(t.grad.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_running_statistics_and_eval(momentum):
    rng = np.random.default_rng(2)
    batches = [rng.normal(3.0, 2.0, (8, 2, 5)) for _ in range(4)]
    layer = nn.BatchNorm1d(2, momentum=momentum)
    mean, var = np.zeros(2), np.ones(2)
    for k, batch in enumerate(batches, start=1):
        layer(batch)
        factor = 1.0 / k if momentum is None else momentum
        mean = (1 - factor) * mean + factor * batch.mean(axis=(0, 2))
        var = (1 - factor) * var + factor * batch.var(axis=(0, 2), ddof=1)  # unbiased
    np.testing.assert_allclose(layer.running_mean.data, mean, rtol=1e-13)
    np.testing.assert_allclose(layer.running_var.data, var, rtol=1e-13)
    assert layer.num_batches_tracked.item() == 4
    layer.eval()
    x = rng.standard_normal((3, 2, 5))
    ones, zeros = np.ones(2), np.zeros(2)
    np.testing.assert_allclose(layer(x).data, np_batch_norm(x, ones, zeros, 1e-5, mean, var),
                               rtol=1e-12)
    before = layer.running_mean.data.copy()
    layer(x)  # evaluation changes nothing
    np.testing.assert_array_equal(layer.running_mean.data, before)
    assert layer.num_batches_tracked.item() == 4
    single = layer(x[:1])  # one sample is fine in evaluation
    assert single.shape == (1, 2, 5)


def test_without_running_statistics_the_batch_is_always_used():
    layer = nn.BatchNorm1d(3, track_running_stats=False, affine=False)
    assert layer.running_mean is None and layer.parameters() == []
    assert layer.state_dict() == {}
    x = spread(np.random.default_rng(3).standard_normal((4, 3)))
    expected = np_batch_norm(x, np.ones(3), np.zeros(3), 1e-5)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12)
    layer.eval()
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12)


def test_batch_norm_state_dict_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.ReLU())
    for seed in range(3):
        model(np.random.default_rng(seed).standard_normal((5, 3)))
    state = model.state_dict()
    assert list(state) == ["layers.0.weight", "layers.0.bias", "layers.1.weight",
                           "layers.1.bias", "layers.1.running_mean", "layers.1.running_var",
                           "layers.1.num_batches_tracked"]
    assert state["layers.1.num_batches_tracked"] == 3
    assert [name for name, _ in model.named_buffers()] == [
        "layers.1.running_mean", "layers.1.running_var", "layers.1.num_batches_tracked"]
    path = tmp_path / "model.npz"
    model.save(path)
    fresh = nn.Sequential(nn.Linear(3, 4, rng=1), nn.BatchNorm1d(4), nn.ReLU())
    fresh.load(path)
    for name, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
    assert fresh[1].num_batches_tracked.dtype == np.int64
    model.eval()
    fresh.eval()
    x = np.random.default_rng(9).standard_normal((2, 3))
    np.testing.assert_array_equal(fresh(x).data, model(x).data)
    broken = dict(state)
    del broken["layers.1.running_var"]
    with pytest.raises(nn.StateDictError, match=r"missing: layers\.1\.running_var"):
        fresh.load_state_dict(broken)


def test_batch_norm_checks_its_input_and_arguments():
    layer = nn.BatchNorm1d(3)
    with pytest.raises(InputShapeError, match=r"BatchNorm1d\(3, .*\): expected input of shape "
                                              r"\(N, 3\) or \(N, 3, L\), got shape \(4, 2\)"):
        layer(np.ones((4, 2)))
    with pytest.raises(InputShapeError, match="got shape"):
        layer(np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel "
                                         r"when training, got an input of shape \(1, 3\)"):
        layer(np.ones((1, 3)))
    assert layer.num_batches_tracked.item() == 0  # a refused batch is not counted
    with pytest.raises(ValueError, match="BatchNorm1d: num_features must be a positive int"):
        nn.BatchNorm1d(0)
    with pytest.raises(ValueError, match=r"BatchNorm1d: momentum must be a finite number in "
                                         r"\[0, 1\]"):
        nn.BatchNorm1d(3, momentum=1.5)
    with pytest.raises(ValueError, match="batch_norm: running_mean has shape"):
        F.batch_norm(np.ones((2, 3)), Tensor(np.zeros(2)), Tensor(np.ones(2)))
    with pytest.raises(InputShapeError, match=r"layers\.1: BatchNorm1d"):
        nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(4))(np.ones((5, 2)))


def test_batch_norm_keeps_float32():
    layer = nn.BatchNorm1d(2, dtype=np.float32)
    out = layer(np.random.default_rng(0).standard_normal((4, 2)))
    assert out.dtype == np.float32 and layer.running_var.dtype == np.float32


# ---- LayerNorm --------------------------------------------------------------------------------
def np_layer_norm(x, size, gamma, beta, eps):
    axes = tuple(range(x.ndim - size, x.ndim))
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


@given(x=hnp.arrays(np.float64, (2, 3, 4), elements=values),
       normalized=st.sampled_from([(4,), (3, 4)]))
def test_layer_norm_values_and_gradients(x, normalized):
    x = x + np.arange(4.0)  # no constant row
    rng = np.random.default_rng(4)
    gamma = rng.uniform(0.5, 2.0, normalized)
    beta = rng.standard_normal(normalized)
    layer = nn.LayerNorm(normalized if len(normalized) > 1 else normalized[0])
    layer.weight.data, layer.bias.data = gamma.copy(), beta.copy()
    expected = np_layer_norm(x, len(normalized), gamma, beta, 1e-5)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda t, g, b: F.layer_norm(t, normalized, g, b), [x, gamma, beta],
                     **TIGHT)


def test_layer_norm_options_and_errors():
    assert nn.LayerNorm(4, elementwise_affine=False).parameters() == []
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]
    x = np.arange(8.0).reshape(2, 4)
    np.testing.assert_allclose(nn.LayerNorm(4, elementwise_affine=False)(x).data,
                               np_layer_norm(x, 1, 1.0, 0.0, 1e-5), rtol=1e-12)
    with pytest.raises(InputShapeError, match=r"expected input of shape \(\.\.\., 3, 4\), got "
                                              r"shape \(2, 4\)"):
        nn.LayerNorm((3, 4))(x)
    with pytest.raises(ValueError, match="layer_norm: input of shape"):
        F.layer_norm(x, 3)
    with pytest.raises(ValueError, match="LayerNorm: normalized_shape must be a positive int"):
        nn.LayerNorm(())


# ---- Dropout ----------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_mask_is_the_seeded_draw_scaled(p):
    x = np.random.default_rng(0).standard_normal((4, 5))
    t = Tensor(x, requires_grad=True)
    out = F.dropout(t, p, rng=7)
    keep = np.random.default_rng(7).random(x.shape) >= p  # kept with probability 1 − p
    np.testing.assert_allclose(out.data, x * keep / (1 - p), rtol=1e-15)
    out.sum().backward()
    np.testing.assert_allclose(t.grad.data, keep / (1 - p), rtol=1e-15)


def test_dropout_keeps_the_expectation():
    # E[dropout(x)] = x: the mean of 10⁶ draws of 1 is 1 within 6 standard errors √(p/(1−p)/n)
    p, n = 0.3, 10**6
    out = F.dropout(np.ones(n), p, rng=11).data
    assert abs(out.mean() - 1.0) < 6 * np.sqrt(p / (1 - p) / n)
    assert abs(np.mean(out == 0) - p) < 6 * np.sqrt(p * (1 - p) / n)


def test_dropout_train_eval_and_streams():
    x = np.ones((3, 4))
    layer = nn.Dropout(0.5, rng=3)
    first, second = layer(x).data, layer(x).data
    stream = np.random.default_rng(3)
    np.testing.assert_array_equal(first, (stream.random(x.shape) >= 0.5) * 2.0)
    np.testing.assert_array_equal(second, (stream.random(x.shape) >= 0.5) * 2.0)
    layer.eval()
    t = Tensor(x)
    assert layer(t) is t
    assert F.dropout(t, 0.5, training=False) is t
    assert F.dropout(t, 0.0) is t


def test_dropout_without_rng_follows_manual_seed():
    x = np.ones(50)
    manual_seed(21)
    first = nn.Dropout(0.4)(x).data
    manual_seed(21)
    again = nn.Dropout(0.4)(x).data
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, (np.random.default_rng(21).random(50) >= 0.4) / 0.6)


def test_dropout_edges():
    np.testing.assert_array_equal(F.dropout(np.array([2.0, -1.0]), 1.0).data, [0.0, -0.0])
    assert np.isnan(F.dropout(np.array([np.nan]), 1.0).data[0])  # NaN is not hidden
    assert F.dropout(np.ones(3, dtype=np.float32), 0.5, rng=0).dtype == np.float32
    for p, error in ((-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError),
                     ("0.5", TypeError), (True, TypeError)):
        with pytest.raises(error, match=r"^dropout: p must be"):
            F.dropout(np.ones(2), p)
        with pytest.raises(error, match="Dropout: p must be"):
            nn.Dropout(p)


def test_flatten_module():
    x = np.arange(24.0).reshape(2, 3, 4)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2, rng=0))
    assert model(x).shape == (2, 2)
    assert mg.grad(model(x).sum(), [model[1].weight])[0].shape == (2, 12)
