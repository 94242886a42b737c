"""A tiny character-level transformer on generated text.

    python sample_models/transformer.py [--steps 500] [--seed 0]

The text is sentences drawn from a small grammar ("the old man chases a
red apple at night. ...").  The model ("transformer") embeds characters,
adds learned positions, runs two pre-LayerNorm blocks (causal multi-head
self-attention and a ReLU MLP, each with a residual connection), and
predicts the next character.  The final lines report the held-out loss in
nats per character next to the unigram entropy of the text (what a model
without context can reach) and a greedy sample.  Target: loss below half
the unigram entropy.

Importable pieces: ``make_data``, ``build_model``, ``make_optimizer``,
``train_step``, ``evaluate``, ``generate``, ``make_trainer``, ``main``.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):   # run as a script: make `core` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import core  # noqa: E402
from core import nn  # noqa: E402
from sample_models import _common  # noqa: E402
from sample_models._common import Parts, run  # noqa: E402

SUBJECTS = ("the cat", "the dog", "a bird", "my friend", "the old man",
            "a small child")
VERBS = ("sees", "likes", "chases", "finds", "hears")
OBJECTS = ("the ball", "a red apple", "the moon", "some fish",
           "the green tree")
ENDINGS = (".", " today.", " again.", " at night.")

CONTEXT = 32
DIM = 48
HEADS = 4
BLOCKS = 2
STEPS = 500
BATCH = 32
LR = 3e-3
TARGET = 0.5          # loss must fall below TARGET x unigram entropy


# -------------------------------------------------------------------- data --


def sentences(rng, n):
    """``n`` random sentences of the grammar, joined by spaces."""
    parts = []
    for _ in range(n):
        parts.append(f"{SUBJECTS[rng.integers(len(SUBJECTS))]} "
                     f"{VERBS[rng.integers(len(VERBS))]} "
                     f"{OBJECTS[rng.integers(len(OBJECTS))]}"
                     f"{ENDINGS[rng.integers(len(ENDINGS))]}")
    return " ".join(parts) + " "


def unigram_entropy(ids, vocab_size):
    """Entropy in nats of the character frequencies of ``ids``."""
    p = np.bincount(ids, minlength=vocab_size) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def make_data(seed=0, n_train=2000, n_valid=200):
    """Train and validation text as id arrays, plus the vocabulary."""
    rng = np.random.default_rng([seed, 5])
    train_text = sentences(rng, n_train)
    valid_text = sentences(rng, n_valid)
    vocab = sorted(set(train_text) | set(valid_text))
    index = {ch: i for i, ch in enumerate(vocab)}
    encode = np.vectorize(index.__getitem__, otypes=[np.int64])
    train_ids = encode(list(train_text))
    return {"train": train_ids, "valid": encode(list(valid_text)),
            "vocab": vocab,
            "unigram_entropy": unigram_entropy(train_ids, len(vocab))}


def windows(ids, starts, context=CONTEXT):
    """(inputs, targets) (len(starts), context) int64: ids and ids shifted."""
    idx = starts[:, None] + np.arange(context)[None, :]
    return ids[idx], ids[idx + 1]


# ------------------------------------------------------------------ model --


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)); x + mlp(ln(x))."""

    def __init__(self, dim, heads, name=None):
        super().__init__(name=name)
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads, causal=True)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Dense(dim, 4 * dim, activation="relu")
        self.fc2 = nn.Dense(4 * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(self.fc1(self.ln2(x)))


class CharTransformer(nn.Module):
    """Token + position embeddings, blocks, final LayerNorm, vocab head."""

    def __init__(self, vocab_size, context=CONTEXT, dim=DIM, heads=HEADS,
                 blocks=BLOCKS, name="transformer"):
        super().__init__(name=name)
        self.context = context
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = core.Variable(
            core.random.normal((context, dim), std=0.02), name="pos")
        self.blocks = [Block(dim, heads) for _ in range(blocks)]
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Dense(dim, vocab_size)

    def forward(self, ids):
        t = ids.shape[1]
        if t > self.context:
            raise ValueError(f"sequence of {t} characters is longer than the "
                             f"context ({self.context})")
        x = self.embed(ids) + self.pos[:t]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def build_model(vocab_size):
    return CharTransformer(vocab_size)


def make_optimizer(model):
    return core.optim.Adam(model.trainable_variables, lr=LR, clip_norm=1.0)


def train_step(model, opt, batch):
    """One Adam step on ``batch = (inputs, targets)``; returns the loss."""
    x, y = batch
    variables = model.trainable_variables
    with core.GradientTape() as tape:
        loss = core.losses.softmax_cross_entropy(model(x), y)
    grads = tape.gradient(loss, variables)
    opt.apply_gradients(zip(grads, variables))
    return loss.item()


def evaluate(model, data, n_windows=256, batch=64):
    """Mean next-character loss (nats) on validation windows."""
    ids = data["valid"]
    starts = np.linspace(0, len(ids) - CONTEXT - 2, n_windows).astype(np.int64)
    total = 0.0
    with core.no_grad():
        for i in range(0, n_windows, batch):
            x, y = windows(ids, starts[i:i + batch])
            loss = core.losses.softmax_cross_entropy(
                model(core.tensor(x)), core.tensor(y), reduction="sum")
            total += loss.item()
    return total / (n_windows * CONTEXT)


def generate(model, vocab, prompt="the ", length=60):
    """Greedy continuation of ``prompt``."""
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = [index[ch] for ch in prompt]
    with core.no_grad():
        for _ in range(length):
            ctx = np.asarray(ids[-model.context:], np.int64)[None, :]
            logits = model(core.tensor(ctx))
            ids.append(int(core.argmax(logits[0, -1], axis=-1).item()))
    return "".join(vocab[i] for i in ids)


class Trainer(_common.Trainer):
    """The character model, optimizer and a stream of text windows."""

    parts = Parts(make_data, build_model, make_optimizer, train_step, evaluate)

    def new_model(self):
        return build_model(len(self.data["vocab"]))

    def next_batch(self):
        ids = self.data["train"]
        starts = self.rng.integers(0, len(ids) - CONTEXT - 1, BATCH)
        x, y = windows(ids, starts)
        return core.tensor(x), core.tensor(y)


def make_trainer(seed=0, data=None):
    return Trainer(seed, data)


def main(argv=None):
    trainer, _ = run(argv, "transformer",
                     "Tiny character transformer on generated text", STEPS,
                     make_trainer)
    loss = trainer.evaluate()
    h = trainer.data["unigram_entropy"]
    print(f"transformer: sample {generate(trainer.model, trainer.data['vocab'])!r}")
    verdict = "meets" if loss < TARGET * h else "misses"
    print(f"transformer: held-out loss {loss:.3f} nats/char vs unigram "
          f"entropy {h:.3f} ({loss / h:.0%} of it; {verdict} the "
          f"< {TARGET:.0%} target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
