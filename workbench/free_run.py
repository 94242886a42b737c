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

from itertools import repeat
from operator import add, is_not, sub

from core._event import site_location
from core._record import FIELDS
from workbench import history as _h
from workbench.history import ARRAY_OVERHEAD, W, device_id

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
# history entry fields (workbench.history) ...
H_NAME, H_LOC, H_DEV, H_HOST, H_KERNEL, H_OSHAPE, H_NBYTES, H_NIN = (
    _h.I_NAME, _h.I_LOC, _h.I_DEV, _h.I_HOST, _h.I_KERNEL, _h.I_OSHAPE,
    _h.I_NBYTES, _h.I_NIN)
# ... copied from a record field as they are
_COPIED = ((_h.I_INDEX, I_INDEX), (_h.I_PHASE, I_PHASE),
           (_h.I_SCOPE, I_SCOPE), (_h.I_ATTRS, I_ATTRS), (_h.I_FWD, I_FWD),
           (_h.I_ODTYPE, I_ODTYPE))
_NONES = repeat(None)


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


def drain(session):
    """History entries for the records the engine wrote into
    ``session._rbuf``/``_rvals`` (both emptied), updating the session's
    timing table and line index: ``(flat, values)``, the entries flat
    (``history.W`` values per op, as the history stores them) and each
    op's kept values (None where not kept), or ``(None, None)``.

    Built a column at a time: each field of the batch is sliced out of
    the record buffer and assigned to its stride of the flat list, or
    mapped through a C function, so the work per op runs in C loops.  An
    entry tuple per op and a Python loop over every field cost the running
    script about 3% of a plain run more (the MLP sample, session alone);
    the one Python loop left is the timing table's."""
    buf = session._rbuf
    n = len(buf) // K
    if not n:
        return None, None
    vals = session._rvals
    # a bounded deque: the values of the last ops only
    vals = list(vals) if len(vals) == n else ([None] * n + list(vals))[-n:]
    session._rvals.clear()
    col = buf.__getitem__
    flat = [None] * (W * n)           # (the device time stays None)
    for h, i in _COPIED:
        flat[h::W] = col(slice(i, None, K))
    names = col(slice(I_NAME, None, K))
    flat[H_NAME::W] = names
    # the user's line per (code, instruction offset), interned
    keys = list(zip(map(id, col(slice(I_CODE, None, K))),
                    col(slice(I_LASTI, None, K))))
    sites = session._site_keys
    for key in set(keys).difference(sites):
        j = keys.index(key)
        code, lasti = buf[j * K + I_CODE], buf[j * K + I_LASTI]
        sites[key] = None if code is None else intern_site(
            session, site_location(code, lasti), code, lasti)
    flat[H_LOC::W] = map(sites.__getitem__, keys)
    # (by identity: a Device's __hash__ is Python code, too dear per op)
    devs = col(slice(I_DEV, None, K))
    dev = devs[0]
    if devs.count(dev) == n:            # one device (the usual batch)
        flat[H_DEV::W] = [device_id(dev)] * n
    else:
        dev_ids = {id(d): device_id(d) for d in devs}
        flat[H_DEV::W] = map(dev_ids.__getitem__, map(id, devs))
    hosts = list(map(sub, col(slice(I_T1, None, K)), col(slice(I_T0, None, K))))
    flat[H_HOST::W] = hosts
    flat[H_KERNEL::W] = map(sub, col(slice(I_K1, None, K)), col(slice(I_K0, None, K)))
    shapes = session._shapes
    if len(shapes) > 4096:
        shapes.clear()
    out_shapes = col(slice(I_OSHAPE, None, K))   # one tuple per shape kept
    flat[H_OSHAPE::W] = map(shapes.setdefault, out_shapes, out_shapes)
    flat[H_NBYTES::W] = [0 if v is None else v[0].nbytes + ARRAY_OVERHEAD
                         for v in vals]
    # operands: 1 or 2 inline (d0, d1), else a tuple in ``extra``
    nin = list(map(add, map(is_not, col(slice(I_D0, None, K)), _NONES),
                   map(is_not, col(slice(I_D1, None, K)), _NONES)))
    extras = col(slice(I_EXTRA, None, K))
    if extras.count(None) != n:
        for j, extra in enumerate(extras):
            if extra is not None:
                nin[j] = len(extra)
    flat[H_NIN::W] = nin
    timing = session._timing
    timing_get = timing.get
    for name, ns in zip(names, hosts):      # add_timing, inlined
        t = timing_get(name)
        if t is None:
            timing[name] = [1, ns]
        else:
            t[0] += 1
            t[1] += ns
    buf.clear()
    return flat, vals


def drain_entries(session, entries, values):
    """:func:`drain` as entry tuples appended to ``entries`` (and values to
    ``values``), for batches that mix records with per-op events.  Returns
    how many were added."""
    flat, vals = drain(session)
    if flat is None:
        return 0
    entries.extend(zip(*[iter(flat)] * W))
    values.extend(vals)
    return len(vals)


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
