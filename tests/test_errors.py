"""The error contract: every row of docs/errors.md is a bad call, its exception and its message.

``ROWS`` is the single source of truth. ``test_row_raises`` runs each row; the doc tests
check that docs/errors.md lists exactly these ids, with the same exception names, and that
the message shown there for each row matches the row's pattern, so the page and the tests
cannot drift apart.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import micrograd_nd as mg
from micrograd_nd import (
    callbacks,
    checkpoint,
    creation,
    data,
    history,
    nn,
    optim,
    reference,
    serialization,
    testing,
    training,
)
from micrograd_nd import functional as F
from micrograd_nd.compare import compare_gradients
from micrograd_nd.data import IDXFormatError
from micrograd_nd.manual import compare_manual
from micrograd_nd.nn import InputShapeError, StateDictError
from micrograd_nd.serialization import ModelFileError, load_arrays, save_arrays

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
PACKAGE_DIR = Path(mg.__file__).resolve().parent


@dataclass(frozen=True)
class Row:
    id: str
    call: Callable[[Path], object]
    exception: type[BaseException]
    pattern: str  # re.search-ed against str(exception)


def _t(*shape: int, requires_grad: bool = False) -> mg.Tensor:
    return mg.Tensor(np.ones(shape), requires_grad=requires_grad)


# ---- helpers for rows that need some set-up ---------------------------------------------------
def _backward_twice(_: Path) -> None:
    x = _t(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _modify_saved_tensor(_: Path) -> None:
    w = _t(3, requires_grad=True)
    x = mg.Tensor(np.arange(3.0))
    y = (w * x).sum()
    x[0] = 10.0  # x was saved by multiply for w's gradient
    y.backward()


def _step_before_backward(_: Path) -> None:
    model = nn.Linear(3, 2, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = model(np.ones((4, 3))).sum()
    loss.backward(retain_graph=True)
    opt.step()  # changes the weights the graph saved
    loss.backward()


def _anomaly_forward(_: Path) -> None:
    x = mg.Tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(divide="ignore"), mg.detect_anomaly():
        mg.log(x)


def _anomaly_backward(_: Path) -> None:
    x = mg.Tensor([0.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore"), mg.detect_anomaly():
        mg.sqrt(x).sum().backward()


def _unchanged_on_failure(state_for: Callable[[nn.Module], object]) -> Callable[[Path], None]:
    """Call load_state_dict with a bad state; assert the model did not change; re-raise."""

    def call(_: Path) -> None:
        model = nn.MLP([3, 4, 2], rng=0)
        before = {name: p.data.copy() for name, p in model.named_parameters()}
        versions = [p.version for p in model.parameters()]
        try:
            model.load_state_dict(state_for(model))
        finally:
            for name, p in model.named_parameters():
                np.testing.assert_array_equal(p.data, before[name])
            assert [p.version for p in model.parameters()] == versions

    return call


def _with_extra(model: nn.Module) -> dict:
    return {**model.state_dict(), "layers.9.weight": np.zeros(2)}


def _with_wrong_shape(model: nn.Module) -> dict:
    state = {name: a + 1.0 for name, a in model.state_dict().items()}
    state["layers.0.weight"] = np.zeros((3, 4))
    return state


def _without_bias(model: nn.Module) -> dict:
    state = {name: a + 1.0 for name, a in model.state_dict().items()}
    del state["layers.2.bias"]
    return state


def _corrupt_model_file(tmp: Path) -> None:
    path = tmp / "model.npz"
    path.write_bytes(b"this is not a zip archive at all" * 10)
    nn.MLP([3, 4, 2], rng=0).load(path)


def _truncated_model_file(tmp: Path) -> None:
    path = tmp / "model.npz"
    model = nn.MLP([3, 4, 2], rng=0)
    model.save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    model.load(path)


def _flipped_byte_model_file(tmp: Path) -> None:
    path = tmp / "model.npz"
    save_arrays(path, {"w": np.arange(1000.0)})
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside the array's data: the zip CRC no longer matches
    path.write_bytes(bytes(raw))
    load_arrays(path)


def _idx_bad_magic(tmp: Path) -> None:
    path = tmp / "images.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 2) + b"\x00\x01")
    data.load_idx(path)


def _idx_truncated(tmp: Path) -> None:
    path = tmp / "images.idx.gz"
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 10, 28, 28)
    path.write_bytes(gzip.compress(header + bytes(100)))  # 10·28·28 bytes promised
    data.load_idx(path)


def _mnist_labels_are_images(tmp: Path) -> None:
    images = np.zeros((2, 4, 4), dtype=np.uint8)
    data.save_idx(tmp / "train-images-idx3-ubyte", images)
    data.save_idx(tmp / "train-labels-idx1-ubyte", images)  # wrong file under the labels name
    data.load_mnist(tmp)


def _unused_input(_: Path) -> None:
    x, unused = _t(2, requires_grad=True), _t(2, requires_grad=True)
    mg.grad((x * 2).sum(), [x, unused])


# ---- the table ---------------------------------------------------------------------------------
ROWS: list[Row] = [
    # Tensor construction and dtypes
    Row("requires-grad-integer", lambda _: mg.Tensor(np.arange(3), requires_grad=True),
        TypeError, r"requires_grad=True needs a floating dtype, got int64"),
    Row("object-array", lambda _: mg.Tensor(np.array([1, "a"], dtype=object)),
        TypeError, r"unsupported dtype object for a Tensor"),
    Row("string-array", lambda _: mg.Tensor(["a", "b"]),
        TypeError, r"unsupported dtype <U1 for a Tensor"),
    Row("complex-array", lambda _: mg.Tensor(np.ones(2, dtype=complex)),
        TypeError, r"unsupported dtype complex128 for a Tensor"),
    Row("ragged-list", lambda _: mg.Tensor([[1.0], [1.0, 2.0]]),
        TypeError, r"cannot make a Tensor from list: .*inhomogeneous"),
    Row("none-in-list-with-dtype", lambda _: mg.Tensor([None, 1.0], dtype=np.float64),
        TypeError, r"sequence holding non-numeric items"),
    Row("astype-unsupported", lambda _: _t(2).astype(object),
        TypeError, r"astype: unsupported dtype object"),
    Row("set-default-dtype", lambda _: mg.set_default_dtype(np.int32),
        TypeError, r"default dtype must be float32 or float64, got int32"),
    # Operations
    Row("operand-shape-mismatch", lambda _: _t(2, 3) + _t(4),
        ValueError, r"add: operand shapes \(2, 3\), \(4,\) cannot be broadcast together"),
    Row("matmul-inner-dimension", lambda _: _t(2, 3) @ _t(4, 5),
        ValueError, r"matmul: inner dimensions differ: \(2, 3\) @ \(4, 5\) \(3 != 4\)"),
    Row("matmul-batch-dimensions", lambda _: _t(2, 2, 3) @ _t(3, 3, 5),
        ValueError, r"matmul \(batch dimensions\): operand shapes \(2,\), \(3,\)"),
    Row("where-condition-dtype", lambda _: mg.where(_t(3), 1.0, 2.0),
        TypeError, r"where: the condition must be a bool tensor, got float64"),
    Row("axis-out-of-range", lambda _: _t(2, 3).sum(axis=2),
        ValueError, r"sum: axis 2 is out of range for a 2-d tensor \(valid: -2 to 1\)"),
    Row("softmax-axis-out-of-range", lambda _: mg.softmax(_t(2, 3), axis=3),
        ValueError, r"softmax: axis 3 is out of range for a 2-d tensor \(valid: -2 to 1\)"),
    Row("reshape-size", lambda _: _t(2, 3).reshape(4),
        ValueError, r"reshape: cannot reshape array of size 6 into shape \(4,\)"),
    Row("index-out-of-range", lambda _: _t(2, 3)[5],
        IndexError, r"getitem: index 5 is out of bounds .*input shapes: \(2, 3\)"),
    Row("setitem-requires-grad", lambda _: _t(3, requires_grad=True).__setitem__(0, 1.0),
        RuntimeError, r"setitem: an in-place change of a leaf tensor that requires grad, while "
        r"gradients are recorded"),
    Row("setitem-shape", lambda _: _t(3).__setitem__(slice(None), np.ones(4)),
        ValueError,
        r"setitem: cannot assign a value of shape \(4,\) into a tensor of shape \(3,\)"),
    Row("unsupported-ufunc", lambda _: np.arcsinh(_t(3)),
        TypeError, r"numpy\.arcsinh is not supported on Tensors"),
    Row("item-of-many", lambda _: _t(3).item(),
        ValueError, r"item\(\) needs a single-element tensor, got shape \(3,\)"),
    # backward and grad
    Row("backward-non-scalar", lambda _: (_t(3, requires_grad=True) * 2).backward(),
        RuntimeError, r"a gradient argument is needed for an output of shape \(3,\)"),
    Row("backward-gradient-shape",
        lambda _: (_t(3, requires_grad=True) * 2).backward(np.ones(4)),
        ValueError, r"gradient has shape \(4,\) but the output has shape \(3,\)"),
    Row("backward-without-graph", lambda _: _t(1).backward(),
        RuntimeError, r"this tensor does not require grad"),
    Row("backward-freed-graph", _backward_twice,
        mg.GraphFreedError, r"backward through the 'sum' op a second time.*retain_graph=True"),
    Row("grad-unused-input", _unused_input,
        ValueError, r"grad: input 1 \(shape \(2,\)\) is not used"),
    Row("inplace-saved-tensor", _modify_saved_tensor,
        mg.InPlaceModificationError,
        r"backward through 'multiply': input 1 \(shape \(3,\), version 0 → 1\) changed in place"),
    Row("inplace-step-before-backward", _step_before_backward,
        mg.InPlaceModificationError, r"backward through '\w+': .*changed in place"),
    Row("anomaly-forward", _anomaly_forward,
        mg.AnomalyError, r"'log' produced inf in its value \(op created at .*test_errors\.py"),
    Row("anomaly-backward", _anomaly_backward,
        mg.AnomalyError, r"'power' produced inf in its gradient for input 0"),
    # Losses
    Row("cross-entropy-label-range",
        lambda _: mg.cross_entropy(_t(2, 3), np.array([0, 3])),
        ValueError, r"cross_entropy: labels must lie in \[0, 3\) for 3 classes, got .*\[0, 3\]"),
    Row("cross-entropy-label-count",
        lambda _: mg.cross_entropy(_t(2, 3), np.array([0, 1, 2])),
        ValueError, r"cross_entropy: labels of shape \(3,\) do not match logits of shape \(2, 3\)"),
    Row("cross-entropy-target-dtype",
        lambda _: mg.cross_entropy(_t(2, 3), np.array(["a", "b"])),
        TypeError, r"cross_entropy: target must be integer labels or float probabilities"),
    Row("bce-target-range",
        lambda _: mg.binary_cross_entropy(mg.Tensor([0.5, 0.5]), mg.Tensor([0.0, 2.0])),
        ValueError, r"binary_cross_entropy: targets must lie in \[0, 1\], got .*\[0\.0, 2\.0\]"),
    Row("bce-probability-range",
        lambda _: mg.binary_cross_entropy(mg.Tensor([1.5, 0.5]), mg.Tensor([0.0, 1.0])),
        ValueError, r"binary_cross_entropy: probabilities must lie in \[0, 1\]"),
    Row("loss-shape-mismatch", lambda _: mg.mse_loss(_t(3), _t(3, 1)),
        ValueError, r"mse_loss: prediction shape \(3,\) and target shape \(3, 1\) differ"),
    Row("loss-reduction-name", lambda _: nn.MSELoss(reduction="avg"),
        ValueError, r"MSELoss: reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"),
    # Layers and models
    Row("linear-input-width", lambda _: nn.Linear(3, 2)(np.ones((4, 5))),
        InputShapeError, r"Linear\(in_features=3.*expected input of shape \(\.\.\., 3\), "
        r"got shape \(4, 5\)"),
    Row("mlp-input-width", lambda _: nn.MLP([3, 4, 2])(np.ones((4, 5))),
        InputShapeError, r"layers\.0: Linear\(in_features=3"),
    Row("activation-name", lambda _: nn.MLP([2, 3, 1], activation="swish"),
        ValueError, r"unknown activation 'swish'; valid names: elu, gelu, identity, leaky_relu"),
    Row("layer-size-nonpositive", lambda _: nn.Linear(0, 2),
        ValueError, r"Linear: in_features must be a positive int, got 0"),
    Row("mlp-size-nonpositive", lambda _: nn.MLP([2, -1, 1]),
        ValueError, r"MLP: every size must be a positive int, got \[2, -1, 1\]"),
    Row("initializer-name", lambda _: nn.Linear(2, 2, init="glorot"),
        ValueError, r"unknown initializer 'glorot'; valid names:"),
    # Optimisers
    Row("optimizer-no-parameters", lambda _: optim.SGD([], lr=0.1),
        ValueError, r"optimizer got an empty parameter list"),
    Row("optimizer-negative-lr", lambda _: optim.Adam(nn.Linear(2, 2).parameters(), lr=-0.1),
        ValueError, r"Adam: lr must be a finite number ≥ 0, got -0\.1"),
    Row("optimizer-one-tensor", lambda _: optim.SGD(nn.Linear(2, 2).weight, lr=0.1),
        TypeError, r"params must be an iterable of tensors"),
    Row("optimizer-betas", lambda _: optim.Adam(nn.Linear(2, 2).parameters(), betas=(0.9,)),
        ValueError, r"betas must be a pair \(beta1, beta2\), got \(0\.9,\)"),
    # State dicts and files
    Row("state-dict-missing", _unchanged_on_failure(_without_bias),
        StateDictError, r"nothing was loaded.*\n  missing: layers\.2\.bias"),
    Row("state-dict-unexpected", _unchanged_on_failure(_with_extra),
        StateDictError, r"nothing was loaded.*\n  unexpected: layers\.9\.weight"),
    Row("state-dict-wrong-shape", _unchanged_on_failure(_with_wrong_shape),
        StateDictError,
        r"wrong shape for layers\.0\.weight: model has \(4, 3\), state dict has \(3, 4\)"),
    Row("state-dict-not-a-mapping", _unchanged_on_failure(lambda m: list(m.state_dict())),
        TypeError, r"load_state_dict: expected a mapping of name → array, got list"),
    Row("model-file-corrupt", _corrupt_model_file,
        ModelFileError, r"model\.npz: not a valid \.npz \(zip\) archive"),
    Row("model-file-truncated", _truncated_model_file,
        ModelFileError, r"model\.npz: not a valid \.npz \(zip\) archive"),
    Row("model-file-bad-checksum", _flipped_byte_model_file,
        ModelFileError,
        r"model\.npz: not a valid \.npz \(zip\) archive: Bad CRC-32 for file 'w\.npy'"),
    Row("model-file-missing", lambda tmp: load_arrays(tmp / "absent.npz"),
        FileNotFoundError, r"No such file or directory: .*absent\.npz"),
    Row("save-object-array", lambda tmp: save_arrays(tmp / "m.npz", {"a": np.array([None])}),
        TypeError, r"array 'a' has dtype object, which would need pickle"),
    # Data
    Row("idx-bad-magic", _idx_bad_magic,
        IDXFormatError, r"images\.idx: bad magic number 0x12340801"),
    Row("idx-truncated", _idx_truncated,
        IDXFormatError, r"truncated data: header shape \(10, 28, 28\) of uint8 needs 7840 bytes"),
    Row("mnist-wrong-file", _mnist_labels_are_images,
        IDXFormatError, r"train-labels-idx1-ubyte: bad magic number 0x00000803 .*expected "
        r"0x00000801"),
    Row("one-hot-out-of-range", lambda _: data.one_hot([0, 5], 3),
        ValueError, r"labels must be in \[0, 3\), got \[5\]"),
    Row("batches-misaligned", lambda _: data.batches(np.ones(3), np.ones(4), batch_size=2),
        ValueError, r"arrays must have the same first dimension, got lengths \[3, 4\]"),
    Row("batch-size-nonpositive", lambda _: data.batches(np.ones(3), batch_size=0),
        ValueError, r"batch_size must be a positive int, got 0"),
]


# ---- rows: checking gradients (gradcheck, reference, compare, compare_manual, testing) -------
def _square_sum(w: mg.Tensor) -> mg.Tensor:
    return (w * w).sum()


def _reference_call(**change: object) -> None:
    arguments = {"weights": [np.ones((4, 3)), np.ones((2, 4))],
                 "biases": [np.zeros(4), np.zeros(2)], "X": np.ones((5, 3)),
                 "labels": np.full((5, 2), 0.5),
                 "activations": ["tanh", "sigmoid"], "cost": "square", **change}
    reference.forward_backward(**arguments)


def _loss_of_another_model(_: Path) -> None:
    other = nn.Linear(2, 1, rng=0)
    mg.compare_manual(lambda model: other(np.ones((1, 2))).sum(),
                      lambda model: {name: np.ones_like(p.data)
                                     for name, p in model.named_parameters()},
                      nn.Linear(2, 1, rng=1))


def _manual_call(gradient: Callable, loss: Callable | None = None, params: object = None) -> None:
    X = np.ones((5, 3))
    default = {"W1": np.ones((4, 3)), "b1": np.zeros(4)}

    def network_loss(p: dict, X: np.ndarray) -> mg.Tensor:
        return mg.tanh(X @ p["W1"].T + p["b1"]).sum()

    compare_manual(loss or network_loss, gradient, default if params is None else params,
                   args=(X,))


def _gradcheck_log_near_zero(_: Path) -> None:
    with np.errstate(invalid="ignore", divide="ignore"):  # log(1e-7 − 1e-6) is NaN
        mg.gradcheck(lambda w: mg.log(w), [np.array([1e-7, 1.0])], eps=1e-6)


def _good_gradient(p: dict, X: np.ndarray) -> dict:
    g = 1 - np.tanh(X @ p["W1"].T + p["b1"]) ** 2
    return {"W1": g.T @ X, "b1": g.sum(axis=0)}


ROWS += [
    Row("gradcheck-negative-tolerance",
        lambda _: mg.gradcheck(_square_sum, [np.ones(3)], atol=-1, rtol=-1),
        ValueError, r"gradcheck: atol must be a finite number ≥ 0, got -1\.0"),
    Row("gradcheck-eps", lambda _: mg.gradcheck(_square_sum, [np.ones(3)], eps=0),
        ValueError, r"gradcheck: eps must be a finite number > 0, got 0\.0"),
    Row("gradcheck-eps-too-small", lambda _: mg.gradcheck(_square_sum, [np.full(3, 1e12)]),
        ValueError, r"gradcheck: eps=1e-06 does not change input 0 at index \(0,\) "
        r"\(value 1000000000000\.0\): x ± eps == x in float64; use a larger eps"),
    Row("gradcheck-non-finite-input", lambda _: mg.gradcheck(_square_sum, [np.full(3, np.nan)]),
        ValueError, r"gradcheck: input 0 has a non-finite value \(nan at index \(0,\)\)"),
    Row("gradcheck-input-dtype",
        lambda _: mg.gradcheck(_square_sum, [np.ones(2, dtype=complex)]),
        TypeError, r"gradcheck: input 0 must hold real numbers .*got dtype complex128"),
    Row("gradcheck-not-finite-near-point", _gradcheck_log_near_zero,
        ValueError, r"gradcheck: fn is not finite at input 0 index \(0,\) ± eps \(nan at "
        r"index \(0,\)\); central differences need a function that is finite within eps"),
    Row("reference-non-finite", lambda _: _reference_call(X=np.full((5, 3), np.nan)),
        ValueError, r"X has a non-finite value \(nan at index \(0, 0\)\)"),
    Row("reference-cost-output",
        lambda _: _reference_call(cost="binary_cross_entropy", activations=["tanh", "relu"]),
        ValueError, r"binary_cross_entropy needs a sigmoid output layer, got activations\[-1\] "
        r"= 'relu'"),
    Row("compare-tolerance",
        lambda _: compare_gradients(
            ([np.ones((2, 2))], [np.zeros(2)]), np.ones((1, 2)), np.array([0]),
            activations=["identity"], tolerances={"rule vs autodiff": (-1.0, 1e-8)}),
        ValueError, r"compare_gradients: atol of 'rule vs autodiff' must be a finite number "
        r"≥ 0, got -1\.0"),
    Row("manual-gradient-shape",
        lambda _: _manual_call(lambda p, X: {**_good_gradient(p, X),
                                             "W1": _good_gradient(p, X)["W1"].T}),
        ValueError, r"compare_manual: the manual gradient for 'W1' has shape \(3, 4\) but the "
        r"parameter has shape \(4, 3\) \(transposed\?\)"),
    Row("manual-gradient-missing",
        lambda _: _manual_call(lambda p, X: {"W1": _good_gradient(p, X)["W1"]}),
        ValueError, r"compare_manual: manual_grad returned no gradient for 'b1' "
        r"\(missing: \['b1'\]\)"),
    Row("manual-gradient-extra",
        lambda _: _manual_call(lambda p, X: {**_good_gradient(p, X), "W3": np.ones(2)}),
        ValueError, r"compare_manual: manual_grad returned a gradient for 'W3', which is not a "
        r"parameter \(parameters: \['W1', 'b1'\]\)"),
    Row("manual-gradient-count",
        lambda _: _manual_call(lambda p, X: [np.zeros((4, 3))],
                               loss=lambda p, X: (p[0] * p[1].sum()).sum(),
                               params=[np.ones((4, 3)), np.ones(2)]),
        ValueError, r"compare_manual: manual_grad returned 1 gradient for 2 parameters"),
    Row("manual-gradient-non-finite",
        lambda _: _manual_call(lambda p, X: {**_good_gradient(p, X),
                                             "W1": np.full((4, 3), np.nan)}),
        ValueError, r"compare_manual: the manual gradient for 'W1' has a non-finite value "
        r"\(nan at index \(0, 0\)\)"),
    Row("manual-loss-not-a-tensor",
        lambda _: _manual_call(_good_gradient, loss=lambda p, X: float(np.sum(X))),
        TypeError, r"compare_manual: loss_fn returned float, not a Tensor, so autodiff has "
        r"nothing to differentiate"),
    Row("manual-loss-ignores-params",
        lambda _: _manual_call(_good_gradient, loss=lambda p, X: mg.Tensor(X).sum()),
        ValueError, r"compare_manual: the loss does not depend on any parameter loss_fn was "
        r"given"),
    Row("manual-loss-uses-another-model", _loss_of_another_model, ValueError,
        r"compare_manual: the loss does not depend on any parameter loss_fn was given"),
    Row("manual-names-alike",
        lambda _: mg.compare_manual(lambda p: p[1].sum() + p["1"].sum(),
                                    lambda p: {1: np.ones(2), "1": np.ones(2)},
                                    {1: np.ones(2), "1": np.ones(2)}),
        ValueError, r"compare_manual: parameter names \[1, '1'\] print alike"),
    Row("manual-params-kind", lambda _: _manual_call(_good_gradient, params=np.ones(3)),
        TypeError, r"compare_manual: params must be a dict name → array, a list or tuple of "
        r"arrays, or an nn\.Module; got ndarray"),
    Row("strategy-bounds",
        lambda _: testing.arrays((3,), min_value=3, max_value=1),
        ValueError, r"arrays: min_value=3\.0 is larger than max_value=1\.0"),
    Row("strategy-dtype-range",
        lambda _: testing.arrays((3,), np.int8, min_value=200, max_value=300),
        ValueError, r"arrays: no int8 value lies in \[200\.0, 300\.0\]"),
    Row("strategy-network-sizes",
        lambda _: testing.network_problems(layer_sizes=[3]),
        ValueError, r"network_problems: layer_sizes needs at least two sizes \(input and "
        r"output\), got \[3\]"),
]
# ---- end of rows: checking gradients -----------------------------------------------------------

# ---- rows: nn toolkit (layers, activations, losses, constructors) ------------------------------
ROWS += [
    Row("manual-seed-negative", lambda _: creation.manual_seed(-1),
        ValueError, r"manual_seed: seed must be ≥ 0, got -1"),
    Row("constructor-size", lambda _: creation.zeros(2, -1),
        ValueError, r"zeros: size must be non-negative ints, got \(2, -1\)"),
    Row("random-integer-dtype", lambda _: creation.randn(2, dtype=np.int32),
        TypeError, r"randn: random values need a floating dtype, got int32"),
    Row("dim-and-axis", lambda _: mg.softmax(_t(3), dim=0, axis=0),
        TypeError, r"softmax: pass axis= or dim=, not both"),
    Row("activation-argument", lambda _: F.softplus(_t(2), beta=0.0),
        ValueError, r"softplus: beta must be a finite number in \(0, ∞\), got 0\.0"),
    Row("dropout-probability", lambda _: nn.Dropout(p=1.5),
        ValueError, r"Dropout: p must be a finite number in \[0, 1\], got 1\.5"),
    Row("batch-norm-single-sample", lambda _: nn.BatchNorm1d(3)(_t(1, 3)),
        ValueError, r"batch_norm: expected more than 1 value per channel when training, got an "
        r"input of shape \(1, 3\)"),
    Row("batch-norm-input-width", lambda _: nn.BatchNorm1d(3)(_t(4, 2)),
        InputShapeError, r"BatchNorm1d\(3, .*expected input of shape \(N, 3\) or \(N, 3, L\), "
        r"got shape \(4, 2\)"),
    Row("layer-norm-input-shape", lambda _: nn.LayerNorm((3, 4))(_t(2, 4)),
        InputShapeError, r"LayerNorm\(\(3, 4\).*expected input of shape \(\.\.\., 3, 4\), got "
        r"shape \(2, 4\)"),
    Row("cross-entropy-probability-rows",
        lambda _: mg.cross_entropy(_t(2, 2), np.array([[0.5, 0.6], [0.5, 0.5]])),
        ValueError, r"cross_entropy: each row of probability targets must sum to 1 \(within "
        r"1\.0e-08\), got row sums in \[1\.0, 1\.1\]"),
    Row("cross-entropy-class-weight-shape",
        lambda _: mg.cross_entropy(_t(2, 3), np.array([0, 1]), weight=np.ones(2)),
        ValueError, r"cross_entropy: weight must have one entry per class, shape \(3,\), got "
        r"shape \(2,\)"),
    Row("cross-entropy-all-ignored", lambda _: mg.cross_entropy(_t(2, 3), np.array([-100, -100])),
        ValueError, r"cross_entropy: reduction='mean' divides by the total weight of the counted "
        r"targets, which is 0\.0 .*use reduction='sum'"),
    Row("loss-weight-is-a-reduction", lambda _: mg.cross_entropy(_t(2, 3), np.array([0, 1]), "sum"),
        TypeError, r"cross_entropy: weight must be an array, got the string 'sum'; pass the "
        r"reduction by name \(reduction='sum'\)"),
    Row("label-smoothing-range", lambda _: nn.CrossEntropyLoss(label_smoothing=1.5),
        ValueError, r"CrossEntropyLoss: label_smoothing must be a finite number in \[0, 1\], got "
        r"1\.5"),
    Row("kl-div-negative-target", lambda _: F.kl_div(np.zeros(2), np.array([0.5, -0.5])),
        ValueError, r"kl_div: target probabilities must be ≥ 0 .*log_target=True"),
    Row("huber-delta", lambda _: nn.HuberLoss(delta=0.0),
        ValueError, r"HuberLoss: delta must be a finite number in \(0, ∞\), got 0\.0"),
    Row("bce-eps", lambda _: nn.BCELoss(eps=float("nan")),
        ValueError, r"BCELoss: eps must be a finite number in \[0, ∞\), got nan"),
    Row("l2-penalty-negative-weight", lambda _: mg.l2_penalty([], -1.0),
        ValueError, r"l2_penalty: weight must be a finite number in \[0, ∞\), got -1\.0"),
    Row("l2-penalty-array", lambda _: mg.l2_penalty([np.ones(2)], 0.1),
        TypeError, r"l2_penalty: parameter 0 is a numpy\.ndarray, not a Tensor: it has no "
        r"gradient"),
    Row("var-no-degrees-of-freedom", lambda _: F.var(_t(3, 1), dim=1),
        ValueError, r"var: correction=1 leaves no degrees of freedom for 1 element\(s\) per "
        r"reduction \(tensor shape \(3, 1\), dim=1\)"),
    Row("argmax-empty", lambda _: F.argmax(_t(0, 2)),
        ValueError, r"argmax: zero-size tensor of shape \(0, 2\) has no maximum"),
    Row("clip-no-bounds", lambda _: F.clip(_t(2)),
        ValueError, r"clip: give min, max or both"),
    Row("module-dict-key", lambda _: nn.ModuleDict({"train": nn.ReLU()}),
        ValueError, r"ModuleDict key 'train' would hide the attribute of that name"),
    Row("buffer-type", lambda _: setattr(nn.BatchNorm1d(2), "running_mean", np.zeros(2)),
        TypeError, r"BatchNorm1d: buffer 'running_mean' holds a Tensor or None, got ndarray"),
]

# ---- rows: optimisers, schedules, training, checkpoints, saving, data (trainlib) ----------------
def _sgd(lr: float = 0.1, **options) -> optim.SGD:
    return optim.SGD(nn.Linear(2, 2, rng=0).parameters(), lr=lr, **options)


def _set_lr(value: float) -> None:
    _sgd().lr = value


def _ambiguous_lr(_: Path) -> float:
    model = nn.MLP([2, 3, 2], rng=0)
    opt = optim.SGD([{"params": model[0].parameters()}, {"params": model[2].parameters(),
                                                          "lr": 0.01}], lr=0.1)
    return opt.lr


def _step_with_nan_lr(_: Path) -> None:
    model = nn.Linear(2, 2, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    opt.param_groups[0]["lr"] = float("nan")  # bypassing the checked setter
    model(np.ones((1, 2))).sum().backward()
    opt.step()


def _replaced_data(_: Path) -> None:
    model = nn.Linear(3, 2, rng=0)
    opt = optim.Adam(model.named_parameters())
    model.weight.data = np.zeros((5, 3))
    model.weight.grad = mg.Tensor(np.ones((5, 3)))
    opt.step()


def _broadcasting_grad(_: Path) -> None:
    p = nn.Parameter(np.zeros((4, 3)))
    p.grad = mg.Tensor(np.ones((1, 3)))  # refused here, before any optimiser could broadcast it


def _adam_state_into_sgd(_: Path) -> None:
    _sgd().load_state_dict(optim.Adam(nn.Linear(2, 2, rng=0).parameters()).state_dict())


def _nan_schedule(_: Path) -> None:
    optim.lr_scheduler.LambdaLR(_sgd(), lambda epoch: float("nan"))


def _schedule_state_of_another_kind(_: Path) -> None:
    state = optim.lr_scheduler.StepLR(_sgd(), step_size=2).state_dict()
    optim.lr_scheduler.CosineAnnealingLR(_sgd(), T_max=3).load_state_dict(state)


def _scheduler_then_a_new_group(_: Path) -> None:
    optimizer = _sgd()
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2)
    optimizer.add_param_group({"params": [nn.Parameter(np.zeros(2))]})
    scheduler.step()


def _save_diverged_model(tmp: Path) -> None:
    model = nn.MLP([3, 4, 2], rng=0)
    model.parameters()[0].data = np.full((4, 3), np.nan)
    model.save(tmp / "model.npz")


def _save_onto_a_directory(tmp: Path) -> None:
    (tmp / "model.npz").mkdir()
    save_arrays(tmp / "model.npz", {"w": np.ones(2)})


def _checkpoint_into_another_optimizer(tmp: Path) -> None:
    model = nn.Linear(2, 2, rng=0)
    checkpoint.save_checkpoint(tmp / "ckpt.npz", model, optim.SGD(model.parameters()), epoch=1)
    checkpoint.load_checkpoint(tmp / "ckpt.npz", model, optim.Adam(model.parameters()))


def _checkpoint_without_the_generator(tmp: Path) -> None:
    model = nn.Linear(2, 2, rng=0)
    checkpoint.save_checkpoint(tmp / "ckpt.npz", model, epoch=1)
    checkpoint.load_checkpoint(tmp / "ckpt.npz", model,
                               generators={"shuffle": np.random.default_rng(0)})


def _moons() -> tuple[nn.Module, nn.Module, optim.Optimizer, np.ndarray, np.ndarray]:
    X, y = data.make_moons(32, rng=0)
    model = nn.MLP([2, 4, 2], rng=0)
    return model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), X, y


def _fit(**changes) -> Callable[[Path], object]:
    """A fit call on two moons with some arguments changed (or called as ``changes['call']``)."""

    def call(tmp: Path) -> object:
        model, loss_fn, opt, X, y = _moons()
        arguments = dict(train_data=(X, y), epochs=1, progress=False, verbose=False)
        arguments.update({k: v(model, loss_fn, opt, X, y, tmp) for k, v in changes.items()})
        return training.fit(model, loss_fn, arguments.pop("optimizer", opt), **arguments)

    return call


def _fit_x_y_separately(_: Path) -> None:
    model, loss_fn, opt, X, y = _moons()
    training.fit(model, loss_fn, opt, X, y)


def _fit_loss_per_sample(_: Path) -> None:
    model, _, opt, X, y = _moons()
    training.fit(model, nn.CrossEntropyLoss(reduction="none"), opt, (X, y), epochs=1,
                 batch_size=8, progress=False, verbose=False)


def _parameter_in_two_groups(_: Path) -> None:
    p = nn.Parameter([1.0])
    optim.SGD([{"params": [p]}, {"params": [p]}])


def _diverging_fit(_: Path) -> None:
    model, loss_fn, _, X, y = _moons()
    with np.errstate(all="ignore"):
        training.fit(model, loss_fn, optim.SGD(model.parameters(), lr=1e6), (X, y), epochs=50,
                     batch_size=8, rng=0, progress=False, verbose=False)


def _resume_beyond(tmp: Path) -> None:
    model, loss_fn, opt, X, y = _moons()
    saver = callbacks.ModelCheckpoint(tmp / "ckpt.npz")
    training.fit(model, loss_fn, opt, (X, y), epochs=2, verbose=False, progress=False,
                 callbacks=[saver])
    training.fit(model, loss_fn, opt, (X, y), epochs=1, resume_from=tmp / "ckpt.npz")


def _plot_without_matplotlib(_: Path) -> None:
    import sys
    from unittest import mock

    with mock.patch.dict(sys.modules, {"matplotlib.figure": None}):
        history.History(train_loss=[1.0], epoch_time=[0.1]).plot()


TRAINLIB_ROWS: list[Row] = [
    # optimisers
    Row("optimizer-nonfinite-lr", lambda _: _sgd(lr=float("inf")),
        ValueError, r"SGD: lr must be a finite number ≥ 0, got inf"),
    Row("optimizer-set-bad-lr", lambda _: _set_lr(-1),
        ValueError, r"SGD: lr must be a finite number ≥ 0, got -1"),
    Row("optimizer-lr-ambiguous", _ambiguous_lr,
        ValueError, r"SGD.lr is ambiguous: the parameter groups have learning rates "
                    r"\[0.1, 0.01\]; read or set optimizer.param_groups\[i\]\['lr'\]"),
    Row("optimizer-step-bad-lr", _step_with_nan_lr,
        ValueError, r"SGD.step: param_groups\[0\]: lr must be a finite number ≥ 0, got nan"),
    Row("optimizer-setting-nonfinite", lambda _: _sgd(momentum=float("nan")),
        ValueError, r"SGD: momentum must be a finite number ≥ 0, got nan"),
    Row("optimizer-parameter-reshaped", _replaced_data,
        ValueError, r"Adam.step: parameter 'weight' \(param_groups\[0\]\['params'\]\[0\]\) "
                    r"now has shape \(5, 3\) but had shape \(2, 3\) when it was given to the "
                    r"optimiser"),
    Row("grad-assignment-shape", _broadcasting_grad,
        ValueError, r"\.grad must match its tensor: shape \(4, 3\) and dtype float64, got "
                    r"shape \(1, 3\) and dtype float64"),
    Row("grad-assignment-type", lambda _: setattr(_t(3), "grad", np.zeros(3)), TypeError,
        r"\.grad must be a Tensor or None, got ndarray"),
    Row("optimizer-parameter-in-two-groups", _parameter_in_two_groups,
        ValueError, r"SGD: param_groups\[1\]: parameter 0 \(shape \(1,\)\) appears twice"),
    Row("optimizer-unknown-setting", lambda _: optim.SGD([{"params": [nn.Parameter([1.0])],
                                                            "betas": (0.9, 0.99)}]),
        ValueError, r"SGD: unknown setting\(s\) betas; SGD takes lr, momentum"),
    Row("optimizer-state-dict-of-another-type", _adam_state_into_sgd,
        ValueError, r"SGD.load_state_dict: param_groups\[0\]: the state dict is not SGD's "
                    r"\(missing: dampening, momentum, nesterov; unexpected: betas, eps\)"),
    Row("clip-grad-norm-module", lambda _: optim.clip_grad_norm_(nn.Linear(2, 2), 1.0),
        TypeError, r"clip_grad_norm_: got a Module; pass its parameters: "
                   r"clip_grad_norm_\(model.parameters\(\), max_norm\)"),
    # schedules
    Row("scheduler-nonfinite-lr", _nan_schedule,
        ValueError, r"LambdaLR: at epoch 0 the schedule gives lr=nan for param group 0; a "
                    r"learning rate must be a finite number ≥ 0"),
    Row("scheduler-group-added", _scheduler_then_a_new_group, ValueError,
        r"StepLR\.step: the optimiser now has 2 parameter groups, this scheduler was built "
        r"for 1"),
    Row("scheduler-argument", lambda _: optim.lr_scheduler.StepLR(_sgd(), step_size=0),
        ValueError, r"StepLR: step_size must be an int ≥ 1, got 0"),
    Row("scheduler-state-of-another-kind", _schedule_state_of_another_kind,
        ValueError, r"CosineAnnealingLR.load_state_dict: expected CosineAnnealingLR's state"),
    Row("plateau-nonfinite-metric",
        lambda _: optim.lr_scheduler.ReduceLROnPlateau(_sgd()).step(float("nan")),
        ValueError, r"ReduceLROnPlateau.step: the metric is nan at epoch 1; a NaN or infinite "
                    r"loss means training diverged"),
    # saving and checkpoints
    Row("save-nonfinite-parameters", _save_diverged_model,
        ValueError, r"refusing to save .*model.npz: parameters layers.0.weight \(12 of 12 values "
                    r"NaN or inf\) are not finite .*Pass allow_nonfinite=True to save anyway"),
    Row("save-os-error-names-target", _save_onto_a_directory,
        IsADirectoryError, r"cannot save .*/model.npz: Is a directory: '.*/model.npz'"),
    Row("save-tree-unsupported", lambda tmp: serialization.save_tree(tmp / "s.npz",
                                                                     {"lrs": {0.1}}),
        TypeError, r"save_tree: cannot store set at lrs \(only dicts, lists, tuples, numbers, "
                   r"strings, None and arrays; no pickle\)"),
    Row("checkpoint-wrong-optimizer", _checkpoint_into_another_optimizer,
        checkpoint.CheckpointError, r"ckpt.npz: the checkpoint holds SGD state, not Adam "
                                    r"state"),
    Row("checkpoint-generators", _checkpoint_without_the_generator,
        checkpoint.CheckpointError, r"ckpt.npz: the random generators differ: missing from the "
                                    r"checkpoint: shuffle"),
    Row("fit-resume-beyond-epochs", _resume_beyond,
        ValueError, r"fit: the checkpoint .*ckpt.npz is after epoch 2, beyond epochs=1"),
    # fit, evaluate, predict, accuracy
    Row("fit-x-y-separately", _fit_x_y_separately,
        TypeError, r"fit: train_data must be a pair \(X, y\), got ndarray of shape \(32, 2\); "
                   r"call fit\(model, loss_fn, optimizer, \(X, y\), epochs\)"),
    Row("fit-one-element-data", _fit(validation_data=lambda m, f, o, X, y, t: (X,)),
        ValueError, r"fit: validation_data must be a pair \(X, y\), got a tuple of 1 "
                    r"element\(s\)"),
    Row("fit-no-samples", _fit(train_data=lambda m, f, o, X, y, t: (X[:0], y[:0])),
        ValueError, r"fit: train_data X has 0 samples"),
    Row("fit-nonfinite-data",
        _fit(train_data=lambda m, f, o, X, y, t: (np.where(X > 2.0, np.nan, X), y)),
        ValueError, r"fit: train_data X has \d+ NaN or infinite value\(s\), the first in row "
                    r"\d+; clean or impute the data first"),
    Row("fit-diverged", _diverging_fit,
        training.TrainingDivergedError, r"fit: (the loss is (nan|inf)|.* NaN or inf.*) at epoch "
                                        r"\d+/50, batch \d/4 \(lr 1e\+06\)"),
    Row("fit-foreign-optimizer",
        _fit(optimizer=lambda m, f, o, X, y, t: optim.SGD(nn.Linear(2, 2).parameters())),
        ValueError, r"fit: the optimiser updates none of the model's parameters \(was it built "
                    r"for another model\?\)"),
    Row("fit-loss-not-scalar", _fit_loss_per_sample,
        ValueError, r"fit: loss_fn returned shape \(8,\); it must return one number"),
    Row("evaluate-no-samples", lambda _: training.evaluate(nn.Linear(2, 2), np.zeros((0, 2)),
                                                           np.zeros(0, int), nn.MSELoss()),
        ValueError, r"evaluate: data X has 0 samples"),
    Row("accuracy-class-count", lambda _: training.accuracy(np.zeros((3, 4)), np.eye(3)),
        ValueError, r"accuracy: labels have 3 columns \(one-hot\) but the outputs have 4 "
                    r"classes"),
    Row("accuracy-label-range", lambda _: training.accuracy(np.zeros((2, 3)), [0, 3]),
        ValueError, r"accuracy: labels must lie in \[0, 3\) for 3 classes, got values in "
                    r"\[0, 3\]"),
    Row("accuracy-regression-targets",
        lambda _: training.accuracy(np.zeros((2, 1)), [0.25, 1.5]),
        ValueError, r"accuracy: labels must be class indices, got the non-integer value 0.25; "
                    r"for a regression, pass metric=None"),
    Row("history-plot-needs-matplotlib", _plot_without_matplotlib,
        ImportError, r"History.plot needs matplotlib: pip install matplotlib"),
    # callbacks
    Row("callback-monitor-missing", _fit(callbacks=lambda *_: [callbacks.EarlyStopping()]),
        ValueError, r"EarlyStopping monitors 'val_loss', but fit was given no validation_data"),
    Row("callback-type", _fit(callbacks=lambda *_: [lambda run: None]),
        TypeError, r"fit: callbacks\[0\] is a function, not a micrograd_nd.callbacks.Callback"),
    # data
    Row("split-both-names", lambda _: data.train_test_split(np.arange(10), test_fraction=0.2,
                                                            test_size=0.3),
        TypeError, r"train_test_split: give test_fraction or test_size, not both"),
    Row("split-test-size-count", lambda _: data.train_test_split(np.arange(10), test_size=10),
        ValueError, r"train_test_split: an int test_size is a number of samples and must lie "
                    r"in \[1, 9\] for 10 samples, got 10"),
]
ROWS.extend(TRAINLIB_ROWS)


# ---- rows: views, in-place changes, NumPy functions, dtypes (engine) -----------------------
def _stale_view(_: Path) -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    view = h[0:1]
    h *= mg.Tensor([3.0, 4.0], requires_grad=True)
    view * 3.0


def _in_place_with_itself(_: Path) -> None:
    h = mg.Tensor([1.0, 2.0], requires_grad=True) * 2.0
    h *= h


def _augmented_slice_of_data(_: Path) -> None:
    buf = mg.Tensor(np.zeros(4))
    buf[1:3] += mg.Tensor([1.0, 2.0], requires_grad=True) * 3.0


def _write_through_a_view(_: Path) -> None:
    w = _t(4, requires_grad=True)
    a = mg.Tensor(np.arange(4.0))
    loss = (w * a).sum()
    a[:2][0] = 100.0
    loss.backward()


def _replaced_data_shape(_: Path) -> None:
    w = _t(3, requires_grad=True)
    loss = (w + 2.0).sum()  # add saves nothing, so only the shape check can see the change
    w.data = np.ones(4)
    loss.backward()


ENGINE_ROWS = [
    Row("inplace-leaf-requires-grad", lambda _: _t(3, requires_grad=True).__isub__(0.1),
        RuntimeError, r"-=: an in-place change of a leaf tensor that requires grad, while "
        r"gradients are recorded"),
    Row("inplace-through-view", _write_through_a_view, mg.InPlaceModificationError,
        r"backward through 'multiply': input 1 \(shape \(4,\), version 0 → 1\) changed in "
        r"place after the op saved it"),
    Row("inplace-stale-view", _stale_view, mg.InPlaceModificationError,
        r"'multiply': an input \(shape \(1,\), made by 'getitem'\) was changed in place "
        r"after it was made, through itself or another tensor sharing its memory"),
    Row("inplace-operand-aliases", _in_place_with_itself, RuntimeError,
        r"\*=: operand 1 of 'multiply' is this tensor or a view of its memory, and the "
        r"derivative reads it"),
    Row("setitem-augmented-slice", _augmented_slice_of_data, mg.InPlaceModificationError,
        r"setitem: a recorded in-place change through a view of this tensor made part of it "
        r"depend on tensors that require grad.*Write t\[1:3\] = t\[1:3\] \+ w instead"),
    Row("inplace-shape", lambda _: _t(2).__iadd__(np.ones((2, 2))), ValueError,
        r"\+=: the result has shape \(2, 2\) but an in-place operation keeps the tensor's "
        r"shape \(2,\)"),
    Row("inplace-dtype", lambda _: mg.Tensor([1, 2]).__itruediv__(2), TypeError,
        r"/=: cannot store the float64 result in a int64 tensor in place"),
    Row("inplace-read-only", lambda _: mg.broadcast_to(_t(1), (3,)).__imul__(2.0), ValueError,
        r"\*=: this tensor's memory is read-only"),
    Row("setitem-truncating", lambda _: mg.Tensor([1, 2]).__setitem__(0, 0.5), TypeError,
        r"setitem: cannot store float64 values in a int64 tensor \(they would be truncated\)"),
    Row("grad-shape-after-data-replaced", _replaced_data_shape, RuntimeError,
        r"backward: the gradient of a tensor of shape \(4,\) has shape \(3,\): its \.data "
        r"was replaced by an array of another shape after the forward pass"),
    Row("numpy-function-unsupported", lambda _: np.prod(_t(3)), TypeError,
        r"numpy\.prod is not supported on Tensors \(it would lose the gradient\)"),
    Row("numpy-argument-unsupported", lambda _: np.sum(_t(3), out=np.empty(())), TypeError,
        r"numpy\.sum: the argument out= is not supported on Tensors"),
    Row("numpy-out-into-array", lambda _: np.add(np.zeros(3), _t(3), out=np.zeros(3)),
        TypeError, r"numpy\.add\(\.\.\., out=\.\.\.\) on a Tensor is not supported"),
    Row("index-invalid", lambda _: _t(3)[1.5], IndexError,
        r"getitem: only integers, slices, None, \.\.\., and integer or bool arrays are "
        r"valid indices"),
    Row("einsum-diagonal", lambda _: mg.einsum("ii->i", _t(2, 2, requires_grad=True)),
        ValueError, r"einsum: operand subscripts 'ii' repeat an index"),
    Row("linear-shapes", lambda _: mg.linear(_t(4, 3), _t(2, 5)), ValueError,
        r"linear: input of shape \(4, 3\) does not match weight of shape \(2, 5\)"),
    Row("dtype-overflow-scalar", lambda _: mg.Tensor(np.array([1], dtype=np.int8)) * 300,
        OverflowError, r"multiply: the Python number 300 does not fit in int8"),
    Row("dtype-overflow-values", lambda _: mg.Tensor(-1, dtype=np.uint8), OverflowError,
        r"Tensor: values in \[-1, -1\] do not fit in uint8"),
    Row("dtype-nan-to-int", lambda _: mg.Tensor(np.array([np.nan]), dtype=np.int64),
        ValueError, r"Tensor: cannot cast float64 values with NaN or inf to int64"),
    Row("array-of-grad-tensor", lambda _: np.sum([_t(2, requires_grad=True)] * 2),
        RuntimeError, r"converting a tensor that requires grad \(shape \(2,\)\) to a NumPy "
        r"array would drop its gradient"),
    Row("axis-not-an-int", lambda _: _t(2).sum(axis=1.5), TypeError,
        r"sum: axis must be an int or a tuple of ints, got 1\.5"),
    Row("torch-and-numpy-names", lambda _: _t(2, 2).sum(axis=0, dim=0), TypeError,
        r"sum: pass axis= or dim=, not both"),
]
ROWS.extend(ENGINE_ROWS)


# ---- rows: compiled functions (micrograd_nd.compile) ---------------------------------------
def _strict_compile_reads_a_value(_: Path) -> None:
    w = _t(3, requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        if float(loss) > 1:
            loss = loss * 2.0
        loss.backward()
        return loss

    mg.compile(step, strict=True)(np.ones(3))


def _replayed_label_check(_: Path) -> None:
    w = _t(3, 3, requires_grad=True)
    step = mg.compile(lambda x, y: mg.cross_entropy(x @ w, y).detach())
    x = np.ones((2, 3))
    with mg.no_grad():
        for _ in range(3):  # traced twice, then replayed
            step(x, np.array([0, 2]))
        step(x, np.array([0, 3]))


COMPILE_ROWS = [
    Row("compile-not-a-function", lambda _: mg.compile(3), TypeError,
        r"compile: expected a function, got int"),
    Row("compile-cache-size", lambda _: mg.compile(print, cache_size=0), ValueError,
        r"compile: cache_size must be an int ≥ 1, got 0"),
    Row("compile-strict", _strict_compile_reads_a_value, mg.CompileError,
        r"compile\(strict=True\): t\.item\(\) \(or float\(t\), int\(t\)\) reads a tensor's "
        r"value \(at .*\)\. A compiled function replays tensor operations, not Python code"),
    Row("compile-replayed-check", _replayed_label_check, ValueError,
        r"cross_entropy: labels must lie in \[0, 3\) for 3 classes, got values in \[0, 3\]"),
]
ROWS.extend(COMPILE_ROWS)


def test_trainlib_exceptions_belong_to_builtin_families() -> None:
    assert issubclass(training.TrainingDivergedError, FloatingPointError)
    assert issubclass(checkpoint.CheckpointError, ValueError)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_row_raises(row: Row, tmp_path: Path) -> None:
    with pytest.raises(row.exception) as info:
        row.call(tmp_path)
    assert type(info.value) is row.exception
    assert re.search(row.pattern, str(info.value), re.DOTALL), str(info.value)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_row_is_raised_by_the_library_not_from_inside_numpy(row: Row, tmp_path: Path) -> None:
    """The innermost frame of the traceback is micrograd_nd's own code (OS errors excepted)."""
    with pytest.raises(row.exception) as info:
        row.call(tmp_path)
    if isinstance(info.value, OSError):
        return
    innermost = Path(traceback.extract_tb(info.value.__traceback__)[-1].filename).resolve()
    assert PACKAGE_DIR in innermost.parents, f"raised from {innermost}"


# ---- docs/errors.md is the same table ----------------------------------------------------------
_DOC_ROW = re.compile(
    r"^\| `(?P<id>[a-z0-9-]+)` \|(?P<call>.*)\| `(?P<exc>\w+)` \| (?P<msg>.*) \|$"
)


def _doc_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _DOC_ROW.match(line)
        if match:
            assert match["id"] not in rows, f"{match['id']} listed twice in {DOC.name}"
            rows[match["id"]] = (match["exc"], match["msg"])
    return rows


def test_doc_lists_exactly_the_tested_rows() -> None:
    documented = set(_doc_rows())
    tested = {row.id for row in ROWS}
    assert len(tested) == len(ROWS), "duplicate row ids"
    assert documented - tested == set(), "documented but not tested"
    assert tested - documented == set(), "tested but not documented"
    assert len(ROWS) >= 25


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_doc_row_matches_the_test(row: Row) -> None:
    exc_name, message = _doc_rows()[row.id]
    assert exc_name == row.exception.__name__
    shown = message.strip("`").replace("\\|", "|").replace("\\n", "\n")
    assert re.search(row.pattern, shown, re.DOTALL), f"docs/errors.md message for {row.id}"


def test_library_exceptions_are_runtime_or_value_errors() -> None:
    """Users can catch the library's errors by the builtin family they belong to."""
    assert issubclass(mg.GraphFreedError, RuntimeError)
    assert issubclass(mg.InPlaceModificationError, RuntimeError)
    assert issubclass(mg.AnomalyError, FloatingPointError)
    for error in (StateDictError, ModelFileError, IDXFormatError, InputShapeError):
        assert issubclass(error, ValueError)


def test_doc_exists() -> None:
    assert DOC.is_file() and os.path.getsize(DOC) > 0
