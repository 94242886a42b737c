"""Recordings (``workbench debug --record``) and ``workbench replay``: a
real script is recorded in-process, then replayed in line mode and in the
Textual app; the replay must show the ops, values and NaN provenance the
live run showed, in both directions, and refuse damaged files clearly."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from workbench.batch import run_batch
from workbench.records import Paused
from workbench.recording import Recorder, RecordingError, load_recording
from workbench.replay import ReplaySession, run_replay_batch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(os.path.dirname(__file__), "scripts")
PAUSE = re.compile(r"^#(\d+) (\w+) (\S+) scope=(\S+) out=(.*) at (\S+)  \[(.*)\]$")


def script(name):
    return os.path.join(SCRIPTS, name)


def record(name, path, commands="", argv=(), break_at_first_op=True, budget=None):
    """Run ``name`` under ``--batch`` with ``commands``; returns (stdout lines,
    the live session) after the recording was written to ``path``."""
    box = {}

    def setup(session):
        kw = {} if budget is None else {"budget": budget}
        box["rec"] = Recorder(session, str(path), **kw)
        box["session"] = session
        session.subscribe(box["rec"])

    out, err = io.StringIO(), io.StringIO()
    rc = run_batch(script(name), argv, stdin=io.StringIO(commands), stdout=out,
                   stderr=err, break_at_first_op=break_at_first_op, setup=setup)
    assert box["rec"].wait(30) and box["rec"].error is None, box["rec"].error
    return rc, out.getvalue().splitlines(), box["session"]


def replay(path, commands):
    out, err = io.StringIO(), io.StringIO()
    session = ReplaySession(str(path))
    rc = run_replay_batch(session, stdin=io.StringIO(commands), stdout=out, stderr=err)
    return rc, out.getvalue().splitlines(), err.getvalue(), session


def ops_of(lines):
    """(index, phase, name, scope, where) of each pause line."""
    return [m.group(1, 2, 3, 4, 6) for m in map(PAUSE.match, lines) if m]


def test_step_forward_and_back_over_the_live_ops_with_backward(tmp_path):
    path = tmp_path / "tape.wbrec"
    rc, live, session = record("tape_backward.py", path, "s\n" * 60)
    assert rc == 0
    live_ops = ops_of(live)
    assert any(op[1] == "backward" for op in live_ops)
    n = len(live_ops)
    _, lines, _, rs = replay(path, "s\n" * (n - 1) + "back\n" * (n - 1))
    seen = ops_of(lines)
    assert seen[:n] == live_ops                       # forward: the same ops
    assert seen[n:] == live_ops[-2::-1]               # backward: reversed
    assert PAUSE.match(lines[0]).group(7) == "start"
    back = [PAUSE.match(ln).group(7) for ln in lines if PAUSE.match(ln)][n:]
    assert set(back) == {"back"}
    # backward ops keep their link to the forward op
    hist = rs.history
    bwd = [hist.get(p) for p in range(len(hist)) if hist.get(p).phase == "backward"]
    assert bwd and all(r.forward_index is not None for r in bwd)
    fwd_ids = {hist.get(p).index for p in range(len(hist))}
    assert all(r.forward_index in fwd_ids for r in bwd)
    # the program's output and the exit state are replayed at the end
    assert "grad norm2" in "\n".join(lines)
    assert lines[-1] == f"finished: exit code 0, {session.ops_run} ops"


def test_replayed_values_equal_the_live_values(tmp_path):
    path = tmp_path / "tape.wbrec"
    _, _, live = record("tape_backward.py", path, "", break_at_first_op=False)
    rs = ReplaySession(str(path))
    assert len(rs.history) == len(live.history) > 10
    compared = 0
    for pos in range(len(live.history)):
        a, b = live.history.get(pos), rs.history.get(pos)
        assert (a.index, a.phase, a.name, a.scope, a.location, a.forward_index,
                a.out_shape) == (b.index, b.phase, b.name, b.scope, b.location,
                                 b.forward_index, b.out_shape)
        assert a.outputs == b.outputs                # the same summaries
        assert a.inputs == b.inputs
        for k in range(-1, len(a.inputs)):
            slot = "out" if k < 0 else f"in{k}"
            want = live.tensor_values(a.index, slot, "")
            got = rs.tensor_values(a.index, slot, "")
            if isinstance(want, str):
                continue
            np.testing.assert_array_equal(got, want)
            compared += 1
    assert compared > 2 * len(live.history)
    got = rs.tensor_values(live.history.get(0).index, "out", "0:2, 1:")
    np.testing.assert_array_equal(got, live.tensor_values(live.history.get(0).index,
                                                          "out", "0:2, 1:"))


def test_nan_provenance_and_breakpoints_forward_and_reverse(tmp_path):
    path = tmp_path / "nan.wbrec"
    _, live, _ = record("nan_mid.py", path, "b nan\nc\n")
    live_hit = next(ln for ln in live if "breakpoint 1:" in ln and ln.startswith("#"))
    _, lines, _, rs = replay(path, "b nan\nc\np in0.max()\np out\nc\nback\nrc\n"
                                   "b mul\nc\nc\nrc\nrc\nrc\nrc\n")
    pauses = [ln for ln in lines if PAUSE.match(ln)]
    assert pauses[1] == live_hit                     # the same line as the live run
    log = rs.history.filter(name="log")[0].index
    first = rs.history.get(0).index
    assert f"nan in output of #{log} log (from finite inputs)" in live_hit
    i = lines.index(live_hit)
    assert float(lines[i + 1]) < 0                   # p in0.max(): log of negatives
    assert "nan" in lines[i + 2]
    # c: no other op *produces* NaN (mul/add only carry it): the end
    assert any(ln.startswith("finished: exit code 0") for ln in lines)
    got = [(int(PAUSE.match(p).group(1)), PAUSE.match(p).group(7)) for p in pauses]
    nan = f"breakpoint 1: nan in output of #{log} log (from finite inputs)"
    m0, m1 = [r.index for r in rs.history.filter(name="mul")]
    last = rs.history.get(-1).index
    assert got == [(first, "start"), (log, nan),     # c: the producer, as live
                   (last, "back"), (log, nan),       # rc from the end finds it again
                   (m1, "breakpoint 2"),             # c: the mul after it
                   (m1, "breakpoint 2"),             # c (end), rc: back to that mul
                   (log, nan), (m0, "breakpoint 2"),  # rc, rc
                   (log, nan), (m1, "breakpoint 2")]  # EOF: continue to the end
    assert "at the first recorded op" in lines       # rc at the first op
    assert lines[-1] == "finished: exit code 0, 5 ops"


def test_print_has_recorded_values_only_and_where_shows_the_location(tmp_path):
    path = tmp_path / "nan.wbrec"
    record("nan_mid.py", path, "")
    hist = ReplaySession(str(path)).history
    log, first = hist.filter(name="log")[0].index, hist.get(0).index
    _, lines, _, rs = replay(path, f"jump {log}\np e\np a\nwhere\nup\nfinish\n"
                                   f"p val({first}, 'out').shape\nq\n")
    text = "\n".join(lines)
    assert lines[1].startswith(f"#{log} forward log") and f"[jump {log}]" in lines[1]
    assert "NameError" in text and "no live frames" in text     # p e: a script variable
    assert "> nan_mid.py:10 in <module>" in text
    assert "c = core.log(b)" in text                 # the recorded source text
    assert "no call stack" in text
    assert "finish is not available in a replay" in text
    assert "(6, 4)" in text
    assert not any(ln.startswith("finished") for ln in lines)   # q: left early


def test_post_mortem_is_replayed_at_the_end(tmp_path):
    path = tmp_path / "raises.wbrec"
    rc, live, _ = record("raises.py", path, "c\nc\n")
    assert rc == 1
    _, lines, err, rs = replay(path, "c\nwhere\n")
    assert "post-mortem: ShapeError" in "\n".join(lines)
    assert lines.index("before the error") > 0       # printed after the first op
    assert "matmul" in err                           # the recorded traceback
    assert "finished: exit code 1" in "\n".join(lines)
    assert "raises.py:9 in bad_shapes" in "\n".join(lines)
    assert rs.at_end


def test_the_app_replays_with_time_travel(tmp_path):
    from workbench.app.app import WorkbenchApp
    from workbench.app.inspector import Inspector
    from workbench.app.op_history import OpList
    from tests.workbench.test_app import wait_for

    path = tmp_path / "nan.wbrec"
    record("nan_mid.py", path, "")
    session = ReplaySession(str(path))

    async def body():
        app = WorkbenchApp(session, script="nan_mid.py (replay)")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
            first = session.history.get(0).index
            assert app.paused.op.index == first and app.paused.after
            n = app.pauses
            await pilot.press("s")
            await wait_for(pilot, lambda: app.pauses > n, "a step")
            assert app.paused.op.name == "sub"
            assert app.query_one("#source").position[1] == 9
            n = app.pauses
            app.send("back")
            await wait_for(pilot, lambda: app.pauses > n, "a step back")
            assert app.paused.op.index == first
            app.send("break nan")
            n = app.pauses
            await pilot.press("c")
            await wait_for(pilot, lambda: app.pauses > n, "the NaN breakpoint")
            assert app.paused.op.name == "log"
            assert app.paused.op.outputs[0].nan_count == 24
            status = str(app.query_one("#status").render())
            assert f"after #{app.paused.op.index} log" in status
            insp = app.query_one(Inspector)
            await wait_for(pilot, lambda: insp.values is not None, "the inspector's values")
            await pilot.press("c")
            await wait_for(pilot, lambda: app.state == "finished", "the end")
            n = app.pauses
            app.send("rc")
            await wait_for(pilot, lambda: app.pauses > n, "reverse-continue")
            assert app.paused.op.name == "log"
            assert len(app.query_one(OpList).source) == 5
            await pilot.press("q")
        assert session.join(1)

    asyncio.run(body())


def test_damaged_and_foreign_files_are_refused_clearly(tmp_path):
    path = tmp_path / "nan.wbrec"
    record("nan_mid.py", path, "")
    data = path.read_bytes()
    cut = tmp_path / "cut.wbrec"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(RecordingError, match="truncated"):
        load_recording(cut)

    def rewrite(target, replace=None, extra=None):
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as dst:
            for info in src.infolist():
                body = src.read(info.filename)
                if replace and info.filename in replace:
                    body = replace[info.filename]
                dst.writestr(info.filename, body)
            for name, body in (extra or {}).items():
                dst.writestr(name, body)

    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}, None], dtype=object), allow_pickle=True)
    pickled = tmp_path / "pickled.wbrec"
    rewrite(pickled, replace={"ops/name.npy": buf.getvalue()})
    with pytest.raises(RecordingError, match="pickle|wrong size"):
        load_recording(pickled)
    # the same pickle with meta.json's size fixed up: the loader still refuses
    import json
    with zipfile.ZipFile(path) as z:
        meta = json.loads(z.read("meta.json"))
    meta["members"]["ops/name.npy"] = len(buf.getvalue())
    pickled2 = tmp_path / "pickled2.wbrec"
    rewrite(pickled2, replace={"ops/name.npy": buf.getvalue(),
                               "meta.json": json.dumps(meta).encode()})
    with pytest.raises(RecordingError, match="pickled object"):
        load_recording(pickled2)
    extra = tmp_path / "extra.wbrec"
    rewrite(extra, extra={"payload.pkl": b"\x80\x04K\x01."})
    with pytest.raises(RecordingError, match="unexpected member"):
        load_recording(extra)
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(RecordingError, match="not a workbench recording"):
        load_recording(foreign)


def test_cli_records_and_replays_and_refuses_a_bad_file(tmp_path):
    env = dict(os.environ, CORE_DEVICE="cpu",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def wb(args, stdin=""):
        return subprocess.run([sys.executable, "-m", "workbench", *args], input=stdin,
                              capture_output=True, text=True, cwd=ROOT, env=env,
                              timeout=60)

    path = tmp_path / "run.wbrec"
    live = wb(["debug", "--batch", "--record", str(path), script("nan_mid.py")],
              "b nan\nc\n")
    assert live.returncode == 0, live.stderr
    assert "recorded 5 ops" in live.stderr
    r = wb(["replay", "--batch", str(path)], "b nan\nc\n")
    assert r.returncode == 0, r.stderr
    hit = [ln for ln in live.stdout.splitlines() if "[breakpoint 1:" in ln]
    assert hit and hit[0] in r.stdout.splitlines()
    bad = tmp_path / "bad.wbrec"
    bad.write_bytes(path.read_bytes()[:100])
    r = wb(["replay", "--batch", str(bad)])
    assert r.returncode == 2
    assert r.stderr.startswith("workbench replay: ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_1e5_op_recording_stays_small_and_loads_compactly(tmp_path):
    path = tmp_path / "many.wbrec"
    rc, lines, live = record("many_ops.py", path, "", argv=("100000",),
                             break_at_first_op=False, budget=4 << 20)
    assert rc == 0 and live.ops_run == 100_001
    size = path.stat().st_size
    assert size < 8 << 20, size                       # ~4 MB of values at most + columns
    with zipfile.ZipFile(path) as z:
        assert len(z.namelist()) < 40                # columns, not a member per op
    rec = load_recording(path)
    assert rec.n == 100_001
    assert 0 < rec.meta["value_bytes"] <= 4 << 20
    rs = ReplaySession(rec)
    events = []
    rs.subscribe(events.append)
    rs.start()
    # op indices are process-wide: earlier tests in this process shift them
    base = rs.history.get(0).index - 1
    rs.send("b many_ops.py:11")
    rs.send(f"jump {base + 99990}")
    rs.send("rc")
    paused = [e for e in events if isinstance(e, Paused)]
    assert paused[-1].op.index == base + 99988 and paused[-1].op.name == "mul"
    rs.send("p out")
    np.testing.assert_array_equal(
        rs.tensor_values(base + 99988, "out"),
        live.tensor_values(base + 99988, "out", ""))
    first = rs.history.get(0)
    assert not first.values_kept and "not kept" in first.outputs[0].note


def test_breakpoint_management_and_displays_in_a_replay(tmp_path):
    """clear/disable/enable/display/undisplay are the live session's own
    command code (session_commands), wired into the replay."""
    path = tmp_path / "nan.wbrec"
    record("nan_mid.py", path, "c\n")
    _, lines, _, rs = replay(path, "b mul\ndisable 1\nc\n")
    pauses = [ln for ln in lines if PAUSE.match(ln)]
    assert len(pauses) == 1 and "disabled breakpoint 1" in lines   # ran to the end
    _, lines, _, rs = replay(path, "b mul\ndisable 1\nenable 1\ndisplay out.shape\n"
                                   "c\nundisplay 1\nclear\nc\n")
    pauses = [ln for ln in lines if PAUSE.match(ln)]
    assert "breakpoint 1" in pauses[1]
    assert any(ln.startswith("display out.shape:") for ln in lines)
    assert "deleted all breakpoints" in lines and len(pauses) == 2
