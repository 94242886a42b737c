"""Self-measurement: what the profiler costs per op on this machine.

Runs a small workload with no hooks and with the profiler's own hook,
interleaved, and takes the difference of the fastest rounds per recorded
op.  Two workloads: tiny forward ops (a binary, a unary and a reduction
with an attribute), and a tiny training step (forward through a
``GradientTape`` and its backward pass) for runs that differentiate: with
a hook attached the engine shows every backward op to it, so the cost per
op differs.  It also splits the cost into the part inside an op's host
window (charged to per-op host times) and the part between ops, so
aggregates can subtract both.  Other hooks that are registered (a debugger,
say) are set aside while it runs, so they never see the calibration ops.
"""

from __future__ import annotations

import statistics
import time

from core import _dispatch as _D
from profilers.records import Overhead

# CPU time of this thread: rounds are not charged for time other processes
# took the core (the machines we run on are shared); per op, the cost is
# CPU work on this thread either way.
_perf = time.thread_time_ns


def _forward_ops(dev):
    import core

    with core.device(dev):
        a = core.ones((4,))
        b = core.ones((4,))
    add, exp, sum_ = core.add, core.exp, core.sum

    def body(n):
        for _ in range(n):
            add(a, b)
            exp(a)
            sum_(a, axis=0)
    return body


def _training_ops(dev):
    import core

    with core.device(dev):
        x = core.ones((4, 4))
        w = core.Variable(core.ones((4, 4)) * 0.5)
        b = core.Variable(core.ones((4,)) * 0.1)
    tape_cls, tanh, sum_ = core.GradientTape, core.tanh, core.sum

    def body(n):
        for _ in range(n):
            with tape_cls() as tape:
                y = tanh(x @ w + b)
                loss = sum_(y * y)
            tape.gradient(loss, [w, b])
    return body


def _measure(body, n, rounds, hook_factory):
    """Fastest plain and hooked round (ns), ops per hooked round, and the
    recorded raw buffers of the last hooked round."""
    plain, hooked, bufs = [], [], None
    body(max(1, n // 4))   # warm the kernels up
    for _ in range(rounds):
        t0 = _perf()
        body(n)
        plain.append(_perf() - t0)
        hook, buf, counter = hook_factory()
        _D.hooks[:] = [hook]
        _D.refresh_hooks()
        t0 = _perf()
        body(n)
        hooked.append(_perf() - t0)
        _D.hooks[:] = []
        _D.refresh_hooks()
        bufs = (buf, counter)
    return min(plain), min(hooked), bufs


def calibrate(device=None, sync=False, memory=False, detail=True, n=300,
              rounds=7, training=False) -> Overhead:
    """Measure the profiler's per-op cost for ops on ``device``.

    ``training``: use the forward+backward workload (for runs with
    backward ops) instead of tiny forward ops.
    """
    from profilers.collector import (
        RAW_FIELDS, _Hook, _make_after_op, _make_counter_op,
    )

    import core

    dev = device if device is not None else core.devices.CPU

    def hook_factory():
        buf = []
        counter = [0, 0]
        if not detail:
            return _Hook(_make_counter_op(counter), False), buf, counter
        live = None
        if memory:
            sizes = {}
            st = [0, None, sizes, []]

            def on_free(ref, st=st, sizes=sizes):
                item = sizes.pop(id(ref), None)
                if item is not None:
                    st[0] -= item[1]
            st[1] = on_free
            live = st
        return (_Hook(_make_after_op(buf, [], sync, live), True), buf, counter)

    saved_hooks = list(_D.hooks)
    saved = (_D.scope, _D.phase, _D.forward_index, _D.grad_enabled)
    _D.hooks[:] = []
    _D.refresh_hooks()
    try:
        if training:
            _D.grad_enabled = True
            body = _training_ops(dev)
            n_iter = max(1, n // 6)
        else:
            _D.grad_enabled = False
            body = _forward_ops(dev)
            n_iter = n
        plain, hooked, (buf, counter) = _measure(
            body, n_iter, rounds, hook_factory)
        if detail:
            ops = len(buf) // RAW_FIELDS
        else:
            ops = counter[0]
        if dev.backend.has_device_timer:
            dev.synchronize()
    finally:
        _D.hooks[:] = saved_hooks
        _D.refresh_hooks()
        _D.scope, _D.phase, _D.forward_index, _D.grad_enabled = saved
    ops = max(1, ops)
    per_op = max(0.0, (hooked - plain) / ops)
    details = {"plain_round_ns": plain, "hooked_round_ns": hooked,
               "ops_per_round": ops, "rounds": rounds}
    in_op = 0.0
    if detail and buf:
        k = RAW_FIELDS
        # medians: host windows are wall-clock, and a descheduled op is an
        # outlier, not the typical cost
        w = statistics.median(buf[i + 7] - buf[i + 4]
                              for i in range(0, len(buf), k))
        kern = statistics.median(buf[i + 6] - buf[i + 5]
                                 for i in range(0, len(buf), k))
        # the hooked dispatch's extra work inside the op window: the window
        # minus the kernel minus all the plain path's own work besides the
        # kernel (a lower bound: the rest is charged to time between ops)
        plain_per_op = plain / ops
        in_op = min(per_op, max(0.0, (w - kern) - max(0.0, plain_per_op - kern)))
        details.update(window_ns=w, kernel_ns=kern)
    kind = "training step (forward + backward)" if training else "tiny forward ops"
    return Overhead(per_op_ns=per_op, in_op_ns=in_op,
                    method=f"calibrated on {dev}: {kind}, {rounds} rounds of "
                           f"{ops} ops, fastest hooked minus fastest plain",
                    details=tuple(sorted(details.items())))
