"""Console pane: the program's output and the debugger's answers, interleaved
as in a pdb terminal.  Writes are buffered and flushed by a one-shot timer
``FLUSH_INTERVAL`` after the first write (one redraw per flush, not per line;
no periodic timer while nothing is written), or at once by :meth:`flush`
(the app flushes when a batch of session events brings output or an
answer, at a pause, and when `continue` is sent: in the same wake-up of
the UI thread); lines are wrapped to the pane's width when written.
"""

from __future__ import annotations

import time

from rich.text import Text

from workbench.app.virtual_list import ListSource, VirtualList

FLUSH_INTERVAL = 0.05
PARTIAL_AGE_S = 0.5     # unterminated output shows after this long
MAX_LINES = 5000


class OutputLog(VirtualList):
    """A follow-the-end virtual list of wrapped lines."""

    show_cursor = False
    can_focus = True
    DEFAULT_CSS = "OutputLog { height: 1fr; padding: 0 1; background: $surface; }"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines: list[Text] = []
        self._pending: list[Text] = []
        self._partial: dict[str, str] = {}     # stream -> text after the last newline
        self._partial_since = None           # when unterminated output began waiting
        self._flush_timer = None
        self.plain_lines: list[str] = []     # everything written (tests, captures)
        self.source = ListSource(self.lines)

    def _schedule(self, delay: float = FLUSH_INTERVAL) -> None:
        """Flush in ``delay`` seconds unless a flush is already due."""
        if self._flush_timer is None and self.is_mounted:
            self._flush_timer = self.set_timer(delay, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_timer = None
        self.flush()

    def on_mount(self) -> None:
        """Flush what was written before the pane was mounted."""
        if self._pending or self._partial:
            self._schedule()

    def render_row(self, item, row: int) -> Text:
        """A stored (already wrapped) line."""
        return item

    # -- queueing -------------------------------------------------------
    def add_output(self, stream: str, text: str) -> None:
        """Queue program output (stderr in red); a line shows once it is complete."""
        if not text:
            return
        text = self._partial.pop(stream, "") + text
        *lines, rest = text.split("\n")
        style = "red" if stream == "stderr" else ""
        for line in lines:
            self._pending.append(Text(line, style=style))
        if rest:
            self._partial[stream] = rest
            if self._partial_since is None:
                self._partial_since = time.monotonic()
        elif not self._partial:
            self._partial_since = None
        self._schedule()

    def end_partial_lines(self) -> None:
        """Show unterminated output (e.g. a prompt without newline) now."""
        if not self._partial:
            return
        for stream, rest in self._partial.items():
            self._pending.append(Text(rest, style="red" if stream == "stderr" else ""))
        self._partial.clear()
        self._partial_since = None
        self._schedule()

    def add_command(self, command: str) -> None:
        """Queue an echoed command line."""
        self.end_partial_lines()
        self._pending.append(Text(f"(wb) {command}", style="bold cyan"))
        self._schedule()

    def add_result(self, text: str, ok: bool = True) -> None:
        """Queue a command's answer (errors in yellow)."""
        if text:
            for line in text.rstrip("\n").split("\n"):
                self._pending.append(Text(line, style="" if ok else "yellow"))
            self._schedule()

    def add_note(self, text: str, style: str = "dim") -> None:
        """Queue a debugger note (e.g. 'paused: breakpoint 1')."""
        self.end_partial_lines()
        for line in text.split("\n"):
            self._pending.append(Text(line, style=style))
        self._schedule()

    # -- writing --------------------------------------------------------
    def flush(self) -> None:
        """Append everything queued since the last flush, in one redraw."""
        if self._flush_timer is not None:       # (flushing now: no wake-up later)
            self._flush_timer.stop()
            self._flush_timer = None
        if self._partial:
            waited = time.monotonic() - self._partial_since
            if waited >= PARTIAL_AGE_S:
                self.end_partial_lines()
            else:
                self._schedule(PARTIAL_AGE_S - waited + 0.001)
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        width = max(10, self.size.width - 1) if self.size.width else 200
        at_end = self.scroll_offset.y >= self.max_scroll_y
        for text in pending:
            self.plain_lines.append(text.plain)
            if text.cell_len <= width:
                self.lines.append(text)
            else:
                self.lines.extend(text.wrap(self.app.console, width))
        if len(self.lines) > MAX_LINES:
            del self.lines[:-MAX_LINES]
        if len(self.plain_lines) > MAX_LINES:
            del self.plain_lines[:-MAX_LINES]
        self.rows_changed()
        if at_end:
            self._follow_end()
            self.call_after_refresh(self._follow_end)

    def _follow_end(self) -> None:
        self.scroll_to(y=max(0, len(self.lines) - self.size.height), animate=False,
                       immediate=True)
