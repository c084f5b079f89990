"""``Parameter`` and ``Module``: named, trainable tensors and the containers that hold them.

A :class:`Module` registers every :class:`Parameter` and sub-module assigned to one of its
attributes, in assignment order, so ``named_parameters()`` yields dotted names such as
``layers.0.weight`` that stay stable from run to run. Those names are the keys of
``state_dict()`` and of saved model files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .._arrays import get_default_dtype
from .._tracing import state as _trace
from ..serialization import check_finite_arrays, load_arrays, save_arrays
from ..tensor import ArrayLike, Tensor

__all__ = [
    "Module", "ModuleDict", "ModuleList", "Parameter", "StateDictError", "load", "save",
    "structure_signature",
]

# What a compiled step (micrograd_nd.compile) cannot see in a module and must trace again for:
# a count bumped whenever an attribute of any module is given a new value (the step captured
# the tensors it used and baked in the settings it read: ``dropout.p = 0``,
# ``loss_fn.label_smoothing = 0.1``), and the ids of the modules in evaluation mode (the step
# took the branches of the mode it saw: dropout, batch norm). Both are part of its signature;
# the mode set comes back to the same object when the modes do.
_structure = [0]
_in_eval_mode: list[frozenset[int]] = [frozenset()]


def structure_signature() -> tuple[int, frozenset[int]]:
    """The module state a compiled step's signature includes (see above)."""
    return _structure[0], _in_eval_mode[0]


_UNSET = object()
_IMMUTABLE_SETTINGS = (bool, int, float, complex, str, type(None), tuple, frozenset)


def _is_new_value(old: Any, value: Any) -> bool:
    """Whether assigning ``value`` over ``old`` can change what a compiled step computes.

    A first assignment is not, unless it is a tensor or a module (a module built inside the
    step, ``nn.CrossEntropyLoss()``, sets its own settings every call). The same object is not
    (``layer.weight -= step`` assigns the Parameter it changed in place); an equal immutable
    setting is not (a callback that sets ``p = 0.5`` every epoch, ``self.shape = x.shape`` in
    ``forward``). Anything else is: a new number, a list or an array (compared by identity).
    """
    if old is value:
        return False
    if old is _UNSET:
        return isinstance(value, (Tensor, Module))
    if type(old) is type(value) and isinstance(value, _IMMUTABLE_SETTINGS):
        try:
            return not bool(old == value) or value != value  # NaN is never the same setting
        except (TypeError, ValueError):  # a tuple holding arrays
            return True
    return True


class Parameter(Tensor):
    """A leaf tensor that a :class:`Module` owns and an optimiser updates (requires_grad=True).

    ``Parameter(data, dtype=None)`` copies ``data``; the array lives in ``.data`` and the
    gradient of the last backward pass in ``.grad`` (a Tensor, or None).
    """

    __slots__ = ()  # Tensor uses __slots__; keep Parameter as light as a Tensor

    def __init__(self, data: ArrayLike, dtype: Any = None, requires_grad: bool = True) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Parameter(")
        extra = "" if self.dtype == get_default_dtype() else f", dtype={self.dtype}"
        return f"Parameter({body}{extra})"


class StateDictError(ValueError):
    """A state dict does not fit the model: names missing or unexpected, or shapes differ.

    ``missing``, ``unexpected`` and ``mismatched`` (name → (expected shape, got shape)) say
    exactly what; the model was not changed.
    """

    def __init__(
        self,
        missing: list[str],
        unexpected: list[str],
        mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]],
        problems: list[str] | None = None,
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched
        lines = ["the state dict does not match the model (nothing was loaded):"]
        if missing:
            lines.append(f"  missing: {', '.join(missing)}")
        if unexpected:
            lines.append(f"  unexpected: {', '.join(unexpected)}")
        for name, (expected, got) in mismatched.items():
            lines.append(f"  wrong shape for {name}: model has {expected}, state dict has {got}")
        lines.extend(f"  {problem}" for problem in problems or [])
        super().__init__("\n".join(lines))


def _buffer_value(owner: str, name: str, value: Any) -> Tensor | None:
    if value is not None and not isinstance(value, Tensor):
        raise TypeError(
            f"{owner}: buffer {name!r} holds a Tensor or None, got {type(value).__name__}"
        )
    return value


class Module:
    """Base class of layers and models: override ``forward``; call the module to run it.

    Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it;
    :meth:`register_buffer` registers a tensor that is state but not trained (BatchNorm's
    running statistics). The ``training`` flag (``train()`` / ``eval()``) is set on the whole
    tree at once.
    """

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist already
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before "
                f"assigning attributes (while setting {name!r})"
            )
        if _is_new_value(self.__dict__.get(name, _UNSET), value):
            _structure[0] += 1
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            # A registered buffer stays one: it takes a new tensor (or None), nothing else.
            self._buffers[name] = _buffer_value(type(self).__name__, name, value)
            object.__setattr__(self, name, value)
            return
        self._forget(name)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._forget(name)
        _structure[0] += 1
        object.__delattr__(self, name)

    def _forget(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True
                        ) -> None:
        """Register ``tensor`` as state that is not trained, available as ``self.<name>``.

        Buffers are not in ``parameters()`` (optimisers leave them alone) but, when
        ``persistent``, they are in ``state_dict()`` and restored by ``load_state_dict`` —
        e.g. BatchNorm's running statistics. ``None`` registers the name without a value.
        """
        owner = type(self).__name__
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"{owner}.register_buffer: name must be a non-empty str without "
                             f"'.', got {name!r}")
        if name not in self._buffers and hasattr(self, name):
            raise ValueError(f"{owner}.register_buffer: attribute {name!r} already exists")
        if isinstance(tensor, Parameter):
            raise TypeError(f"{owner}.register_buffer: {name!r} is a Parameter; assign it as an "
                            "attribute instead (parameters are trained, buffers are not)")
        self._buffers[name] = _buffer_value(owner, name, tensor)
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)

    # ---- running ----------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- the module tree --------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (name ``prefix``) and every descendant, depth first, dotted names."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` for every parameter in the tree, each object once."""
        seen: set[int] = set()  # a parameter shared by two layers is trained (and saved) once
        for module_name, module in self.named_modules(prefix):
            for name, parameter in module._parameters.items():
                if id(parameter) in seen:
                    continue
                seen.add(id(parameter))
                yield (f"{module_name}.{name}" if module_name else name), parameter

    def parameters(self) -> list[Parameter]:
        """Every parameter, in ``named_parameters`` order (a list, so it can be reused)."""
        return [parameter for _, parameter in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` for every buffer in the tree that holds a tensor."""
        for module_name, module in self.named_modules(prefix):
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    yield (f"{module_name}.{name}" if module_name else name), buffer

    def buffers(self) -> list[Tensor]:
        """Every buffer, in ``named_buffers`` order."""
        return [buffer for _, buffer in self.named_buffers()]

    def _named_state(self) -> dict[str, Tensor]:
        """What ``state_dict`` holds: the parameters, then the persistent buffers."""
        state: dict[str, Tensor] = dict(self.named_parameters())
        for module_name, module in self.named_modules():
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    state[f"{module_name}.{name}" if module_name else name] = buffer
        return state

    def num_parameters(self) -> int:
        """Total number of trainable scalars."""
        return int(sum(p.size for p in self.parameters()))

    def zero_grad(self) -> None:
        """Forget accumulated gradients: ``.grad = None`` on every parameter."""
        if _trace.tracer is not None:  # inside compile(fn): replayed as one call (compile.py)
            return _trace.tracer.unit(self, "zero_grad")
        for parameter in self.parameters():
            parameter.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and all descendants; returns self."""
        tree = list(self.modules())
        for module in tree:
            object.__setattr__(module, "training", bool(mode))
        ids = frozenset(map(id, tree))
        in_eval = _in_eval_mode[0] - ids if mode else _in_eval_mode[0] | ids
        if in_eval != _in_eval_mode[0]:
            _in_eval_mode[0] = in_eval
        return self

    def eval(self) -> Module:
        """``train(False)``: the mode for evaluation and prediction."""
        return self.train(False)

    # ---- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """``{dotted name: copy of the array}`` for every parameter and persistent buffer;
        later training leaves it as is."""
        return {name: t.data.copy() for name, t in self._named_state().items()}

    def load_state_dict(self, state: Mapping[str, ArrayLike], strict: bool = True) -> None:
        """Copy arrays into the parameters (and persistent buffers) of the same names, all or
        nothing.

        With ``strict`` every parameter and buffer must be present and no other name may appear.
        Shapes must match exactly in any mode; values are cast to each parameter's dtype
        and written in place (optimisers keep referring to the same arrays). On any problem
        :class:`StateDictError` lists every missing, unexpected and wrong-shape name, and
        the model is left exactly as it was.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"load_state_dict: expected a mapping of name → array, got {type(state).__name__}"
            )
        own = self._named_state()
        missing = [name for name in own if name not in state]
        unexpected = [str(name) for name in state if name not in own]
        mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        problems: list[str] = []
        staged: list[tuple[Tensor, np.ndarray]] = []
        for name, parameter in own.items():
            if name not in state:
                continue
            value = state[name]
            try:
                array = np.asarray(value.data if isinstance(value, Tensor) else value)
            except (TypeError, ValueError) as error:  # e.g. ragged nested lists
                problems.append(f"{name} is not an array: {error}")
                continue
            if array.shape != parameter.shape:
                mismatched[name] = (parameter.shape, array.shape)
            elif array.dtype.kind not in "fiub":
                problems.append(f"{name} has non-numeric dtype {array.dtype}")
            elif (problem := _cast_problem(array, parameter.dtype)) is not None:
                problems.append(f"{name}: {problem}")
            else:
                staged.append((parameter, array))
        if mismatched or problems or (strict and (missing or unexpected)):
            raise StateDictError(
                missing if strict else [], unexpected if strict else [], mismatched, problems
            )
        # Only now, with every entry checked, is anything written.
        for parameter, array in staged:
            data = parameter.data
            data[...] = array
            parameter.data = data  # through the setter: bumps the version (see Tensor.data)

    def save(self, path: str | os.PathLike[str], *, allow_nonfinite: bool = False) -> None:
        """Write ``state_dict()`` to ``path`` as an ``.npz`` (atomically; see :func:`save`)."""
        save(self, path, allow_nonfinite=allow_nonfinite)

    def load(self, path: str | os.PathLike[str], strict: bool = True) -> None:
        """Load parameters written by :meth:`save` (see :func:`load`)."""
        load(self, path, strict=strict)

    # ---- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (its settings)."""
        return ""

    def __repr__(self) -> str:
        children = [f"({name}): {child!r}" for name, child in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        body = "\n".join("  " + line for child in children for line in child.split("\n"))
        head = self.extra_repr()
        return f"{type(self).__name__}({head}\n{body}\n)"


def _cast_problem(array: np.ndarray, dtype: np.dtype) -> str | None:
    """Why ``array`` cannot be stored in ``dtype`` without changing a value, or None."""
    if dtype.kind in "iu":
        if array.dtype.kind == "f" and not (np.isfinite(array).all()
                                            and np.array_equal(array, np.round(array))):
            return f"{array.dtype} values that are not whole numbers cannot be stored as {dtype}"
        info = np.iinfo(dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            return f"values in [{array.min()}, {array.max()}] do not fit {dtype}"
    elif dtype.kind == "f":
        with np.errstate(over="ignore"):
            overflows = np.isfinite(array) & ~np.isfinite(array.astype(dtype))
        if overflows.any():
            return (f"values up to {np.abs(array[overflows]).max():g} overflow {dtype} "
                    f"(largest {np.finfo(dtype).max:g})")
    return None


class ModuleList(Module):
    """A list of sub-modules named ``0``, ``1``, …; it has no forward of its own."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList holds Modules, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))


class ModuleDict(Module):
    """Sub-modules by name, in insertion order, used like a dict: ``d["encoder"] = Linear(…)``.

    Each module is registered under its key (parameter names ``encoder.weight``, …). Keys
    are non-empty strings without ``.`` that do not hide an attribute (``"train"``, ``"keys"``).
    It has no forward of its own.
    """

    def __init__(
        self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
    ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def _check_key(self, key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict keys are strings, got {type(key).__name__}")
        if not key or "." in key:
            raise ValueError(f"ModuleDict key must be non-empty and without '.', got {key!r}")
        if key not in self._modules and hasattr(self, key):
            raise ValueError(f"ModuleDict key {key!r} would hide the attribute of that name")
        return key

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]
        except KeyError:
            raise KeyError(f"ModuleDict has no key {key!r}; keys: {list(self._modules)}") from None

    def __setitem__(self, key: str, module: Module) -> None:
        key = self._check_key(key)
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict holds Modules, got {type(module).__name__} for {key!r}")
        setattr(self, key, module)

    def __delitem__(self, key: str) -> None:
        if key not in self._modules:
            self[key]  # raises the KeyError that lists the keys
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> list[str]:
        return list(self._modules)

    def values(self) -> list[Module]:
        return list(self._modules.values())

    def items(self) -> list[tuple[str, Module]]:
        return list(self._modules.items())

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or from ``(key, module)`` pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise TypeError(
                    f"ModuleDict.update expects a mapping or (key, module) pairs, got {pair!r}"
                )
            self[pair[0]] = pair[1]

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        for key in list(self._modules):
            del self[key]


def save(
    module: Module, path: str | os.PathLike[str], *, allow_nonfinite: bool = False
) -> None:
    """Save ``module.state_dict()`` to ``path`` (an ``.npz``, no pickle), atomically.

    The previous file at ``path`` survives intact unless the new one was written completely
    (:func:`micrograd_nd.serialization.save_arrays`). A parameter holding NaN or inf is
    refused with a ValueError naming it (a diverged model must not replace a good file);
    ``allow_nonfinite=True`` saves it anyway.
    """
    state = module.state_dict()
    if not allow_nonfinite:
        check_finite_arrays(state, path)
    save_arrays(path, state)


def load(module: Module, path: str | os.PathLike[str], strict: bool = True) -> Module:
    """Load a file written by :func:`save` into ``module`` (checked by ``load_state_dict``).

    Raises FileNotFoundError, :class:`~micrograd_nd.serialization.ModelFileError` for a corrupt
    file, or :class:`StateDictError` when names or shapes differ; in each case the module is
    unchanged. Returns the module.
    """
    module.load_state_dict(load_arrays(path), strict=strict)
    return module
