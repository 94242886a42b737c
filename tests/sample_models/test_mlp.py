"""sample_models/mlp.py: spiral MLP (the workbench demo's model)."""

from __future__ import annotations

import numpy as np
import pytest

from sample_models import mlp
from tests.sample_models._helpers import (
    all_finite, losses, run_script, scopes_under,
)


def test_spiral_data_is_balanced_seeded_and_split():
    a, b = mlp.make_data(0), mlp.make_data(0)
    assert np.array_equal(a["x_train"], b["x_train"])
    assert not np.array_equal(a["x_train"], mlp.make_data(1)["x_train"])
    assert a["x_train"].shape == (500 * mlp.CLASSES, 2)
    assert a["x_train"].dtype == np.float32 and a["y_train"].dtype == np.int64
    assert np.bincount(a["y_test"]).tolist() == [250] * mlp.CLASSES
    assert not np.array_equal(a["x_train"][:1000], a["x_test"])


def test_steps_are_deterministic_and_finite():
    first = losses(mlp.make_trainer(seed=3), 4)
    assert first == losses(mlp.make_trainer(seed=3), 4)
    assert first != losses(mlp.make_trainer(seed=4), 4)
    assert all_finite(first)


def test_first_op_is_the_first_dense_matmul_with_module_scopes():
    trainer = mlp.make_trainer(seed=0)
    log, scopes = scopes_under(trainer, "mlp")
    name, phase, scope = log.ops[0]
    assert (name, phase, scope) == ("matmul", "forward", ("mlp", "layers", "0"))
    assert {("mlp", "layers", str(i)) for i in range(3)} <= scopes
    assert any(op[1] == "backward" for op in log.ops)


def test_training_lowers_the_loss_and_updates_every_variable():
    trainer = mlp.make_trainer(seed=0)
    before = [v.numpy().copy() for v in trainer.model.trainable_variables]
    start = np.mean(losses(trainer, 5))
    end = np.mean(losses(trainer, 150)[-5:])
    assert end < 0.8 * start
    after = trainer.model.trainable_variables
    assert len(after) == 6
    assert all(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))


def test_main_prints_progress_and_a_final_accuracy_line(capsys):
    assert mlp.main(["--steps", "4", "--log-every", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("mlp: step 2/4  loss ")
    assert lines[1].startswith("mlp: step 4/4  loss ")
    assert lines[-1].startswith("mlp: test accuracy ")
    assert "held-out points" in lines[-1]


def test_bad_steps_argument_is_refused(capsys):
    with pytest.raises(SystemExit):
        mlp.main(["--steps", "0"])
    assert "--steps must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_quality_reaches_95_percent_test_accuracy():
    trainer = mlp.make_trainer(seed=0)
    losses(trainer, 500)
    acc = trainer.evaluate()
    assert acc >= 0.95, acc


def test_runs_as_a_script_from_another_directory():
    proc = run_script("mlp", "--steps", "3", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    assert "mlp: test accuracy" in proc.stdout
