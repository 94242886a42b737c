"""Messages that carry session events into the app.

The session calls its subscribers on the worker thread; the app's subscriber
wraps each event in :class:`SessionEvent` and posts it (``post_message`` is
thread-safe).  ``Running`` progress snapshots may replace one another in the
queue (Textual's ``can_replace``), so a backlog collapses to the newest.
"""

from __future__ import annotations

from textual.message import Message

from workbench.records import Running


class SessionEvent(Message):
    """One event from the session (Paused, Running, Output, ...)."""

    def __init__(self, event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        """A Running snapshot is superseded by a newer Running snapshot."""
        return (isinstance(self.event, Running) and isinstance(message, SessionEvent)
                and isinstance(message.event, Running))
