"""core.optim: the first two steps of each optimizer by hand, both update
styles, clipping, slots as Variables."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import optim

P0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.1, 0.2, -0.3])
G2 = np.array([-0.4, 0.05, 0.2])


def two_steps(opt_cls, style, **kw):
    """Run two updates with gradients G1, G2; return the values after each."""
    p = core.Variable(P0.copy(), name="p")
    opt = opt_cls([p], **kw)
    out = []
    for g in (G1, G2):
        if style == "tf":
            opt.apply_gradients([(core.tensor(g), p)])
        else:
            p.grad = core.tensor(g)
            opt.step()
            opt.zero_grad()
            assert p.grad is None
        out.append(p.numpy())
    return out, opt


@pytest.mark.parametrize("style", ["tf", "torch"])
def test_sgd_plain_and_weight_decay(style):
    (a, b), _ = two_steps(optim.SGD, style, lr=0.1)
    np.testing.assert_allclose(a, P0 - 0.1 * G1)
    np.testing.assert_allclose(b, P0 - 0.1 * G1 - 0.1 * G2)
    (a, b), _ = two_steps(optim.SGD, style, lr=0.1, weight_decay=0.5)
    e1 = P0 - 0.1 * (G1 + 0.5 * P0)
    np.testing.assert_allclose(a, e1)
    np.testing.assert_allclose(b, e1 - 0.1 * (G2 + 0.5 * e1))


@pytest.mark.parametrize("style", ["tf", "torch"])
def test_sgd_momentum_and_nesterov(style):
    (a, b), opt = two_steps(optim.SGD, style, lr=0.1, momentum=0.9)
    buf1 = G1
    buf2 = 0.9 * G1 + G2
    np.testing.assert_allclose(a, P0 - 0.1 * buf1)
    np.testing.assert_allclose(b, P0 - 0.1 * buf1 - 0.1 * buf2)
    slot = opt.slots(opt.variables[0])["momentum"]
    assert isinstance(slot, core.Variable) and not slot.trainable
    np.testing.assert_allclose(slot.numpy(), buf2)
    assert int(opt.iterations.numpy()) == 2
    (a, b), _ = two_steps(optim.SGD, style, lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(a, P0 - 0.1 * (G1 + 0.9 * buf1))
    np.testing.assert_allclose(b, a - 0.1 * (G2 + 0.9 * buf2))


def _adam_ref(lr, b1, b2, eps, wd=0.0, decoupled=False):
    p, m, v = P0.copy(), np.zeros(3), np.zeros(3)
    out = []
    for t, g in enumerate((G1, G2), start=1):
        if wd and decoupled:
            p = p * (1 - lr * wd)
        elif wd:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
        out.append(p)
    return out


@pytest.mark.parametrize("style", ["tf", "torch"])
def test_adam_and_adamw(style):
    (a, b), opt = two_steps(optim.Adam, style, lr=0.01)
    ra, rb = _adam_ref(0.01, 0.9, 0.999, 1e-8)
    np.testing.assert_allclose(a, ra, rtol=1e-12)
    np.testing.assert_allclose(b, rb, rtol=1e-12)
    # the first Adam step moves every coordinate by ~lr
    np.testing.assert_allclose(np.abs(a - P0), 0.01, rtol=1e-5)
    assert set(opt.slots(opt.variables[0])) == {"m", "v"}
    (a, b), _ = two_steps(optim.Adam, style, lr=0.01, weight_decay=0.1)
    ra, rb = _adam_ref(0.01, 0.9, 0.999, 1e-8, wd=0.1)
    np.testing.assert_allclose(b, rb, rtol=1e-12)
    (a, b), _ = two_steps(optim.AdamW, style, lr=0.01, weight_decay=0.1,
                          betas=(0.8, 0.99))
    ra, rb = _adam_ref(0.01, 0.8, 0.99, 1e-8, wd=0.1, decoupled=True)
    np.testing.assert_allclose(a, ra, rtol=1e-12)
    np.testing.assert_allclose(b, rb, rtol=1e-12)


@pytest.mark.parametrize("style", ["tf", "torch"])
def test_rmsprop(style):
    (a, b), _ = two_steps(optim.RMSprop, style, lr=0.01, alpha=0.9)
    v1 = 0.1 * G1 ** 2
    e1 = P0 - 0.01 * G1 / (np.sqrt(v1) + 1e-8)
    v2 = 0.9 * v1 + 0.1 * G2 ** 2
    np.testing.assert_allclose(a, e1)
    np.testing.assert_allclose(b, e1 - 0.01 * G2 / (np.sqrt(v2) + 1e-8))
    (a, b), _ = two_steps(optim.RMSprop, style, lr=0.01, alpha=0.9, momentum=0.5)
    buf1 = G1 / (np.sqrt(v1) + 1e-8)
    buf2 = 0.5 * buf1 + G2 / (np.sqrt(v2) + 1e-8)
    np.testing.assert_allclose(b, P0 - 0.01 * buf1 - 0.01 * buf2)


def test_matches_torch_for_a_few_steps():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3) for _ in range(4)]
    cases = [(optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9,
                                               nesterov=True, weight_decay=0.01)),
             (optim.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
             (optim.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
             (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.3,
                                                       centered=True))]
    for ours, theirs, kw in cases:
        p = core.Variable(P0.copy())
        tp = torch.tensor(P0.copy(), requires_grad=True)
        o, to = ours([p], **kw), theirs([tp], **kw)
        for g in grads:
            o.apply_gradients([(g, p)])
            tp.grad = torch.tensor(g)
            to.step()
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-10,
                                   err_msg=ours.__name__)


def test_clip_by_global_norm_and_option():
    g1, g2 = core.tensor([3.0, 0.0]), core.tensor([0.0, 4.0])
    (c1, c2, c3), norm = optim.clip_by_global_norm([g1, g2, None], 1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(c1.numpy(), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(c2.numpy(), [0.0, 0.8], rtol=1e-5)
    assert c3 is None
    (same,), _ = optim.clip_by_global_norm([g1], 10.0)
    np.testing.assert_allclose(same.numpy(), g1.numpy())
    p = core.Variable(np.zeros(2))
    opt = optim.SGD([p], lr=1.0, clip_norm=1.0)
    opt.apply_gradients([(np.array([3.0, 4.0]), p)])
    np.testing.assert_allclose(p.numpy(), [-0.6, -0.8], rtol=1e-5)


def test_training_reduces_loss_and_updates_in_place():
    core.random.seed(1)
    model = core.nn.Sequential(core.nn.Dense(4, 16, activation="relu"),
                               core.nn.Dense(16, 3))
    x = core.randn(32, 4)
    y = np.argmax(x.numpy()[:, :3], axis=1)
    opt = optim.Adam(model, lr=0.02)
    kernel = model.layers[0].kernel
    buf = kernel._data
    first = None
    for _ in range(60):
        loss = core.losses.softmax_cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.5 * first
    assert kernel._data is buf           # in place: the same buffer
    assert kernel.grad is None


def test_lazy_variables_lr_schedule_and_errors():
    p = core.Variable(np.ones(2))
    q = core.Variable(np.ones(2))
    opt = optim.SGD(lr=lambda step: 0.1 * (step + 1), momentum=0.5)
    opt.apply_gradients([(np.ones(2), p), (None, q)])
    assert opt.variables == [p]
    np.testing.assert_allclose(p.numpy(), [0.9, 0.9])
    opt.apply_gradients(zip([np.ones(2), np.ones(2)], [p, q]))
    assert opt.variables == [p, q]
    np.testing.assert_allclose(q.numpy(), [0.8, 0.8])     # lr 0.2 at step 1
    with pytest.raises(core.ShapeError, match="gradient of shape"):
        opt.apply_gradients([(np.ones(3), p)])
    with pytest.raises(TypeError, match="core.Variable"):
        optim.SGD([core.tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)


def test_optimizer_on_simulated_gpu(sim_gpu):
    with core.device("gpu"):
        p = core.Variable(np.ones(3))
    opt = optim.Adam([p], lr=0.1)
    p.grad = core.tensor(np.ones(3), device="gpu")
    opt.step()
    assert p.device == sim_gpu
    np.testing.assert_allclose(p.numpy(), 0.9, rtol=1e-6)
    with pytest.raises(core.DeviceError):
        opt.apply_gradients([(core.tensor(np.ones(3)), p)])


def test_one_pass_update_agrees_with_numpy_fallback():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((6, 4)).astype(np.float32)
    g = rng.standard_normal((4, 6)).astype(np.float32).T      # not contiguous
    results = []
    for grad in (g, np.ascontiguousarray(g)):
        p = core.Variable(base.copy())
        opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
        opt.apply_gradients([(grad, p)])
        opt.apply_gradients([(grad, p)])
        results.append(p.numpy())
    buf1 = g + 0.01 * base
    p1 = base - 0.1 * buf1
    buf2 = 0.9 * buf1 + g + 0.01 * p1
    np.testing.assert_allclose(results[0], p1 - 0.1 * buf2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)
