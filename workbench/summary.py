"""Tensor summaries with a bounded cost.

``summarize(array, device)`` returns a :class:`TensorSummary`.  Arrays
above ``SAMPLE_THRESHOLD`` elements are summarized from a strided *view*
(one step per axis, no copy of the whole array), so a 1e9-element tensor
summarizes in milliseconds; ``note`` then says ``sampled 1 in N``.
Device arrays (cupy, the simulated GPU) are sampled on the device first and
only the sample is copied to the host.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.records import TensorSummary

SAMPLE_THRESHOLD = 1 << 20     # elements; above this, summarize a sample
SAMPLE_TARGET = 1 << 18        # roughly how many elements a sample holds
N_VALUES = 6                   # values shown in ``sample``


def _device_name(device) -> str:
    if device is None:
        return "cpu"
    return str(device)


def to_host(arr, device=None):
    """A numpy view/copy of ``arr`` (any backend)."""
    if isinstance(arr, np.ndarray) and type(arr) is np.ndarray:
        return arr
    if device is not None and hasattr(device, "backend"):
        try:
            return np.asarray(device.backend.to_host(arr))
        except Exception:
            pass
    get = getattr(arr, "get", None)        # cupy
    if callable(get):
        return np.asarray(get())
    return np.asarray(arr)


def strided_view(arr, target=SAMPLE_TARGET):
    """(view, step_product): a per-axis strided view with ~``target`` elements."""
    shape = arr.shape
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if n <= target or not shape:
        return arr, 1
    # per-axis step s so that prod(ceil(d / s)) ~ target; spread evenly
    steps = [1] * len(shape)
    remaining = n / target
    # largest axes get the steps first
    order = sorted(range(len(shape)), key=lambda i: -shape[i])
    axes_left = len([d for d in shape if d > 1])
    for i in order:
        d = shape[i]
        if d <= 1 or remaining <= 1:
            continue
        s = int(math.ceil(remaining ** (1.0 / max(axes_left, 1))))
        s = max(1, min(s, d))
        steps[i] = s
        remaining /= s
        axes_left -= 1
    view = arr[tuple(slice(None, None, s) for s in steps)]
    return view, int(np.prod(steps))


def shape_only(shape, dtype, device, note="values not kept") -> TensorSummary:
    """A summary that knows only the metadata."""
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    return TensorSummary(shape=tuple(int(d) for d in shape), dtype=str(dtype),
                         device=_device_name(device), numel=n,
                         values_kept=False, note=note, has_stats=False)


def summarize(arr, device=None, values_kept=True,
              threshold=SAMPLE_THRESHOLD) -> TensorSummary:
    """Statistics of ``arr`` (numpy or device array), bounded in cost."""
    shape = tuple(int(d) for d in arr.shape)
    dtype = arr.dtype
    numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
    note = ""
    if numel > threshold:
        view, step = strided_view(arr)
        host = to_host(view, device)
        note = f"sampled 1 in {step} ({host.size:,} of {numel:,} elements)"
    else:
        host = to_host(arr, device)
    kind = dtype.kind
    dev = _device_name(device)
    if numel == 0:
        return TensorSummary(shape, str(dtype), dev, 0, values_kept=values_kept,
                             note=note or "empty")
    flat = host.reshape(-1)
    sample = tuple(_as_float(v) for v in flat[:N_VALUES])
    if kind == "b":
        nz = int(np.count_nonzero(flat))
        return TensorSummary(shape, str(dtype), dev, numel, min=float(nz > 0 and flat.min()),
                             max=float(flat.max()), mean=nz / flat.size,
                             std=None, zero_count=flat.size - nz, sample=sample,
                             values_kept=values_kept, note=note)
    if kind not in "iufc":
        return TensorSummary(shape, str(dtype), dev, numel, sample=(),
                             values_kept=values_kept,
                             note=(note + " " if note else "") + "non-numeric",
                             has_stats=False)
    if kind == "c":
        flat = np.abs(flat)
        note = (note + "; " if note else "") + "stats of |z|"
    zeros = int(flat.size - np.count_nonzero(flat))
    if kind == "f" or kind == "c":
        with np.errstate(all="ignore"):
            finite_mask = np.isfinite(flat)
            n_finite = int(np.count_nonzero(finite_mask))
            if n_finite == flat.size:
                fin = flat
                nan = inf = 0
            else:
                nan = int(np.count_nonzero(np.isnan(flat)))
                inf = flat.size - n_finite - nan
                fin = flat[finite_mask]
            if fin.size:
                f64 = fin.astype(np.float64, copy=False)
                mn, mx = float(f64.min()), float(f64.max())
                mean, std = float(f64.mean()), float(f64.std())
            else:
                mn = mx = mean = std = None
    else:
        nan = inf = 0
        f64 = flat.astype(np.float64)
        mn, mx = float(f64.min()), float(f64.max())
        mean, std = float(f64.mean()), float(f64.std())
    return TensorSummary(shape, str(dtype), dev, numel, min=mn, max=mx,
                         mean=mean, std=std, nan_count=nan, inf_count=inf,
                         zero_count=zeros, sample=sample,
                         values_kept=values_kept, note=note)


def _as_float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def scalar_repr(x, limit=60) -> str:
    """A short repr of a non-tensor operand."""
    r = repr(x)
    if len(r) > limit:
        r = r[:limit - 3] + "..."
    return r


def nonfinite_kind(arr):
    """None if every value of a float array is finite, else 'nan' or 'inf'.

    A cheap sum screens first (sums of finite values are finite unless
    they overflow, which the full check then settles).
    """
    if arr.dtype.kind not in "fc":
        return None
    with np.errstate(all="ignore"):
        s = arr.sum()
        try:
            finite = bool(math.isfinite(float(abs(s))))
        except (TypeError, ValueError, OverflowError):
            finite = False
        if finite:
            return None
        xp = _xp_of(arr)
        if bool(xp.isnan(arr).any()):
            return "nan"
        if bool(xp.isinf(arr).any()):
            return "inf"
    return None


def _xp_of(arr):
    if type(arr) is np.ndarray:
        return np
    mod = type(arr).__module__.split(".")[0]
    if mod == "cupy":
        import cupy
        return cupy
    return np
