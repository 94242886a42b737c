"""Bad input gets a core error naming the op, the operands' shapes and the
user's line (this file), never a numpy traceback."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core import DTypeError, ShapeError


def T(*shape, dtype="float32"):
    return core.zeros(*shape, dtype=dtype)


def _check(ei, op, *fragments):
    msg = str(ei.value)
    assert msg.startswith(f"{op}:"), msg
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    assert f"{__file__}:{ei.tb.tb_lineno}" in msg, msg
    assert ei.value.op == op


def test_matmul_inner_dimensions():
    with pytest.raises(ShapeError) as ei:
        core.matmul(T(2, 3), T(4, 5))
    _check(ei, "matmul", "(2, 3)", "(4, 5)", "inner dimensions", "3 with 4")


def test_matmul_operator_batch_dims():
    with pytest.raises(ShapeError) as ei:
        T(2, 3, 4) @ T(3, 4, 5)
    _check(ei, "matmul", "(2, 3, 4)", "(3, 4, 5)", "batch dimensions")


def test_broadcast_mismatch_in_binary_op():
    with pytest.raises(ShapeError) as ei:
        T(2, 3) + T(4)
    _check(ei, "add", "(2, 3)", "(4,)")


def test_conv2d_channel_mismatch():
    with pytest.raises(ShapeError) as ei:
        core.conv2d(T(1, 3, 8, 8), T(4, 2, 3, 3))
    _check(ei, "conv2d", "(1, 3, 8, 8)", "(4, 2, 3, 3)", "3 channels",
           "expects 2")


def test_conv2d_kernel_larger_than_input_and_bad_rank():
    with pytest.raises(ShapeError) as ei:
        core.conv2d(T(1, 1, 2, 2), T(1, 1, 3, 3))
    _check(ei, "conv2d", "larger than the padded input")
    with pytest.raises(ShapeError) as ei:
        core.conv2d(T(3, 8, 8), T(4, 3, 3, 3))
    _check(ei, "conv2d", "(3, 8, 8)", "(N, C, H, W)")


def test_pool_bad_input():
    with pytest.raises(ShapeError) as ei:
        core.max_pool2d(T(8, 8), 2)
    _check(ei, "max_pool2d", "(8, 8)")
    with pytest.raises(ShapeError) as ei:
        core.avg_pool2d(T(1, 1, 2, 2), 3)
    _check(ei, "avg_pool2d", "larger than")


def test_concat_and_stack_shapes():
    with pytest.raises(ShapeError) as ei:
        core.concat([T(2, 3), T(3, 4)], axis=0)
    _check(ei, "concat", "(2, 3)", "(3, 4)", "except along axis 0")
    with pytest.raises(ShapeError) as ei:
        core.stack([T(2, 3), T(2, 4)])
    _check(ei, "stack", "(2, 3)", "(2, 4)", "the same shape")


@pytest.mark.parametrize("op", ["sum", "max", "mean", "var", "argmax", "softmax",
                                "logsumexp", "cumsum"])
def test_bad_axis(op):
    with pytest.raises(ShapeError) as ei:
        getattr(core, op)(T(2, 3), axis=4)
    _check(ei, op, "(2, 3)", "4")


def test_bad_axis_in_shape_helpers():
    with pytest.raises(ShapeError) as ei:
        core.swapaxes(T(2, 3), 0, 2)
    _check(ei, "swapaxes", "(2, 3)", "axis 2")
    with pytest.raises(ShapeError) as ei:
        core.squeeze(T(2, 3), 1)
    _check(ei, "squeeze", "length 3")
    with pytest.raises(ShapeError) as ei:
        core.split(T(2, 5), 2, axis=1)
    _check(ei, "split", "(2, 5)", "2 equal sections")


def test_reshape_size_mismatch():
    with pytest.raises(ShapeError) as ei:
        core.reshape(T(2, 3), (4, 2))
    _check(ei, "reshape", "(2, 3)")


def test_einsum_mismatched_index():
    with pytest.raises(ShapeError) as ei:
        core.einsum("ij,jk->ik", T(2, 3), T(4, 5))
    _check(ei, "einsum", "(2, 3)", "(4, 5)", "'j'")
    with pytest.raises(ShapeError) as ei:
        core.einsum("ijk->i", T(2, 3))
    _check(ei, "einsum", "(2, 3)")


def test_integer_indices_required():
    with pytest.raises(DTypeError) as ei:
        core.take(T(3, 2), core.tensor([0.5, 1.0]))
    _check(ei, "take", "(3, 2)", "integers")
    with pytest.raises(DTypeError) as ei:
        core.one_hot(core.tensor([0.0, 1.0]), 3)
    _check(ei, "one_hot", "(2,)", "integers")


def test_pad_and_dropout_arguments():
    with pytest.raises(ShapeError) as ei:
        core.pad(T(2, 3), ((1, 1), (1, 1), (1, 1)))
    _check(ei, "pad", "(2, 3)", "rank 2")
    with pytest.raises(ShapeError) as ei:
        core.dropout(T(2, 3), 1.5)
    _check(ei, "dropout", "(2, 3)", "rate")


def test_bias_add_length():
    with pytest.raises(ShapeError) as ei:
        core.bias_add(T(2, 3, 4), T(4))
    _check(ei, "bias_add", "(2, 3, 4)", "(4,)", "length 3")


def test_errors_are_also_the_builtin_kinds():
    # ShapeError is a ValueError, DTypeError a TypeError (numpy habits work)
    with pytest.raises(ValueError):
        core.matmul(T(2, 3), T(2, 3))
    with pytest.raises(TypeError):
        core.take(T(2), np.array([0.5]))


def test_transpose_needs_a_permutation():
    with pytest.raises(ShapeError) as ei:
        core.transpose(T(2, 3), (0, 5))
    _check(ei, "transpose", "(2, 3)", "permutation")
    with pytest.raises(ShapeError) as ei:
        T(2, 3, 4).permute(0, 0, 1)
    _check(ei, "transpose", "(2, 3, 4)")


def test_conv_transpose2d_channel_mismatch():
    with pytest.raises(ShapeError) as ei:
        core.conv_transpose2d(T(1, 3, 4, 4), T(2, 5, 3, 3))
    _check(ei, "conv_transpose2d", "(1, 3, 4, 4)", "(2, 5, 3, 3)",
           "3 channels")
