"""sample_models/gan.py: GAN on a 2-D Gaussian mixture, with checkpoints."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

from sample_models import gan
from tests.sample_models._helpers import (
    all_finite, losses, run_script, scopes_under,
)

import core


def _paths_in(ckpt):
    with zipfile.ZipFile(ckpt) as zf:
        return [e["path"] for e in json.loads(zf.read("meta.json"))["entries"]]


def test_mixture_data_sits_on_the_modes():
    pts = gan.mixture(np.random.default_rng(0), 4000)
    covered, near = gan.sample_quality(pts)
    assert covered == gan.MODES and near > 0.98
    # a blob at the origin is far from every mode
    blob = np.random.default_rng(0).normal(0, 0.3, (1000, 2)).astype(np.float32)
    assert gan.sample_quality(blob) == (0, 0.0)


def test_steps_are_deterministic_finite_and_scoped():
    first = losses(gan.make_trainer(seed=5), 3)
    assert first == losses(gan.make_trainer(seed=5), 3)
    assert all_finite(first) and set(first[0]) == {"d_loss", "g_loss"}
    _, scopes = scopes_under(gan.make_trainer(seed=5), "generator")
    assert ("generator", "layers", "0") in scopes
    _, scopes = scopes_under(gan.make_trainer(seed=5), "discriminator")
    assert ("discriminator", "layers", "2") in scopes


def test_each_step_updates_both_networks():
    trainer = gan.make_trainer(seed=0)
    g0 = [v.numpy().copy() for v in trainer.model.generator.trainable_variables]
    d0 = [v.numpy().copy() for v in trainer.model.discriminator.trainable_variables]
    trainer.step()
    for before, v in zip(g0 + d0, trainer.model.generator.trainable_variables
                         + trainer.model.discriminator.trainable_variables):
        assert not np.array_equal(before, v.numpy())


def test_checkpoints_are_separate_and_generator_reloads_alone(tmp_path):
    trainer = gan.make_trainer(seed=0)
    losses(trainer, 5)
    g_path, d_path = gan.save_checkpoints(trainer.model, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["discriminator.ckpt",
                                            "generator.ckpt"]
    g_entries, d_entries = _paths_in(g_path), _paths_in(d_path)
    assert len(g_entries) == 6 and len(d_entries) == 6
    assert all(p.startswith("generator/") for p in g_entries)
    assert all(p.startswith("discriminator/") for p in d_entries)

    core.random.seed(123)          # a fresh generator starts elsewhere ...
    fresh = gan.Generator()
    original = gan.sample(trainer.model.generator, 500)
    assert not np.array_equal(gan.sample(fresh, 500), original)
    reloaded = gan.load_generator(g_path)          # ... until restored
    assert np.array_equal(gan.sample(reloaded, 500), original)
    with pytest.raises(core.CheckpointError):
        gan.load_generator(d_path)                 # D's file holds no G


def test_main_round_trips_and_reports_modes(tmp_path, capsys):
    assert gan.main(["--steps", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "reproduces the samples" in out[-1]
    assert "modes covered" in out[-1]
    assert (tmp_path / "generator.ckpt").exists()


@pytest.mark.slow
def test_quality_covers_the_modes():
    trainer = gan.make_trainer(seed=0)
    untrained = trainer.evaluate()
    losses(trainer, 800)
    q = trainer.evaluate()
    assert q["modes"] >= 6, q
    assert q["near"] >= 0.5 and q["near"] > 3 * untrained["near"], (q, untrained)


def test_runs_as_a_script():
    proc = run_script("gan", "--steps", "2")
    assert proc.returncode == 0, proc.stderr
    assert "reproduces the samples" in proc.stdout
