"""SVG snapshots of the main layouts over the fake session (fixed records,
fixed timings, no clocks shown): regenerate with --snapshot-update after a
deliberate change and look at the SVGs."""

from __future__ import annotations

import time

import numpy as np

from tests.workbench.test_app_fakes import FakeSession
from workbench.app.app import WorkbenchApp
from workbench.app.inspector import Inspector
from workbench.app.output_log import OutputLog

SIZE = (120, 40)


def _settled(app):
    """A run_before that waits (with a deadline) for values and the console."""
    async def run_before(pilot):
        deadline = time.monotonic() + 10
        insp = app.query_one(Inspector)
        log = app.query_one(OutputLog)
        while time.monotonic() < deadline:
            if app.pauses >= 1 and insp.fetches >= 1 and log.plain_lines \
                    and not log._pending:
                break
            await pilot.pause(0.02)
        app.query_one("#cmdline").blur()
        await pilot.pause()
    return run_before


def _values_with_nan():
    a = np.linspace(-3, 3, 24 * 40, dtype=np.float32).reshape(24, 40)
    a[3, 5] = np.nan
    a[10, 30] = np.inf
    a[20, 2] = -np.inf
    return a


def test_snapshot_paused_main_layout(snap_compare):
    app = WorkbenchApp(FakeSession(n_history=12))
    assert snap_compare(app, terminal_size=SIZE, run_before=_settled(app))


def test_snapshot_heatmap_with_nan_and_inf(snap_compare):
    app = WorkbenchApp(FakeSession(values=_values_with_nan()))

    async def run_before(pilot):
        await _settled(app)(pilot)
        app.query_one(Inspector).mode = "heatmap"
        await pilot.pause()
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_histogram(snap_compare):
    app = WorkbenchApp(FakeSession(values=_values_with_nan()))

    async def run_before(pilot):
        await _settled(app)(pilot)
        app.query_one(Inspector).mode = "histogram"
        await pilot.pause()
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_post_mortem(snap_compare):
    session = FakeSession(fail=True)
    app = WorkbenchApp(session)

    async def run_before(pilot):
        await _settled(app)(pilot)
        app.send("continue")
        deadline = time.monotonic() + 10
        log = app.query_one(OutputLog)
        while app.state != "postmortem" or log._pending:
            assert time.monotonic() < deadline
            await pilot.pause(0.02)
        # whether the console's auto-scroll has landed yet is a race: pin
        # the view to the last line, as a user reading the traceback sees it
        await pilot.pause()
        log.scroll_end(animate=False, immediate=True)
        await pilot.pause()
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_help_screen(snap_compare):
    app = WorkbenchApp(FakeSession())
    assert snap_compare(app, terminal_size=SIZE, press=["question_mark"],
                        run_before=_settled(app))
