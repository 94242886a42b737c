"""core.losses: values against numpy, stability, reductions, gradients."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import losses
from tests.core.test_nn_helpers import check_grads


def log_softmax_ref(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_softmax_cross_entropy_int_and_onehot_labels():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 4))
    y = np.array([0, 3, 1, 1, 2])
    ref = -log_softmax_ref(z)[np.arange(5), y]
    logits = core.tensor(z)
    np.testing.assert_allclose(losses.softmax_cross_entropy(logits, y).item(),
                               ref.mean())
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(logits, core.tensor(y), reduction="sum").item(),
        ref.sum())
    none = losses.softmax_cross_entropy(logits, y, reduction="none")
    assert none.shape == (5,)
    np.testing.assert_allclose(none.numpy(), ref)
    onehot = np.eye(4)[y]
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(logits, onehot, reduction="none").numpy(), ref)
    # soft labels
    p = rng.dirichlet(np.ones(4), size=5)
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(logits, p, reduction="none").numpy(),
        -(p * log_softmax_ref(z)).sum(-1))


def test_cross_entropy_is_stable_for_huge_logits():
    z = core.tensor(np.array([[1000.0, 0.0, -1000.0], [-5e4, 5e4, 0.0]],
                             dtype=np.float32))
    out = losses.softmax_cross_entropy(z, [2, 1], reduction="none").numpy()
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [2000.0, 0.0], rtol=1e-6)


def test_cross_entropy_gradient_and_sequence_logits():
    rng = np.random.default_rng(1)
    w = core.Variable(rng.standard_normal((3, 2, 5)), dtype="float64")
    y = rng.integers(0, 5, (3, 2))
    check_grads(lambda: losses.softmax_cross_entropy(w, y), [w])
    with core.GradientTape() as tape:
        loss = losses.softmax_cross_entropy(w, y, reduction="sum")
    g = tape.gradient(loss, w).numpy()
    p = np.exp(log_softmax_ref(w.numpy()))
    np.testing.assert_allclose(g, p - np.eye(5)[y], atol=1e-12)


def test_cross_entropy_errors_name_the_problem():
    z = core.randn(4, 3)
    with pytest.raises(core.ShapeError, match=r"class ids must be in \[0, 3\)"):
        losses.softmax_cross_entropy(z, [0, 1, 2, 3])
    with pytest.raises(core.ShapeError, match=r"integer labels must have shape \(4,\)"):
        losses.softmax_cross_entropy(z, [0, 1])
    with pytest.raises(core.ShapeError, match="one-hot labels"):
        losses.softmax_cross_entropy(z, np.ones((4, 2)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.softmax_cross_entropy(z, [0, 1, 2, 0], reduction="avg")


def test_mse():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(losses.mse(core.tensor(a), b).item(),
                               ((a - b) ** 2).mean())
    np.testing.assert_allclose(losses.mse(core.tensor(a), b, "sum").item(),
                               ((a - b) ** 2).sum())
    assert losses.mse(core.tensor(a), b, "none").shape == (3, 4)
    w = core.Variable(a)
    check_grads(lambda: losses.mse(w, b), [w])
    with pytest.raises(core.ShapeError, match="mse"):
        losses.mse(core.tensor(a), b[:2])


def test_binary_cross_entropy_with_logits():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3)) * 3
    y = (rng.random((4, 3)) > 0.5).astype(np.float64)
    p = 1 / (1 + np.exp(-x))
    ref = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(
        losses.binary_cross_entropy_with_logits(core.tensor(x), y, "none").numpy(),
        ref, rtol=1e-10)
    big = losses.binary_cross_entropy_with_logits(
        core.tensor(np.array([800.0, -800.0])), np.array([0.0, 1.0]), "none")
    np.testing.assert_allclose(big.numpy(), [800.0, 800.0])
    pw = losses.binary_cross_entropy_with_logits(core.tensor(x), y, "none",
                                                 pos_weight=2.0).numpy()
    np.testing.assert_allclose(
        pw, -(2.0 * y * np.log(p) + (1 - y) * np.log(1 - p)), rtol=1e-10)
    w = core.Variable(x)
    check_grads(lambda: losses.binary_cross_entropy_with_logits(w, y), [w])


def test_nll_loss_after_log_softmax_and_second_order():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((4, 3))
    y = np.array([2, 0, 1, 1])
    logp = core.log_softmax(core.tensor(z), axis=-1)
    np.testing.assert_allclose(losses.nll_loss(logp, y, "none").numpy(),
                               -log_softmax_ref(z)[np.arange(4), y])
    w = core.Variable(z)
    check_grads(lambda: losses.nll_loss(core.log_softmax(w, axis=-1), y, "sum"), [w])
    # the gradient is itself differentiable (engine ops all the way)
    v = core.Variable(rng.standard_normal((1, 3)))

    def grad_norm():
        g = core.grad(lambda t: losses.softmax_cross_entropy(t, np.array([1])))(v)
        return core.sum(g * g)

    check_grads(grad_norm, [v])
