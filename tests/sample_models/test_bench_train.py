"""benchmarks/bench_train.py: the implementations it races compute the same
training run (so the speed table compares like with like)."""

from __future__ import annotations

import importlib.util
import os

import pytest

from tests.sample_models._helpers import ROOT


def _bench():
    path = os.path.join(ROOT, "benchmarks", "bench_train.py")
    spec = importlib.util.spec_from_file_location("bench_train", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ours_and_numpy_follow_the_same_trajectory():
    b = _bench()
    weights, xs, ys = b.make_problem()
    impls = [b.OursMLP(weights, xs, ys, "tape"),
             b.OursMLP(weights, xs, ys, "backward"),
             b.NumpyMLP(weights, xs, ys)]
    seen = []
    for step in range(9):               # step 8 sees batch 0 again
        for impl in impls:
            impl.step()
        ref = impls[-1].loss()
        seen.append(ref)
        for impl in impls[:-1]:
            assert impl.loss() == pytest.approx(ref, rel=1e-4), (step, impl.name)
    assert seen[8] < seen[0]            # the same batch, after 8 SGD steps


def test_torch_follows_the_same_trajectory():
    b = _bench()
    if b.torch is None:
        pytest.skip("torch is not importable")
    weights, xs, ys = b.make_problem()
    ours, theirs = b.OursMLP(weights, xs, ys, "tape"), b.TorchMLP(weights, xs, ys)
    for _ in range(3):
        ours.step()
        theirs.step()
    assert ours.loss() == pytest.approx(theirs.loss(), rel=1e-4)


def test_main_prints_one_table_with_ratios(capsys):
    b = _bench()
    assert b.main(["--repeats", "1", "--steps", "2", "--no-samples",
                   "--only", "tape", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "ours (GradientTape + apply_gradients)" in out
    assert "numpy (hand-written)" in out
    assert "/numpy" in out and "targets:" in out


def test_sample_model_step_times_are_measured():
    b = _bench()
    times = b.sample_model_times(steps=1, repeats=1)
    assert set(times) == set(b.SAMPLE_MODELS)
    for name, (sec, err) in times.items():
        assert err is None, (name, err)
        assert sec > 0
