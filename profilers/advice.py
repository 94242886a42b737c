"""Recommendation rules: evidence from the records, then what to do.

Each rule is a pure function ``rule(ctx) -> list[Recommendation]`` over a
:class:`Context` (the run, its summary and tables).  A rule fires only when
its evidence clears a threshold stated beside it; the evidence lines quote
the numbers that made it fire.
"""

from __future__ import annotations

from dataclasses import dataclass

from profilers import aggregate as A
from profilers.records import ProfileRun

# thresholds (documented in SCHEMA.md)
TINY_OP_NS = 20_000          # an op this short is launch/dispatch bound
LAUNCH_MIN_CALLS = 50
LAUNCH_MIN_DISPATCH = 0.5    # dispatch share of the line's op time
LINE_MIN_SHARE = 0.05        # of corrected wall time
TRANSFER_MIN_SHARE = 0.01
REPEAT_MIN_EXTRA = 2         # identical computations beyond the first, total
BACKWARD_DOMINANT = 0.6      # of all backward time
BACKWARD_MIN_SHARE = 0.05    # backward time of the module, of corrected wall
LARGE_MATMUL_FLOPS = 50e6    # per call
LOW_GFLOPS_ABS = 5.0         # GFLOP/s: below this a large matmul is slow anywhere
LOW_GFLOPS_REL = 0.25        # of the best large matmul in the same run
OUTSIDE_MIN_SHARE = 0.3
DISPATCH_MIN_SHARE = 0.5     # of in-op time, whole run
DISPATCH_MIN_OPS = 200


@dataclass(frozen=True)
class Recommendation:
    rule: str
    title: str
    evidence: tuple          # strings quoting the numbers
    action: str
    impact_ns: float         # time at stake (an upper bound of the saving)
    where: str = ""

    def to_dict(self):
        return {"rule": self.rule, "title": self.title,
                "evidence": list(self.evidence), "action": self.action,
                "impact_ns": self.impact_ns, "where": self.where}


@dataclass(frozen=True)
class Context:
    run: ProfileRun
    summary: A.Summary
    by_line: list
    by_module: list
    by_shape: list
    pyspy: dict | None = None


def fmt_ns(ns) -> str:
    if ns is None:
        return "-"
    ns = float(ns)
    if abs(ns) >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if abs(ns) >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if abs(ns) >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def fmt_bytes(n) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _pct(x) -> str:
    return f"{100 * x:.0f}%"


def _per_step(n, steps) -> str:
    return f" ({n / steps:.1f} per step)" if steps else ""


# ---------------------------------------------------------------- rules --


def launch_bound_lines(ctx: Context):
    out = []
    steps = ctx.summary.steps
    for row in ctx.by_line:
        if row.calls < LAUNCH_MIN_CALLS or row.mean_ns > TINY_OP_NS:
            continue
        disp = row.dispatch_ns / row.total_ns if row.total_ns else 0.0
        if disp < LAUNCH_MIN_DISPATCH or row.share < LINE_MIN_SHARE:
            continue
        ops = dict(row.extra).get("ops", "")
        out.append(Recommendation(
            "launch_bound", f"Many tiny ops on {row.key}",
            (f"{row.calls} ops{_per_step(row.calls, steps)} averaging "
             f"{fmt_ns(row.mean_ns)} each, {_pct(row.share)} of wall time",
             f"{_pct(disp)} of their time is eager dispatch overhead, "
             f"{_pct(1 - disp)} kernels",
             f"ops: {ops}"),
            "Issue fewer, larger ops: vectorize the Python loop around this "
            "line or batch its work into one tensor op; or wrap the function "
            "in core.function so dispatch is paid once per call.",
            row.dispatch_ns, row.key))
    return out


def transfers(ctx: Context):
    recs = [r for r in ctx.run.records if r.name == "to_device"]
    if not recs:
        return []
    ov = ctx.run.overhead.in_op_ns
    t = sum(A.op_time(r, ov) for r in recs)
    dev = sum(r.device_ns or 0 for r in recs)
    wall = ctx.summary.corrected_wall_ns
    share = max(t, dev) / wall if wall else 0.0
    if share < TRANSFER_MIN_SHARE:
        return []
    nbytes = sum(r.out_bytes for r in recs)
    lines = {}
    for r in recs:
        lines[A.loc_str(r.src)] = lines.get(A.loc_str(r.src), 0) + 1
    top = sorted(lines.items(), key=lambda kv: -kv[1])[:3]
    steps = ctx.summary.steps
    dirs = sorted({f"{(r.attr('device') or '?')}" for r in recs})
    return [Recommendation(
        "transfers", "Host<->device transfers",
        (f"{len(recs)} to_device ops{_per_step(len(recs), steps)} moved "
         f"{fmt_bytes(nbytes)} in {fmt_ns(max(t, dev))}, {_pct(share)} of wall time",
         "to: " + ", ".join(dirs),
         "from: " + ", ".join(f"{k} x{v}" for k, v in top)),
        "Move data to the device once, before the loop; keep intermediate "
        "results on the device and read back (.numpy(), .item()) only what "
        "you print or log, every N steps.",
        max(t, dev), top[0][0])]


def repeated_computations(ctx: Context):
    """Forward ops recomputed with the same Variables in one forward pass.

    A forward pass is the stretch of forward ops that a backward pass
    ends, so only training passes count: an evaluation loop (many forward
    passes, no backward in between) repeats every op by design, and its
    passes cannot be told apart from the records."""
    ov = ctx.run.overhead.in_op_ns
    groups = {}
    segment = 0
    prev_phase = "forward"
    trained = set()             # segments a backward pass ended
    for r in ctx.run.records:
        if r.phase != prev_phase:
            if r.phase == "forward":
                segment += 1
            else:
                trained.add(segment)
            prev_phase = r.phase
        if r.phase != "forward" or not r.variables:
            continue
        tensor_inputs = [v for s, v in zip(r.shapes, r.variables) if s is not None]
        if not tensor_inputs or any(v is None for v in tensor_inputs):
            continue
        key = (r.name, r.attrs, r.variables, tuple(r.src))
        groups.setdefault(key, {}).setdefault(segment, []).append(r)
    out = []
    for (name, attrs, variables, src), segs in groups.items():
        segs = {k: rs for k, rs in segs.items() if k in trained}
        if not segs:
            continue
        extra = [r for rs in segs.values() for r in rs[1:]]
        if len(extra) < REPEAT_MIN_EXTRA:
            continue
        per_pass = max(len(rs) for rs in segs.values())
        if per_pass < 2:
            continue
        wasted = sum(A.op_time(r, ov) for r in extra)
        names = ", ".join(v.split("#")[0] for v in variables if v)
        out.append(Recommendation(
            "repeated", f"{name} recomputed with the same inputs at {A.loc_str(src)}",
            (f"{name}({names}) ran up to {per_pass} times in one forward pass "
             f"with the same Variables and attributes",
             f"{len(extra)} repeats over the run cost {fmt_ns(wasted)}"),
            "Compute it once per step (hoist it out of the loop) and reuse the "
            "result.", wasted, A.loc_str(src)))
    return out


def backward_dominant_layer(ctx: Context):
    mods = [r for r in ctx.by_module if r.key != "<no module>"]
    total_bwd = ctx.summary.backward_ns
    if total_bwd <= 0:
        return []
    children = {}
    for r in mods:
        parent = r.key.rsplit(".", 1)[0] if "." in r.key else ""
        children.setdefault(parent, []).append(r)
    best = None
    for parent, kids in children.items():
        if len(kids) < 2:
            continue
        for r in kids:
            if r.backward_ns / total_bwd >= BACKWARD_DOMINANT and \
                    r.backward_ns / max(1.0, ctx.summary.corrected_wall_ns) >= \
                    BACKWARD_MIN_SHARE:
                if best is None or r.key.count(".") > best.key.count("."):
                    best = r
    if best is None:
        return []
    ov = ctx.run.overhead.in_op_ns
    n = best.key.count(".") + 1
    path = tuple(best.key.split("."))
    ops = {}
    for r in ctx.run.records:
        if r.phase == "backward" and tuple(r.scope[:n]) == path:
            ops[r.name] = ops.get(r.name, 0.0) + A.op_time(r, ov)
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:3]
    ratio = best.backward_ns / best.forward_ns if best.forward_ns else float("inf")
    return [Recommendation(
        "backward_layer", f"{best.key} dominates the backward pass",
        (f"{best.key}: {fmt_ns(best.backward_ns)} of {fmt_ns(total_bwd)} backward "
         f"time ({_pct(best.backward_ns / total_bwd)})",
         f"its forward takes {fmt_ns(best.forward_ns)} (backward/forward "
         f"{ratio:.1f}x)",
         "top backward ops: " + ", ".join(f"{k} {fmt_ns(v)}" for k, v in top)),
        "Look at this layer's gradient: a smaller or cheaper formulation, fewer "
        "broadcasts in its forward (each one is summed back in backward), or "
        "freezing it (trainable=False) if it need not learn.",
        best.backward_ns, best.key)]


def slow_matmuls(ctx: Context):
    large = [r for r in ctx.by_shape
             if r.flops and r.gflops is not None and r.calls
             and r.flops / r.calls >= LARGE_MATMUL_FLOPS]
    if not large:
        return []
    best = max(r.gflops for r in large)
    out = []
    for r in large:
        rel = r.gflops / best if best else 1.0
        if r.gflops >= LOW_GFLOPS_ABS and rel >= LOW_GFLOPS_REL:
            continue
        hint = ""
        if "f64" in r.key:
            hint = " Its operands are float64: float32 is about twice as fast."
        out.append(Recommendation(
            "slow_matmul", f"Low GFLOP/s for {r.key}",
            (f"{r.calls} calls of {r.flops / r.calls / 1e6:.0f} MFLOP each took "
             f"{fmt_ns(r.total_ns)}: {r.gflops:.1f} GFLOP/s achieved",
             f"best large matmul-like op in this run: {best:.1f} GFLOP/s"),
            "Check dtype, contiguity (a transposed operand may be copied) and "
            "whether many calls could be one batched call." + hint,
            r.total_ns * (1 - rel), r.key))
    return out


def outside_ops(ctx: Context):
    s = ctx.summary
    if not s.corrected_wall_ns:
        return []
    share = s.outside_op_ns / s.corrected_wall_ns
    if share < OUTSIDE_MIN_SHARE:
        return []
    ev = [f"{fmt_ns(s.outside_op_ns)} of {fmt_ns(s.corrected_wall_ns)} "
          f"({_pct(share)}) ran outside ops (Python, data preparation)"]
    py = ctx.pyspy or {}
    rows = py.get("outside_by_line") or []
    if rows:
        ev.append("py-spy, outside ops: " + "; ".join(
            f"{r['function']} {r['location']} {fmt_ns(r['time_ns'])}"
            for r in rows[:3]))
        action = ("Speed up or move out of the training loop the Python "
                  "functions py-spy found above (prefetch or precompute data).")
    else:
        action = ("Run with --py-spy to see which Python functions and lines "
                  "take that time.")
    return [Recommendation("outside_ops", "Time outside ops", tuple(ev), action,
                           s.outside_op_ns)]


def dispatch_overall(ctx: Context):
    s = ctx.summary
    if s.ops < DISPATCH_MIN_OPS or not s.in_op_ns:
        return []
    share = s.dispatch_ns / s.in_op_ns
    if share < DISPATCH_MIN_SHARE:
        return []
    return [Recommendation(
        "dispatch_overhead", "Eager dispatch overhead dominates op time",
        (f"{s.ops} ops averaging {fmt_ns(s.in_op_ns / s.ops)}; "
         f"{_pct(share)} of in-op time is dispatch, not kernels",),
        "Make ops bigger (larger batches) or trace the step with "
        "core.function to replay it without per-op dispatch.",
        s.dispatch_ns)]


RULES = (launch_bound_lines, transfers, repeated_computations,
         backward_dominant_layer, slow_matmuls, outside_ops, dispatch_overall)


def recommend(ctx: Context) -> list:
    out = []
    for rule in RULES:
        out.extend(rule(ctx))
    out.sort(key=lambda r: -r.impact_ns)
    return out
