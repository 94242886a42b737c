"""core.metrics: streaming values, reset, subclassing, state in Variables."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import metrics


def test_mean_streams_and_weights():
    m = metrics.Mean()
    m.update(core.tensor([1.0, 2.0, 3.0]))
    m.update(5.0)
    assert float(m.result()) == pytest.approx(11 / 4)
    assert float(m([10.0])) == pytest.approx(21 / 5)      # update + result
    m.reset()
    assert float(m.result()) == 0.0
    m.update([1.0, 3.0], sample_weight=[3.0, 1.0])
    assert float(m.result()) == pytest.approx(1.5)
    assert all(isinstance(v, core.Variable) and not v.trainable
               for v in m.variables)


def test_accuracy_variants():
    acc = metrics.Accuracy()
    acc.update([1, 2, 3], [1, 2, 0])
    assert float(acc.result()) == pytest.approx(2 / 3)
    acc.update(np.array([0, 1]), core.tensor([[0.9, 0.1], [0.8, 0.2]]))  # scores
    assert float(acc.result()) == pytest.approx(3 / 5)
    acc.reset()
    acc.update([1, 0, 1, 1], [0.7, 0.2, 0.4, 0.9])                    # probabilities
    assert float(acc.result()) == pytest.approx(0.75)
    with pytest.raises(core.ShapeError):
        acc.update([1, 2], [1, 2, 3])


def test_sparse_categorical_accuracy_and_categorical():
    sca = metrics.SparseCategoricalAccuracy()
    logits = core.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 5.0, 0.0]])
    assert float(sca(core.tensor([0, 2, 0]), logits)) == pytest.approx(2 / 3)
    assert float(sca([[1]], [[0.0, 1.0, 0.0]])) == pytest.approx(3 / 4)
    with pytest.raises(core.ShapeError):
        sca([0, 1], logits)
    ca = metrics.CategoricalAccuracy()
    assert float(ca(np.eye(3)[[0, 2, 0]], logits)) == pytest.approx(2 / 3)


def test_a_user_metric_in_a_few_lines():
    class MaxAbs(metrics.Metric):
        def __init__(self):
            super().__init__()
            self.value = self.add_state("value", 0.0)

        def update(self, x):
            self.value.assign(max(float(self.value.numpy()),
                                  float(np.abs(np.asarray(x)).max())))

        def result(self):
            return self.value.value

    m = MaxAbs()
    m.update([1.0, -4.0])
    m.update([2.0])
    assert float(m.result()) == 4.0
    m.reset()
    assert float(m.result()) == 0.0
    assert "maxabs" in repr(m)


def test_metric_state_round_trips_through_a_checkpoint(tmp_path):
    m = metrics.Mean()
    m.update([2.0, 4.0])
    core.Checkpoint(metric=m).save(tmp_path / "m.ckpt")
    m2 = metrics.Mean()
    status = core.Checkpoint(metric=m2).restore(tmp_path / "m.ckpt")
    assert sorted(status.matched) == ["metric/count", "metric/total"]
    assert float(m2.result()) == 3.0
