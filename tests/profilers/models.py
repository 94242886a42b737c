"""A small model written with core ops, name scopes and a GradientTape
(independent of sample_models), for tests that profile real runs."""

from __future__ import annotations

import inspect

import core


class TinyNet:
    """net.enc (32->256), net.hidden (256->256, the big matmul), net.head."""

    def __init__(self, batch=64, width=256, dev=None):
        with core.device(dev or "cpu"):
            self.w1 = core.Variable(core.randn(32, width) * 0.1, name="w1")
            self.w2 = core.Variable(core.randn(width, width) * 0.05, name="w2")
            self.w3 = core.Variable(core.randn(width, 10) * 0.1, name="w3")
            self.x = core.randn(batch, 32)
        self.variables = [self.w1, self.w2, self.w3]

    def __call__(self, x):
        with core.scope("net"):
            with core.scope("enc"):
                h = core.relu(x @ self.w1)
            with core.scope("hidden"):
                for _ in range(4):
                    h = core.tanh(h @ self.w2)          # HIDDEN_LINE
            with core.scope("head"):
                y = h @ self.w3
        return y

    def step(self, lr=0.01):
        with core.GradientTape() as tape:
            y = self(self.x)
            loss = core.mean(y * y)
        grads = tape.gradient(loss, self.variables)
        for v, g in zip(self.variables, grads):
            v.assign_sub(g * lr)
        return loss


def _line_of(marker):
    src, start = inspect.getsourcelines(TinyNet)
    for i, line in enumerate(src):
        if marker in line:
            return start + i
    raise AssertionError(marker)


HIDDEN_LINE = _line_of("# HIDDEN_LINE")
