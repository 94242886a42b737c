"""Checking a graph once against the Python function it was traced from.

A trace cannot see values that leave the engine: raw ``._data`` math,
``.numpy()``/``.item()`` (e.g. a loss's VJP building a one-hot matrix from
the labels' raw array) become constants frozen at their traced values.
So the first replay whose tensor arguments are not the very objects seen
while tracing is *validated*: the function runs eagerly, variables and the
random generator are rewound, the graph replays, and both results (outputs
and variables) are compared.  On a mismatch the eager world is kept and
the signature runs eagerly from then on, with a warning that says why.
"""

from __future__ import annotations

import warnings

import numpy as np

from core import random as _random
from core.graph import VARIABLE
from core.tensor import Tensor


def _host(t):
    return np.asarray(t.numpy())


def _same(a, b) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True))
    return bool(np.array_equal(a, b))


def _differs(eager, replay, flatten):
    """A short description of the first difference, or None."""
    e_leaves, r_leaves = [], []
    if flatten(eager, e_leaves) != flatten(replay, r_leaves) \
            or len(e_leaves) != len(r_leaves):
        return "the outputs have a different structure"
    for i, (e, r) in enumerate(zip(e_leaves, r_leaves)):
        if isinstance(e, Tensor) and isinstance(r, Tensor):
            if not _same(_host(e), _host(r)):
                return f"output {i} differs"
        elif isinstance(e, Tensor) or isinstance(r, Tensor):
            return f"output {i} differs"
        else:
            try:
                equal = bool(e == r)
            except Exception:
                equal = e is r
            if not equal:
                return f"output {i} (a Python value: {e!r} vs {r!r}) differs"
    return None


def validate(cf, args, kwargs, leaves, replay_call, flatten):
    """Run ``cf``'s function eagerly and its graph, compare, keep one."""
    g = cf.graph
    variables = [g.objs[s] for s, k in enumerate(g.kinds) if k == VARIABLE]
    before = [v._data.copy() for v in variables]
    gen0 = _random.generator()
    state0 = gen0.bit_generator.state
    eager = cf.function.python_function(*args, **kwargs)
    gen1 = _random.generator()
    state1 = gen1.bit_generator.state
    after = [v._data.copy() for v in variables]
    for v, b in zip(variables, before):
        v._data[...] = b
    _random._gen = gen0
    gen0.bit_generator.state = state0
    got = replay_call(args, kwargs, leaves)
    problem = _differs(eager, got, flatten)
    if problem is None:
        for v, a in zip(variables, after):
            if not _same(_host(v), np.asarray(
                    v._device.backend.to_host(a))):
                problem = f"variable {v.name or '?'} differs"
                break
    if problem is None:
        return got
    for v, a in zip(variables, after):
        v._data[...] = a
    _random._gen = gen1
    gen1.bit_generator.state = state1
    g.eager_reason = (
        f"replaying its graph gave other results than running it "
        f"({problem}): a value left the engine while tracing (raw ._data, "
        f".numpy() or .item() math, e.g. inside a loss or its gradient) and "
        f"was frozen into the graph")
    cf._eager = True
    warnings.warn(f"core.function({g.name}): {g.eager_reason}; it runs "
                  "eagerly for this signature", RuntimeWarning, stacklevel=4)
    return eager
