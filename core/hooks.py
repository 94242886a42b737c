"""Hooks on every op.

``register(hook)`` where ``hook`` has optional ``before_op(event)`` and
``after_op(event)`` methods (and optionally ``wants_device_time = True`` to
get GPU timer events); it returns a :class:`RemovableHandle`.
``with attached(hook):`` registers for the block and nests.  Hooks run on
the thread that runs the op.  An exception raised in a hook surfaces as
:class:`core.errors.HookError` naming the hook; the engine stays usable.

Recording hooks (profilers): a hook with a ``record_into`` list (and an
``after_op``) is a *recorder*.  While every registered hook is one, a host
op builds no OpEvent: the engine appends one flat record to each list
(layout in ``core._record``), and ``after_op`` sees only device ops (whose
timer events need reading).  A backward pass nothing records as a graph
then gives one record per node (its whole VJP, computed on arrays) instead
of one event per VJP engine op; any other hook attached restores the
per-op events for everyone.  A recorder may also have ``values_into`` (a
list: the engine appends ``(output, *operand arrays)`` per host op, None
for a backward node) and ``tick`` (called on the op's thread every
``tick_every`` records or ``tick_ns`` nanoseconds: a debugger running free
drains its records there, and may swap hooks).
"""

from __future__ import annotations

import contextlib

from core import _dispatch as _D
from core._dispatch import OpEvent, user_frame, user_location  # noqa: F401

__all__ = ["register", "attached", "OpEvent", "RemovableHandle", "registered",
           "scope", "current_scope", "user_location", "user_frame"]


class RemovableHandle:
    """Returned by :func:`register`; ``remove()`` is idempotent."""

    __slots__ = ("hook", "_removed")

    def __init__(self, hook):
        self.hook = hook
        self._removed = False

    def remove(self):
        if self._removed:
            return
        self._removed = True
        for i, h in enumerate(_D.hooks):
            if h is self.hook:
                del _D.hooks[i]
                break
        _D.refresh_hooks()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def register(hook) -> RemovableHandle:
    """Call ``hook.before_op(ev)``/``hook.after_op(ev)`` around every op."""
    if getattr(hook, "before_op", None) is None and \
            getattr(hook, "after_op", None) is None:
        raise TypeError("a hook needs a before_op or after_op method")
    if getattr(hook, "record_into", None) is not None and \
            getattr(hook, "after_op", None) is None:
        raise TypeError("a recording hook (record_into) needs an after_op "
                        "for the ops the engine cannot record (device ops)")
    _D.hooks.append(hook)
    _D.refresh_hooks()
    return RemovableHandle(hook)


@contextlib.contextmanager
def attached(hook):
    """``with attached(hook):`` the hook sees every op in the block."""
    handle = register(hook)
    try:
        yield hook
    finally:
        handle.remove()


def registered() -> tuple:
    return tuple(_D.hooks)


@contextlib.contextmanager
def scope(name: str):
    """Push a name scope recorded on every op event inside (``event.scope``)."""
    prev = _D.scope
    _D.scope = prev + (str(name),)
    try:
        yield _D.scope
    finally:
        _D.scope = prev


def current_scope() -> tuple:
    return _D.scope
