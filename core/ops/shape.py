"""Shape ops: reshape transpose swapaxes broadcast_to squeeze unsqueeze
flatten concat stack split, indexing with a scatter-add gradient, take,
pad, one_hot, astype; plus identity, stop_gradient and device transfers."""

from __future__ import annotations

import numpy as np

from core import devices as _devices
from core.ops._base import Tensor, apply, defop, unbroadcast, vjp_all


def _reshape_make(xp):
    def reshape_k(x, shape):
        return x.reshape(shape)      # the method: no Python-level wrapper
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
        return x.transpose(axes) if axes is not None else x.transpose()
    return transpose_k


def _inverse_perm(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


_TRANSPOSE = defop("transpose", _transpose_make, vjps=(
    lambda g, ans, x, axes: transpose(
        g, None if axes is None else _inverse_perm(axes)),))


_PERMS = {}    # (ndim, axes as given) -> normalized axes (checked once)


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    if axes is not None:
        nd = len(x.shape)
        key = (nd, axes if isinstance(axes, tuple) else tuple(axes))
        norm = _PERMS.get(key)
        if norm is None:
            norm = _PERMS[key] = _check_perm(x, key[1], nd)
        axes = norm
    return apply(_TRANSPOSE, (x,), {"axes": axes})


def _check_perm(x, axes, nd):
    from core.errors import ShapeError, op_error

    axes = tuple(int(a) for a in axes)
    if sorted(a % nd if -nd <= a < nd else -1 for a in axes) != list(range(nd)):
        raise op_error(ShapeError, "transpose", (x,),
                       f"axes {axes} are not a permutation of the {nd} axes")
    return tuple(a % nd for a in axes)


_SMALL = 1024    # elements: below this a filled copy beats numpy's view


def _bcast_make(xp):
    bcast = xp.broadcast_to
    if xp is not np:
        def broadcast_k(x, shape):
            return bcast(x, shape)
        return broadcast_k
    empty = np.empty

    def broadcast_k(x, shape):
        # np.broadcast_to's Python wrapper costs ~2.4 us; for a small
        # result, filling a fresh array (~0.3 us) gives the same values.
        # (Not with more axes than the target: assignment would drop
        # leading 1s where broadcast_to refuses.)
        n = 1
        for d in shape:
            n *= d
        if n <= _SMALL and x.ndim <= len(shape):
            out = empty(shape, dtype=x.dtype)
            out[...] = x
            return out
        return bcast(x, shape)
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


def _index_on(xp, x, index):
    """Host index arrays moved to ``x``'s device (cupy wants its own)."""
    if xp is np:
        return index
    if isinstance(index, tuple):
        return tuple(_index_on(xp, x, i) for i in index)
    if type(index) is np.ndarray:
        dev = _devices.device_of_array(x)
        return dev.backend.from_host(index, dev.index)
    return index


def _getitem_make(xp):
    def getitem_k(x, index):
        out = x[_index_on(xp, x, index)]
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
    add_at = getattr(xp.add, "at", None)
    if add_at is None:
        if isinstance(xp, _devices._SimModule):
            # its ufuncs are wrapped as plain functions (no .at); numpy's
            # ufunc dispatches to SimArray.__array_ufunc__ by itself
            add_at = np.add.at
        else:   # older cupy
            import cupyx
            add_at = cupyx.scatter_add

    def scatter_k(g, like, index):
        index = _index_on(xp, g, index)
        out = xp.zeros(like.shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] += g
        else:
            add_at(out, index, g)
        return out
    return scatter_k


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    for i in items:
        if i is None or i is Ellipsis or isinstance(
                i, (int, slice, np.integer)):
            continue
        if getattr(i, "dtype", None) is not None and i.dtype.kind == "b":
            continue   # a mask selects each element at most once
        return False
    return True


def _scatter_vjp(g, ans, gin, like, index):
    return getitem(g, index)


_SCATTER = defop("scatter_add", _scatter_make, vjps=(_scatter_vjp, None))


def scatter_add_like(g, x, index):
    """Zeros shaped like ``x`` with ``g`` added at ``index`` (repeats add)."""
    from core.tensor import _make

    like = _make(x._data, x._device)  # shape/dtype carrier, not differentiated
    return apply(_SCATTER, (g, like), {"index": index})


# ------------------------------------------------- axis helpers (composed) --


def _axis(axis, ndim, op, x):
    from core.errors import ShapeError, op_error

    a = int(axis)
    if not -ndim <= a < ndim:
        raise op_error(ShapeError, op, (x,),
                       f"axis {axis} is out of range for rank {ndim}")
    return a % ndim


def _ensure(x):
    from core.tensor import Tensor, as_tensor

    return x if isinstance(x, Tensor) else as_tensor(x)


def swapaxes(x, axis1, axis2):
    """Exchange two axes (a transpose)."""
    x = _ensure(x)
    nd = x.ndim
    a, b = _axis(axis1, nd, "swapaxes", x), _axis(axis2, nd, "swapaxes", x)
    perm = list(range(nd))
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, tuple(perm))


def moveaxis(x, source, destination):
    """Move one axis to a new position (a transpose)."""
    x = _ensure(x)
    nd = x.ndim
    s = _axis(source, nd, "moveaxis", x)
    d = _axis(destination, nd, "moveaxis", x)
    perm = [i for i in range(nd) if i != s]
    perm.insert(d, s)
    return transpose(x, tuple(perm))


def squeeze(x, axis=None):
    """Drop axes of length 1 (all of them, or the given ones)."""
    from core.errors import ShapeError, op_error

    x = _ensure(x)
    shape = x.shape
    if axis is None:
        axes = {i for i, n in enumerate(shape) if n == 1}
    else:
        axes = {_axis(a, len(shape), "squeeze", x)
                for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}
        bad = [a for a in axes if shape[a] != 1]
        if bad:
            raise op_error(ShapeError, "squeeze", (x,),
                           f"cannot squeeze axis {bad[0]} of length "
                           f"{shape[bad[0]]}")
    return reshape(x, tuple(n for i, n in enumerate(shape) if i not in axes))


def unsqueeze(x, axis):
    """Insert an axis of length 1 at ``axis`` (negative counts from the end
    of the result, as in numpy's expand_dims)."""
    x = _ensure(x)
    shape = list(x.shape)
    a = _axis(axis, len(shape) + 1, "unsqueeze", x)
    shape.insert(a, 1)
    return reshape(x, tuple(shape))


expand_dims = unsqueeze


def flatten(x, start_axis=0, end_axis=-1):
    """Merge axes ``start_axis..end_axis`` into one."""
    x = _ensure(x)
    shape = x.shape
    if not shape:
        return reshape(x, (1,))
    s = _axis(start_axis, len(shape), "flatten", x)
    e = _axis(end_axis, len(shape), "flatten", x)
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return reshape(x, shape[:s] + (n,) + shape[e + 1:])


# ------------------------------------------------------- concat and stack --


def _check_parts(op, parts, axis, stacking):
    from core.errors import ShapeError, op_error

    if not parts:
        raise op_error(ShapeError, op, (), "needs at least one tensor")
    ref = parts[0].shape
    nd = len(ref) + (1 if stacking else 0)
    a = _axis(axis, nd, op, parts[0])
    for p in parts[1:]:
        s = p.shape
        same = s == ref if stacking else (
            len(s) == len(ref)
            and all(m == n for i, (m, n) in enumerate(zip(s, ref)) if i != a))
        if not same:
            want = "the same shape" if stacking else \
                f"the same shape except along axis {a}"
            raise op_error(ShapeError, op, (list(parts),),
                           f"tensors must have {want}; got "
                           f"{', '.join(str(q.shape) for q in parts)}")
    return a


def _concat_make(xp):
    def concat_k(*xs, axis):
        return xp.concatenate(xs, axis=axis)
    return concat_k


@vjp_all
def _concat_vjp(g, ans, *xs, axis):
    grads, start = [], 0
    lead = (slice(None),) * axis
    for x in xs:
        n = x.shape[axis]
        grads.append(getitem(g, lead + (slice(start, start + n),))
                     if isinstance(x, Tensor) and x._rg else None)
        start += n
    return grads


def _stack_make(xp):
    def stack_k(*xs, axis):
        return xp.stack(xs, axis=axis)
    return stack_k


@vjp_all
def _stack_vjp(g, ans, *xs, axis):
    lead = (slice(None),) * axis
    return [getitem(g, lead + (i,)) if isinstance(x, Tensor) and x._rg
            else None for i, x in enumerate(xs)]


_CONCAT = defop("concat", _concat_make, vjps=(_concat_vjp,))
_STACK = defop("stack", _stack_make, vjps=(_stack_vjp,))


def concat(tensors, axis=0):
    """Join tensors along an existing axis."""
    parts = [_ensure(t) for t in tensors]
    a = _check_parts("concat", parts, axis, False)
    return apply(_CONCAT, tuple(parts), {"axis": a})


concatenate = concat


def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis."""
    parts = [_ensure(t) for t in tensors]
    a = _check_parts("stack", parts, axis, True)
    return apply(_STACK, tuple(parts), {"axis": a})


def split(x, sections_or_indices, axis=0):
    """A list of pieces along ``axis``: a count of equal sections or the
    indices where to cut (numpy's spelling); each piece is a slice."""
    from core.errors import ShapeError, op_error

    x = _ensure(x)
    a = _axis(axis, x.ndim, "split", x)
    n = x.shape[a]
    if isinstance(sections_or_indices, int):
        k = sections_or_indices
        if k <= 0 or n % k:
            raise op_error(ShapeError, "split", (x,),
                           f"axis {a} of length {n} does not split into {k} "
                           "equal sections")
        cuts = [n // k * i for i in range(1, k)]
    else:
        cuts = [int(c) for c in sections_or_indices]
    bounds = [0] + cuts + [n]
    lead = (slice(None),) * a
    return [getitem(x, lead + (slice(lo, hi),))
            for lo, hi in zip(bounds[:-1], bounds[1:])]


# ------------------------------------------------------------ take/gather --


def take(x, indices, axis=0):
    """Rows (or entries along ``axis``) picked by integer ``indices``; the
    gradient scatter-adds back (repeated indices accumulate)."""
    from core.errors import DTypeError, op_error

    x = _ensure(x)
    idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise op_error(DTypeError, "take", (x, indices),
                       f"indices must be integers, got {idx.dtype}")
    a = _axis(axis, x.ndim, "take", x)
    return getitem(x, (slice(None),) * a + (idx,))


gather = take


# -------------------------------------------------------------------- pad --


def _pad_width(pad_width, ndim):
    pw = np.asarray(pad_width, dtype=np.int64)
    if pw.ndim == 0:
        pw = np.full((ndim, 2), int(pw))
    elif pw.shape == (2,):
        pw = np.tile(pw, (ndim, 1))
    elif pw.shape == (1, 2):
        pw = np.tile(pw[0], (ndim, 1))
    if pw.shape != (ndim, 2) or (pw < 0).any():
        raise ValueError(f"pad_width {pad_width!r} does not fit rank {ndim} "
                         "(numpy spelling: int, (before, after) or one pair "
                         "per axis, non-negative)")
    return tuple((int(b), int(e)) for b, e in pw)


def _pad_make(xp):
    def pad_k(x, pad_width, value):
        return xp.pad(x, pad_width, mode="constant", constant_values=value)
    return pad_k


def _pad_vjp(g, ans, x, pad_width, value):
    return getitem(g, tuple(slice(b, b + n)
                            for (b, _), n in zip(pad_width, x.shape)))


_PAD = defop("pad", _pad_make, vjps=(_pad_vjp,))


def pad(x, pad_width, mode="constant", constant_values=0):
    """Pad with a constant (numpy's ``pad_width`` spelling)."""
    from core.errors import ShapeError, op_error

    x = _ensure(x)
    if mode != "constant":
        raise op_error(ShapeError, "pad", (x,),
                       f"only mode='constant' is supported, got {mode!r}")
    try:
        pw = _pad_width(pad_width, x.ndim)
    except ValueError as e:
        raise op_error(ShapeError, "pad", (x,), str(e)) from None
    return apply(_PAD, (x,), {"pad_width": pw, "value": constant_values})


# ---------------------------------------------------------------- one_hot --


def _one_hot_make(xp):
    def one_hot_k(idx, depth, dtype):
        return (idx[..., None] == xp.arange(depth)).astype(dtype)
    return one_hot_k


_ONE_HOT = defop("one_hot", _one_hot_make, differentiable=False)


def one_hot(indices, depth, dtype="float32"):
    """A trailing axis of length ``depth`` with 1 at each index (out-of-range
    indices give all zeros, as in TensorFlow)."""
    from core.errors import DTypeError, op_error
    from core.tensor import as_dtype

    idx = _ensure(indices)
    if idx.dtype.kind not in "iu":
        raise op_error(DTypeError, "one_hot", (idx,),
                       f"indices must be integers, got {idx.dtype}")
    return apply(_ONE_HOT, (idx,), {"depth": int(depth),
                                    "dtype": as_dtype(dtype)})


# ---------------------------------------------------------- repeat, tile --


def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` (an int) times along ``axis``
    (None: the flattened tensor), as numpy.repeat."""
    x = _ensure(x)
    if axis is None:
        x, a = reshape(x, (-1,)), 0
    else:
        a = _axis(axis, x.ndim, "repeat", x)
    r = int(repeats)
    shape = x.shape
    y = unsqueeze(x, a + 1)
    y = broadcast_to(y, shape[:a + 1] + (r,) + shape[a + 1:])
    return reshape(y, shape[:a] + (shape[a] * r,) + shape[a + 1:])


def tile(x, reps):
    """The tensor repeated ``reps`` times along each axis (numpy.tile)."""
    x = _ensure(x)
    reps = (int(reps),) if isinstance(reps, int) else tuple(int(r) for r in reps)
    nd = _max2(x.ndim, len(reps))
    reps = (1,) * (nd - len(reps)) + reps
    shape = (1,) * (nd - x.ndim) + x.shape
    inter = []
    for r, n in zip(reps, shape):
        inter += [1, n]
    y = reshape(x, tuple(inter))
    full = []
    for r, n in zip(reps, shape):
        full += [r, n]
    y = broadcast_to(y, tuple(full))
    return reshape(y, tuple(r * n for r, n in zip(reps, shape)))


def _max2(a, b):
    return a if a >= b else b
