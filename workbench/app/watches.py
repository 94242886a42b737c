"""Watches pane: pdb `display` expressions and their values at the last pause."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static


class Watches(Static):
    """Lists (expr, value) pairs; a changed value is shown bold."""

    DEFAULT_CSS = "Watches { height: 1fr; }"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(self._empty(), *args, **kwargs)
        self._last: dict[str, str] = {}
        self._watches = ()

    @staticmethod
    def _empty() -> Text:
        return Text("no watches\n`display EXPR` adds one", style="dim")

    def show(self, watches) -> None:
        """Show the watch values from a Paused record."""
        watches = tuple(watches or ())
        if watches == self._watches:
            return
        self._watches = watches
        if not watches:
            self.update(self._empty(), layout=False)
            return
        table = Table(box=None, padding=(0, 1), show_header=False, expand=True)
        table.add_column("expr", style="bold cyan", no_wrap=True, max_width=20)
        table.add_column("value", overflow="fold")
        for expr, value in watches:
            changed = expr in self._last and self._last[expr] != value
            table.add_row(expr, Text(value, style="bold yellow" if changed else ""))
        self._last = dict(watches)
        self.update(table, layout=False)
