"""Views share one version counter with their base; in-place operators have PyTorch's semantics.

Oracles: closed-form gradients, NumPy's own arithmetic, and the same computation written out of
place. Every silent-wrong-gradient path of this kind must either give the right gradient or
raise ``InPlaceModificationError``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
import pytest

import micrograd_nd as mg
from micrograd_nd import nn

# Ways to reach a's memory through another tensor (each shares a's version counter).
ALIASES: dict[str, Callable[[mg.Tensor], mg.Tensor]] = {
    "slice": lambda a: a[:2],
    "slice-of-slice": lambda a: a[1:][::-1],
    "ellipsis": lambda a: a[...],
    "single-element": lambda a: a[0],
    "reshape": lambda a: a.reshape(2, 2),
    "transpose-of-reshape": lambda a: a.reshape(2, 2).T,
    "detach": lambda a: a.detach(),
    "expand-dims": lambda a: mg.expand_dims(a, 0),
    "swapaxes": lambda a: a.reshape(2, 2).swapaxes(0, 1),
}

# Ways to write through an alias, each an in-place change of at least one element.
WRITES: dict[str, Callable[[mg.Tensor], object]] = {
    "setitem": lambda v: v.__setitem__(..., 100.0),
    "iadd": lambda v: v.__iadd__(1.0),
    "imul": lambda v: v.__imul__(3.0),
    "zero_": lambda v: v.zero_(),
    "fill_": lambda v: v.fill_(7.0),
    "copy_": lambda v: v.copy_(np.full(v.shape, 5.0)),
}


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_a_write_through_any_alias_of_a_saved_value_is_caught(alias, write):
    w = mg.Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    a = mg.Tensor([1.0, 2.0, 3.0, 4.0])
    loss = (w * a).sum()  # multiply saves a for w's gradient
    view = ALIASES[alias](a)
    WRITES[write](view)
    assert a.version == view.version == 1
    with pytest.raises(mg.InPlaceModificationError, match=r"'multiply': input 1 .*version 0 → 1"):
        loss.backward()
    assert w.grad is None


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_writes_through_a_view_reach_the_base_and_the_reverse(alias):
    a = mg.Tensor([1.0, 2.0, 3.0, 4.0])
    view = ALIASES[alias](a)
    view += 10.0
    assert np.shares_memory(view.data, a.data)
    assert a.data.sum() == 10.0 + 10.0 * view.size  # each element the view reaches moved by 10
    a.zero_()
    np.testing.assert_array_equal(view.data, np.zeros(view.shape))
    assert view.version == a.version == 2


def test_a_copy_made_by_advanced_indexing_is_independent():
    w = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = mg.Tensor([1.0, 2.0, 3.0])
    loss = (w * a).sum()
    picked = a[[0, 2]]  # NumPy makes a copy: a new memory, a new counter
    picked[0] = 50.0
    assert a.version == 0 and picked.version == 1
    loss.backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0, 3.0])


def test_changing_a_value_no_rule_reads_keeps_the_right_gradient():
    """As in PyTorch: ``add`` saves nothing, so changing its input afterwards is harmless."""
    w = mg.Tensor([1.0, 2.0], requires_grad=True)
    a = mg.Tensor([5.0, 6.0])
    loss = (w + a).sum()
    a[0] = 100.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 1.0])


# ---------------------------------------------------------------------------------------------
# In-place operators.
# ---------------------------------------------------------------------------------------------
IN_PLACE = {
    "+=": lambda t, v: t.__iadd__(v), "-=": lambda t, v: t.__isub__(v),
    "*=": lambda t, v: t.__imul__(v), "/=": lambda t, v: t.__itruediv__(v),
    "**=": lambda t, v: t.__ipow__(v),
}
NUMPY = {"+=": np.add, "-=": np.subtract, "*=": np.multiply, "/=": np.divide, "**=": np.power}


@pytest.mark.parametrize("symbol", sorted(IN_PLACE))
def test_in_place_operators_change_the_memory_and_bump_the_version(symbol):
    start = np.array([1.5, 2.0, 3.0])
    t = mg.Tensor(start)
    alias = t[1:]
    result = IN_PLACE[symbol](t, 2.0)
    assert result is t
    expected = NUMPY[symbol](start, 2.0)
    np.testing.assert_array_equal(t.data, expected)
    np.testing.assert_array_equal(alias.data, expected[1:])
    assert t.version == 1


def test_matmul_in_place():
    t = mg.Tensor(np.arange(4.0).reshape(2, 2))
    m = np.array([[0.0, 1.0], [1.0, 0.0]])
    t @= m
    np.testing.assert_array_equal(t.data, np.arange(4.0).reshape(2, 2) @ m)
    with pytest.raises(ValueError, match=r"@=: the result has shape \(2, 3\)"):
        t @= np.ones((2, 3))


@pytest.mark.parametrize(
    "change",
    [lambda p: p.__isub__(0.1), lambda p: p.__iadd__(0.1), lambda p: p.__imul__(2.0),
     lambda p: p.__itruediv__(2.0), lambda p: p.__ipow__(2.0),
     lambda p: p.__imatmul__(np.eye(3)), lambda p: p.zero_(), lambda p: p.fill_(1.0),
     lambda p: p.copy_(np.ones(3)), lambda p: p.__setitem__(0, 1.0)],
)
def test_changing_a_leaf_that_requires_grad_outside_no_grad_raises_and_changes_nothing(change):
    p = mg.Tensor(np.array([[0.5, 1.0, 2.0]]).repeat(3, axis=0), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"in-place change of a leaf tensor that requires "
                       r"grad.*no_grad\(\)"):
        change(p)
    np.testing.assert_array_equal(p.data, np.array([[0.5, 1.0, 2.0]]).repeat(3, axis=0))
    assert p.version == 0
    with mg.no_grad():
        change(p)  # the documented way: allowed, and it bumps the version
    assert p.version == 1


def test_the_manual_sgd_loop_under_no_grad_trains_exactly_like_numpy():
    """``for p in model.parameters(): p -= lr * p.grad`` changes the model (it used to rebind
    the loop variable and leave the model alone). Oracle: least squares by hand in NumPy."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    model = nn.Linear(3, 1, rng=1)
    W, b = model.weight.data.copy(), model.bias.data.copy()
    lr = 0.1
    for _ in range(5):
        model.zero_grad()
        loss = ((model(X) - y) ** 2).mean()
        loss.backward()
        with mg.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        residual = X @ W.T + b - y  # the same step by hand: ∂/∂W mean(r²) = 2 rᵀX / n
        W = W - lr * 2.0 * residual.T @ X / len(X)
        b = b - lr * 2.0 * residual.sum(axis=0) / len(X)
    np.testing.assert_allclose(model.weight.data, W, rtol=1e-12)
    np.testing.assert_allclose(model.bias.data, b, rtol=1e-12)


def test_an_optimizer_step_made_by_hand_before_backward_is_caught():
    w = mg.Tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with mg.no_grad():
        w -= 0.5
    with pytest.raises(mg.InPlaceModificationError, match="'multiply'"):
        loss.backward()


# ---------------------------------------------------------------------------------------------
# In-place changes that are recorded (grad mode on, the graph involved).
# ---------------------------------------------------------------------------------------------
def _grads(build, *values):
    leaves = [mg.Tensor(v, requires_grad=True) for v in values]
    build(*leaves).sum().backward()
    return [leaf.grad.data for leaf in leaves]


@pytest.mark.parametrize(
    ("in_place", "out_of_place"),
    [
        (lambda h, w: h.__iadd__(w), lambda h, w: h + w),
        (lambda h, w: h.__isub__(w), lambda h, w: h - w),
        (lambda h, w: h.__imul__(w), lambda h, w: h * w),
        (lambda h, w: h.__itruediv__(w), lambda h, w: h / w),
        (lambda h, w: h.__ipow__(w), lambda h, w: h ** w),
    ],
)
def test_a_recorded_in_place_change_has_the_gradient_of_its_out_of_place_twin(
        in_place, out_of_place):
    x0, w0 = np.array([0.5, 1.5, 2.0]), np.array([1.5, -0.5, 2.5])

    def with_in_place(x, w):
        h = x * 2.0
        in_place(h, w)
        return h * h

    def without(x, w):
        h = out_of_place(x * 2.0, w)
        return h * h

    for got, want in zip(_grads(with_in_place, x0, w0), _grads(without, x0, w0), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13)


def _central_differences(f, x0, eps=1e-6):
    grad = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        step = np.zeros_like(x0)
        step[i] = eps
        grad[i] = (f(x0 + step) - f(x0 - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize("statement", [
    "h *= h", "h *= h[::-1]", "h /= h[::-1]", "h **= h[0]", "h *= h.detach()",
    "h *= mg.Tensor(h, copy=False)", "h = h.reshape(3, 1) * 1.0; h @= h.T[:, :1]",
    "t = mg.Tensor(0.0); t.data = h.numpy(); h *= t",  # an alias with a counter of its own
])
def test_an_operand_sharing_the_changed_memory_that_the_rule_reads_is_refused(statement):
    """``h *= h``: the rule of multiply would read the operand after the write changed it."""
    x = mg.Tensor(np.array([0.5, 1.5, 2.0]), requires_grad=True)
    h = x * 2.0
    before = h.numpy().copy()
    with pytest.raises(RuntimeError, match=r"is this tensor or a view of its memory.*t = t"):
        exec(statement, {"mg": mg, "h": h})
    np.testing.assert_array_equal(h.numpy(), before)  # refused before the write


def test_an_operand_in_another_part_of_the_same_memory_keeps_its_exact_gradient():
    """a and b are views of one buffer that do not overlap: a *= b leaves b's values alone."""
    buf = mg.Tensor(np.arange(1.0, 5.0))
    a = buf[0:2]
    w = mg.Tensor([1.0, 1.0], requires_grad=True)
    a += w
    with mg.no_grad():
        b = buf[2:4]
    a *= b
    a.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [3.0, 4.0])  # ∂/∂w Σ (buf[:2] + w)·b = b


def test_the_version_check_alone_also_catches_an_overwritten_operand(monkeypatch):
    """Defence in depth: without the refusal above, backward's version check still raises."""
    monkeypatch.setattr(importlib.import_module("micrograd_nd.tensor"),
                        "_refuse_overwritten_operands", lambda *args: None)
    x = mg.Tensor(np.array([0.5, 1.5, 2.0]), requires_grad=True)
    h = x * 2.0
    h *= h
    with pytest.raises(mg.InPlaceModificationError, match=r"'multiply': input 1"):
        h.sum().backward()


@pytest.mark.parametrize(("statement", "numpy_twin"), [
    ("h += h", lambda h: h + h),
    ("h -= h[::-1]", lambda h: h - h[::-1]),
    ("h[0:2] = h[1:3]", lambda h: np.concatenate([h[1:3], h[2:]])),
])
def test_an_operand_sharing_the_changed_memory_that_no_rule_reads_is_exact(statement,
                                                                           numpy_twin):
    x0 = np.array([0.5, 1.5, 2.0])
    x = mg.Tensor(x0, requires_grad=True)
    h = x * 2.0
    exec(statement, {"h": h})
    (h * h).sum().backward()
    expected = _central_differences(lambda a: np.sum(numpy_twin(2.0 * a) ** 2), x0)
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-7)


def test_accumulating_into_a_buffer_records_the_gradient():
    w0 = np.array([1.0, -2.0, 3.0])

    def accumulate(w):
        total = mg.Tensor(np.zeros(3))
        for k in range(1, 4):
            total += w * float(k)  # total becomes part of the graph
        return total

    (grad,) = _grads(accumulate, w0)
    np.testing.assert_array_equal(grad, [6.0, 6.0, 6.0])


def test_recorded_setitem_on_a_result_routes_gradients_to_both_sides():
    x = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = mg.Tensor([10.0], requires_grad=True)
    h = x * 1.0
    h[1:2] = v
    (h * mg.Tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(v.grad.data, [2.0])


def test_an_in_place_change_of_a_value_a_rule_needs_is_caught():
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    e = mg.exp(x)  # exp's rule reads its output
    e += 1.0
    with pytest.raises(mg.InPlaceModificationError, match="'exp': its output"):
        e.sum().backward()


def test_using_a_view_whose_base_was_changed_by_a_recorded_op_is_refused():
    """v's recorded history (a slice of h) no longer gives its value after ``h *= w``."""
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    w = mg.Tensor([3.0, 4.0], requires_grad=True)
    h = x * 2.0
    v = h[0:1]
    h *= w
    with pytest.raises(mg.InPlaceModificationError, match="another tensor sharing its memory"):
        v * 3.0


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: mg.Tensor([1, 2]).__iadd__(0.5), TypeError,
         r"\+=: cannot store the float64 result in a int64 tensor"),
        (lambda: mg.Tensor([1.0, 2.0]).__iadd__(np.ones((2, 2))), ValueError,
         r"\+=: the result has shape \(2, 2\) but an in-place operation keeps"),
        (lambda: mg.broadcast_to(mg.Tensor([1.0]), (3,)).__iadd__(1.0), ValueError,
         r"\+=: this tensor's memory is read-only"),
        (lambda: mg.Tensor(np.array([1], dtype=np.int8)).__imul__(300), OverflowError,
         r"\*=: the Python number 300 does not fit in int8"),
        (lambda: mg.Tensor([1, 2]).__setitem__(0, 0.5), TypeError,
         r"setitem: cannot store float64 values in a int64 tensor"),
    ],
)
def test_in_place_misuse_raises_a_clear_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# ---------------------------------------------------------------------------------------------
# Uses recorded before an in-place change keep the history the tensor had then.
# ---------------------------------------------------------------------------------------------
def _grad_of(build):
    x = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    build(x).backward()
    return x.grad.data


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        # h.sum() was recorded when h = 2x: its gradient reaches x through that history
        (lambda x: _then((h := x * 2.0), (s := h.sum() + (x * x).sum()), h.__iadd__(1.0), s),
         [4.0, 6.0, 8.0]),
        (lambda x: _then((h := x * 2.0), (s := h.sum()), h.__imul__(3.0), s), [2.0, 2.0, 2.0]),
        (lambda x: _then((h := x * 2.0), (s := h.sum()), h.__imul__(3.0), s + h.sum()),
         [8.0, 8.0, 8.0]),
        (lambda x: _then((h := x * 2.0), (s := h.sum()), h.__setitem__(0, x[0] * 1.0),
                         s + h.sum()), [3.0, 4.0, 4.0]),  # new h = [x0, 2x1, 2x2]
        (lambda x: _then((h := x * 2.0), (s := h.sum()), h.zero_(), s + h.sum()),
         [2.0, 2.0, 2.0]),
    ],
)
def test_uses_recorded_before_an_in_place_change_keep_their_history(build, expected):
    """Oracle: the same function written out of place, differentiated by hand."""
    np.testing.assert_array_equal(_grad_of(build), expected)


def _then(*steps):
    return steps[-1]


def test_writing_a_value_that_requires_grad_through_a_view_of_a_constant_is_caught():
    y = mg.Tensor([1.0, 2.0], requires_grad=True)
    buffer = mg.Tensor(np.zeros(3))
    view = buffer[1:]
    view[...] = y  # view now has a history; buffer's value depends on y but has none
    with pytest.raises(mg.InPlaceModificationError, match="a leaf"):
        buffer * mg.Tensor(np.ones(3), requires_grad=True)
    (view * 2.0).sum().backward()  # through the tensor the write was made through: fine
    np.testing.assert_array_equal(y.grad.data, [2.0, 2.0])


def test_changing_a_view_of_a_tensor_in_a_recorded_graph_is_refused():
    x = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = mg.Tensor([5.0, 6.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"view of another tensor's memory.*h\[0\] = h\[0\]"):
        x[0:2].__iadd__(y)
    h = x * 1.0
    with pytest.raises(RuntimeError, match="view of another tensor's memory"):
        h[0] += y[0]
    h[0] = h[0] + y[0]  # the base form is recorded
    h.sum().backward()
    np.testing.assert_array_equal(y.grad.data, [1.0, 0.0])


def test_a_callers_array_changed_after_the_forward_pass_does_not_change_the_gradient():
    """Operands that borrow a caller's ndarray are saved as copies by the ops that read them."""
    w = mg.Tensor([1.0, 1.0, 1.0], requires_grad=True)
    x = np.array([1.0, 2.0, 3.0])
    loss = (w * x).sum()
    x *= 10.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0, 3.0])
    layer = nn.Linear(3, 1, rng=0)
    batch = np.ones((2, 3))
    out = layer(batch).sum()
    batch[:] = 0.0
    out.backward()
    np.testing.assert_array_equal(layer.weight.grad.data, [[2.0, 2.0, 2.0]])


def test_a_tensor_sharing_memory_without_a_copy_shares_the_version_counter():
    w = mg.Tensor([1.0, 1.0], requires_grad=True)
    a = mg.Tensor([1.0, 2.0])
    alias = mg.Tensor(a, copy=False)
    loss = (w * a).sum()
    alias += 100.0
    with pytest.raises(mg.InPlaceModificationError, match="'multiply'"):
        loss.backward()
