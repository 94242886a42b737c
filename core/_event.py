"""What an ordinary hook sees of one op: :class:`OpEvent` (public, stable),
and the turning of a raw (code, instruction offset) into the user's line."""

from __future__ import annotations

from core.errors import HookError


class OpEvent:
    """What a hook sees of one op (public, stable).

    ``outputs`` is None before the kernel.  ``start_ns``/``end_ns`` are host
    times around the whole dispatch; ``kernel_start_ns``/``kernel_end_ns``
    around the kernel alone, so dispatch overhead and kernel time can be
    told apart.  ``device_time_ns`` is filled when a device timer resolved
    it (see :meth:`resolve_device_time`).  ``op`` is the registry entry.
    """

    __slots__ = ("index", "name", "phase", "inputs", "outputs", "attrs",
                 "device", "_code", "_lasti", "scope", "forward_index",
                 "start_ns",
                 "end_ns", "kernel_start_ns", "kernel_end_ns", "op",
                 "__dict__")
    # rarely set: live in the (lazily created) instance dict
    device_time_ns = None
    _events = None
    recorded = False

    def __init__(self, index, name, phase, inputs, attrs, device, location,
                 scope_=(), forward_index_=None):
        self.index = index
        self.name = name
        self.phase = phase
        self.inputs = inputs
        self.outputs = None
        self.attrs = attrs if attrs is not None else {}
        self.device = device
        self._code = None
        self._lasti = 0
        if location is not None:
            self.__dict__["_loc"] = location
        self.scope = scope_
        self.forward_index = forward_index_
        self.start_ns = self.end_ns = 0
        self.kernel_start_ns = self.kernel_end_ns = 0
        from core._dispatch import REGISTRY

        self.op = REGISTRY.get(name)

    @property
    def location(self):
        """(file, line, function) of the user's line that issued the op.

        Captured as (code, instruction offset) at dispatch and turned into
        a line on first read (cached per call site): reading ``f_lineno``
        per op would cost more than the rest of the hooked dispatch."""
        code = self._code
        if code is None:
            return self.__dict__.get("_loc")
        return site_location(code, self._lasti)

    @location.setter
    def location(self, value):
        self._code = None
        self.__dict__["_loc"] = value

    @property
    def site(self):
        """The raw (code, instruction offset) of the user's line, or None."""
        return None if self._code is None else (self._code, self._lasti)

    def resolve_device_time(self, block=False):
        """Device time in ns once the GPU finished the op, else None."""
        if self.device_time_ns is None and self._events is not None:
            start, end = self._events
            if not end.done:
                if not block:
                    return None
                end.synchronize()
            self.device_time_ns = self.device.backend.elapsed_ns(start, end)
            self._events = None
        return self.device_time_ns

    def __repr__(self):
        return (f"OpEvent(#{self.index} {self.name} {self.phase} "
                f"scope={'.'.join(self.scope)})")


def _hook_error(fn, e, ev):
    owner = getattr(fn, "__self__", None)
    name = (f"{type(owner).__name__}.{fn.__name__}" if owner is not None
            else getattr(fn, "__qualname__", repr(fn)))
    return HookError(f"hook {name} raised {type(e).__name__}: {e} "
                     f"(in {ev.phase} op #{ev.index} {ev.name})")


_line_cache = {}    # id(code) -> {instruction offset: (file, line, function)}
# code objects keyed by id here and in core._dispatch._engine_code, kept
# alive so their ids stay unique
_pinned = []


def site_location(code, lasti):
    """(file, line, function) for an instruction of ``code`` (cached)."""
    d = _line_cache.get(id(code))       # by id: see core._dispatch._engine_code
    if d is None:
        d = _line_cache[id(code)] = {}
        _pinned.append(code)
    loc = d.get(lasti)
    if loc is None:
        line = code.co_firstlineno
        for start, end, ln in code.co_lines():
            if start <= lasti < end and ln is not None:
                line = ln
                break
        loc = d[lasti] = (code.co_filename, line, code.co_name)
    return loc
