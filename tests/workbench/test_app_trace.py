"""workbench.set_trace(): the modal UI opens at each pause on this thread."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import core
import workbench
from workbench import entry


async def _wait(pilot, cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


@pytest.fixture
def driven():
    """Install a headless UI driver; each pause presses the next key in `keys`."""
    seen = []
    keys = []

    def runner(app):
        async def drive():
            async with app.run_test(size=(120, 40)) as pilot:
                await _wait(pilot, lambda: app.pauses >= 1, "the pause")
                seen.append((app.paused.op.name, app.paused.op.phase, app.paused.reason))
                await pilot.press(keys.pop(0))
                await _wait(pilot, lambda: app.resume_event.is_set(), "the resume")
        asyncio.run(drive())

    entry.ui_runner = runner
    yield seen, keys
    entry.ui_runner = None
    if entry._active is not None:
        entry._active.detach()
        entry._active = None


def _model(a):
    b = a * 2.0
    return b.sum()


def test_set_trace_pauses_at_next_op_and_steps(driven):
    seen, keys = driven
    keys += ["s", "c"]
    a = core.tensor(np.arange(4, dtype=np.float32))
    workbench.set_trace()
    total = _model(a)
    assert float(total.numpy()) == 12.0
    assert [s[0] for s in seen] == ["mul", "sum"]
    assert entry._active.ui_runs == 2
    assert entry._active.attached          # still attached, no breakpoints: runs free


def test_set_trace_quit_detaches_and_the_script_runs_on(driven):
    seen, keys = driven
    keys += ["q"]
    a = core.tensor(np.ones(3, dtype=np.float32))
    workbench.set_trace()
    total = _model(a)                       # q at the first op: no more pauses
    assert float(total.numpy()) == 6.0
    assert len(seen) == 1
    assert not entry._active.attached
    assert not core._dispatch.hooks


def test_pythonbreakpoint_env_reaches_set_trace(tmp_path):
    """breakpoint() with PYTHONBREAKPOINT=workbench.set_trace calls our hook."""
    script = tmp_path / "bp.py"
    script.write_text(
        "import workbench.entry as e\n"
        "called = []\n"
        "e.set_trace = lambda *a, **k: called.append(1)\n"
        "breakpoint()\n"
        "print('called', len(called))\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONBREAKPOINT="workbench.set_trace", PYTHONPATH=root)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.stdout.strip() == "called 1", out.stderr
