"""In-place safety: version counters make backward refuse values changed after they were saved.

docs/errors.md ("In-place changes") states the rule these tests pin down.
"""

from __future__ import annotations

import numpy as np
import pytest

import micrograd_nd as mg
from micrograd_nd import nn, optim

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.1),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.1),
}


def test_data_assignment_and_augmented_assignment_bump_the_version():
    t = mg.Tensor(np.zeros(3), requires_grad=True)
    assert t.version == 0
    t.data -= 1.0
    assert t.version == 1
    t.data = np.ones(3)
    assert t.version == 2
    u = mg.Tensor(np.zeros(3))
    u[1] = 5.0
    assert u.version == 1 and u.data[1] == 5.0


def test_writing_into_the_array_is_not_tracked():
    """Documented gap: t.data[...] = v bypasses the counter (and gives a stale gradient)."""
    w = mg.Tensor(np.ones(2), requires_grad=True)
    x = mg.Tensor(np.array([2.0, 3.0]), requires_grad=True)
    y = (w * x).sum()
    x.data[0] = 100.0
    assert x.version == 0
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [100.0, 3.0])  # uses the changed value


@pytest.mark.parametrize("change", ["setter", "augmented", "setitem"])
def test_changing_a_saved_input_before_backward_raises_naming_the_op(change):
    w = mg.Tensor(np.ones(3), requires_grad=True)
    x = mg.Tensor(np.arange(3.0))
    y = mg.tanh(w * x).sum()
    if change == "setter":
        x.data = np.zeros(3)
    elif change == "augmented":
        x.data += 1.0
    else:
        x[0] = 7.0
    with pytest.raises(mg.InPlaceModificationError,
                       match=r"'multiply': input 1 \(shape \(3,\), version 0 → 1\)"):
        y.backward()


def test_changing_an_intermediate_output_is_detected():
    x = mg.Tensor(np.ones(2), requires_grad=True)
    e = mg.exp(x)  # exp's rule uses its output
    y = e.sum()
    e.data = e.data * 2.0
    with pytest.raises(mg.InPlaceModificationError, match="'exp': its output"):
        y.backward()


def test_changes_after_backward_or_before_the_forward_pass_are_fine():
    w = mg.Tensor(np.ones(2), requires_grad=True)
    w.data -= 0.5  # before recording: the node sees version 1
    y = (w * w).sum()
    y.backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 1.0])
    w.data -= 0.5  # after backward: nothing left to protect
    assert w.version == 2


def test_setitem_on_a_tensor_that_requires_grad_is_refused_and_changes_nothing():
    w = mg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w[0] = 5.0
    np.testing.assert_array_equal(w.data, np.ones(3))
    assert w.version == 0


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_step_after_backward_is_fine_and_bumps_versions(name):
    model = nn.MLP([3, 4, 2], rng=0)
    opt = OPTIMIZERS[name](model.parameters())
    x = np.random.default_rng(1).normal(size=(5, 3))
    for _ in range(3):
        opt.zero_grad()
        loss = (model(x) ** 2).sum()
        loss.backward()
        before = [p.version for p in model.parameters()]
        opt.step()
        assert [p.version for p in model.parameters()] == [v + 1 for v in before]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_step_before_backward_of_a_graph_that_saved_the_parameters_raises(name):
    model = nn.MLP([3, 4, 2], rng=0)
    opt = OPTIMIZERS[name](model.parameters())
    x = np.random.default_rng(1).normal(size=(5, 3))
    first = (model(x) ** 2).sum()
    first.backward()
    stale = (model(x) ** 2).sum()  # graph saves the current weights
    opt.step()                     # changes them (grads from `first`)
    with pytest.raises(mg.InPlaceModificationError, match=r"version \d+ → \d+"):
        stale.backward()


def test_load_state_dict_into_a_recorded_model_invalidates_its_graph():
    model = nn.Linear(2, 2, rng=0)
    loss = model(np.ones((1, 2))).sum()
    model.load_state_dict(nn.Linear(2, 2, rng=1).state_dict())
    with pytest.raises(mg.InPlaceModificationError):
        loss.backward()
