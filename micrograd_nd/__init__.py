"""micrograd_nd: reverse-mode automatic differentiation over NumPy arrays.

``Tensor`` records the operations made from it; ``backward()`` and ``grad()`` run the chain
rule back through them. Every derivative rule lives in :mod:`micrograd_nd.primitives`.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import _methods as _methods  # binds Tensor's operators and methods
from . import (
    creation,
    data,
    functional,
    init,
    nn,
    numpy_interop,
    ops,
    optim,
    serialization,
    training,
)
from ._arrays import get_default_dtype, set_default_dtype
from ._rng import get_rng_state, manual_seed, set_rng_state
from .agreement import GradientMismatchError
from .autograd import GraphFreedError, InPlaceModificationError
from .backward import grad
from .compiler import CompiledFunction, CompileError, CompileWarning, compile
from .creation import (
    arange,
    eye,
    full,
    linspace,
    ones,
    ones_like,
    rand,
    randn,
    zeros,
    zeros_like,
)
from .custom import custom_op
from .functional import (
    argmax,
    argmin,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l2_penalty,
    log_softmax,
    logsumexp,
    mse_loss,
    relu,
    sigmoid,
    softmax,
    square_loss,
    std,
    var,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .manual import compare_manual
from .modes import (
    AnomalyError,
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .ops import (
    abs,
    add,
    astype,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    broadcast_to,
    clip,
    concatenate,
    cos,
    divide,
    dot,
    einsum,
    equal,
    erf,
    exp,
    exp2,
    expand_dims,
    expm1,
    flatten,
    floor_divide,
    greater,
    greater_equal,
    invert,
    less,
    less_equal,
    linear,
    log,
    log1p,
    log2,
    log10,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    moveaxis,
    multiply,
    negative,
    norm,
    not_equal,
    outer,
    permute,
    power,
    remainder,
    reshape,
    round,
    sin,
    sqrt,
    square,
    squeeze,
    stack,
    subtract,
    sum,
    swapaxes,
    tanh,
    tensor,
    transpose,
    where,
)
from .tensor import Tensor
from .visualize import to_dot

__version__ = "0.2.0"

# Submodules that need optional packages (testing needs Hypothesis) or that most programs do
# not use are imported on first access: ``mg.testing``, ``mg.compare`` … (PEP 562).
_LAZY_SUBMODULES = ("compare", "diagnostics", "finite_differences", "oracles", "reference",
                    "testing")


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'micrograd_nd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_SUBMODULES])


clamp = clip
unsqueeze = expand_dims

__all__ = [
    "AnomalyError",
    "CompileError",
    "CompileWarning",
    "CompiledFunction",
    "GradcheckError",
    "GradientMismatchError",
    "GraphFreedError",
    "InPlaceModificationError",
    "Tensor",
    "abs",
    "add",
    "arange",
    "argmax",
    "argmin",
    "astype",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "broadcast_to",
    "clamp",
    "clip",
    "compare_manual",
    "compile",
    "concatenate",
    "cos",
    "creation",
    "cross_entropy",
    "custom_op",
    "data",
    "detect_anomaly",
    "divide",
    "dot",
    "einsum",
    "enable_grad",
    "equal",
    "erf",
    "exp",
    "exp2",
    "expand_dims",
    "expm1",
    "eye",
    "flatten",
    "floor_divide",
    "full",
    "functional",
    "get_default_dtype",
    "get_rng_state",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "greater",
    "greater_equal",
    "init",
    "invert",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "l2_penalty",
    "less",
    "less_equal",
    "linear",
    "linspace",
    "log",
    "log1p",
    "log2",
    "log10",
    "log_softmax",
    "logsumexp",
    "manual_seed",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "moveaxis",
    "mse_loss",
    "multiply",
    "negative",
    "nn",
    "no_grad",
    "norm",
    "not_equal",
    "numpy_interop",
    "ones",
    "ones_like",
    "ops",
    "optim",
    "outer",
    "permute",
    "power",
    "rand",
    "randn",
    "relu",
    "remainder",
    "reshape",
    "round",
    "serialization",
    "set_default_dtype",
    "set_grad_enabled",
    "set_rng_state",
    "sigmoid",
    "sin",
    "softmax",
    "sqrt",
    "square",
    "square_loss",
    "squeeze",
    "stack",
    "std",
    "subtract",
    "sum",
    "swapaxes",
    "tanh",
    "tensor",
    "to_dot",
    "training",
    "transpose",
    "unsqueeze",
    "var",
    "where",
    "zeros",
    "zeros_like",
]
