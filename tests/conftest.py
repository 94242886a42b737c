"""Shared fixtures: seeded RNG, the simulated GPU, and clean engine state."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

os.environ.setdefault("CORE_DEVICE", "cpu")

import core  # noqa: E402
from core import _dispatch  # noqa: E402


@pytest.fixture(autouse=True)
def _engine_state():
    """Every test starts seeded, on the CPU, with no hooks or tapes."""
    core.random.seed(0)
    np.random.seed(0)
    yield
    leaked = list(_dispatch.hooks)
    _dispatch.hooks.clear()
    _dispatch.refresh_hooks()
    _dispatch.tapes = ()
    _dispatch.grad_enabled = True
    _dispatch.scope = ()
    _dispatch.phase = "forward"
    _dispatch.forward_index = None
    assert not leaked, f"test left hooks registered: {leaked}"


@pytest.fixture
def sim_gpu():
    """The simulated GPU as 'gpu' (numpy underneath, its own array type)."""
    core.devices.enable_simulated_gpu(True)
    yield core.get_device("gpu")
    core.devices.enable_simulated_gpu(False)
