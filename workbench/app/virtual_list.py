"""A virtual list: draws only the visible rows of any sized row source.

The base of the op history, the console, the tape and the inspector's slot
list.  Two properties matter for the debugger: a million rows cost nothing
until they are on screen, and appending rows does not trigger a layout pass
of the whole screen (only the scrollbar is updated), so a step redraws just
the panes whose content changed.  The vertical scrollbar is always shown:
a scrollbar that appears when a list outgrows its pane changes the pane's
layout, and a full layout pass of the screen costs a running script tens of
milliseconds (measured on a free-running MLP sample with the app attached).
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget


class ListSource:
    """A row source over a plain sequence (list, tuple, lazy Selection)."""

    def __init__(self, rows=()) -> None:
        self._records = rows if hasattr(rows, "__getitem__") else list(rows)

    def __len__(self) -> int:
        return len(self._records)

    def window(self, start: int, n: int) -> list:
        """Rows start..start+n (clipped)."""
        start = max(0, start)
        return list(self._records[start:start + n])


class VirtualList(ScrollView, can_focus=True):
    """Rows from ``source`` (``len()`` + ``window(start, n)``), drawn by ``render_row``."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "jump(0)", "first", show=False),
        Binding("end", "jump(-1)", "last", show=False),
        Binding("enter", "choose", "choose", show=False),
    ]
    COMPONENT_CLASSES = {"virtual-list--cursor"}
    DEFAULT_CSS = """
    VirtualList { height: 1fr; overflow-x: hidden; overflow-y: scroll;
                  scrollbar-size-vertical: 1; }
    VirtualList > .virtual-list--cursor { background: $accent 40%; }
    VirtualList:blur > .virtual-list--cursor { background: $accent 20%; }
    """

    show_cursor = True

    class Highlighted(Message):
        """The cursor moved onto a row (sent by user moves, not by set_source)."""

        def __init__(self, widget: "VirtualList", row: int, item) -> None:
            super().__init__()
            self.widget = widget
            self.row = row
            self.item = item

        @property
        def control(self) -> Widget:
            return self.widget

    class Chosen(Highlighted):
        """Enter on a row."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.source = ListSource(())
        self.cursor = 0
        self._cache_start = -1
        self._cache: list = []

    # -- subclass hook --------------------------------------------------
    def render_row(self, item, row: int) -> Text:
        """The text of one row (override)."""
        return Text(str(item), no_wrap=True, overflow="crop")

    # -- data -----------------------------------------------------------
    def set_source(self, source, follow: bool = True) -> None:
        """Show a row source; follow=True puts the cursor (and view) on the last row."""
        self.source = source
        self._cache_start = -1
        n = len(source)
        self._set_virtual_height(n)
        if follow:
            self.cursor = max(0, n - 1)
            self._scroll_to_cursor()
        else:
            self.cursor = min(self.cursor, max(0, n - 1))
        self.refresh()

    def rows_changed(self) -> None:
        """The source grew or changed in place: drop the cache, redraw."""
        self._cache_start = -1
        self._set_virtual_height(len(self.source))
        self.refresh()

    def _set_virtual_height(self, n: int) -> None:
        """Update the scrollable height without a screen layout (the
        scrollbar is always shown, so its size alone changes)."""
        new = Size(max(1, self.size.width), n)
        if new == self.virtual_size:
            return
        if self.size.height and self.is_mounted:
            self.set_reactive(ScrollView.virtual_size, new)
            self._scroll_update(new)
        else:
            self.virtual_size = new

    def items(self, start: int, n: int) -> list:
        """Rows start..start+n, served from a small cache around the view."""
        if self._cache_start < 0 or start < self._cache_start or \
                start + n > self._cache_start + len(self._cache):
            # fetch about one screen: rows may be built on demand (op records
            # summarize their tensors), and a live source invalidates the cache
            # at every redraw, so a wide margin would be paid again and again
            page = max(n, self.size.height)
            self._cache_start = max(0, start - 2)
            self._cache = list(self.source.window(self._cache_start, page + 4))
        off = start - self._cache_start
        return self._cache[off:off + n]

    def item_at(self, row: int):
        """The item on a row, or None."""
        got = self.items(row, 1) if 0 <= row < len(self.source) else []
        return got[0] if got else None

    # -- drawing --------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        """Draw one visible row."""
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        style = self.rich_style
        item = self.item_at(row) if row < len(self.source) else None
        if item is None:
            return Strip.blank(width, style)
        text = self.render_row(item, row)
        strip = Strip(list(text.render(self.app.console)))
        strip = strip.crop_extend(scroll_x, scroll_x + width, None).apply_style(style)
        if self.show_cursor and row == self.cursor:
            strip = strip.apply_style(self.get_component_rich_style("virtual-list--cursor"))
        return strip

    # -- movement -------------------------------------------------------
    def _scroll_to_cursor(self) -> None:
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def move_to(self, row: int, announce: bool = True) -> None:
        """Put the cursor on a row (and tell the parent)."""
        n = len(self.source)
        if n == 0:
            return
        self.cursor = max(0, min(row, n - 1))
        self._scroll_to_cursor()
        self.refresh()
        item = self.item_at(self.cursor)
        if announce and item is not None:
            self.post_message(self.Highlighted(self, self.cursor, item))

    def action_cursor(self, delta: int) -> None:
        """Move the cursor by delta rows."""
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move the cursor a page up or down."""
        self.move_to(self.cursor + direction * max(1, self.size.height - 1))

    def action_jump(self, row: int) -> None:
        """Jump to the first (0) or last (-1) row."""
        self.move_to(row if row >= 0 else len(self.source) - 1)

    def action_choose(self) -> None:
        """Enter: choose the row under the cursor."""
        item = self.item_at(self.cursor)
        if item is not None:
            self.post_message(self.Chosen(self, self.cursor, item))

    def on_click(self, event: events.Click) -> None:
        """Select the clicked row."""
        self.move_to(self.scroll_offset.y + event.y)

    def on_resize(self, event: events.Resize) -> None:
        """Keep the virtual width in step with the pane."""
        self.virtual_size = Size(event.size.width, len(self.source))
        if self.show_cursor:
            self._scroll_to_cursor()
