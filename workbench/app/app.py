"""The workbench Textual app: panes over a debugger session.

The app learns about the program only through session events (queued in
its inbox by the session's worker thread, one :class:`SessionEvents` message
per batch: see ``workbench.app.messages``) and acts on it only by
``session.send(command)`` and ``session.tensor_values(...)`` (the latter from
a thread worker).  It never touches user objects.

While the program runs free, ``Running`` snapshots are coalesced twice: in the
inbox (a batch draws its newest) and by drawing at most one every
``RUNNING_REFRESH_S`` (a snapshot arriving sooner is drawn by a one-shot timer,
superseded by any newer one), so drawing cannot slow a free-running model.
The app runs no periodic timer: an idle tick costs the running script a
switch of the GIL (measured: two 20 Hz intervals made the MLP sample run
about 15% slower with nothing to draw).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from typing import Iterable

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from workbench.app.command_line import CommandLine
from workbench.app.fmt import where_text
from workbench.app.help_screen import HelpScreen
from workbench.app.inspector import MODES, Inspector
from workbench.app.messages import Inbox, SessionEvent, SessionEvents
from workbench.app.op_history import ListSource, OpHistory, OpList, WithCurrent
from workbench.app.output_log import OutputLog
from workbench.app.source_view import SourceView
from workbench.app.status_bar import (StatusBar, finished_text, paused_text,
                                      postmortem_text, running_text)
from workbench.app.tape_tree import TapeTree
from workbench.app.timings import Timings
from workbench.app.watches import Watches
from workbench.records import (CommandResult, Finished, Output, Paused,
                               PostMortem, Running)

RUNNING_REFRESH_S = 0.1      # status line: at most 10 redraws a second while running free
                             # (the session posts progress at most twice a second)
FULL_GC_EVERY = 100          # young (gen 1) collections per full one while the UI runs
RUNNING_PANES_S = 1.0        # history and timings panes: at most 1 a second, the
                             # first one second into the run


def _pane(name, title, widget):
    """A bordered pane ``#NAME-pane`` titled ``title`` around ``widget``."""
    pane = Vertical(widget, id=f"{name}-pane", classes="pane")
    pane.border_title = title
    return pane


class WorkbenchApp(App[int]):
    """pdb-like debugger UI for one session."""

    CSS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "app.tcss")
    TITLE = "workbench"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("s", "command('step')", "step"),
        Binding("n", "command('next')", "next"),
        Binding("c", "command('continue')", "cont"),
        Binding("r", "command('finish')", "finish"),
        Binding("b", "prompt('break ')", "break"),
        Binding("p", "prompt('p ')", "print"),
        Binding("u", "command('up')", "up", show=False),
        Binding("d", "command('down')", "down", show=False),
        Binding("w", "prompt('w ')", "save", show=False),
        Binding("v", "cycle_view", "view"),
        Binding("left_square_bracket", "history(-1)", "prev op", show=False),
        Binding("right_square_bracket", "history(1)", "next op", show=False),
        Binding("slash", "filter", "filter"),
        Binding("colon", "prompt('')", "cmd"),
        Binding("question_mark", "help", "help"),
        Binding("ctrl+c", "interrupt", "pause", show=False, priority=True),
        Binding("q", "quit_debugger", "quit"),
    ]

    def __init__(self, session, *, script: str | None = None,
                 start_session: bool = True, subscribe: bool = True,
                 initial_events=(), resume_event=None) -> None:
        """``initial_events`` are applied on mount (events posted before the
        app ran); with ``resume_event`` (set_trace's modal UI) the app exits
        as soon as that threading.Event is set, and leaving does not stop the
        session."""
        super().__init__()
        self.session = session
        self.subscribe_session = subscribe
        self.initial_events = list(initial_events)
        self.resume_event = resume_event
        self.notes: list[str] = []
        self.script = script or getattr(session, "script", "") or ""
        self.start_session = start_session
        self.paused: Paused | None = None
        self.state = "starting"          # starting | paused | running | finished | postmortem
        self.exit_code = 0
        self.pauses = 0                  # Paused events applied (tests/bench poll this)
        self.running_draws = 0           # Running snapshots drawn
        self.last_result: CommandResult | None = None
        self.history_filter: dict = {}
        self._pending_running: Running | None = None
        self._running_drawn_at = 0.0
        self._running_timer = None       # one-shot: draws a snapshot that came early
        self._running_shown_ops = -1     # ops_run of the RUNNING status `continue` drew
        self._panes_drawn_at = 0.0
        self._subscribed = False
        self._inbox = Inbox()            # session events from the worker
        self._froze = False              # gc.freeze() done at mount (undone at unmount)
        self._gc_threshold = gc.get_threshold()     # ... and the thresholds then

    # -- layout -------------------------------------------------------
    def compose(self) -> ComposeResult:
        """Status bar, three rows of panes, command line, footer."""
        yield StatusBar(self.script, id="status")
        yield Horizontal(_pane("source", "source", SourceView(id="source")),
                         _pane("inspector", "inspector", Inspector(id="inspector")),
                         id="top")
        yield Horizontal(_pane("history", "ops", OpHistory(id="history")),
                         _pane("tape", "tape", TapeTree(id="tape")),
                         _pane("timings", "timings", Timings(id="timings")),
                         id="middle")
        yield Horizontal(_pane("console", "output & console", OutputLog(id="console")),
                         _pane("watches", "watches", Watches(id="watches")),
                         id="bottom")
        yield CommandLine(id="cmdline")
        yield Footer()

    def on_mount(self) -> None:
        """Wire the inspector to the session, subscribe, start the script."""
        self.query_one(Inspector).provider = self._tensor_values
        self.query_one(OpList).focus()
        log = self.query_one(OutputLog)
        for note in self.notes:
            log.add_note(note, style="bold")
        for ev in self.initial_events:
            self.on_session_event(SessionEvent(ev))
        if self.resume_event is not None:
            self.set_interval(0.02, self._check_resumed)
        if self.subscribe_session and not self._subscribed:
            self.session.subscribe(self._forward_event)
            self._subscribed = True
        if self.start_session:
            if self.resume_event is None and not self._froze:
                # the UI's own heap (Textual, rich, numpy, the engine: a few
                # hundred thousand objects) is permanent: keep it out of the
                # collector's full passes, which otherwise cost about 30 ms
                # each and landed in one step in ten.  Only before the
                # script runs: its objects stay collectable.
                gc.collect()
                gc.freeze()
                self._froze = True
                # and full passes over what comes after at most every
                # FULL_GC_EVERY young passes (CPython's default is 10): the
                # UI's drawing allocates enough that one came every dozen
                # steps and held that step's frame about 15 ms
                self._gc_threshold = gc.get_threshold()
                t0, t1, t2 = self._gc_threshold
                gc.set_threshold(t0, t1, max(t2, FULL_GC_EVERY))
            try:
                self.session.start()
            except Exception as exc:       # e.g. a SyntaxError in the script
                self._cannot_start(exc)
                return
            if not getattr(self.session, "break_at_first_op", True):
                self.state = "running"
                self.query_one(StatusBar).show(running_text(self.script, 0, None))

    def _cannot_start(self, exc: Exception) -> None:
        """The script could not start: say why, keep the UI up until q."""
        import traceback
        self.state = "finished"
        self.exit_code = 1
        text = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        status = Text(" ✖ CANNOT START ", style="bold white on red")
        status.append(f" {text.splitlines()[-1]}   q quits", style="red")
        self.query_one(StatusBar).show(status)
        self.query_one(OutputLog).add_note(text, style="red")

    def _check_resumed(self) -> None:
        """Modal mode: leave once the session resumed the script."""
        if self.resume_event.is_set():
            self.exit(self.exit_code)

    def on_unmount(self) -> None:
        """Make sure the script is told to stop when the UI goes away."""
        if self._froze:
            gc.unfreeze()
            gc.set_threshold(*self._gc_threshold)
            self._froze = False
        if self.resume_event is not None:
            return
        try:
            self.session.stop()
        except Exception:
            pass

    # -- session -> UI ------------------------------------------------
    def forward_event(self, event) -> None:
        """Hand a session event to the app (any thread): queued in the
        inbox, with one message for all the events queued until the UI
        thread takes them (see ``workbench.app.messages``)."""
        if self._inbox.put(event):
            self.post_message(SessionEvents())

    _forward_event = forward_event      # the session's subscriber

    def on_session_events(self, message: SessionEvents) -> None:
        """Apply the events waiting in the inbox, in order."""
        answered = False
        for ev in self._inbox.take():
            self._apply_event(ev)
            answered = answered or isinstance(ev, (Output, CommandResult))
        if answered:            # the batch's output, drawn in this wake-up
            self.query_one(OutputLog).flush()

    def _tensor_values(self, op_index, slot, slice_text):
        """Values provider for the inspector (called from a thread worker)."""
        return self.session.tensor_values(op_index, slot, slice_text)

    def on_session_event(self, message: SessionEvent) -> None:
        """Apply one session event to the panes."""
        self._apply_event(message.event)

    def _apply_event(self, ev) -> None:
        if isinstance(ev, Running):
            if self.state != "running":
                # resumed: the panes were drawn at the pause (or start), so
                # their first refresh is one interval into the run, and the
                # status shows RUNNING once the run has lasted
                # RUNNING_REFRESH_S (a step, paused again sooner, never
                # flashes it; a frame drawn meanwhile would hold the pause's
                # back by one frame interval)
                self.state = "running"
                self._panes_drawn_at = self._running_drawn_at = time.monotonic()
            elif ev.last is None and ev.ops_run == self._running_shown_ops:
                return          # the status already says this (`continue` drew it)
            self._pending_running = ev
            self._schedule_running()
        elif isinstance(ev, Paused):
            self._apply_paused(ev)
        elif isinstance(ev, Output):
            self.query_one(OutputLog).add_output(ev.stream, ev.text)
        elif isinstance(ev, CommandResult):
            self.last_result = ev
            self.query_one(OutputLog).add_result(ev.text, ev.ok)
        elif isinstance(ev, PostMortem):
            self._apply_postmortem(ev)
        elif isinstance(ev, Finished):
            self._apply_finished(ev)

    def _apply_paused(self, ev: Paused) -> None:
        """Draw a pause: status, source, inspector, history, tape, timings, watches."""
        self._pending_running = None
        if self._running_timer is not None:
            self._running_timer.stop()
            self._running_timer = None
        self.paused = ev
        self.state = "paused"
        with self.batch_update():
            self.query_one(StatusBar).show(paused_text(self.script, ev))
            self.query_one(SourceView).show(ev.source_file, ev.source_line, ev.op_lines)
            self.query_one(Inspector).show(ev.op, paused_before=not ev.after)
            self.query_one(TapeTree).show(ev.tape)
            self.query_one(Timings).show(ev.timings)
            self.query_one(Watches).show(ev.watches)
            self._refresh_history(current=ev.op.index)
            self._update_completion(ev)
            log = self.query_one(OutputLog)
            log.add_note(
                f"> {'after' if ev.after else 'before'} #{ev.op.index} {ev.op.name} "
                f"({ev.op.phase}) at {where_text(ev.op.location)}  [{ev.reason}]")
            log.flush()
        self.pauses += 1

    def _schedule_running(self) -> None:
        """Draw the newest Running snapshot now, or when ``RUNNING_REFRESH_S``
        has passed since the last one was drawn (a step's brief run, paused
        again before then, never flashes RUNNING)."""
        if self._running_timer is not None:
            return
        wait = self._running_drawn_at + RUNNING_REFRESH_S - time.monotonic()
        self._running_timer = self.set_timer(max(wait, 0.001), self._draw_running)

    def _draw_running(self) -> None:
        """Draw the newest Running snapshot, if any (one-shot timer)."""
        self._running_timer = None
        ev = self._pending_running
        if ev is None or self.state != "running":
            return
        self._pending_running = None
        now = time.monotonic()
        self._running_drawn_at = now
        panes = now - self._panes_drawn_at >= RUNNING_PANES_S
        with self.batch_update():
            self.query_one(StatusBar).show(running_text(self.script, ev.ops_run, ev.last))
            if panes:
                self._panes_drawn_at = now
                if ev.timings:
                    self.query_one(Timings).show(ev.timings)
                if not self.history_filter:
                    self._refresh_history(current=None)
        self.running_draws += 1

    def _apply_postmortem(self, ev: PostMortem) -> None:
        """The script raised: show the traceback and the failing frame."""
        self.state = "postmortem"
        self._pending_running = None
        self.query_one(StatusBar).show(postmortem_text(self.script, ev))
        if ev.timings:
            self.query_one(Timings).show(ev.timings)
        log = self.query_one(OutputLog)
        log.add_note(ev.traceback_text.rstrip("\n"), style="red")
        log.add_note("post-mortem: the frames stay inspectable (p EXPR, u/d); q quits",
                     style="bold red")
        if ev.frames:
            fr = ev.frames[min(ev.frame_index, len(ev.frames) - 1)]
            self.query_one(SourceView).show(fr.filename, fr.lineno)
            self.query_one(CommandLine).completer.names = tuple(
                n for n, _ in fr.locals_preview)
        self._refresh_history(current=None)

    def _apply_finished(self, ev: Finished) -> None:
        """The script ended: keep the panes for a look around; q quits."""
        self.state = "finished"
        self._pending_running = None
        self.exit_code = ev.exit_code
        self.query_one(StatusBar).show(finished_text(self.script, ev.exit_code, ev.ops_run))
        if ev.timings:
            self.query_one(Timings).show(ev.timings)
        self.query_one(OutputLog).add_note(
            f"program finished (exit code {ev.exit_code}, {ev.ops_run} ops) — q quits",
            style="bold")
        self._refresh_history(current=None)

    def _update_completion(self, ev: Paused) -> None:
        completer = self.query_one(CommandLine).completer
        if ev.frames:
            fr = ev.frames[min(ev.frame_index, len(ev.frames) - 1)]
            completer.names = tuple(n for n, _ in fr.locals_preview)
        completer.op_names = tuple(sorted({r.name for r in
                                           self.query_one(Timings)._rows}))

    # -- history --------------------------------------------------------
    def _refresh_history(self, current) -> None:
        """Point the op list at the session history (or the active filter)."""
        op_list = self.query_one(OpList)
        if current is not None:
            op_list.current_index = current
        if self.history_filter:
            self._run_filter(self.history_filter, follow=True)
        else:
            op_list.set_source(self._history_source(), follow=True)

    def _history_source(self):
        """The session history, plus the paused op while it is not recorded yet."""
        current = self.paused.op if self.state == "paused" and self.paused else None
        return WithCurrent(self.session.history, current)

    def _run_filter(self, criteria: dict, follow: bool = True) -> None:
        self.run_worker(lambda: self._filter_worker(criteria, follow), thread=True,
                        exclusive=True, group="history-filter")

    def _filter_worker(self, criteria: dict, follow: bool) -> None:
        """Filter the history off the UI thread (a million ops takes a while)."""
        try:
            selection = self.session.history.filter(**criteria)
        except Exception as exc:
            self.call_from_thread(self.notify, f"filter failed: {exc}", severity="error")
            return
        self.call_from_thread(self._show_filtered, criteria, selection, follow)

    def _show_filtered(self, criteria, selection, follow) -> None:
        if criteria != self.history_filter:
            return
        self.query_one(OpList).set_source(ListSource(selection), follow=follow)
        desc = " ".join(f"{k}:{v}" for k, v in criteria.items())
        self.query_one("#history-pane").border_title = f"ops  filter {desc}  ({len(selection)})"

    def on_op_history_filter_changed(self, event: OpHistory.FilterChanged) -> None:
        """Apply or clear the history filter."""
        self.apply_filter(event.criteria)

    def apply_filter(self, criteria: dict) -> None:
        """Filter the op history ({} clears)."""
        self.history_filter = dict(criteria)
        if criteria:
            self._run_filter(self.history_filter)
        else:
            self.query_one("#history-pane").border_title = "ops"
            self.query_one(OpList).set_source(self._history_source(), follow=True)

    def on_virtual_list_highlighted(self, event) -> None:
        """Cursor moves in lists other than the ops list need nothing here."""

    def on_op_list_selected(self, event: OpList.Selected) -> None:
        """Show the selected op in the inspector."""
        self.query_one(Inspector).show(event.record)

    # -- UI -> session ----------------------------------------------------
    def send(self, text: str) -> None:
        """Echo a command in the console and hand it to the session (or handle it here)."""
        text = text.strip().lstrip(":").strip()      # a vim habit: ":step"
        if not text:
            return
        log = self.query_one(OutputLog)
        log.add_command(text)
        word, _, rest = text.partition(" ")
        rest = rest.strip()
        if word in ("help", "?", "h") and not rest:
            self.action_help()
            return
        if word == "filter":
            from workbench.app.op_history import parse_filter
            try:
                self.apply_filter(parse_filter(rest))
            except ValueError as exc:
                log.add_result(str(exc), ok=False)
            return
        if word == "view":
            if rest in MODES:
                self.query_one(Inspector).mode = rest
            else:
                log.add_result(f"view takes one of {', '.join(MODES)}", ok=False)
            return
        if word == "watch":
            text = f"display {rest}"
        if word == "w" and rest:
            insp = self.query_one(Inspector)
            if insp.record is None or insp.slot is None:
                log.add_result("w PATH saves the inspected tensor: select an op and a "
                               "tensor slot first", ok=False)
                return
            text = f"save {insp.record.index} {insp.slot} {rest}"
        if word in ("q", "quit", "exit"):
            self.action_quit_debugger()
            return
        if self.state in ("running",) and word not in ("pause", "interrupt", "break", "b",
                                                       "tbreak", "clear", "disable",
                                                       "enable"):
            log.add_result("the program is running: ctrl+c pauses it", ok=False)
            return
        self.session.send(text)
        # the echo shows with the answer (a pause flushes the console, and so
        # does a batch of events with output or a result), not in a frame of
        # its own now: a frame drawn just before a step's pause arrives holds
        # the pause's frame back 17-33 ms (Textual's update timer skips to
        # the second next tick), which made one step in ten take 40-55 ms
        if word in ("c", "cont", "continue") and self.state == "paused":
            self._show_running_now(log)

    def _show_running_now(self, log: OutputLog) -> None:
        """``continue`` sent: RUNNING and the echo in this wake-up of the UI
        thread, not in another one a moment into the run (each wake-up
        while the script runs costs it a GIL hand-over or more)."""
        ops = self.paused.ops_run if self.paused is not None else 0
        self.state = "running"
        self._panes_drawn_at = self._running_drawn_at = time.monotonic()
        self._running_shown_ops = ops
        self.query_one(StatusBar).show(running_text(self.script, ops, None))
        log.flush()

    def on_command_line_command(self, event: CommandLine.Command) -> None:
        """A command typed at the (wb) prompt."""
        self.send(event.text)

    def action_command(self, command: str) -> None:
        """Key binding: send a run-control or stack command."""
        self.send(command)

    def action_prompt(self, prefix: str) -> None:
        """Focus the command line with a prefix typed in."""
        cmd = self.query_one(CommandLine)
        cmd.value = prefix
        cmd.cursor_position = len(prefix)
        cmd.focus()

    def action_cycle_view(self) -> None:
        """Inspector view: values -> heatmap -> histogram."""
        self.query_one(Inspector).action_cycle_mode()

    def action_history(self, delta: int) -> None:
        """Select the previous/next op in the history."""
        self.query_one(OpList).action_cursor(delta)

    def action_filter(self) -> None:
        """Focus the history filter."""
        self.query_one("#history-filter").focus()

    def action_help(self) -> None:
        """Show keys and commands."""
        self.push_screen(HelpScreen())

    def action_interrupt(self) -> None:
        """Ctrl+C: pause a running program at its next op."""
        if self.state == "running":
            self.query_one(OutputLog).add_note("interrupt: pausing at the next op")
            self.session.send("pause")
        else:
            self.notify("the program is not running (q quits)")

    def action_quit_debugger(self) -> None:
        """Stop the program and leave."""
        try:
            self.session.stop()
        finally:
            self.exit(self.exit_code)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Command palette: debugger commands next to Textual's own."""
        yield from super().get_system_commands(screen)
        for title, help_, cmd in (
                ("Step", "run to the next op (s)", "step"),
                ("Next", "run to the next line (n)", "next"),
                ("Continue", "run to a breakpoint (c)", "continue"),
                ("Finish", "run until the function returns (r)", "finish"),
                ("Break on NaN", "pause after any op that makes NaN", "break nan"),
                ("Break on Inf", "pause after any op that makes Inf", "break inf"),
                ("Where", "print the user's stack", "where"),
                ("Up", "select the caller's frame (u)", "up"),
                ("Down", "select the callee's frame (d)", "down")):
            yield SystemCommand(title, help_, lambda c=cmd: self.send(c))
        for mode in MODES:
            yield SystemCommand(f"View {mode}", f"inspector shows {mode}",
                                lambda m=mode: setattr(self.query_one(Inspector), "mode", m))
        yield SystemCommand("Clear history filter", "show every op",
                            lambda: self.apply_filter({}))
        yield SystemCommand("Help", "keys and commands (?)", self.action_help)


def run_app(session, *, script: str | None = None, start_session: bool = True) -> int:
    """Run the UI on this (main) thread over a session; returns the script's exit code."""
    app = WorkbenchApp(session, script=script, start_session=start_session)
    streams = (sys.stdout, sys.stderr)
    try:
        result = app.run()
        try:
            session.stop()
        except Exception:
            pass
        session.join(timeout=5.0)
    finally:
        # the session's output capture was installed while Textual redirected
        # stdout; when it uninstalls after the app exits it would restore that
        # dead redirector, so put the real streams back
        sys.stdout, sys.stderr = streams
    return int(result if result is not None else app.exit_code)


def headless_size() -> tuple[int, int]:
    """The size used for headless runs (tests, benchmarks, captures)."""
    return (int(os.environ.get("WORKBENCH_COLS", 120)), int(os.environ.get("WORKBENCH_ROWS", 40)))

