"""Generated straight-line Python for a graph, in two flavours.

``gen_fast``: one local per slot, each op a direct call of its raw kernel
on raw arrays; variables are read (``obj._data``) once at entry and
updated in place by ``assign`` nodes.  No Tensor per op, no dispatch, no
hook check: this is the replay that buys back eager's overhead.

``gen_dispatch``: the same program over Tensors through the choke point
(the lean one/two-operand dispatch functions, or ``apply``), restoring
each node's traced grad mode, phase and relative name scope, so tapes
record and hooks see every op.

Generated code is compiled under a file name inside ``core/`` so that
``user_location`` skips it and events point at the caller's line.
"""

from __future__ import annotations

from core import _dispatch as D
from core.graph import (
    CAPTURE, CONST, INPUT, OP, VARIABLE, Graph, Lit, Ref, Seq, attr_refs,
)


def _compile(src, ns, name, entry):
    filename = f"{D._CORE_DIR}<core.function {name}>"
    exec(compile(src, filename, "exec"), ns)
    return ns[entry]


def _flat_slots(args, out):
    for a in args:
        if isinstance(a, Seq):
            _flat_slots(a.items, out)
        elif isinstance(a, int):
            out.append(a)
    return out


def _loads(g: Graph, ns, consts=None):
    """Entry lines binding every used input/variable/capture slot."""
    lines = []
    for s in sorted(g._used_slots()):
        kind = g.kinds[s]
        if kind == INPUT:
            lines.append(f"s{s} = p{g.objs[s]}")
        elif kind in (VARIABLE, CAPTURE):
            ns[f"o{s}"] = g.objs[s]
            lines.append(f"s{s} = o{s}._data" if consts is None
                         else f"s{s} = o{s}")
        elif kind == CONST:
            ns[f"c{s}"] = g.objs[s] if consts is None else consts[s]
    return lines


def _name(g, s):
    return f"c{s}" if g.kinds[s] == CONST else f"s{s}"


def _attr_expr(v, ref_text, bind):
    """Python source for an attribute value holding :class:`Ref` s."""
    if isinstance(v, Ref):
        return ref_text(v.slot)
    if isinstance(v, tuple) and attr_refs({0: v}):
        return "(" + "".join(_attr_expr(x, ref_text, bind) + ", "
                             for x in v) + ")"
    if isinstance(v, list) and attr_refs({0: v}):
        return "[" + ", ".join(_attr_expr(x, ref_text, bind)
                               for x in v) + "]"
    return bind(v)


def _params(g):
    n = sum(1 for k in g.kinds if k == INPUT)
    return ", ".join(f"p{i}" for i in range(n))


def _outputs(g):
    outs = [_name(g, o) for o in g.outputs
            if not isinstance(o, Lit) and g.kinds[o] == OP]
    return f"({', '.join(outs)}{',' if outs else ''})"


def gen_fast(g: Graph, fail, resolver):
    """``(replay(*raw_inputs) -> tuple of raw op outputs, source)``."""
    ns = {"_fail": fail}
    body = _loads(g, ns)
    nlit = [0]

    def bind(value):
        nlit[0] += 1
        ns[f"l{nlit[0]}"] = value
        return f"l{nlit[0]}"

    def operand(a):
        if isinstance(a, Lit):
            return bind(a.lifted)
        return _name(g, a)

    for i, n in enumerate(g.nodes):
        body.append(f"_i = {i}")
        if n.kind == "assign":
            ns[f"o{n.var}"] = g.objs[n.var]
            val = operand(n.args[0])
            if n.mode == "assign":
                body.append(f"o{n.var}._data[...] = {val}")
            else:
                sign = "+" if n.mode == "assign_add" else "-"
                body.append(f"o{n.var}._data {sign}= {val}")
            continue
        kernel = n.op.kernels[n.device.slot]
        if isinstance(kernel, D._LazyKernel):
            kernel = n.op.build(n.device.slot)
        if any(isinstance(a, Seq) for a in n.args):
            ns[f"k{i}"] = resolver(n, kernel)
            flat = _flat_slots(n.args, [])
            call = f"k{i}({', '.join(_name(g, s) for s in flat)})"
        else:
            ns[f"k{i}"] = kernel
            text = ", ".join(operand(a) for a in n.args)
            if n.attrs and attr_refs(n.attrs):
                kw = ", ".join(
                    f"{k}={_attr_expr(v, lambda s: _name(g, s), bind)}"
                    for k, v in n.attrs.items())
                text += (", " if text else "") + kw
            elif n.attrs:
                ns[f"a{i}"] = n.attrs
                text += (", " if text else "") + f"**a{i}"
            call = f"k{i}({text})"
        body.append(f"s{n.out} = {call}")
    body.append(f"return {_outputs(g)}")
    src = (f"def _replay({_params(g)}):\n    _i = -1\n    try:\n"
           + "".join(f"        {line}\n" for line in body)
           + "    except Exception as _e:\n"
           "        raise _fail(_i, _e) from None\n")
    return _compile(src, ns, g.name, "_replay"), src


def gen_dispatch(g: Graph, consts):
    """``(replay(*input_tensors) -> tuple of output tensors, source)``."""
    ns = {"D": D, "apply": D.apply}
    body = _loads(g, ns, consts)
    count = [0]

    def fresh(prefix, value):
        count[0] += 1
        ns[f"{prefix}{count[0]}"] = value
        return f"{prefix}{count[0]}"

    def expr(a):
        if isinstance(a, Lit):
            return fresh("l", a.value)
        if isinstance(a, Seq):
            inner = ", ".join(expr(x) for x in a.items)
            if a.type is list:
                return f"[{inner}]"
            if a.type is tuple:
                return f"({inner}{',' if a.items else ''})"
            return f"{fresh('t', a.type)}([{inner}])"
        return _name(g, a)

    grad, phase, scope = True, "forward", ()
    for i, n in enumerate(g.nodes):
        if n.kind == "assign":
            body.append(f"o{n.var}.{n.mode}({expr(n.args[0])})")
            ns[f"o{n.var}"] = g.objs[n.var]
            continue
        if n.grad != grad:
            grad = n.grad
            body.append("D.grad_enabled = " + ("_g" if grad else "False"))
        if n.phase != phase:
            phase = n.phase
            body.append("D.phase = " + ("_ph" if phase == "forward"
                                        else repr(phase)))
        if n.scope != scope:
            scope = n.scope
            body.append(f"D.scope = _sc + {fresh('sc', scope)}"
                        if scope else "D.scope = _sc")
        plain = not n.attrs and not any(isinstance(a, Seq) for a in n.args)
        args = [expr(a) for a in n.args]
        if plain and len(args) == 1:
            call = f"{fresh('k', D.unary(n.op))}({args[0]})"
        elif plain and len(args) == 2:
            call = f"{fresh('k', D.binary(n.op))}({args[0]}, {args[1]})"
        else:
            tup = f"({', '.join(args)}{',' if args else ''})"
            if n.attrs and attr_refs(n.attrs):
                attrs = "{" + ", ".join(
                    f"{k!r}: " + _attr_expr(
                        v, lambda s: _name(g, s) + "._data",
                        lambda x: fresh("l", x))
                    for k, v in n.attrs.items()) + "}"
            else:
                attrs = fresh("a", n.attrs) if n.attrs else "None"
            call = f"apply({fresh('op', n.op)}, {tup}, {attrs})"
        body.append(f"s{n.out} = {call}")
    body.append(f"return {_outputs_all(g)}")
    if not any(line.startswith("D.") for line in body):
        src = (f"def _dispatch_replay({_params(g)}):\n"
               + "".join(f"    {line}\n" for line in body))
    else:   # the graph switches grad mode, phase or scope: restore them
        src = (f"def _dispatch_replay({_params(g)}):\n"
               "    _g, _ph, _sc = D.grad_enabled, D.phase, D.scope\n"
               "    try:\n"
               + "".join(f"        {line}\n" for line in body)
               + "    finally:\n"
               "        D.grad_enabled, D.phase, D.scope = _g, _ph, _sc\n")
    return _compile(src, ns, g.name, "_dispatch_replay"), src


def _outputs_all(g):
    """Every non-literal output, as the dispatch flavour returns tensors."""
    outs = [f"p{g.objs[o]}" if g.kinds[o] == INPUT else _name(g, o)
            for o in g.outputs if not isinstance(o, Lit)]
    return f"({', '.join(outs)}{',' if outs else ''})"
