"""The hook contract: every op, forward and backward, through one choke point."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import _dispatch


class Recorder:
    def __init__(self):
        self.events = []
        self.order = []

    def before_op(self, ev):
        assert ev.outputs is None
        self.order.append(("before", ev.index, ev.name))

    def after_op(self, ev):
        assert ev.outputs is not None
        self.order.append(("after", ev.index, ev.name))
        self.events.append(ev)


def line_of(marker):
    """Line number in this file of the line containing ``marker``."""
    with open(__file__) as f:
        for i, line in enumerate(f, 1):
            if marker in line and "line_of(" not in line:
                return i
    raise AssertionError(marker)


def test_event_fields_and_user_line():
    rec = Recorder()
    a = core.tensor(np.ones((2, 3), np.float32))
    b = core.tensor(np.ones((3, 4), np.float32))
    with core.hooks.attached(rec):
        with core.scope("model"), core.scope("dense"):
            out = a @ b  # MARK-matmul
    (ev,) = rec.events
    assert ev.name == "matmul" and ev.phase == "forward"
    assert ev.inputs[0] is a and ev.inputs[1] is b
    assert ev.outputs[0] is out
    assert ev.device is core.get_device("cpu")
    assert ev.scope == ("model", "dense")
    assert ev.location[0] == __file__
    assert ev.location[1] == line_of("MARK-matmul")
    assert ev.location[2] == "test_event_fields_and_user_line"
    assert ev.forward_index is None
    assert ev.start_ns <= ev.kernel_start_ns <= ev.kernel_end_ns <= ev.end_ns
    assert ev.attrs == {}
    assert ev.op is _dispatch.REGISTRY["matmul"]


def test_attrs_reach_the_event():
    rec = Recorder()
    x = core.tensor(np.ones((2, 3), np.float32))
    with core.hooks.attached(rec):
        x.sum(axis=1, keepdims=True)
    assert rec.events[0].attrs == {"axis": 1, "keepdims": True}


def test_before_runs_before_after_and_indices_are_monotonic():
    rec = Recorder()
    x = core.tensor([1.0, 2.0])
    with core.hooks.attached(rec):
        y = core.exp(x)
        z = y + 1.0
    assert [o[0] for o in rec.order] == ["before", "after", "before", "after"]
    idx = [e.index for e in rec.events]
    assert idx == sorted(idx) and len(set(idx)) == 2
    assert z.shape == (2,)


def test_backward_ops_emit_events_linked_to_forward():
    rec = Recorder()
    x = core.tensor([1.0, 2.0], requires_grad=True)
    with core.hooks.attached(rec):
        with core.scope("layer"):
            h = core.tanh(x)    # MARK-fwd
            loss = (h * h).sum()
        loss.backward()         # MARK-bwd
    fwd = {e.index: e for e in rec.events if e.phase == "forward"}
    bwd = [e for e in rec.events if e.phase == "backward"]
    assert {e.name for e in fwd.values()} == {"tanh", "mul", "sum"}
    assert bwd, "backward ops must pass through the dispatch"
    for e in bwd:
        assert e.forward_index in fwd
        assert e.index > max(fwd)
        assert e.scope == ("layer",)   # attributed to the forward op's scope
        assert e.location[1] == line_of("MARK-bwd")
    tanh_fwd = next(i for i, e in fwd.items() if e.name == "tanh")
    assert any(e.forward_index == tanh_fwd and e.name == "tanh_grad"
               for e in bwd)
    assert next(e for e in fwd.values() if e.name == "tanh").location[1] == \
        line_of("MARK-fwd")


def test_handle_remove_is_idempotent_and_a_context_manager():
    rec = Recorder()
    h = core.hooks.register(rec)
    core.exp(core.tensor([1.0]))
    h.remove()
    h.remove()
    core.exp(core.tensor([1.0]))
    assert len(rec.events) == 1
    rec2 = Recorder()
    with core.hooks.register(rec2):
        core.exp(core.tensor([1.0]))
    core.exp(core.tensor([1.0]))
    assert len(rec2.events) == 1
    assert core.hooks.registered() == ()


def test_attached_nests():
    outer, inner = Recorder(), Recorder()
    x = core.tensor([1.0])
    with core.hooks.attached(outer):
        core.exp(x)
        with core.hooks.attached(inner):
            core.exp(x)
        core.exp(x)
    assert len(outer.events) == 3 and len(inner.events) == 1


def test_hook_with_only_one_method_and_invalid_hook():
    seen = []

    class Before:
        def before_op(self, ev):
            seen.append(ev.name)

    with core.hooks.attached(Before()):
        core.tensor([1.0]) * 2.0
    assert seen == ["mul"]
    with pytest.raises(TypeError):
        core.hooks.register(object())


def test_hook_exception_names_the_hook_and_engine_survives():
    class Broken:
        def after_op(self, ev):
            raise RuntimeError("boom")

    x = core.tensor([1.0], requires_grad=True)
    with pytest.raises(core.HookError, match=r"Broken\.after_op.*boom.*exp"):
        with core.hooks.attached(Broken()):
            core.exp(x)
    # the engine is intact afterwards
    assert core.hooks.registered() == ()
    y = (core.exp(x) * 2.0).sum()
    y.backward()
    assert x.grad.item() == pytest.approx(2 * np.e)


def test_base_exceptions_pass_through_hooks():
    class Quit(BaseException):
        pass

    class Stopper:
        def before_op(self, ev):
            raise Quit()

    with pytest.raises(Quit):
        with core.hooks.attached(Stopper()):
            core.exp(core.tensor([1.0]))


def test_no_hooks_costs_one_check_and_sees_nothing():
    # nothing registered: the fast path never builds events
    assert _dispatch.hooks == []
    calls = []
    orig = _dispatch._run_hooked
    _dispatch._run_hooked = lambda *a: calls.append(a)
    try:
        core.tensor([1.0]) + 1.0
        core.exp(core.tensor([1.0]))
        core.tensor(np.ones((2, 2))).sum(axis=0)
    finally:
        _dispatch._run_hooked = orig
    assert calls == []


def test_location_only_captured_with_hooks_and_outside_engine():
    # ops issued from inside the engine (e.g. the mean -> sum/div composition)
    # report the user's line, not core's
    rec = Recorder()
    x = core.tensor(np.ones((2, 2), np.float32))
    with core.hooks.attached(rec):
        x.mean()  # MARK-mean
    assert rec.events and all(e.location[1] == line_of("MARK-mean")
                              for e in rec.events)


def test_device_timer_events_on_simulated_gpu(sim_gpu):
    class Timed(Recorder):
        wants_device_time = True

    rec = Timed()
    x = core.tensor(np.ones((64, 64), np.float32), device="gpu")
    with core.hooks.attached(rec):
        x @ x
    (ev,) = rec.events
    assert str(ev.device) == "gpu:0"
    t = ev.resolve_device_time()
    assert t is not None and t >= 0
    assert ev.device_time_ns == t


def test_scope_nesting_and_restore():
    assert core.hooks.current_scope() == ()
    with core.scope("a"):
        with core.scope("b"):
            assert core.hooks.current_scope() == ("a", "b")
        assert core.hooks.current_scope() == ("a",)
    assert core.hooks.current_scope() == ()


def test_tape_entries_listed_for_debugger_hooks():
    class Debugger(Recorder):
        wants_tape_entries = True

    x = core.Variable(np.array([1.0, 2.0]))
    with core.hooks.attached(Debugger()):
        with core.GradientTape() as tape:
            y = core.exp(x)
            z = y.sum()
    assert [n.op.name for n in tape.entries] == ["exp", "sum"]
    assert tape.gradient(z, x) is not None


def test_user_line_is_exact_for_repeated_engine_calls_and_custom_grads():
    """The walk shortcuts (per engine frame, per backward pass) never give
    an op the wrong line."""
    rec = Recorder()
    x = core.Variable(np.ones((2, 3)))

    @core.custom_gradient
    def scaled(t):
        def grad_fn(dy):
            return core.clip(dy * 3.0, -10.0, 10.0)  # MARK-custom-grad
        return t * 3.0, grad_fn

    with core.hooks.attached(rec):
        with core.GradientTape() as tape:
            a = core.losses.mse(x, core.zeros((2, 3)))  # MARK-call-1
            b = core.losses.mse(x, core.ones((2, 3)))  # MARK-call-2
            c = scaled(x).sum()
            loss = a + b + c
        tape.gradient(loss, x)  # MARK-grad
    fwd = [e for e in rec.events if e.phase == "forward"]
    lines = {e.location[1] for e in fwd if e.scope == ()}
    assert line_of("MARK-call-1") in lines and line_of("MARK-call-2") in lines
    first = [e.location[1] for e in fwd[:len(fwd) // 2]]
    assert line_of("MARK-call-2") not in first[:2]
    bwd = [e for e in rec.events if e.phase == "backward"]
    bwd_lines = {e.location[1] for e in bwd}
    assert line_of("MARK-grad") in bwd_lines
    clip = [e for e in bwd if e.name == "clip"]
    assert clip and all(e.location[1] == line_of("MARK-custom-grad")
                        for e in clip)      # engine code called by user code
    assert bwd_lines <= {line_of("MARK-grad"), line_of("MARK-custom-grad")}
