"""to_dot: the recorded graph as Graphviz DOT text."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import micrograd_nd as mg


def _small_graph():
    w = mg.Tensor(np.ones((2, 3)), requires_grad=True)
    x = mg.Tensor(np.arange(3.0))
    loss = mg.tanh(w @ x).sum()
    return w, x, loss


def test_every_tensor_and_edge_of_the_graph_appears():
    w, _, loss = _small_graph()
    text = mg.to_dot(loss, names={"W": w, "loss": loss})
    boxes = re.findall(r"^  t\d+ \[label=", text, re.MULTILINE)
    edges = re.findall(r"^  t\d+ -> t\d+", text, re.MULTILINE)
    assert len(boxes) == 5  # W, x, matmul, tanh, sum
    assert len(edges) == 4
    for piece in ("W: leaf", "loss: sum", "matmul", "tanh", "constant", "shape (2, 3)  float64",
                  "requires grad", "no grad"):
        assert piece in text
    assert text.startswith("digraph") and text.rstrip().endswith("}")


def test_gradients_appear_once_backward_has_run(tmp_path):
    w, _, loss = _small_graph()
    loss.backward(retain_graph=True)
    text = mg.to_dot(loss, tmp_path / "graph.dot", names={"W": w})
    assert "grad [" in text
    assert (tmp_path / "graph.dot").read_text() == text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_writes_a_png(tmp_path):
    _, _, loss = _small_graph()
    mg.to_dot(loss, tmp_path / "graph.dot", render=True)
    assert (tmp_path / "graph.png").read_bytes()[:4] == b"\x89PNG"


def test_render_without_graphviz_or_path_is_a_clear_error(tmp_path, monkeypatch):
    _, _, loss = _small_graph()
    with pytest.raises(ValueError, match="render=True needs a path"):
        mg.to_dot(loss, render=True)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="needs Graphviz's 'dot' program"):
        mg.to_dot(loss, tmp_path / "g.dot", render=True)
