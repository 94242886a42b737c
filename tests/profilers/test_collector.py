"""Profiling real runs: the report's claims checked against the model."""

from __future__ import annotations

import gc
import os
import weakref

import pytest

import core
from profilers import Counters, Profiler, schedule
from profilers.report import build_report
from tests.profilers.models import HIDDEN_LINE, TinyNet

MODELS_FILE = os.path.join(os.path.dirname(__file__), "models.py")


@pytest.fixture(scope="module")
def profiled():
    core.random.seed(0)
    net = TinyNet(width=384)
    net.step()                                  # warm kernels up
    with Profiler() as prof:
        for _ in range(4):
            net.step()
    return prof.run


def test_report_claims_match_the_model(profiled):
    run = profiled
    rep = build_report(run)
    t = rep["tables"]
    # the line with the big matmuls dominates, forward and backward both there
    top_line = t["by_line"][0]
    assert top_line["extra"]["line"] == HIDDEN_LINE, t["by_line"]
    assert top_line["extra"]["file"] == MODELS_FILE
    assert top_line["forward_ns"] > 0 and top_line["backward_ns"] > 0
    assert "matmul" in top_line["extra"]["ops"]
    assert t["by_op"][0]["key"] == "matmul"
    phases = {r["key"] for r in t["by_phase"]}
    assert phases == {"forward", "backward"}
    mods = {r["key"] for r in t["by_module"]}
    assert {"net", "net.enc", "net.hidden", "net.head"} <= mods
    hidden = next(r for r in t["by_module"] if r["key"] == "net.hidden")
    net = next(r for r in t["by_module"] if r["key"] == "net")
    assert hidden["total_ns"] > net["total_ns"] / 2
    assert net["self_ns"] == 0
    # FLOPs of the hidden matmul: 2*64*384*384 per call, 4 calls per step
    # forward; in backward one record per matmul node (same operands),
    # each computing two gradients (the input's and w2's)
    shape = next(r for r in t["by_shape"]
                 if r["key"] == "matmul (64,384)f32 x (384,384)f32")
    assert shape["calls"] == 32
    fwd_flops = 2 * 64 * 384 * 384
    assert shape["flops"] == 16 * fwd_flops + 16 * 2 * fwd_flops
    assert shape["gflops"] > 0
    bwd = [r for r in run.records if r.phase == "backward"
           and r.name == "matmul" and r.scope == ("net", "hidden")]
    assert len(bwd) == 16 and {r.grads for r in bwd} == {2}


def test_records_carry_location_scope_shapes_and_links(profiled):
    recs = profiled.records
    assert [r.index for r in recs] == sorted(r.index for r in recs)
    fwd = {r.index: r for r in recs if r.phase == "forward"}
    bwd = [r for r in recs if r.phase == "backward"]
    assert bwd and all(r.forward_index in fwd for r in bwd)
    for r in bwd:
        assert r.src == fwd[r.forward_index].location
        assert r.scope == fwd[r.forward_index].scope
    mm = [r for r in recs if r.name == "matmul" and r.phase == "forward"
          and r.scope == ("net", "hidden")]
    assert len(mm) == 16
    assert mm[0].location[1] == HIDDEN_LINE
    assert mm[0].shapes == ((64, 384), (384, 384))
    assert mm[0].dtypes == ("float32", "float32")
    assert mm[0].variables[1].startswith("w2#")
    assert mm[0].out_bytes == 64 * 384 * 4
    assert all(r.kernel_ns <= r.host_ns for r in recs)


def test_overhead_is_measured_and_stated(profiled):
    ov = profiled.overhead
    assert ov.per_op_ns > 0 and ov.method.startswith("calibrated on cpu")
    assert 0 <= ov.in_op_ns <= ov.per_op_ns
    rep = build_report(profiled)
    assert "per op" in rep["overhead"]["statement"]
    assert rep["summary"]["overhead_ns"] == pytest.approx(
        ov.per_op_ns * len(profiled.records))


def test_calibration_is_invisible_to_other_hooks():
    seen = []

    class Spy:
        def after_op(self, ev):
            seen.append(ev.name)

    net = TinyNet(batch=4, width=8)
    with core.hooks.attached(Spy()):
        with Profiler() as prof:
            net.step()
        prof.run      # builds and calibrates while Spy is still registered
    assert len(seen) == len(prof.run.records)


def test_schedule_records_only_the_active_window():
    x = core.ones((3,))
    sch = schedule(wait=1, warmup=1, active=2)
    assert [sch.state(i) for i in range(5)] == ["off", "warmup", "active",
                                               "active", "off"]
    with Profiler(schedule=sch, calibrate=False) as prof:
        for step in range(6):
            for _ in range(step + 1):       # step k issues k+1 ops
                core.exp(x)
            prof.step()
    run = prof.run
    assert sorted({r.step for r in run.records}) == [2, 3]
    assert len(run.records) == 3 + 4
    assert [s[0] for s in run.steps] == [2, 3]
    assert dict(run.counters)["ops"] == sum(range(1, 7))   # counters see all


def test_counters_hook_counts_cheaply():
    c = Counters()
    x = core.ones((2,))
    with core.hooks.attached(c):
        for _ in range(5):
            core.exp(x)
    assert c.ops == 5 and c.op_ns > 0
    c.reset()
    assert c.ops == 0


def test_detail_off_keeps_only_counters():
    x = core.ones((2,))
    with Profiler(detail=False, calibrate=False) as prof:
        for _ in range(4):
            core.exp(x)
    assert prof.run.records == () and dict(prof.run.counters)["ops"] == 4


def test_inputs_are_not_kept_alive():
    x = core.ones((8,))
    with Profiler(calibrate=False) as prof:
        first = core.exp(x)
        ref = weakref.ref(first)
        core.exp(first)
        del first
        for _ in range(3):
            core.exp(x)
        gc.collect()
        assert ref() is None
    assert prof.run.records[1].shapes == ((8,),)


def test_misuse_is_explained():
    prof = Profiler(calibrate=False)
    with pytest.raises(RuntimeError, match="stop"):
        prof.run
    prof.start()
    with pytest.raises(RuntimeError, match="already started"):
        prof.start()
    prof.stop()


def test_device_time_on_the_simulated_gpu(sim_gpu):
    backend = sim_gpu.backend
    net = TinyNet(batch=8, width=16, dev="gpu")
    syncs0 = backend._syncs
    with Profiler(calibrate=False) as prof:
        net.step()
    run = prof.run
    gpu_ops = [r for r in run.records if r.device == "gpu:0"]
    assert gpu_ops and all(r.device_ns is not None and r.device_ns >= 0
                           for r in gpu_ops)
    # resolved lazily: one synchronize at the end, not one per op
    assert backend._syncs - syncs0 <= 1
    rep = build_report(run)
    dev_row = next(r for r in rep["tables"]["by_device"] if r["key"] == "gpu:0")
    assert dev_row["device_ns"] == sum(r.device_ns for r in gpu_ops)
    assert rep["summary"]["device_ns"] > 0

    # step() reads finished timers as it goes, without a synchronize
    syncs0 = backend._syncs
    with Profiler(calibrate=False) as prof:
        net.step()
        prof.step()
        from core._record import FIELDS
        ev_i = FIELDS.index("events")
        dt_i = FIELDS.index("device_time_ns")
        assert prof._buf[ev_i] is None and prof._buf[dt_i] is not None
    assert backend._syncs == syncs0 or backend._syncs - syncs0 <= 1
    assert all(r.device_ns is not None for r in prof.run.records)

    syncs0 = backend._syncs
    with Profiler(sync=True, calibrate=False) as prof:
        net.step()
    assert backend._syncs - syncs0 >= len(prof.run.records)
    assert all(r.device_ns is not None for r in prof.run.records)


def test_transfers_are_recorded_and_recommended(sim_gpu):
    x = core.ones((256, 256))
    with Profiler(calibrate=False) as prof:
        for _ in range(30):
            y = x.to("gpu")
            core.exp(y).to("cpu")
    rep = build_report(prof.run)
    names = [r["key"] for r in rep["tables"]["by_op"]]
    assert "to_device" in names
    rules = {r["rule"]: r for r in rep["recommendations"]}
    assert "transfers" in rules and "60 to_device ops" in rules["transfers"]["evidence"][0]


def test_live_tensor_bytes_tracked_with_memory():
    x = core.ones((1000,), dtype="float32")
    with Profiler(memory=True, calibrate=False) as prof:
        for _ in range(5):
            y = core.exp(x)
            del y
    live = [b for _, b in prof.run.live_bytes]
    assert max(live) == 4000 and live[-1] == 0


def test_operands_described_on_every_path():
    """The hook's inline path (one or two plain tensors or Variables) and
    its general path (scalars, lists, three operands, no operand) describe
    operands alike."""
    a = core.ones((2, 3))
    b = core.ones((3,), dtype="float64")
    v = core.Variable(core.ones((3, 4)), name="vv")
    with Profiler(calibrate=False) as prof:
        core.add(a, a)                        # two plain tensors
        a @ v                                 # tensor, Variable
        core.exp(v)                           # one Variable
        core.neg(b)                           # one plain tensor
        core.mul(a, 2.0)                      # scalar operand
        core.concat([a, a], axis=0)           # list operand
        core.where(a > 0, a, a)               # three operands
    recs = [r for r in prof.run.records if r.name != "greater"]
    by = {r.name: r for r in recs}
    assert [r.name for r in recs] == ["add", "matmul", "exp", "neg", "mul",
                                      "concat", "where"]
    assert by["add"].shapes == ((2, 3), (2, 3)) and by["add"].variables == (
        None, None)
    assert by["matmul"].shapes == ((2, 3), (3, 4))
    assert by["matmul"].variables[0] is None
    assert by["matmul"].variables[1].startswith("vv#")
    assert by["matmul"].out_shape == (2, 4) and by["matmul"].out_bytes == 32
    assert by["exp"].variables == (f"vv#{id(v)}",)
    assert by["neg"].dtypes == ("float64",) and by["neg"].out_bytes == 24
    assert by["mul"].shapes == ((2, 3), None)
    assert by["mul"].dtypes == ("float32", "")
    assert by["concat"].shapes == ((2, 3), (2, 3))
    assert by["concat"].out_shape == (4, 3)
    assert by["where"].shapes == ((2, 3), (2, 3), (2, 3))
    assert by["where"].dtypes == ("bool", "float32", "float32")
    assert by["concat"].attrs == (("axis", 0),)


@pytest.mark.parametrize("name", ["mlp", "cnn", "rnn", "gan", "transformer"])
def test_every_sample_model_profiles_and_reports(name):
    """Real models mix every operand kind (arrays, scalars, lists, device
    transfers aside): the engine's records must describe them all."""
    import importlib

    mod = importlib.import_module(f"sample_models.{name}")
    trainer = mod.make_trainer(0)
    trainer.step()
    with Profiler(calibrate=False) as prof:
        trainer.step()
    run = prof.run
    rep = build_report(run)
    assert run.records and rep["tables"]["by_op"]
    phases = {r.phase for r in run.records}
    assert phases == {"forward", "backward"}
    fwd = {r.index: r for r in run.records if r.phase == "forward"}
    for r in run.records:
        if r.phase == "backward" and r.forward_index in fwd:
            assert r.src == fwd[r.forward_index].location
