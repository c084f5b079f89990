"""Modules, parameter naming, Linear, MLP validation, state dicts and model files."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import micrograd_nd as mg
from micrograd_nd import nn
from micrograd_nd.init import uniform
from micrograd_nd.serialization import ModelFileError, load_arrays


def snapshot(model: nn.Module) -> dict[str, np.ndarray]:
    return {name: p.data.copy() for name, p in model.named_parameters()}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# ---- Parameter and Module ----------------------------------------------------------------------
def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter(np.ones((2, 3)), dtype=np.float32)
    assert isinstance(p, mg.Tensor) and p.requires_grad and p.is_leaf
    assert p.dtype == np.float32
    assert "Parameter(" in repr(p)


def test_named_parameters_use_dotted_paths_in_order():
    model = nn.MLP([3, 4, 5, 2], rng=0)
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias",
        "layers.4.weight", "layers.4.bias",
    ]
    assert model.num_parameters() == 3 * 4 + 4 + 4 * 5 + 5 + 5 * 2 + 2
    assert [p.shape for p in model.parameters()][:2] == [(4, 3), (4,)]


def test_custom_module_registers_children_and_shared_parameters_once():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Linear(3, 2, rng=0)
            self.scale = nn.Parameter(np.ones(2))
            self.decoder = self.encoder  # the same module twice: its parameters count once

        def forward(self, x):
            return self.encoder(x) * self.scale

    model = Tied()
    # a module's own parameters come before its children's (like PyTorch)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["scale", "encoder.weight", "encoder.bias"]
    assert len(model.parameters()) == 3
    assert model(np.ones((1, 3))).shape == (1, 2)


def test_module_needs_super_init():
    class Broken(nn.Module):
        def __init__(self) -> None:
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_train_eval_and_zero_grad_reach_every_module():
    model = nn.MLP([2, 3, 1], rng=0)
    assert all(m.training for m in model.modules())
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model(np.ones((4, 2))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr_is_readable():
    text = repr(nn.MLP([2, 3, 1], output_activation="sigmoid", rng=0))
    assert text.splitlines()[0] == "MLP("
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(3): Sigmoid()" in text


# ---- Linear -------------------------------------------------------------------------------------
def test_linear_matches_hand_computation_and_layout():
    layer = nn.Linear(3, 2, rng=0)
    layer.weight.data[...] = [[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]]  # (out, in) = (n_l, n_{l-1})
    layer.bias.data[...] = [0.5, -2.0]
    x = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 1.0]])
    expected = np.array([[1 - 3 + 0.5, -1 - 2.0], [2 + 2 + 3 + 0.5, -2 + 0.5 - 2.0]])
    np.testing.assert_allclose(layer(x).data, expected)
    # a single sample (1-D) works too
    np.testing.assert_allclose(layer(x[0]).data, expected[0])


def test_linear_gradients_pass_gradcheck():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)

    def through_layer(x_t, w_t, b_t):
        layer = nn.Linear(3, 2)
        layer.weight, layer.bias = w_t, b_t  # plain tensors: gradcheck owns the leaves
        return mg.sigmoid(layer(x_t))

    assert mg.gradcheck(through_layer, [x, w, b])


def test_linear_backward_gives_delta_rule_gradients():
    """∂(Σ out)/∂W = 1ᵀ x (eq. (15)'s δ xᵀ with δ = 1), ∂/∂b = batch size (eq. (16))."""
    layer = nn.Linear(3, 2, rng=0)
    x = np.arange(6.0).reshape(2, 3)
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.weight.grad.data, np.tile(x.sum(axis=0), (2, 1)))
    np.testing.assert_allclose(layer.bias.grad.data, [2.0, 2.0])


def test_linear_input_width_error_names_layer_expected_and_got():
    model = nn.MLP([4, 3, 2], rng=0)
    with pytest.raises(nn.InputShapeError) as info:
        model(np.ones((5, 7)))
    message = str(info.value)
    assert "layers.0" in message and "Linear(in_features=4" in message
    assert "(..., 4)" in message and "(5, 7)" in message
    with pytest.raises(ValueError, match=r"^Linear\(in_features=3.*\(\.\.\., 3\)"):
        model[2](np.ones((1, 4)))  # direct call: layer text only; via Sequential: path too
    with pytest.raises(ValueError, match=r"layers\.1: .*layers\.0: .*\(\.\.\., 3\)"):
        nn.Sequential(nn.Identity(), nn.Sequential(nn.Linear(3, 1)))(np.ones((1, 4)))


def test_linear_validates_sizes_and_uses_initialiser_and_dtype():
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="unknown initializer"):
        nn.Linear(2, 3, init="nope")
    layer = nn.Linear(5, 4, init="uniform", rng=7, dtype=np.float32)
    np.testing.assert_array_equal(
        layer.weight.data, uniform((4, 5), rng=np.random.default_rng(7), dtype=np.float32)
    )
    assert layer.weight.dtype == layer.bias.dtype == np.float32
    np.testing.assert_array_equal(layer.bias.data, 0.0)
    assert layer(np.ones((2, 5))).dtype == np.float32  # float64 input is cast to the layer
    assert nn.Linear(2, 2).weight.dtype == mg.get_default_dtype()
    assert nn.Linear(2, 2, bias=False).bias is None
    assert len(nn.Linear(2, 2, bias=False).parameters()) == 1
    # a callable initialiser
    ones = nn.Linear(2, 3, init=lambda shape, rng, dtype: np.ones(shape, dtype))
    np.testing.assert_array_equal(ones.weight.data, 1.0)


def test_same_seed_same_model():
    a, b = nn.MLP([3, 8, 2], rng=3), nn.MLP([3, 8, 2], rng=3)
    assert_same(a.state_dict(), b.state_dict())
    c = nn.MLP([3, 8, 2], rng=4)
    assert not np.array_equal(a[0].weight.data, c[0].weight.data)


# ---- MLP and activations -----------------------------------------------------------------------
@pytest.mark.parametrize("sizes", [[3], [], [3, 0], [3, -1, 2], [3, 2.5], [3, True], "34"])
def test_mlp_rejects_bad_sizes(sizes):
    with pytest.raises((ValueError, TypeError), match="MLP"):
        nn.MLP(sizes)


def test_mlp_rejects_unknown_activation_listing_valid_names():
    with pytest.raises(ValueError, match="elu, gelu, identity, leaky_relu, log_softmax, relu, "
                                         "sigmoid, silu, softmax, softplus, tanh"):
        nn.MLP([2, 2], activation="swish")
    with pytest.raises(ValueError, match="valid names"):
        nn.MLP([2, 2], output_activation="swish")


def test_mlp_structure_and_activations():
    model = nn.MLP([2, 3, 3, 1], activation="tanh", output_activation="sigmoid", rng=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "Tanh", "Linear", "Tanh", "Linear", "Sigmoid"]
    out = model(np.random.default_rng(0).standard_normal((5, 2))).data
    assert out.shape == (5, 1) and np.all((out > 0) & (out < 1))
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(nn.ReLU()(x).data, [[0, 0, 3]])
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(nn.Identity()(x).data, x)
    np.testing.assert_allclose(nn.Softmax()(x).data.sum(), 1.0)


def test_loss_modules_match_functional_versions():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    probs, onehot = mg.sigmoid(logits).data, np.eye(3)[labels]
    cases = [
        (nn.CrossEntropyLoss(), mg.cross_entropy(logits, labels), (logits, labels)),
        (nn.MSELoss(), mg.mse_loss(probs, onehot), (probs, onehot)),
        (nn.SquareLoss(), mg.square_loss(probs, onehot), (probs, onehot)),
        (nn.BCELoss(eps=1e-5), mg.binary_cross_entropy(probs, onehot, eps=1e-5), (probs, onehot)),
        (nn.BCEWithLogitsLoss(), mg.binary_cross_entropy_with_logits(logits, onehot),
         (logits, onehot)),
    ]
    for module, expected, args in cases:
        np.testing.assert_allclose(module(*args).data, expected.data, err_msg=repr(module))
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")


# ---- state dicts ---------------------------------------------------------------------------------
def test_state_dict_is_a_copy_and_round_trips():
    model = nn.MLP([3, 4, 2], rng=0)
    state = model.state_dict()
    model[0].weight.data += 1.0
    assert not np.array_equal(state["layers.0.weight"], model[0].weight.data)
    weight_array = model[0].weight.data
    model.load_state_dict(state)
    assert_same(model.state_dict(), state)
    assert model[0].weight.data is weight_array  # written in place: optimisers keep working


@pytest.mark.parametrize("problem", ["missing", "extra", "shape", "all"])
def test_load_state_dict_errors_name_the_problem_and_change_nothing(problem):
    model = nn.MLP([3, 4, 2], rng=0)
    before = snapshot(model)
    state = {name: value + 1.0 for name, value in model.state_dict().items()}
    if problem in ("missing", "all"):
        del state["layers.2.bias"]
    if problem in ("extra", "all"):
        state["layers.9.weight"] = np.zeros(3)
    if problem in ("shape", "all"):
        state["layers.0.weight"] = np.zeros((4, 5))
    with pytest.raises(nn.StateDictError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    if problem in ("missing", "all"):
        assert "missing: layers.2.bias" in message and info.value.missing == ["layers.2.bias"]
    if problem in ("extra", "all"):
        assert "unexpected: layers.9.weight" in message
    if problem in ("shape", "all"):
        assert "layers.0.weight" in message and "(4, 3)" in message and "(4, 5)" in message
    assert_same(snapshot(model), before)


def test_load_state_dict_non_strict_ignores_names_but_not_shapes():
    model = nn.MLP([3, 4, 2], rng=0)
    state = model.state_dict()
    new_bias = state.pop("layers.0.bias") + 5.0
    model.load_state_dict({"layers.0.bias": new_bias, "other": np.zeros(1)}, strict=False)
    np.testing.assert_array_equal(model[0].bias.data, new_bias)
    before = snapshot(model)
    with pytest.raises(nn.StateDictError, match="wrong shape"):
        model.load_state_dict({"layers.0.bias": np.zeros(5)}, strict=False)
    assert_same(snapshot(model), before)


def test_load_state_dict_casts_to_parameter_dtype():
    model = nn.MLP([2, 2], rng=0, dtype=np.float32)
    state = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    assert model[0].weight.dtype == np.float32


# ---- model files ---------------------------------------------------------------------------------
def test_save_and_load_round_trip_into_a_fresh_model(tmp_path):
    model = nn.MLP([3, 5, 2], rng=0, dtype=np.float32)
    path = tmp_path / "model.npz"
    nn.save(model, path)
    assert set(load_arrays(path)) == {name for name, _ in model.named_parameters()}
    fresh = nn.load(nn.MLP([3, 5, 2], rng=99, dtype=np.float32), path)
    assert_same(fresh.state_dict(), model.state_dict())
    x = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(fresh(x).data, model(x).data)
    model.save(tmp_path / "again.npz")  # method forms
    fresh.load(tmp_path / "again.npz")


def test_load_wrong_architecture_or_corrupt_file_leaves_model_unchanged(tmp_path):
    path = tmp_path / "model.npz"
    nn.save(nn.MLP([3, 5, 2], rng=0), path)
    other = nn.MLP([3, 6, 2], rng=1)
    before = snapshot(other)
    with pytest.raises(nn.StateDictError, match="wrong shape"):
        nn.load(other, path)
    assert_same(snapshot(other), before)
    path.write_bytes(path.read_bytes()[:50])  # truncated
    with pytest.raises(ModelFileError):
        nn.load(other, path)
    assert_same(snapshot(other), before)


def test_save_is_atomic_when_a_state_cannot_be_written(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model = nn.MLP([2, 3, 1], rng=0)
    nn.save(model, path)
    original = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", boom)
    model[0].weight.data += 1.0
    with pytest.raises(OSError, match="disk full"):
        nn.save(model, path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temp file left


@settings(max_examples=15)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    activation=st.sampled_from(sorted(nn.ACTIVATIONS)),
    seed=st.integers(0, 2**16),
)
def test_any_mlp_round_trips_through_a_file(tmp_path_factory, sizes, activation, seed):
    model = nn.MLP(sizes, activation=activation, rng=seed)
    assert [type(m).__name__ for m in model][::2] == ["Linear"] * (len(sizes) - 1)
    path = tmp_path_factory.mktemp("model") / "m.npz"
    nn.save(model, path)
    fresh = nn.load(nn.MLP(sizes, activation=activation, rng=seed + 1), path)
    assert_same(fresh.state_dict(), model.state_dict())
    x = np.random.default_rng(seed).standard_normal((3, sizes[0]))
    np.testing.assert_array_equal(fresh(x).data, model(x).data)


# ---- buffers -------------------------------------------------------------------------------------
class _Counter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(np.ones(2))
        self.register_buffer("count", mg.Tensor(np.zeros(2)))
        self.register_buffer("cache", mg.Tensor(np.ones(1)), persistent=False)
        self.register_buffer("unused", None)


def test_buffers_are_state_but_not_parameters():
    model = nn.Sequential(_Counter(), nn.Linear(2, 1, rng=0))
    assert [name for name, _ in model.named_parameters()] == [
        "layers.0.scale", "layers.1.weight", "layers.1.bias"]
    assert [name for name, _ in model.named_buffers()] == ["layers.0.count", "layers.0.cache"]
    assert list(model.state_dict()) == [
        "layers.0.scale", "layers.1.weight", "layers.1.bias", "layers.0.count"]
    state = model.state_dict()
    state["layers.0.count"] = np.array([3.0, 4.0])
    model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].count.data, [3.0, 4.0])
    assert model[0].count.version == 1  # written in place through the data setter


def test_buffer_assignment_and_name_rules():
    module = _Counter()
    module.count = mg.Tensor(np.full(2, 5.0))  # a registered buffer takes a new tensor
    assert module.state_dict()["count"].tolist() == [5.0, 5.0]
    module.unused = mg.Tensor(np.zeros(3))
    assert "unused" in module.state_dict()
    with pytest.raises(TypeError, match="_Counter: buffer 'count' holds a Tensor or None, got "
                                        "ndarray"):
        module.count = np.zeros(2)
    with pytest.raises(ValueError, match="attribute 'scale' already exists"):
        module.register_buffer("scale", mg.Tensor(np.zeros(1)))
    with pytest.raises(ValueError, match=r"name must be a non-empty str without '\.'"):
        module.register_buffer("a.b", None)
    with pytest.raises(TypeError, match="'p' is a Parameter"):
        module.register_buffer("p", nn.Parameter(np.zeros(1)))
    module.count = nn.Parameter(np.zeros(2))  # a Parameter replaces the buffer
    assert "count" in dict(module.named_parameters())
    assert "count" not in dict(module.named_buffers())
    del module.cache
    assert [name for name, _ in module.named_buffers()] == ["unused"]


# ---- ModuleDict ----------------------------------------------------------------------------------
def test_module_dict_is_a_registering_dict():
    heads = nn.ModuleDict({"a": nn.Linear(2, 3, rng=0), "b": nn.Linear(2, 1, rng=1)})
    heads["c"] = nn.ReLU()
    assert list(heads) == heads.keys() == ["a", "b", "c"]
    assert len(heads) == 3 and "b" in heads and "z" not in heads
    assert heads["a"] is heads.values()[0] and heads.items()[1][0] == "b"
    assert [name for name, _ in heads.named_parameters()] == ["a.weight", "a.bias", "b.weight",
                                                              "b.bias"]
    heads.update([("d", nn.Tanh())])
    assert isinstance(heads.pop("d"), nn.Tanh) and "d" not in heads
    del heads["c"]
    assert heads.keys() == ["a", "b"]
    heads.eval()
    assert not heads["a"].training
    heads.clear()
    assert len(heads) == 0 and heads.parameters() == []


def test_module_dict_errors():
    heads = nn.ModuleDict()
    with pytest.raises(KeyError, match=r"ModuleDict has no key 'x'; keys: \[\]"):
        heads["x"]
    with pytest.raises(KeyError, match="no key 'x'"):
        del heads["x"]
    with pytest.raises(TypeError, match="ModuleDict holds Modules, got int for 'a'"):
        heads["a"] = 3
    with pytest.raises(TypeError, match="ModuleDict keys are strings"):
        heads[1] = nn.ReLU()
    for key in ("train", "keys", "training"):
        with pytest.raises(ValueError, match=f"ModuleDict key '{key}' would hide the attribute"):
            heads[key] = nn.ReLU()
    with pytest.raises(ValueError, match=r"without '\.'"):
        heads["a.b"] = nn.ReLU()
    with pytest.raises(TypeError, match="mapping or \\(key, module\\) pairs"):
        nn.ModuleDict([nn.ReLU()])


# ---- activation modules --------------------------------------------------------------------------
def test_new_activations_in_mlp_and_reprs():
    for name in ("leaky_relu", "elu", "silu", "softplus"):
        model = nn.MLP([3, 4, 2], activation=name, rng=0)
        assert type(model[1]) is nn.ACTIVATIONS[name]
        assert model(np.ones((2, 3))).shape == (2, 2)
    model = nn.MLP([3, 2], output_activation="log_softmax", rng=0)
    np.testing.assert_allclose(np.exp(model(np.ones((2, 3))).data).sum(axis=1), [1.0, 1.0])
    reprs = [repr(m) for m in (nn.LeakyReLU(0.2), nn.ELU(), nn.GELU("tanh"), nn.Softplus(2.0),
                               nn.LogSoftmax(1), nn.Softmax(0), nn.Dropout(0.25), nn.Flatten(),
                               nn.BatchNorm1d(3), nn.LayerNorm(4), nn.HuberLoss(delta=2.0))]
    assert reprs == [
        "LeakyReLU(negative_slope=0.2)", "ELU(alpha=1.0)", "GELU(approximate='tanh')",
        "Softplus(beta=2.0, threshold=20.0)", "LogSoftmax(dim=1)", "Softmax(dim=0)",
        "Dropout(p=0.25)", "Flatten(start_dim=1, end_dim=-1)",
        "BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)",
        "LayerNorm((4,), eps=1e-05, elementwise_affine=True)",
        "HuberLoss(reduction='mean', delta=2.0)",
    ]
    with pytest.raises(TypeError, match="Softmax: pass dim= or axis=, not both"):
        nn.Softmax(0, axis=0)
