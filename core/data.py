"""Input pipelines in the style of tf.data.

``Dataset.from_tensor_slices(x)`` slices tensors, numpy arrays, or tuples /
dicts of them along the first axis (a list is one array, as in tf.data);
``shuffle``, ``batch``, ``map``, ``repeat`` and ``take`` chain lazily;
iterating yields the same structure with ``core`` tensors as leaves.

Iteration is cheap: until an element has to exist on its own (``map``
before ``batch``), the pipeline moves integer indices, and ``batch``
gathers each leaf with one numpy indexing call (a slice when the indices
are consecutive), not one Python step per element per leaf.
"""

from __future__ import annotations

import itertools

import numpy as np

from core import random as _random
from core.tensor import Tensor, from_numpy

__all__ = ["Dataset"]


# -- nests of arrays -----------------------------------------------------------


def _map_nest(fn, nest):
    if isinstance(nest, dict):
        return {k: _map_nest(fn, v) for k, v in nest.items()}
    if isinstance(nest, tuple) and hasattr(nest, "_fields"):
        return type(nest)(*(_map_nest(fn, v) for v in nest))
    if isinstance(nest, tuple):
        return tuple(_map_nest(fn, v) for v in nest)
    return fn(nest)


def _leaves(nest, out):
    if isinstance(nest, dict):
        for v in nest.values():
            _leaves(v, out)
    elif isinstance(nest, tuple):
        for v in nest:
            _leaves(v, out)
    else:
        out.append(nest)
    return out


def _to_host(x):
    if isinstance(x, Tensor):
        return x.numpy()
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError("Dataset: cannot slice ragged or non-numeric data")
    return arr


def _to_tensor(a):
    if isinstance(a, Tensor):
        return a
    if isinstance(a, np.ndarray) or np.isscalar(a):
        return from_numpy(np.asarray(a))
    return a


def _stack_nest(elements):
    first = elements[0]
    if isinstance(first, dict):
        return {k: _stack_nest([e[k] for e in elements]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(_stack_nest([e[i] for e in elements])
                             for i in range(len(first))))
    if isinstance(first, tuple):
        return tuple(_stack_nest([e[i] for e in elements])
                     for i in range(len(first)))
    return np.stack([_to_host(e) for e in elements])


def _gather(arr, idx):
    if len(idx) and idx[-1] - idx[0] == len(idx) - 1 and \
            (len(idx) < 3 or (np.diff(idx) == 1).all()):
        return arr[idx[0]:idx[0] + len(idx)]
    return arr[idx]


# -- the dataset -----------------------------------------------------------------


class Dataset:
    """A lazy, re-iterable pipeline.  Build with :meth:`from_tensor_slices`."""

    def __init__(self, stream, source=None, cardinality=None, plain=False):
        # stream(): a fresh iterator.  If ``source`` is a nest of arrays, the
        # stream yields int indices into it; otherwise it yields elements.
        # ``plain``: the stream is 0..n-1 in order (a full-buffer shuffle may
        # then be drawn as one permutation).
        self._stream = stream
        self._source = source
        self._cardinality = cardinality
        self._plain = plain

    # -- constructors ------------------------------------------------------
    @classmethod
    def from_tensor_slices(cls, tensors):
        """Elements are ``tensors[i]`` (leaf by leaf) for i along axis 0."""
        source = _map_nest(_to_host, tensors)
        leaves = _leaves(source, [])
        if not leaves:
            raise ValueError("from_tensor_slices needs at least one array")
        n = None
        for a in leaves:
            if a.ndim == 0:
                raise ValueError("from_tensor_slices: cannot slice a 0-d value")
            if n is None:
                n = a.shape[0]
            elif a.shape[0] != n:
                raise ValueError(
                    f"from_tensor_slices: first dimensions differ "
                    f"({[x.shape[0] for x in leaves]})")
        return cls(lambda: iter(range(n)), source, n, plain=True)

    @classmethod
    def from_generator(cls, fn):
        """Elements from ``fn()`` (called afresh for every iteration)."""
        return cls(lambda: iter(fn()))

    @classmethod
    def range(cls, *args):
        return cls.from_tensor_slices(np.arange(*args))

    # -- transformations ---------------------------------------------------
    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """Sample from a buffer of ``buffer_size`` elements (tf.data's
        semantics; a buffer of the whole dataset is a uniform shuffle).
        ``seed`` fixes the order; without it the engine generator
        (``core.random.seed``) draws one."""
        if buffer_size < 1:
            raise ValueError("shuffle buffer_size must be >= 1")
        parent = self
        epoch = itertools.count()
        base = seed

        def stream():
            if base is None:
                rng = np.random.default_rng(_random.generator().integers(2**63))
            else:
                e = next(epoch) if reshuffle_each_iteration else 0
                rng = np.random.default_rng([int(base), e])
            n = parent._cardinality
            if parent._source is not None and n is not None and \
                    buffer_size >= n and parent._plain:
                return iter(rng.permutation(n).tolist())
            return _buffer_shuffle(parent._stream(), buffer_size, rng)

        return Dataset(stream, self._source, self._cardinality)

    def batch(self, batch_size, drop_remainder=False):
        """Consecutive elements stacked into batches along a new axis 0."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        parent = self
        source = self._source

        def stream():
            it = parent._stream()
            while True:
                chunk = list(itertools.islice(it, batch_size))
                if not chunk or (drop_remainder and len(chunk) < batch_size):
                    return
                if source is not None:
                    idx = np.asarray(chunk, dtype=np.int64)
                    yield _map_nest(lambda a: _gather(a, idx), source)
                else:
                    yield _stack_nest(chunk)

        card = None
        if self._cardinality is not None:
            card = (self._cardinality // batch_size if drop_remainder
                    else -(-self._cardinality // batch_size))
        return Dataset(stream, None, card)

    def map(self, fn):
        """Apply ``fn`` to each element (tuples are unpacked as arguments,
        as in tf.data)."""
        parent = self

        def stream():
            for el in parent._elements():
                el = _map_nest(_to_tensor, el)
                if isinstance(el, tuple) and not hasattr(el, "_fields"):
                    yield fn(*el)
                else:
                    yield fn(el)

        return Dataset(stream, None, self._cardinality)

    def repeat(self, count=None):
        """The dataset ``count`` times (forever when None)."""
        parent = self

        def stream():
            rounds = itertools.count() if count is None else range(count)
            for _ in rounds:
                yield from parent._stream()

        card = None if count is None or self._cardinality is None \
            else self._cardinality * count
        return Dataset(stream, self._source, card)

    def take(self, n):
        """At most the first ``n`` elements."""
        parent = self
        card = n if self._cardinality is None else min(n, self._cardinality)
        return Dataset(lambda: itertools.islice(parent._stream(), n),
                       self._source, card)

    def prefetch(self, buffer_size=None):
        """Accepted for tf.data compatibility; iteration is already lazy."""
        return self

    # -- iteration ---------------------------------------------------------
    def _elements(self):
        """Elements as nests of numpy arrays (or what map returned)."""
        if self._source is None:
            yield from self._stream()
            return
        source = self._source
        for i in self._stream():
            yield _map_nest(lambda a: a[i], source)

    def __iter__(self):
        for el in self._elements():
            yield _map_nest(_to_tensor, el)

    def as_numpy_iterator(self):
        for el in self._elements():
            yield _map_nest(lambda x: x.numpy() if isinstance(x, Tensor)
                            else np.asarray(x), el)

    def __len__(self):
        if self._cardinality is None:
            raise TypeError("the length of this dataset is unknown (or infinite)")
        return self._cardinality

    def cardinality(self):
        return -1 if self._cardinality is None else self._cardinality

    def __repr__(self):
        return f"<Dataset cardinality={self.cardinality()}>"


def _buffer_shuffle(it, buffer_size, rng):
    """tf.data's shuffle: fill a buffer, emit a random slot, refill it."""
    buf = list(itertools.islice(it, buffer_size))
    for item in it:
        j = int(rng.integers(len(buf)))
        yield buf[j]
        buf[j] = item
    order = rng.permutation(len(buf))
    for j in order:
        yield buf[j]
