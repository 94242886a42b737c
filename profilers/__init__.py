"""profilers: per-op timing on the engine's hooks, reports, traces, py-spy.

    from profilers import Profiler
    with Profiler() as prof:
        train_step()
    print(prof.report())               # a JSON-safe dict
    profilers.render.to_terminal(prof.report())

See ``profilers/SCHEMA.md`` for the JSON report and run formats.
"""

from profilers.collector import Counters, Profiler, Schedule, schedule
from profilers.records import (
    OpRecord, Overhead, ProfileRun, PySpyData, PySpySample, load_run, save_run,
)


def build_report(run, top=10):
    from profilers.report import build_report as _build

    return _build(run, top=top)


__all__ = ["Profiler", "Counters", "Schedule", "schedule", "OpRecord",
           "Overhead", "ProfileRun", "PySpyData", "PySpySample", "load_run",
           "save_run", "build_report"]
