"""Timings pane: per-op totals, sorted by total time, refreshed live."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from workbench.app.fmt import fmt_ns


def timings_table(rows, width: int = 40, limit: int = 30) -> Table:
    """A rich table of TimingRows sorted by total; mean and share bar when wide enough."""
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False, header_style="bold")
    table.add_column("op", ratio=1, min_width=8, no_wrap=True, overflow="ellipsis")
    table.add_column("calls", justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    wide = width >= 56
    if wide:
        table.add_column("mean", justify="right", no_wrap=True)
    table.add_column("share", justify="right" if width < 44 else "left", no_wrap=True)
    bar_w = 0 if width < 44 else max(3, min(12, width - 44 - (10 if wide else 0)))
    for r in sorted(rows, key=lambda r: r.total_ns, reverse=True)[:limit]:
        n = int(round(r.share * bar_w))
        bar = Text(f"{r.share * 100:3.0f}%")
        if bar_w:
            bar.append(" ")
            bar.append("█" * n, style="green")
            bar.append("·" * (bar_w - n), style="dim")
        cells = [r.name, str(r.calls), fmt_ns(r.total_ns)]
        if wide:
            cells.append(fmt_ns(r.mean_ns))
        table.add_row(*cells, bar)
    return table


class Timings(Static):
    """Shows the latest tuple of TimingRows (no-op redraw when unchanged)."""

    DEFAULT_CSS = "Timings { height: 1fr; }"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(Text("no ops timed yet", style="dim"), *args, **kwargs)
        self._rows = ()

    def show(self, rows) -> None:
        """Show timing rows."""
        rows = tuple(rows or ())
        if rows == self._rows:
            return
        self._rows = rows
        if not rows:
            self.update(Text("no ops timed yet", style="dim"), layout=False)
            return
        limit = max(1, (self.size.height or 30) - 1)
        self.update(timings_table(rows, width=max(20, self.size.width or 40), limit=limit),
                    layout=False)
