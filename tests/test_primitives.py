"""Registry-driven tests: every entry of the primitive table, checked on Hypothesis-drawn inputs.

Each primitive needs a test domain in ``DOMAINS`` (how to draw valid inputs, and a NumPy
reference for its value); one that is registered without a domain fails
``test_every_primitive_has_a_domain``. For each domain the suite checks
  * the forward value against the reference,
  * every Jacobian element against central differences in float64 (``gradcheck``),
  * second derivatives (``gradgradcheck``), which run the rules on tensors,
  * that backward mutates neither inputs nor the upstream gradient, and that the gradients it
    returns share no memory with one another,
  * that float32 inputs give float32 values and gradients.
Finally the checker is checked: a planted wrong rule must make the same property fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micrograd_nd import GradcheckError, Tensor, gradcheck, gradgradcheck
from micrograd_nd._kernels import normalize_index
from micrograd_nd.primitives import PRIMITIVES, Primitive
from micrograd_nd.tensor import apply
from micrograd_nd.testing import arrays, broadcastable_shapes, shapes

FEWER = max(10, settings.default.max_examples // 3)  # for the costlier second-order checks


@dataclass(frozen=True)
class Case:
    """Inputs of one primitive call: arrays (float ones are differentiated) and parameters."""

    inputs: tuple[np.ndarray, ...]
    params: dict


@dataclass(frozen=True)
class Domain:
    cases: st.SearchStrategy[Case]
    reference: Callable[..., np.ndarray]  # the value computed directly with NumPy
    # Central differences in float64 with eps 1e-6 are accurate to ~1e-8 relative on these
    # domains, so a rule off by 0.05 % (5e-4) fails with a wide margin.
    eps: float = 1e-6
    atol: float = 1e-6
    rtol: float = 1e-5


# ---------------------------------------------------------------------------------------------
# Strategies for the domains.
# ---------------------------------------------------------------------------------------------
def _same_or_broadcast(num_shapes: int) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    equal = shapes(0, 3, 1, 4).map(lambda s: (s,) * num_shapes)
    return st.one_of(equal, broadcastable_shapes(num_shapes=num_shapes))


@st.composite
def _binary(draw: st.DrawFn, x_bounds=(-10.0, 10.0), y_bounds=(-10.0, 10.0),
            y_min_magnitude: float = 0.0) -> Case:
    x_shape, y_shape = draw(_same_or_broadcast(2))
    x = draw(arrays(x_shape, min_value=x_bounds[0], max_value=x_bounds[1]))
    y = draw(arrays(y_shape, min_value=y_bounds[0], max_value=y_bounds[1],
                    min_magnitude=y_min_magnitude))
    return Case((x, y), {})


@st.composite
def _remainder(draw: st.DrawFn) -> Case:
    case = draw(_binary(y_bounds=(-4.0, 4.0), y_min_magnitude=0.5))
    x, y = case.inputs
    # Keep x/y away from integers, where x mod y jumps and central differences see the jump.
    ratio = x / y
    fraction = ratio - np.floor(ratio)
    near = (fraction < 0.05) | (fraction > 0.95)
    return Case((np.where(near, x + 0.25 * np.abs(y), x) if near.any() else x, y), {})


@st.composite
def _extremum_pair(draw: st.DrawFn) -> Case:
    case = draw(_binary())
    x, y = case.inputs
    # Keep clear of ties, where the function has a kink and central differences see its mean.
    gap = np.abs(x - y)
    return case if gap.size == 0 or gap.min() > 1e-3 else Case((x, y + 2e-3 + gap.max()), {})


def _unary(low: float, high: float, min_magnitude: float = 0.0) -> st.SearchStrategy[Case]:
    return arrays(shapes(0, 3, 1, 4), min_value=low, max_value=high,
                  min_magnitude=min_magnitude).map(lambda x: Case((x,), {}))


@st.composite
def _astype(draw: st.DrawFn) -> Case:
    # Multiples of 1/8, so x ± eps (eps = 2⁻⁷) are exact in float32 and differences are exact.
    eighths = draw(arrays(shapes(0, 3, 1, 4), dtype=np.int64, min_value=-64, max_value=64))
    return Case((eighths / 8.0,), {"dtype": np.dtype(np.float32)})


@st.composite
def _comparison(draw: st.DrawFn) -> Case:
    x_shape, y_shape = draw(_same_or_broadcast(2))
    # Small integers as floats, so ties (where < and <= differ) are common.
    x = draw(arrays(x_shape, dtype=np.int64, min_value=-2, max_value=2)).astype(np.float64)
    y = draw(arrays(y_shape, dtype=np.int64, min_value=-2, max_value=2)).astype(np.float64)
    return Case((x, y), {})


@st.composite
def _where(draw: st.DrawFn) -> Case:
    c_shape, x_shape, y_shape = draw(_same_or_broadcast(3))
    condition = draw(arrays(c_shape, dtype=np.bool_))
    return Case((condition, draw(arrays(x_shape)), draw(arrays(y_shape))), {})


@st.composite
def _axis_and_keepdims(draw: st.DrawFn, ndim: int) -> dict:
    if ndim == 0:
        axis = None
    else:
        axis = draw(st.one_of(
            st.none(),
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
            .map(tuple),
        ))
    return {"axis": axis, "keepdims": draw(st.booleans())}


@st.composite
def _sum(draw: st.DrawFn) -> Case:
    x = draw(arrays(shapes(0, 3, 1, 4)))
    return Case((x,), draw(_axis_and_keepdims(x.ndim)))


@st.composite
def _distinct_values(draw: st.DrawFn) -> Case:
    shape = draw(shapes(0, 3, 1, 4))
    # Distinct values spaced ≥ 0.01 apart: no ties, so the maximum is differentiable.
    order = draw(st.permutations(range(int(np.prod(shape)))))
    x = np.asarray(order, dtype=np.float64).reshape(shape) * 0.37 - 2.0
    return Case((x,), draw(_axis_and_keepdims(x.ndim)))


@st.composite
def _reshape(draw: st.DrawFn) -> Case:
    x = draw(arrays(shapes(0, 3, 1, 4)))
    options = [(x.size,), x.shape[::-1], (1, *x.shape), (-1,)]
    if x.ndim >= 2:
        options.append((x.shape[0], -1))
    return Case((x,), {"shape": draw(st.sampled_from(options))})


@st.composite
def _transpose(draw: st.DrawFn) -> Case:
    x = draw(arrays(shapes(0, 3, 1, 4)))
    axes = draw(st.one_of(st.none(), st.permutations(range(x.ndim)).map(tuple)))
    return Case((x,), {"axes": axes})


@st.composite
def _broadcast_to(draw: st.DrawFn) -> Case:
    small, big = draw(broadcastable_shapes(num_shapes=2))
    target = np.broadcast_shapes(small, big)
    return Case((draw(arrays(small)),), {"shape": target})


@st.composite
def _index(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    n = shape[0]
    kind = draw(st.sampled_from(["slice", "integers", "mask", "integers_then_slice", "scalar"]))
    if kind == "slice":
        parts = []
        for side in shape:
            start = draw(st.integers(-side, side - 1))
            step = draw(st.sampled_from([1, 2, -1]))
            parts.append(slice(start, None, step))
        return tuple(parts)
    if kind == "mask":
        return draw(arrays(shape, dtype=np.bool_))
    if kind == "scalar":
        return draw(st.integers(-n, n - 1))
    repeated = np.asarray(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6)))
    if kind == "integers" or len(shape) < 2:
        return repeated
    return (repeated, slice(None))


@st.composite
def _getitem(draw: st.DrawFn) -> Case:
    x = draw(arrays(shapes(1, 3, 1, 4)))
    return Case((x,), {"index": normalize_index(draw(_index(x.shape)))})


@st.composite
def _scatter_add(draw: st.DrawFn) -> Case:
    shape = draw(shapes(1, 3, 1, 4))
    index = np.asarray(draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=6)))
    values = draw(arrays((len(index), *shape[1:])))
    return Case((values,), {"index": normalize_index(index), "shape": shape})


def _scatter_add_reference(values: np.ndarray, index: tuple, shape: tuple) -> np.ndarray:
    result = np.zeros(shape)
    for row, target in enumerate(index[0]):  # one row at a time: repeated targets add up
        result[target] += values[row]
    return result


@st.composite
def _concatenate(draw: st.DrawFn) -> Case:
    base = draw(shapes(1, 3, 1, 3))
    axis = draw(st.integers(-len(base), len(base) - 1))
    count = draw(st.integers(1, 3))
    inputs = []
    for _ in range(count):
        shape = list(base)
        shape[axis] = draw(st.integers(1, 3))
        inputs.append(draw(arrays(tuple(shape))))
    return Case(tuple(inputs), {"axis": axis})


@st.composite
def _matmul(draw: st.DrawFn) -> Case:
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    kind = draw(st.sampled_from(["vv", "vm", "mv", "mm", "batched", "batched_v"]))
    if kind == "batched":
        a_batch, b_batch = draw(broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
        a_shape, b_shape = (*a_batch, n, k), (*b_batch, k, m)
    elif kind == "batched_v":
        a_shape, b_shape = (draw(st.integers(1, 3)), n, k), (k,)
    else:
        a_shape = (k,) if kind[0] == "v" else (n, k)
        b_shape = (k,) if kind[1] == "v" else (k, m)
    return Case((draw(arrays(a_shape)), draw(arrays(b_shape))), {})


@st.composite
def _linear(draw: st.DrawFn) -> Case:
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))
    inputs = [draw(arrays(batch + (n_in,))), draw(arrays((n_out, n_in)))]
    if draw(st.booleans()):
        inputs.append(draw(arrays((n_out,))))
    return Case(tuple(inputs), {})


def _linear_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Σ_i x[..., i]·W[o, i] (+ b[o]) written as an einsum."""
    product = np.einsum("...i,oi->...o", x, w)
    return product if b is None else product + b


# (subscripts, operand shapes): products, contractions, transposes, reductions, broadcast
# ellipses, and indices summed inside one operand (whose gradient is broadcast back).
_EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 2)]),
    ("i,i->", [(3,), (3,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->i", [(2, 3)]),
    ("ijk->", [(2, 1, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 1)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("i,jk->ik", [(2,), (3, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
    ("...i->...", [(2, 3, 2)]),
]


@st.composite
def _einsum(draw: st.DrawFn) -> Case:
    subscripts, operand_shapes = draw(st.sampled_from(_EINSUM_CASES))
    return Case(tuple(draw(arrays(shape)) for shape in operand_shapes),
                {"subscripts": subscripts})


def _einsum_reference(*operands: np.ndarray, subscripts: str) -> np.ndarray:
    """The sum over every index of the product of the operands' elements, by explicit loops."""
    inputs, output = subscripts.split("->")
    if "..." in subscripts:  # the ellipsis cases are batched matmul and a last-axis sum
        return (np.matmul(*operands) if len(operands) == 2 else operands[0].sum(axis=-1))
    terms = inputs.split(",")
    sizes = {c: n for term, op in zip(terms, operands, strict=True)
             for c, n in zip(term, op.shape, strict=True)}
    letters = sorted(sizes)
    result = np.zeros(tuple(sizes[c] for c in output))
    for values in np.ndindex(*(sizes[c] for c in letters)):
        at = dict(zip(letters, values, strict=True))
        product = 1.0
        for term, op in zip(terms, operands, strict=True):
            product *= op[tuple(at[c] for c in term)]
        result[tuple(at[c] for c in output)] += product
    return result


def _matmul_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_k a[..., i, k]·b[..., k, j] by einsum, with 1-D operands promoted and demoted."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    product = np.einsum("...ik,...kj->...ij", a2, b2)
    if a.ndim == 1:
        product = product[..., 0, :]
    if b.ndim == 1:
        product = product[..., 0]
    return product


DOMAINS: dict[str, Domain] = {
    "add": Domain(_binary(), lambda x, y: x + y),
    "subtract": Domain(_binary(), lambda x, y: x - y),
    "multiply": Domain(_binary(), lambda x, y: x * y),
    "remainder": Domain(_remainder(), lambda x, y: x - y * np.floor(x / y)),
    "divide": Domain(_binary(y_bounds=(-5.0, 5.0), y_min_magnitude=0.5), lambda x, y: x / y),
    "power": Domain(_binary(x_bounds=(0.5, 3.0), y_bounds=(-2.0, 2.0)), lambda x, y: x ** y),
    "maximum": Domain(_extremum_pair(), lambda x, y: np.where(x > y, x, y)),
    "minimum": Domain(_extremum_pair(), lambda x, y: np.where(x < y, x, y)),
    "negate": Domain(_unary(-10, 10), lambda x: -x),
    "abs": Domain(_unary(-10, 10, min_magnitude=0.1), lambda x: np.sqrt(x * x)),  # off the kink
    "exp": Domain(_unary(-5, 5), lambda x: np.e ** x),
    "log": Domain(_unary(0.2, 10), np.log),
    "log1p": Domain(_unary(-0.8, 10), lambda x: np.log(1.0 + x)),
    "log2": Domain(_unary(0.2, 10), lambda x: np.log(x) / np.log(2.0)),
    "log10": Domain(_unary(0.2, 10), lambda x: np.log(x) / np.log(10.0)),
    "exp2": Domain(_unary(-5, 5), lambda x: np.exp(x * np.log(2.0))),
    "expm1": Domain(_unary(-5, 5), lambda x: np.e ** x - 1.0),
    "sin": Domain(_unary(-6, 6), lambda x: np.imag(np.exp(1j * x))),
    "erf": Domain(_unary(-4, 4), np.vectorize(math.erf, otypes=[np.float64])),
    "cos": Domain(_unary(-6, 6), lambda x: np.real(np.exp(1j * x))),
    "tanh": Domain(_unary(-3, 3), lambda x: (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1)),
    "astype": Domain(_astype(), lambda x, dtype: x.astype(dtype), eps=2.0 ** -7),
    "equal": Domain(_comparison(), lambda x, y: x == y),
    "not_equal": Domain(_comparison(), lambda x, y: x != y),
    "less": Domain(_comparison(), lambda x, y: x < y),
    "less_equal": Domain(_comparison(), lambda x, y: x <= y),
    "greater": Domain(_comparison(), lambda x, y: x > y),
    "greater_equal": Domain(_comparison(), lambda x, y: x >= y),
    "where": Domain(_where(), lambda c, x, y: np.where(c, x, y)),
    "sum": Domain(_sum(), lambda x, axis, keepdims: np.add.reduce(x, axis=axis, keepdims=keepdims)),
    "max": Domain(_distinct_values(), lambda x, axis, keepdims: np.maximum.reduce(
        x, axis=axis, keepdims=keepdims)),
    "min": Domain(_distinct_values(), lambda x, axis, keepdims: np.minimum.reduce(
        x, axis=axis, keepdims=keepdims)),
    "reshape": Domain(_reshape(), lambda x, shape: x.reshape(shape)),
    "transpose": Domain(_transpose(), lambda x, axes: x.transpose(axes)),
    "broadcast_to": Domain(_broadcast_to(), lambda x, shape: x * np.ones(shape)),
    "getitem": Domain(_getitem(), lambda x, index: x[index]),
    "scatter_add": Domain(_scatter_add(), _scatter_add_reference),
    "concatenate": Domain(_concatenate(), lambda *xs, axis: np.concatenate(xs, axis=axis)),
    "matmul": Domain(_matmul(), _matmul_reference),
    "linear": Domain(_linear(), _linear_reference),
    "einsum": Domain(_einsum(), _einsum_reference),
}

DIFFERENTIABLE = sorted(name for name, p in PRIMITIVES.items() if p.differentiable)
ALL = sorted(PRIMITIVES)


# ---------------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------------
def _float_positions(case: Case) -> list[int]:
    return [i for i, a in enumerate(case.inputs) if a.dtype.kind == "f"]


def _as_function(primitive: Primitive, case: Case) -> Callable[..., Tensor]:
    """The primitive as a function of its float inputs; the others are held fixed."""
    positions = _float_positions(case)

    def function(*float_tensors: Tensor) -> Tensor:
        tensors = [Tensor(a) for a in case.inputs]
        for position, tensor in zip(positions, float_tensors, strict=True):
            tensors[position] = tensor
        return apply(primitive, *tensors, **case.params)

    return function


def gradient_property(primitive: Primitive, domain: Domain) -> Callable[[], None]:
    """The Hypothesis test: every Jacobian element of ``primitive`` vs central differences."""

    @given(case=domain.cases)
    def check(case: Case) -> None:
        floats = [case.inputs[i] for i in _float_positions(case)]
        gradcheck(_as_function(primitive, case), floats, domain.eps, domain.atol, domain.rtol)

    return check


# ---------------------------------------------------------------------------------------------
# The tests.
# ---------------------------------------------------------------------------------------------
def test_every_primitive_has_a_domain() -> None:
    missing = sorted(set(PRIMITIVES) - set(DOMAINS))
    assert not missing, f"primitives without a test domain in tests/test_primitives.py: {missing}"
    unknown = sorted(set(DOMAINS) - set(PRIMITIVES))
    assert not unknown, f"test domains for primitives that do not exist: {unknown}"


@pytest.mark.parametrize("name", ALL)
def test_forward_matches_numpy(name: str) -> None:
    primitive, domain = PRIMITIVES[name], DOMAINS[name]

    @given(case=domain.cases)
    def check(case: Case) -> None:
        expected = np.asarray(domain.reference(*case.inputs, **case.params))
        result = apply(primitive, *[Tensor(a) for a in case.inputs], **case.params)
        assert result.shape == expected.shape
        assert result.dtype == expected.dtype
        np.testing.assert_allclose(result.data, expected, rtol=1e-12, atol=1e-12)
        if not primitive.differentiable:
            assert not apply(primitive, *[Tensor(a, requires_grad=a.dtype.kind == "f")
                                          for a in case.inputs], **case.params).requires_grad

    check()


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_gradient_matches_central_differences(name: str) -> None:
    gradient_property(PRIMITIVES[name], DOMAINS[name])()


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_second_derivatives_match_central_differences(name: str) -> None:
    primitive, domain = PRIMITIVES[name], DOMAINS[name]

    @settings(max_examples=FEWER)
    @given(case=domain.cases)
    def check(case: Case) -> None:
        floats = [case.inputs[i] for i in _float_positions(case)]
        gradgradcheck(_as_function(primitive, case), floats, eps=domain.eps,
                      atol=domain.atol, rtol=domain.rtol)

    check()


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_backward_leaves_inputs_and_upstream_gradient_alone(name: str) -> None:
    primitive, domain = PRIMITIVES[name], DOMAINS[name]

    @given(case=domain.cases, data=st.data())
    def check(case: Case, data: st.DataObject) -> None:
        originals = [a.copy() for a in case.inputs]
        leaves = [Tensor(a, requires_grad=a.dtype.kind == "f", copy=False) for a in case.inputs]
        output = apply(primitive, *leaves, **case.params)
        upstream = data.draw(arrays(output.shape))
        upstream_copy = upstream.copy()
        output.backward(upstream)

        np.testing.assert_array_equal(upstream, upstream_copy)
        for leaf, original in zip(leaves, originals, strict=True):
            np.testing.assert_array_equal(leaf.data, original)
        grads = [leaf.grad.data for leaf in leaves if leaf.requires_grad]
        for i, g in enumerate(grads):
            assert not np.shares_memory(g, upstream)
            assert not any(np.shares_memory(g, a) for a in case.inputs)
            assert not any(np.shares_memory(g, other) for other in grads[i + 1:])
            assert g.flags.writeable

    check()


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_float32_inputs_give_float32_values_and_gradients(name: str) -> None:
    primitive, domain = PRIMITIVES[name], DOMAINS[name]

    @settings(max_examples=FEWER)
    @given(case=domain.cases)
    def check(case: Case) -> None:
        leaves = [
            Tensor(a.astype(np.float32), requires_grad=True) if a.dtype.kind == "f" else Tensor(a)
            for a in case.inputs
        ]
        output = apply(primitive, *leaves, **case.params)
        assert output.dtype == np.float32
        output.backward(np.ones(output.shape, dtype=np.float32))
        for leaf in leaves:
            if leaf.requires_grad:
                assert leaf.grad.dtype == np.float32
                assert leaf.grad.shape == leaf.shape

    check()


def test_a_planted_wrong_rule_is_reported() -> None:
    """The checker is checked: ∂(x·y)/∂x given as g·x instead of g·y must fail the property."""
    right = PRIMITIVES["multiply"]
    planted = Primitive(
        "multiply", right.forward,
        (lambda xp, g, out, x, y: g * x,  # the planted mistake
         right.rules[1]),
        right.reads,
    )
    with pytest.raises(GradcheckError, match=r"input 0, Jacobian element .* analytic .* numeric"):
        gradient_property(planted, DOMAINS["multiply"])()


def test_a_rule_that_forgets_to_unbroadcast_inside_is_caught_by_broadcasting_domains() -> None:
    """A rule may rely on the engine's central unbroadcast, but must not return a wrong sum:
    a rule that averages instead of summing the broadcast axes is caught. The domain draws
    shapes that always really broadcast, so every example can expose it."""
    right = PRIMITIVES["add"]

    def averaging_rule(xp: Any, g: Any, out: Any, x: Any, y: Any) -> Any:
        factor = x.size / out.size if out.size else 1.0  # wrong: shrinks broadcast gradients
        return g * factor

    @st.composite
    def broadcasting_pairs(draw: st.DrawFn) -> Case:
        x_shape, y_shape = draw(broadcastable_shapes(num_shapes=2))
        if np.prod(x_shape) >= np.prod(np.broadcast_shapes(x_shape, y_shape)):
            x_shape, y_shape = y_shape, x_shape  # x is the one that is broadcast
        return Case((draw(arrays(x_shape)), draw(arrays(y_shape))), {})

    planted = Primitive("add", right.forward, (averaging_rule, right.rules[1]), right.reads)
    with pytest.raises(GradcheckError):
        gradient_property(planted, Domain(broadcasting_pairs(), DOMAINS["add"].reference))()
