"""Multi-head scaled dot-product attention."""

from __future__ import annotations

import math

import numpy as np

import core
from core.errors import ShapeError
from core.nn.layers import Dense
from core.nn.module import Module
from core.tensor import Tensor

__all__ = ["MultiHeadAttention", "causal_mask"]


def causal_mask(t_q, t_k=None):
    """(t_q, t_k) bool numpy mask, True where query i may attend key j <= i
    (aligned at the end when t_k > t_q, as with a cache)."""
    t_k = t_q if t_k is None else t_k
    return np.tril(np.ones((t_q, t_k), dtype=bool), k=t_k - t_q)


class MultiHeadAttention(Module):
    """``mha(query, key=None, value=None, mask=None, causal=None)``.

    Inputs are (B, T, embed_dim); key and value default to query (self
    attention).  ``mask`` is a bool array broadcastable to (B, heads, Tq, Tk)
    — (Tq, Tk) or (B, Tq, Tk) or (B, 1, Tq, Tk) — True where attention is
    allowed.  ``causal=True`` (here or at construction) adds the causal mask.
    """

    def __init__(self, embed_dim, num_heads, causal=False, use_bias=True,
                 dtype="float32", name=None):
        super().__init__(name=name)
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by "
                             f"num_heads {num_heads}")
        self.embed_dim = int(embed_dim)
        self.num_heads = int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.causal = bool(causal)
        kw = dict(use_bias=use_bias, dtype=dtype)
        self.q_proj = Dense(embed_dim, embed_dim, **kw)
        self.k_proj = Dense(embed_dim, embed_dim, **kw)
        self.v_proj = Dense(embed_dim, embed_dim, **kw)
        self.out_proj = Dense(embed_dim, embed_dim, **kw)

    def _heads(self, x):
        b, t, _ = x.shape
        x = core.reshape(x, (b, t, self.num_heads, self.head_dim))
        return core.transpose(x, (0, 2, 1, 3))

    def forward(self, query, key=None, value=None, mask=None, causal=None,
                return_weights=False):
        query = core.as_tensor(query)
        key = query if key is None else core.as_tensor(key)
        value = key if value is None else core.as_tensor(value)
        for nm, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim != 3 or t.shape[-1] != self.embed_dim:
                raise ShapeError(f"MultiHeadAttention: {nm} must be (batch, "
                                 f"time, {self.embed_dim}), got {tuple(t.shape)}")
        b, tq, _ = query.shape
        tk = key.shape[1]
        q = self._heads(self.q_proj(query))
        k = self._heads(self.k_proj(key))
        v = self._heads(self.v_proj(value))
        scale = 1.0 / math.sqrt(self.head_dim)
        scores = (q @ core.transpose(k, (0, 1, 3, 2))) * scale
        allowed = None
        if causal if causal is not None else self.causal:
            allowed = causal_mask(tq, tk)
        if mask is not None:
            m = mask.numpy() if isinstance(mask, Tensor) else np.asarray(mask)
            m = m.astype(bool)
            if m.ndim == 3:
                m = m[:, None]
            allowed = m if allowed is None else np.logical_and(allowed, m)
        if allowed is not None:
            bias = np.where(allowed, 0.0, -1e9).astype(scores.dtype)
            dev = scores.device
            if dev is not core.devices.CPU:
                bias = dev.backend.from_host(bias, dev.index)
            scores = scores + bias
        weights = core.softmax(scores, axis=-1)
        out = weights @ v                                  # (B, H, Tq, D)
        out = core.reshape(core.transpose(out, (0, 2, 1, 3)),
                           (b, tq, self.embed_dim))
        out = self.out_proj(out)
        return (out, weights) if return_weights else out

    def extra_repr(self):
        return f"{self.embed_dim}, num_heads={self.num_heads}"
