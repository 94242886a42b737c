"""Recording a graph: a hook that turns every op event into a node.

While a function is traced, a :class:`Tracer` is registered as an ordinary
hook (so the engine runs every op through the hooked path) and its
``after_op`` appends one :class:`GraphNode` per event.  Operands are
matched to slots by tensor identity first and by the identity of the raw
array second (so ``ans`` tensors rebuilt by the backward pass, or
``detach()``, still find their producer).

Two things never pass the choke point and are intercepted for the
duration of the trace instead (the originals are restored afterwards):

* ``Variable.assign/assign_add/assign_sub`` become ``assign`` nodes, so a
  training step traced as a function keeps updating its variables;
* ``Tensor.__bool__`` on a value that depends on the function's inputs
  raises :class:`TracingError` (Python control flow on tensor values would
  be frozen into the graph).
"""

from __future__ import annotations

import sys

import numpy as np

from core import _dispatch as D
from core import hooks as _hooks
from core import random as _random
from core.errors import CoreError, format_location
from core.graph import attr_refs
from core.graph import (
    CAPTURE, CONST, INPUT, OP, VARIABLE, Graph, GraphNode, Lit, Ref, Seq,
)
from core.tensor import Tensor, Variable

_ACTIVE: list = []          # tracers recording now (nested traces nest)
_SAVED: dict = {}           # original methods while tracing


class TracingError(CoreError, RuntimeError):
    """A function cannot be traced faithfully (e.g. data-dependent ``if``)."""


def _is_impure(op) -> bool:
    if getattr(op, "impure", False):
        return True
    name = op.name.lower()
    return any(w in name for w in ("dropout", "random", "rand", "bernoulli",
                                   "multinomial", "shuffle"))


def _rng_state():
    gen = _random.generator()
    return id(gen), gen.bit_generator.state


def _meta(t):
    data = t._data
    return (tuple(getattr(data, "shape", ())), getattr(data, "dtype", None),
            t._device)


def _host_copy(t):
    data = t._data
    if t._device.kind == "cpu":
        return np.array(data, copy=True)
    return np.array(t._device.backend.to_host(data), copy=True)


def _changed_outside_ops(tracer):
    """Labels of variables whose values changed during the trace without
    a recorded ``assign*`` (raw in-place updates a replay would skip)."""
    g = tracer.graph
    assigned = {n.var for n in g.nodes if n.kind == "assign"}
    out = []
    for s, (var, obj, copy) in tracer.snapshots.items():
        if s in assigned:
            continue
        if var._data is not obj or not np.array_equal(
                copy, _host_copy(var), equal_nan=copy.dtype.kind in "fc"):
            out.append(g.labels[s])
    return out


def _has_tensor(seq):
    for x in seq:
        if isinstance(x, Tensor):
            return True
        if isinstance(x, (list, tuple)) and _has_tensor(x):
            return True
    return False


class Tracer:
    """A hook that records every op into ``graph``."""

    def __init__(self, graph: Graph, entry_scope: tuple):
        self.graph = graph
        self.entry_scope = entry_scope
        self.by_tensor: dict = {}    # id(Tensor) -> slot
        self.by_data: dict = {}      # id(raw array) -> slot
        self.keep: list = []         # keeps ids valid during the trace
        self.dynamic: list = []      # slot -> depends on inputs/variables
        self.rng_last = None
        self.rng_outside = False     # random numbers drawn outside an op
        self.snapshots: dict = {}    # variable slot -> (var, array, copy)
        self.custom_grad = False     # saw a custom_gradient result
        self.unsupported = None      # why a replay cannot be generated

    # -- slots ---------------------------------------------------------
    def _bind(self, t, slot):
        self.by_tensor[id(t)] = slot
        self.by_data.setdefault(id(t._data), slot)
        self.keep.append(t)

    def _slot(self, kind, obj, meta, label, dynamic):
        s = self.graph.new_slot(kind, obj, meta, label)
        self.dynamic.append(dynamic)
        return s

    def add_input(self, t, label, index):
        s = self._slot(INPUT, index, _meta(t), label, True)
        self._bind(t, s)
        return s

    def ref(self, t) -> int:
        """The slot of tensor ``t``, making a leaf slot when it is new."""
        node = t._node
        if node is not None and D.REGISTRY.get(node.op.name) is not node.op:
            self.custom_grad = True     # custom_gradient: not an op event
        s = self.by_tensor.get(id(t))
        if s is None:
            s = self.by_data.get(id(t._data))
        if s is not None:
            return s
        g = self.graph
        if isinstance(t, Variable):
            taken = {g.labels[i] for i, k in enumerate(g.kinds)
                     if k == VARIABLE}
            base = t.name or "v"
            label, n = base, 1
            while label in taken or (label == "v" and not t.name):
                label, n = f"{base}_{n}", n + 1
            s = self._slot(VARIABLE, t, _meta(t), label, True)
            self.snapshots[s] = (t, t._data, _host_copy(t))
        elif t._rg or t._node is not None:
            s = self._slot(CAPTURE, t, _meta(t), "captured tensor", False)
        else:
            s = self._slot(CONST, t._data, _meta(t), "", False)
        self._bind(t, s)
        return s

    def operand(self, x, dev):
        if isinstance(x, Tensor):
            return self.ref(x)
        if isinstance(x, (list, tuple)) and _has_tensor(x):
            return Seq(type(x), (self.operand(e, dev) for e in x))
        return Lit(x, D.lift(x, dev))

    # -- hook ----------------------------------------------------------
    def before_op(self, ev):
        op = getattr(ev, "op", None) or D.REGISTRY.get(ev.name)
        if op is not None and _is_impure(op):
            self._check_rng()

    def after_op(self, ev):
        op = getattr(ev, "op", None) or D.REGISTRY.get(ev.name)
        if op is None:
            raise TracingError(f"core.function: op {ev.name!r} has no op "
                               "object and cannot be replayed")
        out = ev.outputs[0]
        node = GraphNode("op", op.name)
        node.op = op
        node.args = tuple(self.operand(x, ev.device) for x in ev.inputs)
        node.attrs = ({k: self._attr(v) for k, v in ev.attrs.items()}
                      if ev.attrs else None)
        node.device = ev.device
        node.out_device = out._device
        node.grad = D.grad_enabled
        node.phase = ev.phase
        sc = ev.scope
        n = len(self.entry_scope)
        node.scope = sc[n:] if sc[:n] == self.entry_scope else sc
        node.impure = _is_impure(op)
        node.location = ev.location
        node.value = out._data
        refs = attr_refs(node.attrs)
        if refs and any(isinstance(a, Seq) for a in node.args):
            self.unsupported = (f"op {op.name} takes both a list of tensors "
                                "and an array attribute")
        dyn = node.impure or any(self._dyn(a) for a in node.args) or any(
            self.dynamic[r] for r in refs)
        node.out = self._slot(OP, node, _meta(out), "", dyn)
        self._bind(out, node.out)
        self.graph.nodes.append(node)
        if node.impure:
            self.rng_last = _rng_state()

    def _attr(self, v):
        """An attribute value, with graph arrays replaced by :class:`Ref`."""
        if isinstance(v, tuple):
            return tuple(self._attr(x) for x in v)
        if isinstance(v, list):
            return [self._attr(x) for x in v]
        if hasattr(v, "shape") and hasattr(v, "dtype") \
                and not isinstance(v, np.generic):
            s = self.by_data.get(id(v))
            if s is not None and self.dynamic[s]:
                return Ref(s)
        return v

    def _dyn(self, a):
        if isinstance(a, Seq):
            return any(self._dyn(x) for x in a.items)
        if isinstance(a, int):
            return self.dynamic[a]
        return False

    def _check_rng(self):
        if _rng_state() != self.rng_last:
            self.rng_outside = True

    # -- intercepted methods ---------------------------------------------
    def record_assign(self, var, mode, value):
        s = self.ref(var)
        node = GraphNode("assign", mode)
        node.mode = mode
        node.var = s
        if isinstance(value, Tensor):
            arg = self.ref(value)
        else:
            arr = var._check(value, mode)
            arg = self._slot(CONST, arr, (tuple(arr.shape), arr.dtype,
                                          var._device), "", False)
        node.args = (arg,)
        node.location = D.user_location(3)
        self.graph.nodes.append(node)

    def check_bool(self, t):
        s = self.by_tensor.get(id(t))
        if s is None:
            s = self.by_data.get(id(t._data))
        if s is None or not self.dynamic[s]:
            return
        loc = D.user_location(3)
        raise TracingError(
            f"core.function({self.graph.name}): Python control flow on a "
            f"tensor value (bool() of a tensor that depends on the "
            f"function's inputs or variables) at {format_location(loc)}. "
            "A traced graph would freeze the branch taken now. Keep this "
            "function eager (remove @core.function), compute both branches "
            "and pick with core.where(...), or pass the condition as a "
            "Python value (a new value retraces).")

    # -- lifecycle -----------------------------------------------------
    def __enter__(self):
        if not _ACTIVE:
            _install()
        _ACTIVE.append(self)
        self.rng_last = _rng_state()
        self._handle = _hooks.register(self)
        return self

    def __exit__(self, *exc):
        self._handle.remove()
        _ACTIVE.remove(self)
        if not _ACTIVE:
            _uninstall()
        self._check_rng()
        return False

    def __repr__(self):
        return f"<core.function tracer for {self.graph.name}>"


# ---------------------------------------------------- method interception --


def _assign_wrapper(mode, orig):
    def wrapper(self, value):
        for tr in _ACTIVE:
            tr.record_assign(self, mode, value)
        return orig(self, value)

    wrapper.__name__ = mode
    wrapper.__doc__ = orig.__doc__
    wrapper.__wrapped__ = orig
    return wrapper


_MISSING = object()


def _install():
    for mode in ("assign", "assign_add", "assign_sub"):
        _SAVED[(Variable, mode)] = Variable.__dict__.get(mode, _MISSING)
        setattr(Variable, mode, _assign_wrapper(mode, getattr(Variable, mode)))
    orig_bool = Tensor.__bool__
    _SAVED[(Tensor, "__bool__")] = Tensor.__dict__.get("__bool__", _MISSING)
    core_dir = D._CORE_DIR

    def traced_bool(self):
        caller = sys._getframe(1).f_code.co_filename
        if not caller.startswith(core_dir):
            for tr in _ACTIVE:
                tr.check_bool(self)
        return orig_bool(self)

    traced_bool.__wrapped__ = orig_bool
    Tensor.__bool__ = traced_bool


def _uninstall():
    """Put back exactly what the classes had before the trace."""
    for (cls, name), orig in _SAVED.items():
        if orig is _MISSING:
            delattr(cls, name)
        else:
            setattr(cls, name, orig)
    _SAVED.clear()


def trace(fn, args, kwargs, inputs, labels, name):
    """Run ``fn(*args, **kwargs)`` eagerly under a tracer.

    ``inputs`` are the tensor leaves of the arguments (placeholders),
    ``labels`` their names.  Returns (graph, tracer, result).
    """
    graph = Graph(name)
    tracer = Tracer(graph, D.scope)
    for i, (t, label) in enumerate(zip(inputs, labels)):
        tracer.add_input(t, label, i)
    with tracer:
        result = fn(*args, **kwargs)
    graph.stats["traced"] = sum(1 for n in graph.nodes if n.kind == "op")
    changed = _changed_outside_ops(tracer)
    if tracer.unsupported:
        graph.eager_reason = tracer.unsupported
    elif changed:
        graph.eager_reason = (
            f"it changed variable(s) {', '.join(changed)} in place outside "
            "engine ops and assign*() (e.g. an optimizer's raw update, or a "
            "write to ._data); a replay would skip those updates")
    elif tracer.rng_outside:
        graph.eager_reason = (
            "it drew random numbers outside an op (core.random.* inside the "
            "function); a replay would repeat the same numbers")
    return graph, tracer, result


__all__ = ["Tracer", "TracingError", "trace"]
