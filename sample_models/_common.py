"""Small helpers shared by the sample models: argv parsing, seeding,
batching and progress lines.  Imports only ``core`` and numpy."""

from __future__ import annotations

import argparse
import time
from typing import Callable, NamedTuple

import numpy as np

import core


def parse_args(argv, description, steps, seed=0, log_every=None,
               add_args=None):
    """``--steps``, ``--seed`` and ``--log-every`` for a sample model;
    ``add_args(parser)`` adds a model's own options."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--steps", type=int, default=steps,
                   help=f"training steps (default {steps})")
    p.add_argument("--seed", type=int, default=seed,
                   help=f"random seed for data and weights (default {seed})")
    p.add_argument("--log-every", type=int, default=log_every,
                   help="print a progress line every N steps "
                        "(default: about 10 lines per run)")
    if add_args is not None:
        add_args(p)
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps must be at least 1")
    if args.log_every is None:
        args.log_every = max(1, args.steps // 10)
    return args


def seed_all(seed):
    """Seed the engine's generator and return a numpy Generator for data."""
    core.random.seed(seed)
    return np.random.default_rng(seed)


def batch_indices(rng, n, batch_size):
    """Endless shuffled minibatch index arrays over ``range(n)``."""
    while True:
        perm = rng.permutation(n)
        for i in range(0, n - batch_size + 1, batch_size):
            yield perm[i:i + batch_size]


class Progress:
    """Prints ``step 120/600  loss 0.4321  3.1 s`` every ``every`` steps."""

    def __init__(self, name, steps, every, out=print):
        self.name = name
        self.steps = steps
        self.every = max(1, int(every))
        self.out = out
        self.t0 = time.perf_counter()

    def __call__(self, step, **values):
        """Report after ``step`` (1-based) when it is due or the last."""
        if step % self.every and step != self.steps:
            return
        parts = [f"{self.name}: step {step}/{self.steps}"]
        for k, v in values.items():
            parts.append(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}")
        parts.append(f"{time.perf_counter() - self.t0:.1f} s")
        self.out("  ".join(parts), flush=True)


def to_float(t):
    """A scalar tensor (or number) as a Python float."""
    return float(t.item()) if isinstance(t, core.Tensor) else float(t)


def train(trainer, steps, progress):
    """Run ``trainer.step()`` ``steps`` times; progress lines show the mean
    loss since the previous line.  ``step()`` returns a float or a dict of
    named floats (e.g. a GAN's two losses).  Returns the last interval's
    mean(s)."""
    totals, count, means = {}, 0, {}
    for step in range(1, steps + 1):
        out = trainer.step()
        for k, v in (out.items() if isinstance(out, dict) else (("loss", out),)):
            totals[k] = totals.get(k, 0.0) + float(v)
        count += 1
        if step % progress.every == 0 or step == steps:
            means = {k: v / count for k, v in totals.items()}
            progress(step, **means)
            totals, count = {}, 0
    return means["loss"] if list(means) == ["loss"] else means


class Parts(NamedTuple):
    """A sample model's functions, as its Trainer uses them."""

    make_data: Callable        # (seed) -> data
    build_model: Callable      # () -> model
    make_optimizer: Callable   # (model) -> optimizer
    train_step: Callable       # (model, opt, batch) -> loss(es)
    evaluate: Callable         # (model, data) -> quality figure


class Trainer:
    """Model, optimizer, data and a batch stream: ``step()`` trains once.

    A sample model subclasses it, setting ``parts`` to its functions
    (:class:`Parts`), and defines ``next_batch()``; ``self.rng`` (seeded)
    draws the batches.
    """

    parts: Parts

    def __init__(self, seed=0, data=None):
        m = self.parts
        self.rng = seed_all(seed)
        self.data = m.make_data(seed) if data is None else data
        self.model = self.new_model()
        self.opt = m.make_optimizer(self.model)

    def new_model(self):
        return self.parts.build_model()

    def next_batch(self):
        raise NotImplementedError

    def step(self):
        return self.parts.train_step(self.model, self.opt, self.next_batch())

    def evaluate(self):
        return self.parts.evaluate(self.model, self.data)


class ArrayTrainer(Trainer):
    """A :class:`Trainer` over shuffled rows of ``data["x_train"]`` and
    ``data["y_train"]``, ``batch_size`` at a time."""

    batch_size = 64

    def __init__(self, seed=0, data=None):
        super().__init__(seed, data)
        self._batches = batch_indices(self.rng, len(self.data["y_train"]),
                                      self.batch_size)

    def next_batch(self):
        idx = next(self._batches)
        return (core.tensor(self.data["x_train"][idx]),
                core.tensor(self.data["y_train"][idx]))


def run(argv, name, description, steps, make_trainer, add_args=None):
    """A sample model's command line: parse, build, train with progress
    lines; returns (trainer, args) for the model's own report."""
    args = parse_args(argv, description, steps, add_args=add_args)
    trainer = make_trainer(args.seed)
    train(trainer, args.steps, Progress(name, args.steps, args.log_every))
    return trainer, args

