"""Tensor's operators and methods, bound to the class in one table.

Each operator and method is a public function of :mod:`micrograd_nd.ops`,
:mod:`micrograd_nd.functional`, :mod:`micrograd_nd.backward` or
:mod:`micrograd_nd.numpy_interop`; ``t + u`` *is* ``ops.add(t, u)``. They are attached here,
after those modules exist, so that :mod:`micrograd_nd.tensor` (the data structure) depends on
none of them (JAX binds its array methods the same way). ``import micrograd_nd`` runs this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import functional as F
from . import numpy_interop, ops
from ._arrays import parse_dtype
from .backward import backward
from .tensor import Tensor


def _reflected(function: Callable[[Any, Any], Tensor]) -> Callable[[Any, Any], Tensor]:
    """``other <op> tensor``: the function with its operands swapped back."""
    def reflected(self: Tensor, other: Any) -> Tensor:
        return function(other, self)
    reflected.__name__ = f"r{function.__name__}"
    return reflected


def _shape_arguments(function: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``t.reshape(2, 3)`` as well as ``t.reshape((2, 3))``."""
    def method(self: Tensor, *shape: Any) -> Tensor:
        return function(self, shape[0] if len(shape) == 1 else shape)
    method.__name__ = function.__name__
    method.__doc__ = function.__doc__
    return method


def _transpose(self: Tensor, *axes: Any) -> Tensor:
    """``t.transpose()`` reverses the axes and ``t.transpose(perm)`` permutes them (NumPy);
    with two axes, ``t.transpose(0, 1)`` swaps those two (PyTorch: for a matrix, both agree
    on (1, 0), and PyTorch's (0, 1) is what a user means)."""
    if len(axes) == 2 and all(isinstance(a, (int, np.integer)) for a in axes):
        return ops.swapaxes(self, *axes)
    return ops.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)


def _permute(self: Tensor, *axes: Any) -> Tensor:
    return ops.transpose(self, axes[0] if len(axes) == 1 else axes)


def _to(self: Tensor, dtype: Any) -> Tensor:
    """The tensor in ``dtype`` (PyTorch's ``to``; devices are not a concept here)."""
    return ops.astype(self, parse_dtype(dtype, "to"))


_OPERATORS: dict[str, Callable[..., Any]] = {
    "__add__": ops.add, "__radd__": _reflected(ops.add),
    "__sub__": ops.subtract, "__rsub__": _reflected(ops.subtract),
    "__mul__": ops.multiply, "__rmul__": _reflected(ops.multiply),
    "__truediv__": ops.divide, "__rtruediv__": _reflected(ops.divide),
    "__pow__": ops.power, "__rpow__": _reflected(ops.power),
    "__matmul__": ops.matmul, "__rmatmul__": _reflected(ops.matmul),
    "__neg__": ops.negative, "__pos__": lambda self: self, "__abs__": ops.abs,
    "__mod__": ops.remainder, "__rmod__": _reflected(ops.remainder),
    "__floordiv__": ops.floor_divide, "__rfloordiv__": _reflected(ops.floor_divide),
    "__and__": ops.bitwise_and, "__rand__": _reflected(ops.bitwise_and),
    "__or__": ops.bitwise_or, "__ror__": _reflected(ops.bitwise_or),
    "__xor__": ops.bitwise_xor, "__rxor__": _reflected(ops.bitwise_xor),
    "__invert__": ops.invert, "__round__": lambda self, ndigits=None: ops.round(self, ndigits or 0),
    "__eq__": ops.equal, "__ne__": ops.not_equal, "__lt__": ops.less,
    "__le__": ops.less_equal, "__gt__": ops.greater, "__ge__": ops.greater_equal,
    "__getitem__": ops.getitem,
    "__array_ufunc__": lambda self, ufunc, method, *inputs, **kwargs:
        numpy_interop.array_ufunc(ufunc, method, *inputs, **kwargs),
    "__array_function__": lambda self, func, types, args, kwargs:
        numpy_interop.array_function(func, types, args, kwargs),
}

_METHODS: dict[str, Callable[..., Any]] = {
    "backward": backward,
    # reductions
    "sum": ops.sum, "mean": ops.mean, "max": ops.max, "min": ops.min, "var": F.var,
    "std": F.std, "argmax": F.argmax, "argmin": F.argmin,
    # elementwise
    "exp": ops.exp, "log": ops.log, "tanh": ops.tanh, "sqrt": ops.sqrt, "abs": ops.abs,
    "erf": ops.erf, "sin": ops.sin, "cos": ops.cos, "log1p": ops.log1p, "expm1": ops.expm1,
    "log2": ops.log2, "log10": ops.log10, "exp2": ops.exp2,
    "square": ops.square, "clip": ops.clip, "clamp": ops.clip,
    "relu": F.relu, "sigmoid": F.sigmoid, "softmax": F.softmax, "log_softmax": F.log_softmax,
    "logsumexp": F.logsumexp,
    # shape
    "reshape": _shape_arguments(ops.reshape), "view": _shape_arguments(ops.reshape),
    "flatten": F.flatten, "ravel": ops.flatten, "transpose": _transpose,
    "permute": _permute, "swapaxes": ops.swapaxes, "moveaxis": ops.moveaxis,
    "squeeze": ops.squeeze, "expand_dims": ops.expand_dims, "unsqueeze": ops.expand_dims,
    "broadcast_to": ops.broadcast_to,
    # linear algebra
    "matmul": ops.matmul, "dot": ops.dot,
    # dtype
    "astype": ops.astype, "to": _to,
    "float": lambda self: ops.astype(self, np.float32),
    "double": lambda self: ops.astype(self, np.float64),
    "numel": lambda self: self.size,
}

_PROPERTIES: dict[str, Callable[[Tensor], Any]] = {
    "T": ops.transpose,
}


def _bind() -> None:
    for name, function in {**_OPERATORS, **_METHODS}.items():
        setattr(Tensor, name, function)
    for name, getter in _PROPERTIES.items():
        setattr(Tensor, name, property(getter, doc=getter.__doc__))


_bind()
