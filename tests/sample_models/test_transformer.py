"""sample_models/transformer.py: tiny character-level transformer."""

from __future__ import annotations

import numpy as np
import pytest

from sample_models import transformer as tf
from tests.sample_models._helpers import (
    all_finite, losses, run_script, scopes_under,
)

import core


def test_text_vocab_and_entropy():
    data = tf.make_data(0)
    assert data["train"].dtype == np.int64
    text = "".join(data["vocab"][i] for i in data["train"][:200])
    assert text.split(" ")[0] in {s.split()[0] for s in tf.SUBJECTS}
    assert "." in text
    h = data["unigram_entropy"]
    assert 2.0 < h < np.log(len(data["vocab"]))
    assert tf.unigram_entropy(np.array([0, 1, 0, 1]), 2) == pytest.approx(np.log(2))


def test_model_is_causal():
    """Changing later characters never changes earlier predictions."""
    core.random.seed(0)
    model = tf.build_model(20)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 20, (2, tf.CONTEXT))
    b = a.copy()
    b[:, 20:] = rng.integers(0, 20, (2, tf.CONTEXT - 20))
    with core.no_grad():
        la = model(core.tensor(a)).numpy()
        lb = model(core.tensor(b)).numpy()
    np.testing.assert_allclose(la[:, :20], lb[:, :20], rtol=1e-5, atol=1e-5)
    assert not np.allclose(la[:, 21:], lb[:, 21:])


def test_context_too_long_is_refused():
    core.random.seed(0)
    model = tf.build_model(5)
    with pytest.raises(ValueError, match="longer than the context"):
        model(core.tensor(np.zeros((1, tf.CONTEXT + 1), np.int64)))


def test_steps_are_deterministic_finite_and_scoped():
    first = losses(tf.make_trainer(seed=0), 2)
    assert first == losses(tf.make_trainer(seed=0), 2)
    assert all_finite(first)
    log, scopes = scopes_under(tf.make_trainer(seed=0), "transformer")
    names = {op[0] for op in log.forward()}
    assert {"softmax", "matmul"} <= names          # attention
    assert {("transformer", "blocks", "0", "attn"),
            ("transformer", "blocks", "1", "ln2"),
            ("transformer", "head")} <= scopes


def test_main_prints_sample_and_loss_vs_entropy(capsys):
    assert tf.main(["--steps", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2].startswith("transformer: sample 'the ")
    assert out[-1].startswith("transformer: held-out loss ")
    assert "unigram entropy" in out[-1]


@pytest.mark.slow
def test_quality_loss_falls_well_below_unigram_entropy():
    trainer = tf.make_trainer(seed=0)
    h = trainer.data["unigram_entropy"]
    assert trainer.evaluate() > 0.9 * h            # untrained: no better
    losses(trainer, 150)
    loss = trainer.evaluate()
    assert loss < tf.TARGET * h, (loss, h)


def test_runs_as_a_script():
    proc = run_script("transformer", "--steps", "2")
    assert proc.returncode == 0, proc.stderr
    assert "held-out loss" in proc.stdout
