"""``workbench debug``, ``workbench demo`` and ``workbench replay``.

Options come before SCRIPT; everything after SCRIPT is the script's own
argv (as with ``python -m pdb``).  Textual is imported only for the UI.
"""

from __future__ import annotations

import importlib.util
import os
import sys

DEBUG_USAGE = """\
usage: workbench debug [--batch] [--no-break] [--history N] [--record PATH]
                       [--record-budget MB] SCRIPT [ARGS...]

  --batch       line mode: commands from stdin, one line per pause on stdout
  --no-break    do not pause before the first op (run to a breakpoint)
  --history N   keep the last N ops in the history ring (default 1000000)
  --record PATH when the run ends (or on quit) save a recording for
                `workbench replay PATH`: the op history, kept tensor values,
                sources, output and the final state
  --record-budget MB  tensor values in the recording, newest first (default 64)
"""

REPLAY_USAGE = """\
usage: workbench replay [--batch] RECORDING

  Open the debugger over a run saved with `workbench debug --record PATH`
  (time travel: step / back, continue / reverse-continue (rc), jump N).
  --batch       line mode: commands from stdin, one line per pause on stdout
"""


def _parse(argv, usage):
    opts = {"batch": False, "break": True, "history": None, "record": None,
            "record_budget": None}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        if a in ("-h", "--help"):
            print(usage)
            return None, 0
        if a == "--batch":
            opts["batch"] = True
        elif a == "--no-break":
            opts["break"] = False
        elif a == "--history" and i + 1 < len(argv) and argv[i + 1].isdigit():
            opts["history"] = int(argv[i + 1])
            i += 1
        elif a == "--record" and i + 1 < len(argv):
            opts["record"] = argv[i + 1]
            i += 1
        elif a == "--record-budget" and i + 1 < len(argv) and \
                argv[i + 1].replace(".", "", 1).isdigit():
            opts["record_budget"] = int(float(argv[i + 1]) * (1 << 20))
            i += 1
        elif a == "--":
            i += 1
            break
        else:
            print(f"workbench: unknown option {a!r}\n\n{usage}", file=sys.stderr)
            return None, 2
        i += 1
    return (opts, argv[i:]), None


def debug_main(argv) -> int:
    """``workbench debug [OPTS] SCRIPT [ARGS...]``."""
    parsed, code = _parse(list(argv), DEBUG_USAGE)
    if parsed is None:
        return code
    opts, rest = parsed
    if not rest:
        print(f"workbench debug: no SCRIPT given\n\n{DEBUG_USAGE}", file=sys.stderr)
        return 2
    script, script_argv = rest[0], rest[1:]
    if not os.path.isfile(script):
        print(f"workbench debug: no such script: {script}", file=sys.stderr)
        return 2
    try:
        with open(script, "rb") as f:
            compile(f.read(), script, "exec")
    except (SyntaxError, ValueError) as e:
        print(f"workbench debug: cannot compile {script}: {e}", file=sys.stderr)
        return 1
    from workbench.history import History
    history = History(capacity=opts["history"]) if opts["history"] else None
    recorders = []

    def record(session):
        if opts["record"]:
            from workbench.recording import DEFAULT_BUDGET, Recorder
            rec = Recorder(session, opts["record"],
                           budget=opts["record_budget"] or DEFAULT_BUDGET)
            session.subscribe(rec)
            recorders.append(rec)

    if opts["batch"]:
        from workbench.batch import run_batch
        rc = run_batch(script, script_argv, break_at_first_op=opts["break"],
                       history=history, setup=record)
        _report_recording(recorders)
        return rc
    from workbench.session import Session
    session = Session(script, script_argv, break_at_first_op=opts["break"],
                      history=history)
    record(session)
    from workbench.app import run_app
    rc = run_app(session)
    _report_recording(recorders)
    if isinstance(rc, int):
        return rc
    return session.exit_code if session.exit_code is not None else 0


def _report_recording(recorders):
    """Wait for the recording to be written; say where (stderr)."""
    for rec in recorders:
        rec.wait(300)
        print(rec.report(), file=sys.stderr)


def sample_script(module="sample_models.mlp") -> str | None:
    """The file of a bundled sample model module, or None."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    return spec.origin


def demo_main(argv) -> int:
    """``workbench demo [--batch] [ARGS...]``: debug sample_models/mlp.py."""
    argv = list(argv)
    if argv and argv[0] in ("-h", "--help"):
        print("usage: workbench demo [--batch] [--no-break] [ARGS...]\n\n"
              "Debug the bundled sample model sample_models/mlp.py.")
        return 0
    path = sample_script()
    if path is None:
        print("workbench demo: the sample model sample_models.mlp is not "
              "installed", file=sys.stderr)
        return 2
    opts = []
    while argv and argv[0] in ("--batch", "--no-break"):
        opts.append(argv.pop(0))
    return debug_main([*opts, path, *argv])


def replay_main(argv) -> int:
    """``workbench replay [--batch] RECORDING``: the UI over a recording."""
    argv = list(argv)
    batch = False
    while argv and argv[0].startswith("-"):
        a = argv.pop(0)
        if a in ("-h", "--help"):
            print(REPLAY_USAGE)
            return 0
        if a == "--batch":
            batch = True
        elif a == "--":
            break
        else:
            print(f"workbench replay: unknown option {a!r}\n\n{REPLAY_USAGE}",
                  file=sys.stderr)
            return 2
    if len(argv) != 1:
        print(f"workbench replay: give one RECORDING\n\n{REPLAY_USAGE}",
              file=sys.stderr)
        return 2
    from workbench.recording import RecordingError, load_recording
    try:
        recording = load_recording(argv[0])
    except RecordingError as e:
        print(f"workbench replay: {e}", file=sys.stderr)
        return 2
    from workbench.replay import ReplaySession, run_replay_batch
    session = ReplaySession(recording, banner=not batch)
    if batch:
        return run_replay_batch(session)
    from workbench.app import run_app
    name = os.path.basename(session.script) or "recording"
    run_app(session, script=f"{name} (replay)")
    return 0
