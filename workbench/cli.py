"""The ``workbench`` command line.  Options come before SCRIPT; everything
after SCRIPT is the script's own argv (as with ``python -m pdb``).

Sub-commands live in their own modules and are imported only when used,
so ``workbench --help`` stays fast (no textual, no numpy).
"""

from __future__ import annotations

import argparse
import sys

USAGE = """\
workbench debug [OPTS] SCRIPT [ARGS...]    Textual UI, paused before the first op; --batch: line mode
workbench profile [OPTS] SCRIPT [ARGS...]  bottleneck report; --html/--md/--json/--trace PATH, --py-spy
workbench report RUN.json [--html/--md/--json PATH]   re-render a saved profile
workbench replay RECORDING                 the UI over a recorded run
workbench demo                             debug a bundled sample model
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="workbench",
        description="Watch an eager model run: step through its ops, "
                    "inspect tensors and gradients, profile where time goes.",
        usage=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_ in (
            ("debug", "debug a script (Textual UI, or --batch line mode)"),
            ("profile", "profile a script and print a bottleneck report"),
            ("report", "re-render a saved profile JSON"),
            ("replay", "open the UI over a recorded run"),
            ("demo", "debug a bundled sample model")):
        sp = sub.add_parser(name, help=help_, add_help=False)
        sp.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "debug":
        from workbench.debug_cli import debug_main
        return debug_main(rest)
    if cmd == "demo":
        from workbench.debug_cli import demo_main
        return demo_main(rest)
    if cmd == "replay":
        from workbench.debug_cli import replay_main
        return replay_main(rest)
    if cmd == "profile":
        from profilers.cli import profile_main
        return profile_main(rest)
    if cmd == "report":
        from profilers.cli import report_main
        return report_main(rest)
    parser.print_help(sys.stderr)
    print(f"\nworkbench: unknown command {cmd!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
