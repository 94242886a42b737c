"""Op history: a virtual list over the session's history ring.

Only the visible rows are fetched and drawn (``history.window(start, n)``),
so a run of a million ops scrolls as fast as one of ten.  A filter line
above the list narrows it by name, phase and scope.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from workbench.app.fmt import fmt_ns, fmt_shape
from workbench.app.virtual_list import ListSource, VirtualList

__all__ = ["ListSource", "OpHistory", "OpList", "WithCurrent", "parse_filter", "row_text"]

PHASE_SHORT = {"forward": "fwd", "backward": "bwd"}


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


class WithCurrent:
    """A history source plus the op the program is paused before, when the
    history does not hold it yet (it is recorded once its kernel ran)."""

    def __init__(self, source, current) -> None:
        self.source = source
        self.current = current
        n = len(source)
        last = source.window(n - 1, 1) if n else []
        self._extra = current is not None and not (last and last[0].index >= current.index)

    def __len__(self) -> int:
        return len(self.source) + (1 if self._extra else 0)

    def window(self, start: int, n: int) -> list:
        """Rows of the history, then the current op."""
        rows = list(self.source.window(start, n))
        if self._extra and start + n > len(self.source) and len(rows) < n:
            rows.append(self.current)
        return rows

    def filter(self, **criteria):
        """Filtering applies to the recorded history."""
        return self.source.filter(**criteria)


class OpList(VirtualList):
    """The virtual list of op records; the cursor's record goes to the inspector."""

    class Selected(Message):
        """The cursor settled on an op record (user move or Enter)."""

        def __init__(self, record) -> None:
            super().__init__()
            self.record = record

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.current_index: int | None = None   # op index the program is paused at

    def render_row(self, item, row: int) -> Text:
        """One op row."""
        return row_text(item, item.index == self.current_index)

    def record_at(self, row: int):
        """The record on a row, or None."""
        return self.item_at(row)

    def move_to(self, row: int, announce: bool = True) -> None:
        """Move the cursor and send the record to the inspector."""
        super().move_to(row, announce=False)
        rec = self.item_at(self.cursor)
        if announce and rec is not None:
            self.post_message(self.Selected(rec))

    def action_choose(self) -> None:
        """Enter: inspect the op under the cursor."""
        self.move_to(self.cursor)


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
