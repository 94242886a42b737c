"""The bottleneck report: a plain JSON-safe dict built from a run.

``build_report(run, top)`` is a pure function of the frozen run; the
renderers (:mod:`profilers.render`) only format the dict, so a saved JSON
re-renders to any format (``workbench report RUN.json``).  The schema is
documented in ``profilers/SCHEMA.md``.
"""

from __future__ import annotations

from profilers import aggregate as A
from profilers import advice
from profilers.records import ProfileRun

REPORT_SCHEMA = "workbench.report/1"


def overhead_statement(run: ProfileRun, summary: A.Summary) -> str:
    ov = run.overhead
    if ov.method == "none":
        return "profiler overhead: not measured (calibration off)"
    share = summary.overhead_ns / summary.wall_ns if summary.wall_ns else 0.0
    return (f"profiler overhead: {advice.fmt_ns(ov.per_op_ns)} per op x "
            f"{summary.ops} ops = {advice.fmt_ns(summary.overhead_ns)} "
            f"({100 * share:.1f}% of measured wall time), subtracted from the "
            f"figures below; {ov.method}")


def build_report(run: ProfileRun, top: int = 10) -> dict:
    recs = run.records
    summary = A.summarize(run)
    wall = summary.corrected_wall_ns
    ov = run.overhead
    tables = {
        "by_op": A.by_op(recs, wall, ov),
        "by_line": A.by_line(recs, wall, ov),
        "by_module": A.by_module(recs, wall, ov),
        "by_shape": A.by_shape(recs, wall, ov),
        "by_phase": A.by_phase(recs, wall, ov),
        "by_device": A.by_device(recs, wall, ov),
    }
    py = None
    if run.pyspy.status != "not requested":
        from profilers.pyspy import join

        py = join(run, run.pyspy, top=top)
    ctx = advice.Context(run, summary, tables["by_line"], tables["by_module"],
                         tables["by_shape"], py)
    recs_out = advice.recommend(ctx)
    limited = {k: [r.to_dict() for r in (v if k in ("by_phase", "by_device")
                                          else v[:top])]
               for k, v in tables.items()}
    counts = {k: len(v) for k, v in tables.items()}
    return {
        "schema": REPORT_SCHEMA,
        "meta": dict(run.meta),
        "summary": summary.to_dict(),
        "overhead": {**run.overhead.to_dict(),
                     "total_ns": summary.overhead_ns,
                     "statement": overhead_statement(run, summary)},
        "counters": dict(run.counters),
        "tables": limited,
        "table_sizes": counts,
        "recommendations": [r.to_dict() for r in recs_out],
        "pyspy": py if py is not None else {"status": "not requested",
                                            "reason": "", "rate_hz": 0},
    }
