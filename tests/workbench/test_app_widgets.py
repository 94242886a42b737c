"""Pure pieces of the app: heatmap, histogram, filter parsing, completion,
slices and row formatting (no running app needed)."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from workbench.app.command_line import complete
from workbench.app.heatmap import NAN_RGB, POS_INF_RGB, Heatmap, colours, downsample
from workbench.app.histogram import Histogram, bar_rows
from workbench.app.inspector import default_slice, values_text
from workbench.app.op_history import parse_filter, row_text
from workbench.app.fmt import fmt_ns, summary_text
from tests.workbench.test_app_fakes import op, summary


def render(renderable, width=40, height=10) -> str:
    console = Console(width=width, height=height, record=True, color_system="truecolor",
                      file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


def test_downsample_keeps_nan_and_inf_visible():
    a = np.zeros((100, 100))
    a[7, 7] = np.nan
    a[60, 90] = np.inf
    small = downsample(a, 10, 10)
    assert small.shape == (10, 10)
    assert np.isnan(small[0, 0]) and np.isposinf(small[6, 9])
    assert np.isfinite(small).sum() == 98


def test_downsample_averages_blocks():
    a = np.arange(16, dtype=float).reshape(4, 4)
    np.testing.assert_allclose(downsample(a, 2, 2), [[2.5, 4.5], [10.5, 12.5]])


def test_colours_mark_nonfinite_distinctly():
    rgb, lo, hi, diverging = colours(np.array([[-1.0, 1.0], [np.nan, np.inf]]))
    assert diverging and (lo, hi) == (-1.0, 1.0)
    assert tuple(rgb[1, 0]) == NAN_RGB and tuple(rgb[1, 1]) == POS_INF_RGB
    assert tuple(rgb[0, 0]) != tuple(rgb[0, 1])


def test_heatmap_renders_half_blocks_and_legend():
    a = np.random.default_rng(0).normal(size=(30, 50))
    a[0, 0] = np.nan
    text = render(Heatmap(a, max_height=8), width=40)
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == 8
    assert set(lines[0]) == {"▀"} and len(lines[0]) == 40
    assert "30x50" in lines[-1] and "nan 1" in lines[-1]


def test_heatmap_refuses_3d_with_a_hint():
    assert "narrow it" in render(Heatmap(np.zeros((2, 3, 4))), width=80)


def test_histogram_counts_and_nonfinite_note():
    a = np.concatenate([np.zeros(90), np.ones(10), [np.nan, np.inf]])
    text = render(Histogram(a, max_height=6), width=30)
    assert "n=100 peak=90" in text
    assert "nan 1" in text and "+inf 1" in text
    assert "no finite values" in render(Histogram(np.array([np.nan])), width=40)


def test_bar_rows_heights():
    rows = bar_rows(np.array([0, 4, 8]), 1)
    assert rows == [" ▄█"]


def test_parse_filter():
    assert parse_filter("matmul bwd scope:model.layers.1") == {
        "name": "matmul", "phase": "backward", "scope": "model.layers.1"}
    assert parse_filter("") == {}
    with pytest.raises(ValueError, match="unknown filter key"):
        parse_filter("colour:red")
    with pytest.raises(ValueError, match="twice"):
        parse_filter("relu matmul")


def test_completion():
    assert complete("con") == "continue"
    assert complete("p mod", names=("model", "x")) == "p model"
    assert complete("p self.mod", names=("model",)) == "p self.model"
    assert complete("b mat", op_names=("matmul", "relu")) == "b matmul"
    assert complete("b na") == "b nan"
    assert complete("zzz") is None and complete("") is None


def test_default_slice_keeps_views_small():
    assert default_slice(()) == ""
    assert default_slice((10,)) == ":1024"
    assert default_slice((3, 4)) == ":64, :128"
    assert default_slice((8, 3, 32, 32)) == "0, 0, :64, :128"


def test_values_text_highlights_nan():
    text = values_text(np.array([1.0, np.nan, np.inf]))
    assert "nan" in text.plain and "inf" in text.plain
    styles = {str(span.style) for span in text.spans}
    assert "bold white on red" in styles and "bold black on yellow" in styles


def test_summary_and_row_text():
    s = summary((2, 3), nan=2)
    t = summary_text("out0", s)
    assert "(2,3) float32" in t.plain and "nan 2" in t.plain and " ok" not in t.plain
    r = row_text(op(1284, "matmul", nan=1), current=True)
    assert r.plain.startswith("▶#1284") and "NaN/Inf" in r.plain
    assert "model.layers.0" in r.plain
    assert fmt_ns(2_100_000) == "2.1 ms" and fmt_ns(812) == "812 ns"


def _timing_rows():
    from workbench.records import TimingRow
    spec = [("add", 4, 12_000), ("log_softmax_with_a_long_name", 1, 90_000),
            ("matmul", 3, 171_500)]
    total = sum(t for _, _, t in spec)
    return [TimingRow(name=n, calls=c, total_ns=t, mean_ns=t / c, share=t / total)
            for n, c, t in spec]


def test_timings_table_sorted_aligned_and_within_the_pane():
    from workbench.app.timings import timings_table
    for width in (34, 50, 70):
        lines = timings_table(_timing_rows(), width=width).plain.split("\n")
        assert all(len(line) < width for line in lines), (width, lines)
        head, *rows = lines
        assert head.split()[:3] == ["op", "calls", "total"]
        assert ("mean" in head) == (width >= 56)
        assert [r.split()[0] for r in rows] == ["matmul", rows[1].split()[0], "add"]
        assert rows[1].split()[0].endswith("…") or width >= 56
        assert len({len(r.split("%")[0]) for r in rows}) == 1      # aligned
        assert ("█" in rows[0]) == (width >= 44)
    assert timings_table(_timing_rows(), width=70, limit=1).plain.count("\n") == 1


def test_watch_lines_wrap_beside_the_expression_and_mark_changes():
    from workbench.app.watches import watch_lines
    watches = (("h.shape", "(64, 64)"),
               ("err", "*** NameError: name 'h' is not defined"))
    t = watch_lines(watches, {"h.shape": "(32, 64)", "err": watches[1][1]}, 24)
    lines = t.plain.split("\n")
    assert lines[0].split() == ["h.shape", "(64,", "64)"]
    assert lines[1].startswith(" err ") and all(len(x) <= 24 for x in lines)
    assert len(lines) > 2 and all(x.startswith(" " * 9) for x in lines[2:])
    assert "".join(x[9:] for x in lines[1:]).replace(" ", "") == \
        watches[1][1].replace(" ", "")
    changed = [t.plain[s.start:s.end] for s in t.spans if "yellow" in str(s.style)]
    assert changed == ["(64, 64)"]


def test_source_view_window_marks_and_redraws_only_on_a_move(tmp_path):
    """The source pane centres the window on the paused line (▶, highlighted),
    marks lines that issued ops (●), renders once per position, and draws
    nothing new when shown the same position again."""
    import asyncio

    from textual.app import App

    from workbench.app.source_view import SourceView

    src = tmp_path / "model.py"
    src.write_text("".join(f"x{i} = {i}\n" for i in range(1, 41)))

    class One(App):
        def compose(self):
            yield SourceView()

    async def body():
        app = One()
        async with app.run_test(size=(40, 10)) as pilot:
            view = app.query_one(SourceView)
            view.show(str(src), 20, {(str(src), 18), (str(src), 20), ("other.py", 19)})
            await pilot.pause()
            rows = [view.render_line(y).text for y in range(view.size.height)]
            current = next(r for r in rows if "▶" in r)
            assert "20 x20 = 20" in current
            assert rows.index(current) in (4, 5)                     # centred
            assert any(r.startswith("●18 x18") for r in rows)        # op line
            assert not any(r.startswith("●19") for r in rows)        # other file's
            strips = view._strips
            view.show(str(src), 20, {(str(src), 18), (str(src), 20)})
            assert view._strips is strips                            # unchanged
            view.show(str(src), 3)
            await pilot.pause()
            rows = [view.render_line(y).text for y in range(view.size.height)]
            assert rows[2].startswith("▶ 3 x3 = 3")                  # clamped at the top
    asyncio.run(body())
