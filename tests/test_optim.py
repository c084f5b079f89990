"""Optimisers against updates computed independently from the documented formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

import micrograd_nd as mg
from micrograd_nd import nn, optim

GRADS = [np.array([0.5, -1.0, 2.0]), np.array([-0.25, 0.5, 1.0]), np.array([1.0, 1.0, -3.0])]
THETA0 = np.array([1.0, -2.0, 0.5])


def run(optimizer_factory, steps=3, dtype=np.float64):
    """Apply ``steps`` updates with the fixed gradients GRADS; return θ after each step."""
    p = nn.Parameter(THETA0, dtype=dtype)
    opt = optimizer_factory([p])
    history = []
    for g in GRADS[:steps]:
        p.grad = mg.Tensor(g.astype(dtype))
        opt.step()
        history.append(p.data.copy())
    return history


def test_sgd_plain_is_eqs_15_16():
    lr = 0.1
    theta = THETA0.copy()
    for got, g in zip(run(lambda ps: optim.SGD(ps, lr=lr)), GRADS, strict=True):
        theta = theta - lr * g
        np.testing.assert_allclose(got, theta)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_weight_decay_and_nesterov(nesterov):
    lr, mu, wd = 0.1, 0.9, 0.01
    theta, buf = THETA0.copy(), None
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu, weight_decay=wd, nesterov=nesterov))
    for step, g in enumerate(GRADS):
        d = g + wd * theta
        buf = d.copy() if buf is None else mu * buf + d
        d = d + mu * buf if nesterov else buf
        theta = theta - lr * d
        np.testing.assert_allclose(got[step], theta, err_msg=f"step {step + 1}")


def test_sgd_dampening():
    lr, mu, tau = 0.1, 0.5, 0.3
    theta, buf = THETA0.copy(), None
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=mu, dampening=tau))
    for step, g in enumerate(GRADS):
        buf = g.copy() if buf is None else mu * buf + (1 - tau) * g
        theta = theta - lr * buf
        np.testing.assert_allclose(got[step], theta)


def reference_adam(lr, b1, b2, eps, wd, decoupled):
    theta, m, v, out = THETA0.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            theta = theta * (1 - lr * wd)
        else:
            g = g + wd * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta)
    return out


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_matches_formula(wd):
    got = run(lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=wd))
    for a, b in zip(got, reference_adam(0.01, 0.8, 0.95, 1e-6, wd, False), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # first step of Adam without decay moves each coordinate by ≈ lr·sign(g)
    if wd == 0:
        np.testing.assert_allclose(got[0], THETA0 - 0.01 * np.sign(GRADS[0]), rtol=1e-6)


def test_adamw_decouples_weight_decay():
    got = run(lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1))
    for a, b in zip(got, reference_adam(0.01, 0.9, 0.999, 1e-8, 0.1, True), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    coupled = run(lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1))
    assert not np.allclose(got[-1], coupled[-1])


def test_updates_keep_float32_and_the_same_array():
    p = nn.Parameter(THETA0, dtype=np.float32)
    array = p.data
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9), optim.Adam([p]), optim.AdamW([p])):
        p.grad = mg.Tensor(GRADS[0].astype(np.float32))
        opt.step()
        assert p.data is array and p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for s in opt.state for v in s.values()
                   if isinstance(v, np.ndarray))


def test_step_records_no_graph_and_skips_parameters_without_grad():
    used, unused = nn.Parameter([1.0, 2.0]), nn.Parameter([3.0])
    opt = optim.SGD([used, unused], lr=0.5)
    (used * used).sum().backward()
    opt.step()
    np.testing.assert_allclose(used.data, [0.0, 0.0])
    np.testing.assert_allclose(unused.data, [3.0])
    assert used.is_leaf and used.grad_fn is None
    opt.zero_grad()
    assert used.grad is None and unused.grad is None


def test_optimizer_validation():
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    p = nn.Parameter([1.0])
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([p], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="weight_decay"):
        optim.AdamW([p], weight_decay=-1)
    with pytest.raises(ValueError, match="requires_grad"):
        optim.SGD([mg.Tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p, lr=0.1)
    assert "lr=0.1" in repr(optim.SGD([p], lr=0.1))


def test_clip_grad_norm_scales_globally_and_returns_the_norm():
    a, b, c = nn.Parameter([0.0, 0.0]), nn.Parameter([0.0]), nn.Parameter([0.0])
    a.grad, b.grad = mg.Tensor([3.0, 0.0]), mg.Tensor([4.0])  # global norm 5; c has no grad
    old = a.grad
    total = optim.clip_grad_norm_([a, b, c], max_norm=1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad.data, [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.data, [0.8], rtol=1e-5)
    np.testing.assert_allclose(old.data, [3.0, 0.0])  # the caller's old gradient is untouched
    assert c.grad is None
    # below the limit: nothing changes
    assert optim.clip_grad_norm_([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad.data, [0.6, 0.0], rtol=1e-5)
    # non-finite norm: reported, gradients left alone
    b.grad = mg.Tensor([np.inf])
    assert math.isinf(optim.clip_grad_norm_([a, b], max_norm=1.0))


def test_sgd_trains_a_linear_regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    layer = nn.Linear(3, 1, rng=0)
    opt = optim.SGD(layer.parameters(), lr=0.1, momentum=0.5)
    for _ in range(200):
        loss = nn.MSELoss()(layer(X).reshape(-1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(layer.weight.data.ravel(), [1.0, -2.0, 0.5], atol=1e-4)
    np.testing.assert_allclose(layer.bias.data, [0.3], atol=1e-4)
