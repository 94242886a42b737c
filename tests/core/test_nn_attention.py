"""MultiHeadAttention against a numpy reference; causal and padding masks."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import nn
from tests.core.test_nn_helpers import check_grads, projection


def mha_ref(m, q, k, v, allowed=None):
    def proj(d, x):
        return x @ d.kernel.numpy() + d.bias.numpy()

    def heads(x):
        b, t, _ = x.shape
        return x.reshape(b, t, m.num_heads, m.head_dim).transpose(0, 2, 1, 3)

    Q = heads(proj(m.q_proj, q))
    K = heads(proj(m.k_proj, k))
    V = heads(proj(m.v_proj, v))
    s = Q @ K.transpose(0, 1, 3, 2) / np.sqrt(m.head_dim)
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    w = np.exp(s)
    w /= w.sum(-1, keepdims=True)
    o = (w @ V).transpose(0, 2, 1, 3).reshape(q.shape[0], q.shape[1], m.embed_dim)
    return proj(m.out_proj, o)


def test_self_and_cross_attention_match_reference():
    rng = np.random.default_rng(0)
    m = nn.MultiHeadAttention(8, 2, dtype="float64")
    x = rng.standard_normal((2, 4, 8))
    y = m(core.tensor(x))
    assert y.shape == (2, 4, 8)
    np.testing.assert_allclose(y.numpy(), mha_ref(m, x, x, x), atol=1e-12)
    mem = rng.standard_normal((2, 6, 8))
    y2, w = m(core.tensor(x), core.tensor(mem), return_weights=True)
    assert w.shape == (2, 2, 4, 6)
    np.testing.assert_allclose(y2.numpy(), mha_ref(m, x, mem, mem), atol=1e-12)


def test_causal_mask_hides_the_future():
    rng = np.random.default_rng(1)
    m = nn.MultiHeadAttention(8, 4, causal=True, dtype="float64")
    x = rng.standard_normal((1, 5, 8))
    y = m(core.tensor(x)).numpy()
    allowed = np.tril(np.ones((5, 5), bool))
    np.testing.assert_allclose(y, mha_ref(m, x, x, x, allowed), atol=1e-12)
    x2 = x.copy()
    x2[:, 3:] += 10.0                       # change only the future
    y2 = m(core.tensor(x2)).numpy()
    np.testing.assert_allclose(y2[:, :3], y[:, :3], atol=1e-12)
    assert not np.allclose(y2[:, 3:], y[:, 3:])
    # per-call override
    y_full = m(core.tensor(x), causal=False).numpy()
    np.testing.assert_allclose(y_full, mha_ref(m, x, x, x), atol=1e-12)


def test_padding_mask_and_gradient():
    rng = np.random.default_rng(2)
    m = nn.MultiHeadAttention(4, 2, dtype="float64")
    x = core.tensor(rng.standard_normal((2, 3, 4)))
    keep = np.array([[True, True, False], [True, True, True]])
    mask = keep[:, None, :] & np.ones((2, 3, 1), bool)      # (B, Tq, Tk)
    y = m(x, mask=mask).numpy()
    np.testing.assert_allclose(
        y, mha_ref(m, x.numpy(), x.numpy(), x.numpy(), mask[:, None]), atol=1e-12)
    r = projection((2, 3, 4))
    check_grads(lambda: core.sum(m(x, mask=mask, causal=True) * r),
                m.trainable_variables + [x])


def test_attention_scopes_and_errors():
    m = nn.MultiHeadAttention(4, 2, name="attn")
    seen = set()

    class H:
        def after_op(self, ev):
            seen.add(ev.scope)

    with core.hooks.attached(H()):
        m(core.randn(1, 2, 4))
    assert ("attn", "q_proj") in seen and ("attn",) in seen
    with pytest.raises(ValueError, match="not divisible"):
        nn.MultiHeadAttention(5, 2)
    with pytest.raises(core.ShapeError, match="query must be"):
        m(core.randn(1, 2, 3))
