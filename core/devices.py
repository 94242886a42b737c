"""Devices and backends.

A backend is a small table with the same keys for every array library:
``xp`` (the array module), ``to_host``/``from_host``, ``synchronize`` and a
timer (``event()`` objects with ``record()``/``done``/``elapsed_ns``).

* ``numpy``: the CPU.
* ``cupy``: a real GPU, imported lazily.  When cupy or a GPU is missing,
  asking for "gpu" raises :class:`DeviceUnavailableError` saying which.
* ``sim``: a simulated GPU for machines without one.  numpy underneath, but
  its own array type (:class:`SimArray`) that refuses to mix with host
  arrays exactly as cupy does, and events that measure host time.  Enable it
  with ``core.devices.enable_simulated_gpu()`` or ``CORE_SIM_GPU=1``.

``CORE_DEVICE=cpu`` forces the CPU as the default device.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
import time

import numpy as np

from core.errors import DeviceError, DeviceUnavailableError


# --------------------------------------------------------------------------
# Simulated GPU array type
# --------------------------------------------------------------------------


class SimArray(np.ndarray):
    """An ndarray that lives on the simulated GPU.

    Mixing it with a host ndarray in a numpy call raises TypeError, as cupy
    does; converting it to numpy implicitly (``np.asarray``) is allowed by
    numpy itself, so the engine never relies on that and always transfers
    through the backend.
    """

    __array_priority__ = 100

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        args = [_sim_unwrap(x, ufunc.__name__) for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(_sim_unwrap(x, ufunc.__name__) for x in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        return _sim_wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        name = getattr(func, "__name__", "function")
        args = _sim_unwrap_tree(args, name)
        kwargs = _sim_unwrap_tree(kwargs, name)
        return _sim_wrap(func(*args, **kwargs))

    def __getitem__(self, index):
        # cupy returns a 0-d device array, never a host scalar
        out = super().__getitem__(index)
        if isinstance(out, np.generic):
            return np.asarray(out).view(SimArray)
        return out

    def __reduce__(self):  # never pickled into a checkpoint by accident
        raise TypeError("SimArray cannot be pickled; transfer to host first")


def _sim_unwrap(x, name):
    if type(x) is SimArray:
        return x.view(np.ndarray)
    if type(x) is np.ndarray and x.ndim > 0:
        raise TypeError(
            f"{name}: cannot mix a simulated-GPU array with a host numpy array "
            "(transfer it first, as with cupy)"
        )
    return x


def _sim_unwrap_tree(obj, name):
    if isinstance(obj, (list, tuple)):
        return type(obj)(_sim_unwrap_tree(o, name) for o in obj)
    if isinstance(obj, dict):
        return {k: _sim_unwrap_tree(v, name) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return _sim_unwrap(obj, name)
    return obj


def _sim_wrap(result):
    if type(result) is np.ndarray:
        return result.view(SimArray)
    if isinstance(result, tuple):
        return tuple(_sim_wrap(r) for r in result)
    if isinstance(result, list):
        return [_sim_wrap(r) for r in result]
    if isinstance(result, np.generic):
        return np.asarray(result).view(SimArray)
    return result


class _SimModule:
    """The simulated GPU's array module: numpy functions returning SimArray."""

    ndarray = SimArray

    def __getattr__(self, name):
        attr = getattr(np, name)
        if callable(attr) and not isinstance(attr, type):
            def call(*args, **kwargs):
                args = _sim_unwrap_tree(args, name)
                kwargs = _sim_unwrap_tree(kwargs, name)
                return _sim_wrap(attr(*args, **kwargs))
            call.__name__ = name
            setattr(self, name, call)
            return call
        return attr


# --------------------------------------------------------------------------
# Events (timers)
# --------------------------------------------------------------------------


class SimEvent:
    """A timer event on the simulated GPU: records host time."""

    __slots__ = ("t",)

    def __init__(self):
        self.t = None

    def record(self):
        self.t = time.perf_counter_ns()

    @property
    def done(self):
        return self.t is not None

    def synchronize(self):
        pass


class _CupyEvent:
    __slots__ = ("ev", "_cp")

    def __init__(self, cp):
        self._cp = cp
        self.ev = cp.cuda.Event()

    def record(self):
        self.ev.record(self._cp.cuda.get_current_stream())

    @property
    def done(self):
        return self.ev.done

    def synchronize(self):
        self.ev.synchronize()


# --------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------


class Backend:
    """One array library behind the engine's small interface."""

    name = "abstract"
    slot = -1
    has_device_timer = False

    def to_host(self, a) -> np.ndarray:
        raise NotImplementedError

    def from_host(self, a: np.ndarray, index: int):
        raise NotImplementedError

    def synchronize(self, index: int) -> None:
        pass

    def event(self):
        return None

    @staticmethod
    def elapsed_ns(start, end) -> int:
        raise NotImplementedError


class NumpyBackend(Backend):
    name = "numpy"
    slot = 0

    def __init__(self):
        self.xp = np

    def to_host(self, a):
        return a

    def from_host(self, a, index=0):
        return a


class SimBackend(Backend):
    name = "sim"
    slot = 2
    has_device_timer = True

    def __init__(self):
        self.xp = _SimModule()
        self._syncs = 0  # synchronize() calls, for tests

    def to_host(self, a):
        return np.array(a.view(np.ndarray), copy=True)

    def from_host(self, a, index=0):
        return np.array(a, copy=True).view(SimArray)

    def synchronize(self, index=0):
        self._syncs += 1

    def event(self):
        return SimEvent()

    @staticmethod
    def elapsed_ns(start, end):
        return end.t - start.t


class CupyBackend(Backend):
    name = "cupy"
    slot = 1
    has_device_timer = True

    def __init__(self, cp):
        self.xp = cp
        self._cp = cp

    def to_host(self, a):
        return self._cp.asnumpy(a)

    def from_host(self, a, index=0):
        with self._cp.cuda.Device(index):
            return self._cp.asarray(a)

    def synchronize(self, index=0):
        with self._cp.cuda.Device(index):
            self._cp.cuda.get_current_stream().synchronize()

    def event(self):
        return _CupyEvent(self._cp)

    @staticmethod
    def elapsed_ns(start, end):
        import cupy

        return int(cupy.cuda.get_elapsed_time(start.ev, end.ev) * 1e6)


NUMPY = NumpyBackend()
_sim_backend: SimBackend | None = None
_cupy_backend: CupyBackend | None = None
_sim_enabled = os.environ.get("CORE_SIM_GPU", "") not in ("", "0")


# --------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------


MAX_EXTRA_SLOT_BASE = 2      # cupy gpu:N (N >= 1) uses kernel slot 2 + N
MAX_GPUS = 8


class Device:
    """A place where tensors live: ``cpu`` or ``gpu:N``."""

    __slots__ = ("kind", "index", "backend", "slot", "xp", "_str")

    def __init__(self, kind: str, index: int, backend: Backend):
        self.kind = kind
        self.index = index
        self.backend = backend
        # kernel table column: one per backend, and one per extra cupy GPU
        # (its kernels run inside that GPU's device context)
        self.slot = backend.slot if index == 0 or backend.name != "cupy" \
            else MAX_EXTRA_SLOT_BASE + index
        self.xp = backend.xp
        self._str = "cpu" if kind == "cpu" else f"gpu:{index}"

    def __str__(self):
        return self._str

    def __repr__(self):
        extra = " (simulated)" if self.backend.name == "sim" else ""
        return f"device('{self._str}'){extra}"

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = get_device(other)
            except DeviceError:
                return False
        return self is other

    def __hash__(self):
        return hash(self._str)

    @property
    def simulated(self) -> bool:
        return self.backend.name == "sim"

    def synchronize(self):
        self.backend.synchronize(self.index)


CPU = Device("cpu", 0, NUMPY)
_gpu_devices: dict[int, Device] = {}
_lock = threading.Lock()


def enable_simulated_gpu(enabled: bool = True) -> None:
    """Make "gpu" mean the simulated GPU (when no real GPU answers)."""
    global _sim_enabled, _default
    _sim_enabled = enabled
    _default = None
    if not enabled:
        for k, d in list(_gpu_devices.items()):
            if d.simulated:
                del _gpu_devices[k]


def _cupy_status() -> tuple[object | None, str]:
    """(cupy module or None, reason why not usable)."""
    if importlib.util.find_spec("cupy") is None:
        return None, "cupy is not installed (pip install 'eager-workbench[gpu]')"
    try:
        import cupy
    except Exception as e:  # broken install, missing CUDA libs
        return None, f"cupy failed to import: {e}"
    try:
        if not cupy.is_available():
            return None, "cupy is installed but no CUDA GPU answers"
    except Exception as e:
        return None, f"cupy cannot reach a GPU: {e}"
    return cupy, ""


def gpu_available() -> bool:
    """True when a real or (enabled) simulated GPU can be used."""
    if _sim_enabled:
        return True
    return _cupy_status()[0] is not None


def _gpu(index: int) -> Device:
    global _sim_backend, _cupy_backend
    with _lock:
        dev = _gpu_devices.get(index)
        if dev is not None:
            return dev
        cp, why = _cupy_status()
        if cp is not None:
            count = cp.cuda.runtime.getDeviceCount()
            if index >= min(count, MAX_GPUS):
                raise DeviceUnavailableError(
                    f"gpu:{index} requested but this machine has {count} GPU(s)"
                )
            if _cupy_backend is None:
                _cupy_backend = CupyBackend(cp)
            dev = Device("gpu", index, _cupy_backend)
        elif _sim_enabled:
            if _sim_backend is None:
                _sim_backend = SimBackend()
            dev = Device("gpu", index, _sim_backend)
        else:
            raise DeviceUnavailableError(f"'gpu:{index}' requested but {why}")
        _gpu_devices[index] = dev
        return dev


def get_device(spec) -> Device:
    """Resolve "cpu", "gpu", "gpu:N", "cuda:N" or a Device."""
    if isinstance(spec, Device):
        return spec
    if spec is None:
        return current_device()
    if not isinstance(spec, str):
        raise DeviceError(f"device must be a string like 'cpu' or 'gpu:0', got {spec!r}")
    s = spec.strip().lower()
    if s == "cpu":
        return CPU
    kind, _, idx = s.partition(":")
    if kind in ("gpu", "cuda"):
        try:
            index = int(idx) if idx else 0
        except ValueError:
            raise DeviceError(f"bad device index in {spec!r}") from None
        return _gpu(index)
    raise DeviceError(f"unknown device {spec!r}: use 'cpu', 'gpu' or 'gpu:N'")


_default: Device | None = None
_ctx = threading.local()


def default_device() -> Device:
    """A usable GPU, else the CPU; ``CORE_DEVICE=cpu`` forces the CPU."""
    global _default
    if _default is None:
        forced = os.environ.get("CORE_DEVICE", "").strip().lower()
        if forced:
            _default = get_device(forced)
        elif _cupy_status()[0] is not None:   # a real GPU (never the simulator)
            try:
                _default = _gpu(0)
            except DeviceError:
                _default = CPU
        else:
            _default = CPU
    return _default


def current_device() -> Device:
    stack = getattr(_ctx, "stack", None)
    if stack:
        return stack[-1]
    return default_device()


@contextlib.contextmanager
def device(spec):
    """``with core.device("gpu"):`` places new tensors there.

    Ops run where their inputs live (as in PyTorch); the context decides
    where creation functions and converted Python/numpy data go.
    """
    dev = get_device(spec)
    stack = getattr(_ctx, "stack", None)
    if stack is None:
        stack = _ctx.stack = []
    stack.append(dev)
    try:
        yield dev
    finally:
        stack.pop()


def device_of_array(a) -> Device | None:
    """The device an array belongs to, or None for plain host data."""
    if type(a) is np.ndarray:
        return CPU
    if type(a) is SimArray:
        return _gpu(0)
    mod = type(a).__module__
    if mod.startswith("cupy"):
        return _gpu(a.device.id)
    return None
