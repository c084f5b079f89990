"""Your own gradient, checked: a hand-derived gradient against autodiff and central differences.

::

    report = compare_manual(loss_fn, manual_grad, params, args=(X, y))
    print(report)             # one row per parameter and pair, failing rows marked FAIL
    report.assert_passed()    # raises GradientMismatchError (an AssertionError) with the table

``params`` is a dict name → array, a list or tuple of arrays, or an ``nn.Module`` (its named
parameters). ``loss_fn(params, *args)`` returns the scalar loss; it is called with the
parameters as Tensors, in the same structure, so it may use micrograd_nd operations (``@``,
``mg.tanh``, ``.sum()``) or plain NumPy (``np.dot``, ``np.tanh``, ``np.mean`` dispatch to
differentiable operations on Tensors).
``manual_grad(params, *args)`` returns your gradient of that loss, as NumPy arrays in the same
structure (a dict name → array for a module).

Three computations of ∂loss/∂θ are compared for every parameter θ: yours ("manual"), this
library's autodiff ("autodiff"), and float64 central differences of ``loss_fn`` ("numeric"),
measured as in :mod:`micrograd_nd.agreement`. Every parameter (whatever its layout or float
dtype) is first copied into a C-ordered float64 array, and floating-point arrays in ``args``
are converted to float64, so float32 inputs are compared in float64. A module is deep-copied:
yours is left as it was.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .agreement import Report, Tolerance, compare_pair, scaled_for_the_loss, tolerances_for_pairs
from .backward import grad
from .finite_differences import check_step, float64_point, numerical_gradient
from .modes import no_grad
from .nn import Module
from .tensor import Tensor

__all__ = ["DEFAULT_TOLERANCES", "ManualComparison", "compare_manual"]

CALLER = "compare_manual"
ORACLES = ("manual", "autodiff", "numeric")
# manual vs autodiff: two exact derivations, rounding only (1e-7 relative leaves room for an
# algebraically different but equivalent formula, and catches any derivation mistake).
# Pairs with central differences (eps 1e-6): their rounding error grows like u·|values|/eps
# with the size of the loss and of the values it is computed from (a fit to targets of 10⁴
# near its optimum: a loss of 1, an error of 1.4e-7), so their atol, 1e-6, is multiplied by
# max(1, |loss|) (agreement.scaled_for_the_loss).
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "manual vs autodiff": (1e-12, 1e-7),
    "manual vs numeric": (1e-6, 1e-5),
    "autodiff vs numeric": (1e-6, 1e-5),
}


@dataclass(frozen=True)
class ManualComparison(Report):
    """One row per parameter and pair; ``gradients[oracle][name]`` holds each computation."""

    names: tuple[str, ...]
    gradients: dict[str, dict[str, np.ndarray]]
    loss: float


# ---------------------------------------------------------------------------------------------
# The user's parameter structure: flattened to names and float64 arrays, rebuilt on demand.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Parameters:
    names: tuple[str, ...]  # as shown in the report
    keys: tuple[Any, ...]  # dict keys / module parameter names; positions for a sequence
    values: tuple[np.ndarray, ...]  # C-ordered float64 copies
    # items → the user's structure holding them; a module is deep-copied, or ``reuse``d
    rebuild: Callable[..., Any]
    is_mapping: bool  # manual_grad answers with a mapping (dict params, a module)


def _flatten(params: Any) -> _Parameters:
    if isinstance(params, Module):
        named = list(params.named_parameters())
        keys = tuple(name for name, _ in named)
        values = [p.data for _, p in named]
        return _checked(keys, keys, values, _module_rebuilder(params), is_mapping=True)
    if isinstance(params, Mapping):
        keys = tuple(params)
        names = tuple(str(key) for key in keys)
        if len(set(names)) != len(names):
            raise ValueError(f"{CALLER}: parameter names {list(keys)!r} print alike (the "
                             "report names each by str(key)); use distinct names")
        return _checked(names, keys, [params[key] for key in keys],
                        lambda items, reuse=None: dict(zip(keys, items, strict=True)),
                        is_mapping=True)
    if isinstance(params, (list, tuple)):
        kind = tuple if isinstance(params, tuple) else list
        names = tuple(f"params[{i}]" for i in range(len(params)))
        return _checked(names, tuple(range(len(params))), list(params),
                        lambda items, reuse=None: kind(items), is_mapping=False)
    raise TypeError(
        f"{CALLER}: params must be a dict name → array, a list or tuple of arrays, or an "
        f"nn.Module; got {type(params).__name__} (wrap a single array as [w] or {{'w': w}})"
    )


def _checked(names: tuple[str, ...], keys: tuple[Any, ...], raw: list[Any],
             rebuild: Callable[..., Any], is_mapping: bool) -> _Parameters:
    if not raw:
        raise ValueError(f"{CALLER}: params is empty; there is nothing to differentiate")
    values = tuple(float64_point(value, f"{CALLER}: parameter {name!r}")
                   for name, value in zip(names, raw, strict=True))
    return _Parameters(names, keys, values, rebuild, is_mapping)


def _module_rebuilder(module: Module) -> Callable[..., Module]:
    """A deep copy of ``module`` (or ``reuse``, an earlier copy) holding the given arrays (or
    Tensors' arrays) as its parameters."""

    def rebuild(items: Sequence[Any], reuse: Module | None = None) -> Module:
        clone = copy.deepcopy(module) if reuse is None else reuse
        for parameter, item in zip(clone.parameters(), items, strict=True):
            parameter.data = item.data if isinstance(item, Tensor) else item
            parameter.grad = None
            parameter.requires_grad_(True)
        return clone

    return rebuild


def _float64_args(args: Sequence[Any]) -> tuple[Any, ...]:
    """Floating-point arrays and Tensors among the extra arguments, as float64."""
    if not isinstance(args, (list, tuple)):
        raise TypeError(f"{CALLER}: args must be a tuple of extra arguments for loss_fn and "
                        f"manual_grad, got {type(args).__name__} (write args=(X, y))")
    converted = []
    for arg in args:
        if isinstance(arg, np.ndarray) and arg.dtype.kind == "f":
            arg = arg.astype(np.float64)
        elif isinstance(arg, Tensor) and arg.dtype.kind == "f":
            arg = Tensor(arg.data.astype(np.float64))
        converted.append(arg)
    return tuple(converted)


# ---------------------------------------------------------------------------------------------
# The three computations.
# ---------------------------------------------------------------------------------------------
def _scalar_loss(value: Any, requires_graph: bool) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{CALLER}: loss_fn returned {type(value).__name__}, not a Tensor, so autodiff has "
            "nothing to differentiate: compute the loss from the parameters it is given, with "
            "micrograd_nd operations or NumPy functions, without converting them to plain "
            "arrays (float(...), np.asarray, .data)"
        )
    if value.size != 1:
        raise ValueError(f"{CALLER}: loss_fn must return a scalar, got shape {value.shape}")
    if not np.all(np.isfinite(value.data)):
        raise ValueError(f"{CALLER}: loss_fn is not finite at the parameters "
                         f"({float(value.data.reshape(()))})")
    if requires_graph and not value.requires_grad:
        raise ValueError(
            f"{CALLER}: the loss does not depend on any parameter loss_fn was given (does it "
            "use other arrays, or another model, than the params it is given?)"
        )
    return value


def _autodiff(loss_fn: Callable[..., Any], params: _Parameters, args: tuple[Any, ...]
              ) -> tuple[list[np.ndarray], float]:
    structure = params.rebuild([Tensor(v, requires_grad=True) for v in params.values])
    leaves = (list(structure.parameters()) if isinstance(structure, Module)
              else [structure[key] for key in params.keys])
    loss = _scalar_loss(loss_fn(structure, *args), requires_graph=True)
    grads = grad(loss, leaves, allow_unused=True)
    if all(g is None for g in grads):
        raise ValueError(
            f"{CALLER}: the loss does not depend on any parameter loss_fn was given (does it "
            "use other arrays, or another model, than the params it is given?)"
        )
    return ([np.zeros_like(v) if g is None else np.asarray(g.data, dtype=np.float64)
             for g, v in zip(grads, params.values, strict=True)],
            float(loss.data.reshape(())))


def _numeric(loss_fn: Callable[..., Any], params: _Parameters, args: tuple[Any, ...],
             eps: float) -> list[np.ndarray]:
    structure = None

    def loss_at(*points: np.ndarray) -> float:
        nonlocal structure
        structure = params.rebuild([Tensor(p) for p in points], reuse=structure)
        with no_grad():
            value = loss_fn(structure, *args)
        return float(_scalar_loss(value, requires_graph=False).data.reshape(()))

    return numerical_gradient(loss_at, params.values, eps, caller=CALLER)


def _manual(manual_grad: Callable[..., Any], params: _Parameters, args: tuple[Any, ...]
            ) -> tuple[list[np.ndarray], dict[str, float]]:
    """The manual gradients as float64 arrays, and each one's precision as returned (the
    machine epsilon of its float dtype; float64's for anything else)."""
    result = manual_grad(params.rebuild([v.copy() for v in params.values]), *args)
    if params.is_mapping:
        if not isinstance(result, Mapping):
            raise TypeError(f"{CALLER}: manual_grad must return a dict name → gradient "
                            f"(like params), got {type(result).__name__}")
        missing = [name for name, key in zip(params.names, params.keys, strict=True)
                   if key not in result]
        if missing:
            raise ValueError(f"{CALLER}: manual_grad returned no gradient for {missing[0]!r} "
                             f"(missing: {missing})")
        extra = [str(key) for key in result if key not in params.keys]
        if extra:
            raise ValueError(f"{CALLER}: manual_grad returned a gradient for {extra[0]!r}, "
                             f"which is not a parameter (parameters: {list(params.names)})")
        raw = [result[key] for key in params.keys]
    else:
        if isinstance(result, (np.ndarray, Tensor)) or not isinstance(result, (list, tuple)):
            raise TypeError(f"{CALLER}: manual_grad must return a list or tuple of gradients "
                            f"(like params), got {type(result).__name__}")
        if len(result) != len(params.values):
            count = f"{len(result)} gradient" + ("" if len(result) == 1 else "s")
            raise ValueError(f"{CALLER}: manual_grad returned {count} for "
                             f"{len(params.values)} parameters")
        raw = list(result)
    precision = {name: _precision(value) for name, value in zip(params.names, raw, strict=True)}
    return ([_checked_gradient(value, name, parameter)
             for value, name, parameter in zip(raw, params.names, params.values, strict=True)],
            precision)


def _precision(value: Any) -> float:
    """The machine epsilon of a gradient's float dtype (float64's for lists, ints, …)."""
    dtype = np.dtype(getattr(value, "dtype", np.float64))
    return float(np.finfo(dtype if dtype.kind == "f" else np.float64).eps)


def _checked_gradient(value: Any, name: str, parameter: np.ndarray) -> np.ndarray:
    what = f"{CALLER}: the manual gradient for {name!r}"
    if value is None:
        raise TypeError(f"{what} is None")
    gradient = float64_point(value, what)
    if gradient.shape != parameter.shape:
        hint = " (transposed?)" if gradient.shape == parameter.shape[::-1] else ""
        raise ValueError(f"{what} has shape {gradient.shape} but the parameter has shape "
                         f"{parameter.shape}{hint}")
    return gradient


def compare_manual(
    loss_fn: Callable[..., Any],
    manual_grad: Callable[..., Any],
    params: Any,
    args: Sequence[Any] = (),
    *,
    numeric: bool = True,
    eps: float = 1e-6,
    tolerances: Mapping[str, tuple[float, float]] | None = None,
) -> ManualComparison:
    """Compare ``manual_grad(params, *args)`` with autodiff and central differences of
    ``loss_fn(params, *args)``, parameter by parameter (see the module docstring).

    ``tolerances`` overrides ``{pair: (atol, rtol)}`` of :data:`DEFAULT_TOLERANCES`; a row
    passes when every element is within ``atol + rtol · size`` (see :mod:`.agreement`), the
    atol of the pairs with central differences scaled by ``max(1, |loss|)``. A manual
    gradient returned in float32 (or float16) is judged at that precision: the rtol of its
    pairs is at least √ε of its dtype (3.5e-4 for float32: sums of products in float32 agree
    to about half their digits), unless ``tolerances`` sets them. Raises a clear
    error (naming the parameter) for shape mismatches, missing or extra names, non-finite
    values.
    """
    for function, what in ((loss_fn, "loss_fn"), (manual_grad, "manual_grad")):
        if not callable(function):
            raise TypeError(f"{CALLER}: {what} must be a function, got {type(function).__name__}")
    parameters = _flatten(params)
    extra_args = _float64_args(args)
    pairs = tolerances_for_pairs(CALLER, DEFAULT_TOLERANCES, tolerances)
    if not isinstance(numeric, bool):
        raise TypeError(f"{CALLER}: numeric must be True or False, got {numeric!r}")
    if numeric:
        eps = check_step(eps, CALLER, parameters.values)
    manual, manual_precision = _manual(manual_grad, parameters, extra_args)
    automatic, loss = _autodiff(loss_fn, parameters, extra_args)
    computed = {"manual": manual, "autodiff": automatic}
    if numeric:
        computed["numeric"] = _numeric(loss_fn, parameters, extra_args, eps)
    pairs = scaled_for_the_loss({pair: tolerance for pair, tolerance in pairs.items()
                                 if numeric or "numeric" not in pair}, loss)
    gradients = {oracle: dict(zip(parameters.names, arrays, strict=True))
                 for oracle, arrays in computed.items()}
    set_by_user = set(tolerances or ())

    def tolerance_for(name: str, pair: str) -> Tolerance:
        atol, rtol = pairs[pair]
        if "manual" in pair and pair not in set_by_user:
            rtol = max(rtol, math.sqrt(manual_precision[name]))
        return Tolerance(atol, rtol)

    rows = [
        compare_pair(name, pair, {oracle: gradients[oracle][name] for oracle in gradients},
                     tolerance_for(name, pair))
        for name in parameters.names for pair in pairs
    ]
    return ManualComparison(tuple(gradients), tuple(rows), parameters.names, gradients, loss)
