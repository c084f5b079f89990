"""The reverse pass: graph shapes, accumulation, freeing, errors, higher order, memory hygiene.

Expected values are closed-form derivatives or central differences of NumPy-only functions
(:mod:`micrograd_nd.finite_differences`), never the engine's own output.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import micrograd_nd as mg
from micrograd_nd import GraphFreedError, Tensor
from micrograd_nd.finite_differences import numerical_gradient

moderate = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)


def vector(n: int, low: float = -2.0, high: float = 2.0):
    return hnp.arrays(np.float64, (n,), elements=st.floats(low, high))


# ---------------------------------------------------------------------------------------------
# Graph shapes.
# ---------------------------------------------------------------------------------------------
def test_deep_chain_of_1e5_ops_backpropagates():
    c = 1.00001
    steps = 100_000
    x = Tensor(1.5, requires_grad=True)
    y = x
    for _ in range(steps):
        y = y * c
    y.backward()
    # y = x·cᴺ, so dy/dx = cᴺ (computed as exp(N ln c) independently of the loop)
    expected = np.exp(steps * np.log(c))
    np.testing.assert_allclose(y.item(), 1.5 * expected, rtol=1e-9)
    np.testing.assert_allclose(x.grad.item(), expected, rtol=1e-9)


def test_diamond():
    a = Tensor(3.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0


def test_diamond_with_different_branches():
    # f = a·a + exp(a) via two paths that meet again: f′ = 2a + eᵃ
    a = Tensor(0.7, requires_grad=True)
    left, right = a * a, mg.exp(a)
    (left + right).backward()
    np.testing.assert_allclose(a.grad.item(), 2 * 0.7 + np.exp(0.7), rtol=1e-14)


def test_zero_d_gradients_from_several_paths_all_count():
    # 0-d arithmetic gives NumPy scalars, which cannot be accumulated into in place.
    a = Tensor(0.7, requires_grad=True)
    (a * a + a * 3.0 + a * 5.0).backward()  # f′ = 2a + 8
    np.testing.assert_allclose(a.grad.item(), 2 * 0.7 + 8.0, rtol=1e-14)
    assert type(a.grad.data) is np.ndarray and a.grad.shape == ()
    (a * 2.0).backward()  # accumulation into an existing 0-d .grad
    np.testing.assert_allclose(a.grad.item(), 2 * 0.7 + 10.0, rtol=1e-14)
    assert type(a.grad.data) is np.ndarray


def test_node_reused_1000_times():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = x * 3.0
    total = y * 0.0
    for k in range(1000):
        total = total + y * float(k)
    total.sum().backward()
    # total = Σ_k k·3x, so ∂/∂x = 3·Σk = 3·999·1000/2
    np.testing.assert_array_equal(x.grad.data, np.full(2, 3.0 * 999 * 1000 / 2))


def test_leaf_used_by_many_ops_and_in_both_operands():
    x = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    (x * x * x + x / x).sum().backward()  # x³ + 1: 3x²
    np.testing.assert_allclose(x.grad.data, 3 * np.array([0.5, 2.0]) ** 2, rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# Accumulation, freeing, retain_grad.
# ---------------------------------------------------------------------------------------------
def test_leaf_grad_accumulates_across_backward_calls():
    x_value = np.array([0.3, -1.2, 2.0])
    x = Tensor(x_value, requires_grad=True)
    y = (mg.tanh(x) * x).sum()
    y.backward(retain_graph=True)
    single = x.grad.data.copy()
    expected = np.tanh(x_value) + x_value * (1 - np.tanh(x_value) ** 2)
    np.testing.assert_allclose(single, expected, rtol=1e-13)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * expected, rtol=1e-13)


def test_second_backward_through_freed_graph_raises():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = mg.exp(x).sum()
    y.backward()
    with pytest.raises(GraphFreedError, match=r"(?s)'sum'.*retain_graph=True"):
        y.backward()
    assert issubclass(GraphFreedError, RuntimeError)


def test_backward_through_a_freed_inner_node_names_it():
    x = Tensor([1.0, 2.0], requires_grad=True)
    hidden = mg.log(x)
    hidden.sum().backward()
    with pytest.raises(GraphFreedError, match=r"(?s)'log'.*retain_graph"):
        (hidden * 2.0).sum().backward()


def test_retain_graph_allows_a_second_pass_with_another_seed():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x
    y.backward(np.array([1.0, 0.0]), retain_graph=True)
    y.backward(np.array([0.0, 1.0]))
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_non_leaf_grad_is_none_unless_retained():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    hidden = x * 3.0
    kept = x * 5.0
    kept.retain_grad()
    (hidden * kept).sum().backward()
    assert hidden.grad is None
    np.testing.assert_array_equal(kept.grad.data, 3.0 * np.array([1.0, 2.0]))  # ∂/∂kept = hidden
    np.testing.assert_array_equal(x.grad.data, 2 * 15.0 * np.array([1.0, 2.0]))  # 15x² → 30x


def test_retain_grad_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).retain_grad()


# ---------------------------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------------------------
def test_backward_without_gradient_on_non_scalar_raises():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"gradient.*\(3,\)"):
        (x * 2.0).backward()


def test_backward_on_a_single_element_non_scalar_is_allowed():
    x = Tensor(np.ones((1, 1)), requires_grad=True)
    (x * 2.0).backward()
    np.testing.assert_array_equal(x.grad.data, [[2.0]])


def test_wrong_shape_gradient_names_both_shapes():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        (x * 2.0).backward(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        mg.grad(x * 2.0, x, grad_outputs=np.ones((3, 2)))


def test_backward_on_tensor_not_requiring_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(1.0).backward()
    with mg.no_grad():
        y = Tensor(1.0, requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_grad_rejects_inputs_that_do_not_require_grad():
    x = Tensor(1.0, requires_grad=True)
    with pytest.raises(ValueError, match="requires_grad"):
        mg.grad(x * 2.0, [Tensor(1.0)])


def test_grad_accepts_a_python_number_as_grad_outputs_of_a_scalar():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (grad_x,) = mg.grad((x * x).sum(), x, grad_outputs=3.0)
    np.testing.assert_array_equal(grad_x.data, [6.0, 12.0])  # 3·2x


def test_grad_outputs_count_must_match():
    x = Tensor(1.0, requires_grad=True)
    with pytest.raises(ValueError, match="2 grad_outputs given for 1 outputs"):
        mg.grad([x * 2.0], [x], grad_outputs=[np.ones(()), np.ones(())])


# ---------------------------------------------------------------------------------------------
# Higher order (create_graph).
# ---------------------------------------------------------------------------------------------
@given(
    hnp.arrays(np.float64, (3, 3), elements=moderate),
    vector(3),
    vector(3),
)
def test_hessian_vector_product_of_quadratic_form(a, x_value, v):
    x = Tensor(x_value, requires_grad=True)
    f = x @ (Tensor(a) @ x)  # xᵀAx
    (gradient,) = mg.grad(f, x, create_graph=True)
    np.testing.assert_allclose(gradient.data, (a + a.T) @ x_value, rtol=1e-10, atol=1e-12)
    (hvp,) = mg.grad(gradient, x, grad_outputs=v)
    np.testing.assert_allclose(hvp.data, (a + a.T) @ v, rtol=1e-10, atol=1e-12)


@given(vector(4), vector(4))
def test_hessian_vector_product_of_sum_of_cubes(x_value, v):
    x = Tensor(x_value, requires_grad=True)
    f = (x * x * x).sum()
    f.backward(create_graph=True)
    np.testing.assert_allclose(x.grad.data, 3 * x_value**2, rtol=1e-12, atol=1e-14)
    assert x.grad.requires_grad
    (hvp,) = mg.grad(x.grad, x, grad_outputs=v)
    np.testing.assert_allclose(hvp.data, 6 * x_value * v, rtol=1e-12, atol=1e-14)


@given(vector(3, 0.5, 2.0))
def test_third_derivative_of_exp_and_log(x_value):
    x = Tensor(x_value, requires_grad=True)
    (d1,) = mg.grad((mg.exp(x) + mg.log(x)).sum(), x, create_graph=True)
    (d2,) = mg.grad(d1.sum(), x, create_graph=True)
    (d3,) = mg.grad(d2.sum(), x)
    np.testing.assert_allclose(d2.data, np.exp(x_value) - 1 / x_value**2, rtol=1e-12)
    np.testing.assert_allclose(d3.data, np.exp(x_value) + 2 / x_value**3, rtol=1e-12)


def _penalty_numpy(x: np.ndarray, w: np.ndarray) -> float:
    """‖∇ₓ Σ_j tanh((xW)_j)‖², with ∇ₓ = W·(1 − tanh²(xW)) in closed form."""
    slope = 1.0 - np.tanh(x @ w) ** 2
    return float(np.sum((w @ slope) ** 2))


@given(vector(3), hnp.arrays(np.float64, (3, 2), elements=moderate))
def test_gradient_penalty_against_finite_differences(x_value, w_value):
    x = Tensor(x_value, requires_grad=True)
    w = Tensor(w_value, requires_grad=True)
    f = mg.tanh(x @ w).sum()
    (grad_x,) = mg.grad(f, x, create_graph=True)
    penalty = (grad_x * grad_x).sum()
    np.testing.assert_allclose(penalty.item(), _penalty_numpy(x_value, w_value), rtol=1e-12)
    penalty.backward()
    (expected_w,) = numerical_gradient(lambda w_: _penalty_numpy(x_value, w_), [w_value])
    (expected_x,) = numerical_gradient(lambda x_: _penalty_numpy(x_, w_value), [x_value])
    np.testing.assert_allclose(w.grad.data, expected_w, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(x.grad.data, expected_x, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# micrograd_nd.grad.
# ---------------------------------------------------------------------------------------------
def test_grad_multiple_outputs_and_inputs():
    a_value, b_value = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    a = Tensor(a_value, requires_grad=True)
    b = Tensor(b_value, requires_grad=True)
    u = a * b  # ∂u/∂a = b, ∂u/∂b = a
    w = (a * a).sum()  # ∂w/∂a = 2a
    seed_u = np.array([10.0, 100.0])
    grad_a, grad_b = mg.grad([u, w], [a, b], grad_outputs=[seed_u, np.array(2.0)])
    np.testing.assert_array_equal(grad_a.data, seed_u * b_value + 2.0 * 2 * a_value)
    np.testing.assert_array_equal(grad_b.data, seed_u * a_value)
    assert a.grad is None and b.grad is None  # grad() does not accumulate into .grad


def test_grad_with_respect_to_non_leaf_inputs():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    hidden = x * x
    out = (mg.exp(hidden) * 2.0).sum()
    grad_hidden, grad_x = mg.grad(out, [hidden, x])
    np.testing.assert_allclose(grad_hidden.data, 2.0 * np.exp(x.data**2), rtol=1e-14)
    np.testing.assert_allclose(grad_x.data, 2.0 * np.exp(x.data**2) * 2 * x.data, rtol=1e-14)


def test_grad_unused_input_raises_or_gives_none():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    unused = Tensor(np.array([3.0]), requires_grad=True)
    with pytest.raises(ValueError, match=r"input 1 .*allow_unused=True"):
        mg.grad((x * 2.0).sum(), [x, unused], retain_graph=True)
    y = (x * 2.0).sum()
    grad_x, grad_unused = mg.grad(y, [x, unused], allow_unused=True)
    np.testing.assert_array_equal(grad_x.data, [2.0, 2.0])
    assert grad_unused is None


# ---------------------------------------------------------------------------------------------
# No mutation, no shared memory.
# ---------------------------------------------------------------------------------------------
GRAPHS = {
    "add": lambda a, b: a + b,
    "self-add": lambda a, b: a + a + b,
    "broadcast": lambda a, b: a[0:1] * 1.0 + b,
    "reshape": lambda a, b: (a.reshape(3, 1) + b.reshape(1, 3)).reshape(9)[:3],
    "transpose": lambda a, b: (a.reshape(1, 3).T + b.reshape(3, 1)).T.reshape(3),
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / (b * b + 1.0),
    "tanh-exp": lambda a, b: mg.tanh(a) + mg.exp(b),
    "max": lambda a, b: mg.maximum(a, b) + a.max(),
    "where": lambda a, b: mg.where(a > b, a, b),
    "concat": lambda a, b: mg.concatenate([a, b])[1:4],
    "getitem": lambda a, b: a[np.array([0, 0, 2])] + b,
    "matmul": lambda a, b: a.reshape(3, 1) @ b.reshape(1, 3) @ a,
}


# Six distinct, well-separated values: no ties, so central differences are valid for max/where.
distinct_pairs = st.permutations(list(np.linspace(-2.0, 2.0, 6))).map(
    lambda values: (np.array(values[:3]), np.array(values[3:]))
)


@pytest.mark.parametrize("name", sorted(GRAPHS))
@given(pair=distinct_pairs, seed=vector(3))
def test_backward_mutates_nothing_and_shares_no_memory(name, pair, seed):
    a_value, b_value = pair
    a_copy, b_copy, seed_copy = a_value.copy(), b_value.copy(), seed.copy()
    a = Tensor(a_value, requires_grad=True, copy=False)
    b = Tensor(b_value, requires_grad=True, copy=False)
    out = GRAPHS[name](a, b)
    out.backward(seed)
    np.testing.assert_array_equal(a_value, a_copy)
    np.testing.assert_array_equal(b_value, b_copy)
    np.testing.assert_array_equal(seed, seed_copy)
    arrays = [a.grad.data, b.grad.data, seed, a_value, b_value, out.data]
    for i in range(2):
        for j in range(len(arrays)):
            if i != j:
                assert not np.shares_memory(arrays[i], arrays[j]), (name, i, j)
    # and the gradients themselves are right (central differences of the forward)
    expected = numerical_gradient(
        lambda x, y: float(np.dot(GRAPHS[name](Tensor(x), Tensor(y)).data, seed)),
        [a_value, b_value],
    )
    np.testing.assert_allclose(a.grad.data, expected[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b.grad.data, expected[1], rtol=1e-5, atol=1e-6)


def test_gradient_of_a_root_leaf_is_a_copy_of_the_seed():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seed = np.array([5.0, 6.0])
    x.backward(seed)
    np.testing.assert_array_equal(x.grad.data, seed)
    assert not np.shares_memory(x.grad.data, seed)
    x.grad.data[0] = 0.0
    np.testing.assert_array_equal(seed, [5.0, 6.0])


def test_grad_results_do_not_share_memory_with_seed_or_each_other():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    seed = np.arange(3.0)
    grad_a, grad_b, grad_out = mg.grad(out := a + b, [a, b, out], grad_outputs=seed)
    for x, y in [(grad_a, grad_b), (grad_a, grad_out), (grad_b, grad_out)]:
        assert not np.shares_memory(x.data, y.data)
    for g in (grad_a, grad_b, grad_out):
        assert not np.shares_memory(g.data, seed)


def test_retained_non_leaf_grad_is_not_shared_with_leaf_grads():
    a = Tensor(np.ones(3), requires_grad=True)
    hidden = a + 0.0
    hidden.retain_grad()
    (hidden * 2.0).sum().backward()
    assert not np.shares_memory(hidden.grad.data, a.grad.data)
    np.testing.assert_array_equal(a.grad.data, np.full(3, 2.0))


def test_create_graph_gradients_are_distinct_and_unshared():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    (a + b).sum().backward(create_graph=True)
    assert a.grad is not b.grad
    assert not np.shares_memory(a.grad.data, b.grad.data)
    seed = Tensor(np.array([1.0, 5.0]))
    c = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c.backward(seed, create_graph=True)
    assert c.grad is not seed
    assert not np.shares_memory(c.grad.data, seed.data)
    d = Tensor(np.ones((2, 2)), requires_grad=True)
    flat_seed = Tensor(np.arange(4.0))
    d.reshape(4).backward(flat_seed, create_graph=True)
    assert not np.shares_memory(d.grad.data, flat_seed.data)
    grad_a, grad_b = mg.grad((a * 1.0 + b).sum(), [a, b], create_graph=True)
    assert not np.shares_memory(grad_a.data, grad_b.data)


# ---------------------------------------------------------------------------------------------
# dtypes and broadcasting.
# ---------------------------------------------------------------------------------------------
def test_float32_leaf_gradient_stays_float32_with_float64_partners():
    a = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    out = (a * b + mg.exp(a)).sum()
    assert out.dtype == np.float64
    out.backward()
    assert a.grad.dtype == np.float32
    assert b.grad.dtype == np.float64
    expected = np.array([3.0, 4.0]) + np.exp(np.array([1.0, 2.0]))
    np.testing.assert_allclose(a.grad.data, expected, rtol=1e-6)
    np.testing.assert_array_equal(b.grad.data, [1.0, 2.0])


def test_float32_graph_with_float64_seed():
    a = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (a * 3.0).backward(np.array([1.0, 1.0]))
    assert a.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad.data, [3.0, 3.0])


@given(
    hnp.arrays(np.float64, (3, 1), elements=moderate),
    hnp.arrays(np.float64, (4,), elements=moderate),
    hnp.arrays(np.float64, (2, 3, 4), elements=moderate),
)
def test_broadcasting_gradients_sum_back_to_input_shape(x_value, y_value, weights):
    x = Tensor(x_value, requires_grad=True)
    y = Tensor(y_value, requires_grad=True)
    scalar = Tensor(2.0, requires_grad=True)
    out = (x * y + scalar) * weights  # shape (2, 3, 4)
    out.sum().backward()
    assert x.grad.shape == (3, 1) and y.grad.shape == (4,) and scalar.grad.shape == ()
    # ∂/∂x[i,0] = Σ_{b,j} W[b,i,j]·y[j];  ∂/∂y[j] = Σ_{b,i} W[b,i,j]·x[i];  ∂/∂s = ΣW
    np.testing.assert_allclose(x.grad.data, np.einsum("bij,j->i", weights, y_value)[:, None],
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.grad.data, np.einsum("bij,i->j", weights, x_value[:, 0]),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scalar.grad.item(), weights.sum(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# The graph is released.
# ---------------------------------------------------------------------------------------------
def test_graph_is_released_after_backward():
    x = Tensor(np.ones(1000), requires_grad=True)
    hidden = mg.exp(x * 2.0)
    hidden_array = weakref.ref(hidden.data)
    out = (hidden * 3.0).sum()
    del hidden
    gc.collect()
    assert hidden_array() is not None  # the graph keeps it for the backward pass
    out.backward()
    gc.collect()
    assert hidden_array() is None  # freed by backward even though `out` is still alive
    del out


def test_graph_is_released_when_output_is_deleted():
    x = Tensor(np.ones(10), requires_grad=True)
    hidden = x * 2.0
    hidden_tensor = weakref.ref(hidden)
    out = (hidden * hidden).sum()
    del hidden
    out.backward(retain_graph=True)
    assert hidden_tensor() is not None  # retained graph still refers to it
    del out
    gc.collect()
    assert hidden_tensor() is None


def test_no_reference_cycles_keep_tensors_alive():
    gc.collect()
    gc.disable()
    try:
        x = Tensor(np.ones(3), requires_grad=True)
        hidden = mg.tanh(x) * x
        ref = weakref.ref(hidden)
        out = hidden.sum()
        out.backward(create_graph=True)
        del hidden, out
        x.grad = None
        assert ref() is None  # released by reference counting alone
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("branch", "x", "expected"),
    [
        # d/dx of the selected branch where it is selected, 0 where it is not (closed forms)
        (lambda x: mg.log(x), [0.0, 2.0], [0.0, 0.5]),              # (ln x)′ = 1/x
        (lambda x: 1.0 / x, [0.0, 2.0], [0.0, -0.25]),               # (1/x)′ = −1/x²
        (lambda x: mg.sqrt(x), [0.0, 4.0], [0.0, 0.25]),             # (√x)′ = 1/(2√x)
        (lambda x: x ** -1.0, [0.0, 2.0], [0.0, -0.25]),
    ],
)
def test_where_gives_no_nan_gradient_from_the_unselected_branch(branch, x, expected):
    leaf = Tensor(x, requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mg.where(leaf > 0, branch(leaf), 0.0).sum().backward()
    np.testing.assert_allclose(leaf.grad.data, expected, rtol=1e-15)


def test_where_gives_no_nan_gradient_when_the_unselected_branch_overflows():
    leaf = Tensor([1000.0, 1.0], requires_grad=True)
    with np.errstate(over="ignore"):
        mg.where(leaf < 100, mg.exp(leaf), 0.0).sum().backward()
    np.testing.assert_allclose(leaf.grad.data, [0.0, np.e], rtol=1e-15)  # (eˣ)′ = eˣ


def test_where_second_derivative_has_no_nan_from_the_unselected_branch():
    leaf = Tensor([0.0, 2.0], requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        (first,) = mg.grad(mg.where(leaf > 0, mg.log(leaf), 0.0).sum(), leaf, create_graph=True)
        (second,) = mg.grad(first.sum(), leaf)
    np.testing.assert_allclose(first.data, [0.0, 0.5])
    np.testing.assert_allclose(second.data, [0.0, -0.25])  # (ln x)″ = −1/x²
