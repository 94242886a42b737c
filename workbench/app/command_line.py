"""Command line: pdb-style commands with history (up/down) and completion (tab)."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input

COMMANDS = (
    "step", "next", "continue", "finish", "until", "break", "tbreak", "clear",
    "disable", "enable", "ignore", "display", "undisplay", "print",
    "pp", "up", "down", "where", "quit", "inspect", "save", "w", "help",
    "filter", "view", "watch",
)
BREAK_KINDS = ("nan", "inf", "op ", "line ", "if ")


class CommandSuggester(Suggester):
    """Completes command names, then (after print/display/...) names in scope."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names: tuple[str, ...] = ()
        self.op_names: tuple[str, ...] = ()

    async def get_suggestion(self, value: str) -> str | None:
        """The first completion of the last word."""
        return complete(value, self.names, self.op_names)


def complete(value: str, names=(), op_names=()) -> str | None:
    """Complete the last word of a command line (None when nothing fits)."""
    if not value or value.endswith(" "):
        return None
    words = value.split(" ")
    last = words[-1]
    if len(words) == 1:
        pool = COMMANDS + ("pause",)
    elif words[0] in ("b", "break", "tbreak"):
        pool = tuple(op_names) + tuple(k.strip() for k in BREAK_KINDS)
    else:
        pool = tuple(names)
    head = last.rsplit(".", 1)[-1] if words[0] not in ("b", "break", "tbreak") else last
    for cand in (pool if len(words) == 1 else sorted(pool)):
        if cand.startswith(head) and cand != head:
            return value + cand[len(head):]
    return None


class CommandLine(Input):
    """The `(wb)` prompt.  Enter sends; up/down walk history; tab completes."""

    BINDINGS = [
        Binding("up", "history(-1)", "previous", show=False),
        Binding("down", "history(1)", "next", show=False),
        Binding("tab", "complete", "complete", show=False, priority=True),
        Binding("escape", "leave", "leave", show=False),
    ]
    DEFAULT_CSS = "CommandLine { height: 1; border: none; padding: 0 1; }"

    class Command(Message):
        """The user entered a command line."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *args, **kwargs) -> None:
        self.completer = CommandSuggester()
        super().__init__(*args, placeholder="(wb) command — : to focus, esc to leave, ? help",
                         suggester=self.completer, select_on_focus=False, **kwargs)
        self.history: list[str] = []
        self._pos = 0

    def action_history(self, delta: int) -> None:
        """Recall an earlier (or later) command."""
        if not self.history:
            return
        self._pos = max(0, min(len(self.history), self._pos + delta))
        self.value = self.history[self._pos] if self._pos < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        """Accept the current completion (tab)."""
        got = complete(self.value, self.completer.names, self.completer.op_names)
        if got:
            self.value = got
            self.cursor_position = len(got)

    def action_leave(self) -> None:
        """Give focus back to the panes."""
        self.value = ""
        targets = self.screen.query("#op-list")
        self.screen.set_focus(targets.first() if targets else None)

    async def action_submit(self) -> None:
        """Record history and post the command."""
        text = self.value.strip()
        if text:
            if not self.history or self.history[-1] != text:
                self.history.append(text)
            self.post_message(self.Command(text))
        elif self.history:     # empty Enter repeats the last command, as in pdb
            self.post_message(self.Command(self.history[-1]))
        self._pos = len(self.history)
        self.value = ""
