"""The recorded ops of a replay as the app's history pane reads them, and
the views of one op's recorded values that ``p``, conditions and the
inspector use (see :mod:`workbench.replay`)."""

from __future__ import annotations

import threading

import numpy as np

from workbench.history import Selection
from workbench.records import OpRecord
from workbench.recording import NF_INF, NF_NAN, Recording
from workbench.summary import scalar_repr, shape_only, summarize

NOT_RECORDED = "values not kept in the recording"


class ReplayHistory:
    """The recorded ops as the app's history pane reads them (``len``,
    ``get``, ``window``, ``find``, ``get_index``, ``filter``)."""

    def __init__(self, rec: Recording):
        self.rec = rec
        self.total = rec.n
        self.capacity = max(1, rec.n)
        self._cache: dict = {}
        self._lock = threading.Lock()
        self._index = rec.cols["index"]

    def __len__(self):
        return self.rec.n

    def get(self, pos) -> OpRecord:
        n = self.rec.n
        if pos < 0:
            pos += n
        if not 0 <= pos < n:
            raise IndexError(f"history position {pos} out of range (0..{n - 1})")
        r = self._cache.get(pos)
        if r is None:
            r = self._build(pos)
            with self._lock:
                if len(self._cache) > 4096:
                    self._cache.clear()
                self._cache[pos] = r
        return r

    def window(self, start, n) -> list:
        start = max(0, start)
        stop = min(self.rec.n, start + max(0, n))
        return [self.get(p) for p in range(start, stop)]

    def find(self, op_index):
        p = int(np.searchsorted(self._index, op_index))
        if p < self.rec.n and int(self._index[p]) == op_index:
            return p
        return None

    def get_index(self, op_index):
        p = self.find(op_index)
        return None if p is None else self.get(p)

    def filter(self, name=None, phase=None, scope=None) -> Selection:
        t, c = self.rec.tables, self.rec.cols
        mask = np.ones(self.rec.n, dtype=bool)
        if name is not None:
            codes = [i for i, nm in enumerate(t["names"]) if nm == name or name in nm]
            mask &= np.isin(c["name"], codes)
        if phase is not None:
            codes = [i for i, ph in enumerate(t["phases"]) if ph == phase]
            mask &= np.isin(c["phase"], codes)
        if scope:
            sc = tuple(scope.split(".")) if isinstance(scope, str) else tuple(scope)
            codes = [i for i, s in enumerate(t["scopes"]) if tuple(s[:len(sc)]) == sc]
            mask &= np.isin(c["scope"], codes)
        return Selection(self, np.flatnonzero(mask).tolist())

    @property
    def kept_bytes(self) -> int:
        return int(self.rec.meta.get("value_bytes", 0))

    # -- building records ------------------------------------------------
    def location(self, pos):
        code = int(self.rec.cols["loc"][pos])
        if code < 0:
            return None
        f, ln, fn = self.rec.tables["locs"][code]
        return (f, ln, fn)

    def _build(self, pos) -> OpRecord:
        rec, c, t = self.rec, self.rec.cols, self.rec.tables
        dev = t["devices"][int(c["dev"][pos])] if t["devices"] else "cpu"
        slots = rec.slots(pos)
        oshape = int(c["oshape"][pos])
        nin = int(c["nin"][pos])
        if slots is not None:
            outs = () if slots[0] is None else (_summ(slots[0], dev),)
            ins = tuple(_summ(x, dev) for x in slots[1:])
        else:
            note = NOT_RECORDED
            nf = int(c["nonfinite"][pos])
            if nf > 0:
                note += "; has " + "/".join(k for b, k in ((NF_NAN, "NaN"), (NF_INF, "Inf"))
                                             if nf & b)
            outs = () if oshape < 0 else (shape_only(
                t["shapes"][oshape], t["dtypes"][int(c["odtype"][pos])], dev, note),)
            ins = ("values not kept",) * nin
        ac = int(c["attrs"][pos])
        fwd = int(c["fwd"][pos])
        devns = int(c["devns"][pos])
        return OpRecord(
            index=int(c["index"][pos]), phase=t["phases"][int(c["phase"][pos])],
            name=t["names"][int(c["name"][pos])],
            scope=tuple(t["scopes"][int(c["scope"][pos])]),
            location=self.location(pos), inputs=ins, outputs=outs,
            attrs=dict(t["attrs"][ac]) if ac >= 0 else {},
            host_ns=int(c["host"][pos]), kernel_ns=int(c["kernel"][pos]),
            device_ns=None if devns < 0 else devns,
            forward_index=None if fwd < 0 else fwd, values_kept=slots is not None)


def _summ(x, dev):
    if isinstance(x, np.ndarray):
        return summarize(x, dev)
    if isinstance(x, tuple):
        shapes = [str(tuple(getattr(a, "shape", ()))) for a in x[:4]]
        more = ", ..." if len(x) > 4 else ""
        return f"[{len(x)} operands: {', '.join(shapes)}{more}]"
    return x if isinstance(x, str) else scalar_repr(x)


class _OpView:
    """What breakpoint conditions and ``p`` see of one recorded op
    (the attributes :class:`workbench.breakpoints.OpNamespace` reads)."""

    def __init__(self, record: OpRecord, slots):
        self.name = record.name
        self.index = record.index
        self.phase = record.phase
        self.scope = record.scope
        self.location = record.location
        if slots is None:
            self.outputs, self.inputs = (), ()
        else:
            self.outputs = () if slots[0] is None else (slots[0],)
            self.inputs = tuple(slots[1:])



def _pick(slots, slot, op_index):
    slot = str(slot).strip().lower()
    if slot in ("out", "output"):
        slot = "out0"
    if slot.startswith("out") and slot[3:].isdigit():
        i = int(slot[3:])
        if i != 0 or slots[0] is None:
            return f"#{op_index} has {0 if slots[0] is None else 1} output(s)"
        return slots[0]
    if slot.startswith("in") and slot[2:].isdigit():
        i = int(slot[2:])
        ins = slots[1:]
        if i >= len(ins):
            return f"#{op_index} has {len(ins)} input(s)"
        x = ins[i]
        if isinstance(x, np.ndarray):
            return x
        if isinstance(x, tuple):
            return f"in{i} of #{op_index} is a list of {len(x)} operands"
        return f"in{i} of #{op_index} is not a tensor: {x}"
    return f"unknown slot {slot!r}; use out, outN or inN"


__all__ = ["ReplayHistory"]
