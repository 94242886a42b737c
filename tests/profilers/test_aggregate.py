"""Aggregations over synthetic records: every table and the summary."""

from __future__ import annotations

import dataclasses
import json

import pytest

from profilers import aggregate as A
from profilers.records import (
    OpRecord, ProfileRun, load_run, save_run,
)
from tests.profilers.synth import Timeline


def _table(rows):
    return {r.key: r for r in rows}


def test_by_op_counts_totals_and_percentiles():
    tl = Timeline()
    for host in (100, 200, 300, 400, 1000):
        tl.op("add", host, kernel=50)
    tl.op("matmul", 5000, kernel=4000, shapes=((8, 16), (16, 4)), out_shape=(8, 4))
    run = tl.run()
    rows = A.by_op(run.records, run.wall_ns)
    assert [r.key for r in rows] == ["matmul", "add"]
    add = _table(rows)["add"]
    assert add.calls == 5 and add.total_ns == 2000
    assert add.mean_ns == 400 and add.p50_ns == 300 and add.p95_ns == 1000
    assert add.kernel_ns == 250 and add.dispatch_ns == 1750
    assert add.share == pytest.approx(2000 / run.wall_ns)


def test_overhead_is_subtracted_but_never_below_kernel():
    tl = Timeline(gap=1000)
    tl.op("add", 1000, kernel=100)
    tl.op("exp", 300, kernel=250)
    run = tl.run(per_op_ns=400, in_op_ns=200)
    rows = _table(A.by_op(run.records, run.wall_ns, run.overhead))
    assert rows["add"].total_ns == 800
    assert rows["exp"].total_ns == 250           # clipped at the kernel time
    s = A.summarize(run)
    assert s.overhead_ns == 800
    assert s.corrected_wall_ns == run.wall_ns - 800
    assert s.in_op_ns == 1050
    assert s.corrected_wall_ns == 3300 - 800
    assert s.outside_op_ns == pytest.approx(2500 - 1050)


def test_summary_time_outside_ops_and_phases():
    tl = Timeline()
    tl.op("matmul", 1000)
    tl.idle(5000)                                # Python between ops
    tl.op("matmul", 2000, phase="backward", forward_index=1)
    s = A.summarize(tl.run())
    assert s.wall_ns == 8000 and s.in_op_ns == 3000
    assert s.outside_op_ns == 5000
    assert s.forward_ns == 1000 and s.backward_ns == 2000
    assert s.ops == 2


def test_by_line_charges_backward_to_the_forward_line():
    tl = Timeline()
    f = tl.op("matmul", 1000, line=41)
    tl.op("relu", 100, line=42)
    tl.op("matmul", 3000, phase="backward", line=99, func="step",
          forward_index=f.index, src=f.location)
    rows = A.by_line(tl.records, 10_000)
    top = rows[0]
    assert top.key == "model.py:41 (forward)"
    assert top.calls == 2 and top.forward_ns == 1000 and top.backward_ns == 3000
    assert dict(top.extra)["line"] == 41
    assert "matmul x2" in dict(top.extra)["ops"]
    assert all("99" not in r.key for r in rows)


def test_by_module_total_and_self():
    tl = Timeline()
    tl.op("matmul", 1000, scope=("model", "enc", "0"))
    tl.op("add", 500, scope=("model", "enc"))
    tl.op("matmul", 2000, scope=("model", "dec"))
    tl.op("mean", 100, scope=())
    rows = _table(A.by_module(tl.records, 10_000))
    assert rows["model"].total_ns == 3500 and rows["model"].self_ns == 0
    assert rows["model.enc"].total_ns == 1500 and rows["model.enc"].self_ns == 500
    assert rows["model.enc.0"].total_ns == 1000 and rows["model.enc.0"].self_ns == 1000
    assert rows["model.dec"].calls == 1
    assert rows["<no module>"].total_ns == 100


def test_by_shape_and_phase_and_device():
    tl = Timeline()
    tl.op("matmul", 100, shapes=((2, 3), (3, 4)), out_shape=(2, 4))
    tl.op("matmul", 300, shapes=((2, 3), (3, 4)), out_shape=(2, 4))
    tl.op("matmul", 50, shapes=((5, 3), (3, 4)), out_shape=(5, 4),
          phase="backward", device="gpu:0", device_ns=700)
    shapes = _table(A.by_shape(tl.records, 1000))
    assert shapes["matmul (2,3)f32 x (3,4)f32"].calls == 2
    assert shapes["matmul (5,3)f32 x (3,4)f32"].total_ns == 50
    phases = _table(A.by_phase(tl.records, 1000))
    assert phases["forward"].calls == 2 and phases["backward"].calls == 1
    devs = _table(A.by_device(tl.records, 1000))
    assert devs["gpu:0"].device_ns == 700 and devs["cpu"].device_ns is None


def test_flops_bytes_and_achieved_rates():
    tl = Timeline()
    mm = tl.op("matmul", 2000, kernel=1000, shapes=((64, 128), (128, 32)),
               out_shape=(64, 32), out_bytes=64 * 32 * 4)
    bmm = tl.op("matmul", 10, shapes=((3, 8, 4), (4, 5)), out_shape=(3, 8, 5))
    es = tl.op("einsum", 10, shapes=((8, 4), (4, 5)), out_shape=(8, 5),
               attrs=(("equation", "ij,jk->ik"),))
    cv = tl.op("conv2d", 10, shapes=((2, 3, 8, 8), (6, 3, 3, 3)),
               out_shape=(2, 6, 6, 6))
    other = tl.op("relu", 10)
    assert A.flops(mm) == 2 * 64 * 128 * 32
    assert A.flops(bmm) == 2 * 3 * 8 * 5 * 4
    assert A.flops(es) == 2 * 8 * 4 * 5
    assert A.flops(cv) == 2 * (2 * 6 * 6 * 6) * (3 * 3 * 3)
    assert A.flops(other) == 0
    assert A.bytes_moved(mm) == (64 * 128 + 128 * 32 + 64 * 32) * 4
    row = A.by_op([mm], 10_000)[0]
    # achieved rate over the kernel time: flop per ns is GFLOP/s
    assert row.gflops == pytest.approx(2 * 64 * 128 * 32 / 1000)
    assert row.gbps == pytest.approx(A.bytes_moved(mm) / 1000)


def test_rates_use_device_time_when_present():
    tl = Timeline()
    r = tl.op("matmul", 100, kernel=10, shapes=((10, 10), (10, 10)),
              out_shape=(10, 10), device="gpu:0", device_ns=400)
    row = A.by_op([r], 1000)[0]
    assert row.gflops == pytest.approx(2000 / 400)


def test_records_roundtrip_and_atomic_save(tmp_path):
    tl = Timeline()
    tl.op("matmul", 100, scope=("m", "l"), attrs=(("axis", (0, 1)),),
          variables=("w#1", None), shapes=((2, 2), None), dtypes=("float32", ""))
    run = tl.run(per_op_ns=12.5, in_op_ns=3.0, meta=(("script", "x.py"),))
    r = run.records[0]
    assert OpRecord.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    path = tmp_path / "sub" / "run.json"
    save_run(run, path)
    back = load_run(path)
    assert back.records == run.records and back.overhead == run.overhead
    assert back.meta_get("script") == "x.py"
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temp left


def test_load_run_refuses_other_documents(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"traceEvents": []}')
    with pytest.raises(ValueError, match="workbench.profile/1"):
        load_run(p)
    p.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_run(p)


def test_wall_time_uses_step_windows_when_scheduled():
    run = ProfileRun(wall_start_ns=0, wall_end_ns=10_000,
                     steps=((2, 1000, 3000), (3, 3000, 4000)))
    assert run.wall_ns == 3000


def test_runs_written_before_grads_existed_still_load(tmp_path):
    tl = Timeline()
    tl.op("matmul", 100, shapes=((4, 8), (8, 2)), out_shape=(4, 2))
    run = tl.run(per_op_ns=1.0, in_op_ns=0.0)
    d = json.loads(json.dumps(run.to_dict()))
    i = d["record_fields"].index("grads")
    del d["record_fields"][i]
    for row in d["records"]:
        del row[i]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(d))
    back = load_run(path)
    assert back.records[0].grads is None
    assert back.records[0].shapes == ((4, 8), (8, 2))


def test_backward_node_flops_count_each_gradient():
    tl = Timeline()
    fwd = tl.op("matmul", 100, shapes=((4, 8), (8, 2)), out_shape=(4, 2))
    bwd = dataclasses.replace(fwd, phase="backward", grads=2, index=fwd.index + 1)
    one = dataclasses.replace(bwd, grads=1)
    assert A.flops(fwd) == 2 * 4 * 2 * 8
    assert A.flops(bwd) == 2 * A.flops(fwd) and A.flops(one) == A.flops(fwd)
