"""The optimiser base class: parameter groups, per-parameter state, checked hyperparameters.

An optimiser holds ``param_groups``, a list of dicts, each with ``"params"`` (a list of leaf
tensors) and that group's hyperparameters (``"lr"``, ``"weight_decay"``, ...), exactly as in
PyTorch::

    SGD(model.parameters(), lr=0.1)                                  # one group
    SGD([{"params": body.parameters()},
         {"params": head.parameters(), "lr": 0.01}], lr=0.1)          # two groups, lr 0.1 / 0.01
    SGD(model.named_parameters(), lr=0.1)      # names kept in group["param_names"] for messages

``state`` maps each parameter (tensors hash by identity) to its per-parameter dict (momentum
buffers, moment estimates, step counts), filled on the first step that sees its gradient.

Every update works on the parameters' NumPy arrays in place (``p.data``), outside the graph,
then assigns the array back through the ``data`` setter, which bumps ``p.version``: a graph
that saved the old values refuses to back-propagate through them.

Nothing is accepted silently: hyperparameters are checked when a group is added, when a state
dict is loaded, and the learning rates again at every ``step()`` (a schedule or a direct
``group["lr"] = ...`` may have changed them); a parameter whose array was replaced by one of
another shape, or whose gradient has another shape, stops ``step()`` with both shapes named.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from .._tracing import state as _trace
from ..modes import enable_grad, no_grad
from ..tensor import Tensor

__all__ = ["Optimizer", "check_learning_rate", "check_nonnegative"]

# Keys a group may carry besides its optimiser's hyperparameters: schedulers record the
# learning rate they started from, and named parameters keep their names.
_EXTRA_GROUP_KEYS = frozenset({"params", "param_names", "initial_lr"})


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_nonnegative(name: str, value: object, where: str = "") -> float:
    """``value`` as a float if it is a finite real number ≥ 0, else a ValueError naming it."""
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}{name} must be a finite number ≥ 0, got {value!r}")
    return float(value)


def check_learning_rate(value: object, where: str = "") -> float:
    """A learning rate: a finite real number ≥ 0 (inf, NaN and negative values are refused)."""
    return check_nonnegative("lr", value, where)


def _setting(value: Any) -> Any:
    """A saved hyperparameter as a number: files written before NumPy scalars were kept as such
    hold an ``np.float64`` learning rate as a 0-d array (in tuples too, e.g. ``betas``)."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, tuple):
        return tuple(_setting(v) for v in value)
    return value


def _as_list(params: object, where: str) -> list[Any]:
    """``list(params)``, or a TypeError if ``params`` is not an iterable of parameters."""
    if isinstance(params, Tensor):
        raise TypeError(
            f"{where}params must be an iterable of tensors (e.g. model.parameters()), "
            "got one Tensor"
        )
    if isinstance(params, (str, bytes, Mapping)) or not isinstance(params, Iterable):
        raise TypeError(
            f"{where}params must be an iterable of tensors (e.g. model.parameters()), "
            f"got {type(params).__name__}"
        )
    return list(params)


def _split_names(items: list[Any], where: str) -> tuple[list[Any], list[str] | None]:
    """``(tensors, names)`` for ``(name, tensor)`` pairs (named_parameters()), else names None."""
    if not items or not all(isinstance(item, tuple) and len(item) == 2 for item in items):
        return items, None
    names = [item[0] for item in items]
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"{where}named parameters must be (str, Tensor) pairs")
    return [item[1] for item in items], names


class Optimizer:
    """Base class: ``param_groups``, ``state``, ``zero_grad``, ``step``, state dicts.

    Subclasses pass their ``defaults`` (every hyperparameter with its default value), check
    one group's hyperparameters in :meth:`_check_group`, and update one parameter in
    :meth:`_update`; :meth:`step` calls it for every parameter that has a gradient, with
    recording switched off.
    """

    def __init__(self, params: Iterable[Any], defaults: Mapping[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        # The shape each parameter had when it was added: step() compares against it.
        self._shapes: dict[Tensor, tuple[int, ...]] = {}
        items = _as_list(params, f"{self._name}: ")
        # A list of dicts is a list of groups; anything else is the parameters of one group.
        groups = items if items and all(isinstance(i, Mapping) for i in items) else [
            {"params": items}
        ]
        for group in groups:
            self.add_param_group(group)
        if not any(group["params"] for group in self.param_groups):
            raise ValueError("optimizer got an empty parameter list")

    @property
    def _name(self) -> str:
        return type(self).__name__

    # ---- groups -----------------------------------------------------------------------------
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group ``{"params": [...], <hyperparameter>: value, ...}``; defaults fill gaps.

        Each parameter must be a leaf tensor with ``requires_grad=True`` and belong to no other
        group. The group's hyperparameters are checked like the constructor's arguments.
        """
        index = len(self.param_groups)
        where = f"{self._name}: param_groups[{index}]: " if index else f"{self._name}: "
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError(
                f"{where}a parameter group must be a dict with a 'params' entry, "
                f"got {type(param_group).__name__}"
            )
        params, names = _split_names(_as_list(param_group["params"], where), where)
        unknown = sorted(set(param_group) - set(self.defaults) - _EXTRA_GROUP_KEYS)
        if unknown:
            raise ValueError(
                f"{where}unknown setting(s) {', '.join(unknown)}; {self._name} takes "
                f"{', '.join(self.defaults)}"
            )
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for position, p in enumerate(params):
            label = names[position] if names else f"parameter {position}"
            if not isinstance(p, Tensor):
                raise TypeError(f"{where}{label} is a {type(p).__name__}, not a Tensor")
            if not p.requires_grad or not p.is_leaf:
                raise ValueError(
                    f"{where}{label} (shape {p.shape}) must be a leaf tensor with "
                    "requires_grad=True; an optimiser can only update leaves"
                )
            if id(p) in seen:
                raise ValueError(
                    f"{where}{label} (shape {p.shape}) appears twice "
                    "(in this group or in another one)"
                )
            seen.add(id(p))
        group = {**self.defaults, **param_group, "params": params}
        group.pop("param_names", None)
        if names is not None:
            group["param_names"] = names
        self._check_group(group, where)
        for p in params:
            self._shapes[p] = p.shape
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any], where: str) -> None:
        """Check (and normalise to floats) one group's hyperparameters; subclasses extend."""
        group["lr"] = check_learning_rate(group["lr"], where)

    def _parameters(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def _label(self, group_index: int, position: int) -> str:
        """How a message names a parameter: its name if known, else where it sits."""
        names = self.param_groups[group_index].get("param_names")
        where = f"param_groups[{group_index}]['params'][{position}]"
        return f"{names[position]!r} ({where})" if names else where

    @property
    def lr(self) -> float:
        """The learning rate shared by every group (an error if the groups differ)."""
        rates = {group["lr"] for group in self.param_groups}
        if len(rates) > 1:
            raise ValueError(
                f"{self._name}.lr is ambiguous: the parameter groups have learning rates "
                f"{[group['lr'] for group in self.param_groups]}; read or set "
                "optimizer.param_groups[i]['lr'] instead"
            )
        return rates.pop()

    @lr.setter
    def lr(self, value: float) -> None:
        value = check_learning_rate(value, f"{self._name}: ")
        for group in self.param_groups:
            group["lr"] = value

    # ---- stepping ---------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """``.grad = None`` on every parameter (or zeros with ``set_to_none=False``)."""
        if _trace.tracer is not None:  # inside compile(fn): replayed as one call (compile.py)
            return _trace.tracer.unit(self, "zero_grad", set_to_none)
        for p in self._parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor(np.zeros_like(p.data), copy=False)

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one update to every parameter whose ``.grad`` is set; return ``closure()``.

        ``closure`` (optional, as in PyTorch) re-evaluates the model and returns the loss;
        it runs with recording on, before the update.
        """
        if _trace.tracer is not None:  # inside compile(fn): replayed as one call (compile.py)
            return _trace.tracer.unit(self, "step", closure)
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group_index, group in enumerate(self.param_groups):
            where = f"{self._name}.step: param_groups[{group_index}]: "
            check_learning_rate(group["lr"], where)  # a schedule or a user may have set it
            for position, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                theta = p.data
                grad = p.grad.data
                if theta.shape != self._shapes[p] or grad.shape != theta.shape:
                    self._raise_shape_error(group_index, position, p)
                if grad.dtype != theta.dtype:
                    grad = grad.astype(theta.dtype)
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {}
                self._update(theta, grad, state, group)
                # Through the ``data`` setter (as ``p.data -= step`` would): it bumps
                # p.version, so a graph that saved the old values refuses to back-propagate.
                p.data = theta
        return loss

    def _raise_shape_error(self, group_index: int, position: int, p: Tensor) -> None:
        label = self._label(group_index, position)
        expected = self._shapes[p]
        if p.shape != expected:
            raise ValueError(
                f"{self._name}.step: parameter {label} now has shape {p.shape} but had shape "
                f"{expected} when it was given to the optimiser (its .data was replaced); "
                "the optimiser's state no longer fits it: build a new optimiser"
            )
        raise ValueError(
            f"{self._name}.step: the gradient of parameter {label} has shape "
            f"{p.grad.shape}, the parameter has shape {p.shape}"
        )

    def _update(
        self, theta: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    # ---- state dicts ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

        PyTorch's layout: parameters are referred to by their position counted across the
        groups in order; arrays are copies, so later steps leave the returned dict as it is.
        """
        index_of: dict[Tensor, int] = {}
        groups = []
        for group in self.param_groups:
            entry = {key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
            entry["params"] = []
            for p in group["params"]:
                index_of[p] = len(index_of)
                entry["params"].append(index_of[p])
            groups.append(entry)
        state = {
            index_of[p]: {
                key: value.copy() if isinstance(value, np.ndarray) else value
                for key, value in param_state.items()
            }
            for p, param_state in self.state.items()
            if p in index_of
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, all or nothing.

        The groups must have the same sizes and the same hyperparameter names (the state of
        another optimiser type is refused); every state array must have its parameter's
        shape (it is cast to the parameter's dtype). Hyperparameters are checked as in the
        constructor. On any problem a ValueError/TypeError says what, and nothing changed.
        """
        where = f"{self._name}.load_state_dict: "
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            raise TypeError(
                f"{where}expected a dict with keys 'state' and 'param_groups' "
                "(what optimizer.state_dict() returns)"
            )
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, (list, tuple)) or len(saved_groups) != len(
            self.param_groups
        ):
            count = len(saved_groups) if isinstance(saved_groups, (list, tuple)) else "no"
            raise ValueError(
                f"{where}the state dict has {count} parameter groups, this optimiser "
                f"{len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        new_groups = []
        for group_index, (group, saved) in enumerate(
            zip(self.param_groups, saved_groups, strict=True)
        ):
            gwhere = f"{where}param_groups[{group_index}]: "
            if not isinstance(saved, Mapping) or not isinstance(saved.get("params"), list):
                raise TypeError(f"{gwhere}expected a dict with a 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{gwhere}the state dict's group has {len(saved['params'])} parameters, "
                    f"this optimiser's {len(group['params'])}"
                )
            missing = sorted(set(self.defaults) - set(saved))
            unexpected = sorted(set(saved) - set(self.defaults) - _EXTRA_GROUP_KEYS)
            if missing or unexpected:
                raise ValueError(
                    f"{gwhere}the state dict is not {self._name}'s (missing: "
                    f"{', '.join(missing) or '-'}; unexpected: {', '.join(unexpected) or '-'})"
                )
            for index, p in zip(saved["params"], group["params"], strict=True):
                by_index[index] = p
            new_group = {key: _setting(copy.deepcopy(value)) for key, value in saved.items()}
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            self._check_group(new_group, gwhere)
            new_groups.append(new_group)
        saved_state = state_dict["state"]
        if not isinstance(saved_state, Mapping):
            raise TypeError(f"{where}'state' must be a dict of parameter index → state")
        new_state: dict[Tensor, dict[str, Any]] = {}
        for index, param_state in saved_state.items():
            if index not in by_index:
                raise ValueError(f"{where}state for parameter index {index!r}, which no group has")
            p = by_index[index]
            if not isinstance(param_state, Mapping):
                raise TypeError(f"{where}state[{index}] must be a dict")
            restored = {}
            for key, value in param_state.items():
                if isinstance(value, np.ndarray):
                    if value.shape != p.shape:
                        raise ValueError(
                            f"{where}state[{index}][{key!r}] has shape {value.shape}, its "
                            f"parameter has shape {p.shape}"
                        )
                    value = value.astype(p.dtype, copy=True)
                restored[key] = value
            new_state[p] = restored
        # Everything checked: only now is anything replaced.
        self.param_groups[:] = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        def settings(group: Mapping[str, Any]) -> str:
            return ", ".join(
                f"{key}={group[key]}" for key in self.defaults if key in group
            )

        count = sum(len(group["params"]) for group in self.param_groups)
        if len(self.param_groups) == 1:
            return f"{self._name}({count} parameters, {settings(self.param_groups[0])})"
        body = "; ".join(
            f"group {i}: {len(g['params'])} parameters, {settings(g)}"
            for i, g in enumerate(self.param_groups)
        )
        return f"{self._name}({count} parameters in {len(self.param_groups)} groups; {body})"
