"""Checkpoints: everything training needs to continue exactly where it stopped, in one file.

A checkpoint holds the model's parameters, the optimiser's state (moment estimates, step
counts, per-group hyperparameters), the scheduler's state, the epoch count, the state of every
random generator that training draws from (the data shuffler, and any
``numpy.random.Generator`` a module keeps as an attribute, e.g. for dropout), the history so
far and any extra JSON-able values. It is one ``.npz`` (no pickle) written atomically by
:func:`micrograd_nd.serialization.save_tree`: a crash mid-save leaves the previous checkpoint.

Resuming from it is bit-identical to never having stopped: every array is stored exactly and
every float (learning rates, RNG states) round-trips bit for bit. ``fit(...,
resume_from=path)`` does the loading; by hand::

    save_checkpoint("ckpt.npz", model, optimizer, scheduler, epoch=2,
                    generators={"shuffle": loader.rng})
    ...
    info = load_checkpoint("ckpt.npz", model, optimizer, scheduler,
                           generators={"shuffle": loader.rng})
    start_epoch = info.epoch
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._rng import default_generator
from .nn.module import Module
from .optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from .optim.optimizer import Optimizer
from .serialization import ModelFileError, check_finite_arrays, load_tree, save_tree

__all__ = ["Checkpoint", "CheckpointError", "load_checkpoint", "save_checkpoint"]

PathLike = str | os.PathLike[str]
Scheduler = LRScheduler | ReduceLROnPlateau

_FORMAT = "micrograd_nd.checkpoint"
_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint does not fit the objects it is loaded into (nothing was changed)."""

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns besides restoring the objects."""

    epoch: int
    history: dict[str, list[float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


DEFAULT_GENERATOR_NAME = "micrograd_nd.default"


def _module_generators(model: Module) -> dict[str, np.random.Generator]:
    """Every Generator a module of ``model`` keeps as an attribute, by dotted name."""
    found = {}
    for module_name, module in model.named_modules():
        for attribute, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                found[f"model.{module_name}.{attribute}" if module_name
                      else f"model.{attribute}"] = value
    return found


def _all_generators(
    model: Module, generators: Mapping[str, np.random.Generator] | None
) -> dict[str, np.random.Generator]:
    found = _module_generators(model)
    for name, generator in (generators or {}).items():
        if not isinstance(generator, np.random.Generator):
            raise TypeError(f"generators[{name!r}] must be a numpy.random.Generator, got "
                            f"{type(generator).__name__}")
        if name in found:
            raise ValueError(f"generator name {name!r} is taken by a module's generator")
        found[name] = generator
    # The library's default Generator (what rng=None draws from: layers, dropout, shuffling
    # after manual_seed) is part of every run's state.
    found.setdefault(DEFAULT_GENERATOR_NAME, default_generator())
    return found


def _typed_state(obj: Optimizer | Scheduler | None) -> dict[str, Any] | None:
    return None if obj is None else {"type": type(obj).__name__, "state": obj.state_dict()}


def save_checkpoint(
    path: PathLike,
    model: Module,
    optimizer: Optimizer | None = None,
    scheduler: Scheduler | None = None,
    *,
    epoch: int,
    generators: Mapping[str, np.random.Generator] | None = None,
    history: Mapping[str, list[float]] | None = None,
    extra: Mapping[str, Any] | None = None,
    allow_nonfinite: bool = False,
) -> None:
    """Write model, optimiser, scheduler, ``epoch`` (epochs completed), generator states,
    history and ``extra`` to ``path``, atomically.

    Like :func:`micrograd_nd.nn.save`, non-finite parameters or optimiser state are refused
    unless ``allow_nonfinite=True``.
    """
    if not isinstance(model, Module):
        raise TypeError(f"save_checkpoint: model must be a Module, got {type(model).__name__}")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"save_checkpoint: epoch must be an int ≥ 0, got {epoch!r}")
    model_state = model.state_dict()
    optimizer_state = _typed_state(optimizer)
    if not allow_nonfinite:
        check_finite_arrays(model_state, path)
        if optimizer_state is not None:
            arrays = {f"state[{index}][{key!r}]": value
                      for index, entry in optimizer_state["state"]["state"].items()
                      for key, value in entry.items() if isinstance(value, np.ndarray)}
            check_finite_arrays(arrays, path, what="optimiser state")
    tree = {
        "format": _FORMAT,
        "version": _VERSION,
        "epoch": epoch,
        "model": model_state,
        "optimizer": optimizer_state,
        "scheduler": _typed_state(scheduler),
        "generators": {name: generator.bit_generator.state
                       for name, generator in _all_generators(model, generators).items()},
        "history": None if history is None else {k: list(v) for k, v in history.items()},
        "extra": dict(extra or {}),
    }
    save_tree(path, tree)


def _restore_part(
    path: PathLike, what: str, saved: dict[str, Any] | None, obj: Optimizer | Scheduler | None
) -> None:
    if obj is None:
        return  # e.g. loading only the model for inference
    if saved is None:
        raise CheckpointError(path, f"the checkpoint has no {what} state to load into "
                                    f"the given {type(obj).__name__}")
    if saved["type"] != type(obj).__name__:
        raise CheckpointError(path, f"the checkpoint holds {saved['type']} state, not "
                                    f"{type(obj).__name__} state")
    obj.load_state_dict(saved["state"])


def load_checkpoint(
    path: PathLike,
    model: Module,
    optimizer: Optimizer | None = None,
    scheduler: Scheduler | None = None,
    *,
    generators: Mapping[str, np.random.Generator] | None = None,
) -> Checkpoint:
    """Restore a checkpoint into ``model`` (and ``optimizer``, ``scheduler``, generators).

    All or nothing: if any part does not fit (parameter names or shapes, optimiser or
    scheduler type, the set of generators), everything is put back as it was and the error
    says what. Parts not asked for (``optimizer=None``, a saved generator not in
    ``generators``) are left in the file, so a model alone loads for inference. Returns the
    epoch count, the history and the extra values.
    """
    tree = load_tree(path)
    if tree.get("format") != _FORMAT or tree.get("version") != _VERSION:
        raise ModelFileError(path, f"not a micrograd_nd checkpoint (version {_VERSION})")
    wanted = _all_generators(model, generators)
    saved_states = tree["generators"]
    missing = sorted(set(wanted) - set(saved_states))
    # A module's generator belongs to the architecture: one the model lacks is an error. Other
    # saved generators (the data shuffler) are only restored when asked for, like optimisers.
    unexpected = sorted(name for name in saved_states
                        if name.startswith("model.") and name not in wanted)
    if missing or unexpected:
        raise CheckpointError(
            path, f"the random generators differ: missing from the checkpoint: "
                  f"{', '.join(missing) or '-'}; in the checkpoint only: "
                  f"{', '.join(unexpected) or '-'}"
        )
    for name, generator in wanted.items():
        kind = saved_states[name].get("bit_generator")
        if kind != type(generator.bit_generator).__name__:
            raise CheckpointError(path, f"generator {name!r} is a {kind} in the checkpoint, "
                                        f"a {type(generator.bit_generator).__name__} here")
    backup = (
        model.state_dict(),
        None if optimizer is None else optimizer.state_dict(),
        None if scheduler is None else scheduler.state_dict(),
        {name: generator.bit_generator.state for name, generator in wanted.items()},
    )
    try:
        model.load_state_dict(tree["model"])
        _restore_part(path, "optimizer", tree["optimizer"], optimizer)
        _restore_part(path, "scheduler", tree["scheduler"], scheduler)
        for name, generator in wanted.items():
            generator.bit_generator.state = saved_states[name]
    except BaseException:
        model.load_state_dict(backup[0])
        if optimizer is not None:
            optimizer.load_state_dict(backup[1])
        if scheduler is not None:
            scheduler.load_state_dict(backup[2])
        for name, generator in wanted.items():
            generator.bit_generator.state = backup[3][name]
        raise
    return Checkpoint(epoch=int(tree["epoch"]), history=tree["history"],
                      extra=dict(tree["extra"]))
