"""NumPy calls on tensors: ``np.exp(t)``, ``ndarray + t``, ``np.sum(t)``, ``np.dot(W, t)`` …

NumPy hands a call on a Tensor back to it through two protocols: ``__array_ufunc__`` for
ufuncs (``np.exp``, ``np.add``, the operators of an ndarray) and ``__array_function__`` for
everything else (``np.sum``, ``np.dot``, ``np.where``, ``np.linalg.norm``). Each supported
function maps to a differentiable micrograd_nd op, so NumPy code — the forward pass of a
network written as in the source articles — runs unchanged on tensors and gets gradients.
Functions that are constant almost everywhere (``np.sign``, ``np.floor``, ``np.argmax``,
``np.isnan``) return results without a gradient, which is their true derivative. Any other
NumPy function given a Tensor raises a ``TypeError`` naming it: never a silently dropped
gradient.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from . import functional as F
from . import ops
from ._tracing import value_read
from .tensor import Tensor, as_tensor

__all__ = ["ARRAY_FUNCTIONS", "UFUNCS", "array_function", "array_ufunc", "supported_names"]


def _constant(function: Callable[..., Any]) -> Callable[..., Tensor]:
    """A NumPy function whose derivative is 0 wherever it exists: its value, no gradient."""
    def on_values(*args: Any) -> Tensor:
        value_read(f"numpy.{function.__name__}(t)", *args)
        return Tensor._make(np.asarray(function(*(_values(a) for a in args))))
    return on_values


def _copy_of(x: Any, name: str) -> Tensor:
    """A differentiable copy in new memory: same dtype (bool stays bool), values and sign of 0."""
    x = as_tensor(x, None, name)
    if x.dtype == np.bool_:
        if name == "positive":
            raise TypeError("numpy.positive is not defined for bool (as in NumPy); use the mask")
        return _constant(np.copy)(x)
    return ops.multiply(x, 1)


def _values(value: Any) -> Any:
    return value._data if isinstance(value, Tensor) else value


UFUNCS: dict[np.ufunc, Callable[..., Any]] = {
    np.add: ops.add, np.subtract: ops.subtract, np.multiply: ops.multiply,
    np.divide: ops.divide, np.power: ops.power, np.maximum: ops.maximum,
    np.minimum: ops.minimum, np.matmul: ops.matmul, np.negative: ops.negative,
    np.remainder: ops.remainder, np.floor_divide: ops.floor_divide,
    np.bitwise_and: ops.bitwise_and, np.bitwise_or: ops.bitwise_or,
    np.bitwise_xor: ops.bitwise_xor, np.invert: ops.invert,
    np.positive: lambda x: _copy_of(x, "positive"), np.exp: ops.exp, np.log: ops.log,
    np.tanh: ops.tanh, np.sin: ops.sin, np.cos: ops.cos, np.log1p: ops.log1p,
    np.expm1: ops.expm1, np.sqrt: ops.sqrt, np.square: ops.square, np.absolute: ops.abs,
    np.reciprocal: lambda x: (ops.divide(1.0, x) if x.dtype.kind == "f"  # (a Tensor: the only
                              else _constant(np.reciprocal)(x)),  # input) integers: NumPy's
    np.exp2: ops.exp2, np.log2: ops.log2, np.log10: ops.log10,
    np.equal: ops.equal, np.not_equal: ops.not_equal, np.less: ops.less,
    np.less_equal: ops.less_equal, np.greater: ops.greater,
    np.greater_equal: ops.greater_equal,
    **{ufunc: _constant(ufunc) for ufunc in (
        np.sign, np.floor, np.ceil, np.rint, np.trunc, np.isnan, np.isinf, np.isfinite,
        np.signbit, np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
    )},
}

# ufunc.reduce on a tensor: the reductions that have a differentiable op.
_REDUCTIONS: dict[np.ufunc, Callable[..., Any]] = {
    np.add: ops.sum, np.maximum: ops.max, np.minimum: ops.min,
}


def array_ufunc(ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """``Tensor.__array_ufunc__``: differentiable ufuncs return tensors; others raise."""
    name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if kwargs.get("out") is not None:
        raise TypeError(
            f"{name}(..., out=...) on a Tensor is not supported: writing into an array would "
            "lose the gradient; use the result (or an in-place operator on a Tensor)"
        )
    kwargs.pop("out", None)
    if method == "__call__" and ufunc in UFUNCS:
        _refuse(ufunc.__name__, **kwargs)
        return UFUNCS[ufunc](*inputs)
    if method == "reduce" and ufunc in _REDUCTIONS and len(inputs) == 1:
        return _reduce(f"{ufunc.__name__}.reduce", _REDUCTIONS[ufunc], inputs[0], **kwargs)
    raise TypeError(
        f"{name} is not supported on Tensors (it would lose the gradient); use a micrograd_nd "
        "function, or np.asarray(tensor) for a plain array without gradient. "
        "Supported: see micrograd_nd.numpy_interop.supported_names()"
    )


def _reduce(name: str, reduction: Callable[..., Tensor], x: Any, axis: Any = 0,
            dtype: Any = None, keepdims: bool = False, **unsupported: Any) -> Tensor:
    _refuse(name, dtype=dtype, **unsupported)
    return reduction(x, axis=axis, keepdims=keepdims)


_NO_VALUE = getattr(np, "_NoValue", None)


def _refuse(name: str, **arguments: Any) -> None:
    """Raise for NumPy arguments given a value that the tensor version cannot honour."""
    for argument, value in arguments.items():
        if value is not None and value is not _NO_VALUE:
            raise TypeError(
                f"numpy.{name}: the argument {argument}= is not supported on Tensors; "
                "leave it out (cast with .astype, mask with where)"
            )


# ---------------------------------------------------------------------------------------------
# Array functions: each takes NumPy's own signature and maps it to the op.
# ---------------------------------------------------------------------------------------------
def _sum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         initial: Any = _NO_VALUE, where: Any = _NO_VALUE) -> Tensor:
    _refuse("sum", dtype=dtype, out=out, initial=initial, where=where)
    return ops.sum(a, axis=axis, keepdims=keepdims)


def _mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
          where: Any = _NO_VALUE) -> Tensor:
    _refuse("mean", dtype=dtype, out=out, where=where)
    return ops.mean(a, axis=axis, keepdims=keepdims)


def _extremum(op: Callable[..., Tensor], name: str) -> Callable[..., Tensor]:
    def reduce(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
               initial: Any = _NO_VALUE, where: Any = _NO_VALUE) -> Tensor:
        _refuse(name, out=out, initial=initial, where=where)
        return op(a, axis=axis, keepdims=keepdims)
    return reduce


def _variance(function: Callable[..., Tensor], name: str) -> Callable[..., Tensor]:
    def reduce(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
               keepdims: bool = False, *, where: Any = _NO_VALUE, mean: Any = _NO_VALUE,
               correction: Any = _NO_VALUE) -> Tensor:
        _refuse(name, dtype=dtype, out=out, where=where, mean=mean)
        correction = ddof if correction is _NO_VALUE else correction
        return function(a, axis=axis, correction=correction, keepdims=keepdims)
    return reduce


def _arg_extremum(function: Callable[..., Tensor], name: str) -> Callable[..., np.ndarray]:
    def index(a: Any, axis: Any = None, out: Any = None, *, keepdims: bool = False) -> Any:
        _refuse(name, out=out)
        return function(a, axis=axis, keepdims=keepdims).data
    return index


def _where(condition: Any, x: Any = _NO_VALUE, y: Any = _NO_VALUE) -> Any:
    if x is _NO_VALUE and y is _NO_VALUE:  # np.where(c): the indices, no gradient
        value_read("numpy.where(condition)", condition)
        return np.nonzero(_values(condition))
    return ops.where(ops.astype(condition, bool), x, y)


def _clip(a: Any, a_min: Any = _NO_VALUE, a_max: Any = _NO_VALUE, out: Any = None,
          *, min: Any = _NO_VALUE, max: Any = _NO_VALUE, **unsupported: Any) -> Tensor:
    _refuse("clip", out=out, **unsupported)
    low = a_min if a_min is not _NO_VALUE else min
    high = a_max if a_max is not _NO_VALUE else max
    return ops.clip(a, None if low is _NO_VALUE else low, None if high is _NO_VALUE else high)


def _concatenate(arrays: Any, axis: int | None = 0, out: Any = None, *, dtype: Any = None,
                 casting: str = "same_kind") -> Tensor:
    _refuse("concatenate", out=out, dtype=dtype)
    return ops.concatenate(list(arrays), axis=axis)


def _stack(arrays: Any, axis: int = 0, out: Any = None, *, dtype: Any = None,
           casting: str = "same_kind") -> Tensor:
    _refuse("stack", out=out, dtype=dtype)
    return ops.stack(list(arrays), axis=axis)


def _reshape(a: Any, shape: Any = None, order: str = "C", *, newshape: Any = None,
             copy: Any = None) -> Tensor:
    if order != "C":
        raise TypeError("numpy.reshape: only order='C' is supported on Tensors")
    return ops.reshape(a, newshape if shape is None else shape)


def _ravel(a: Any, order: str = "C") -> Tensor:
    return _reshape(a, (-1,), order)


def _dot(a: Any, b: Any, out: Any = None) -> Tensor:
    _refuse("dot", out=out)
    return ops.dot(a, b)


def _outer(a: Any, b: Any, out: Any = None) -> Tensor:
    _refuse("outer", out=out)
    return ops.outer(a, b)


def _einsum(subscripts: Any, *operands: Any, out: Any = None, dtype: Any = None,
            order: str = "K", casting: str = "safe", optimize: Any = False) -> Tensor:
    _refuse("einsum", out=out, dtype=dtype)
    return ops.einsum(subscripts, *operands)


def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    return ops.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def _copy(a: Any, order: str = "K", subok: bool = False) -> Tensor:
    return _copy_of(a, "copy")


def _like(fill: Callable[..., np.ndarray]) -> Callable[..., Tensor]:
    """``np.zeros_like`` and friends: a new constant tensor (no gradient) of the same shape."""
    def make(prototype: Any, *args: Any, **kwargs: Any) -> Tensor:
        return Tensor._make(np.asarray(fill(_values(prototype), *args, **kwargs)))
    return make


def _with_values(function: Callable[..., Any]) -> Callable[..., Any]:
    """Functions of the values only, whose result is not a tensor (shapes, indices, tests)."""
    def on_values(*args: Any, **kwargs: Any) -> Any:
        if function not in _SHAPE_FUNCTIONS:
            value_read(f"numpy.{function.__name__}(t)", *args, *kwargs.values())
        return function(*(_values(a) for a in args),
                        **{k: _values(v) for k, v in kwargs.items()})
    return on_values


_SHAPE_FUNCTIONS = (np.shape, np.ndim, np.size)  # they read no value

ARRAY_FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.sum: _sum, np.mean: _mean,
    np.max: _extremum(ops.max, "max"), np.amax: _extremum(ops.max, "amax"),
    np.min: _extremum(ops.min, "min"), np.amin: _extremum(ops.min, "amin"),
    np.dot: _dot, np.where: _where, np.clip: _clip, np.concatenate: _concatenate,
    np.stack: _stack, np.reshape: _reshape, np.ravel: _ravel, np.transpose: ops.transpose,
    np.swapaxes: ops.swapaxes, np.moveaxis: ops.moveaxis, np.expand_dims: ops.expand_dims,
    np.squeeze: ops.squeeze, np.broadcast_to: ops.broadcast_to, np.outer: _outer,
    np.einsum: _einsum, np.linalg.norm: _norm, np.copy: _copy,
    np.zeros_like: _like(np.zeros_like), np.ones_like: _like(np.ones_like),
    np.full_like: _like(np.full_like), np.empty_like: _like(np.zeros_like),
    np.shape: _with_values(np.shape), np.ndim: _with_values(np.ndim),
    np.size: _with_values(np.size), np.argmax: _arg_extremum(F.argmax, "argmax"),
    np.argmin: _arg_extremum(F.argmin, "argmin"), np.argsort: _with_values(np.argsort),
    np.var: _variance(F.var, "var"), np.std: _variance(F.std, "std"),
    np.nonzero: _with_values(np.nonzero), np.count_nonzero: _with_values(np.count_nonzero),
    np.allclose: _with_values(np.allclose), np.isclose: _with_values(np.isclose),
    np.array_equal: _with_values(np.array_equal), np.any: _with_values(np.any),
    np.all: _with_values(np.all),
}


def array_function(func: Callable[..., Any], types: Any, args: Any, kwargs: Any) -> Any:
    """``Tensor.__array_function__``: supported functions run as micrograd_nd ops."""
    implementation = ARRAY_FUNCTIONS.get(func)
    if implementation is None:
        module = getattr(func, "__module__", "numpy") or "numpy"
        raise TypeError(
            f"{module}.{func.__name__} is not supported on Tensors (it would lose the "
            "gradient); use a micrograd_nd function, or np.asarray(tensor) for a plain array "
            "without gradient. Supported: see micrograd_nd.numpy_interop.supported_names()"
        )
    try:
        return implementation(*args, **kwargs)
    except TypeError:
        _check_arguments(func, implementation, args, kwargs)
        raise


def _check_arguments(func: Callable[..., Any], implementation: Callable[..., Any], args: Any,
                     kwargs: Any) -> None:
    """After a TypeError: if the call does not fit the signature micrograd_nd implements (an
    argument NumPy has but a tensor cannot honour, ``subok=``), say so by name."""
    signature = inspect.signature(implementation)
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(
            f"numpy.{func.__name__} on Tensors: {error}; the supported form is "
            f"{func.__name__}{signature}"
        ) from None


def supported_names() -> list[str]:
    """The NumPy functions and ufuncs that work on tensors, by name."""
    names = {f"numpy.{u.__name__}" for u in UFUNCS}
    names |= {f"numpy.{u.__name__}.reduce" for u in _REDUCTIONS}
    for func in ARRAY_FUNCTIONS:
        module = getattr(func, "__module__", None) or "numpy"
        names.add(("numpy.linalg." if module.endswith("linalg") else "numpy.") + func.__name__)
    return sorted(names)
