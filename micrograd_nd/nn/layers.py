"""Layers: ``Linear``, activations, ``Sequential`` and the ``MLP`` builder.

Everything is composed from the engine's differentiable operations; no layer has derivative
code of its own, so the gradients are exactly those of the formulas written here.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Iterator, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from .. import functional as F
from .._arrays import get_default_dtype
from .._rng import RNGLike, as_generator
from ..init import get_initializer
from ..ops import linear, tanh
from ..tensor import ArrayLike, Tensor
from .module import Module, ModuleList, Parameter

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "Identity",
    "InputShapeError",
    "Linear",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "get_activation",
]

InitLike = str | Callable[..., np.ndarray]


class InputShapeError(ValueError):
    """A layer got an input of the wrong width; the message names the layer."""


def _resolve_init(init: InitLike) -> Callable[..., np.ndarray]:
    return get_initializer(init) if isinstance(init, str) else init


class Linear(Module):
    """Affine map y = x Wᵀ + b (seed 001 eq. (1), z = W·x + b, for a batch of row vectors).

    ``weight`` has shape ``(out_features, in_features)`` — the W(l) of shape (n_l, n_{l−1})
    in the reference delta rule — and ``bias`` shape ``(out_features,)``. ``init`` and
    ``bias_init`` are names from :mod:`micrograd_nd.init` (``"uniform"`` is seed 001's
    U(−0.1, 0.1)) or callables ``f(shape, rng=, dtype=)``; ``rng`` (Generator or int seed)
    makes the draw reproducible. Inputs may have any leading (batch) dimensions.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: InitLike = "xavier_uniform",
        bias_init: InitLike = "zeros",
        rng: RNGLike = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dtype = np.dtype(get_default_dtype() if dtype is None else dtype)
        generator = as_generator(rng)
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(_resolve_init(init)(shape, rng=generator, dtype=dtype))
        if bias:
            bias_values = _resolve_init(bias_init)((self.out_features,), rng=generator, dtype=dtype)
            self.bias: Parameter | None = Parameter(bias_values)
        else:
            self.bias = None

    def forward(self, x: ArrayLike) -> Tensor:
        if not isinstance(x, Tensor):
            # Plain arrays take the layer's dtype, so float32 models stay float32 end to end.
            x = Tensor(x, dtype=self.weight.dtype, copy=False)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise InputShapeError(
                f"{self!r}: expected input of shape (..., {self.in_features}), "
                f"got shape {x.shape}"
            )
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


# ---------------------------------------------------------------------------------------------
# Activations: thin modules over micrograd_nd.functional.
# ---------------------------------------------------------------------------------------------
class Sigmoid(Module):
    """g(z) = 1/(1 + e^{−z}) elementwise (seed 001 eq. (2))."""

    def forward(self, x: ArrayLike) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """g(z) = tanh z elementwise."""

    def forward(self, x: ArrayLike) -> Tensor:
        return tanh(x)


class ReLU(Module):
    """g(z) = max(z, 0) elementwise (seed 003)."""

    def forward(self, x: ArrayLike) -> Tensor:
        return F.relu(x)


class Identity(Module):
    """g(z) = z."""

    def forward(self, x: ArrayLike) -> Tensor:
        return F.identity(x)


class Softmax(Module):
    """softmax(z)_k = e^{z_k} / Σ_j e^{z_j} along ``axis`` (seed 003).

    For training prefer raw logits with :class:`CrossEntropyLoss`, which is stabler.
    """

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: ArrayLike) -> Tensor:
        return F.softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


ACTIVATIONS: MappingProxyType[str, type[Module]] = MappingProxyType(
    {"identity": Identity, "relu": ReLU, "sigmoid": Sigmoid, "softmax": Softmax, "tanh": Tanh}
)
"""Read-only name → activation module class, as accepted by :class:`MLP`."""


def get_activation(name: str) -> Module:
    """A new activation module by name, e.g. ``get_activation("relu")``."""
    try:
        return ACTIVATIONS[name]()
    except (KeyError, TypeError):
        valid = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; valid names: {valid}") from None


# ---------------------------------------------------------------------------------------------
# Containers.
# ---------------------------------------------------------------------------------------------
class Sequential(Module):
    """Modules applied one after another: ``Sequential(Linear(2, 8), ReLU(), Linear(8, 1))``.

    The modules live in ``layers`` (parameter names ``layers.0.weight``, …); index, iterate
    and ``len()`` the Sequential itself.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        self.layers = ModuleList(modules)

    def forward(self, x: ArrayLike) -> Any:
        for index, layer in enumerate(self.layers):
            try:
                x = layer(x)
            except InputShapeError as error:
                # Say where in the model the wrong width arrived (nested: layers.1.layers.0).
                raise InputShapeError(f"layers.{index}: {error}") from None
        return x

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        # Show the layers directly rather than through the ModuleList wrapper.
        body = "\n".join(
            "  " + line
            for index, layer in enumerate(self.layers)
            for line in f"({index}): {layer!r}".split("\n")
        )
        return f"{type(self).__name__}(\n{body}\n)"


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"MLP: sizes must be a sequence of ints, got {type(sizes).__name__}")
    if len(sizes) < 2:
        raise ValueError(
            f"MLP: sizes needs at least 2 entries (input and output widths), got {list(sizes)}"
        )
    bad = [s for s in sizes if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1]
    if bad:
        raise ValueError(f"MLP: every size must be a positive int, got {list(sizes)}")
    return [int(s) for s in sizes]


class MLP(Sequential):
    """A multilayer perceptron: Linear layers of widths ``sizes`` with ``activation`` between.

    ``MLP([64, 128, 10])`` is Linear(64→128), ReLU, Linear(128→10), producing logits for
    :class:`CrossEntropyLoss`. ``output_activation`` (an activation name, default none) is
    applied after the last layer — ``"sigmoid"`` reproduces seed 001's all-sigmoid network.
    ``init`` defaults to ``"kaiming_uniform"`` for ReLU and ``"xavier_uniform"`` otherwise;
    one Generator built from ``rng`` initialises every layer in turn.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        output_activation: str | None = None,
        init: InitLike | None = None,
        bias_init: InitLike = "zeros",
        rng: RNGLike = None,
        dtype: Any = None,
    ) -> None:
        widths = _check_sizes(sizes)
        get_activation(activation)  # validate names before building anything
        if output_activation is not None:
            get_activation(output_activation)
        if init is None:
            init = "kaiming_uniform" if activation == "relu" else "xavier_uniform"
        generator = as_generator(rng)
        modules: list[Module] = []
        pairs = list(itertools.pairwise(widths))
        for position, (fan_in, fan_out) in enumerate(pairs):
            modules.append(
                Linear(fan_in, fan_out, init=init, bias_init=bias_init, rng=generator, dtype=dtype)
            )
            if position < len(pairs) - 1:
                modules.append(get_activation(activation))
        if output_activation is not None:
            modules.append(get_activation(output_activation))
        super().__init__(*modules)
        self.sizes = widths
