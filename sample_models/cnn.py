"""Convolutional classifier on generated 16x16 images of simple shapes.

    python sample_models/cnn.py [--steps 400] [--seed 0]

Each image holds one shape — a square outline, a ring, a filled triangle
or a plus sign — of random size, position and brightness, with Gaussian
pixel noise.  The model ("cnn") is Conv2D(1, 8, 3) - ReLU - MaxPool 2 -
Conv2D(8, 16, 3) - ReLU - MaxPool 2 - Flatten - Dense(256, 4), trained
with Adam on softmax cross-entropy.  The final line reports test accuracy
on held-out images (target: >= 90 %).

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

SHAPES = ("square", "ring", "triangle", "plus")
SIZE = 16
STEPS = 400
BATCH = 32
LR = 0.005
TARGET = 0.90


def shape_images(rng, n, size=SIZE, noise=0.15):
    """(images (n, 1, size, size) float32, labels (n,) int64)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.zeros((n, 1, size, size), np.float32)
    labels = rng.integers(0, len(SHAPES), n)
    for i, k in enumerate(labels):
        s = rng.uniform(3.0, 6.0)                        # half-size in pixels
        cy, cx = rng.uniform(s + 0.5, size - s - 1.5, 2)
        dy, dx = yy - cy, xx - cx
        if k == 0:                                       # square outline
            mask = np.abs(np.maximum(np.abs(dy), np.abs(dx)) - s) < 0.6
        elif k == 1:                                     # ring
            mask = np.abs(np.sqrt(dy * dy + dx * dx) - s) < 0.7
        elif k == 2:                                     # triangle, apex up
            mask = (np.abs(dy) <= s) & (np.abs(dx) <= (dy + s) / 2)
        else:                                            # plus sign
            mask = (((np.abs(dx) < 0.8) & (np.abs(dy) <= s))
                    | ((np.abs(dy) < 0.8) & (np.abs(dx) <= s)))
        images[i, 0] = mask * rng.uniform(0.6, 1.0)
    images += rng.normal(0.0, noise, images.shape).astype(np.float32)
    return images, labels.astype(np.int64)


def make_data(seed=0, n_train=2000, n_test=500):
    """Train and test images as numpy arrays."""
    rng = np.random.default_rng([seed, 2])
    x_train, y_train = shape_images(rng, n_train)
    x_test, y_test = shape_images(rng, n_test)
    return {"x_train": x_train, "y_train": y_train,
            "x_test": x_test, "y_test": y_test}


class CNN(nn.Module):
    """Two conv/ReLU/pool stages and a Dense classifier head."""

    def __init__(self, channels=(8, 16), classes=len(SHAPES), name="cnn"):
        super().__init__(name=name)
        c1, c2 = channels
        self.conv1 = nn.Conv2D(1, c1, 3, padding=1)
        self.pool1 = nn.MaxPool2D(2)
        self.conv2 = nn.Conv2D(c1, c2, 3, padding=1)
        self.pool2 = nn.MaxPool2D(2)
        self.flatten = nn.Flatten()
        self.head = nn.Dense(c2 * (SIZE // 4) ** 2, classes)

    def forward(self, x):
        h = self.pool1(core.relu(self.conv1(x)))
        h = self.pool2(core.relu(self.conv2(h)))
        return self.head(self.flatten(h))


def build_model():
    return CNN()


def make_optimizer(model):
    return core.optim.Adam(model.trainable_variables, lr=LR)


def train_step(model, opt, batch):
    """One Adam step on ``batch = (images, labels)``; returns the loss."""
    x, y = batch
    variables = model.trainable_variables
    with core.GradientTape() as tape:
        loss = core.losses.softmax_cross_entropy(model(x), y)
    grads = tape.gradient(loss, variables)
    opt.apply_gradients(zip(grads, variables))
    return loss.item()


def predict(model, images, batch=250):
    """Class ids for numpy ``images``."""
    out = []
    with core.no_grad():
        for i in range(0, len(images), batch):
            logits = model(core.tensor(images[i:i + batch]))
            out.append(core.argmax(logits, axis=-1).numpy())
    return np.concatenate(out)


def evaluate(model, data):
    """Test accuracy in [0, 1]."""
    return float((predict(model, data["x_test"]) == data["y_test"]).mean())


class Trainer(ArrayTrainer):
    """The shape classifier's model, optimizer and batch stream."""

    batch_size = BATCH
    parts = Parts(make_data, build_model, make_optimizer, train_step, evaluate)


def make_trainer(seed=0, data=None):
    return Trainer(seed, data)


def main(argv=None):
    trainer, _ = run(argv, "cnn", "CNN on generated 16x16 shape images",
                     STEPS, make_trainer)
    acc = trainer.evaluate()
    n = len(trainer.data["y_test"])
    verdict = "meets" if acc >= TARGET else "below"
    print(f"cnn: test accuracy {acc:.1%} on {n} held-out images of "
          f"{len(SHAPES)} shapes ({verdict} the {TARGET:.0%} target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
