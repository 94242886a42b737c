"""The command interpreter of a paused :class:`workbench.session.Session`.

``run_command(session, line)`` runs one pdb-style command on the worker
thread while the script is paused and returns True when the script should
resume.  Results go to subscribers as :class:`CommandResult` events (and a
fresh :class:`Paused` after ``up``/``down``).  The vocabulary is listed in
the docstring of :mod:`workbench.session`.
"""

from __future__ import annotations

import os

import numpy as np

from core.fileio import atomic_write

from workbench import breakpoints as _bp
from workbench.records import PostMortem
from workbench.session_support import build_frames, format_where, timing_rows
from workbench.summary import to_host

HELP = """\
step s | next n | continue c | finish r | until N | quit q
break b [OPNAME | FILE:LINE | LINE | nan | inf | nonfinite] [if COND]
tbreak ... | clear [N ...] | disable N ... | enable N ... | ignore N COUNT
condition N [COND] | display [EXPR] | undisplay [N|EXPR]
print p EXPR | pp EXPR | up u [N] | down d [N] | where w
inspect OP SLOT [SLICE] | save OP SLOT PATH   (SLOT: out, outN, inN)
conditions see: out inputs a b c d x name index phase scope file line,
absmax amax amin mean std norm numel anynan anyinf nonfinite np"""

ALIASES = {
    "s": "step", "n": "next", "c": "continue", "cont": "continue",
    "r": "finish", "return": "finish", "unt": "until", "q": "quit",
    "exit": "quit", "b": "break", "tb": "tbreak", "cl": "clear",
    "p": "print", "u": "up", "d": "down", "w": "where", "bt": "where",
    "h": "help", "?": "help", "interrupt": "pause", "disp": "display",
}


def parse_command(line, aliases=None):
    """(command, argument) of a command line, ``aliases`` (default: the
    live session's) resolved; ``w PATH`` with three arguments is ``save``,
    bare ``w`` is ``where``."""
    word, _, arg = line.partition(" ")
    word = word.lower()
    arg = arg.strip()
    aliases = ALIASES if aliases is None else aliases
    cmd = aliases.get(word, word)
    if cmd == "where" and len(arg.split()) == 3:
        cmd = "save"
    return cmd, arg


def run_command(s, line) -> bool:
    """Run ``line`` for session ``s``; True when the script resumes."""
    from workbench.session import CONTINUE, FINISH, NEXT, STEP, UNTIL, QuitSession

    line = line.strip()
    if not line:
        return False
    cmd, arg = parse_command(line)
    p = s._pause
    pm = p is not None and p.pm
    res = s._result
    try:
        if cmd == "quit":
            s._quitting = True
            raise QuitSession()
        if cmd in ("step", "next", "continue", "finish", "until"):
            if pm:
                res(line, "leaving post-mortem; the script ends")
                return True
            if cmd == "until":
                try:
                    n = int(arg.lstrip("#"))
                except ValueError:
                    res(line, "usage: until OP_INDEX", ok=False)
                    return False
                s._resume(UNTIL, n)
                return True
            if cmd == "finish" and p is not None and p.frames and \
                    p.frames[p.frame_index].f_code is s._code:
                s._resume(CONTINUE)
                return True
            mode = {"step": STEP, "next": NEXT, "continue": CONTINUE,
                    "finish": FINISH}[cmd]
            if mode == NEXT and (p is None or not p.frames):
                mode = STEP
            s._resume(mode)
            return True
        if cmd in ("break", "tbreak"):
            _break(s, line, arg, temporary=cmd == "tbreak")
        elif cmd in BREAKPOINT_COMMANDS:
            manage_breakpoints(s.breakpoints, line, cmd, arg, res)
            s._recheck()
        elif cmd in WATCH_COMMANDS:
            watch_command(s, line, cmd, arg, res)
        elif cmd in ("up", "down"):
            _move(s, line, cmd, arg)
        elif cmd == "where":
            if p is None:
                res(line, "not paused", ok=False)
            else:
                res(line, format_where(build_frames(p.frames), p.frame_index))
        elif cmd in TENSOR_COMMANDS:
            tensor_command(lambda *a: values_of(s, *a), line, cmd, arg, res)
        elif cmd == "pause":
            s._interrupt = False
            res(line, "already paused")
        elif cmd == "help":
            res(line, HELP)
        else:
            res(line, f"unknown command {cmd!r}; try 'help'", ok=False)
    except _bp.BreakError as e:
        res(line, str(e), ok=False)
    return False


BREAKPOINT_COMMANDS = ("clear", "disable", "enable", "ignore", "condition")
TENSOR_COMMANDS = ("inspect", "save")


def eval_text(evaluate, expr, pretty, render):
    """(ok, text) of ``evaluate(expr)``: ``pprint`` with ``pretty``, else
    ``render(value)``; an exception becomes pdb's ``*** Error: ...``."""
    try:
        v = evaluate(expr)
    except Exception as e:
        return False, f"*** {type(e).__name__}: {e}"
    if pretty:
        import pprint
        return True, pprint.pformat(v)
    return True, render(v)


def tensor_command(values, line, cmd, arg, res):
    """``inspect OP SLOT [SLICE]`` and ``save OP SLOT PATH``, for the live
    session and a replay alike; ``values(op, slot, slice_text)`` gives an
    array or an error string."""
    parts = arg.split(None, 2)
    if cmd == "inspect":
        if len(parts) < 2:
            res(line, "usage: inspect OP_INDEX SLOT [SLICE]", ok=False)
            return
        v = values(parts[0], parts[1], parts[2] if len(parts) > 2 else "")
    else:
        if len(parts) != 3:
            res(line, "usage: save OP_INDEX SLOT PATH", ok=False)
            return
        v = values(parts[0], parts[1], "")
    if isinstance(v, str):
        res(line, v, ok=False)
    elif cmd == "inspect":
        res(line, f"{v.shape} {v.dtype}\n" + np.array2string(
            v, threshold=1000, edgeitems=4, precision=4))
    else:
        res(line, f"saved {v.shape} {v.dtype} to {save_npy(parts[2], v)}")
WATCH_COMMANDS = ("display", "undisplay", "print", "pp")


def manage_breakpoints(bps, line, cmd, arg, res):
    """clear / disable / enable / ignore / condition on ``bps`` (a
    :class:`workbench.breakpoints.Breakpoints`); shared by the live session
    and the replay.  Results go to ``res(line, text, ok)``."""
    if cmd == "clear":
        if not arg:
            bps.table.clear()
            bps.reindex()
            res(line, "deleted all breakpoints")
        else:
            nums = bps.parse_numbers(arg)
            for n in nums:
                bps.remove(n)
            res(line, f"deleted breakpoint {' '.join(map(str, nums))}")
    elif cmd in ("disable", "enable"):
        nums = bps.parse_numbers(arg) if arg else list(bps.table)
        for n in nums:
            bps.table[n].enabled = cmd == "enable"
        bps.reindex()
        res(line, f"{cmd}d breakpoint {' '.join(map(str, nums))}")
    elif cmd == "ignore":
        parts = arg.split()
        nums = bps.parse_numbers(parts[0]) if parts else []
        if len(parts) != 2 or not parts[1].isdigit() or not nums:
            res(line, "usage: ignore N COUNT", False)
            return
        bp = bps.table[nums[0]]
        bp.ignore = int(parts[1])
        res(line, f"will ignore next {bp.ignore} crossings of breakpoint "
                  f"{bp.number}")
    elif cmd == "condition":
        num, _, cond = arg.partition(" ")
        bp = bps.table[bps.parse_numbers(num)[0]]
        new = _bp.Breakpoint(bp.number, bp.kind, op=bp.op, file=bp.file,
                             line=bp.line, nan=bp.nan,
                             cond=cond.strip() or None,
                             temporary=bp.temporary)
        bps.add(new)
        res(line, new.describe())


def watch_command(s, line, cmd, arg, res):
    """display / undisplay / print / pp, for any session with ``displays``,
    ``_eval_displays()`` and ``_eval_text()`` (live or replay)."""
    if cmd == "display":
        if not arg:
            res(line, "\n".join(f"{i + 1}: {e} = {v}" for i, (e, v)
                                in enumerate(s._eval_displays()))
                or "no display expressions")
        else:
            if arg not in s.displays:
                s.displays.append(arg)
            ok, text = s._eval_text(arg)
            res(line, f"display {arg}: {text}", ok)
    elif cmd == "undisplay":
        if not arg:
            s.displays.clear()
        elif arg.isdigit() and 0 < int(arg) <= len(s.displays):
            del s.displays[int(arg) - 1]
        elif arg in s.displays:
            s.displays.remove(arg)
        else:
            res(line, f"no display {arg!r}", False)
            return
        res(line, "ok")
    elif not arg:
        res(line, f"usage: {cmd} EXPR", False)
    else:
        ok, text = s._eval_text(arg, pretty=cmd == "pp")
        res(line, text, ok)


def _break(s, line, arg, temporary):
    from core import registry
    f = s._selected_frame() if arg else None
    text = s.breakpoints.command(arg, temporary,
                                 f.f_code.co_filename if f is not None else None,
                                 registry())
    s._recheck()
    s._result(line, text)


def _move(s, line, cmd, arg):
    p = s._pause
    if p is None or not p.frames:
        s._result(line, "no frames", ok=False)
        return
    n = int(arg) if arg.isdigit() else 1
    old = p.frame_index
    if cmd == "up":
        p.frame_index = max(0, old - n)
    else:
        p.frame_index = min(len(p.frames) - 1, old + n)
    if p.frame_index == old:
        s._result(line, f"*** {'oldest' if cmd == 'up' else 'newest'} frame",
                  ok=False)
        return
    f = p.frames[p.frame_index]
    s._result(line, f"> {os.path.basename(f.f_code.co_filename)}:"
                    f"{f.f_lineno} in {f.f_code.co_name}")
    if p.pm:
        s._post(PostMortem(*s._pm_head, build_frames(p.frames), p.frame_index,
                           timing_rows(s._timing)))
    else:
        s._post(s._paused_event())


# ------------------------------------------------------------- values --


def _slot(raw, slot):
    slot = str(slot).strip().lower()
    ins, outs = raw.vals
    if slot in ("out", "output"):
        slot = "out0"
    if slot.startswith("out") and slot[3:].isdigit():
        i = int(slot[3:])
        if not outs:
            return f"the output of #{raw.index} is not computed yet " \
                   "(paused before its kernel)"
        return outs[i] if i < len(outs) else f"#{raw.index} has {len(outs)} output(s)"
    if slot.startswith("in") and slot[2:].isdigit():
        i = int(slot[2:])
        if i >= len(ins):
            return f"#{raw.index} {raw.name} has {len(ins)} input(s)"
        x = ins[i]
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            return x
        if isinstance(x, tuple):
            return f"a list of {len(x)} operands"
        from workbench.summary import scalar_repr
        return scalar_repr(x)
    return f"unknown slot {slot!r}; use out, outN or inN"


def values_of(s, op_index, slot, slice_text):
    """A numpy copy of a kept tensor's values (sliced), or an error string."""
    try:
        op_index = int(str(op_index).lstrip("#"))
    except ValueError:
        return f"not an op index: {op_index!r}"
    raw = None
    p = s._pause
    if p is not None and p.raw is not None and p.raw.index == op_index:
        raw = p.raw
    if raw is None:
        pos = s.history.find(op_index)
        if pos is None:
            return f"op #{op_index} is not in the history"
        raw = s.history.raw(pos)
    if raw.vals is None:
        return (f"values of op #{op_index} were not kept "
                "(older than the history memory budget)")
    arr = _slot(raw, slot)
    if isinstance(arr, str):
        if arr.startswith(("the output", "#", "unknown")):
            return arr
        return f"{slot} of #{op_index} is not a tensor: {arr}"
    try:
        idx = _bp.parse_slice(slice_text)
        view = arr[idx] if idx != () else arr
    except (ValueError, IndexError, TypeError) as e:
        return f"bad slice {slice_text!r} for shape {tuple(arr.shape)}: {e}"
    return np.array(to_host(view, raw.device), copy=True)


def save_npy(path, arr) -> str:
    """Write ``arr`` to ``path`` (.npy) atomically; returns the path."""
    path = os.path.abspath(os.path.expanduser(path))
    if not path.endswith(".npy"):
        path += ".npy"
    with atomic_write(path) as f:
        np.save(f, arr, allow_pickle=False)
    return path
