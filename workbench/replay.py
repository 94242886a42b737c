"""``workbench replay RECORDING``: the debugger over a recorded run.

:class:`ReplaySession` speaks the session interface the Textual app and
the ``--batch`` front end use (``subscribe``, ``start``, ``send``,
``history``, ``tensor_values``, ``stop``/``join``, the same events), over a
:mod:`workbench.recording` file instead of a live script.  It is
read-only and always paused: it starts at the first recorded op and moves
a cursor through the recorded ops in both directions (time travel).  Every
pause is *after* its op (the outputs are known).

Commands (pdb names; the reverse ones follow gdb)::

    step s [N]            forward one (or N) op(s)
    back bs [N]           backward one (or N) op(s)   ("reverse step")
    next n                forward to the next op issued from another line
    continue c            forward to the next breakpoint hit, or the end
    reverse-continue rc   backward to the previous breakpoint hit, or the
                          first recorded op
    until N | jump j N    to op #N (the first op with index >= N)
    break b / tbreak / clear / disable / enable / ignore / condition
                          as in ``workbench debug`` (OPNAME, FILE:LINE,
                          LINE, nan, inf, nonfinite, ``if COND``)
    print p EXPR | pp     evaluated against the current op's recorded
                          values: out, in0.., a b c d x, inputs, name,
                          index, phase, scope, file, line, helpers (absmax,
                          mean, ...), np, and val(N, SLOT) for op #N
    display EXPR | undisplay
    where w               the recorded location of the current op
    inspect OP SLOT [SLICE] | save OP SLOT PATH
    quit q | help

Differences from a live session, by necessity: there are no live frames
(``p`` of a script variable, ``up``/``down`` and ``finish`` say so), a
FILE:LINE breakpoint stops once per run of consecutive ops on that line,
``next`` goes to the next op from a different source line, and NaN/Inf
breakpoints see only ops whose values the live history still held when
the recording was written (the others are unknown).
"""

from __future__ import annotations

import linecache
import os
import sys
import threading

import numpy as np

from workbench import breakpoints as _bp
from workbench.records import (
    CommandResult, Finished, Frame, Output, Paused, PostMortem, TapeView,
    TimingRow,
)
from workbench.recording import NF_INF, NF_NAN, Recording, load_recording
from workbench.replay_history import ReplayHistory, _OpView, _pick
from workbench.session_commands import (
    ALIASES,
    BREAKPOINT_COMMANDS, TENSOR_COMMANDS, WATCH_COMMANDS, eval_text,
    manage_breakpoints, parse_command, tensor_command,
    watch_command,
)

HELP = """\
replay (time travel over a recording; always paused after an op)
step s [N] | back bs [N] | next n | continue c | reverse-continue rc
until N | jump j N | quit q
break b [OPNAME | FILE:LINE | LINE | nan | inf | nonfinite] [if COND]
tbreak ... | clear [N ...] | disable N ... | enable N ... | ignore N COUNT
condition N [COND] | display [EXPR] | undisplay [N|EXPR]
print p EXPR | pp EXPR  (recorded values of the current op: out in0 in1 ..
  a b c d x inputs name index phase scope file line, val(N, 'out'))
where w | inspect OP SLOT [SLICE] | save OP SLOT PATH"""

_ALIASES = {    # the live session's, plus time travel
    **ALIASES, "bs": "back", "rs": "back", "reverse-step": "back",
    "rc": "reverse-continue", "j": "jump",
}
NO_FRAMES = ("a replay has no live frames: only the recorded values of the "
             "ops are available (out, in0, ..., val(N, 'out'))")


# -------------------------------------------------------------- session --


def _render_value(v):
    """A recorded value as text (arrays in full, up to numpy's threshold)."""
    if isinstance(v, np.ndarray):
        return np.array2string(v, threshold=1000, edgeitems=4, precision=4)
    if isinstance(v, np.generic):
        return str(v)
    from workbench.session_support import safe_repr
    return safe_repr(v, limit=2000, tensors_full=True)


class ReplaySession:
    """A read-only session over a recording (see the module docstring)."""

    break_at_first_op = True
    replay = True

    def __init__(self, recording, *, banner=False):
        """``recording``: a path or a loaded :class:`Recording`; with
        ``banner`` the first event is a short usage note (the app's console)."""
        self.banner = banner
        rec = recording if isinstance(recording, Recording) else load_recording(recording)
        self.rec = rec
        self.script = rec.script
        self.argv = tuple(rec.final.get("argv", ()))
        self.history = ReplayHistory(rec)
        self.breakpoints = _bp.Breakpoints()
        self.displays: list = []
        self.exit_code = None
        self.ops_run = 0
        self._subs = []
        self._lock = threading.RLock()
        self._pos = 0                   # rec.n: at the end of the recording
        self._started = False
        self._closed = threading.Event()
        self._out_mark = 0              # outputs posted so far
        self._cand_cache: dict = {}
        c = rec.cols
        locs = rec.tables["locs"]
        self._op_lines = frozenset((f, ln) for f, ln, _ in locs)
        names = rec.tables["names"]
        self._name_codes = c["name"]
        self._names = names
        self._install_sources()

    # -- the session interface -----------------------------------------
    def subscribe(self, callback):
        self._subs.append(callback)

    def start(self):
        with self._lock:
            if self._started:
                raise RuntimeError("session already started")
            self._started = True
            if self.banner:
                fin = self.rec.final
                end = "raised " + fin["postmortem"]["exc_type"] if fin.get("postmortem") \
                    else "quit by the user" if fin.get("quit") \
                    else f"exit code {fin.get('exit_code', 0)}"
                if fin.get("ops_dropped"):
                    end += f"; the {fin['ops_dropped']} oldest ops fell out of the history"
                self._result("", f"replay of {os.path.basename(self.script)}: "
                                 f"{self.rec.n} recorded ops, {end}.  s step, back/bs "
                                 "step back, c / rc (reverse-continue) to breakpoints, "
                                 "jump N; p evaluates recorded values only "
                                 "(out, in0, ...); :help-replay lists all")
            if self.rec.n == 0:
                self._result("", "the recording holds no ops")
                self._at_end()
            else:
                self._goto(0, "start")

    def send(self, command_line: str):
        with self._lock:
            if self._closed.is_set():
                return
            self._command(command_line.strip())

    def stop(self):
        self._closed.set()

    def kill(self, timeout=2.0) -> bool:
        self.stop()
        return True

    def join(self, timeout=None) -> bool:
        return self._closed.is_set()

    def wait_for_prompt(self, timeout=None) -> bool:
        return self._started and not self._closed.is_set()

    @property
    def paused(self) -> bool:
        return self._started and not self._closed.is_set()

    @property
    def finished(self) -> bool:
        return self._closed.is_set()

    @property
    def at_end(self) -> bool:
        return self._pos >= self.rec.n

    @property
    def position(self) -> int:
        """Ring position of the current op (``len(history)`` at the end)."""
        return self._pos

    def tensor_values(self, op_index, slot, slice_text=""):
        """Recorded values of a tensor (numpy array) or an error string."""
        try:
            op_index = int(str(op_index).lstrip("#"))
        except ValueError:
            return f"not an op index: {op_index!r}"
        pos = self.history.find(op_index)
        if pos is None:
            return f"op #{op_index} is not in the recording"
        slots = self.rec.slots(pos)
        if slots is None:
            return (f"values of op #{op_index} were not kept in the recording "
                    "(older than the history or recording memory budget)")
        arr = _pick(slots, slot, op_index)
        if isinstance(arr, str):
            return arr
        try:
            idx = _bp.parse_slice(slice_text)
            view = arr[idx] if idx != () else arr
        except (ValueError, IndexError, TypeError) as e:
            return f"bad slice {slice_text!r} for shape {tuple(arr.shape)}: {e}"
        return np.array(view, copy=True)

    # -- events -----------------------------------------------------------
    def _post(self, event):
        for cb in self._subs:
            try:
                cb(event)
            except Exception:
                import traceback
                traceback.print_exc(file=sys.__stderr__)

    def _result(self, cmd, text, ok=True):
        self._post(CommandResult(cmd, text, ok))

    def _install_sources(self):
        """Serve the recorded source text to linecache (the source pane)."""
        for file, text in self.rec.sources.items():
            lines = text.splitlines(keepends=True)
            linecache.cache[file] = (len(text), None, lines, file)

    def _post_output(self, upto_ops):
        out = self.rec.output
        while self._out_mark < len(out) and out[self._out_mark][2] <= upto_ops:
            stream, text, _ = out[self._out_mark]
            self._post(Output(stream, text))
            self._out_mark += 1

    def _goto(self, pos, reason):
        self._pos = pos
        self.ops_run = pos + 1
        self._post_output(pos)          # text printed after op pos+1 ran comes later
        self._post(self._paused_event(reason))

    def _at_end(self):
        n = self.rec.n
        self._pos = n
        self.ops_run = int(self.rec.final.get("ops_run", n))
        self._post_output(float("inf"))
        pm = self.rec.final.get("postmortem")
        if pm:
            frames = tuple(Frame(f, ln, fn) for f, ln, fn in pm.get("frames", ()))
            self._post(PostMortem(pm["exc_type"], pm["message"], pm["traceback_text"],
                                  frames, max(0, len(frames) - 1)))
        self.exit_code = int(self.rec.final.get("exit_code", 0))
        self._post(Finished(self.exit_code, self.ops_run))

    def _paused_event(self, reason):
        pos = self._pos
        op = self.history.get(pos)
        loc = op.location
        frames = (Frame(loc[0], loc[1], loc[2]),) if loc else ()
        tape = TapeView(processing_index=op.forward_index
                        if op.phase == "backward" else None)
        return Paused(op=op, reason=reason, frames=frames, frame_index=0,
                      source_file=loc[0] if loc else None,
                      source_line=loc[1] if loc else None,
                      op_lines=self._op_lines, tape=tape,
                      timings=self._timings(pos), watches=self._eval_displays(),
                      ops_run=pos + 1, after=True)

    def _timings(self, pos):
        c = self.rec.cols
        k = len(self._names)
        codes = c["name"][:pos + 1]
        calls = np.bincount(codes, minlength=k)
        totals = np.bincount(codes, weights=c["host"][:pos + 1], minlength=k)
        total = float(totals.sum()) or 1.0
        rows = [TimingRow(self._names[i], int(calls[i]), int(totals[i]),
                          float(totals[i]) / int(calls[i]), float(totals[i]) / total)
                for i in np.flatnonzero(calls)]
        rows.sort(key=lambda r: -r.total_ns)
        return tuple(rows)

    # -- evaluation ---------------------------------------------------------
    def _namespace(self, pos):
        if pos >= self.rec.n:
            raise RuntimeError("at the end of the recording: no current op "
                               "(back / jump N first)")
        record = self.history.get(pos)
        slots = self.rec.slots(pos)
        view = _OpView(record, slots)
        ns = dict(_bp.HELPERS)
        for key in ("name", "index", "phase", "scope", "file", "line"):
            ns[key] = _bp.OpNamespace(view)[key]

        def val(op_index, slot="out"):
            v = self.tensor_values(op_index, slot, "")
            if isinstance(v, str):
                raise LookupError(v)
            return v

        ns["val"] = val
        if slots is not None:
            out = slots[0]
            ns["out"] = ns["out0"] = out
            ins = tuple(slots[1:])
            ns["inputs"] = ins
            for i, x in enumerate(ins):
                ns[f"in{i}"] = x
                if i < 4:
                    ns["abcd"[i]] = x
            if ins:
                ns["x"] = ins[0]
        return ns, slots is not None, record

    def _eval(self, expr, pos=None):
        ns, kept, record = self._namespace(self._pos if pos is None else pos)
        try:
            return eval(expr, {"__builtins__": {}}, ns)
        except NameError as e:
            if not kept:
                raise NameError(f"{e}; the values of op #{record.index} were "
                                "not kept in the recording") from None
            raise NameError(f"{e}; {NO_FRAMES}") from None

    def _eval_text(self, expr, pretty=False):
        return eval_text(self._eval, expr, pretty, _render_value)

    def _eval_displays(self):
        return tuple((e, self._eval_text(e)[1]) for e in self.displays)

    # -- breakpoints -------------------------------------------------------
    def _candidates(self, bp):
        """Sorted positions where ``bp`` may stop (before ignore counts and
        conditions); cached per breakpoint definition."""
        key = (bp.number, bp.kind, bp.op, bp.file, bp.line, bp.nan)
        got = self._cand_cache.get(key)
        if got is not None:
            return got
        rec, c, t = self.rec, self.rec.cols, self.rec.tables
        mask = np.ones(rec.n, dtype=bool)
        if bp.op is not None:
            mask &= c["name"] == (t["names"].index(bp.op) if bp.op in t["names"] else -2)
        if bp.line is not None:
            codes = [i for i, (f, ln, _) in enumerate(t["locs"])
                     if ln == bp.line and _bp._same_file(bp.file, f)]
            on = np.isin(c["loc"], codes)
            prev = np.concatenate(([-2], c["loc"][:-1]))
            mask &= on & (c["loc"] != prev)         # once per run of ops on the line
        if bp.kind == "nan":
            want = (NF_NAN if "nan" in bp.nan else 0) | (NF_INF if "inf" in bp.nan else 0)
            nf = c["nonfinite"]
            hit = (nf > 0) & ((nf & want) != 0)
            first = np.flatnonzero(hit)[:1]
            keep = hit & (c["infinite"] == 1)
            keep[first] = True
            mask &= keep
        if bp.code is not None:
            mask &= c["vrow"] >= 0              # conditions need recorded values
        got = np.flatnonzero(mask)
        self._cand_cache[key] = got
        return got

    def _scan(self, start, forward):
        """First position from ``start`` (inclusive) in the direction where an
        enabled breakpoint stops: (pos, reason) or (None, None)."""
        bps = [bp for bp in self.breakpoints.table.values() if bp.enabled]
        if not bps:
            return None, None
        cands = {bp.number: self._candidates(bp) for bp in bps}
        while True:
            best = None
            for bp in bps:
                a = cands[bp.number]
                if forward:
                    i = int(np.searchsorted(a, start, side="left"))
                    p = int(a[i]) if i < len(a) else None
                else:
                    i = int(np.searchsorted(a, start, side="right")) - 1
                    p = int(a[i]) if i >= 0 else None
                if p is not None and (best is None or
                                      (p < best if forward else p > best)):
                    best = p
            if best is None:
                return None, None
            for bp in sorted(bps, key=lambda b: b.number):
                a = cands[bp.number]
                i = int(np.searchsorted(a, best))
                if i >= len(a) or int(a[i]) != best:
                    continue
                reason = self._check(bp, best)
                if reason:
                    return best, reason
            start = best + 1 if forward else best - 1

    def _check(self, bp, pos):
        extra = ""
        if bp.kind == "nan":
            c = self.rec.cols
            nf = int(c["nonfinite"][pos])
            kind = "nan" if nf & NF_NAN and "nan" in bp.nan else "inf"
            src = "finite inputs" if int(c["infinite"][pos]) == 1 else "non-finite inputs"
            rec = self.history.get(pos)
            extra = f": {kind} in output of #{rec.index} {rec.name} (from {src})"
        elif bp.code is not None:
            view = _OpView(self.history.get(pos), self.rec.slots(pos))
            stop, err = _bp.eval_condition(bp, view)
            if not stop:
                return None
            if err:
                extra = f" (condition error: {err})"
        return self.breakpoints.hit(bp, extra)

    # -- commands ------------------------------------------------------------
    def _command(self, line):
        if not line:
            return
        cmd, arg = parse_command(line, _ALIASES)
        res = self._result
        n = self.rec.n
        pos = self._pos
        try:
            if cmd == "quit":
                self.stop()
            elif cmd in ("step", "back"):
                k = int(arg) if arg.isdigit() else 1
                if cmd == "step":
                    if pos >= n:
                        res(line, "at the end of the recording (back, rc or jump N)", False)
                    elif pos + k >= n:
                        self._at_end()
                    else:
                        self._goto(pos + k, "step")
                else:
                    if pos == 0:
                        res(line, "at the first recorded op", False)
                    else:
                        self._goto(max(0, pos - k), "back")
            elif cmd == "next":
                if pos >= n:
                    res(line, "at the end of the recording (back, rc or jump N)", False)
                    return
                loc = self.rec.cols["loc"]
                diff = np.flatnonzero(loc[pos + 1:] != loc[pos])
                if len(diff):
                    self._goto(pos + 1 + int(diff[0]), "next")
                else:
                    self._at_end()
            elif cmd == "continue":
                if pos >= n:
                    res(line, "at the end of the recording (back, rc or jump N)", False)
                    return
                p, reason = self._scan(pos + 1, True)
                if p is None:
                    self._at_end()
                else:
                    self._goto(p, reason)
            elif cmd == "reverse-continue":
                if pos == 0:
                    res(line, "at the first recorded op", False)
                    return
                p, reason = self._scan(min(pos, n) - 1, False)
                if p is None:
                    self._goto(0, "beginning of the recording")
                else:
                    self._goto(p, reason)
            elif cmd in ("until", "jump"):
                try:
                    target = int(arg.lstrip("#"))
                except ValueError:
                    res(line, f"usage: {cmd} OP_INDEX", False)
                    return
                p = int(np.searchsorted(self.rec.cols["index"], target))
                if p >= n:
                    self._at_end()
                else:
                    self._goto(p, f"{cmd} {target}")
            elif cmd == "finish":
                res(line, "finish is not available in a replay (no call stack was "
                          "recorded); use n, c, until N or jump N", False)
            elif cmd in ("up", "down"):
                res(line, "a replay has only the recorded location of each op "
                          "(no call stack)", False)
            elif cmd in ("break", "tbreak"):
                self._break(line, arg, cmd == "tbreak")
            elif cmd in BREAKPOINT_COMMANDS:
                self._cand_cache.clear()
                manage_breakpoints(self.breakpoints, line, cmd, arg, res)
            elif cmd in WATCH_COMMANDS:
                watch_command(self, line, cmd, arg, res)
            elif cmd == "where":
                res(line, self._where())
            elif cmd in TENSOR_COMMANDS:
                tensor_command(self.tensor_values, line, cmd, arg, res)
            elif cmd == "pause":
                res(line, "a replay is always paused")
            elif cmd in ("help", "help-replay"):
                res(line, HELP)
            else:
                res(line, f"unknown command {cmd!r}; try 'help'", False)
        except _bp.BreakError as e:
            res(line, str(e), False)

    def _where(self):
        if self._pos >= self.rec.n:
            pm = self.rec.final.get("postmortem")
            if pm and pm.get("frames"):
                return "\n".join(f"  {os.path.basename(f)}:{ln} in {fn}"
                                 for f, ln, fn in pm["frames"]) + \
                    f"\n(end of the recording: {pm['exc_type']})"
            return "at the end of the recording"
        op = self.history.get(self._pos)
        if not op.location:
            return f"#{op.index} {op.name}: no recorded location"
        f, ln, fn = op.location
        src = linecache.getline(f, ln).strip()
        text = f"> {os.path.basename(f)}:{ln} in {fn}"
        if src:
            text += f"\n    -> {src}"
        return text + "\n(recorded location; a replay keeps no call stack)"

    def _break(self, line, arg, temporary):
        current = None
        if arg and self._pos < self.rec.n:
            loc = self.history.location(self._pos)
            current = loc[0] if loc else None
        self._result(line, self.breakpoints.command(
            arg, temporary, current or self.script or None, set(self._names)))


# ---------------------------------------------------------------- batch --


def run_replay_batch(session: ReplaySession, *, stdin=None, stdout=None,
                     stderr=None) -> int:
    """Line mode over a replay: one command per stdin line, one line per
    pause (the ``workbench debug --batch`` format).  At EOF it continues
    to the end of the recording.  Returns 0."""
    from workbench.batch import LinePrinter
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    printer = LinePrinter(stdout, stderr)
    session.subscribe(printer)
    session.start()
    for line in stdin:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        printer._last_pause = None      # time travel revisits ops: print each pause
        session.send(line)
        if session.finished:
            return 0
    while not session.at_end and not session.finished:
        session.send("continue")
    return 0


__all__ = ["ReplaySession", "ReplayHistory", "run_replay_batch", "HELP"]
