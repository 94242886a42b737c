"""``workbench.set_trace()``: open the debugger UI from inside a running script.

Also reachable as ``PYTHONBREAKPOINT=workbench.set_trace`` (then ``breakpoint()``
calls it).

The design problem: Textual must own the main thread (its driver installs
signal handlers), and a script calling ``set_trace()`` *is* the main thread,
with its Python frames on that thread's stack; they cannot be moved to
another thread.  ``workbench debug`` avoids the problem by running the script
on a worker thread from the start; ``set_trace`` cannot.

The choice: **a modal UI at each pause.**  ``set_trace`` attaches a session to
the calling thread (its op hook, the same pause rules as ``workbench debug``)
and returns at once; the script pauses before its next op.  At every pause
the *main thread* (blocked inside the op hook, its frames intact) runs the
Textual app, while a helper thread serves the session's command loop (print,
inspect, up/down ... evaluate in the paused frames, which is safe because the
script's thread is blocked).  A resuming command (step, next, continue, ...)
ends the command loop, the app exits, and the main thread returns from the
hook into the script, which runs on until the next pause opens the UI again.
Between pauses the terminal belongs to the script (its prints appear
normally), as in pudb.  The price is an app start per pause (~0.1-0.2 s and a
screen switch), acceptable for a breakpoint, which is why ``workbench debug``
(worker thread, one long-lived app) remains the main way in.

``q`` in the UI detaches the debugger and lets the script run on to its end
without pausing again (there is no worker thread to unwind, and raising into
the user's program from ``breakpoint()`` would turn a debugging session into a
crash).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

_active = None          # the attached trace session (one per process)
ui_runner = None        # tests: a callable(app) that drives the app headless


def set_trace(*, header: str | None = None):
    """Attach the debugger to this thread; the UI opens before the next op.

    Calling it again while attached re-arms the pause (like pdb's set_trace).
    ``header`` is shown in the output pane when the UI opens.
    """
    global _active
    if _active is not None and _active.attached:
        _active.rearm(header)
        return _active
    frame = sys._getframe(1)
    # skip our own wrapper in workbench/__init__.py
    while frame is not None and frame.f_code.co_filename == _INIT_FILE:
        frame = frame.f_back
    _active = _make_session(frame, header)
    _active.attach()
    return _active


_INIT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__init__.py")


def _make_session(frame, header):
    from workbench.session import QuitSession, Session

    class TraceSession(Session):
        """A Session attached to an already-running thread, with a modal UI."""

        def __init__(self, frame, header):
            filename = frame.f_code.co_filename if frame is not None else "<unknown>"
            super().__init__(filename, (), break_at_first_op=True, capture_output=False)
            root = frame
            while root is not None and root.f_back is not None:
                root = root.f_back
            self._code = root.f_code if root is not None else None
            self._root_frame = root
            self.header = header
            self.attached = False
            self._handle = None
            self._events: list = []        # since the last UI run
            self._app = None               # the modal app while it runs
            self.ui_runs = 0
            self.subscribe(self._deliver)

        def _deliver(self, event):
            """To the running modal app, or kept for the next one."""
            app = self._app
            if app is not None:
                app.forward_event(event)
            elif type(event).__name__ != "Running":   # a modal app opens paused
                self._events.append(event)

        def attach(self):
            """Register the op hook for the calling thread."""
            from core import hooks
            from workbench.session import _Hook
            self._tid = threading.get_ident()
            self._handle = hooks.register(_Hook(self))
            self.attached = True
            atexit.register(self.detach)

        def rearm(self, header=None):
            """Pause again before the next op."""
            self.header = header
            self.send("pause")

        def detach(self):
            """Remove the hook; the script runs on undebugged."""
            if self._handle is not None:
                self._handle.remove()
                self._handle = None
            self.attached = False

        def _command_loop(self):
            """Serve commands on a helper thread while this thread runs the UI."""
            if threading.get_ident() != self._tid:
                return super()._command_loop()
            done = threading.Event()
            box: list = []

            def serve():
                try:
                    Session._command_loop(self)
                except BaseException as exc:     # QuitSession from `quit`
                    box.append(exc)
                finally:
                    done.set()

            helper = threading.Thread(target=serve, name="workbench-trace-commands",
                                      daemon=True)
            helper.start()
            events, self._events[:] = list(self._events), []
            self.ui_runs += 1
            try:
                _run_modal_ui(self, events, done)
            finally:
                if not done.is_set():        # UI closed without resuming: quit
                    self.send("quit")
                helper.join()
            if box and isinstance(box[0], QuitSession):
                self.detach()
                self._mode = "continue"
                return
            if box:
                raise box[0]

    return TraceSession(frame, header)


def _run_modal_ui(session, events, done):
    """Run the app on this thread until ``done`` is set (a command resumed)."""
    from workbench.app.app import WorkbenchApp

    app = WorkbenchApp(session, start_session=False, subscribe=False,
                       initial_events=events, resume_event=done)
    if session.header:
        app.notes.append(session.header)
    session._app = app
    try:
        if ui_runner is not None:       # tests: drive the app headless
            ui_runner(app)
        else:
            app.run()
    finally:
        session._app = None


__all__ = ["set_trace"]
