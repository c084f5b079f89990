"""fit / evaluate / predict / accuracy, and a short real training run."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import micrograd_nd as mg
from micrograd_nd import nn, optim, training
from micrograd_nd.data import make_moons, make_spirals, train_test_split
from micrograd_nd.training import (
    History,
    TrainingDivergedError,
    accuracy,
    evaluate,
    fit,
    predict,
)


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


def _numpy_cross_entropy(logits, labels, weight, ignore_index, reduction):
    """Closed form: −Σ wᵢ log softmax(zᵢ)[yᵢ] over the kept samples, / Σ wᵢ for 'mean'."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    kept = labels != ignore_index
    w = weight[labels[kept]]
    total = -(w * log_p[kept, labels[kept]]).sum()
    return total / w.sum() if reduction == "mean" else total


@pytest.mark.parametrize("weight, ignore_index, reduction", [
    (None, -100, "sum"), ([1.0, 10.0], -100, "mean"), (None, 1, "mean"), ([2.0, 0.5], 0, "sum"),
])
def test_evaluate_gives_the_full_set_loss_whatever_the_batch_size(weight, ignore_index,
                                                                   reduction):
    X, y = make_moons(23, rng=1)
    y[:5] = 1  # with ignore_index=1, the first batch of 5 has nothing left to average
    model = nn.MLP([2, 6, 2], rng=0)
    loss_fn = nn.CrossEntropyLoss(weight=None if weight is None else np.array(weight),
                                  ignore_index=ignore_index, reduction=reduction)
    expected = _numpy_cross_entropy(predict(model, X), y, np.ones(2) if weight is None
                                    else np.array(weight), ignore_index, reduction)
    for batch_size in (5, 7, 1024):
        assert evaluate(model, X, y, loss_fn, batch_size=batch_size).loss == pytest.approx(
            expected, rel=1e-12)


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


def test_scheduler_steps_once_per_epoch_and_history_records_the_rates():
    X, y = make_moons(16, rng=0)
    model = nn.MLP([2, 4, 2], rng=0)
    optimizer = optim.SGD(model.parameters(), lr=0.8)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, (X, y), epochs=4, progress=False,
                  verbose=False, scheduler=scheduler)
    # epoch e trains at 0.8 · (1 + cos(π e / 4)) / 2
    assert history.lr == pytest.approx([0.8, 0.4 * (1 + 0.5**0.5), 0.4, 0.4 * (1 - 0.5**0.5)])
    assert optimizer.lr == pytest.approx(0.0, abs=1e-15) and scheduler.last_epoch == 4


def test_reduce_on_plateau_gets_the_validation_loss(monkeypatch):
    X, y = make_moons(16, rng=0)
    model = nn.MLP([2, 4, 2], rng=0)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    seen = []
    monkeypatch.setattr(scheduler, "step", seen.append)
    history = fit(model, nn.CrossEntropyLoss(), optimizer, (X, y), epochs=2, progress=False,
                  verbose=False, scheduler=scheduler, validation_data=(X[:8], y[:8]))
    assert seen == history.val_loss


# ---- accuracy checks its inputs -----------------------------------------------------------------
@pytest.mark.parametrize("outputs, labels, error, message", [
    (np.zeros((3, 4)), np.eye(3), ValueError,
     r"labels have 3 columns \(one-hot\) but the outputs have 4 classes"),
    (np.zeros((3, 4)), np.array([0, 4, 1]), ValueError,
     r"labels must lie in \[0, 4\) for 4 classes, got values in \[0, 4\]"),
    (np.zeros(3), np.array([0, 1, 2]), ValueError, r"must lie in \[0, 2\) for 2 classes"),
    (np.zeros((3, 2)), np.array([-1, 0, 1]), ValueError, r"must lie in \[0, 2\)"),
    (np.zeros((3, 1)), np.array([0.5, 1.2, 3.1]), ValueError,
     r"class indices, got the non-integer value 0.5; for a regression, pass metric=None"),
    (np.zeros((3, 2)), np.array([0.0, np.nan, 1.0]), ValueError, "non-integer value nan"),
    (np.zeros((3, 2)), np.zeros((3, 2, 1)), ValueError, r"labels must have shape \(n,\)"),
    (np.zeros((3, 2, 2)), np.zeros(3), ValueError, r"outputs must have shape \(n,\) or \(n, k\)"),
    (np.zeros((0, 2)), np.zeros(0, dtype=int), ValueError, "no samples"),
    (np.zeros((2, 2)), np.array(["a", "b"]), TypeError, "labels must be integers"),
])
def test_accuracy_refuses_labels_that_do_not_fit(outputs, labels, error, message):
    with pytest.raises(error, match=message):
        accuracy(outputs, labels)


def test_accuracy_accepts_integral_float_and_column_labels():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, np.array([0.0, 1.0, 1.0])) == pytest.approx(2 / 3)
    assert accuracy(logits, np.array([[0], [1], [1]])) == pytest.approx(2 / 3)
    assert accuracy(np.array([0.9, 0.2]), np.array([True, False])) == 1.0


# ---- the progress bar shows the epoch's validation figures ------------------------------------
def test_progress_bar_final_line_shows_validation_figures(capsys):
    pytest.importorskip("tqdm")
    X, y = make_moons(40, rng=0)
    model = nn.MLP([2, 4, 2], rng=0)
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (X, y),
                  epochs=2, batch_size=8, rng=0, validation_data=(X, y), progress=True)
    err = capsys.readouterr().err
    for epoch in range(2):
        assert f"val_loss {history.val_loss[epoch]:.4f}" in err
        assert f"val_acc {history.val_accuracy[epoch]:.4f}" in err


# ---- misuse of fit, evaluate, predict ------------------------------------------------------------
def _setup(n: int = 20):
    X, y = make_moons(n, rng=0)
    model = nn.MLP([2, 4, 2], rng=0)
    return model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), X, y


def test_fit_with_X_and_y_as_separate_arguments_says_how_to_call_it():
    model, loss_fn, opt, X, y = _setup()
    with pytest.raises(TypeError, match=r"fit: train_data must be a pair \(X, y\), got ndarray "
                                        r"of shape \(20, 2\); call fit\(model, loss_fn, "
                                        r"optimizer, \(X, y\), epochs\)"):
        fit(model, loss_fn, opt, X, y)


@pytest.mark.parametrize("call, message", [
    (lambda m, f, o, X, y: fit(m, f, o, (X,), epochs=1),
     r"train_data must be a pair \(X, y\), got a tuple of 1 element"),
    (lambda m, f, o, X, y: fit(m, f, o, (X, y), epochs=1, validation_data=(X,)),
     r"validation_data must be a pair \(X, y\), got a tuple of 1 element"),
    (lambda m, f, o, X, y: fit(m, f, o, (X[:0], y[:0]), epochs=1),
     "fit: train_data X has 0 samples"),
    (lambda m, f, o, X, y: fit(m, f, o, (X, y[:5]), epochs=1),
     "fit: train_data has 20 samples in X but 5 in y"),
    (lambda m, f, o, X, y: evaluate(m, X[:0], y[:0], f), "evaluate: data X has 0 samples"),
    (lambda m, f, o, X, y: predict(m, X[:0]), "predict: X has 0 samples"),
    (lambda m, f, o, X, y: fit(m, f, o, (X, y), epochs=1.5), "epochs must be an int"),
])
def test_fit_evaluate_predict_misuse(call, message):
    model, loss_fn, opt, X, y = _setup()
    with pytest.raises((ValueError, TypeError), match=message):
        call(model, loss_fn, opt, X, y)


def test_optimizer_over_another_models_parameters_is_refused():
    model, loss_fn, _, X, y = _setup()
    other = nn.MLP([2, 4, 2], rng=1)
    with pytest.raises(ValueError, match="optimiser updates none of the model's parameters"):
        fit(model, loss_fn, optim.SGD(other.parameters(), lr=0.1), (X, y), epochs=1)
    frozen_head = optim.SGD(model[0].parameters(), lr=0.1)  # a subset is fine (fine-tuning)
    fit(model, loss_fn, frozen_head, (X, y), epochs=1, progress=False, verbose=False)


def test_scheduler_of_another_optimizer_and_bad_callbacks_are_refused():
    model, loss_fn, opt, X, y = _setup()
    foreign = optim.lr_scheduler.StepLR(optim.SGD(model.parameters(), lr=0.1), step_size=1)
    with pytest.raises(ValueError, match="scheduler was built for another optimiser"):
        fit(model, loss_fn, opt, (X, y), epochs=1, scheduler=foreign)
    with pytest.raises(TypeError, match=r"callbacks\[0\] is a function, not a "
                                        r"micrograd_nd.callbacks.Callback"):
        fit(model, loss_fn, opt, (X, y), epochs=1, callbacks=[lambda run: None])


def test_loss_fn_must_return_one_number():
    model, _, opt, X, y = _setup()
    per_sample = nn.CrossEntropyLoss(reduction="none")
    with pytest.raises(ValueError, match=r"loss_fn returned shape \(8,\); it must return one "
                                         r"number"):
        fit(model, per_sample, opt, (X, y), epochs=1, batch_size=8)


# ---- non-finite data and divergence ------------------------------------------------------------
@pytest.mark.parametrize("where", ["X", "y", "validation X"])
def test_nonfinite_data_is_refused_up_front(where):
    model, _, opt, X, _ = _setup()
    targets = np.linspace(0.0, 1.0, 20).reshape(-1, 1)
    model = nn.MLP([2, 4, 1], rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    bad = {"X": X.copy(), "y": targets.copy()}
    if where == "y":
        bad["y"][3, 0] = np.inf
    else:
        bad["X"][7, 1] = np.nan
    train = (X, targets) if where == "validation X" else (bad["X"], bad["y"])
    validation = (bad["X"], targets) if where == "validation X" else None
    before = [p.data.copy() for p in model.parameters()]
    role = {"X": "train_data X", "y": "train_data y", "validation X": "validation_data X"}[where]
    row = 3 if where == "y" else 7
    with pytest.raises(ValueError, match=rf"fit: {role} has 1 NaN or infinite value\(s\), the "
                                         rf"first in row {row}"):
        fit(model, nn.MSELoss(), opt, train, epochs=1, metric=None, validation_data=validation)
    for p, old in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, old)


def test_divergence_stops_with_the_epoch_and_batch():
    """lr = 10⁶: the loss turns NaN within a few epochs; training must stop, not go on."""
    model, loss_fn, _, X, y = _setup(64)
    opt = optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(TrainingDivergedError, match=r"fit: .* at epoch \d+/50, batch \d/4 "
                                                    r"\(lr 1e\+06\)"), np.errstate(all="ignore"):
        fit(model, loss_fn, opt, (X, y), epochs=50, batch_size=16, rng=0, progress=False,
            verbose=False)


def test_nonfinite_gradient_stops_before_the_update():
    model, _, opt, X, y = _setup()

    def loss_with_infinite_slope(outputs, targets):
        # √0 = 0 is a finite loss, but its derivative 1/(2√0) is infinite: NaN gradients.
        return mg.sqrt((outputs * 0.0).sum())

    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(TrainingDivergedError, match=r"the gradient of layers.\d.(weight|bias) has "
                                                    r"NaN or inf values at epoch 1/3, batch 1/3 "
                                                    r".*stopped before this batch's update"), \
            np.errstate(all="ignore"):
        fit(model, loss_with_infinite_slope, opt, (X, y), epochs=3, batch_size=8,
            metric=None, progress=False, verbose=False)
    for p, old in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, old)


@pytest.mark.parametrize("batch_size, message", [
    # two batches: the second batch's loss is inf, and the parameters are already ruined
    (16, r"the loss is (nan|-?inf) at epoch 1/1, batch 2/2 .*parameter layers.\d.(weight|bias) "
         r"is already NaN or inf \(an earlier update overflowed\): reload a checkpoint"),
    # one batch: the scan at the end of the epoch finds it
    (32, r"parameter layers.\d.(weight|bias) became NaN or inf in an update at the end of "
         r"epoch 1/1"),
])
def test_parameter_overflowing_in_the_update_is_named(batch_size, message):
    model, _, _, X, y = _setup()
    X = np.abs(X) + 1.0
    opt = optim.SGD(model.parameters(), lr=1e300)  # finite, but lr · g overflows

    def steep(outputs, targets):
        return (outputs * 1e10).sum()

    with pytest.raises(TrainingDivergedError, match=message), np.errstate(all="ignore"):
        fit(model, steep, opt, (X[:32], y[:32]), epochs=1, batch_size=batch_size, metric=None,
            shuffle=False, progress=False, verbose=False)


def test_check_finite_false_trains_on_as_before():
    model, loss_fn, _, X, y = _setup(64)
    opt = optim.SGD(model.parameters(), lr=1e6)
    with np.errstate(all="ignore"):
        history = fit(model, loss_fn, opt, (X, y), epochs=30, batch_size=16, rng=0,
                      progress=False, verbose=False, check_finite=False)
    assert history.epochs == 30 and not np.isfinite(history.train_loss[-1])


# ---- History.plot -------------------------------------------------------------------------------
def test_history_plot_has_titles_labels_and_legends(tmp_path):
    pytest.importorskip("matplotlib")
    history = History(train_loss=[1.0, 0.5, 0.25], train_accuracy=[0.5, 0.7, 0.9],
                      val_loss=[1.1, 0.6, 0.4], val_accuracy=[0.4, 0.6, 0.8],
                      lr=[0.1] * 3, epoch_time=[0.1] * 3)
    figure = history.plot(tmp_path / "curves.png", title="a run")
    assert (tmp_path / "curves.png").stat().st_size > 1000
    loss_axes, accuracy_axes = figure.axes
    assert loss_axes.get_title() == "Loss per epoch" and loss_axes.get_yscale() == "log"
    assert accuracy_axes.get_title() == "Accuracy per epoch"
    for axes, name in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        assert axes.get_xlabel() == "epoch" and axes.get_ylabel() == name
        labels = [text.get_text() for text in axes.get_legend().get_texts()]
        assert labels == [f"training {name}", f"validation {name}"]
        np.testing.assert_array_equal(axes.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(accuracy_axes.lines[1].get_ydata(), history.val_accuracy)
    assert figure._suptitle.get_text() == "a run"
    loss_only = History(train_loss=[2.0, -1.0], epoch_time=[0.1, 0.1]).plot()
    assert len(loss_only.axes) == 1 and loss_only.axes[0].get_yscale() == "linear"


def test_history_plot_errors(monkeypatch):
    with pytest.raises(ValueError, match="nothing to plot"):
        History().plot()
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    with pytest.raises(ImportError, match=r"History.plot needs matplotlib: pip install"):
        History(train_loss=[1.0], epoch_time=[0.1]).plot()


def test_the_finiteness_scan_finds_nan_and_inf_but_not_an_overflowing_sum():
    scan = training._FinitenessScan()
    huge64, huge32 = np.full(10, 1e308), np.full(10, 3e38, dtype=np.float32)  # sums overflow
    assert scan.first([("a", huge64), ("b", huge32)]) is None
    with_inf = np.zeros((3, 3))
    with_inf[2, 1] = -np.inf
    assert scan.first([("a", huge64), ("b", with_inf), ("c", with_inf)]) == "b"
    assert scan.first([("c", np.array([np.nan], dtype=np.float32))]) == "c"
    big = np.ones(50)  # longer than the zeros made so far: they grow
    big[-1] = np.inf
    assert scan.first([("d", big), ("e", np.zeros(0))]) == "d"
    assert scan.first([("e", np.zeros(0)), ("f", np.ones((2, 3))[:, ::2])]) is None
