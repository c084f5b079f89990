"""NumPy functions on tensors: each supported one is differentiable (checked against central
differences in float64 and against NumPy's own values); every other one raises a TypeError
naming it; a network written in plain NumPy runs on tensors and gets the right gradients."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import micrograd_nd as mg
from micrograd_nd import numpy_interop

RNG = np.random.default_rng(0)
A = RNG.uniform(0.5, 2.0, (3, 4))
B = RNG.uniform(0.5, 2.0, (4, 2))
V = RNG.uniform(0.5, 2.0, (4,))
DOC = Path(__file__).resolve().parent.parent / "docs" / "numpy.md"

# name → (function of tensors written with NumPy, its inputs). Each output is compared with
# the same function on plain arrays, and its Jacobian with central differences.
CASES = {
    "sum": (lambda a: np.sum(a, axis=1, keepdims=True), [A]),
    "mean": (lambda a: np.mean(a, axis=0), [A]),
    "var": (lambda a: np.var(a, axis=1), [A]),
    "std-ddof": (lambda a: np.std(a, axis=0, ddof=1), [A]),
    "max": (lambda a: np.max(a, axis=1), [A]),
    "amax": (lambda a: np.amax(a), [A]),
    "min": (lambda a: np.min(a, axis=0), [A]),
    "amin": (lambda a: np.amin(a, axis=(0, 1)), [A]),
    "dot-matrix": (lambda a, b: np.dot(a, b), [A, B]),
    "dot-vector": (lambda a, v: np.dot(a, v), [A, V]),
    "dot-inner": (lambda v, w: np.dot(v, w), [V, V[::-1].copy()]),
    "dot-nd": (lambda a, b: np.dot(a, b), [A.reshape(3, 2, 2), RNG.normal(size=(2, 2, 3))]),
    "matmul": (lambda a, b: np.matmul(a, b), [A, B]),
    "where": (lambda a: np.where(a > 1.0, a, -a), [A]),
    "clip": (lambda a: np.clip(a, 0.8, 1.6), [A]),
    "concatenate": (lambda a, b: np.concatenate([a, b.T], axis=0), [A, B]),
    "stack": (lambda a: np.stack([a, 2 * a], axis=1), [A]),
    "reshape": (lambda a: np.reshape(a, (2, 6)), [A]),
    "ravel": (lambda a: np.ravel(a), [A]),
    "transpose": (lambda a: np.transpose(a), [A]),
    "swapaxes": (lambda a: np.swapaxes(a, 0, 1), [A]),
    "moveaxis": (lambda a: np.moveaxis(a.reshape(3, 2, 2), 0, -1), [A]),
    "expand_dims": (lambda a: np.expand_dims(a, 1), [A]),
    "squeeze": (lambda a: np.squeeze(a.reshape(3, 1, 4)), [A]),
    "broadcast_to": (lambda v: np.broadcast_to(v, (2, 4)), [V]),
    "outer": (lambda v, w: np.outer(v, w), [V, V[:3].copy()]),
    "einsum": (lambda a, b: np.einsum("ij,jk->ik", a, b), [A, B]),
    "einsum-implicit": (lambda a, b: np.einsum("ij,jk", a, b), [A, B]),
    "einsum-trace-free-sum": (lambda a: np.einsum("ij->", a), [A]),
    "norm": (lambda a: np.linalg.norm(a), [A]),
    "norm-axis": (lambda a: np.linalg.norm(a, axis=1), [A]),
    "norm-1": (lambda v: np.linalg.norm(v - 1.0, ord=1), [V]),
    "norm-inf": (lambda v: np.linalg.norm(v, ord=np.inf), [V]),
    "copy": (lambda a: np.copy(a) * a, [A]),
    "maximum": (lambda a: np.maximum(a, 1.2), [A]),
    "minimum": (lambda a: np.minimum(1.2, a), [A]),
    "exp": (lambda a: np.exp(a), [A]),
    "log": (lambda a: np.log(a), [A]),
    "tanh": (lambda a: np.tanh(a), [A]),
    "sqrt": (lambda a: np.sqrt(a), [A]),
    "abs": (lambda a: np.abs(a - 1.0), [A]),
    "square": (lambda a: np.square(a), [A]),
    "sin-cos": (lambda a: np.sin(a) * np.cos(a), [A]),
    "log1p-expm1": (lambda a: np.log1p(a) + np.expm1(-a), [A]),
    "reciprocal": (lambda a: np.reciprocal(a), [A]),
    "exp2-log2-log10": (lambda a: np.exp2(a) + np.log2(a) + np.log10(a), [A]),
    "power": (lambda a: np.power(a, 1.5), [A]),
    "add.reduce": (lambda a: np.add.reduce(a, axis=1), [A]),
    "maximum.reduce": (lambda a: np.maximum.reduce(a), [A]),
    "ndarray-operators": (lambda a: np.ones(4) * a + np.arange(4.0) - 1.0 / a, [A]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_numpy_function_on_tensors_matches_numpy_and_central_differences(name):
    function, inputs = CASES[name]
    result = function(*[mg.Tensor(x, requires_grad=True) for x in inputs])
    assert isinstance(result, mg.Tensor) and result.requires_grad
    np.testing.assert_allclose(result.data, function(*inputs), rtol=1e-13, atol=1e-13)
    mg.gradcheck(function, inputs, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda t: np.prod(t), "numpy.prod"),
        (lambda t: np.cumsum(t), "numpy.cumsum"),
        (lambda t: np.sort(t), "numpy.sort"),
        (lambda t: np.fft.fft(t), "numpy.fft.fft"),
        (lambda t: np.linalg.inv(t), "numpy.linalg.inv"),
        (lambda t: np.arcsinh(t), "numpy.arcsinh"),
        (lambda t: np.multiply.reduce(t), "numpy.multiply.reduce"),
        (lambda t: np.add.accumulate(t), "numpy.add.accumulate"),
    ],
)
def test_every_other_numpy_function_raises_naming_it(call, name):
    with pytest.raises(TypeError, match=re.escape(name) + " is not supported on Tensors"):
        call(mg.Tensor(np.eye(2), requires_grad=True))


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda t: np.sum(t, out=np.empty(())), r"numpy\.sum: the argument out= is not supported"),
        (lambda t: np.sum(t, where=np.ones(2, bool)), r"where= is not supported"),
        (lambda t: np.mean(t, dtype=np.float32), r"numpy\.mean: the argument dtype= is not"),
        (lambda t: np.max(t, initial=5.0), r"numpy\.max: the argument initial= is not"),
        (lambda t: np.add(t, 1.0, out=np.empty(2)), r"numpy\.add\(\.\.\., out=\.\.\.\)"),
        (lambda t: np.reshape(t, 2, order="F"), r"only order='C'"),
    ],
)
def test_numpy_arguments_a_tensor_cannot_honour_raise(call, pattern):
    with pytest.raises(TypeError, match=pattern):
        call(mg.Tensor([1.0, 2.0], requires_grad=True))


def test_writing_a_tensor_result_into_an_ndarray_in_place_is_refused():
    total = np.zeros(2)
    with pytest.raises(TypeError, match="out="):
        total += mg.Tensor([1.0, 2.0], requires_grad=True)


def test_constant_functions_return_values_without_gradient():
    t = mg.Tensor([-1.5, 0.0, 2.5], requires_grad=True)
    np.testing.assert_array_equal(np.sign(t).data, [-1.0, 0.0, 1.0])
    assert not np.sign(t).requires_grad
    np.testing.assert_array_equal(np.floor(t).data, [-2.0, 0.0, 2.0])
    assert np.argmax(t) == 2 and np.shape(t) == (3,) and np.ndim(t) == 1
    np.testing.assert_array_equal(np.where(t > 0)[0], [2])
    assert np.allclose(t, [-1.5, 0.0, 2.5])
    zeros = np.zeros_like(t)
    assert isinstance(zeros, mg.Tensor) and not zeros.requires_grad and zeros.shape == (3,)


def _article_style_loss(W1, b1, W2, b2, X, labels):
    """A two-layer sigmoid network written as the source articles write it, in plain NumPy."""
    hidden = 1.0 / (1.0 + np.exp(-(np.dot(X, W1.T) + b1)))
    logits = np.dot(hidden, W2.T) + b2
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    return -np.mean(np.sum(labels * log_probs, axis=1))


def test_a_network_written_in_plain_numpy_runs_on_tensors_with_right_gradients():
    rng = np.random.default_rng(3)
    W1, b1 = rng.normal(size=(5, 4)), rng.normal(size=5)
    W2, b2 = rng.normal(size=(3, 5)), rng.normal(size=3)
    X = rng.normal(size=(6, 4))
    labels = np.eye(3)[rng.integers(0, 3, 6)]
    params = [W1, b1, W2, b2]
    tensors = [mg.Tensor(p, requires_grad=True) for p in params]
    loss = _article_style_loss(*tensors, X, labels)
    assert isinstance(loss, mg.Tensor)
    np.testing.assert_allclose(loss.item(), _article_style_loss(*params, X, labels), rtol=1e-13)
    mg.gradcheck(lambda *ps: _article_style_loss(*ps, X, labels), params, atol=1e-7, rtol=1e-6)


def test_the_docs_list_exactly_the_supported_functions():
    listed = set(re.findall(r"`(numpy\.[\w.]+)`", DOC.read_text(encoding="utf-8")))
    assert listed == set(numpy_interop.supported_names())


@pytest.mark.parametrize(
    "call",
    [
        lambda w: np.sum([w, w]),
        lambda w: np.mean([w[0], w[1]]),
        lambda w: np.array([w[0] * 3.0, w[1] * 3.0]),
        lambda w: mg.Tensor([w[0], w[1]]),
        lambda w: mg.add([w[0], w[1]], 1.0),
        lambda w: np.asarray(w),
    ],
)
def test_a_tensor_that_requires_grad_never_becomes_a_constant_array(call):
    """NumPy converts each tensor in a list with __array__: refused, never a dropped gradient."""
    w = mg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"would drop its gradient.*micrograd_nd\.stack"):
        call(w)
    np.testing.assert_array_equal(np.asarray(w.detach()), [1.0, 2.0])  # the explicit form


SPECIAL = np.array([0.0, -0.0, 0.5, 1.0, 2.0, 3.0, 8.0, 100.0, 1000.0, 1e-300, 1e300, np.inf,
                    -np.inf, np.nan, -3.0])
FLOAT_UFUNCS = sorted((u for u in numpy_interop.UFUNCS if u is not np.invert
                       and not u.__name__.startswith("bitwise")), key=lambda u: u.__name__)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ufunc", FLOAT_UFUNCS, ids=lambda u: u.__name__)
def test_every_ufunc_gives_numpys_values_bit_for_bit(ufunc, dtype):
    """log10(1000) is 3, not 2.9999999999999996: a composite could be an ulp off."""
    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"):  # 1e300 is inf in float32
        x = np.concatenate([SPECIAL, rng.uniform(-20, 20, 200), rng.uniform(0, 5, 200)])
        x = x.astype(dtype)
        operands = (x,) if ufunc.nin == 1 else (x, x[::-1].copy())
        expected = ufunc(*operands)
        got = ufunc(*(mg.Tensor(a) for a in operands)).data
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    kept = ~np.isnan(expected)
    np.testing.assert_array_equal(np.signbit(got[kept]), np.signbit(expected[kept]))


def test_copy_keeps_a_mask_a_mask_and_reciprocal_of_integers_is_numpys():
    mask = np.array([True, False, True])
    copied = np.copy(mg.Tensor(mask))
    assert copied.dtype == np.bool_
    np.testing.assert_array_equal(mg.Tensor([10.0, 20.0, 30.0])[copied].data, [10.0, 30.0])
    with pytest.raises(TypeError, match=r"numpy\.positive is not defined for bool"):
        np.positive(mg.Tensor(mask))
    integers = np.array([1, 2, -3])
    got = np.reciprocal(mg.Tensor(integers)).data
    assert got.dtype == integers.dtype
    np.testing.assert_array_equal(got, np.reciprocal(integers))


@pytest.mark.parametrize(("call", "numpy_call"), [
    (lambda t: np.concatenate([t, t[1:] * 2.0], axis=None), None),
    (lambda t: mg.concatenate([t, t[1:] * 2.0], axis=None), None),
    (lambda t: np.moveaxis(t, [0, 1], [1, 0]), None),
    (lambda t: mg.moveaxis(t, (0, 1), (-1, 0)), lambda a: np.moveaxis(a, (0, 1), (-1, 0))),
])
def test_array_function_variants_match_numpy_and_central_differences(call, numpy_call):
    a = RNG.uniform(0.5, 2.0, (2, 3))
    expected = (numpy_call or call)(a)
    result = call(mg.Tensor(a, requires_grad=True))
    np.testing.assert_array_equal(result.data, expected)
    mg.gradcheck(lambda t: call(t) * np.arange(1.0, expected.size + 1).reshape(expected.shape),
                 [a], atol=1e-6, rtol=1e-5)


def test_an_argument_numpy_has_but_a_tensor_cannot_honour_is_named():
    with pytest.raises(TypeError, match=r"numpy\.broadcast_to on Tensors: .*'subok'.*"
                                        r"supported form is broadcast_to\(x"):
        np.broadcast_to(mg.Tensor([1.0, 2.0]), (2, 2), subok=False)
