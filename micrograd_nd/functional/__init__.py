"""Activations, losses and tensor helpers composed from the primitives: none has a derivative
rule of its own, so every gradient here is the chain rule through the primitive table.

Names, argument names, defaults and formulas follow ``torch.nn.functional`` (see docs/nn.md
for the few deliberate differences). Axis arguments are NumPy's ``axis``/``keepdims``;
``@torch_names`` lets each also take PyTorch's ``dim=``/``keepdim=``.

Each function is written so that its value *and* its gradient stay finite for finite inputs
of magnitude up to 1e3 and beyond: no exp of a large positive number, no log of 0, no ∞·0 in
the backward pass of a branch that ``where`` did not select. And none turns a NaN input into a
number: ``where`` conditions are written so that a NaN (for which every comparison is False)
selects the branch that carries it.

Reductions (``reduction=``): ``"mean"``, ``"sum"`` or ``"none"``. ``mse_loss`` and the other
elementwise losses reduce over every element, as PyTorch does; ``cross_entropy`` and
``square_loss`` first sum over the output units of each sample (the digit-network article,
eqs. (3), (4); the vanishing-gradient article), then reduce over samples.

One module per family: ``activations`` (with the softmax family), ``normalization``
(dropout, batch and layer norm), ``tensor_functions`` (var, std, argmax, argmin, flatten),
``losses``; every name is importable from here.
"""

from __future__ import annotations

from ._common import REDUCTIONS as REDUCTIONS
from .activations import (
    elu,
    gelu,
    identity,
    leaky_relu,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from .losses import (
    KL_REDUCTIONS as KL_REDUCTIONS,
)
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    l2_penalty,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
    square_loss,
)
from .normalization import batch_norm, dropout, layer_norm
from .tensor_functions import argmax, argmin, clamp, clip, flatten, std, var

__all__ = [
    "argmax",
    "argmin",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "clamp",
    "clip",
    "cross_entropy",
    "dropout",
    "elu",
    "flatten",
    "gelu",
    "huber_loss",
    "identity",
    "kl_div",
    "l1_loss",
    "l2_penalty",
    "layer_norm",
    "leaky_relu",
    "log_softmax",
    "logsumexp",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "square_loss",
    "std",
    "tanh",
    "var",
]
