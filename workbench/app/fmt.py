"""Small text formatters shared by the widgets (pure functions, no Textual)."""

from __future__ import annotations

import math
import os

from rich.text import Text


def fmt_ns(ns) -> str:
    """A duration in ns as a short human string: '812 ns', '3.4 µs', '2.1 ms', '1.20 s'."""
    if ns is None:
        return "-"
    ns = float(ns)
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.2f} s"


def fmt_num(x) -> str:
    """A float in at most ~8 characters ('-2.13', '1.2e+05', 'nan')."""
    if x is None:
        return "-"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.4g}"
    return f"{x:.2e}"


def fmt_shape(shape) -> str:
    """(128, 256) -> '(128,256)'; () -> '()'."""
    return "(" + ",".join(str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def short_path(path: str | None) -> str:
    """The file name of a path ('' for None)."""
    return os.path.basename(path) if path else ""


def where_text(location) -> str:
    """(file, line, func) -> 'mlp.py:41 in MLP.__call__'."""
    if not location:
        return "?"
    file, line, func = location
    return f"{short_path(file)}:{line} in {func}"


def scope_text(scope) -> str:
    """('model', 'layers.1') -> 'model/layers.1'."""
    return "/".join(scope) if scope else ""


def is_summary(x) -> bool:
    """True for a TensorSummary-like record (has shape and dtype)."""
    return hasattr(x, "shape") and hasattr(x, "dtype")


def summary_text(name: str, s) -> Text:
    """One line of health for a tensor summary; NaN/Inf counts in red when non-zero."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{name:<5}", style="bold")
    if not is_summary(s):
        t.append(f"{s}", style="italic")
        return t
    t.append(f"{fmt_shape(s.shape)} {s.dtype}", style="cyan")
    if s.device != "cpu":
        t.append(f" {s.device}", style="cyan")
    nan, inf = int(s.nan_count or 0), int(s.inf_count or 0)
    if nan:
        t.append(f" nan {nan}", style="bold white on red")
    if inf:
        t.append(f" inf {inf}", style="bold black on yellow")
    if getattr(s, "numel", 1) == 0:
        t.append("  empty", style="dim")
        return t
    if getattr(s, "has_stats", True) and s.min is not None:
        t.append(f" min {fmt_num(s.min)} max {fmt_num(s.max)}"
                 f" μ {fmt_num(s.mean)} σ {fmt_num(s.std)}")
    if not nan and not inf and getattr(s, "has_stats", True):
        t.append(" ok", style="green")
    if getattr(s, "note", ""):
        t.append(f"  {s.note}", style="dim")
    return t
