"""Watches pane: pdb `display` expressions and their values at the last pause."""

from __future__ import annotations

import textwrap

from rich.text import Text

from workbench.app.rendered import RenderedPane


class Watches(RenderedPane):
    """Lists (expr, value) pairs; a changed value is shown bold."""

    DEFAULT_CSS = "Watches { height: 1fr; }"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(self._empty(), *args, **kwargs)
        self._last: dict[str, str] = {}
        self._shown_last: dict[str, str] = {}     # what `changed` was judged by
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
            self.set_renderable(self._empty())
            return
        self._shown_last = self._last
        self.set_renderable(watch_lines(watches, self._last, self.size.width or 40))
        self._last = dict(watches)

    def on_resize(self) -> None:
        """Re-wrap the values to the new width."""
        if self._watches:
            self.set_renderable(watch_lines(self._watches, self._shown_last,
                                            self.size.width or 40))


def watch_lines(watches, last, width: int) -> Text:
    """(expr, value) pairs as aligned lines, values word-wrapped beside
    their expression; a value that changed since ``last`` in bold yellow.
    Formatted by hand (a rich ``Table`` costs milliseconds at every pause)."""
    ew = min(20, max(len(e) for e, _ in watches))
    vw = max(8, width - ew - 3)
    out = Text(no_wrap=True, overflow="crop")
    for k, (expr, value) in enumerate(watches):
        name = expr if len(expr) <= ew else expr[:ew - 1] + "…"
        style = "bold yellow" if expr in last and last[expr] != value else ""
        lines = [piece for raw in value.split("\n")
                 for piece in (textwrap.wrap(raw, vw, replace_whitespace=False,
                                             drop_whitespace=True) or [""])]
        for i, piece in enumerate(lines):
            if k or i:
                out.append("\n")
            out.append(f" {name if i == 0 else '':<{ew}} ", style="bold cyan")
            out.append(piece, style=style)
    return out
