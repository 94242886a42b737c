"""Convolution and pooling layers over NCHW input."""

from __future__ import annotations

import core
from core.nn import init as _init
from core.nn.module import Module
from core.tensor import Variable

__all__ = ["Conv2D", "Conv2d", "MaxPool2D", "MaxPool2d", "AvgPool2D",
           "AvgPool2d"]


def _pair(v):
    if isinstance(v, (tuple, list)):
        return tuple(int(a) for a in v)
    return (int(v), int(v))


class Conv2D(Module):
    """``conv2d(x, weight, stride, padding) + bias``; weight is
    (out_channels, in_channels, kH, kW), input NCHW."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1,
                 padding=0, use_bias=True, kernel_initializer="he_uniform",
                 dtype="float32", name=None):
        super().__init__(name=name)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = _pair(kernel_size)
        self.stride = stride
        self.padding = padding
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        self.weight = Variable(_init.get(kernel_initializer)(shape, dtype=dtype),
                               name="weight")
        self.bias = Variable(_init.zeros((self.out_channels,), dtype),
                             name="bias") if use_bias else None

    def forward(self, x):
        y = core.conv2d(x, self.weight, stride=self.stride, padding=self.padding)
        if self.bias is not None:
            y = y + core.reshape(self.bias, (1, self.out_channels, 1, 1))
        return y

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class _Pool2D(Module):
    """A pooling layer: ``pool(x, kernel_size, stride=kernel_size,
    padding)`` with ``pool`` the class's op."""

    pool = None

    def __init__(self, kernel_size, stride=None, padding=0, name=None):
        super().__init__(name=name)
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding

    def forward(self, x):
        return type(self).pool(x, self.kernel_size, stride=self.stride,
                               padding=self.padding)

    def extra_repr(self):
        return f"{self.kernel_size}, stride={self.stride}"


class MaxPool2D(_Pool2D):
    """``max_pool2d(x, kernel_size, stride=kernel_size, padding)``."""

    pool = staticmethod(core.max_pool2d)


class AvgPool2D(_Pool2D):
    """``avg_pool2d(x, kernel_size, stride=kernel_size, padding)``."""

    pool = staticmethod(core.avg_pool2d)


Conv2d = Conv2D
MaxPool2d = MaxPool2D
AvgPool2d = AvgPool2D
