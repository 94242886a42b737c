"""Timelines: Chrome Trace Event JSON (Perfetto, chrome://tracing) and
speedscope's evented profile.

Chrome trace layout:

* pid 1 "host": one thread track per Python thread; ``X`` events per op
  (``cat`` "op,forward" / "op,backward", args: index, phase, shapes, dtypes,
  location, module, forward_index, kernel/device µs, output bytes), inside
  ``X`` spans for module scopes (``cat`` "module"), which nest properly;
* flow events ``s``/``f`` (``cat`` "fwdbwd") from each forward op to every
  backward op that differentiates it;
* pid 2 "<device> (device timers)": ops with a device time, placed on a
  serial-stream model (an op starts when launched or when the previous one
  finished, whichever is later), since events give durations, not clocks;
* ``C`` counter "live tensor bytes" (when tracked, ``memory=True``) or
  "output bytes allocated" (cumulative) otherwise.
"""

from __future__ import annotations

import json
import os

from profilers.aggregate import loc_str
from profilers.records import ProfileRun, write_atomic

HOST_PID, DEVICE_PID = 1, 2


def _spans(records):
    """(kind, name, start_ns, end_ns, record or None) in open order.

    Module spans cover consecutive ops sharing a scope prefix, split at
    phase and step changes; op spans are the records.
    """
    out = []
    stack = []     # [name, start, index into out]
    prev = None

    def close_to(depth, end):
        while len(stack) > depth:
            name, start, pos = stack.pop()
            out[pos] = ("module", name, start, end, None)

    for r in records:
        if prev is not None and (r.phase != prev.phase or r.step != prev.step
                                 or r.thread != prev.thread):
            close_to(0, prev.end_ns)
        scope = r.scope
        common = 0
        while common < len(stack) and common < len(scope) and \
                stack[common][0] == ".".join(scope[:common + 1]):
            common += 1
        if prev is not None:
            close_to(common, prev.end_ns)
        for d in range(common, len(scope)):
            name = ".".join(scope[:d + 1])
            stack.append([name, r.start_ns, len(out)])
            out.append(None)
        out.append(("op", r.name, r.start_ns, r.end_ns, r))
        prev = r
    if prev is not None:
        close_to(0, prev.end_ns)
    return out


def chrome_trace(run: ProfileRun) -> dict:
    recs = run.records
    t0 = min([run.wall_start_ns] + [r.start_ns for r in recs[:1]])

    def us(t):
        return (t - t0) / 1000.0

    tids = {}
    for r in recs:
        tids.setdefault(r.thread, len(tids) + 1)
    if not tids:
        tids[0] = 1
    events = [
        {"ph": "M", "name": "process_name", "pid": HOST_PID, "tid": 0,
         "args": {"name": "host (python)"}},
        {"ph": "M", "name": "process_sort_index", "pid": HOST_PID, "tid": 0,
         "args": {"sort_index": 0}},
    ]
    for th, tid in tids.items():
        events.append({"ph": "M", "name": "thread_name", "pid": HOST_PID,
                       "tid": tid, "args": {"name": f"thread {tid} (ops)"}})
    by_thread = {}
    for r in recs:
        by_thread.setdefault(r.thread, []).append(r)
    for th, rs in by_thread.items():
        tid = tids[th]
        for kind, name, start, end, r in _spans(rs):
            if kind == "module":
                events.append({"ph": "X", "name": name, "cat": "module",
                               "pid": HOST_PID, "tid": tid, "ts": us(start),
                               "dur": (end - start) / 1000.0,
                               "args": {"module": name}})
                continue
            events.append({
                "ph": "X", "name": name, "cat": f"op,{r.phase}", "pid": HOST_PID,
                "tid": tid, "ts": us(start), "dur": (end - start) / 1000.0,
                "args": {"index": r.index, "phase": r.phase,
                         "shapes": [list(s) if s is not None else None
                                    for s in r.shapes],
                         "dtypes": list(r.dtypes),
                         "location": loc_str(r.location),
                         "charged_to": loc_str(r.src),
                         "module": r.module, "forward_index": r.forward_index,
                         "kernel_us": r.kernel_ns / 1000.0,
                         "device_us": None if r.device_ns is None
                         else r.device_ns / 1000.0,
                         "out_bytes": r.out_bytes, "step": r.step}})
    # forward -> backward flows
    fwd = {r.index: r for r in recs if r.phase == "forward"}
    flow_id = 0
    for r in recs:
        if r.phase != "backward" or r.forward_index not in fwd:
            continue
        f = fwd[r.forward_index]
        flow_id += 1
        events.append({"ph": "s", "name": "fwdbwd", "cat": "fwdbwd",
                       "id": flow_id, "pid": HOST_PID, "tid": tids[f.thread],
                       "ts": us(f.start_ns)})
        events.append({"ph": "f", "bp": "e", "name": "fwdbwd", "cat": "fwdbwd",
                       "id": flow_id, "pid": HOST_PID, "tid": tids[r.thread],
                       "ts": us(r.start_ns)})
    # device track
    dev_recs = [r for r in recs if r.device_ns is not None]
    if dev_recs:
        devs = sorted({r.device for r in dev_recs})
        for i, d in enumerate(devs):
            pid = DEVICE_PID + i
            events.append({"ph": "M", "name": "process_name", "pid": pid,
                           "tid": 0, "args": {"name": f"{d} (device timers)"}})
            events.append({"ph": "M", "name": "process_sort_index", "pid": pid,
                           "tid": 0, "args": {"sort_index": 1 + i}})
            events.append({"ph": "M", "name": "thread_name", "pid": pid,
                           "tid": 1, "args": {"name": "stream (serial model)"}})
            busy_until = None
            for r in dev_recs:
                if r.device != d:
                    continue
                start = r.start_ns if busy_until is None else max(r.start_ns,
                                                                  busy_until)
                busy_until = start + r.device_ns
                events.append({"ph": "X", "name": r.name, "cat": "device",
                               "pid": pid, "tid": 1, "ts": us(start),
                               "dur": r.device_ns / 1000.0,
                               "args": {"index": r.index, "phase": r.phase,
                                        "module": r.module}})
    # counters
    if run.live_bytes:
        for t, b in run.live_bytes:
            events.append({"ph": "C", "name": "live tensor bytes", "pid": HOST_PID,
                           "tid": 0, "ts": us(t), "args": {"bytes": b}})
    else:
        total = 0
        for r in recs:
            total += r.out_bytes
            events.append({"ph": "C", "name": "output bytes allocated",
                           "pid": HOST_PID, "tid": 0, "ts": us(r.end_ns),
                           "args": {"bytes": total}})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"generator": "profilers (workbench)",
                          **dict(run.meta)}}


def speedscope(run: ProfileRun, name="ops") -> dict:
    """An evented speedscope profile of the op timeline (modules > ops)."""
    frames, index = [], {}

    def frame(key, name, file="", line=0):
        i = index.get(key)
        if i is None:
            i = index[key] = len(frames)
            fr = {"name": name}
            if file:
                fr["file"] = file
                fr["line"] = int(line)
            frames.append(fr)
        return i

    recs = run.records
    profiles = []
    by_thread = {}
    for r in recs:
        by_thread.setdefault(r.thread, []).append(r)
    for th, rs in (by_thread.items() or [(0, [])]):
        spans = _spans(rs)
        opens = []
        for kind, nm, start, end, r in spans:
            if kind == "module":
                fi = frame(("m", nm), nm)
            else:
                file, line = r.location[0], r.location[1]
                fi = frame(("o", nm, r.phase, file, line),
                           f"{nm} ({r.phase})", file, line)
            opens.append((start, end, fi))
        # events: walk spans in order keeping a stack to emit closes
        events, stack = [], []
        for start, end, fi in opens:
            while stack and stack[-1][0] <= start:
                e, f = stack.pop()
                events.append({"type": "C", "frame": f, "at": e})
            events.append({"type": "O", "frame": fi, "at": start})
            stack.append((end, fi))
        while stack:
            e, f = stack.pop()
            events.append({"type": "C", "frame": f, "at": e})
        t0 = events[0]["at"] if events else run.wall_start_ns
        for ev in events:
            ev["at"] = ev["at"] - t0
        end_value = events[-1]["at"] if events else 0
        profiles.append({"type": "evented", "name": f"{name} (thread {th})",
                         "unit": "nanoseconds", "startValue": 0,
                         "endValue": end_value, "events": events})
    return {"$schema": "https://www.speedscope.app/file-format-schema.json",
            "shared": {"frames": frames}, "profiles": profiles,
            "name": os.path.basename(run.meta_get("script", "") or "profile"),
            "exporter": "profilers (workbench)"}


def write_chrome_trace(run: ProfileRun, path) -> None:
    write_atomic(path, json.dumps(chrome_trace(run), separators=(",", ":")))


def write_speedscope(run: ProfileRun, path) -> None:
    write_atomic(path, json.dumps(speedscope(run), separators=(",", ":")))
