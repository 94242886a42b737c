"""workbench: a debugger and profiler front end for the core engine.

``workbench.set_trace()`` opens the debugger UI from inside a script (also
via ``PYTHONBREAKPOINT=workbench.set_trace``).  Textual is imported lazily.
"""

from __future__ import annotations


def set_trace(*args, **kwargs):
    """Pause here and open the workbench UI (pdb's set_trace, for ops)."""
    from workbench.entry import set_trace as _set_trace

    return _set_trace(*args, **kwargs)
