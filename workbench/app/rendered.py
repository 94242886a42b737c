"""A pane drawn from one rich renderable, rendered once per change.

Textual's ``Static`` runs its content through the visual pipeline on every
refresh; for the panes that change at every pause (the status line, the
timings table, the watches) that cost 2-5 ms of the UI thread per draw
(measured at 120x40).  :class:`RenderedPane` renders the renderable to
lines once per change (or width) with the app's console and serves
``render_line`` from them.
"""

from __future__ import annotations

from textual.strip import Strip
from textual.widget import Widget


class RenderedPane(Widget):
    """Shows ``renderable`` (any rich renderable), cropped to the pane."""

    def __init__(self, renderable="", *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._renderable = renderable
        self._lines: tuple[int, list[Strip]] | None = None     # (width, strips)

    def set_renderable(self, renderable) -> None:
        """Replace what is shown (redraws this pane only: no layout pass)."""
        self._renderable = renderable
        self._lines = None
        self.refresh()

    def render(self):
        """The renderable shown (for tests and captures)."""
        return self._renderable

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.rich_style
        if not width:
            return Strip.blank(width, style)
        if self._lines is None or self._lines[0] != width:
            console = self.app.console
            lines = console.render_lines(self._renderable,
                                         console.options.update_width(width),
                                         style=style, pad=True)
            self._lines = (width, [Strip(line, width) for line in lines])
        lines = self._lines[1]
        return lines[y] if y < len(lines) else Strip.blank(width, style)
