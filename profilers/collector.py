"""Collection: the op hook, step windows, always-on counters.

The per-op hook is deliberately lean: ``after_op`` extends one flat list
once per op with raw fields (the event's fields by plain attribute loads,
the output's and the first two operands' shapes and dtypes; no strings, no
records, no per-op containers the garbage collector would keep tracking
on the common path, nothing of the op held but Variables).  Frozen
:class:`OpRecord` s are built lazily once, after :meth:`Profiler.stop`.
GPU time is read only from device timer events (CUDA events on the current
stream, or the simulated GPU's): finished ones at each ``step()`` without a
synchronize, the rest after a single synchronize per device at stop; never
a synchronize per op unless ``sync=True``.
"""

from __future__ import annotations

import math
import threading
import time
import weakref

from core import _record
from core import devices as _devices
from core import hooks as _hooks
from core._event import site_location

from profilers.records import (
    OpRecord, Overhead, ProfileRun, safe_attr_value,
)

_perf_ns = time.perf_counter_ns


# ------------------------------------------------------------- schedule --


class Schedule:
    """Which steps to record, as torch.profiler's ``schedule``.

    Steps ``[0, skip_first)`` are skipped, then each cycle has ``wait``
    steps off, ``warmup`` steps recorded and discarded, ``active`` steps
    kept; ``repeat`` cycles (0: forever).  Advance with ``Profiler.step()``.
    """

    __slots__ = ("wait", "warmup", "active", "repeat", "skip_first")

    def __init__(self, wait=0, warmup=0, active=1, repeat=1, skip_first=0):
        if active < 1 or min(wait, warmup, repeat, skip_first) < 0:
            raise ValueError("schedule: active >= 1 and wait/warmup/repeat/"
                             "skip_first >= 0")
        self.wait, self.warmup, self.active = wait, warmup, active
        self.repeat, self.skip_first = repeat, skip_first

    def state(self, step: int) -> str:
        """"off", "warmup" or "active" for step number ``step``."""
        if step < self.skip_first:
            return "off"
        s = step - self.skip_first
        cycle = self.wait + self.warmup + self.active
        if self.repeat and s >= cycle * self.repeat:
            return "off"
        s %= cycle
        if s < self.wait:
            return "off"
        if s < self.wait + self.warmup:
            return "warmup"
        return "active"


def schedule(wait=0, warmup=0, active=1, repeat=1, skip_first=0) -> Schedule:
    return Schedule(wait, warmup, active, repeat, skip_first)


# ---------------------------------------------------------------- hooks --


class _Hook:
    """A bare hook object whose ``after_op`` is a plain closure (cheapest
    call the dispatcher can make).  With ``record_into`` (the buffer) it is
    a recording hook: the engine writes host ops' records into the buffer
    itself, and ``after_op`` sees only device ops."""

    __slots__ = ("after_op", "wants_device_time", "record_into", "__weakref__")

    def __init__(self, after_op, wants_device_time, record_into=None):
        self.after_op = after_op
        self.wants_device_time = wants_device_time
        self.record_into = record_into


# One op is ``RAW_FIELDS`` values appended flat to the buffer by a single
# ``extend``, in the engine's lean record layout (``core._record``): the
# event's fields, the output's shape and dtype, the operands, ``grads``.
# On the host the engine writes them itself (the profiler is a recording
# hook); device ops, whose timer events need reading, come through
# ``after_op``, which writes the same layout.
RAW_FIELDS = len(_record.FIELDS)
_N_HEAD = _record.FIELDS.index("out_dtype") + 1   # event fields + output's
_EV_I = _record.FIELDS.index("events")
_DT_I = _record.FIELDS.index("device_time_ns")
_DEV_I = _record.FIELDS.index("device")
_ATTRS_I = _record.FIELDS.index("attrs")
_EXTRA_I = _record.FIELDS.index("extra")
_GRADS_I = _record.FIELDS.index("grads")
_DTYPE_NAMES = {}   # numpy dtype -> name (str(dtype) costs microseconds)


def _dtype_name(dt):
    name = _DTYPE_NAMES.get(dt)
    if name is None:
        name = _DTYPE_NAMES[dt] = dt.name
    return name


def _var_label(v):
    if v is None:
        return None
    return f"{getattr(v, '_name', None) or 'variable'}#{id(v)}"


def _operands(r):
    """The operand descriptions of raw record ``r`` (see ``RAW_FIELDS``)."""
    extra = r[_EXTRA_I]
    if extra is not None:
        return extra
    k = _N_HEAD
    if r[k + 1] is None:
        return ()
    if r[k + 4] is None:
        return (r[k:k + 3],)
    return (r[k:k + 3], r[k + 3:k + 6])


def _make_after_op(buf, sync=False, live=None):
    """The per-op closure for the ops the engine does not record itself
    (device ops, and every op while live bytes are tracked or another hook
    is attached): ``RAW_FIELDS`` raw values appended flat to ``buf`` by one
    ``extend``, in the engine's layout (``core._record``).

    Nothing of the op is held (holding outputs even a few ops longer made
    the allocator map fresh pages for every large temporary) besides the
    Variables among the operands (alive anyway), and nothing new stays
    tracked by the garbage collector: flat lists of atoms.
    """
    ext = buf.extend
    operands = _record.operands
    cpu = _devices.CPU      # the host: never a device timer

    def after_op(ev):
        dev = ev.device
        if dev is cpu:          # no device timer: skip two slow lookups
            evs = dev_t = None
        else:
            if sync and ev._events is not None:
                dev.synchronize()
                ev.resolve_device_time(block=True)
            evs = ev._events
            dev_t = ev.device_time_ns
        o = ev.outputs[0]._data
        ext((ev.index, ev.name, ev.phase, ev.forward_index,
             ev.start_ns, ev.kernel_start_ns, ev.kernel_end_ns,
             ev.end_ns, dev, ev._code, ev._lasti, ev.scope,
             ev.attrs, evs, dev_t, o.shape, o.dtype) +
            operands(ev.inputs) + (None,))

    if live is None:
        return after_op
    record = after_op
    on_free = live[1]
    live_sizes = live[2]
    live_log = live[3]

    def after_op_live(ev):
        record(ev)
        out = ev.outputs[0]
        ref = weakref.ref(out, on_free)
        nb = out._data.nbytes
        live_sizes[id(ref)] = (ref, nb)
        live[0] += nb
        live_log.append((ev.end_ns, live[0]))
    return after_op_live


def _make_counter_op(c):
    def after_op(ev):
        c[0] += 1
        c[1] += ev.end_ns - ev.start_ns
    return after_op


class Counters:
    """Cheap always-on counters: op count and host time in ops.

    ``with core.hooks.attached(Counters()) as c: ...; c.ops, c.op_ns``.
    """

    wants_device_time = False

    def __init__(self):
        self._c = [0, 0]
        self.after_op = _make_counter_op(self._c)

    @property
    def ops(self) -> int:
        return self._c[0]

    @property
    def op_ns(self) -> int:
        return self._c[1]

    def reset(self):
        self._c[0] = self._c[1] = 0

    def as_tuple(self):
        return (("ops", self._c[0]), ("op_ns", self._c[1]))


# ------------------------------------------------------------- profiler --


class Profiler:
    """Collects per-op records while active.

    ``with Profiler() as prof: train()`` or ``prof.start(); ...;
    prof.stop()``; then ``prof.run`` (a frozen :class:`ProfileRun`) and
    ``prof.report()``.  Options: ``sync=True`` synchronizes the device
    after every op (honest per-op GPU time at the cost of overlap);
    ``schedule=schedule(wait, warmup, active)`` with ``prof.step()`` once
    per training step records a window of steps; ``memory=True`` tracks
    live tensor bytes (for the trace's counter track); ``detail=False``
    keeps only the cheap counters; ``calibrate=False`` skips measuring
    the profiler's own cost.
    """

    def __init__(self, sync=False, schedule=None, memory=False, detail=True,
                 calibrate=True, meta=None):
        self.sync = bool(sync)
        self.schedule = schedule
        self.memory = bool(memory)
        self.detail = bool(detail)
        self.calibrate = bool(calibrate)
        self.meta = dict(meta or {})
        self._buf = []
        self._marks = []           # (buffer length, step) where steps begin
        self._resolved = 0         # raw buffer position of timers read so far
        self._counts = [0, 0]
        self._live = None
        self._handle = None
        self._counter_handle = None
        self._step = 0
        self._state = "off"
        self._started = False
        self._stopped = False
        self._wall = [0, 0]
        self._windows = []         # (step, start_ns, end_ns) of active steps
        self._step_t0 = 0
        self._run = None
        self._devices = set()
        self._thread = threading.get_ident()

    # -- lifecycle ------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def op_count(self) -> int:
        """Ops recorded so far (readable from another thread: progress)."""
        return self._ops_held() + self._counts[0]

    def _ops_held(self):
        return len(self._buf) // RAW_FIELDS

    def start(self):
        if self._started:
            raise RuntimeError("Profiler.start(): already started")
        self._started = True
        self._wall[0] = _perf_ns()
        self._enter(self._target_state())
        return self

    def stop(self):
        if not self._started or self._stopped:
            return self
        now = _perf_ns()
        self._close_window(now)
        self._stopped = True
        self._detach()
        self._wall[1] = now
        if self._state == "warmup":
            self._counts[0] += self._ops_held()
            del self._buf[:]
            self._resolved = 0
        self._state = "off"
        return self

    def step(self):
        """Mark the end of a training step (drives the schedule)."""
        if not self._started or self._stopped:
            return
        now = _perf_ns()
        self._close_window(now)
        self._step += 1
        self._enter(self._target_state(), now)
        self._resolve_ready()

    def _resolve_ready(self):
        """Read the device timers of ops the device already finished (no
        synchronize), so a long run does not hold every timer event."""
        buf, k = self._buf, RAW_FIELDS
        ev_i, dt_i, dev_i = _EV_I, _DT_I, _DEV_I
        start = self._resolved
        i = start
        while i < len(buf):
            evs = buf[i + ev_i]
            if evs is not None:
                if not evs[1].done:
                    break          # later ops are queued behind it
                buf[i + dt_i] = int(buf[i + dev_i].backend.elapsed_ns(*evs))
                buf[i + ev_i] = None
            i += k
        self._resolved = i

    def _target_state(self):
        if not self.detail:
            return "off"
        if self.schedule is None:
            return "active"
        return self.schedule.state(self._step)

    def _enter(self, state, now=None):
        if state == "active" and self._state == "warmup":
            self._counts[0] += self._ops_held()
            del self._buf[:]
            self._resolved = 0
            self._marks.clear()
        if state in ("warmup", "active"):
            if self._handle is None:
                self._attach()
            if state == "active":
                self._marks.append((self._ops_held(), self._step))
                self._step_t0 = now if now is not None else _perf_ns()
        else:
            self._detach()
        self._state = state

    def _close_window(self, now):
        if self._state == "active":
            self._windows.append((self._step, self._step_t0, now))

    def _attach(self):
        live = None
        if self.memory:
            if self._live is None:
                sizes, log = {}, []
                state = [0, None, sizes, log]

                def on_free(ref, state=state, sizes=sizes, log=log):
                    item = sizes.pop(id(ref), None)
                    if item is not None:
                        state[0] -= item[1]
                        log.append((_perf_ns(), state[0]))
                state[1] = on_free
                self._live = state
            live = self._live
        fn = _make_after_op(self._buf, self.sync, live)
        if self._counter_handle is not None:
            self._counter_handle.remove()
            self._counter_handle = None
        # live-bytes tracking needs every output: then no engine records
        self._handle = _hooks.register(
            _Hook(fn, True, None if live is not None else self._buf))

    def _detach(self):
        """Detailed hook off; the cheap counter hook on while running."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        if self._stopped:
            if self._counter_handle is not None:
                self._counter_handle.remove()
                self._counter_handle = None
        elif self._counter_handle is None:
            self._counter_handle = _hooks.register(
                _Hook(_make_counter_op(self._counts), False))

    # -- results --------------------------------------------------------
    @property
    def run(self) -> ProfileRun:
        """The frozen run (built once, after stop)."""
        if not self._stopped:
            raise RuntimeError("Profiler.run: call stop() first (or leave the "
                               "with block)")
        if self._run is None:
            self._run = self._build()
        return self._run

    def report(self, top=10):
        from profilers.report import build_report

        return build_report(self.run, top=top)

    def _build(self) -> ProfileRun:
        flat = self._buf
        raw = [tuple(flat[i:i + RAW_FIELDS])
               for i in range(0, len(flat), RAW_FIELDS)]
        devices = {}     # devices with timer events still to read
        for r in raw:
            if r[_EV_I] is not None and r[_DEV_I] not in devices:
                devices[r[_DEV_I]] = r[_DEV_I]
        for d in devices.values():
            d.synchronize()
        marks = self._marks
        mark_i = 0
        step = marks[0][1] if marks else 0
        locs = {}
        recs = []
        for pos, r in enumerate(raw):
            while mark_i < len(marks) and marks[mark_i][0] <= pos:
                step = marks[mark_i][1]
                mark_i += 1
            (index, name, phase, fwd, t0, k0, k1, t1, device, code, lasti,
             scope, attrs, evs, dev_t, oshape, odtype) = r[:_N_HEAD]
            grads = r[_GRADS_I]
            loc = site_location(code, lasti) if code is not None else None
            dev = str(device)
            if dev_t is not None:
                dev_ns = int(dev_t)
            elif evs is not None:
                dev_ns = int(device.backend.elapsed_ns(evs[0], evs[1]))
            else:
                dev_ns = None
            loc = tuple(loc) if loc else ("", 0, "")
            if phase == "forward":
                locs[index] = loc
                src = loc
            else:
                src = locs.get(fwd, loc)
            shapes, dtypes, variables = [], [], []
            for a, dt, var in _operands(r):
                if dt is not None:              # a tensor operand
                    shapes.append(tuple(int(n) for n in a))
                    dtypes.append(_dtype_name(dt))
                    variables.append(_var_label(var))
                elif type(a) is list:           # a list operand (concat)
                    for sh, dt2, _ in a:
                        shapes.append(tuple(int(n) for n in sh))
                        dtypes.append(_dtype_name(dt2))
                        variables.append(None)
                else:
                    shapes.append(None)
                    dtypes.append("")
                    variables.append(None)
            out_shape = tuple(int(n) for n in oshape)
            recs.append(OpRecord(
                index=index, name=name, phase=phase, start_ns=t0, end_ns=t1,
                kernel_ns=max(0, k1 - k0), device=dev, device_ns=dev_ns,
                shapes=tuple(shapes), dtypes=tuple(dtypes),
                out_shape=out_shape, out_dtype=_dtype_name(odtype),
                out_bytes=math.prod(out_shape) * odtype.itemsize,
                location=loc, src=src, scope=tuple(scope),
                forward_index=fwd,
                attrs=tuple((k, safe_attr_value(v)) for k, v in attrs.items())
                if attrs else (),
                variables=tuple(variables), step=step, thread=self._thread,
                grads=grads))
            self._devices.add(device)
        # raw tuples hold device events: drop them now
        self._buf = []
        overhead = Overhead()
        if self.calibrate and (recs or self._counts[0]):
            from profilers.calibrate import calibrate, replay_sample

            counts = {}                 # the device most ops ran on
            for r in raw:
                counts[r[_DEV_I]] = counts.get(r[_DEV_I], 0) + 1
            dev = max(counts, key=counts.get) if counts else None
            training = any(r.phase == "backward" for r in recs)
            replay = []
            for p in replay_sample(len(raw)):
                r = raw[p]
                replay.append((r[1], r[_DEV_I], _operands(r), r[_ATTRS_I],
                               r[2], (r[7] - r[4]) - (r[6] - r[5]),
                               r[_N_HEAD - 2], r[_N_HEAD - 1]))
            overhead = calibrate(dev, sync=self.sync, memory=self.memory,
                                 detail=self.detail, training=training,
                                 replay=replay)
        live = ()
        if self._live is not None:
            live = tuple(self._live[3])
        counters = (("ops", self._counts[0] + len(recs)),
                    ("op_ns", self._counts[1] + sum(r.host_ns for r in recs)))
        meta = dict(self.meta)
        meta.setdefault("sync", str(self.sync))
        if self.schedule is not None:
            s = self.schedule
            meta.setdefault("schedule", f"skip_first={s.skip_first} wait={s.wait} "
                                        f"warmup={s.warmup} active={s.active} "
                                        f"repeat={s.repeat}")
        return ProfileRun(
            records=tuple(recs), wall_start_ns=self._wall[0],
            wall_end_ns=self._wall[1], overhead=overhead, counters=counters,
            live_bytes=live,
            steps=tuple(self._windows) if self.schedule is not None else (),
            meta=tuple(sorted((k, str(v)) for k, v in meta.items())))
