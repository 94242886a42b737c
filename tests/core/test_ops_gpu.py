"""A representative set of ops on the simulated GPU (cupy's code path:
its own array type, no implicit host mixing) against the CPU results,
gradients included."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core.devices import SimArray

rng = np.random.default_rng(11)


def _run(fn, arrays, device):
    xs = [core.tensor(a, device=device) for a in arrays]
    with core.GradientTape() as tape:
        tape.watch(xs)
        y = fn(*xs)
    gs = tape.gradient(y, xs, output_gradients=core.ones_like(y),
                       unconnected_gradients="zero")
    return y, gs


CASES = {
    "elementwise": (lambda a, b: core.sigmoid(a * b + core.exp(a) / 3)
                    - core.relu(b) + core.maximum(a, b),
                    [(3, 4), (4,)]),
    "pow_where_clip": (lambda a: core.where(a > 0, a ** 2, core.clip(a, -.5, .5))
                       + 2.0 ** a + a ** 3, [(5, 3)]),
    "reductions": (lambda a: core.max(a, axis=1) + core.prod(a, axis=1)
                   + core.logsumexp(a, axis=1) + core.std(a, axis=1),
                   [(3, 4)]),
    "softmax": (lambda a: core.softmax(a) * core.log_softmax(a, axis=0),
                [(3, 5)]),
    "cumsum": (lambda a: core.cumsum(a, axis=0), [(4, 3)]),
    "matmul": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "einsum": (lambda a, b: core.einsum("bij,jk->bik", a, b),
               [(2, 3, 4), (4, 5)]),
    "getitem_take": (lambda a: a[1:, ::2] .sum() + core.take(
        a, np.array([0, 2, 2]), axis=0).sum(axis=0), [(3, 4)]),
    "concat_stack_pad": (lambda a, b: core.pad(core.concat(
        [a, core.stack([b, b], 0).reshape(2, 4)], axis=0), 1), [(3, 4), (4,)]),
    "conv2d": (lambda x, w: core.conv2d(x, w, stride=2, padding=1, groups=2),
               [(2, 4, 6, 6), (4, 2, 3, 3)]),
    "pools": (lambda x: core.max_pool2d(x, 2) + core.avg_pool2d(x, 2),
              [(2, 3, 4, 6)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sim_gpu_matches_cpu(sim_gpu, name):
    fn, shapes = CASES[name]
    arrays = [rng.standard_normal(s) for s in shapes]
    y_cpu, g_cpu = _run(fn, arrays, "cpu")
    y_gpu, g_gpu = _run(fn, arrays, "gpu")
    assert y_gpu.device == sim_gpu
    assert type(y_gpu._data) is SimArray
    np.testing.assert_allclose(y_gpu.numpy(), y_cpu.numpy(), rtol=1e-12)
    for a, b in zip(g_gpu, g_cpu):
        assert type(a._data) is SimArray
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12,
                                   atol=1e-14)


def test_sim_gpu_conv_pool_second_order(sim_gpu):
    x = rng.standard_normal((1, 2, 4, 4))
    w = rng.standard_normal((3, 2, 2, 2))
    out = []
    for dev in ("cpu", "gpu"):
        xt, wt = core.tensor(x, device=dev), core.tensor(w, device=dev)

        def loss(x_):
            y = core.conv2d(x_, wt, padding=1)
            return core.sum(core.max_pool2d(y, 2) ** 2) + core.sum(
                core.avg_pool2d(y, 2, stride=1) ** 2)
        gg = core.grad(lambda x_: core.sum(core.grad(loss)(x_) ** 2))(xt)
        out.append(gg.numpy())
    np.testing.assert_allclose(out[1], out[0], rtol=1e-12)


def test_sim_gpu_non_differentiable_ops(sim_gpu):
    x = rng.standard_normal((3, 4))
    for fn in (lambda t: core.argmax(t, axis=1),
               lambda t: core.one_hot(core.argmin(t, axis=0), 3),
               lambda t: core.any(t > 1, axis=0),
               lambda t: core.isfinite(t)):
        a = fn(core.tensor(x, device="gpu"))
        assert type(a._data) is SimArray
        np.testing.assert_array_equal(a.numpy(), fn(core.tensor(x)).numpy())


def test_sim_gpu_dropout_same_mask_as_cpu(sim_gpu):
    x = rng.standard_normal((6, 7)).astype(np.float32)
    core.random.seed(5)
    a = core.dropout(core.tensor(x), 0.5)
    core.random.seed(5)
    b = core.dropout(core.tensor(x, device="gpu"), 0.5)
    assert type(b._data) is SimArray
    np.testing.assert_array_equal(b.numpy(), a.numpy())


def _grad_cases():
    from tests.core.test_ops_grad import CASES as GRAD_CASES

    # to_device moves to the CPU on purpose; it is covered by test_devices
    return [c for c in GRAD_CASES if "to_device" not in c.covers]


@pytest.mark.parametrize("case", _grad_cases(), ids=repr)
def test_every_gradchecked_op_runs_on_the_sim_gpu(sim_gpu, case):
    y_cpu, g_cpu = _run(case.f, case.args, "cpu")
    with core.device("gpu"):
        y_gpu, g_gpu = _run(case.f, case.args, "gpu")
    assert type(y_gpu._data) is SimArray
    np.testing.assert_allclose(y_gpu.numpy(), y_cpu.numpy(), rtol=1e-12,
                               atol=1e-14)
    for a, b in zip(g_gpu, g_cpu):
        assert type(a._data) is SimArray
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12,
                                   atol=1e-14)
