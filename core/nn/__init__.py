"""Layers and models: ``Module`` tracks variables and submodules by
attribute; layers are Modules; every module call pushes its name scope."""

from core.nn import init
from core.nn.activations import (
    ELU, GELU, Identity, LeakyReLU, LogSoftmax, ReLU, SiLU, Sigmoid, Softmax,
    Softplus, Tanh,
)
from core.nn.attention import MultiHeadAttention, causal_mask
from core.nn.conv import (
    AvgPool2D, AvgPool2d, Conv2D, Conv2d, MaxPool2D, MaxPool2d,
)
from core.nn.layers import (
    BatchNorm, BatchNorm1d, BatchNorm2d, Dense, Dropout, Embedding, Flatten,
    LayerNorm, Linear,
)
from core.nn.module import Module, ModuleList, Sequential
from core.nn.recurrent import GRU, LSTM

__all__ = [
    "Module", "Sequential", "ModuleList", "Dense", "Linear", "Flatten",
    "Embedding", "Dropout", "LayerNorm", "BatchNorm", "BatchNorm1d",
    "BatchNorm2d", "Conv2D", "Conv2d", "MaxPool2D", "MaxPool2d", "AvgPool2D",
    "AvgPool2d", "LSTM", "GRU", "MultiHeadAttention", "causal_mask", "ReLU",
    "Tanh", "Sigmoid", "GELU", "Softmax", "LogSoftmax", "LeakyReLU", "ELU",
    "SiLU", "Softplus", "Identity", "init",
]
