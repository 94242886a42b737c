"""Timings pane: per-op totals, sorted by total time, refreshed live."""

from __future__ import annotations

from rich.text import Text

from workbench.app.fmt import fmt_ns
from workbench.app.rendered import RenderedPane


def timings_table(rows, width: int = 40, limit: int = 30) -> Text:
    """TimingRows sorted by total, as aligned lines: op, calls, total, mean
    (when wide enough) and share with a bar (when wide enough).

    Formatted by hand: a rich ``Table`` took about 2 ms to lay out these few
    rows, paid at every pause."""
    wide = width >= 56
    bar_w = 0 if width < 44 else max(3, min(12, width - 44 - (10 if wide else 0)))
    top = sorted(rows, key=lambda r: r.total_ns, reverse=True)[:limit]
    calls = [str(r.calls) for r in top]
    totals = [fmt_ns(r.total_ns) for r in top]
    means = [fmt_ns(r.mean_ns) for r in top] if wide else []
    cw = max([5] + [len(c) for c in calls])
    tw = max([5] + [len(t) for t in totals])
    mw = max([4] + [len(m) for m in means]) if wide else 0
    share_w = 4 + 1 + bar_w if bar_w else 5
    name_w = max(8, width - (cw + tw + (mw + 2 if wide else 0) + share_w + 7))
    out = Text(no_wrap=True, overflow="crop")
    head = f" {'op':<{name_w}} {'calls':>{cw}}  {'total':>{tw}}"
    if wide:
        head += f"  {'mean':>{mw}}"
    head += f"  {'share':<{share_w}}" if bar_w else f"  {'share':>{share_w}}"
    out.append(head.rstrip(), style="bold")
    for i, r in enumerate(top):
        name = r.name if len(r.name) <= name_w else r.name[:name_w - 1] + "…"
        line = f"\n {name:<{name_w}} {calls[i]:>{cw}}  {totals[i]:>{tw}}"
        if wide:
            line += f"  {means[i]:>{mw}}"
        pct = f"{r.share * 100:3.0f}%"
        out.append(line + (f"  {pct}" if bar_w else f"  {pct:>{share_w}}"))
        if bar_w:
            n = int(round(r.share * bar_w))
            out.append(" ")
            out.append("█" * n, style="green")
            out.append("·" * (bar_w - n), style="dim")
    return out


class Timings(RenderedPane):
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
            self.set_renderable(Text("no ops timed yet", style="dim"))
            return
        limit = max(1, (self.size.height or 30) - 1)
        self.set_renderable(timings_table(rows, width=max(20, self.size.width or 40),
                                          limit=limit))

    def on_resize(self) -> None:
        """Lay the table out again for the new size."""
        rows, self._rows = self._rows, ()
        if rows:
            self.show(rows)
