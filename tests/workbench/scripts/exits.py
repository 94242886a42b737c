"""Exits with a status code of its own after one op (argv checked)."""

import os
import sys

import core

assert os.path.basename(sys.argv[0]) == "exits.py", sys.argv
assert __name__ == "__main__"
y = core.ones(2) + 1.0
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
