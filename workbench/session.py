"""The UI-agnostic debugger session.

Deviations from / additions to notes/session-api.md (all additive):

- ``Paused.after`` (bool): True when the session paused *after* the op's
  kernel (NaN/Inf and conditional breakpoints), so ``op.outputs`` are set.
- ``TapeInfo.n_entries``: total entries; ``entries`` holds the last 500.
- ``TensorSummary.has_stats``: False for a metadata-only summary.
- ``History.filter`` returns a lazy ``Selection`` (a Sequence of OpRecords
  with ``.positions``); positions count from the oldest op in the ring.
  ``History.find(op_index)`` / ``get_index(op_index)`` look ops up by index.
- Extra commands: ``pause`` (stop at the next op while running free),
  ``b``/``break`` with no argument lists breakpoints, ``help``.
- ``w PATH``: ``w`` with three arguments is ``save``; bare ``w`` is where.
- ``TapeInfo.active``: False for a tape that left its ``with`` block but
  still holds entries (its ``gradient()`` is what runs during backward).
- ``TapeView.gradients`` lists leaf tensors with a ``.grad`` found in the
  user's frames (locals, lists/dicts of tensors, objects with
  ``trainable_variables``) and watched by tapes: the ``backward()`` path.
  Gradients the last ``tape.gradient()`` returned are listed too (the
  tape keeps them while a debugger is attached).
- ``OpRecord.inputs`` of an op whose values were dropped are the string
  ``"values not kept"``; its output is a shape-only TensorSummary.
- ``Paused.ops_run`` / ``Finished.ops_run`` count completed ops.
- While the script runs free (continue mode) the history keeps the
  values of its last 32 ops (64 MB at most; ``History.free_kept`` /
  ``free_budget``), the full budget while stepping; older ops keep their
  metadata and say "values not kept".  ``session.keep_all_values = True``
  (set by subscribing a recording ``Recorder``) keeps the full budget.
- While running free the history lags the script by at most 256 ops (64
  with per-op events) or 50 ms (entries are built a batch at a time); it
  is complete at every pause and at the end.  Running free with nothing
  to check per op, the session is a *recording* hook
  (``workbench.free_run``): the engine writes the records itself, and a
  backward pass appears as one entry per node (named after the forward
  op, values not kept) rather than one per VJP op; a command sent
  meanwhile takes effect within those 256 ops or 50 ms.  Stepping,
  breakpoints and recordings keep per-op events.  ``Running`` progress
  is posted at most every 500 ms, and the script's output with it: while
  running free, output written goes out with the next post, pause or
  end (or at a write 600 ms after the last flush), else at a write 50 ms
  after the last flush.
- ``session.kill(timeout)``: quit, and if the script runs no ops (a
  pure-Python loop, a sleep), raise QuitSession in its thread.
- ``session.wait_for_prompt(timeout)``: block until the session is paused
  and has no queued command (True), or the script finished / timeout
  (False).  A front end that reads commands one at a time (``--batch``,
  tests) sends the next only then: a command sent while the script runs
  free is handled at once (``step``/``next``/``pause`` stop it at the next
  op; ``quit`` ends it; ``continue``/``finish``/``until`` are ignored).

Usage::

    s = Session("script.py", argv=("--x", "1"), break_at_first_op=True)
    s.subscribe(callback)      # callback(event) runs on the worker thread
    s.start()
    s.send("b matmul")         # thread-safe, never blocks
    s.send("c")
    s.history.window(0, 50)    # OpRecords, any thread
    s.tensor_values(op_index, "out", "0:8, 0:16")
    s.stop(); s.join(5)

Commands (pdb names and short forms):

    step s | next n | continue c | finish r | until N | quit q | pause
    break b [OPNAME | FILE:LINE | LINE | nan | inf | nonfinite] [if COND]
    tbreak ... | clear [N ...] | disable N ... | enable N ... | ignore N COUNT
    display [EXPR] | undisplay [N|EXPR] | print p EXPR | pp EXPR
    up u [N] | down d [N] | where w | inspect OP SLOT [SLICE]
    save OP SLOT PATH   (SLOT: out, out0, in0, in1, ...; SLICE: ``0:8, ::2``)

``step`` pauses before the next op (forward or backward).  ``next`` pauses
before the next op issued from a different line of the same frame, or
from an outer frame (a loop re-running the same line counts as new).
``finish`` pauses at the first op after the selected frame returned.
``until N`` pauses before the first op with index >= N.  NaN/Inf and
conditional breakpoints pause *after* the kernel; ``b nan`` pauses at the
first non-finite output and then at each op that turns finite inputs
into NaN (its provenance), not at every op the NaN flows through.

Everything that touches user objects runs on the worker thread while it
is paused; front ends get only the immutable records of
:mod:`workbench.records`.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
import traceback
import types
import weakref
from collections import deque

from core import _dispatch as _D
from workbench import breakpoints as _bp
from workbench.free_run import FreeHook, add_timing, drain, intern_site
from workbench.history import (
    History, RawOp, device_id, make_entry, operand_value, raw_to_record,
)
from workbench.records import (
    CommandResult, Finished, Paused, PostMortem, Running,
)
from workbench.stop_rules import (  # noqa: F401  (modes re-exported)
    CONTINUE, FINISH, NEXT, STEP, UNTIL, after_reason, before_breakpoint,
    find_in_stack, mode_stop, op_user_frame,
)
from workbench.session_support import (
    OutputCapture, build_frames, exit_code_of, gradients_of,
    safe_repr, tape_view, timing_rows, user_frames,
)

_get_ident = threading.get_ident
_perf_ns = time.perf_counter_ns

RUNNING_INTERVAL_NS = 50_000_000        # history lags a free run by at most this
# Running progress at most twice a second: each one wakes the UI thread,
# and a UI wake-up costs the running script several times its own CPU time
# (a GIL hand-over per turn of the UI's event loop, a dozen turns per
# redraw, the script's thread woken on a core whose caches it lost).
# Measured on the MLP sample with the app attached: progress every 100 ms
# made the run about 0.1 s per 0.4 s slower than every 250 ms, and every
# 250 ms about 0.07x of a plain run slower than every 500 ms (each post
# stalled the script 7-8 ms)
POST_INTERVAL_NS = 500_000_000
BATCH = 64                              # ops queued before entries are built
FREE_BATCH = 256                        # ... running free (engine records)
_SESSION_FILE = os.path.abspath(__file__)

_RESUME = {"s": "step", "step": "step", "n": "next", "next": "next",
           "c": "continue", "cont": "continue", "continue": "continue",
           "r": "finish", "return": "finish", "finish": "finish",
           "until": "until", "unt": "until", "q": "quit", "quit": "quit",
           "exit": "quit"}


class QuitSession(BaseException):
    """Raised from the op hook to unwind the script on ``quit`` (as BdbQuit)."""


class _Hook:
    """The object registered with core.hooks (bound to one session)."""

    wants_tape_entries = True       # tapes list their nodes (tape view)

    def __init__(self, session, full=True):
        if full:
            self.before_op = session._before_op
        self.after_op = session._after_op

    def __repr__(self):
        kind = "before+after" if hasattr(self, "before_op") else "after"
        return f"<workbench session hook {kind}>"


class _Pause:
    """State of the current pause (worker thread only)."""

    def __init__(self, ev, raw, reason, after, frames, pm=False):
        self.ev = ev
        self.raw = raw
        self.reason = reason
        self.after = after
        self.frames = frames            # real frame objects, outermost first
        self.frame_index = len(frames) - 1
        self.pm = pm
        self.callee = None


class Session:
    """Runs a script on a worker thread and pauses it inside the op hook."""

    def __init__(self, script, argv=(), *, break_at_first_op=True,
                 history=None, capture_output=True):
        self.script = os.path.abspath(script)
        self.argv = tuple(str(a) for a in argv)
        self.break_at_first_op = break_at_first_op
        if history is None:
            history = History()
        elif isinstance(history, int):
            history = History(capacity=history)
        self.history = history
        self.capture_output = capture_output
        self.ops_run = 0
        self.exit_code = None
        self.breakpoints = _bp.Breakpoints()
        # False: while running free the history keeps values of its last
        # ``free_kept`` ops only (History.running_free); True: always all
        self.keep_all_values = False
        self.displays: list = []
        self._subs = []
        self._q = queue.SimpleQueue()
        self._thread = None
        self._tid = None
        self._code = None
        self._mode = STEP if break_at_first_op else CONTINUE
        self._mode_arg = None
        self._start_reason = "start"
        self._pending = False
        self._quitting = False
        self._interrupt = False
        self._check_before = True
        self._pause: _Pause | None = None
        self._cur = (None, None)
        self._op_lines = set()
        self._timing = {}
        self._last_post = 0
        self._last_flush = 0
        self._finished = threading.Event()
        self._capture = None
        self._cv = threading.Condition()
        self._prompt = False
        self._tapes_seen = []
        self._locs = {}                 # location -> itself (interned)
        self._sites = {}                # id(code) -> {lasti: location}
        self._site_codes = []           # ... the code objects (ids stay unique)
        self._shapes = {}               # output shape -> itself (interned)
        self._free_tid = None           # see _after_op
        self._handle = None
        self._full = None
        self._batch = []
        self._hook_full = _Hook(self, True)
        self._hook_after = _Hook(self, False)
        self._rbuf = []                 # the engine's records (running free)
        # ... and their values: only the newest ``free_kept`` are kept, so
        # the engine's appends drop the older ones at once (their arrays go
        # back to the allocator warm, as in a plain run)
        self._rvals = deque(maxlen=max(1, self.history.free_kept))
        self._hook_free = FreeHook(self, FREE_BATCH, RUNNING_INTERVAL_NS)
        self._tapes_seen_last = ()

    # ------------------------------------------------------ public API --
    def subscribe(self, callback):
        """Call ``callback(event)`` for every event (on the worker thread).

        A recorder (``workbench.recording.Recorder``) sets
        ``keep_all_values``: it saves what the history kept."""
        self._subs.append(callback)
        from workbench.recording import Recorder
        if isinstance(callback, Recorder):
            self.keep_all_values = True
            set_free = getattr(self.history, "running_free", None)
            if set_free is not None:
                set_free(False)

    def start(self):
        """Start the worker thread running the script as ``__main__``."""
        if self._thread is not None:
            raise RuntimeError("session already started")
        if not os.path.isfile(self.script):
            raise FileNotFoundError(f"no such script: {self.script}")
        with open(self.script, "rb") as f:
            source = f.read()
        self._code = compile(source, self.script, "exec")
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="workbench-session")
        self._thread.start()

    def send(self, command_line: str):
        """Enqueue a pdb-style command (thread-safe, never blocks)."""
        line = command_line.strip()
        word = line.split(None, 1)[0].lower() if line else ""
        if word in ("pause", "interrupt"):
            self._interrupt = True
        elif word in ("q", "quit", "exit"):
            self._quitting = True
        with self._cv:
            self._q.put(line)
            self._prompt = False
        self._pending = True
        self._check_before = True
        self._free_tid = None

    def wait_for_prompt(self, timeout=None) -> bool:
        """True once paused with no queued command; False if finished/timeout."""
        with self._cv:
            self._cv.wait_for(lambda: self._prompt or self._finished.is_set(),
                              timeout)
            return self._prompt and not self._finished.is_set()

    def stop(self):
        """Ask the script to quit (``quit``); it unwinds at the next op."""
        self.send("quit")

    def join(self, timeout=None) -> bool:
        """Wait for the worker to end; True when it has."""
        return self._finished.wait(timeout)

    def kill(self, timeout=2.0) -> bool:
        """Quit, and if the script runs no ops, raise QuitSession in it."""
        self.stop()
        if self._finished.wait(timeout):
            return True
        if self._thread is not None and self._thread.is_alive():
            import ctypes
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread.ident), ctypes.py_object(QuitSession))
        return self._finished.wait(timeout)

    @property
    def paused(self) -> bool:
        return self._pause is not None

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def tensor_values(self, op_index, slot, slice_text=""):
        """Values of a kept tensor (numpy array) or an error string.

        ``slot`` is ``out`` / ``outN`` / ``inN``; ``slice_text`` such as
        ``"0:8, 0:16"``.  Runs on the worker thread while paused.
        """
        return self._on_worker(lambda: self._values(op_index, slot, slice_text))

    # ------------------------------------------------------ the worker --
    def _post(self, event):
        for cb in self._subs:
            try:
                cb(event)
            except Exception:       # a broken front end must not kill the run
                traceback.print_exc(file=sys.__stderr__)

    def _run(self):
        self._tid = _get_ident()
        mod = types.ModuleType("__main__")
        mod.__file__ = self.script
        mod.__builtins__ = __builtins__
        saved = (sys.modules.get("__main__"), sys.argv, list(sys.path))
        sys.modules["__main__"] = mod
        sys.argv = [self.script, *self.argv]
        sys.path.insert(0, os.path.dirname(self.script))
        if self.capture_output:
            self._capture = OutputCapture(
                self._tid, self._post, lambda: self._free_tid is not None)
            self._capture.install()
        self._install(self._check_before or True)
        code = 0
        try:
            exec(self._code, mod.__dict__)
        except QuitSession:
            code = 0
        except SystemExit as e:
            code = exit_code_of(e)
        except BaseException as e:       # post-mortem
            code = 1
            self._uninstall()
            try:
                self._post_mortem(e)
            except QuitSession:
                pass
        finally:
            self._uninstall()
            self._flush()
            if self._capture is not None:
                self._capture.flush()
                self._capture.uninstall()
            main, argv, path = saved
            if main is not None:
                sys.modules["__main__"] = main
            sys.argv = argv
            sys.path[:] = path
            self.exit_code = code
            self._pause = None
            try:
                self._post(Finished(code, self.ops_run, timing_rows(self._timing)))
            finally:
                with self._cv:
                    self._prompt = False
                    self._finished.set()
                    self._cv.notify_all()

    # ------------------------------------------------------ op hook --
    # Three hook objects: running free with nothing to check per op, a
    # recording hook (workbench.free_run: the engine writes records, no
    # session code per op); with only after-kernel checks (NaN/Inf and
    # conditional breakpoints), ``after_op`` alone; stepping, pending
    # commands or before-kernel breakpoints add ``before_op``.  Only the
    # worker thread swaps them.

    def _install(self, full):
        """``full``: True (before+after), False (after only) or "free"."""
        if self._handle is not None:
            if self._full == full:
                return
            self._handle.remove()
        from core import hooks
        self._full = full
        hook = self._hook_full if full is True else \
            self._hook_free if full == "free" else self._hook_after
        self._handle = hooks.register(hook)

    def _uninstall(self):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _before_op(self, ev):
        if _get_ident() != self._tid or self._pause is not None:
            return
        if self._check_before:
            self._before_slow(ev)
        else:
            # a recording (keep_all_values) wants every op's values, so
            # its runs keep the per-op events
            free = self._free_tid == self._tid and not self.keep_all_values
            self._install("free" if free else False)

    def _tick(self):
        """Running free, every BATCH records or 50 ms (engine callback):
        build history entries, post progress; on a pending command put
        the full hook back, so the next op stops."""
        if _get_ident() != self._tid:
            return
        if self._free_tid is None or self._pending or not self._q.empty():
            self._free_tid = None
            self._check_before = True
            self._flush()
            self._install(True)
            return
        if _D.tapes is not self._tapes_seen_last:
            self._note_tapes()
        self._flush()

    def _after_op(self, ev):
        """Queue the op; entries are built a batch at a time (``_flush``).

        ``_free_tid`` is the worker's thread id only while it runs free
        with nothing to check per op (no pause, pending command, stepping
        or after-kernel breakpoint): then an op costs an append and three
        comparisons.  Everything else goes through ``_after_checks``.
        """
        if _get_ident() == self._free_tid:
            batch = self._batch
            batch.append(ev)
            if len(batch) < BATCH and _D.tapes is self._tapes_seen_last and \
                    ev.end_ns - self._last_flush <= RUNNING_INTERVAL_NS:
                return
        elif _get_ident() != self._tid or self._pause is not None:
            return
        else:
            self._batch.append(ev)
        self._after_checks(ev)

    def _after_checks(self, ev):
        if _D.tapes is not self._tapes_seen_last:
            self._note_tapes()
        if self.breakpoints.after:
            self._free_tid = None
            raw = self._flush()
            self._after_slow(ev, raw, ev.outputs[0]._data)
        elif self._check_before or self._pending:
            self._free_tid = None
            self._check_before = True           # (a send() may race _recheck)
            self._flush()
            self._install(True)
        elif len(self._batch) >= BATCH or \
                ev.end_ns - self._last_flush > RUNNING_INTERVAL_NS:
            self._flush()

    def _flush(self):
        """Turn queued op events into history entries (worker thread).

        Returns a RawOp of the last one.  Doing this per batch rather than
        per op keeps the hook short while the script runs free.
        """
        batch = self._batch
        if not batch:
            if not self._rbuf:
                return None
            return self._flush_records([], [])
        self._batch = []
        sites, timing = self._sites, self._timing
        shapes = self._shapes
        if len(shapes) > 4096:
            shapes.clear()
        shapes_get, shapes_add = shapes.get, shapes.setdefault
        cur = self._cur[0]
        entries = []
        values = []
        add_e, add_v = entries.append, values.append
        last_dev = last_id = last_code = last_lasti = loc = None
        for ev in batch:        # plain attribute loads: the cheapest here
            kernel = ev.kernel_end_ns - ev.kernel_start_ns
            ns = kernel if ev is cur else ev.end_ns - ev.start_ns
            # the user's line, interned per (code, instruction offset);
            # runs of ops from one site (a layer's forward, a backward
            # pass) skip the look-up
            code = ev._code
            lasti = ev._lasti
            if code is not last_code or lasti != last_lasti or code is None:
                last_code, last_lasti = code, lasti
                loc = sites.get(id(code))
                if loc is not None:
                    loc = loc.get(lasti)
                if loc is None:
                    loc = self._site(ev, code)
            dev = ev.device
            if dev is not last_dev:
                last_dev, last_id = dev, device_id(dev)
            out = ev.outputs[0]._data
            inputs = ev.inputs
            n = len(inputs)
            attrs = ev.attrs
            name = ev.name
            shape = out.shape       # a new tuple per read: keep one of each
            shape = shapes_get(shape) or shapes_add(shape, shape)
            add_e((ev.index, ev.phase, name, ev.scope, loc,
                   attrs if attrs else None, ev.forward_index, last_id, ns,
                   kernel, ev.device_time_ns, shape, out.dtype,
                   out.nbytes + 112, n))        # history.make_entry, inlined
            try:
                if n == 2:
                    add_v((out, inputs[0]._data, inputs[1]._data))
                elif n == 1:
                    add_v((out, inputs[0]._data))
                else:
                    add_v((out,) + tuple([x._data for x in inputs]))
            except AttributeError:
                add_v((out,) + tuple(map(operand_value, inputs)))
            add_timing(timing, name, ns)
        if cur is not None:
            self._cur = (None, None)
        return self._flush_records(entries, values)

    def _flush_records(self, entries, values):
        """Add the engine's records (running free) to the batch's entries,
        in op order, and both to the history; post progress."""
        if self._rbuf:
            if entries:     # device ops' events and host records interleave
                drain(self, entries, values)
                order = sorted(range(len(entries)), key=lambda i: entries[i][0])
                entries = [entries[i] for i in order]
                values = [values[i] for i in order]
            else:
                drain(self, entries, values)
        if not self._q.empty():             # a command whose flag was lost
            self._free_tid = None
            self._pending = self._check_before = True
        if not entries:
            return None
        self.ops_run += len(entries)
        self.history.extend(entries, values)
        raw = RawOp(entries[-1], values[-1])
        self._last_flush = now = _perf_ns()
        if now - self._last_post > POST_INTERVAL_NS and not self._check_before:
            self._post_running(raw, now)
        return raw

    def _site(self, ev, code):
        """The interned location of ``ev`` (first op from this site)."""
        return intern_site(self, ev.location, code, ev._lasti)

    def _note_tapes(self):
        tapes = self._tapes_seen_last = _D.tapes
        known = [r for r in self._tapes_seen if r() is not None]
        for tp in tapes:
            if not any(r() is tp for r in known):
                try:
                    known.append(weakref.ref(tp))
                except TypeError:
                    pass
        self._tapes_seen = known[-8:]

    def _live_tapes(self):
        return [t for t in (r() for r in self._tapes_seen) if t is not None]

    def _recheck(self):
        self._check_before = check = bool(
            self._mode != CONTINUE or self._pending or self._quitting
            or self._interrupt or self.breakpoints.any_before)
        free = not check and self._pause is None and not self.breakpoints.after
        self._free_tid = self._tid if free else None
        if self._pending:           # a send() raced the line above
            self._free_tid = None
        set_free = getattr(self.history, "running_free", None)
        if set_free is not None:
            set_free(self._mode == CONTINUE and not self.keep_all_values)

    def _before_slow(self, ev):
        if self._quitting:
            raise QuitSession()
        reason = "interrupted" if self._interrupt else mode_stop(self, ev)
        if reason is None and self.breakpoints.any_before:
            reason = before_breakpoint(self, ev)
        if reason is None and self._pending:
            self._drain_running()       # may raise QuitSession
            if self._interrupt:
                reason = "interrupted"
        if reason is not None:
            self._interrupt = False
            loc = ev.location
            if loc is not None:
                loc = self._locs.get(loc) or self._locs.setdefault(loc, loc)
            raw = RawOp(*make_entry(ev, loc))
            self._cur = (ev, raw)
            self._pause_at(ev, raw, reason, after=False)
        elif not self._pending:
            # nothing to stop for: drop back to the after-only hook (a run
            # started with break_at_first_op=False lands here on its first op)
            self._recheck()

    def _after_slow(self, ev, raw, out):
        reason = after_reason(self, ev, out)
        if reason:
            self._pause_at(ev, raw, reason, after=True)

    # ------------------------------------------------------ pausing --
    def _post_running(self, raw, now):
        self._last_post = now
        if self._capture is not None:
            self._capture.flush()
        self._post(Running(self.ops_run, raw_to_record(raw),
                           timing_rows(self._timing)))

    def _pause_at(self, ev, raw, reason, after):
        self._flush()
        frames = user_frames(op_user_frame(), self._code)
        self._free_tid = None
        self._pause = _Pause(ev, raw, reason, after, frames)
        if frames:
            self._pause.callee = find_in_stack(frames[-1])[1]
        self._mode = CONTINUE
        self._recheck()
        if self._capture is not None:
            self._capture.flush()
        self._post(self._paused_event())
        self._command_loop()

    def _paused_event(self):
        p = self._pause
        frames = build_frames(p.frames)
        sel = p.frames[p.frame_index] if p.frames else None
        return Paused(
            op=raw_to_record(p.raw), reason=p.reason, frames=frames,
            frame_index=p.frame_index,
            source_file=sel.f_code.co_filename if sel else None,
            source_line=sel.f_lineno if sel else None,
            op_lines=frozenset((f, ln) for f, ln, _ in self._op_lines),
            tape=tape_view(_D, gradients_of(p.frames, self._live_tapes()),
                           self._tapes_seen),
            timings=timing_rows(self._timing),
            watches=self._eval_displays(), ops_run=self.ops_run,
            after=p.after)

    def _command_loop(self):
        """Serve commands until one resumes the script (worker thread)."""
        try:
            while True:
                with self._cv:
                    if self._q.empty():
                        self._prompt = True
                        self._cv.notify_all()
                try:
                    item = self._q.get(timeout=0.05)
                except queue.Empty:
                    continue
                if callable(item):
                    item()
                    continue
                self._pending = not self._q.empty()
                if self._command(item):
                    return
        finally:
            with self._cv:
                self._prompt = False
            self._pause = None
            self._pending = not self._q.empty()
            self._recheck()

    def _drain_running(self):
        """Handle commands sent while running free."""
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if callable(item):
                item()
                continue
            word = item.split(None, 1)[0].lower() if item else ""
            if word in ("s", "step", "pause", "interrupt", "n", "next"):
                self._interrupt = True
            elif word in _RESUME and _RESUME[word] == "quit":
                raise QuitSession()
            elif word in _RESUME:
                pass                # continue/finish/until while running
            else:
                self._command(item)
        self._pending = not self._q.empty()
        self._recheck()

    def _on_worker(self, fn, timeout=10.0):
        if _get_ident() == self._tid or self._pause is None:
            return fn()
        box = []
        done = threading.Event()

        def call():
            try:
                box.append(fn())
            except Exception as e:
                box.append(f"{type(e).__name__}: {e}")
            done.set()

        self._q.put(call)
        if not done.wait(timeout):
            return "timed out waiting for the paused script"
        return box[0]

    # ------------------------------------------------------ commands --
    def _result(self, cmd, text, ok=True):
        self._post(CommandResult(cmd, text, ok))

    def _command(self, line) -> bool:
        """Run one command while paused; True when the script resumes."""
        from workbench.session_commands import run_command
        return run_command(self, line)

    def _resume(self, mode, arg=None):
        p = self._pause
        self._mode = mode
        self._mode_arg = arg
        if mode in (NEXT, FINISH) and p is not None:
            f = p.frames[p.frame_index] if mode == FINISH else p.frames[-1]
            self._mode_arg = (f, f.f_lineno, f.f_lasti, p.callee)
        self._recheck()
        self._last_post = self._last_flush = _perf_ns()
        self._post(Running(self.ops_run, None, timing_rows(self._timing)))

    def _eval_displays(self):
        out = []
        for expr in self.displays:
            ok, text = self._eval_text(expr)
            out.append((expr, text))
        return tuple(out)

    def _selected_frame(self):
        p = self._pause
        if p is None or not p.frames:
            return None
        return p.frames[p.frame_index]

    def _eval(self, expr):
        f = self._selected_frame()
        if f is None:
            raise RuntimeError("no frame to evaluate in")
        return eval(expr, f.f_globals, f.f_locals)

    def _eval_text(self, expr, pretty=False):
        from workbench.session_commands import eval_text
        return eval_text(self._eval, expr, pretty, lambda v: safe_repr(
            v, limit=2000, tensors_full=True))

    def _values(self, op_index, slot, slice_text):
        from workbench.session_commands import values_of
        return values_of(self, op_index, slot, slice_text)

    def _post_mortem(self, exc):
        self._flush()
        tb = exc.__traceback__
        frames = []
        while tb is not None:
            f = tb.tb_frame
            fn = f.f_code.co_filename
            if fn != _SESSION_FILE and not fn.startswith(_D._CORE_DIR):
                frames.append(f)
            tb = tb.tb_next
        te = traceback.TracebackException.from_exception(exc)
        te.stack = traceback.StackSummary.from_list(
            [fs for fs in te.stack if fs.filename != _SESSION_FILE])
        text = "".join(te.format())
        if self._capture is not None:
            self._capture.flush()
        self._free_tid = None
        self._pause = _Pause(None, None, "exception", False, frames, pm=True)
        self._mode = CONTINUE
        self._pm_head = (type(exc).__name__, str(exc), text)
        self._post(PostMortem(*self._pm_head, build_frames(frames),
                              self._pause.frame_index, timing_rows(self._timing)))
        self._command_loop()


__all__ = ["Session", "QuitSession"]
