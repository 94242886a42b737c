"""Immutable records the debugger session hands to front ends.

Every class here is a frozen dataclass holding only plain Python values
(ints, floats, strings, tuples): safe to pass to another thread, render,
compare in tests, or write to a recording.  Nothing here refers to a live
user object.

The session posts *events* (``Paused``, ``Running``, ``Output``,
``CommandResult``, ``PostMortem``, ``Finished``) to its subscribers; the
other records (``OpRecord``, ``TensorSummary``, ``TapeView``, ``TimingRow``,
``Frame``) are what the events carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


# ------------------------------------------------------------- values --


@dataclass(frozen=True)
class TensorSummary:
    """Statistics of one tensor, computed with a bounded cost.

    Above a size threshold the statistics come from a strided sample and
    ``note`` says so.  ``min``/``max``/``mean``/``std`` are of the finite
    values (None when there are none or the dtype is not numeric).  When
    ``values_kept`` is False only shape/dtype/device are meaningful unless
    the statistics were computed before the values were dropped.
    """

    shape: tuple
    dtype: str
    device: str
    numel: int
    min: Optional[float] = None
    max: Optional[float] = None
    mean: Optional[float] = None
    std: Optional[float] = None
    nan_count: int = 0
    inf_count: int = 0
    zero_count: int = 0
    sample: tuple = ()
    values_kept: bool = True
    note: str = ""
    has_stats: bool = True      # False: only shape/dtype/device are known

    @property
    def nonfinite(self) -> bool:
        return bool(self.nan_count or self.inf_count)

    def short(self) -> str:
        """One line: ``(128, 256) float32 cpu min -2.1 max 3.4 ...``."""
        parts = [f"{self.shape} {self.dtype} {self.device}"]
        if self.has_stats and self.min is not None:
            parts.append(f"min {self.min:.4g} max {self.max:.4g} "
                         f"mean {self.mean:.4g} std {self.std:.4g}")
        if self.has_stats and (self.nan_count or self.inf_count):
            parts.append(f"nan {self.nan_count} inf {self.inf_count}")
        if self.note:
            parts.append(f"({self.note})")
        return "  ".join(parts)


Slot = Union[TensorSummary, str]   # an input: a tensor summary or a scalar repr


@dataclass(frozen=True)
class OpRecord:
    """One op as the debugger shows it.

    ``outputs`` is empty when the session paused before the kernel ran.
    ``location`` is ``(file, line, function)`` of the user's innermost frame
    outside the engine.  Times are in ns (0 when unknown; ``device_ns`` None
    when no device timer resolved).  ``forward_index`` links a backward op
    to the forward op it differentiates.
    """

    index: int
    phase: str
    name: str
    scope: tuple = ()
    location: Optional[tuple] = None
    inputs: tuple = ()
    outputs: tuple = ()
    attrs: dict = field(default_factory=dict)
    host_ns: int = 0
    kernel_ns: int = 0
    device_ns: Optional[int] = None
    forward_index: Optional[int] = None
    values_kept: bool = True

    @property
    def scope_text(self) -> str:
        return ".".join(self.scope)

    @property
    def where_text(self) -> str:
        """``file.py:41`` (basename) or ``?``."""
        if not self.location:
            return "?"
        import os
        return f"{os.path.basename(self.location[0])}:{self.location[1]}"

    @property
    def out_shape(self):
        if self.outputs and isinstance(self.outputs[0], TensorSummary):
            return self.outputs[0].shape
        return None


# --------------------------------------------------------------- tapes --


@dataclass(frozen=True)
class TapeEntry:
    index: int
    name: str
    scope: tuple
    out_shape: tuple


@dataclass(frozen=True)
class TapeInfo:
    """One active GradientTape: the last entries it recorded (oldest first).

    ``n_entries`` is the total count; ``entries`` may hold only the most
    recent ones (bounded).  ``active`` is False for a tape that stopped
    recording but still holds entries (its ``gradient()`` may be running).
    """

    tape_id: int
    persistent: bool
    entries: tuple = ()
    n_entries: int = 0
    active: bool = True     # False: exited its ``with`` (e.g. in gradient())


@dataclass(frozen=True)
class TapeView:
    """Active tapes, the forward op whose VJP runs now (during backward),
    and gradients ``(name, shape, norm)`` after a gradient computation."""

    tapes: tuple = ()
    processing_index: Optional[int] = None
    gradients: tuple = ()


EMPTY_TAPE = TapeView()


@dataclass(frozen=True)
class TimingRow:
    name: str
    calls: int
    total_ns: int
    mean_ns: float
    share: float        # of the total over all rows, 0..1


@dataclass(frozen=True)
class Frame:
    """One user stack frame (outermost first in ``Paused.frames``)."""

    filename: str
    lineno: int
    function: str
    locals_preview: tuple = ()      # ((name, repr), ...)


# -------------------------------------------------------------- events --


@dataclass(frozen=True)
class Paused:
    """The script is paused at ``op``; the session waits for a command.

    ``after`` is True when it paused after the op's kernel ran (NaN/Inf and
    conditional breakpoints, ``finish``), so ``op.outputs`` are filled.
    ``frames`` are the user's frames, outermost first; ``frame_index``
    selects one (``up``/``down``); ``source_file``/``source_line`` are the
    selected frame's position.
    """

    op: OpRecord
    reason: str
    frames: tuple = ()
    frame_index: int = 0
    source_file: Optional[str] = None
    source_line: Optional[int] = None
    op_lines: frozenset = frozenset()
    tape: TapeView = EMPTY_TAPE
    timings: tuple = ()
    watches: tuple = ()         # ((expr, value_str), ...)
    ops_run: int = 0
    after: bool = False


@dataclass(frozen=True)
class Running:
    """Coalesced progress while running free (at most 2 per second)."""

    ops_run: int
    last: Optional[OpRecord] = None
    timings: tuple = ()


@dataclass(frozen=True)
class Output:
    """Text the script wrote (batched)."""

    stream: str     # "stdout" | "stderr"
    text: str


@dataclass(frozen=True)
class CommandResult:
    command: str
    text: str
    ok: bool = True


@dataclass(frozen=True)
class PostMortem:
    """The script raised; its frames stay inspectable until quit/continue."""

    exc_type: str
    message: str
    traceback_text: str
    frames: tuple = ()
    frame_index: int = 0
    timings: tuple = ()         # per-op totals up to the exception


@dataclass(frozen=True)
class Finished:
    """The script ended; ``timings`` are the final per-op totals."""

    exit_code: int
    ops_run: int = 0
    timings: tuple = ()         # TimingRow, as in Paused/Running


EVENT_TYPES = (Paused, Running, Output, CommandResult, PostMortem, Finished)
