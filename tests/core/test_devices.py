"""The device layer against the simulated GPU (cupy's code path: its own
array type, no implicit host mixing, timer events), plus the CPU-only and
no-GPU behaviours."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

import core
from core import _dispatch
from core import devices as D
from core.devices import SimArray

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _line(offset):
    """The caller's line number plus ``offset``."""
    return inspect.currentframe().f_back.f_lineno + offset


# ------------------------------------------------------------- placement --


def test_device_context_places_new_tensors(sim_gpu):
    assert core.ones(2).device == "cpu"
    with core.device("gpu") as dev:
        assert dev is sim_gpu and dev.simulated
        a = core.ones(3)
        b = core.tensor([1.0, 2.0, 3.0])
        c = core.randn(2, 2)
        with core.device("cpu"):
            d = core.zeros(2)
        e = core.arange(4)
    for t in (a, b, c, e):
        assert t.device is sim_gpu and type(t._data) is SimArray
    assert d.device == "cpu" and type(d._data) is np.ndarray
    assert core.ones(2).device == "cpu"     # context popped
    assert repr(sim_gpu) == "device('gpu:0') (simulated)"
    assert sim_gpu == "gpu" and sim_gpu == "gpu:0" and sim_gpu != "cpu"


def test_device_argument_and_ops_run_where_inputs_live(sim_gpu):
    x = core.tensor([1.0, -2.0, 3.0], device="gpu")
    assert x.device is sim_gpu
    with core.device("cpu"):
        y = core.relu(x * 2) + 1            # inputs on the GPU: runs there
    assert y.device is sim_gpu and type(y._data) is SimArray
    np.testing.assert_allclose(y.numpy(), [3.0, 1.0, 7.0])
    assert type(y.numpy()) is np.ndarray
    z = core.ones(3, device=sim_gpu)
    assert z.device is sim_gpu
    core.random.seed(5)
    on_cpu = core.randn(4).numpy()
    core.random.seed(5)
    on_gpu = core.randn(4, device="gpu").numpy()
    np.testing.assert_array_equal(on_cpu, on_gpu)   # one seed, any device


def test_gpu_index_and_bad_specs(sim_gpu):
    assert core.get_device("gpu:0") is sim_gpu
    assert core.get_device("cuda:0") is sim_gpu
    with pytest.raises(core.DeviceError, match="unknown device"):
        core.get_device("tpu")
    with pytest.raises(core.DeviceError, match="bad device index"):
        core.get_device("gpu:x")
    with pytest.raises(core.DeviceError, match="must be a string"):
        core.get_device(3)


# ------------------------------------------------------------- transfers --


def test_to_gpu_and_back_with_gradients(sim_gpu):
    x0 = np.array([1.0, 2.0, 3.0], dtype="float32")
    x = core.tensor(x0, requires_grad=True)
    g = x.to("gpu")
    assert g.device is sim_gpu and type(g._data) is SimArray
    y = (core.exp(g) * g).sum().to("cpu")
    assert y.device == "cpu" and type(y._data) is not SimArray
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x0) * (1 + x0),
                               rtol=1e-5)


def test_gpu_leaf_gets_its_gradient_on_the_gpu(sim_gpu):
    w = core.Variable(np.array([0.5, -1.0], "float32"), device="gpu")
    assert w.device is sim_gpu
    with core.GradientTape() as tape:
        c = w.to("cpu")
        loss = core.sum(c * c * 3.0)
    (gw,) = tape.gradient(loss, [w])
    assert gw.device is sim_gpu and type(gw._data) is SimArray
    np.testing.assert_allclose(gw.numpy(), [3.0, -6.0])
    back = gw.cpu().gpu()
    assert back.device is sim_gpu
    np.testing.assert_allclose(back.numpy(), [3.0, -6.0])


def test_transfer_is_a_copy(sim_gpu):
    x = core.tensor([1.0, 2.0])
    g = x.to("gpu")
    h = g.to("gpu")
    assert h._data is not g._data
    host = g.numpy()
    host[0] = 99.0                    # a host copy: the GPU data is intact
    np.testing.assert_allclose(g.numpy(), [1.0, 2.0])


# ---------------------------------------------------------------- mixing --


def test_mixing_devices_raises_naming_devices_op_and_line(sim_gpu):
    a = core.ones(3)
    b = core.ones(3, device="gpu")
    line = _line(2)
    with pytest.raises(core.DeviceError) as info:
        a + b
    msg = str(info.value)
    assert "add" in msg and "cpu" in msg and "gpu:0" in msg
    assert f"{__file__}:{line}" in msg
    assert info.value.op == "add"
    line = _line(2)
    with pytest.raises(core.DeviceError) as info:
        core.matmul(core.ones((2, 2), device="gpu"), core.ones((2, 2)))
    msg = str(info.value)
    assert "matmul" in msg and "gpu:0" in msg and "cpu" in msg
    assert f"test_devices.py:{line}" in msg
    with pytest.raises(core.DeviceError, match="where"):
        core.where(core.ones(2) > 0, core.ones(2, device="gpu"), 0.0)


def test_np_asarray_of_a_gpu_tensor_refuses_like_cupy(sim_gpu):
    g = core.ones(3, device="gpu")
    with pytest.raises(TypeError, match=r"\.numpy\(\)"):
        np.asarray(g)
    np.testing.assert_allclose(np.asarray(core.ones(3)), [1, 1, 1])
    np.testing.assert_allclose(g.numpy(), [1, 1, 1])


def test_sim_array_refuses_host_ndarrays(sim_gpu):
    s = core.ones(3, device="gpu")._data
    host = np.ones(3, dtype="float32")
    with pytest.raises(TypeError, match="cannot mix"):
        s + host
    with pytest.raises(TypeError, match="cannot mix"):
        host * s
    with pytest.raises(TypeError, match="cannot mix"):
        np.concatenate([s, host])
    with pytest.raises(TypeError, match="cannot mix"):
        sim_gpu.xp.maximum(s, host)
    out = s * 2.0 + np.float32(1)       # scalars are fine, as in cupy
    assert type(out) is SimArray
    assert type(sim_gpu.xp.exp(s)) is SimArray
    assert type(s.sum()) is SimArray and type(s @ s) is SimArray
    assert type(s[0]) is SimArray and s[0].shape == ()   # 0-d, as cupy
    with pytest.raises(TypeError, match="pickled"):
        s.__reduce__()


# ------------------------------------------------------------------ timers --


def test_events_measure(sim_gpu):
    be = sim_gpu.backend
    assert be.has_device_timer
    e0, e1 = be.event(), be.event()
    assert not e0.done
    e0.record()
    sum(range(1000))
    e1.record()
    e1.synchronize()
    assert e0.done and e1.done
    ns = be.elapsed_ns(e0, e1)
    assert isinstance(ns, int) and ns >= 0
    before = be._syncs
    sim_gpu.synchronize()
    assert be._syncs == before + 1


def test_hooks_get_device_time_on_the_gpu(sim_gpu):
    class Timer:
        wants_device_time = True

        def __init__(self):
            self.events = []

        def after_op(self, ev):
            self.events.append(ev)

    timer = Timer()
    x = core.ones((4, 4), device="gpu")
    with core.hooks.attached(timer):
        core.tanh(x @ x)
        core.ones(2) + 1                     # CPU op: no device timer
    gpu_evs = [e for e in timer.events if e.device is sim_gpu]
    assert [e.name for e in gpu_evs] == ["matmul", "tanh"]
    for e in gpu_evs:
        ns = e.resolve_device_time(block=True)
        assert isinstance(ns, int) and ns >= 0
    assert timer.events[-1].resolve_device_time() is None


# ---------------------------------------------------------- environment --


def _run_python(code, **env):
    full = dict(os.environ)
    full.pop("CORE_SIM_GPU", None)
    full.update(env)
    full["PYTHONPATH"] = ROOT + os.pathsep + full.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=full, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_core_device_env_forces_the_cpu_in_a_subprocess():
    code = ("import core; print(core.default_device(), "
            "core.ones(2).device, core.devices.gpu_available())")
    assert _run_python(code, CORE_DEVICE="cpu", CORE_SIM_GPU="1") == \
        "cpu cpu True"
    assert _run_python(code, CORE_DEVICE="gpu", CORE_SIM_GPU="1") == \
        "gpu:0 gpu:0 True"


def test_gpu_without_cupy_or_simulator_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec

    def no_cupy(name, *a, **k):
        return None if name == "cupy" else real(name, *a, **k)

    monkeypatch.setattr(importlib.util, "find_spec", no_cupy)
    monkeypatch.setattr(D, "_gpu_devices", {})
    monkeypatch.setattr(D, "_sim_enabled", False)
    monkeypatch.setattr(D, "_default", None)
    with pytest.raises(core.DeviceUnavailableError) as info:
        core.get_device("gpu")
    assert "cupy is not installed" in str(info.value)
    assert isinstance(info.value, core.DeviceError)
    with pytest.raises(core.DeviceUnavailableError, match="cupy"):
        core.ones(2, device="gpu:1")
    assert not D.gpu_available()


# ------------------------------------------------------------- backends --


def _interface(backend):
    return {k: callable(getattr(backend, k)) for k in dir(backend)
            if not k.startswith("_")}


def test_backend_parity(sim_gpu):
    numpy_keys = _interface(D.NUMPY)
    sim_keys = _interface(sim_gpu.backend)
    assert numpy_keys == sim_keys
    assert {"xp", "to_host", "from_host", "synchronize", "event",
            "elapsed_ns", "name", "slot", "has_device_timer"} \
        <= set(numpy_keys)
    for be in (D.NUMPY, sim_gpu.backend):
        host = np.arange(3, dtype="float32")
        dev_arr = be.from_host(host, 0)
        back = be.to_host(dev_arr)
        assert type(back) is np.ndarray
        np.testing.assert_array_equal(back, host)
    if importlib.util.find_spec("cupy") is not None:
        import cupy

        class Probe(D.CupyBackend):
            def __init__(self):        # no GPU needed to list the keys
                self.xp = cupy
                self._cp = cupy

        assert _interface(Probe()) == numpy_keys


def test_every_registered_op_builds_a_sim_kernel(sim_gpu):
    for mod in ("core.nn", "core.losses", "core.optim", "core.metrics"):
        try:                                 # lazily registered ops too
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
    sim_xp = sim_gpu.backend.xp
    ops = dict(_dispatch.REGISTRY)
    assert len(ops) > 30
    for name, op in ops.items():
        kernel = op.make(sim_xp)
        assert callable(kernel), name


def test_sim_kernels_are_built_lazily_and_cached(sim_gpu):
    op = _dispatch.REGISTRY["exp"]
    x = core.ones(2, device="gpu")
    core.exp(x)
    k = op.kernels[sim_gpu.slot]
    assert not isinstance(k, _dispatch._LazyKernel)
    core.exp(x)
    assert op.kernels[sim_gpu.slot] is k
