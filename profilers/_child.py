"""The child process under ``py-spy record``: run a script under the
Profiler and write the run to a JSON file.

    python -m profilers._child --out PATH [--sync] [--memory]
        [--no-calibrate] -- SCRIPT [ARGS...]

Exits with the script's exit code; the run is written even when the
script fails.
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m profilers._child")
    p.add_argument("--out", required=True)
    p.add_argument("--sync", action="store_true")
    p.add_argument("--memory", action="store_true")
    p.add_argument("--no-calibrate", action="store_true")
    p.add_argument("script")
    p.add_argument("args", nargs=argparse.REMAINDER)
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        i = argv.index("--")
        opts = p.parse_args(argv[:i] + argv[i + 1:i + 2])
        opts.args = argv[i + 2:]
    else:
        opts = p.parse_args(argv)
    from profilers.cli import run_script
    from profilers.records import save_run

    run, code = run_script(opts.script, opts.args, sync=opts.sync,
                           memory=opts.memory,
                           calibrate=not opts.no_calibrate, progress=False)
    save_run(run, opts.out)
    return int(code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
