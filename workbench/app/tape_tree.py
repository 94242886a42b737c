"""Tape pane: active GradientTapes as a tree grouped (collapsibly) by module scope."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree

from workbench.app.fmt import fmt_num, fmt_shape


class TapeTree(Tree):
    """Rebuilt only when the TapeView changes; scope groups keep their expansion."""

    DEFAULT_CSS = "TapeTree { height: 1fr; padding: 0; }"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__("tapes", *args, **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._view = None
        self._collapsed: set[tuple] = set()

    def show(self, view) -> None:
        """Show a TapeView (no-op when unchanged)."""
        if view == self._view:
            return
        self._view = view
        self._remember_collapsed(self.root, ())
        self.clear()
        if not view.tapes and not view.gradients:
            self.root.add_leaf(Text("no active tape", style="dim"))
            return
        for tape in view.tapes:
            label = Text()
            label.append(f"tape #{tape.tape_id}", style="bold")
            label.append(f" {tape.n_entries or len(tape.entries)} entries")
            if tape.persistent:
                label.append(" persistent", style="cyan")
            node = self.root.add(label, expand=True)
            self._add_entries(node, tape, view.processing_index, ("tape", tape.tape_id))
        if view.gradients:
            gnode = self.root.add(Text("gradients", style="bold green"), expand=True)
            for name, shape, norm in view.gradients:
                leaf = Text()
                leaf.append(f"{name} ", style="bold")
                leaf.append(f"{fmt_shape(shape)} ")
                leaf.append(f"‖g‖ {fmt_num(norm)}", style="green")
                gnode.add_leaf(leaf)

    def _remember_collapsed(self, node, path) -> None:
        for child in node.children:
            key = path + (str(child.label),)
            if child.allow_expand and not child.is_expanded:
                self._collapsed.add(key)
            else:
                self._collapsed.discard(key)
            self._remember_collapsed(child, key)

    def _add_entries(self, node, tape, processing, path) -> None:
        """Group a tape's entries under nested scope nodes."""
        hidden = (tape.n_entries or 0) - len(tape.entries)
        if hidden > 0:
            node.add_leaf(Text(f"… {hidden} older entries", style="dim"))
        groups: dict[tuple, object] = {(): node}
        label_path = {(): (str(node.label),)}
        for e in tape.entries:
            parent = node
            for depth in range(1, len(e.scope) + 1):
                key = tuple(e.scope[:depth])
                if key not in groups:
                    label = Text(key[-1], style="bold blue")
                    lp = label_path[key[:-1]] + (str(label),)
                    expand = lp not in self._collapsed
                    groups[key] = groups[key[:-1]].add(label, expand=expand)
                    label_path[key] = lp
                parent = groups[key]
            leaf = Text()
            active = processing is not None and e.index == processing
            leaf.append("◀ " if active else "", style="bold magenta")
            leaf.append(f"#{e.index} ", style="dim")
            leaf.append(e.name, style="bold magenta" if active else "")
            if e.out_shape is not None:
                leaf.append(f" {fmt_shape(e.out_shape)}", style="cyan")
            parent.add_leaf(leaf)
