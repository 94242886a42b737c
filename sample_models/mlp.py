"""MLP classifier on a generated four-class spiral.

    python sample_models/mlp.py [--steps 1500] [--seed 0]

Points on four interleaved spiral arms (1.5 turns, angular noise) are
classified by a 2-64-64-4 ReLU MLP ("mlp", layers "layers.0" ..
"layers.2") trained with Adam on softmax cross-entropy.  The final line
reports test accuracy on held-out points (target: >= 95 %).

Importable pieces: ``make_data``, ``build_model``, ``make_optimizer``,
``train_step``, ``evaluate``, ``make_trainer``, ``main``.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):   # run as a script: make `core` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import core  # noqa: E402
from core import nn  # noqa: E402
from sample_models._common import ArrayTrainer, Parts, run  # noqa: E402

CLASSES = 4
HIDDEN = 64
STEPS = 1500
BATCH = 64
LR = 0.01
TARGET = 0.95


def spiral(rng, n_per_class, classes=CLASSES, noise=0.2, turns=1.5):
    """(x (n, 2) float32, y (n,) int64): ``classes`` interleaved spiral arms."""
    xs, ys = [], []
    for k in range(classes):
        r = rng.uniform(0.05, 1.0, n_per_class)
        theta = (2 * np.pi * k / classes + 2 * np.pi * turns * r
                 + rng.normal(0.0, noise, n_per_class))
        xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
        ys.append(np.full(n_per_class, k))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys).astype(np.int64)
    order = rng.permutation(len(y))
    return x[order], y[order]


def make_data(seed=0, n_train=500, n_test=250):
    """Train and test spirals (``n_*`` points per class), as numpy arrays."""
    rng = np.random.default_rng([seed, 1])
    x_train, y_train = spiral(rng, n_train)
    x_test, y_test = spiral(rng, n_test)
    return {"x_train": x_train, "y_train": y_train,
            "x_test": x_test, "y_test": y_test}


class MLP(nn.Module):
    """Dense layers with ReLU between them; the last one gives logits."""

    def __init__(self, sizes=(2, HIDDEN, HIDDEN, CLASSES), name="mlp"):
        super().__init__(name=name)
        last = len(sizes) - 2
        self.layers = [
            nn.Dense(n_in, n_out, activation=None if i == last else "relu")
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]

    def forward(self, x):
        h = x
        for layer in self.layers:
            h = layer(h)
        return h


def build_model():
    return MLP()


def make_optimizer(model):
    return core.optim.Adam(model.trainable_variables, lr=LR)


def train_step(model, opt, batch):
    """One Adam step on ``batch = (x, y)``; returns the loss as a float."""
    x, y = batch
    variables = model.trainable_variables
    with core.GradientTape() as tape:
        logits = model(x)
        loss = core.losses.softmax_cross_entropy(logits, y)
    grads = tape.gradient(loss, variables)
    opt.apply_gradients(zip(grads, variables))
    return loss.item()


def predict(model, x):
    """Class ids for numpy points ``x``."""
    with core.no_grad():
        logits = model(core.tensor(x))
    return core.argmax(logits, axis=-1).numpy()


def evaluate(model, data):
    """Test accuracy in [0, 1]."""
    return float((predict(model, data["x_test"]) == data["y_test"]).mean())


class Trainer(ArrayTrainer):
    """The spiral classifier's model, optimizer and batch stream."""

    batch_size = BATCH
    parts = Parts(make_data, build_model, make_optimizer, train_step, evaluate)


def make_trainer(seed=0, data=None):
    return Trainer(seed, data)


def main(argv=None):
    trainer, _ = run(argv, "mlp", "MLP on a generated four-class spiral",
                     STEPS, make_trainer)
    acc = trainer.evaluate()
    n = len(trainer.data["y_test"])
    verdict = "meets" if acc >= TARGET else "below"
    print(f"mlp: test accuracy {acc:.1%} on {n} held-out points "
          f"({verdict} the {TARGET:.0%} target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
