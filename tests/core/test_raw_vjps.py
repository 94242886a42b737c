"""The array-level VJP twins (core.ops.raw_vjps) against the engine VJPs.

A backward pass nobody watches runs the twins on raw arrays; with a hook
attached the same pass runs the engine-op VJPs.  Both must give the same
gradients, bit for bit, with the same dtypes, on every op that has a twin.
"""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import _dispatch as D
from core.devices import SimArray
from core.ops import shape as S


class _Watcher:
    """Any hook makes the backward pass run the engine-op VJPs."""

    def __init__(self):
        self.names = []

    def before_op(self, ev):
        pass

    def after_op(self, ev):
        if ev.phase == "backward":
            self.names.append(ev.name)


def _rand(rng, shape, dtype, positive=False):
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return a.astype(dtype)


def _cases():
    """(op name, fn(*tensors) -> tensor, list of input arrays) per case."""
    r = np.random.default_rng(0)
    out = []
    for dt in (np.float32, np.float64):
        for sa, sb in (((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3), (2, 3)),
                       ((), (2, 2))):
            for name in ("add", "sub", "mul", "div"):
                fn = getattr(core, name)
                out.append((name, fn, [_rand(r, sa, dt),
                                       _rand(r, sb, dt, positive=True)]))
        for name in ("add", "sub", "mul", "div"):
            fn = getattr(core, name)
            out.append((name, lambda x, f=fn: f(x, 1.5), [_rand(r, (3,), dt)]))
            out.append((name, lambda x, f=fn: f(2.5, x),
                        [_rand(r, (3,), dt, positive=True)]))
        for name in ("neg", "exp", "tanh", "sigmoid", "relu", "softplus",
                     "square"):
            out.append((name, getattr(core, name), [_rand(r, (3, 4), dt)]))
        for name in ("log", "sqrt", "rsqrt"):
            out.append((name, getattr(core, name),
                        [_rand(r, (3, 4), dt, positive=True)]))
        for axis, keep in ((None, False), (0, False), (1, True), ((0, 2), False),
                           (None, True)):
            out.append(("sum", lambda x, a=axis, k=keep: core.sum(x, axis=a, keepdims=k),
                        [_rand(r, (2, 3, 4), dt)]))
        for name in ("softmax", "log_softmax"):
            for axis in (-1, 0):
                out.append((name, lambda x, f=getattr(core, name), a=axis: f(x, axis=a),
                            [_rand(r, (3, 5), dt)]))
        for sa, sb in (((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)),
                       ((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
                       ((1, 3, 4), (2, 4, 5)), ((4,), (2, 4, 5)),
                       ((2, 3, 4), (4,))):
            out.append(("matmul", core.matmul, [_rand(r, sa, dt), _rand(r, sb, dt)]))
        out += [
            ("reshape", lambda x: core.reshape(x, (4, 3)), [_rand(r, (3, 4), dt)]),
            ("transpose", lambda x: core.transpose(x), [_rand(r, (2, 3, 4), dt)]),
            ("transpose", lambda x: core.transpose(x, (1, 2, 0)),
             [_rand(r, (2, 3, 4), dt)]),
            ("broadcast_to", lambda x: core.broadcast_to(x, (3, 4)),
             [_rand(r, (1, 4), dt)]),
            ("broadcast_to", lambda x: core.broadcast_to(x, (40, 30, 4)),
             [_rand(r, (4,), dt)]),   # past the small-copy size: a view
            ("astype", lambda x: core.astype(x, np.float16), [_rand(r, (3,), dt)]),
            ("identity", S.identity, [_rand(r, (3,), dt)]),
            ("getitem", lambda x: x[1:, ::2], [_rand(r, (3, 4), dt)]),
            ("getitem", lambda x: x[np.array([0, 2, 0, 0])], [_rand(r, (3, 4), dt)]),
            ("getitem", lambda x: x[x._data > 0], [_rand(r, (3, 4), dt)]),
            ("concat", lambda x, y: core.concat([x, y, x], axis=1),
             [_rand(r, (2, 3), dt), _rand(r, (2, 1), dt)]),
            ("stack", lambda x, y: core.stack([x, y, y], axis=1),
             [_rand(r, (2, 3), dt), _rand(r, (2, 3), dt)]),
        ]
        for red in ("mean", "sum", "none"):
            out.append(("nll_loss", lambda x, rd=red: core.losses.nll_loss(
                core.log_softmax(x), np.array([0, 2, 1, 2]), reduction=rd),
                [_rand(r, (4, 3), dt)]))
        out.append(("nll_loss", lambda x: core.losses.nll_loss(
            x, np.array([[0, 1], [2, 0]]), axis=1, reduction="mean"),
            [_rand(r, (2, 3, 2), dt)]))
    return out


CASES = _cases()


def _grads(fn, arrays, watch, device="cpu"):
    r = np.random.default_rng(1)
    xs = [core.tensor(a, requires_grad=True, device=device) for a in arrays]
    out = fn(*xs)
    w = core.tensor(r.standard_normal(out.shape).astype(out.dtype),
                    device=device)
    with core.GradientTape() as tape:
        for x in xs:
            tape.watch(x)
        out = fn(*xs)
        loss = core.sum(out * w)
    if watch is None:
        return tape.gradient(loss, xs)
    with core.hooks.attached(watch):
        return tape.gradient(loss, xs)


@pytest.mark.parametrize("case", range(len(CASES)),
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_twin_matches_engine_vjp(case):
    name, fn, arrays = CASES[case]
    watcher = _Watcher()
    engine = _grads(fn, arrays, watcher)
    assert watcher.names, "the watched pass ran engine VJP ops"
    raw = _grads(fn, arrays, None)
    for e, g, a in zip(engine, raw, arrays):
        assert (e is None) == (g is None)
        if e is None:
            continue
        assert g.dtype == e.dtype == a.dtype
        assert g.shape == e.shape == a.shape
        np.testing.assert_array_equal(g.numpy(), e.numpy())


# every third case; indexing and nll_loss take host index arrays, which
# test_ops_gpu covers on the device
GPU_CASES = [i for i in range(0, len(CASES), 3)
             if CASES[i][0] not in ("getitem", "nll_loss")]


@pytest.mark.parametrize("case", GPU_CASES,
                         ids=[f"{CASES[i][0]}-{i}" for i in GPU_CASES])
def test_twin_on_the_sim_gpu_stays_on_the_device(sim_gpu, case):
    """cupy's code path: twins keep gradients device arrays, same values."""
    name, fn, arrays = CASES[case]
    cpu = _grads(fn, arrays, None)
    gpu = _grads(fn, arrays, None, device="gpu")
    for c, g in zip(cpu, gpu):
        assert type(g._data) is SimArray and g.device == sim_gpu
        np.testing.assert_array_equal(g.numpy(), c.numpy())


def test_every_twin_is_tested():
    with_twins = {name for name, op in D.REGISTRY.items()
                  if op.raw_vjps is not None}
    assert with_twins == {c[0] for c in CASES}


def test_twins_mirror_the_vjps_none_for_none():
    for name, op in D.REGISTRY.items():
        if op.raw_vjps is not None:
            assert len(op.raw_vjps) == len(op.vjps), name
            for t, v in zip(op.raw_vjps, op.vjps):
                assert (t is None) == (v is None), name


def test_unwatched_backward_runs_no_engine_ops():
    """The point of the twins: an unwatched pass dispatches no VJP ops."""
    x = core.tensor(np.linspace(-1, 1, 4, dtype=np.float32), requires_grad=True)
    y = core.sum(core.sigmoid(core.tanh(x * 1.5) * x))
    before = D.next_index()
    y.backward()
    assert D.next_index() == before + 1      # no op ran in between
    watcher = _Watcher()
    x.grad = None
    y = core.sum(core.sigmoid(core.tanh(x * 1.5) * x))
    with core.hooks.attached(watcher):
        y.backward()
    assert "tanh_grad" in watcher.names and "sigmoid_grad" in watcher.names


def test_op_without_twin_runs_its_engine_vjp_inside_the_raw_pass():
    x = core.tensor(np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4) / 10,
                    requires_grad=True)
    w = core.tensor(np.ones((2, 1, 2, 2), np.float32))
    y = core.sum(core.tanh(core.conv2d(x, w)))
    y.backward()
    got = x.grad.numpy()
    x.grad = None
    y = core.sum(core.tanh(core.conv2d(x, w)))
    with core.hooks.attached(_Watcher()):
        y.backward()
    np.testing.assert_array_equal(got, x.grad.numpy())


def test_gradient_of_intermediate_source_comes_back_as_tensor():
    x = core.tensor(np.float32(2.0), requires_grad=True)
    with core.GradientTape() as tape:
        tape.watch(x)
        h = x * 3.0
        y = h * h
    gh, gx = tape.gradient(y, [h, x])
    assert isinstance(gh, core.Tensor) and gh.device == x.device
    assert float(gh.numpy()) == 12.0 and float(gx.numpy()) == 36.0
