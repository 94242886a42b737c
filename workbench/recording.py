"""Recordings of a debugged run: write at the end, read for ``replay``.

A recording is ONE zip file, written atomically (``core.fileio``) and read
without pickle (``np.load(..., allow_pickle=False)``, JSON for the rest):

    meta.json         format name, version, counts, the member list
    tables.json       the distinct names, phases, scopes, locations,
                      attrs, devices, shapes and dtypes the columns point at
    ops/<col>.npy     one column per op field (codes into the tables, ns
                      timings, links): a 1e5-op run is a few MB and loads
                      in milliseconds
    kept.json         for the ops whose values were recorded: the op's
                      position and its slots (out, in0, ...) as value refs
                      or scalar reprs
    values/<k>.npy    every recorded array of one dtype, flattened and
                      concatenated (an array shared by two ops, the output
                      of one and the input of the next, is stored once)
    values/index.npy  per value: dtype code, offset, ndim, shape offset, size;
    values/shapes.npy the shapes, flattened
    sources.json      the text of the user files that issued ops
    output.json       the program's output: (stream, text, ops completed)
    final.json        script, argv, exit code, ops run, post-mortem

Values come from what the session's history kept (its memory budget),
newest ops first, under the recording's own ``budget`` (default 64 MiB).
Per-op NaN/Inf flags are computed for every op whose values the history
still held, even when the values do not fit the recording, so ``b nan``
in a replay finds the producing op.

``Recorder(session, path)`` is a session subscriber that writes the file
when the run ends (finished, raised, or quit); ``load_recording(path)``
returns a :class:`Recording` or raises :class:`RecordingError` with a
one-line reason.
"""

from __future__ import annotations

import io
import json
import linecache
import os
import threading
import zipfile

import numpy as np

from core.fileio import atomic_write

FORMAT = "workbench-recording"
VERSION = 1
DEFAULT_BUDGET = 64 << 20          # bytes of tensor values in a recording
MAX_OUTPUT = 1 << 20               # characters of program output kept (tail)
MAX_SOURCE = 2 << 20               # characters per source file
COLUMNS = ("index", "phase", "name", "scope", "loc", "attrs", "fwd", "dev",
           "host", "kernel", "devns", "oshape", "odtype", "nin", "nonfinite",
           "infinite", "vrow")
JSON_MEMBERS = ("meta.json", "tables.json", "kept.json", "sources.json",
                "output.json", "final.json")
VALUE_KINDS = "biufc"              # numeric and bool dtypes only
NF_UNKNOWN, NF_NAN, NF_INF = -1, 1, 2


class RecordingError(Exception):
    """A file that is not a readable recording (the message says why)."""


# ------------------------------------------------------------- writing --


class Recorder:
    """Session subscriber: collects output and the post-mortem, writes the
    recording on ``Finished``.  ``wait()`` blocks until written; ``error``
    holds the reason when writing failed, ``info`` the counts when not."""

    def __init__(self, session, path, budget=DEFAULT_BUDGET):
        self.session = session
        self.path = os.path.abspath(path)
        self.budget = int(budget)
        self.outputs = []           # [stream, text, ops completed]
        self.postmortem = None
        self.info = None
        self.error = None
        self._done = threading.Event()

    def __call__(self, ev):
        from workbench.records import Finished, Output, PostMortem
        if isinstance(ev, Output):
            # ops completed when the text was posted (those still queued in
            # the session's batch included); output is posted in batches,
            # so this places it at or after the op that printed it
            done = self.session.ops_run + len(getattr(self.session, "_batch", ()))
            self.outputs.append([ev.stream, ev.text, int(done)])
        elif isinstance(ev, PostMortem) and self.postmortem is None:
            self.postmortem = {
                "exc_type": ev.exc_type, "message": ev.message,
                "traceback_text": ev.traceback_text,
                "frames": [[f.filename, f.lineno, f.function] for f in ev.frames]}
        elif isinstance(ev, Finished) and not self._done.is_set():
            try:
                self.info = write_recording(
                    self.path, self.session.history, script=self.session.script,
                    argv=self.session.argv, outputs=self.outputs,
                    postmortem=self.postmortem, exit_code=ev.exit_code,
                    ops_run=ev.ops_run, budget=self.budget,
                    quit=bool(getattr(self.session, "_quitting", False)))
            except Exception as e:          # never kill the run's ending
                self.error = f"{type(e).__name__}: {e}"
            finally:
                self._done.set()

    def wait(self, timeout=None) -> bool:
        return self._done.wait(timeout)

    def report(self) -> str:
        """One line for the terminal after the run."""
        if self.error:
            return f"workbench: could not write the recording {self.path}: {self.error}"
        if self.info is None:
            return f"workbench: no recording written to {self.path}"
        i = self.info
        return (f"workbench: recorded {i['n_ops']} ops ({i['n_kept_ops']} with values, "
                f"{i['bytes'] / 1e6:.1f} MB) to {self.path}")


class _Codes(dict):
    """value -> dense code, in first-seen order."""

    def code(self, v):
        c = self.get(v)
        if c is None:
            c = self[v] = len(self)
        return c

    def table(self):
        return list(self)


def _encode(col, codes, none=-1, key=None):
    get = codes.code
    if key is None:
        return np.fromiter((none if v is None else get(v) for v in col),
                           dtype=np.int32, count=len(col))
    return np.fromiter((none if v is None else get(key(v)) for v in col),
                       dtype=np.int32, count=len(col))


def _ints(col, none=-1):
    return np.fromiter((none if v is None else v for v in col),
                       dtype=np.int64, count=len(col))


def _host(arr, device):
    from workbench.summary import to_host
    try:
        return np.asarray(to_host(arr, device))
    except Exception:
        return None


def _nf_bits(a) -> int:
    """0 finite, 1 NaN, 2 Inf, 3 both (a host array)."""
    if a.dtype.kind not in "fc" or a.size == 0:
        return 0
    with np.errstate(all="ignore"):
        if np.isfinite(a).all():
            return 0
        return (NF_NAN if np.isnan(a).any() else 0) | \
            (NF_INF if np.isinf(a).any() else 0)


def write_recording(path, history, *, script="", argv=(), outputs=(),
                    postmortem=None, exit_code=0, ops_run=0,
                    budget=DEFAULT_BUDGET, quit=False) -> dict:
    """Write ``history`` (a :class:`workbench.history.History`) and the
    run's output/final state to ``path``; returns the counts."""
    from workbench import history as H
    from workbench.summary import scalar_repr

    cols, values = history.columns()
    n = len(values)
    (c_index, c_phase, c_name, c_scope, c_loc, c_attrs, c_fwd, c_dev, c_host,
     c_kernel, c_devns, c_oshape, c_odtype, _nb, c_nin) = cols
    phases, names, scopes, locs, attrs, devs, shapes, dtypes = \
        (_Codes() for _ in range(8))
    devices = [str(d) for d in H._devices]
    col = {
        "index": _ints(c_index),
        "phase": _encode(c_phase, phases),
        "name": _encode(c_name, names),
        "scope": _encode(c_scope, scopes),
        "loc": _encode(c_loc, locs),
        "attrs": _encode(c_attrs, attrs, key=lambda a: tuple(
            (str(k), scalar_repr(v)) for k, v in a.items()) if a else None),
        "fwd": _ints(c_fwd),
        "dev": np.asarray(c_dev, dtype=np.int32) if n else np.zeros(0, np.int32),
        "host": _ints(c_host, 0),
        "kernel": _ints(c_kernel, 0),
        "devns": _ints(c_devns),
        "oshape": _encode(c_oshape, shapes),     # tuples of ints already
        "odtype": _encode(c_odtype, dtypes),     # dtype objects; str() per table row
        "nin": np.asarray(c_nin, dtype=np.int32) if n else np.zeros(0, np.int32),
    }
    nonfinite = np.full(n, NF_UNKNOWN, dtype=np.int8)
    infinite = np.full(n, NF_UNKNOWN, dtype=np.int8)
    vrow = np.full(n, -1, dtype=np.int32)

    # values, newest op first, under the budget; NaN flags for every op kept
    nf_cache = {}                   # id(array) -> bits
    host_of = {}                    # id(array) -> host array
    refs = {}                       # id(array) -> value number
    stored = []                     # host arrays, by value number
    used = 0
    full = False
    kept_rows = []                  # [pos, slots]

    def flags(x, dev):
        k = id(x)
        b = nf_cache.get(k)
        if b is None:
            h = _host(x, dev)
            host_of[k] = h
            b = nf_cache[k] = 0 if h is None else _nf_bits(h)
        return b

    def ref(x, dev):
        nonlocal used, full
        k = id(x)
        r = refs.get(k)
        if r is not None:
            return r
        h = host_of.get(k)
        if h is None:
            h = _host(x, dev)
        if h is None or h.dtype.kind not in VALUE_KINDS or h.dtype.hasobject:
            return {"r": scalar_repr(x)}
        if used + h.nbytes > budget:
            full = True
            return None
        used += h.nbytes
        r = refs[k] = len(stored)
        stored.append(h)
        return r

    for pos in range(n - 1, -1, -1):
        v = values[pos]
        if v is None:
            continue
        dev = H._devices[c_dev[pos]]
        out, ins = v[0], v[1:]
        if out is not None and hasattr(out, "dtype"):
            nonfinite[pos] = flags(out, dev)
        fresh = 1
        for x in ins:
            if hasattr(x, "dtype") and hasattr(x, "shape"):
                if flags(x, dev):
                    fresh = 0
            elif isinstance(x, tuple):
                if any(flags(t, dev) for t in x if hasattr(t, "dtype")):
                    fresh = 0
        infinite[pos] = fresh
        if full:
            continue
        slots = []
        for x in v:
            if x is None:
                slots.append(None)
            elif hasattr(x, "dtype") and hasattr(x, "shape"):
                r = ref(x, dev)
                if r is None:
                    break
                slots.append(r)
            elif isinstance(x, (list, tuple)):
                seq = [ref(t, dev) if hasattr(t, "dtype") else {"r": scalar_repr(t)}
                       for t in x]
                if any(s is None for s in seq):
                    break
                slots.append({"s": seq})
            else:
                slots.append({"r": scalar_repr(x)})
        if full:
            continue
        kept_rows.append([pos, slots])
    kept_rows.reverse()
    for row, (pos, _) in enumerate(kept_rows):
        vrow[pos] = row
    host_of.clear()
    col.update(nonfinite=nonfinite, infinite=infinite, vrow=vrow)

    # pack values by dtype
    vdtypes = _Codes()
    index = np.zeros((len(stored), 5), dtype=np.int64)
    shape_flat = []
    blobs: dict = {}
    sizes: dict = {}
    for i, a in enumerate(stored):
        dc = vdtypes.code(a.dtype.str)
        off = sizes.get(dc, 0)
        index[i] = (dc, off, a.ndim, len(shape_flat), a.size)
        shape_flat.extend(a.shape)
        blobs.setdefault(dc, []).append(a.reshape(-1))
        sizes[dc] = off + a.size

    sources = {}
    for file in {loc[0] for loc in locs if loc}:
        text = "".join(linecache.getlines(file))
        if text:
            sources[file] = text[:MAX_SOURCE]
    out_list, total = [], 0
    for stream, text, mark in reversed(list(outputs)):
        if total >= MAX_OUTPUT:
            break
        text = text[-(MAX_OUTPUT - total):]
        total += len(text)
        out_list.append([stream, text, int(mark)])
    out_list.reverse()

    tables = {
        "phases": phases.table(), "names": names.table(),
        "scopes": [list(s) for s in scopes.table()],
        "locs": [[loc[0], int(loc[1]), str(loc[2])] for loc in locs.table()],
        "attrs": [dict(a) for a in attrs.table()],
        "devices": devices, "shapes": [[int(d) for d in s] for s in shapes.table()],
        "dtypes": [str(d) for d in dtypes.table()], "value_dtypes": vdtypes.table(),
    }
    final = {"script": str(script), "argv": list(argv), "exit_code": int(exit_code),
             "ops_run": int(ops_run), "postmortem": postmortem,
             "ops_dropped": int(history.total - n), "quit": bool(quit)}
    members = {}

    def npy(a):
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        return buf.getvalue()

    def js(obj):
        return json.dumps(obj, separators=(",", ":")).encode()

    payload = [("tables.json", js(tables), True),
               ("kept.json", js(kept_rows), True),
               ("sources.json", js(sources), True),
               ("output.json", js(out_list), True),
               ("final.json", js(final), True)]
    payload += [(f"ops/{k}.npy", npy(col[k]), True) for k in COLUMNS]
    payload += [("values/index.npy", npy(index), True),
                ("values/shapes.npy", npy(np.asarray(shape_flat, dtype=np.int64)), True)]
    for dc, parts in blobs.items():
        payload.append((f"values/{dc}.npy", npy(np.concatenate(parts)), False))
    for name, data, _ in payload:
        members[name] = len(data)
    meta = {"format": FORMAT, "version": VERSION, "n_ops": n,
            "n_kept_ops": len(kept_rows), "n_values": len(stored),
            "value_bytes": used, "members": members}
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, "w", allowZip64=True) as z:
            z.writestr("meta.json", js(meta), zipfile.ZIP_DEFLATED)
            for name, data, deflate in payload:
                z.writestr(name, data, zipfile.ZIP_DEFLATED if deflate
                           else zipfile.ZIP_STORED)
    return {"n_ops": n, "n_kept_ops": len(kept_rows), "n_values": len(stored),
            "value_bytes": used, "bytes": os.path.getsize(path)}


# ------------------------------------------------------------- reading --


class Recording:
    """A loaded recording: per-op columns, tables, values, sources, output."""

    def __init__(self, path, meta, tables, cols, kept, values, sources,
                 output, final):
        self.path = path
        self.meta = meta
        self.tables = tables
        self.cols = cols
        self.kept = kept            # row -> slots
        self._vindex, self._vshapes, self._blobs = values
        self._values: dict = {}     # value number -> read-only host array
        self.sources = sources
        self.output = output
        self.final = final
        self.n = len(cols["index"])

    @property
    def script(self) -> str:
        return self.final.get("script", "")

    def slots(self, pos):
        """The recorded slots ``[out, in0, ...]`` of the op at ``pos`` (each a
        host array, a scalar repr str, a tuple of those, or None) or None."""
        row = int(self.cols["vrow"][pos])
        if row < 0:
            return None
        return [self._slot(s) for s in self.kept[row]]

    def value(self, i):
        """Recorded value number ``i`` (a read-only host array)."""
        a = self._values.get(i)
        if a is not None:
            return a
        if not 0 <= i < len(self._vindex):
            raise RecordingError(f"{self.path}: a slot points past the values "
                                 "(tampered recording)")
        dc, off, ndim, so, size = self._vindex[i].tolist()
        shape = tuple(self._vshapes[so:so + ndim].tolist())
        if int(np.prod(shape, dtype=np.int64)) != size:
            raise RecordingError(f"{self.path}: value {i} has a shape that does "
                                 "not match its size (tampered recording)")
        a = self._blobs[dc][off:off + size].reshape(shape)
        a.flags.writeable = False
        self._values[i] = a
        return a

    def _slot(self, s):
        if s is None:
            return None
        if isinstance(s, int):
            return self.value(s)
        if "s" in s:
            return tuple(self._slot(t) for t in s["s"])
        return s["r"]


def _fail(path, why):
    raise RecordingError(f"{path}: {why}")


def load_recording(path) -> Recording:
    """Read a recording; :class:`RecordingError` says why a file is refused."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        _fail(path, "no such file")
    try:
        z = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        _fail(path, "not a workbench recording (not a zip file, or truncated)")
    except OSError as e:
        _fail(path, f"cannot read: {e}")
    with z:
        try:
            return _load(path, z)
        except RecordingError:
            raise
        except zipfile.BadZipFile as e:
            _fail(path, f"corrupted recording ({e})")
        except (KeyError, ValueError, TypeError, IndexError, OSError,
                EOFError, UnicodeDecodeError, AttributeError) as e:
            _fail(path, f"damaged recording ({type(e).__name__}: {e})")


def _load(path, z) -> Recording:
    names = set(z.namelist())
    if "meta.json" not in names:
        _fail(path, "not a workbench recording (no meta.json)")
    meta = json.loads(z.read("meta.json"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(path, f"not a workbench recording (format {meta.get('format')!r})"
              if isinstance(meta, dict) else "not a workbench recording")
    if meta.get("version") != VERSION:
        _fail(path, f"recording version {meta.get('version')!r} is not supported "
                    f"(this workbench reads version {VERSION})")
    members = meta.get("members") or {}
    extra = names - set(members) - {"meta.json"}
    if extra:
        _fail(path, f"unexpected member(s) {', '.join(sorted(extra))}: tampered recording")
    missing = set(members) - names
    if missing:
        _fail(path, f"missing member(s) {', '.join(sorted(missing))}: truncated recording")
    for name, size in members.items():
        if z.getinfo(name).file_size != size:
            _fail(path, f"member {name} has the wrong size: truncated or tampered")

    def npy(name, dtype_kinds="iu"):
        try:
            a = np.load(io.BytesIO(z.read(name)), allow_pickle=False)
        except ValueError as e:
            if "pickle" in str(e).lower() or "object" in str(e).lower():
                _fail(path, f"member {name} holds a pickled object; recordings "
                            "are read without pickle")
            raise
        if not isinstance(a, np.ndarray) or a.dtype.kind not in dtype_kinds \
                or a.dtype.hasobject:
            _fail(path, f"member {name} has an unexpected dtype")
        return a

    tables = json.loads(z.read("tables.json"))
    n = int(meta["n_ops"])
    cols = {}
    for k in COLUMNS:
        a = npy(f"ops/{k}.npy")
        if a.shape != (n,):
            _fail(path, f"column {k} has {a.shape} entries, expected ({n},)")
        cols[k] = a
    for k, t in (("phase", "phases"), ("name", "names"), ("scope", "scopes"),
                 ("loc", "locs"), ("attrs", "attrs"), ("dev", "devices"),
                 ("oshape", "shapes"), ("odtype", "dtypes")):
        if n and int(cols[k].max()) >= len(tables[t]):
            _fail(path, f"column {k} points past its table")
    kept = json.loads(z.read("kept.json"))
    if len(kept) != int(meta["n_kept_ops"]):
        _fail(path, "kept.json does not match meta.json")
    rows = [slots for _, slots in kept]
    if n and int(cols["vrow"].max()) >= len(rows):
        _fail(path, "column vrow points past kept.json")
    index = npy("values/index.npy")
    shapes = npy("values/shapes.npy")
    nvals = int(meta["n_values"])
    if index.shape != (nvals, 5):
        _fail(path, "the value index does not match meta.json")
    vdtypes = [np.dtype(s) for s in tables["value_dtypes"]]
    for dt in vdtypes:
        if dt.kind not in VALUE_KINDS or dt.hasobject:
            _fail(path, f"value dtype {dt} is not allowed")
    blobs = [npy(f"values/{i}.npy", VALUE_KINDS) for i in range(len(vdtypes))]
    for i, (b, dt) in enumerate(zip(blobs, vdtypes)):
        if b.dtype != dt or b.ndim != 1:
            _fail(path, f"member values/{i}.npy does not match its dtype table")
    if nvals:
        dc, off, ndim, so, size = index.T
        if dc.min() < 0 or dc.max() >= len(blobs) or off.min() < 0 or \
                size.min() < 0 or ndim.min() < 0 or so.min() < 0 or \
                (so + ndim).max() > len(shapes):
            _fail(path, "the value index is out of range: tampered recording")
        limit = np.asarray([b.size for b in blobs], dtype=np.int64)[dc]
        if ((off + size) > limit).any():
            _fail(path, "a value points outside its data: tampered recording")
    values = (index, shapes, blobs)
    sources = json.loads(z.read("sources.json"))
    output = json.loads(z.read("output.json"))
    final = json.loads(z.read("final.json"))
    return Recording(path, meta, tables, cols, rows, values, sources, output, final)


__all__ = ["Recorder", "Recording", "RecordingError", "load_recording",
           "write_recording", "FORMAT", "VERSION", "DEFAULT_BUDGET"]
