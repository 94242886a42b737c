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

When the profiled run's records are at hand (the usual case), the
workload is instead a replay of a sample of them: the same ops, operand
and output shapes and dtypes, devices, attributes and phases, through the
same dispatch paths, but on broadcast arrays that take no memory and with
kernels that return at once (a big kernel's run-to-run noise would drown
the microseconds measured, and the replay would cost as much as the run).
The cost measured there is then scaled by how much slower the very same
ops' dispatch ran in the profiled run than in the replay (their host
windows minus their kernels, trimmed means): a real run executes kernels
over big arrays and much other code between ops, which evicts the
dispatcher's and the hook's code and data from the caches, so a tight
replay loop (or a tiny workload) alone underestimates the cost.
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
_wall = time.perf_counter_ns   # budgets (BLAS may run on other threads)


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


# replay: at most this many sampled ops, in chunks of consecutive ops
# spread over the run (a chunk keeps an op mix such as a layer's); rounds
# up to about _REPLAY_NS of wall time in all
REPLAY_OPS = 256
REPLAY_CHUNK = 32
_ROUND_NS = 2_000_000        # repeat passes up to about this per round
_REPLAY_NS = 100_000_000     # more rounds while they fit in this
_SCALE_MIN, _SCALE_MAX = 0.5, 4.0   # bounds on the run/replay slowdown
_SIGNIFICANT = 3    # round difference over this many spreads: trusted


def replay_sample(n, limit=REPLAY_OPS, chunk=REPLAY_CHUNK):
    """Positions of the records to replay out of ``n``: all when few,
    else ``limit // chunk`` chunks of ``chunk`` consecutive ops, evenly
    spread (a stride could alias with a step's period)."""
    if n <= limit:
        return list(range(n))
    k = max(1, limit // chunk)
    gap = (n - chunk) / max(1, k - 1)
    starts = sorted({int(i * gap) for i in range(k)})
    return [p for s in starts for p in range(s, min(n, s + chunk))]


def _lean_functions():
    """op -> the engine's lean public function for it (``core.add``...)."""
    import core
    from core import _dispatch as D

    lean = {}
    for name in dir(core):
        f = getattr(core, name, None)
        op = getattr(f, "op", None)
        if isinstance(op, D.Op) and getattr(f, "__name__", "") == op.name:
            lean[op] = f
    return lean


def _filled(dev, shape, dtype):
    """A read-only array of ``shape`` and ``dtype`` on ``dev`` that takes
    no memory (one element, broadcast)."""
    import numpy as np

    a = np.zeros((), dtype=dtype)
    if dev.backend.name == "numpy":
        return np.broadcast_to(a, tuple(shape))
    return dev.xp.broadcast_to(dev.backend.from_host(a, dev.index),
                               tuple(shape))


def _stub_op(op, out):
    """A copy of registry entry ``op`` whose kernel returns ``out`` at once
    (on every backend): the dispatch, the events and the hook do all their
    work, the kernel none."""
    from core import _dispatch as D

    def make(xp):
        def kernel(*args, **kwargs):
            return out
        return kernel
    return D.Op(op.name, make, vjps=op.vjps, differentiable=op.differentiable,
                out_device=op.out_device, impure=op.impure)


def _replay_ops(specs, training=False):
    """A body replaying ``specs`` ((op name, device, operands, attrs,
    phase, window, output shape, output dtype), the operands as the
    collector describes them), or None when none of them can run;
    ``body.windows``: the windows of the ops it kept.

    Each op runs through the engine's dispatch as in the run (forward ops
    of a ``training`` run take tracked float operands, so they record graph
    nodes; backward ops run in the backward phase; ops the run called
    through a lean public function, with no attributes, are called through
    one), with the run's operand and output shapes and dtypes, but on
    broadcast arrays that take no memory and with a kernel that returns
    the output at once: the cost measured is the hooked dispatch's and
    the hook's, not the kernels' (whose run-to-run noise would drown it);
    :func:`calibrate` scales it by the run's own slowdown."""
    from core import _dispatch as D

    cache = {}

    def operand(dev, shape, dtype, tracked):
        key = (dev, tuple(shape), dtype, tracked)
        t = cache.get(key)
        if t is None:
            t = cache[key] = D._make(_filled(dev, shape, dtype), dev)
            t._rg = tracked and t._data.dtype.kind in "fc"
        return t

    lean = _lean_functions()
    stubs = {}
    calls = []
    for name, dev, operands, attrs, phase, window, oshape, odtype in specs:
        op = D.REGISTRY.get(name)
        if op is None:
            continue
        tracked = training and phase == "forward"
        try:
            args = []
            for a, dt, _ in operands:
                if dt is not None:
                    args.append(operand(dev, a, dt, tracked))
                elif type(a) is list:
                    args.append([operand(dev, sh, dt2, tracked)
                                 for sh, dt2, _ in a])
                else:
                    args.append(a)
            key = (op, dev, tuple(oshape), odtype)
            stub = stubs.get(key)
            if stub is None:
                stub = stubs[key] = _stub_op(op, _filled(dev, oshape, odtype))
        except Exception:
            continue
        fn = lean.get(op) if not attrs else None
        if fn is not None and fn.__code__.co_argcount == len(args):
            fn = D.unary(stub) if len(args) == 1 else D.binary(stub)
            calls.append((phase, fn, tuple(args), window))
        else:
            calls.append((phase, D.apply, (stub, tuple(args),
                                           dict(attrs) if attrs else None),
                          window))
    kept = []
    saved = D.phase, D.backward_site
    try:
        D.backward_site = D.user_site(1)
        for call in calls:
            D.phase = call[0]
            try:
                call[1](*call[2])
            except Exception:
                continue
            kept.append(call)
    finally:
        D.phase, D.backward_site = saved
    if not kept:
        return None
    windows = [c[3] for c in kept]
    kept = [c[:3] for c in kept]
    clock = _wall

    def body(n, mins=None):
        """``n`` passes; with ``mins``, each call's fastest time so far."""
        saved = D.phase, D.backward_site
        try:
            D.backward_site = D.user_site(1)
            for _ in range(n):
                if mins is None:
                    for phase, fn, args in kept:
                        D.phase = phase
                        fn(*args)
                    continue
                for i, (phase, fn, args) in enumerate(kept):
                    D.phase = phase
                    t0 = clock()
                    fn(*args)
                    t0 = clock() - t0
                    if t0 < mins[i]:
                        mins[i] = t0
        finally:
            D.phase, D.backward_site = saved
    t0 = _wall()
    body(1)
    body.pass_ns = max(1, _wall() - t0)
    body.ops = len(kept)
    body.windows = windows
    return body


def _measure(body, n, rounds, hook_factory, per_call=False):
    """Plain and hooked round times (ns, interleaved), the recorded raw
    buffers of the fastest hooked round, and with ``per_call`` (a replay
    body) each call's fastest plain and hooked time."""
    plain, hooked, bufs = [], [], None
    mins = ([float("inf")] * body.ops, [float("inf")] * body.ops) \
        if per_call else (None, None)

    def run(m):
        if per_call:
            body(n, m)
        else:
            body(n)
    body(max(1, n // 4))   # warm the kernels up
    for _ in range(rounds):
        t0 = _perf()
        run(mins[0])
        plain.append(_perf() - t0)
        hook, buf, counter = hook_factory()
        _D.hooks[:] = [hook]
        _D.refresh_hooks()
        t0 = _perf()
        run(mins[1])
        dt = _perf() - t0
        _D.hooks[:] = []
        _D.refresh_hooks()
        if not hooked or dt < min(hooked):
            bufs = (buf, counter)
        hooked.append(dt)
    return plain, hooked, bufs, mins


def _tmean(xs, trim=0.05):
    """Mean of ``xs`` without its largest ``trim`` share (a descheduled op
    is an outlier, not the typical cost)."""
    xs = sorted(xs)
    k = int(len(xs) * trim)
    xs = xs[:len(xs) - k] if k else xs
    return sum(xs) / len(xs) if xs else 0.0


def calibrate(device=None, sync=False, memory=False, detail=True, n=300,
              rounds=7, training=False, replay=None) -> Overhead:
    """Measure the profiler's per-op cost for ops on ``device``.

    ``replay``: (op name, device, operands, attrs, phase, window, output
    shape, output dtype) of a sample of the profiled run's ops (see
    :func:`replay_sample`), the window being the op's host window minus
    its kernel time in the run: the workload replays them (see
    :func:`_replay_ops`), and the cost measured is scaled by how much
    slower the same ops' dispatch ran in the run than in the replay (the
    run executes kernels and far more code between ops, which evicts the
    dispatcher's and the hook's code and data from the caches; the window,
    free of the kernel, measures that slowdown on the very ops).  Else
    ``training``
    uses the forward+backward workload (for runs with backward ops)
    instead of tiny forward ops.
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
        # as the profiler attaches it: a recording hook unless it tracks
        # live bytes
        return (_Hook(_make_after_op(buf, sync, live), True,
                      None if live is not None else buf), buf, counter)

    saved_hooks = list(_D.hooks)
    saved = (_D.scope, _D.phase, _D.forward_index, _D.grad_enabled)
    _D.hooks[:] = []
    _D.refresh_hooks()
    try:
        body = None
        if replay:
            _D.grad_enabled = training
            body = _replay_ops(replay, training)
        if body is not None:
            kind = f"replay of {body.ops} of the run's ops"
            n_iter = int(max(1, min(50, _ROUND_NS // body.pass_ns)))
            # as many rounds as fit in the budget (cheap passes: more)
            rounds = int(max(3, min(15, _REPLAY_NS // (
                2 * n_iter * body.pass_ns))))
        elif training:
            kind = "training step (forward + backward)"
            _D.grad_enabled = True
            body = _training_ops(dev)
            n_iter = max(1, n // 6)
        else:
            kind = "tiny forward ops"
            _D.grad_enabled = False
            body = _forward_ops(dev)
            n_iter = n
        plains, hookeds, (buf, counter), mins = _measure(
            body, n_iter, rounds, hook_factory,
            per_call=getattr(body, "windows", None) is not None)
        plain, hooked = min(plains), min(hookeds)
        if detail:
            ops = len(buf) // RAW_FIELDS
        else:
            ops = counter[0]
        for d in {dev, *(r[1] for r in replay or ())}:
            if d.backend.has_device_timer:
                d.synchronize()
    finally:
        _D.hooks[:] = saved_hooks
        _D.refresh_hooks()
        _D.scope, _D.phase, _D.forward_index, _D.grad_enabled = saved
    ops = max(1, ops)
    per_op = max(0.0, (hooked - plain) / ops)
    details = {"plain_round_ns": plain, "hooked_round_ns": hooked,
               "ops_per_round": ops, "rounds": rounds}
    how = "fastest hooked minus fastest plain round"
    if mins[0] is not None:
        # a busy machine: when round times vary by about what the hook
        # costs, each call's fastest hooked minus fastest plain time is
        # steadier (it misses a little: the loop, collections)
        spread = (statistics.median(plains) - plain) / ops
        call_ns = max(0.0, (sum(mins[1]) - sum(mins[0])) / body.ops)
        details.update(round_spread_ns=spread, per_call_ns=call_ns)
        if hooked - plain <= _SIGNIFICANT * spread * ops:
            per_op = call_ns
            how = ("per call: fastest hooked minus fastest plain (round "
                   "times too noisy)")
    in_op = 0.0
    if detail and buf:
        k = RAW_FIELDS
        idx = range(0, len(buf), k)
        dispatch = [buf[i + 7] - buf[i + 4] - (buf[i + 6] - buf[i + 5])
                    for i in idx]
        kern = sum(buf[i + 6] - buf[i + 5] for i in idx)
        # the hooked dispatch's extra work inside the op windows: their
        # time besides the kernels minus the plain round's time besides
        # the same kernels (the rest is charged to time between ops)
        in_op = min(per_op, max(0.0, (sum(dispatch) - (plain - kern)) / ops))
        details.update(dispatch_ns=sum(dispatch) / ops, kernel_ns=kern / ops)
        real = getattr(body, "windows", None)
        if real:
            rep = _tmean(dispatch)
            run_w = _tmean(real)
            scale = min(_SCALE_MAX, max(_SCALE_MIN, run_w / rep)) \
                if rep > 0 else 1.0
            per_op *= scale
            in_op *= scale
            details.update(run_dispatch_ns=run_w, replay_dispatch_ns=rep,
                           scale=scale)
            kind += (f", scaled x{scale:.2f} (dispatch time per op in the "
                     f"run / in the replay)")
    return Overhead(per_op_ns=per_op, in_op_ns=in_op,
                    method=f"calibrated on {dev}: {kind}, {rounds} rounds of "
                           f"{ops} ops, {how}",
                    details=tuple(sorted(details.items())))
