"""Source pane: the paused line highlighted, lines that issued ops marked."""

from __future__ import annotations

import linecache

from rich.syntax import Syntax
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from workbench.app.fmt import short_path

CURRENT_STYLE = "on #3a3a00"
OP_MARK = "●"
CURRENT_MARK = "▶"


class SourceView(Widget):
    """Shows the selected frame's file around its line (a rendered window)."""

    can_focus = False
    DEFAULT_CSS = "SourceView { height: 1fr; }"

    position: reactive[tuple] = reactive(("", 0, frozenset()), layout=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._highlighted: dict[str, list[Text]] = {}

    def show(self, filename: str | None, line: int | None, op_lines=frozenset()) -> None:
        """Point the view at filename:line; op_lines are (file, line) pairs that issued ops."""
        lines = frozenset(ln for f, ln in op_lines if f == filename) if filename else frozenset()
        self.position = (filename or "", int(line or 0), lines)

    def watch_position(self, position: tuple) -> None:
        """Retitle the pane when the file changes."""
        filename, line, _ = position
        if self.parent is not None:
            title = f"source {short_path(filename)}" if filename else "source"
            self.parent.border_title = title

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
        """Render the window of lines centred on the current line."""
        filename, line, op_lines = self.position
        if not filename:
            return Text("no source yet", style="dim")
        lines = self._lines_of(filename)
        if not lines:
            return Text(f"{filename}: source not available", style="dim")
        height = max(1, self.size.height)
        width = max(10, self.size.width)
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
