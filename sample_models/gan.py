"""GAN on a 2-D mixture of eight Gaussians on a ring.

    python sample_models/gan.py [--steps 1200] [--seed 0] [--out DIR]

A generator ("generator": noise (4) -> 64 -> 64 -> 2) and a discriminator
("discriminator": 2 -> 64 -> 64 -> 1 logit) play the non-saturating GAN
game with Adam (lr 2e-3, beta1 0.5).  After training, G and D are saved
to two separate checkpoints (``core.Checkpoint``) in ``--out`` (default: a
temporary directory); a fresh generator is restored from G's file alone
and must reproduce the trained generator's samples exactly.  The final
line reports how many of the eight modes the samples cover and the share
of samples within 3 standard deviations of a mode.

Importable pieces: ``make_data``, ``build_model``, ``make_optimizer``,
``train_step``, ``evaluate``, ``save_checkpoints``, ``load_generator``,
``make_trainer``, ``main``.
"""

from __future__ import annotations

import os
import sys
import tempfile

if __package__ in (None, ""):   # run as a script: make `core` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import core  # noqa: E402
from core import nn  # noqa: E402
from sample_models import _common  # noqa: E402
from sample_models._common import Parts, run  # noqa: E402

MODES = 8
RADIUS = 2.0
STD = 0.1
NOISE = 4
HIDDEN = 64
STEPS = 1200
BATCH = 128
LR = 2e-3
BETA1 = 0.5


# -------------------------------------------------------------------- data --


def mode_centers(modes=MODES, radius=RADIUS):
    """(modes, 2) float32 centres evenly spaced on a circle."""
    ang = 2 * np.pi * np.arange(modes) / modes
    return (radius * np.stack([np.cos(ang), np.sin(ang)], axis=1)).astype(np.float32)


def mixture(rng, n, modes=MODES, radius=RADIUS, std=STD):
    """``n`` points (n, 2) float32 from the ring of Gaussians."""
    k = rng.integers(0, modes, n)
    return (mode_centers(modes, radius)[k]
            + rng.normal(0.0, std, (n, 2))).astype(np.float32)


def make_data(seed=0, n_train=20000):
    """A pool of real points to draw batches from (numpy)."""
    rng = np.random.default_rng([seed, 4])
    return {"real": mixture(rng, n_train)}


# ------------------------------------------------------------------ models --


class MLP(nn.Module):
    """Dense layers with ReLU between them."""

    def __init__(self, sizes, name=None):
        super().__init__(name=name)
        last = len(sizes) - 2
        self.layers = [
            nn.Dense(n_in, n_out, activation=None if i == last else "relu")
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Generator(MLP):
    def __init__(self, name="generator"):
        super().__init__((NOISE, HIDDEN, HIDDEN, 2), name=name)


class Discriminator(MLP):
    def __init__(self, name="discriminator"):
        super().__init__((2, HIDDEN, HIDDEN, 1), name=name)


class GAN(nn.Module):
    """The pair, so one object can be handed around (``gan.generator``,
    ``gan.discriminator``)."""

    def __init__(self, name="gan"):
        super().__init__(name=name)
        self.generator = Generator()
        self.discriminator = Discriminator()

    def forward(self, z):
        return self.generator(z)


def build_model():
    return GAN()


def make_optimizer(gan):
    """One Adam per network: ``{"generator": ..., "discriminator": ...}``."""
    return {
        "generator": core.optim.Adam(gan.generator.trainable_variables,
                                     lr=LR, beta1=BETA1),
        "discriminator": core.optim.Adam(gan.discriminator.trainable_variables,
                                         lr=LR, beta1=BETA1),
    }


def train_step(gan, opts, batch):
    """One discriminator step then one generator step on ``batch = (real,
    z)``; returns ``{"d_loss": ..., "g_loss": ...}`` as floats."""
    real, z = batch
    G, D = gan.generator, gan.discriminator
    bce = core.losses.binary_cross_entropy_with_logits
    n = real.shape[0]
    ones = np.ones((n, 1), np.float32)
    zeros = np.zeros((n, 1), np.float32)

    d_vars = D.trainable_variables
    fake = core.stop_gradient(G(z))
    with core.GradientTape() as tape:
        d_loss = bce(D(real), ones) + bce(D(fake), zeros)
    grads = tape.gradient(d_loss, d_vars)
    opts["discriminator"].apply_gradients(zip(grads, d_vars))

    g_vars = G.trainable_variables
    with core.GradientTape() as tape:
        g_loss = bce(D(G(z)), ones)      # non-saturating: fool D
    grads = tape.gradient(g_loss, g_vars)
    opts["generator"].apply_gradients(zip(grads, g_vars))
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}


def sample(generator, n, seed=99):
    """``n`` generated points (numpy) from seeded noise."""
    z = np.random.default_rng(seed).standard_normal((n, NOISE)).astype(np.float32)
    with core.no_grad():
        return generator(core.tensor(z)).numpy()


def sample_quality(points, modes=MODES, radius=RADIUS, std=STD):
    """(modes covered, share of points within 3 std of a mode centre).  A
    mode counts as covered when at least 1 % of the points are near it."""
    d = np.linalg.norm(points[:, None, :] - mode_centers(modes, radius)[None],
                       axis=-1)
    near = d.min(axis=1) < 3 * std
    nearest = d.argmin(axis=1)[near]
    counts = np.bincount(nearest, minlength=modes)
    covered = int((counts >= 0.01 * len(points)).sum())
    return covered, float(near.mean())


def evaluate(gan, data=None, n=2000):
    """``{"modes": covered, "near": share}`` for 2000 samples."""
    covered, near = sample_quality(sample(gan.generator, n))
    return {"modes": covered, "near": near}


# ------------------------------------------------------------- checkpoints --


def save_checkpoints(gan, directory):
    """Write G and D to two separate files; returns their paths."""
    g_path = os.path.join(directory, "generator.ckpt")
    d_path = os.path.join(directory, "discriminator.ckpt")
    core.Checkpoint(generator=gan.generator).save(g_path)
    core.Checkpoint(discriminator=gan.discriminator).save(d_path)
    return g_path, d_path


def load_generator(path):
    """A fresh Generator restored from ``path`` (G's checkpoint alone)."""
    G = Generator()
    status = core.Checkpoint(generator=G).restore(path)
    if status.missing:
        raise core.CheckpointError(f"{path}: generator variables missing from "
                                   f"the checkpoint: {status.missing}")
    return G


# ----------------------------------------------------------------- trainer --


class Trainer(_common.Trainer):
    """GAN, optimizers, real data and noise: ``step()`` trains once."""

    parts = Parts(make_data, build_model, make_optimizer, train_step, evaluate)

    def next_batch(self):
        real = self.data["real"]
        idx = self.rng.integers(0, len(real), BATCH)
        z = self.rng.standard_normal((BATCH, NOISE)).astype(np.float32)
        return core.tensor(real[idx]), core.tensor(z)


def make_trainer(seed=0, data=None):
    return Trainer(seed, data)


def main(argv=None):
    def add_out(p):
        p.add_argument("--out", default=None,
                       help="directory for generator.ckpt and "
                            "discriminator.ckpt (default: a temporary "
                            "directory, removed at exit)")
    trainer, args = run(argv, "gan", "GAN on a 2-D Gaussian mixture", STEPS,
                        make_trainer, add_args=add_out)

    with tempfile.TemporaryDirectory() as tmp:
        directory = args.out or tmp
        os.makedirs(directory, exist_ok=True)
        g_path, d_path = save_checkpoints(trainer.model, directory)
        where = directory if args.out else "a temporary directory"
        print(f"gan: saved generator.ckpt and discriminator.ckpt in {where}")
        reloaded = load_generator(g_path)
        same = np.array_equal(sample(reloaded, 2000),
                              sample(trainer.model.generator, 2000))
    covered, near = sample_quality(sample(reloaded, 2000))
    print(f"gan: generator reloaded alone from its checkpoint "
          f"{'reproduces' if same else 'DOES NOT reproduce'} the samples; "
          f"{covered}/{MODES} modes covered, {near:.0%} of samples within "
          f"3 std of a mode")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
