"""Neural-network building blocks: parameters, modules, layers, losses, save/load.

- :mod:`.module` — :class:`Parameter`, :class:`Module` (with buffers), :class:`ModuleList`,
  :class:`ModuleDict`, :func:`save`, :func:`load`, :class:`StateDictError`
- :mod:`.layers` — :class:`Linear`, :class:`Dropout`, :class:`Flatten`, activations
  (:class:`ReLU`, :class:`LeakyReLU`, :class:`ELU`, :class:`GELU`, :class:`SiLU`,
  :class:`Softplus`, :class:`Sigmoid`, :class:`Tanh`, :class:`Softmax`, :class:`LogSoftmax`),
  :class:`Sequential`, :class:`MLP`
- :mod:`.normalization` — :class:`BatchNorm1d`, :class:`LayerNorm`
- :mod:`.losses` — :class:`CrossEntropyLoss`, :class:`NLLLoss`, :class:`MSELoss`,
  :class:`L1Loss`, :class:`HuberLoss`, :class:`SmoothL1Loss`, :class:`KLDivLoss`,
  :class:`SquareLoss`, :class:`BCELoss`, :class:`BCEWithLogitsLoss`

Formulas and PyTorch correspondences: docs/nn.md. Example::

    model = MLP([64, 128, 10], rng=0)          # Linear → ReLU → Linear (logits)
    loss = CrossEntropyLoss()(model(X), y)
    model.zero_grad(); loss.backward()         # gradients in p.grad for p in model.parameters()
"""

from .layers import (
    ACTIVATIONS,
    ELU,
    GELU,
    MLP,
    Dropout,
    Flatten,
    Identity,
    InputShapeError,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sequential,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    get_activation,
)
from .losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    SquareLoss,
)
from .module import Module, ModuleDict, ModuleList, Parameter, StateDictError, load, save
from .normalization import BatchNorm1d, LayerNorm

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "MLP",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "HuberLoss",
    "Identity",
    "InputShapeError",
    "KLDivLoss",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Softplus",
    "SquareLoss",
    "StateDictError",
    "Tanh",
    "get_activation",
    "load",
    "save",
]
