"""Tensors as users meet them: creation, dtypes, conversion, repr, errors."""

from __future__ import annotations

import numpy as np
import pytest

import core


def line_of(marker):
    with open(__file__) as f:
        for i, line in enumerate(f, 1):
            if marker in line and "line_of(" not in line:
                return i
    raise AssertionError(marker)


@pytest.mark.parametrize("data,dtype", [
    (1.5, np.float32), ([1.0, 2.0], np.float32), ([1, 2], np.int64),
    ([True, False], np.bool_), (np.arange(3, dtype=np.int32), np.int32),
    (np.ones(2, np.float64), np.float64), (np.ones(2, np.float16), np.float16),
])
def test_default_dtypes(data, dtype):
    assert core.tensor(data).dtype == dtype


@pytest.mark.parametrize("name", ["float32", "float64", "float16", "int32",
                                  "int64", "bool"])
def test_explicit_dtypes(name):
    t = core.tensor([1, 0, 1], dtype=name)
    assert t.dtype == np.dtype(name)
    assert core.zeros(2, 3, dtype=name).dtype == np.dtype(name)
    assert core.tensor([1, 2], dtype=getattr(np, name if name != "bool"
                                             else "bool_")).dtype == np.dtype(name)


def test_unknown_dtype_is_a_clear_error():
    with pytest.raises(core.DTypeError, match="unknown dtype 'float31'"):
        core.tensor([1.0], dtype="float31")


def test_creation_functions():
    assert core.zeros(2, 3).shape == (2, 3)
    assert core.zeros((2, 3)).dtype == np.float32
    assert core.ones(4).numpy().tolist() == [1.0] * 4
    assert core.full((2,), 7.0).numpy().tolist() == [7.0, 7.0]
    assert core.arange(5).numpy().tolist() == [0, 1, 2, 3, 4]
    assert core.arange(0.0, 1.0, 0.5).dtype == np.float32
    np.testing.assert_array_equal(core.eye(3).numpy(), np.eye(3))
    x = core.tensor([[1.0, 2.0]])
    assert core.zeros_like(x).shape == (1, 2)
    assert core.ones_like(x).numpy().sum() == 2.0
    core.random.seed(3)
    a = core.randn(3, 4)
    core.random.seed(3)
    b = core.randn(3, 4)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert core.rand(5).numpy().min() >= 0.0


def test_scalars_lists_and_arrays_accepted_where_a_tensor_is():
    x = core.tensor([1.0, 2.0])
    assert (x + 1).numpy().tolist() == [2.0, 3.0]
    assert (2.0 * x).numpy().tolist() == [2.0, 4.0]
    assert (x * np.array([3.0, 4.0], np.float32)).numpy().tolist() == [3.0, 8.0]
    assert (np.float32(2.0) - x).numpy().tolist() == [1.0, 0.0]
    assert core.exp([0.0, 0.0]).numpy().tolist() == [1.0, 1.0]
    assert (x + 1).dtype == np.float32          # Python scalars stay weak


def test_np_asarray_and_numpy_and_item():
    x = core.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(x)
    assert isinstance(a, np.ndarray) and a.shape == (2, 2)
    assert np.sum(np.asarray(x)) == 10.0
    assert x.sum().item() == 10.0
    assert float(x[0, 1]) == 2.0
    with pytest.raises(ValueError, match="4 elements"):
        x.item()
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_repr_is_bounded_and_informative():
    big = core.zeros(1000, 1000)
    r = repr(big)
    assert len(r) < 300
    assert "shape=(1000, 1000)" in r and "float32" in r and "cpu" in r
    small = core.tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(small)
    assert "grad_fn=mul" in repr(small * 2.0)


def test_shape_properties():
    x = core.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and isinstance(x.shape, tuple)
    assert x.ndim == 3 and x.size == 24 and len(x) == 2
    assert all(isinstance(d, int) for d in x.shape)


def test_truth_value_of_many_elements_is_an_error():
    with pytest.raises(ValueError, match="ambiguous"):
        bool(core.tensor([1.0, 2.0]))
    assert bool(core.tensor([1.0]))


def test_tensors_are_not_pickled():
    import pickle

    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(core.tensor([1.0]))


def test_detach_cuts_the_graph():
    x = core.tensor([1.0], requires_grad=True)
    y = (x * 2.0).detach()
    assert y.is_leaf and not y.requires_grad


def test_setitem_refused_with_guidance():
    x = core.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="immutable"):
        x[0] = 5.0


# ------------------------------------------------------------- errors --


def test_shape_error_names_op_shapes_and_user_line():
    a = core.tensor(np.ones((2, 3), np.float32))
    b = core.tensor(np.ones((4, 5), np.float32))
    with pytest.raises(core.ShapeError) as info:
        a @ b  # MARK-shape
    msg = str(info.value)
    assert msg.startswith("matmul:")
    assert "(2, 3) float32 cpu" in msg and "(4, 5) float32 cpu" in msg
    assert f"{__file__}:{line_of('MARK-shape')}" in msg
    assert isinstance(info.value, ValueError)
    assert info.value.op == "matmul"
    # no numpy frames chained into what the user sees
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_broadcast_error():
    with pytest.raises(core.ShapeError, match=r"add:.*\(3,\).*\(4,\)"):
        core.tensor([1.0, 2.0, 3.0]) + core.tensor([1.0, 2.0, 3.0, 4.0])


def test_dtype_error_is_a_type_error():
    with pytest.raises(core.DTypeError) as info:
        core.tensor([True]) - core.tensor([False])  # MARK-dtype
    assert isinstance(info.value, TypeError)
    assert str(info.value).startswith("sub:")
    assert "(1,) bool cpu" in str(info.value)
    assert f":{line_of('MARK-dtype')}" in str(info.value)


def test_device_mismatch_names_both_devices_op_and_line(sim_gpu):
    a = core.tensor([1.0, 2.0])
    b = core.tensor([1.0, 2.0], device="gpu")
    with pytest.raises(core.DeviceError) as info:
        a * b  # MARK-device
    msg = str(info.value)
    assert msg.startswith("mul:")
    assert "cpu" in msg and "gpu:0" in msg
    assert f"{__file__}:{line_of('MARK-device')}" in msg


def test_unsupported_operand_type():
    with pytest.raises(core.DTypeError, match="cannot use dict"):
        core.tensor([1.0]) + {"a": 1}
