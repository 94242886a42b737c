"""core: an eager tensor engine in which every op passes one choke point.

See ``shared/DESIGN.md`` for the public names.  Heavy or optional parts
(cupy, the training stack) are imported lazily.
"""

from __future__ import annotations

import importlib

from core import errors, hooks, random
from core.devices import device, default_device, get_device, Device
from core.errors import (
    CheckpointError, CoreError, DeviceError, DeviceUnavailableError,
    DTypeError, GradientError, HookError, ShapeError,
)
from core.tensor import (
    Tensor, Variable, arange, as_tensor, empty, eye, from_numpy, full,
    full_like, linspace, ones, ones_like, tensor, zeros, zeros_like,
)
from core.ops import *  # noqa: F401,F403
from core import ops as _ops
from core.autodiff import (
    GradientTape, custom_gradient, enable_grad, grad, is_grad_enabled,
    no_grad, value_and_grad,
)
from core.hooks import scope
from core.random import rand, randn

float16, float32, float64 = "float16", "float32", "float64"
int32, int64, bool_ = "int32", "int64", "bool"

_LAZY = {
    "nn": "core.nn", "losses": "core.losses", "optim": "core.optim",
    "metrics": "core.metrics", "data": "core.data",
    "Checkpoint": ("core.checkpoint", "Checkpoint"),
    "function": ("core.function", "function"),
    "devices": "core.devices",
}


def __getattr__(name):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    if isinstance(target, tuple):
        value = getattr(importlib.import_module(target[0]), target[1])
    else:
        value = importlib.import_module(target)
    globals()[name] = value
    return value


def registry():
    """Name -> Op of every registered op (read-only copy)."""
    from core._dispatch import REGISTRY

    return dict(REGISTRY)
