"""core.nn: Module tracking, scopes on hook events, and the basic layers."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import nn
from tests.core.test_nn_helpers import check_grads, projection


class Recorder:
    def __init__(self):
        self.events = []

    def after_op(self, ev):
        self.events.append((ev.name, ev.phase, ev.scope))


# -------------------------------------------------------------- tracking --


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.Dense(4, 4)
        self.norm = nn.LayerNorm(4)

    def forward(self, x):
        return self.norm(self.attn(x))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [Block(), Block()]
        self.heads = {"out": nn.Dense(4, 2)}
        self.scale = core.Variable(np.float32(1.0), name="scale")
        self.count = core.Variable(np.int64(0), name="count")

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.heads["out"](x) * self.scale


def test_named_variables_are_dotted_attribute_paths():
    enc = Encoder()
    names = [p for p, _ in enc.named_variables()]
    assert names == [
        "layers.0.attn.kernel", "layers.0.attn.bias", "layers.0.norm.gamma",
        "layers.0.norm.beta", "layers.1.attn.kernel", "layers.1.attn.bias",
        "layers.1.norm.gamma", "layers.1.norm.beta", "heads.out.kernel",
        "heads.out.bias", "scale", "count"]
    assert len(enc.variables) == 12
    assert len(enc.trainable_variables) == 11      # int count is not trainable
    assert enc.non_trainable_variables[0] is enc.count
    assert len(enc.submodules) == 2 + 4 + 1
    assert enc.layers[0].attn.kernel.name == "kernel"


def test_shared_variable_and_module_listed_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Dense(3, 3)
            self.b = self.a
            self.w = self.a.kernel

    t = Tied()
    assert [p for p, _ in t.named_variables()] == ["a.kernel", "a.bias"]
    assert t.submodules == [t.a]


def test_lists_appended_after_assignment_are_tracked():
    class Grow(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = []

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    g = Grow()
    g.layers.append(nn.Dense(2, 2))
    assert [p for p, _ in g.named_variables()] == ["layers.0.kernel",
                                                   "layers.0.bias"]
    rec = Recorder()
    with core.hooks.attached(rec):
        g(core.ones((1, 2)))
    assert rec.events[0][2] == ("grow", "layers", "0")


def test_train_eval_flag_recurses():
    enc = Encoder()
    assert enc.training and enc.layers[1].norm.training
    enc.eval()
    assert not enc.training and not enc.layers[1].norm.training
    enc.train()
    assert enc.heads["out"].training


def test_scopes_on_hook_events_forward_and_backward():
    enc = Encoder()
    x = core.randn(3, 4)
    rec = Recorder()
    with core.hooks.attached(rec):
        y = enc(x)
        core.sum(y).backward()
    fwd = [(n, s) for n, ph, s in rec.events if ph == "forward"]
    assert fwd[0] == ("matmul", ("encoder", "layers", "0", "attn"))
    scopes = {s for _, s in fwd}
    assert ("encoder", "layers", "1", "norm") in scopes
    assert ("encoder", "heads", "out") in scopes
    assert ("encoder",) in scopes            # the "* self.scale"
    bwd = {s for n, ph, s in rec.events if ph == "backward"}
    assert ("encoder", "layers", "0", "attn") in bwd
    # outside the model the scope is empty again
    assert core.hooks.current_scope() == ()


def test_tf_style_call_and_given_name_and_nesting_scope():
    class TFStyle(nn.Module):
        def __init__(self):
            super().__init__(name="gen")
            self.dense = nn.Dense(2, 2)

        def __call__(self, x):
            return core.relu(self.dense(x))

    class Child(TFStyle):
        def __call__(self, x):           # wrapped too, but scope not doubled
            return super().__call__(x) * 2.0

    rec = Recorder()
    with core.hooks.attached(rec), core.scope("step"):
        TFStyle()(core.ones((1, 2)))
        Child()(core.ones((1, 2)))
    assert rec.events[0][2] == ("step", "gen", "dense")
    assert rec.events[2] == ("relu", "forward", ("step", "gen"))
    assert rec.events[-1] == ("mul", "forward", ("step", "gen"))


def test_module_called_outside_its_parent_uses_its_own_name():
    outer = Encoder()
    stranger = nn.Dense(4, 4, name="probe")

    class Calls(nn.Module):
        def forward(self, x):
            return stranger(x)

    rec = Recorder()
    calls = Calls()
    with core.hooks.attached(rec):
        calls(core.ones((1, 4)))
        calls(core.ones((1, 4)))             # remembered as a stranger
        outer.layers[0](core.ones((1, 4)))   # a child called directly: a root
    assert rec.events[0][2] == ("calls", "probe")
    assert rec.events[2][2] == ("calls", "probe")
    assert rec.events[-1][2] == ("block", "norm")
    # a stranger is remembered weakly: the parent does not keep it alive
    import gc
    import weakref

    temp = nn.Dense(4, 4)
    ref = weakref.ref(temp)

    class UsesTemp(nn.Module):
        def forward(self, x):
            return temp(x)

    user = UsesTemp()
    user(core.ones((1, 4)))
    del temp
    gc.collect()
    assert ref() is None and user._scope_cache is not None


def test_module_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="neither forward"):
        nn.Module()(1)


def test_scope_restored_after_an_exception():
    class Bad(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Bad()(1)
    assert core.hooks.current_scope() == ()


# ----------------------------------------------------------------- layers --


def test_initializers_follow_the_seed():
    core.random.seed(3)
    a = nn.Dense(5, 7).kernel.numpy()
    core.random.seed(3)
    b = nn.Dense(5, 7).kernel.numpy()
    np.testing.assert_array_equal(a, b)
    limit = np.sqrt(6 / 12)
    assert np.abs(a).max() <= limit and a.dtype == np.float32
    he = nn.init.he_normal((400, 300))
    assert abs(he.std() - np.sqrt(2 / 400)) < 0.003
    assert nn.init.fans((8, 3, 5, 5)) == (75, 200)
    with pytest.raises(ValueError, match="unknown initializer"):
        nn.init.get("nope")


def test_dense_shape_values_and_gradient():
    d = nn.Dense(3, 4, activation="tanh", dtype="float64")
    x = core.tensor(np.random.default_rng(0).standard_normal((5, 3)))
    y = d(x)
    assert y.shape == (5, 4)
    np.testing.assert_allclose(
        y.numpy(), np.tanh(x.numpy() @ d.kernel.numpy() + d.bias.numpy()))
    r = projection((5, 4))
    check_grads(lambda: core.sum(d(x) * r), [d.kernel, d.bias, x])
    with pytest.raises(core.ShapeError, match=r"Dense .*expected last dimension 3"):
        d(core.ones((2, 5), dtype="float64"))


def test_sequential_and_activation_modules():
    m = nn.Sequential(nn.Dense(3, 8, dtype="float64"), nn.ReLU(),
                      nn.Dense(8, 8, dtype="float64"), nn.GELU(), nn.Tanh(),
                      nn.Sigmoid(), nn.Dense(8, 4, dtype="float64"),
                      nn.Softmax())
    x = core.tensor(np.random.default_rng(1).standard_normal((2, 3)))
    y = m(x)
    assert y.shape == (2, 4) and len(m) == 8
    np.testing.assert_allclose(y.numpy().sum(-1), 1.0)
    r = projection((2, 4))
    check_grads(lambda: core.sum(m(x) * r), m.trainable_variables + [x])


def test_flatten_and_embedding():
    f = nn.Flatten()
    assert f(core.ones((2, 3, 4))).shape == (2, 12)
    e = nn.Embedding(10, 3, dtype="float64")
    ids = np.array([[1, 2, 1], [9, 0, 0]])
    y = e(ids)
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(y.numpy()[0, 0], e.weight.numpy()[1])
    r = projection((2, 3, 3))
    check_grads(lambda: core.sum(e(ids) * r), [e.weight])
    with pytest.raises(core.ShapeError, match=r"in \[0, 10\)"):
        e(np.array([10]))


def test_dropout_train_and_eval():
    d = nn.Dropout(0.25)
    x = core.ones((200, 50))
    y = d(x).numpy()
    zeros = (y == 0).mean()
    assert 0.2 < zeros < 0.3
    np.testing.assert_allclose(y[y != 0], 1 / 0.75, rtol=1e-6)
    d.eval()
    assert d(x) is x or np.array_equal(d(x).numpy(), x.numpy())
    core.random.seed(5)
    a = nn.Dropout(0.5)(x).numpy()
    core.random.seed(5)
    b = nn.Dropout(0.5)(x).numpy()
    np.testing.assert_array_equal(a, b)


def test_layer_norm_values_and_gradient():
    ln = nn.LayerNorm(6, dtype="float64")
    rng = np.random.default_rng(2)
    ln.gamma.assign(rng.standard_normal(6))
    ln.beta.assign(rng.standard_normal(6))
    x = core.tensor(rng.standard_normal((3, 4, 6)))
    xn = x.numpy()
    ref = (xn - xn.mean(-1, keepdims=True)) / np.sqrt(xn.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln(x).numpy(), ref * ln.gamma.numpy() + ln.beta.numpy())
    r = projection((3, 4, 6))
    check_grads(lambda: core.sum(ln(x) * r), [ln.gamma, ln.beta, x])


def test_batch_norm_train_running_stats_and_eval():
    bn = nn.BatchNorm(3, momentum=0.1, dtype="float64")
    rng = np.random.default_rng(3)
    xn = rng.standard_normal((4, 3, 5, 5)) * 2 + 1
    x = core.tensor(xn)
    y = bn(x).numpy()
    mean = xn.mean((0, 2, 3))
    var = xn.var((0, 2, 3))
    ref = (xn - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, ref, atol=1e-10)
    n = 4 * 25
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * var * n / (n - 1))
    assert [p for p, _ in bn.named_variables()] == [
        "gamma", "beta", "running_mean", "running_var"]
    assert len(bn.trainable_variables) == 2
    bn.eval()
    before = bn.running_mean.numpy()
    ye = bn(x).numpy()
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    np.testing.assert_allclose(
        ye, (xn - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5))
    np.testing.assert_array_equal(before, bn.running_mean.numpy())


def test_batch_norm_gradient_1d_and_2d():
    rng = np.random.default_rng(4)
    for shape in ((6, 3), (2, 3, 2, 2)):
        bn = nn.BatchNorm(3, dtype="float64")
        bn.gamma.assign(rng.standard_normal(3))
        x = core.tensor(rng.standard_normal(shape))
        r = projection(shape)
        check_grads(lambda: core.sum(bn(x) * r), [bn.gamma, bn.beta, x])


def test_layers_run_on_the_simulated_gpu(sim_gpu):
    with core.device("gpu"):
        m = nn.Sequential(nn.Dense(3, 4), nn.LayerNorm(4), nn.BatchNorm(4),
                          nn.Dropout(0.5), nn.Dense(4, 2))
        x = core.randn(5, 3)
    assert m.layers[0].kernel.device == sim_gpu
    y = m(x)
    assert y.device == sim_gpu and y.shape == (5, 2)
    core.sum(y).backward()
    assert m.layers[0].kernel.grad.device == sim_gpu


def test_dropout_and_flatten_gradients():
    x = core.tensor(np.random.default_rng(6).standard_normal((4, 2, 3)))
    r = projection((4, 6))
    flat = nn.Flatten()
    check_grads(lambda: core.sum(flat(x) * r), [x])
    drop = nn.Dropout(0.4)

    def f():
        core.random.seed(11)                  # the same mask every evaluation
        return core.sum(drop(flat(x)) * r)

    check_grads(f, [x])
    core.random.seed(11)
    mask = drop(core.ones((4, 6), dtype="float64")).numpy()
    with core.GradientTape() as tape:
        tape.watch(x)
        y = f()
    np.testing.assert_allclose(tape.gradient(y, x).numpy().reshape(4, 6), r * mask)
