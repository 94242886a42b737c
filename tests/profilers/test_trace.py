"""Chrome trace and speedscope files validated structurally."""

from __future__ import annotations

import json

import pytest

import core
from profilers import Profiler
from profilers.trace import chrome_trace, speedscope, write_chrome_trace
from tests.profilers.models import TinyNet
from tests.profilers.synth import Timeline

REQUIRED = {
    "X": {"name", "cat", "ph", "ts", "dur", "pid", "tid"},
    "M": {"name", "ph", "pid", "args"},
    "C": {"name", "ph", "ts", "pid", "args"},
    "s": {"name", "cat", "ph", "ts", "pid", "tid", "id"},
    "f": {"name", "cat", "ph", "ts", "pid", "tid", "id", "bp"},
}
EPS = 1e-3   # µs


def validate_chrome(doc):
    """Assert the trace is well formed; returns the events by phase."""
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list)
    json.dumps(doc)    # serialisable
    by_ph = {}
    for ev in doc["traceEvents"]:
        ph = ev["ph"]
        missing = REQUIRED[ph] - set(ev)
        assert not missing, (ph, missing, ev)
        if ph in ("X", "C", "s", "f"):
            assert ev["ts"] >= 0
        if ph == "X":
            assert ev["dur"] >= 0
        by_ph.setdefault(ph, []).append(ev)
    # X events nest per (pid, tid)
    tracks = {}
    for ev in by_ph.get("X", []):
        tracks.setdefault((ev["pid"], ev["tid"]), []).append(ev)
    for evs in tracks.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        for ev in evs:
            end = ev["ts"] + ev["dur"]
            while stack and stack[-1] <= ev["ts"] + EPS:
                stack.pop()
            if stack:
                assert end <= stack[-1] + EPS, f"{ev['name']} overlaps its parent"
            stack.append(end)
    # flows pair up: one start and one finish per id, start not after finish
    starts = {e["id"]: e for e in by_ph.get("s", [])}
    finishes = {e["id"]: e for e in by_ph.get("f", [])}
    assert len(starts) == len(by_ph.get("s", []))
    assert set(starts) == set(finishes)
    for i, s in starts.items():
        assert s["ts"] <= finishes[i]["ts"]
        assert s["cat"] == finishes[i]["cat"] == "fwdbwd"
    return by_ph


def validate_speedscope(doc):
    assert doc["$schema"].endswith("file-format-schema.json")
    frames = doc["shared"]["frames"]
    for prof in doc["profiles"]:
        assert prof["type"] == "evented"
        stack, last = [], prof["startValue"]
        for ev in prof["events"]:
            assert 0 <= ev["frame"] < len(frames)
            assert ev["at"] >= last
            last = ev["at"]
            if ev["type"] == "O":
                stack.append(ev["frame"])
            else:
                assert ev["type"] == "C" and stack.pop() == ev["frame"]
        assert not stack
        assert prof["endValue"] >= last


@pytest.fixture(scope="module")
def run():
    core.random.seed(0)
    net = TinyNet(batch=8, width=32)
    with Profiler(memory=True, calibrate=False) as prof:
        net.step()
        net.step()
    return prof.run


def test_chrome_trace_of_a_real_run(run, tmp_path):
    doc = chrome_trace(run)
    by_ph = validate_chrome(doc)
    ops = [e for e in by_ph["X"] if e["cat"].startswith("op")]
    assert len(ops) == len(run.records)
    a = ops[0]["args"]
    assert {"index", "shapes", "location", "module", "phase"} <= set(a)
    mods = {e["name"] for e in by_ph["X"] if e["cat"] == "module"}
    assert {"net", "net.enc", "net.hidden", "net.head"} <= mods
    n_bwd = sum(1 for r in run.records if r.phase == "backward")
    assert len(by_ph["s"]) == n_bwd > 0
    assert any(c["name"] == "live tensor bytes" for c in by_ph["C"])
    names = {e["args"]["name"] for e in by_ph["M"] if e["name"] == "process_name"}
    assert "host (python)" in names
    path = tmp_path / "t.json"
    write_chrome_trace(run, path)
    validate_chrome(json.loads(path.read_text()))


def test_module_spans_contain_their_ops(run):
    doc = chrome_trace(run)
    xs = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["pid"] == 1]
    hidden = [e for e in xs if e["name"] == "net.hidden"]
    inside = [e for e in xs if e["cat"].startswith("op")
              and e["args"]["module"] == "net.hidden"]
    for op in inside:
        assert any(h["ts"] - EPS <= op["ts"] and
                   op["ts"] + op["dur"] <= h["ts"] + h["dur"] + EPS
                   for h in hidden)


def test_gpu_process_track(sim_gpu):
    net = TinyNet(batch=4, width=8, dev="gpu")
    with Profiler(calibrate=False) as prof:
        net.step()
    doc = chrome_trace(prof.run)
    by_ph = validate_chrome(doc)
    gpu = [e for e in by_ph["X"] if e["cat"] == "device"]
    assert len(gpu) == len(prof.run.records)
    assert {e["pid"] for e in gpu} == {2}
    names = {e["args"]["name"] for e in by_ph["M"] if e["name"] == "process_name"}
    assert "gpu:0 (device timers)" in names
    validate_speedscope(speedscope(prof.run))


def test_speedscope_of_a_real_run(run):
    doc = speedscope(run)
    validate_speedscope(doc)
    names = {f["name"] for f in doc["shared"]["frames"]}
    assert "net.hidden" in names and "matmul (forward)" in names
    opens = sum(1 for e in doc["profiles"][0]["events"] if e["type"] == "O")
    assert opens > len(run.records)       # ops plus module spans


def test_synthetic_nesting_across_phase_changes():
    tl = Timeline(gap=10)
    f1 = tl.op("matmul", 100, scope=("m", "a"))
    tl.op("add", 100, scope=("m", "b"))
    tl.op("add", 100, scope=("m",), phase="backward", forward_index=2)
    tl.op("matmul", 100, scope=("m", "a"), phase="backward",
          forward_index=f1.index)
    doc = chrome_trace(tl.run())
    by_ph = validate_chrome(doc)
    mods = [e for e in by_ph["X"] if e["cat"] == "module"]
    # forward: m, m.a, m.b; backward (new spans): m, m.a
    assert sorted(e["name"] for e in mods) == ["m", "m", "m.a", "m.a", "m.b"]
    validate_speedscope(speedscope(tl.run()))


def test_validator_catches_bad_nesting():
    bad = {"traceEvents": [
        {"ph": "X", "name": "a", "cat": "op", "ts": 0, "dur": 10, "pid": 1, "tid": 1},
        {"ph": "X", "name": "b", "cat": "op", "ts": 5, "dur": 10, "pid": 1, "tid": 1},
    ]}
    with pytest.raises(AssertionError, match="overlaps"):
        validate_chrome(bad)
