"""Neural-network building blocks: parameters, modules, layers, losses, save/load.

- :mod:`.module` — :class:`Parameter`, :class:`Module`, :class:`ModuleList`, :func:`save`,
  :func:`load`, :class:`StateDictError`
- :mod:`.layers` — :class:`Linear`, activations, :class:`Sequential`, :class:`MLP`
- :mod:`.losses` — :class:`CrossEntropyLoss`, :class:`MSELoss`, :class:`SquareLoss`,
  :class:`BCELoss`, :class:`BCEWithLogitsLoss`

Example::

    model = MLP([64, 128, 10], rng=0)          # Linear → ReLU → Linear (logits)
    loss = CrossEntropyLoss()(model(X), y)
    model.zero_grad(); loss.backward()         # gradients in p.grad for p in model.parameters()
"""

from .layers import (
    ACTIVATIONS,
    MLP,
    Identity,
    InputShapeError,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    get_activation,
)
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, SquareLoss
from .module import Module, ModuleList, Parameter, StateDictError, load, save

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Identity",
    "InputShapeError",
    "Linear",
    "MSELoss",
    "Module",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SquareLoss",
    "StateDictError",
    "Tanh",
    "get_activation",
    "load",
    "save",
]
