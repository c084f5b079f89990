"""The graph is released after backward, deep graphs neither overflow the stack nor leak."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import micrograd_nd as mg

DEPTH = 100_000


@pytest.fixture
def no_automatic_gc():
    """Cycles must not be what frees the graph: reference counting alone has to do it."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _chain(x: mg.Tensor, depth: int) -> tuple[mg.Tensor, list[weakref.ref]]:
    """y = x·1 + 0·… repeated: ``depth`` recorded ops; weak refs to a sample of intermediates."""
    refs = []
    y = x
    for step in range(depth):
        y = y * 1.0 if step % 2 else y + 0.0
        if step % 997 == 0:
            refs.append(weakref.ref(y))
    return y, refs


def test_intermediate_arrays_are_freed_after_backward_without_gc(no_automatic_gc):
    x = mg.Tensor(np.ones((4, 4)), requires_grad=True)
    hidden = mg.tanh(x * 2.0)
    hidden_ref = weakref.ref(hidden)
    array_ref = weakref.ref(hidden.data)  # the saved array itself, not only its wrapper
    loss = mg.exp(hidden).sum()
    del hidden
    assert hidden_ref() is not None  # the graph keeps it alive for backward
    loss.backward()
    assert hidden_ref() is None  # freed by reference counting once backward dropped it
    assert array_ref() is None
    np.testing.assert_allclose(
        x.grad.data, np.exp(np.tanh(2.0)) * (1 - np.tanh(2.0) ** 2) * 2.0, rtol=1e-12
    )


def test_backward_creates_no_reference_cycles():
    x = mg.Tensor(np.ones(5), requires_grad=True)
    gc.collect()
    for _ in range(20):
        loss = (mg.tanh(x @ np.ones((5, 3))) ** 2).sum()
        loss.backward(retain_graph=False)
        del loss
    assert gc.collect() == 0


def test_retained_graph_is_released_when_the_output_is_dropped(no_automatic_gc):
    x = mg.Tensor(np.ones(3), requires_grad=True)
    mid = mg.exp(x)
    ref = weakref.ref(mid)
    y = (mid * mid).sum()
    del mid
    y.backward(retain_graph=True)
    assert ref() is not None
    del y
    assert ref() is None


def test_deep_graph_backward_then_drop(no_automatic_gc):
    limit = sys.getrecursionlimit()
    x = mg.Tensor(np.array([1.5]), requires_grad=True)
    y, refs = _chain(x, DEPTH)
    y.sum().backward()
    assert sys.getrecursionlimit() == limit
    np.testing.assert_array_equal(x.grad.data, [1.0])  # d/dx of x·1·1…+0+0… is 1
    del y
    assert all(ref() is None for ref in refs)


def test_deep_graph_build_and_drop_without_backward(no_automatic_gc):
    x = mg.Tensor(np.array([1.5]), requires_grad=True)
    y, refs = _chain(x, DEPTH)
    assert refs[len(refs) // 2]() is not None
    del y  # CPython frees the chain iteratively (trashcan), not by deep recursion
    assert all(ref() is None for ref in refs)
    assert x.grad is None


def test_deep_graph_of_a_reused_node_backpropagates():
    """A ladder y_{k+1} = y_k + y_k·c: many paths, one gradient, no recursion."""
    x = mg.Tensor(np.array([0.5]), requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0 + y * 0.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0])


def test_backward_frees_the_whole_chain_of_nodes_while_the_output_lives(no_automatic_gc):
    """The output keeps its own node; every node behind it is released by backward (the nodes
    link to the nodes of their inputs, so one kept link would keep the whole chain)."""
    import tracemalloc

    x = mg.Tensor(np.ones(8), requires_grad=True)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        y, _ = _chain(x, 20_000)
        loss = y.sum()
        graph = tracemalloc.get_traced_memory()[0] - before
        loss.backward()
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert loss._node is not None  # the output still holds its (released) node
    assert left < 0.01 * graph, f"{left} of {graph} bytes of graph left after backward"
