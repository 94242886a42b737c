"""py-spy: run a script under ``py-spy record`` and join its samples to ops.

py-spy is the parent (``py-spy record -- python -m profilers._child ...``),
which works without CAP_SYS_PTRACE; the child runs the script under our
:class:`~profilers.Profiler` and writes its records to a temporary JSON.
The ``raw`` output (``func (file:line);... count`` per stack) is joined to
the op records by the user's call site: a sample whose stack is inside the
engine's dispatch (``core/_dispatch.py``) is time in an op; any other
sample inside the user's code (the engine's own Python outside ops, such
as tape bookkeeping, included) is time outside ops, charged to the
innermost user frame.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import core as _core
from profilers.records import PySpyData, PySpySample, load_run

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*):(?P<line>\d+)\)$")
_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_ROOT = os.path.dirname(_HERE.rstrip(os.sep)) + os.sep
_CORE = os.path.dirname(os.path.abspath(_core.__file__)) + os.sep
_DISPATCH = os.path.join(_CORE, "_dispatch.py")
_SYS_DIRS = tuple(sorted({os.path.abspath(p) + os.sep for p in (
    sysconfig.get_paths().get("stdlib", ""), sysconfig.get_paths().get("purelib", ""),
    sysconfig.get_paths().get("platlib", ""), sys.base_prefix + os.sep + "lib")
    if p}))

PTRACE_HINT = ("py-spy needs ptrace: run it as the parent of the script (this "
               "tool does), or in Docker add --cap-add SYS_PTRACE; with Yama "
               "ptrace_scope=1 only ancestors may attach")


def parse_raw(text: str) -> tuple:
    """py-spy's ``raw`` format into :class:`PySpySample` s."""
    out = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        frames = []
        for fr in stack.split(";"):
            m = _FRAME.match(fr)
            if m:
                frames.append((m["func"], m["file"], int(m["line"])))
            else:
                frames.append((fr, "", 0))
        out.append(PySpySample(tuple(frames), n))
    return tuple(out)


def _kind(file: str) -> str:
    """'dispatch' (the op choke point), 'core' (the rest of the engine),
    'profiler', 'system' or 'user' for a frame's file."""
    if not file or file.startswith("<"):
        return "system"
    f = os.path.abspath(file) if os.path.isabs(file) else file
    if f == _DISPATCH:
        return "dispatch"
    if f.startswith(_CORE):
        return "core"
    if f.startswith(_HERE):
        return "profiler"
    if f.startswith(_SYS_DIRS) or "site-packages" in f or "/lib/python" in f:
        return "system"
    return "user"


def join(run, data: PySpyData, top: int = 10) -> dict:
    """The py-spy section of a report: outside-op Python time by function
    and line, and per-line samples next to the op time recorded there."""
    base = {"status": data.status, "reason": data.reason, "rate_hz": data.rate_hz}
    if data.status != "ok":
        return base
    from profilers.aggregate import op_time

    per_sample_ns = 1e9 / data.rate_hz if data.rate_hz else 0.0
    in_op = outside = other = 0
    outside_lines, lines = {}, {}
    for s in data.samples:
        kinds = [_kind(f[1]) for f in s.frames]
        user = [i for i, k in enumerate(kinds) if k == "user"]
        if not user:
            other += s.count
            continue
        ui = user[-1]
        func, file, line = s.frames[ui]
        key = (os.path.abspath(file), line)
        entry = lines.setdefault(key, {"function": func, "in_op": 0, "outside": 0})
        if "dispatch" in kinds[ui + 1:]:   # inside an op (kernel or dispatch)
            in_op += s.count
            entry["in_op"] += s.count
        elif "profiler" in kinds[ui + 1:]:
            other += s.count       # the profiler's own bookkeeping
        else:
            outside += s.count
            entry["outside"] += s.count
            o = outside_lines.setdefault(key, {"function": func, "samples": 0})
            o["samples"] += s.count
    ov = run.overhead.in_op_ns
    op_ns = {}
    for r in run.records:
        if r.location and r.location[0]:
            k = (os.path.abspath(r.location[0]), r.location[1])
            op_ns[k] = op_ns.get(k, 0.0) + op_time(r, ov)

    def loc(k):
        return f"{os.path.basename(k[0])}:{k[1]}"

    out_rows = sorted(outside_lines.items(), key=lambda kv: -kv[1]["samples"])
    line_rows = sorted(lines.items(),
                       key=lambda kv: -(kv[1]["in_op"] + kv[1]["outside"]))
    base.update({
        "samples": in_op + outside + other, "in_op_samples": in_op,
        "outside_samples": outside, "other_samples": other,
        "sample_ns": per_sample_ns,
        "outside_by_line": [
            {"function": v["function"], "location": loc(k), "file": k[0],
             "line": k[1], "samples": v["samples"],
             "time_ns": v["samples"] * per_sample_ns,
             "share": v["samples"] / outside if outside else 0.0}
            for k, v in out_rows[:top]],
        "lines": [
            {"function": v["function"], "location": loc(k), "file": k[0],
             "line": k[1], "in_op_samples": v["in_op"],
             "outside_samples": v["outside"],
             "sampled_ns": (v["in_op"] + v["outside"]) * per_sample_ns,
             "op_time_ns": op_ns.get(k, 0.0)}
            for k, v in line_rows[:top]],
    })
    return base


# ------------------------------------------------------------ running --


def run_under_pyspy(script, args, child_opts=(), rate=100, fmt="raw",
                    keep=None, env=None):
    """Run ``script`` under py-spy with our profiler in the child.

    Returns ``(run or None, PySpyData, child exit code, raw path)``.
    ``keep``: a path to also keep py-spy's output (raw or speedscope).
    """
    exe = shutil.which("py-spy")
    if exe is None:
        return None, PySpyData("unavailable", "py-spy was not found on PATH "
                               "(pip install py-spy)", rate), None, None
    tmp = tempfile.mkdtemp(prefix="wb-pyspy-")
    rec_path = os.path.join(tmp, "records.json")
    out_path = os.path.join(tmp, "samples.raw" if fmt == "raw" else "samples.json")
    cmd = [exe, "record", "-r", str(int(rate)), "-f", fmt, "--full-filenames",
           "-o", out_path, "--", sys.executable, "-m", "profilers._child",
           "--out", rec_path, *child_opts, "--", script, *args]
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = _ROOT.rstrip(os.sep) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, bufsize=1)
    chatter = []

    def pump(src, dst):
        # the script's own output passes through; py-spy's lines are kept
        after_chatter = False
        for line in src:
            if line.startswith("py-spy>"):
                chatter.append(line)
                after_chatter = True
            elif after_chatter and not line.strip():
                continue            # py-spy's blank lines after its banner
            else:
                after_chatter = False
                if dst is sys.stderr:
                    chatter.append(line)   # py-spy's errors come here too
                dst.write(line)
                dst.flush()

    import threading

    threads = [threading.Thread(target=pump, args=(proc.stdout, sys.stdout),
                                daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, sys.stderr),
                                daemon=True)]
    for t in threads:
        t.start()
    proc.wait()
    for t in threads:
        t.join()
    err = "".join(chatter)
    child_rc = proc.returncode
    run = None
    if os.path.exists(rec_path):
        run = load_run(rec_path)
        child_rc = int(run.meta_get("exit_code", child_rc) or 0)
    if os.path.exists(out_path) and os.path.getsize(out_path) > 0:
        with open(out_path, encoding="utf-8") as f:
            text = f.read()
        if keep:
            from profilers.records import write_atomic
            write_atomic(keep, text)
        samples = parse_raw(text) if fmt == "raw" else _parse_speedscope(text)
        data = PySpyData("ok", "", int(rate), samples)
    else:
        low = err.lower()
        why = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
        if "permission" in low or "ptrace" in low or "operation not permitted" in low:
            data = PySpyData("failed", f"py-spy could not sample the process: "
                             f"{why}. {PTRACE_HINT}", rate)
        else:
            data = PySpyData("failed", f"py-spy produced no samples: {why}", rate)
    shutil.rmtree(tmp, ignore_errors=True)
    return run, data, child_rc, out_path


def _parse_speedscope(text):
    """Sampled speedscope profiles into samples (frames via shared.frames)."""
    import json

    d = json.loads(text)
    frames = d.get("shared", {}).get("frames", [])
    agg = {}
    for prof in d.get("profiles", []):
        if prof.get("type") != "sampled":
            continue
        for stack in prof.get("samples", []):
            key = tuple((frames[i].get("name", "?"), frames[i].get("file", ""),
                         int(frames[i].get("line", 0) or 0)) for i in stack)
            agg[key] = agg.get(key, 0) + 1
    return tuple(PySpySample(k, v) for k, v in agg.items())
