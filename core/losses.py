"""Loss functions.  Each takes ``reduction="mean" | "sum" | "none"``.

* ``softmax_cross_entropy(logits, labels)``: labels are integer class ids
  (shape ``logits.shape[:-1]``) or one-hot / probability rows (the shape of
  logits).  Computed as ``log_softmax`` (stable for large logits) then, for
  class ids, the one op ``nll_loss`` (as PyTorch's cross_entropy does).
* ``mse(pred, target)``.
* ``binary_cross_entropy_with_logits(logits, labels)``:
  ``softplus(x) - x * y``, stable on both tails.
"""

from __future__ import annotations

import numpy as np

import core
from core import _dispatch as _D
from core._dispatch import apply, defop
from core.errors import DTypeError, ShapeError
from core.ops.raw_vjps import install, xp_of
from core.tensor import Tensor, _make

__all__ = ["softmax_cross_entropy", "sparse_softmax_cross_entropy", "nll_loss",
           "cross_entropy", "mse", "mean_squared_error",
           "binary_cross_entropy_with_logits"]

_REDUCTIONS = ("mean", "sum", "none")


# -- negative log likelihood of integer labels: one op ----------------------


def _nll_make(xp):
    def nll_loss_k(logp, labels, axis, reduction):
        if logp.ndim == 2 and axis == 1:
            loss = -logp[xp.arange(logp.shape[0]), labels]
        else:
            picked = xp.take_along_axis(logp, xp.expand_dims(labels, axis),
                                        axis=axis)
            loss = -xp.squeeze(picked, axis=axis)
        if reduction == "none":
            return loss
        total = xp.sum(loss, keepdims=True).reshape(())
        if reduction == "mean":
            total = total / max(loss.size, 1)
        return total
    return nll_loss_k


def _nll_vjp(g, ans, logp, labels, axis, reduction):
    """-onehot(labels) * g (scaled by 1/N for the mean), in engine ops."""
    dev = logp._device
    xp = dev.xp
    n = logp.shape[axis]
    shape = [1] * logp.ndim
    shape[axis] = n
    onehot = _make((xp.expand_dims(labels._data, axis)
                    == xp.arange(n).reshape(shape)).astype(logp.dtype), dev)
    if reduction == "none":
        return onehot * core.expand_dims(-g, axis)
    scale = -1.0 / max(logp.size // n, 1) if reduction == "mean" else -1.0
    return onehot * (g * scale)


def _nll_twin(g, ans, logp, labels, axis, reduction):
    """``_nll_vjp`` on arrays (see core.ops.raw_vjps)."""
    xp = xp_of(logp)
    n = logp.shape[axis]
    shape = [1] * logp.ndim
    shape[axis] = n
    onehot = (xp.expand_dims(labels, axis)
              == xp.arange(n).reshape(shape)).astype(logp.dtype)
    if reduction == "none":
        return onehot * xp.expand_dims(-g, axis)
    scale = -1.0 / max(logp.size // n, 1) if reduction == "mean" else -1.0
    return onehot * (g * scale)


_NLL = defop("nll_loss", _nll_make, vjps=(_nll_vjp, None))
install("nll_loss", (_nll_twin, None))


def nll_loss(logp, labels, reduction="mean", axis=-1):
    """``-logp[..., label]`` for integer labels (the loss after
    ``log_softmax``), reduced."""
    logp = core.as_tensor(logp)
    if reduction not in _REDUCTIONS:
        _reduce(None, reduction, "nll_loss")
    axis = axis % logp.ndim
    ids = _class_ids(logp, labels, axis, "nll_loss")
    return apply(_NLL, (logp, ids), {"axis": axis, "reduction": reduction})


def _class_ids(logits, labels, axis, what):
    """Integer labels checked against logits, as a tensor on their device."""
    dev = logits.device
    lab = labels._data if isinstance(labels, Tensor) else np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise DTypeError(f"{what}: labels must be integer class ids, got "
                         f"{lab.dtype}\n  at {_where()}")
    want = logits.shape[:axis] + logits.shape[axis + 1:]
    if tuple(lab.shape) != want:
        raise ShapeError(
            f"{what}: integer labels must have shape {want} for logits of "
            f"shape {logits.shape}, got {tuple(lab.shape)}\n  at {_where()}")
    n = logits.shape[axis]
    if lab.size:
        lo, hi = int(lab.min()), int(lab.max())
        if lo < 0 or hi >= n:
            raise ShapeError(f"{what}: class ids must be in [0, {n}), got min "
                             f"{lo} max {hi}\n  at {_where()}")
    if isinstance(labels, Tensor) and labels.device is dev:
        return labels
    return _make(_raw(lab, dev), dev)


def _reduce(loss, reduction, what):
    if reduction == "mean":
        return core.mean(loss)
    if reduction == "sum":
        return core.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{what}: reduction must be one of {_REDUCTIONS}, "
                     f"got {reduction!r}")


def _where():
    loc = _D.user_location(3)
    return f"{loc[0]}:{loc[1]} in {loc[2]}" if loc else "<unknown>"


def _raw(x, dev):
    """The raw array of a label operand on ``dev`` (no gradient needed)."""
    if isinstance(x, Tensor):
        return x._data
    arr = np.asarray(x)
    if dev is not core.devices.CPU:
        arr = dev.backend.from_host(arr, dev.index)
    return arr


def softmax_cross_entropy(logits, labels, reduction="mean", axis=-1):
    """Cross entropy between ``softmax(logits)`` and ``labels``."""
    logits = core.as_tensor(logits)
    if reduction not in _REDUCTIONS:
        _reduce(None, reduction, "softmax_cross_entropy")
    if logits.dtype.kind != "f":
        raise DTypeError(f"softmax_cross_entropy: logits must be floating "
                         f"point, got {logits.dtype}\n  at {_where()}")
    axis = axis % logits.ndim
    dev = logits.device
    lab = labels._data if isinstance(labels, Tensor) else np.asarray(labels)
    if lab.dtype.kind in "iu":
        ids = _class_ids(logits, labels, axis, "softmax_cross_entropy")
        return apply(_NLL, (core.log_softmax(logits, axis=axis), ids),
                     {"axis": axis, "reduction": reduction})
    if tuple(lab.shape) != logits.shape:
        raise ShapeError(
            f"softmax_cross_entropy: one-hot labels must have the shape of "
            f"logits {logits.shape}, got {tuple(lab.shape)}\n  at {_where()}")
    target = labels if isinstance(labels, Tensor) else _make(
        _raw(lab.astype(logits.dtype), dev), dev)
    loss = -core.sum(target * core.log_softmax(logits, axis=axis), axis=axis)
    return _reduce(loss, reduction, "softmax_cross_entropy")


sparse_softmax_cross_entropy = softmax_cross_entropy
cross_entropy = softmax_cross_entropy


def mse(pred, target, reduction="mean"):
    """Mean squared error ``(pred - target) ** 2``."""
    pred = core.as_tensor(pred)
    tshape = tuple(getattr(target, "shape", np.shape(target)))
    if tshape != pred.shape:
        raise ShapeError(f"mse: pred {pred.shape} and target {tshape} differ"
                         f"\n  at {_where()}")
    d = pred - target
    return _reduce(d * d, reduction, "mse")


mean_squared_error = mse


def binary_cross_entropy_with_logits(logits, labels, reduction="mean",
                                     pos_weight=None):
    """``-[y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]``, stably."""
    logits = core.as_tensor(logits)
    tshape = tuple(getattr(labels, "shape", np.shape(labels)))
    if tshape != logits.shape:
        raise ShapeError(f"binary_cross_entropy_with_logits: logits "
                         f"{logits.shape} and labels {tshape} differ"
                         f"\n  at {_where()}")
    if not isinstance(labels, Tensor):
        labels = _make(_raw(np.asarray(labels, dtype=logits.dtype),
                            logits.device), logits.device)
    if pos_weight is None:
        loss = core.softplus(logits) - logits * labels
    else:
        # (1 - y) x + (1 + (w - 1) y) softplus(-x)
        coef = 1 + (pos_weight - 1) * labels
        loss = (1 - labels) * logits + coef * core.softplus(-logits)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")
