"""matmul (batched, broadcasting, numpy's 1-D rules) and einsum."""

from __future__ import annotations

from core.ops._base import Tensor, apply, binary, defop, unbroadcast, vjp_all
from core.ops.shape import _TRANSPOSE


def _matmul_vjp_a(g, ans, a, b):
    from core.ops.shape import reshape

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


_SWAPS = {}    # ndim -> the permutation swapping the last two axes


def swap_last_perm(nd):
    """The permutation of ``nd`` axes that swaps the last two (cached)."""
    axes = _SWAPS.get(nd)
    if axes is None:
        perm = list(range(nd))
        perm[-1], perm[-2] = perm[-2], perm[-1]
        axes = _SWAPS[nd] = tuple(perm)
    return axes


def _swap_last(x):
    return apply(_TRANSPOSE, (x,), {"axes": swap_last_perm(x.ndim)})


def _matmul_make(xp):
    mm = xp.matmul

    def matmul_k(a, b):
        try:
            return mm(a, b)
        except ValueError:
            if a.ndim == 0 or b.ndim == 0:
                raise ValueError("operands must have at least one dimension "
                                 "(use mul for scalars)") from None
            k_a = a.shape[-1]
            k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
            if k_a != k_b:
                raise ValueError(
                    f"inner dimensions differ: {tuple(a.shape)} @ "
                    f"{tuple(b.shape)} contracts {k_a} with {k_b}") from None
            raise ValueError(
                f"batch dimensions {tuple(a.shape[:-2])} and "
                f"{tuple(b.shape[:-2])} do not broadcast") from None
    return matmul_k


matmul = binary(defop("matmul", _matmul_make,
                      vjps=(_matmul_vjp_a, _matmul_vjp_b)))


# ----------------------------------------------------------------- einsum --

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _parse_einsum(subscripts, shapes):
    """Explicit (input subscripts, output subscript), ellipses expanded."""
    s = subscripts.replace(" ", "")
    if "->" in s:
        lhs, out = s.split("->")
    else:
        lhs, out = s, None
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"subscripts {subscripts!r} name {len(ins)} operands "
                         f"but {len(shapes)} were given")
    used = set(c for c in s if c.isalpha())
    free = [c for c in _LETTERS if c not in used]
    n_ell = 0
    for sub, shp in zip(ins, shapes):
        if "..." in sub:
            n_ell = max(n_ell, len(shp) - (len(sub) - 3))
    ell = "".join(free[:n_ell])
    expanded = []
    for sub, shp in zip(ins, shapes):
        if "..." in sub:
            k = len(shp) - (len(sub) - 3)
            sub = sub.replace("...", ell[n_ell - k:] if k else "")
        if len(sub) != len(shp):
            raise ValueError(f"subscripts {sub!r} do not fit an operand of "
                             f"shape {tuple(shp)}")
        expanded.append(sub)
    if out is None:
        counts = {}
        for sub in expanded:
            for c in sub:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items()
                                   if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return expanded, out


def _einsum_make(xp):
    def einsum_k(*ops, subscripts):
        if len(ops) > 1:
            return xp.einsum(subscripts, *ops, optimize=True)
        return xp.einsum(subscripts, *ops)
    return einsum_k


def _einsum_operand_grad(g, ops, ins, out, i):
    from core.ops.shape import broadcast_to, reshape
    from core.tensor import eye

    x = ops[i]
    sub = ins[i]
    used = set("".join(ins) + out)
    fresh = iter(c for c in _LETTERS if c not in used)
    # repeated letters in x (a diagonal): rename, tie with identity matrices
    target, extra_ops, extra_subs, seen = [], [], [], {}
    for c, n in zip(sub, x.shape):
        if c in seen:
            c2 = next(fresh)
            e = eye(n, dtype=g.dtype, device=g.device)
            extra_ops.append(e)
            extra_subs.append(c + c2)
            target.append(c2)
        else:
            seen[c] = n
            target.append(c)
    in_ops = [g] + [o for j, o in enumerate(ops) if j != i] + extra_ops
    in_subs = [out] + [s for j, s in enumerate(ins) if j != i] + extra_subs
    present = set("".join(in_subs))
    keep = [c for c in target if c in present]
    # broadcasting inside the ellipsis: x has 1 where others have n
    sizes = {}
    for s_, o in zip(in_subs, in_ops):
        for c, n in zip(s_, o.shape):
            sizes[c] = max(sizes.get(c, 1), n)
    gi = einsum(",".join(in_subs) + "->" + "".join(keep), *in_ops)
    if len(keep) != len(target):   # letters only x sums over: broadcast back
        gi = reshape(gi, tuple(
            sizes[c] if c in present else 1 for c in target))
        gi = broadcast_to(gi, tuple(
            sizes[c] if c in present else n for c, n in zip(target, x.shape)))
    return unbroadcast(gi, x)


@vjp_all
def _einsum_vjp(g, ans, *ops, subscripts):
    ins, out = _parse_einsum(subscripts, [o.shape for o in ops])
    return [_einsum_operand_grad(g, ops, ins, out, i)
            if isinstance(x, Tensor) and x._rg else None
            for i, x in enumerate(ops)]


_EINSUM = defop("einsum", _einsum_make, vjps=(_einsum_vjp,))


def einsum(subscripts, *operands):
    """numpy.einsum over tensors (explicit or implicit output, ellipsis);
    the gradient of each operand is again an einsum."""
    from core.errors import ShapeError, op_error
    from core.tensor import as_tensor

    ops = tuple(o if isinstance(o, Tensor) else as_tensor(o) for o in operands)
    try:
        ins, out = _parse_einsum(subscripts, [o.shape for o in ops])
    except ValueError as e:
        raise op_error(ShapeError, "einsum", ops, str(e)) from None
    sizes = {}
    for sub, o in zip(ins, ops):
        for c, n in zip(sub, o.shape):
            if sizes.setdefault(c, n) != n and 1 not in (n, sizes[c]):
                raise op_error(ShapeError, "einsum", ops,
                               f"index {c!r} has sizes {sizes[c]} and {n} in "
                               f"{subscripts!r}")
    return apply(_EINSUM, ops, {"subscripts": subscripts})
