"""Optimisers, learning-rate schedules and gradient clipping, with PyTorch's names and formulas.

- :mod:`.optimizer` — :class:`Optimizer`: parameter groups, ``state``, ``state_dict()``
- :mod:`.algorithms` — :class:`SGD` (momentum, Nesterov), :class:`Adam`, :class:`AdamW`,
  :class:`RMSprop`
- :mod:`.lr_scheduler` — ``StepLR``, ``ExponentialLR``, ``CosineAnnealingLR``, ``LinearLR``,
  ``LambdaLR``, ``ReduceLROnPlateau``
- :mod:`.clip` — :func:`clip_grad_norm_`

The formulas are written out in docs/training.md and in each class's docstring.
"""

from . import lr_scheduler
from .algorithms import SGD, Adam, AdamW, RMSprop
from .clip import clip_grad_norm_
from .optimizer import Optimizer

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "clip_grad_norm_", "lr_scheduler"]
