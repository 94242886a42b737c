"""Synthetic records for the pure aggregation/advice/render tests."""

from __future__ import annotations

from profilers.records import OpRecord, Overhead, ProfileRun


class Timeline:
    """Lays ops end to end on a fake clock (ns), with gaps between them."""

    def __init__(self, start=1_000_000, gap=0):
        self.t = start
        self.start = start
        self.gap = gap
        self.index = 0
        self.records = []

    def op(self, name, host, kernel=None, phase="forward", file="model.py",
           line=10, func="forward", scope=(), shapes=((4, 4),),
           dtypes=None, out_shape=(4, 4), out_bytes=64, device="cpu",
           device_ns=None, forward_index=None, src=None, attrs=(),
           variables=None, step=0, gap=None):
        self.index += 1
        start = self.t
        end = start + host
        self.t = end + (self.gap if gap is None else gap)
        loc = (file, line, func)
        rec = OpRecord(
            index=self.index, name=name, phase=phase, start_ns=start,
            end_ns=end, kernel_ns=host // 2 if kernel is None else kernel,
            device=device, device_ns=device_ns, shapes=tuple(shapes),
            dtypes=tuple(dtypes or ["float32"] * len(shapes)),
            out_shape=tuple(out_shape), out_dtype="float32",
            out_bytes=out_bytes, location=loc, src=src or loc,
            scope=tuple(scope), forward_index=forward_index,
            attrs=tuple(attrs),
            variables=tuple(variables or [None] * len(shapes)), step=step)
        self.records.append(rec)
        return rec

    def idle(self, ns):
        self.t += ns

    def run(self, per_op_ns=0.0, in_op_ns=0.0, **kw):
        ov = Overhead(per_op_ns, in_op_ns, "test" if per_op_ns else "none")
        return ProfileRun(records=tuple(self.records), wall_start_ns=self.start,
                          wall_end_ns=self.t, overhead=ov, **kw)
