"""Per-op overhead: ours vs raw numpy vs PyTorch CPU, in one process.

    python benchmarks/bench_ops.py [--repeats 7] [--number 20000]

For add/mul/matmul/exp/sum/relu on (4,) and (32, 32) float32 it times, as
the median of ``--repeats`` runs of ``--number`` calls each: raw numpy;
ours without a tape; ours with a tape recording; ours with a recording
hook (op name + two timestamps into a list) and a tape; PyTorch without and
with requires_grad, and PyTorch with requires_grad under a
TorchDispatchMode that records the same.  Then a 10-op chain forward +
backward and a 2048x2048 matmul.  Ratios are ours / torch (lower is
better) and numpy-speed / ours-speed for the big matmul.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("CORE_DEVICE", "cpu")

import numpy as np  # noqa: E402

import core  # noqa: E402

try:
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
except Exception:  # torch is optional
    torch = None


def timeit(fn, number, repeats):
    """Median seconds per call."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(number)
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


class RecordingHook:
    """What a minimal profiler does: op name and two timestamps per op."""

    def __init__(self):
        self.log = []
        self._t = time.perf_counter_ns

    def before_op(self, ev):
        pass

    def after_op(self, ev):
        self.log.append((ev.name, ev.start_ns, ev.end_ns))


if torch is not None:
    class TorchRecorder(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.log = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            t0 = time.perf_counter_ns()
            out = func(*args, **(kwargs or {}))
            self.log.append((func.__name__, t0, time.perf_counter_ns()))
            return out


def loops(kind, shape):
    """Functions running ``n`` iterations of op ``kind`` in each setting."""
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal(shape).astype(np.float32)
    b_np = rng.standard_normal(shape).astype(np.float32)
    a = core.tensor(a_np)
    b = core.tensor(b_np)
    ag = core.tensor(a_np, requires_grad=True)
    np_ops = {
        "add": lambda: a_np + b_np, "mul": lambda: a_np * b_np,
        "matmul": lambda: a_np @ b_np, "exp": lambda: np.exp(a_np),
        "sum": lambda: a_np.sum(), "relu": lambda: np.maximum(a_np, 0),
    }
    ours = {
        "add": lambda x, y: x + y, "mul": lambda x, y: x * y,
        "matmul": lambda x, y: x @ y, "exp": lambda x, y: core.exp(x),
        "sum": lambda x, y: x.sum(), "relu": lambda x, y: core.relu(x),
    }
    if kind == "matmul" and len(shape) == 1:
        np_ops["matmul"] = lambda: a_np @ b_np
    f_np = np_ops[kind]
    f = ours[kind]

    def run_np(n):
        for _ in range(n):
            f_np()

    def run_ours(n):
        for _ in range(n):
            f(a, b)

    def run_tape(n):
        with core.GradientTape() as tape:
            tape.watch(ag)
            for _ in range(n):
                f(ag, b)

    def run_hook(n):
        h = RecordingHook()
        with core.hooks.attached(h), core.GradientTape() as tape:
            tape.watch(ag)
            for _ in range(n):
                f(ag, b)

    res = {"numpy": run_np, "ours": run_ours, "ours+tape": run_tape,
           "ours+tape+hook": run_hook}
    if torch is not None:
        ta = torch.from_numpy(a_np.copy())
        tb = torch.from_numpy(b_np.copy())
        tg = torch.from_numpy(a_np.copy()).requires_grad_(True)
        tops = {
            "add": lambda x, y: x + y, "mul": lambda x, y: x * y,
            "matmul": lambda x, y: x @ y, "exp": lambda x, y: torch.exp(x),
            "sum": lambda x, y: x.sum(), "relu": lambda x, y: torch.relu(x),
        }
        tf = tops[kind]

        def run_torch(n):
            for _ in range(n):
                tf(ta, tb)

        def run_torch_rg(n):
            for _ in range(n):
                tf(tg, tb)

        def run_torch_mode(n):
            with TorchRecorder():
                for _ in range(n):
                    tf(tg, tb)

        res.update({"torch": run_torch, "torch+rg": run_torch_rg,
                    "torch+rg+mode": run_torch_mode})
    return res


def chain_ours(n):
    x = core.tensor(np.linspace(-1, 1, 4, dtype=np.float32), requires_grad=True)
    for _ in range(n):
        y = x * 1.5
        y = y + 0.5
        y = core.tanh(y)
        y = y * y
        y = core.exp(y)
        y = y - 1.0
        y = core.relu(y)
        y = y / 2.0
        y = core.sigmoid(y)
        y = y.sum()
        y.backward()
        x.grad = None


def chain_torch(n):
    x = torch.linspace(-1, 1, 4).requires_grad_(True)
    for _ in range(n):
        y = x * 1.5
        y = y + 0.5
        y = torch.tanh(y)
        y = y * y
        y = torch.exp(y)
        y = y - 1.0
        y = torch.relu(y)
        y = y / 2.0
        y = torch.sigmoid(y)
        y = y.sum()
        y.backward()
        x.grad = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--number", type=int, default=20000)
    ap.add_argument("--ops", default="add,mul,matmul,exp,sum,relu")
    args = ap.parse_args(argv)
    if torch is not None:
        torch.set_num_threads(1)
    cols = ["numpy", "ours", "ours+tape", "ours+tape+hook"]
    if torch is not None:
        cols += ["torch", "torch+rg", "torch+rg+mode"]
    print("per-op time in microseconds (median of %d x %d calls)"
          % (args.repeats, args.number))
    head = f"{'op':<16}" + "".join(f"{c:>15}" for c in cols)
    if torch is not None:
        head += f"{'notape/torch':>14}{'tape/torch+rg':>15}{'hook/mode':>11}"
    print(head)
    for shape in ((4,), (32, 32)):
        for kind in args.ops.split(","):
            fns = loops(kind, shape)
            # interleave settings across repeats to share the machine's noise
            times = {c: [] for c in cols}
            for _ in range(args.repeats):
                for c in cols:
                    times[c].append(timeit(fns[c], args.number, 1))
            med = {c: statistics.median(v) * 1e6 for c, v in times.items()}
            line = f"{kind + str(shape):<16}" + "".join(
                f"{med[c]:>15.3f}" for c in cols)
            if torch is not None:
                line += (f"{med['ours'] / med['torch']:>14.2f}"
                         f"{med['ours+tape'] / med['torch+rg']:>15.2f}"
                         f"{med['ours+tape+hook'] / med['torch+rg+mode']:>11.2f}")
            print(line, flush=True)
    n = max(args.number // 20, 200)
    co = [timeit(chain_ours, n, 1) for _ in range(args.repeats)]
    line = f"\n10-op chain fwd+bwd: ours {statistics.median(co) * 1e6:.1f} us"
    if torch is not None:
        ct = [timeit(chain_torch, n, 1) for _ in range(args.repeats)]
        line += (f", torch {statistics.median(ct) * 1e6:.1f} us, ratio "
                 f"{statistics.median(co) / statistics.median(ct):.2f}")
    print(line)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((2048, 2048)).astype(np.float32)
    B = rng.standard_normal((2048, 2048)).astype(np.float32)
    tA, tB = core.tensor(A), core.tensor(B)
    tn, to = [], []
    for _ in range(max(3, args.repeats // 2)):
        t0 = time.perf_counter()
        A @ B
        tn.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tA @ tB
        to.append(time.perf_counter() - t0)
    mn, mo = statistics.median(tn), statistics.median(to)
    print(f"2048x2048 matmul: numpy {2 * 2048 ** 3 / mn / 1e9:.0f} GFLOP/s, "
          f"ours {2 * 2048 ** 3 / mo / 1e9:.0f} GFLOP/s, ours/numpy speed "
          f"{mn / mo:.3f}")


if __name__ == "__main__":
    main()
