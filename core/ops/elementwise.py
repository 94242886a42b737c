"""Elementwise ops: arithmetic, unary math, activations, comparisons.

Each op is one ``defop`` entry with its forward (``make(xp)`` -> kernel)
and its VJPs written in engine ops, so gradients of gradients work.
"""

from __future__ import annotations

import math
import operator

from core.ops._base import apply, binary, defop, unary, unbroadcast

# ------------------------------------------------------------ arithmetic --

add = binary(defop(
    "add", lambda xp: operator.add,
    vjps=(lambda g, ans, a, b: unbroadcast(g, a),
          lambda g, ans, a, b: unbroadcast(g, b))))

sub = binary(defop(
    "sub", lambda xp: operator.sub,
    vjps=(lambda g, ans, a, b: unbroadcast(g, a),
          lambda g, ans, a, b: unbroadcast(neg(g), b))))

mul = binary(defop(
    "mul", lambda xp: operator.mul,
    vjps=(lambda g, ans, a, b: unbroadcast(mul(g, b), a),
          lambda g, ans, a, b: unbroadcast(mul(g, a), b))))

div = binary(defop(
    "div", lambda xp: operator.truediv,
    vjps=(lambda g, ans, a, b: unbroadcast(div(g, b), a),
          lambda g, ans, a, b: unbroadcast(neg(mul(g, div(ans, b))), b))))

neg = unary(defop(
    "neg", lambda xp: operator.neg,
    vjps=(lambda g, ans, x: neg(g),)))


def _pow_vjp_base(g, ans, a, b):
    # d/da a**b = b * a**(b-1); a Python exponent stays a Python number
    if isinstance(b, (int, float)):
        if b == 2:
            return unbroadcast(mul(g, mul(a, 2)), a)
        return unbroadcast(mul(g, mul(pow(a, b - 1), b)), a)
    return unbroadcast(mul(g, mul(b, pow(a, sub(b, 1)))), a)


def _pow_vjp_exp(g, ans, a, b):
    # d/db a**b = log(a) * a**b   (0 where a == 0, as in PyTorch)
    if isinstance(a, (int, float)):
        return unbroadcast(mul(g, mul(ans, math.log(a) if a > 0 else 0.0)), b)
    safe = where(greater(a, 0), a, 1)
    return unbroadcast(mul(g, mul(ans, log(safe))), b)


pow = binary(defop("pow", lambda xp: operator.pow,
                   vjps=(_pow_vjp_base, _pow_vjp_exp)))


def _floordiv_make(xp):
    return operator.floordiv


floordiv = binary(defop("floordiv", _floordiv_make, differentiable=False))
mod = binary(defop("mod", lambda xp: operator.mod,
                   vjps=(lambda g, ans, a, b: unbroadcast(g, a),
                         lambda g, ans, a, b: unbroadcast(
                             neg(mul(g, floordiv(a, b))), b))))

# ----------------------------------------------------------- unary math --

exp = unary(defop("exp", lambda xp: xp.exp,
                  vjps=(lambda g, ans, x: mul(g, ans),)))
log = unary(defop("log", lambda xp: xp.log,
                  vjps=(lambda g, ans, x: div(g, x),)))
log1p = unary(defop("log1p", lambda xp: xp.log1p,
                    vjps=(lambda g, ans, x: div(g, add(x, 1)),)))
expm1 = unary(defop("expm1", lambda xp: xp.expm1,
                    vjps=(lambda g, ans, x: mul(g, add(ans, 1)),)))
sqrt = unary(defop("sqrt", lambda xp: xp.sqrt,
                   vjps=(lambda g, ans, x: div(g, mul(ans, 2)),)))


def _rsqrt_make(xp):
    def rsqrt_k(x):
        return 1 / xp.sqrt(x)
    return rsqrt_k


rsqrt = unary(defop("rsqrt", _rsqrt_make,
                    vjps=(lambda g, ans, x: mul(g, mul(pow(ans, 3), -0.5)),)))
abs = unary(defop("abs", lambda xp: xp.abs,
                  vjps=(lambda g, ans, x: mul(g, sign(x)),)))
sign = unary(defop("sign", lambda xp: xp.sign, differentiable=False))
square = unary(defop("square", lambda xp: xp.square,
                     vjps=(lambda g, ans, x: mul(g, mul(x, 2)),)))
sin = unary(defop("sin", lambda xp: xp.sin,
                  vjps=(lambda g, ans, x: mul(g, cos(x)),)))
cos = unary(defop("cos", lambda xp: xp.cos,
                  vjps=(lambda g, ans, x: neg(mul(g, sin(x))),)))
tanh = unary(defop("tanh", lambda xp: xp.tanh,
                   vjps=(lambda g, ans, x: tanh_grad(g, ans),)))


def _sigmoid_make(xp):
    logaddexp, exp = xp.logaddexp, xp.exp

    def sigmoid_k(x):
        # exp(-softplus(-x)): stable on both tails, full relative precision
        # for very negative x, and two ufuncs instead of eight
        out = exp(-logaddexp(0, -x))
        return out if out.dtype == x.dtype or x.dtype.kind != "f" else \
            out.astype(x.dtype)
    return sigmoid_k


sigmoid = unary(defop("sigmoid", _sigmoid_make,
                      vjps=(lambda g, ans, x: sigmoid_grad(g, ans),)))


def _relu_make(xp):
    def relu_k(x):
        return xp.maximum(x, 0)
    return relu_k


relu = unary(defop("relu", _relu_make,
                   vjps=(lambda g, ans, x: relu_grad(g, x),)))

# Fused gradient ops (TensorFlow's TanhGrad/SigmoidGrad/ReluGrad): one op
# instead of three in the backward pass, each differentiable in turn.


def _tanh_grad_make(xp):
    def tanh_grad_k(g, y):
        return g * (1 - y * y)
    return tanh_grad_k


tanh_grad = binary(defop(
    "tanh_grad", _tanh_grad_make,
    vjps=(lambda gg, ans, g, y: unbroadcast(tanh_grad(gg, y), g),
          lambda gg, ans, g, y: unbroadcast(mul(mul(gg, g), mul(y, -2)), y))))


def _sigmoid_grad_make(xp):
    def sigmoid_grad_k(g, y):
        return g * y * (1 - y)
    return sigmoid_grad_k


sigmoid_grad = binary(defop(
    "sigmoid_grad", _sigmoid_grad_make,
    vjps=(lambda gg, ans, g, y: unbroadcast(sigmoid_grad(gg, y), g),
          lambda gg, ans, g, y: unbroadcast(
              mul(mul(gg, g), sub(1, mul(y, 2))), y))))


def _relu_grad_make(xp):
    def relu_grad_k(g, x):
        return g * (x > 0)
    return relu_grad_k


relu_grad = binary(defop(
    "relu_grad", _relu_grad_make,
    vjps=(lambda gg, ans, g, x: unbroadcast(relu_grad(gg, x), g), None)))


def leaky_relu(x, negative_slope=0.01):
    """max(x, 0) + negative_slope * min(x, 0)."""
    return apply(_LEAKY, (x,), {"negative_slope": negative_slope})


def _leaky_make(xp):
    def leaky_k(x, negative_slope):
        return xp.where(x > 0, x, x * negative_slope).astype(x.dtype)
    return leaky_k


def _leaky_vjp(g, ans, x, negative_slope):
    pos = greater(x, 0).astype(g.dtype)
    return mul(g, add(pos, mul(sub(1, pos), negative_slope)))


_LEAKY = defop("leaky_relu", _leaky_make, vjps=(_leaky_vjp,))


def elu(x, alpha=1.0):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return apply(_ELU, (x,), {"alpha": alpha})


def _elu_make(xp):
    def elu_k(x, alpha):
        return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))).astype(x.dtype)
    return elu_k


def _elu_vjp(g, ans, x, alpha):
    pos = greater(x, 0).astype(g.dtype)
    return mul(g, add(pos, mul(sub(1, pos), add(ans, alpha))))


_ELU = defop("elu", _elu_make, vjps=(_elu_vjp,))

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(x, approximate="tanh"):
    """Gaussian error linear unit (tanh approximation, as in GPT-2).

    Only the tanh form is offered (numpy has no erf ufunc); asking for the
    exact form is an error rather than a silent approximation."""
    if approximate not in ("tanh", True):
        raise ValueError(f"gelu: approximate={approximate!r} is not "
                         "supported; use approximate='tanh'")
    inner = mul(add(x, mul(pow(x, 3), 0.044715)), _SQRT_2_OVER_PI)
    return mul(mul(x, 0.5), add(tanh(inner), 1))


def softplus(x):
    """log(1 + exp(x)), stable: max(x, 0) + log1p(exp(-|x|))."""
    return apply(_SOFTPLUS, (x,), None)


def _softplus_make(xp):
    logaddexp = xp.logaddexp

    def softplus_k(x):
        out = logaddexp(0, x)      # log(exp(0) + exp(x)), computed stably
        return out if out.dtype == x.dtype or x.dtype.kind != "f" else \
            out.astype(x.dtype)
    return softplus_k


_SOFTPLUS = defop("softplus", _softplus_make,
                  vjps=(lambda g, ans, x: mul(g, sigmoid(x)),))


def silu(x):
    return mul(x, sigmoid(x))


# ------------------------------------------------------- binary selections --


def _max_vjp(i):
    def vjp(g, ans, a, b):
        x = (a, b)[i]
        ab = greater(a, b) if i == 0 else greater(b, a)
        w = add(ab.astype(g.dtype), mul(equal(a, b).astype(g.dtype), 0.5))
        return unbroadcast(mul(g, w), x)
    return vjp


def _min_vjp(i):
    def vjp(g, ans, a, b):
        x = (a, b)[i]
        ab = less(a, b) if i == 0 else less(b, a)
        w = add(ab.astype(g.dtype), mul(equal(a, b).astype(g.dtype), 0.5))
        return unbroadcast(mul(g, w), x)
    return vjp


maximum = binary(defop("maximum", lambda xp: xp.maximum,
                       vjps=(_max_vjp(0), _max_vjp(1))))
minimum = binary(defop("minimum", lambda xp: xp.minimum,
                       vjps=(_min_vjp(0), _min_vjp(1))))


def clip(x, min=None, max=None):
    """Limit values to [min, max]; gradient flows where not clipped."""
    return apply(_CLIP, (x,), {"lo": min, "hi": max})


def _clip_make(xp):
    def clip_k(x, lo, hi):
        return xp.clip(x, lo, hi).astype(x.dtype, copy=False)
    return clip_k


def _clip_vjp(g, ans, x, lo, hi):
    inside = equal(ans, x).astype(g.dtype)
    return mul(g, inside)


_CLIP = defop("clip", _clip_make, vjps=(_clip_vjp,))


def where(cond, a, b):
    """Elements of ``a`` where ``cond`` holds, else of ``b`` (broadcasting)."""
    return apply(_WHERE, (cond, a, b), None)


def _where_make(xp):
    def where_k(c, a, b):
        return xp.where(c, a, b)
    return where_k


def _where_vjp(i):
    def vjp(g, ans, c, a, b):
        x = (c, a, b)[i]
        z = g * 0
        picked = where(c, g, z) if i == 1 else where(c, z, g)
        return unbroadcast(picked, x)
    return vjp


_WHERE = defop("where", _where_make, vjps=(None, _where_vjp(1), _where_vjp(2)))

# ------------------------------------------- comparisons and logic (no grad) --

equal = binary(defop("equal", lambda xp: operator.eq, differentiable=False))
not_equal = binary(defop("not_equal", lambda xp: operator.ne,
                         differentiable=False))
less = binary(defop("less", lambda xp: operator.lt, differentiable=False))
less_equal = binary(defop("less_equal", lambda xp: operator.le,
                          differentiable=False))
greater = binary(defop("greater", lambda xp: operator.gt, differentiable=False))
greater_equal = binary(defop("greater_equal", lambda xp: operator.ge,
                             differentiable=False))
logical_and = binary(defop("logical_and", lambda xp: xp.logical_and,
                           differentiable=False))
logical_or = binary(defop("logical_or", lambda xp: xp.logical_or,
                          differentiable=False))
logical_xor = binary(defop("logical_xor", lambda xp: xp.logical_xor,
                           differentiable=False))
logical_not = unary(defop("logical_not", lambda xp: xp.logical_not,
                          differentiable=False))
isnan = unary(defop("isnan", lambda xp: xp.isnan, differentiable=False))
isinf = unary(defop("isinf", lambda xp: xp.isinf, differentiable=False))
isfinite = unary(defop("isfinite", lambda xp: xp.isfinite,
                       differentiable=False))
floor = unary(defop("floor", lambda xp: xp.floor, differentiable=False))
ceil = unary(defop("ceil", lambda xp: xp.ceil, differentiable=False))
round = unary(defop("round", lambda xp: xp.round, differentiable=False))
