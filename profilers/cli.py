"""``workbench profile`` and ``workbench report``.

    workbench profile [OPTS] SCRIPT [ARGS...]
    workbench report RUN.json [--html/--md/--json/--trace/--speedscope PATH]

Options come before SCRIPT; everything after it is the script's argv.  The
script runs as ``__main__`` (runpy) with its own directory first on
``sys.path``.  With ``--py-spy`` it runs in a child process under
``py-spy record`` (see :mod:`profilers.pyspy`).
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import threading
import time
import traceback

from profilers.records import ProfileRun, load_run, save_run, write_atomic


def _add_outputs(p):
    p.add_argument("--html", metavar="PATH", help="write a self-contained HTML report")
    p.add_argument("--md", metavar="PATH", help="write a Markdown report")
    p.add_argument("--json", metavar="PATH",
                   help="write the run and report as JSON (re-render with "
                        "`workbench report`)")
    p.add_argument("--trace", metavar="PATH",
                   help="write a Chrome/Perfetto trace (Trace Event JSON)")
    p.add_argument("--speedscope", metavar="PATH",
                   help="write a speedscope file (evented profile of the ops)")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="rows per table (default 10)")
    p.add_argument("--quiet", action="store_true",
                   help="do not print the terminal report")


def profile_parser():
    p = argparse.ArgumentParser(
        prog="workbench profile",
        description="Run SCRIPT under the op profiler and print a bottleneck "
                    "report.  Options come before SCRIPT; what follows SCRIPT "
                    "is the script's own argv.")
    _add_outputs(p)
    p.add_argument("--py-spy", action="store_true", dest="py_spy",
                   help="also sample Python with py-spy (time outside ops by "
                        "function and line)")
    p.add_argument("--py-spy-rate", type=int, default=100, metavar="HZ",
                   help="py-spy sampling rate (default 100)")
    p.add_argument("--py-spy-format", choices=("raw", "speedscope"),
                   default="raw", help="py-spy output format (default raw)")
    p.add_argument("--py-spy-out", metavar="PATH",
                   help="keep py-spy's own output file here")
    p.add_argument("--sync", action="store_true",
                   help="synchronize the device after every op (exact per-op "
                        "GPU time, no overlap)")
    p.add_argument("--memory", action="store_true",
                   help="track live tensor bytes (on by default with --trace)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="skip measuring the profiler's own overhead")
    p.add_argument("script", help="the Python script to run")
    p.add_argument("args", nargs=argparse.REMAINDER,
                   help="the script's arguments")
    return p


class _ProgressLine:
    """``[profile] 12,345 ops  3.2 s`` on stderr while the script runs
    (only when stderr is a terminal); reads the op count, no per-op cost."""

    def __init__(self, prof, stream=None):
        self.prof = prof
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        if not getattr(self.stream, "isatty", lambda: False)():
            return self
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="profile-progress")
        self._thread.start()
        return self

    def _loop(self):
        while not self._stop.wait(0.5):
            self._loop_once()

    def _loop_once(self):
        n = self.prof.op_count
        self.stream.write(f"\r[profile] {n:,} ops  "
                          f"{time.perf_counter() - self._t0:.1f} s ")
        self.stream.flush()

    def stop(self):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def run_script(script, args, sync=False, memory=False, calibrate=True,
               progress=True):
    """Run ``script`` as __main__ under a Profiler; (run, exit code)."""
    from profilers.collector import Profiler

    path = os.path.abspath(script)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such script: {script}")
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(path))
    prof = Profiler(sync=sync, memory=memory, calibrate=calibrate,
                    meta={"script": script, "argv": " ".join(args)})
    line = _ProgressLine(prof) if progress else None
    code = 0
    if line:
        line.start()
    prof.start()
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:   # report what ran before the error
        traceback.print_exc()
        code = 1
    finally:
        prof.stop()
        if line:
            line.stop()
        sys.argv[:] = saved_argv
        sys.path[:] = saved_path
    run = prof.run
    meta = dict(run.meta)
    meta["exit_code"] = str(code)
    return run.replace(meta=tuple(sorted(meta.items()))), code


def write_outputs(run: ProfileRun, rep: dict, opts) -> list:
    """Write the files asked for; returns their paths."""
    from profilers import render, trace

    written = []
    if opts.json:
        save_run(run, opts.json, extra={"report": rep})
        written.append(opts.json)
    if opts.md:
        write_atomic(opts.md, render.to_markdown(rep))
        written.append(opts.md)
    if opts.html:
        write_atomic(opts.html, render.to_html(rep))
        written.append(opts.html)
    if getattr(opts, "trace", None):
        trace.write_chrome_trace(run, opts.trace)
        written.append(opts.trace)
    if getattr(opts, "speedscope", None):
        trace.write_speedscope(run, opts.speedscope)
        written.append(opts.speedscope)
    return written


def _show(rep, opts, written):
    from profilers import render

    if not opts.quiet:
        render.to_terminal(rep)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)


def profile_main(argv) -> int:
    opts = profile_parser().parse_args(argv)
    if opts.top < 1:
        print("workbench profile: --top must be at least 1", file=sys.stderr)
        return 2
    if not os.path.isfile(opts.script):
        print(f"workbench profile: no such script: {opts.script}", file=sys.stderr)
        return 2
    memory = opts.memory or bool(opts.trace)
    from profilers.records import PySpyData
    from profilers.report import build_report

    run = None
    pyspy = None
    if opts.py_spy:
        from profilers.pyspy import run_under_pyspy

        child = []
        if opts.sync:
            child.append("--sync")
        if memory:
            child.append("--memory")
        if opts.no_calibrate:
            child.append("--no-calibrate")
        run, pyspy, code, _ = run_under_pyspy(
            opts.script, opts.args, child, rate=opts.py_spy_rate,
            fmt=opts.py_spy_format, keep=opts.py_spy_out)
        if run is None and pyspy.status != "unavailable":
            pyspy = PySpyData("failed", pyspy.reason + " (the script was rerun "
                              "without py-spy)", pyspy.rate_hz)
    if run is None:
        run, code = run_script(opts.script, opts.args, sync=opts.sync,
                               memory=memory, calibrate=not opts.no_calibrate)
    if pyspy is not None:
        run = run.replace(pyspy=pyspy)
    rep = build_report(run, top=opts.top)
    written = write_outputs(run, rep, opts)
    _show(rep, opts, written)
    return int(code or 0)


def report_parser():
    p = argparse.ArgumentParser(
        prog="workbench report",
        description="Re-render a profile saved with `workbench profile --json`.")
    p.add_argument("run", help="the saved RUN.json")
    _add_outputs(p)
    return p


def report_main(argv) -> int:
    opts = report_parser().parse_args(argv)
    from profilers.report import build_report

    try:
        run = load_run(opts.run)
    except FileNotFoundError:
        print(f"workbench report: no such file: {opts.run}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError) as e:
        print(f"workbench report: {opts.run} is not a saved profile: {e}",
              file=sys.stderr)
        return 2
    rep = build_report(run, top=opts.top)
    written = write_outputs(run, rep, opts)
    _show(rep, opts, written)
    return 0
