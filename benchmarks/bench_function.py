"""Eager vs ``core.function`` replay vs raw numpy.

What eager execution costs per op, and how much a traced, replayed graph
gets back.  Cases:

* a small MLP forward (32-64-64-10, batch 16) under ``no_grad``: replay
  calls raw kernels;
* the same forward with trainable variables and grad mode on: the call
  needs gradients, so the replay goes through the dispatch (tapes record)
  -- the price of correctness, shown honestly;
* a whole training step (tape inside the function, SGD by
  ``assign_sub``) with ``record="tape"``, against hand-written numpy
  forward+backward+update;
* a chain of 20 tiny elementwise ops on a (4,) tensor: pure overhead.

Each cell is the median over ``--repeats`` (>= 7) runs of ``--number``
calls, in microseconds per call of process CPU time by default (``--clock
wall`` for wall-clock time), measured round-robin.  Run::

    python benchmarks/bench_function.py [--repeats 9] [--number 2000]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("CORE_DEVICE", "cpu")

import core  # noqa: E402


def _medians_us(fns, number, repeats, clock=time.process_time_ns):
    """Median microseconds per call of each of ``fns``, measured
    round-robin (one batch of ``number`` calls each, per repeat) so that
    load from other processes hits every variant alike."""
    for fn in fns:
        for _ in range(max(10, number // 20)):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            t0 = clock()
            for _ in range(number):
                fn()
            out.append((clock() - t0) / number / 1e3)
    return [statistics.median(t) for t in times]


def _mlp_case():
    rng = np.random.default_rng(0)
    sizes = [(32, 64), (64, 64), (64, 10)]
    raw = [(rng.standard_normal(s).astype("float32") * 0.2,
            np.zeros(s[1], "float32")) for s in sizes]
    params = [(core.Variable(w), core.Variable(b)) for w, b in raw]
    x_np = rng.standard_normal((16, 32)).astype("float32")
    x = core.tensor(x_np)

    def eager(x):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = core.relu(h)
        return h

    def numpy_fwd(x):
        h = x
        for i, (w, b) in enumerate(raw):
            h = h @ w + b
            if i < len(raw) - 1:
                h = np.maximum(h, 0)
        return h

    fn = core.function(eager)
    for grad_mode in (core.no_grad, core.enable_grad):   # one trace each
        with grad_mode():
            for arg in (x, core.tensor(x_np)):   # trace, then validate
                np.testing.assert_allclose(fn(arg).numpy(), numpy_fwd(x_np),
                                           rtol=1e-5, atol=1e-5)
    n_ops = len(fn.concrete_functions[0].graph.ops)
    return eager, fn, numpy_fwd, x, x_np, n_ops


def _train_case(lr=1e-3):
    rng = np.random.default_rng(1)
    sizes = [(32, 64), (64, 64), (64, 10)]
    init = []
    for s in sizes:
        init += [rng.standard_normal(s).astype("float32") * 0.2,
                 np.zeros(s[1], "float32")]
    x_np = rng.standard_normal((16, 32)).astype("float32")
    y_np = rng.standard_normal((16, 10)).astype("float32")

    def make_core_step():
        params = [core.Variable(a.copy()) for a in init]

        def step(x, y):
            with core.GradientTape() as tape:
                h = x
                for i in range(0, 6, 2):
                    h = h @ params[i] + params[i + 1]
                    if i < 4:
                        h = core.relu(h)
                loss = core.mean((h - y) ** 2)
            grads = tape.gradient(loss, params)
            for v, g in zip(params, grads):
                v.assign_sub(g * lr)
            return loss
        return step

    p = [a.copy() for a in init]

    def numpy_step(x, y):
        w1, b1, w2, b2, w3, b3 = p
        z1 = x @ w1 + b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ w2 + b2
        h2 = np.maximum(z2, 0)
        d = h2 @ w3 + b3 - y
        loss = (d * d).mean()
        g = d * (2.0 / d.size)
        gz2 = (g @ w3.T) * (z2 > 0)
        gz1 = (gz2 @ w2.T) * (z1 > 0)
        for v, gv in zip(p, (x.T @ gz1, gz1.sum(0), h1.T @ gz2, gz2.sum(0),
                             h2.T @ g, g.sum(0))):
            v -= lr * gv
        return loss

    eager = make_core_step()
    fn = core.function(make_core_step(), record="tape")
    x, y = core.tensor(x_np), core.tensor(y_np)
    for i in range(3):      # same start, same updates: same losses
        want = numpy_step(x_np, y_np)
        np.testing.assert_allclose(eager(x, y).item(), want, rtol=1e-4)
        args = (x, y) if i != 1 else (core.tensor(x_np), core.tensor(y_np))
        np.testing.assert_allclose(fn(*args).item(), want, rtol=1e-4)
    cf = fn.concrete_functions[0]
    assert cf._pending is None and not cf._eager    # validated, replaying
    n_ops = len(fn.concrete_functions[0].graph.ops)
    return eager, fn, numpy_step, (x, y), (x_np, y_np), n_ops


def _chain_case():
    def chain(x):
        for i in range(10):
            x = x * 1.001
            x = x + 0.5
        return x

    x_np = np.linspace(-1, 1, 4).astype("float32")
    x = core.tensor(x_np)
    fn = core.function(chain)
    for arg in (x, core.tensor(x_np)):       # trace, then validate once
        np.testing.assert_allclose(fn(arg).numpy(), chain(x_np), rtol=1e-6)
    return chain, fn, chain, x, x_np, len(fn.concrete_functions[0].graph.ops)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--number", type=int, default=2000)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="cpu: this process's CPU time (robust on a shared, "
                    "loaded machine; the default); wall: perf_counter")
    args = ap.parse_args(argv)
    clock = time.process_time_ns if args.clock == "cpu" else \
        time.perf_counter_ns
    global _medians_us
    _medians_us = functools.partial(_medians_us, clock=clock)
    if args.repeats < 7:
        ap.error("--repeats must be >= 7 (the table reports medians)")
    n, r = args.number, args.repeats
    rows = []

    eager, fn, ref, x, x_np, ops = _mlp_case()
    with core.no_grad():
        rows.append((f"MLP forward, no_grad ({ops} ops)", *_medians_us(
            [lambda: ref(x_np), lambda: eager(x), lambda: fn(x)], n, r)))
    rows.append((f"MLP forward, recording ({ops} ops, via dispatch)",
                 *_medians_us([lambda: ref(x_np), lambda: eager(x),
                               lambda: fn(x)], n, r)))
    eager, fn, ref, xy, xy_np, ops = _train_case()
    rows.append((f"MLP train step, record='tape' ({ops} ops)", *_medians_us(
        [lambda: ref(*xy_np), lambda: eager(*xy), lambda: fn(*xy)],
        max(1, n // 4), r)))
    eager, fn, ref, x, x_np, ops = _chain_case()
    rows.append((f"chain of {ops} tiny elementwise ops", *_medians_us(
        [lambda: ref(x_np), lambda: eager(x), lambda: fn(x)], n, r)))

    head = (f"{'case':<48} {'numpy us':>9} {'eager us':>9} {'func us':>9} "
            f"{'eager/np':>9} {'func/np':>8} {'eager/func':>10}")
    print(f"core.function benchmark: median of {r} x {n} calls "
          f"({args.clock} time), numpy {np.__version__}, "
          f"python {sys.version.split()[0]}")
    print(head)
    print("-" * len(head))
    for name, t_np, t_eager, t_fn in rows:
        print(f"{name:<48} {t_np:9.2f} {t_eager:9.2f} {t_fn:9.2f} "
              f"{t_eager / t_np:9.2f} {t_fn / t_np:8.2f} "
              f"{t_eager / t_fn:10.2f}")


if __name__ == "__main__":
    main()
