"""micrograd_nd: reverse-mode automatic differentiation over NumPy arrays.

``Tensor`` records the operations made from it; ``backward()`` and ``grad()`` run the chain
rule back through them. Every derivative rule lives in :mod:`micrograd_nd.primitives`.
"""

from . import data, functional, init, nn, optim, serialization, training
from ._arrays import get_default_dtype, set_default_dtype
from .autograd import (
    GraphFreedError,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .functional import (
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
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .tensor import (
    Tensor,
    abs,
    add,
    astype,
    broadcast_to,
    concatenate,
    divide,
    equal,
    exp,
    grad,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    not_equal,
    permute,
    power,
    reshape,
    sqrt,
    square,
    stack,
    subtract,
    sum,
    tanh,
    tensor,
    transpose,
    where,
)

__version__ = "0.1.0"

__all__ = [
    "GradcheckError", "GraphFreedError", "Tensor", "abs", "add", "astype",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "broadcast_to", "concatenate",
    "cross_entropy", "data", "divide", "enable_grad", "equal", "exp", "functional",
    "get_default_dtype", "grad", "gradcheck", "gradgradcheck", "greater", "greater_equal",
    "init", "is_grad_enabled", "l2_penalty", "less", "less_equal", "log", "log_softmax",
    "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mse_loss", "multiply",
    "negative", "nn", "no_grad", "not_equal", "optim", "permute", "power", "relu", "reshape",
    "serialization", "set_default_dtype", "set_grad_enabled", "sigmoid", "softmax", "sqrt",
    "square", "square_loss", "stack", "subtract", "sum", "tanh", "tensor", "training",
    "transpose", "where",
]
