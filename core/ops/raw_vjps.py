"""Array-level twins of the common ops' VJPs, for a backward pass that
nobody watches.

When no hook is attached and the backward pass is not itself recorded
(no ``create_graph``, no outer tape), gradients need not be Tensors: the
backward loop (``core.autodiff._run_backward``) then calls these twins on
raw arrays and skips, per VJP op, the dispatch and the Tensor it would
wrap.  With a hook attached (a profiler, the workbench) or a recording
tape, the engine-op VJPs run instead, so hooks see every backward op and
higher-order gradients work.

Each twin computes what its op's engine-op VJP computes, with the same
kernels, in the same order, so results match bit for bit:
``tests/core/test_raw_vjps.py`` checks every twin against the engine VJP
on broadcast shapes and dtypes, and ops without a twin (conv2d, pools,
einsum, custom gradients...) run their engine VJP inside the same loop.

A twin has the engine VJP's signature with arrays in place of tensors:
``fn(g, ans, *operands, **attrs)``, operands being raw arrays or the Python
numbers the op was given.
"""

from __future__ import annotations

import numpy as np

from core import devices as _devices
from core._dispatch import REGISTRY
from core.ops._base import broadcast_axes
from core.ops.linalg import swap_last_perm
from core.ops.reduction import _kept_shape, norm_axes
from core.ops.shape import _inverse_perm


def _kernel(name, like):
    """The engine's own kernel of op ``name`` for the device of ``like``."""
    kernels = REGISTRY[name].kernels
    if type(like) is np.ndarray or isinstance(like, np.generic):
        return kernels[0]
    return kernels[_devices.device_of_array(like).slot]


def xp_of(a):
    """The array module of ``a``'s device."""
    if type(a) is np.ndarray or isinstance(a, np.generic):
        return np
    return _devices.device_of_array(a).xp


def ub(g, x):
    """``unbroadcast`` on arrays: sum ``g`` down to the shape of ``x``."""
    shape = x.shape
    gshape = g.shape
    if gshape == shape:
        return g
    axes = broadcast_axes(gshape, shape)
    if axes:
        g = g.sum(axis=axes)
    if g.shape != shape:
        g = g.reshape(shape)
    return g


def _expand_back(g, x, axis, keepdims):
    if not keepdims and g.ndim:
        g = g.reshape(_kept_shape(x.shape, norm_axes(axis, x.ndim)))
    return _kernel("broadcast_to", g)(g, x.shape)


def _swap_last(x):
    return x.transpose(swap_last_perm(x.ndim))


# --------------------------------------------------------------- matmul --


def _matmul_a(g, ans, a, b):
    if b.ndim == 1:
        if a.ndim == 1:
            return g * b
        return ub(g.reshape(g.shape + (1,)) * b, a)
    bt = _swap_last(b)
    if a.ndim == 1:
        ga = g.reshape(g.shape[:-1] + (1, g.shape[-1])) @ bt
        return ub(ga.reshape(ga.shape[:-2] + (ga.shape[-1],)), a)
    return ub(g @ bt, a)


def _matmul_b(g, ans, a, b):
    if a.ndim == 1:
        if b.ndim == 1:
            return g * a
        return ub(a.reshape((a.shape[0], 1))
                  * g.reshape(g.shape[:-1] + (1, g.shape[-1])), b)
    at = _swap_last(a)
    if b.ndim == 1:
        gb = at @ g.reshape(g.shape + (1,))
        return ub(gb.reshape(gb.shape[:-1]), b)
    return ub(at @ g, b)


# ------------------------------------------------------------- the table --


def _concat(g, ans, *xs, axis):
    grads, start = [], 0
    lead = (slice(None),) * axis
    for x in xs:
        n = x.shape[axis]
        grads.append(g[lead + (slice(start, start + n),)])
        start += n
    return grads


def _stack(g, ans, *xs, axis):
    lead = (slice(None),) * axis
    return [g[lead + (i,)] for i in range(len(xs))]


def _log_softmax(g, ans, x, axis):
    return g - xp_of(ans).exp(ans) * g.sum(axis=axis, keepdims=True)


def _softmax(g, ans, x, axis):
    return ans * (g - (g * ans).sum(axis=axis, keepdims=True))


def _softplus(g, ans, x):
    return g * _kernel("sigmoid", x)(x)


TWINS = {
    "add": (lambda g, ans, a, b: ub(g, a), lambda g, ans, a, b: ub(g, b)),
    "sub": (lambda g, ans, a, b: ub(g, a), lambda g, ans, a, b: ub(-g, b)),
    "mul": (lambda g, ans, a, b: ub(g * b, a),
            lambda g, ans, a, b: ub(g * a, b)),
    "div": (lambda g, ans, a, b: ub(g / b, a),
            lambda g, ans, a, b: ub(-(g * (ans / b)), b)),
    "neg": (lambda g, ans, x: -g,),
    "exp": (lambda g, ans, x: g * ans,),
    "log": (lambda g, ans, x: g / x,),
    "sqrt": (lambda g, ans, x: g / (ans * 2),),
    "rsqrt": (lambda g, ans, x: g * (ans ** 3 * -0.5),),
    "square": (lambda g, ans, x: g * (x * 2),),
    "tanh": (lambda g, ans, x: g * (1 - ans * ans),),
    "sigmoid": (lambda g, ans, x: g * ans * (1 - ans),),
    "relu": (lambda g, ans, x: g * (x > 0),),
    "softplus": (_softplus,),
    "sum": (lambda g, ans, x, axis, keepdims: _expand_back(g, x, axis, keepdims),),
    "log_softmax": (_log_softmax,),
    "softmax": (_softmax,),
    "matmul": (_matmul_a, _matmul_b),
    "reshape": (lambda g, ans, x, shape: g.reshape(x.shape),),
    "transpose": (lambda g, ans, x, axes: g.transpose()
                  if axes is None else g.transpose(_inverse_perm(axes)),),
    "broadcast_to": (lambda g, ans, x, shape: ub(g, x),),
    "astype": (lambda g, ans, x, dtype: g.astype(x.dtype),),
    "identity": (lambda g, ans, x: g,),
    "getitem": (lambda g, ans, x, index:
                _kernel("scatter_add", g)(g, x, index),),
    "concat": (_concat,),
    "stack": (_stack,),
}


def install(name, twins):
    """Give op ``name`` its array-level VJP twins: one per engine VJP,
    None exactly where the op's VJP is None (no gradient to that operand)."""
    op = REGISTRY[name]
    if len(twins) != len(op.vjps) or any(
            (t is None) != (v is None) for t, v in zip(twins, op.vjps)):
        raise ValueError(f"op {name!r}: twins {twins} do not match its "
                         f"VJPs {op.vjps}")
    op.raw_vjps = tuple(twins)


for _name, _twins in TWINS.items():
    install(_name, _twins)
