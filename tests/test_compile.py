"""micrograd_nd.compile: replayed training steps are bit-identical to eager ones, and whatever a
trace cannot replay makes the call run eagerly (one CompileWarning) or raise (strict=True).

The oracle is eager execution of the very same function on an identical twin model: every
test runs both side by side and compares the returned values and every parameter and gradient
with ``np.array_equal`` after each call. Tests that claim a replay also check that replays
happened (``compiled.replays``), so a compiled function that silently ran eagerly would fail.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import micrograd_nd as mg
from micrograd_nd import functional as F
from micrograd_nd import nn, optim

# ---------------------------------------------------------------------------------------------
# The side-by-side harness.
# ---------------------------------------------------------------------------------------------
SIZES = [6, 9, 7, 4]


class Twin:
    """One model + optimiser + step function; ``make_step(model, opt)`` gives the step."""

    def __init__(self, make_step: Callable[..., Callable[..., Any]], activation: str = "relu",
                 dtype: Any = np.float64, optimizer: str = "sgd") -> None:
        self.model = nn.MLP(SIZES, activation=activation, rng=0, dtype=dtype)
        params = self.model.parameters()
        self.opt = (optim.SGD(params, lr=0.1, momentum=0.9) if optimizer == "sgd"
                    else optim.Adam(params, lr=0.01))
        self.step = make_step(self.model, self.opt)


def loss_step(loss_of: Callable[..., mg.Tensor]) -> Callable[..., Callable[..., Any]]:
    """``make_step`` for a training step on ``loss_of(model, x, y)``: zero_grad, the loss,
    backward, step; it returns the loss."""
    def make(model: nn.Module, opt: optim.Optimizer) -> Callable[..., Any]:
        def step(x: Any, y: Any) -> mg.Tensor:
            opt.zero_grad()
            loss = loss_of(model, x, y)
            loss.backward()
            opt.step()
            return loss
        return step
    return make


standard_step = loss_step(lambda model, x, y: F.cross_entropy(model(x), y))


def batch(rng: np.random.Generator, n: int, dtype: Any = np.float64,
          scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    return ((rng.standard_normal((n, SIZES[0])) * scale).astype(dtype),
            rng.integers(0, SIZES[-1], n))


def assert_same(eager: Any, compiled: Any) -> None:
    """Equal results: tensors bit for bit (NaN where NaN), containers item by item."""
    if isinstance(eager, mg.Tensor):
        assert isinstance(compiled, mg.Tensor)
        assert compiled.dtype == eager.dtype and compiled.shape == eager.shape
        assert np.array_equal(compiled.numpy(), eager.numpy(), equal_nan=True)
    elif isinstance(eager, (tuple, list)):
        assert type(compiled) is type(eager) and len(compiled) == len(eager)
        for a, b in zip(eager, compiled, strict=True):
            assert_same(a, b)
    else:
        assert compiled == eager


def assert_same_state(eager: Twin, compiled: Twin) -> None:
    for (name, p), q in zip(eager.model.named_parameters(), compiled.model.parameters(),
                            strict=True):
        assert np.array_equal(p.data, q.data), name
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            assert np.array_equal(p.grad.data, q.grad.data), name
            assert p.grad.dtype == q.grad.dtype


def run_side_by_side(make_step: Callable[..., Any], calls: Any, check: Any = None,
                     **twin: Any) -> mg.CompiledFunction:
    """Run an eager twin and a compiled twin on the same ``calls`` (argument tuples, or a
    function making a fresh list, for tensors each side must own), comparing as they go;
    ``check(eager_arguments, compiled_arguments)`` compares more after each call."""
    eager, twin_model = Twin(make_step, **twin), Twin(make_step, **twin)
    compiled = mg.compile(twin_model.step)
    sides = (calls(), calls()) if callable(calls) else (calls, calls)
    for eager_arguments, arguments in zip(*sides, strict=True):
        expected = eager.step(*eager_arguments)
        assert_same(expected, compiled(*arguments))
        assert_same_state(eager, twin_model)
        if check is not None:
            check(eager_arguments, arguments)
    return compiled


def same_input_gradients(eager_arguments: tuple, arguments: tuple) -> None:
    for a, b in zip(eager_arguments, arguments, strict=True):
        assert np.array_equal(a.grad.data, b.grad.data)


# ---------------------------------------------------------------------------------------------
# Bit-identical training.
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_replayed_training_is_bit_identical(activation, dtype, optimizer):
    rng = np.random.default_rng(0)
    # batch sizes change (a new signature traces again) and come back (its replay is reused)
    calls = [batch(rng, n, dtype) for n in (5, 5, 5, 5, 3, 3, 3, 5, 5, 3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing here may fall back to eager
        compiled = run_side_by_side(standard_step, calls, activation=activation, dtype=dtype,
                                    optimizer=optimizer)
    # 5: traced twice, then replayed twice; 3: traced twice, replayed once; then 3 replays
    assert compiled.replays == 6


@given(
    widths=st.lists(st.integers(1, 6), min_size=0, max_size=2),
    batches=st.lists(st.integers(1, 4), min_size=3, max_size=8),
    activation=st.sampled_from(["sigmoid", "relu", "tanh"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    optimizer=st.sampled_from(["sgd", "adam"]),
    seed=st.integers(0, 2**16),
)
def test_any_mlp_replays_bit_identically(widths, batches, activation, dtype, optimizer, seed):
    sizes = [3, *widths, 2]

    def make(model_seed):
        model = nn.MLP(sizes, activation=activation, rng=model_seed, dtype=dtype)
        params = model.parameters()
        opt = (optim.SGD(params, lr=0.5, momentum=0.9, nesterov=True, weight_decay=0.01)
               if optimizer == "sgd" else optim.AdamW(params, lr=0.05))
        return model, opt, standard_step(model, opt)

    (m1, _, eager), (m2, _, step) = make(seed), make(seed)
    compiled = mg.compile(step)
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in batches:
            x = (rng.standard_normal((n, 3)) * 3.0).astype(dtype)
            y = rng.integers(0, 2, n)
            assert_same(eager(x, y), compiled(x, y))
            for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
                assert np.array_equal(p.data, q.data)
                assert np.array_equal(p.grad.data, q.grad.data)
    # each batch size traces on its first two calls and replays after
    assert compiled.replays == sum(max(0, batches.count(n) - 2) for n in set(batches))


def test_a_replay_returns_new_tensors_without_graph():
    rng = np.random.default_rng(1)
    twin = Twin(standard_step)
    compiled = mg.compile(twin.step)
    x, y = batch(rng, 4)
    losses = [compiled(x, y) for _ in range(4)]
    assert compiled.replays == 2
    assert len({id(loss) for loss in losses}) == 4
    assert losses[-1].grad_fn is None and not losses[-1].requires_grad
    assert "linear" in compiled.source(x, y)  # the replayed code can be read


def test_gradients_accumulate_across_calls_when_the_function_does_not_zero_them():
    def make_step(model, opt):
        def step(x, y):
            F.cross_entropy(model(x), y).backward()  # no zero_grad, no step: .grad adds up
            return None
        return step

    rng = np.random.default_rng(2)
    x, y = batch(rng, 4)
    compiled = run_side_by_side(make_step, [(x, y)] * 5)
    assert compiled.replays == 3


def test_returned_structures_and_shared_parameters():
    def make_step(model, opt):
        def step(x, y):
            opt.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits, y, reduction="sum") * 0.5
            loss.backward()
            opt.step()
            return [loss, (logits, model.layers[0].weight), "done", 3]
        return step

    rng = np.random.default_rng(3)
    eager, twin = Twin(make_step), Twin(make_step)
    compiled = mg.compile(twin.step)
    for _ in range(4):
        x, y = batch(rng, 5)
        expected, result = eager.step(x, y), compiled(x, y)
        assert_same([expected[0], expected[1][0]], [result[0], result[1][0]])
        assert result[1][1] is twin.model.layers[0].weight  # a parameter is returned as itself
        assert result[2:] == ["done", 3]
        assert_same_state(eager, twin)
    assert compiled.replays == 2


def test_tensor_arguments_and_keyword_arguments():
    def make_step(model, opt):
        def step(x, y, *, scale):
            opt.zero_grad()
            loss = F.cross_entropy(model(x) * scale, y)
            loss.backward()
            opt.step()
            return loss
        return step

    rng = np.random.default_rng(4)
    eager, twin = Twin(make_step), Twin(make_step)
    compiled = mg.compile(twin.step)
    for scale in (2.0, 2.0, 2.0, 0.5, 0.5, 0.5):
        x, y = batch(rng, 4)
        x = mg.Tensor(x)
        assert_same(eager.step(x, y, scale=scale), compiled(x, y, scale=scale))
        assert_same_state(eager, twin)
    assert compiled.replays == 2  # a new Python value is a new signature


def test_gradient_with_respect_to_an_input_tensor():
    def make_step(model, opt):
        def step(x):
            loss = (model(x) ** 2).sum()
            loss.backward()
            return loss
        return step

    data = np.random.default_rng(5).standard_normal((4, 3, SIZES[0]))
    compiled = run_side_by_side(
        make_step, lambda: [(mg.Tensor(d, requires_grad=True),) for d in data],
        check=same_input_gradients)
    assert compiled.replays == 2


def test_learning_rate_schedules_and_parameters_changed_between_calls_are_seen():
    rng = np.random.default_rng(6)
    eager, twin = Twin(standard_step, optimizer="adam"), Twin(standard_step, optimizer="adam")
    compiled = mg.compile(twin.step)
    for i in range(6):
        x, y = batch(rng, 4)
        assert_same(eager.step(x, y), compiled(x, y))
        assert_same_state(eager, twin)
        for t in (eager, twin):  # the user changes things between steps
            t.opt.param_groups[0]["lr"] *= 0.5
            with mg.no_grad():
                t.model.layers[0].bias += float(i)
    assert compiled.replays == 4


# ---------------------------------------------------------------------------------------------
# Constants computed from values are replayed, not frozen.
# ---------------------------------------------------------------------------------------------
def test_logsumexp_shift_is_recomputed_on_every_call():
    # A frozen max shift from the small-valued first calls would make e^(1000 - shift) = inf.
    def make_step(model, opt):
        def step(x):
            return F.logsumexp(x, axis=1)
        return step

    calls = [(np.array([[0.0, 1.0, 2.0]]),)] * 3 + [(np.array([[1000.0, 999.0, 0.0]]),)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled = run_side_by_side(make_step, calls)
    assert compiled.replays == 2
    result = compiled(np.array([[1000.0, 999.0, 0.0]]))
    assert np.isfinite(result.numpy()).all()
    assert result.numpy()[0] == pytest.approx(1000.0 + np.log1p(np.exp(-1.0)))


def test_labels_are_read_on_every_call_and_checked():
    rng = np.random.default_rng(7)
    x, y = batch(rng, 4)
    twin = Twin(standard_step)
    compiled = mg.compile(twin.step)
    for _ in range(3):
        compiled(x, y)
    assert compiled.replays == 1
    # Each replay builds the one-hot mask from this call's labels (a frozen mask would give
    # the first call's loss).
    twins = [Twin(standard_step), Twin(standard_step)]  # (making modules means a new trace)
    for _ in range(2):
        compiled(x, y)
    for labels, eager in zip(([0, 1, 2, 3], [3, 3, 3, 3]), twins, strict=True):
        eager.model.load_state_dict(twin.model.state_dict())
        eager.opt.load_state_dict(twin.opt.state_dict())
        assert_same(eager.step(x, np.array(labels)), compiled(x, np.array(labels)))
    assert compiled.replays == 3
    # ... and range-checked, with eager's message
    message = re.escape("cross_entropy: labels must lie in [0, 4) for 4 classes, got values "
                        "in [0, 7]")
    with pytest.raises(ValueError, match=message):
        compiled(x, np.array([0, 1, 2, 7]))


def test_binary_cross_entropy_targets_are_checked_on_every_call():
    def make_step(model, opt):
        def step(x, t):
            return F.binary_cross_entropy(F.sigmoid(model(x)), t)
        return step

    twin = Twin(make_step)
    compiled = mg.compile(twin.step)
    x = np.ones((2, SIZES[0]))
    with mg.no_grad():
        for _ in range(3):
            compiled(x, np.full((2, SIZES[-1]), 0.5))
        assert compiled.replays == 1
        with pytest.raises(ValueError, match=r"binary_cross_entropy: targets must lie in \[0, "
                                             r"1\], got values in \[0\.5, 2\.0\]"):
            compiled(x, np.array([[0.5] * 4, [2.0] * 4]))


@pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # log 0, 0/0
def test_the_zero_gradient_guard_looks_again_on_every_replay():
    # d/dx where(x > 0, log(x), 0) at x = 0: the unselected branch's 0 meets 1/x = inf; the
    # engine keeps it 0 (keep_zero). The traced calls have no 0, a replayed one does.
    def make_step(model, opt):
        def step(x):
            y = mg.where(x > 0, mg.log(x), 0.0)
            y.sum().backward()
            return y
        return step

    last = []

    def calls():
        last.append(mg.Tensor([0.0, 2.0], requires_grad=True))
        return [(mg.Tensor(v, requires_grad=True),) for v in
                ([1.0, 2.0], [3.0, 4.0], [5.0, 6.0])] + [(last[-1],)]

    compiled = run_side_by_side(make_step, calls, check=same_input_gradients)
    assert compiled.replays == 2
    assert last[-1].grad.data.tolist() == [0.0, 0.5]


def test_sigmoid_stays_finite_at_plus_minus_1000_in_a_replay():
    def make_step(model, opt):
        def step(z):
            s = F.sigmoid(z)
            s.sum().backward()
            return s
        return step

    last = []

    def calls():
        last.append(mg.Tensor([-1e3, 1e3, -800.0, 0.0], requires_grad=True))
        return [(mg.Tensor(np.zeros(4), requires_grad=True),),
                (mg.Tensor(np.ones(4), requires_grad=True),), (last[-1],)]

    compiled = run_side_by_side(make_step, calls, check=same_input_gradients)
    assert compiled.replays == 1
    gradient = last[-1].grad.data
    assert np.isfinite(gradient).all() and gradient[0] == 0.0 and gradient[1] == 0.0


def test_powers_detach_and_constant_reads_replay():
    # x ** 2.5: the power rule reads its exponent (a constant); detach() shares the array.
    def make_step(model, opt):
        def step(x, y):
            opt.zero_grad()
            hidden = model.layers[0](x)
            scale = mg.Tensor(2.5)
            assert float(scale) == 2.5  # reading a constant decides nothing a replay redoes
            smooth = (F.relu(hidden) + 1.0) ** scale * hidden.detach().mean()
            loss = F.cross_entropy(model.layers[2](smooth), y) + mg.sqrt(
                (model.layers[0].bias ** 2).sum() + 1.0)
            loss.backward()
            opt.step()
            return loss
        return step

    rng = np.random.default_rng(16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled = run_side_by_side(make_step, [batch(rng, 4) for _ in range(5)])
    assert compiled.replays == 3


def test_reading_a_tensor_from_outside_runs_eagerly():
    threshold = mg.Tensor(0.5)  # the user may change it between calls
    make_step = _twist_step(lambda loss, *_: loss * 2.0 if float(threshold) > 0.0 else loss)
    rng = np.random.default_rng(17)
    with pytest.warns(mg.CompileWarning, match="reads the value of a tensor from outside"):
        compiled = run_side_by_side(make_step, [batch(rng, 4) for _ in range(4)])
    assert compiled.replays == 0
    # strict: the second call, whose trace shows it, raises (and so does every later one)
    twin = Twin(make_step)
    strict = mg.compile(twin.step, strict=True)
    strict(*batch(rng, 4))
    for _ in range(2):
        with pytest.raises(mg.CompileError, match=r"cannot be replayed: two calls with the "
                           r"same signature differ: t\.item\(\) .* reads the value of a tensor "
                           r"from outside"):
            strict(*batch(rng, 4))


def test_strict_compile_refuses_arguments_it_cannot_sign():
    twin = Twin(standard_step)
    strict = mg.compile(twin.step, strict=True)
    x, y = batch(np.random.default_rng(19), 3)
    with pytest.raises(mg.CompileError, match="an argument is neither a Tensor, an array nor"):
        strict(x.tolist(), y)


def test_an_exponent_from_the_arguments_is_read_and_runs_eagerly():
    def make_step(model, opt):
        def step(x, power):
            loss = ((F.relu(model(x)) + 1.0) ** power).sum()
            loss.backward()  # the power rule reads float(power)
            return loss
        return step

    rng = np.random.default_rng(18)
    calls = [(batch(rng, 3)[0], np.array(p)) for p in (2.0, 0.0, 3.0)]
    with pytest.warns(mg.CompileWarning, match=r"t.item\(\) \(or float\(t\)"):
        compiled = run_side_by_side(make_step, calls)
    assert compiled.replays == 0


# ---------------------------------------------------------------------------------------------
# What a trace cannot replay: detection, eager fallback with one warning, strict errors.
# ---------------------------------------------------------------------------------------------
def _twist_step(twist: Callable[..., Any]) -> Callable[..., Any]:
    def make_step(model, opt):
        def step(x, y):
            opt.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss = twist(loss, logits, x, y, model, opt)
            loss.backward()
            opt.step()
            return loss
        return step
    return make_step


def _clip(loss, logits, x, y, model, opt):
    return loss


ESCAPES = {
    "float(t)": (lambda loss, *_: loss * 2.0 if float(loss) > 1e9 else loss,
                 "float(t)"),
    "if t > 0": (lambda loss, *_: loss * 2.0 if loss > 1e9 else loss, "bool(t)"),
    "t.item()": (lambda loss, *_: loss + 0.0 * loss.item(), "t.item()"),
    "np.asarray(t)": (lambda loss, logits, *_: loss * float(np.asarray(logits.detach()).max()
                                                            > -1e9),
                      "np.asarray(t)"),
    "t.data": (lambda loss, logits, *_: loss + float(logits.data.mean()) * 0.0, "t.data"),
    "t.numpy()": (lambda loss, logits, *_: loss + float(logits.numpy().sum()) * 0.0,
                  "t.numpy()"),
    "t.tolist()": (lambda loss, logits, *_: loss + len(logits.tolist()) * 0.0, "t.tolist()"),
    "x in t": (lambda loss, logits, *_: loss * 2.0 if 1e9 in logits else loss, "x in t"),
    "repr(t)": (lambda loss, *_: loss + 0.0 * len(repr(loss)), "repr(t)"),
    "np.argmax(t)": (lambda loss, logits, *_: loss + 0.0 * float(np.argmax(logits)),
                     "reads a tensor's value"),
    "index with a tensor": (lambda loss, logits, x, y, *_: loss + 0.0 * logits[
        mg.Tensor(np.arange(len(y))), y].sum(), "indexing with a tensor"),
    "Tensor(t)": (lambda loss, logits, *_: loss + 0.0 * mg.Tensor(logits).sum(), "Tensor(t)"),
    "in-place op": (lambda loss, *_: _add_in_place(loss), "'+=' changes a tensor in place"),
    "setitem": (lambda loss, logits, *_: _set_item(loss, logits), "'setitem' changes"),
    "grad()": (lambda loss, logits, x, y, model, opt: loss + 0.0 * mg.grad(
        loss, [model.layers[0].bias], retain_graph=True)[0].sum(), "micrograd_nd.grad()"),
    "clip_grad_norm_": (lambda loss, logits, x, y, model, opt: _clip_before(loss, model),
                        "t.data"),
}


def _add_in_place(loss):
    total = loss * 1.0
    total += 1.0
    return total


def _set_item(loss, logits):
    copy = logits * 1.0
    copy[0] = 0.0
    return loss + 0.0 * copy.sum()


def _clip_before(loss, model):
    loss.backward(retain_graph=True)
    optim.clip_grad_norm_(model.parameters(), 1.0)
    return loss * 0.0 + loss


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_what_a_trace_cannot_replay_runs_eagerly_with_one_warning(case):
    twist, reason = ESCAPES[case]
    rng = np.random.default_rng(8)
    calls = [batch(rng, 4) for _ in range(4)]
    with pytest.warns(mg.CompileWarning) as caught:
        compiled = run_side_by_side(_twist_step(twist), calls)
    assert len(caught) == 1  # one warning, not one per call
    message = str(caught[0].message)
    assert reason in message and "runs eagerly" in message
    assert __file__ in message  # it names the line of the user's code
    assert caught[0].filename == __file__  # and is reported at the caller
    assert compiled.replays == 0


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_strict_compile_raises_where_a_trace_cannot_replay(case):
    twist, reason = ESCAPES[case]
    twin = Twin(_twist_step(twist))
    compiled = mg.compile(twin.step, strict=True)
    x, y = batch(np.random.default_rng(9), 4)
    with pytest.raises(mg.CompileError, match=re.escape(reason)):
        compiled(x, y)


@pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")  # log 0, 0/0
def test_anomaly_mode_runs_eagerly_and_still_detects_nan():
    def make_step(model, opt):
        def step(x):
            loss = mg.log(x).sum()
            loss.backward()
            return loss
        return step

    twin = Twin(make_step)
    compiled = mg.compile(twin.step)
    for _ in range(3):
        compiled(mg.Tensor([1.0, 2.0], requires_grad=True))
    assert compiled.replays == 1
    bad = mg.Tensor([-1.0, 2.0], requires_grad=True)
    assert np.isnan(compiled(bad).item())  # replayed: NaN, exactly as eager gives it
    assert compiled.replays == 2
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError, match="'log' produced NaN"):
        compiled(mg.Tensor([-1.0, 2.0], requires_grad=True))
    assert compiled.replays == 2


def test_in_place_change_of_a_saved_value_still_raises():
    def make_step(model, opt):
        def step(x):
            w = model.layers[0].weight
            h = x * 1.0
            loss = (h @ w.T).sum()
            h[0] = 100.0  # h was saved for w's gradient
            loss.backward()
            return loss
        return step

    twin = Twin(make_step)
    compiled = mg.compile(twin.step)
    x = np.ones((2, SIZES[0]))
    with pytest.warns(mg.CompileWarning, match="changes a tensor in place"), \
            pytest.raises(mg.InPlaceModificationError, match="'matmul'"):
        compiled(x)
    with pytest.raises(mg.InPlaceModificationError):
        compiled(x)


def test_random_numbers_are_not_frozen():
    def make_step(generator):
        def loss_of(model, x, y):  # dropout with a Generator: a new mask on every call
            hidden = model.layers[0](x)
            keep = generator.random(hidden.shape) > 0.5
            return F.cross_entropy(model.layers[2](F.relu(hidden) * keep), y)
        return loss_step(loss_of)

    rng = np.random.default_rng(10)
    calls = [batch(rng, 4) for _ in range(5)]
    eager = Twin(make_step(np.random.default_rng(0)))
    twin = Twin(make_step(np.random.default_rng(0)))
    compiled = mg.compile(twin.step)
    with pytest.warns(mg.CompileWarning, match="other values on each call"):
        for arguments in calls:
            assert_same(eager.step(*arguments), compiled(*arguments))
            assert_same_state(eager, twin)
    assert compiled.replays == 0


def dropout_model(seed_or_generator):
    return nn.Sequential(nn.Linear(6, 9, rng=0), nn.ReLU(), nn.Dropout(0.5, rng=seed_or_generator),
                         nn.Linear(9, 4, rng=1))


def test_dropout_masks_are_drawn_again_on_every_replay():
    # nn.Dropout's mask is a forward-only op: a replay draws from the same Generator, so the
    # stream (and every mask) is the eager one.
    rng = np.random.default_rng(20)
    calls = [batch(rng, 5) for _ in range(6)]
    results = []
    for compiled in (False, True):
        model = dropout_model(np.random.default_rng(7))
        opt = optim.SGD(model.parameters(), lr=0.1)
        step = standard_step(model, opt)
        if compiled:
            step = mg.compile(step)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            results.append(([step(x, y).item() for x, y in calls],
                            [p.data.copy() for p in model.parameters()]))
    assert step.replays == 4
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1], strict=True):
        assert np.array_equal(a, b)
    # the default Generator (rng=None) too, from one manual_seed
    losses = []
    for compiled in (False, True):
        model = dropout_model(None)
        step = standard_step(model, optim.SGD(model.parameters(), lr=0.1))
        step = mg.compile(step) if compiled else step
        mg.manual_seed(3)
        losses.append([step(x, y).item() for x, y in calls])
    assert losses[0] == losses[1] and step.replays == 4


def test_train_and_eval_modes_are_part_of_the_signature():
    rng = np.random.default_rng(21)
    twins = []
    for _ in range(2):
        model = dropout_model(np.random.default_rng(8))
        twins.append((model, standard_step(model, optim.SGD(model.parameters(), lr=0.1))))
    (eager_model, eager), (model, step) = twins
    compiled = mg.compile(step)
    for mode in ("train", "eval", "train", "eval"):
        for m in (eager_model, model):
            getattr(m, mode)()
        for _ in range(3):
            x, y = batch(rng, 4)
            assert_same(eager(x, y), compiled(x, y))
    # each mode traced twice, once; then both signatures replay from the cache
    assert compiled.replays == 8


def test_cross_entropy_ignore_index_replays_and_weights_run_eagerly():
    def make_step(weighted):
        weight = np.array([1.0, 2.0, 0.5, 1.0]) if weighted else None
        return loss_step(lambda model, x, y: F.cross_entropy(model(x), y, weight=weight,
                                                             ignore_index=3))

    rng = np.random.default_rng(22)
    calls = [(batch(rng, 5)[0], np.array(labels)) for labels in
             ([0, 1, 2, 0, 1], [3, 1, 2, 0, 3], [0, 1, 2, 2, 1], [3, 3, 3, 3, 0])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled = run_side_by_side(make_step(False), calls)
    assert compiled.replays == 2  # which labels are ignored changes: still replayed
    with pytest.warns(mg.CompileWarning, match="reads a tensor's value"):
        compiled = run_side_by_side(make_step(True), calls)
    assert compiled.replays == 0


def test_batch_norm_running_statistics_run_eagerly():
    def model():
        return nn.Sequential(nn.Linear(6, 9, rng=0), nn.BatchNorm1d(9), nn.ReLU(),
                             nn.Linear(9, 4, rng=1))

    (eager_model, eager), (twin_model, step) = [
        (m, standard_step(m, optim.SGD(m.parameters(), lr=0.1))) for m in (model(), model())]
    compiled = mg.compile(step)
    rng = np.random.default_rng(23)
    with pytest.warns(mg.CompileWarning, match="t.data reads a tensor's value"):
        for _ in range(4):
            x, y = batch(rng, 4)
            assert_same(eager(x, y), compiled(x, y))
    for name in ("running_mean", "running_var"):  # updated in place, as eagerly
        assert np.array_equal(getattr(eager_model[1], name).data,
                              getattr(twin_model[1], name).data)
    assert compiled.replays == 0


def test_manual_gradient_changes_run_eagerly():
    def make_step(model, opt):
        def step(x, y):
            for p in model.parameters():
                p.grad = None  # not zero_grad(): a replay would not repeat it
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    rng = np.random.default_rng(11)
    with pytest.warns(mg.CompileWarning, match="change of .grad"):
        compiled = run_side_by_side(make_step, [batch(rng, 4) for _ in range(4)])
    assert compiled.replays == 0


@pytest.mark.parametrize("case", ["create_graph", "closure", "live graph", "list argument"])
def test_other_unreplayable_calls(case):
    def make_step(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            if case == "create_graph":
                loss.backward(create_graph=True)
                opt.step()
                return loss.detach()
            if case == "closure":
                loss.backward()
                opt.step(lambda: None)
                return loss
            if case == "live graph":
                loss.backward()
                opt.step()
                return model(x).sum()  # a graph nobody back-propagated
            loss.backward()
            opt.step()
            return loss
        return step

    reasons = {"create_graph": "create_graph=True", "closure": "optimizer.step(closure)",
               "live graph": "graph is still alive", "list argument": "neither a Tensor"}
    rng = np.random.default_rng(12)
    calls = [batch(rng, 3) for _ in range(4)]
    if case == "list argument":
        calls = [(x.tolist(), y) for x, y in calls]
    with pytest.warns(mg.CompileWarning, match=re.escape(reasons[case])):
        compiled = run_side_by_side(make_step, calls)
    assert compiled.replays == 0


# ---------------------------------------------------------------------------------------------
# What invalidates a trace.
# ---------------------------------------------------------------------------------------------
def test_a_parameter_of_another_shape_or_grad_setting_traces_again():
    def make():
        w = mg.Tensor(np.ones((3, 2)), requires_grad=True)
        v = mg.Tensor(np.ones(3), requires_grad=True)

        def step(x):
            loss = ((x @ w).sum() * v).sum()
            loss.backward()
            return loss
        return w, v, step

    (w1, v1, eager), (w2, v2, step) = make(), make()
    compiled = mg.compile(step)
    x = np.arange(6.0).reshape(2, 3)

    def call_both():
        assert_same(eager(x), compiled(x))
        for a, b in ((w1, w2), (v1, v2)):
            assert (a.grad is None) == (b.grad is None)
            if a.grad is not None:
                assert np.array_equal(a.grad.data, b.grad.data)

    for _ in range(3):
        call_both()
    assert compiled.replays == 1
    for w in (w1, w2):  # another shape: the replay refuses, a new trace runs
        w.data = np.full((3, 4), 2.0)
    for t in (w1, v1, w2, v2):
        t.grad = None
    for _ in range(3):
        call_both()
    assert compiled.replays == 2 and w2.grad.shape == (3, 4)
    for t in (v1, v2):  # v stops requiring grad: no gradient may reach it
        t.requires_grad_(False)
        t.grad = None
    call_both()
    assert v2.grad is None
    assert compiled.replays == 2


def test_replacing_a_parameter_or_rebinding_a_closure_variable_traces_again():
    layer = nn.Linear(3, 1, rng=0)
    scale = mg.Tensor(2.0)

    def step(x):
        return (layer(x) * scale).sum()

    compiled = mg.compile(step)
    x = np.ones((2, 3))
    with mg.no_grad():
        for _ in range(3):
            compiled(x)
        assert compiled.replays == 1
        layer.weight = nn.Parameter(np.full((1, 3), 10.0))  # a module's attribute
        for _ in range(3):
            assert compiled(x).item() == pytest.approx(2 * 30.0 * 2.0)
        assert compiled.replays == 2
        scale = mg.Tensor(-1.0)  # rebinds the variable step reads
        for _ in range(3):
            assert compiled(x).item() == pytest.approx(-2 * 30.0)
        assert compiled.replays == 3


def test_a_module_setting_changed_between_calls_is_seen():
    """``dropout.p = 0``, ``negative_slope``, ``label_smoothing``: settings a trace baked in."""
    def make() -> tuple[nn.Module, nn.Module, Callable[..., Any]]:
        model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.LeakyReLU(0.01),
                              nn.Dropout(0.5, rng=3), nn.Linear(8, 3, rng=1))
        loss_fn = nn.CrossEntropyLoss()
        opt = optim.SGD(model.parameters(), lr=0.1)

        def step(x: Any, y: Any) -> mg.Tensor:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return model, loss_fn, step

    (eager_model, eager_loss, eager_step), (model, loss_fn, step) = make(), make()
    compiled = mg.compile(step)
    x, y = np.random.default_rng(0).normal(size=(16, 4)), np.arange(16) % 3
    changes = {3: ("negative_slope", 0.5), 6: ("label_smoothing", 0.3), 9: ("p", 0.0)}
    for call in range(12):
        if call in changes:
            name, value = changes[call]
            for m, loss in ((eager_model, eager_loss), (model, loss_fn)):
                owner = {"negative_slope": m[1], "p": m[2]}.get(name, loss)
                setattr(owner, name, value)
        assert_same(eager_step(x, y), compiled(x, y))
    for p, q in zip(eager_model.parameters(), model.parameters(), strict=True):
        assert np.array_equal(p.data, q.data)
    assert compiled.replays == 4  # each setting: traced twice, then replayed once

    model[2].p = 0.0  # the same setting again: nothing to trace, both calls replay
    for _ in range(2):
        compiled(x, y)
    assert compiled.replays == 6


def test_modules_built_in_the_step_and_equal_settings_do_not_trace_again():
    """A loss module made inside the step sets its settings on every call, and a forward pass
    may record ``self.shape = x.shape``: neither changes what was traced."""
    class RemembersShape(nn.Module):
        def forward(self, x: mg.Tensor) -> mg.Tensor:
            self.last_shape = x.shape
            return x

    model = nn.Sequential(nn.MLP(SIZES, rng=0), RemembersShape())
    opt = optim.SGD(model.parameters(), lr=0.1)

    def step(x: Any, y: Any) -> mg.Tensor:
        opt.zero_grad()
        loss = nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = mg.compile(step)
    x, y = batch(np.random.default_rng(0), 8)
    for _ in range(10):
        compiled(x, y)
    assert compiled.replays == 8  # traced twice, then replayed


def test_too_many_signatures_run_eagerly_with_a_warning():
    twin = Twin(standard_step)
    compiled = mg.compile(twin.step, cache_size=1)
    rng = np.random.default_rng(13)
    with pytest.warns(mg.CompileWarning, match="traced on 5 calls in a row"):
        for n in (2, 3, 2, 3, 2, 3, 2):
            compiled(*batch(rng, n))
    assert compiled.replays == 0


def test_nested_compiled_functions_are_traced_through():
    twin = Twin(standard_step)
    inner = mg.compile(twin.step)
    outer = mg.compile(lambda x, y: inner(x, y))
    eager = Twin(standard_step)
    rng = np.random.default_rng(14)
    for _ in range(4):
        x, y = batch(rng, 3)
        assert_same(eager.step(x, y), outer(x, y))
        assert_same_state(eager, twin)
    assert outer.replays == 2 and inner.replays == 0


def test_compile_arguments_are_checked():
    with pytest.raises(TypeError, match="compile: expected a function"):
        mg.compile(3)
    with pytest.raises(ValueError, match="cache_size must be an int"):
        mg.compile(lambda: None, cache_size=0)
    decorated = mg.compile(strict=True)(lambda: None)
    assert isinstance(decorated, mg.CompiledFunction) and decorated.strict


# ---------------------------------------------------------------------------------------------
# fit(..., compile=True)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_fit_compiled_is_bit_identical(activation):
    rng = np.random.default_rng(15)
    X = rng.standard_normal((50, SIZES[0]))
    y = rng.integers(0, SIZES[-1], 50)
    results = []
    for compiled in (False, True):
        model = nn.MLP(SIZES, activation=activation, rng=0)
        opt = optim.Adam(model.parameters(), lr=0.01)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            history = mg.training.fit(model, nn.CrossEntropyLoss(), opt, (X, y), epochs=3,
                                      batch_size=16, rng=0, validation_data=(X, y),
                                      progress=False, verbose=False, compile=compiled)
        results.append((history, model.state_dict()))
    (h1, s1), (h2, s2) = results
    assert h1.train_loss == h2.train_loss and h1.val_loss == h2.val_loss
    assert h1.train_accuracy == h2.train_accuracy
    for name in s1:
        assert np.array_equal(s1[name], s2[name]), name
