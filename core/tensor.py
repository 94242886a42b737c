"""Tensor, Variable and the creation functions."""

from __future__ import annotations

import numpy as np

from core import _dispatch, _record
from core import devices as _devices
from core.errors import DTypeError, GradientError

_DTYPES = {
    "float32": np.float32, "float64": np.float64, "float16": np.float16,
    "int32": np.int32, "int64": np.int64, "bool": np.bool_,
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16,
    "float": np.float32, "double": np.float64, "half": np.float16,
    "int": np.int64, "long": np.int64,
}


def as_dtype(dtype):
    """A numpy dtype from a name, numpy dtype or Python type (or None)."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        try:
            return np.dtype(_DTYPES[dtype])
        except KeyError:
            raise DTypeError(f"unknown dtype {dtype!r}; use one of "
                             f"{', '.join(sorted(_DTYPES))}") from None
    if dtype is float:
        return np.dtype(np.float32)
    if dtype is int:
        return np.dtype(np.int64)
    if dtype is bool:
        return np.dtype(np.bool_)
    return np.dtype(dtype)


class Tensor:
    """An n-dimensional array on a device, tracked for gradients on request.

    Tensors are values: ops return new tensors.  ``requires_grad=True`` (or
    being watched by a ``GradientTape``) makes ops on it record a node so
    ``backward()`` / ``tape.gradient()`` can differentiate.
    """

    __slots__ = ("_data", "_device", "_node", "_rg", "_grad", "_name",
                 "__weakref__")
    __array_priority__ = 1000
    __hash__ = object.__hash__

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        dev = _devices.get_device(device) if device is not None else None
        arr = _to_array(data, as_dtype(dtype), dev)
        self._data = arr[0]
        self._device = arr[1]
        self._node = None
        self._rg = False
        if requires_grad:
            self.requires_grad = True

    # -- attributes ----------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self._data.shape)

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self):
        return self._device

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return int(self._data.size)

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if value and self._data.dtype.kind not in "fc":
            raise DTypeError(
                f"only floating point tensors can require gradients "
                f"(this one is {self._data.dtype})")
        if not value and self._node is not None:
            raise GradientError(
                "cannot set requires_grad=False on a non-leaf tensor; "
                "use .detach()")
        self._rg = value

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad(self):
        try:
            return self._grad
        except AttributeError:
            return None

    @grad.setter
    def grad(self, value):
        self._grad = value

    @property
    def name(self):
        try:
            return self._name
        except AttributeError:
            return None

    # -- conversion ----------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a numpy array (a host copy for device tensors)."""
        if self._device is _devices.CPU:
            a = self._data
            # numpy hands back scalars (np.float32) for 0-d results; data of
            # a CPU tensor may be either, users always get an ndarray
            return a if type(a) is np.ndarray else np.asarray(a)
        return self._device.backend.to_host(self._data)

    def __array__(self, dtype=None, copy=None):
        if self._device is not _devices.CPU:
            raise TypeError(
                f"implicit conversion of a tensor on {self._device} to numpy is "
                f"not allowed; call .numpy() or .to('cpu') first")
        a = self._data
        if type(a) is not np.ndarray:
            a = np.asarray(a)
        if dtype is not None and a.dtype != dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self):
        if self._data.size != 1:
            raise ValueError(
                f"item(): tensor has {self._data.size} elements, not 1")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub":
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self._data.size} elements "
                "is ambiguous; use .any() or .all()")
        return bool(self.item())

    def detach(self) -> "Tensor":
        """Same values, cut from the graph (shares memory)."""
        return _make(self._data, self._device)

    def to(self, device) -> "Tensor":
        """A copy on ``device`` (gradients flow back across the transfer)."""
        from core.ops import to_device

        return to_device(self, device)

    def cpu(self):
        return self.to("cpu")

    def gpu(self, index=0):
        return self.to(f"gpu:{index}")

    # -- autodiff ------------------------------------------------------
    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that
        requires grad (and every trainable Variable) behind this tensor."""
        _backward(self, grad, retain_graph, create_graph)

    def zero_grad(self):
        self._grad = None

    # -- display -------------------------------------------------------
    def __repr__(self):
        return summarize(self)

    def __str__(self):
        return summarize(self)

    def __format__(self, spec):
        if self._data.size == 1 and spec:
            return format(self.item(), spec)
        return str(self)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self._data.shape[0]):
            yield self[i]

    def __reduce__(self):
        raise TypeError("tensors are not pickled; use core.Checkpoint "
                        "or np.save(path, t.numpy())")


def summarize(t, max_items=6) -> str:
    """``tensor([...], shape=(..), dtype=.., device=..)`` with few values."""
    data = t._data
    host = data if t._device is _devices.CPU else None
    extra = []
    if t._rg and t._node is None:
        extra.append("requires_grad=True")
    elif t._node is not None:
        extra.append(f"grad_fn={t._node.op.name}")
    if isinstance(t, Variable) and t._name:
        extra.insert(0, f"name={t._name!r}")
    if host is None:
        host = t._device.backend.to_host(data) if data.size <= 10_000 else None
    if host is None:
        vals = "..."
    elif data.ndim == 0:
        vals = np.array2string(host, precision=4)
    else:
        flat = host.reshape(-1)
        if flat.size <= max_items:
            vals = np.array2string(host, precision=4, separator=", ",
                                   threshold=max_items, edgeitems=3)
        else:
            head = np.array2string(flat[:max_items // 2], precision=4,
                                   separator=", ")[1:-1]
            tail = np.array2string(flat[-(max_items // 2):], precision=4,
                                   separator=", ")[1:-1]
            vals = f"[{head}, ..., {tail}]"
    vals = " ".join(vals.split())
    kind = "Variable" if isinstance(t, Variable) else "tensor"
    suffix = (", " + ", ".join(extra)) if extra else ""
    return (f"{kind}({vals}, shape={tuple(data.shape)}, dtype={data.dtype}, "
            f"device={t._device}{suffix})")


_backward = None    # core.autodiff.backward (set there: import cycle)


def _make(data, dev) -> Tensor:
    t = Tensor.__new__(Tensor)
    t._data = data
    t._device = dev
    t._node = None
    t._rg = False
    return t


def _to_array(data, dtype, dev):
    """(array on dev, dev) from anything tensor-like."""
    if isinstance(data, Tensor):
        src = data._device
        arr = data._data
        if dev is None:
            dev = src
        if dev is not src:
            arr = dev.backend.from_host(src.backend.to_host(arr), dev.index)
        else:
            arr = arr.copy()
        if dtype is not None and arr.dtype != dtype:
            arr = arr.astype(dtype)
        return arr, dev
    src = _devices.device_of_array(data) if (
        type(data) is _devices.SimArray or not isinstance(
            data, (np.ndarray, list, tuple, int, float, bool, np.generic))) \
        else None
    if src is not None and src is not _devices.CPU:
        if dev is None:
            dev = src
        if dev is not src:
            data = src.backend.to_host(data)
        else:
            arr = data if dtype is None else data.astype(dtype)
            return arr, dev
    if dev is None:
        dev = _devices.current_device()
    if isinstance(data, np.ndarray):
        arr = np.array(data, dtype=dtype, copy=True)
    else:
        arr = np.asarray(_unwrap_nested(data), dtype=dtype)
        if dtype is None and arr.dtype == np.float64:
            arr = arr.astype(np.float32)
    if arr.dtype == object:
        raise DTypeError(f"cannot make a tensor from {type(data).__name__} "
                         "(ragged or non-numeric data)")
    if dev is not _devices.CPU:
        arr = dev.backend.from_host(arr, dev.index)
    return arr, dev


def _unwrap_nested(data):
    if isinstance(data, (list, tuple)):
        if any(isinstance(x, Tensor) for x in data):
            return [x.numpy() if isinstance(x, Tensor) else _unwrap_nested(x)
                    for x in data]
    return data


class Variable(Tensor):
    """A named, mutable tensor owned by a model or optimizer.

    Trainable variables are tracked for gradients (``tape.gradient`` and
    ``backward()`` see them); ``assign``/``assign_add``/``assign_sub``
    update the value in place and are never recorded as differentiable ops.
    """

    __slots__ = ("_trainable",)

    def __init__(self, initial, name=None, trainable=True, dtype=None,
                 device=None):
        if callable(initial) and not isinstance(initial, Tensor):
            initial = initial()
        dev = _devices.get_device(device) if device is not None else None
        arr, dev = _to_array(initial, as_dtype(dtype), dev)
        if isinstance(initial, (float, list, tuple)) and dtype is None \
                and arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        self._data = arr
        self._device = dev
        self._node = None
        self._name = name
        self._trainable = bool(trainable) and arr.dtype.kind in "fc"
        self._rg = self._trainable

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value) and self._data.dtype.kind in "fc"
        self._rg = self._trainable

    @property
    def value(self) -> Tensor:
        """The current value as a plain tensor (tracked back to this one)."""
        from core.ops import identity

        return identity(self)

    def read_value(self):
        return self.value

    def numpy(self):
        return np.array(super().numpy(), copy=True)

    def _check(self, value, what):
        arr = value._data if isinstance(value, Tensor) else value
        if isinstance(value, Tensor) and value._device is not self._device:
            from core.errors import DeviceError
            raise DeviceError(f"{what}: value on {value._device}, variable "
                              f"{self._name or ''} on {self._device}")
        if not isinstance(value, Tensor):
            arr = _to_array(value, self._data.dtype, self._device)[0]
        shape = getattr(arr, "shape", ())
        if tuple(shape) != tuple(self._data.shape) and shape != ():
            from core.errors import ShapeError
            raise ShapeError(
                f"{what}: shape {tuple(shape)} does not match variable "
                f"{self._name or ''} of shape {tuple(self._data.shape)}")
        return arr

    def assign(self, value):
        arr = self._check(value, "assign")
        self._data[...] = arr
        return self

    def assign_add(self, delta):
        arr = self._check(delta, "assign_add")
        self._data += arr
        return self

    def assign_sub(self, delta):
        arr = self._check(delta, "assign_sub")
        self._data -= arr
        return self

    def __repr__(self):
        return summarize(self)


_dispatch.Tensor = Tensor
_record.Tensor, _record.Variable = Tensor, Variable
_dispatch._Variable = Variable
_dispatch._make = _make
_dispatch._KEEP_AS_GIVEN = _dispatch._KEEP_AS_GIVEN + (Tensor,)


# ------------------------------------------------------- creation functions --


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor from Python data, a numpy array or another tensor."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def as_tensor(x, dtype=None, device=None) -> Tensor:
    if isinstance(x, Tensor) and dtype is None and device is None:
        return x
    return Tensor(x, dtype=dtype, device=device)


def _creator(fn_name):
    def create(*shape, dtype="float32", device=None, requires_grad=False):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        dev = _devices.get_device(device)
        arr = getattr(dev.xp, fn_name)(shape, dtype=as_dtype(dtype))
        t = _make(arr, dev)
        if requires_grad:
            t.requires_grad = True
        return t
    create.__name__ = fn_name
    create.__doc__ = f"A new tensor of the given shape filled by {fn_name}."
    return create


zeros = _creator("zeros")
ones = _creator("ones")
empty = _creator("empty")


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    if isinstance(shape, int):
        shape = (shape,)
    dev = _devices.get_device(device)
    if dtype is None:
        dtype = "float32" if isinstance(fill_value, float) else (
            "bool" if isinstance(fill_value, bool) else "int64")
    t = _make(dev.xp.full(tuple(shape), fill_value, dtype=as_dtype(dtype)), dev)
    if requires_grad:
        t.requires_grad = True
    return t


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype,
                 device=device or t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype,
                device=device or t.device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None):
    return full(t.shape, fill_value, dtype=dtype or t.dtype,
                device=device or t.device)


def arange(start, stop=None, step=1, dtype=None, device=None):
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = "int64" if all(isinstance(v, int)
                               for v in (start, stop, step)) else "float32"
    dev = _devices.get_device(device)
    return _make(dev.xp.arange(start, stop, step, dtype=as_dtype(dtype)), dev)


def linspace(start, stop, num=50, dtype="float32", device=None):
    dev = _devices.get_device(device)
    return _make(dev.xp.linspace(start, stop, num, dtype=as_dtype(dtype)), dev)


def eye(n, m=None, dtype="float32", device=None):
    dev = _devices.get_device(device)
    return _make(dev.xp.eye(n, m, dtype=as_dtype(dtype)), dev)


def from_numpy(a: np.ndarray, device=None) -> Tensor:
    """Wrap a numpy array without copying (CPU)."""
    dev = _devices.get_device(device)
    if dev is _devices.CPU:
        return _make(np.asarray(a), dev)
    return _make(dev.backend.from_host(np.asarray(a), dev.index), dev)
