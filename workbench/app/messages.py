"""Messages that carry session events into the app.

The session calls its subscribers on the worker thread.  The app's
subscriber puts each event in the app's inbox (:class:`Inbox`) and posts
one :class:`SessionEvents` message for everything queued until the UI
thread takes it: each message wakes the UI thread, and each wake-up costs
a running script far more than the UI's own work (a GIL hand-over and a
thread woken on the other core), so a Running snapshot and the output
flushed with it, or a burst of events, arrive as one.  :class:`SessionEvent`
wraps one event for callers on the UI thread.
"""

from __future__ import annotations

import threading

from textual.message import Message


class SessionEvent(Message):
    """One event from the session (Paused, Running, Output, ...)."""

    def __init__(self, event) -> None:
        super().__init__()
        self.event = event


class SessionEvents(Message):
    """Events are waiting in the app's inbox."""


class Inbox:
    """Events from any thread, taken in order by the UI thread.

    ``put`` returns True when the taker must be told (the inbox was empty
    since the last ``take``): one message per batch, however many events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list = []

    def put(self, event) -> bool:
        with self._lock:
            self._events.append(event)
            return len(self._events) == 1

    def take(self) -> list:
        with self._lock:
            events, self._events = self._events, []
        return events
