"""The README's Python snippets run, with the variables they assume supplied here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from micrograd_nd import nn

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _small_problem() -> dict:
    rng = np.random.default_rng(0)
    model = nn.MLP([5, 6, 3], activation="relu", rng=0, dtype=np.float64)
    weights = [rng.normal(size=(6, 5)), rng.normal(size=(3, 6))]
    biases = [np.zeros(6), np.zeros(3)]
    X = rng.normal(size=(4, 5))
    labels = np.eye(3)[[0, 2, 1, 1]]
    return {"model": model, "weights": weights, "biases": biases, "X": X, "labels": labels}


def _block(marker: str) -> str:
    (block,) = [code for code in _python_blocks() if marker in code]
    return block


def test_the_readme_has_the_snippets_this_test_knows():
    assert len(_python_blocks()) == 7


def test_tensor_snippet():
    namespace: dict = {}
    exec(_block("mg.grad((z ** 3)"), namespace)
    np.testing.assert_allclose(namespace["hvp"].data, [6.0, 0.0])  # ∂²Σz³/∂z² = diag(6z)
    assert namespace["w"].grad.shape == (3, 2)
    W, hidden = namespace["W"], namespace["hidden"]
    # d Σ σ(Wx)² / dW = (2σ·σ(1 − σ)) xᵀ with x = ones(4), before the step W -= 0.1·W.grad
    s = hidden.data
    expected = np.outer(2.0 * s * s * (1.0 - s), np.ones(4))
    np.testing.assert_allclose(W.grad.data, expected, rtol=1e-12)
    assert W.version == 1


def test_compare_manual_snippet(capsys):
    namespace: dict = {}
    exec(_block("mg.compare_manual("), namespace)
    assert namespace["report"].passed
    assert "W1" in capsys.readouterr().out


def test_property_testing_snippet():
    namespace: dict = {}
    exec(_block("@given"), namespace)
    namespace["test_softplus_gradient"]()  # runs the Hypothesis search


def test_compare_snippet():
    namespace = _small_problem()
    exec(_block("compare_gradients("), namespace)
    assert namespace["report"].passed


def test_reference_snippet():
    namespace = _small_problem()
    old_first = namespace["weights"][0].copy()
    exec(_block("reference.forward_backward("), namespace)
    assert not np.allclose(namespace["weights"][0], old_first)  # one gradient step was taken


def test_training_snippet(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(_block("fit(model, loss_fn"), namespace)
    assert (tmp_path / "model.npz").is_file()
    assert namespace["history"].val_accuracy[-1] > 0.9
    assert "Evaluation" in capsys.readouterr().out


def test_compile_snippet():
    namespace: dict = {}
    exec(_block("@mg.compile"), namespace)
    assert namespace["train_step"].replays == 3
    assert namespace["losses"][-1] < namespace["losses"][0]
