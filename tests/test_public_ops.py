"""Every public differentiable function has a gradient test: a registry over ``micrograd_nd``'s
public names, like the primitive table's, so a new op without one fails the suite.

Each entry is a function of float64 arrays (built on the public op) and inputs away from kinks;
its whole Jacobian is checked against central differences, first and second order.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pytest

import micrograd_nd as mg

RNG = np.random.default_rng(7)
M = RNG.uniform(0.5, 1.5, (3, 4))          # positive, away from 0
S = RNG.uniform(-2.0, 2.0, (3, 4))          # signed, no element within 0.05 of 0
S[np.abs(S) < 0.05] = 0.3
P = RNG.uniform(0.1, 0.9, (3, 4))           # probabilities
V = RNG.uniform(0.5, 1.5, (4,))
LABELS = np.array([0, 3, 1])
W = RNG.normal(size=(2, 4))
B = RNG.normal(size=(2,))

# name → (function of tensors, inputs to differentiate)
GRADIENT_CASES: dict[str, tuple[Callable[..., mg.Tensor], list[np.ndarray]]] = {
    "abs": (mg.abs, [S]),
    "add": (lambda a, b: mg.add(a, b), [M, V]),
    # multiples of 1/8 and eps = 2⁻⁷: the float32 round trip is exact, so are the differences
    "astype": (lambda a: mg.astype(a, np.float32) * 1.0, [np.arange(12.0).reshape(3, 4) / 8]),
    "binary_cross_entropy": (lambda p: mg.binary_cross_entropy(p, P[::-1].copy()), [P]),
    "binary_cross_entropy_with_logits":
        (lambda x: mg.binary_cross_entropy_with_logits(x, P), [S]),
    "broadcast_to": (lambda v: mg.broadcast_to(v, (3, 4)) * M, [V]),
    "clamp": (lambda a: mg.clamp(a, -1.0, 1.0), [S]),
    "clip": (lambda a: mg.clip(a, min=-1.0), [S]),
    "concatenate": (lambda a, b: mg.concatenate([a, b], axis=1), [M, S]),
    "cos": (mg.cos, [S]),
    "cross_entropy": (lambda z: mg.cross_entropy(z, LABELS), [S]),
    "divide": (mg.divide, [S, M]),
    "dot": (mg.dot, [M, V]),
    "einsum": (lambda a, b: mg.einsum("ij,kj->ik", a, b), [M, S]),
    "erf": (mg.erf, [S]),
    "exp": (mg.exp, [S]),
    "expand_dims": (lambda a: mg.expand_dims(a, 1) * 2.0, [M]),
    "expm1": (mg.expm1, [S]),
    "flatten": (lambda a: mg.flatten(a) * np.arange(12.0), [M]),
    "l2_penalty": (lambda a, b: mg.l2_penalty([a, b], 0.3), [M, V]),
    "linear": (mg.linear, [M, W, B]),
    "log": (mg.log, [M]),
    "log1p": (mg.log1p, [M]),
    "log2": (mg.log2, [M]),
    "log10": (mg.log10, [M]),
    "exp2": (mg.exp2, [S]),
    "log_softmax": (lambda a: mg.log_softmax(a, axis=0), [S]),
    "logsumexp": (mg.logsumexp, [S]),
    "matmul": (mg.matmul, [M, S.T.copy()]),
    "max": (lambda a: mg.max(a, axis=1), [S]),
    "maximum": (mg.maximum, [S, S[::-1].copy() + 0.01]),
    "mean": (lambda a: mg.mean(a, axis=(0, 1)), [S]),
    "min": (lambda a: mg.min(a, axis=0), [S]),
    "minimum": (mg.minimum, [S, S[::-1].copy() + 0.01]),
    "moveaxis": (lambda a: mg.moveaxis(a, 0, 1) * S.T, [M]),
    "mse_loss": (mg.mse_loss, [M, S]),
    "multiply": (mg.multiply, [M, S]),
    "negative": (mg.negative, [S]),
    "norm": (lambda a: mg.norm(a, axis=1), [S]),
    "outer": (mg.outer, [V, M[0].copy()]),
    "permute": (lambda a: mg.permute(a, (1, 0)) * S.T, [M]),
    "power": (mg.power, [M, S]),
    "relu": (mg.relu, [S]),
    "remainder": (mg.remainder, [S * 3.1, M]),
    "reshape": (lambda a: mg.reshape(a, (2, 6)) * np.arange(12.0).reshape(2, 6), [M]),
    "sigmoid": (mg.sigmoid, [S]),
    "sin": (mg.sin, [S]),
    "softmax": (mg.softmax, [S]),
    "sqrt": (mg.sqrt, [M]),
    "square": (mg.square, [S]),
    "square_loss": (mg.square_loss, [M, S]),
    "squeeze": (lambda a: mg.squeeze(mg.reshape(a, (3, 1, 4))) * S, [M]),
    "stack": (lambda a, b: mg.stack([a, b], axis=2), [M, S]),
    "subtract": (mg.subtract, [M, S]),
    "sum": (lambda a: mg.sum(a, axis=0), [S]),
    "swapaxes": (lambda a: mg.swapaxes(a, 0, 1) * S.T, [M]),
    "std": (lambda a: mg.std(a, axis=1), [S]),
    "tanh": (mg.tanh, [S]),
    "transpose": (lambda a: mg.transpose(a) * S.T, [M]),
    "unsqueeze": (lambda a: mg.unsqueeze(a, 0) * 3.0, [M]),
    "var": (lambda a: mg.var(a, axis=0, correction=0), [S]),
    "where": (lambda a, b: mg.where(S > 0, a, b), [M, S]),
}

# Public callables that are not differentiable functions of tensors, with the reason.
NOT_DIFFERENTIABLE = {
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",  # bool results
    "argmax", "argmin", "floor_divide", "round", "bitwise_and", "bitwise_or", "bitwise_xor",
    "invert",  # integer, bool or piecewise-constant results
    "tensor", "Tensor", "zeros", "ones", "full", "arange", "linspace", "eye", "rand", "randn",
    "zeros_like", "ones_like",  # constructors
    "manual_seed", "get_rng_state", "set_rng_state",  # random state
    "grad", "gradcheck", "gradgradcheck", "compile",  # the machinery (tested on its own)
    "custom_op", "to_dot", "compare_manual",  # op factory, drawing, checker: tested on their own
    "is_grad_enabled", "is_anomaly_enabled", "get_default_dtype", "set_default_dtype",
}
EPS = {"astype": 2.0 ** -7}


def _public_functions() -> set[str]:
    names = set()
    for name in mg.__all__:
        value = getattr(mg, name)
        if inspect.isroutine(value) or (callable(value) and not inspect.isclass(value)):
            names.add(name)
    return names - {n for n in mg.__all__ if inspect.ismodule(getattr(mg, n))}


def test_every_public_function_has_a_gradient_case_or_a_reason_not_to():
    public = _public_functions()
    missing = sorted(public - set(GRADIENT_CASES) - NOT_DIFFERENTIABLE)
    assert not missing, f"public functions without a gradient test in {__file__}: {missing}"
    stale = sorted((set(GRADIENT_CASES) | NOT_DIFFERENTIABLE) - public - {"Tensor"})
    assert not stale, f"cases for names micrograd_nd does not export: {stale}"


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_public_function_gradient_matches_central_differences(name):
    function, inputs = GRADIENT_CASES[name]
    mg.gradcheck(function, inputs, eps=EPS.get(name, 1e-6), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_public_function_second_derivatives_match_central_differences(name):
    function, inputs = GRADIENT_CASES[name]
    mg.gradgradcheck(function, inputs, eps=EPS.get(name, 1e-6), atol=1e-5, rtol=1e-4)
