"""Fuzz the public API with bad arguments: only documented exception types may come out.

Documented (docs/errors.md): TypeError, ValueError (and the library's subclasses of them),
OverflowError for a number a tensor's dtype cannot hold, RuntimeError for graph misuse,
IndexError for tensor indexing, FileNotFoundError for files. An AttributeError,
ZeroDivisionError, KeyError or a bare IndexError from somewhere deep would be a bug. A call
may also succeed: then it must return the documented kind of result.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import micrograd_nd as mg
from micrograd_nd import data, nn, optim
from micrograd_nd.serialization import load_arrays, save_arrays

ALLOWED = (TypeError, ValueError, OverflowError)

# Values that are wrong somewhere: odd types, odd shapes, odd dtypes, odd numbers.
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.integers(-3, 3), max_size=3),
    st.lists(st.floats(-2, 2), min_size=1, max_size=3).map(lambda v: [v, v[:-1]]),  # ragged
    st.tuples(st.integers(-2, 4), st.integers(-2, 4)),
    st.sampled_from([
        np.array([None, 1.0], dtype=object), np.array(["a", "b"]), np.ones(2, dtype=complex),
        np.ones((2, 3)), np.ones((0, 3)), np.arange(4), np.array(True), np.ones((3, 2, 1)),
        np.array([np.nan, np.inf]), {"a": 1}, object(), slice(None), Ellipsis,
    ]),
)
small_arrays = st.sampled_from([np.ones((2, 3)), np.ones(3), np.ones((3, 1)), np.ones(()),
                                np.ones((0, 3)), np.arange(6).reshape(2, 3)])


def _tensor(a):
    return mg.Tensor(a) if not isinstance(a, mg.Tensor) else a


def check(call, *extra_allowed):
    """Run ``call``; it may succeed or raise an allowed type with a non-empty message."""
    try:
        call()
    except ALLOWED + extra_allowed as error:
        assert str(error), f"{type(error).__name__} without a message"


FUNCTIONS = {
    "Tensor": lambda a, b: mg.Tensor(a, dtype=b if isinstance(b, str) else None),
    "Tensor.requires_grad": lambda a, b: mg.Tensor(a, requires_grad=True),
    "add": lambda a, b: mg.add(a, b),
    "multiply": lambda a, b: _tensor(np.ones((2, 3))) * b,
    "divide": lambda a, b: mg.divide(a, b),
    "power": lambda a, b: mg.power(a, b),
    "maximum": lambda a, b: mg.maximum(a, b),
    "matmul": lambda a, b: mg.matmul(a, b),
    "where": lambda a, b: mg.where(a, b, 0.0),
    "concatenate": lambda a, b: mg.concatenate([a, b]),
    "stack": lambda a, b: mg.stack([a, b]),
    "sum": lambda a, b: mg.sum(a, axis=b),
    "mean": lambda a, b: mg.mean(a, axis=b),
    "max": lambda a, b: mg.max(a, axis=b),
    "reshape": lambda a, b: mg.reshape(a, b),
    "transpose": lambda a, b: mg.transpose(a, b),
    "broadcast_to": lambda a, b: mg.broadcast_to(a, b),
    "astype": lambda a, b: mg.astype(a, b),
    "log_softmax": lambda a, b: mg.log_softmax(a, axis=b),
    "softmax": lambda a, b: mg.softmax(a, axis=b),
    "logsumexp": lambda a, b: mg.logsumexp(a, axis=b),
    "sigmoid": lambda a, b: mg.sigmoid(a),
    "mse_loss": lambda a, b: mg.mse_loss(a, b),
    "square_loss": lambda a, b: mg.square_loss(a, b),
    "cross_entropy": lambda a, b: mg.cross_entropy(a, b),
    "binary_cross_entropy": lambda a, b: mg.binary_cross_entropy(a, b),
    "bce_with_logits": lambda a, b: mg.binary_cross_entropy_with_logits(a, b),
    "loss_reduction": lambda a, b: mg.mse_loss(np.ones(2), np.ones(2), reduction=b),
    "l2_penalty": lambda a, b: mg.l2_penalty([_tensor(np.ones(2))], b),
    "Linear": lambda a, b: nn.Linear(a, b),
    "Linear.forward": lambda a, b: nn.Linear(3, 2, rng=0)(a),
    "MLP": lambda a, b: nn.MLP(a, activation=b if isinstance(b, str) else "relu"),
    "MLP.forward": lambda a, b: nn.MLP([3, 2], rng=0)(a),
    "get_activation": lambda a, b: nn.get_activation(a),
    "loss_module": lambda a, b: nn.CrossEntropyLoss(reduction=a),
    "SGD": lambda a, b: optim.SGD(a, lr=b),
    "SGD.lr": lambda a, b: optim.SGD(nn.Linear(2, 2).parameters(), lr=a, momentum=b),
    "Adam": lambda a, b: optim.Adam(nn.Linear(2, 2).parameters(), lr=0.1, betas=a, eps=b),
    "clip_grad_norm_": lambda a, b: optim.clip_grad_norm_(nn.Linear(2, 2).parameters(), a),
    "load_state_dict": lambda a, b: nn.Linear(2, 3).load_state_dict(a),
    "load_state_dict.values": lambda a, b: nn.Linear(2, 3).load_state_dict(
        {"weight": a, "bias": b}),
    "one_hot": lambda a, b: data.one_hot(a, b),
    "batches": lambda a, b: list(data.batches(a, batch_size=b)),
    "batches.aligned": lambda a, b: list(data.batches(a, b, batch_size=1)),
    "train_test_split": lambda a, b: data.train_test_split(a, test_fraction=b),
    "images_to_float": lambda a, b: data.images_to_float(a),
    "make_moons": lambda a, b: data.make_moons(a, noise=0.1),
    "accuracy": lambda a, b: mg.training.accuracy(a, b),
    "backward.gradient": lambda a, b: (mg.Tensor(np.ones(3), requires_grad=True) * 2)
    .backward(a),
    "grad": lambda a, b: mg.grad(a, b),
    "set_default_dtype": lambda a, b: mg.set_default_dtype(a),
    "initializer": lambda a, b: nn.Linear(2, 2, init=a),
}


# Graph misuse is a RuntimeError (docs/errors.md), e.g. backward() of a non-scalar.
EXTRA = {"backward.gradient": (RuntimeError,), "grad": (RuntimeError,)}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@settings(max_examples=50)
@given(a=st.one_of(junk, small_arrays), b=st.one_of(junk, small_arrays))
def test_bad_arguments_raise_only_documented_errors(name, a, b):
    try:
        check(lambda: FUNCTIONS[name](a, b), *EXTRA.get(name, ()))
    finally:
        mg.set_default_dtype(np.float64)


@settings(max_examples=40)
@given(index=st.one_of(junk, st.integers(-10, 10)), value=st.one_of(junk, small_arrays))
def test_indexing_raises_index_or_documented_errors(index, value):
    """Indexing may also raise IndexError (Python's convention); its message names the op."""
    t = mg.Tensor(np.ones((2, 3)))
    for call, op in ((lambda: t[index], "getitem"), (lambda: t.__setitem__(index, value),
                                                     "setitem")):
        try:
            call()
        except IndexError as error:
            assert str(error).startswith(f"{op}:"), str(error)
        except ALLOWED as error:
            assert str(error)


@settings(max_examples=25)
@given(payload=st.binary(max_size=300), cut=st.integers(0, 10_000))
def test_load_arrays_of_random_or_truncated_bytes(tmp_path_factory, payload, cut):
    from micrograd_nd.serialization import ModelFileError

    directory = tmp_path_factory.mktemp("fuzz")
    good = directory / "good.npz"
    save_arrays(good, {"w": np.arange(12.0).reshape(3, 4), "b": np.ones(3)})
    raw = good.read_bytes()
    for content in (payload, raw[: cut % len(raw)], raw[:100] + payload + raw[100:]):
        path = directory / "bad.npz"
        path.write_bytes(content)
        try:
            arrays = load_arrays(path)
        except ModelFileError as error:
            assert str(path) in str(error)
        else:  # a payload that happens to be valid must at least give arrays
            assert all(isinstance(v, np.ndarray) for v in arrays.values())


@settings(max_examples=25)
@given(payload=st.binary(max_size=64))
def test_load_idx_of_random_bytes(tmp_path_factory, payload):
    path = tmp_path_factory.mktemp("idx") / "x.idx"
    path.write_bytes(payload)
    try:
        out = data.load_idx(path)
    except data.IDXFormatError as error:
        assert str(path) in str(error)
    else:
        assert isinstance(out, np.ndarray)
