"""Every sample model trains on the simulated GPU exactly as on the CPU."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import core
from tests.sample_models._helpers import losses

MODELS = ("mlp", "cnn", "rnn", "gan", "transformer")


def _flat(values):
    out = []
    for v in values:
        out.extend(sorted(v.items()) if isinstance(v, dict) else [("loss", v)])
    return np.array([x for _, x in out])


@pytest.mark.parametrize("name", MODELS)
def test_trains_on_the_simulated_gpu_like_on_the_cpu(name, sim_gpu):
    mod = importlib.import_module(f"sample_models.{name}")
    data = mod.make_data(0)
    on_cpu = losses(mod.make_trainer(seed=0, data=data), 2)
    with core.device("gpu"):
        trainer = mod.make_trainer(seed=0, data=data)
        on_gpu = losses(trainer, 2)
        assert all(v.device == sim_gpu
                   for v in trainer.model.trainable_variables)
    np.testing.assert_allclose(_flat(on_gpu), _flat(on_cpu), rtol=1e-4,
                               atol=1e-5)
