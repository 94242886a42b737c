"""``core.function``: trace to a graph, optimize, replay.

::

    @core.function
    def step(x):
        return core.relu(x @ w + b)

The first call with a new input signature runs ``step`` eagerly under a
tracing hook and records every op into a graph (:mod:`core.graph`), which
is then optimized (constant folding, common-subexpression elimination,
dead-code elimination; :mod:`core.graph.optimize`).  Later calls with the
same signature *replay* the graph: generated straight-line Python calls
each op's raw kernel on raw arrays -- no Tensor per op, no dispatch, no
hook checks, none of ``step``'s own Python.  That is what eager execution
costs and how to get it back.

The signature is the shapes, dtypes and devices of the tensor (and numpy
array) arguments, the values of the other arguments (identity for
unhashable objects and for Variables), the aliasing between tensor
arguments, the current device and grad mode.  Tensors inside other objects (not
lists, tuples or dicts) are not arguments: they are captured by value
while tracing (the object itself is keyed by identity).  A new signature
traces again (a warning says so at 8 traces)
(``f.trace_count``, ``f.concrete_functions``); ``f.graph(*args)`` (alias
``f.get_graph``) returns the printable graph for a signature.

Semantics, as with ``tf.function``:

* **Python side effects run only while tracing** (``print``, appending to a
  list, counters) -- and once more when the graph is validated (below).
  Only ops and ``Variable.assign*`` calls are replayed.
* **Validation**: a trace cannot see values that leave the engine (raw
  ``._data``/``.numpy()``/``.item()`` math, e.g. inside a loss's gradient);
  they are frozen as constants.  So the first call of a signature whose
  tensor arguments are not the very objects that were traced runs the
  function eagerly *and* replays the graph (variables and the random
  generator rewound in between) and compares outputs and variables.  On a
  mismatch the eager results are kept and the signature runs eagerly from
  then on, with a warning saying why.  ``validate=False`` skips this.
* **Variables are read by reference**: a replay sees their current values,
  and ``assign``/``assign_add``/``assign_sub`` inside the function are
  replayed, so a whole training step can be a function.
* **Values that leave the engine are frozen**: ``t.item()``, ``t.numpy()``
  and tensors created with creation functions inside the function become
  constants of the graph (validation catches the ones that change).
  ``bool(t)`` (``if``/``while`` on a tensor that
  depends on the inputs) raises :class:`TracingError`: keep such functions
  eager, or use ``core.where``.
* **Randomness**: ops marked impure (``defop(..., impure=True)``, or named
  like dropout) are never folded, merged or dropped, so each replay draws
  fresh numbers from the engine generator as eager would.  A function that
  draws numbers *outside* ops (``core.random.rand`` inside it) is not
  replayable; it is run eagerly for that signature, with a warning.
* **Variables changed outside ops** (an optimizer's raw in-place update,
  a write to ``._data``) are detected while tracing by comparing the
  variables' values before and after; such a function runs eagerly for
  that signature, with a warning.  Update variables with ``assign_sub``
  & co. inside functions to keep them replayable.
* **Gradients**: when the call needs them (grad mode on and an input, or a
  variable or captured tensor it uses, is tracked -- e.g. under a
  ``GradientTape`` or with ``requires_grad``), the graph is replayed
  through the dispatch (the same op objects, via the lean dispatch
  functions or ``core._dispatch.apply``), so tapes record every op and
  gradients equal eager ones.  Wrap inference in ``core.no_grad()`` to get
  the fast path with trainable variables, or use ``record="tape"`` so only
  a recording ``GradientTape`` forces the dispatch path (TensorFlow's
  semantics; a training step that takes its gradients inside replays
  fast).  A function using ``core.custom_gradient`` runs eagerly when a
  call needs gradients (the custom gradient is not an op the graph holds).
* **Hooks**: when hooks are registered (profiler, debugger), the replay
  also goes through the dispatch, so every op is still seen.  Events then
  point at the line that called the function; their ``scope`` is the
  caller's scope plus the scopes recorded inside the function.
* Tracing is single-threaded: while a function traces, ``Variable.assign*``
  and ``Tensor.__bool__`` are intercepted process-wide (restored after).
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import warnings
import weakref

import numpy as np

from core import _dispatch as D
from core import devices as _devices
from core.errors import op_error, ShapeError
from core.graph import CAPTURE, CONST, INPUT, VARIABLE, Lit, Seq
from core.graph.codegen import _flat_slots, gen_dispatch, gen_fast
from core.graph.optimize import optimize
from core.graph.trace import TracingError, trace
from core.graph.validate import validate
from core.tensor import Tensor, Variable, _make

__all__ = ["function", "Function", "ConcreteFunction", "TracingError"]

_NONE_TYPE = type(None)
_SCALARS = (int, float, bool, str, _NONE_TYPE)
_RETRACE_WARN = 8


def function(fn=None, *, name=None, optimize=True, record="auto",
             validate=True):
    """Decorator: trace ``fn`` to a graph per input signature and replay it.

    Use as ``@core.function`` or ``@core.function(optimize=False)``.
    ``record`` says when a replay must go through the dispatch so autodiff
    records it: ``"auto"`` (default) whenever grad mode is on and a tracked
    tensor is involved (PyTorch-style ``.backward()`` on the outputs works);
    ``"tape"`` only while a ``GradientTape`` is recording (TensorFlow's
    semantics: a training step that takes its gradients *inside* the
    function replays fast; ``.backward()`` on its outputs raises
    ``GradientError`` since they carry no graph).  ``validate=False``
    skips the one-time check of each graph against an eager run.
    """
    kw = dict(name=name, optimize=optimize, record=record, validate=validate)
    if fn is None:
        return lambda f: Function(f, **kw)
    return Function(fn, **kw)


# ------------------------------------------------------------- signature --


def _key_of(x, leaves, keep):
    if isinstance(x, Tensor):
        if isinstance(x, Variable):
            keep.append(x)
            return ("V", id(x))
        leaves.append(x)
        d = x._data
        return (d.shape, d.dtype, id(x._device))
    if isinstance(x, np.ndarray):
        dev = _devices.device_of_array(x) or _devices.CPU
        leaves.append(_make(x, dev))
        return ("nd", x.shape, x.dtype, id(dev))
    tp = type(x)
    if tp in _SCALARS:
        return (tp, x)
    if tp is list or isinstance(x, tuple):        # namedtuples too
        return (tp,) + tuple(_key_of(e, leaves, keep) for e in x)
    if tp is dict:
        return (dict,) + tuple((k, _key_of(x[k], leaves, keep))
                               for k in sorted(x, key=str))
    try:
        hash(x)
        return (tp, x)
    except TypeError:
        keep.append(x)
        return ("id", id(x))


def _signature(args, kwargs, leaves, keep):
    key = []
    for a in args:
        if type(a) is Tensor:             # the common case, inlined
            leaves.append(a)
            d = a._data
            key.append((d.shape, d.dtype, id(a._device)))
        else:
            key.append(_key_of(a, leaves, keep))
    if kwargs:
        key.append(("kw",) + tuple((k, _key_of(kwargs[k], leaves, keep))
                                   for k in sorted(kwargs)))
    if len(leaves) > 1:
        ids = [id(t) for t in leaves]
        if len(set(ids)) < len(ids):
            key.append(("alias",) + tuple(ids.index(i) for i in ids))
    stack = getattr(_devices._ctx, "stack", None)
    key.append(id(stack[-1] if stack else _devices.default_device()))
    key.append(D.grad_enabled)   # a trace under no_grad knows no grad mode
    return tuple(key)


def _rebuild(x, it):
    """``x`` with every tensor/ndarray leaf replaced by the next of ``it``."""
    if isinstance(x, (Tensor, np.ndarray)):
        t = next(it)
        return x if isinstance(x, Variable) else t
    tp = type(x)
    if tp is list or isinstance(x, tuple):
        vals = [_rebuild(e, it) for e in x]
        return tp(*vals) if hasattr(x, "_fields") else tp(vals)
    if tp is dict:
        vals = {k: _rebuild(x[k], it) for k in sorted(x, key=str)}
        return {k: vals[k] for k in x}
    return x


def _labels(x, path, out):
    if isinstance(x, Variable):
        return
    if isinstance(x, (Tensor, np.ndarray)):
        out.append(path)
    elif type(x) is list or isinstance(x, tuple):
        for i, e in enumerate(x):
            _labels(e, f"{path}[{i}]", out)
    elif type(x) is dict:
        for k in sorted(x, key=str):
            _labels(x[k], f"{path}[{k!r}]", out)


def _describe_args(params, args, kwargs):
    parts = []
    for i, a in enumerate(args):
        nm = params[i] if i < len(params) else f"args[{i}]"
        parts.append(f"{nm}={_short(a)}")
    for k in sorted(kwargs):
        parts.append(f"{k}={_short(kwargs[k])}")
    return ", ".join(parts)


def _short(x):
    if isinstance(x, Variable):
        return f"Variable {x.name or ''}".rstrip()
    if isinstance(x, Tensor):
        return f"{tuple(x.shape)} {x.dtype} {x.device}"
    if isinstance(x, np.ndarray):
        return f"ndarray {tuple(x.shape)} {x.dtype}"
    if type(x) in (list, tuple):
        inner = ", ".join(_short(e) for e in x)
        return f"[{inner}]" if type(x) is list else f"({inner})"
    text = repr(x)
    return text if len(text) <= 30 else text[:27] + "..."


# --------------------------------------------------------------- outputs --


def _flatten(x, out):
    """(structure spec, leaves appended to ``out``)."""
    tp = type(x)
    if tp is list or tp is tuple:
        return (tp, tuple(_flatten(e, out) for e in x))
    if tp is dict:
        return (dict, tuple((k, _flatten(v, out)) for k, v in x.items()))
    if isinstance(x, tuple) and hasattr(x, "_fields"):   # namedtuple
        return (tp, tuple(_flatten(e, out) for e in x))
    out.append(x)
    return None


def _unflatten(spec, it):
    if spec is None:
        return next(it)
    tp, items = spec
    if tp is dict:
        return {k: _unflatten(v, it) for k, v in items}
    vals = [_unflatten(s, it) for s in items]
    if tp is list or tp is tuple:
        return tp(vals)
    return tp(*vals)


# -------------------------------------------------------------- Function --


class Function:
    """A Python function traced to one graph per input signature."""

    def __init__(self, fn, name=None, optimize=True, record="auto",
                 validate=True):
        if not callable(fn):
            raise TypeError(f"core.function needs a callable, got {fn!r}")
        functools.update_wrapper(self, fn)
        self.python_function = fn
        self.name = name or getattr(fn, "__name__", "function")
        self.optimize = optimize
        if record not in ("auto", "tape"):
            raise ValueError(f"core.function: record must be 'auto' or "
                             f"'tape', got {record!r}")
        self.record = record
        self.validate = validate
        self._cache: dict = {}
        self.trace_count = 0
        try:
            params = inspect.signature(fn).parameters.values()
            self._params = [p.name for p in params if p.kind in (
                p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            self._params = []

    @property
    def concrete_functions(self) -> list:
        """The traced :class:`ConcreteFunction` objects, oldest first."""
        return list(self._cache.values())

    def __call__(self, *args, **kwargs):
        leaves: list = []
        keep: list = []
        key = _signature(args, kwargs, leaves, keep)
        cf = self._cache.get(key)
        if cf is None:
            return self._trace(key, args, kwargs, leaves, keep)[1]
        return cf._call(args, kwargs, leaves)

    def get_concrete_function(self, *args, **kwargs) -> "ConcreteFunction":
        """The concrete function for these arguments (traces if new: this
        runs the function once, with its side effects)."""
        leaves: list = []
        keep: list = []
        key = _signature(args, kwargs, leaves, keep)
        cf = self._cache.get(key)
        if cf is None:
            cf = self._trace(key, args, kwargs, leaves, keep)[0]
        return cf

    def graph(self, *args, **kwargs):
        """The optimized graph for these arguments (printable)."""
        return self.get_concrete_function(*args, **kwargs).graph

    get_graph = graph

    def _trace(self, key, args, kwargs, leaves, keep):
        it = iter(leaves)
        call_args = tuple(_rebuild(a, it) for a in args)
        call_kwargs = {k: _rebuild(kwargs[k], it) for k in sorted(kwargs)}
        call_kwargs = {k: call_kwargs[k] for k in kwargs}
        labels: list = []
        for i, a in enumerate(args):
            _labels(a, self._params[i] if i < len(self._params)
                    else f"args{i}", labels)
        for k in sorted(kwargs):
            _labels(kwargs[k], k, labels)
        graph, tracer, result = trace(self.python_function, call_args,
                                      call_kwargs, leaves, labels, self.name)
        out_leaves: list = []
        graph.out_tree = _flatten(result, out_leaves)
        graph.outputs = [tracer.ref(x) if isinstance(x, Tensor) else Lit(x, x)
                         for x in out_leaves]
        graph.signature = _describe_args(self._params, args, kwargs)
        if tracer.custom_grad:
            graph.eager_for_grad = (
                "it uses core.custom_gradient, whose gradient is not an op; "
                "calls that need gradients run it eagerly")
        if self.optimize:
            optimize(graph)
        else:
            for n in graph.nodes:
                n.value = None
        cf = ConcreteFunction(self, graph, keep, key, leaves)
        self._cache[key] = cf
        self.trace_count += 1
        if self.trace_count == _RETRACE_WARN:
            warnings.warn(
                f"core.function({self.name}) traced {self.trace_count} "
                "times: each new shape, dtype, Python value or unhashable "
                "object argument traces again; pass tensors instead of "
                "changing Python numbers", RuntimeWarning, stacklevel=3)
        if graph.eager_reason:
            warnings.warn(f"core.function({self.name}): {graph.eager_reason}; "
                          "it runs eagerly for this signature",
                          RuntimeWarning, stacklevel=3)
        return cf, result

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return _BoundFunction(self, obj)

    def __repr__(self):
        return (f"<core.function {self.name}: {self.trace_count} "
                f"trace(s)>")


class _BoundFunction:
    """``instance.method`` for a method decorated with ``core.function``
    (the instance is the first argument; its identity is in the key)."""

    __slots__ = ("function", "obj")

    def __init__(self, function, obj):
        self.function = function
        self.obj = obj

    def __call__(self, *args, **kwargs):
        return self.function(self.obj, *args, **kwargs)

    def get_concrete_function(self, *args, **kwargs):
        return self.function.get_concrete_function(self.obj, *args, **kwargs)

    def graph(self, *args, **kwargs):
        return self.function.graph(self.obj, *args, **kwargs)

    get_graph = graph

    def __getattr__(self, name):
        return getattr(self.function, name)

    def __repr__(self):
        return f"<bound {self.function!r} of {self.obj!r}>"


# ------------------------------------------------------ ConcreteFunction --


class ConcreteFunction:
    """One traced, optimized graph and its two ways of running.

    ``_replay`` is generated Python that calls raw kernels on raw arrays
    (the fast path); ``_run_dispatch`` runs generated Python that sends
    every node through the dispatch (for gradients and hooks).  Both are
    in :mod:`core.graph.codegen`; ``source`` shows the fast one.
    """

    def __init__(self, function, graph, keep, key, leaves):
        self.function = function
        self.graph = graph
        self.key = key
        # validated on the first replay with other tensor objects
        self._pending = ([weakref.ref(t) for t in leaves]
                         if function.validate else None)
        self._keep = keep           # unhashable arguments keyed by identity
        self._eager = graph.eager_reason is not None
        self._record_all = function.record == "auto"
        g = graph
        self._tracked = [g.objs[s] for s, k in enumerate(g.kinds)
                         if k in (VARIABLE, CAPTURE)]
        self._consts = {s: _make(g.objs[s], g.metas[s][2])
                        for s, k in enumerate(g.kinds) if k == CONST}
        self._replay = self._fast_src = None
        if not self._eager:
            self._replay, self._fast_src = gen_fast(graph, self._fail,
                                                    self._resolver)
        self._dispatch = self._dispatch_src = None
        self._out_plan = self._plan()
        p = self._out_plan
        self._single = p[0][1] if (graph.out_tree is None and len(p) == 1
                                   and p[0][0] == 4) else None

    @property
    def signature(self) -> str:
        return self.graph.signature

    def __call__(self, *args, **kwargs):
        """Run this graph; the arguments must match its signature."""
        leaves: list = []
        key = _signature(args, kwargs, leaves, [])
        if key != self.key:
            raise TypeError(
                f"core.function({self.graph.name}): these arguments do not "
                f"match this concrete function's signature "
                f"({self.signature}); call the function itself to retrace")
        return self._call(args, kwargs, leaves)

    def _call(self, args, kwargs, leaves):
        if self._eager or self._pending is not None:
            return self._call_slow(args, kwargs, leaves)
        if D.grad_enabled and (D.tapes or self._record_all) \
                and self._needs_grad(leaves):
            return self._call_grad(args, kwargs, leaves)
        if D.hooks:
            return self._run_dispatch(leaves)
        out = self._replay(*[t._data for t in leaves])
        if self._single is not None:
            return _make(out[0], self._single)
        return self._pack(out, leaves)

    def _call_slow(self, args, kwargs, leaves):
        if self._eager:
            return self.function.python_function(*args, **kwargs)
        if not D.hooks and (not leaves or any(
                r() is not t for r, t in zip(self._pending, leaves))):
            self._pending = None
            return validate(self, args, kwargs, leaves, self._replay_call,
                            _flatten)
        return self._replay_call(args, kwargs, leaves)

    def _call_grad(self, args, kwargs, leaves):
        if self.graph.eager_for_grad:
            return self.function.python_function(*args, **kwargs)
        return self._run_dispatch(leaves)

    def _replay_call(self, args, kwargs, leaves):
        """Replay by the path the current state asks for."""
        if D.grad_enabled and (D.tapes or self._record_all) \
                and self._needs_grad(leaves):
            return self._call_grad(args, kwargs, leaves)
        if D.hooks:
            return self._run_dispatch(leaves)
        return self._pack(self._replay(*[t._data for t in leaves]), leaves)

    def _needs_grad(self, leaves):
        for t in leaves:
            if t._rg:
                return True
        for o in self._tracked:
            if o._rg:
                return True
        return False

    def _plan(self):
        """How to build each output leaf: (code, payload)."""
        g = self.graph
        plan = []
        for o in g.outputs:
            if isinstance(o, Lit):
                plan.append((0, o.value))
                continue
            kind = g.kinds[o]
            if kind == INPUT:
                plan.append((1, g.objs[o]))
            elif kind in (VARIABLE, CAPTURE):
                plan.append((2, g.objs[o]))
            elif kind == CONST:
                plan.append((3, (g.objs[o], g.metas[o][2])))
            else:
                plan.append((4, g.metas[o][2]))
        return plan

    def _pack(self, values, leaves):
        plan = self._out_plan
        if self._single is not None:
            return _make(values[0], self._single)
        res = []
        vi = iter(values)
        for code, x in plan:
            if code == 4:
                res.append(_make(next(vi), x))
            elif code == 1:
                res.append(leaves[x])
            elif code == 3:
                res.append(_make(*x))
            else:
                res.append(x)
        return _unflatten(self.graph.out_tree, iter(res))

    # -- generated code ----------------------------------------------
    def _resolver(self, node, kernel):
        """A kernel call for a node with list operands: rebuild tensors and
        let the dispatch lift them as it did while tracing."""
        op, attrs = node.op, node.attrs or {}
        devs = [self.graph.metas[s][2] for s in _flat_slots(node.args, [])]

        def build(a, it):
            if isinstance(a, Seq):
                return a.type(build(x, it) for x in a.items)
            if isinstance(a, int):
                return next(it)
            return a.value

        def resolver(*values):
            it = iter([_make(v, d) for v, d in zip(values, devs)])
            args = tuple(build(a, it) for a in node.args)
            _, datas = D._resolve(op, args)
            return kernel(*datas, **attrs)

        return resolver

    def _fail(self, i, exc):
        if i < 0 or i >= len(self.graph.nodes):
            return exc
        n = self.graph.nodes[i]
        if n.kind == "assign":
            return op_error(ShapeError, n.mode, (), str(exc).split("\n")[0])
        return D.kernel_error(n.op, (), exc)

    @property
    def source(self) -> str:
        """The generated Python of the fast replay (for the curious)."""
        return self._fast_src

    def _run_dispatch(self, leaves):
        if self._dispatch is None:
            self._dispatch, self._dispatch_src = gen_dispatch(
                self.graph, self._consts)
        vals = self._dispatch(*leaves)
        g = self.graph
        if g.out_tree is None and len(vals) == 1:
            return vals[0]
        it = iter(vals)
        res = [o.value if isinstance(o, Lit) else next(it) for o in g.outputs]
        return _unflatten(g.out_tree, iter(res))

    def __repr__(self):
        return f"<ConcreteFunction {self.graph.name}({self.signature})>"


class _CallableModule(types.ModuleType):
    """``import core.function`` binds the *module* as ``core.function``
    (Python sets the parent's attribute after a submodule import), which
    would shadow the decorator of the same name that ``core`` exposes
    lazily; calling the module is therefore the same as calling
    :func:`function`."""

    def __call__(self, fn=None, **kwargs):
        return function(fn, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
