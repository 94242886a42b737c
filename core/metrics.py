"""Streaming metrics: ``update(...)`` accumulates, ``result()`` reads,
``reset()`` clears; ``metric(...)`` is update + result.

State lives in non-trainable ``core.Variable`` objects assigned as
attributes (so a ``core.Checkpoint`` saves it).  A new metric is a few
lines::

    class MaxAbs(core.metrics.Metric):
        def __init__(self):
            super().__init__()
            self.value = self.add_state("value", 0.0)
        def update(self, x):
            self.value.assign(max(float(self.value), float(abs(x).max())))
        def result(self):
            return self.value.value
"""

from __future__ import annotations

import numpy as np

from core.autodiff import no_grad
from core.errors import ShapeError
from core.tensor import Tensor, Variable, _make, as_dtype

__all__ = ["Metric", "Mean", "Sum", "Accuracy", "SparseCategoricalAccuracy",
           "CategoricalAccuracy"]


def _host(x):
    """A host numpy array of ``x`` (metrics read values, never differentiate)."""
    if isinstance(x, Tensor):
        return x.numpy()
    return np.asarray(x)


class Metric:
    """Base class; subclasses implement ``update`` and ``result``."""

    def __init__(self, name=None, dtype="float64"):
        self.name = name or type(self).__name__.lower()
        self.dtype = dtype
        self._states = {}

    def add_state(self, name, initial=0.0, dtype=None):
        """A non-trainable Variable reset to ``initial`` by ``reset()``."""
        arr = np.asarray(initial, dtype=as_dtype(dtype or self.dtype))
        v = Variable(arr, trainable=False, name=f"{self.name}/{name}",
                     device="cpu")
        self._states[name] = (v, arr.copy())
        return v

    @property
    def variables(self):
        return [v for v, _ in self._states.values()]

    def _checkpoint_items(self):
        return [(name, v) for name, (v, _) in self._states.items()]

    def update(self, *args, **kwargs):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset(self):
        for v, initial in self._states.values():
            v.assign(initial)

    def reset_state(self):
        self.reset()

    def update_state(self, *args, **kwargs):
        self.update(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        with no_grad():
            self.update(*args, **kwargs)
            return self.result()

    def __repr__(self):
        try:
            value = float(self.result())
        except Exception:  # an empty or unusual metric still prints
            value = "?"
        return f"{type(self).__name__}({self.name}={value})"


class _Ratio(Metric):
    """total / count, the shape of most metrics."""

    def __init__(self, name=None, dtype="float64"):
        super().__init__(name, dtype)
        self.total = self.add_state("total", 0.0)
        self.count = self.add_state("count", 0.0)

    def _add(self, values, weights=None):
        values = np.asarray(values, dtype=np.float64)
        if weights is None:
            t, c = values.sum(), values.size
        else:
            w = np.broadcast_to(np.asarray(weights, dtype=np.float64), values.shape)
            t, c = (values * w).sum(), w.sum()
        self.total._data += t
        self.count._data += c

    def result(self):
        t = self.total._data
        c = self.count._data
        out = t / c if float(c) else t * 0.0
        return _make(np.asarray(out, dtype=t.dtype), self.total._device)


class Mean(_Ratio):
    """The (weighted) mean of every value seen."""

    def update(self, values, sample_weight=None):
        v = _host(values)
        self._add(v, None if sample_weight is None else _host(sample_weight))


class Sum(Metric):
    """The sum of every value seen."""

    def __init__(self, name=None, dtype="float64"):
        super().__init__(name, dtype)
        self.total = self.add_state("total", 0.0)

    def update(self, values):
        self.total._data += _host(values).sum()

    def result(self):
        return _make(self.total._data.copy(), self.total._device)


def _check_shapes(what, y_true, y_pred):
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"{what}: y_true {y_true.shape} and y_pred "
                         f"{y_pred.shape} do not match")


class Accuracy(_Ratio):
    """Fraction of predictions equal to the labels: ``update(y_true, y_pred)``.

    ``y_pred`` with one more (last) axis than ``y_true`` is taken as class
    scores (argmax); a floating ``y_pred`` of the same shape as ``y_true``
    as probabilities of the positive class (threshold 0.5); otherwise the
    values are compared directly.
    """

    def __init__(self, name=None, threshold=0.5):
        super().__init__(name)
        self.threshold = threshold

    def update(self, y_true, y_pred, sample_weight=None):
        t, p = _host(y_true), _host(y_pred)
        if p.ndim == t.ndim + 1:
            p = p.argmax(axis=-1)
        elif p.dtype.kind == "f" and t.dtype.kind in "iub":
            p = p > self.threshold
        _check_shapes(type(self).__name__, t, p)
        self._add(t.astype(np.float64) == p.astype(np.float64),
                  None if sample_weight is None else _host(sample_weight))


class SparseCategoricalAccuracy(_Ratio):
    """Integer labels against class scores: ``update(y_true, y_pred)`` with
    y_pred shaped ``y_true.shape + (classes,)``."""

    def update(self, y_true, y_pred, sample_weight=None):
        t, p = _host(y_true), _host(y_pred)
        if t.ndim == p.ndim and t.shape[-1:] == (1,):
            t = t[..., 0]
        if p.ndim != t.ndim + 1:
            raise ShapeError(f"SparseCategoricalAccuracy: y_pred {p.shape} must "
                             f"be y_true {t.shape} plus a class axis")
        _check_shapes(type(self).__name__, t, p[..., 0])
        self._add(p.argmax(axis=-1) == t,
                  None if sample_weight is None else _host(sample_weight))


class CategoricalAccuracy(_Ratio):
    """One-hot labels against class scores (argmax of both)."""

    def update(self, y_true, y_pred, sample_weight=None):
        t, p = _host(y_true), _host(y_pred)
        _check_shapes(type(self).__name__, t, p)
        self._add(p.argmax(axis=-1) == t.argmax(axis=-1),
                  None if sample_weight is None else _host(sample_weight))
