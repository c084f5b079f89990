"""fit / evaluate / predict / accuracy, and a short real training run."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd_nd as mg
from micrograd_nd import nn, optim, training
from micrograd_nd.data import make_moons, make_spirals, train_test_split
from micrograd_nd.training import History, accuracy, evaluate, fit, predict


def test_accuracy_on_logits_probabilities_and_one_hot():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert accuracy(logits, np.eye(2)[[0, 1, 0]]) == 1.0
    assert accuracy(np.array([0.9, 0.2, 0.6]), np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(np.array([[1.5], [-0.5]]), np.array([1, 0]), threshold=0.0) == 1.0
    with pytest.raises(ValueError, match="labels"):
        accuracy(logits, np.array([0, 1]))


def test_spirals_training_reaches_stated_accuracy():
    """A 2-32-32-3 tanh MLP must separate three noisy spiral arms: ≥ 90% held-out accuracy."""
    X, y = make_spirals(600, n_classes=3, noise=0.03, rng=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, rng=0, stratify=y)
    model = nn.MLP([2, 32, 32, 3], activation="tanh", rng=0)
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.02),
                  (X_train, y_train), epochs=60, batch_size=32, rng=0,
                  validation_data=(X_test, y_test), progress=False, verbose=False)
    assert history.epochs == 60
    assert len(history.val_accuracy) == len(history.epoch_time) == 60
    assert history.train_loss[-1] < history.train_loss[0] / 4
    assert history.val_accuracy[-1] >= 0.90


def test_fit_is_reproducible_with_a_seed_and_casts_to_model_dtype():
    X, y = make_moons(64, noise=0.1, rng=1)
    results = []
    for _ in range(2):
        model = nn.MLP([2, 8, 2], rng=0, dtype=np.float32)
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (X, y),
            epochs=3, batch_size=16, rng=5, progress=False, verbose=False)
        results.append(model.state_dict())
        assert model[0].weight.dtype == np.float32
    for name in results[0]:
        np.testing.assert_array_equal(results[0][name], results[1][name])


def test_fit_prints_one_line_per_epoch_without_progress_bar(capsys):
    X, y = make_moons(40, rng=0)
    model = nn.MLP([2, 4, 2], rng=0)
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (X, y),
                  epochs=2, batch_size=8, rng=0, validation_data=(X, y), progress=False)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert "val_acc" in lines[0]
    assert isinstance(history, History) and "loss" in history.summary()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (X, y),
        epochs=1, progress=False, verbose=False)
    assert capsys.readouterr().out == ""


def test_fit_with_progress_bar_runs(capsys):
    pytest.importorskip("tqdm")
    X, y = make_moons(20, rng=0)
    model = nn.MLP([2, 4, 2], rng=0)
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (X, y),
                  epochs=1, batch_size=8, progress=True)
    assert history.epochs == 1
    assert "epoch 1/1" in capsys.readouterr().err


def test_fit_without_metric_and_validation():
    X, y = make_moons(20, rng=0)
    model = nn.MLP([2, 4, 2], rng=0)
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (X, y),
                  epochs=2, metric=None, progress=False, verbose=False)
    assert history.train_accuracy == [] and history.val_loss == []
    with pytest.raises(ValueError, match="epochs"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (X, y),
            epochs=-1)


def test_evaluate_and_predict_use_eval_mode_no_grad_and_restore_mode():
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append((self.training, mg.is_grad_enabled()))
            return x

    model = nn.Sequential(nn.Linear(2, 2, rng=0), Spy())
    X, y = make_moons(10, rng=0)
    result = evaluate(model, X, y, nn.CrossEntropyLoss(), batch_size=4)
    assert set(seen) == {(False, False)} and len(seen) == 3
    assert model.training
    expected = nn.CrossEntropyLoss()(model(X), y).item()
    assert result.loss == pytest.approx(expected)
    assert result.accuracy == accuracy(predict(model, X), y)
    assert predict(model, X, batch_size=3).shape == (10, 2)


def test_write_your_own_loop_recipe_from_the_docstring_runs():
    assert "optimizer.zero_grad()" in training.__doc__
    from micrograd_nd.data import batches

    X, y = make_moons(64, rng=0)
    model, loss_fn = nn.MLP([2, 8, 2], rng=0), nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    first = evaluate(model, X, y, loss_fn).loss
    for _epoch in range(5):
        model.train()
        for xb, yb in batches(X, y, batch_size=16, shuffle=True, rng=0):
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optim.clip_grad_norm_(model.parameters(), max_norm=5.0)
            optimizer.step()
    assert evaluate(model, X, y, loss_fn).loss < first


def test_lr_schedule_sets_the_learning_rate_each_epoch():
    X, y = make_moons(16, rng=0)
    model = nn.MLP([2, 4, 2], rng=0)
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return 0.1 / (epoch + 1)

    fit(model, nn.CrossEntropyLoss(), optimizer, (X, y), epochs=3, progress=False,
        verbose=False, lr_schedule=schedule)
    assert seen == [0, 1, 2] and optimizer.lr == pytest.approx(0.1 / 3)
