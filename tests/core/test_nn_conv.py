"""core.nn convolution and pooling layers: shapes, values, gradients."""

from __future__ import annotations

import numpy as np

import core
from core import nn
from tests.core.test_nn_helpers import check_grads, projection


def conv_ref(x, w, b, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return out + b[None, :, None, None]


def test_conv2d_layer_matches_reference_and_gradient():
    conv = nn.Conv2D(2, 3, kernel_size=3, stride=2, padding=1, dtype="float64")
    conv.bias.assign(np.array([0.1, -0.2, 0.3]))
    assert conv.weight.shape == (3, 2, 3, 3)
    rng = np.random.default_rng(0)
    x = core.tensor(rng.standard_normal((2, 2, 5, 5)))
    y = conv(x)
    assert y.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(
        y.numpy(), conv_ref(x.numpy(), conv.weight.numpy(), conv.bias.numpy(), 2, 1),
        atol=1e-12)
    r = projection(y.shape)
    check_grads(lambda: core.sum(conv(x) * r), [conv.weight, conv.bias, x])


def test_pooling_layers_shapes_values_and_gradients():
    rng = np.random.default_rng(1)
    xn = rng.standard_normal((2, 3, 4, 6))
    x = core.tensor(xn)
    mp = nn.MaxPool2D(2)
    ap = nn.AvgPool2D(2)
    ym, ya = mp(x), ap(x)
    assert ym.shape == ya.shape == (2, 3, 2, 3)
    blocks = xn.reshape(2, 3, 2, 2, 3, 2)
    np.testing.assert_allclose(ym.numpy(), blocks.max(axis=(3, 5)))
    np.testing.assert_allclose(ya.numpy(), blocks.mean(axis=(3, 5)))
    r = projection(ym.shape)
    check_grads(lambda: core.sum(mp(x) * r), [x])
    check_grads(lambda: core.sum(ap(x) * r), [x])
    assert nn.MaxPool2D(3, stride=1, padding=1)(x).shape == (2, 3, 4, 6)


def test_small_cnn_end_to_end_gradient():
    model = nn.Sequential(nn.Conv2D(1, 2, 3, padding=1, dtype="float64"),
                          nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(),
                          nn.Dense(2 * 2 * 2, 3, dtype="float64"))
    x = core.tensor(np.random.default_rng(2).standard_normal((2, 1, 4, 4)))
    assert model(x).shape == (2, 3)
    r = projection((2, 3))
    check_grads(lambda: core.sum(model(x) * r), model.trainable_variables)
    rec = []

    class H:
        def after_op(self, ev):
            rec.append(ev.scope)

    with core.hooks.attached(H()):
        model(x)
    assert rec[0] == ("sequential", "layers", "0")
