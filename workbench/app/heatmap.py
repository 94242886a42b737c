"""A heatmap of a 2-D array as a rich renderable of '▀' half blocks.

Each terminal cell shows two vertically stacked values: the foreground colour
is the upper cell, the background the lower.  Arrays larger than the space are
block-averaged (NaN-aware).  NaN is magenta, +Inf bright yellow, -Inf cyan,
so non-finite values stay visible even after downsampling (a block holding one
NaN is drawn as NaN).
"""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from workbench.app.fmt import fmt_num

NAN_RGB = (255, 0, 255)
POS_INF_RGB = (255, 255, 0)
NEG_INF_RGB = (0, 255, 255)

# Diverging (signed data) and sequential (one-signed data) colour ramps.
_DIVERGING = [(49, 54, 149), (116, 173, 209), (224, 243, 248), (253, 174, 97), (165, 0, 38)]
_SEQUENTIAL = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]


def _ramp(stops, t):
    """Interpolate colour stops at t in [0, 1] (array) -> (..., 3) uint8."""
    stops = np.asarray(stops, dtype=np.float64)
    pos = np.clip(t, 0.0, 1.0) * (len(stops) - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, len(stops) - 2)
    frac = (pos - lo)[..., None]
    return (stops[lo] * (1 - frac) + stops[lo + 1] * frac).astype(np.uint8)


def downsample(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Block-average a 2-D float array to at most rows x cols; non-finite wins.

    A block containing NaN becomes NaN; otherwise one containing +Inf/-Inf
    becomes that infinity (if both, NaN).
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D slice, got shape {a.shape}")
    r, c = a.shape
    rows, cols = max(1, min(rows, r)), max(1, min(cols, c))
    if (rows, cols) == (r, c):
        return a
    re = np.linspace(0, r, rows + 1).astype(int)
    ce = np.linspace(0, c, cols + 1).astype(int)
    out = np.empty((rows, cols))
    for i in range(rows):
        block_r = a[re[i]:max(re[i + 1], re[i] + 1)]
        for j in range(cols):
            block = block_r[:, ce[j]:max(ce[j + 1], ce[j] + 1)]
            if np.isnan(block).any():
                out[i, j] = np.nan
                continue
            pinf, ninf = np.isposinf(block).any(), np.isneginf(block).any()
            if pinf and ninf:
                out[i, j] = np.nan
            elif pinf:
                out[i, j] = np.inf
            elif ninf:
                out[i, j] = -np.inf
            else:
                out[i, j] = block.mean()
    return out


def finite_range(a: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite values, (0, 0) when there are none."""
    finite = np.isfinite(a)
    if not finite.any():
        return 0.0, 0.0
    return float(a[finite].min()), float(a[finite].max())


def colours(a: np.ndarray, lo=None, hi=None) -> tuple[np.ndarray, float, float, bool]:
    """Map a float array to RGB on [lo, hi] (default: its finite range);
    returns (rgb, lo, hi, diverging)."""
    finite = np.isfinite(a)
    if lo is None or hi is None:
        lo, hi = finite_range(a)
    diverging = lo < 0 < hi
    if diverging:
        m = max(-lo, hi)
        t = (np.where(finite, a, 0.0) / m + 1.0) / 2.0
        rgb = _ramp(_DIVERGING, t)
    else:
        span = (hi - lo) or 1.0
        t = (np.where(finite, a, lo) - lo) / span
        rgb = _ramp(_SEQUENTIAL, t)
    rgb[np.isnan(a)] = NAN_RGB
    rgb[np.isposinf(a)] = POS_INF_RGB
    rgb[np.isneginf(a)] = NEG_INF_RGB
    return rgb, lo, hi, diverging


class Heatmap:
    """Rich renderable: heatmap of a 2-D array with a one-line legend."""

    def __init__(self, values, title: str = "", max_height: int | None = None):
        self.values = np.asarray(values)
        self.title = title
        self.max_height = max_height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        a = self.values
        if a.ndim == 1:
            a = a[None, :]
        elif a.ndim == 0:
            a = a.reshape(1, 1)
        if a.ndim != 2:
            yield Text(f"heatmap needs a 1-D or 2-D slice; this one is {a.shape}; "
                       "narrow it, e.g. [0, :, :]", style="yellow")
            return
        if a.dtype == bool:
            a = a.astype(np.float64)
        if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
            yield Text(f"no heatmap for dtype {a.dtype}", style="yellow")
            return
        width = max(1, options.max_width)
        height = options.height or self.max_height or 12
        if self.max_height:
            height = min(height, self.max_height)
        cell_rows = max(1, height - 1) * 2  # one line for the legend
        small = downsample(a, cell_rows, width)
        lo, hi = finite_range(a.astype(np.float64))
        rgb, lo, hi, diverging = colours(small, lo, hi)
        if small.shape[0] % 2:
            pad = np.zeros((1, small.shape[1], 3), dtype=np.uint8)
            rgb = np.concatenate([rgb, pad])
            odd = True
        else:
            odd = False
        n_lines = rgb.shape[0] // 2
        for y in range(n_lines):
            segs = []
            for x in range(rgb.shape[1]):
                up = rgb[2 * y, x]
                down = rgb[2 * y + 1, x]
                bottom_blank = odd and y == n_lines - 1
                style = Style(color=Color.from_rgb(*map(int, up)),
                              bgcolor=None if bottom_blank else Color.from_rgb(*map(int, down)))
                segs.append(Segment("▀", style))
            yield from segs
            yield Segment.line()
        legend = Text()
        legend.append(f"{a.shape[0]}x{a.shape[1]}", style="bold")
        if small.shape != a.shape:
            legend.append(f"→{small.shape[0]}x{small.shape[1]}", style="dim")
        n_nan = int(np.isnan(a).sum()) if a.dtype.kind == "f" else 0
        n_pinf = int(np.isposinf(a).sum()) if a.dtype.kind == "f" else 0
        n_ninf = int(np.isneginf(a).sum()) if a.dtype.kind == "f" else 0
        for count, label, rgbv in ((n_nan, "nan", NAN_RGB), (n_pinf, "+inf", POS_INF_RGB),
                                   (n_ninf, "-inf", NEG_INF_RGB)):
            if count:
                legend.append(" █", style=Style(color=Color.from_rgb(*rgbv)))
                legend.append(f"{label} {count}", style="bold")
        legend.append(f"  {fmt_num(lo)} ")
        stops = _DIVERGING if diverging else _SEQUENTIAL
        for rgbv in _ramp(stops, np.linspace(0, 1, 8)):
            legend.append("█", style=Style(color=Color.from_rgb(*map(int, rgbv))))
        legend.append(f" {fmt_num(hi)}")
        legend.truncate(width)
        yield legend
