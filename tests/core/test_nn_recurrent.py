"""LSTM and GRU against hand-unrolled numpy references."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import nn
from tests.core.test_nn_helpers import check_grads, projection


def sig(z):
    return 1 / (1 + np.exp(-z))


def lstm_ref(x, W, U, b, lengths=None):
    B, T, _ = x.shape
    H = U.shape[0]
    h = np.zeros((B, H))
    c = np.zeros((B, H))
    outs = np.zeros((B, T, H))
    for t in range(T):
        z = x[:, t] @ W + h @ U + b
        i, f = sig(z[:, :H]), sig(z[:, H:2 * H])
        g, o = np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        live = np.ones((B, 1), bool) if lengths is None else (t < lengths)[:, None]
        h = np.where(live, h_new, h)
        c = np.where(live, c_new, c)
        outs[:, t] = np.where(live, h_new, 0)
    return outs, h, c


def gru_ref(x, W, U, b, bh, lengths=None):
    B, T, _ = x.shape
    H = U.shape[0]
    h = np.zeros((B, H))
    outs = np.zeros((B, T, H))
    for t in range(T):
        xw = x[:, t] @ W + b
        hw = h @ U + bh
        r = sig(xw[:, :H] + hw[:, :H])
        z = sig(xw[:, H:2 * H] + hw[:, H:2 * H])
        n = np.tanh(xw[:, 2 * H:] + r * hw[:, 2 * H:])
        h_new = (1 - z) * n + z * h
        live = np.ones((B, 1), bool) if lengths is None else (t < lengths)[:, None]
        h = np.where(live, h_new, h)
        outs[:, t] = np.where(live, h_new, 0)
    return outs, h


def _randomize(layer, rng):
    for v in layer.variables:
        v.assign(rng.standard_normal(v.shape) * 0.5)


def test_lstm_matches_numpy_reference():
    rng = np.random.default_rng(0)
    lstm = nn.LSTM(3, 4, dtype="float64")
    _randomize(lstm, rng)
    x = rng.standard_normal((2, 5, 3))
    out, (h, c) = lstm(core.tensor(x))
    ro, rh, rc = lstm_ref(x, lstm.kernel.numpy(), lstm.recurrent_kernel.numpy(),
                          lstm.bias.numpy())
    assert out.shape == (2, 5, 4) and h.shape == c.shape == (2, 4)
    np.testing.assert_allclose(out.numpy(), ro, atol=1e-12)
    np.testing.assert_allclose(h.numpy(), rh, atol=1e-12)
    np.testing.assert_allclose(c.numpy(), rc, atol=1e-12)


def test_gru_matches_numpy_reference():
    rng = np.random.default_rng(1)
    gru = nn.GRU(3, 4, dtype="float64")
    _randomize(gru, rng)
    x = rng.standard_normal((2, 5, 3))
    out, h = gru(core.tensor(x))
    ro, rh = gru_ref(x, gru.kernel.numpy(), gru.recurrent_kernel.numpy(),
                     gru.bias.numpy(), gru.recurrent_bias.numpy())
    np.testing.assert_allclose(out.numpy(), ro, atol=1e-12)
    np.testing.assert_allclose(h.numpy(), rh, atol=1e-12)


def test_variable_lengths_keep_state_on_padded_steps():
    rng = np.random.default_rng(2)
    lengths = np.array([5, 2, 0])
    x = rng.standard_normal((3, 5, 3))
    lstm = nn.LSTM(3, 4, dtype="float64")
    _randomize(lstm, rng)
    out, (h, c) = lstm(core.tensor(x), lengths=lengths)
    ro, rh, rc = lstm_ref(x, lstm.kernel.numpy(), lstm.recurrent_kernel.numpy(),
                          lstm.bias.numpy(), lengths)
    np.testing.assert_allclose(out.numpy(), ro, atol=1e-12)
    np.testing.assert_allclose(h.numpy(), rh, atol=1e-12)
    # the short sequence's state equals running it alone, unpadded
    _, (h1, _) = lstm(core.tensor(x[1:2, :2]))
    np.testing.assert_allclose(h.numpy()[1], h1.numpy()[0], atol=1e-12)
    assert np.all(h.numpy()[2] == 0) and np.all(out.numpy()[1, 2:] == 0)

    gru = nn.GRU(3, 4, dtype="float64")
    _randomize(gru, rng)
    mask = np.arange(5)[None] < lengths[:, None]
    out_g, hg = gru(core.tensor(x), mask=mask)
    ro, rh = gru_ref(x, gru.kernel.numpy(), gru.recurrent_kernel.numpy(),
                     gru.bias.numpy(), gru.recurrent_bias.numpy(), lengths)
    np.testing.assert_allclose(out_g.numpy(), ro, atol=1e-12)
    np.testing.assert_allclose(hg.numpy(), rh, atol=1e-12)


def test_recurrent_gradients():
    rng = np.random.default_rng(3)
    x = core.tensor(rng.standard_normal((2, 3, 2)))
    lengths = np.array([3, 2])
    lstm = nn.LSTM(2, 3, dtype="float64")
    gru = nn.GRU(2, 3, dtype="float64")
    r = projection((2, 3, 3))
    rh = projection((2, 3), seed=2)

    def f_lstm():
        out, (h, c) = lstm(x, lengths=lengths)
        return core.sum(out * r) + core.sum(c * rh)

    def f_gru():
        out, h = gru(x, lengths=lengths)
        return core.sum(out * r) + core.sum(h * rh)

    check_grads(f_lstm, lstm.trainable_variables + [x])
    check_grads(f_gru, gru.trainable_variables + [x])


def test_initial_state_and_errors():
    lstm = nn.LSTM(2, 3)
    x = core.randn(1, 4, 2)
    h0 = core.ones((1, 3))
    out_a, _ = lstm(x, initial_state=(h0, h0))
    out_b, _ = lstm(x)
    assert not np.allclose(out_a.numpy(), out_b.numpy())
    with pytest.raises(core.ShapeError, match=r"expected input \(batch, time, 2\)"):
        lstm(core.randn(1, 4, 3))
    with pytest.raises(core.ShapeError, match="lengths must be in"):
        lstm(x, lengths=[7])
