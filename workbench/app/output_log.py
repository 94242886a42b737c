"""Console pane: the program's output and the debugger's answers, interleaved
as in a pdb terminal.  Writes are buffered and flushed on a timer, so a chatty
script costs one write per flush, not one per line."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

FLUSH_INTERVAL = 0.05
MAX_LINES = 5000


class OutputLog(RichLog):
    """A RichLog with a pending buffer flushed at most every 50 ms."""

    DEFAULT_CSS = "OutputLog { height: 1fr; padding: 0 1; background: $surface; }"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, max_lines=MAX_LINES, wrap=True, markup=False,
                         highlight=False, auto_scroll=True, **kwargs)
        self._pending: list[Text] = []
        self._partial: dict[str, str] = {}     # stream -> text after the last newline
        self._partial_age = 0
        self.plain_lines: list[str] = []     # everything written (for tests/capture)

    def on_mount(self) -> None:
        """Start the flush timer."""
        self.set_interval(FLUSH_INTERVAL, self.flush)

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

    def end_partial_lines(self) -> None:
        """Show unterminated output (e.g. a prompt without newline) now."""
        for stream, rest in self._partial.items():
            self._pending.append(Text(rest, style="red" if stream == "stderr" else ""))
        self._partial.clear()
        self._partial_age = 0

    def add_command(self, command: str) -> None:
        """Queue an echoed command line."""
        self.end_partial_lines()
        self._pending.append(Text(f"(wb) {command}", style="bold cyan"))

    def add_result(self, text: str, ok: bool = True) -> None:
        """Queue a command's answer (errors in yellow)."""
        if text:
            self._pending.append(Text(text.rstrip("\n"), style="" if ok else "yellow"))

    def add_note(self, text: str, style: str = "dim") -> None:
        """Queue a debugger note (e.g. 'paused: breakpoint 1')."""
        self.end_partial_lines()
        self._pending.append(Text(text, style=style))

    def flush(self) -> None:
        """Write everything queued since the last flush in one go."""
        if self._partial:
            self._partial_age += 1
            if self._partial_age >= 10:          # ~0.5 s without a newline
                self.end_partial_lines()
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        joined = Text("\n").join(pending)
        self.plain_lines.extend(joined.plain.split("\n"))
        if len(self.plain_lines) > MAX_LINES:
            del self.plain_lines[:-MAX_LINES]
        self.write(joined)
