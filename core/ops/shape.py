"""Shape ops: reshape transpose swapaxes broadcast_to squeeze unsqueeze
flatten concat stack split, indexing with a scatter-add gradient, take,
pad, one_hot, astype; plus identity, stop_gradient and device transfers."""

from __future__ import annotations

import numpy as np

from core import devices as _devices
from core.ops._base import apply, defop, unbroadcast


def _reshape_make(xp):
    def reshape_k(x, shape):
        return xp.reshape(x, shape)
    return reshape_k


_RESHAPE = defop("reshape", _reshape_make, vjps=(
    lambda g, ans, x, shape: reshape(g, x.shape),))


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    return apply(_RESHAPE, (x,), {"shape": shape})


def _transpose_make(xp):
    def transpose_k(x, axes):
        return xp.transpose(x, axes)
    return transpose_k


def _inverse_perm(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


_TRANSPOSE = defop("transpose", _transpose_make, vjps=(
    lambda g, ans, x, axes: transpose(
        g, None if axes is None else _inverse_perm(axes)),))


def transpose(x, axes=None):
    if axes is not None:
        nd = x.ndim
        axes = tuple(int(a) % nd for a in axes)
    return apply(_TRANSPOSE, (x,), {"axes": axes})


def _bcast_make(xp):
    def broadcast_k(x, shape):
        return xp.broadcast_to(x, shape)
    return broadcast_k


_BROADCAST = defop("broadcast_to", _bcast_make, vjps=(
    lambda g, ans, x, shape: unbroadcast(g, x),))


def broadcast_to(x, shape):
    return apply(_BROADCAST, (x,), {"shape": tuple(shape)})


def _astype_make(xp):
    def astype_k(x, dtype):
        return x.astype(dtype)
    return astype_k


_ASTYPE = defop("astype", _astype_make, vjps=(
    lambda g, ans, x, dtype: astype(g, x.dtype),))


def astype(x, dtype):
    from core.tensor import as_dtype

    return apply(_ASTYPE, (x,), {"dtype": as_dtype(dtype)})


def _identity_make(xp):
    def identity_k(x):
        return x
    return identity_k


_IDENTITY = defop("identity", _identity_make, vjps=(lambda g, ans, x: g,))


def identity(x):
    """The same values as a new tensor (tracked back to ``x``)."""
    return apply(_IDENTITY, (x,), None)


_STOP = defop("stop_gradient", _identity_make, differentiable=False)


def stop_gradient(x):
    """The same values, never differentiated through."""
    return apply(_STOP, (x,), None)


# -------------------------------------------------------------- transfers --


def _to_make(xp):
    def to_k(x, device):
        src = _devices.device_of_array(x) or _devices.CPU
        if src is device:
            return x.copy()
        return device.backend.from_host(src.backend.to_host(x), device.index)
    return to_k


_TO = defop("to_device", _to_make,
            vjps=(lambda g, ans, x, device: to_device(g, x.device),),
            out_device=lambda attrs: attrs["device"])


def to_device(x, device):
    """A copy of ``x`` on ``device``; gradients flow back across."""
    dev = _devices.get_device(device)
    return apply(_TO, (x,), {"device": dev})


# --------------------------------------------------------------- indexing --


def _norm_index(idx):
    from core.tensor import Tensor

    if isinstance(idx, Tensor):
        return idx._data
    if isinstance(idx, tuple):
        return tuple(_norm_index(i) for i in idx)
    if isinstance(idx, list):
        return np.asarray(idx)
    return idx


def _getitem_make(xp):
    def getitem_k(x, index):
        out = x[index]
        if isinstance(out, (np.generic, int, float, bool)):
            out = xp.asarray(out)
        return out
    return getitem_k


def _getitem_vjp(g, ans, x, index):
    return scatter_add_like(g, x, index)


_GETITEM = defop("getitem", _getitem_make, vjps=(_getitem_vjp,))


def getitem(x, index):
    return apply(_GETITEM, (x,), {"index": _norm_index(index)})


def _scatter_make(xp):
    def scatter_k(g, like, index):
        out = xp.zeros(like.shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] += g
        else:
            xp.add.at(out, index, g)
        return out
    return scatter_k


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice, np.integer))
               for i in items)


def _scatter_vjp(g, ans, gin, like, index):
    return getitem(g, index)


_SCATTER = defop("scatter_add", _scatter_make, vjps=(_scatter_vjp, None))


def scatter_add_like(g, x, index):
    """Zeros shaped like ``x`` with ``g`` added at ``index`` (repeats add)."""
    from core.tensor import _make

    like = _make(x._data, x._device)  # shape/dtype carrier, not differentiated
    return apply(_SCATTER, (g, like), {"index": index})
