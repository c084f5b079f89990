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


def test_the_readme_has_the_snippets_this_test_knows():
    assert len(_python_blocks()) == 6


def test_tensor_snippet():
    namespace: dict = {}
    exec(_python_blocks()[0], namespace)
    np.testing.assert_allclose(namespace["hvp"].data, [6.0, 0.0])  # ∂²Σz³/∂z² = diag(6z)
    assert namespace["w"].grad.shape == (3, 2)


def test_property_testing_snippet():
    namespace: dict = {}
    exec(_python_blocks()[1], namespace)
    namespace["test_softplus_gradient"]()  # runs the Hypothesis search


def test_compare_snippet():
    namespace = _small_problem()
    exec(_python_blocks()[2], namespace)
    assert namespace["report"].passed


def test_reference_snippet():
    namespace = _small_problem()
    old_first = namespace["weights"][0].copy()
    exec(_python_blocks()[3], namespace)
    assert not np.allclose(namespace["weights"][0], old_first)  # one gradient step was taken


def test_training_snippet(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(_python_blocks()[4], namespace)
    assert (tmp_path / "model.npz").is_file()
    assert namespace["history"].val_accuracy[-1] > 0.9
    assert "Evaluation" in capsys.readouterr().out


def test_compile_snippet():
    namespace: dict = {}
    exec(_python_blocks()[5], namespace)
    assert namespace["train_step"].replays == 3
    assert namespace["losses"][-1] < namespace["losses"][0]
