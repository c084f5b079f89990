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

__all__ = ["Module", "ModuleList", "Parameter", "StateDictError", "load", "save",
           "structure_version"]

# Bumped whenever an attribute of any module is set to, or was, a tensor or a module: a
# compiled step captured the tensors it used, and must trace again when they are replaced.
_structure = [0]


def structure_version() -> int:
    """A number that changes whenever some module's tensors or sub-modules are reassigned."""
    return _structure[0]


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


class Module:
    """Base class of layers and models: override ``forward``; call the module to run it.

    Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it. The
    ``training`` flag (``train()`` / ``eval()``) is set on the whole tree at once.
    """

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist already
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before "
                f"assigning attributes (while setting {name!r})"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        old = self.__dict__.get(name)
        if old is not value and (isinstance(value, (Tensor, Module))
                                 or isinstance(old, (Tensor, Module))):
            _structure[0] += 1  # not for ``layer.weight -= step``, which assigns it again
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        _structure[0] += 1
        object.__delattr__(self, name)

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
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """``train(False)``: the mode for evaluation and prediction."""
        return self.train(False)

    # ---- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """``{dotted name: copy of the parameter's array}``; later training leaves it as is."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, ArrayLike], strict: bool = True) -> None:
        """Copy arrays into the parameters of the same names, all or nothing.

        With ``strict`` every parameter must be present and no other name may appear.
        Shapes must match exactly in any mode; values are cast to each parameter's dtype
        and written in place (optimisers keep referring to the same arrays). On any problem
        :class:`StateDictError` lists every missing, unexpected and wrong-shape name, and
        the model is left exactly as it was.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"load_state_dict: expected a mapping of name → array, got {type(state).__name__}"
            )
        own = dict(self.named_parameters())
        missing = [name for name in own if name not in state]
        unexpected = [str(name) for name in state if name not in own]
        mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        problems: list[str] = []
        staged: list[tuple[Parameter, np.ndarray]] = []
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
            elif array.dtype.kind not in "fiu":
                problems.append(f"{name} has non-numeric dtype {array.dtype}")
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
