"""What every functional module shares: argument helpers and the reduction names."""

from __future__ import annotations

from typing import Any

from .._arrays import get_default_dtype, normalize_axis
from ..ops import (
    astype,
)
from ..tensor import ArrayLike, Tensor, as_tensor

REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------------------------
# Argument helpers.
# ---------------------------------------------------------------------------------------------
def _as_float(x: ArrayLike, op: str) -> Tensor:
    """``x`` as a Tensor of a floating dtype: integer and bool inputs take the default dtype
    (so ``softmax`` of a uint8 tensor does not compute −x in wrapping uint8 arithmetic)."""
    x = as_tensor(x, None, op)
    return x if x.dtype.kind == "f" else astype(x, get_default_dtype())


def _check_axis(op: str, x: Tensor, axis: Any) -> Any:
    return normalize_axis(op, axis, x.ndim)
