"""The choke point: every op, forward and backward, on every device.

``apply(op, args, attrs)`` (and its lean one- and two-operand twins built
by :func:`unary` and :func:`binary`) does, in order:

1. lift Python scalars / lists / numpy arrays, resolve the device from the
   tensor operands and refuse mixed devices with a clear error;
2. when hooks are registered, hand over to the hooked path (one check);
3. run the op's forward kernel for that backend;
4. record a :class:`Node` when grad mode is on and an operand is tracked.
   The node is stamped with the active ``GradientTape``s (``node.tapes``)
   instead of being appended to them, so recording costs one object and a
   tape keeps nothing alive.

The hooked path (:func:`_run_hooked`) does the same, wrapping the kernel in
an :class:`OpEvent` handed to each hook's ``before_op``/``after_op``.

State (grad mode, tapes, hooks, scopes, phase) is process-global, like the
engine's single op counter; the model runs on one thread at a time.
"""

from __future__ import annotations

import itertools
import os
import sys
import time

import numpy as np

from core import _record
from core import devices as _devices
from core._event import OpEvent, _hook_error, _pinned, site_location  # noqa: F401
from core.errors import (
    CoreError, DeviceError, DTypeError, HookError, ShapeError, op_error,
)

_perf_ns = time.perf_counter_ns
_CPU = _devices.CPU
_getframe = sys._getframe
_CORE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

# ---------------------------------------------------------------- state --

hooks: list = []          # registered hook objects, in registration order
before_hooks: tuple = ()  # bound before_op callables
after_hooks: tuple = ()   # bound after_op callables
tapes: tuple = ()         # active recording GradientTapes, outermost first
grad_enabled = True       # no_grad() turns this off
scope: tuple = ()         # name scopes, e.g. ("model", "layers", "0")
phase = "forward"         # "backward" while a VJP runs
forward_index = None      # the forward op a backward op differentiates
counter = itertools.count(1)   # one monotonic op index per process
wants_device_time = 0     # hooks asking for device timers
wants_tape_entries = 0    # hooks asking tapes to list their nodes
recorders: tuple = ()     # flat lists of recording hooks (``record_into``)
lean = False              # every hook records: host ops skip the OpEvent
value_lists: tuple = ()   # recorders' ``values_into`` lists
ticks: tuple = ()         # recorders' ``tick`` callables (see _extras)
extras = False            # value_lists or ticks
_tick_every = 0
_tick_ns = 0
_tick_left = 0
_tick_deadline = 0


def next_index() -> int:
    return next(counter)


# ------------------------------------------------------------------ ops --


class _LazyKernel:
    """Builds an op's kernel for a backend on first use, then steps aside."""

    __slots__ = ("op", "slot")

    def __init__(self, op, slot):
        self.op, self.slot = op, slot

    def __call__(self, *args, **kwargs):
        return self.op.build(self.slot)(*args, **kwargs)


class Op:
    """One registry entry: name, forward per backend, VJPs in engine ops.

    ``make(xp)`` returns the forward kernel for array module ``xp``.
    ``vjps`` is a tuple with one function per differentiable operand,
    ``vjp(g, ans, *inputs, **attrs) -> Tensor`` (``None`` for an operand
    without a gradient); ``differentiable=False`` marks ops such as
    comparisons and argmax that never record.  ``impure=True`` marks ops
    whose result is not a function of their inputs (they draw random
    numbers, e.g. dropout): ``core.function`` never folds, merges or
    drops them.
    """

    __slots__ = ("name", "make", "vjps", "vjp_all", "differentiable",
                 "raw_vjps", "kernels", "out_device", "doc", "impure", "__weakref__")

    def __init__(self, name, make, vjps=None, differentiable=True,
                 out_device=None, doc="", impure=False):
        self.name = name
        self.impure = impure
        self.make = make
        self.vjps = tuple(vjps) if vjps else ()
        # one VJP returning all operands' gradients (see autodiff.vjp_all)
        self.vjp_all = bool(self.vjps) and getattr(
            self.vjps[0], "all_inputs", False)
        self.differentiable = differentiable
        # array-level twins of the VJPs (core.ops.raw_vjps), or None
        self.raw_vjps = None
        self.out_device = out_device  # fn(attrs) -> Device for transfers
        self.doc = doc
        # one column per backend slot (numpy, cupy gpu:0, sim, cupy gpu:1..)
        self.kernels = [make(np)] + [
            _LazyKernel(self, i)
            for i in range(1, _devices.MAX_EXTRA_SLOT_BASE + _devices.MAX_GPUS)]

    def build(self, slot):
        if slot == 0:
            k = self.make(np)
        elif slot == 2:
            k = self.make(_devices._sim_backend.xp)
        else:
            cp = _devices._cupy_backend.xp
            k = self.make(cp)
            if slot > 2:                # gpu:N, N >= 1: its device context
                k = _on_gpu(k, cp, slot - _devices.MAX_EXTRA_SLOT_BASE)
        self.kernels[slot] = k
        return k

    def __repr__(self):
        return f"<op {self.name}>"


def _on_gpu(kernel, cp, index):
    """``kernel`` run with cupy's current device set to ``gpu:index``."""
    device = cp.cuda.Device(index)

    def k(*args, **kwargs):
        with device:
            return kernel(*args, **kwargs)
    return k


REGISTRY: dict[str, Op] = {}


def defop(name, make, vjps=None, differentiable=True, **kw) -> Op:
    if name in REGISTRY:
        raise ValueError(f"op {name!r} registered twice")
    if differentiable and not vjps:
        raise ValueError(f"op {name!r}: give vjps or differentiable=False")
    op = Op(name, make, vjps, differentiable, **kw)
    REGISTRY[name] = op
    return op


# ----------------------------------------------------------- autodiff node --


class Node:
    """What a recorded op keeps for its backward pass."""

    __slots__ = ("op", "inputs", "attrs", "out", "index", "scope", "tapes",
                 "__weakref__")

    def __init__(self, op, inputs, attrs, out, index):
        self.op = op
        self.inputs = inputs        # tensors / scalars as given
        self.attrs = attrs          # dict or None
        self.out = out              # raw output array (no cycle to Tensor)
        self.index = index          # the forward op's index
        self.scope = scope          # name scopes when it ran
        self.tapes = tapes          # the tapes recording when it ran

    def __repr__(self):
        return f"<node #{self.index} {self.op.name}>"


# --------------------------------------------------------------- helpers --

Tensor = None   # set by core.tensor (import cycle)
_Variable = None
_make = None    # Tensor factory: _make(data, device)
_new = object.__new__
_PY_SCALARS = (int, float, bool)
_KEEP_AS_GIVEN = (int, float, bool, list, tuple)   # plus Tensor, added later


def lift(x, dev):
    """A non-tensor operand as the kernel should see it on ``dev``."""
    if isinstance(x, _PY_SCALARS):
        return x
    if type(x) is _devices.SimArray:
        if dev.backend.name == "sim":
            return x
        raise op_error(DeviceError, "convert", (x,),
                       f"an array on the simulated gpu used with tensors on {dev}")
    if isinstance(x, np.ndarray):
        if dev is _devices.CPU:
            return x
        return dev.backend.from_host(x, dev.index)
    if isinstance(x, np.generic):
        return x
    if isinstance(x, (list, tuple)):
        arr = np.asarray(x)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        return arr if dev is _devices.CPU else dev.backend.from_host(arr, dev.index)
    other = _devices.device_of_array(x)
    if other is not None:
        if other is dev:
            return x
        raise op_error(DeviceError, "convert", (x,),
                       f"an array on {other} used with tensors on {dev}")
    raise op_error(DTypeError, "convert", (x,),
                   f"cannot use {type(x).__name__} as a tensor operand")


def _resolve(op, args):
    """(device, raw arrays) for the operands, refusing mixed devices."""
    dev = None
    for a in args:
        if isinstance(a, Tensor):
            if dev is None:
                dev = a._device
            elif a._device is not dev:
                raise op_error(
                    DeviceError, op.name, args,
                    f"operands on different devices ({dev} and {a._device}); "
                    f"move one with .to('{dev}')")
    if dev is None:     # only Python numbers / arrays: make 0-d arrays, so
        dev = _devices.current_device()     # the kernel returns an array
        return dev, [_scalar_array(a, dev) if isinstance(a, _PY_SCALARS)
                     else lift(a, dev) for a in args]
    datas = [a._data if isinstance(a, Tensor) else lift(a, dev) for a in args]
    return dev, datas


def kernel_error(op, args, exc):
    """Translate an exception from a kernel into a CoreError for the user."""
    if isinstance(exc, CoreError):
        return exc
    msg = str(exc).split("\n")[0]
    if isinstance(exc, TypeError):
        cls = DTypeError
    else:
        cls = ShapeError
    return op_error(cls, op.name, args, msg, user_location(2))


def user_location(depth=1):
    """(file, line, function) of the innermost frame outside the engine."""
    return _location(sys._getframe(depth))


def user_frame(depth=1):
    """The innermost frame outside the engine (for debuggers)."""
    return user_frame_from(sys._getframe(depth))


def record(op, args, attrs, out_t, index):
    """Record a node for ``out_t`` on the graph (tapes see it via
    ``node.tapes``; nothing is appended, so a tape keeps nothing alive)."""
    node = Node(op, args, attrs, out_t._data, index)
    out_t._node = node
    out_t._rg = True
    return node


def _hooked_output(op, args, attrs, out, dev, rg, index):
    """The Tensor for ``out`` of a hooked or recorded op, recorded on the
    graph when it should be (and listed on the tapes while a hook asks)."""
    if op.out_device is not None:
        dev = op.out_device(attrs)
    t = _new(Tensor)
    t._data = out
    t._device = dev
    t._node = None
    t._rg = False
    if rg and op.differentiable and grad_enabled and out.dtype.kind in "fc":
        node = record(op, args, attrs, t, index)
        if wants_tape_entries:
            for tp in tapes:
                tp._entries.append(node)
    return t


def _scalar_array(v, dev):
    """A Python number as a 0-d array on ``dev`` (floats as float32, the
    engine's default), for ops whose operands are all Python numbers."""
    return dev.xp.asarray(v, dtype="float32" if isinstance(v, float) else None)


# ------------------------------------------------------------ fast paths --


def unary(op):
    """The op as a lean one-operand function."""
    kernels = op.kernels
    diff = op.differentiable

    def f(x):
        if not isinstance(x, Tensor):
            return apply(op, (x,), None)
        dev = x._device
        if hooks:
            return _hooked(op, (x,), None, dev, (x._data,), x._rg)
        try:
            out = kernels[dev.slot](x._data)
        except Exception as e:
            raise kernel_error(op, (x,), e) from None
        t = _new(Tensor)
        t._data = out
        t._device = dev
        if x._rg and diff and grad_enabled and out.dtype.kind in "fc":
            t._node = n = _new(Node)     # Node(...) inline: no __init__ call
            n.op = op
            n.inputs = (x,)
            n.attrs = None
            n.out = out
            n.index = next(counter)
            n.scope = scope
            n.tapes = tapes
            t._rg = True
        else:
            t._node = None
            t._rg = False
        return t

    f.__name__ = op.name
    f.op = op
    return f


def binary(op):
    """The op as a lean two-operand function (tensor or scalar either side)."""
    kernels = op.kernels
    diff = op.differentiable

    def f(a, b):
        if isinstance(a, Tensor):
            dev = a._device
            if isinstance(b, Tensor):
                if b._device is not dev:
                    return apply(op, (a, b), None)  # raises the device error
                bd = b._data
                rg = a._rg or b._rg
            else:
                bd = b if isinstance(b, _PY_SCALARS) else lift(b, dev)
                rg = a._rg
            ad = a._data
        elif isinstance(b, Tensor):
            dev = b._device
            ad = a if isinstance(a, _PY_SCALARS) else lift(a, dev)
            bd = b._data
            rg = b._rg
        else:
            return apply(op, (a, b), None)
        if hooks:
            if lean and dev is _CPU:
                return _recorded2(op, a, b, ad, bd, dev, rg)
            args = (a, b)
            if not (isinstance(a, _KEEP_AS_GIVEN) and
                    isinstance(b, _KEEP_AS_GIVEN)):
                args = (a if isinstance(a, Tensor) else _make(ad, dev),
                        b if isinstance(b, Tensor) else _make(bd, dev))
            return _hooked(op, args, None, dev, (ad, bd), rg)
        try:
            out = kernels[dev.slot](ad, bd)
        except Exception as e:
            raise kernel_error(op, (a, b), e) from None
        t = _new(Tensor)
        t._data = out
        t._device = dev
        if rg and diff and grad_enabled and out.dtype.kind in "fc":
            t._node = n = _new(Node)     # Node(...) inline: no __init__ call
            n.op = op
            n.inputs = (a, b)
            n.attrs = None
            n.out = out
            n.index = next(counter)
            n.scope = scope
            n.tapes = tapes
            t._rg = True
        else:
            t._node = None
            t._rg = False
        return t

    f.__name__ = op.name
    f.op = op
    return f


def apply(op, args, attrs=None):
    """Run ``op`` on ``args`` (a tuple) with keyword ``attrs`` (or None)."""
    if len(args) == 1 and isinstance(args[0], Tensor):   # the common case
        x = args[0]
        dev = x._device
        datas = (x._data,)
        rg = x._rg
        if hooks:
            return _hooked(op, args, attrs, dev, datas, rg)
    else:
        dev, datas = _resolve(op, args)
        rg = None
        if hooks:
            inputs = args
            for a in args:
                if not isinstance(a, _KEEP_AS_GIVEN):
                    inputs = tuple(
                        a if isinstance(a, _KEEP_AS_GIVEN) else _make(d, dev)
                        for a, d in zip(args, datas))
                    break
            return _hooked(op, inputs, attrs, dev, datas,
                               _any_tracked(args))
    try:
        out = op.kernels[dev.slot](*datas, **attrs) if attrs else \
            op.kernels[dev.slot](*datas)
    except Exception as e:
        raise kernel_error(op, args, e) from None
    if op.out_device is not None:
        dev = op.out_device(attrs)
    t = _new(Tensor)
    t._data = out
    t._device = dev
    t._node = None
    t._rg = False
    if op.differentiable and grad_enabled and (
            rg if rg is not None else _any_tracked(args)) \
            and out.dtype.kind in "fc":
        t._node = n = _new(Node)     # Node(...) inline: no __init__ call
        n.op = op
        n.inputs = args
        n.attrs = attrs
        n.out = out
        n.index = next(counter)
        n.scope = scope
        n.tapes = tapes
        t._rg = True
    return t


def _any_tracked(args):
    for a in args:
        if isinstance(a, Tensor):
            if a._rg:
                return True
        elif isinstance(a, (list, tuple)):
            for x in a:
                if isinstance(x, Tensor) and x._rg:
                    return True
    return False


# ------------------------------------------------------------ hooked path --


_EMPTY = {}
# id(code object) -> True when it lives inside core/.  Keyed by id: a code
# object's hash is computed from its contents at every call (75-180 ns, and
# the dispatch looks one up per op); every code object keyed here is kept
# in core._event._pinned, so its id is never reused while the entry exists.
_engine_code = {}


def _inside(co):
    """Whether ``co`` lives inside core/ (first sight of a code object)."""
    inside = _engine_code[id(co)] = co.co_filename.startswith(_CORE_DIR)
    _pinned.append(co)
    return inside


_CO_RESUMABLE = 0x20 | 0x80 | 0x200   # generator, coroutine, async gen
# [(engine frame, its user site)]: see _run_hooked.  Holds one frame
# while hooks are attached; cleared whenever hooks change.
_walk_cache = [(None, None)]
backward_site = None         # (code, lasti) of the line running backward


def user_frame_from(f):
    """The first frame from ``f`` (outward) whose code lives outside core."""
    codes = _engine_code
    while f is not None:
        co = f.f_code
        inside = codes.get(id(co))
        if inside is None:
            inside = _inside(co)
        if not inside:
            return f
        f = f.f_back
    return None


def _walk(f):
    """(code, lasti) of the first frame from ``f`` outside core, or None."""
    f = user_frame_from(f)
    return None if f is None else (f.f_code, f.f_lasti)


def user_site(depth=1):
    """(code, lasti) of the innermost frame outside the engine, or None."""
    return _walk(sys._getframe(depth))


def _location(f):
    """(file, line, function) of the first frame from ``f`` outside core."""
    f = user_frame_from(f)
    return None if f is None else (f.f_code.co_filename, f.f_lineno,
                                   f.f_code.co_name)


def _engine_site(f, co):
    """(code, lasti) of the user's line for an op issued from engine frame
    ``f`` ((None, 0) when there is none).  Walking frames is the dearest
    part of a hooked op, so two shortcuts: ops issued by the same live
    engine frame (Dense.forward: matmul, add, relu) share its walk, and
    backward ops share the line that started the pass."""
    if f is _walk_cache[0][0]:
        return _walk_cache[0][1]
    if phase == "backward" and backward_site is not None:
        return backward_site
    site = _walk(f)
    if site is None:
        return None, 0
    if not co.co_flags & _CO_RESUMABLE:
        _walk_cache[0] = (f, site)      # one store: thread-safe
    return site


def _site_of(f):
    """(code, lasti) of the user's line for an op whose dispatch was called
    from frame ``f``: ``f`` itself when it is user code, else its walk."""
    co = f.f_code
    inside = _engine_code.get(id(co))
    if inside is None:
        inside = _inside(co)
    if not inside:
        return co, f.f_lasti
    return _engine_site(f, co)


def _run_hooked(op, args, attrs, dev, datas, rg):
    """The dispatch with hooks: ``args`` as hooks see them (tensors and
    Python scalars), ``datas`` the raw arrays, ``rg`` whether any operand is
    tracked."""
    t0 = _perf_ns()
    inputs = args
    ev = _new(OpEvent)
    ev.index = index = next(counter)
    ev.name = op.name
    ev.op = op
    ev.phase = phase
    ev.inputs = inputs
    ev.outputs = None
    ev.attrs = attrs if attrs is not None else _EMPTY
    ev.device = dev
    # the user's line (the caller's caller when a user line called the op)
    ev._code, ev._lasti = _site_of(_getframe(2))
    ev.scope = scope
    ev.forward_index = forward_index
    ev.start_ns = t0
    fn = None
    try:
        for fn in before_hooks:
            fn(ev)
    except CoreError:
        raise
    except Exception as e:
        raise _hook_error(fn, e, ev) from e
    timed = wants_device_time and dev.backend.has_device_timer
    if timed:
        e0 = dev.backend.event()
        e1 = dev.backend.event()
        e0.record()
    ev.kernel_start_ns = _perf_ns()
    try:
        out = op.kernels[dev.slot](*datas, **attrs) if attrs else \
            op.kernels[dev.slot](*datas)
    except Exception as e:
        raise kernel_error(op, args, e) from None
    ev.kernel_end_ns = _perf_ns()
    if timed:
        e1.record()
        ev._events = (e0, e1)
    t = _hooked_output(op, args, attrs, out, dev, rg, index)
    if t._rg:
        ev.recorded = True
    ev.outputs = (t,)
    ev.end_ns = _perf_ns()
    try:
        for fn in after_hooks:
            fn(ev)
    except CoreError:
        raise
    except Exception as e:
        raise _hook_error(fn, e, ev) from e
    return t


def _run_recorded(op, args, attrs, dev, datas, rg):
    """The hooked dispatch when every hook is a recorder: a host op appends
    one flat record (:data:`core._record.FIELDS`) to each recorder's list,
    with no OpEvent and no hook call.  Device ops, whose timer events the
    recorders' ``after_op`` handles, take the full hooked path."""
    if dev is not _CPU:
        return _run_hooked(op, args, attrs, dev, datas, rg)
    t0 = _perf_ns()
    index = next(counter)
    code, lasti = _site_of(_getframe(2))
    k0 = _perf_ns()
    try:
        out = op.kernels[0](*datas, **attrs) if attrs else op.kernels[0](*datas)
    except Exception as e:
        raise kernel_error(op, args, e) from None
    k1 = _perf_ns()
    t = _hooked_output(op, args, attrs, out, dev, rg, index)
    a = args[0] if len(args) == 1 else None
    ta = type(a)
    if ta is Tensor or ta is _Variable:     # one tensor operand: inline
        d = a._data
        rec = (index, op.name, phase, forward_index, t0, k0, k1, _perf_ns(),
               t._device, code, lasti, scope,
               attrs if attrs is not None else _EMPTY, None, None, out.shape,
               out.dtype, d.shape, d.dtype, None if ta is Tensor else a,
               None, None, None, None, None)
    else:
        rec = (index, op.name, phase, forward_index, t0, k0, k1, _perf_ns(),
               t._device, code, lasti, scope,
               attrs if attrs is not None else _EMPTY, None, None, out.shape,
               out.dtype) + _record.operands(args) + (None,)
    for buf in recorders:
        buf.extend(rec)
    if extras:
        _extras((out, *datas), k1)
    return t


def _recorded2(op, a, b, ad, bd, dev, rg):
    """:func:`_run_recorded` for a two-operand host op (the commonest; the
    tiny-op profiling budget is spent here, so :func:`_site_of` and the
    operand description are inlined)."""
    t0 = _perf_ns()
    index = next(counter)
    f = _getframe(2)
    co = f.f_code
    inside = _engine_code.get(id(co))
    if inside is None:
        inside = _inside(co)
    if inside:
        code, lasti = _engine_site(f, co)
    else:
        code = co
        lasti = f.f_lasti
    k0 = _perf_ns()
    try:
        out = op.kernels[0](ad, bd)
    except Exception as e:
        raise kernel_error(op, (a, b), e) from None
    k1 = _perf_ns()
    t = _new(Tensor)
    t._data = out
    t._device = dev
    t._node = None
    t._rg = False
    if rg and op.differentiable and grad_enabled and out.dtype.kind in "fc":
        t._node = node = _new(Node)
        node.op = op
        node.inputs = (a, b)
        node.attrs = None
        node.out = out
        node.index = index
        node.scope = scope
        node.tapes = tapes
        t._rg = True
        if wants_tape_entries:
            for tp in tapes:
                tp._entries.append(node)
    ta = type(a)
    tb = type(b)
    if (ta is Tensor or ta is _Variable) and (tb is Tensor or tb is _Variable):
        rec = (index, op.name, phase, forward_index, t0, k0, k1, _perf_ns(),
               dev, code, lasti, scope, _EMPTY, None, None, out.shape,
               out.dtype, ad.shape, ad.dtype, None if ta is Tensor else a,
               bd.shape, bd.dtype, None if tb is Tensor else b, None, None)
    else:
        rec = (index, op.name, phase, forward_index, t0, k0, k1, _perf_ns(),
               dev, code, lasti, scope, _EMPTY, None, None, out.shape,
               out.dtype) + _record.operands((a, b)) + (None,)
    for buf in recorders:
        buf.extend(rec)
    if extras:
        _extras((out, ad, bd), k1)
    return t


def _extras(values, now):
    """After a record: hand ``values`` (the output and operand arrays, or
    None) to the recorders' ``values_into`` lists, and run their ``tick``
    callables every ``tick_every`` records or ``tick_ns`` nanoseconds,
    whichever comes first (on the thread running the op; an exception a
    tick raises propagates as a hook's would)."""
    global _tick_left, _tick_deadline
    for vl in value_lists:
        vl.append(values)
    if ticks:
        _tick_left -= 1
        if _tick_left <= 0 or now >= _tick_deadline:
            _tick_left = _tick_every
            _tick_deadline = now + _tick_ns
            fn = None
            try:
                for fn in ticks:
                    fn()
            except CoreError:
                raise
            except Exception as e:
                raise HookError(f"recording hook tick {fn!r} raised "
                                f"{type(e).__name__}: {e}") from e


_hooked = _run_hooked    # what the fast paths call once hooks are present


def refresh_hooks():
    """Rebuild the bound before/after tuples from ``hooks``."""
    global wants_device_time, wants_tape_entries, before_hooks, after_hooks
    global recorders, lean, _hooked, value_lists, ticks, extras
    global _tick_every, _tick_ns, _tick_left, _tick_deadline
    before_hooks = tuple(h.before_op for h in hooks
                         if getattr(h, "before_op", None) is not None)
    after_hooks = tuple(h.after_op for h in hooks
                        if getattr(h, "after_op", None) is not None)
    wants_device_time = sum(1 for h in hooks
                            if getattr(h, "wants_device_time", False))
    wants_tape_entries = sum(1 for h in hooks
                             if getattr(h, "wants_tape_entries", False))
    recs = [h for h in hooks if getattr(h, "record_into", None) is not None]
    recorders = tuple(h.record_into for h in recs)
    lean = bool(hooks) and len(recs) == len(hooks) and not before_hooks
    _hooked = _run_recorded if lean else _run_hooked
    value_lists = tuple(h.values_into for h in recs
                        if getattr(h, "values_into", None) is not None)
    tickers = [h for h in recs if getattr(h, "tick", None) is not None]
    ticks = tuple(h.tick for h in tickers)
    extras = bool(value_lists or ticks)
    if tickers:
        _tick_every = min(int(getattr(h, "tick_every", 64)) for h in tickers)
        _tick_ns = min(int(getattr(h, "tick_ns", 50_000_000)) for h in tickers)
        _tick_left = _tick_every
        _tick_deadline = _perf_ns() + _tick_ns
    _walk_cache[0] = (None, None)    # hold no frame when idle
