"""Layers: ``Linear``, ``Dropout``, ``Flatten``, activations, ``Sequential`` and ``MLP``.

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
from .._checks import check_real
from .._rng import RNGLike, as_generator
from ..init import get_initializer
from ..ops import linear, tanh
from ..tensor import ArrayLike, Tensor
from .module import Module, ModuleList, Parameter

__all__ = [
    "ACTIVATIONS",
    "ELU",
    "GELU",
    "MLP",
    "Dropout",
    "Flatten",
    "Identity",
    "InputShapeError",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "get_activation",
]

InitLike = str | Callable[..., np.ndarray]


class InputShapeError(ValueError):
    """A layer got an input of the wrong width; the message names the layer."""


def _resolve_init(init: InitLike) -> Callable[..., np.ndarray]:
    return get_initializer(init) if isinstance(init, str) else init


class Linear(Module):
    """Affine map y = x Wᵀ + b (the digit-network article, eq. (1), z = W·x + b, for a batch of row
    vectors).

    ``weight`` has shape ``(out_features, in_features)`` — the W(l) of shape (n_l, n_{l−1})
    in the reference delta rule — and ``bias`` shape ``(out_features,)``. ``init`` and
    ``bias_init`` are names from :mod:`micrograd_nd.init` (``"uniform"`` is the digit-network
    article's
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
    """g(z) = 1/(1 + e^{−z}) elementwise (the digit-network article, eq. (2))."""

    def forward(self, x: ArrayLike) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """g(z) = tanh z elementwise."""

    def forward(self, x: ArrayLike) -> Tensor:
        return tanh(x)


class ReLU(Module):
    """g(z) = max(z, 0) elementwise (the vanishing-gradient article)."""

    def forward(self, x: ArrayLike) -> Tensor:
        return F.relu(x)


class Identity(Module):
    """g(z) = z."""

    def forward(self, x: ArrayLike) -> Tensor:
        return F.identity(x)


class LeakyReLU(Module):
    """g(z) = z for z > 0, negative_slope·z otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_real("LeakyReLU", "negative_slope", negative_slope)

    def forward(self, x: ArrayLike) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """g(z) = z for z > 0, α(e^z − 1) otherwise."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = check_real("ELU", "alpha", alpha)

    def forward(self, x: ArrayLike) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class GELU(Module):
    """g(z) = z·Φ(z) = ½z(1 + erf(z/√2)) (the default, as in PyTorch); ``approximate='tanh'``
    is ½z(1 + tanh(√(2/π)(z + 0.044715z³)))."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: ArrayLike) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """g(z) = z·σ(z) (swish)."""

    def forward(self, x: ArrayLike) -> Tensor:
        return F.silu(x)


class Softplus(Module):
    """g(z) = (1/β)·ln(1 + e^{βz}), linear (g(z) = z) where βz > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = check_real("Softplus", "beta", beta, low=0.0, low_open=True)
        self.threshold = check_real("Softplus", "threshold", threshold)

    def forward(self, x: ArrayLike) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


def _class_axis(owner: str, dim: int | None, axis: int | None) -> int:
    """``dim`` (PyTorch) or ``axis`` (NumPy; this library's older name); −1 when neither."""
    if dim is not None and axis is not None:
        raise TypeError(f"{owner}: pass dim= or axis=, not both")
    chosen = dim if dim is not None else axis
    return -1 if chosen is None else chosen


class Softmax(Module):
    """softmax(z)_k = e^{z_k} / Σ_j e^{z_j} along ``dim`` (default −1; the vanishing-gradient
    article).

    For training prefer raw logits with :class:`CrossEntropyLoss`, which is stabler.
    """

    def __init__(self, dim: int | None = None, *, axis: int | None = None) -> None:
        super().__init__()
        self.dim = _class_axis("Softmax", dim, axis)

    @property
    def axis(self) -> int:
        return self.dim

    def forward(self, x: ArrayLike) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """ln softmax(z) along ``dim`` (default −1), computed without forming softmax."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = _class_axis("LogSoftmax", dim, None)

    def forward(self, x: ArrayLike) -> Tensor:
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


ACTIVATIONS: MappingProxyType[str, type[Module]] = MappingProxyType(
    {
        "elu": ELU, "gelu": GELU, "identity": Identity, "leaky_relu": LeakyReLU,
        "log_softmax": LogSoftmax,
        "relu": ReLU, "sigmoid": Sigmoid, "silu": SiLU, "softmax": Softmax,
        "softplus": Softplus, "tanh": Tanh,
    }
)
"""Read-only name → activation module class (default settings), as accepted by :class:`MLP`."""


# ---------------------------------------------------------------------------------------------
# Regularisation and reshaping.
# ---------------------------------------------------------------------------------------------
class Dropout(Module):
    """Inverted dropout in training (zero each element with probability ``p``, scale the rest
    by 1/(1 − p)); the identity in evaluation (``model.eval()``).

    ``rng`` (a Generator or an int seed) gives the masks a stream of their own, continued
    from call to call; without it they come from the default Generator
    (:func:`micrograd_nd.manual_seed`).
    """

    def __init__(self, p: float = 0.5, rng: RNGLike = None) -> None:
        super().__init__()
        self.p = check_real("Dropout", "p", p, low=0.0, high=1.0)
        # A seed becomes one Generator here, so each call draws a new mask.
        self._generator = None if rng is None else as_generator(rng)

    def forward(self, x: ArrayLike) -> Tensor:
        return F.dropout(x, self.p, self.training, rng=self._generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge axes ``start_dim`` … ``end_dim`` into one: (N, C, L) → (N, C·L) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: ArrayLike) -> Tensor:
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


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
    applied after the last layer — ``"sigmoid"`` reproduces the digit-network article's all-sigmoid
    network.
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
