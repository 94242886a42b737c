"""A fake session with fixed records, for deterministic app tests and snapshots.

It speaks the session contract (subscribe/start/send/history/tensor_values/
stop/join) and answers step/continue/print with canned events, synchronously.
"""

from __future__ import annotations

import os

import numpy as np

from workbench.app.op_history import ListSource
from workbench.records import (CommandResult, Finished, Frame, OpRecord, Output,
                               Paused, PostMortem, TapeEntry, TapeInfo, TapeView,
                               TensorSummary, TimingRow)

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "test_app_fakes.py")   # any real file: the source pane reads it


class FakeHistory(ListSource):
    """ListSource plus the History.filter signature."""

    def filter(self, name=None, phase=None, scope=None):
        out = []
        for r in self._records:
            if name and name not in r.name:
                continue
            if phase and r.phase != phase:
                continue
            if scope and ".".join(r.scope)[:len(scope)] != scope:
                continue
            out.append(r)
        return out

    def append(self, rec):
        self._records.append(rec)


def summary(shape, lo=-1.0, hi=1.0, nan=0, inf=0):
    n = int(np.prod(shape)) if shape else 1
    return TensorSummary(shape=tuple(shape), dtype="float32", device="cpu", numel=n,
                         min=lo, max=hi, mean=(lo + hi) / 2, std=0.5, nan_count=nan,
                         inf_count=inf)


def op(index, name, phase="forward", scope=("model", "layers.0"), line=30, outputs=True,
       nan=0, host_ns=1500):
    ins = (summary((4, 8)), summary((8, 3), -0.5, 0.5))
    outs = (summary((4, 3), -2.0, 3.0, nan=nan),) if outputs else ()
    return OpRecord(index=index, phase=phase, name=name, scope=scope,
                    location=(SCRIPT, line, "forward"), inputs=ins, outputs=outs,
                    attrs={"axis": "-1"} if name == "sum" else {}, host_ns=host_ns,
                    kernel_ns=host_ns // 2, forward_index=index - 3 if phase == "backward"
                    else None)


NAMES = ["matmul", "add", "relu", "matmul", "add", "sum"]


def timings(n):
    rows = {}
    for i in range(n):
        name = NAMES[i % len(NAMES)]
        c, t = rows.get(name, (0, 0))
        rows[name] = (c + 1, t + 1500 * (1 + (i % 3)))
    total = sum(t for _, t in rows.values()) or 1
    return tuple(TimingRow(k, c, t, t / c, t / total) for k, (c, t) in rows.items())


class FakeSession:
    """Canned session: each step pauses at the next op; continue finishes."""

    def __init__(self, n_history=5, *, fail=False, values=None):
        self.script = SCRIPT
        self.subs = []
        self.sent = []
        self.stopped = False
        self.fail = fail
        self.history = FakeHistory(op(i, NAMES[i % len(NAMES)]) for i in range(n_history))
        self.next_index = n_history
        self.values = values if values is not None else \
            np.arange(32, dtype=np.float32).reshape(4, 8) - 10.0
        self.value_requests = []

    def subscribe(self, cb):
        self.subs.append(cb)

    def emit(self, ev):
        for cb in self.subs:
            cb(ev)

    def paused(self, reason="step", nan=0):
        i = self.next_index
        rec = op(i, NAMES[i % len(NAMES)], outputs=False, line=30 + i % 5)
        self.history.append(rec)
        tape = TapeView(tapes=(TapeInfo(1, False, tuple(
            TapeEntry(j, NAMES[j % len(NAMES)], ("model", f"layers.{j // 3}"), (4, 3))
            for j in range(i)), i),), gradients=())
        frames = (Frame(SCRIPT, 20, "<module>", (("model", "MLP()"),)),
                  Frame(SCRIPT, 30 + i % 5, "forward", (("x", "Tensor(4, 8)"),
                                                        ("xs", "[1, 2]"))))
        return Paused(op=rec, reason=reason, frames=frames, frame_index=1,
                      source_file=SCRIPT, source_line=30 + i % 5,
                      op_lines=frozenset({(SCRIPT, 30), (SCRIPT, 31), (SCRIPT, 33)}),
                      tape=tape, timings=timings(i), watches=(("x.shape", "(4, 8)"),),
                      ops_run=i)

    def start(self):
        self.emit(Output("stdout", "epoch 0\n"))
        self.emit(self.paused("first op"))

    def send(self, line):
        self.sent.append(line)
        word = line.split()[0]
        if word in ("s", "step", "n", "next"):
            self.next_index += 1
            self.emit(self.paused("step"))
        elif word in ("c", "continue"):
            if self.fail:
                self.emit(Output("stderr", "Traceback...\n"))
                self.emit(PostMortem("ValueError", "shapes (4,8) and (3,3) do not align",
                                     "Traceback (most recent call last):\n  ...\n"
                                     "ValueError: shapes (4,8) and (3,3) do not align\n",
                                     frames=(Frame(SCRIPT, 33, "forward", ()),)))
            else:
                self.emit(Output("stdout", "done\n"))
                self.emit(Finished(0, self.next_index))
        elif word in ("p", "print"):
            self.emit(CommandResult(line, "(4, 8)", True))
        else:
            self.emit(CommandResult(line, f"*** unknown: {line}", False))

    def tensor_values(self, op_index, slot, slice_text=""):
        self.value_requests.append((op_index, slot, slice_text))
        if slice_text.strip() in ("", ":64, :128"):
            return self.values
        try:
            return eval(f"self.values[{slice_text}]", {"self": self})
        except Exception as exc:
            return f"bad slice {slice_text!r}: {exc}"

    def stop(self):
        self.stopped = True

    def join(self, timeout=None):
        return True
