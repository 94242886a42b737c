"""Activation modules (ReLU(), Tanh(), ...) over the ``core`` functions,
and ``get(name_or_callable)`` used by layers' ``activation=``."""

from __future__ import annotations

import core
from core.nn.module import Module

__all__ = ["ReLU", "Tanh", "Sigmoid", "GELU", "Softmax", "LogSoftmax",
           "LeakyReLU", "ELU", "SiLU", "Softplus", "Identity", "get"]


class ReLU(Module):
    def forward(self, x):
        return core.relu(x)


class Tanh(Module):
    def forward(self, x):
        return core.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return core.sigmoid(x)


class GELU(Module):
    def forward(self, x):
        return core.gelu(x)


class SiLU(Module):
    def forward(self, x):
        return core.silu(x)


class Softplus(Module):
    def forward(self, x):
        return core.softplus(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01, name=None):
        super().__init__(name=name)
        self.negative_slope = negative_slope

    def forward(self, x):
        return core.leaky_relu(x, self.negative_slope)


class ELU(Module):
    def __init__(self, alpha=1.0, name=None):
        super().__init__(name=name)
        self.alpha = alpha

    def forward(self, x):
        return core.elu(x, self.alpha)


class Softmax(Module):
    def __init__(self, axis=-1, name=None):
        super().__init__(name=name)
        self.axis = axis

    def forward(self, x):
        return core.softmax(x, axis=self.axis)


class LogSoftmax(Module):
    def __init__(self, axis=-1, name=None):
        super().__init__(name=name)
        self.axis = axis

    def forward(self, x):
        return core.log_softmax(x, axis=self.axis)


class Identity(Module):
    def forward(self, x):
        return x


_FUNCS = {
    "relu": lambda x: core.relu(x), "tanh": lambda x: core.tanh(x),
    "sigmoid": lambda x: core.sigmoid(x), "gelu": lambda x: core.gelu(x),
    "silu": lambda x: core.silu(x), "softplus": lambda x: core.softplus(x),
    "leaky_relu": lambda x: core.leaky_relu(x), "elu": lambda x: core.elu(x),
    "softmax": lambda x: core.softmax(x, axis=-1),
    "linear": None, "identity": None,
}


def get(activation):
    """None, a callable, or a name ('relu', 'tanh', ...) -> callable or None."""
    if activation is None or callable(activation):
        return activation
    try:
        fn = _FUNCS[activation]
    except KeyError:
        raise ValueError(f"unknown activation {activation!r}; use one of "
                         f"{', '.join(sorted(_FUNCS))} or a callable") from None
    if fn is None:
        return None
    return getattr(core, activation, fn) if activation != "softmax" else fn
