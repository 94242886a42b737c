"""sample_models/rnn.py: LSTM over variable-length bracket strings."""

from __future__ import annotations

import numpy as np
import pytest

from sample_models import rnn
from tests.sample_models._helpers import (
    OpLog, all_finite, losses, run_script, scopes_under,
)

import core


def test_bracket_data_is_half_balanced_with_correct_labels():
    rng = np.random.default_rng(0)
    tokens, lengths, labels = rnn.bracket_strings(rng, 300)
    assert labels.mean() == 0.5
    assert set(np.unique(lengths)) <= set(range(2, rnn.MAX_LEN + 1, 2))
    assert len(np.unique(lengths)) > 5
    for t, n, y in zip(tokens, lengths, labels):
        assert rnn.is_balanced(t[:n].tolist()) == bool(y)
        assert not t[n:].any()                      # padding
    assert rnn.is_balanced([0, 0, 1, 1]) and not rnn.is_balanced([1, 0])
    assert not rnn.is_balanced([0, 1, 1, 0])


def test_packed_loop_matches_running_each_sequence_alone():
    """Mixed lengths in one batch give each string the logit it gets alone."""
    core.random.seed(0)
    model = rnn.build_model()
    rng = np.random.default_rng(1)
    tokens, lengths, labels = rnn.bracket_strings(rng, 12)
    batch = rnn.make_batch(tokens, lengths, labels)
    together = model(batch[0], batch[1]).numpy()
    order = np.argsort(-lengths, kind="stable")
    for j, i in enumerate(order):
        alone = model(core.tensor(tokens[i:i + 1, :lengths[i]]),
                      [int(lengths[i])]).numpy()
        np.testing.assert_allclose(together[j], alone[0], rtol=1e-5, atol=1e-6)


def test_op_count_follows_the_python_control_flow():
    """A batch whose strings are shorter runs fewer cell steps."""
    core.random.seed(0)
    model = rnn.build_model()

    def sigmoid_count(lengths):
        tokens = np.zeros((len(lengths), max(lengths)), np.int64)
        log = OpLog()
        with core.hooks.attached(log):
            model(core.tensor(tokens), lengths)
        return sum(1 for op in log.ops if op[0] == "sigmoid")

    assert sigmoid_count([20, 4]) == 3 * 20
    assert sigmoid_count([6, 6]) == 3 * 6


def test_unsorted_or_mismatched_lengths_are_refused():
    core.random.seed(0)
    model = rnn.build_model()
    tokens = core.tensor(np.zeros((2, 6), np.int64))
    with pytest.raises(ValueError, match="sorted longest first"):
        model(tokens, [4, 6])
    with pytest.raises(ValueError, match="do not hold"):
        model(tokens, [8, 2])


def test_steps_are_deterministic_finite_and_scoped():
    first = losses(rnn.make_trainer(seed=2), 3)
    assert first == losses(rnn.make_trainer(seed=2), 3)
    assert all_finite(first)
    _, scopes = scopes_under(rnn.make_trainer(seed=2), "rnn")
    assert {("rnn", "embed"), ("rnn", "cell"), ("rnn", "cell", "gates"),
            ("rnn", "head")} <= scopes


def test_main_prints_a_final_accuracy_line(capsys):
    assert rnn.main(["--steps", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("rnn: test accuracy ")
    assert "chance 50%" in out[-1]


@pytest.mark.slow
def test_quality_clearly_beats_chance():
    trainer = rnn.make_trainer(seed=0)
    assert abs(trainer.evaluate() - 0.5) < 0.1       # untrained: about chance
    losses(trainer, 120)
    acc = trainer.evaluate()
    assert acc >= rnn.TARGET, acc


def test_runs_as_a_script():
    proc = run_script("rnn", "--steps", "2")
    assert proc.returncode == 0, proc.stderr
    assert "rnn: test accuracy" in proc.stdout
