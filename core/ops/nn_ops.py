"""Neural-network ops: conv2d (im2col + matmul), max/avg pooling, dropout,
bias_add.

conv2d is bilinear, so its gradients are two more bilinear ops
(``conv2d_input_grad``, a transposed convolution, and
``conv2d_weight_grad``); the three VJP each other, which makes conv2d
differentiable to any order.  Pooling pairs the same way with its
gradient op.  Kernels use ``xp`` only (numpy, cupy or the simulated GPU).
"""

from __future__ import annotations

import numpy as np

from core.errors import ShapeError, op_error
from core.ops._base import Tensor, apply, defop

# ----------------------------------------------------------------- helpers --


def _pair(v, what):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{what} must be an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _as_strided(xp, x, shape, strides):
    v = xp.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)
    if type(v) is not type(x):     # numpy drops the simulated-GPU subclass
        v = v.view(type(x))
    return v


def _pad2(xp, x, ph, pw, value=0):
    if not (ph or pw):
        return x
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="constant",
                  constant_values=value)


def _bmm(xp, a, b):
    """Batched matmul over groups; 2-D BLAS calls (transposed views stay
    on the fast path, which numpy's stacked matmul does not guarantee)."""
    if a.shape[0] == 1:
        return xp.matmul(a[0], b[0])[None]
    return xp.stack([xp.matmul(a[i], b[i]) for i in range(a.shape[0])])


def _crop(x, ph, pw):
    if not (ph or pw):
        return x
    return x[:, :, ph:x.shape[2] - ph, pw:x.shape[3] - pw]


# ------------------------------------------------------------------ conv2d --


def _nhwc_padded(xp, x, ph, pw):
    """x (N, C, H, W) as a zero-padded channels-last copy (N, H', W', C)."""
    n, c, h, w = x.shape
    xt = x.transpose(0, 2, 3, 1)
    if not (ph or pw):
        return xp.ascontiguousarray(xt)
    out = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    out[:, ph:ph + h, pw:pw + w, :] = xt
    return out


def _conv_cols(xp, x, w_shape, stride, padding, dilation, groups, oh, ow):
    """im2col, channels last so every copied run is contiguous:
    (G, N*oh*ow, kh*kw*C/G)."""
    n, c = x.shape[:2]
    kh, kw = w_shape[2:]
    xpad = _nhwc_padded(xp, x, *padding)
    s0, s1, s2, s3 = xpad.strides
    win = _as_strided(xp, xpad, (n, oh, ow, kh, kw, c), (
        s0, s1 * stride[0], s2 * stride[1], s1 * dilation[0],
        s2 * dilation[1], s3))
    cg = c // groups
    if groups == 1:
        return win.reshape(1, n * oh * ow, kh * kw * c)
    return win.reshape(n, oh, ow, kh, kw, groups, cg).transpose(
        5, 0, 1, 2, 3, 4, 6).reshape(groups, n * oh * ow, kh * kw * cg)


def _weight_rows(w, groups):
    """(O, C/G, kh, kw) -> (G, kh*kw*C/G, O/G), matching ``_conv_cols``."""
    o, cg, kh, kw = w.shape
    return w.reshape(groups, o // groups, cg, kh, kw).transpose(
        0, 3, 4, 2, 1).reshape(groups, kh * kw * cg, o // groups)


def _grad_rows(g, groups):
    """(N, O, oh, ow) -> (G, N*oh*ow, O/G)."""
    n, o, oh, ow = g.shape
    return g.reshape(n, groups, o // groups, oh, ow).transpose(
        1, 0, 3, 4, 2).reshape(groups, n * oh * ow, o // groups)


def _conv_make(xp):
    def conv2d_k(x, w, stride, padding, dilation, groups):
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        oh = _out_size(h, kh, stride[0], padding[0], dilation[0])
        ow = _out_size(wd, kw, stride[1], padding[1], dilation[1])
        cols = _conv_cols(xp, x, w.shape, stride, padding, dilation, groups,
                          oh, ow)
        out = _bmm(xp, cols, _weight_rows(w, groups))   # (G, N*oh*ow, O/G)
        out = out.reshape(groups, n, oh, ow, o // groups)
        return xp.ascontiguousarray(
            out.transpose(1, 0, 4, 2, 3).reshape(n, o, oh, ow))
    return conv2d_k


def _conv_gi_make(xp):
    def conv2d_input_grad_k(g, w, x_shape, stride, padding, dilation,
                            groups):
        n, c, h, wd = x_shape
        o, cg, kh, kw = w.shape
        oh, ow = g.shape[2:]
        cols = _bmm(xp, _grad_rows(g, groups),
                    _weight_rows(w, groups).transpose(0, 2, 1))
        # (G, N*oh*ow, kh*kw*cg) -> channels-last (N, oh, ow, kh, kw, C)
        if groups == 1:
            cols = cols.reshape(n, oh, ow, kh, kw, c)
        else:
            cols = cols.reshape(groups, n, oh, ow, kh, kw, cg).transpose(
                1, 2, 3, 4, 5, 0, 6).reshape(n, oh, ow, kh, kw, c)
        ph, pw = padding
        sh, sw = stride
        img = xp.zeros((n, h + 2 * ph, wd + 2 * pw, c), dtype=cols.dtype)
        for i in range(kh):
            r = i * dilation[0]
            for j in range(kw):
                q = j * dilation[1]
                img[:, r:r + sh * (oh - 1) + 1:sh,
                    q:q + sw * (ow - 1) + 1:sw, :] += cols[:, :, :, i, j, :]
        return xp.ascontiguousarray(
            img[:, ph:ph + h, pw:pw + wd, :].transpose(0, 3, 1, 2))
    return conv2d_input_grad_k


def _conv_gw_make(xp):
    def conv2d_weight_grad_k(x, g, w_shape, stride, padding, dilation,
                             groups):
        o, cg, kh, kw = w_shape
        oh, ow = g.shape[2:]
        cols = _conv_cols(xp, x, w_shape, stride, padding, dilation, groups,
                          oh, ow)
        dw = _bmm(xp, cols.transpose(0, 2, 1), _grad_rows(g, groups))
        # (G, kh*kw*cg, O/G) -> (O, cg, kh, kw)
        return xp.ascontiguousarray(
            dw.reshape(groups, kh, kw, cg, o // groups).transpose(
                0, 4, 3, 1, 2).reshape(o, cg, kh, kw))
    return conv2d_weight_grad_k


def _conv_attrs(a):
    return {k: a[k] for k in ("stride", "padding", "dilation", "groups")}


_CONV = defop("conv2d", _conv_make, vjps=(
    lambda g, ans, x, w, **a: apply(_CONV_GI, (g, w),
                                    dict(a, x_shape=x.shape)),
    lambda g, ans, x, w, **a: apply(_CONV_GW, (x, g),
                                    dict(a, w_shape=w.shape)),
))

# d<h, GI(g, w)> = <conv2d(h, w), g> = <GW(h, g), w>
_CONV_GI = defop("conv2d_input_grad", _conv_gi_make, vjps=(
    lambda h, ans, g, w, x_shape, **a: apply(_CONV, (h, w), a),
    lambda h, ans, g, w, x_shape, **a: apply(_CONV_GW, (h, g),
                                             dict(a, w_shape=w.shape)),
))

# d<k, GW(x, g)> = <GI(g, k), x> = <conv2d(x, k), g>
_CONV_GW = defop("conv2d_weight_grad", _conv_gw_make, vjps=(
    lambda k, ans, x, g, w_shape, **a: apply(_CONV_GI, (g, k),
                                             dict(a, x_shape=x.shape)),
    lambda k, ans, x, g, w_shape, **a: apply(_CONV, (x, k), a),
))


def _shape_of(t):
    return tuple(t.shape) if hasattr(t, "shape") else ()


def conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in every framework).

    ``x``: (N, C, H, W); ``w``: (O, C/groups, kH, kW); ``padding`` is
    symmetric zeros (int or pair).  Returns (N, O, oH, oW).
    """
    xs, ws = _shape_of(x), _shape_of(w)
    try:
        s = _pair(stride, "stride")
        p = _pair(padding, "padding")
        d = _pair(dilation, "dilation")
    except (TypeError, ValueError) as e:
        raise op_error(ShapeError, "conv2d", (x, w), str(e)) from None
    groups = int(groups)
    msg = None
    if len(xs) != 4 or len(ws) != 4:
        msg = "input must be (N, C, H, W) and weight (O, C/groups, kH, kW)"
    elif min(s) < 1 or min(d) < 1 or min(p) < 0 or groups < 1:
        msg = (f"stride {s} and dilation {d} must be >= 1, padding {p} "
               f">= 0, groups {groups} >= 1")
    elif xs[1] != ws[1] * groups:
        msg = (f"input has {xs[1]} channels but weight expects "
               f"{ws[1]} x groups={groups} = {ws[1] * groups}")
    elif ws[0] % groups:
        msg = f"{ws[0]} output channels do not divide into {groups} groups"
    elif (_out_size(xs[2], ws[2], s[0], p[0], d[0]) < 1
          or _out_size(xs[3], ws[3], s[1], p[1], d[1]) < 1):
        msg = (f"kernel {ws[2:]} (dilation {d}) is larger than the padded "
               f"input {(xs[2] + 2 * p[0], xs[3] + 2 * p[1])}")
    if msg:
        raise op_error(ShapeError, "conv2d", (x, w), msg)
    return apply(_CONV, (x, w), {"stride": s, "padding": p, "dilation": d,
                                 "groups": groups})


def conv_transpose2d(x, w, stride=1, padding=0, output_padding=0,
                     dilation=1, groups=1):
    """Transposed convolution (the adjoint of conv2d, as PyTorch's
    ConvTranspose2d): ``x`` (N, C_in, H, W), ``w`` (C_in, C_out/groups,
    kH, kW); output side (H-1)*stride - 2*padding + dilation*(kH-1) +
    output_padding + 1."""
    xs, ws = _shape_of(x), _shape_of(w)
    try:
        s = _pair(stride, "stride")
        p = _pair(padding, "padding")
        d = _pair(dilation, "dilation")
        op_ = _pair(output_padding, "output_padding")
    except (TypeError, ValueError) as e:
        raise op_error(ShapeError, "conv_transpose2d", (x, w), str(e)) from None
    groups = int(groups)
    msg = None
    if len(xs) != 4 or len(ws) != 4:
        msg = "input must be (N, C, H, W) and weight (C_in, C_out/groups, kH, kW)"
    elif xs[1] != ws[0]:
        msg = f"input has {xs[1]} channels but weight expects {ws[0]}"
    elif groups < 1 or ws[0] % groups:
        msg = f"{ws[0]} input channels do not divide into {groups} groups"
    elif min(s) < 1 or min(d) < 1 or min(p) < 0 or \
            not (0 <= op_[0] < max(s[0], d[0]) and 0 <= op_[1] < max(s[1], d[1])):
        msg = (f"stride {s} and dilation {d} must be >= 1, padding {p} >= 0, "
               f"output_padding {op_} smaller than stride or dilation")
    if msg is None:
        out_hw = tuple((xs[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (ws[2 + i] - 1)
                       + op_[i] + 1 for i in range(2))
        if min(out_hw) < 1:
            msg = f"the output would be empty ({out_hw})"
    if msg:
        raise op_error(ShapeError, "conv_transpose2d", (x, w), msg)
    x_shape = (xs[0], ws[1] * groups) + out_hw
    return apply(_CONV_GI, (x, w), {
        "x_shape": x_shape, "stride": s, "padding": p, "dilation": d,
        "groups": groups})


# ----------------------------------------------------------------- pooling --


def _pool_args(op, x, kernel_size, stride, padding):
    xs = _shape_of(x)
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    p = _pair(padding, "padding")
    msg = None
    if len(xs) != 4:
        msg = "input must be (N, C, H, W)"
    elif min(k) < 1 or min(s) < 1 or min(p) < 0:
        msg = f"kernel {k} and stride {s} must be >= 1, padding {p} >= 0"
    elif p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        msg = f"padding {p} must be at most half the kernel {k}"
    elif _out_size(xs[2], k[0], s[0], p[0], 1) < 1 or \
            _out_size(xs[3], k[1], s[1], p[1], 1) < 1:
        msg = f"kernel {k} is larger than the padded input"
    if msg:
        raise op_error(ShapeError, op, (x,), msg)
    return {"kernel": k, "stride": s, "padding": p}


def _pool_geom(shape, kernel, stride, padding):
    return (_out_size(shape[2], kernel[0], stride[0], padding[0], 1),
            _out_size(shape[3], kernel[1], stride[1], padding[1], 1))


def _window_slices(x, kernel, stride, oh, ow):
    """(k, view (N, C, oh, ow)) for each of the kh*kw window offsets."""
    out = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            out.append(x[:, :, i:i + stride[0] * (oh - 1) + 1:stride[0],
                         j:j + stride[1] * (ow - 1) + 1:stride[1]])
    return out


def _max_padded(xp, x, padding):
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    return _pad2(xp, x, *padding, value=fill)


def _pool_argmax(xp, x, kernel, stride, padding):
    """Offset (0..kh*kw-1) of each window's first maximum, (N, C, oh, ow)."""
    oh, ow = _pool_geom(x.shape, kernel, stride, padding)
    views = _window_slices(_max_padded(xp, x, padding), kernel, stride, oh, ow)
    best = views[0].copy()
    idx = xp.zeros(best.shape, dtype=np.int8 if len(views) < 128 else np.int32)
    for k, v in enumerate(views[1:], 1):
        better = v > best
        xp.maximum(best, v, out=best)
        idx = xp.where(better, np.asarray(k, idx.dtype), idx)
    return idx


def _maxpool_make(xp):
    def max_pool2d_k(x, kernel, stride, padding):
        # a running maximum over the kh*kw strided views: no window copy
        oh, ow = _pool_geom(x.shape, kernel, stride, padding)
        views = _window_slices(_max_padded(xp, x, padding), kernel, stride,
                               oh, ow)
        out = views[0].copy()
        for v in views[1:]:
            xp.maximum(out, v, out=out)
        return out
    return max_pool2d_k


def _maxpool_grad_make(xp):
    def max_pool2d_grad_k(g, x, kernel, stride, padding):
        idx = _pool_argmax(xp, x, kernel, stride, padding)
        n, c, oh, ow = g.shape
        ph, pw = padding
        img = xp.zeros((n, c, x.shape[2] + 2 * ph, x.shape[3] + 2 * pw),
                       dtype=g.dtype)
        zero = xp.zeros((), dtype=g.dtype)
        for k, view in enumerate(_window_slices(img, kernel, stride, oh, ow)):
            view += xp.where(idx == k, g, zero)
        return xp.ascontiguousarray(_crop(img, ph, pw))
    return max_pool2d_grad_k


def _maxpool_select_make(xp):
    def max_pool2d_select_k(h, x, kernel, stride, padding):
        idx = _pool_argmax(xp, x, kernel, stride, padding)
        oh, ow = idx.shape[2:]
        views = _window_slices(_pad2(xp, h, *padding), kernel, stride, oh, ow)
        out = views[0]
        for k, v in enumerate(views[1:], 1):
            out = xp.where(idx == k, v, out)
        return out
    return max_pool2d_select_k


# the routing (which element is the max) is piecewise constant in x, so
# only the gradient operand carries a derivative
_MAXPOOL = defop("max_pool2d", _maxpool_make, vjps=(
    lambda g, ans, x, **a: apply(_MAXPOOL_GRAD, (g, x), a),))
_MAXPOOL_GRAD = defop("max_pool2d_grad", _maxpool_grad_make, vjps=(
    lambda h, ans, g, x, **a: apply(_MAXPOOL_SELECT, (h, x), a), None))
_MAXPOOL_SELECT = defop("max_pool2d_select", _maxpool_select_make, vjps=(
    lambda k, ans, h, x, **a: apply(_MAXPOOL_GRAD, (k, x), a), None))


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max over (kH, kW) windows of an NCHW tensor; ``stride`` defaults to
    the kernel size, padding is -inf.  The gradient goes to the first
    maximum of each window."""
    return apply(_MAXPOOL, (x,), _pool_args("max_pool2d", x, kernel_size,
                                            stride, padding))


def _avgpool_make(xp):
    def avg_pool2d_k(x, kernel, stride, padding):
        oh, ow = _pool_geom(x.shape, kernel, stride, padding)
        views = _window_slices(_pad2(xp, x, *padding), kernel, stride, oh, ow)
        out = views[0].astype(x.dtype if x.dtype.kind == "f" else np.float64)
        for v in views[1:]:
            out += v
        out *= np.asarray(1.0 / len(views), dtype=out.dtype)
        return out
    return avg_pool2d_k


def _avgpool_grad_make(xp):
    def avg_pool2d_grad_k(g, x_shape, kernel, stride, padding):
        n, c, oh, ow = g.shape
        ph, pw = padding
        share = g * np.asarray(1.0 / (kernel[0] * kernel[1]), dtype=g.dtype)
        img = xp.zeros((n, c, x_shape[2] + 2 * ph, x_shape[3] + 2 * pw),
                       dtype=g.dtype)
        for view in _window_slices(img, kernel, stride, oh, ow):
            view += share
        return xp.ascontiguousarray(_crop(img, ph, pw))
    return avg_pool2d_grad_k


_AVGPOOL = defop("avg_pool2d", _avgpool_make, vjps=(
    lambda g, ans, x, **a: apply(_AVGPOOL_GRAD, (g,),
                                 dict(a, x_shape=x.shape)),))
_AVGPOOL_GRAD = defop("avg_pool2d_grad", _avgpool_grad_make, vjps=(
    lambda h, ans, g, x_shape, **a: apply(_AVGPOOL, (h,), a),))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over (kH, kW) windows of an NCHW tensor; zero padding counts
    toward the mean (PyTorch's count_include_pad=True)."""
    return apply(_AVGPOOL, (x,), _pool_args("avg_pool2d", x, kernel_size,
                                            stride, padding))


# ----------------------------------------------------- dropout, bias_add --


def _dropout_mask_make(xp):
    def dropout_mask_k(x, rate):
        from core import random as _random

        keep = _random.generator().random(x.shape) >= rate
        mask = keep.astype(x.dtype) * np.asarray(1.0 / (1.0 - rate), x.dtype)
        if xp is np:
            return mask
        from core import devices as _devices

        dev = _devices.device_of_array(x)      # host -> device transfer
        return dev.backend.from_host(mask, dev.index)
    return dropout_mask_k


# impure: drawn from the engine's generator (graph mode must not fold it)
_DROPOUT_MASK = defop("dropout_mask", _dropout_mask_make,
                      differentiable=False, impure=True)


def dropout(x, rate, training=True):
    """Zero each element with probability ``rate`` and scale the rest by
    1/(1-rate) (inverted dropout).  The mask (op ``dropout_mask``) is drawn
    on the host from ``core.random.generator()`` and moved to the device,
    so a seed fixes it on every device.  Identity when not training or
    rate == 0."""
    from core.ops.elementwise import mul
    from core.tensor import as_tensor

    if not 0.0 <= rate < 1.0:
        raise op_error(ShapeError, "dropout", (x,),
                       f"rate must be in [0, 1), got {rate}")
    if not isinstance(x, Tensor):
        x = as_tensor(x)
    if not training or rate == 0.0:
        return x
    return mul(x, apply(_DROPOUT_MASK, (x,), {"rate": float(rate)}))


def bias_add(x, b, axis=1):
    """``x + b`` with the 1-D ``b`` laid along ``axis`` (channels: 1)."""
    from core.ops.elementwise import add
    from core.ops.shape import reshape

    nd = len(_shape_of(x))
    a = axis % nd if nd else 0
    if len(_shape_of(b)) != 1 or _shape_of(b)[0] != _shape_of(x)[a]:
        raise op_error(ShapeError, "bias_add", (x, b),
                       f"bias must be 1-D of length {_shape_of(x)[a]} "
                       f"(axis {axis})")
    return add(x, reshape(b, (-1,) + (1,) * (nd - a - 1)))
