"""``workbench debug``, ``workbench demo`` and ``workbench replay``.

Options come before SCRIPT; everything after SCRIPT is the script's own
argv (as with ``python -m pdb``).  Textual is imported only for the UI.
"""

from __future__ import annotations

import importlib.util
import os
import sys

DEBUG_USAGE = """\
usage: workbench debug [--batch] [--no-break] [--history N] SCRIPT [ARGS...]

  --batch       line mode: commands from stdin, one line per pause on stdout
  --no-break    do not pause before the first op (run to a breakpoint)
  --history N   keep the last N ops in the history ring (default 1000000)
"""


def _parse(argv, usage):
    opts = {"batch": False, "break": True, "history": None}
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
    if opts["batch"]:
        from workbench.batch import run_batch
        return run_batch(script, script_argv, break_at_first_op=opts["break"],
                         history=history)
    from workbench.session import Session
    session = Session(script, script_argv, break_at_first_op=opts["break"],
                      history=history)
    from workbench.app import run_app
    rc = run_app(session)
    if isinstance(rc, int):
        return rc
    return session.exit_code if session.exit_code is not None else 0


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
    """``workbench replay RECORDING`` (not available yet)."""
    print("workbench replay: recordings are not supported in this version",
          file=sys.stderr)
    return 2
