"""The Textual app driven by Pilot over a real session (a tiny script) and
over the fake session (command line, filter, views).  Every wait polls for
the expected state with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
import time
from types import SimpleNamespace

import numpy as np
import pytest

from tests.workbench.test_app_fakes import FakeSession
from workbench.app.app import WorkbenchApp
from workbench.app.command_line import CommandLine
from workbench.app.inspector import Inspector
from workbench.app.op_history import OpList
from workbench.app.output_log import OutputLog
from workbench.app.timings import Timings
from workbench.session import Session

TINY = textwrap.dedent("""\
    import numpy as np
    import core


    def layer(x, w):
        h = x @ w
        return core.relu(h)


    x = core.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 10)
    w = core.Variable(np.ones((4, 5), dtype=np.float32) * 0.5, name="w")
    with core.GradientTape() as tape:
        y = layer(x, w)
        loss = y.sum()
    g = tape.gradient(loss, [w])
    print("loss", float(loss.numpy()))
    with np.errstate(all="ignore"):
        bad = core.log(x - 1.0)
    print("end")
    """)

FAILING = textwrap.dedent("""\
    import numpy as np
    import core

    a = core.ones((2, 3))
    b = core.ones((4, 5))
    print("about to fail")
    c = a @ b
    """)


def run(coro):
    return asyncio.run(coro)


async def wait_for(pilot, cond, what, timeout=15.0):
    """Poll cond() until true or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def status_text(app) -> str:
    return str(app.query_one("#status").render())


def console_text(app) -> str:
    return "\n".join(app.query_one(OutputLog).plain_lines)


@pytest.fixture
def tiny(tmp_path):
    p = tmp_path / "tiny.py"
    p.write_text(TINY)
    return str(p)


async def _opened(tiny_path):
    session = Session(tiny_path)
    app = WorkbenchApp(session)
    return session, app


async def _press_and_wait(app, pilot, key, pauses_before):
    await pilot.press(key)
    await wait_for(pilot, lambda: app.pauses > pauses_before, f"a pause after {key!r}")


def test_step_forward_then_into_backward(tiny):
    async def body():
        session = Session(tiny)
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
            assert app.paused.op.name == "matmul"
            assert f"before #{app.paused.op.index} matmul" in status_text(app)
            assert app.query_one("#source").position[1] == 6        # h = x @ w
            names = [app.paused.op.name]
            while app.paused.op.phase != "backward":
                await _press_and_wait(app, pilot, "s", app.pauses)
                names.append(app.paused.op.name)
                assert len(names) < 20
            assert names[:3] == ["matmul", "relu", "sum"]
            assert "(backward)" in status_text(app)
            assert app.paused.op.forward_index is not None
            # the history lists every op so far with the cursor on the newest
            op_list = app.query_one(OpList)
            assert len(op_list.source) == len(names)
            assert op_list.record_at(op_list.cursor).index == app.paused.op.index
            await pilot.press("q")
        assert session.join(5)
    run(body())


def test_breakpoint_on_op_then_continue_to_end(tiny):
    async def body():
        session = Session(tiny)
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
            await pilot.press("b")                  # focuses the command line with "break "
            assert isinstance(app.focused, CommandLine)
            assert app.focused.value == "break "
            await pilot.press(*"log", "enter")
            await wait_for(pilot, lambda: app.last_result is not None, "break's answer")
            await pilot.press("escape")
            n = app.pauses
            await pilot.press("c")
            await wait_for(pilot, lambda: app.pauses > n, "the breakpoint")
            assert app.paused.op.name == "log"
            assert app.query_one(Inspector).record.name == "log"
            await pilot.press("c")
            await wait_for(pilot, lambda: app.state == "finished", "the end")
            await wait_for(pilot, lambda: "end" in console_text(app), "the script's output")
            assert "loss 16.49" in console_text(app)
            assert "FINISHED" in status_text(app)
            # the final timings, the op run after the last pause included
            timings = str(app.query_one(Timings).render()).split("\n")
            assert any(line.split()[:2] == ["log", "1"] for line in timings), timings
            await pilot.press("q")
        assert app.return_value == 0
        assert session.join(5)
    run(body())


def test_break_on_nan_shows_nan_in_inspector(tiny):
    async def body():
        session = Session(tiny)
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
            app.send("break nan")
            n = app.pauses
            app.send("continue")
            await wait_for(pilot, lambda: app.pauses > n, "the NaN breakpoint")
            assert app.paused.after and app.paused.op.name == "log"
            out = app.paused.op.outputs[0]
            assert out.nan_count > 0 and out.inf_count > 0
            insp = app.query_one(Inspector)
            slots = insp.query_one("#slots")
            labels = [slots.render_row(item, i).plain
                      for i, item in enumerate(slots.source.window(0, 10))]
            assert any(lbl.startswith("out0") and "nan" in lbl for lbl in labels), labels
            await pilot.press("q")
        assert session.join(5)
    run(body())


def test_select_an_earlier_op_and_slice_its_input(tiny):
    async def body():
        session = Session(tiny)
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
            for _ in range(2):
                await _press_and_wait(app, pilot, "s", app.pauses)
            assert app.paused.op.name == "sum"
            insp = app.query_one(Inspector)
            await pilot.press("[", "[")                 # history cursor up twice
            await wait_for(pilot, lambda: insp.record.name == "matmul", "matmul selected")
            await wait_for(pilot, lambda: insp.values is not None, "matmul's values")
            assert insp.slot == "in0" and insp.values.shape == (3, 4)
            slice_input = insp.query_one("#slice")
            slice_input.value = ""
            slice_input.focus()
            await pilot.press(*"1:3, ::2", "enter")
            x = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
            await wait_for(pilot, lambda: insp.values is not None and insp.values.shape == (2, 2),
                           "the sliced values")
            np.testing.assert_allclose(insp.values, x[1:3, ::2])
            # w PATH saves the inspected tensor (the whole operand) to .npy
            target = os.path.join(os.path.dirname(tiny), "x_in0.npy")
            app.send(f"w {target}")
            await wait_for(pilot, lambda: os.path.exists(target), "the saved file")
            np.testing.assert_allclose(np.load(target, allow_pickle=False), x)
            await pilot.press("escape")
            app.set_focus(None)
            await pilot.press("v")
            assert insp.mode == "heatmap"
            await pilot.press("q")
        assert session.join(5)
    run(body())


def test_quit_while_paused_ends_the_script(tiny):
    async def body():
        session = Session(tiny)
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
            log = app.query_one(OutputLog)
            await pilot.press("q")
        assert session.join(5), "the worker thread did not end after q"
        assert session.finished
        assert not any("end" == line for line in log.plain_lines)
    run(body())


def test_failing_script_lands_in_post_mortem(tmp_path):
    p = tmp_path / "failing.py"
    p.write_text(FAILING)

    async def body():
        session = Session(str(p), break_at_first_op=False)
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.state == "postmortem", "post-mortem")
            assert "POST-MORTEM" in status_text(app)
            await wait_for(pilot, lambda: "Traceback" in console_text(app), "the traceback")
            assert "about to fail" in console_text(app)
            assert app.query_one("#source").position[1] == 7     # c = a @ b
            app.send("p a.shape")
            await wait_for(pilot, lambda: app.last_result is not None, "print's answer")
            assert "(2, 3)" in app.last_result.text
            await pilot.press("q")
        assert session.join(5)
    run(body())


CYCLE = """\
import gc, weakref
class Node:
    pass
a = Node()
a.me = a
ref = weakref.ref(a)
del a
gc.collect()
print("cycle collected:", ref() is None)
"""


def test_the_ui_heap_is_frozen_but_the_scripts_objects_are_collected(tmp_path):
    """The UI's own objects are kept out of the collector's full passes
    while the script runs, and full passes are rarer; the script's garbage
    is still collected, and both are undone when the UI goes away."""
    import gc
    p = tmp_path / "cycle.py"
    p.write_text(CYCLE)

    async def body():
        session = Session(str(p), break_at_first_op=False)
        app = WorkbenchApp(session)
        threshold = gc.get_threshold()
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.state == "finished", "the end")
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold()[2] >= 100           # full passes rarer
            await wait_for(pilot, lambda: "cycle collected" in console_text(app), "output")
            assert "cycle collected: True" in console_text(app)
            await pilot.press("q")
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold
        assert session.join(5)
    run(body())


# ------------------------------------------------------------ fake session --

def test_command_line_history_and_completion():
    async def body():
        session = FakeSession()
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
            await pilot.press("colon")
            cmd = app.query_one(CommandLine)
            assert app.focused is cmd
            await pilot.press(*"p x.shape", "enter")
            await wait_for(pilot, lambda: session.sent == ["p x.shape"], "the command")
            await pilot.press(*"con", "tab")
            assert cmd.value == "continue"
            cmd.value = ""
            await pilot.press("up")
            assert cmd.value == "p x.shape"
            cmd.value = "p x"
            await pilot.press("tab")                     # a name from the frame's locals
            assert cmd.value == "p xs"
            cmd.value = ""
            await pilot.press("enter")                   # empty Enter repeats, as in pdb
            await wait_for(pilot, lambda: len(session.sent) == 2, "the repeat")
            assert session.sent[-1] == "p x.shape"
            await wait_for(pilot, lambda: "(4, 8)" in console_text(app), "the answer")
    run(body())


def test_history_filter_and_save_command():
    async def body():
        session = FakeSession(n_history=30)
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
            await pilot.press("slash", *"relu", "enter")
            op_list = app.query_one(OpList)
            await wait_for(pilot, lambda: len(op_list.source) == 5, "the filtered history")
            assert all(r.name == "relu" for r in op_list.source.window(0, 10))
            assert "filter name:relu" in app.query_one("#history-pane").border_title
            app.send("filter")                          # clears
            assert len(op_list.source) == 31
            insp = app.query_one(Inspector)
            await wait_for(pilot, lambda: insp.slot == "in0", "a slot")
            app.send("w /tmp/x.npy")
            assert session.sent[-1] == "save 30 in0 /tmp/x.npy"
            app.send("view histogram")
            assert insp.mode == "histogram"
            app.send("filter phase:sideways")
            await wait_for(pilot, lambda: "phase must be" in console_text(app), "the error")
    run(body())


def test_running_snapshots_are_coalesced():
    """A burst of 2000 Running events is drawn a handful of times, not 2000."""
    from workbench.records import Running

    async def body():
        session = FakeSession()
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")

            def burst():
                for i in range(2000):
                    app.forward_event(Running(ops_run=i, last=None, timings=()))
            await asyncio.get_running_loop().run_in_executor(None, burst)
            await wait_for(pilot, lambda: "2000" in status_text(app)
                           or "1999" in status_text(app), "the last snapshot drawn")
            assert app.state == "running"
            assert 1 <= app.running_draws < 200
    run(body())


@contextlib.asynccontextmanager
async def paused_fake_app():
    """(app, pilot): the app on a FakeSession, its first pause drawn."""
    app = WorkbenchApp(FakeSession())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
        yield app, pilot


def _active_timers(app):
    nodes = [app, app.screen, *app.screen.query("*")]
    return [(type(n).__name__, t.name) for n in nodes
            for t in list(getattr(n, "_timers", ())) if t._active.is_set()]


def test_session_events_queued_together_arrive_as_one_message():
    """Events queued before the UI thread takes them cost it one wake-up
    (one SessionEvents message) and are applied in order."""
    from workbench.app.messages import Inbox, SessionEvents
    from workbench.records import Output, Running

    inbox = Inbox()
    assert inbox.put(1) and not inbox.put(2) and not inbox.put(3)
    assert inbox.take() == [1, 2, 3] and inbox.take() == []
    assert inbox.put(4)                         # empty again: tell the taker

    async def body():
        async with paused_fake_app() as (app, pilot):
            posted = []
            post = app.post_message

            def counting_post(message):
                posted.append(type(message).__name__)
                return post(message)
            app.post_message = counting_post
            app.forward_event(Output("stdout", "first line\n"))
            app.forward_event(Running(ops_run=60001, last=None, timings=()))
            app.forward_event(Output("stdout", "second line\n"))
            assert posted == [SessionEvents.__name__]
            await wait_for(pilot, lambda: "60001 ops" in status_text(app), "the snapshot")
            await wait_for(pilot, lambda: "second line" in console_text(app), "the output")
            text = console_text(app)
            assert text.index("first line") < text.index("second line")
    run(body())


def test_a_step_draws_with_its_pause_and_continue_draws_at_once():
    """`s`: nothing is drawn until the pause comes (its echo with it: a frame
    drawn just before would hold the pause's back); `c`: RUNNING and the
    echo at once, in the keypress's own wake-up."""
    async def body():
        async with paused_fake_app() as (app, pilot):
            before = app.pauses
            app.send("s")
            assert "(wb) s" not in console_text(app)        # not drawn alone
            await wait_for(pilot, lambda: app.pauses > before, "the pause")
            assert "(wb) s" in console_text(app)            # drawn with it
            assert "PAUSED" in status_text(app)
            app.send("c")
            assert "(wb) c" in console_text(app)            # at once
            assert "RUNNING" in status_text(app) and app.state == "running"
    run(body())


def test_no_timer_ticks_while_nothing_changes():
    """An idle tick would cost a running script a GIL switch: once a pause
    or a running snapshot is drawn, no timer of the app keeps ticking."""
    from workbench.records import Running

    async def body():
        async with paused_fake_app() as (app, pilot):
            await wait_for(pilot, lambda: not _active_timers(app), "idle after a pause")
            app.forward_event(Running(ops_run=77, last=None, timings=()))
            await wait_for(pilot, lambda: "77 ops" in status_text(app), "the snapshot")
            await wait_for(pilot, lambda: not _active_timers(app), "idle while running")
            assert app.state == "running"
    run(body())


def test_running_panes_refresh_one_interval_into_the_run(monkeypatch):
    """Running free, the status line follows each snapshot but the history
    and timings panes (drawn at the pause) refresh only RUNNING_PANES_S
    into the run, and at most that often."""
    import workbench.app.app as app_module
    from workbench.records import Running, TimingRow

    clock = [1000.0]
    monkeypatch.setattr(app_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    rows = (TimingRow("zz_op", 3, 3000, 1000.0, 1.0),)

    def timings(app):
        return str(app.query_one(Timings).render())

    async def body():
        async with paused_fake_app() as (app, pilot):
            app.forward_event(Running(ops_run=50001, last=None, timings=rows))
            await wait_for(pilot, lambda: "50001 ops" in status_text(app), "the snapshot")
            assert "zz_op" not in timings(app)
            clock[0] += app_module.RUNNING_PANES_S / 2
            app.forward_event(Running(ops_run=50002, last=None, timings=rows))
            await wait_for(pilot, lambda: "50002 ops" in status_text(app), "the snapshot")
            assert "zz_op" not in timings(app)
            clock[0] += app_module.RUNNING_PANES_S / 2
            app.forward_event(Running(ops_run=50003, last=None, timings=rows))
            await wait_for(pilot, lambda: "zz_op" in timings(app), "the panes")
            assert "50003 ops" in status_text(app)
    run(body())


def test_console_shows_complete_lines_at_once_and_a_partial_line_later():
    from workbench.records import Output

    async def body():
        async with paused_fake_app() as (app, pilot):
            app.forward_event(Output("stdout", "epoch 1 done\nloading"))
            await wait_for(pilot, lambda: "epoch 1 done" in console_text(app), "the line")
            assert "loading" not in console_text(app)      # not yet: no newline
            app.forward_event(Output("stdout", "..."))
            await wait_for(pilot, lambda: "loading..." in console_text(app),
                           "the unterminated line, after a while")
            await wait_for(pilot, lambda: not _active_timers(app), "idle again")
    run(body())


def test_help_screen_and_palette_commands():
    async def body():
        session = FakeSession()
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen", "help")
            await pilot.press("escape")
            await wait_for(pilot, lambda: type(app.screen).__name__ != "HelpScreen", "closed")
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert {"Step", "Continue", "Break on NaN", "View heatmap"} <= set(titles)
            step = next(c for c in app.get_system_commands(app.screen) if c.title == "Step")
            step.callback()
            assert session.sent[-1] == "step"
    run(body())


def test_running_app_refuses_commands_that_need_a_pause():
    async def body():
        session = FakeSession()
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.pauses >= 1, "the first pause")
            from workbench.records import Running
            app.forward_event(Running(ops_run=9, last=None, timings=()))
            await wait_for(pilot, lambda: app.state == "running", "running")
            app.send("p x")
            assert "p x" not in session.sent
            await pilot.press("ctrl+c")
            assert session.sent[-1] == "pause"
    run(body())


def test_module_imports_are_lazy():
    """`import workbench` must not import textual (the CLI stays fast)."""
    import subprocess
    import sys
    code = "import sys, workbench; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.stdout.strip() == "False", out.stderr


def test_a_huge_slice_is_reduced_off_the_ui_thread():
    """A 6-million-element slice: heatmap and histogram are drawn from reduced
    views prepared in the fetch worker, NaN still visible."""
    big = np.zeros((2000, 3000), dtype=np.float32)
    big[1000, 1500] = np.nan

    async def body():
        session = FakeSession(values=big)
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            insp = app.query_one(Inspector)
            await wait_for(pilot, lambda: insp.values is not None, "the values")
            heat, hist = insp._views
            assert heat.shape == (96, 256) and np.isnan(heat).sum() == 1
            assert hist.size <= (1 << 20)
            assert insp.values.shape == (2000, 3000)
            for mode in ("heatmap", "histogram", "values"):
                insp.mode = mode
                await pilot.pause()
            assert app.is_running and insp.mode == "values"
    run(body())


def test_a_script_that_cannot_compile_is_reported_not_a_crash(tmp_path):
    p = tmp_path / "broken.py"
    p.write_text("def f(:\n    pass\n")

    async def body():
        session = Session(str(p))
        app = WorkbenchApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: "SyntaxError" in console_text(app), "the error")
            assert "CANNOT START" in status_text(app)
            await pilot.press("q")
        assert app.return_value == 1
    run(body())
