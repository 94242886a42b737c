"""Renderers: terminal text, Markdown, self-contained HTML, JSON."""

from __future__ import annotations

import json
import re

from profilers import render
from profilers.report import build_report
from tests.profilers.synth import Timeline


def _report():
    tl = Timeline(gap=200)
    for _ in range(300):
        tl.op("add", 3000, kernel=500, line=17, func="loop", scope=("net", "a"))
    tl.op("matmul", 900_000, kernel=800_000, line=30, scope=("net", "b"),
          shapes=((256, 256), (256, 256)), out_shape=(256, 256))
    return build_report(tl.run(per_op_ns=900, in_op_ns=300,
                               meta=(("script", "train.py"),)), top=5)


def test_terminal_text_has_summary_overhead_and_advice():
    text = render.to_text(_report())
    assert "Profile of train.py" in text
    assert "profiler overhead: 900 ns per op x 301 ops" in text
    assert "Many tiny ops on model.py:17 (loop)" in text
    assert "Top ops" in text and "matmul" in text and "net.b" in text


def test_markdown_tables_and_recommendations():
    md = render.to_markdown(_report())
    assert md.startswith("# Profile of train.py")
    assert "## Recommendations" in md and "*Do:*" in md
    header = next(line for line in md.splitlines() if line.startswith("| op |"))
    rows = [line for line in md.splitlines() if line.startswith("| add |")]
    assert rows and rows[0].count("|") == header.count("|")


def test_html_is_self_contained():
    html = render.to_html(_report())
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<script" not in html and not re.search(r"https?://", html)
    assert "src=" not in html and "@import" not in html
    assert 'class="bar"' in html or "bar" in html
    assert "Many tiny ops on model.py:17 (loop)" in html
    assert html.count("<table>") >= 5


def test_html_escapes_user_strings():
    tl = Timeline()
    tl.op("add", 100, func="<lambda>", scope=("a<b>",))
    html = render.to_html(build_report(tl.run()))
    assert "<lambda>" not in html and "&lt;lambda&gt;" in html


def test_json_roundtrips():
    rep = _report()
    back = json.loads(render.to_json(rep))
    assert back["schema"] == "workbench.report/1"
    assert back["tables"]["by_op"][0]["key"] == "matmul"
    assert len(back["tables"]["by_op"]) <= 5
