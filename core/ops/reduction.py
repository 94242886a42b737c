"""Reductions and normalizers: sum mean prod max min argmax argmin var std
logsumexp softmax log_softmax cumsum.  ``axis`` is an int, a tuple or None;
``keepdims`` as in numpy."""

from __future__ import annotations

import builtins

from core.ops._base import apply, defop


def norm_axes(axis, ndim):
    """``axis`` as a sorted tuple of non-negative ints (None -> all)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of bounds for a tensor of "
                             f"rank {ndim}")
        out.append(a % builtins.max(ndim, 1))
    return tuple(sorted(set(out)))


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def expand_back(g, x, axis, keepdims):
    """Broadcast a reduced gradient ``g`` back to ``x``'s shape."""
    from core.ops.shape import broadcast_to, reshape

    axes = norm_axes(axis, x.ndim)
    if not keepdims:
        g = reshape(g, _kept_shape(x.shape, axes))
    return broadcast_to(g, x.shape)


# ----------------------------------------------------------------- sum --


def _sum_make(xp):
    def sum_k(x, axis, keepdims):
        return xp.sum(x, axis=axis, keepdims=keepdims)
    return sum_k


_SUM = defop("sum", _sum_make, vjps=(
    lambda g, ans, x, axis, keepdims: expand_back(g, x, axis, keepdims),))


def sum(x, axis=None, keepdims=False):
    if isinstance(axis, list):
        axis = tuple(axis)
    return apply(_SUM, (x,), {"axis": axis, "keepdims": keepdims})


def mean(x, axis=None, keepdims=False):
    from core.ops.elementwise import div

    from core.tensor import Tensor
    shape = x.shape if isinstance(x, Tensor) else ()
    n = 1
    for a in norm_axes(axis, len(shape)):
        n *= shape[a]
    s = sum(x, axis=axis, keepdims=keepdims)
    return div(s, builtins.max(n, 1)) if n != 1 else s
