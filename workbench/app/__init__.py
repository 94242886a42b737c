"""The workbench Textual UI.

``run_app(session) -> int`` runs the app on the calling (main) thread while
the session's worker thread runs the script.  Textual is imported only when
this function is called, so ``import workbench`` stays light.
"""

from __future__ import annotations


def run_app(session, **kwargs) -> int:
    """Run the debugger UI over a session on this thread; returns the exit code."""
    from workbench.app.app import run_app as _run_app

    return _run_app(session, **kwargs)


__all__ = ["run_app"]
