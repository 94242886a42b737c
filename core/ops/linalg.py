"""matmul (batched, broadcasting, numpy's 1-D rules) and einsum."""

from __future__ import annotations

from core.ops._base import binary, defop, unbroadcast


def _matmul_vjp_a(g, ans, a, b):
    from core.ops.shape import reshape, transpose

    if b.ndim == 1:                      # (..., n) @ (n,) -> (...)
        if a.ndim == 1:
            return mul_outer_scalar(g, b)
        from core.ops.elementwise import mul
        return unbroadcast(mul(reshape(g, g.shape + (1,)), b), a)
    bt = _swap_last(b)
    if a.ndim == 1:                      # (n,) @ (..., n, m) -> (..., m)
        ga = matmul(reshape(g, g.shape[:-1] + (1, g.shape[-1])), bt)
        ga = reshape(ga, ga.shape[:-2] + (ga.shape[-1],))
        return unbroadcast(ga, a)
    return unbroadcast(matmul(g, bt), a)


def _matmul_vjp_b(g, ans, a, b):
    from core.ops.shape import reshape
    from core.ops.elementwise import mul

    if a.ndim == 1:
        if b.ndim == 1:
            return mul_outer_scalar(g, a)
        # (n,) @ (..., n, m): gb = a[:, None] * g[..., None, :]
        ga = reshape(a, (a.shape[0], 1))
        return unbroadcast(mul(ga, reshape(g, g.shape[:-1] + (1, g.shape[-1]))), b)
    at = _swap_last(a)
    if b.ndim == 1:                      # (..., k, n) @ (n,) -> (..., k)
        gb = matmul(at, reshape(g, g.shape + (1,)))
        gb = reshape(gb, gb.shape[:-1])
        return unbroadcast(gb, b)
    return unbroadcast(matmul(at, g), b)


def mul_outer_scalar(g, v):
    from core.ops.elementwise import mul
    return mul(g, v)


def _swap_last(x):
    from core.ops.shape import transpose

    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, tuple(axes))


def _matmul_make(xp):
    return xp.matmul


matmul = binary(defop("matmul", _matmul_make,
                      vjps=(_matmul_vjp_a, _matmul_vjp_b)))
