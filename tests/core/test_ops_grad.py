"""Numerical gradient checks for every differentiable op (float64, central
differences), second order for elementwise ops, matmul, softmax and the
convolution/pooling family, and a registry test that fails when an op is
added without either a gradient check here or ``differentiable=False``."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import core
from core import _dispatch
from core.ops import nn_ops
from tests.core.gradcheck import check_grads, ops_run

_rng = np.random.default_rng(1234)


def R(*shape, lo=-1.0, hi=1.0):
    """Seeded uniform values, kept away from 0 for |x|-style kinks."""
    a = _rng.uniform(lo, hi, size=shape)
    return np.where(np.abs(a) < 0.1, np.sign(a + 1e-12) * 0.1 + a, a)


def P(*shape):
    """Seeded positive values in [0.5, 2)."""
    return _rng.uniform(0.5, 2.0, size=shape)


def D(*shape):
    """Distinct values (no ties), shuffled, spaced 0.05 apart."""
    n = int(np.prod(shape))
    return (_rng.permutation(n) * 0.05 - n * 0.025).reshape(shape)


class Case:
    def __init__(self, covers, f, *args, order=2, name=None):
        self.covers = (covers,) if isinstance(covers, str) else tuple(covers)
        self.f, self.args, self.order = f, args, order
        self.name = name or self.covers[0]

    def __repr__(self):
        return self.name


E = core
CASES = [
    # ------------------------------------------ arithmetic, broadcasting
    Case("add", E.add, R(3, 1), R(1, 4)),
    Case("add", lambda a: a + 2.5, R(3), name="add_scalar"),
    Case("sub", E.sub, R(4), R(3, 4)),
    Case("sub", lambda a: 1.0 - a, R(2, 3), name="rsub_scalar"),
    Case("mul", E.mul, R(2, 3, 4), R(3, 1)),
    Case("div", E.div, R(2, 3), P(2, 1)),
    Case("div", lambda a: 2.0 / a, P(3), name="rdiv_scalar"),
    Case("neg", E.neg, R(2, 3)),
    Case("pow", E.pow, P(2, 3), R(3)),
    Case("pow", lambda a: a ** 3, R(4), name="pow_scalar_exp"),
    Case("pow", lambda b: 2.0 ** b, R(4), name="pow_scalar_base"),
    Case("mod", E.mod, P(3, 4) * 3, np.array([0.7, 1.3, 0.9, 1.1])),
    # --------------------------------------------------------- unary math
    Case("exp", E.exp, R(2, 3)),
    Case("log", E.log, P(2, 3)),
    Case("log1p", E.log1p, P(5)),
    Case("expm1", E.expm1, R(5)),
    Case("sqrt", E.sqrt, P(5)),
    Case("rsqrt", E.rsqrt, P(5)),
    Case("abs", E.abs, R(2, 3)),
    Case("square", E.square, R(2, 3)),
    Case("sin", E.sin, R(5)),
    Case("cos", E.cos, R(5)),
    Case("tanh", E.tanh, R(5)),
    Case("sigmoid", E.sigmoid, R(5) * 4),
    Case("relu", E.relu, R(2, 3)),
    Case("leaky_relu", lambda x: E.leaky_relu(x, 0.2), R(2, 3)),
    Case("elu", lambda x: E.elu(x, 1.5), R(2, 3)),
    Case("softplus", E.softplus, R(6) * 5),
    Case("tanh_grad", lambda g, y: core.ops.elementwise.tanh_grad(g, y),
         R(2, 3), R(2, 3)),
    Case("sigmoid_grad", lambda g, y: core.ops.elementwise.sigmoid_grad(g, y),
         R(2, 3), R(3)),
    Case("relu_grad", lambda g, x: core.ops.elementwise.relu_grad(g, x),
         R(2, 3), R(2, 3)),
    Case("tanh_grad", lambda g, y: core.ops.elementwise.tanh_grad(g, y),
         R(3), R(2, 3), name="tanh_grad_bcast"),
    Case("relu_grad", lambda g, x: core.ops.elementwise.relu_grad(g, x),
         R(1, 3), R(2, 3), name="relu_grad_bcast"),
    Case(("mul", "tanh", "pow"), E.gelu, R(6) * 2, name="gelu"),
    Case(("mul", "sigmoid"), E.silu, R(6) * 2, name="silu"),
    Case("maximum", E.maximum, D(3, 4), D(4) + 0.013),
    Case("minimum", E.minimum, D(3, 1), D(3, 4) + 0.013),
    Case("clip", lambda x: E.clip(x, -0.5, 0.5), D(3, 4) * 0.7),
    Case("where", lambda a, b: E.where(E.tensor(np.array([True, False, True])),
                                       a, b), R(2, 3), R(2, 1)),
    # -------------------------------------------------------- reductions
    Case("sum", lambda x: E.sum(x, axis=1), R(2, 3, 4)),
    Case("sum", lambda x: E.mean(x, axis=(0, 2), keepdims=True), R(2, 3, 4),
         name="mean"),
    Case("prod", lambda x: E.prod(x, axis=1), R(2, 3, 4)),
    Case("prod", lambda x: E.prod(x, axis=1),
         np.array([[0.0, 2.0, 3.0], [0.5, 0.0, 1.5], [1.1, 0.7, 0.0]]),
         name="prod_one_zero"),
    # two zeros in a slice: exact first order (the second is documented
    # as exact only up to one zero per slice)
    Case("prod", lambda x: E.prod(x, axis=1),
         np.array([[0.0, 0.0, 3.0], [0.0, 0.0, 0.0], [1.1, 0.7, 0.0]]),
         name="prod_two_zeros", order=1),
    Case("max", lambda x: E.max(x, axis=-1), D(2, 3, 4)),
    Case("min", lambda x: E.min(x, axis=0, keepdims=True), D(2, 3, 4)),
    Case("var", lambda x: E.var(x, axis=1, ddof=1), R(3, 4)),
    Case(("var", "sqrt"), lambda x: E.std(x, axis=0), R(3, 4), name="std"),
    Case("sqrt", lambda x: E.norm(x, axis=1), R(3, 4), name="norm"),
    Case("logsumexp", lambda x: E.logsumexp(x, axis=1), R(3, 4) * 3),
    Case("softmax", lambda x: E.softmax(x, axis=-1), R(3, 4) * 2),
    Case("softmax", lambda x: E.softmax(x, axis=0), R(3, 4) * 2,
         name="softmax_axis0"),
    Case("log_softmax", E.log_softmax, R(3, 4) * 2),
    Case("cumsum", lambda x: E.cumsum(x, axis=1), R(3, 4)),
    Case("cumsum", E.cumsum, R(3, 2), name="cumsum_flat"),
    Case("cumsum", lambda x: E.cumsum(x, axis=-3), R(2, 2, 3),
         name="cumsum_axis0"),
    Case("log_softmax", lambda x: E.log_softmax(x, axis=1), R(2, 3, 2),
         name="log_softmax_axis1"),
    # ------------------------------------------------------------- shape
    Case("reshape", lambda x: E.reshape(x, (4, 3)), R(2, 6)),
    Case("transpose", lambda x: E.transpose(x, (2, 0, 1)), R(2, 3, 4)),
    Case("transpose", lambda x: E.swapaxes(x, 0, 2), R(2, 3, 4),
         name="swapaxes"),
    Case("broadcast_to", lambda x: E.broadcast_to(x, (2, 3, 4)), R(3, 1)),
    Case("astype", lambda x: E.astype(x, "float64") * x, R(4)),
    Case("identity", lambda x: E.identity(x) * x, R(4)),
    Case("to_device", lambda x: E.to_device(x, "cpu") * x, R(4)),
    Case("getitem", lambda x: x[1:, ::2], R(3, 5)),
    Case("getitem", lambda x: x[np.array([0, 2, 0])], R(3, 2),
         name="getitem_repeated"),
    Case("getitem", lambda x: E.take(x, E.tensor([[1, 1], [0, 2]]), axis=1),
         R(2, 3), name="take"),
    Case("getitem", lambda x: x[x.numpy() > 0], R(3, 4), name="getitem_mask"),
    Case("scatter_add", lambda g: nn_scatter(g), R(3, 2)),
    Case("concat", lambda a, b: E.concat([a, b], axis=1), R(2, 3), R(2, 2)),
    Case("stack", lambda a, b: E.stack([a, b], axis=-1), R(2, 3), R(2, 3)),
    Case("getitem", lambda x: E.split(x, [1, 3], axis=1)[1] * 2, R(2, 4),
         name="split"),
    Case("pad", lambda x: E.pad(x, ((1, 0), (2, 1)), constant_values=0.5),
         R(2, 3)),
    Case("reshape", lambda x: E.unsqueeze(E.squeeze(x, 1), 0), R(2, 1, 3),
         name="squeeze_unsqueeze"),
    Case("reshape", lambda x: E.flatten(x, 1), R(2, 3, 2), name="flatten"),
    Case("broadcast_to", lambda x: E.repeat(x, 2, axis=1), R(2, 3),
         name="repeat"),
    Case("broadcast_to", lambda x: E.tile(x, (2, 1, 2)), R(2, 3),
         name="tile"),
    # ------------------------------------------------------------ linalg
    Case("matmul", E.matmul, R(3, 4), R(4, 2)),
    Case("matmul", E.matmul, R(2, 1, 3, 4), R(3, 4, 2), name="matmul_batch"),
    Case("matmul", E.matmul, R(4), R(2, 4, 3), name="matmul_vec_mat"),
    Case("matmul", E.matmul, R(2, 3, 4), R(4), name="matmul_mat_vec"),
    Case("matmul", E.matmul, R(4), R(4), name="matmul_dot"),
    Case("einsum", lambda a, b: E.einsum("ij,jk->ik", a, b), R(2, 3), R(3, 4)),
    Case("einsum", lambda a, b: E.einsum("bij,bjk", a, b), R(2, 2, 3),
         R(2, 3, 2), name="einsum_implicit"),
    Case("einsum", lambda a: E.einsum("ii->i", a), R(3, 3), name="einsum_diag"),
    Case("einsum", lambda a: E.einsum("ij->", a), R(2, 3), name="einsum_all"),
    Case("einsum", lambda a, b: E.einsum("ij,k->i", a, b), R(2, 3), R(4),
         name="einsum_sum_only_one"),
    Case("einsum", lambda a, b: E.einsum("...ij,jk->...ik", a, b),
         R(2, 1, 2, 3), R(3, 2), name="einsum_ellipsis"),
    Case("einsum", lambda a, b: E.einsum("i,j->ij", a, b), R(3), R(2),
         name="einsum_outer"),
    Case("einsum", lambda a, b: E.einsum("...ij,...jk->...ik", a, b),
         R(2, 1, 2, 3), R(3, 3, 2), name="einsum_ellipsis_broadcast"),
    Case("einsum", lambda a, b, c: E.einsum("ij,jk,k->i", a, b, c),
         R(2, 3), R(3, 2), R(2), name="einsum_three_operands"),
    # -------------------------------------------------------------- nn
    Case(("conv2d", "conv2d_input_grad", "conv2d_weight_grad"),
         lambda x, w: E.conv2d(x, w), R(1, 2, 4, 4), R(2, 2, 2, 2)),
    Case("conv2d", lambda x, w: E.conv2d(x, w, stride=2, padding=1),
         R(2, 1, 5, 4), R(2, 1, 3, 3), name="conv2d_stride_pad", order=1),
    Case("conv2d", lambda x, w: E.conv2d(x, w, padding=(1, 0), dilation=2),
         R(1, 2, 5, 5), R(1, 2, 2, 2), name="conv2d_dilation"),
    Case("conv2d", lambda x, w: E.conv2d(x, w, stride=(1, 2), groups=2),
         R(1, 4, 3, 5), R(4, 2, 2, 2), name="conv2d_groups"),
    Case(("conv2d_input_grad", "conv2d_weight_grad", "conv2d"),
         lambda g, w: core._dispatch.apply(nn_ops._CONV_GI, (g, w), dict(
             x_shape=(1, 2, 5, 5), stride=(2, 2), padding=(1, 1),
             dilation=(1, 1), groups=1)),
         R(1, 3, 3, 3), R(3, 2, 2, 2), name="conv2d_input_grad"),
    Case("conv2d_input_grad", lambda y, w: E.conv_transpose2d(
        y, w, stride=2, padding=1, output_padding=1), R(1, 2, 2, 3),
        R(2, 1, 3, 3), name="conv_transpose2d"),
    Case(("conv2d_weight_grad", "conv2d_input_grad", "conv2d"),
         lambda x, g: core._dispatch.apply(nn_ops._CONV_GW, (x, g), dict(
             w_shape=(2, 1, 2, 2), stride=(1, 1), padding=(0, 0),
             dilation=(1, 1), groups=2)),
         R(1, 2, 3, 3), R(1, 2, 2, 2), name="conv2d_weight_grad"),
    Case(("max_pool2d", "max_pool2d_grad"),
         lambda x: E.max_pool2d(x, 2), D(1, 2, 4, 4)),
    Case("max_pool2d", lambda x: E.max_pool2d(x, 3, stride=2, padding=1),
         D(2, 1, 5, 4), name="max_pool2d_overlap"),
    Case(("max_pool2d_grad", "max_pool2d_select"),
         lambda g, x: core._dispatch.apply(nn_ops._MAXPOOL_GRAD, (g, x), dict(
             kernel=(2, 2), stride=(1, 1), padding=(0, 0))),
         R(1, 1, 2, 3), D(1, 1, 3, 4), name="max_pool2d_grad"),
    Case(("avg_pool2d", "avg_pool2d_grad"),
         lambda x: E.avg_pool2d(x, 2, stride=1, padding=1), R(1, 2, 3, 3)),
    Case(("avg_pool2d_grad", "avg_pool2d"),
         lambda g: core._dispatch.apply(nn_ops._AVGPOOL_GRAD, (g,), dict(
             x_shape=(1, 1, 4, 4), kernel=(2, 2), stride=(2, 2),
             padding=(0, 0))), R(1, 1, 2, 2), name="avg_pool2d_grad"),
    Case("add", lambda x, b: E.bias_add(x, b), R(2, 3, 2), R(3),
         name="bias_add"),
    # ------------------------------------- ops registered outside core.ops
    Case(("nll_loss", "log_softmax"),
         lambda z: core.losses.softmax_cross_entropy(
             z, core.tensor([0, 2, 1])), R(3, 4) * 2,
         name="softmax_cross_entropy"),
    Case("nll_loss", lambda z: core.losses.nll_loss(
        z, core.tensor([[0, 2], [1, 1]]), reduction="none", axis=1),
        R(2, 3, 2) * 2, name="nll_loss_none_axis1"),
]


def nn_scatter(g):
    like = core.zeros(4, 2, dtype="float64")
    from core.ops.shape import scatter_add_like
    return scatter_add_like(g, like, np.array([0, 3, 0]))


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_gradient_matches_central_differences(case):
    ran = ops_run(case.f, *case.args, order=case.order)
    missing = set(case.covers) - ran
    assert not missing, f"{case.name}: claimed ops {missing} never recorded"
    check_grads(case.f, *case.args, order=case.order)


REDUCTIONS = {
    "sum": E.sum, "mean": E.mean, "prod": E.prod, "max": E.max, "min": E.min,
    "logsumexp": E.logsumexp, "var": E.var, "std": E.std,
}
AXES = [None, 0, 1, -1, (0, 2), (2, 0, 1)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_every_axis(name, axis, keepdims):
    fn = REDUCTIONS[name]
    # distinct values (max/min have no ties), magnitudes near 1 for prod
    x = D(2, 3, 4) if name != "prod" else R(2, 3, 4) + np.sign(R(2, 3, 4))
    y = fn(core.tensor(x), axis=axis, keepdims=keepdims)
    if name == "logsumexp":
        def ref(a, **k):
            return np.log(np.sum(np.exp(a), **k))
    else:
        ref = getattr(np, name)
    np.testing.assert_allclose(y.numpy(), ref(x, axis=axis, keepdims=keepdims),
                               rtol=1e-12)
    check_grads(lambda t: fn(t, axis=axis, keepdims=keepdims), x, order=1)


def test_max_ties_split_the_gradient_evenly():
    x = core.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    core.max(x, axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(),
                               [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    y = core.tensor([[4.0, 1.0], [1.0, 4.0]], requires_grad=True)
    core.min(y).backward()
    np.testing.assert_allclose(y.grad.numpy(), [[0, 0.5], [0.5, 0]])


def test_prod_gradient_with_zeros_is_exact():
    x = core.tensor([2.0, 0.0, 3.0], requires_grad=True)
    core.prod(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 6.0, 0.0])
    z = core.tensor([0.0, 0.0, 3.0], requires_grad=True)
    core.prod(z).backward()
    np.testing.assert_allclose(z.grad.numpy(), [0.0, 0.0, 0.0])


def test_dropout_gradient_is_the_mask():
    x = core.tensor(P(4, 5), requires_grad=True)
    y = core.dropout(x, 0.4)
    y.sum().backward()
    kept = y.numpy() != 0
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.6)


def test_gradcheck_catches_a_wrong_vjp():
    # the helper must fail on a broken gradient (it can fail)
    @core.custom_gradient
    def bad_square(x):
        return x * x, lambda g: g * x       # should be 2 * g * x
    with pytest.raises(AssertionError):
        check_grads(bad_square, R(3), order=1)


# ------------------------------------------------------ registry coverage --

_LAZY = ("core.nn", "core.losses", "core.optim", "core.metrics", "core.data",
         "core.checkpoint", "core.function")


def _all_registered():
    for mod in _LAZY:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
    return dict(_dispatch.REGISTRY)


def test_every_registered_op_is_gradchecked_or_not_differentiable():
    covered = {name for case in CASES for name in case.covers}
    missing = sorted(name for name, op in _all_registered().items()
                     if op.differentiable and name not in covered)
    assert not missing, (
        f"differentiable ops without a gradient check in {__file__}: "
        f"{missing} (add a Case, or register them differentiable=False)")


def test_non_differentiable_ops_do_not_record():
    x = core.tensor(R(3, 4), requires_grad=True)
    for fn in (core.argmax, core.sign, core.floor, core.isnan,
               lambda t: core.greater(t, 0), lambda t: t // 2,
               lambda t: core.one_hot(core.argmax(t, axis=1), 4)):
        assert fn(x)._node is None
