"""Initializers: numpy arrays drawn from the engine's seeded generator
(``core.random.seed``), so a seed gives the same model on every device.

Fan convention: a 2-D shape is ``(in, out)`` (a Dense kernel, used as
``x @ W``); a shape of 3 or more dims is ``(out, in, *kernel)`` (a conv
weight, as ``core.conv2d`` takes it).
"""

from __future__ import annotations

import math

import numpy as np

from core import random as _random
from core.tensor import as_dtype

__all__ = ["fans", "glorot_uniform", "glorot_normal", "he_uniform",
           "he_normal", "lecun_normal", "uniform", "normal", "zeros", "ones",
           "get"]


def fans(shape) -> tuple:
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _dt(dtype):
    return as_dtype(dtype or "float32")


def glorot_uniform(shape, dtype="float32"):
    fan_in, fan_out = fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return _random.generator().uniform(-limit, limit, size=shape).astype(_dt(dtype))


def glorot_normal(shape, dtype="float32"):
    fan_in, fan_out = fans(shape)
    std = math.sqrt(2.0 / (fan_in + fan_out))
    return (_random.generator().standard_normal(shape) * std).astype(_dt(dtype))


def he_uniform(shape, dtype="float32"):
    fan_in, _ = fans(shape)
    limit = math.sqrt(6.0 / fan_in)
    return _random.generator().uniform(-limit, limit, size=shape).astype(_dt(dtype))


def he_normal(shape, dtype="float32"):
    fan_in, _ = fans(shape)
    std = math.sqrt(2.0 / fan_in)
    return (_random.generator().standard_normal(shape) * std).astype(_dt(dtype))


def lecun_normal(shape, dtype="float32"):
    fan_in, _ = fans(shape)
    std = math.sqrt(1.0 / fan_in)
    return (_random.generator().standard_normal(shape) * std).astype(_dt(dtype))


def uniform(shape, low=-0.05, high=0.05, dtype="float32"):
    return _random.generator().uniform(low, high, size=shape).astype(_dt(dtype))


def normal(shape, mean=0.0, std=1.0, dtype="float32"):
    return (_random.generator().standard_normal(shape) * std + mean).astype(_dt(dtype))


def zeros(shape, dtype="float32"):
    return np.zeros(shape, dtype=_dt(dtype))


def ones(shape, dtype="float32"):
    return np.ones(shape, dtype=_dt(dtype))


_BY_NAME = {
    "glorot_uniform": glorot_uniform, "xavier_uniform": glorot_uniform,
    "glorot_normal": glorot_normal, "xavier_normal": glorot_normal,
    "he_uniform": he_uniform, "kaiming_uniform": he_uniform,
    "he_normal": he_normal, "kaiming_normal": he_normal,
    "lecun_normal": lecun_normal, "uniform": uniform, "normal": normal,
    "zeros": zeros, "ones": ones,
}


def get(init):
    """An initializer from a name or a callable ``(shape, dtype) -> array``."""
    if callable(init):
        return init
    try:
        return _BY_NAME[init]
    except KeyError:
        raise ValueError(f"unknown initializer {init!r}; use one of "
                         f"{', '.join(sorted(_BY_NAME))}") from None
