"""Reductions and normalizers: sum mean prod max min argmax argmin var std
logsumexp softmax log_softmax cumsum any all norm.  ``axis`` is an int, a
tuple or None; ``keepdims`` as in numpy.  Every VJP is written in engine
ops, so second-order gradients work."""

from __future__ import annotations

import builtins

from core.ops._base import Tensor, apply, defop


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

    if not keepdims and g.ndim:
        g = reshape(g, _kept_shape(x.shape, norm_axes(axis, x.ndim)))
    return broadcast_to(g, x.shape)


def _axis_attr(axis):
    if isinstance(axis, list):
        return tuple(axis)
    return axis


def _reduce_op(name, kernel_name, vjp=None):
    def make(xp):
        # the array method (C) rather than xp.sum & co., whose Python-level
        # wrappers cost more than the reduction itself on small tensors
        def reduce_k(x, axis, keepdims):
            if axis is None and not keepdims:
                return getattr(x, kernel_name)()
            return getattr(x, kernel_name)(axis=axis, keepdims=keepdims)
        reduce_k.__name__ = f"{name}_k"
        return reduce_k
    if vjp is None:
        return defop(name, make, differentiable=False)
    return defop(name, make, vjps=(vjp,))


# ----------------------------------------------------------------- sum --

_SUM = _reduce_op("sum", "sum", lambda g, ans, x, axis, keepdims:
                  expand_back(g, x, axis, keepdims))


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (int, tuple or None for all)."""
    return apply(_SUM, (x,), {"axis": _axis_attr(axis), "keepdims": keepdims})


def _count(x, axis, op):
    """How many elements each output of a reduction over ``axis`` sees."""
    from core.errors import ShapeError, op_error

    shape = x.shape if isinstance(x, Tensor) else ()
    try:
        axes = norm_axes(axis, len(shape))
    except (TypeError, ValueError) as e:
        raise op_error(ShapeError, op, (x,), str(e)) from None
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``."""
    from core.ops.elementwise import div

    if not isinstance(x, Tensor):
        from core.tensor import as_tensor
        x = as_tensor(x)
    n = _count(x, axis, "mean")
    s = sum(x, axis=axis, keepdims=keepdims)
    if x.dtype.kind not in "fc":
        return div(s, builtins.max(n, 1))
    return div(s, n) if n != 1 else s


# ----------------------------------------------------------------- prod --


def _prod_vjp(g, ans, x, axis, keepdims):
    # d prod / d x_i = product of the others, exact with zeros present:
    # ans / x_i off the zeros (0 once any other element is 0), and the
    # product of the rest at a lone zero.  Second order is exact too,
    # except across two zeros of one slice (their cross term is dropped).
    from core.ops.elementwise import div, equal, mul, where

    z = equal(x, 0)
    safe = where(z, 1, x)
    off_zero = div(expand_back(ans, x, axis, keepdims), safe)
    if x._device.backend.name == "numpy" and not z._data.any():
        # no zero anywhere (checked on the host only: no device sync)
        return mul(expand_back(g, x, axis, keepdims), off_zero)
    pnz = prod(safe, axis=axis, keepdims=True)
    nz = sum(z.astype(x.dtype), axis=axis, keepdims=True)
    at_zero = where(equal(nz, 1), pnz, mul(pnz, 0))
    return mul(expand_back(g, x, axis, keepdims), where(z, at_zero, off_zero))


_PROD = _reduce_op("prod", "prod", _prod_vjp)


def prod(x, axis=None, keepdims=False):
    """Product over ``axis``."""
    return apply(_PROD, (x,), {"axis": _axis_attr(axis), "keepdims": keepdims})


# -------------------------------------------------------------- max/min --


def _extreme_vjp(g, ans, x, axis, keepdims):
    # ties share the gradient evenly
    from core.ops.elementwise import div, equal, mul

    hit = equal(x, expand_back(ans, x, axis, keepdims)).astype(g.dtype)
    count = sum(hit, axis=axis, keepdims=True)
    return mul(expand_back(g, x, axis, keepdims), div(hit, count))


_MAX = _reduce_op("max", "max", _extreme_vjp)
_MIN = _reduce_op("min", "min", _extreme_vjp)


def max(x, axis=None, keepdims=False):
    """Largest value over ``axis`` (ties split the gradient evenly)."""
    return apply(_MAX, (x,), {"axis": _axis_attr(axis), "keepdims": keepdims})


def min(x, axis=None, keepdims=False):
    """Smallest value over ``axis`` (ties split the gradient evenly)."""
    return apply(_MIN, (x,), {"axis": _axis_attr(axis), "keepdims": keepdims})


_ARGMAX = _reduce_op("argmax", "argmax")
_ARGMIN = _reduce_op("argmin", "argmin")
_ANY = _reduce_op("any", "any")
_ALL = _reduce_op("all", "all")


def _single_axis(axis, what):
    if axis is not None and not isinstance(axis, int):
        raise TypeError(f"{what}: axis must be an int or None, got {axis!r}")
    return axis


def argmax(x, axis=None, keepdims=False):
    """Index of the largest value (first on ties); flat index for None."""
    return apply(_ARGMAX, (x,), {"axis": _single_axis(axis, "argmax"),
                                 "keepdims": keepdims})


def argmin(x, axis=None, keepdims=False):
    """Index of the smallest value (first on ties); flat index for None."""
    return apply(_ARGMIN, (x,), {"axis": _single_axis(axis, "argmin"),
                                 "keepdims": keepdims})


def any(x, axis=None, keepdims=False):
    """True where any element over ``axis`` is true."""
    return apply(_ANY, (x,), {"axis": _axis_attr(axis), "keepdims": keepdims})


def all(x, axis=None, keepdims=False):
    """True where every element over ``axis`` is true."""
    return apply(_ALL, (x,), {"axis": _axis_attr(axis), "keepdims": keepdims})


# --------------------------------------------------------- moments, norm --


def _var_make(xp):
    def var_k(x, axis, keepdims, ddof):
        return xp.var(x, axis=axis, keepdims=keepdims, ddof=ddof)
    return var_k


def _var_vjp(g, ans, x, axis, keepdims, ddof):
    from core.ops.elementwise import mul, sub

    n = _count(x, axis, "var")
    scale = 2.0 / (n - ddof) if n - ddof > 0 else float("nan")
    centered = sub(x, mean(x, axis=axis, keepdims=True))
    return mul(expand_back(g, x, axis, keepdims), mul(centered, scale))


_VAR = defop("var", _var_make, vjps=(_var_vjp,))


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over ``axis`` (``ddof=0`` as in numpy)."""
    if not isinstance(x, Tensor):
        from core.tensor import as_tensor
        x = as_tensor(x)
    _count(x, axis, "var")      # a bad axis names this op
    return apply(_VAR, (x,), {"axis": _axis_attr(axis), "keepdims": keepdims,
                              "ddof": ddof})


def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation over ``axis`` (``ddof=0`` as in numpy)."""
    from core.ops.elementwise import sqrt

    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def norm(x, ord=None, axis=None, keepdims=False):
    """Vector/Frobenius norm: ord None or 2 (Euclidean), 1, or inf."""
    from core.ops.elementwise import abs, sqrt, square

    if ord in (None, 2, "fro"):
        return sqrt(sum(square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return sum(abs(x), axis=axis, keepdims=keepdims)
    if ord == float("inf"):
        return max(abs(x), axis=axis, keepdims=keepdims)
    raise ValueError(f"norm: ord must be None, 1, 2 or inf, got {ord!r}")


# ------------------------------------------------- logsumexp and softmax --


def _lse_make(xp):
    def logsumexp_k(x, axis, keepdims):
        m = x.max(axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0).astype(m.dtype)
        out = xp.log(xp.exp(x - m).sum(axis=axis, keepdims=True)) + m
        if not keepdims:
            out = xp.squeeze(out, axis=axis)
        return out
    return logsumexp_k


def _lse_vjp(g, ans, x, axis, keepdims):
    from core.ops.elementwise import exp, mul, sub

    return mul(expand_back(g, x, axis, keepdims),
               exp(sub(x, expand_back(ans, x, axis, keepdims))))


_LSE = defop("logsumexp", _lse_make, vjps=(_lse_vjp,))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, computed stably."""
    return apply(_LSE, (x,), {"axis": _axis_attr(axis), "keepdims": keepdims})


def _softmax_make(xp):
    def softmax_k(x, axis):
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    return softmax_k


def _softmax_vjp(g, ans, x, axis):
    from core.ops.elementwise import mul, sub

    return mul(ans, sub(g, sum(mul(g, ans), axis=axis, keepdims=True)))


_SOFTMAX = defop("softmax", _softmax_make, vjps=(_softmax_vjp,))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
    return apply(_SOFTMAX, (x,), {"axis": axis})


def _log_softmax_make(xp):
    def log_softmax_k(x, axis):
        s = x - x.max(axis=axis, keepdims=True)
        return s - xp.log(xp.exp(s).sum(axis=axis, keepdims=True))
    return log_softmax_k


def _log_softmax_vjp(g, ans, x, axis):
    from core.ops.elementwise import exp, mul, sub

    return sub(g, mul(exp(ans), sum(g, axis=axis, keepdims=True)))


_LOG_SOFTMAX = defop("log_softmax", _log_softmax_make,
                     vjps=(_log_softmax_vjp,))


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``, computed stably."""
    return apply(_LOG_SOFTMAX, (x,), {"axis": axis})


# ---------------------------------------------------------------- cumsum --


def _cumsum_make(xp):
    def cumsum_k(x, axis):
        return xp.cumsum(x, axis=axis)
    return cumsum_k


def _reverse(t, axis):
    from core.ops.shape import getitem

    idx = [slice(None)] * t.ndim
    idx[axis] = slice(None, None, -1)
    return getitem(t, tuple(idx))


def _cumsum_vjp(g, ans, x, axis):
    from core.ops.shape import reshape

    if axis is None:   # x was flattened
        return reshape(_reverse(cumsum(_reverse(g, 0), 0), 0), x.shape)
    return _reverse(cumsum(_reverse(g, axis), axis), axis)


_CUMSUM = defop("cumsum", _cumsum_make, vjps=(_cumsum_vjp,))


def cumsum(x, axis=None):
    """Running sum along ``axis`` (None: over the flattened tensor)."""
    return apply(_CUMSUM, (x,), {"axis": _single_axis(axis, "cumsum")})
