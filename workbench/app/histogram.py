"""A histogram of an array's finite values as a rich renderable of block bars."""

from __future__ import annotations

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from workbench.app.fmt import fmt_num

_BLOCKS = " ▁▂▃▄▅▆▇█"


def bar_rows(counts: np.ndarray, height: int) -> list[str]:
    """Vertical bars for counts, top row first, using eighth blocks."""
    counts = np.asarray(counts, dtype=np.float64)
    peak = counts.max() if counts.size and counts.max() > 0 else 1.0
    eighths = np.round(counts / peak * height * 8).astype(int)
    # any non-empty bin shows at least a sliver
    eighths[(counts > 0) & (eighths == 0)] = 1
    rows = []
    for level in range(height - 1, -1, -1):
        part = np.clip(eighths - level * 8, 0, 8)
        rows.append("".join(_BLOCKS[p] for p in part))
    return rows


class Histogram:
    """Rich renderable: histogram of finite values, with NaN/Inf counts noted."""

    def __init__(self, values, max_height: int | None = None):
        self.values = np.asarray(values)
        self.max_height = max_height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        a = self.values
        if a.dtype == bool:
            a = a.astype(np.int8)
        if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            yield Text(f"no histogram for dtype {a.dtype}", style="yellow")
            return
        a = a.astype(np.float64).ravel()
        width = max(8, options.max_width)
        height = options.height or self.max_height or 10
        if self.max_height:
            height = min(height, self.max_height)
        bar_h = max(1, height - 2)
        finite = a[np.isfinite(a)]
        n_nan = int(np.isnan(a).sum())
        n_pinf = int(np.isposinf(a).sum())
        n_ninf = int(np.isneginf(a).sum())
        if finite.size == 0:
            yield Text(f"no finite values ({a.size} total: nan {n_nan}, "
                       f"+inf {n_pinf}, -inf {n_ninf})", style="bold red")
            return
        lo, hi = float(finite.min()), float(finite.max())
        bins = min(width, 120)
        if lo == hi:
            counts = np.zeros(bins)
            counts[bins // 2] = finite.size
        else:
            counts, _ = np.histogram(finite, bins=bins, range=(lo, hi))
        for row in bar_rows(counts, bar_h):
            yield Text(row, style="green")
        axis = Text()
        left, right = fmt_num(lo), fmt_num(hi)
        mid = f"n={finite.size} peak={int(counts.max())}"
        gap = max(1, bins - len(left) - len(right) - len(mid))
        axis.append(left)
        axis.append(" " * (gap // 2) + mid + " " * (gap - gap // 2), style="dim")
        axis.append(right)
        yield axis
        note = Text()
        note.append("nan ")
        note.append(str(n_nan), style="bold white on red" if n_nan else "green")
        note.append("  +inf ")
        note.append(str(n_pinf), style="bold black on yellow" if n_pinf else "green")
        note.append("  -inf ")
        note.append(str(n_ninf), style="bold black on yellow" if n_ninf else "green")
        yield note
