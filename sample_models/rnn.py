"""LSTM on variable-length bracket strings: is the string balanced?

    python sample_models/rnn.py [--steps 400] [--seed 0]

Strings of ``(`` and ``)`` of even length 2..20; half are balanced, half
are balanced strings with one bracket flipped or two swapped (so telling
them apart needs both the final depth and whether it ever went negative).
The model ("rnn") embeds tokens, runs an LSTM cell in a plain Python loop
over time and classifies the final hidden state.  Batches mix lengths:
sequences are sorted longest first and at step ``t`` only the ``n`` still
running go through the cell — ``n`` is computed in Python from the
lengths, the way PyTorch's packed sequences work — so the op stream
changes shape as sequences finish.  The final line reports test accuracy
against chance (50 %).

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
from sample_models import _common  # noqa: E402
from sample_models._common import Parts, batch_indices, run  # noqa: E402

OPEN, CLOSE = 0, 1
MAX_LEN = 20
EMBED = 8
HIDDEN = 32
STEPS = 400
BATCH = 32
LR = 0.005
CLIP = 1.0
TARGET = 0.80        # "clearly beats chance" (50 %)


# -------------------------------------------------------------------- data --


def balanced(rng, pairs):
    """A random balanced string of ``pairs`` bracket pairs (list of 0/1)."""
    seq, depth, opens = [], 0, pairs
    for _ in range(2 * pairs):
        if opens and (depth == 0 or rng.random() < opens / (opens + depth)):
            seq.append(OPEN)
            depth += 1
            opens -= 1
        else:
            seq.append(CLOSE)
            depth -= 1
    return seq


def is_balanced(seq):
    depth = 0
    for tok in seq:
        depth += 1 if tok == OPEN else -1
        if depth < 0:
            return False
    return depth == 0


def corrupt(rng, seq):
    """``seq`` with one bracket flipped or two swapped, until unbalanced."""
    seq = list(seq)
    n = len(seq)
    while is_balanced(seq):
        if rng.random() < 0.5:
            j = int(rng.integers(n))
            seq[j] = 1 - seq[j]
        else:
            a, b = rng.integers(n, size=2)
            seq[a], seq[b] = seq[b], seq[a]
    return seq


def bracket_strings(rng, n, max_len=MAX_LEN):
    """(tokens (n, max_len) int64 padded with 0, lengths (n,), labels (n,)
    float32); lengths are even in [2, max_len], half the labels are 1."""
    tokens = np.zeros((n, max_len), np.int64)
    lengths = 2 * rng.integers(1, max_len // 2 + 1, n)
    labels = np.zeros(n, np.float32)
    for i in range(n):
        seq = balanced(rng, int(lengths[i]) // 2)
        if i % 2:
            seq = corrupt(rng, seq)
        tokens[i, :lengths[i]] = seq
        labels[i] = float(is_balanced(seq))
    return tokens, lengths, labels


def make_data(seed=0, n_train=8000, n_test=1000):
    """Train and test strings as numpy arrays."""
    rng = np.random.default_rng([seed, 3])
    train_set = bracket_strings(rng, n_train)
    test_set = bracket_strings(rng, n_test)
    return {"train": train_set, "test": test_set}


def make_batch(tokens, lengths, labels):
    """Sort a batch longest first (as the model's loop expects) and wrap it
    as ``(tokens tensor, lengths list, labels tensor)``."""
    order = np.argsort(-lengths, kind="stable")
    lengths = lengths[order]
    width = int(lengths[0])
    return (core.tensor(tokens[order, :width]), [int(n) for n in lengths],
            core.tensor(labels[order]))


# ------------------------------------------------------------------ model --


class LSTMCell(nn.Module):
    """One LSTM step; gates (input, forget, cell, output) from one Dense on
    ``[x, h]``; the forget gate's bias starts at 1."""

    def __init__(self, input_size, hidden_size, name=None):
        super().__init__(name=name)
        self.hidden_size = hidden_size
        self.gates = nn.Dense(input_size + hidden_size, 4 * hidden_size)
        bias = self.gates.bias.numpy()
        bias[hidden_size:2 * hidden_size] = 1.0
        self.gates.bias.assign(bias)

    def forward(self, x, state):
        h, c = state
        H = self.hidden_size
        z = self.gates(core.concat([x, h], axis=1))
        i = core.sigmoid(z[:, :H])
        f = core.sigmoid(z[:, H:2 * H])
        g = core.tanh(z[:, 2 * H:3 * H])
        o = core.sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        h = o * core.tanh(c)
        return h, c


class BracketLSTM(nn.Module):
    """Embedding -> LSTM cell looped in Python -> Dense(1) logit."""

    def __init__(self, embed=EMBED, hidden=HIDDEN, name="rnn"):
        super().__init__(name=name)
        self.hidden = hidden
        self.embed = nn.Embedding(2, embed)
        self.cell = LSTMCell(embed, hidden)
        self.head = nn.Dense(hidden, 1)

    def forward(self, tokens, lengths):
        """Logits (B,) for ``tokens`` (B, T) sorted by ``lengths``, longest
        first; each sequence's state stops at its own length."""
        batch = len(lengths)
        if any(a < b for a, b in zip(lengths, lengths[1:])) or lengths[-1] < 1:
            raise ValueError(f"lengths must be positive and sorted longest "
                             f"first (see make_batch), got {list(lengths)}")
        if tokens.shape[0] != batch or tokens.shape[1] < lengths[0]:
            raise ValueError(f"tokens of shape {tuple(tokens.shape)} do not "
                             f"hold {batch} strings of up to {lengths[0]}")
        x = self.embed(tokens)                              # (B, T, E)
        h = core.zeros((batch, self.hidden), device=x.device)
        c = core.zeros((batch, self.hidden), device=x.device)
        running = batch
        for t in range(lengths[0]):
            while lengths[running - 1] <= t:                # some finished
                running -= 1
            if running == batch:
                h, c = self.cell(x[:, t], (h, c))
            else:                                           # finished rows keep
                h_new, c_new = self.cell(x[:running, t],   # their final state
                                         (h[:running], c[:running]))
                h = core.concat([h_new, h[running:]], axis=0)
                c = core.concat([c_new, c[running:]], axis=0)
        return core.reshape(self.head(h), (batch,))


def build_model():
    return BracketLSTM()


def make_optimizer(model):
    return core.optim.Adam(model.trainable_variables, lr=LR, clip_norm=CLIP)


def train_step(model, opt, batch):
    """One Adam step on ``batch = (tokens, lengths, labels)``; returns the
    loss as a float."""
    tokens, lengths, labels = batch
    variables = model.trainable_variables
    with core.GradientTape() as tape:
        logits = model(tokens, lengths)
        loss = core.losses.binary_cross_entropy_with_logits(logits, labels)
    grads = tape.gradient(loss, variables)
    opt.apply_gradients(zip(grads, variables))
    return loss.item()


def predict(model, tokens, lengths, batch=250):
    """Balanced (1) or not (0) for numpy ``tokens``/``lengths``."""
    out = np.zeros(len(lengths), np.float32)
    dummy = np.zeros(len(lengths), np.float32)
    with core.no_grad():
        for i in range(0, len(lengths), batch):
            sl = slice(i, i + batch)
            order = np.argsort(-lengths[sl], kind="stable")
            t, ls, _ = make_batch(tokens[sl], lengths[sl], dummy[sl])
            logits = model(t, ls).numpy()
            out[i + order] = logits > 0
    return out


def evaluate(model, data):
    """Test accuracy in [0, 1] (chance: 0.5)."""
    tokens, lengths, labels = data["test"]
    return float((predict(model, tokens, lengths) == labels).mean())


class Trainer(_common.Trainer):
    """The bracket classifier's model, optimizer and batch stream."""

    parts = Parts(make_data, build_model, make_optimizer, train_step, evaluate)

    def __init__(self, seed=0, data=None):
        super().__init__(seed, data)
        self._batches = batch_indices(self.rng, len(self.data["train"][1]),
                                      BATCH)

    def next_batch(self):
        idx = next(self._batches)
        tokens, lengths, labels = self.data["train"]
        return make_batch(tokens[idx], lengths[idx], labels[idx])


def make_trainer(seed=0, data=None):
    return Trainer(seed, data)


def main(argv=None):
    trainer, _ = run(argv, "rnn", "LSTM on variable-length bracket strings",
                     STEPS, make_trainer)
    acc = trainer.evaluate()
    n = len(trainer.data["test"][2])
    verdict = "meets" if acc >= TARGET else "below"
    print(f"rnn: test accuracy {acc:.1%} on {n} held-out strings of length "
          f"2-{MAX_LEN} (chance 50%; {verdict} the {TARGET:.0%} target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
