"""Aggregations: pure functions over frozen :class:`OpRecord` s.

Every table is a list of :class:`Row` s sorted by time, most first.  The
time of one op is its host time minus the profiler's calibrated in-window
cost (never below its kernel time): see :func:`op_time`.  Device time (GPU
timers) is reported beside it, never mixed in, because asynchronous GPU
work overlaps later host work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from profilers.records import OpRecord, Overhead, ProfileRun

_ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8, "int8": 1, "uint8": 1,
             "int16": 2, "int32": 4, "int64": 8, "bool": 1, "complex64": 8,
             "complex128": 16}


# ----------------------------------------------------------------- time --


def op_time(r: OpRecord, in_op_ns: float = 0.0) -> float:
    """Host time of one op with the profiler's in-window cost taken out."""
    return max(float(r.kernel_ns), r.host_ns - in_op_ns)


def percentile(sorted_vals, q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of an ascending list."""
    if not sorted_vals:
        return 0.0
    k = max(0, min(len(sorted_vals) - 1,
                   math.ceil(q / 100.0 * len(sorted_vals)) - 1))
    return float(sorted_vals[k])


# ---------------------------------------------------------------- FLOPs --


def _prod(xs):
    p = 1
    for x in xs:
        p *= int(x)
    return p


def _einsum_flops(r):
    eq = r.attr("equation") or r.attr("subscripts") or r.attr("spec")
    if not isinstance(eq, str) or "->" not in eq:
        return 0
    lhs = eq.replace(" ", "").split("->")[0].split(",")
    sizes = {}
    for spec, shape in zip(lhs, r.shapes):
        if shape is None or "." in spec or len(spec) != len(shape):
            return 0
        for ch, n in zip(spec, shape):
            sizes[ch] = n
    return 2 * _prod(sizes.values())


def flops(r: OpRecord) -> int:
    """Floating-point operations of matmul/einsum/conv ops (0 for others).

    A backward record covering a whole node (``r.grads`` set) computed one
    gradient per differentiated operand, each costing the forward's FLOPs.
    """
    if r.grads is not None:
        return _forward_flops(r) * r.grads
    return _forward_flops(r)


def _forward_flops(r: OpRecord) -> int:
    name = r.name
    if name == "matmul" and len(r.shapes) >= 2 and None not in r.shapes[:2]:
        a = r.shapes[0]
        k = a[-1] if a else 1
        return 2 * _prod(r.out_shape) * int(k)
    if name == "einsum":
        return _einsum_flops(r)
    if name.startswith("conv") and len(r.shapes) >= 2 and r.shapes[1] is not None:
        w = r.shapes[1]                      # (out, in/groups, kH, kW)
        return 2 * _prod(r.out_shape) * _prod(w[1:])
    return 0


def bytes_moved(r: OpRecord) -> int:
    """Bytes read (tensor inputs) plus written (the output)."""
    total = r.out_bytes
    for s, d in zip(r.shapes, r.dtypes):
        if s is not None:
            total += _prod(s) * _ITEMSIZE.get(d, 4)
    return total


# ----------------------------------------------------------------- rows --


@dataclass(frozen=True)
class Row:
    """One line of a table (times in ns)."""

    key: str
    calls: int
    total_ns: float
    mean_ns: float
    p50_ns: float
    p95_ns: float
    share: float              # of the (overhead-corrected) wall time
    kernel_ns: float = 0.0
    dispatch_ns: float = 0.0
    device_ns: float | None = None
    self_ns: float | None = None   # modules: ops directly in this scope
    forward_ns: float = 0.0
    backward_ns: float = 0.0
    flops: int = 0
    bytes: int = 0
    gflops: float | None = None    # achieved, over host kernel (or device) time
    gbps: float | None = None
    extra: tuple = field(default=())   # ((key, value), ...)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in (
            "key", "calls", "total_ns", "mean_ns", "p50_ns", "p95_ns", "share",
            "kernel_ns", "dispatch_ns", "device_ns", "self_ns", "forward_ns",
            "backward_ns", "flops", "bytes", "gflops", "gbps")}
        d["extra"] = dict(self.extra)
        return d


def _row(key, recs, wall_ns, in_op_ns, self_recs=None, extra=()):
    times = sorted(op_time(r, in_op_ns) for r in recs)
    total = sum(times)
    kernel = sum(r.kernel_ns for r in recs)
    dev_vals = [r.device_ns for r in recs if r.device_ns is not None]
    device = float(sum(dev_vals)) if dev_vals else None
    fl = sum(flops(r) for r in recs)
    by = sum(bytes_moved(r) for r in recs)
    fwd = sum(op_time(r, in_op_ns) for r in recs if r.phase == "forward")
    busy = device if device else kernel
    gflops = fl / busy if fl and busy else None     # flop/ns == GFLOP/s
    gbps = by / busy if (fl and busy) else None
    self_ns = None
    if self_recs is not None:
        self_ns = sum(op_time(r, in_op_ns) for r in self_recs)
    n = len(recs)
    return Row(key=key, calls=n, total_ns=total, mean_ns=total / n if n else 0.0,
               p50_ns=percentile(times, 50), p95_ns=percentile(times, 95),
               share=total / wall_ns if wall_ns else 0.0, kernel_ns=float(kernel),
               dispatch_ns=max(0.0, total - kernel), device_ns=device,
               self_ns=self_ns, forward_ns=fwd, backward_ns=total - fwd,
               flops=fl, bytes=by, gflops=gflops, gbps=gbps, extra=tuple(extra))


def _group(records, keyfn):
    groups = {}
    for r in records:
        groups.setdefault(keyfn(r), []).append(r)
    return groups


def _sorted(rows):
    return sorted(rows, key=lambda r: (-r.total_ns, r.key))


def loc_str(loc) -> str:
    """``file:line (function)`` with the file shortened to its basename."""
    file, line, func = (tuple(loc) + ("", 0, ""))[:3]
    if not file:
        return "<unknown>"
    import os

    return f"{os.path.basename(file)}:{line} ({func})"


def _by(key, records, wall_ns, overhead):
    """Rows grouped by ``key(record)``, largest total first."""
    ov = overhead.in_op_ns if overhead else 0.0
    return _sorted(_row(k, v, wall_ns, ov)
                   for k, v in _group(records, key).items())


def by_op(records, wall_ns, overhead: Overhead | None = None):
    return _by(lambda r: r.name, records, wall_ns, overhead)


def by_line(records, wall_ns, overhead: Overhead | None = None):
    """By the user's source line (backward ops charged to their forward line)."""
    ov = overhead.in_op_ns if overhead else 0.0
    rows = []
    for k, v in _group(records, lambda r: tuple(r.src)).items():
        ops = _group(v, lambda r: r.name)
        top = sorted(ops.items(), key=lambda kv: -sum(op_time(r, ov) for r in kv[1]))
        extra = (("file", k[0]), ("line", k[1]), ("function", k[2]),
                 ("ops", ", ".join(f"{n} x{len(rs)}" for n, rs in top[:4])))
        rows.append(_row(loc_str(k), v, wall_ns, ov, extra=extra))
    return _sorted(rows)


def by_module(records, wall_ns, overhead: Overhead | None = None):
    """By module path: total (the scope and everything under it) and self."""
    ov = overhead.in_op_ns if overhead else 0.0
    groups = _group(records, lambda r: tuple(r.scope))
    paths = {}
    for sc in groups:
        for i in range(1, len(sc) + 1):
            paths.setdefault(sc[:i], []).append(sc)
    rows = []
    for p, scopes in paths.items():
        inside = [r for sc in scopes for r in groups[sc]]
        own = groups.get(p, [])
        rows.append(_row(".".join(p), inside, wall_ns, ov, self_recs=own))
    top = [r for r in records if not r.scope]
    if top:
        rows.append(_row("<no module>", top, wall_ns, ov, self_recs=top))
    return _sorted(rows)


def by_shape(records, wall_ns, overhead: Overhead | None = None):
    """By op and input-shape signature, e.g. ``matmul (128,784)f32 x (784,256)f32``."""
    return _by(lambda r: r.signature, records, wall_ns, overhead)


def by_phase(records, wall_ns, overhead: Overhead | None = None):
    return _by(lambda r: r.phase, records, wall_ns, overhead)


def by_device(records, wall_ns, overhead: Overhead | None = None):
    return _by(lambda r: r.device, records, wall_ns, overhead)


# -------------------------------------------------------------- summary --


@dataclass(frozen=True)
class Summary:
    """Where the wall time went, corrected for the profiler's own cost."""

    wall_ns: float            # measured, profiler running
    corrected_wall_ns: float  # minus the profiler's estimated overhead
    in_op_ns: float           # sum of op times (corrected)
    outside_op_ns: float      # corrected wall minus in-op
    overhead_ns: float        # the profiler's own estimated cost
    overhead_per_op_ns: float
    ops: int
    kernel_ns: float
    dispatch_ns: float
    device_ns: float | None
    forward_ns: float
    backward_ns: float
    steps: int

    def to_dict(self):
        return dict(self.__dict__)


def summarize(run: ProfileRun) -> Summary:
    recs = run.records
    ov = run.overhead
    total_ov = ov.total_ns(len(recs))
    wall = float(run.wall_ns)
    cwall = max(0.0, wall - total_ov)
    in_op = sum(op_time(r, ov.in_op_ns) for r in recs)
    kernel = float(sum(r.kernel_ns for r in recs))
    dev = [r.device_ns for r in recs if r.device_ns is not None]
    fwd = sum(op_time(r, ov.in_op_ns) for r in recs if r.phase == "forward")
    steps = len(run.steps)      # profiler steps, when a schedule chose them
    return Summary(
        wall_ns=wall, corrected_wall_ns=cwall, in_op_ns=in_op,
        outside_op_ns=max(0.0, cwall - in_op), overhead_ns=total_ov,
        overhead_per_op_ns=ov.per_op_ns, ops=len(recs), kernel_ns=kernel,
        dispatch_ns=max(0.0, in_op - kernel),
        device_ns=float(sum(dev)) if dev else None, forward_ns=fwd,
        backward_ns=in_op - fwd, steps=steps)
