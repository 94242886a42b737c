"""GradientTape, backward(), grad/value_and_grad, custom_gradient, no_grad,
Variables: TensorFlow's and PyTorch's semantics as users rely on them."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import core


def f64(x):
    return core.tensor(np.asarray(x, dtype=np.float64))


# --------------------------------------------------------------- the tape --


def test_tape_gradient_of_variable_watched_automatically():
    w = core.Variable(np.array([1.0, 2.0]), name="w")
    with core.GradientTape() as tape:
        y = (w * w).sum()
    g = tape.gradient(y, w)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])


def test_constant_needs_watch():
    x = f64([1.0, 3.0])
    with core.GradientTape() as tape:
        y = (x * x).sum()
    assert tape.gradient(y, x) is None
    with core.GradientTape() as tape:
        tape.watch(x)
        y = (x * x).sum()
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [2.0, 6.0])


def test_non_persistent_tape_second_gradient_raises():
    x = f64(3.0)
    with core.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        z = y * x
    tape.gradient(z, x)
    with pytest.raises(core.GradientError, match="non-persistent"):
        tape.gradient(y, x)


def test_persistent_tape_allows_several_gradients():
    x = f64(3.0)
    with core.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    assert tape.gradient(z, x).item() == pytest.approx(108.0)  # 4x^3
    assert tape.gradient(y, x).item() == pytest.approx(6.0)


def test_ops_before_tape_are_not_recorded():
    x = core.Variable(np.array(2.0))
    y = x * x                      # before the tape
    with core.GradientTape() as tape:
        z = y * x
    # z depends on x directly (y is a constant to this tape)
    assert tape.gradient(z, x).item() == pytest.approx(4.0)


def test_watch_accessed_variables_false():
    a = core.Variable(np.array(2.0))
    b = core.Variable(np.array(3.0))
    with core.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(a)
        y = a * b
    ga, gb = tape.gradient(y, [a, b])
    assert ga.item() == pytest.approx(3.0)
    assert gb is None


def test_stop_recording():
    x = core.Variable(np.array(2.0))
    with core.GradientTape() as tape:
        y = x * x
        with tape.stop_recording():
            z = y * 100.0      # not recorded: gradient stops here
        out = y + z
    # out = y + z; z's path is invisible, so d(out)/dx = dy/dx = 2x
    assert tape.gradient(out, x).item() == pytest.approx(4.0)


def test_reset_forgets_recorded_ops():
    x = core.Variable(np.array(2.0))
    with core.GradientTape() as tape:
        y = x * x
        tape.reset()
        z = x * 3.0
    assert tape.gradient(z, x).item() == pytest.approx(3.0)


def test_reset_then_gradient_through_forgotten_ops_is_none():
    x = core.Variable(np.array(2.0))
    with core.GradientTape() as tape:
        y = x * x
        tape.reset()
    assert tape.gradient(y, x) is None


def test_nested_tapes_second_and_third_order():
    x = f64(1.5)
    with core.GradientTape() as t2:
        t2.watch(x)
        with core.GradientTape() as t1:
            t1.watch(x)
            y = core.sin(x) * x
        dy = t1.gradient(y, x)
    d2y = t2.gradient(dy, x)
    # y = x sin x; y' = sin x + x cos x; y'' = 2 cos x - x sin x
    assert dy.item() == pytest.approx(np.sin(1.5) + 1.5 * np.cos(1.5))
    assert d2y.item() == pytest.approx(2 * np.cos(1.5) - 1.5 * np.sin(1.5))


def test_sources_nested_structures():
    a = core.Variable(np.array(1.0))
    b = core.Variable(np.array(2.0))
    c = core.Variable(np.array(3.0))
    with core.GradientTape() as tape:
        y = a * b * c
    g = tape.gradient(y, {"first": a, "rest": (b, [c])})
    assert set(g) == {"first", "rest"}
    assert g["first"].item() == pytest.approx(6.0)
    assert isinstance(g["rest"], tuple) and isinstance(g["rest"][1], list)
    assert g["rest"][0].item() == pytest.approx(3.0)
    assert g["rest"][1][0].item() == pytest.approx(2.0)


def test_output_gradients_weight_the_target():
    x = core.Variable(np.array([1.0, 2.0, 3.0]))
    with core.GradientTape() as tape:
        y = x * x
    g = tape.gradient(y, x, output_gradients=f64([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(g.numpy(), [2.0, 0.0, 12.0])


def test_unconnected_none_or_zero():
    x = core.Variable(np.array([1.0, 2.0]))
    u = core.Variable(np.array([5.0, 5.0, 5.0]))
    with core.GradientTape(persistent=True) as tape:
        y = (x * 2.0).sum()
    assert tape.gradient(y, u) is None
    z = tape.gradient(y, u, unconnected_gradients="zero")
    np.testing.assert_array_equal(z.numpy(), np.zeros(3))


def test_gradient_wrt_intermediate_tensor():
    x = core.Variable(np.array(2.0))
    with core.GradientTape() as tape:
        h = x * 3.0
        y = h * h
    assert tape.gradient(y, h).item() == pytest.approx(12.0)


def test_jacobian():
    x = core.Variable(np.array([1.0, 2.0]))
    with core.GradientTape(persistent=True) as tape:
        y = x * x * 3.0
    j = tape.jacobian(y, x)
    np.testing.assert_allclose(j.numpy(), [[6.0, 0.0], [0.0, 12.0]])


# ---------------------------------------------------------- backward() --


def test_backward_accumulates_on_leaves_and_variables():
    x = core.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = core.Variable(np.array([3.0, 4.0]))
    y = (x * w).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0])
    y2 = (x * w).sum()
    y2.backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 8.0])   # accumulated
    x.grad = None
    (x * 1.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_backward_non_scalar_needs_grad_argument():
    x = core.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(core.GradientError, match="scalar"):
        y.backward()
    y.backward(np.array([1.0, 10.0], dtype=np.float32))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_backward_without_graph_is_a_clear_error():
    x = core.tensor([1.0, 2.0])
    with pytest.raises(core.GradientError, match="does not require grad"):
        x.sum().backward()


def test_backward_does_not_give_grads_to_intermediates_or_constants():
    x = core.tensor([1.0], requires_grad=True)
    c = core.tensor([5.0])
    h = x * c
    (h * h).sum().backward()
    assert h.grad is None and c.grad is None
    assert x.grad.item() == pytest.approx(50.0)


def test_integer_and_bool_tensors_never_receive_gradients():
    with pytest.raises(core.DTypeError):
        core.tensor([1, 2], requires_grad=True)
    i = core.tensor([1, 2])
    x = core.tensor([1.0, 2.0], requires_grad=True)
    with core.GradientTape() as tape:
        tape.watch([i, x])
        y = (x * i.astype("float32")).sum()
    gi, gx = tape.gradient(y, [i, x])
    assert gi is None
    np.testing.assert_allclose(gx.numpy(), [1.0, 2.0])


def test_broadcast_gradient_reduces_to_operand_shape():
    a = core.tensor(np.ones((3, 1)), requires_grad=True)
    b = core.tensor(np.arange(4.0), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(a.grad.numpy(), np.full((3, 1), 6.0))
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 3.0))


# ---------------------------------------------------- functional helpers --


def test_grad_and_value_and_grad_argnums():
    def f(x, y):
        return (x * x * y).sum()

    x, y = f64([1.0, 2.0]), f64([3.0, 4.0])
    gx = core.grad(f)(x, y)
    np.testing.assert_allclose(gx.numpy(), [6.0, 16.0])
    val, (gx2, gy) = core.value_and_grad(f, argnums=(0, 1))(x, y)
    assert val.item() == pytest.approx(19.0)
    np.testing.assert_allclose(gy.numpy(), [1.0, 4.0])


def test_grad_has_aux():
    def f(x):
        y = (x * x).sum()
        return y, {"mean": x.mean()}

    g, aux = core.grad(f, has_aux=True)(f64([1.0, 3.0]))
    np.testing.assert_allclose(g.numpy(), [2.0, 6.0])
    assert aux["mean"].item() == pytest.approx(2.0)


def test_grad_of_grad_of_grad():
    f = lambda x: x * x * x * x   # noqa: E731
    x = f64(2.0)
    assert core.grad(core.grad(core.grad(f)))(x).item() == pytest.approx(48.0)


def test_grad_needs_scalar_output():
    with pytest.raises(core.GradientError, match="scalar"):
        core.grad(lambda x: x * 2.0)(f64([1.0, 2.0]))


def test_custom_gradient_replaces_the_vjp():
    @core.custom_gradient
    def clip_grad_identity(x):
        def grad_fn(dy):
            return core.clip(dy, -1.0, 1.0)
        return x * 1.0, grad_fn

    x = core.Variable(np.array([1.0, 2.0]))
    with core.GradientTape() as tape:
        y = (clip_grad_identity(x) * 10.0).sum()
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [1.0, 1.0])


def test_custom_gradient_log1pexp_stable():
    @core.custom_gradient
    def log1pexp(x):
        e = core.exp(x)

        def grad_fn(dy):
            return dy * (1 - 1 / (1 + e))
        return core.log(1 + e), grad_fn

    x = f64(100.0)
    g = core.grad(log1pexp)(x)
    assert g.item() == pytest.approx(1.0)


def test_no_grad_and_stop_gradient():
    x = core.tensor([2.0], requires_grad=True)
    with core.no_grad():
        y = x * x
    assert not y.requires_grad and y.is_leaf
    z = core.stop_gradient(x * x) * x
    z.sum().backward()
    assert x.grad.item() == pytest.approx(4.0)    # only the direct path

    @core.no_grad()
    def f(t):
        return t * 3.0

    assert not f(x).requires_grad


# -------------------------------------------------------------- Variable --


def test_variable_assign_is_in_place_and_not_recorded():
    v = core.Variable(np.array([1.0, 2.0]), name="v")
    data_before = v._data
    with core.GradientTape() as tape:
        v.assign_add(np.array([1.0, 1.0]))
        v.assign_sub(core.tensor(np.array([0.5, 0.5])))
        y = (v * 1.0).sum()
    assert v._data is data_before
    np.testing.assert_allclose(v.numpy(), [1.5, 2.5])
    assert tape.gradient(y, v).numpy().tolist() == [1.0, 1.0]
    v.assign([7.0, 8.0])
    np.testing.assert_allclose(v.numpy(), [7.0, 8.0])
    with pytest.raises(core.ShapeError, match="shape"):
        v.assign([1.0, 2.0, 3.0])


def test_variable_numpy_is_a_snapshot():
    v = core.Variable(np.array([1.0]))
    snap = v.numpy()
    v.assign_add([1.0])
    assert snap[0] == 1.0


def test_non_trainable_variable_not_watched():
    v = core.Variable(np.array(2.0), trainable=False)
    with core.GradientTape() as tape:
        y = v * v
    assert tape.gradient(y, v) is None


def test_variable_freed_with_last_reference():
    v = core.Variable(np.ones((100, 100)), name="big")
    with core.GradientTape() as tape:
        y = (v * v).sum()
    tape.gradient(y, v)
    ref = weakref.ref(v)
    del v, y, tape
    gc.collect()
    assert ref() is None


def test_tape_does_not_keep_tensors_alive():
    x = core.Variable(np.ones(10))
    with core.GradientTape() as tape:
        y = x * 2.0
    ref = weakref.ref(y)
    del y
    gc.collect()
    assert ref() is None
    assert tape is not None


def test_variable_repr_names_it():
    v = core.Variable(np.zeros(3, np.float32), name="bias")
    assert "bias" in repr(v) and "Variable" in repr(v)


def test_every_recording_path_fills_every_node_field():
    """The fast paths build nodes inline (no __init__ call); they must set
    exactly what Node.__init__ sets, with and without hooks."""
    from core._dispatch import Node

    fields = [f for f in Node.__slots__ if f != "__weakref__"]

    class Quiet:
        def after_op(self, ev):
            pass

    x = core.tensor(np.ones((2, 2)), requires_grad=True)
    for hooked in (False, True):
        handle = core.hooks.register(Quiet()) if hooked else None
        try:
            with core.GradientTape() as tape, core.scope("s"):
                outs = [core.exp(x), x * 2.0, x.sum(axis=0), core.concat([x, x])]
        finally:
            if handle is not None:
                handle.remove()
        for t in outs:
            n = t._node
            missing = [f for f in fields if not hasattr(n, f)]
            assert not missing, (t._node.op.name, hooked, missing)
            assert n.scope == ("s",) and tape in n.tapes and n.index > 0
