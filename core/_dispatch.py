"""The choke point: every op, forward and backward, on every device.

``apply(op, args, attrs)`` (and its lean one- and two-operand twins built
by :func:`unary` and :func:`binary`) does, in order:

1. when hooks are registered, hand over to the hooked path (one check);
2. lift Python scalars / lists / numpy arrays, resolve the device from the
   tensor operands and refuse mixed devices with a clear error;
3. run the op's forward kernel for that backend;
4. record a :class:`Node` when grad mode is on and an operand is tracked,
   and append it to every active ``GradientTape``.

The hooked path does the same, wrapping the kernel in an :class:`OpEvent`
handed to each hook's ``before_op``/``after_op``.

State (grad mode, tapes, hooks, scopes, phase) is process-global, like the
engine's single op counter; the model runs on one thread at a time.
"""

from __future__ import annotations

import itertools
import os
import sys
import time

import numpy as np

from core import devices as _devices
from core.errors import (
    CoreError, DeviceError, DTypeError, HookError, ShapeError, op_error,
)

_perf_ns = time.perf_counter_ns
_CORE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

# ---------------------------------------------------------------- state --

hooks: list = []          # registered hook objects, in registration order
before_hooks: list = []   # bound before_op callables
after_hooks: list = []    # bound after_op callables
tapes: tuple = ()         # active recording GradientTapes, outermost first
grad_enabled = True       # no_grad() turns this off
scope: tuple = ()         # name scopes, e.g. ("model", "layers", "0")
phase = "forward"         # "backward" while a VJP runs
forward_index = None      # the forward op a backward op differentiates
counter = itertools.count(1)   # one monotonic op index per process
wants_device_time = 0     # hooks asking for device timers


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
    comparisons and argmax that never record.
    """

    __slots__ = ("name", "make", "vjps", "differentiable", "kernels",
                 "out_device", "doc", "__weakref__")

    def __init__(self, name, make, vjps=None, differentiable=True,
                 out_device=None, doc=""):
        self.name = name
        self.make = make
        self.vjps = tuple(vjps) if vjps else ()
        self.differentiable = differentiable
        self.out_device = out_device  # fn(attrs) -> Device for transfers
        self.doc = doc
        self.kernels = [make(np), _LazyKernel(self, 1), _LazyKernel(self, 2)]

    def build(self, slot):
        if slot == 1:
            xp = _devices._cupy_backend.xp
        elif slot == 2:
            xp = _devices._sim_backend.xp
        else:
            xp = np
        k = self.make(xp)
        self.kernels[slot] = k
        return k

    def __repr__(self):
        return f"<op {self.name}>"


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

    __slots__ = ("op", "inputs", "attrs", "out", "index", "scope",
                 "out_shape", "out_dtype", "__weakref__")

    def __init__(self, op, inputs, attrs, out, index):
        self.op = op
        self.inputs = inputs        # tensors / scalars as given
        self.attrs = attrs          # dict or None
        self.out = out              # raw output array (no cycle to Tensor)
        self.index = index          # the forward op's index
        self.scope = scope

    def __repr__(self):
        return f"<node #{self.index} {self.op.name}>"


# --------------------------------------------------------------- helpers --

Tensor = None   # set by core.tensor (import cycle)
_make = None    # Tensor factory: _make(data, device)
_PY_SCALARS = (int, float, bool)
_KEEP_AS_GIVEN = (int, float, bool, list, tuple)   # plus Tensor, added later


def lift(x, dev):
    """A non-tensor operand as the kernel should see it on ``dev``."""
    if isinstance(x, _PY_SCALARS):
        return x
    if isinstance(x, np.ndarray):
        if dev is _devices.CPU:
            return x
        if type(x) is _devices.SimArray and dev.backend.name == "sim":
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
    if dev is None:
        dev = _devices.current_device()
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
    f = sys._getframe(depth)
    core_dir = _CORE_DIR
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(core_dir):
            return (fn, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None


def user_frame(depth=1):
    """The innermost frame outside the engine (for debuggers)."""
    f = sys._getframe(depth)
    while f is not None and f.f_code.co_filename.startswith(_CORE_DIR):
        f = f.f_back
    return f


def record(op, args, attrs, out_t, index):
    """Record a node for ``out_t`` on the graph and on active tapes."""
    node = Node(op, args, attrs, out_t._data, index)
    out_t._node = node
    out_t._rg = True
    for tp in tapes:
        tp._entries.append(node)
    return node


def _is_float(data):
    return data.dtype.kind in "fc"


# ------------------------------------------------------------ fast paths --


def unary(op):
    """The op as a lean one-operand function."""
    kernels = op.kernels
    diff = op.differentiable

    def f(x):
        if hooks:
            return apply(op, (x,), None)
        if not isinstance(x, Tensor):
            return apply(op, (x,), None)
        dev = x._device
        try:
            out = kernels[dev.slot](x._data)
        except Exception as e:
            raise kernel_error(op, (x,), e) from None
        t = _make(out, dev)
        if x._rg and diff and grad_enabled and out.dtype.kind in "fc":
            node = Node(op, (x,), None, out, next(counter))
            t._node = node
            t._rg = True
            for tp in tapes:
                tp._entries.append(node)
        return t

    f.__name__ = op.name
    f.op = op
    return f


def binary(op):
    """The op as a lean two-operand function (tensor or scalar either side)."""
    kernels = op.kernels
    diff = op.differentiable

    def f(a, b):
        if hooks:
            return apply(op, (a, b), None)
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
        try:
            out = kernels[dev.slot](ad, bd)
        except Exception as e:
            raise kernel_error(op, (a, b), e) from None
        t = _make(out, dev)
        if rg and diff and grad_enabled and out.dtype.kind in "fc":
            node = Node(op, (a, b), None, out, next(counter))
            t._node = node
            t._rg = True
            for tp in tapes:
                tp._entries.append(node)
        return t

    f.__name__ = op.name
    f.op = op
    return f


def apply(op, args, attrs=None):
    """Run ``op`` on ``args`` (a tuple) with keyword ``attrs`` (or None)."""
    if hooks:
        return _apply_hooked(op, args, attrs)
    dev, datas = _resolve(op, args)
    try:
        out = op.kernels[dev.slot](*datas, **attrs) if attrs else \
            op.kernels[dev.slot](*datas)
    except Exception as e:
        raise kernel_error(op, args, e) from None
    if op.out_device is not None:
        dev = op.out_device(attrs)
    t = _make(out, dev)
    if op.differentiable and grad_enabled and _any_tracked(args) \
            and out.dtype.kind in "fc":
        record(op, args, attrs, t, next(counter))
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


class OpEvent:
    """What a hook sees of one op (public, stable).

    ``outputs`` is None before the kernel.  ``start_ns``/``end_ns`` are host
    times around the whole dispatch; ``kernel_start_ns``/``kernel_end_ns``
    around the kernel alone, so dispatch overhead and kernel time can be
    told apart.  ``device_time_ns`` is filled when a device timer resolved
    it (see :meth:`resolve_device_time`).
    """

    __slots__ = ("index", "name", "phase", "inputs", "outputs", "attrs",
                 "device", "location", "scope", "forward_index", "start_ns",
                 "end_ns", "kernel_start_ns", "kernel_end_ns",
                 "device_time_ns", "_events", "frame", "recorded", "error")

    def __init__(self, index, name, phase, inputs, attrs, device, location,
                 scope_, forward_index_):
        self.index = index
        self.name = name
        self.phase = phase
        self.inputs = inputs
        self.outputs = None
        self.attrs = attrs if attrs is not None else {}
        self.device = device
        self.location = location
        self.scope = scope_
        self.forward_index = forward_index_
        self.start_ns = self.end_ns = 0
        self.kernel_start_ns = self.kernel_end_ns = 0
        self.device_time_ns = None
        self._events = None
        self.frame = None
        self.recorded = False
        self.error = None

    def resolve_device_time(self, block=False):
        """Device time in ns once the GPU finished the op, else None."""
        if self.device_time_ns is None and self._events is not None:
            start, end = self._events
            if not end.done:
                if not block:
                    return None
                end.synchronize()
            self.device_time_ns = self.device.backend.elapsed_ns(start, end)
            self._events = None
        return self.device_time_ns

    def __repr__(self):
        return (f"OpEvent(#{self.index} {self.name} {self.phase} "
                f"scope={'.'.join(self.scope)})")


def _hook_name(fn):
    owner = getattr(fn, "__self__", None)
    if owner is not None:
        return f"{type(owner).__name__}.{fn.__name__}"
    return getattr(fn, "__qualname__", repr(fn))


def _call_hooks(fns, ev):
    for fn in fns:
        try:
            fn(ev)
        except CoreError:
            raise
        except BaseException as e:
            if not isinstance(e, Exception):
                raise  # KeyboardInterrupt, SystemExit, debugger quit
            raise HookError(
                f"hook {_hook_name(fn)} raised {type(e).__name__}: {e} "
                f"(in {ev.phase} op #{ev.index} {ev.name})") from e


def _apply_hooked(op, args, attrs):
    t0 = _perf_ns()
    dev, datas = _resolve(op, args)
    loc = user_location(3)
    inputs = tuple(
        a if isinstance(a, _KEEP_AS_GIVEN) else _make(d, dev)
        for a, d in zip(args, datas)
    )
    index = next(counter)
    ev = OpEvent(index, op.name, phase, inputs, attrs, dev, loc, scope,
                 forward_index)
    ev.start_ns = t0
    if before_hooks:
        _call_hooks(list(before_hooks), ev)
    timed = wants_device_time and dev.backend.has_device_timer
    if timed:
        e0, e1 = dev.backend.event(), dev.backend.event()
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
    if op.out_device is not None:
        dev = op.out_device(attrs)
    t = _make(out, dev)
    if op.differentiable and grad_enabled and _any_tracked(args) \
            and out.dtype.kind in "fc":
        record(op, args, attrs, t, index)
        ev.recorded = True
    ev.outputs = (t,)
    ev.end_ns = _perf_ns()
    if after_hooks:
        _call_hooks(list(after_hooks), ev)
    return t


def refresh_hooks():
    """Rebuild the bound before/after lists from ``hooks``."""
    global wants_device_time
    before_hooks[:] = [h.before_op for h in hooks
                       if getattr(h, "before_op", None) is not None]
    after_hooks[:] = [h.after_op for h in hooks
                      if getattr(h, "after_op", None) is not None]
    wants_device_time = sum(1 for h in hooks
                            if getattr(h, "wants_device_time", False))
