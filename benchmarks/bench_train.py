"""Training-step speed: ours vs hand-written numpy vs PyTorch CPU, in one process.

    python benchmarks/bench_train.py [--repeats 7] [--steps 50] [--no-samples]
                                     [--threads N] [--clock wall|cpu]

An MLP 784-256-256-10 (ReLU), batch 128, float32, softmax cross-entropy,
plain SGD (lr 0.01), one forward + backward + update per step, run as:

- ours, ``core.nn.Dense`` layers + ``core.losses.softmax_cross_entropy`` +
  ``core.optim.SGD``, once with a ``GradientTape`` and ``apply_gradients``
  and once with ``loss.backward()`` / ``opt.step()`` / ``opt.zero_grad()``;
- hand-written numpy (the forward and backward a careful engineer writes);
- PyTorch CPU (``nn.Sequential`` + ``optim.SGD``), when importable, with
  ``torch.set_num_threads`` equal to numpy's OpenBLAS thread count.

All start from the same weights and see the same batches; the table shows
each one's loss after the timed steps as a correctness check.  Each repeat
times ``--steps`` steps of every implementation in turn (interleaved, so
machine noise hits all alike); the table gives the median steps/s and the
ratios ours/torch and ours/numpy.  Then the step time of each sample model
(``sample_models/*.py``, median per step).

On a machine shared with other work, ``--threads 1 --clock cpu`` gives
stable numbers: one BLAS thread each, timed by this process's CPU time.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("CORE_DEVICE", "cpu")

import numpy as np  # noqa: E402

import core  # noqa: E402

try:
    import torch
except Exception:  # torch is optional
    torch = None

SIZES = (784, 256, 256, 10)
BATCH = 128
LR = 0.01
N_BATCHES = 8
SAMPLE_MODELS = ("mlp", "cnn", "rnn", "gan", "transformer")


# ------------------------------------------------------------ shared data --


def make_problem(seed=0):
    """Initial weights (He-normal, zero bias) and a pool of batches."""
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        w = rng.standard_normal((fan_in, fan_out)).astype(np.float32)
        weights.append((w * np.float32(np.sqrt(2.0 / fan_in)),
                        np.zeros(fan_out, np.float32)))
    xs = rng.standard_normal((N_BATCHES, BATCH, SIZES[0])).astype(np.float32)
    ys = rng.integers(0, SIZES[-1], size=(N_BATCHES, BATCH)).astype(np.int64)
    return weights, xs, ys


def _openblas():
    """numpy's OpenBLAS library (ctypes) and its symbol suffix, or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""),
                               ("openblas_", "64_"), ("openblas_", "")):
            if hasattr(lib, f"{prefix}get_num_threads{suffix}"):
                return lib, prefix, suffix
    return None


def numpy_threads():
    """OpenBLAS's thread count for numpy (falls back to the environment or
    the CPU count)."""
    found = _openblas()
    if found is not None:
        lib, prefix, suffix = found
        return int(getattr(lib, f"{prefix}get_num_threads{suffix}")())
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count() or 1


def set_numpy_threads(n):
    """Set numpy's OpenBLAS thread count; False when it cannot be found."""
    found = _openblas()
    if found is None:
        return False
    lib, prefix, suffix = found
    getattr(lib, f"{prefix}set_num_threads{suffix}")(ctypes.c_int(int(n)))
    return numpy_threads() == int(n)


# --------------------------------------------------------- implementations --


class NumpyMLP:
    """The MLP step written by hand in numpy, in place where it pays."""

    name = "numpy (hand-written)"

    def __init__(self, weights, xs, ys):
        self.params = [(w.copy(), b.copy()) for w, b in weights]
        self.xs, self.ys = xs, ys
        self.i = 0
        self.last_loss = float("nan")

    def step(self):
        x = self.xs[self.i % N_BATCHES]
        y = self.ys[self.i % N_BATCHES]
        self.i += 1
        (w0, b0), (w1, b1), (w2, b2) = self.params
        h1 = x @ w0
        h1 += b0
        np.maximum(h1, 0, out=h1)
        h2 = h1 @ w1
        h2 += b1
        np.maximum(h2, 0, out=h2)
        z = h2 @ w2
        z += b2
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)           # z is now softmax(logits)
        n = x.shape[0]
        rows = np.arange(n)
        self.last_loss = -np.log(z[rows, y]).mean()
        z[rows, y] -= 1.0
        z *= np.float32(1.0 / n)                    # dL/dlogits
        gw2 = h2.T @ z
        gb2 = z.sum(axis=0)
        g2 = z @ w2.T
        g2 *= h2 > 0
        gw1 = h1.T @ g2
        gb1 = g2.sum(axis=0)
        g1 = g2 @ w1.T
        g1 *= h1 > 0
        gw0 = x.T @ g1
        gb0 = g1.sum(axis=0)
        lr = np.float32(LR)
        for (w, b), gw, gb in zip(self.params, (gw0, gw1, gw2),
                                  (gb0, gb1, gb2)):
            gw *= lr
            w -= gw
            gb *= lr
            b -= gb

    def loss(self):
        return float(self.last_loss)


class TorchMLP:
    """nn.Sequential + CrossEntropyLoss + optim.SGD, the idiomatic loop."""

    name = "pytorch cpu (nn + optim.SGD)"

    def __init__(self, weights, xs, ys):
        nn = torch.nn
        layers = []
        for k, (w, b) in enumerate(weights):
            lin = nn.Linear(w.shape[0], w.shape[1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if k < len(weights) - 1:
                layers.append(nn.ReLU())
        self.model = nn.Sequential(*layers)
        self.loss_fn = nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.xs = [torch.from_numpy(x) for x in xs]
        self.ys = [torch.from_numpy(y) for y in ys]
        self.i = 0
        self.last_loss = None

    def step(self):
        x = self.xs[self.i % N_BATCHES]
        y = self.ys[self.i % N_BATCHES]
        self.i += 1
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.opt.step()
        self.last_loss = loss

    def loss(self):
        return float(self.last_loss.item())


class OursMLP:
    """core.nn.Dense layers, core.losses, core.optim.SGD."""

    def __init__(self, weights, xs, ys, mode):
        nn = core.nn
        self.mode = mode
        self.name = ("ours (GradientTape + apply_gradients)" if mode == "tape"
                     else "ours (backward + step)")
        self.layers = []
        for k, (w, b) in enumerate(weights):
            act = "relu" if k < len(weights) - 1 else None
            layer = nn.Dense(w.shape[0], w.shape[1], activation=act)
            layer.kernel.assign(w)               # kernel is (in, out)
            layer.bias.assign(b)
            self.layers.append(layer)
        self.model = nn.Sequential(self.layers)
        self.variables = list(self.model.trainable_variables)
        self.opt = core.optim.SGD(self.variables, lr=LR)
        self.xs = [core.tensor(x) for x in xs]
        self.ys = [core.tensor(y) for y in ys]
        self.loss_fn = core.losses.softmax_cross_entropy
        self.i = 0
        self.last_loss = None
        self.step = self.step_tape if mode == "tape" else self.step_backward

    def step_tape(self):
        x = self.xs[self.i % N_BATCHES]
        y = self.ys[self.i % N_BATCHES]
        self.i += 1
        with core.GradientTape() as tape:
            loss = self.loss_fn(self.model(x), y)
        grads = tape.gradient(loss, self.variables)
        self.opt.apply_gradients(zip(grads, self.variables))
        self.last_loss = loss

    def step_backward(self):
        x = self.xs[self.i % N_BATCHES]
        y = self.ys[self.i % N_BATCHES]
        self.i += 1
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.opt.step()
        self.last_loss = loss

    def loss(self):
        return float(self.last_loss.item())


# ------------------------------------------------------------------ timing --


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def run_interleaved(impls, steps, repeats, warmup=5, clock=time.perf_counter):
    """Median steps/s of each implementation over interleaved repeats."""
    for impl in impls:
        for _ in range(warmup):
            impl.step()
    rates = {impl.name: [] for impl in impls}
    for r in range(repeats):
        order = impls if r % 2 == 0 else impls[::-1]
        for impl in order:
            t0 = clock()
            for _ in range(steps):
                impl.step()
            rates[impl.name].append(steps / (clock() - t0))
    return {name: statistics.median(v) for name, v in rates.items()}


def sample_model_times(steps, repeats, seed=0, clock=time.perf_counter):
    """Median seconds per training step of each sample model."""
    out = {}
    for name in SAMPLE_MODELS:
        try:
            mod = importlib.import_module(f"sample_models.{name}")
            trainer = mod.make_trainer(seed=seed)
            for _ in range(3):
                trainer.step()
            times = []
            for _ in range(repeats):
                t0 = clock()
                for _ in range(steps):
                    trainer.step()
                times.append((clock() - t0) / steps)
            out[name] = (statistics.median(times), None)
        except Exception as e:  # report and go on with the others
            out[name] = (None, f"{type(e).__name__}: {e}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--steps", type=int, default=50,
                   help="timed steps per repeat and implementation")
    p.add_argument("--sample-steps", type=int, default=10)
    p.add_argument("--no-samples", action="store_true",
                   help="skip the sample models' step times")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS threads for numpy (and torch); default: "
                        "numpy's current setting")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall time (default) or this process's CPU time; "
                        "on a shared machine with one BLAS thread "
                        "(OPENBLAS_NUM_THREADS=1) 'cpu' ignores time spent "
                        "descheduled by other processes")
    p.add_argument("--only", choices=("tape", "backward", "numpy", "torch"),
                   nargs="*", help="run only these implementations")
    args = p.parse_args(argv)

    if args.threads is not None and not set_numpy_threads(args.threads):
        print(f"warning: could not set numpy's BLAS threads to {args.threads}; "
              "set OPENBLAS_NUM_THREADS instead", file=sys.stderr)
    threads = numpy_threads()
    weights, xs, ys = make_problem()
    impls = []
    want = set(args.only or ("tape", "backward", "numpy", "torch"))
    if "tape" in want:
        impls.append(OursMLP(weights, xs, ys, "tape"))
    if "backward" in want:
        impls.append(OursMLP(weights, xs, ys, "backward"))
    if "numpy" in want:
        impls.append(NumpyMLP(weights, xs, ys))
    if "torch" in want and torch is not None:
        torch.set_num_threads(threads)
        impls.append(TorchMLP(weights, xs, ys))

    clock = CLOCKS[args.clock]
    rates = run_interleaved(impls, args.steps, args.repeats, clock=clock)
    np_rate = rates.get(NumpyMLP.name)
    th_rate = rates.get(TorchMLP.name)
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, softmax "
          f"cross-entropy, SGD lr {LR}; {args.repeats} interleaved repeats x "
          f"{args.steps} steps, median of {args.clock} time; BLAS threads "
          f"{threads}"
          + ("" if torch is not None else "; torch not importable"))
    head = (f"{'implementation':40s} {'steps/s':>9s} {'ms/step':>8s} "
            f"{'/torch':>7s} {'/numpy':>7s} {'final loss':>10s}")
    print(head)
    print("-" * len(head))
    for impl in impls:
        r = rates[impl.name]
        vs_t = f"{r / th_rate:6.2f}x" if th_rate else "      -"
        vs_n = f"{r / np_rate:6.2f}x" if np_rate else "      -"
        print(f"{impl.name:40s} {r:9.1f} {1e3 / r:8.3f} {vs_t:>7s} "
              f"{vs_n:>7s} {impl.loss():10.4f}")
    print("targets: ours >= 1.15x torch steps/s and >= 0.92x numpy")
    if args.clock == "cpu" and threads > 1:
        print("note: the cpu clock adds up the CPU time of every BLAS thread")

    if not args.no_samples:
        print()
        print(f"sample models: median of {args.repeats} x {args.sample_steps} "
              "training steps (python sample_models/NAME.py)")
        print(f"{'model':12s} {'ms/step':>9s}")
        for name, (sec, err) in sample_model_times(
                args.sample_steps, args.repeats, clock=clock).items():
            if err:
                print(f"{name:12s} {'error':>9s}  {err}")
            else:
                print(f"{name:12s} {sec * 1e3:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
