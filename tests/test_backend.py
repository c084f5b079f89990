"""The backend protocol: both backends offer every name a derivative rule or the reverse pass
uses, so a rule that runs in an ordinary backward pass also runs under ``create_graph``."""

from __future__ import annotations

import ast
import inspect

import pytest

from micrograd_nd import primitives
from micrograd_nd.backend import RULE_FUNCTIONS, SERVICES, Backend, NumpyBackend
from micrograd_nd.backward import RecordingBackend

BACKENDS = [NumpyBackend, RecordingBackend]


def _names_rules_call() -> set[str]:
    """Every ``xp.<name>`` in the primitive table's source."""
    tree = ast.parse(inspect.getsource(primitives))
    return {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "xp"}


def test_the_protocol_lists_every_name_the_rules_use():
    used = _names_rules_call()
    assert used, "no xp.<name> found: the scan is broken"
    assert used <= set(RULE_FUNCTIONS), sorted(used - set(RULE_FUNCTIONS))


def test_the_protocol_class_declares_the_listed_names():
    declared = {name for name in vars(Backend) if not name.startswith("_")}
    assert set(RULE_FUNCTIONS) | set(SERVICES) <= declared


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__)
def test_each_backend_offers_every_name(backend):
    missing = [name for name in (*RULE_FUNCTIONS, *SERVICES)
               if not callable(getattr(backend, name, None))]
    assert not missing, f"{backend.__name__} lacks {missing}"
