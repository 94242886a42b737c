"""Op history: a virtual list over the session's history ring.

Only the visible rows are fetched and drawn (``history.window(start, n)``),
so a run of a million ops scrolls as fast as one of ten.  A filter line
above the list narrows it by name, phase and scope.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input

from workbench.app.fmt import fmt_ns, fmt_shape

PHASE_SHORT = {"forward": "fwd", "backward": "bwd"}


class ListSource:
    """A history-like view over a plain list of records (filter results, tests)."""

    def __init__(self, records) -> None:
        self._records = list(records)

    def __len__(self) -> int:
        return len(self._records)

    def window(self, start: int, n: int) -> list:
        """Records start..start+n (clipped)."""
        return self._records[max(0, start):max(0, start) + n]


def parse_filter(text: str) -> dict:
    """'matmul bwd scope:layers.1' -> {'name': 'matmul', 'phase': 'backward', 'scope': 'layers.1'}.

    Terms: a bare word is the op name; fwd/forward/bwd/backward the phase;
    phase:X, name:X, scope:X explicit.  Raises ValueError on a repeated key.
    """
    out: dict = {}
    for term in text.split():
        key, sep, value = term.partition(":")
        if not sep:
            low = term.lower()
            if low in ("fwd", "forward", "bwd", "backward"):
                key, value = "phase", low
            else:
                key, value = "name", term
        key = key.lower()
        if key not in ("name", "phase", "scope"):
            raise ValueError(f"unknown filter key {key!r} (use name:, phase:, scope:)")
        if key == "phase":
            value = {"fwd": "forward", "bwd": "backward"}.get(value.lower(), value.lower())
            if value not in ("forward", "backward"):
                raise ValueError(f"phase must be forward/backward (fwd/bwd), got {value!r}")
        if key in out:
            raise ValueError(f"filter key {key!r} given twice")
        out[key] = value
    return out


def row_text(rec, current: bool) -> Text:
    """One history row: '▶#1284  fwd matmul      (128,10)    2.1 ms model.layers.1'."""
    t = Text(no_wrap=True, overflow="crop")
    t.append("▶" if current else " ", style="bold yellow")
    t.append(f"#{rec.index:<7}", style="bold" if current else "")
    phase = PHASE_SHORT.get(rec.phase, rec.phase[:3])
    t.append(f"{phase} ", style="cyan" if rec.phase == "forward" else "magenta")
    t.append(f"{rec.name[:12]:<12} ", style="bold")
    shape = rec.out_shape
    if shape is None and rec.inputs and hasattr(rec.inputs[0], "shape"):
        shape = rec.inputs[0].shape
    t.append(f"{fmt_shape(shape) if shape is not None else '':<11.11}")
    t.append(f"{fmt_ns(rec.host_ns) if rec.host_ns else '':>8} ", style="green")
    bad = any(getattr(s, "nan_count", 0) or getattr(s, "inf_count", 0)
              for s in rec.outputs)
    if bad:
        t.append("NaN/Inf ", style="bold white on red")
    t.append(".".join(rec.scope), style="blue")
    return t


class OpList(ScrollView, can_focus=True):
    """The virtual list of op records with a cursor."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "jump(0)", "first", show=False),
        Binding("end", "jump(-1)", "last", show=False),
        Binding("enter", "choose", "inspect op", show=False),
    ]

    DEFAULT_CSS = """
    OpList { height: 1fr; }
    OpList > .oplist--cursor { background: $accent 40%; }
    """
    COMPONENT_CLASSES = {"oplist--cursor"}

    class Selected(Message):
        """The cursor settled on an op record (sent on move and Enter)."""

        def __init__(self, record) -> None:
            super().__init__()
            self.record = record

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.source = ListSource(())
        self.cursor = 0
        self.current_index: int | None = None   # op index the program is paused at
        self._cache_start = -1
        self._cache: list = []

    # -- data ---------------------------------------------------------
    def set_source(self, source, follow: bool = True) -> None:
        """Show a history-like source; follow=True moves the cursor to its last row."""
        self.source = source
        self._cache_start = -1
        n = len(source)
        self.virtual_size = Size(self.size.width or 80, n)
        if follow:
            self.cursor = max(0, n - 1)
            self._scroll_to_cursor(animate=False)
        else:
            self.cursor = min(self.cursor, max(0, n - 1))
        self.refresh()

    def records(self, start: int, n: int) -> list:
        """Rows start..start+n, served from a small cache of the visible window."""
        if self._cache_start < 0 or start < self._cache_start or \
                start + n > self._cache_start + len(self._cache):
            self._cache_start = max(0, start - 16)
            self._cache = list(self.source.window(self._cache_start, n + 48))
        off = start - self._cache_start
        return self._cache[off:off + n]

    def record_at(self, row: int):
        """The record on a row, or None."""
        got = self.records(row, 1) if 0 <= row < len(self.source) else []
        return got[0] if got else None

    # -- drawing ------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        """Draw one visible row."""
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if row >= len(self.source):
            return Strip.blank(width, style)
        rec = self.record_at(row)
        if rec is None:
            return Strip.blank(width, style)
        text = row_text(rec, rec.index == self.current_index)
        segments = list(text.render(self.app.console))
        strip = Strip(segments).crop_extend(scroll_x, scroll_x + width, style)
        if row == self.cursor:
            cursor_style = self.get_component_rich_style("oplist--cursor")
            strip = strip.apply_style(cursor_style)
        return strip

    # -- movement -----------------------------------------------------
    def _scroll_to_cursor(self, animate: bool = False) -> None:
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=animate, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=animate, immediate=True)

    def move_to(self, row: int) -> None:
        """Put the cursor on a row and announce the record."""
        n = len(self.source)
        if n == 0:
            return
        self.cursor = max(0, min(row, n - 1))
        self._scroll_to_cursor()
        self.refresh()
        rec = self.record_at(self.cursor)
        if rec is not None:
            self.post_message(self.Selected(rec))

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
        """Inspect the op under the cursor."""
        self.move_to(self.cursor)

    def on_click(self, event: events.Click) -> None:
        """Select the clicked row."""
        self.move_to(self.scroll_offset.y + event.y)

    def on_resize(self, event: events.Resize) -> None:
        """Keep the virtual width in step with the pane."""
        self.virtual_size = Size(event.size.width, len(self.source))


class OpHistory(Vertical):
    """Filter line + virtual op list."""

    DEFAULT_CSS = """
    OpHistory > Input#history-filter { height: 1; border: none; padding: 0 1; }
    """

    class FilterChanged(Message):
        """The user submitted a filter ({} clears it)."""

        def __init__(self, criteria: dict) -> None:
            super().__init__()
            self.criteria = criteria

    def compose(self):
        """A filter input above the list."""
        yield Input(placeholder="/ filter: name fwd|bwd scope:X", id="history-filter")
        yield OpList(id="op-list")

    @property
    def op_list(self) -> OpList:
        return self.query_one(OpList)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Parse the filter and ask the app to apply it."""
        event.stop()
        try:
            criteria = parse_filter(event.value)
        except ValueError as exc:
            self.app.notify(str(exc), severity="error")
            return
        self.post_message(self.FilterChanged(criteria))
        self.op_list.focus()

    def on_key(self, event) -> None:
        """Esc in the filter returns to the list."""
        if event.key == "escape" and isinstance(self.screen.focused, Input):
            event.stop()
            self.op_list.focus()
