"""A bounded ring of past ops, cheap to append, summarized lazily.

The session appends one *entry* per op: a plain tuple (see ``make_entry``)
holding the op's metadata and references to its input/output arrays; no
statistics are computed while the script runs.  Entries are tuples of
untracked objects (strings, ints, numpy arrays), so the cyclic garbage
collector stops scanning them after one pass: a RawOp object per op made
the collector's full passes cost more than the rest of the hook.

Values are kept for the most recent ops under a byte budget and an op
count; older entries are replaced by a copy without values that keeps
``(shape, dtype)`` per operand, so they still summarize (shape only) and
say the values were not kept.  :meth:`History.get` builds an immutable
:class:`OpRecord` on demand and caches the summaries of recent entries.

Positions (``get(i)``, ``window(start, n)``) count from the oldest op
still in the ring (0) to the newest (``len(h) - 1``); :meth:`find` maps a
global op index to a position.  Only the session's worker appends; any
thread may read.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

from workbench.records import OpRecord, TensorSummary
from workbench.summary import scalar_repr, shape_only, summarize

DEFAULT_CAPACITY = 1_000_000
DEFAULT_BUDGET = 256 << 20      # bytes of array values kept for recent ops
DEFAULT_MAX_KEPT = 50_000       # ops whose values are kept, at most
ARRAY_OVERHEAD = 112            # bytes a numpy array object costs besides data

# Entry layout: a flat tuple (no nested containers holding arrays, so the
# garbage collector untracks it at its first pass), the header fields
# below, then the kept values: (out, *inputs) when KEPT_ALL, (*inputs)
# when KEPT_INPUTS (paused before the kernel), nothing when dropped.
(I_INDEX, I_PHASE, I_NAME, I_SCOPE, I_LOC, I_ATTRS, I_FWD, I_DEV, I_HOST,
 I_KERNEL, I_DEVNS, I_KEPT, I_NBYTES, I_META) = range(14)
I_V = 14
DROPPED, KEPT_ALL, KEPT_INPUTS = 0, 1, 2

_devices: list = []             # device objects by id (entries hold the id)
_device_ids: dict = {}


def device_id(dev) -> int:
    i = _device_ids.get(id(dev))          # devices live forever: ids are stable
    if i is None:
        i = _device_ids[id(dev)] = len(_devices)
        _devices.append(dev)
    return i


def operand_value(x):
    """What an entry keeps of an operand: the raw array of a tensor, the
    array itself, a tuple of arrays for a list of tensors, or the scalar."""
    d = getattr(x, "_data", None)
    if d is not None:
        return d
    if isinstance(x, (list, tuple)):
        return tuple(getattr(t, "_data", t) for t in x)
    return x


def make_entry(ev, location, ins, outs, nbytes, host_ns, kernel_ns):
    """The history entry of one op (``ins``/``outs``: kept values)."""
    attrs = ev.attrs
    kept = KEPT_ALL if outs else KEPT_INPUTS
    return (ev.index, ev.phase, ev.name, ev.scope, location,
            attrs if attrs else None, ev.forward_index, device_id(ev.device),
            host_ns, kernel_ns, ev.device_time_ns, kept, nbytes,
            None) + tuple(outs[:1]) + tuple(ins)


def entry_vals(e):
    """``(inputs, outputs)`` kept by entry ``e``, or None when dropped."""
    kept = e[I_KEPT]
    if kept == KEPT_ALL:
        return e[I_V + 1:], e[I_V:I_V + 1]
    if kept == KEPT_INPUTS:
        return e[I_V:], ()
    return None


class RawOp:
    """A read-only view of one entry (attributes by name)."""

    __slots__ = ("entry",)

    def __init__(self, entry):
        self.entry = entry

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
    vals = property(lambda self: entry_vals(self.entry))
    meta = property(lambda self: self.entry[I_META])


def _meta(x):
    """(shape, dtype) of an array operand; text for a list; the scalar else."""
    try:
        return (x.shape, x.dtype)
    except AttributeError:
        pass
    if isinstance(x, (list, tuple)):
        return _seq_text(x)
    return x                    # a Python scalar (immutable)


def _seq_text(x):
    shapes = [str(tuple(getattr(t, "shape", ()))) for t in x[:4]]
    more = ", ..." if len(x) > 4 else ""
    return f"[{len(x)} operands: {', '.join(shapes)}{more}]"


_cache: dict = {}               # op index -> (n_outputs, ins, outs)
_cache_lock = threading.Lock()


def raw_to_record(raw, summarize_values=True) -> OpRecord:
    """An :class:`OpRecord` for an entry (or RawOp); summaries are cached."""
    e = raw.entry if isinstance(raw, RawOp) else raw
    vals = entry_vals(e)
    dev = _devices[e[I_DEV]]
    kept = vals is not None
    cached = _cache.get(e[I_INDEX])
    if cached is not None and (not kept or cached[0] == len(vals[1])):
        ins, outs = cached[1], cached[2]
        if not kept:
            ins = tuple(_mark_dropped(s) for s in ins)
            outs = tuple(_mark_dropped(s) for s in outs)
    elif kept and summarize_values:
        ins = tuple(_summ(x, dev) for x in vals[0])
        outs = tuple(_summ(x, dev) for x in vals[1])
        with _cache_lock:
            if len(_cache) > 4096:
                _cache.clear()
            _cache[e[I_INDEX]] = (len(vals[1]), ins, outs)
    else:
        meta = e[I_META] if not kept else (
            tuple(map(_meta, vals[0])), tuple(map(_meta, vals[1])))
        meta = meta or ((), ())
        ins = tuple(_meta_summary(m, dev) for m in meta[0])
        outs = tuple(_meta_summary(m, dev) for m in meta[1])
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


def _meta_summary(m, device):
    if isinstance(m, tuple) and len(m) == 2 and hasattr(m[1], "kind"):
        return shape_only(m[0], m[1], device)
    if isinstance(m, str):
        return m
    return scalar_repr(m)


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
    and for at most ``max_kept`` ops.

    Storage is one list that only grows by ``append`` (atomic) and is
    replaced by a trimmed copy when it passes ``capacity`` by a slack, so
    readers on other threads always see a consistent snapshot and the
    writer (the session's worker) takes no lock per op.
    """

    def __init__(self, capacity=DEFAULT_CAPACITY, budget=DEFAULT_BUDGET,
                 max_kept=DEFAULT_MAX_KEPT):
        if capacity < 1:
            raise ValueError("history capacity must be >= 1")
        self.capacity = int(capacity)
        self.budget = int(budget)
        self.max_kept = int(max_kept)
        self._slack = max(1, self.capacity // 8)
        self._intern = {}
        self._ring = []             # entries total-len(_ring) .. total-1
        self._kept_abs = 0          # oldest absolute index that may keep values
        self._kept_bytes = 0
        self._lock = threading.Lock()
        self.total = 0              # ops ever appended

    # -- writing (session thread) ---------------------------------------
    def append(self, entry):
        """Add one entry (from :func:`make_entry`)."""
        ring = self._ring
        ring.append(entry)
        self.total += 1
        if entry[I_KEPT]:
            self._kept_bytes += entry[I_NBYTES]
            if self._kept_bytes > self.budget or \
                    self.total - self._kept_abs > self.max_kept:
                self._evict()
        if len(ring) > self.capacity + self._slack:
            self._trim()

    def _trim(self):
        ring = self._ring
        cut = len(ring) - self.capacity
        base = self.total - len(ring)
        for i in range(max(0, self._kept_abs - base), cut):
            if ring[i][I_KEPT]:
                self._kept_bytes -= ring[i][I_NBYTES]
        self._kept_abs = max(self._kept_abs, base + cut)
        with self._lock:
            self._ring = ring[cut:]

    def _dropped(self, e):
        ins, outs = entry_vals(e)
        try:
            meta = (tuple([(x.shape, x.dtype) for x in ins]),
                    tuple([(x.shape, x.dtype) for x in outs]))
        except AttributeError:
            meta = (tuple(map(_meta, ins)), tuple(map(_meta, outs)))
        try:
            meta = self._intern.setdefault(meta, meta)
        except TypeError:
            pass
        self._kept_bytes -= e[I_NBYTES]
        return e[:I_KEPT] + (DROPPED, 0, meta)

    def _evict(self):
        """Drop values from the oldest kept ops until 90% of the limits."""
        if len(self._intern) > 200_000:
            self._intern.clear()
        ring = self._ring
        base = self.total - len(ring)
        i = max(0, self._kept_abs - base)
        n = len(ring)
        budget = self.budget * 0.9
        keep = int(self.max_kept * 0.9)
        while i < n - 1 and (self._kept_bytes > budget or n - i > keep):
            e = ring[i]
            if e[I_KEPT]:
                ring[i] = self._dropped(e)
            i += 1
        self._kept_abs = base + i

    def set_budget(self, budget):
        """Change the byte budget (takes effect at the next op)."""
        self.budget = int(budget)

    # -- reading (any thread) -------------------------------------------
    def _view(self):
        ring = self._ring
        n = len(ring)
        vis = min(n, self.capacity)
        return ring, n - vis, vis

    def __len__(self):
        return self._view()[2]

    def _raw(self, pos):
        ring, base, n = self._view()
        if pos < 0:
            pos += n
        if not 0 <= pos < n:
            raise IndexError(f"history position {pos} out of range (0..{n - 1})")
        return ring[base + pos]

    def raw(self, pos) -> RawOp:
        """A read-only :class:`RawOp` view of the entry at ``pos``."""
        return RawOp(self._raw(pos))

    def get(self, pos) -> OpRecord:
        """The OpRecord at ring position ``pos`` (negative counts from the end)."""
        return raw_to_record(self._raw(pos))

    def window(self, start, n) -> list:
        """Up to ``n`` OpRecords from position ``start``."""
        ring, base, size = self._view()
        start = max(0, start)
        stop = min(size, start + max(0, n))
        return [raw_to_record(ring[base + p]) for p in range(start, stop)]

    def find(self, op_index):
        """Ring position of the op with global index ``op_index``, or None."""
        ring, base, n = self._view()
        if n == 0:
            return None
        lo = bisect.bisect_left(range(n), op_index,
                                key=lambda p: ring[base + p][I_INDEX])
        if lo < n and ring[base + lo][I_INDEX] == op_index:
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
        ring, base, n = self._view()
        items = ring[base:base + n]
        sc = tuple(scope.split(".")) if isinstance(scope, str) and scope \
            else (tuple(scope) if scope else None)
        k = len(sc) if sc else 0
        out = []
        for p, r in enumerate(items):
            if name is not None and r[I_NAME] != name and name not in r[I_NAME]:
                continue
            if phase is not None and r[I_PHASE] != phase:
                continue
            if sc is not None and r[I_SCOPE][:k] != sc:
                continue
            out.append(p)
        return Selection(self, out)

    @property
    def kept_bytes(self) -> int:
        return self._kept_bytes
