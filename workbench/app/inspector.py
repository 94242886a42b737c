"""Tensor inspector: health of the selected op's inputs/outputs, and values.

The inspector never touches a tensor: it asks a *values provider*
(``session.tensor_values(op_index, slot, slice_text)``, which runs on the
session's worker thread while the program is paused) from a Textual thread
worker, so a slow or huge fetch never blocks drawing.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from rich.console import Group
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Static

from workbench.app.fmt import fmt_ns, is_summary, where_text
from workbench.app.heatmap import Heatmap, downsample
from workbench.app.histogram import Histogram
from workbench.app.slot_list import PENDING, SlotList
from workbench.app.virtual_list import ListSource, VirtualList

MODES = ("values", "heatmap", "histogram")
MAX_ELEMENTS_SHOWN = 400


def slot_id(kind: str, i: int) -> str:
    """Slot names understood by the session: 'in0', 'in1', ..., 'out0'."""
    return f"{kind}{i}"


def default_slice(shape) -> str:
    """A slice that keeps a view small: leading dims at 0, the last two clipped."""
    nd = len(shape)
    if nd == 0:
        return ""
    if nd == 1:
        return ":1024"
    lead = ["0"] * (nd - 2)
    return ", ".join(lead + [":64", ":128"])


def values_text(a: np.ndarray, width: int = 80) -> Text:
    """numpy-style text of values with NaN and Inf highlighted, fitted to width."""
    a = np.asarray(a)
    edge = max(1, min(4, (width - 12) // 20))
    with np.printoptions(precision=4, suppress=True, threshold=MAX_ELEMENTS_SHOWN,
                         edgeitems=edge, linewidth=max(20, width)):
        s = np.array2string(np.asarray(a), separator=" ")
    text = Text(s, no_wrap=True, overflow="crop")
    text.highlight_regex(r"\bnan\b", "bold white on red")
    text.highlight_regex(r"-?\binf\b", "bold black on yellow")
    return text


class Inspector(Vertical):
    """Slots list, slice entry, and a values / heatmap / histogram view."""

    BINDINGS = [Binding("v", "cycle_mode", "view", show=False)]
    DEFAULT_CSS = """
    Inspector > #insp-head { height: 1; }
    Inspector > SlotList#slots { height: 4; }
    Inspector > Horizontal#slice-row { height: 1; }
    Inspector #slice { height: 1; border: none; padding: 0 1; width: 1fr; }
    Inspector #mode { width: 32; padding: 0 1; }
    Inspector > #view { height: 1fr; }
    """

    mode: reactive[str] = reactive("values")

    class SlotChosen(Message):
        """The user highlighted a slot (op index, slot id)."""

        def __init__(self, op_index: int, slot: str) -> None:
            super().__init__()
            self.op_index = op_index
            self.slot = slot

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.record = None
        self.provider: Callable | None = None
        self.slots: list[tuple[str, object]] = []
        self.slot: str | None = None
        self.values: np.ndarray | None = None
        self.values_error = ""
        self._views = None
        self.fetches = 0            # completed fetches (tests poll this)

    def compose(self):
        """Header, slots, slice entry + mode, view."""
        yield Static(Text("select an op", style="dim"), id="insp-head")
        yield SlotList(id="slots")
        with Horizontal(id="slice-row"):
            yield Input(placeholder="slice, e.g. 0:8, :16", id="slice")
            yield Static(self._mode_text(), id="mode")
        yield Static("", id="view")

    # -- showing a record ---------------------------------------------
    def show(self, record, paused_before: bool = False) -> None:
        """Show an op record; keeps the selected slot kind when it exists."""
        same_op = self.record is not None and record is not None and \
            self.record.index == record.index
        self.record = record
        head = self.query_one("#insp-head", Static)
        slots = self.query_one("#slots", SlotList)
        if record is None:
            head.update(Text("select an op", style="dim"), layout=False)
            slots.set_source(ListSource(()), follow=False)
            self.slots = []
            return
        if self.parent is not None:
            self.parent.border_title = (f"op #{record.index} {record.name} "
                                        f"{record.phase} {record.scope_text}")
        head_text = Text(no_wrap=True, overflow="ellipsis")
        if record.attrs:
            head_text.append("attrs ", style="dim")
            head_text.append(", ".join(f"{k}={v}" for k, v in record.attrs.items()))
            head_text.append("  ")
        if record.host_ns:
            head_text.append(f"host {fmt_ns(record.host_ns)} kernel {fmt_ns(record.kernel_ns)}",
                             style="green")
            if record.device_ns is not None:
                head_text.append(f" device {fmt_ns(record.device_ns)}", style="green")
        if record.forward_index is not None:
            head_text.append(f"  grad of #{record.forward_index}", style="magenta")
        if not record.values_kept:
            head_text.append("  values not kept", style="yellow")
        if not head_text.plain:
            head_text.append(f"{record.phase} at {where_text(record.location)}", style="dim")
        head.update(head_text, layout=False)
        self.slots = [(slot_id("in", i), s) for i, s in enumerate(record.inputs)]
        self.slots += [(slot_id("out", i), s) for i, s in enumerate(record.outputs)]
        rows = list(self.slots)
        if not record.outputs:
            rows.append((PENDING, None))
        slots.set_source(ListSource(rows), follow=False)
        keep = self.slot if same_op and any(n == self.slot for n, _ in self.slots) else None
        if keep is None:
            keep = next((n for n, s in self.slots if is_summary(s)), None)
        if keep is not None:
            slots.move_to([n for n, _ in self.slots].index(keep), announce=False)
            self.choose(keep)
        else:
            self.slot = None
            self._set_view(Text("no tensor operands", style="dim"))

    def summary_of(self, slot: str):
        """The TensorSummary of a slot, or None."""
        return next((s for n, s in self.slots if n == slot and is_summary(s)), None)

    def choose(self, slot: str, slice_text: str | None = None) -> None:
        """Select a slot and fetch its values (default slice unless given)."""
        summary = self.summary_of(slot)
        self.slot = slot
        if summary is None or self.record is None:
            self._set_view(Text("not a tensor", style="dim"))
            return
        if slice_text is None:
            slice_text = default_slice(summary.shape)
            self.query_one("#slice", Input).value = slice_text
        self.post_message(self.SlotChosen(self.record.index, slot))
        self.fetch(self.record.index, slot, slice_text)

    @work(thread=True, exclusive=True, group="inspector-values")
    def fetch(self, op_index: int, slot: str, slice_text: str) -> None:
        """Ask the provider for values off the UI thread, then draw them."""
        if self.provider is None:
            result = "no values provider"
        else:
            try:
                result = self.provider(op_index, slot, slice_text)
            except Exception as exc:   # a provider bug must not kill the UI
                result = f"{type(exc).__name__}: {exc}"
        views = None
        if not isinstance(result, str):
            try:
                views = reduced_views(np.asarray(result))
            except Exception as exc:
                result = f"cannot show these values: {type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._got_values, op_index, slot, slice_text, result, views)

    def _got_values(self, op_index, slot, slice_text, result, views=None) -> None:
        """Store fetched values (or the error) and redraw the view."""
        self.fetches += 1
        if self.record is None or self.record.index != op_index or self.slot != slot:
            return
        if isinstance(result, str):
            self.values, self.values_error = None, result
        else:
            self.values, self.values_error = np.asarray(result), ""
            self._views = views
        self._redraw()

    # -- view ---------------------------------------------------------
    def _mode_text(self) -> Text:
        t = Text()
        for m in MODES:
            t.append(f" {m} ", style="reverse bold" if m == self.mode else "dim")
        return t

    def watch_mode(self, mode: str) -> None:
        """Redraw when the view mode changes."""
        if self.is_mounted:
            self.query_one("#mode", Static).update(self._mode_text(), layout=False)
            self._redraw()

    def action_cycle_mode(self) -> None:
        """values -> heatmap -> histogram."""
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]

    def _set_view(self, renderable) -> None:
        self.query_one("#view", Static).update(renderable, layout=False)

    def _redraw(self) -> None:
        try:
            self._redraw_now()
        except NoMatches:       # values arrived while the app was closing
            pass

    def _redraw_now(self) -> None:
        if self.values_error:
            self._set_view(Text(self.values_error, style="yellow"))
            return
        a = self.values
        if a is None:
            self._set_view(Text("fetching values…", style="dim"))
            return
        head = Text(f"{self.slot}[{self.query_one('#slice', Input).value}] -> "
                    f"{a.shape} {a.dtype}", style="dim", no_wrap=True, overflow="ellipsis")
        room = max(3, self.query_one("#view", Static).size.height - 1)
        heat, hist = self._views or reduced_views(a)
        if self.mode == "heatmap":
            body = Heatmap(heat, max_height=room)
        elif self.mode == "histogram":
            body = Histogram(hist, max_height=room)
        else:
            body = values_text(a, self.size.width or 80)
        self._set_view(Group(head, body))

    # -- events -------------------------------------------------------
    def on_virtual_list_highlighted(self, event: VirtualList.Highlighted) -> None:
        """Fetch values for a newly highlighted slot."""
        if not isinstance(event.widget, SlotList):
            return
        event.stop()
        slot = event.item[0]
        if slot != PENDING and slot != self.slot:
            self.choose(slot)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Re-fetch with the typed slice."""
        event.stop()
        if self.slot and self.record is not None:
            text = event.value.strip()
            if text.startswith("[") and text.endswith("]"):
                text = text[1:-1]
                event.input.value = text
            self.fetch(self.record.index, self.slot, text)


HEAT_MAX = (96, 256)         # a heatmap never needs more cells than this
HIST_MAX = 1 << 20           # a histogram of a strided sample beyond this


def reduced_views(a: np.ndarray):
    """(heatmap array, histogram array) small enough to draw on the UI thread.

    Runs in the fetch worker: a huge slice is block-averaged (NaN/Inf kept
    visible) and sampled here, so drawing never freezes the UI.
    """
    heat = _squeeze_2d(a)
    if heat.ndim == 2 and np.issubdtype(heat.dtype, np.number) and \
            not np.iscomplexobj(heat) and \
            (heat.shape[0] > HEAT_MAX[0] or heat.shape[1] > HEAT_MAX[1]):
        heat = downsample(heat, *HEAT_MAX)
    hist = a
    if a.size > HIST_MAX:
        hist = a.ravel()[:: -(-a.size // HIST_MAX)]
    return heat, hist


def _squeeze_2d(a: np.ndarray) -> np.ndarray:
    """Drop leading length-1 dims so a [0, :, :] slice of a 4-D tensor heatmaps."""
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    return a


