"""Self-measurement: the replay of the run's own ops."""

from __future__ import annotations

import numpy as np

import core
from profilers import Profiler
from profilers.calibrate import (
    REPLAY_CHUNK, REPLAY_OPS, _replay_ops, calibrate, replay_sample,
)


def test_replay_sample_spreads_chunks_over_the_run():
    assert replay_sample(10) == list(range(10))
    n = 10_000
    pos = replay_sample(n)
    assert len(pos) == REPLAY_OPS and pos == sorted(set(pos))
    assert pos[0] == 0 and pos[-1] == n - 1          # both ends covered
    # runs of consecutive ops (a layer's op mix stays together)
    starts = [p for i, p in enumerate(pos) if i == 0 or pos[i - 1] != p - 1]
    assert len(starts) == REPLAY_OPS // REPLAY_CHUNK


def test_training_run_is_calibrated_on_its_own_ops():
    w = core.Variable(core.randn(64, 64) * 0.1, name="w")
    x = core.randn(32, 64)
    with Profiler() as prof:
        for _ in range(3):
            with core.GradientTape() as tape:
                loss = core.sum(core.tanh(x @ w))
            tape.gradient(loss, [w])
    run = prof.run
    ov = run.overhead
    assert ov.method.startswith("calibrated on cpu: replay of ")
    n_replayed = int(ov.method.split("replay of ")[1].split()[0])
    assert n_replayed == len(run.records)     # few ops: all of them
    d = dict(ov.details)
    assert 0.5 <= d["scale"] <= 4.0
    assert ov.per_op_ns > 0 and 0 <= ov.in_op_ns <= ov.per_op_ns


def _spec(name, operands, out, attrs=None, phase="forward"):
    f32 = np.dtype("float32")
    return (name, core.devices.CPU,
            tuple((shape, f32, None) for shape in operands), attrs or {},
            phase, 1000, out, f32)


def test_replay_runs_the_dispatch_not_the_kernels():
    x = core.ones((8, 8))
    with Profiler(calibrate=False) as prof:
        core.dropout(x, 0.5)
        core.exp(x)
    recs = prof.run.records
    assert "dropout_mask" in [r.name for r in recs]
    dev = core.devices.CPU
    specs = [(r.name, dev, tuple((s, np.dtype(t), None) if s is not None
                                 else (s, None, None)
                                 for s, t in zip(r.shapes, r.dtypes)),
              dict(r.attrs), r.phase, 1000, r.out_shape,
              np.dtype(r.out_dtype)) for r in recs]
    huge = (100_000, 100_000)                  # 40 GB if it were allocated
    specs.append(_spec("matmul", [huge, huge], huge))
    specs.append(_spec("no_such_op", [(2,)], (2,)))          # left out
    specs.append(_spec("exp", [(-1,)], (-1,)))               # left out
    core.random.seed(7)
    expected = core.rand(4).numpy()
    core.random.seed(7)
    seen = []

    class Spy:
        def after_op(self, ev):
            seen.append((ev.name, ev.inputs[0].shape, ev.outputs[0].shape))

    body = _replay_ops(specs)
    kept = len(recs) + 1
    assert body.ops == kept and len(body.windows) == kept
    with core.hooks.attached(Spy()):
        body(2)
    # the kernels did not run: no random numbers drawn, no 40 GB product
    np.testing.assert_array_equal(core.rand(4).numpy(), expected)
    assert ("matmul", huge, huge) in seen
    assert [s[0] for s in seen] == 2 * ([r.name for r in recs] + ["matmul"])
    # nothing to replay: the tiny workloads take over
    ov = calibrate(dev, replay=[specs[-1]], rounds=2, n=30)
    assert "tiny forward ops" in ov.method


def test_replay_on_the_simulated_gpu(sim_gpu):
    from tests.profilers.models import TinyNet

    net = TinyNet(batch=8, width=16, dev="gpu")
    x = core.ones((4, 4))
    with Profiler(memory=True) as prof:
        net.step()
        core.exp(x.to("gpu")).to("cpu")           # transfers replay too
    ov = prof.run.overhead
    assert ov.method.startswith("calibrated on gpu:0: replay of ")
    assert ov.per_op_ns > 0
