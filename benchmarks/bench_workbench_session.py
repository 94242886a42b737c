"""Debugger-session benchmarks: step latency and continue-mode slowdown.

    python benchmarks/bench_workbench_session.py [--steps 300] [--repeat 5]
        [--step-samples 200] [--json PATH]

* step latency: time from ``session.send("s")`` to the next ``Paused``
  record being delivered to a subscriber (p50/p95 over ``--step-samples``
  steps through the MLP's forward and backward ops);
* continue mode: wall time of the MLP script run by a ``Session`` with no
  pause (``break_at_first_op=False``) against the same script run plainly
  in-process (best of ``--repeat`` each; target: at most 1.5x).

Uses ``sample_models/mlp.py`` when it is installed, else an inline core
MLP.  The app engineer's ``benchmarks/bench_workbench.py`` imports
:func:`step_latency` and :func:`continue_slowdown`.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

INLINE_MLP = '''\
import sys
import core

steps = int(sys.argv[sys.argv.index("--steps") + 1]) if "--steps" in sys.argv else 300
core.random.seed(0)
x = core.randn(64, 2)
y = core.randn(64, 4)
ws = [core.Variable(core.randn(2, 64) * 0.5), core.Variable(core.zeros(64)),
      core.Variable(core.randn(64, 64) * 0.1), core.Variable(core.zeros(64)),
      core.Variable(core.randn(64, 4) * 0.1), core.Variable(core.zeros(4))]
for step in range(steps):
    with core.GradientTape() as tape:
        h = core.relu(x @ ws[0] + ws[1])
        h = core.relu(h @ ws[2] + ws[3])
        out = h @ ws[4] + ws[5]
        d = out - y
        loss = core.mean(d * d)
    grads = tape.gradient(loss, ws)
    for w, g in zip(ws, grads):
        w.assign_sub(g * 0.01)
print("loss", loss.item())
'''


def mlp_script() -> str:
    """Path of the MLP script to run (sample_models/mlp.py or an inline one)."""
    from workbench.debug_cli import sample_script

    path = sample_script("sample_models.mlp")
    if path is not None:
        return path
    fd, path = tempfile.mkstemp(suffix="_mlp.py", prefix="wb_bench_")
    with os.fdopen(fd, "w") as f:
        f.write(INLINE_MLP)
    return path


def _quiet():
    """Silence the plain run's own prints (the session captures its own)."""
    return open(os.devnull, "w")


def plain_run(script, argv, clock=time.perf_counter) -> float:
    """Seconds to run ``script`` in-process as __main__ (no hooks)."""
    saved = sys.argv, sys.stdout
    sys.argv = [script, *argv]
    sys.stdout = _quiet()
    t0 = clock()
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        pass
    finally:
        dt = clock() - t0
        sys.stdout.close()
        sys.argv, sys.stdout = saved
    return dt


def session_run(script, argv, clock=time.perf_counter) -> tuple[float, int]:
    """(seconds, ops) to run ``script`` in a Session in continue mode.

    With ``clock=time.process_time`` it is the process's CPU time (the
    main thread only waits), which a busy shared machine disturbs less.
    """
    from workbench.session import Session

    s = Session(script, argv, break_at_first_op=False)
    t0 = clock()
    s.start()
    if not s.join(600):
        s.kill()
        raise RuntimeError("session did not finish")
    return clock() - t0, s.ops_run


def continue_slowdown(steps=300, repeat=5, script=None,
                      clock=time.perf_counter) -> dict:
    """Median-of-``repeat`` plain vs continue-mode session times of the MLP
    (interleaved runs); also the engine's own cost of an empty hook."""
    import statistics

    import core

    class _Empty:
        wants_tape_entries = True

        def after_op(self, ev):
            pass

    script = script or mlp_script()
    argv = ["--steps", str(steps)]
    plain_run(script, argv)                 # warm imports and caches
    plain, empty, sess, ops = [], [], [], 0
    for _ in range(repeat):
        plain.append(plain_run(script, argv, clock))
        with core.hooks.attached(_Empty()):
            empty.append(plain_run(script, argv, clock))
        dt, ops = session_run(script, argv, clock)
        sess.append(dt)
    p, e, s = (statistics.median(x) for x in (plain, empty, sess))
    return {"script": os.path.basename(script), "steps": steps, "ops": ops,
            "clock": clock.__name__, "plain_s": p, "empty_hook_s": e,
            "session_s": s, "slowdown": s / p, "empty_hook_slowdown": e / p,
            "per_op_overhead_us": (s - p) / max(ops, 1) * 1e6}


def step_latency(samples=200, script=None, steps=50) -> dict:
    """p50/p95 (ms) from sending ``s`` to the next Paused record."""
    from workbench.records import Finished, Paused
    from workbench.session import Session

    script = script or mlp_script()
    s = Session(script, ["--steps", str(steps)])
    got = threading.Event()
    stamp = [0]

    def on(ev):
        if isinstance(ev, (Paused, Finished)):
            stamp[0] = time.perf_counter_ns()
            got.set()

    s.subscribe(on)
    s.start()
    lat = []
    try:
        if not got.wait(60):
            raise RuntimeError("session never paused")
        for _ in range(samples):
            if not s.wait_for_prompt(30):
                break
            got.clear()
            t0 = time.perf_counter_ns()
            s.send("s")
            if not got.wait(30):
                raise RuntimeError("no Paused after a step")
            lat.append((stamp[0] - t0) / 1e6)
    finally:
        s.send("q")
        s.join(30)
    lat.sort()
    if not lat:
        return {"samples": 0}
    return {"samples": len(lat), "p50_ms": lat[len(lat) // 2],
            "p95_ms": lat[min(len(lat) - 1, int(len(lat) * 0.95))],
            "max_ms": lat[-1]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--step-samples", type=int, default=200)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("CORE_DEVICE", "cpu")
    script = mlp_script()
    lat = step_latency(args.step_samples, script)
    print(f"step latency ({lat['samples']} steps of {os.path.basename(script)}): "
          f"p50 {lat.get('p50_ms', float('nan')):.3f} ms  "
          f"p95 {lat.get('p95_ms', float('nan')):.3f} ms")
    results = {"step_latency": lat}
    for clock in (time.perf_counter, time.process_time):
        cont = continue_slowdown(args.steps, args.repeat, script, clock)
        results[f"continue_{clock.__name__}"] = cont
        print(f"continue mode ({clock.__name__}): {cont['ops']} ops, plain "
              f"{cont['plain_s']:.3f} s, empty engine hook "
              f"{cont['empty_hook_slowdown']:.2f}x, session "
              f"{cont['session_s']:.3f} s -> {cont['slowdown']:.2f}x "
              f"(target <= 1.5x; {cont['per_op_overhead_us']:.2f} us/op)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
