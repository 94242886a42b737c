"""Every op of the engine as a function; the common ones are also Tensor
methods (see ``_methods``).  The registry (``core._dispatch.REGISTRY``)
holds one entry per op; this package only groups definitions by family.
"""

from __future__ import annotations

import importlib

_FAMILIES = ("elementwise", "reduction", "shape", "linalg", "nn_ops")

__all__ = []


def _export(modname):
    try:
        mod = importlib.import_module(f"core.ops.{modname}")
    except ModuleNotFoundError as e:
        if e.name == f"core.ops.{modname}":
            return
        raise
    for name, obj in vars(mod).items():
        if name.startswith("_") or not callable(obj):
            continue
        if getattr(obj, "__module__", None) == mod.__name__ or hasattr(obj, "op"):
            globals()[name] = obj
            __all__.append(name)


for _m in _FAMILIES:
    _export(_m)

from core.ops import raw_vjps  # noqa: E402,F401  (installs the VJP twins)
from core.ops._methods import bind_tensor_methods  # noqa: E402

bind_tensor_methods()
