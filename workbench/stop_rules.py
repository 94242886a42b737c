"""When the session stops: step modes and breakpoints.

The op hook of :class:`workbench.session.Session` asks these functions,
with the session as ``s``, whether the op it is about to run (or has just
run) is a place to pause, and why: ``mode_stop`` for the run mode (step,
next, finish, until), ``before_breakpoint`` for op-name and ``FILE:LINE``
breakpoints, ``after_reason`` (after the kernel) for NaN/Inf and
conditional ones.  Each returns the reason text, or None.
"""

from __future__ import annotations

import sys

from core import _dispatch as _D
from workbench import breakpoints as _bp

# step modes
CONTINUE, STEP, NEXT, FINISH, UNTIL = "continue", "step", "next", "finish", "until"


def mode_stop(s, ev):
    """The reason the run mode stops before ``ev``, or None."""
    mode = s._mode
    if mode == CONTINUE:
        return None
    if mode == STEP:
        reason = s._start_reason or "step"
        s._start_reason = None
        return reason
    if mode == UNTIL:
        return f"until {s._mode_arg}" if ev.index >= s._mode_arg else None
    frame, line, lasti, callee = s._mode_arg
    found, child = find_in_stack(frame)
    if mode == NEXT:
        if not found:
            return "next"               # the frame returned
        if frame.f_lineno != line or frame.f_lasti < lasti:
            return "next"               # a new line, or a loop went back
        if frame.f_lasti == lasti and child is not callee:
            return "next"               # the same call, made again
        return None
    if mode == FINISH:
        return None if found else \
            f"finish (returned from {frame.f_code.co_name})"
    return None

def before_breakpoint(s, ev):
    """The reason an op-name or FILE:LINE breakpoint stops before ``ev``."""
    bps = s.breakpoints
    cands = bps.before_ops.get(ev.name, ())
    loc = ev.location
    if loc is not None:
        cands = list(cands) + list(bps.before_lines.get(loc[1], ()))
    for bp in cands:
        if not bp.matches_site(ev.name, loc):
            continue
        if bp.kind == "line":
            # one stop per execution of the line, not one per op on it
            f = op_user_frame()
            _, child = find_in_stack(f)
            last = bp.last_site
            bp.last_site = (f, f.f_lasti, child)
            if last is not None and last[0] is f and (
                    f.f_lasti > last[1] or
                    (f.f_lasti == last[1] and child is last[2])):
                continue
        r = hit(s, bp)
        if r:
            return r
    return None

def hit(s, bp, extra=""):
    """Count a hit on ``bp``: its reason text, or None while ignored."""
    reason = s.breakpoints.hit(bp, extra)
    if reason and bp.temporary:
        s._recheck()            # one breakpoint fewer to check per op
    return reason


def after_reason(s, ev, out):
    """The reason a NaN/Inf or conditional breakpoint stops after the
    kernel of ``ev`` (``out``: its output array), or None."""
    kind = None
    reason = None
    for bp in list(s.breakpoints.after):
        if not bp.matches_site(ev.name, ev.location):
            continue
        if bp.kind == "nan":
            if kind is None:
                from workbench.summary import nonfinite_kind
                kind = nonfinite_kind(out) or ""
            if kind not in bp.nan:
                continue
            fresh = inputs_finite(ev.inputs)
            if bp.nonfinite_seen and not fresh:
                continue        # NaN flowing through, not produced here
            bp.nonfinite_seen = True
            src = "finite inputs" if fresh else "non-finite inputs"
            reason = hit(s, bp, f": {kind} in output of #{ev.index} "
                                   f"{ev.name} (from {src})")
        else:
            stop, err = _bp.eval_condition(bp, ev)
            if not stop:
                continue
            reason = hit(s, bp, f" (condition error: {err})" if err else "")
        if reason:
            break
    return reason

def op_user_frame():
    """The user's frame that issued the op being hooked (skip our frames,
    then the engine's)."""
    f = sys._getframe(1)
    core_dir = _D._CORE_DIR
    while f is not None and not f.f_code.co_filename.startswith(core_dir):
        f = f.f_back
    return _D.user_frame_from(f)


def find_in_stack(target):
    """(found, child): whether ``target`` is on the current call stack,
    and the frame it called (held by the caller to tell two calls apart)."""
    f = sys._getframe(2)
    prev = None
    while f is not None:
        if f is target:
            return True, prev
        prev = f
        f = f.f_back
    return False, None


def inputs_finite(inputs) -> bool:
    from workbench.summary import nonfinite_kind
    for x in inputs:
        d = getattr(x, "_data", None)
        if d is not None and nonfinite_kind(d):
            return False
    return True
