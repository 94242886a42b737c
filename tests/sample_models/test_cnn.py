"""sample_models/cnn.py: Conv2D/pooling classifier on generated shapes."""

from __future__ import annotations

import numpy as np
import pytest

from sample_models import cnn
from tests.sample_models._helpers import (
    all_finite, losses, run_script, scopes_under,
)


def test_shape_images_cover_every_class_and_are_seeded():
    rng = np.random.default_rng(0)
    x, y = cnn.shape_images(rng, 400)
    assert x.shape == (400, 1, cnn.SIZE, cnn.SIZE) and x.dtype == np.float32
    counts = np.bincount(y, minlength=len(cnn.SHAPES))
    assert counts.min() > 60
    # every image has a visible shape on a mostly dark, noisy background
    bright = (x > 0.5).sum(axis=(1, 2, 3))
    assert bright.min() >= 8
    assert bright.max() < 0.5 * cnn.SIZE ** 2
    assert 0.1 < float(x[x < 0.3].std()) < 0.2
    again = cnn.make_data(0)
    assert np.array_equal(again["x_train"], cnn.make_data(0)["x_train"])


def test_steps_are_deterministic_and_finite():
    first = losses(cnn.make_trainer(seed=1), 3)
    assert first == losses(cnn.make_trainer(seed=1), 3)
    assert all_finite(first)


def test_ops_carry_module_scopes_and_include_conv_and_pool():
    trainer = cnn.make_trainer(seed=0)
    log, scopes = scopes_under(trainer, "cnn")
    names = {op[0] for op in log.forward()}
    assert {"conv2d", "max_pool2d", "relu", "matmul"} <= names
    assert {("cnn", "conv1"), ("cnn", "conv2"), ("cnn", "pool1"),
            ("cnn", "head")} <= scopes
    assert log.ops[0][:3] == ("conv2d", "forward", ("cnn", "conv1"))


def test_main_prints_a_final_accuracy_line(capsys):
    assert cnn.main(["--steps", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].startswith("cnn: step 2/2  loss ")
    assert out[-1].startswith("cnn: test accuracy ")


@pytest.mark.slow
def test_quality_reaches_90_percent_test_accuracy():
    trainer = cnn.make_trainer(seed=0)
    losses(trainer, 250)
    acc = trainer.evaluate()
    assert acc >= 0.90, acc


def test_runs_as_a_script():
    proc = run_script("cnn", "--steps", "2")
    assert proc.returncode == 0, proc.stderr
    assert "cnn: test accuracy" in proc.stdout
