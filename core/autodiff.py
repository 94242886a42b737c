"""Tape autodiff: GradientTape, backward(), grad, custom_gradient, no_grad.

Recorded ops form a graph (each output tensor points at its :class:`Node`);
a tape additionally keeps the list of nodes recorded while it was active,
which fixes what ``tape.gradient`` may differentiate through (TensorFlow's
semantics).  VJPs are engine ops, so the backward pass goes through the
same dispatch (hooks see it with ``phase="backward"``) and is itself
recorded when an outer tape is active: nested tapes give higher-order
gradients.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import sys
import time
from heapq import heappop, heappush

import numpy as np

from core import _dispatch as D
from core import _record
from core.errors import GradientError
from core.tensor import Tensor, Variable, _make, tensor as _tensor

_perf_ns = time.perf_counter_ns


# ------------------------------------------------------------- grad mode --


class no_grad(contextlib.ContextDecorator):
    """Ops inside record nothing (no graph, no tape entries)."""

    def __enter__(self):
        self._prev = D.grad_enabled
        D.grad_enabled = False
        return self

    def __exit__(self, *exc):
        D.grad_enabled = self._prev
        return False


class enable_grad(contextlib.ContextDecorator):
    def __enter__(self):
        self._prev = D.grad_enabled
        D.grad_enabled = True
        return self

    def __exit__(self, *exc):
        D.grad_enabled = self._prev
        return False


def is_grad_enabled() -> bool:
    return D.grad_enabled


# ------------------------------------------------------------- the engine --


def _flat_inputs(node):
    """(position, tensor) for every tensor operand of a node."""
    for i, x in enumerate(node.inputs):
        if isinstance(x, Tensor):
            yield i, x
        elif isinstance(x, (list, tuple)):
            for x2 in x:
                if isinstance(x2, Tensor):
                    yield i, x2


_by_index = operator.attrgetter("index")


def _reachable(roots, member):
    """Nodes reachable from ``roots`` through ``member`` nodes (all when
    ``member`` is None), newest first: a reverse topological order, since
    an op's inputs always exist before it runs."""
    seen = {}
    stack = []
    for n in roots:
        if n is not None and id(n) not in seen and (member is None or member(n)):
            seen[id(n)] = n
            stack.append(n)
    while stack:
        n = stack.pop()
        for x in n.inputs:
            if isinstance(x, Tensor):
                p = x._node
                if p is not None and id(p) not in seen and (
                        member is None or member(p)):
                    seen[id(p)] = p
                    stack.append(p)
            elif isinstance(x, (list, tuple)):
                for x2 in x:
                    p = getattr(x2, "_node", None)
                    if p is not None and id(p) not in seen and (
                            member is None or member(p)):
                        seen[id(p)] = p
                        stack.append(p)
    return sorted(seen.values(), key=_by_index, reverse=True)


def vjp_all(fn):
    """Mark a VJP that returns the gradients of all operands at once
    (a list aligned with the operands; a list operand gets a list)."""
    fn.all_inputs = True
    return fn


def _run_backward(seeds, member, keep=frozenset()):
    """Propagate gradients from ``seeds`` (a list of (tensor, grad)).

    ``member(node)`` says which nodes may be differentiated through (None:
    all).  Nodes are visited newest first (a max-heap on the op index: an
    op's inputs always exist before it runs, so this is a reverse
    topological order), each once, discovering the graph as it goes.
    Returns (node_grads: node.index -> grad, leaf_grads: id(tensor) ->
    [tensor, grad]).

    VJPs are engine ops, so hooks see them with phase "backward" and an
    outer tape records them.  When neither can happen (no hook attached,
    grad mode off: nothing watches or records this pass; recording hooks,
    which take one record per node, may be attached), the pass runs on raw
    arrays instead (:func:`_run_backward_raw`).
    """
    if not D.grad_enabled and (not D.hooks or D.lean):
        return _run_backward_raw(seeds, member, keep)
    node_grads, leaves, heap = {}, {}, []
    push = _accumulator(member, node_grads, heap, leaves)
    for t, g in seeds:
        push(t, g)
    saved = (D.phase, D.forward_index, D.scope, D.backward_site)
    get = node_grads.get
    try:
        D.phase = "backward"
        if D.hooks:     # every backward op reports the line that started it
            D.backward_site = D.user_site(1)
        while heap:
            node = heappop(heap)[1]
            k = node.index
            # a gradient is dropped once its node is done (memory stays as
            # in a hand-written backward), unless a source asked for it
            g = get(k) if k in keep else node_grads.pop(k)
            for x, gi in _engine_vjp(node, g, False):
                if x._rg:
                    push(x, gi)
    finally:
        D.phase, D.forward_index, D.scope, D.backward_site = saved
    return node_grads, leaves


def _accumulator(member, node_grads, heap, leaves):
    """``push(x, g)``: add gradient ``g`` for operand ``x`` to its node's
    (queueing the node the first time; a node gets gradients only before
    it is visited) or, for a leaf that takes gradients, to ``leaves``
    (id(x) -> [x, grad])."""
    get = node_grads.get

    def push(x, gi):
        p = x._node
        if p is not None and (member is None or member(p)):
            k = p.index
            prev = get(k)
            if prev is None:
                node_grads[k] = gi
                heappush(heap, (-k, p))
            else:
                node_grads[k] = prev + gi
        elif x._rg and x._data.dtype.kind in "fc":
            prev = leaves.get(id(x))
            if prev is None:
                leaves[id(x)] = [x, gi]
            else:
                prev[1] = prev[1] + gi
    return push


def _run_backward_raw(seeds, member, keep):
    """:func:`_run_backward` on raw arrays, for a pass nothing watches or
    records.  Ops with array-level VJP twins (``core.ops.raw_vjps``) run
    those, skipping dispatch and Tensor wrapping; the others run their
    engine VJP on a wrapped gradient.  Gradients come back as Tensors."""
    node_grads, leaves, heap = {}, {}, []
    push = _accumulator(member, node_grads, heap, leaves)
    get = node_grads.get
    for t, g in seeds:
        push(t, g._data)
    saved = (D.phase, D.forward_index, D.scope, D.backward_site)
    pop = node_grads.pop
    try:
        D.phase = "backward"
        if D.hooks:
            D.backward_site = D.user_site(1)
        while heap:
            node = heappop(heap)[1]
            k = node.index
            g = get(k) if k in keep else pop(k)
            twins = node.op.raw_vjps
            inputs = node.inputs
            if D.hooks:     # (read per node: a tick may swap the hooks)
                # recorders only: one record per node; any other hook (a
                # debugger that just took over) sees each VJP op
                if D.lean and twins is not None and \
                        _record_node(node, g, push, D.recorders):
                    continue
                twins = None    # (or a device node: its ops read timers)
            if twins is None:
                for x, gi in _engine_vjp(node, g, True):
                    if x._rg:
                        push(x, gi)
                continue
            attrs = node.attrs
            if len(inputs) == 1 and attrs is None:      # unary elementwise
                x = inputs[0]
                push(x, twins[0](g, node.out, x._data))
                continue
            if len(inputs) == 2 and attrs is None:      # binary elementwise
                a, b = inputs
                fa, fb = twins
                ad = a._data if isinstance(a, Tensor) else a
                bd = b._data if isinstance(b, Tensor) else b
                if fa is not None and isinstance(a, Tensor) and a._rg:
                    push(a, fa(g, node.out, ad, bd))
                if fb is not None and isinstance(b, Tensor) and b._rg:
                    push(b, fb(g, node.out, ad, bd))
                continue
            attrs = attrs or {}
            datas = [x._data if isinstance(x, Tensor) else x for x in inputs]
            if node.op.vjp_all:
                for x, gi in zip(inputs, twins[0](g, node.out, *datas, **attrs)):
                    if isinstance(x, Tensor) and x._rg and gi is not None:
                        push(x, gi)
                continue
            for x, fn in zip(inputs, twins):
                if fn is not None and isinstance(x, Tensor) and x._rg:
                    push(x, fn(g, node.out, *datas, **attrs))
    finally:
        D.phase, D.forward_index, D.scope, D.backward_site = saved
    # hand tensors back: the sources' gradients kept in node_grads (numpy
    # scalars, of no device, are host data), leaves
    for k, g in node_grads.items():
        node_grads[k] = _make(g, D._devices.device_of_array(g) or D._devices.CPU)
    return node_grads, {k: [x, _make(g, x._device)]
                        for k, (x, g) in leaves.items()}


_COUNTER = D.counter     # the engine's op index (never rebound)
_CPU = D._CPU
_NO_ATTRS = D._EMPTY
_PLAIN = (Tensor, Variable)


def _record_node(node, g, push, recs):
    """Run a host node's VJP twins with recorders attached: one record for
    the node (``core._record``), its gradients pushed.  Returns False for
    a node on a device, left to its engine VJP (whose ops read the device
    timers)."""
    t0 = _perf_ns()
    inputs = node.inputs
    op = node.op
    twins = op.raw_vjps
    attrs = node.attrs
    out = node.out
    a = inputs[0]
    ta = type(a)
    if len(inputs) == 1 and not op.vjp_all and (ta is Tensor or ta is Variable):
        # one tensor operand (elementwise, reductions, shape ops): inline
        # (a VJP of all operands, e.g. concat of one tensor, returns a list)
        if a._device is not _CPU:
            return False
        ad = a._data
        k0 = _perf_ns()
        ga = twins[0](g, out, ad, **attrs) if attrs else twins[0](g, out, ad)
        k1 = _perf_ns()
        push(a, ga)
        site = D.backward_site or (None, 0)
        rec = (next(_COUNTER), op.name, "backward", node.index, t0, k0, k1,
               _perf_ns(), _CPU, site[0], site[1], node.scope,
               attrs or _NO_ATTRS, None, None, out.shape, out.dtype,
               ad.shape, ad.dtype, None if ta is Tensor else a,
               None, None, None, None, 1)
    elif len(inputs) == 2 and attrs is None and not op.vjp_all and \
            (ta is Tensor or ta is Variable) and \
            type(inputs[1]) in _PLAIN and a._device is _CPU and \
            inputs[1]._device is _CPU:
        # two tensor operands, no attributes (binary elementwise, matmul):
        # inline, as the unary case
        b = inputs[1]
        ad = a._data
        bd = b._data
        fa, fb = twins
        k0 = _perf_ns()
        ga = fa(g, out, ad, bd) if fa is not None and a._rg else None
        gb = fb(g, out, ad, bd) if fb is not None and b._rg else None
        k1 = _perf_ns()
        made = 0
        if ga is not None:
            push(a, ga)
            made = 1
        if gb is not None:
            push(b, gb)
            made += 1
        site = D.backward_site or (None, 0)
        rec = (next(_COUNTER), op.name, "backward", node.index, t0, k0, k1,
               _perf_ns(), _CPU, site[0], site[1], node.scope, _NO_ATTRS,
               None, None, out.shape, out.dtype, ad.shape, ad.dtype,
               None if ta is Tensor else a, bd.shape, bd.dtype,
               None if type(b) is Tensor else b, None, made)
    else:
        dev = _first_device(inputs)
        if dev is not _CPU:
            return False
        datas = [x._data if isinstance(x, Tensor) else x for x in inputs]
        k0 = _perf_ns()
        if op.vjp_all:
            grads = list(zip(inputs, twins[0](g, out, *datas, **(attrs or {}))))
        else:
            grads = []
            for x, fn in zip(inputs, twins):
                if fn is not None and isinstance(x, Tensor) and x._rg:
                    grads.append((x, fn(g, out, *datas, **attrs) if attrs
                                  else fn(g, out, *datas)))
        k1 = _perf_ns()
        made = 0
        for x, gi in grads:
            if gi is not None and isinstance(x, Tensor) and x._rg:
                push(x, gi)
                made += 1
        site = D.backward_site or (None, 0)
        rec = (next(_COUNTER), op.name, "backward", node.index, t0, k0, k1,
               _perf_ns(), _CPU, site[0], site[1], node.scope,
               attrs or _NO_ATTRS, None, None, out.shape, out.dtype,
               ) + _record.operands(inputs) + (made,)
    for buf in recs:
        buf.extend(rec)
    if D.extras:
        D._extras(None, k1)
    return True


def _engine_vjp(node, g, raw):
    """(operand, gradient) pairs from the op's engine-op VJPs; with ``raw``
    the gradient comes and goes as an array (wrapped for the VJP)."""
    op = node.op
    inputs = node.inputs
    attrs = node.attrs
    D.forward_index = node.index
    D.scope = node.scope
    if raw:
        dev = op.out_device(attrs) if op.out_device is not None else \
            _first_device(inputs)
        g = _make(g, dev)
    ans = object.__new__(Tensor)
    ans._data = node.out
    ans._device = g._device
    ans._node = node
    ans._rg = True
    vjps = op.vjps
    pairs = []
    if op.vjp_all:
        grads = vjps[0](g, ans, *inputs, **attrs) if attrs else \
            vjps[0](g, ans, *inputs)
        for x, gi in zip(inputs, grads):
            if isinstance(x, Tensor):
                pairs.append((x, gi))
            elif isinstance(x, (list, tuple)) and gi is not None:
                pairs.extend((x2, g2) for x2, g2 in zip(x, gi)
                             if isinstance(x2, Tensor))
    else:
        for x, fn in zip(inputs, vjps):
            if fn is not None and isinstance(x, Tensor) and x._rg:
                pairs.append((x, fn(g, ans, *inputs, **attrs) if attrs
                              else fn(g, ans, *inputs)))
    out = []
    for x, gi in pairs:
        if gi is None:
            continue
        if gi._data.shape != x._data.shape:
            raise GradientError(
                f"VJP of {op.name} returned a gradient of shape "
                f"{gi.shape} for an operand of shape {x.shape}")
        out.append((x, gi._data if raw else gi))
    return out


def _first_device(inputs):
    for x in inputs:
        if isinstance(x, Tensor):
            return x._device
        if isinstance(x, (list, tuple)):
            for x2 in x:
                if isinstance(x2, Tensor):
                    return x2._device
    return D._devices.current_device()


def _ones_like(t):
    d = t._data
    if d.ndim == 0 and t._device is D._devices.CPU:
        return _make(np.array(1, dtype=d.dtype), t._device)   # 4x np.ones
    return _make(t._device.xp.ones(d.shape, dtype=d.dtype), t._device)


def _as_grad(g, like):
    if isinstance(g, Tensor):
        return g
    arr = np.asarray(g, dtype=like._data.dtype)
    if like._device is not D._devices.CPU:
        arr = like._device.backend.from_host(arr, like._device.index)
    return _make(arr, like._device)


def backward(target, grad=None, retain_graph=False, create_graph=False):
    """PyTorch-style: accumulate into ``.grad`` of the leaves behind target
    (tensors created with requires_grad=True and trainable Variables).
    With ``create_graph=True`` the backward pass is itself recorded."""
    if not isinstance(target, Tensor):
        raise GradientError("backward() needs a tensor")
    if not target._rg:
        raise GradientError(
            "backward(): this tensor does not require grad and has no "
            "recorded graph (was it computed under no_grad, or from inputs "
            "without requires_grad=True?)")
    if grad is None:
        if target._data.size != 1:
            raise GradientError(
                f"backward(): grad can be implicitly created only for a "
                f"scalar output; this one has shape {target.shape}; pass grad=")
        grad = _ones_like(target)
    else:
        grad = _as_grad(grad, target)
    prev_mode = D.grad_enabled
    D.grad_enabled = bool(create_graph)
    try:
        leaves = _run_backward([(target, grad)], None)[1]
    finally:
        D.grad_enabled = prev_mode
    for t, g in leaves.values():
        if t._rg is not True or t._node is not None:
            continue
        if g._node is not None and not create_graph:
            g = g.detach()
        prev = t.grad
        t._grad = g if prev is None else prev + g


# Tensor.backward calls it (core.tensor cannot import this module)
sys.modules[Tensor.__module__]._backward = backward


# ------------------------------------------------------------ GradientTape --


def _nest_flatten(x, out):
    if isinstance(x, dict):
        for k in sorted(x, key=str):
            _nest_flatten(x[k], out)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _nest_flatten(v, out)
    else:
        out.append(x)
    return out


def _nest_pack(structure, flat_iter):
    if isinstance(structure, dict):
        keys = sorted(structure, key=str)
        vals = {k: _nest_pack(structure[k], flat_iter) for k in keys}
        return {k: vals[k] for k in structure}
    if isinstance(structure, (list, tuple)):
        vals = [_nest_pack(v, flat_iter) for v in structure]
        if isinstance(structure, tuple) and hasattr(structure, "_fields"):
            return type(structure)(*vals)
        return type(structure)(vals)
    return next(flat_iter)


class GradientTape:
    """Records ops for automatic differentiation (TensorFlow's semantics).

    Trainable Variables used inside are watched automatically (unless
    ``watch_accessed_variables=False``); other tensors need ``watch``.  A
    non-persistent tape allows one ``gradient()`` call.
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._entries = []      # nodes recorded while a hook was attached
        self._watched = {}
        self._used = False
        self._active = False
        self._min_index = 0     # nodes before a reset() are forgotten
        self._last_gradients = ()   # (source, grad) of the last gradient()
                                    # call, kept only while a debugger
                                    # (wants_tape_entries) is attached

    def _member(self, node):
        """Whether ``node`` was recorded on this tape."""
        return node.index > self._min_index and self in node.tapes

    # context
    def __enter__(self):
        if self._active:
            raise GradientError("this GradientTape is already recording")
        self._active = True
        D.tapes = D.tapes + (self,)
        return self

    def __exit__(self, *exc):
        self._active = False
        D.tapes = tuple(t for t in D.tapes if t is not self)
        # watched tensors stay marked (_rg == 2): a later gradient() on a
        # persistent or outer tape still needs to differentiate through them
        return False

    @property
    def entries(self):
        """Nodes recorded on this tape while a hook with
        ``wants_tape_entries = True`` was attached (debuggers), oldest first.
        Otherwise the tape keeps no list: membership is stamped on each node
        (``node.tapes``), so recording costs nothing per op and the tape
        keeps no tensors alive."""
        return tuple(self._entries)

    def watch(self, tensors):
        """Make the tape record ops on these tensors (nested lists/dicts)."""
        for t in _nest_flatten(tensors, []):
            if not isinstance(t, Tensor):
                raise GradientError(
                    f"watch() takes tensors, got {type(t).__name__}")
            if t._data.dtype.kind not in "fc":
                continue  # integer tensors never get gradients (TF warns)
            if not t._rg:
                t._rg = 2
            self._watched[id(t)] = t

    def watched_variables(self):
        """Variables explicitly watched (and, with hooks, those accessed)."""
        seen = {}
        for n in self._entries:
            for _, x in _flat_inputs(n):
                if isinstance(x, Variable) and x.trainable:
                    seen[id(x)] = x
        for t in self._watched.values():
            if isinstance(t, Variable):
                seen[id(t)] = t
        return tuple(seen.values())

    @contextlib.contextmanager
    def stop_recording(self):
        """Ops inside this block are not recorded on this tape."""
        if not self._active:
            raise GradientError("stop_recording() on a tape that is not recording")
        D.tapes = tuple(t for t in D.tapes if t is not self)
        try:
            yield
        finally:
            if self._active and self not in D.tapes:
                D.tapes = D.tapes + (self,)

    def reset(self):
        """Forget everything recorded so far (the tape keeps recording)."""
        self._entries.clear()
        self._watched.clear()
        self._used = False
        self._min_index = D.next_index()

    def gradient(self, target, sources, output_gradients=None,
                 unconnected_gradients="none"):
        """d(target)/d(sources), shaped like ``sources`` (a nest)."""
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError("unconnected_gradients must be 'none' or 'zero'")
        if self._used and not self.persistent:
            raise GradientError(
                "gradient() called twice on a non-persistent GradientTape; "
                "use GradientTape(persistent=True) to compute several gradients")
        targets = _nest_flatten(target, [])
        if output_gradients is None:
            seeds_g = [None] * len(targets)
        else:
            seeds_g = _nest_flatten(output_gradients, [])
            if len(seeds_g) != len(targets):
                raise GradientError("output_gradients must match target")
        seeds = []
        for t, g in zip(targets, seeds_g):
            if not isinstance(t, Tensor):
                raise GradientError(f"gradient target must be a tensor, got "
                                    f"{type(t).__name__}")
            seeds.append((t, _ones_like(t) if g is None else _as_grad(g, t)))
        flat = type(sources) in (list, tuple) and all(
            isinstance(s, Tensor) for s in sources)    # the common case
        flat_sources = list(sources) if flat else _nest_flatten(sources, [])
        # record the backward pass only when an (outer) tape is recording
        ctx = contextlib.nullcontext() if D.tapes else no_grad()
        with ctx:
            keep = {s._node.index for s in flat_sources
                    if isinstance(s, Tensor) and s._node is not None}
            node_grads, leaf_grads = _run_backward(seeds, self._member, keep)
        results = []
        for s in flat_sources:
            if not isinstance(s, Tensor):
                raise GradientError(
                    f"gradient sources must be tensors or Variables, got "
                    f"{type(s).__name__}")
            g = None
            if isinstance(s, Variable) and not self.watch_accessed_variables \
                    and id(s) not in self._watched:
                g = None
            elif s._node is not None and s._node.index in node_grads:
                g = node_grads[s._node.index]
            elif id(s) in leaf_grads:
                g = leaf_grads[id(s)][1]
            if g is None and unconnected_gradients == "zero":
                g = _make(s._device.xp.zeros(s._data.shape, s._data.dtype),
                          s._device)
            results.append(g)
        if D.wants_tape_entries:    # a debugger shows what this produced
            self._last_gradients = tuple(zip(flat_sources, results))
        if not self.persistent:
            self._used = True
            self._entries = []
        if flat:
            return results if type(sources) is list else tuple(results)
        return _nest_pack(sources, iter(results))

    def jacobian(self, target, source):
        """Full Jacobian d(target)/d(source) of shape target.shape+source.shape."""
        from core.ops import reshape, stack

        if not self.persistent:
            raise GradientError("jacobian() needs a persistent tape")
        n = target.size
        rows = []
        for i in range(n):
            seed = np.zeros(n, dtype=target.dtype)
            seed[i] = 1
            seed_t = _as_grad(seed.reshape(target.shape), target)
            g = self.gradient(target, source, output_gradients=seed_t,
                              unconnected_gradients="zero")
            rows.append(g)
        return reshape(stack(rows), target.shape + source.shape)


# ----------------------------------------------------- functional helpers --


def value_and_grad(f, argnums=0, has_aux=False):
    """``f`` -> a function returning (value, grads) (aux too with has_aux)."""
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        args = list(args)
        for i in nums:
            if i >= len(args):
                raise GradientError(f"argnums {i} but only {len(args)} "
                                    "positional arguments")
            if not isinstance(args[i], Tensor):
                args[i] = _tensor(args[i], dtype="float64" if isinstance(
                    args[i], float) else None)
        with GradientTape() as tape:
            tape.watch([args[i] for i in nums])
            out = f(*args, **kwargs)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise GradientError("has_aux=True: f must return (value, aux)")
            out, aux = out
        if not isinstance(out, Tensor) or out.size != 1:
            raise GradientError(
                "grad: f must return a scalar tensor; got "
                f"{getattr(out, 'shape', type(out).__name__)}")
        gs = tape.gradient(out, [args[i] for i in nums],
                           unconnected_gradients="zero")
        gs = gs[0] if single else tuple(gs)
        if has_aux:
            return (out, aux), gs
        return out, gs

    return wrapped


def grad(f, argnums=0, has_aux=False):
    """``f`` -> a function returning df/d(args[argnums]) (nestable)."""
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        (value, grads) = vg(*args, **kwargs)
        if has_aux:
            return grads, value[1]
        return grads

    return wrapped


class _CustomOp:
    """A one-off op for custom_gradient: the user's grad_fn is the VJP."""

    __slots__ = ("name", "vjps", "differentiable", "vjp_all")
    raw_vjps = None     # the user's grad_fn runs on tensors
    out_device = None

    def __init__(self, name, grad_fn, n):
        self.name = name
        self.differentiable = True
        self.vjp_all = True

        @vjp_all
        def vjp(g, ans, *inputs):
            site = D.backward_site      # user code runs here: walk for real
            D.backward_site = None
            try:
                res = grad_fn(g)
            finally:
                D.backward_site = site
            if isinstance(res, Tensor) or res is None:
                res = (res,)
            res = tuple(res)
            if len(res) != n:
                raise GradientError(
                    f"custom_gradient {name}: grad_fn returned {len(res)} "
                    f"gradients for {n} inputs")
            return [None if r is None else _as_grad(r, x)
                    for r, x in zip(res, inputs)]

        self.vjps = (vjp,)


def custom_gradient(f):
    """``f(*x) -> (y, grad_fn)``; ``grad_fn(dy)`` returns the input grads."""

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        tensors = [a for a in args if isinstance(a, Tensor)]
        with no_grad():
            y, grad_fn = f(*args, **kwargs)
        if not isinstance(y, Tensor):
            raise GradientError("custom_gradient: f must return (tensor, grad_fn)")
        y = y.detach()
        if D.grad_enabled and any(t._rg for t in tensors):
            op = _CustomOp(f"custom_gradient:{f.__name__}", grad_fn,
                           len(tensors))
            D.record(op, tuple(tensors), None, y, D.next_index())
        return y

    return wrapped


def stop_gradient(t):
    from core.ops import stop_gradient as _sg

    return _sg(t)
