"""Source pane: the paused line highlighted, lines that issued ops marked."""

from __future__ import annotations

import linecache

from rich.syntax import Syntax
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from workbench.app.fmt import short_path

CURRENT_STYLE = "on #3a3a00"
OP_MARK = "●"
CURRENT_MARK = "▶"


class SourceView(Widget):
    """Shows the selected frame's file around its line (a rendered window).

    The window is rendered to strips once per change of position or size
    and served by ``render_line`` (as ``workbench.app.rendered``): through
    Textual's visual pipeline the 14-line window took 5-12 ms of the UI
    thread at every step that moved the line."""

    can_focus = False
    DEFAULT_CSS = "SourceView { height: 1fr; }"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._highlighted: dict[str, list[Text]] = {}
        self.position: tuple = ("", 0, frozenset())   # (file, line, op lines)
        self._strips: tuple | None = None     # ((width, height), [Strip])

    def show(self, filename: str | None, line: int | None, op_lines=frozenset()) -> None:
        """Point the view at filename:line; op_lines are (file, line) pairs that issued ops."""
        lines = frozenset(ln for f, ln in op_lines if f == filename) if filename else frozenset()
        position = (filename or "", int(line or 0), lines)
        if position == self.position:
            return
        if position[0] != self.position[0] and self.parent is not None:
            self.parent.border_title = (f"source {short_path(filename)}" if filename
                                        else "source")
        self.position = position
        self._strips = None
        self.refresh()

    def _lines_of(self, filename: str) -> list[Text]:
        """Syntax-highlighted lines of a file (cached)."""
        if filename not in self._highlighted:
            code = "".join(linecache.getlines(filename))
            if not code:
                self._highlighted[filename] = []
            else:
                text = Syntax(code, "python", theme="monokai").highlight(code)
                text.rstrip()
                self._highlighted[filename] = text.split("\n", allow_blank=True)
        return self._highlighted[filename]

    def render(self) -> Text:
        """The window of lines centred on the current line (at this size)."""
        return self._window(max(10, self.size.width), max(1, self.size.height))

    def _window(self, width: int, height: int) -> Text:
        filename, line, op_lines = self.position
        if not filename:
            return Text("no source yet", style="dim")
        lines = self._lines_of(filename)
        if not lines:
            return Text(f"{filename}: source not available", style="dim")
        start = max(1, line - height // 2 + 1)
        start = max(1, min(start, len(lines) - height + 1))
        digits = len(str(min(len(lines), start + height)))
        out = Text(no_wrap=True, overflow="crop")
        for n in range(start, min(len(lines), start + height - 1) + 1):
            row = Text(no_wrap=True, overflow="crop")
            if n == line:
                row.append(CURRENT_MARK, style="bold yellow")
            elif n in op_lines:
                row.append(OP_MARK, style="magenta")
            else:
                row.append(" ")
            row.append(f"{n:>{digits}} ", style="bold" if n == line else "dim")
            row.append_text(lines[n - 1])
            if n == line:
                row.pad_right(width - row.cell_len)
                row.stylize(CURRENT_STYLE)
            row.truncate(width)
            if n > start:
                out.append("\n")
            out.append_text(row)
        return out

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        style = self.rich_style
        if not width:
            return Strip.blank(width, style)
        if self._strips is None or self._strips[0] != (width, height):
            console = self.app.console
            lines = console.render_lines(self._window(max(10, width), max(1, height)),
                                         console.options.update_width(width),
                                         style=style, pad=True)
            self._strips = ((width, height), [Strip(line, width) for line in lines])
        strips = self._strips[1]
        return strips[y] if y < len(strips) else Strip.blank(width, style)
