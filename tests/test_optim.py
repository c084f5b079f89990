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
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9), optim.Adam([p]), optim.AdamW([p]),
                optim.RMSprop([p], momentum=0.5, centered=True)):
        p.grad = mg.Tensor(GRADS[0].astype(np.float32))
        opt.step()
        assert p.data is array and p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values()
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


# ---- RMSprop ----------------------------------------------------------------------------------
def reference_rmsprop(lr, alpha, eps, wd, mu, centered):
    """PyTorch's documented RMSprop algorithm, written out step by step in plain NumPy."""
    theta, v, g_avg, b, out = THETA0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
    for g in GRADS:
        g = g + wd * theta
        v = alpha * v + (1 - alpha) * g * g
        v_tilde = v
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            v_tilde = v - g_avg**2
        if mu > 0:
            b = mu * b + g / (np.sqrt(v_tilde) + eps)
            theta = theta - lr * b
        else:
            theta = theta - lr * g / (np.sqrt(v_tilde) + eps)
        out.append(theta)
    return out


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.8])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_rmsprop_matches_the_documented_algorithm(centered, momentum, weight_decay):
    settings = dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=weight_decay, momentum=momentum,
                    centered=centered)
    got = run(lambda ps: optim.RMSprop(ps, **settings))
    expected = reference_rmsprop(0.01, 0.9, 1e-6, weight_decay, momentum, centered)
    for step, (a, b) in enumerate(zip(got, expected, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=f"step {step + 1}")


def test_rmsprop_first_step_by_hand():
    """Step 1: v = (1 − α) g², so θ moves by γ g / (√(1 − α) |g| + ε) ≈ γ · sign(g) · 10."""
    opt_defaults = optim.RMSprop([nn.Parameter([0.0])])
    assert opt_defaults.defaults == {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0,
                                     "momentum": 0.0, "centered": False}  # PyTorch's defaults
    got = run(lambda ps: optim.RMSprop(ps, lr=0.01, eps=0.0), steps=1)[0]
    np.testing.assert_allclose(got, THETA0 - 0.01 * np.sign(GRADS[0]) / math.sqrt(0.01),
                               rtol=1e-12)


def test_rmsprop_centered_variance_never_goes_negative():
    """A constant float32 gradient: v − ḡ² is 0 up to rounding; the update must stay finite."""
    p = nn.Parameter(np.zeros(4), dtype=np.float32)
    opt = optim.RMSprop([p], lr=1e-3, alpha=0.5, centered=True)
    for _ in range(200):
        p.grad = mg.Tensor(np.full(4, 0.3, dtype=np.float32))
        opt.step()
    assert np.isfinite(p.data).all()


# ---- parameter groups -------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda groups: optim.SGD(groups, lr=0.1, weight_decay=0.5),
    lambda groups: optim.Adam(groups, lr=0.1, weight_decay=0.5),
    lambda groups: optim.AdamW(groups, lr=0.1, weight_decay=0.5),
    lambda groups: optim.RMSprop(groups, lr=0.1, weight_decay=0.5),
])
def test_each_group_uses_its_own_lr_and_weight_decay(make):
    """Two parameters in two groups = two optimisers each over one parameter with its settings."""
    a, b = nn.Parameter(THETA0), nn.Parameter(THETA0)
    grouped = make([{"params": [a]}, {"params": [b], "lr": 0.01, "weight_decay": 0.0}])
    assert [g["lr"] for g in grouped.param_groups] == [0.1, 0.01]
    alone_a, alone_b = nn.Parameter(THETA0), nn.Parameter(THETA0)
    reference_a = make([alone_a])
    reference_b = make([{"params": [alone_b], "lr": 0.01, "weight_decay": 0.0}])
    for g in GRADS:
        for p in (a, b, alone_a, alone_b):
            p.grad = mg.Tensor(g)
        grouped.step()
        reference_a.step()
        reference_b.step()
    np.testing.assert_array_equal(a.data, alone_a.data)
    np.testing.assert_array_equal(b.data, alone_b.data)
    assert not np.array_equal(a.data, b.data)


def test_sgd_groups_by_hand():
    a, b = nn.Parameter([1.0]), nn.Parameter([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = mg.Tensor([2.0]), mg.Tensor([2.0])
    opt.step()
    np.testing.assert_allclose(a.data, [1.0 - 0.1 * 2.0])
    np.testing.assert_allclose(b.data, [1.0 - 0.5 * 2.0])


def test_group_errors():
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
    with pytest.raises(ValueError, match=r"param_groups\[1\]: parameter 0 .* appears twice"):
        optim.SGD([{"params": [a]}, {"params": [a, b]}], lr=0.1)
    with pytest.raises(ValueError, match=r"unknown setting.*betas"):
        optim.SGD([{"params": [a], "betas": (0.9, 0.9)}], lr=0.1)
    with pytest.raises(ValueError, match=r"param_groups\[1\]: lr must be a finite number"):
        optim.SGD([{"params": [a]}, {"params": [b], "lr": -1.0}], lr=0.1)
    with pytest.raises(TypeError, match="'params' entry"):
        optim.SGD([{"lr": 0.1}], lr=0.1)
    opt = optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        opt.add_param_group({"params": [a]})
    opt.add_param_group({"params": [b], "momentum": 0.9})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.1


def test_named_parameters_keep_their_names():
    model = nn.MLP([2, 3, 1], rng=0)
    opt = optim.Adam(model.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == [n for n, _ in model.named_parameters()]
    assert opt.state_dict()["param_groups"][0]["param_names"][0] == "layers.0.weight"


# ---- the learning rate: validated wherever it is set ------------------------------------------
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, -1.0, "0.1", None, True])
def test_lr_must_be_finite_and_nonnegative(bad):
    p = nn.Parameter([1.0])
    for make in (optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop):
        with pytest.raises(ValueError, match="lr must be a finite number ≥ 0"):
            make([p], lr=bad)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="lr must be a finite number ≥ 0"):
        opt.lr = bad
    assert opt.lr == 0.1  # unchanged


def test_lr_property_reads_and_sets_every_group():
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
    opt = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    assert opt.lr == 0.1
    opt.lr = 0.05
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.05]
    opt.param_groups[1]["lr"] = 0.2
    with pytest.raises(ValueError, match=r"ambiguous.*\[0.05, 0.2\]"):
        _ = opt.lr


def test_step_rechecks_a_learning_rate_set_directly():
    p = nn.Parameter([1.0])
    opt = optim.SGD([p], lr=0.1)
    opt.param_groups[0]["lr"] = math.nan  # bypasses the setter
    p.grad = mg.Tensor([1.0])
    with pytest.raises(ValueError, match=r"SGD.step: param_groups\[0\]: lr must be a finite"):
        opt.step()
    np.testing.assert_array_equal(p.data, [1.0])


@pytest.mark.parametrize("setting", [
    dict(momentum=math.inf), dict(weight_decay=math.nan), dict(dampening=-0.1),
])
def test_sgd_settings_must_be_finite(setting):
    with pytest.raises(ValueError, match="must be a finite number ≥ 0"):
        optim.SGD([nn.Parameter([1.0])], lr=0.1, **setting)


@pytest.mark.parametrize("setting", [dict(alpha=1.0), dict(alpha=math.nan), dict(eps=math.inf),
                                     dict(momentum=-1.0)])
def test_rmsprop_settings_are_checked(setting):
    with pytest.raises(ValueError):
        optim.RMSprop([nn.Parameter([1.0])], **setting)


# ---- shapes ----------------------------------------------------------------------------------
def test_replaced_data_of_another_shape_is_named_at_step():
    model = nn.Linear(3, 2, rng=0)
    opt = optim.Adam(model.named_parameters(), lr=0.1)
    model(np.ones((1, 3))).sum().backward()
    opt.step()
    model.weight.data = np.zeros((5, 3))
    model.weight.grad = mg.Tensor(np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"'weight' .* now has shape \(5, 3\) but had shape "
                                         r"\(2, 3\).*build a new optimiser"):
        opt.step()


def test_gradient_of_another_shape_is_refused_not_broadcast():
    p = nn.Parameter(np.zeros((4, 3)))
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match=r"\.grad must match its tensor: shape \(4, 3\)"):
        p.grad = mg.Tensor(np.ones((1, 3)))  # would broadcast silently into every row
    opt.step()  # no gradient: nothing changes
    np.testing.assert_array_equal(p.data, 0.0)


# ---- state dicts ------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1),
    lambda ps: optim.AdamW(ps, lr=0.01),
    lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
])
def test_state_dict_round_trip_continues_identically(make):
    """Run 2 steps, copy the state into a fresh optimiser, run 1 more: same as 3 steps."""
    p = nn.Parameter(THETA0)
    opt = make([{"params": [p]}])
    for g in GRADS[:2]:
        p.grad = mg.Tensor(g)
        opt.step()
    state = opt.state_dict()
    assert list(state) == ["state", "param_groups"] and state["param_groups"][0]["params"] == [0]
    snapshot = {k: v.copy() for k, v in state["state"][0].items() if isinstance(v, np.ndarray)}
    q = nn.Parameter(p.data)
    fresh = make([q])
    fresh.load_state_dict(state)
    for param, optimizer in ((p, opt), (q, fresh)):
        param.grad = mg.Tensor(GRADS[2])
        optimizer.step()
    np.testing.assert_array_equal(p.data, q.data)
    for key, value in snapshot.items():  # the state dict was a copy: later steps left it alone
        np.testing.assert_array_equal(state["state"][0][key], value)


def test_state_dict_indices_run_across_groups():
    a, b, c = nn.Parameter([1.0]), nn.Parameter([2.0]), nn.Parameter([3.0])
    opt = optim.SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, momentum=0.9)
    c.grad = mg.Tensor([1.0])
    opt.step()
    state = opt.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2]]
    assert list(state["state"]) == [2]  # only c had a gradient
    np.testing.assert_array_equal(state["state"][2]["momentum_buffer"], [1.0])


def test_load_state_dict_refuses_what_does_not_fit_and_changes_nothing():
    p = nn.Parameter(THETA0)
    adam = optim.Adam([p], lr=0.01)
    p.grad = mg.Tensor(GRADS[0])
    adam.step()
    good = adam.state_dict()
    before = adam.state_dict()
    with pytest.raises(ValueError, match="the state dict is not SGD's"):
        optim.SGD([nn.Parameter(THETA0)], lr=0.1).load_state_dict(good)
    with pytest.raises(ValueError, match="2 parameters, this optimiser's 1"):
        bigger = {**good, "param_groups": [{**good["param_groups"][0], "params": [0, 1]}]}
        adam.load_state_dict(bigger)
    wrong_shape = {"state": {0: {**good["state"][0], "exp_avg": np.zeros(4)}},
                   "param_groups": good["param_groups"]}
    with pytest.raises(ValueError, match=r"state\[0\]\['exp_avg'\] has shape \(4,\)"):
        adam.load_state_dict(wrong_shape)
    nan_lr = {"state": good["state"], "param_groups": [{**good["param_groups"][0], "lr": np.nan}]}
    with pytest.raises(ValueError, match="lr must be a finite number"):
        adam.load_state_dict(nan_lr)
    with pytest.raises(TypeError, match="'state' and 'param_groups'"):
        adam.load_state_dict({"lr": 0.1})
    after = adam.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for key in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_array_equal(after["state"][0][key], before["state"][0][key])


def test_load_state_dict_casts_to_the_parameter_dtype():
    p64, p32 = nn.Parameter(THETA0), nn.Parameter(THETA0, dtype=np.float32)
    source, target = optim.Adam([p64]), optim.Adam([p32])
    p64.grad = mg.Tensor(GRADS[0])
    source.step()
    target.load_state_dict(source.state_dict())
    assert target.state[p32]["exp_avg"].dtype == np.float32


# ---- the rest of PyTorch's Optimizer surface ---------------------------------------------------
def test_step_closure_and_zero_grad_to_zeros():
    p = nn.Parameter([3.0])
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_allclose(p.data, [3.0 - 0.25 * 6.0])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, [0.0])


def test_sgd_defaults_match_pytorch():
    opt = optim.SGD([nn.Parameter([1.0])])
    assert opt.defaults == {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0,
                            "weight_decay": 0.0, "nesterov": False}


# ---- clipping ---------------------------------------------------------------------------------
def test_clip_grad_norm_refuses_a_module():
    model = nn.Linear(2, 2, rng=0)
    model(np.ones((1, 2))).sum().backward()
    before = model.weight.grad.data.copy()
    with pytest.raises(TypeError, match=r"got a Module; pass its parameters: "
                                        r"clip_grad_norm_\(model.parameters\(\), max_norm\)"):
        optim.clip_grad_norm_(model, 1e-3)
    np.testing.assert_array_equal(model.weight.grad.data, before)


def test_clip_grad_norm_types_and_norms():
    a = nn.Parameter([0.0, 0.0])
    a.grad = mg.Tensor([3.0, -4.0])
    assert optim.clip_grad_norm_(a, 100.0) == pytest.approx(5.0)  # one tensor is fine
    assert optim.clip_grad_norm_([a], 100.0, norm_type=1) == pytest.approx(7.0)
    assert optim.clip_grad_norm_([a], 100.0, norm_type=math.inf) == pytest.approx(4.0)
    assert optim.clip_grad_norm_([a], 2.0, norm_type=math.inf) == pytest.approx(4.0)
    np.testing.assert_allclose(a.grad.data, [1.5, -2.0], rtol=1e-6)  # scaled by 2 / 4
    with pytest.raises(TypeError, match="parameter 0 is a ndarray"):
        optim.clip_grad_norm_([np.ones(2)], 1.0)
    with pytest.raises(ValueError, match="max_norm must be a finite number"):
        optim.clip_grad_norm_([a], math.nan)
    a.grad = mg.Tensor([math.nan, 1.0])
    with pytest.raises(FloatingPointError, match="total gradient norm is nan"):
        optim.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
