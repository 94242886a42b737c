"""Error types raised by the engine.

Every error about user input names the op, each input's shape/dtype/device
and the user's source line (the innermost frame outside the engine).
"""

from __future__ import annotations


class CoreError(Exception):
    """Base class of every error the engine raises on purpose."""


class ShapeError(CoreError, ValueError):
    """Operands whose shapes do not fit the op."""


class DTypeError(CoreError, TypeError):
    """Operands whose dtypes do not fit the op."""


class DeviceError(CoreError, ValueError):
    """Operands on different devices, or a device that cannot be used."""


class DeviceUnavailableError(DeviceError, RuntimeError):
    """A device was requested that this machine cannot provide."""


class HookError(CoreError, RuntimeError):
    """A registered hook raised; the hook is named, the engine is intact."""


class GradientError(CoreError, RuntimeError):
    """Misuse of the autodiff machinery (tape reuse, non-scalar backward, ...)."""


class CheckpointError(CoreError, ValueError):
    """A checkpoint file that is unreadable, tampered or does not match."""


def describe(x) -> str:
    """One-line description of an operand: shape, dtype and device."""
    data = getattr(x, "_data", None)
    if data is not None:
        return f"{tuple(data.shape)} {data.dtype} {x._device}"
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"{tuple(x.shape)} {x.dtype} array"
    return f"{type(x).__name__} {x!r}"[:80]


def format_location(loc) -> str:
    if loc is None:
        return "<unknown>"
    return f"{loc[0]}:{loc[1]} in {loc[2]}"


def op_error(cls, op_name: str, args, message: str, location=None) -> CoreError:
    """Build an error naming the op, each operand and the user's line."""
    from core import _dispatch

    if location is None:
        location = _dispatch.user_location(3)
    names = "abcdefghijklmnopqrstuvwxyz"
    parts = []
    for i, a in enumerate(args):
        if isinstance(a, (list, tuple)) and a and hasattr(a[0], "_data"):
            inner = ", ".join(describe(x) for x in a)
            parts.append(f"  {names[i % 26]}: [{inner}]")
        else:
            parts.append(f"  {names[i % 26]}: {describe(a)}")
    text = (
        f"{op_name}: {message}\n" + "\n".join(parts)
        + f"\n  at {format_location(location)}"
    )
    err = cls(text)
    err.op = op_name
    err.location = location
    return err
