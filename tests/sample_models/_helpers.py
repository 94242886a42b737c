"""Helpers shared by the sample-model tests."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import core

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class OpLog:
    """A hook that keeps (name, phase, scope) of every op."""

    def __init__(self):
        self.ops = []

    def after_op(self, ev):
        self.ops.append((ev.name, ev.phase, ev.scope))

    def forward(self):
        return [op for op in self.ops if op[1] == "forward"]


def losses(trainer, steps):
    """The floats (or dicts of floats) ``trainer.step()`` returns."""
    return [trainer.step() for _ in range(steps)]


def all_finite(values):
    flat = []
    for v in values:
        flat.extend(v.values() if isinstance(v, dict) else [v])
    return all(isinstance(x, float) and math.isfinite(x) for x in flat)


def scopes_under(trainer, root):
    """Scopes of the forward ops one training step runs inside ``root``."""
    log = OpLog()
    with core.hooks.attached(log):
        trainer.step()
    return log, {op[2] for op in log.forward() if op[2][:1] == (root,)}


def run_script(name, *args, timeout=120):
    """Run ``python sample_models/NAME.py ARGS`` from another directory."""
    env = dict(os.environ, CORE_DEVICE="cpu")
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "sample_models", f"{name}.py"),
         *args], cwd=os.path.dirname(ROOT), env=env, capture_output=True,
        text=True, timeout=timeout)
