"""Tape pane: active GradientTapes as a tree grouped (collapsibly) by module
scope, and the gradients of the last computation.  Drawn as a virtual list of
the visible nodes; Enter (or a click) on a group folds/unfolds it."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding

from workbench.app.fmt import fmt_num, fmt_shape
from workbench.app.virtual_list import ListSource, VirtualList


class TapeTree(VirtualList):
    """Rows are (depth, key, label, foldable); folded keys survive refreshes."""

    BINDINGS = [Binding("space", "choose", "fold", show=False)]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._view = None
        self.folded: set[tuple] = set()

    def show(self, view) -> None:
        """Show a TapeView (no-op when unchanged)."""
        if view == self._view:
            return
        self._view = view
        self._rebuild()

    def _rebuild(self) -> None:
        rows = []
        view = self._view
        if view is None or (not view.tapes and not view.gradients):
            rows.append((0, None, Text("no active tape", style="dim"), False))
        else:
            for tape in view.tapes:
                self._tape_rows(rows, tape, view.processing_index)
            if view.gradients:
                self._gradient_rows(rows, view.gradients)
        processing = [i for i, r in enumerate(rows) if r[1] == ("processing",)]
        self.set_source(ListSource(rows), follow=False)
        if processing:
            self.cursor = processing[0]
            self._scroll_to_cursor()
            self.call_after_refresh(self._scroll_to_cursor)
        elif self.cursor >= len(rows):
            self.cursor = max(0, len(rows) - 1)

    def _group(self, rows, depth, key, label) -> bool:
        """Append a foldable group row; True when it is unfolded."""
        open_ = key not in self.folded
        head = Text("▼ " if open_ else "▶ ", style="dim")
        head.append_text(label)
        rows.append((depth, key, head, True))
        return open_

    def _tape_rows(self, rows, tape, processing) -> None:
        label = Text()
        label.append(f"tape #{tape.tape_id}", style="bold")
        label.append(f" {tape.n_entries or len(tape.entries)} entries")
        if tape.persistent:
            label.append(" persistent", style="cyan")
        key = ("tape", tape.tape_id)
        if not self._group(rows, 0, key, label):
            return
        hidden = (tape.n_entries or 0) - len(tape.entries)
        if hidden > 0:
            rows.append((1, None, Text(f"… {hidden} older entries", style="dim"), False))
        tree = _Node()
        for e in tape.entries:
            node = tree
            for name in e.scope:
                node = node.child(name)
            node.items.append(("leaf", e))
            node.n += 1
        self._emit(rows, tree, key, 1, processing)

    def _emit(self, rows, node, key, depth, processing) -> None:
        """Rows of a scope node in recording order: entries and sub-scope groups
        (a sub-scope appears where its first entry was recorded)."""
        for kind, item in node.items:
            if kind == "leaf":
                e = item
                active = processing is not None and e.index == processing
                leaf = Text()
                leaf.append("◀ " if active else "", style="bold magenta")
                leaf.append(f"#{e.index} ", style="dim")
                leaf.append(e.name, style="bold magenta" if active else "")
                if e.out_shape is not None:
                    leaf.append(f" {fmt_shape(e.out_shape)}", style="cyan")
                rows.append((depth, ("processing",) if active else None, leaf, False))
                continue
            child = node.children[item]
            sub = key + (item,)
            label = Text(item, style="bold blue")
            n = child.count()
            label.append(f"  {n} op{'' if n == 1 else 's'}", style="dim")
            if self._group(rows, depth, sub, label):
                self._emit(rows, child, sub, depth + 1, processing)

    def _gradient_rows(self, rows, gradients) -> None:
        if not self._group(rows, 0, ("gradients",), Text("gradients", style="bold green")):
            return
        for name, shape, norm in gradients:
            leaf = Text()
            leaf.append(f"{name} ", style="bold")
            leaf.append(f"{fmt_shape(shape)} ")
            leaf.append(f"‖g‖ {fmt_num(norm)}", style="green")
            rows.append((1, None, leaf, False))

    def render_row(self, item, row: int) -> Text:
        """Indent by depth."""
        depth, _key, label, foldable = item
        text = Text("  " * depth + ("" if foldable else "  "), no_wrap=True, overflow="crop")
        text.append_text(label)
        return text

    def action_choose(self) -> None:
        """Fold or unfold the group under the cursor."""
        item = self.item_at(self.cursor)
        if item is None or not item[3]:
            return
        key = item[1]
        if key in self.folded:
            self.folded.discard(key)
        else:
            self.folded.add(key)
        self._rebuild()

    def on_click(self, event: events.Click) -> None:
        """Click: move there; a second click on a group folds it."""
        row = self.scroll_offset.y + event.y
        if row == self.cursor:
            self.action_choose()
        else:
            self.move_to(row, announce=False)


class _Node:
    """A scope in the tape tree: entries and sub-scopes in recording order."""

    __slots__ = ("children", "items", "n")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.items: list = []          # ("leaf", entry) | ("node", name)
        self.n = 0

    def child(self, name: str) -> "_Node":
        if name not in self.children:
            self.children[name] = _Node()
            self.items.append(("node", name))
        return self.children[name]

    def count(self) -> int:
        return self.n + sum(c.count() for c in self.children.values())
