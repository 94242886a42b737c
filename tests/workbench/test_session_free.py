"""Running free: the session as a recording hook (workbench/free_run.py).

In continue mode with nothing to check per op, the engine writes the
session's records itself; the history, timings and pauses must come out
as they do when every op passes through the session's hooks.
"""

from __future__ import annotations

import os

from core import _dispatch
from workbench.free_run import FreeHook
from workbench.session import Session

SCRIPTS = os.path.join(os.path.dirname(__file__), "scripts")
WAIT = 20.0


def run_free(name, argv=()):
    s = Session(os.path.join(SCRIPTS, name), argv, break_at_first_op=False)
    s.subscribe(lambda ev: None)
    s.start()
    assert s.join(WAIT)
    assert not _dispatch.hooks
    return s


def line_of(text, name="tape_backward.py"):
    with open(os.path.join(SCRIPTS, name)) as f:
        return next(i for i, ln in enumerate(f, 1) if text in ln)


def records(s):
    h = s.history
    return [h.get(p) for p in range(len(h))]


def test_history_of_a_free_run_is_complete_and_ordered():
    s = run_free("tape_backward.py")
    recs = records(s)
    assert s.exit_code == 0 and len(recs) == s.ops_run > 10
    idx = [r.index for r in recs]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)
    fwd = {r.index: r for r in recs if r.phase == "forward"}
    bwd = [r for r in recs if r.phase == "backward"]
    # the unrecorded backward pass: one entry per node, named after the
    # forward op it differentiates, at the line that ran it
    assert [r.name for r in bwd] == ["sum", "mul", "tanh", "matmul", "tanh",
                                     "matmul"]
    for r in bwd:
        f = fwd[r.forward_index]
        assert r.name == f.name and r.scope == f.scope
        assert r.location[1] == line_of("tape.gradient(")
        assert r.outputs[0].values_kept is False
    # forward ops keep their user line, scope and values
    mm = [r for r in fwd.values() if r.name == "matmul"]
    assert [r.scope for r in mm] == [("model", "dense0"), ("model", "dense1")]
    assert all(r.location[1] == line_of("x @ w") for r in mm)
    last = recs[-1]
    assert last.outputs[0].values_kept and last.outputs[0].has_stats
    # timings count every op
    assert sum(n for n, _ in s._timing.values()) == s.ops_run


def _forward_entries(s):
    """The forward ops' history entries, comparable across runs (op index,
    timings and kept bytes left out: backward passes differ in op count)."""
    from workbench import history as H
    h = s.history
    entries = [h.raw(p).entry for p in range(len(h))]
    return [(e[H.I_PHASE], e[H.I_NAME], e[H.I_SCOPE],
             e[H.I_LOC], e[H.I_ATTRS] or None, e[H.I_FWD], e[H.I_DEV],
             e[H.I_DEVNS], e[H.I_OSHAPE], e[H.I_ODTYPE], e[H.I_NIN])
            for e in entries if e[H.I_PHASE] == "forward"]


def test_free_run_entries_match_the_per_op_events():
    """The engine's records, drained a column at a time, give the entries
    the per-op path gives (a recording run keeps per-op events)."""
    free = run_free("tape_backward.py")
    s = Session(os.path.join(SCRIPTS, "tape_backward.py"), (), break_at_first_op=False)
    s.keep_all_values = True
    s.subscribe(lambda ev: None)
    s.start()
    assert s.join(WAIT)
    per_op = _forward_entries(s)
    assert _forward_entries(free) == per_op
    assert len(per_op) > 8 and {e[-1] for e in per_op} == {1, 2}   # operand counts
    assert all(e[3] is not None and e[3][1] > 0 for e in per_op)   # user lines


def test_free_run_uses_the_recording_hook_and_pause_brings_the_full_one():
    s = Session(os.path.join(SCRIPTS, "many_ops.py"), ["2000000"],
                break_at_first_op=False)
    s.subscribe(lambda ev: None)
    s.start()
    try:
        assert s.wait_for_prompt(0.3) is False          # running free
        assert any(isinstance(h, FreeHook) for h in _dispatch.hooks)
        assert _dispatch.lean
        s.send("pause")
        assert s.wait_for_prompt(WAIT)
        assert not any(isinstance(h, FreeHook) for h in _dispatch.hooks)
        n = s.ops_run
        h = s.history
        assert h.get(len(h) - 1).index >= n - 1 > 0     # nothing lost
        s.send("b add")                                  # a breakpoint: no
        s.send("c")                                      # free run now
        assert s.wait_for_prompt(WAIT)
        assert not any(isinstance(h, FreeHook) for h in _dispatch.hooks)
    finally:
        s.stop()
        assert s.join(WAIT)
    assert not _dispatch.hooks


def test_a_breakpoint_sent_while_running_free_stops_there():
    s = Session(os.path.join(SCRIPTS, "many_ops.py"), ["2000000"],
                break_at_first_op=False)
    events = []
    s.subscribe(events.append)
    s.start()
    try:
        assert s.wait_for_prompt(0.3) is False
        s.send("b mul")
        assert s.wait_for_prompt(WAIT)
        from workbench.records import Paused
        p = [e for e in events if isinstance(e, Paused)][-1]
        assert p.op.name == "mul" and p.reason.startswith("breakpoint")
    finally:
        s.stop()
        assert s.join(WAIT)


def test_sample_models_run_free_under_the_session():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    for name in ("transformer", "cnn", "rnn"):
        path = os.path.join(repo, "sample_models", f"{name}.py")
        s = Session(path, ["--steps", "2"], break_at_first_op=False)
        s.subscribe(lambda ev: None)
        s.start()
        assert s.join(60)
        assert s.exit_code == 0, name
        recs = records(s)
        assert {r.phase for r in recs} == {"forward", "backward"}, name
        assert len(recs) == s.ops_run
    assert not _dispatch.hooks


def test_script_output_reaches_the_ui_a_few_times_a_second_while_running_free(monkeypatch):
    """A progress line every 50 ms: while the script runs free it is posted
    in batches, one per FREE_FLUSH_INTERVAL_NS (each post wakes the UI
    thread; the session's Running posts flush in between), otherwise each
    line goes out at once; in order, nothing lost, a flush posts the rest."""
    import threading
    from types import SimpleNamespace

    from workbench import session_support
    from workbench.records import Output

    now = [0]
    monkeypatch.setattr(session_support, "time",
                        SimpleNamespace(perf_counter_ns=lambda: now[0]))
    free = [True]
    posted = []
    cap = session_support.OutputCapture(threading.get_ident(), posted.append,
                                        lambda: free[0])
    for i in range(40):                     # one line every 50 ms for two seconds
        now[0] = i * 50_000_000
        cap.add("stdout", f"step {i}\n")
    assert len(posted) == 3                 # at 600, 1200 and 1800 ms
    assert all(isinstance(ev, Output) for ev in posted)
    assert posted[0].text.startswith("step 0\n") and posted[0].text.endswith("step 12\n")
    cap.flush()
    assert "".join(ev.text for ev in posted) == "".join(f"step {i}\n" for i in range(40))
    free[0] = False                         # paused, stepping, checking breakpoints
    del posted[:]
    for i in range(40, 50):
        now[0] = i * 50_000_000
        cap.add("stdout", f"step {i}\n")
    assert [ev.text for ev in posted] == [f"step {i}\n" for i in range(40, 50)]
