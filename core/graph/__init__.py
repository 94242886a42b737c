"""The traced graph behind ``core.function``: values, nodes and a listing.

A :class:`Graph` is a straight-line program recorded by running a Python
function once under a tracing hook (see :mod:`core.graph.trace`).  Every
value lives in a numbered *slot*; a slot is one of

``input``     a tensor argument of the function (bound on every call),
``variable``  a ``core.Variable`` read **by reference** (each replay sees
              its current value; ``assign*`` calls are nodes too),
``capture``   a tensor from outside the function that takes part in
              autodiff (``requires_grad`` or the output of a recorded op):
              kept by reference so gradients still reach it,
``const``     any other tensor or array the function used (baked by value),
``op``        the output of one op node.

Operands of a node are slot numbers, :class:`Lit` (a Python value given
to the op as is, e.g. the ``2`` in ``x * 2``) or :class:`Seq` (a list or
tuple holding tensors, for variadic ops).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Graph", "GraphNode", "Lit", "Ref", "Seq", "attr_refs",
           "map_attr"]

INPUT, VARIABLE, CAPTURE, CONST, OP = (
    "input", "variable", "capture", "const", "op")


class Lit:
    """A non-tensor operand given to the op as is (``lifted`` for kernels)."""

    __slots__ = ("value", "lifted")

    def __init__(self, value, lifted):
        self.value = value      # what the dispatch saw (Python scalar, list)
        self.lifted = lifted    # what the kernel saw (scalar or array)

    def __repr__(self):
        text = repr(self.value)
        return text if len(text) <= 24 else text[:21] + "..."


class Seq:
    """A list/tuple operand holding tensors (variadic ops)."""

    __slots__ = ("type", "items")

    def __init__(self, type_, items):
        self.type = type_
        self.items = tuple(items)


class Ref:
    """Inside an op's attributes: the raw array of a slot.

    Some ops take index arrays as attributes (``x[idx]`` with a tensor
    ``idx`` becomes ``getitem(x, index=idx._data)``).  When such an array
    is a value of the graph, the attribute refers to its slot so replays
    use the current value, not the one seen while tracing.
    """

    __slots__ = ("slot",)

    def __init__(self, slot):
        self.slot = slot

    def __repr__(self):
        return f"Ref({self.slot})"


def map_attr(v, fn):
    """``v`` with every :class:`Ref` replaced by ``fn(ref)``."""
    if isinstance(v, Ref):
        return fn(v)
    if isinstance(v, tuple):
        return tuple(map_attr(x, fn) for x in v)
    if isinstance(v, list):
        return [map_attr(x, fn) for x in v]
    return v


def attr_refs(attrs) -> list:
    """Slots referenced from ``attrs`` (a dict or None)."""
    out = []
    if attrs:
        for v in attrs.values():
            map_attr(v, lambda r: out.append(r.slot) or r)
    return out


class GraphNode:
    """One recorded op (``kind == "op"``) or variable update ("assign")."""

    __slots__ = ("kind", "op", "name", "args", "attrs", "out", "device",
                 "out_device", "grad", "phase", "scope", "impure",
                 "location", "value", "mode", "var")

    def __init__(self, kind, name):
        self.kind = kind
        self.name = name
        self.op = None
        self.args = ()
        self.attrs = None
        self.out = None          # output slot (op nodes)
        self.device = None       # the device the kernel ran on
        self.out_device = None   # the device of the output
        self.grad = True         # grad mode when traced
        self.phase = "forward"
        self.scope = ()          # name scopes inside the function
        self.impure = False
        self.location = None
        self.value = None        # traced output array (for folding)
        self.mode = None         # assign / assign_add / assign_sub
        self.var = None          # variable slot (assign nodes)


class Graph:
    """Slots, nodes in execution order, outputs, plus optimizer counts."""

    def __init__(self, name):
        self.name = name
        self.kinds: list = []    # slot -> kind
        self.objs: list = []     # slot -> leaf index / object / array / node
        self.metas: list = []    # slot -> (shape, dtype, device)
        self.labels: list = []   # slot -> text for the listing
        self.nodes: list = []
        self.outputs: list = []  # output leaves: slot or Lit
        self.out_tree = None     # structure to rebuild the return value
        self.stats = {"traced": 0, "folded": 0, "cse": 0, "dce": 0}
        self.eager_reason = None  # set when the graph must not be replayed
        self.eager_for_grad = None  # set when gradient calls must run eagerly
        self.signature = ""

    def new_slot(self, kind, obj, meta, label=""):
        self.kinds.append(kind)
        self.objs.append(obj)
        self.metas.append(meta)
        self.labels.append(label)
        return len(self.kinds) - 1

    # -- inspection ----------------------------------------------------
    @property
    def ops(self) -> list:
        """Names of the op nodes kept after optimization, in order."""
        return [n.name for n in self.nodes if n.kind == "op"]

    def count(self, name) -> int:
        return sum(1 for n in self.nodes if n.kind == "op" and n.name == name)

    def _slot_text(self, s):
        kind = self.kinds[s]
        if kind == INPUT:
            return f"%{self.labels[s]}"
        if kind == VARIABLE:
            return f"${self.labels[s]}"
        if kind in (CAPTURE, CONST):
            return f"#{s}"
        return f"%{s}"

    def _operand_text(self, a):
        if isinstance(a, Lit):
            return repr(a)
        if isinstance(a, Seq):
            inner = ", ".join(self._operand_text(x) for x in a.items)
            return f"[{inner}]"
        return self._slot_text(a)

    def listing(self) -> str:
        """A printable program: inputs, variables, constants, ops, outputs."""
        st = self.stats
        kept = len(self.ops)
        lines = [f"graph {self.name}({self.signature})",
                 f"  # {st['traced']} ops traced -> {kept} kept: "
                 f"{st['folded']} constant-folded, {st['cse']} merged "
                 f"(CSE), {st['dce']} dead removed (DCE)"]
        if self.eager_reason:
            lines.append(f"  # runs eagerly: {self.eager_reason}")
        if self.eager_for_grad:
            lines.append(f"  # note: {self.eager_for_grad}")
        used = self._used_slots()
        for s, kind in enumerate(self.kinds):
            if kind == OP or s not in used:
                continue
            shape, dtype, dev = self.metas[s]
            desc = f"{_shape_text(shape)} {dtype} {dev}"
            if kind == INPUT:
                lines.append(f"  input    %{self.labels[s]}: {desc}")
            elif kind == VARIABLE:
                lines.append(f"  variable ${self.labels[s]}: {desc}  "
                             "(read by reference)")
            elif kind == CAPTURE:
                lines.append(f"  capture  #{s} = {self.labels[s]}: {desc}")
            else:
                lines.append(f"  const    #{s} = {_preview(self.objs[s])}: "
                             f"{desc}")
        for n in self.nodes:
            if n.kind == "assign":
                lines.append(f"  {n.mode}(${self.labels[n.var]}, "
                             f"{self._operand_text(n.args[0])})")
                continue
            args = ", ".join(self._operand_text(a) for a in n.args)
            attrs = ""
            if n.attrs:
                attrs = ", " + ", ".join(
                    f"{k}={self._attr_text(v)}" for k, v in n.attrs.items())
            shape, dtype, _ = self.metas[n.out]
            tags = []
            if n.impure:
                tags.append("impure")
            if n.phase != "forward":
                tags.append(n.phase)
            if not n.grad:
                tags.append("no_grad")
            tag = f"  [{', '.join(tags)}]" if tags else ""
            lines.append(f"  %{n.out} = {n.name}({args}{attrs})  -> "
                         f"{_shape_text(shape)} {dtype}{tag}")
        outs = ", ".join(self._operand_text(o) for o in self.outputs)
        lines.append(f"  return {outs}")
        return "\n".join(lines)

    def _attr_text(self, v):
        if isinstance(v, Ref):
            return self._slot_text(v.slot)
        if isinstance(v, tuple) and any(attr_refs({0: v})):
            return "(" + ", ".join(self._attr_text(x) for x in v) + ")"
        return _attr_text(v)

    def _used_slots(self):
        used = set()

        def add(a):
            if isinstance(a, Seq):
                for x in a.items:
                    add(x)
            elif isinstance(a, int):
                used.add(a)

        for n in self.nodes:
            for a in n.args:
                add(a)
            used.update(attr_refs(n.attrs))
            if n.var is not None:
                used.add(n.var)
        for o in self.outputs:
            add(o)
        return used

    def __str__(self):
        return self.listing()

    def __repr__(self):
        return (f"<Graph {self.name}: {len(self.ops)} ops, "
                f"{self.stats['traced']} traced>")


def _shape_text(shape):
    if shape is None:
        return "?"
    return "(" + ", ".join(str(n) for n in shape) + (",)" if len(shape) == 1
                                                     else ")")


def _preview(arr):
    try:
        host = np.asarray(arr.view(np.ndarray)) if isinstance(
            arr, np.ndarray) else None
    except Exception:
        host = None
    if host is None or host.size > 6:
        return "<array>" if host is None else f"<{host.size} values>"
    return " ".join(np.array2string(host, precision=4,
                                    separator=", ").split())


def _attr_text(v):
    if isinstance(v, np.ndarray):
        return f"<array {v.shape}>"
    text = str(v) if isinstance(v, np.dtype) else repr(v)
    return text if len(text) <= 30 else text[:27] + "..."
