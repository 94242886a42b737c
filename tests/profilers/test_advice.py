"""Recommendation rules over synthetic records: each fires on its evidence
and stays quiet on a control."""

from __future__ import annotations

from profilers.records import PySpyData, PySpySample
from profilers.report import build_report
from tests.profilers.synth import Timeline


def _rules(run):
    rep = build_report(run)
    return {r["rule"]: r for r in rep["recommendations"]}, rep


def test_launch_bound_line_fires_on_many_tiny_dispatch_bound_ops():
    tl = Timeline(gap=200)
    for _ in range(300):
        tl.op("add", 3000, kernel=500, line=17, func="loop")
    tl.op("matmul", 200_000, kernel=190_000, line=30)
    recs, _ = _rules(tl.run())
    r = recs["launch_bound"]
    assert r["where"] == "model.py:17 (loop)"
    assert "300 ops" in r["evidence"][0]
    assert "83% of their time is eager dispatch" in r["evidence"][1]
    assert "core.function" in r["action"]


def test_launch_bound_quiet_when_kernels_dominate():
    tl = Timeline(gap=200)
    for _ in range(300):
        tl.op("add", 3000, kernel=2900, line=17)
    recs, _ = _rules(tl.run())
    assert "launch_bound" not in recs


def test_transfers_fire_on_to_device_time():
    tl = Timeline(gap=100)
    for _ in range(20):
        tl.op("to_device", 50_000, line=5, func="load", out_bytes=1 << 20,
              attrs=(("device", "gpu:0"),))
        tl.op("matmul", 20_000, line=6)
    recs, _ = _rules(tl.run())
    r = recs["transfers"]
    assert "20 to_device ops" in r["evidence"][0] and "20.0 MiB" in r["evidence"][0]
    assert "gpu:0" in r["evidence"][1]
    assert "model.py:5 (load) x20" in r["evidence"][2]
    tl2 = Timeline()
    tl2.op("matmul", 20_000)
    assert "transfers" not in _rules(tl2.run())[0]


def test_repeated_computation_with_same_variables_in_one_forward_pass():
    tl = Timeline()
    for step in range(3):
        for _ in range(4):     # W.T recomputed for every time step
            tl.op("transpose", 5000, line=22, shapes=((64, 32),),
                  variables=("W#1",), step=step)
            tl.op("matmul", 8000, line=23, shapes=((8, 64), (64, 32)),
                  variables=(None, "W#1"), step=step)
        tl.op("sum", 1000, phase="backward", line=30, step=step)
    recs, _ = _rules(tl.run())
    r = recs["repeated"]
    assert r["where"] == "model.py:22 (forward)"
    assert "up to 4 times in one forward pass" in r["evidence"][0]
    assert "9 repeats" in r["evidence"][1]
    # matmul has a non-Variable operand: not an identical computation
    assert "matmul" not in r["title"]


def test_repeated_quiet_once_per_pass():
    tl = Timeline()
    for step in range(5):
        tl.op("transpose", 5000, shapes=((64, 32),), variables=("W#1",), step=step)
        tl.op("sum", 1000, phase="backward", step=step)
    assert "repeated" not in _rules(tl.run())[0]


def _two_layers(bwd_a, bwd_b):
    tl = Timeline()
    fa = tl.op("matmul", 1000, scope=("net", "a"), line=1)
    fb = tl.op("matmul", 1000, scope=("net", "b"), line=2)
    tl.op("scatter_add", bwd_b, phase="backward", scope=("net", "b"),
          forward_index=fb.index, src=fb.location)
    tl.op("matmul", bwd_a, phase="backward", scope=("net", "a"),
          forward_index=fa.index, src=fa.location)
    return tl.run()


def test_layer_dominating_backward():
    recs, _ = _rules(_two_layers(bwd_a=1000, bwd_b=20_000))
    r = recs["backward_layer"]
    assert r["where"] == "net.b"
    assert "(95%)" in r["evidence"][0]
    assert "20.0x" in r["evidence"][1]
    assert "scatter_add" in r["evidence"][2]
    assert "backward_layer" not in _rules(_two_layers(5000, 5000))[0]


def test_low_gflops_for_a_large_matmul():
    tl = Timeline()
    big = dict(shapes=((512, 512), (512, 512)), out_shape=(512, 512))
    # 268 MFLOP in 2 ms = 134 GFLOP/s (fast); in 100 ms = 2.7 GFLOP/s (slow)
    tl.op("matmul", 2_000_000, kernel=2_000_000, line=1, **big)
    tl.op("matmul", 100_000_000, kernel=100_000_000, line=2,
          dtypes=("float64", "float64"), **big)
    recs, _ = _rules(tl.run())
    r = recs["slow_matmul"]
    assert "f64" in r["title"] and "2.7 GFLOP/s" in r["evidence"][0]
    assert "134.2 GFLOP/s" in r["evidence"][1]
    assert "float32" in r["action"]
    tl2 = Timeline()
    tl2.op("matmul", 2_000_000, kernel=2_000_000, **big)
    assert "slow_matmul" not in _rules(tl2.run())[0]


def test_outside_ops_points_at_py_spy_functions():
    tl = Timeline()
    tl.op("add", 1000)
    tl.idle(9000)
    recs, _ = _rules(tl.run())
    assert "--py-spy" in recs["outside_ops"]["action"]
    # with py-spy samples outside ops the evidence names the function
    import os

    script = os.path.abspath("train.py")
    samples = (PySpySample((("<module>", script, 30), ("load_batch", script, 12)), 40),)
    run = tl.run(pyspy=PySpyData("ok", "", 100, samples))
    recs, rep = _rules(run)
    assert "load_batch train.py:12" in recs["outside_ops"]["evidence"][1]
    assert rep["pyspy"]["outside_samples"] == 40


def test_dispatch_overhead_overall():
    tl = Timeline()
    for i in range(250):
        tl.op("add", 2000, kernel=200, line=i)      # spread over many lines
    recs, _ = _rules(tl.run())
    assert "90% of in-op time is dispatch" in recs["dispatch_overhead"]["evidence"][0]


def test_recommendations_sorted_by_impact():
    tl = Timeline(gap=200)
    for _ in range(300):
        tl.op("add", 3000, kernel=500, line=17)
    tl.idle(10_000_000)
    _, rep = _rules(tl.run())
    impacts = [r["impact_ns"] for r in rep["recommendations"]]
    assert impacts == sorted(impacts, reverse=True) and len(impacts) >= 2


def test_repeated_quiet_for_an_evaluation_loop():
    """Many forward passes with no backward between them (evaluation):
    each pass recomputes the same Variable-only ops by design."""
    tl = Timeline()
    for step in range(2):
        tl.op("transpose", 5000, line=22, shapes=((64, 32),), variables=("W#1",),
              step=step)
        tl.op("sum", 1000, phase="backward", line=30, step=step)
    for _ in range(8):          # the evaluation after training
        tl.op("getitem", 5000, line=40, shapes=((16, 8),), variables=("pos#2",))
        tl.op("transpose", 5000, line=22, shapes=((64, 32),), variables=("W#1",))
    assert "repeated" not in _rules(tl.run())[0]
