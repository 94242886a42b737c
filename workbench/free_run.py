"""Running free: the session as a recording hook.

While the script runs free (continue mode with nothing to check before or
after an op: no pending command, no stepping, no breakpoints) the session
attaches a *recording* hook (see ``core.hooks``): the engine writes each
host op's lean record (``core._record``) into a list and its values into
a deque that keeps the newest ``History.free_kept``,
with no OpEvent and no session code per op, and a backward pass runs each
node's VJP as one step (one history entry per node, named after the
forward op, its values not kept; step into a backward pass to see each
VJP op).  Every ``FREE_BATCH`` records or 50 ms the engine calls ``tick`` on the
thread running the op; on the worker it turns the records into history
entries, posts a Running snapshot and, when a command is pending, puts the
full hook back so the next op stops.  Device ops, whose timers need
reading, still arrive as OpEvents through ``after_op``.
"""

from __future__ import annotations

from core._event import site_location
from core._record import FIELDS
from workbench.history import device_id

K = len(FIELDS)
_I = {name: i for i, name in enumerate(FIELDS)}
I_INDEX, I_NAME, I_PHASE, I_FWD = (_I[n] for n in (
    "index", "name", "phase", "forward_index"))
I_T0, I_K0, I_K1, I_T1 = (_I[n] for n in (
    "start_ns", "kernel_start_ns", "kernel_end_ns", "end_ns"))
I_DEV, I_CODE, I_LASTI, I_SCOPE, I_ATTRS = (_I[n] for n in (
    "device", "code", "lasti", "scope", "attrs"))
I_OSHAPE, I_ODTYPE, I_D0, I_D1, I_EXTRA = (_I[n] for n in (
    "out_shape", "out_dtype", "d0", "d1", "extra"))


class FreeHook:
    """The session's recording hook (registered only on its worker)."""

    wants_tape_entries = True       # tapes list their nodes (tape view)

    def __init__(self, session, every, every_ns):
        self.record_into = session._rbuf
        self.values_into = session._rvals
        self.after_op = session._after_op     # device ops
        self.tick = session._tick
        self.tick_every = every
        self.tick_ns = every_ns

    def __repr__(self):
        return "<workbench session hook free>"


def drain(session, entries, values):
    """Append history entries and values for the records the engine wrote
    into ``session._rbuf``/``_rvals`` (emptied), updating the session's
    timing table and line index.  Returns how many were added.

    Columns are sliced out of the flat buffer (C loops) and zipped; only
    the user's line and the output shape need a look-up per record."""
    buf = session._rbuf
    vals = session._rvals
    n = len(buf) // K
    if not n:
        return 0
    if len(vals) != n:              # a bounded deque: values of the last ops
        vals = ([None] * n + list(vals))[-n:]
    sites, timing, shapes = session._sites, session._timing, session._shapes
    if len(shapes) > 4096:
        shapes.clear()
    shapes_add = shapes.setdefault
    add, timing_get = entries.append, timing.get
    col = buf.__getitem__
    t0s, k0s, k1s, t1s = (col(slice(i, None, K)) for i in (I_T0, I_K0, I_K1, I_T1))
    codes, lastis = col(slice(I_CODE, None, K)), col(slice(I_LASTI, None, K))
    devs = col(slice(I_DEV, None, K))
    d0s, d1s, extras = (col(slice(i, None, K)) for i in (I_D0, I_D1, I_EXTRA))
    locs = []
    add_loc = locs.append
    last_code = last_lasti = loc = None
    for code, lasti in zip(codes, lastis):
        if code is not last_code or lasti != last_lasti:
            last_code, last_lasti = code, lasti
            loc = sites.get(id(code))
            if loc is not None:
                loc = loc.get(lasti)
            if loc is None and code is not None:
                loc = intern_site(session, site_location(code, lasti),
                                  code, lasti)
        add_loc(loc)
    # devices by identity: a Device's __hash__ is Python code, and hashing
    # one twice per record took a sixth of the drain's time
    dev = devs[0]
    dev_ids = {id(dev): device_id(dev)}
    if devs.count(dev) != n:            # (more than one device in the batch)
        dev_ids = {id(d): device_id(d) for d in devs}
    names = col(slice(I_NAME, None, K))
    for (index, phase, name, scope, loc, attrs, fwd, dev, t0, k0, k1, t1,
         shape, dtype, d0, d1, extra, v) in zip(
            col(slice(I_INDEX, None, K)), col(slice(I_PHASE, None, K)), names,
            col(slice(I_SCOPE, None, K)), locs, col(slice(I_ATTRS, None, K)),
            col(slice(I_FWD, None, K)), devs, t0s, k0s, k1s, t1s,
            col(slice(I_OSHAPE, None, K)), col(slice(I_ODTYPE, None, K)),
            d0s, d1s, extras, vals):
        ns = t1 - t0
        add((index, phase, name, scope, loc, attrs, fwd, dev_ids[id(dev)], ns,
             k1 - k0, None, shapes_add(shape, shape), dtype,
             v[0].nbytes + 112 if v is not None else 0,
             len(extra) if extra is not None else
             0 if d0 is None else 1 if d1 is None else 2))
        t = timing_get(name)        # add_timing, inlined
        if t is None:
            timing[name] = [1, ns]
        else:
            t[0] += 1
            t[1] += ns
    values.extend(vals)
    buf.clear()
    session._rvals.clear()
    return n


def add_timing(timing, name, ns):
    """Count one op of ``name`` taking ``ns`` in the timing table."""
    t = timing.get(name)
    if t is None:
        timing[name] = [1, ns]
    else:
        t[0] += 1
        t[1] += ns


def intern_site(session, loc, code, lasti):
    """``loc`` (the user's line of an op issued at ``(code, lasti)``),
    interned in the session's line index (``_locs``, ``_op_lines``,
    ``_sites`` by ``id(code)``, ``_site_codes``) the first time an op comes
    from that site."""
    if loc is None:
        return None
    seen = session._locs.get(loc)
    if seen is None:
        session._locs[loc] = seen = loc
        session._op_lines.add(loc)
    if code is not None:
        at = session._sites.get(id(code))
        if at is None:      # keyed by id (a code object's hash is costly);
            at = session._sites[id(code)] = {}      # the code is kept alive
            session._site_codes.append(code)
        at[lasti] = seen
    return seen
