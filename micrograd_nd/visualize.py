"""See the graph you are checking: Graphviz DOT of a recorded computation.

``to_dot(loss)`` returns the graph as DOT text: one box per tensor (the op that made it, its
shape and dtype, whether it requires grad, its gradient where backward has run and stored one)
and an arrow from each input to the op that used it. ``to_dot(loss, path="graph.dot")`` also
writes it, and ``render=True`` turns it into ``graph.png`` with Graphviz's ``dot`` program when
that is installed (``apt-get install graphviz``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

import numpy as np

from .tensor import Tensor

__all__ = ["to_dot"]

_MAX_VALUES = 6  # elements of a gradient shown in a box; larger ones are summarised


def to_dot(
    outputs: Tensor | Sequence[Tensor],
    path: str | os.PathLike[str] | None = None,
    *,
    render: bool = False,
    names: dict[str, Tensor] | None = None,
) -> str:
    """The recorded graph that leads to ``outputs``, as Graphviz DOT text.

    ``names`` labels tensors you know by name (``{"W1": W1, "loss": loss}``). With ``path``
    the text is also written there; with ``render=True`` it is drawn to a PNG beside it (a
    ``RuntimeError`` says so if Graphviz is not installed).
    """
    if isinstance(outputs, Tensor):
        roots = [outputs]
    elif isinstance(outputs, (list, tuple)):
        roots = list(outputs)
    else:
        raise TypeError(f"to_dot: expected a Tensor or a list of them, got "
                        f"{type(outputs).__name__}")
    for root in roots:
        if not isinstance(root, Tensor):
            raise TypeError(f"to_dot: expected Tensors, got {type(root).__name__}")
    label_of = {id(t): name for name, t in (names or {}).items()}
    lines = ["digraph micrograd_nd {", '  rankdir="LR";',
             '  node [shape=box, fontname="monospace", fontsize=10];']
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        lines.append(f'  t{id(tensor)} [label="{_label(tensor, label_of.get(id(tensor)))}"'
                     f'{_style(tensor, any(tensor is root for root in roots))}];')
        node = tensor._node
        if node is None or node.parents is None:
            continue
        for position, parent in enumerate(node.parents):
            lines.append(f'  t{id(parent)} -> t{id(tensor)} [label="{position}"];')
            stack.append(parent)
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if path is not None:
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
        if render:
            _render(os.fspath(path))
    elif render:
        raise ValueError("to_dot: render=True needs a path to write the DOT file to")
    return text


def _label(tensor: Tensor, name: str | None) -> str:
    node = tensor._node
    if node is not None:
        head = node.primitive.name + (" (freed)" if node.parents is None else "")
    else:
        head = "leaf" if tensor.requires_grad else "constant"
    rows = [f"{name}: {head}" if name else head,
            f"shape {tensor.shape}  {tensor.dtype}",
            "requires grad" if tensor.requires_grad else "no grad"]
    if tensor.grad is not None:
        rows.append("grad " + _summary(tensor.grad.data))
    return "\\n".join(row.replace('"', "'") for row in rows)


def _summary(values: np.ndarray) -> str:
    if values.size <= _MAX_VALUES:
        return np.array2string(values.ravel(), precision=4, separator=", ")
    return (f"|g| max {np.abs(values).max():.4g}, mean {values.mean():.4g} "
            f"({values.size} elements)")


def _style(tensor: Tensor, is_output: bool) -> str:
    if is_output:
        return ', style="filled", fillcolor="lightgoldenrod1"'
    if tensor._node is None and tensor.requires_grad:
        return ', style="filled", fillcolor="lightblue"'
    return ""


def _render(path: str) -> None:
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            "to_dot: rendering needs Graphviz's 'dot' program, which is not installed "
            "(apt-get install graphviz); the DOT text was written to " + path
        )
    target = os.path.splitext(path)[0] + ".png"
    subprocess.run([dot, "-Tpng", path, "-o", target], check=True, capture_output=True)
