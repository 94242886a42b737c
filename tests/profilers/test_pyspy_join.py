"""py-spy's raw format parsed and joined to op records (no py-spy needed)."""

from __future__ import annotations

import os

import core
from profilers.pyspy import join, parse_raw
from profilers.records import PySpyData
from tests.profilers.synth import Timeline

CORE = os.path.dirname(os.path.abspath(core.__file__))
USER = os.path.abspath("train.py")


def test_parse_raw_lines():
    text = (f"<module> ({USER}:3);step ({USER}:9);matmul ({CORE}/ops/linalg.py:50)"
            f";apply ({CORE}/_dispatch.py:300) 7\n"
            f"<module> ({USER}:3);load ({USER}:20) 12\n\n")
    samples = parse_raw(text)
    assert [s.count for s in samples] == [7, 12]
    assert samples[0].frames[1] == ("step", USER, 9)
    assert samples[1].frames[-1] == ("load", USER, 20)


def test_join_splits_in_op_outside_and_other():
    text = (f"<module> ({USER}:3);step ({USER}:9);matmul ({CORE}/ops/linalg.py:50)"
            f";apply ({CORE}/_dispatch.py:300) 7\n"
            f"<module> ({USER}:3);step ({USER}:10);gradient ({CORE}/autodiff.py:380) 2\n"
            f"<module> ({USER}:3);load ({USER}:20) 12\n"
            f"<module> (/usr/lib/python3.11/runpy.py:88) 5\n")
    tl = Timeline()
    tl.op("matmul", 1000, file=USER, line=9, func="step")
    run = tl.run()
    py = join(run, PySpyData("ok", "", 100, parse_raw(text)))
    assert (py["in_op_samples"], py["outside_samples"], py["other_samples"]) == (7, 14, 5)
    top = py["outside_by_line"][0]
    assert (top["function"], top["location"], top["samples"]) == ("load", "train.py:20", 12)
    assert top["time_ns"] == 12 * 1e7
    # engine bookkeeping outside ops (tape traversal) is outside ops, at the user line
    assert any(r["location"] == "train.py:10" for r in py["outside_by_line"])
    line9 = next(r for r in py["lines"] if r["location"] == "train.py:9")
    assert line9["in_op_samples"] == 7 and line9["op_time_ns"] == 1000


def test_join_passes_status_through():
    run = Timeline().run()
    py = join(run, PySpyData("failed", "ptrace refused", 100))
    assert py == {"status": "failed", "reason": "ptrace refused", "rate_hz": 100}
