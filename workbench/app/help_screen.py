"""The ? help screen: key bindings and commands."""

from __future__ import annotations

from rich.table import Table
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("s", "step: run to the next op (into backward too)"),
    ("n", "next: run to the next source line in this frame"),
    ("c", "continue: run to a breakpoint (op, line, nan, condition)"),
    ("r", "finish: run until the current function returns"),
    ("b", "break ...: e.g. b matmul, b mlp.py:41, b nan, b op relu if x.max()>9"),
    ("u / d", "up / down the user's stack"),
    ("ctrl+c", "pause a running program at its next op"),
    ("p", "print EXPR in the selected frame"),
    ("w", "w PATH: save the inspected tensor to .npy"),
    ("v", "inspector view: values / heatmap / histogram"),
    ("[ / ]", "select the previous / next op in the history"),
    ("/", "filter the op history: name fwd|bwd scope:X"),
    (":", "focus the command line (esc leaves; up/down history; tab completes)"),
    ("tab", "cycle focus between panes"),
    ("ctrl+p", "command palette"),
    ("q", "quit (the program is stopped)"),
)
COMMANDS = (
    ("step | s, next | n, continue | c, finish | r, until N", "run control"),
    ("break | b [op NAME | FILE:LINE | nan | inf] [if COND], tbreak", "breakpoints"),
    ("clear N, disable N, enable N, ignore N COUNT", "manage breakpoints"),
    ("print | p EXPR, pp EXPR, display EXPR, undisplay", "evaluate, watch"),
    ("up | u, down | d, where", "stack"),
    ("inspect OP SLOT SLICE, save OP SLOT PATH, w PATH", "tensors"),
    ("filter TEXT, view values|heatmap|histogram", "UI"),
)


class HelpScreen(ModalScreen[None]):
    """A modal listing keys and commands; any of esc/q/? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 96; height: 34; border: round $accent;
                                   background: $surface; padding: 0 1; }
    """

    def compose(self):
        """Two tables: keys and commands."""
        keys = Table(title="keys", box=None, show_header=False, expand=True)
        keys.add_column(style="bold cyan", no_wrap=True)
        keys.add_column()
        for k, v in KEYS:
            keys.add_row(k, v)
        cmds = Table(title="commands", box=None, show_header=False, expand=True)
        cmds.add_column(style="bold cyan")
        cmds.add_column(style="dim")
        for k, v in COMMANDS:
            cmds.add_row(k, v)
        with VerticalScroll():
            yield Static(keys)
            yield Static(cmds)

    async def action_dismiss(self, result=None) -> None:
        """Close the help."""
        self.dismiss(None)
