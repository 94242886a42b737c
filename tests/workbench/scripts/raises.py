"""Raises mid-run: the post-mortem script."""

import core


def bad_shapes(a):
    local_marker = 42
    b = core.ones(5, 7)
    return a @ b          # (3, 4) @ (5, 7): a ShapeError naming matmul


x = core.ones(3, 4)
y = x * 2.0
print("before the error")
z = bad_shapes(y)
print("never printed")
