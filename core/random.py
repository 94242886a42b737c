"""Seeded randomness.  Values are drawn on the host from one numpy
Generator and moved to the device, so a seed gives the same numbers on
every device."""

from __future__ import annotations

import numpy as np

from core import devices as _devices
from core.tensor import _make, as_dtype

_gen = np.random.default_rng(0)


def seed(value: int) -> None:
    """Reseed the engine's generator (initializers, dropout, rand, shuffle)."""
    global _gen
    _gen = np.random.default_rng(value)


def generator() -> np.random.Generator:
    return _gen


def _place(arr, device, requires_grad):
    dev = _devices.get_device(device)
    if dev is not _devices.CPU:
        arr = dev.backend.from_host(arr, dev.index)
    t = _make(arr, dev)
    if requires_grad:
        t.requires_grad = True
    return t


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def rand(*shape, dtype="float32", device=None, requires_grad=False):
    """Uniform [0, 1)."""
    arr = _gen.random(_shape(shape)).astype(as_dtype(dtype))
    return _place(arr, device, requires_grad)


def randn(*shape, dtype="float32", device=None, requires_grad=False):
    """Standard normal."""
    arr = _gen.standard_normal(_shape(shape)).astype(as_dtype(dtype))
    return _place(arr, device, requires_grad)


def uniform(shape, low=0.0, high=1.0, dtype="float32", device=None):
    arr = _gen.uniform(low, high, size=tuple(shape)).astype(as_dtype(dtype))
    return _place(arr, device, False)


def normal(shape, mean=0.0, std=1.0, dtype="float32", device=None):
    arr = _gen.normal(mean, std, size=tuple(shape)).astype(as_dtype(dtype))
    return _place(arr, device, False)


def randint(low, high=None, size=(), dtype="int64", device=None):
    if high is None:
        low, high = 0, low
    arr = _gen.integers(low, high, size=size).astype(as_dtype(dtype))
    return _place(np.asarray(arr), device, False)


def permutation(n, device=None):
    return _place(_gen.permutation(n), device, False)
