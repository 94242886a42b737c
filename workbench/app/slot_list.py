"""The inspector's list of an op's operands: one health line per input/output."""

from __future__ import annotations

from rich.text import Text

from workbench.app.fmt import summary_text
from workbench.app.virtual_list import VirtualList

PENDING = "pending"


class SlotList(VirtualList):
    """Rows are (slot_id, summary); ('pending', None) marks outputs not computed yet."""

    DEFAULT_CSS = "SlotList { height: 4; }"

    def render_row(self, item, row: int) -> Text:
        """A slot's health line."""
        slot, summary = item
        if slot == PENDING:
            return Text("out   not computed yet (paused before the kernel)",
                        style="dim italic")
        return summary_text(slot, summary)
