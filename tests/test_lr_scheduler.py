"""Learning-rate schedules against their closed forms and hand-traced sequences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from micrograd_nd import nn, optim
from micrograd_nd.optim import lr_scheduler
from micrograd_nd.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    ReduceLROnPlateau,
    StepLR,
)


def _optimizer(lr: float = 1.0, groups: int = 1) -> optim.SGD:
    params = [{"params": [nn.Parameter([0.0])], "lr": lr * (k + 1)} for k in range(groups)]
    return optim.SGD(params, lr=lr)


def _rates(scheduler, epochs: int) -> list[float]:
    """The rate in force during epochs 0 .. epochs-1 (read, then step, as a training loop)."""
    out = []
    for _ in range(epochs):
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        assert scheduler.get_last_lr()[0] == out[-1]
        scheduler.step()
    return out


def test_step_lr_by_hand():
    opt = _optimizer(0.8)
    assert _rates(StepLR(opt, step_size=3, gamma=0.5), 8) == pytest.approx(
        [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2], rel=1e-15)


def test_exponential_lr_is_gamma_to_the_epoch():
    assert _rates(ExponentialLR(_optimizer(2.0), gamma=0.9), 6) == pytest.approx(
        [2.0 * 0.9**e for e in range(6)], rel=1e-15)


def test_cosine_annealing_by_hand():
    rates = _rates(CosineAnnealingLR(_optimizer(1.0), T_max=4, eta_min=0.1), 7)
    half = math.sqrt(0.5)  # cos(π/4)
    expected = [1.0, 0.1 + 0.9 * (1 + half) / 2, 0.55, 0.1 + 0.9 * (1 - half) / 2, 0.1,
                0.1 + 0.9 * (1 - half) / 2, 0.55]  # past T_max the cosine rises (PyTorch too)
    assert rates == pytest.approx(expected, rel=1e-12)


def test_linear_warm_up_matches_pytorchs_documented_example():
    # PyTorch's LinearLR docs: lr 0.05, start_factor=0.5, total_iters=4 gives
    # 0.025, 0.03125, 0.0375, 0.04375, then 0.05 from epoch 4 on.
    rates = _rates(LinearLR(_optimizer(0.05), start_factor=0.5, total_iters=4), 7)
    assert rates == pytest.approx([0.025, 0.03125, 0.0375, 0.04375, 0.05, 0.05, 0.05],
                                  rel=1e-12)


def test_linear_defaults_are_pytorchs():
    scheduler = LinearLR(_optimizer(3.0))
    assert (scheduler.start_factor, scheduler.end_factor, scheduler.total_iters) == (1 / 3, 1, 5)
    assert scheduler.get_last_lr() == pytest.approx([1.0])


def test_lambda_lr_and_per_group_bases():
    opt = _optimizer(1.0, groups=2)  # group lrs 1.0 and 2.0
    scheduler = LambdaLR(opt, [lambda e: 1 / (e + 1), lambda e: 0.5**e])
    scheduler.step()
    scheduler.step()
    assert scheduler.get_last_lr() == pytest.approx([1.0 / 3, 2.0 * 0.25])
    assert [g["lr"] for g in opt.param_groups] == scheduler.get_last_lr()
    assert scheduler.base_lrs == [1.0, 2.0]


def test_a_schedule_producing_nan_is_an_error_and_changes_nothing():
    opt = _optimizer(0.1)
    scheduler = LambdaLR(opt, lambda e: math.nan if e == 2 else 1.0)
    scheduler.step()
    with pytest.raises(ValueError, match=r"LambdaLR: at epoch 2 the schedule gives lr=nan for "
                                         r"param group 0"):
        scheduler.step()
    assert opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("make, message", [
    (lambda o: StepLR(o, step_size=0), "step_size must be an int ≥ 1"),
    (lambda o: StepLR(o, step_size=2, gamma=math.nan), "gamma must be a finite number"),
    (lambda o: ExponentialLR(o, gamma=-0.5), "gamma must be a finite number"),
    (lambda o: CosineAnnealingLR(o, T_max=0), "T_max must be an int ≥ 1"),
    (lambda o: LinearLR(o, start_factor=0.0), r"start_factor must lie in \(0.0, 1.0\]"),
    (lambda o: LinearLR(o, end_factor=1.5), r"end_factor must lie in \[0.0, 1.0\]"),
    (lambda o: ReduceLROnPlateau(o, factor=1.0), r"factor must lie in \[0, 1\)"),
    (lambda o: ReduceLROnPlateau(o, mode="minimum"), "mode must be 'min' or 'max'"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(_optimizer())


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="expected an optimiser"):
        StepLR([nn.Parameter([1.0])], step_size=1)


def test_resuming_with_last_epoch_needs_initial_lr():
    with pytest.raises(ValueError, match=r"last_epoch=3 resumes a schedule, but param_groups\[0\] "
                                         r"has no 'initial_lr'"):
        StepLR(_optimizer(), step_size=2, last_epoch=3)


def test_state_dict_resumes_the_schedule_exactly():
    opt = _optimizer(1.0)
    first = CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        first.step()
    state = first.state_dict()
    assert state["last_epoch"] == 4 and "optimizer" not in state
    opt2 = _optimizer(1.0)
    opt2.load_state_dict(opt.state_dict())  # carries initial_lr and the current lr
    second = CosineAnnealingLR(opt2, T_max=10)
    second.load_state_dict(state)
    assert _rates(first, 5) == _rates(second, 5)


def test_load_state_dict_of_another_scheduler_is_refused():
    state = StepLR(_optimizer(), step_size=2).state_dict()
    with pytest.raises(ValueError, match="expected CosineAnnealingLR's state"):
        CosineAnnealingLR(_optimizer(), T_max=3).load_state_dict(state)


# ---- ReduceLROnPlateau -------------------------------------------------------------------------
def test_plateau_reduces_after_patience_bad_epochs_by_hand():
    opt = _optimizer(1.0)
    scheduler = ReduceLROnPlateau(opt, factor=0.5, patience=2)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.5]
    rates = []
    for value in metrics:
        scheduler.step(value)
        rates.append(opt.param_groups[0]["lr"])
    # epochs 3, 4, 5 are bad (0.95 > 0.9): the third bad epoch (> patience 2) halves the rate;
    # the count restarts, so epochs 6, 7, 8 halve it once more at epoch 8.
    assert rates == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert scheduler.best == 0.5 and scheduler.get_last_lr() == [0.25]


def test_plateau_threshold_cooldown_min_lr_and_max_mode():
    opt = _optimizer(1.0)
    rel = ReduceLROnPlateau(opt, patience=0, threshold=0.1)  # must beat best·0.9
    rel.step(1.0)
    rel.step(0.95)  # within 10 % of 1.0: not an improvement → reduce (patience 0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1) and rel.best == 1.0

    opt = _optimizer(1.0)
    cool = ReduceLROnPlateau(opt, factor=0.5, patience=0, cooldown=2, min_lr=0.3)
    rates = []
    for value in [1.0, 2.0, 2.0, 2.0, 2.0]:
        cool.step(value)
        rates.append(opt.param_groups[0]["lr"])
    # epoch 2 reduces to 0.5; epochs 3, 4 are cooldown (their bad epochs do not count);
    # epoch 5 would give 0.25 < min_lr
    assert rates == [1.0, 0.5, 0.5, 0.5, 0.3]

    opt = _optimizer(1.0)
    up = ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=1, threshold_mode="abs",
                           threshold=0.01)
    for value in [0.5, 0.505, 0.6, 0.6]:
        up.step(value)
    # 0.505 < 0.5 + 0.01: bad epoch 1; 0.6 improves; 0.6 again: bad epoch 1 → no cut yet
    assert opt.param_groups[0]["lr"] == 1.0 and up.best == 0.6
    up.step(0.55)
    assert opt.param_groups[0]["lr"] == 0.5


def test_plateau_refuses_a_nan_metric():
    scheduler = ReduceLROnPlateau(_optimizer())
    with pytest.raises(ValueError, match="the metric is nan at epoch 1"):
        scheduler.step(math.nan)


def test_plateau_state_dict_round_trip():
    opt = _optimizer(1.0)
    scheduler = ReduceLROnPlateau(opt, patience=1)
    for value in (1.0, 2.0):
        scheduler.step(value)
    other = ReduceLROnPlateau(_optimizer(1.0), patience=1)
    other.load_state_dict(scheduler.state_dict())
    assert (other.best, other.num_bad_epochs, other.last_epoch) == (1.0, 1, 2)
    other.step(np.float32(3.0))  # any single number, also a NumPy scalar
    assert other.get_last_lr() == [pytest.approx(0.1)]


def test_the_module_is_reachable_as_in_pytorch():
    assert optim.lr_scheduler is lr_scheduler
    assert optim.lr_scheduler.StepLR is StepLR


def test_a_second_scheduler_on_the_same_optimiser_is_refused_not_silently_undone():
    """PyTorch chains schedulers multiplicatively; closed forms would overwrite each other."""
    from micrograd_nd import nn, optim
    opt = optim.SGD(nn.Linear(2, 2, rng=0).parameters(), lr=0.1)
    first = optim.lr_scheduler.ExponentialLR(opt, 0.9)
    second = optim.lr_scheduler.StepLR(opt, 3, 0.5)
    first.step()
    with pytest.raises(ValueError, match=r"StepLR\.step: param group 0's lr is 0\.09.*another "
                                         r"scheduler"):
        second.step()
    opt.param_groups[0]["lr"] = 0.5  # a hand edit
    with pytest.raises(ValueError, match="something else changed it"):
        first.step()


@pytest.mark.parametrize("make, step", [
    (lambda opt: lr_scheduler.StepLR(opt, step_size=2), lambda s: s.step()),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt), lambda s: s.step(1.0)),
])
def test_a_group_added_after_the_scheduler_is_refused_by_name(make, step):
    first, second = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2))
    opt = optim.SGD([first], lr=0.1)
    scheduler = make(opt)
    opt.add_param_group({"params": [second], "lr": 0.5})
    with pytest.raises(ValueError, match="now has 2 parameter groups, this scheduler was built "
                                         "for 1"):
        step(scheduler)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]  # nothing changed
