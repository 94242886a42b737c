"""Prints heavily to stdout and stderr while running ops."""

import sys

import core

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
x = core.ones(3)
for i in range(N):
    if i % 500 == 0:
        x = x + 1.0
    print(f"line {i}")
    if i % 1000 == 0:
        print(f"err {i}", file=sys.stderr)
print("last line", float(x.sum().item()))
