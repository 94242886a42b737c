"""Produces a NaN in the middle of the forward pass (log of a negative)."""

import core

core.random.seed(2)
x = core.randn(6, 4)
with core.scope("block"):
    a = x * 3.0
    b = a - 100.0                 # all negative
    c = core.log(b)               # NaN produced here (line 10)
    d = c * 2.0                   # NaN flows through
    e = d + 1.0
print("done", e.shape)
