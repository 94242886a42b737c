"""Shared helpers for the training-stack tests (numerical gradient checks),
plus tests of the helpers themselves."""

from __future__ import annotations

import numpy as np
import pytest

import core


def numeric_grad(f, arr, eps=1e-6, max_points=24, rng=None):
    """Central differences of scalar ``f()`` w.r.t. entries of ``arr``
    (modified in place and restored); returns (flat indices, grads)."""
    rng = rng or np.random.default_rng(0)
    flat = arr.reshape(-1)
    n = flat.size
    idx = np.arange(n) if n <= max_points else rng.choice(n, max_points,
                                                          replace=False)
    out = []
    for i in idx:
        old = flat[i]
        flat[i] = old + eps
        hi = float(f().item())
        flat[i] = old - eps
        lo = float(f().item())
        flat[i] = old
        out.append((hi - lo) / (2 * eps))
    return idx, np.array(out)


def check_grads(f, params, rtol=1e-5, atol=1e-7):
    """Compare ``tape.gradient(f(), params)`` with central differences.

    ``params`` are float64 Variables (or tensors, watched); ``f`` builds
    the scalar from them.  Fails with the parameter's index on mismatch.
    """
    with core.GradientTape() as tape:
        tape.watch(params)
        y = f()
    grads = tape.gradient(y, params)
    for k, (p, g) in enumerate(zip(params, grads)):
        assert p.dtype == np.float64, "check gradients in float64"
        assert g is not None, f"param {k} ({getattr(p, 'name', '')}) got no gradient"
        assert g.shape == p.shape
        idx, num = numeric_grad(f, p._data)
        ana = g.numpy().reshape(-1)[idx]
        np.testing.assert_allclose(
            ana, num, rtol=rtol, atol=atol,
            err_msg=f"gradient of param {k} ({getattr(p, 'name', '')})")


def projection(shape, seed=1):
    """A fixed random float64 array to turn an output into a scalar."""
    return np.random.default_rng(seed).standard_normal(shape)


def test_check_grads_catches_a_wrong_gradient():
    w = core.Variable(np.array([1.0, 2.0, 3.0]), dtype="float64")

    @core.custom_gradient
    def wrong(x):
        return x * x, lambda g: g * 3.0     # true gradient is 2x

    with pytest.raises(AssertionError):
        check_grads(lambda: core.sum(wrong(w)), [w])
    check_grads(lambda: core.sum(w * w), [w])
