"""Shared helpers for op definitions: registration and unbroadcasting."""

from __future__ import annotations

from core._dispatch import apply, binary, defop, unary  # noqa: F401
from core.autodiff import vjp_all  # noqa: F401
from core.tensor import Tensor, _make  # noqa: F401


def unbroadcast(g, x):
    """Sum ``g`` down to the shape of operand ``x`` (the one helper every
    binary gradient uses to undo broadcasting).  Scalars get None."""
    if not isinstance(x, Tensor):
        return None
    shape = x._data.shape
    gshape = g._data.shape
    if gshape == shape:
        return g
    from core.ops.reduction import sum as _sum
    from core.ops.shape import reshape

    axes = broadcast_axes(gshape, shape)
    if axes:
        g = _sum(g, axis=axes)
    if g._data.shape != shape:
        g = reshape(g, shape)
    return g


def broadcast_axes(gshape, shape):
    """The axes of a gradient shaped ``gshape`` that broadcasting added to
    an operand shaped ``shape`` (summed away to undo it)."""
    lead = len(gshape) - len(shape)
    return tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1)
