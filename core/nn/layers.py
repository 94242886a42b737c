"""Core layers: Dense, Flatten, Embedding, Dropout, LayerNorm, BatchNorm."""

from __future__ import annotations

import numpy as np

import core
from core import _dispatch as _D
from core.errors import ShapeError
from core.nn import activations as _act
from core.nn import init as _init
from core.nn.module import Module
from core.tensor import Tensor, Variable

__all__ = ["Dense", "Linear", "Flatten", "Embedding", "Dropout", "LayerNorm",
           "BatchNorm", "BatchNorm1d", "BatchNorm2d"]


def _shape_error(layer, x, msg):
    loc = _D.user_location(3)
    where = f"{loc[0]}:{loc[1]} in {loc[2]}" if loc else "<unknown>"
    path = ".".join(_D.scope) or layer.name
    return ShapeError(f"{type(layer).__name__} ({path}): {msg}; input has "
                      f"shape {tuple(x.shape)}\n  at {where}")


class Dense(Module):
    """``y = activation(x @ kernel + bias)``; kernel is (in, out)."""

    def __init__(self, in_features, out_features, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", dtype="float32", name=None):
        super().__init__(name=name)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.activation = _act.get(activation)
        self.kernel = Variable(_init.get(kernel_initializer)(
            (self.in_features, self.out_features), dtype=dtype), name="kernel")
        self.bias = Variable(_init.get(bias_initializer)(
            (self.out_features,), dtype=dtype), name="bias") if use_bias else None

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise _shape_error(self, x, f"expected last dimension "
                               f"{self.in_features}")
        y = x @ self.kernel
        if self.bias is not None:
            y = y + self.bias
        if self.activation is not None:
            y = self.activation(y)
        return y

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}"


Linear = Dense


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def forward(self, x):
        return core.reshape(x, (x.shape[0], -1))


class Embedding(Module):
    """Rows of a (num, dim) table looked up by integer ids."""

    def __init__(self, num, dim, embeddings_initializer="normal",
                 dtype="float32", name=None):
        super().__init__(name=name)
        self.num, self.dim = int(num), int(dim)
        self.weight = Variable(_init.get(embeddings_initializer)(
            (self.num, self.dim), dtype=dtype), name="weight")

    def forward(self, ids):
        if isinstance(ids, Tensor):
            data = ids._data
        else:
            data = np.asarray(ids)
            ids = data
        if data.dtype.kind not in "iu":
            raise ShapeError(f"Embedding: ids must be integers, got {data.dtype}")
        if data.size and (int(data.min()) < 0 or int(data.max()) >= self.num):
            raise ShapeError(f"Embedding: ids must be in [0, {self.num}); got "
                             f"min {int(data.min())} max {int(data.max())}")
        return self.weight[ids]

    def extra_repr(self):
        return f"{self.num}, {self.dim}"


class Dropout(Module):
    """Zero each element with probability ``rate`` while training and scale
    the rest by 1/(1-rate); the identity in eval mode.  Masks come from the
    engine's seeded generator."""

    def __init__(self, rate=0.5, name=None):
        super().__init__(name=name)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)

    def forward(self, x):
        return core.dropout(x, self.rate, training=self.training)

    def extra_repr(self):
        return f"rate={self.rate}"


def _moments(x, axes):
    mean = core.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    var = core.mean(centered * centered, axis=axes, keepdims=True)
    return centered, var


class LayerNorm(Module):
    """Normalize over the last ``len(normalized_shape)`` axes, then scale and
    shift (``gamma``, ``beta``)."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True,
                 dtype="float32", name=None):
        super().__init__(name=name)
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = float(eps)
        if elementwise_affine:
            self.gamma = Variable(_init.ones(self.normalized_shape, dtype),
                                  name="gamma")
            self.beta = Variable(_init.zeros(self.normalized_shape, dtype),
                                 name="beta")
        else:
            self.gamma = self.beta = None

    def forward(self, x):
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise _shape_error(self, x, f"expected trailing dimensions "
                               f"{self.normalized_shape}")
        axes = tuple(range(x.ndim - k, x.ndim))
        centered, var = _moments(x, axes)
        y = centered * core.rsqrt(var + self.eps)
        if self.gamma is not None:
            y = y * self.gamma + self.beta
        return y

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class BatchNorm(Module):
    """Batch normalization over the channel axis 1 of (N, C) or (N, C, ...)
    input (BatchNorm1d / BatchNorm2d).  Training uses batch statistics and
    updates ``running_mean``/``running_var`` (unbiased) with ``momentum``;
    eval mode uses the running statistics."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 dtype="float32", name=None):
        super().__init__(name=name)
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        shape = (self.num_features,)
        if affine:
            self.gamma = Variable(_init.ones(shape, dtype), name="gamma")
            self.beta = Variable(_init.zeros(shape, dtype), name="beta")
        else:
            self.gamma = self.beta = None
        self.running_mean = Variable(_init.zeros(shape, dtype), trainable=False,
                                     name="running_mean")
        self.running_var = Variable(_init.ones(shape, dtype), trainable=False,
                                    name="running_var")

    def forward(self, x):
        x = core.as_tensor(x)
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise _shape_error(self, x, f"expected (N, {self.num_features}, ...)")
        bshape = (1, self.num_features) + (1,) * (x.ndim - 2)
        axes = (0,) + tuple(range(2, x.ndim))
        if self.training:
            centered, var = _moments(x, axes)
            n = x.size // self.num_features
            with core.no_grad():
                m = self.momentum
                rm, rv = self.running_mean._data, self.running_var._data
                mean = x._data.mean(axis=axes)
                unbiased = var._data.reshape(-1) * (n / max(n - 1, 1))
                rm *= 1 - m
                rm += m * mean.astype(rm.dtype)
                rv *= 1 - m
                rv += m * unbiased.astype(rv.dtype)
            y = centered * core.rsqrt(var + self.eps)
        else:
            mean = core.reshape(self.running_mean, bshape)
            var = core.reshape(self.running_var, bshape)
            y = (x - mean) * core.rsqrt(var + self.eps)
        if self.gamma is not None:
            y = y * core.reshape(self.gamma, bshape) + core.reshape(self.beta, bshape)
        return y

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


BatchNorm1d = BatchNorm
BatchNorm2d = BatchNorm
