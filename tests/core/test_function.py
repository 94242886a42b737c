"""core.function: trace, optimize, replay -- results, retracing, the
optimizations, variables, gradients and hooks.  Randomness, fallbacks to
eager and what cannot be traced: test_function_semantics.py."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import _dispatch


def _np(x):
    return np.asarray(x.numpy() if isinstance(x, core.Tensor) else x)


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(_np(a), _np(b), rtol=tol, atol=tol)


def _replays(f):
    """Every signature of ``f`` replays its graph (none fell back to eager
    after validation)."""
    return all(cf.graph.eager_reason is None for cf in f.concrete_functions)


class Recorder:
    def __init__(self):
        self.events = []

    def after_op(self, ev):
        self.events.append(ev)

    @property
    def names(self):
        return [e.name for e in self.events]


# ------------------------------------------------------------------ MLP --


def _mlp_vars(seed):
    rng = np.random.default_rng(seed)
    return [core.Variable(rng.standard_normal((6, 8)).astype("float32") * 0.3,
                          name="w1"),
            core.Variable(np.zeros(8, "float32"), name="b1"),
            core.Variable(rng.standard_normal((8, 3)).astype("float32") * 0.3,
                          name="w2"),
            core.Variable(np.zeros(3, "float32"), name="b2")]


def _make_step(params, lr=0.1):
    w1, b1, w2, b2 = params

    def step(x, y):
        with core.GradientTape() as tape:
            h = core.tanh(x @ w1 + b1)
            out = h @ w2 + b2
            loss = core.mean((out - y) ** 2)
        grads = tape.gradient(loss, params)
        for v, g in zip(params, grads):
            v.assign_sub(g * lr)
        return loss

    return step


def test_mlp_training_step_matches_eager():
    eager_p, fn_p = _mlp_vars(1), _mlp_vars(1)
    eager_step = _make_step(eager_p)
    fn_step = core.function(_make_step(fn_p))
    rng = np.random.default_rng(2)
    for i in range(4):
        x = core.tensor(rng.standard_normal((5, 6)).astype("float32"))
        y = core.tensor(rng.standard_normal((5, 3)).astype("float32"))
        le = eager_step(x, y)
        lf = fn_step(x, y)
        _close(le, lf)
        for a, b in zip(eager_p, fn_p):
            _close(a, b)
    assert fn_step.trace_count == 1 and _replays(fn_step)
    # the replayed steps kept training: loss went down and variables moved
    assert not np.allclose(fn_p[0].numpy(), _mlp_vars(1)[0].numpy())
    graph = fn_step.concrete_functions[0].graph
    assert sum(1 for n in graph.nodes if n.kind == "assign") == 4
    assert "assign_sub($w1" in str(graph)


def test_record_tape_replays_a_training_step_fast():
    eager_p, fn_p = _mlp_vars(1), _mlp_vars(1)
    eager_step = _make_step(eager_p)
    fn_step = core.function(_make_step(fn_p), record="tape")
    rng = np.random.default_rng(9)
    for i in range(3):
        x = core.tensor(rng.standard_normal((5, 6)).astype("float32"))
        y = core.tensor(rng.standard_normal((5, 3)).astype("float32"))
        _close(eager_step(x, y), fn_step(x, y))
        for a, b in zip(eager_p, fn_p):
            _close(a, b)
    assert _replays(fn_step)
    loss = fn_step(x, y)                  # fast replay: no graph recorded
    assert loss._node is None
    with pytest.raises(core.GradientError, match="does not require grad"):
        loss.backward()
    with core.GradientTape() as tape:     # a recording tape: dispatch replay
        loss = fn_step(x, y)
    assert loss._node is not None
    with pytest.raises(ValueError, match="record must be"):
        core.function(lambda x: x, record="always")


def test_mlp_forward_fast_replay_matches_eager_and_records_nothing():
    params = _mlp_vars(3)
    w1, b1, w2, b2 = params

    def fwd(x):
        return core.softmax(core.relu(x @ w1 + b1) @ w2 + b2, axis=-1)

    f = core.function(fwd)
    rng = np.random.default_rng(4)
    xs = [core.tensor(rng.standard_normal((4, 6)).astype("float32"))
          for _ in range(3)]
    with core.no_grad():
        for x in xs:
            out = f(x)
            _close(out, fwd(x))
            assert out.requires_grad is False
    assert f.trace_count == 1


# -------------------------------------------------------------- op mixes --


def _mix_elementwise(x, y):
    a = core.exp(x * 0.5) - core.log1p(core.abs(y)) / 3
    b = core.maximum(a, y) + core.minimum(x, 0.25) ** 2
    return core.sigmoid(b) * core.sqrt(core.abs(x) + 1)


def _mix_reductions(x, y):
    s = core.sum(x * y, axis=1, keepdims=True)
    m = core.mean(x, axis=0)
    return s + m, core.sum(core.square(x - m))


def _mix_shapes(x, y):
    z = core.reshape(x, (3, 8)).T
    w = core.transpose(y)[1:3]
    return core.broadcast_to(z[:2, :3], (2, 2, 3)), w * 2


def _mix_compare(x, y):
    mask = x > y
    picked = core.where(mask, x, y * -1.0)
    return picked, mask.astype("float32").sum(), core.clip(x, -0.5, 0.5)


def _mix_literals(x, y):
    return (x + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) * np.float32(2) - 1, x @ y.T


@pytest.mark.parametrize("fn", [_mix_elementwise, _mix_reductions,
                                _mix_shapes, _mix_compare, _mix_literals])
def test_op_mixes_match_eager(fn):
    f = core.function(fn)
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = core.tensor(rng.standard_normal((4, 6)).astype("float32"))
        y = core.tensor(rng.standard_normal((4, 6)).astype("float32"))
        got, want = f(x, y), fn(x, y)
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            _close(g, w)
    assert f.trace_count == 1 and _replays(f) and _replays(f)


def test_numpy_arguments_and_nested_structures():
    @core.function
    def f(batch, scale=1.0):
        return {"y": batch["x"] * scale + batch["b"], "n": batch["n"]}

    x = np.arange(6, dtype="float32").reshape(2, 3)
    b = core.ones(3)
    out = f({"x": x, "b": b, "n": 7}, scale=2.0)
    out2 = f({"x": x + 1, "b": b, "n": 7}, scale=2.0)
    assert out["n"] == 7 and f.trace_count == 1
    _close(out2["y"], (x + 1) * 2 + 1)


def test_method_decoration():
    class Layer:
        def __init__(self):
            self.w = core.Variable(core.ones((3, 2)) * 0.5, name="w")

        @core.function
        def __call__(self, x):
            return x @ self.w

    layer = Layer()
    x = core.ones((2, 3))
    _close(layer(x), np.full((2, 2), 1.5))
    layer.w.assign(core.ones((3, 2)))
    _close(layer(x), np.full((2, 2), 3.0))
    assert Layer.__call__.trace_count == 1
    assert layer.__call__.trace_count == 1
    assert layer.__call__.graph(x).ops == ["matmul"]
    other = Layer()                        # another instance: its own trace
    _close(other(x), np.full((2, 2), 1.5))
    assert Layer.__call__.trace_count == 2


def test_kernel_errors_during_replay_name_the_op_and_line():
    @core.function(validate=False)
    def pick(x, idx):
        return x[idx] * 2

    x = core.arange(4).astype("float32")
    _close(pick(x, core.tensor([1, 3])), [2, 6])
    with pytest.raises(core.ShapeError) as info:
        pick(x, core.tensor([1, 9]))              # out of range on replay
    msg = str(info.value)
    assert "getitem" in msg and "test_function.py" in msg


# ------------------------------------------------------------- retracing --


def test_retrace_rules():
    calls = []

    @core.function(validate=False)
    def f(x, n=1, mode="a"):
        calls.append(1)             # a Python side effect: trace time only
        y = x
        for _ in range(n):
            y = y * 2
        return y + 1 if mode == "a" else y - 1

    x = core.ones((2, 3))
    f(x)
    f(core.zeros((2, 3)))                     # same signature
    assert f.trace_count == 1 and len(calls) == 1
    f(core.ones((3, 3)))                      # new shape
    assert f.trace_count == 2
    f(core.ones((2, 3), dtype="float64"))     # new dtype
    assert f.trace_count == 3
    _close(f(x, n=3), np.full((2, 3), 9.0))   # new Python value
    _close(f(x, n=3, mode="b"), np.full((2, 3), 7.0))
    assert f.trace_count == 5
    _close(f(x * 2, n=3, mode="b"), np.full((2, 3), 15.0))
    assert f.trace_count == 5 and len(calls) == 5
    assert len(f.concrete_functions) == 5
    cf = f.concrete_functions[3]
    assert "n=3" in cf.signature
    _close(cf(x * 3, n=3), np.full((2, 3), 25.0))
    with pytest.raises(TypeError, match="do not match"):
        cf(core.ones((5,)), n=3)
    assert f.get_concrete_function(x, n=3) is cf


def test_namedtuple_arguments_and_retrace_warning():
    import collections

    Batch = collections.namedtuple("Batch", "x y")

    @core.function
    def f(b, k):
        return Batch(b.x * k, b.y + k)

    out = f(Batch(core.ones(2), core.zeros(2)), 2.0)
    out = f(Batch(core.full((2,), 3.0), core.ones(2)), 2.0)
    assert isinstance(out, Batch) and f.trace_count == 1
    _close(out.x, [6, 6])
    _close(out.y, [3, 3])
    with pytest.warns(RuntimeWarning, match="traced 8 times"):
        for k in range(8):
            f(Batch(core.ones(2), core.ones(2)), float(k))


def test_aliased_arguments_retrace():
    @core.function
    def f(a, b):
        return a - b

    x, y = core.ones(3), core.full((3,), 5.0)
    _close(f(x, x), np.zeros(3))
    _close(f(x, y), np.full(3, -4.0))
    assert f.trace_count == 2


def test_device_is_part_of_the_signature(sim_gpu):
    @core.function
    def f(x):
        return core.exp(x) * 2

    xc = core.ones(3)
    xg = xc.to("gpu")
    out = f(xg)
    out = f(xg)   # replay on the simulated GPU's kernels
    assert out.device == sim_gpu
    assert type(out._data) is core.devices.SimArray
    _close(out.numpy(), np.exp(np.ones(3)) * 2)
    _close(f(xc), np.exp(np.ones(3)) * 2)
    assert f.trace_count == 2


# ----------------------------------------------------- optimizations ------


def test_cse_dce_folding_visible_in_listing():
    w = core.Variable(core.ones((3, 3)), name="w")

    @core.function
    def f(x):
        unused = core.exp(x) + 1            # dead: 2 ops
        c = core.tensor([1.0, 2.0, 3.0]) * 2 + 1   # folded: 2 ops
        a = core.tanh(x @ w)
        b = core.tanh(x @ w)                # same op + inputs: merged (2)
        return a + b + c

    x = core.ones((2, 3))
    f(x)
    g = f.graph(x)
    text = str(g)
    assert g.stats == {"traced": 10, "folded": 2, "cse": 2, "dce": 2}
    assert g.ops == ["matmul", "tanh", "add", "add"]
    assert "2 constant-folded, 2 merged (CSE), 2 dead removed (DCE)" in text
    assert "variable $w" in text and "input    %x" in text
    assert "const" in text and "[3., 5., 7.]" in text
    _close(f(x * 0.5), 2 * np.tanh(np.full((2, 3), 1.5)) + [3, 5, 7])
    # unoptimized tracing keeps everything
    g2 = core.function(f.python_function, optimize=False).graph(x)
    assert len(g2.ops) == 10


def test_cse_respects_variable_updates():
    v = core.Variable(core.ones(2), name="v")

    def fn(x):
        a = x * v
        v.assign_add(core.ones(2))
        b = x * v
        return a, b

    f = core.function(fn)
    x = core.full((2,), 3.0)
    a, b = f(x)
    _close(a, [3, 3])
    _close(b, [6, 6])
    a, b = f(x)                     # replay: v is 2 then 3
    _close(a, [6, 6])
    _close(b, [9, 9])
    assert f.graph(x).count("mul") == 2
    assert v.numpy().tolist() == [3.0, 3.0]


def test_variable_updates_from_outside_are_seen_on_replay():
    v = core.Variable(core.full((2,), 2.0), name="scale")
    f = core.function(lambda x: x * v)
    x = core.ones(2)
    _close(f(x), [2, 2])
    v.assign(core.full((2,), 5.0))
    _close(f(x), [5, 5])
    v.assign_add(1.0)
    _close(f(x), [6, 6])
    assert f.trace_count == 1


def test_assign_with_python_values_and_counter():
    step = core.Variable(0.0, name="step", trainable=False)
    acc = core.Variable(core.zeros(3), name="acc", trainable=False)

    @core.function
    def f(x):
        step.assign_add(1.0)
        acc.assign(acc + x)
        return acc * 1

    for i in range(3):
        out = f(core.full((3,), float(i)))
    assert step.item() == 3.0
    _close(acc, [3, 3, 3])
    _close(out, [3, 3, 3])


# ----------------------------------------------------------- gradients --


def test_gradients_through_function_under_tape_equal_eager():
    params = _mlp_vars(7)
    w1, b1, w2, b2 = params

    def loss_fn(x):
        h = core.relu(x @ w1 + b1)
        h2 = core.relu(x @ w1 + b1)          # CSE'd in the graph
        return core.sum((h + h2) @ w2 + b2)

    f = core.function(loss_fn)
    rng = np.random.default_rng(8)
    for i in range(3):   # first call traces, later ones replay
        x = core.tensor(rng.standard_normal((4, 6)).astype("float32"))
        with core.GradientTape() as tape:
            tape.watch(x)
            lf = f(x)
        gf = tape.gradient(lf, [x] + params)
        with core.GradientTape() as tape:
            tape.watch(x)
            le = loss_fn(x)
        ge = tape.gradient(le, [x] + params)
        _close(lf, le)
        for a, b in zip(gf, ge):
            _close(a, b, 1e-4)
    assert f.trace_count == 1 and _replays(f)


def test_replay_path_choice(monkeypatch):
    """A fast replay never enters the dispatch; a call that needs gradients
    goes through it (so the result is recorded for autodiff)."""
    v = core.Variable(core.ones(3), name="v")
    f = core.function(lambda x: core.exp(x * v) + x)
    x = core.ones(3)
    f(x)

    def refuse(*a, **k):
        raise AssertionError("the fast replay entered the dispatch")

    with monkeypatch.context() as m:
        for name in ("apply", "_resolve", "lift", "record", "_make"):
            m.setattr(_dispatch, name, refuse)
        with core.no_grad():
            out = f(x)
    assert out._node is None and not out.requires_grad
    _close(out, np.e + 1)
    with core.GradientTape() as tape:
        y = f(x)                             # v is trainable: needs grads
    assert y._node is not None and y._node.op.name == "add"
    _close(tape.gradient(y, v), np.e * np.ones(3))
    src = f.concrete_functions[0].source
    assert "k0(s0, s1)" in src and "apply" not in src


def test_backward_and_core_grad_through_function():
    f = core.function(lambda x: core.sum(core.sin(x) * x))
    x0 = np.linspace(-1, 1, 5).astype("float32")
    for _ in range(2):
        x = core.tensor(x0, requires_grad=True)
        y = f(x)
        y.backward()
        _close(x.grad, np.cos(x0) * x0 + np.sin(x0))
    g = core.grad(f)(core.tensor(x0))
    _close(g, np.cos(x0) * x0 + np.sin(x0))
    # second order through the replayed graph
    x = core.tensor(x0)
    with core.GradientTape() as outer:
        outer.watch(x)
        with core.GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        gx = inner.gradient(y, x)
        s = core.sum(gx)
    _close(outer.gradient(s, x), 2 * np.cos(x0) - x0 * np.sin(x0))


def test_trace_under_no_grad_then_gradients():
    v = core.Variable(core.full((2,), 3.0), name="v")
    f = core.function(lambda x: core.sum(x * v * v))
    x = core.ones(2)
    with core.no_grad():
        f(x)
        f(x)
    with core.GradientTape() as tape:
        y = f(x)
    _close(tape.gradient(y, v), [6.0, 6.0])
    assert f.trace_count == 2      # grad mode is part of the signature


def test_no_grad_inside_function_is_kept_on_replay():
    v = core.Variable(core.full((3,), 2.0), name="v")

    @core.function
    def f(x):
        with core.no_grad():
            frozen = x * v
        return core.sum(frozen * v)

    x = core.ones(3)
    for _ in range(2):
        with core.GradientTape() as tape:
            y = f(x)
        (g,) = tape.gradient(y, [v])
        _close(g, [2, 2, 2])      # only the outer use of v is differentiated


def test_custom_gradient_inside_a_function_keeps_its_gradient():
    @core.custom_gradient
    def scaled_grad_square(x):
        def grad_fn(g):
            return g * 3.0                     # deliberately not 2x
        return x * x, grad_fn

    def fn(x):
        return core.sum(scaled_grad_square(x) + x)

    f = core.function(fn)
    x0 = np.array([1.0, 2.0], "float32")
    for _ in range(2):
        x = core.tensor(x0)
        with core.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        _close(tape.gradient(y, x), [4.0, 4.0])
    with core.no_grad():
        _close(f(core.tensor(x0 * 2)), 4 + 16 + 6)   # fast replay
    assert "custom_gradient" in str(f.graph(core.tensor(x0)))


# ---------------------------------------------------------------- hooks --


def test_hooks_see_every_op_of_a_replay():
    v = core.Variable(core.ones((3, 3)), name="v")

    def fn(x):
        with core.scope("inner"):
            a = core.tanh(x @ v)
            b = core.tanh(x @ v)
        return a * b

    f = core.function(fn)
    x = core.ones((2, 3))
    with core.no_grad():
        f(x)                           # trace (fast path from now on)
        ops = f.graph(x).ops
        rec = Recorder()
        with core.scope("outer"), core.hooks.attached(rec):
            out = f(x)
    _close(out, np.tanh(np.full((2, 3), 3.0)) ** 2)
    assert rec.names == ops == ["matmul", "tanh", "mul"]
    assert f.trace_count == 1
    assert rec.events[0].scope == ("outer", "inner")
    assert rec.events[-1].scope == ("outer",)
    assert rec.events[0].location[0] == __file__
    assert all(e.outputs is not None for e in rec.events)


def test_hooks_see_ops_of_an_inner_function_while_tracing():
    inner = core.function(lambda x: core.exp(x) + 1)
    x = core.ones(2)
    inner(x)

    @core.function
    def outer(x):
        return inner(x) * 3

    _close(outer(x), (np.e + 1) * 3)
    _close(outer(x * 0), 6)
    assert outer.graph(x).ops == ["exp", "add", "mul"]
