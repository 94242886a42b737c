"""Helpers of the debugger session: output capture, frames, tapes, timings.

Everything here turns live objects into the immutable records of
:mod:`workbench.records`; it runs on the session's worker thread.
"""

from __future__ import annotations

import itertools
import linecache
import os
import sys
import threading
import time
import types
import weakref

import numpy as np

from core._dispatch import _CORE_DIR

from workbench.records import (
    Frame, Output, TapeEntry, TapeInfo, TapeView, TimingRow,
)

_get_ident = threading.get_ident
# the script's output goes out at a write 50 ms after the last flush, and
# at every Running post, pause and the end; while the script runs free, at
# a write 600 ms after the last flush: there a progress line every 50 ms
# woke the UI thread, at the running script's expense, once per line, and
# the Running posts (every 500 ms while ops run) carry the output instead
FLUSH_INTERVAL_NS = 50_000_000
FREE_FLUSH_INTERVAL_NS = 600_000_000
FLUSH_BYTES = 16_384
TAPE_ENTRIES_SHOWN = 500


# ------------------------------------------------------------ output --


class _Writer:
    """sys.stdout/sys.stderr stand-in: the worker's writes are captured,
    every other thread's go to the original stream (Textual draws on
    ``sys.__stderr__`` and is never touched)."""

    def __init__(self, capture, name, orig):
        self._cap = capture
        self._name = name
        self._orig = orig

    def write(self, s):
        if _get_ident() == self._cap.tid:
            if not isinstance(s, str):
                raise TypeError(f"write() argument must be str, not "
                                f"{type(s).__name__}")
            self._cap.add(self._name, s)
            return len(s)
        return self._orig.write(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if _get_ident() != self._cap.tid and self._orig is not None:
            self._orig.flush()

    def isatty(self):
        if _get_ident() == self._cap.tid:
            return False
        return self._orig.isatty()

    def __getattr__(self, name):
        return getattr(self._orig, name)


class OutputCapture:
    """Replaces sys.stdout/sys.stderr; batches the worker's text into
    :class:`Output` events (every 50 ms, or 600 ms while ``running_free()``
    says so; 16 KB; or on flush)."""

    def __init__(self, tid, post, running_free=lambda: False):
        self.tid = tid
        self._post = post
        self._running_free = running_free
        self._buf = []
        self._size = 0
        self._last = time.perf_counter_ns()
        self._saved = None

    def install(self):
        self._saved = (sys.stdout, sys.stderr)
        self._out = _Writer(self, "stdout", sys.stdout)
        self._err = _Writer(self, "stderr", sys.stderr)
        sys.stdout, sys.stderr = self._out, self._err

    def uninstall(self):
        if self._saved is None:
            return
        if sys.stdout is self._out:
            sys.stdout = self._saved[0]
        if sys.stderr is self._err:
            sys.stderr = self._saved[1]
        self._saved = None

    def add(self, stream, text):
        if not text:
            return
        self._buf.append((stream, text))
        self._size += len(text)
        waited = time.perf_counter_ns() - self._last
        if self._size >= FLUSH_BYTES or waited >= FREE_FLUSH_INTERVAL_NS or (
                waited >= FLUSH_INTERVAL_NS and not self._running_free()):
            self.flush()

    def flush(self):
        self._last = time.perf_counter_ns()
        if not self._buf:
            return
        buf, self._buf, self._size = self._buf, [], 0
        stream, parts = buf[0][0], []
        for s, text in buf:
            if s != stream:
                self._post(Output(stream, "".join(parts)))
                stream, parts = s, []
            parts.append(text)
        self._post(Output(stream, "".join(parts)))


# ------------------------------------------------------------- reprs --


def safe_repr(v, limit=120, tensors_full=False) -> str:
    """A bounded repr that never raises and never prints a huge array."""
    try:
        data = getattr(v, "_data", None)
        if data is not None and hasattr(v, "_device") and not tensors_full:
            kind = type(v).__name__
            return f"{kind}{tuple(data.shape)} {data.dtype} {v._device}"
        if isinstance(v, np.ndarray) and not tensors_full:
            return f"ndarray{v.shape} {v.dtype}"
        if isinstance(v, np.ndarray):
            r = np.array2string(v, threshold=200, edgeitems=3, precision=4)
            r = f"array({r}, shape={v.shape}, dtype={v.dtype})"
        else:
            r = repr(v)
    except Exception as e:
        r = f"<repr failed: {type(e).__name__}: {e}>"
    if len(r) > limit:
        r = r[:limit - 3] + "..."
    return r


_SKIP_TYPES = (types.ModuleType, types.FunctionType, type,
               types.BuiltinFunctionType)


def locals_preview(f, limit=30):
    out = []
    is_module = f.f_code.co_name == "<module>"
    for name, v in list(f.f_locals.items()):
        if name.startswith("__"):
            continue
        if is_module and isinstance(v, _SKIP_TYPES):
            continue
        out.append((name, safe_repr(v)))
        if len(out) >= limit:
            break
    return tuple(out)


def build_frames(frames) -> tuple:
    """:class:`Frame` records for real frames (outermost first)."""
    return tuple(Frame(f.f_code.co_filename, f.f_lineno, f.f_code.co_name,
                       locals_preview(f)) for f in frames)


def format_where(frames, frame_index) -> str:
    """pdb-like stack text; ``>`` marks the selected frame."""
    lines = []
    for i, fr in enumerate(frames):
        mark = ">" if i == frame_index else " "
        src = linecache.getline(fr.filename, fr.lineno).strip()
        lines.append(f"{mark} {os.path.basename(fr.filename)}:{fr.lineno} "
                      f"in {fr.function}")
        if src:
            lines.append(f"    -> {src}")
    return "\n".join(lines) if lines else "no frames"


# -------------------------------------------------------------- tapes --

_tape_ids = weakref.WeakKeyDictionary()
_tape_counter = itertools.count(1)


def _tape_id(tape) -> int:
    try:
        tid = _tape_ids.get(tape)
        if tid is None:
            tid = _tape_ids[tape] = next(_tape_counter)
        return tid
    except TypeError:
        return id(tape)


def tape_view(dispatch, gradients=(), seen=()) -> TapeView:
    """Active tapes (plus ``seen`` weakrefs of tapes that stopped recording
    but still hold entries), the forward op whose VJP runs now, and
    gradients."""
    infos = []
    active = list(dispatch.tapes)
    tapes = list(active)
    for ref in seen:
        tp = ref()
        if tp is not None and tp not in tapes and getattr(tp, "_entries", None):
            tapes.append(tp)
    for tp in tapes:
        entries = getattr(tp, "_entries", [])
        shown = entries[-TAPE_ENTRIES_SHOWN:]
        infos.append(TapeInfo(
            tape_id=_tape_id(tp), persistent=bool(getattr(tp, "persistent", False)),
            entries=tuple(TapeEntry(n.index, n.op.name, tuple(n.scope or ()),
                                    tuple(getattr(n.out, "shape", ()) or ()))
                          for n in shown),
            n_entries=len(entries), active=tp in active))
    processing = dispatch.forward_index if dispatch.phase == "backward" else None
    return TapeView(tuple(infos), processing, tuple(gradients))


def _leaf_candidates(v, out, depth=0):
    if getattr(v, "_data", None) is not None and hasattr(v, "_rg"):
        if v._rg and v._node is None:
            out[id(v)] = v
        return
    if depth >= 2:
        return
    if isinstance(v, (list, tuple)):
        for x in v[:256]:
            _leaf_candidates(x, out, depth + 1)
    elif isinstance(v, dict):
        for x in list(v.values())[:256]:
            _leaf_candidates(x, out, depth + 1)
    elif depth == 0 and not isinstance(v, (type, types.ModuleType,
                                           types.FunctionType)):
        tv = getattr(type(v), "trainable_variables", None)
        if isinstance(tv, property):
            try:
                _leaf_candidates(v.trainable_variables, out, depth + 1)
            except Exception:
                pass


def gradients_of(frames, tapes=()) -> tuple:
    """(name, shape, norm) of leaf tensors in reach that have a ``.grad``.

    Leaves are looked for in the user's frames (locals, lists/dicts of
    tensors, objects with ``trainable_variables``) and among what the
    given tapes watched; nothing is tracked per op.
    """
    cands = {}
    for f in frames:
        names = f.f_locals
        for i, v in enumerate(list(names.values())):
            if i >= 200:
                break
            _leaf_candidates(v, cands)
    for tp in tapes:
        for t in list(getattr(tp, "_watched", {}).values()):
            _leaf_candidates(t, cands)
    returned = {}               # what tape.gradient() returned last
    for tp in tapes:
        for src, g in getattr(tp, "_last_gradients", ()):
            if g is not None:
                returned[id(src)] = g
                cands.setdefault(id(src), src)
    pairs = []
    for t in cands.values():
        g = getattr(t, "_grad", None)
        pairs.append((t, returned.get(id(t)) if g is None else g))
    out = []
    for t, g in pairs:
        if g is None:
            continue
        name = getattr(t, "_name", None) or \
            f"{type(t).__name__.lower()}#{len(out) + 1} {tuple(t._data.shape)}"
        gd = getattr(g, "_data", g)
        try:
            host = np.asarray(g._device.backend.to_host(gd)) \
                if hasattr(g, "_device") else np.asarray(gd)
            norm = float(np.linalg.norm(host.astype(np.float64).ravel()))
        except Exception:
            norm = float("nan")
        out.append((name, tuple(gd.shape), norm))
    return tuple(out)


# ------------------------------------------------------------ timings --


def timing_rows(timing: dict) -> tuple:
    """Per-op-name rows, most total time first."""
    total = sum(v[1] for v in timing.values()) or 1
    rows = [TimingRow(name, calls, tot, tot / calls if calls else 0.0,
                      tot / total)
            for name, (calls, tot) in timing.items()]
    rows.sort(key=lambda r: -r.total_ns)
    return tuple(rows)


def nbytes_of(arrays) -> int:
    return sum(getattr(a, "nbytes", 0) for a in arrays)


# ------------------------------------------------------------- frames --

SESSION_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "session.py")


def user_frames(f, top_code):
    """User frames from the script's module frame down to ``f``."""
    frames = []
    while f is not None:
        fn = f.f_code.co_filename
        if fn == SESSION_FILE:
            break
        if not fn.startswith(_CORE_DIR):
            frames.append(f)
        if f.f_code is top_code:
            break
        f = f.f_back
    frames.reverse()
    return frames


def exit_code_of(e: SystemExit) -> int:
    """The exit status a ``SystemExit`` asks for (a message: printed, 1)."""
    c = e.code
    if c is None:
        return 0
    if isinstance(c, int):
        return c
    print(c, file=sys.stderr)
    return 1
