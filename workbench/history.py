"""A bounded ring of past ops, cheap to append, summarized lazily.

The session appends, per op, an *entry* (the op's metadata: strings,
ints, the output's shape and dtype) and its *values* ``(out, *inputs)``
(references to the arrays) at the same position of a parallel list; no
statistics are computed while the script runs.  Entries are stored flat,
``W`` values per op in one list, and come back as tuples when read: an
object per op that outlives the op is one more allocation the garbage
collector counts, and a history growing by a tuple per op made the
collector run (all generations) about 25 times for the MLP sample's 30,000
ops, 6% of its run time, where the plain run triggers it almost never.

Values are kept for the most recent ops under a byte budget and an op
count; older ops drop them (a slice assignment of Nones) and summarize
their output from the entry's shape/dtype, saying the values were not
kept.  While the script runs free (``running_free(True)``, set by the
session in continue mode) tighter limits apply (``free_kept`` ops,
``free_budget`` bytes): holding the values of a fast loop's last 50,000
ops made each new output land in fresh, uncached memory (page faults and
cache misses: ~1-2 us per op of the MLP sample), while a window that fits
the CPU cache lets the allocator reuse warm memory (the MLP sample's last
256 ops hold about 8 MB of arrays and ran 3.5% slower than its last 32,
about 1 MB); the full limits apply again while stepping.

:meth:`History.get` builds an immutable :class:`OpRecord` on demand and
caches the summaries of recently viewed ops.

Positions (``get(i)``, ``window(start, n)``) count from the oldest op
still in the ring (0) to the newest (``len(h) - 1``); :meth:`find` maps a
global op index to a position.  Only the session's worker appends; any
thread may read.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter

from workbench.records import OpRecord, TensorSummary
from workbench.summary import scalar_repr, shape_only, summarize

DEFAULT_CAPACITY = 1_000_000
DEFAULT_BUDGET = 256 << 20      # bytes of array values kept for recent ops
DEFAULT_MAX_KEPT = 50_000       # ops whose values are kept, at most
DEFAULT_FREE_KEPT = 32          # ... while the script runs free
DEFAULT_FREE_BUDGET = 64 << 20  # bytes, while the script runs free
ARRAY_OVERHEAD = 112            # bytes a numpy array object costs besides data

# An entry is a flat tuple of untracked objects (strings, ints, tuples of
# those), so the garbage collector untracks it at its first pass; the kept
# values of the same op sit at the same position of a parallel list as
# ``(out, *inputs)`` (None once dropped: a slice assignment, no per-op work).
(I_INDEX, I_PHASE, I_NAME, I_SCOPE, I_LOC, I_ATTRS, I_FWD, I_DEV, I_HOST,
 I_KERNEL, I_DEVNS, I_OSHAPE, I_ODTYPE, I_NBYTES, I_NIN) = range(15)
W = 15                          # values per entry in the flat ring
_nbytes = itemgetter(I_NBYTES)
_CHUNK = 64
_NONES = [None] * _CHUNK

_devices: list = []             # device objects by id (entries hold the id)
_device_ids: dict = {}


def device_id(dev) -> int:
    i = _device_ids.get(id(dev))          # devices live forever: ids are stable
    if i is None:
        i = _device_ids[id(dev)] = len(_devices)
        _devices.append(dev)
    return i


def operand_value(x):
    """What is kept of an operand: the raw array of a tensor, an array or
    scalar as given, a tuple of arrays for a list of tensors."""
    d = getattr(x, "_data", None)
    if d is not None:
        return d
    if isinstance(x, (list, tuple)):
        return tuple(getattr(t, "_data", t) for t in x)
    return x


def make_entry(ev, location, host_ns=0, kernel_ns=0):
    """(entry, values) of one op; values are ``(out or None, *inputs)``."""
    attrs = ev.attrs
    ins = tuple(map(operand_value, ev.inputs))
    if ev.outputs:
        out = ev.outputs[0]._data
        shape, dtype, nb = out.shape, out.dtype, out.nbytes + 112
    else:
        out, shape, dtype, nb = None, None, None, 0
    entry = (ev.index, ev.phase, ev.name, ev.scope, location,
             attrs if attrs else None, ev.forward_index, device_id(ev.device),
             host_ns, kernel_ns, ev.device_time_ns, shape, dtype, nb, len(ins))
    return entry, (out,) + ins


class RawOp:
    """A read-only view of one entry and its kept values."""

    __slots__ = ("entry", "values")

    def __init__(self, entry, values):
        self.entry = entry
        self.values = values

    index = property(lambda self: self.entry[I_INDEX])
    phase = property(lambda self: self.entry[I_PHASE])
    name = property(lambda self: self.entry[I_NAME])
    scope = property(lambda self: self.entry[I_SCOPE])
    location = property(lambda self: self.entry[I_LOC])
    attrs = property(lambda self: self.entry[I_ATTRS] or {})
    forward_index = property(lambda self: self.entry[I_FWD])
    device = property(lambda self: _devices[self.entry[I_DEV]])
    host_ns = property(lambda self: self.entry[I_HOST])
    kernel_ns = property(lambda self: self.entry[I_KERNEL])
    device_ns = property(lambda self: self.entry[I_DEVNS])

    @property
    def vals(self):
        """``(inputs, outputs)`` or None when the values were dropped."""
        v = self.values
        if v is None:
            return None
        return v[1:], (() if v[0] is None else v[:1])


def _seq_text(x):
    shapes = [str(tuple(getattr(t, "shape", ()))) for t in x[:4]]
    more = ", ..." if len(x) > 4 else ""
    return f"[{len(x)} operands: {', '.join(shapes)}{more}]"


_cache: dict = {}               # op index -> (n_outputs, ins, outs)
_cache_lock = threading.Lock()
NOT_KEPT = "values not kept"


def raw_to_record(entry, values=None) -> OpRecord:
    """An :class:`OpRecord` for an entry (or RawOp) and its kept values."""
    if isinstance(entry, RawOp):
        entry, values = entry.entry, entry.values
    e = entry
    dev = _devices[e[I_DEV]]
    kept = values is not None
    if kept:
        n_out = 0 if values[0] is None else 1
    else:
        n_out = 0 if e[I_OSHAPE] is None else 1
    cached = _cache.get(e[I_INDEX])
    if cached is not None and cached[0] == n_out:
        ins, outs = cached[1], cached[2]
        if not kept:
            ins = tuple(_mark_dropped(s) for s in ins)
            outs = tuple(_mark_dropped(s) for s in outs)
    elif kept:
        ins = tuple(_summ(x, dev) for x in values[1:])
        outs = (summarize(values[0], dev),) if n_out else ()
        with _cache_lock:
            if len(_cache) > 4096:
                _cache.clear()
            _cache[e[I_INDEX]] = (n_out, ins, outs)
    else:
        ins = (NOT_KEPT,) * e[I_NIN]
        outs = () if e[I_OSHAPE] is None else (
            shape_only(e[I_OSHAPE], e[I_ODTYPE], dev),)
    attrs = e[I_ATTRS] or {}
    return OpRecord(
        index=e[I_INDEX], phase=e[I_PHASE], name=e[I_NAME], scope=e[I_SCOPE],
        location=e[I_LOC], inputs=ins, outputs=outs,
        attrs={str(k): scalar_repr(v) for k, v in attrs.items()},
        host_ns=e[I_HOST], kernel_ns=e[I_KERNEL], device_ns=e[I_DEVNS],
        forward_index=e[I_FWD], values_kept=kept)


def _summ(x, device):
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return summarize(x, device)
    if isinstance(x, (list, tuple)):
        return _seq_text(x)
    if isinstance(x, str):
        return x
    return scalar_repr(x)


def _mark_dropped(s):
    if isinstance(s, TensorSummary) and s.values_kept:
        note = "values not kept" + (f"; {s.note}" if s.note else "")
        return TensorSummary(**{**s.__dict__, "values_kept": False,
                                "note": note})
    return s


class Selection(Sequence):
    """A lazy sequence of OpRecords at the given ring positions."""

    def __init__(self, history, positions):
        self._h = history
        self.positions = positions

    def __len__(self):
        return len(self.positions)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._h.get(p) for p in self.positions[i]]
        return self._h.get(self.positions[i])


class History:
    """The last ``capacity`` ops, with values kept under ``budget`` bytes
    and for at most ``max_kept`` ops (``free_budget`` / ``free_kept``
    while :meth:`running_free` is on).

    Two parallel lists (entries, values) only grow by ``append`` (atomic)
    and are replaced together by trimmed copies when they pass
    ``capacity`` by a slack, so readers on other threads always see a
    consistent snapshot and the writer (the session's worker) takes no
    lock per op.
    """

    def __init__(self, capacity=DEFAULT_CAPACITY, budget=DEFAULT_BUDGET,
                 max_kept=DEFAULT_MAX_KEPT, free_kept=DEFAULT_FREE_KEPT,
                 free_budget=DEFAULT_FREE_BUDGET):
        if capacity < 1:
            raise ValueError("history capacity must be >= 1")
        self.capacity = int(capacity)
        self.budget = int(budget)
        self.max_kept = int(max_kept)
        self.free_kept = int(free_kept)
        self.free_budget = int(free_budget)
        self._free = False
        self._limits()
        self._slack = max(1, self.capacity // 8)
        self._ring = []             # entries, flat: W values per op
        self._vals = []             # (out, *inputs) or None, one per op
        self._lists = (self._ring, self._vals)
        self._kept_from = 0         # ring position of the oldest kept values
        self._kept_bytes = 0
        self._lock = threading.Lock()
        self.total = 0              # ops ever appended

    # -- writing (session thread) ---------------------------------------
    def append(self, entry, values):
        """Add one op: ``entry`` and ``values`` from :func:`make_entry`."""
        self._ring.extend(entry)
        vals = self._vals
        vals.append(values)
        self.total += 1
        self._kept_bytes += entry[I_NBYTES]
        if self._kept_bytes > self._lim_bytes or \
                len(vals) - self._kept_from > self._lim_ops:
            self._evict()
        if len(vals) > self.capacity + self._slack:
            self._trim()

    def extend(self, entries, values):
        """Add several ops at once (``entries``/``values`` aligned lists)."""
        # the ring first, then the values: readers on other threads take
        # min(len(ring) // W, len(vals)) ops, so they never read half an op
        self._ring.extend(chain.from_iterable(entries))
        vals = self._vals
        vals.extend(values)
        self.total += len(entries)
        self._kept_bytes += sum(map(_nbytes, entries))
        if self._kept_bytes > self._lim_bytes or \
                len(vals) - self._kept_from > self._lim_ops:
            self._evict()
        if len(vals) > self.capacity + self._slack:
            self._trim()

    def _evict(self):
        """Drop values from the oldest kept ops, a chunk at a time, until
        under 90% of both limits (the newest op always keeps its values)."""
        ring, vals = self._ring, self._vals
        n = len(vals)
        i = self._kept_from
        budget = self._lim_bytes * 0.9
        keep = int(self._lim_ops * 0.9)
        while i < n - 1 and (self._kept_bytes > budget or n - i > keep):
            j = min(i + _CHUNK, n - 1)
            if self._kept_bytes <= budget:      # over the count only: stop at it
                j = min(j, n - keep)
            self._kept_bytes -= sum(ring[i * W + I_NBYTES:j * W:W])
            vals[i:j] = _NONES[:j - i]
            i = j
        self._kept_from = i

    def _trim(self):
        ring, vals = self._ring, self._vals
        cut = len(vals) - self.capacity
        if self._kept_from < cut:
            self._kept_bytes -= sum(ring[self._kept_from * W + I_NBYTES:cut * W:W])
            self._kept_from = cut
        self._kept_from -= cut
        with self._lock:
            self._ring = ring[cut * W:]
            self._vals = vals[cut:]
            self._lists = (self._ring, self._vals)

    def set_budget(self, budget):
        """Change the byte budget (takes effect at the next op)."""
        self.budget = int(budget)
        self._limits()

    def running_free(self, free):
        """Use the tighter ``free_*`` limits (True) or the full ones (False);
        values already dropped stay dropped."""
        self._free = bool(free)
        self._limits()

    def _limits(self):
        if self._free:
            self._lim_bytes = min(self.budget, self.free_budget)
            self._lim_ops = min(self.max_kept, self.free_kept)
        else:
            self._lim_bytes = self.budget
            self._lim_ops = self.max_kept

    # -- reading (any thread) -------------------------------------------
    def _view(self):
        ring, vals = self._lists
        n = min(len(ring) // W, len(vals))
        vis = min(n, self.capacity)
        return ring, vals, n - vis, vis

    def __len__(self):
        return self._view()[3]

    def _pos(self, pos):
        ring, vals, base, n = self._view()
        if pos < 0:
            pos += n
        if not 0 <= pos < n:
            raise IndexError(f"history position {pos} out of range (0..{n - 1})")
        at = (base + pos) * W
        return tuple(ring[at:at + W]), vals[base + pos]

    def raw(self, pos) -> RawOp:
        """A read-only :class:`RawOp` view of the op at ``pos``."""
        return RawOp(*self._pos(pos))

    def columns(self):
        """(the entries' fields as ``W`` column lists, the values list), a
        consistent snapshot of every op in the ring, oldest first."""
        ring, vals, base, n = self._view()
        lo, hi = base * W, (base + n) * W
        return [ring[lo + i:hi:W] for i in range(W)], vals[base:base + n]

    def get(self, pos) -> OpRecord:
        """The OpRecord at ring position ``pos`` (negative counts from the end)."""
        return raw_to_record(*self._pos(pos))

    def window(self, start, n) -> list:
        """Up to ``n`` OpRecords from position ``start``."""
        ring, vals, base, size = self._view()
        start = max(0, start)
        stop = min(size, start + max(0, n))
        return [raw_to_record(tuple(ring[(base + p) * W:(base + p + 1) * W]),
                              vals[base + p])
                for p in range(start, stop)]

    def find(self, op_index):
        """Ring position of the op with global index ``op_index``, or None."""
        ring, _, base, n = self._view()
        if n == 0:
            return None
        lo = bisect.bisect_left(range(n), op_index,
                                key=lambda p: ring[(base + p) * W + I_INDEX])
        if lo < n and ring[(base + lo) * W + I_INDEX] == op_index:
            return lo
        return None

    def get_index(self, op_index):
        """The OpRecord of global op index ``op_index``, or None."""
        pos = self.find(op_index)
        return None if pos is None else self.get(pos)

    def filter(self, name=None, phase=None, scope=None) -> Selection:
        """Ops matching all given criteria, oldest first (lazy records).

        ``name``: exact op name or a substring; ``phase``: "forward" /
        "backward"; ``scope``: dotted prefix such as ``"model.layers.1"``.
        Positions refer to the ring as it was when ``filter`` ran.
        """
        ring, _, base, n = self._view()
        lo, hi = base * W, (base + n) * W
        names = ring[lo + I_NAME:hi:W]
        phases = ring[lo + I_PHASE:hi:W]
        scopes = ring[lo + I_SCOPE:hi:W]
        sc = tuple(scope.split(".")) if isinstance(scope, str) and scope \
            else (tuple(scope) if scope else None)
        k = len(sc) if sc else 0
        out = []
        for p, (nm, ph, sp) in enumerate(zip(names, phases, scopes)):
            if name is not None and nm != name and name not in nm:
                continue
            if phase is not None and ph != phase:
                continue
            if sc is not None and sp[:k] != sc:
                continue
            out.append(p)
        return Selection(self, out)

    @property
    def kept_bytes(self) -> int:
        return self._kept_bytes
