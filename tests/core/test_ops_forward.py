"""Forward values of the ops against numpy, and the Tensor methods."""

from __future__ import annotations

import numpy as np
import pytest

import core

rng = np.random.default_rng(7)


def A(*shape):
    return rng.standard_normal(shape)


def close(t, ref, **kw):
    assert isinstance(t, core.Tensor)
    np.testing.assert_allclose(t.numpy(), ref, **kw)


@pytest.mark.parametrize("name,ref", [
    ("exp", np.exp), ("sin", np.sin), ("cos", np.cos), ("tanh", np.tanh),
    ("abs", np.abs), ("square", np.square), ("sign", np.sign),
    ("floor", np.floor), ("ceil", np.ceil), ("round", np.round),
    ("expm1", np.expm1), ("neg", np.negative),
    ("relu", lambda a: np.maximum(a, 0)),
    ("sigmoid", lambda a: 1 / (1 + np.exp(-a))),
    ("softplus", lambda a: np.log1p(np.exp(a))),
    ("silu", lambda a: a / (1 + np.exp(-a))),
    ("gelu", lambda a: 0.5 * a * (1 + np.tanh(
        np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))),
])
def test_unary_matches_numpy(name, ref):
    x = A(3, 4)
    close(getattr(core, name)(core.tensor(x)), ref(x), rtol=1e-12, atol=1e-15)


def test_positive_domain_unary():
    x = np.abs(A(5)) + 0.1
    for name, ref in [("log", np.log), ("log1p", np.log1p),
                      ("sqrt", np.sqrt), ("rsqrt", lambda a: 1 / np.sqrt(a))]:
        close(getattr(core, name)(core.tensor(x)), ref(x), rtol=1e-12)


def test_sigmoid_and_softplus_are_stable_on_tails():
    x = core.tensor([-1000.0, 0.0, 1000.0])
    close(core.sigmoid(x), [0.0, 0.5, 1.0])
    close(core.softplus(x), [0.0, np.log(2), 1000.0])
    assert core.isfinite(core.log_softmax(x * 10)).all().item()


def test_binary_broadcasting_and_scalars():
    a, b = A(2, 3, 1), A(3, 4)
    for fn, ref in [(core.add, np.add), (core.sub, np.subtract),
                    (core.mul, np.multiply), (core.maximum, np.maximum),
                    (core.minimum, np.minimum)]:
        close(fn(core.tensor(a), core.tensor(b)), ref(a, b))
    close(2.0 - core.tensor(a), 2.0 - a)
    close(core.tensor(b) ** 2, b ** 2, rtol=1e-12)
    close(core.tensor(a) % 0.7, a % 0.7, rtol=1e-12)
    close(core.tensor(a) // 0.7, a // 0.7)


def test_activation_variants():
    x = A(8)
    close(core.leaky_relu(core.tensor(x), 0.1), np.where(x > 0, x, 0.1 * x))
    close(core.elu(core.tensor(x), 2.0), np.where(x > 0, x, 2 * np.expm1(x)))
    close(core.clip(core.tensor(x), -0.5, None), np.clip(x, -0.5, None))
    c = x > 0
    close(core.where(core.tensor(c), core.tensor(x), 0.0), np.where(c, x, 0))


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(axis, keepdims):
    x = A(2, 3, 4)
    t = core.tensor(x)
    for name in ("sum", "mean", "prod", "max", "min", "var", "std"):
        close(getattr(core, name)(t, axis=axis, keepdims=keepdims),
              getattr(np, name)(x, axis=axis, keepdims=keepdims), rtol=1e-12)
    b = x > 0
    close(core.any(core.tensor(b), axis=axis, keepdims=keepdims),
          np.any(b, axis=axis, keepdims=keepdims))
    close(core.all(core.tensor(b), axis=axis, keepdims=keepdims),
          np.all(b, axis=axis, keepdims=keepdims))


def test_var_std_ddof_and_norm():
    x = A(4, 5)
    close(core.var(core.tensor(x), axis=1, ddof=1), np.var(x, 1, ddof=1))
    close(core.std(core.tensor(x), ddof=1), np.std(x, ddof=1))
    close(core.norm(core.tensor(x)), np.linalg.norm(x))
    close(core.norm(core.tensor(x), ord=1, axis=0), np.abs(x).sum(0))


def test_arg_reductions_and_cumsum():
    x = A(3, 4)
    t = core.tensor(x)
    close(core.argmax(t), np.argmax(x))
    close(core.argmin(t, axis=1), np.argmin(x, axis=1))
    close(core.argmax(t, axis=0, keepdims=True),
          np.argmax(x, axis=0, keepdims=True))
    assert core.argmax(t, axis=1).dtype.kind == "i"
    close(core.cumsum(t, axis=1), np.cumsum(x, axis=1))
    close(core.cumsum(t), np.cumsum(x))


def test_logsumexp_softmax_are_stable():
    x = A(3, 5) * 50 + 1000
    ref = np.log(np.sum(np.exp(x - x.max(1, keepdims=True)), 1)) + x.max(1)
    close(core.logsumexp(core.tensor(x), axis=1), ref, rtol=1e-12)
    sm = np.exp(x - ref[:, None])
    close(core.softmax(core.tensor(x)), sm, rtol=1e-10, atol=1e-300)
    close(core.log_softmax(core.tensor(x)), x - ref[:, None], atol=1e-9)
    close(core.softmax(core.tensor(x), axis=0).sum(0), np.ones(5))
    assert core.softmax(core.tensor(x.astype(np.float32))).dtype == np.float32


def test_shape_ops_match_numpy():
    x = A(2, 3, 4)
    t = core.tensor(x)
    close(core.reshape(t, (4, -1)), x.reshape(4, -1))
    close(core.transpose(t), x.T)
    close(core.swapaxes(t, 0, 2), np.swapaxes(x, 0, 2))
    close(core.moveaxis(t, 0, -1), np.moveaxis(x, 0, -1))
    close(core.squeeze(core.tensor(x[:, :1])), x[:, 0])
    close(core.unsqueeze(t, -1), x[..., None])
    close(core.expand_dims(t, 1), np.expand_dims(x, 1))
    close(core.flatten(t, 1), x.reshape(2, 12))
    close(core.flatten(t), x.reshape(-1))
    close(core.concat([t, t], axis=-1), np.concatenate([x, x], -1))
    close(core.stack([t, t], axis=1), np.stack([x, x], 1))
    for got, ref in zip(core.split(t, [1, 3], axis=2),
                        np.split(x, [1, 3], axis=2)):
        close(got, ref)
    assert len(core.split(t, 2, axis=-1)) == 2
    idx = np.array([[2, 0], [1, 1]])
    close(core.take(t, idx, axis=1), np.take(x, idx, axis=1))
    close(core.gather(t, core.tensor(idx % 2)), np.take(x, idx % 2, axis=0))
    close(core.pad(t, 1), np.pad(x, 1))
    close(core.pad(t, ((0, 0), (1, 2), (0, 1)), constant_values=3.0),
          np.pad(x, ((0, 0), (1, 2), (0, 1)), constant_values=3.0))
    close(core.repeat(t, 3, axis=1), np.repeat(x, 3, axis=1))
    close(core.repeat(t, 2), np.repeat(x, 2))
    close(core.tile(t, (2, 1, 3)), np.tile(x, (2, 1, 3)))
    close(core.tile(core.tensor(x[0, 0]), 2), np.tile(x[0, 0], 2))
    close(core.broadcast_to(core.tensor(x[:, :1]), (2, 3, 4)),
          np.broadcast_to(x[:, :1], (2, 3, 4)))


def test_one_hot():
    oh = core.one_hot(core.tensor([0, 2, 5]), 3)
    close(oh, [[1, 0, 0], [0, 0, 1], [0, 0, 0]])
    assert oh.dtype == np.float32
    assert core.one_hot([[1]], 2, dtype="int64").shape == (1, 1, 2)


def test_matmul_and_einsum_match_numpy():
    a, b = A(2, 3, 4), A(4, 5)
    close(core.matmul(core.tensor(a), core.tensor(b)), a @ b, rtol=1e-12)
    v = A(4)
    close(core.tensor(a) @ core.tensor(v), a @ v, rtol=1e-12)
    for subs, ops in [("ij,jk->ik", (A(2, 3), A(3, 4))), ("ii", (A(3, 3),)),
                      ("ii->i", (A(3, 3),)), ("bij,bkj->bik",
                                              (A(2, 3, 4), A(2, 5, 4))),
                      ("...j,j", (A(2, 3, 4), A(4))), ("i,i,i->", (A(3),) * 3),
                      ("ij->ji", (A(2, 3),))]:
        close(core.einsum(subs, *[core.tensor(o) for o in ops]),
              np.einsum(subs, *ops), rtol=1e-12)


def test_conv2d_matches_a_direct_loop():
    x, w = A(2, 4, 6, 5), A(6, 2, 3, 2)
    s, p, d, g = (2, 1), (1, 2), (1, 2), 2
    y = core.conv2d(core.tensor(x), core.tensor(w), stride=s, padding=p,
                    dilation=d, groups=g).numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    oh = (6 + 2 * p[0] - d[0] * 2 - 1) // s[0] + 1
    ow = (5 + 2 * p[1] - d[1] * 1 - 1) // s[1] + 1
    ref = np.zeros((2, 6, oh, ow))
    for o in range(6):
        grp = o // 3
        for i in range(oh):
            for j in range(ow):
                r, c = i * s[0], j * s[1]
                patch = xp[:, grp * 2:(grp + 1) * 2,
                           r:r + d[0] * 3:d[0], c:c + d[1] * 2:d[1]]
                ref[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)


def test_pools_match_a_direct_loop():
    x = A(2, 3, 5, 6)
    y = core.max_pool2d(core.tensor(x), 2).numpy()
    assert y.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(
        y, x[:, :, :4, :6].reshape(2, 3, 2, 2, 3, 2).max(axis=(3, 5)))
    y = core.avg_pool2d(core.tensor(x), 3, stride=1, padding=1).numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.stack([np.stack([xp[:, :, i:i + 3, j:j + 3].mean(axis=(2, 3))
                              for j in range(6)], -1) for i in range(5)], -2)
    np.testing.assert_allclose(y, ref, rtol=1e-12)
    m = core.max_pool2d(core.tensor(-np.abs(x)), 3, stride=2, padding=1)
    assert np.isfinite(m.numpy()).all()      # -inf padding never wins


def test_dropout_is_seeded_and_scaled():
    x = core.ones(200, 50)
    core.random.seed(3)
    a = core.dropout(x, 0.3).numpy()
    core.random.seed(3)
    b = core.dropout(x, 0.3).numpy()
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, np.float32(1 / 0.7)}
    assert abs((a == 0).mean() - 0.3) < 0.02
    assert core.dropout(x, 0.3, training=False) is x
    assert a.dtype == np.float32


def test_bias_add():
    x, b = A(2, 3, 4, 4), A(3)
    close(core.bias_add(core.tensor(x), core.tensor(b)),
          x + b[:, None, None])
    b4 = A(4)
    close(core.bias_add(core.tensor(x), core.tensor(b4), axis=-1), x + b4)


def test_tensor_methods():
    x = A(2, 3)
    t = core.tensor(x)
    close(t.sum(axis=1), x.sum(1))
    close(t.max(), x.max())
    close(t.min(0), x.min(0))
    close(t.mean(), x.mean())
    close(t.reshape(3, 2), x.reshape(3, 2))
    close(t.reshape((6,)), x.reshape(6))
    close(t.T, x.T)
    close(t.unsqueeze(0), x[None])
    close(t.softmax(-1), np.exp(x) / np.exp(x).sum(-1, keepdims=True))
    close(t.log_softmax(), core.log_softmax(t).numpy())
    close(t.argmax(-1), x.argmax(-1))
    close(t.transpose(1, 0), x.T)
    close(t.permute(1, 0), x.T)
    close(t.flatten(), x.reshape(-1))
    close(t.var(ddof=1), x.var(ddof=1))
    close(t.std(axis=0), x.std(0))
    close(t.exp().log(), x, rtol=1e-12)
    close(t.abs().sqrt(), np.sqrt(np.abs(x)))
    close(t.cumsum(1), x.cumsum(1))
    close(t.clip(-0.1, 0.1), x.clip(-0.1, 0.1))
    close(t.squeeze(), x)
    close(t.swapaxes(0, 1), x.T)
    close(t.prod(1), x.prod(1))
    close(t.logsumexp(1), np.log(np.exp(x).sum(1)))
    close(t.norm(), np.linalg.norm(x))
    close(t.pad(1), np.pad(x, 1))
    close(t.repeat(2, axis=0), np.repeat(x, 2, axis=0))
    close(t.tile((1, 2)), np.tile(x, (1, 2)))
    close(t.take([1, 0]), x[[1, 0]])
    close(t.mT, x.T)
    assert t.astype("float32").dtype == np.float32
    assert t.any().item() and not (t > 100).any().item()
    assert t.split(3, axis=1)[2].shape == (2, 1)
    assert t.float().dtype == np.float32 and t.long().dtype == np.int64
    close(t.expand_dims(1), x[:, None])
    close((t @ t.T), x @ x.T)
    close(t.matmul(t.T), x @ x.T)


def test_reduction_gradients_through_methods():
    x = core.tensor(A(3, 4), requires_grad=True)
    (x.max(axis=1).sum() + x.softmax(-1)[:, 0].sum()).backward()
    assert x.grad.shape == (3, 4)


@pytest.mark.parametrize("s,p,op_,d,g", [(1, 0, 0, 1, 1), (2, 1, 1, 1, 2),
                                         (3, 2, 2, 2, 1)])
def test_conv_transpose2d_is_the_adjoint_of_conv2d(s, p, op_, d, g):
    y, w = A(2, 4, 3, 4), A(4, 3, 3, 2)
    out = core.conv_transpose2d(core.tensor(y), core.tensor(w), stride=s,
                                padding=p, output_padding=op_, dilation=d,
                                groups=g)
    hw = [(n - 1) * s - 2 * p + d * (k - 1) + op_ + 1
          for n, k in zip((3, 4), (3, 2))]
    assert out.shape == (2, 3 * g, *hw)
    x = A(*out.shape)
    back = core.conv2d(core.tensor(x), core.tensor(w), stride=s, padding=p,
                       dilation=d, groups=g)
    assert back.shape == y.shape
    # <conv_transpose(y), x> == <y, conv2d(x)>
    np.testing.assert_allclose(float((out.numpy() * x).sum()),
                               float((y * back.numpy()).sum()), rtol=1e-10)
