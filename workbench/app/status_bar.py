"""Status bar: where the program is and why (paused, running, finished)."""

from __future__ import annotations

from rich.text import Text

from workbench.app.fmt import short_path, where_text
from workbench.app.rendered import RenderedPane


def paused_text(script: str, ev) -> Text:
    """' ⏸ PAUSED  mlp.py before #1284 matmul (forward) at mlp.py:41 in f  scope  [reason]'."""
    op = ev.op
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(" ⏸ PAUSED ", style="bold black on yellow")
    t.append(f" {short_path(script)} ", style="bold")
    t.append("after " if getattr(ev, "after", False) else "before ")
    t.append(f"#{op.index} {op.name}", style="bold")
    t.append(f" ({op.phase}) at {where_text(op.location)}")
    if op.scope:
        t.append(f"  {op.scope_text}", style="blue")
    t.append(f"  [{ev.reason}]", style="bold magenta")
    t.append(f"  {ev.ops_run} ops", style="dim")
    return t


def running_text(script: str, ops_run: int, last) -> Text:
    """' ▶ RUNNING  mlp.py  12345 ops  last #... name'."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(" ▶ RUNNING ", style="bold black on green")
    t.append(f" {short_path(script)} ", style="bold")
    t.append(f" {ops_run} ops")
    if last is not None:
        t.append(f"  last #{last.index} {last.name} ({last.phase}) at {where_text(last.location)}",
                 style="dim")
    t.append("   ctrl+c / p: pause", style="dim")
    return t


def finished_text(script: str, exit_code: int, ops_run: int) -> Text:
    """' ■ FINISHED  mlp.py exit 0  1234 ops'."""
    t = Text(no_wrap=True, overflow="ellipsis")
    style = "bold black on cyan" if exit_code == 0 else "bold white on red"
    t.append(" ■ FINISHED ", style=style)
    t.append(f" {short_path(script)} exit code {exit_code}  {ops_run} ops", style="bold")
    t.append("   the panes stay for a look around; q quits", style="dim")
    return t


def postmortem_text(script: str, ev) -> Text:
    """' ✖ POST-MORTEM  ValueError: ...'."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(" ✖ POST-MORTEM ", style="bold white on red")
    t.append(f" {short_path(script)} ", style="bold")
    t.append(f"{ev.exc_type}: {ev.message}", style="red")
    t.append("   u/d: frames  p EXPR  q: quit", style="dim")
    return t


class StatusBar(RenderedPane):
    """One line at the top of the screen."""

    DEFAULT_CSS = "StatusBar { height: 1; background: $panel; }"

    def __init__(self, script: str = "", *args, **kwargs) -> None:
        super().__init__(Text(f" workbench  {short_path(script)}  starting…", style="bold"),
                         *args, **kwargs)
        self.script = script

    def show(self, text: Text) -> None:
        """Replace the line (fixed height: no layout pass)."""
        self.set_renderable(text)
