"""Recording hooks: the engine writes lean flat records (core._record)."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import _dispatch as D
from core._record import FIELDS

K = len(FIELDS)


class Recorder:
    def __init__(self):
        self.record_into = []
        self.device_events = []

    def after_op(self, ev):
        self.device_events.append(ev)


class Watcher:
    def __init__(self):
        self.events = []

    def after_op(self, ev):
        self.events.append(ev)


def rows(rec):
    buf = rec.record_into
    assert len(buf) % K == 0
    return [dict(zip(FIELDS, buf[i:i + K])) for i in range(0, len(buf), K)]


def test_host_ops_are_recorded_flat_with_the_users_line():
    a = core.tensor(np.ones((2, 3), np.float32))
    w = core.Variable(np.ones((3, 4), np.float32), name="w")
    rec = Recorder()
    with core.hooks.attached(rec):
        assert D.lean
        y = core.relu(a @ w)            # THE LINE
        z = y * 2.0
    assert not D.lean
    r = rows(rec)
    assert [x["name"] for x in r] == ["matmul", "relu", "mul"]
    mm, relu, mul = r
    assert mm["a0"] == (2, 3) and mm["a1"] == (3, 4) and mm["v1"] is w
    assert mm["v0"] is None and mm["out_shape"] == (2, 4)
    assert relu["a0"] == (2, 4) and relu["a1"] is None and relu["extra"] is None
    assert mul["extra"] is not None and mul["extra"][1] == (2.0, None, None)
    for x in r:
        assert x["phase"] == "forward" and x["grads"] is None
        assert x["start_ns"] <= x["kernel_start_ns"] <= x["kernel_end_ns"] \
            <= x["end_ns"]
        file, line, _ = D.site_location(x["code"], x["lasti"])
        assert file == __file__
    lines = {D.site_location(x["code"], x["lasti"])[1] for x in r[:2]}
    src = open(__file__).read().splitlines()
    assert len(lines) == 1 and "THE LINE" in src[lines.pop() - 1]
    assert isinstance(z, core.Tensor) and not rec.device_events


def test_backward_gives_one_record_per_node_with_its_gradients():
    x = core.tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3),
                    requires_grad=True)
    w = core.Variable(np.ones((3, 2), np.float32))
    rec = Recorder()
    c = core.tensor(np.full((2, 2), 0.5, np.float32))     # takes no gradient
    with core.hooks.attached(rec):
        loss = core.sum(core.tanh(x @ w) + c)
        loss.backward()
    r = rows(rec)
    fwd = {x_["index"]: x_ for x_ in r if x_["phase"] == "forward"}
    bwd = [x_ for x_ in r if x_["phase"] == "backward"]
    assert [b["name"] for b in bwd] == ["sum", "add", "tanh", "matmul"]
    for b in bwd:
        f = fwd[b["forward_index"]]
        assert b["name"] == f["name"] and b["out_shape"] == f["out_shape"]
        for k in ("a0", "d0", "v0", "a1", "d1", "v1", "extra"):
            assert b[k] == f[k] if k[0] != "v" else b[k] is f[k], (b["name"], k)
    assert [b["grads"] for b in bwd] == [1, 1, 1, 2]
    assert bwd[-1]["v1"] is w and bwd[-1]["attrs"] == {}
    # the gradients are the ones an unwatched or a watched pass computes
    got = x.grad.numpy(), w.grad.numpy()
    x.grad = w.grad = None
    watcher = Watcher()
    with core.hooks.attached(watcher):
        core.sum(core.tanh(x @ w) + c).backward()
    np.testing.assert_array_equal(got[0], x.grad.numpy())
    np.testing.assert_array_equal(got[1], w.grad.numpy())
    assert "tanh_grad" in [e.name for e in watcher.events]


@pytest.mark.parametrize("join", ["concat", "stack"])
def test_a_node_whose_vjp_gives_all_gradients_has_them_under_a_recorder(join):
    """concat/stack of a single tensor: one tensor operand, but a VJP that
    returns the list of all operands' gradients; the recorded backward
    pushes the gradient, not the list."""
    x = core.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    f = getattr(core, join)
    with core.GradientTape() as tape:
        y = core.sum(f([x], axis=0) * 2.0)
    want = tape.gradient(y, x).numpy()
    rec = Recorder()
    with core.hooks.attached(rec):
        with core.GradientTape() as tape:
            y = core.sum(f([x], axis=0) * 2.0)
        got = tape.gradient(y, x)
    assert isinstance(got._data, np.ndarray) and got.shape == (2, 3)
    np.testing.assert_array_equal(got.numpy(), want)
    assert join in [r["name"] for r in rows(rec) if r["phase"] == "backward"]


def test_any_other_hook_restores_op_events_for_everyone():
    a = core.tensor(np.ones(3, np.float32), requires_grad=True)
    rec, watcher = Recorder(), Watcher()
    with core.hooks.attached(rec), core.hooks.attached(watcher):
        assert not D.lean
        core.sum(core.exp(a)).backward()
    names = [e.name for e in watcher.events]
    assert names[:2] == ["exp", "sum"] and "broadcast_to" in names
    # the recorder then gets OpEvents through after_op, nothing flat
    assert [e.name for e in rec.device_events] == names
    assert rec.record_into == []


def test_device_ops_reach_the_recorders_after_op(sim_gpu):
    a = core.tensor(np.ones(3, np.float32), device="gpu")
    rec = Recorder()
    with core.hooks.attached(rec):
        core.exp(a) + 1.0
    assert [e.name for e in rec.device_events] == ["exp", "add"]
    assert rec.record_into == []


def test_a_recorder_needs_after_op():
    class Bad:
        record_into = []

        def before_op(self, ev):
            pass
    with pytest.raises(TypeError, match="after_op"):
        core.hooks.register(Bad())


class Ticking(Recorder):
    tick_every = 3
    tick_ns = 10**12

    def __init__(self, fail=None):
        super().__init__()
        self.values_into = []
        self.ticks = []
        self.fail = fail

    def tick(self):
        self.ticks.append(len(self.record_into) // K)
        if self.fail is not None:
            raise self.fail


def test_values_and_ticks_follow_the_records():
    x = core.tensor(np.arange(3, dtype=np.float32), requires_grad=True)
    rec = Ticking()
    with core.hooks.attached(rec):
        y = core.exp(x) * 2.0
        z = core.sum(y + x)
        z.backward()
    r = rows(rec)
    assert len(rec.values_into) == len(r) == 8     # 4 forward, 4 nodes
    out, a = rec.values_into[0]                    # exp: output, operand
    np.testing.assert_array_equal(out, np.exp(np.arange(3, dtype=np.float32)))
    assert a is x._data
    assert rec.values_into[1][2] == 2.0            # the scalar operand
    assert all(v is None for v, x_ in zip(rec.values_into, r)
               if x_["phase"] == "backward")
    assert rec.ticks == [3, 6]                     # every third record


def test_an_exception_in_a_tick_is_the_hooks_error():
    from core.errors import HookError
    a = core.tensor(np.ones(2, np.float32))
    with core.hooks.attached(Ticking(ValueError("boom"))):
        a + a
        a + a
        with pytest.raises(HookError, match="boom"):
            a + a
    assert not D.hooks and (a + a).shape == (2,)

    class Stop(BaseException):
        pass
    with pytest.raises(Stop):
        with core.hooks.attached(Ticking(Stop())):
            for _ in range(3):
                a * 2.0
    assert not D.hooks


def test_array_and_list_operands_are_described():
    a = core.tensor(np.ones((2, 3), np.float32))
    mask = np.zeros((2, 3), np.float32)
    rec = Recorder()
    with core.hooks.attached(rec):
        a + mask                          # a raw numpy array operand
        mask * a
        core.concat([a, a], axis=0)       # a list of tensors
    add, mul, cat = rows(rec)
    assert add["extra"][1] == ((2, 3), np.dtype("float32"), None)
    assert mul["extra"][0] == ((2, 3), np.dtype("float32"), None)
    assert cat["out_shape"] == (4, 3)
