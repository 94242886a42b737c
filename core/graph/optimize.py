"""Graph optimizations: constant folding, CSE and dead-code elimination.

* **Constant folding**: an op whose operands are all constants (or Python
  literals) becomes a constant; its value is the one computed while
  tracing, so folding costs nothing.
* **Common-subexpression elimination**: a second op with the same name,
  operands, attributes and grad mode reuses the first one's output.  A
  variable operand is keyed by its *version* (bumped by every ``assign``
  node), so a read after an update is never merged with one before it.
* **Dead-code elimination**: ops whose outputs reach neither the function's
  outputs nor a variable update are dropped.

Impure ops (random draws such as dropout) are never folded, merged or
dropped, so replays consume random numbers exactly as eager runs do.
"""

from __future__ import annotations

import numpy as np

from core.graph import CONST, VARIABLE, Graph, Ref, Seq, attr_refs, map_attr

_UNHASHABLE = object()


def optimize(graph: Graph, fold=True, cse=True, dce=True) -> Graph:
    alias: dict = {}
    kinds = graph.kinds

    def canon(a):
        if isinstance(a, Seq):
            return Seq(a.type, (canon(x) for x in a.items))
        if isinstance(a, int):
            return alias.get(a, a)
        return a

    def all_const(args):
        for a in args:
            if isinstance(a, Seq):
                if not all_const(a.items):
                    return False
            elif isinstance(a, int) and kinds[a] != CONST:
                return False
        return True

    version: dict = {}

    def key_of(a):
        if isinstance(a, Seq):
            return ("S", a.type, tuple(key_of(x) for x in a.items))
        if isinstance(a, int):
            if kinds[a] == VARIABLE:
                return (a, version.get(a, 0))
            return a
        return ("L", type(a.value).__name__, _freeze(a.value))

    seen: dict = {}
    kept = []
    def canon_ref(r):
        return Ref(alias.get(r.slot, r.slot))

    def freeze_ref(r):
        return ("ref", key_of(r.slot))

    for n in graph.nodes:
        n.args = tuple(canon(a) for a in n.args)
        if n.attrs and attr_refs(n.attrs):
            n.attrs = {k: map_attr(v, canon_ref) for k, v in n.attrs.items()}
        if n.kind == "assign":
            version[n.var] = version.get(n.var, 0) + 1
            kept.append(n)
            continue
        if fold and not n.impure and all_const(n.args) and all(
                kinds[r] == CONST for r in attr_refs(n.attrs)):
            kinds[n.out] = CONST
            graph.objs[n.out] = n.value
            graph.stats["folded"] += 1
            continue
        if cse and not n.impure:
            try:
                attrs = n.attrs and {k: map_attr(v, freeze_ref)
                                     for k, v in n.attrs.items()}
                key = (n.name, tuple(key_of(a) for a in n.args),
                       _freeze(attrs), n.grad)
                hash(key)
            except TypeError:
                key = None
            if key is not None:
                prev = seen.get(key)
                if prev is not None:
                    alias[n.out] = prev
                    graph.stats["cse"] += 1
                    continue
                seen[key] = n.out
        kept.append(n)
    graph.outputs = [canon(o) for o in graph.outputs]

    if dce:
        live = set()

        def mark(a):
            if isinstance(a, Seq):
                for x in a.items:
                    mark(x)
            elif isinstance(a, int):
                live.add(a)

        for o in graph.outputs:
            mark(o)
        out = []
        for n in reversed(kept):
            if n.kind == "assign" or n.impure or n.out in live:
                for a in n.args:
                    mark(a)
                live.update(attr_refs(n.attrs))
                out.append(n)
            else:
                graph.stats["dce"] += 1
        kept = out[::-1]
    for n in kept:
        n.value = None   # only folding needed the traced values
    graph.nodes = kept
    return graph


def _freeze(v):
    """A hashable stand-in for an attribute value (TypeError if none)."""
    if v is None or isinstance(v, (str, bytes)):
        return v
    if isinstance(v, (int, float, bool, complex, np.generic)):
        return (type(v).__name__, v)    # 1, 1.0 and True stay apart
    if isinstance(v, dict):
        return ("D",) + tuple((k, _freeze(x)) for k, x in sorted(v.items()))
    if isinstance(v, (list, tuple)):
        return (type(v).__name__,) + tuple(_freeze(x) for x in v)
    if isinstance(v, slice):
        return ("slice", _freeze(v.start), _freeze(v.stop), _freeze(v.step))
    if isinstance(v, np.ndarray):
        if v.size > 4096:
            raise TypeError("large array attribute")
        host = v.view(np.ndarray) if type(v) is not np.ndarray else v
        return ("A", host.dtype.str, host.shape, host.tobytes())
    hash(v)
    return v
