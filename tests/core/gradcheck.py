"""One-line numerical gradient checks (central differences, float64).

``check_grads(f, *arrays, order=2)`` compares the tape's gradient of
``sum(f(*xs) * v)`` (a fixed random ``v``) with central differences, then
does the same for the gradient function itself (Hessian-vector products)
up to ``order``.  ``ops_run(f, *arrays)`` names the ops a call records,
so a test can prove that the op it claims to cover really ran.
"""

from __future__ import annotations

import numpy as np

import core

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-6


def _t(a):
    return core.tensor(np.asarray(a, dtype=np.float64))


def _scalar(f, v):
    """x -> sum(f(x) * v) as a function of tensors."""
    def s(*xs):
        y = f(*xs)
        if v is None:
            return y
        return core.sum(core.mul(y, _t(v)))
    return s


def _numeric(fs, arrays):
    grads = []
    # no no_grad() here: a gradient function records its own inner tape
    if True:
        for i, a in enumerate(arrays):
            g = np.zeros_like(a)
            flat = a.reshape(-1)
            for j in range(flat.size):
                old = flat[j]
                flat[j] = old + EPS
                hi = fs(*[_t(b) for b in arrays]).item()
                flat[j] = old - EPS
                lo = fs(*[_t(b) for b in arrays]).item()
                flat[j] = old
                g.reshape(-1)[j] = (hi - lo) / (2 * EPS)
            grads.append(g)
    return grads


def _analytic(fs, arrays):
    xs = [_t(a) for a in arrays]
    with core.GradientTape() as tape:
        tape.watch(xs)
        out = fs(*xs)
    gs = tape.gradient(out, xs, unconnected_gradients="zero")
    return [g.numpy() for g in gs]


def _grad_fn(fs, shapes, rng):
    """x -> sum_i <d fs / d x_i, u_i>: differentiable when recorded."""
    us = [rng.standard_normal(s) for s in shapes]

    def h(*xs):
        with core.GradientTape() as tape:
            tape.watch(list(xs))
            out = fs(*xs)
        gs = tape.gradient(out, list(xs), unconnected_gradients="zero")
        total = None
        for g, u in zip(gs, us):
            term = core.sum(core.mul(g, _t(u)))
            total = term if total is None else core.add(total, term)
        return total
    return h


def check_grads(f, *arrays, order=2, rtol=RTOL, atol=ATOL, seed=0):
    """Assert the gradients of ``f`` (tensors -> tensor) match central
    differences at ``arrays`` (float64), to ``order`` (1 or 2)."""
    rng = np.random.default_rng(seed)
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    with core.no_grad():
        y = f(*[_t(a) for a in arrays])
    v = rng.standard_normal(y.shape)
    fs = _scalar(f, v)
    for k in range(order):
        num = _numeric(fs, arrays)
        ana = _analytic(fs, arrays)
        for i, (n, a) in enumerate(zip(num, ana)):
            np.testing.assert_allclose(
                a, n, rtol=rtol, atol=atol,
                err_msg=f"order {k + 1} gradient wrt argument {i}")
        if k + 1 < order:
            fs = _grad_fn(fs, [a.shape for a in arrays], rng)


class _Recorder:
    def __init__(self):
        self.names = set()

    def after_op(self, ev):
        self.names.add(ev.name)


def ops_run(f, *arrays, order=2):
    """Names of the ops that run while ``f`` is differentiated to
    ``order`` (forward, gradient, gradient of the gradient)."""
    rec = _Recorder()
    xs = [_t(a) for a in arrays]
    with core.hooks.attached(rec):
        with core.GradientTape() as outer:
            outer.watch(xs)
            with core.GradientTape() as tape:
                tape.watch(xs)
                y = f(*xs)
            gs = tape.gradient(y, xs, output_gradients=core.ones_like(y),
                               unconnected_gradients="zero")
            total = None
            if order > 1:
                for g in gs:
                    term = core.sum(g)
                    total = term if total is None else core.add(total, term)
        if total is not None and total._rg:
            outer.gradient(total, xs)
    return rec.names
