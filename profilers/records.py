"""Frozen records of a profiled run, with ``to_dict``/``from_dict``.

These are the only inputs of the aggregations, reports and traces (which
are pure functions over them), and the unit other tools (recorded runs of
the workbench) may reuse.  Everything here is plain data: JSON-safe through
``to_dict`` and rebuilt by ``from_dict`` without pickle.

Times are integers in nanoseconds on the host's ``perf_counter_ns`` clock.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from core.fileio import atomic_write

SCHEMA = "workbench.profile/1"


@dataclass(frozen=True, slots=True)
class OpRecord:
    """One op as the profiler saw it.

    ``host_ns`` is the whole dispatch (``end_ns - start_ns``); ``kernel_ns``
    the kernel alone (host side: for an asynchronous GPU op this is only the
    launch); ``device_ns`` what the device timer measured (None on the CPU
    or when not resolved).  ``location`` is the user's line that issued the
    op; for a backward op ``src`` is the location of the forward op it
    differentiates (so backward time is charged to the user's line).
    ``scope`` is the module path as a tuple of names.
    """

    index: int
    name: str
    phase: str
    start_ns: int
    end_ns: int
    kernel_ns: int
    device: str = "cpu"
    device_ns: int | None = None
    shapes: tuple = ()            # input shapes (None for non-tensor operands)
    dtypes: tuple = ()            # input dtype names ("" for non-tensors)
    out_shape: tuple = ()
    out_dtype: str = ""
    out_bytes: int = 0
    location: tuple = ("", 0, "")  # (file, line, function)
    src: tuple = ("", 0, "")       # charged location (forward op's for backward)
    scope: tuple = ()
    forward_index: int | None = None
    attrs: tuple = ()              # ((key, JSON-safe value), ...)
    variables: tuple = ()          # per input: "name#id" of a Variable, else None
    step: int = 0
    thread: int = 0
    grads: int | None = None       # a whole node's backward: gradients made

    @property
    def host_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def dispatch_ns(self) -> int:
        return max(0, self.host_ns - self.kernel_ns)

    @property
    def module(self) -> str:
        return ".".join(self.scope)

    @property
    def signature(self) -> str:
        """The op with its input shapes/dtypes, e.g. ``matmul (128,784)f32 x ...``."""
        parts = []
        for s, d in zip(self.shapes, self.dtypes):
            if s is None:
                parts.append("scalar")
            else:
                parts.append("(" + ",".join(str(n) for n in s) + ")" + _short_dtype(d))
        return f"{self.name} " + " x ".join(parts)

    def attr(self, key, default=None):
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    def to_list(self) -> list:
        return [_jsonable(getattr(self, f)) for f in RECORD_FIELDS]

    @classmethod
    def from_list(cls, row) -> "OpRecord":
        kw = dict(zip(RECORD_FIELDS, row))
        kw["shapes"] = tuple(None if s is None else tuple(s) for s in kw["shapes"])
        kw["dtypes"] = tuple(kw["dtypes"])
        kw["out_shape"] = tuple(kw["out_shape"])
        kw["location"] = tuple(kw["location"])
        kw["src"] = tuple(kw["src"])
        kw["scope"] = tuple(kw["scope"])
        kw["attrs"] = tuple((k, _untuple(v)) for k, v in kw["attrs"])
        kw["variables"] = tuple(kw["variables"])
        return cls(**kw)

    def to_dict(self) -> dict:
        return dict(zip(RECORD_FIELDS, self.to_list()))

    @classmethod
    def from_dict(cls, d) -> "OpRecord":
        """From a mapping of field names (fields added since a file was
        written, such as ``grads``, take their defaults)."""
        return cls.from_list([d[f] if f in d else _DEFAULTS[f]
                              for f in RECORD_FIELDS])


RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(OpRecord))
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(OpRecord)
             if f.default is not dataclasses.MISSING}


@dataclass(frozen=True, slots=True)
class Overhead:
    """The profiler's own cost, measured by calibration on this machine.

    ``per_op_ns``: extra wall time per op with the profiler on versus off.
    ``in_op_ns``: the part of it that falls inside an op's host window
    (so per-op host times are charged it); the rest lands between ops.
    """

    per_op_ns: float = 0.0
    in_op_ns: float = 0.0
    method: str = "none"
    details: tuple = ()   # ((key, number), ...)

    def total_ns(self, n_ops: int) -> float:
        return self.per_op_ns * n_ops

    def to_dict(self) -> dict:
        return {"per_op_ns": self.per_op_ns, "in_op_ns": self.in_op_ns,
                "method": self.method, "details": dict(self.details)}

    @classmethod
    def from_dict(cls, d) -> "Overhead":
        return cls(float(d["per_op_ns"]), float(d["in_op_ns"]), d["method"],
                   tuple(sorted(d.get("details", {}).items())))


@dataclass(frozen=True, slots=True)
class PySpySample:
    """One py-spy stack (innermost frame last) and how many samples hit it."""

    frames: tuple   # ((function, file, line), ...) outermost first
    count: int

    def to_dict(self):
        return {"frames": [list(f) for f in self.frames], "count": self.count}

    @classmethod
    def from_dict(cls, d):
        return cls(tuple(tuple(f) for f in d["frames"]), int(d["count"]))


@dataclass(frozen=True, slots=True)
class PySpyData:
    """py-spy's Python-level samples, or why there are none."""

    status: str = "not requested"   # "ok", "unavailable", "failed", "not requested"
    reason: str = ""
    rate_hz: int = 100
    samples: tuple = ()   # PySpySample

    def to_dict(self):
        return {"status": self.status, "reason": self.reason,
                "rate_hz": self.rate_hz,
                "samples": [s.to_dict() for s in self.samples]}

    @classmethod
    def from_dict(cls, d):
        return cls(d["status"], d.get("reason", ""), int(d.get("rate_hz", 100)),
                   tuple(PySpySample.from_dict(s) for s in d.get("samples", ())))


@dataclass(frozen=True, slots=True)
class ProfileRun:
    """A whole profiled run: records plus what is needed to judge them."""

    records: tuple = ()                 # OpRecord, in index order
    wall_start_ns: int = 0
    wall_end_ns: int = 0
    overhead: Overhead = field(default_factory=Overhead)
    counters: tuple = ()                # ((name, number), ...) always-on counters
    live_bytes: tuple = ()              # ((t_ns, bytes), ...) when tracked
    steps: tuple = ()                   # ((step, start_ns, end_ns), ...) active window
    meta: tuple = ()                    # ((key, str), ...): script, argv, sync, ...
    pyspy: PySpyData = field(default_factory=PySpyData)

    @property
    def wall_ns(self) -> int:
        """Wall time profiled: the active step windows when a schedule
        chose them, else start to stop."""
        if self.steps:
            return sum(max(0, e - s) for _, s, e in self.steps)
        return max(0, self.wall_end_ns - self.wall_start_ns)

    def meta_get(self, key, default=None):
        for k, v in self.meta:
            if k == key:
                return v
        return default

    def replace(self, **kw) -> "ProfileRun":
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "wall_start_ns": self.wall_start_ns,
            "wall_end_ns": self.wall_end_ns,
            "overhead": self.overhead.to_dict(),
            "counters": dict(self.counters),
            "live_bytes": [list(p) for p in self.live_bytes],
            "steps": [list(s) for s in self.steps],
            "meta": dict(self.meta),
            "pyspy": self.pyspy.to_dict(),
            "record_fields": list(RECORD_FIELDS),
            "records": [r.to_list() for r in self.records],
        }

    @classmethod
    def from_dict(cls, d) -> "ProfileRun":
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document (schema={d.get('schema')!r})")
        fields_ = d["record_fields"]
        if list(fields_) != list(RECORD_FIELDS):
            rows = [OpRecord.from_dict(dict(zip(fields_, r))) for r in d["records"]]
        else:
            rows = [OpRecord.from_list(r) for r in d["records"]]
        return cls(
            records=tuple(rows),
            wall_start_ns=int(d["wall_start_ns"]),
            wall_end_ns=int(d["wall_end_ns"]),
            overhead=Overhead.from_dict(d["overhead"]),
            counters=tuple(sorted(d.get("counters", {}).items())),
            live_bytes=tuple(tuple(p) for p in d.get("live_bytes", ())),
            steps=tuple(tuple(s) for s in d.get("steps", ())),
            meta=tuple(sorted(d.get("meta", {}).items())),
            pyspy=PySpyData.from_dict(d.get("pyspy", {"status": "not requested"})),
        )


# ------------------------------------------------------------- helpers --

_DT_SHORT = {"float32": "f32", "float64": "f64", "float16": "f16",
             "int64": "i64", "int32": "i32", "bool": "b", "int8": "i8",
             "uint8": "u8", "int16": "i16"}


def _short_dtype(d):
    return _DT_SHORT.get(d, d)


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def _untuple(v):
    if isinstance(v, list):
        return tuple(_untuple(x) for x in v)
    return v


def safe_attr_value(v):
    """A JSON-safe stand-in for an op attribute value."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return tuple(safe_attr_value(x) for x in v)
    try:
        import numpy as np

        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.dtype):
            return str(v)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(v, type):
        return getattr(v, "__name__", str(v))
    return str(v)


def write_atomic(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see ``core.fileio``)."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def save_run(run: ProfileRun, path, extra: dict | None = None) -> None:
    d = run.to_dict()
    if extra:
        d.update(extra)
    write_atomic(path, json.dumps(d, separators=(",", ":")))


def load_run(path) -> ProfileRun:
    with open(path, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return ProfileRun.from_dict(d)
