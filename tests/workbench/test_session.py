"""Session: stepping commands on real scripts (tests/workbench/scripts/).

Every wait has a deadline so a bug cannot hang the suite.
"""

from __future__ import annotations

import os
import threading

import pytest

from core import _dispatch
from workbench.records import (
    CommandResult, Finished, Output, Paused, PostMortem, Running,
)
from workbench.session import Session

SCRIPTS = os.path.join(os.path.dirname(__file__), "scripts")
WAIT = 20.0


def script(name):
    return os.path.join(SCRIPTS, name)


class Driver:
    """Runs a Session and sends one command per prompt, as a user would."""

    def __init__(self, name, argv=(), **kw):
        self.events = []
        self._lock = threading.Lock()
        self.s = Session(script(name), argv, **kw)
        self.s.subscribe(self._on)
        self.s.start()
        self.wait()

    def _on(self, ev):
        with self._lock:
            self.events.append(ev)

    def wait(self):
        ok = self.s.wait_for_prompt(WAIT)
        if not ok:
            assert self.s.join(WAIT), "session neither paused nor finished"
        return ok

    def cmd(self, line):
        """Send ``line``; the events it produced (until the next prompt)."""
        n = len(self.events)
        self.s.send(line)
        self.wait()
        return self.events[n:]

    def result(self, line) -> CommandResult:
        evs = [e for e in self.cmd(line) if isinstance(e, CommandResult)]
        assert evs, f"no result for {line!r}"
        return evs[-1]

    def paused(self) -> Paused:
        ps = [e for e in self.events if isinstance(e, Paused)]
        assert ps, "never paused"
        return ps[-1]

    def pauses(self):
        return [e for e in self.events if isinstance(e, Paused)]

    def finished(self) -> Finished:
        assert self.s.join(WAIT)
        fs = [e for e in self.events if isinstance(e, Finished)]
        assert len(fs) == 1
        return fs[0]

    def output(self, stream="stdout"):
        return "".join(e.text for e in self.events
                       if isinstance(e, Output) and e.stream == stream)

    def close(self):
        if not self.s.finished:
            self.s.kill(5)
        assert self.s.join(WAIT)


@pytest.fixture
def drive():
    drivers = []

    def make(name, argv=(), **kw):
        d = Driver(name, argv, **kw)
        drivers.append(d)
        return d

    yield make
    for d in drivers:
        d.close()


def line_of(ev):
    return ev.op.location[1]


# ------------------------------------------------------------- stepping --


def test_pauses_before_first_op_and_steps(drive):
    d = drive("tiny_mlp.py", ["1"])
    p0 = d.paused()
    assert p0.reason == "start" and p0.op.name == "mul" and not p0.after
    assert p0.op.outputs == () and line_of(p0) == 24
    assert [f.function for f in p0.frames] == ["<module>", "main"]
    assert p0.source_line == 24 and p0.ops_run == 0
    d.cmd("s")
    d.cmd("step")
    p2 = d.paused()
    assert p2.reason == "step" and p2.op.index == p0.op.index + 2
    assert p2.op.name == "matmul" and line_of(p2) == 9
    assert [f.function for f in p2.frames][-2:] == ["forward", "dense"]
    # the previous op's outputs are in the history now
    rec = d.s.history.get_index(p0.op.index)
    assert rec.outputs[0].shape == (4, 16) and rec.values_kept
    d.cmd("c")
    assert d.finished().exit_code == 0


def test_step_through_backward_pass_with_tape(drive):
    d = drive("tape_backward.py")
    forward = {}
    backward = []
    for _ in range(40):
        p = d.paused()
        if p.op.phase == "forward":
            forward[p.op.index] = p.op
        else:
            backward.append(p)
        if len(backward) >= 6:
            break
        d.cmd("s")
    assert len(backward) >= 6
    # every backward op links to a forward op we stepped through
    for p in backward:
        assert p.op.forward_index in forward
        assert p.tape.processing_index == p.op.forward_index
        assert p.op.scope == forward[p.op.forward_index].scope
        assert line_of(p) == 21          # the tape.gradient(...) line
    assert any(p.op.name == "tanh_grad" for p in backward)
    tanh_bw = next(p for p in backward if p.op.name == "tanh_grad")
    assert forward[tanh_bw.op.forward_index].name == "tanh"
    # the active tape lists the forward ops it recorded
    tape = backward[0].tape
    assert len(tape.tapes) == 1
    names = [e.name for e in tape.tapes[0].entries]
    assert names.count("matmul") == 2 and names.count("tanh") == 2
    assert tape.tapes[0].n_entries == len(tape.tapes[0].entries)
    d.cmd("c")
    assert "grad norm2" in d.output()
    assert d.finished().exit_code == 0


def test_next_stays_in_frame_and_goes_out(drive):
    d = drive("tiny_mlp.py", ["1"])
    d.cmd("b matmul")
    d.cmd("c")
    assert d.paused().op.name == "matmul" and line_of(d.paused()) == 9
    d.cmd("n")                          # next line of dense
    assert line_of(d.paused()) == 10 and d.paused().op.name == "add"
    d.cmd("n")                          # dense returned: the caller's line
    p = d.paused()
    assert p.reason == "next" and line_of(p) == 16 and p.op.name == "relu"


def test_next_steps_over_calls_and_backward(drive):
    d = drive("tiny_mlp.py", ["2"])
    d.cmd("b tiny_mlp.py:31")
    d.cmd("c")
    assert line_of(d.paused()) == 31        # loss = core.mean(diff * diff)
    d.cmd("n")
    p = d.paused()
    assert line_of(p) == 32 and p.op.phase == "backward"
    d.cmd("n")                              # over the whole backward pass
    p = d.paused()
    assert line_of(p) == 34 and p.op.phase == "forward"
    first = p.op.index
    d.cmd("n")                              # the loop re-runs line 34
    p = d.paused()
    assert line_of(p) == 34 and p.op.index > first


def test_finish_returns_to_caller(drive):
    d = drive("tiny_mlp.py", ["1"])
    d.cmd("b matmul")
    d.cmd("c")
    assert d.paused().frames[-1].function == "dense"
    d.cmd("r")
    p = d.paused()
    assert p.reason.startswith("finish") and p.op.name == "relu"
    assert p.frames[-1].function == "forward"


def test_until_op_index(drive):
    d = drive("many_ops.py", ["200"])
    start = d.paused().op.index
    d.cmd(f"until {start + 57}")
    p = d.paused()
    assert p.op.index == start + 57 and p.reason == f"until {start + 57}"
    assert not d.result("until x").ok


def test_continue_runs_to_end_with_exit_code_and_argv(drive):
    d = drive("exits.py", ["7"])
    d.cmd("c")
    assert d.finished().exit_code == 7
    assert not d.s.paused and not _dispatch.hooks


# ---------------------------------------------------------- breakpoints --


def test_break_on_op_name_counts_hits_and_lists(drive):
    d = drive("tiny_mlp.py", ["2"])
    r = d.result("b relu")
    assert r.ok and "op relu" in r.text
    d.cmd("c")
    p = d.paused()
    assert p.op.name == "relu" and p.reason == "breakpoint 1"
    d.cmd("c")
    assert d.paused().op.name == "relu"
    assert d.paused().op.index > p.op.index
    assert "hit 2" in d.result("b").text
    bad = d.result("b relux")
    assert not bad.ok and "relu" in bad.text


def test_break_file_line_and_bare_line(drive):
    d = drive("tiny_mlp.py", ["1"])
    d.cmd("b 16")                      # current file
    d.cmd("c")
    p = d.paused()
    assert line_of(p) == 16 and p.reason == "breakpoint 1"
    d.cmd("clear")
    d.cmd("b tiny_mlp.py:34")
    d.cmd("c")
    assert line_of(d.paused()) == 34


def test_conditional_break_on_output_shape_pauses_after_kernel(drive):
    d = drive("tiny_mlp.py", ["1"])
    d.cmd("b matmul if out.shape[1] == 2")
    d.cmd("c")
    p = d.paused()
    assert p.after and p.op.name == "matmul"
    assert p.op.outputs[0].shape == (8, 2)
    assert p.op.inputs[1].shape == (16, 2)


def test_conditional_break_on_values_anywhere(drive):
    d = drive("many_ops.py", ["5000"])
    d.cmd("b if absmax(out) > 1000")
    d.cmd("c")
    p = d.paused()
    assert p.after and p.op.name == "add"
    assert p.op.outputs[0].max == 1001.0
    assert d.result("p float(x.sum().item())").text == "4000.0"  # not yet assigned
    # a condition that raises stops too and says why
    d.cmd("clear")
    d.cmd("b mul if nosuchname > 1")
    d.cmd("c")
    assert "condition error: NameError" in d.paused().reason


def test_tbreak_clear_disable_enable_ignore(drive):
    d = drive("many_ops.py", ["400"])
    d.cmd("tbreak mul")
    d.cmd("c")
    p1 = d.paused()
    assert p1.reason == "temporary breakpoint 1" and p1.op.name == "mul"
    assert d.result("b").text == "no breakpoints"
    d.cmd("b add")                       # 2
    d.cmd("disable 2")
    d.cmd("b mul")                       # 3
    d.cmd("c")
    p = d.paused()
    assert p.op.name == "mul" and p.op.index == p1.op.index + 2
    d.cmd("enable 2")
    d.cmd("ignore 2 3")
    d.cmd("disable 3")
    d.cmd("c")
    p = d.paused()                      # skipped 3 adds
    assert p.op.name == "add" and p.op.index == p1.op.index + 1 + 2 * 4 - 1 + 1
    d.cmd("clear 2 3")
    assert d.result("b").text == "no breakpoints"
    assert not d.result("clear 9").ok
    d.cmd("c")
    assert d.finished().exit_code == 0


def test_nan_breakpoint_pauses_at_the_producing_op(drive):
    d = drive("nan_mid.py")
    d.cmd("b nan")
    d.cmd("c")
    p = d.paused()
    assert p.after and p.op.name == "log" and line_of(p) == 10
    assert p.op.scope == ("block",)
    assert p.op.outputs[0].nan_count == 24
    assert p.op.inputs[0].nan_count == 0
    assert "from finite inputs" in p.reason
    assert p.source_line == 10
    assert d.result("p b.shape").text == "(6, 4)"
    d.cmd("c")            # the NaN flows through mul/add: no more stops
    assert d.finished().exit_code == 0
    assert len([e for e in d.events if isinstance(e, Paused)]) == 2


def test_inf_breakpoint_does_not_stop_on_nan(drive):
    d = drive("nan_mid.py")
    d.cmd("b inf")
    d.cmd("c")
    assert d.finished().exit_code == 0
    assert len(d.pauses()) == 1


# ------------------------------------------------------ inspecting state --


def test_print_pp_display_where_up_down(drive):
    d = drive("tiny_mlp.py", ["1"])
    d.cmd("b matmul")
    d.cmd("c")
    assert d.result("p x.shape").text == "(8, 4)"
    assert d.result("p w.shape").text == "(4, 16)"
    r = d.result("p undefined_name")
    assert not r.ok and "NameError" in r.text
    assert d.result("pp {'b': [1, 2], 'a': 3}").text == "{'a': 3, 'b': [1, 2]}"
    r = d.result("display w.shape")
    assert r.ok and "(4, 16)" in r.text
    where = d.result("where").text.splitlines()
    assert where[0].startswith("  tiny_mlp.py:42 in <module>")
    assert where[-2].startswith("> tiny_mlp.py:9 in dense")
    evs = d.cmd("up")
    assert any(isinstance(e, CommandResult) and "in forward" in e.text for e in evs)
    p = d.paused()
    assert p.frame_index == len(p.frames) - 2 and p.source_line == 15
    assert d.result("p params[0].shape").text == "(4, 16)"
    assert not d.result("p w").ok          # not in forward's frame
    d.cmd("down")
    assert d.paused().frame_index == len(p.frames) - 1
    assert not d.result("down").ok         # newest frame already
    d.cmd("c")                             # next matmul: display re-evaluated
    p = d.paused()
    assert p.watches == (("w.shape", "(16, 2)"),)
    d.cmd("undisplay 1")
    d.cmd("c")                             # a matmul of the backward pass
    p = d.paused()
    assert p.watches == () and p.op.phase == "backward"
    assert p.frames[-1].function == "main"
    locals_ = dict(p.frames[-1].locals_preview)
    assert locals_["loss"] == "Tensor() float32 cpu"
    assert locals_["step"] == "0"


def test_tensor_values_inspect_and_save(drive, tmp_path):
    d = drive("tiny_mlp.py", ["1"])
    d.cmd("s")
    first = d.s.history.get(0)
    vals = d.s.tensor_values(first.index, "out", "0:2, 0:3")
    assert vals.shape == (2, 3)
    assert vals[0, 0] == pytest.approx(first.outputs[0].sample[0])
    assert d.s.tensor_values(first.index, "in0", "").shape == (4, 16)
    assert "not a tensor: 0.5" in d.s.tensor_values(first.index, "in1", "")
    now = d.paused().op.index
    assert "not computed yet" in d.s.tensor_values(now, "out", "")
    assert "not in the history" in d.s.tensor_values(10 ** 9, "out", "")
    assert "bad slice" in d.s.tensor_values(first.index, "out", "0:2, x")
    r = d.result(f"inspect {first.index} out 0, 0:3")
    assert r.ok and r.text.startswith("(3,) float32")
    path = tmp_path / "w.npy"
    r = d.result(f"save {first.index} out {path}")
    assert r.ok and path.exists()
    import numpy as np
    saved = np.load(path, allow_pickle=False)
    assert saved.shape == (4, 16) and saved[0, 0] == vals[0, 0]


def test_tensor_values_from_another_thread_runs_on_worker(drive):
    d = drive("tiny_mlp.py", ["1"])
    d.cmd("s")
    idx = d.s.history.get(0).index
    box = []
    t = threading.Thread(target=lambda: box.append(
        d.s.tensor_values(idx, "out", "")))
    t.start()
    t.join(WAIT)
    assert box and box[0].shape == (4, 16)


# ------------------------------------------------- quitting, post-mortem --


def test_quit_while_paused_ends_cleanly(drive):
    d = drive("tiny_mlp.py", ["50"])
    d.cmd("s")
    d.cmd("q")
    f = d.finished()
    assert f.exit_code == 0
    assert not d.s._thread.is_alive()
    assert not _dispatch.hooks
    assert "step 0" not in d.output()


def test_quit_and_pause_while_running(drive):
    d = drive("many_ops.py", ["2000000"])
    d.s.send("c")
    assert d.s.wait_for_prompt(0.2) is False    # running free
    d.s.send("pause")
    assert d.s.wait_for_prompt(WAIT)
    assert d.paused().reason == "interrupted"
    d.s.send("c")
    assert d.s.wait_for_prompt(0.2) is False
    d.s.stop()
    assert d.s.join(WAIT)
    assert d.finished().ops_run < 2_000_000
    assert any(isinstance(e, Running) for e in d.events)


def test_post_mortem_keeps_frames_inspectable(drive):
    d = drive("raises.py")
    d.cmd("c")
    pm = [e for e in d.events if isinstance(e, PostMortem)]
    assert len(pm) == 1
    pm = pm[0]
    assert pm.exc_type == "ShapeError" and "matmul" in pm.message
    assert "raises.py" in pm.traceback_text and "session.py" not in pm.traceback_text
    assert [f.function for f in pm.frames] == ["<module>", "bad_shapes"]
    assert pm.frame_index == 1
    assert d.result("p local_marker").text == "42"
    assert d.result("p a.shape").text == "(3, 4)"
    assert "> raises.py:9 in bad_shapes" in d.result("where").text
    d.cmd("up")
    assert d.result("p x.shape").text == "(3, 4)"
    assert "before the error" in d.output()
    d.cmd("c")
    assert d.finished().exit_code == 1
    assert "never printed" not in d.output()


def test_quit_from_post_mortem(drive):
    d = drive("raises.py")
    d.cmd("c")
    d.cmd("q")
    assert d.finished().exit_code == 1


# -------------------------------------------------------------- output --


def test_heavy_output_is_captured_in_order(drive, capsys):
    d = drive("prints.py", ["20000"])
    d.cmd("c")
    assert d.finished().exit_code == 0
    out = d.output("stdout").splitlines()
    assert out[:2] == ["line 0", "line 1"]
    assert out[-2:] == ["line 19999", "last line 123.0"]
    assert len(out) == 20001
    err = d.output("stderr").splitlines()
    assert err == [f"err {i}" for i in range(0, 20000, 1000)]
    # batched: far fewer events than lines, and nothing leaked to our streams
    n_events = sum(1 for e in d.events if isinstance(e, Output))
    assert n_events < 2000
    cap = capsys.readouterr()
    assert "line 0" not in cap.out and "err 0" not in cap.err


def test_unknown_command_and_help(drive):
    d = drive("exits.py")
    r = d.result("frobnicate")
    assert not r.ok and "unknown command" in r.text
    assert "break b" in d.result("help").text
    d.cmd("c")
    assert d.finished().exit_code == 3


def test_script_not_found():
    with pytest.raises(FileNotFoundError):
        Session(script("no_such_script.py")).start()


def test_gradients_after_backward_and_timings(drive):
    d = drive("tiny_mlp.py", ["1"])
    d.cmd("b tiny_mlp.py:34")               # after loss.backward()
    d.cmd("c")
    p = d.paused()
    grads = {name: (shape, norm) for name, shape, norm in p.tape.gradients}
    assert set(grads) == {"w1", "b1", "w2", "b2"}
    assert grads["w1"][0] == (4, 16) and grads["w1"][1] > 0
    w1_grad_norm = float(d.result(
        "p float((params[0].grad * params[0].grad).sum().item() ** 0.5)").text)
    assert grads["w1"][1] == pytest.approx(w1_grad_norm, rel=1e-5)
    rows = {r.name: r for r in p.timings}
    assert rows["matmul"].calls >= 4 and rows["matmul"].total_ns > 0
    assert sum(r.share for r in p.timings) == pytest.approx(1.0)
    assert (script("tiny_mlp.py"), 9) in p.op_lines


def test_condition_command_changes_a_breakpoint(drive):
    d = drive("many_ops.py", ["1000"])
    d.cmd("b add")
    r = d.result("condition 1 float(out[0]) == 7.0")
    assert r.ok and "if float(out[0]) == 7.0" in r.text
    d.cmd("c")
    p = d.paused()
    assert p.after and p.op.outputs[0].max == 7.0


def test_kill_ends_a_script_that_runs_no_ops(drive):
    d = drive("spins.py")
    d.s.send("c")
    assert d.s.wait_for_prompt(0.3) is False
    assert d.s.kill(5)
    assert d.finished().exit_code == 0
    assert not _dispatch.hooks


def test_running_events_are_coalesced(drive):
    d = drive("many_ops.py", ["100000"])
    d.cmd("c")
    f = d.finished()
    running = [e for e in d.events if isinstance(e, Running)]
    assert f.ops_run >= 100_000
    assert 1 <= len(running) < 400          # ~20/s at most, never one per op
    counts = [e.ops_run for e in running if e.last is not None]
    assert counts == sorted(counts)


def test_pause_while_paused_does_not_stop_later(drive):
    d = drive("exits.py")
    assert d.result("pause").text == "already paused"
    d.cmd("c")
    assert d.finished().exit_code == 3
    assert len(d.pauses()) == 1


def test_tape_view_lists_gradients_returned_by_tape_gradient(drive):
    d = drive("tape_gradient.py")
    d.cmd("b exp")
    d.cmd("c")
    p = d.paused()
    assert p.op.name == "exp"
    grads = {name: (shape, norm) for name, shape, norm in p.tape.gradients}
    assert "w" in grads
    shape, norm = grads["w"]
    assert shape == (3, 2)
    assert abs(norm - (6 * 16) ** 0.5) < 1e-4    # every entry of dy/dw is 4
    d.cmd("c")
    assert d.finished().exit_code == 0
