"""The Python blocks of docs/training.md run, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "training.md"


def test_training_doc_blocks_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 6
    monkeypatch.chdir(tmp_path)  # the checkpoint the page writes goes here
    namespace: dict = {}
    for block in blocks:
        exec(block, namespace)
    assert (tmp_path / "moons-ckpt.npz").is_file()
    assert "val_acc" in capsys.readouterr().out
