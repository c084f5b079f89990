"""Checkpoints: resumed training is bit-identical to training that never stopped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import micrograd_nd as mg
from micrograd_nd import nn, optim
from micrograd_nd.callbacks import ModelCheckpoint
from micrograd_nd.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from micrograd_nd.data import make_moons
from micrograd_nd.nn import StateDictError
from micrograd_nd.optim import lr_scheduler
from micrograd_nd.serialization import ModelFileError
from micrograd_nd.training import fit


class Noise(nn.Module):
    """Multiplicative noise in training mode, drawn from the module's own Generator (as a
    dropout layer would): resuming must continue that stream too."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        if not self.training:
            return x
        return x * mg.Tensor(self.rng.uniform(0.5, 1.5, size=x.shape))


SETUPS = {
    "sgd-nesterov-step": (lambda ps: optim.SGD(ps, lr=0.2, momentum=0.9, nesterov=True),
                          lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5)),
    "adam-cosine": (lambda ps: optim.Adam(ps, lr=0.02),
                    lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4)),
    "adamw-warmup": (lambda ps: optim.AdamW(ps, lr=0.02),
                     lambda o: lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=3)),
    "rmsprop-plateau": (lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
                        lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=0, factor=0.5)),
}

X, Y = make_moons(96, noise=0.2, rng=3)
X_VAL, Y_VAL = make_moons(32, noise=0.2, rng=4)


def _build(setup: str, seed: int):
    model = nn.Sequential(nn.Linear(2, 16, rng=seed), nn.Tanh(), Noise(seed),
                          nn.Linear(16, 2, rng=seed + 1))
    make_optimizer, make_scheduler = SETUPS[setup]
    optimizer = make_optimizer(model.parameters())
    return model, optimizer, make_scheduler(optimizer)


def _fit(model, optimizer, scheduler, epochs, rng, **options):
    return fit(model, nn.CrossEntropyLoss(), optimizer, (X, Y), epochs=epochs, batch_size=16,
               rng=rng, validation_data=(X_VAL, Y_VAL), scheduler=scheduler, progress=False,
               verbose=False, **options)


@pytest.mark.parametrize("rng_kind", ["seed", "generator"])
@pytest.mark.parametrize("setup", list(SETUPS))
def test_resumed_training_is_bit_identical(tmp_path: Path, setup: str, rng_kind: str):
    def rng():
        return 0 if rng_kind == "seed" else np.random.default_rng(0)

    model, optimizer, scheduler = _build(setup, seed=0)
    straight = _fit(model, optimizer, scheduler, 4, rng())

    path = tmp_path / "ckpt.npz"
    first_model, first_optimizer, first_scheduler = _build(setup, seed=0)
    _fit(first_model, first_optimizer, first_scheduler, 2, rng(),
         callbacks=[ModelCheckpoint(path)])
    # Fresh objects, initialised differently: everything must come from the checkpoint.
    resumed_model, resumed_optimizer, resumed_scheduler = _build(setup, seed=42)
    resumed = _fit(resumed_model, resumed_optimizer, resumed_scheduler, 4, rng(),
                   resume_from=path)

    for (name, p), q in zip(model.named_parameters(), resumed_model.parameters(), strict=True):
        assert np.array_equal(p.data, q.data), name
    for p, q in zip(model.parameters(), resumed_model.parameters(), strict=True):
        for key, value in optimizer.state[p].items():
            assert np.array_equal(value, resumed_optimizer.state[q][key]), key
    assert optimizer.param_groups == [
        {**g, "params": optimizer.param_groups[i]["params"]}
        for i, g in enumerate(resumed_optimizer.param_groups)]
    assert scheduler.state_dict() == resumed_scheduler.state_dict()
    assert model[2].rng.bit_generator.state == resumed_model[2].rng.bit_generator.state
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        assert getattr(straight, name) == getattr(resumed, name), name
    assert resumed.epochs == 4


def test_the_checkpoint_differs_from_a_restart(tmp_path: Path):
    """The oracle has teeth: resuming without the checkpoint gives different parameters."""
    model, optimizer, scheduler = _build("adam-cosine", seed=0)
    _fit(model, optimizer, scheduler, 4, 0)
    other, other_optimizer, other_scheduler = _build("adam-cosine", seed=0)
    _fit(other, other_optimizer, other_scheduler, 2, 0)
    _fit(other, other_optimizer, other_scheduler, 2, 0)  # "resumed" with a re-seeded shuffle
    assert not all(np.array_equal(p.data, q.data)
                   for p, q in zip(model.parameters(), other.parameters(), strict=True))


def test_resume_at_the_last_epoch_trains_nothing_and_beyond_is_an_error(tmp_path: Path):
    path = tmp_path / "ckpt.npz"
    model, optimizer, scheduler = _build("adam-cosine", seed=0)
    _fit(model, optimizer, scheduler, 2, 0, callbacks=[ModelCheckpoint(path)])
    before = model.state_dict()
    history = _fit(model, optimizer, scheduler, 2, 0, resume_from=path)
    assert history.epochs == 2
    for name, value in model.state_dict().items():
        assert np.array_equal(value, before[name])
    with pytest.raises(ValueError, match=r"after epoch 2, beyond epochs=1"):
        _fit(model, optimizer, scheduler, 1, 0, resume_from=path)


# ---- what a checkpoint refuses -----------------------------------------------------------------
def _saved(tmp_path: Path, setup: str = "sgd-nesterov-step") -> Path:
    model, optimizer, scheduler = _build(setup, seed=0)
    _fit(model, optimizer, scheduler, 1, 0)
    path = tmp_path / f"{setup}.npz"
    save_checkpoint(path, model, optimizer, scheduler, epoch=1)
    return path


def test_loading_into_another_optimizer_type_changes_nothing(tmp_path: Path):
    path = _saved(tmp_path)
    model, optimizer, scheduler = _build("adam-cosine", seed=5)
    before = model.state_dict()
    versions = [p.version for p in model.parameters()]
    with pytest.raises(CheckpointError, match=r"sgd-nesterov-step.npz: the checkpoint holds SGD "
                                              r"state, not Adam state"):
        load_checkpoint(path, model, optimizer, scheduler)
    for name, value in model.state_dict().items():  # the model was loaded, then put back
        assert np.array_equal(value, before[name])
    assert [p.version for p in model.parameters()] != versions  # (it really was loaded)
    assert optimizer.state == {}


def test_loading_into_another_architecture(tmp_path: Path):
    path = _saved(tmp_path)
    model = nn.Sequential(nn.Linear(2, 8, rng=0), nn.Tanh(), Noise(0), nn.Linear(8, 2, rng=0))
    optimizer = optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True)
    with pytest.raises(StateDictError, match=r"wrong shape for layers.0.weight: model has "
                                             r"\(8, 2\), state dict has \(16, 2\)"):
        load_checkpoint(path, model, optimizer)


def test_generators_must_match(tmp_path: Path):
    path = _saved(tmp_path)
    model, optimizer, scheduler = _build("sgd-nesterov-step", seed=0)
    with pytest.raises(CheckpointError, match="missing from the checkpoint: shuffle; in the "
                                              "checkpoint only: -"):
        load_checkpoint(path, model, optimizer, scheduler,
                        generators={"shuffle": np.random.default_rng(0)})
    plain = nn.Sequential(nn.Linear(2, 16, rng=0), nn.Tanh(), nn.Identity(),
                          nn.Linear(16, 2, rng=1))
    with pytest.raises(CheckpointError, match=r"in the checkpoint only: model.layers.2.rng"):
        load_checkpoint(path, plain)


def test_checkpoint_refuses_a_diverged_model_or_optimizer(tmp_path: Path):
    model, optimizer, scheduler = _build("adam-cosine", seed=0)
    _fit(model, optimizer, scheduler, 1, 0)
    first = model.parameters()[0]
    optimizer.state[first]["exp_avg"][0, 0] = np.nan
    with pytest.raises(ValueError, match=r"optimiser state state\[0\]\['exp_avg'\] \(1 of 32 "
                                         r"values NaN or inf\)"):
        save_checkpoint(tmp_path / "c.npz", model, optimizer, epoch=1)
    first.data = np.full(first.shape, np.inf)
    with pytest.raises(ValueError, match=r"parameters layers.0.weight \(32 of 32"):
        save_checkpoint(tmp_path / "c.npz", model, optimizer, epoch=1)
    assert list(tmp_path.iterdir()) == []
    save_checkpoint(tmp_path / "c.npz", model, optimizer, epoch=1, allow_nonfinite=True)


def test_a_model_file_is_not_a_checkpoint(tmp_path: Path):
    model, _, _ = _build("adam-cosine", seed=0)
    nn.save(model, tmp_path / "model.npz")
    with pytest.raises(ModelFileError, match="not a saved state"):
        load_checkpoint(tmp_path / "model.npz", model)


def test_extra_values_and_epoch_round_trip(tmp_path: Path):
    model, optimizer, _ = _build("adam-cosine", seed=0)
    save_checkpoint(tmp_path / "c.npz", model, optimizer, epoch=7,
                    extra={"note": "best so far", "val_loss": 0.25})
    info = load_checkpoint(tmp_path / "c.npz", model, optimizer)
    assert info.epoch == 7 and info.extra == {"note": "best so far", "val_loss": 0.25}
    with pytest.raises(ValueError, match="epoch must be an int ≥ 0"):
        save_checkpoint(tmp_path / "c.npz", model, epoch=-1)


def test_numpy_scalar_settings_round_trip(tmp_path: Path):
    """A learning rate taken from a NumPy schedule (np.float64) saves, loads and resumes."""
    model = nn.Linear(3, 2, rng=0)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    optimizer.param_groups[0]["lr"] = np.geomspace(0.01, 0.001, 10)[3]
    model(np.ones((2, 3))).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "c.npz", model, optimizer, epoch=1,
                    extra={"best": np.float32(0.5)})
    other = nn.Linear(3, 2, rng=1)
    other_optimizer = optim.SGD(other.parameters(), lr=0.01, momentum=0.9)
    info = load_checkpoint(tmp_path / "c.npz", other, other_optimizer)
    assert other_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert info.extra == {"best": np.float32(0.5)}
    assert type(info.extra["best"]) is np.float32


def test_a_learning_rate_stored_as_a_0d_array_by_older_files_loads():
    model = nn.Linear(3, 2, rng=0)
    state = optim.Adam(model.parameters(), lr=0.01).state_dict()
    state["param_groups"][0]["lr"] = np.array(0.005)
    state["param_groups"][0]["betas"] = (np.array(0.8), 0.99)
    optimizer = optim.Adam(model.parameters())
    optimizer.load_state_dict(state)
    assert optimizer.param_groups[0]["lr"] == 0.005
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.99)


def test_the_default_generator_is_saved_and_restored(tmp_path):
    """Layers and dropout built without rng draw from the library's default Generator: a
    resumed run must continue its stream exactly (oracle: the uninterrupted stream)."""
    mg.manual_seed(5)
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    mg.randn(4)
    path = tmp_path / "run.npz"
    save_checkpoint(path, model, epoch=1)
    expected = mg.randn(6).data
    mg.manual_seed(99)  # a different stream, then back to the checkpoint's
    load_checkpoint(path, model)
    np.testing.assert_array_equal(mg.randn(6).data, expected)
