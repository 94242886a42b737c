"""core.function semantics: randomness, validation and the fallbacks to
eager, data-dependent control flow, side effects, values that leave the
engine, and a clean state after errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import core
from core import _dispatch
from core.function import TracingError
from tests.core.test_function import _close, _replays


# ------------------------------------------------------------ randomness --


@pytest.fixture
def noise_op():
    from core._dispatch import REGISTRY, apply, defop

    def make(xp):
        def noise_k(x):
            r = core.random.generator().standard_normal(x.shape)
            return x + xp.asarray(r.astype(x.dtype))
        return noise_k

    op = defop("test_function_noise", make, differentiable=False,
               impure=True)
    try:
        yield lambda x: apply(op, (x,), None)
    finally:
        REGISTRY.pop("test_function_noise", None)


def test_impure_ops_are_not_folded_merged_or_dropped(noise_op):
    def fn(x):
        noise_op(x)                         # unused, still drawn
        c = noise_op(core.zeros(3))         # constant input, still drawn
        return noise_op(x) + noise_op(x) + c

    core.random.seed(11)
    want = [fn(core.ones(3)).numpy() for _ in range(3)]
    f = core.function(fn)
    core.random.seed(11)
    got = [f(core.ones(3)).numpy() for _ in range(3)]
    for a, b in zip(got, want):
        _close(a, b)
    assert not np.allclose(got[1], got[2])   # fresh numbers every replay
    assert _replays(f)
    assert f.graph(core.ones(3)).count("test_function_noise") == 4
    assert "[impure]" in str(f.graph(core.ones(3)))


def test_random_numbers_outside_ops_fall_back_to_eager():
    def fn(x):
        return x + core.random.rand(3)

    f = core.function(fn)
    core.random.seed(3)
    with pytest.warns(RuntimeWarning, match="random numbers outside an op"):
        got = [f(core.zeros(3)).numpy() for _ in range(3)]
    core.random.seed(3)
    want = [fn(core.zeros(3)).numpy() for _ in range(3)]
    for a, b in zip(got, want):
        _close(a, b)
    assert "runs eagerly" in str(f.graph(core.zeros(3)))


def test_nn_model_with_dropout_matches_eager_sequence():
    core.random.seed(0)
    model = core.nn.Sequential(core.nn.Dense(6, 16, activation="relu"),
                               core.nn.Dropout(0.5), core.nn.Dense(16, 3))
    x = core.randn(4, 6)

    def fwd(x):
        return model(x)

    f = core.function(fwd)
    core.random.seed(1)
    want = [fwd(x).numpy() for _ in range(3)]
    core.random.seed(1)
    got = [f(x).numpy() for _ in range(3)]
    for a, b in zip(got, want):
        _close(a, b)
    assert not np.allclose(got[1], got[2]) and _replays(f)
    text = str(f.graph(x))
    assert "dropout_mask" in text and "[impure]" in text
    assert "$kernel:" in text and "$kernel_1:" in text   # unique labels


def test_raw_in_place_variable_updates_fall_back_to_eager():
    """Optimizers update variables with raw in-place array math, which a
    replay cannot see: detected at trace time, the function runs eagerly."""
    def make():
        w = core.Variable(core.full((3,), 2.0), name="w")
        opt = core.optim.SGD([w], lr=0.1)

        def step(x):
            with core.GradientTape() as tape:
                loss = core.sum(w * x)
            opt.apply_gradients(zip(tape.gradient(loss, [w]), [w]))
            return loss
        return w, step

    w_e, step_e = make()
    w_f, fn = make()
    step_f = core.function(fn)
    x = core.ones(3)
    with pytest.warns(RuntimeWarning, match="changed variable"):
        step_f(x)
    for _ in range(3):
        step_f(x)
    for _ in range(4):
        step_e(x)
    _close(w_f, w_e)
    _close(w_f, np.full(3, 2.0 - 0.4))
    assert "runs eagerly" in str(step_f.graph(x))


def test_tensor_indices_passed_as_attributes_follow_the_inputs():
    """``x[idx]`` hands idx's raw array to getitem as an attribute; the
    graph refers to the slot, so a replay uses the new indices."""
    emb = core.nn.Embedding(10, 4)

    def fn(ids, x):
        return emb(ids) * 2 + core.sum(x[ids[:2]])

    f = core.function(fn)
    x = core.arange(10).astype("float32")
    for ids in ([1, 2, 3], [7, 8, 9], [0, 0, 5]):
        ids = core.tensor(ids)
        _close(f(ids, x), fn(ids, x))
        with core.GradientTape() as tape:
            y = core.sum(f(ids, x))
        with core.GradientTape() as tape2:
            y2 = core.sum(fn(ids, x))
        _close(tape.gradient(y, emb.weight), tape2.gradient(y2, emb.weight))
    assert f.trace_count == 1 and _replays(f)
    assert "getitem($weight, index=%ids)" in str(f.graph(ids, x))


def test_list_operands_replay_like_the_dispatch():
    """An op given a list of tensors as one operand: the replay rebuilds it
    and lets the dispatch lift it exactly as while tracing."""
    from core._dispatch import REGISTRY, apply, defop

    op = defop("test_function_listsum",
               lambda xp: (lambda xs, axis: xp.sum(xs, axis=axis)),
               differentiable=False)
    try:
        f = core.function(
            lambda a, b: apply(op, ([a, b * 2],), {"axis": 0}) + 1)
        a, b = core.ones(3), core.full((3,), 2.0)
        _close(f(a, b), [6, 6, 6])
        _close(f(a * 3, b), [8, 8, 8])
        assert "test_function_listsum([%a, %" in str(f.graph(a, b))
    finally:
        REGISTRY.pop("test_function_listsum", None)


# ---------------------------------------------------- untraceable Python --


def test_data_dependent_control_flow_raises_a_clear_error():
    @core.function
    def f(x):
        if core.sum(x) > 0:
            return x * 2
        return x

    with pytest.raises(TracingError) as info:
        f(core.ones(3))
    msg = str(info.value)
    assert "control flow" in msg and "core.where" in msg
    assert "test_function_semantics.py" in msg
    assert f.trace_count == 0
    # the engine is left clean: no hooks, plain bool works again
    assert not _dispatch.hooks
    assert bool(core.sum(core.ones(3)) > 0)


def test_bool_of_constants_and_python_values_is_allowed():
    @core.function
    def f(x, flip):
        if core.tensor(2.0) > 1:       # a constant: fine
            x = x + 1
        return -x if flip else x

    _close(f(core.ones(2), True), [-2, -2])
    _close(f(core.ones(2), False), [2, 2])
    assert f.trace_count == 2


def test_python_side_effects_run_at_trace_and_validation_only():
    calls = []

    @core.function
    def f(x):
        calls.append(1)
        return x * 2

    x = core.ones(2)
    f(x)
    f(x)                 # the traced objects again: replay, no validation
    assert len(calls) == 1
    f(core.zeros(2))     # first replay with new tensors: validated once
    assert len(calls) == 2
    for i in range(3):
        _close(f(core.full((2,), float(i))), [2 * i, 2 * i])
    assert len(calls) == 2 and f.trace_count == 1


def test_values_leaving_the_engine_are_caught_by_validation():
    def fn(x):
        return x * float(core.sum(x).item())   # leaves the engine

    f = core.function(fn)
    _close(f(core.ones(2)), [2, 2])
    with pytest.warns(RuntimeWarning, match="frozen into the graph"):
        _close(f(core.full((2,), 3.0)), [18, 18])
    _close(f(core.full((2,), 4.0)), [32, 32])     # eager from now on
    assert "runs eagerly" in str(f.graph(core.ones(2)))
    # without validation the traced value stays frozen (documented)
    g = core.function(fn, validate=False)
    _close(g(core.ones(2)), [2, 2])
    _close(g(core.full((2,), 3.0)), [6, 6])


def test_gradient_of_a_loss_with_integer_labels_matches_eager():
    w = core.Variable(core.randn(4, 3) * 0.1, name="w")

    def fn(x, y):
        with core.GradientTape() as tape:
            loss = core.losses.softmax_cross_entropy(x @ w, y)
        return loss, tape.gradient(loss, w)

    f = core.function(fn)
    x = core.randn(5, 4)
    for labels in ([0, 1, 2, 0, 1], [2, 2, 1, 1, 0], [1, 0, 0, 2, 2]):
        y = core.tensor(labels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            (lf, gf), (le, ge) = f(x, y), fn(x, y)
        _close(lf, le)
        _close(gf, ge)


def test_errors_in_the_function_leave_no_state_behind():
    @core.function
    def f(x):
        return x @ core.ones((5, 5))

    with pytest.raises(core.ShapeError) as info:
        f(core.ones((2, 3)))
    assert "matmul" in str(info.value)
    assert f.trace_count == 0 and not _dispatch.hooks
    assert core.Variable.assign.__name__ == "assign"
    assert not hasattr(core.Variable.assign, "__wrapped__")
