"""Runs many tiny ops (1e5+ by default) to exercise the history ring."""

import sys

import core

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
x = core.zeros(4)
for i in range(N // 2):
    x = x + 1.0
    x = x * 1.0
print("total", float(x.sum().item()))
