"""Line mode: ``workbench debug --batch SCRIPT [ARGS...]``.

Reads one command per line from stdin, but only when the session waits
for one (as pdb does at its prompt), and prints one line per pause::

    #12 forward matmul scope=model.layers.1 out=(8, 16) at mlp.py:41  [breakpoint 1]

(``out=?`` when paused before the kernel), the text of ``p``/``where``/...
results, the script's own output, and a last line
``finished: exit code N, M ops``.  At EOF of stdin it continues to the end
and exits with the script's exit code.  No terminal is needed.
"""

from __future__ import annotations

import sys
import threading

from workbench.records import (
    CommandResult, Finished, Output, Paused, PostMortem,
)
from workbench.session import Session


def format_paused(ev: Paused) -> str:
    """The one line printed per pause."""
    op = ev.op
    shape = op.out_shape
    out = "?" if shape is None else str(tuple(shape))
    scope = op.scope_text or "-"
    return (f"#{op.index} {op.phase} {op.name} scope={scope} out={out} "
            f"at {op.where_text}  [{ev.reason}]")


class LinePrinter:
    """A session subscriber that prints events as lines (thread-safe)."""

    def __init__(self, out, err):
        self.out = out
        self.err = err
        self._lock = threading.Lock()
        self._last_pause = None
        self._pm_shown = False

    def __call__(self, ev):
        with self._lock:
            if isinstance(ev, Paused):
                key = (ev.op.index, ev.reason, ev.after, ev.ops_run)
                if key == self._last_pause:     # up/down re-post: no new line
                    return
                self._last_pause = key
                self.out.write(format_paused(ev) + "\n")
                for expr, value in ev.watches:
                    self.out.write(f"  display {expr}: {value}\n")
            elif isinstance(ev, CommandResult):
                if ev.text:
                    self.out.write(ev.text.rstrip("\n") + "\n")
            elif isinstance(ev, Output):
                self.out.flush()
                (self.out if ev.stream == "stdout" else self.err).write(ev.text)
            elif isinstance(ev, PostMortem):
                if self._pm_shown:
                    return
                self._pm_shown = True
                self.out.write(f"post-mortem: {ev.exc_type}: {ev.message}\n")
                self.err.write(ev.traceback_text)
                self.err.flush()
            elif isinstance(ev, Finished):
                self.out.write(f"finished: exit code {ev.exit_code}, "
                               f"{ev.ops_run} ops\n")
            else:
                return
            self.out.flush()


def run_batch(script, argv=(), *, stdin=None, stdout=None, stderr=None,
              break_at_first_op=True, history=None, setup=None) -> int:
    """Drive a :class:`Session` from lines of ``stdin``; the exit code.

    ``setup(session)`` runs before the session starts (e.g. to subscribe
    a recorder)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    session = Session(script, argv, break_at_first_op=break_at_first_op,
                      history=history)
    session.subscribe(LinePrinter(stdout, stderr))
    if setup is not None:
        setup(session)
    session.start()
    eof = False
    try:
        while True:
            if not session.wait_for_prompt(0.5):
                if session.finished:
                    break
                continue
            line = "" if eof else stdin.readline()
            if not line:
                eof = True
                line = "continue"
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            session.send(line)
    except KeyboardInterrupt:
        session.kill()
    session.join(30)
    return session.exit_code if session.exit_code is not None else 1
