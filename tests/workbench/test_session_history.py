"""Tensor summaries (bounded cost) and the history ring (bounded memory)."""

from __future__ import annotations

import time

import numpy as np
import pytest

import core
from workbench.history import History, make_entry
from workbench.records import Paused, TensorSummary
from workbench.summary import nonfinite_kind, strided_view, summarize

from tests.workbench.test_session import Driver, script


def test_summary_small_matches_numpy():
    a = np.array([[1.0, -2.0, 0.0], [np.nan, np.inf, 4.0]], dtype=np.float32)
    s = summarize(a)
    assert isinstance(s, TensorSummary)
    assert s.shape == (2, 3) and s.dtype == "float32" and s.numel == 6
    assert s.nan_count == 1 and s.inf_count == 1 and s.zero_count == 1
    fin = np.array([1.0, -2.0, 0.0, 4.0])
    assert s.min == -2.0 and s.max == 4.0
    assert s.mean == pytest.approx(fin.mean()) and s.std == pytest.approx(fin.std())
    assert s.sample[:3] == (1.0, -2.0, 0.0) and s.note == ""
    assert "nan 1 inf 1" in s.short()


def test_summary_int_bool_empty():
    s = summarize(np.arange(10, dtype=np.int64))
    assert (s.min, s.max, s.zero_count) == (0.0, 9.0, 1)
    b = summarize(np.array([True, False, True]))
    assert b.mean == pytest.approx(2 / 3) and b.zero_count == 1
    e = summarize(np.zeros((0, 3), np.float32))
    assert e.numel == 0 and e.note == "empty"


def test_summary_of_a_billion_elements_is_sampled_and_bounded():
    big = np.broadcast_to(np.float32(2.5), (1000, 1000, 1000))   # 1e9, no memory
    t0 = time.perf_counter()
    s = summarize(big)
    elapsed = time.perf_counter() - t0
    assert s.numel == 10 ** 9 and s.shape == (1000, 1000, 1000)
    assert s.min == s.max == 2.5 and "sampled 1 in" in s.note
    assert elapsed < 5.0        # generous: it touches ~2.6e5 elements


def test_strided_view_is_a_view_of_about_the_target_size():
    a = np.arange(4_000_000, dtype=np.float32).reshape(2000, 2000)
    v, step = strided_view(a, target=1 << 18)
    assert np.shares_memory(v, a)
    assert (1 << 18) / 4 <= v.size <= (1 << 18) * 4
    assert step > 1
    s = summarize(a)
    assert s.note.startswith("sampled") and s.min == 0.0
    assert s.mean == pytest.approx(a.mean(), rel=0.05)


def test_nonfinite_kind():
    assert nonfinite_kind(np.ones(5, np.float32)) is None
    assert nonfinite_kind(np.array([1.0, np.nan])) == "nan"
    assert nonfinite_kind(np.array([1.0, -np.inf])) == "inf"
    assert nonfinite_kind(np.array([3e38, 3e38], np.float32)) is None  # sum overflows
    assert nonfinite_kind(np.arange(3)) is None


def _entries(n, shape=(4,)):
    """n recorded op events (via a hook) as history (entry, values)."""
    evs = []

    class Cap:
        def after_op(self, ev):
            evs.append(ev)

    x = core.zeros(*shape)
    with core.hooks.attached(Cap()):
        for _ in range(n):
            x = x + 1.0
    return [make_entry(ev, ev.location) for ev in evs]


def test_history_ring_capacity_and_lookup():
    h = History(capacity=100)
    items = _entries(300)
    for e, v in items:
        h.append(e, v)
    assert len(h) == 100 and h.total == 300
    first = h.get(0)
    assert first.index == items[200][0][0] and first.name == "add"
    assert h.get(-1).index == items[-1][0][0]
    assert h.find(items[250][0][0]) == 50
    assert h.find(items[10][0][0]) is None            # fell out of the ring
    assert [r.index for r in h.window(98, 10)] == [items[298][0][0], items[299][0][0]]
    with pytest.raises(IndexError):
        h.get(100)
    sel = h.filter(name="add")
    assert len(sel) == 100 and sel[0].index == first.index
    assert len(h.filter(phase="backward")) == 0


def test_history_entries_read_back_as_written_across_trims():
    """Entries are stored flat and read back as the tuples written, in
    order, through single appends, batch extends and capacity trims."""
    items = _entries(300)
    h = History(capacity=100)
    h.extend([e for e, _ in items[:150]], [v for _, v in items[:150]])
    for e, v in items[150:]:
        h.append(e, v)
    assert [h.raw(p).entry for p in range(100)] == [e for e, _ in items[200:]]
    assert h.raw(-1).values is items[-1][1]
    cols, vals = h.columns()
    assert len(cols) == len(items[0][0]) and len(vals) == 100
    assert cols[0] == [e[0] for e, _ in items[200:]]
    assert cols[2] == ["add"] * 100 and vals[-1] is items[-1][1]


def test_history_values_dropped_under_budget_keep_shape():
    items = _entries(200, shape=(1000,))              # 4 KB outputs
    h = History(budget=100 * 4112)                    # about 100 ops of values
    for e, v in items:
        h.append(e, v)
    old, new = h.get(0), h.get(-1)
    assert not old.values_kept and new.values_kept
    assert old.outputs[0].shape == (1000,) and not old.outputs[0].has_stats
    assert old.outputs[0].note == "values not kept"
    assert new.outputs[0].max == 200.0
    assert h.kept_bytes <= 100 * 4112
    kept = sum(1 for r in h.window(0, 200) if r.values_kept)
    assert 50 <= kept <= 100


def test_history_max_kept_counts_ops():
    h = History(max_kept=10)
    for e, v in _entries(50):
        h.append(e, v)
    kept = [r.values_kept for r in h.window(0, 50)]
    assert kept[-1] and sum(kept) <= 10 and not kept[0]


def test_history_running_free_keeps_fewer_values_until_stepping():
    items = _entries(200)
    h = History(max_kept=1000, free_kept=20)
    h.running_free(True)
    for e, v in items[:100]:
        h.append(e, v)
    kept = [r.values_kept for r in h.window(0, 100)]
    assert kept[-1] and 18 <= sum(kept) <= 20 and not kept[0]
    assert all(kept[-sum(kept):])           # the newest ones
    h.running_free(False)                   # stepping: the full limits again
    h.extend([e for e, _ in items[100:]], [v for _, v in items[100:]])
    kept = [r.values_kept for r in h.window(0, 200)]
    assert all(kept[100:]) and not any(kept[:80])   # dropped stay dropped
    assert h.get(0).outputs[0].note == "values not kept"


def test_history_a_batch_longer_than_the_free_window_keeps_the_window():
    # a free run's batches (256 ops) are longer than the values window (32):
    # the window is kept whole, not evicted a chunk past it
    items = _entries(300)
    h = History(max_kept=1000, free_kept=20)
    h.running_free(True)
    h.extend([e for e, _ in items], [v for _, v in items])
    kept = [r.values_kept for r in h.window(0, 300)]
    assert sum(kept) == 18 and all(kept[-18:])


def test_session_running_free_keeps_the_last_ops_values():
    d = Driver("many_ops.py", ["2000"], history=History(free_kept=100))
    try:
        assert isinstance(d.paused(), Paused)
        d.cmd("s")
        d.cmd("s")                          # stepped ops: full limits
        d.cmd("c")
        f = d.finished()
        h = d.s.history
        assert len(h) == f.ops_run >= 2000  # every op is in the history
        kept = [r.values_kept for r in h.window(0, len(h))]
        assert kept[-1] and 50 <= sum(kept) <= 100 and not kept[0]
        assert h.get(0).outputs[0].shape == (4,)
    finally:
        d.close()


def test_session_with_a_recorder_keeps_every_value(tmp_path):
    from workbench.recording import Recorder
    from workbench.session import Session

    s = Session(script("many_ops.py"), ["2000"], break_at_first_op=False,
                history=History(free_kept=100))
    rec = Recorder(s, str(tmp_path / "run.wbrec"))
    s.subscribe(rec)
    assert s.keep_all_values
    s.start()
    assert s.join(30) and rec.wait(30) and rec.error is None
    h = s.history
    assert all(r.values_kept for r in h.window(0, len(h)))
    assert rec.info["n_kept_ops"] == len(h)


def test_session_with_1e5_ops_history_filter_and_values():
    d = Driver("many_ops.py", ["100000"], history=History(max_kept=1000))
    try:
        d.cmd("c")
        f = d.finished()
        assert f.exit_code == 0 and f.ops_run >= 100_000
        h = d.s.history
        assert len(h) == f.ops_run
        adds = h.filter(name="add")
        assert len(adds) == 50_000
        assert adds[-1].outputs[0].max == 50_000.0 and adds[-1].values_kept
        assert not adds[0].values_kept and adds[0].outputs[0].shape == (4,)
        assert "total 200000.0" in d.output()
        # the last op's values are still readable after the run
        last = adds[-1]
        assert d.s.tensor_values(last.index, "out", "0:2").tolist() == [50000.0] * 2
        assert h.get(-1).name == "sum" and h.get(-1).outputs[0].shape == ()
        assert "not kept" in d.s.tensor_values(h.get(0).index, "out", "")
    finally:
        d.close()


def test_summary_of_a_simulated_gpu_tensor(sim_gpu):
    t = core.tensor(np.arange(12, dtype=np.float32).reshape(3, 4), device="gpu")
    s = summarize(t._data, t._device)
    assert s.device == str(t._device) and s.shape == (3, 4)
    assert (s.min, s.max) == (0.0, 11.0)
    assert nonfinite_kind(t._data) is None


def test_history_reads_from_another_thread_while_running():
    import threading

    d = Driver("many_ops.py", ["60000"], history=History(capacity=5000,
                                                          max_kept=500))
    errors, reads = [], [0]
    stop = threading.Event()

    def reader():
        h = d.s.history
        while not stop.is_set():
            try:
                n = len(h)
                if n:
                    rows = h.window(max(0, n - 20), 20)
                    idx = [r.index for r in rows]
                    assert idx == sorted(idx) and len(set(idx)) == len(idx)
                    h.get(0)
                    reads[0] += 1
            except Exception as e:          # pragma: no cover - reported below
                errors.append(repr(e))
                return

    t = threading.Thread(target=reader)
    try:
        t.start()
        d.cmd("c")
        assert d.finished().exit_code == 0
    finally:
        stop.set()
        t.join(10)
        d.close()
    assert not errors and reads[0] > 0
    assert len(d.s.history) == 5000 and d.s.history.total == d.s.ops_run
