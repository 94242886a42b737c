"""LSTM and GRU: a Python loop over time (eager, so every step's ops are
visible to hooks).  Input is batch-first (B, T, F).  Variable-length
batches: pass ``lengths=`` (B,) or ``mask=`` (B, T) (True = a real step);
on padded steps the state is carried unchanged and the output is zero.

Gate layouts follow PyTorch: LSTM (i, f, g, o); GRU (r, z, n) with
``n = tanh(x W_n + b_n + r * (h U_n + c_n))`` and
``h' = (1 - z) * n + z * h``.  Kernels are (F, kH) and (H, kH), applied
as ``x @ kernel``.
"""

from __future__ import annotations

import numpy as np

import core
from core.errors import ShapeError
from core.nn import init as _init
from core.nn.module import Module
from core.tensor import Tensor, Variable

__all__ = ["LSTM", "GRU"]


def _step_masks(x, lengths, mask):
    """(B, 1) bool numpy masks per time step, or None (no padding)."""
    b, t = x.shape[0], x.shape[1]
    if lengths is not None and mask is not None:
        raise ValueError("give lengths= or mask=, not both")
    if lengths is not None:
        if isinstance(lengths, Tensor):
            lengths = lengths.numpy()
        lengths = np.asarray(lengths)
        if lengths.shape != (b,):
            raise ShapeError(f"lengths must have shape ({b},), got {lengths.shape}")
        if lengths.size and (lengths.min() < 0 or lengths.max() > t):
            raise ShapeError(f"lengths must be in [0, {t}], got {lengths.tolist()}")
        m = np.arange(t)[None, :] < lengths[:, None]
    elif mask is not None:
        m = mask.numpy() if isinstance(mask, Tensor) else np.asarray(mask)
        if m.shape != (b, t):
            raise ShapeError(f"mask must have shape ({b}, {t}), got {m.shape}")
        m = m.astype(bool)
    else:
        return None
    if m.all():
        return None
    dev = x.device
    cols = [np.ascontiguousarray(m[:, i:i + 1]) for i in range(t)]
    if dev is not core.devices.CPU:
        cols = [dev.backend.from_host(c, dev.index) for c in cols]
    return cols


class _RNN(Module):
    _gates = 1

    def __init__(self, input_size, hidden_size, kernel_initializer="glorot_uniform",
                 recurrent_initializer="glorot_uniform", dtype="float32",
                 name=None):
        super().__init__(name=name)
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        k = self._gates * self.hidden_size
        self.kernel = Variable(_init.get(kernel_initializer)(
            (self.input_size, k), dtype=dtype), name="kernel")
        self.recurrent_kernel = Variable(_init.get(recurrent_initializer)(
            (self.hidden_size, k), dtype=dtype), name="recurrent_kernel")
        self.bias = Variable(_init.zeros((k,), dtype), name="bias")

    def _check(self, x):
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ShapeError(
                f"{type(self).__name__}: expected input (batch, time, "
                f"{self.input_size}), got {tuple(x.shape)}")

    def _zeros(self, x):
        return core.zeros((x.shape[0], self.hidden_size), dtype=x.dtype,
                          device=x.device)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class LSTM(_RNN):
    """``outputs, (h, c) = lstm(x, initial_state=None, lengths=None)``;
    outputs is (B, T, H)."""

    _gates = 4

    def forward(self, x, initial_state=None, lengths=None, mask=None):
        x = core.as_tensor(x)
        self._check(x)
        H = self.hidden_size
        masks = _step_masks(x, lengths, mask)
        if initial_state is None:
            h = c = self._zeros(x)
        else:
            h, c = initial_state
        xw = x @ self.kernel + self.bias
        outs = []
        for t in range(x.shape[1]):
            gates = xw[:, t] + h @ self.recurrent_kernel
            i = core.sigmoid(gates[:, :H])
            f = core.sigmoid(gates[:, H:2 * H])
            g = core.tanh(gates[:, 2 * H:3 * H])
            o = core.sigmoid(gates[:, 3 * H:])
            c_new = f * c + i * g
            h_new = o * core.tanh(c_new)
            if masks is None:
                h, c = h_new, c_new
                outs.append(h_new)
            else:
                m = masks[t]
                h = core.where(m, h_new, h)
                c = core.where(m, c_new, c)
                outs.append(core.where(m, h_new, 0.0))
        return core.stack(outs, axis=1), (h, c)


class GRU(_RNN):
    """``outputs, h = gru(x, initial_state=None, lengths=None)``;
    outputs is (B, T, H)."""

    _gates = 3

    def __init__(self, input_size, hidden_size, **kwargs):
        super().__init__(input_size, hidden_size, **kwargs)
        self.recurrent_bias = Variable(
            _init.zeros((3 * self.hidden_size,), self.bias.dtype),
            name="recurrent_bias")

    def forward(self, x, initial_state=None, lengths=None, mask=None):
        x = core.as_tensor(x)
        self._check(x)
        H = self.hidden_size
        masks = _step_masks(x, lengths, mask)
        h = self._zeros(x) if initial_state is None else initial_state
        xw = x @ self.kernel + self.bias
        outs = []
        for t in range(x.shape[1]):
            xt = xw[:, t]
            hw = h @ self.recurrent_kernel + self.recurrent_bias
            rz = core.sigmoid(xt[:, :2 * H] + hw[:, :2 * H])
            r = rz[:, :H]
            z = rz[:, H:]
            n = core.tanh(xt[:, 2 * H:] + r * hw[:, 2 * H:])
            h_new = n + z * (h - n)
            if masks is None:
                h = h_new
                outs.append(h_new)
            else:
                m = masks[t]
                h = core.where(m, h_new, h)
                outs.append(core.where(m, h_new, 0.0))
        return core.stack(outs, axis=1), h
