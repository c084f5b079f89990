"""The callback protocol, EarlyStopping and ModelCheckpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from micrograd_nd import nn, optim
from micrograd_nd.callbacks import Callback, EarlyStopping, ModelCheckpoint, TrainingRun
from micrograd_nd.checkpoint import load_checkpoint
from micrograd_nd.data import make_moons
from micrograd_nd.history import History
from micrograd_nd.training import fit

X, Y = make_moons(64, noise=0.2, rng=0)


def _run(history: History, model: nn.Module | None = None) -> TrainingRun:
    model = model or nn.Linear(2, 2, rng=0)
    return TrainingRun(model=model, optimizer=optim.SGD(model.parameters(), lr=0.1),
                       scheduler=None, history=history, epochs=100, epoch=0,
                       shuffle_generator=np.random.default_rng(0), has_validation=True,
                       has_metric=True)


def _feed(callback: Callback, values: list[float], monitor: str = "val_loss") -> TrainingRun:
    """Play ``values`` as successive epochs' ``monitor`` entries; stop when asked."""
    run = _run(History())
    callback.on_train_begin(run)
    for value in values:
        getattr(run.history, monitor).append(value)
        run.epoch += 1
        callback.on_epoch_end(run)
        if run.stop_training:
            break
    callback.on_train_end(run)
    return run


def test_early_stopping_waits_patience_epochs_without_improvement():
    stopper = EarlyStopping(patience=2)
    run = _feed(stopper, [1.0, 0.8, 0.85, 0.9, 0.7, 0.6])
    # 0.85 and 0.9 do not beat 0.8: the second of them ends training after epoch 4
    assert run.epoch == 4 and stopper.stopped_epoch == 4
    assert stopper.best == 0.8 and stopper.best_epoch == 2
    assert "val_loss has not improved for 2 epoch(s); best 0.8 at epoch 2" in run.stop_reason


def test_early_stopping_min_delta_mode_and_patience_zero():
    run = _feed(EarlyStopping(min_delta=0.05, patience=1), [1.0, 0.97, 0.9, 0.88])
    assert run.epoch == 2  # 0.97 is not 0.05 better than 1.0
    run = _feed(EarlyStopping(monitor="val_accuracy", patience=0), [0.5, 0.6, 0.6, 0.9],
                monitor="val_accuracy")
    assert run.epoch == 3  # auto mode maximises accuracies; equal is not better
    run = _feed(EarlyStopping(monitor="train_loss", mode="max", patience=0), [1.0, 2.0, 1.5],
                monitor="train_loss")
    assert run.epoch == 3


def test_early_stopping_restores_the_best_weights():
    model = nn.Linear(2, 2, rng=0)
    stopper = EarlyStopping(patience=1, restore_best_weights=True)
    run = _run(History(), model)
    stopper.on_train_begin(run)
    snapshots = []
    for epoch, value in enumerate([1.0, 0.5, 0.7], start=1):
        model.weight.data = np.full((2, 2), float(epoch))  # "training" changes the weights
        snapshots.append(model.weight.data.copy())
        run.history.val_loss.append(value)
        run.epoch = epoch
        stopper.on_epoch_end(run)
    assert run.stop_training
    stopper.on_train_end(run)
    np.testing.assert_array_equal(model.weight.data, snapshots[1])  # epoch 2 was the best


def test_early_stopping_in_fit(capsys):
    model = nn.MLP([2, 8, 2], rng=0)
    # lr so large that the validation loss gets worse from the start
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=5.0), (X, Y),
                  epochs=30, rng=0, validation_data=(X, Y), progress=False,
                  callbacks=[EarlyStopping(patience=1)])
    assert history.epochs < 30
    assert f"stopped after epoch {history.epochs}/30: EarlyStopping" in capsys.readouterr().out


def test_early_stopping_rebuilds_its_state_from_a_resumed_history():
    stopper = EarlyStopping(patience=2)
    run = _run(History(val_loss=[1.0, 0.5, 0.6]))
    stopper.on_train_begin(run)
    assert stopper.best == 0.5 and stopper.best_epoch == 2
    run.history.val_loss.append(0.7)
    run.epoch = 4
    stopper.on_epoch_end(run)
    assert run.stop_training  # 0.6 and 0.7: two epochs without improvement


@pytest.mark.parametrize("make, message", [
    (lambda: EarlyStopping(monitor="val_acc"), "monitor must be one of train_loss, "
                                               "train_accuracy, val_loss, val_accuracy"),
    (lambda: EarlyStopping(patience=-1), "patience must be an int ≥ 0"),
    (lambda: EarlyStopping(mode="up"), "mode must be 'auto', 'min' or 'max'"),
    (lambda: EarlyStopping(min_delta=float("nan")), "min_delta must be a finite number"),
    (lambda: ModelCheckpoint("c.npz", save_best_only=True), "save_best_only=True needs a "
                                                             "monitor"),
])
def test_bad_callback_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_monitoring_validation_figures_without_validation_data():
    model = nn.MLP([2, 4, 2], rng=0)
    with pytest.raises(ValueError, match="EarlyStopping monitors 'val_loss', but fit was given "
                                         "no validation_data"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (X, Y),
            epochs=2, callbacks=[EarlyStopping()])
    with pytest.raises(ValueError, match="monitors 'train_accuracy', but fit was given "
                                         "metric=None"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (X, Y),
            epochs=2, metric=None, callbacks=[ModelCheckpoint("c.npz", "train_accuracy")])


def test_the_protocol_order():
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, run):
            calls.append(("begin", run.epoch))

        def on_epoch_end(self, run):
            calls.append(("epoch", run.epoch, run.history.epochs,
                          run.optimizer.param_groups[0]["lr"]))

        def on_train_end(self, run):
            calls.append(("end", run.epoch))

    model = nn.MLP([2, 4, 2], rng=0)
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    fit(model, nn.CrossEntropyLoss(), optimizer, (X, Y), epochs=3, progress=False,
        verbose=False, scheduler=scheduler, callbacks=[Recorder()])
    # after each epoch: its history is recorded and the scheduler has already stepped
    assert calls == [("begin", 0), ("epoch", 1, 1, 0.5), ("epoch", 2, 2, 0.25),
                     ("epoch", 3, 3, 0.125), ("end", 3)]


def test_model_checkpoint_every_epoch_and_best_only(tmp_path: Path):
    model = nn.MLP([2, 8, 2], rng=0)
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    every = ModelCheckpoint(tmp_path / "epoch-{epoch:02d}.npz")
    best = ModelCheckpoint(tmp_path / "best.npz", monitor="val_loss", save_best_only=True)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, (X, Y), epochs=4, rng=0,
                  validation_data=(X[:16], Y[:16]), progress=False, verbose=False,
                  callbacks=[every, best])
    assert [p.name for p in every.saved] == [f"epoch-{e:02d}.npz" for e in (1, 2, 3, 4)]
    improving = [e for e in range(1, 5)
                 if history.val_loss[e - 1] < min(history.val_loss[:e - 1], default=np.inf)]
    assert len(best.saved) == len(improving)
    info = load_checkpoint(tmp_path / "best.npz", nn.MLP([2, 8, 2], rng=1))
    assert info.epoch == improving[-1]
    assert info.history["val_loss"] == history.val_loss[:improving[-1]]
    last = nn.MLP([2, 8, 2], rng=1)
    load_checkpoint(tmp_path / "epoch-04.npz", last)
    for p, q in zip(model.parameters(), last.parameters(), strict=True):
        assert np.array_equal(p.data, q.data)


def test_equal_is_not_better():
    assert _feed(EarlyStopping(patience=0), [1.0, 1.0, 0.5]).epoch == 2


def test_model_checkpoint_best_only_saves_improvements(tmp_path: Path):
    saver = ModelCheckpoint(tmp_path / "best-{epoch}.npz", monitor="val_loss",
                            save_best_only=True)
    _feed(saver, [1.0, 0.5, 0.7, 0.5, 0.4])
    assert [p.name for p in saver.saved] == ["best-1.npz", "best-2.npz", "best-5.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in saver.saved)
