"""Operators and methods of Tensor, bound to the op functions."""

from __future__ import annotations

from core.tensor import Tensor


def bind_tensor_methods():
    from core import ops as O

    def rev(f):
        def r(self, other):
            return f(other, self)
        r.__name__ = f"r{f.__name__}"
        return r

    T = Tensor
    T.__add__ = O.add
    T.__radd__ = rev(O.add)
    T.__sub__ = O.sub
    T.__rsub__ = rev(O.sub)
    T.__mul__ = O.mul
    T.__rmul__ = rev(O.mul)
    T.__truediv__ = O.div
    T.__rtruediv__ = rev(O.div)
    T.__floordiv__ = O.floordiv
    T.__rfloordiv__ = rev(O.floordiv)
    T.__mod__ = O.mod
    T.__rmod__ = rev(O.mod)
    T.__pow__ = O.pow
    T.__rpow__ = rev(O.pow)
    T.__matmul__ = O.matmul
    T.__rmatmul__ = rev(O.matmul)
    T.__neg__ = O.neg
    T.__pos__ = lambda self: self
    T.__abs__ = O.abs
    T.__eq__ = O.equal
    T.__ne__ = O.not_equal
    T.__lt__ = O.less
    T.__le__ = O.less_equal
    T.__gt__ = O.greater
    T.__ge__ = O.greater_equal
    T.__and__ = O.logical_and
    T.__or__ = O.logical_or
    T.__xor__ = O.logical_xor
    T.__invert__ = O.logical_not
    T.__getitem__ = O.getitem

    def _setitem(self, index, value):
        raise TypeError(
            "tensors are immutable values; build a new one (core.where, "
            "core.scatter_add_like) or use a Variable's assign()")
    T.__setitem__ = _setitem

    T.T = property(lambda self: O.transpose(self))
    T.mT = property(lambda self: O.swapaxes(self, -1, -2))

    def reshape(self, *shape):
        return O.reshape(self, *shape)
    T.reshape = reshape
    T.view = reshape

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if len(axes) == 2 and self.ndim != 2:
            return O.swapaxes(self, axes[0], axes[1])
        return O.transpose(self, axes or None)
    T.transpose = transpose

    def permute(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return O.transpose(self, axes)
    T.permute = permute

    for name in ("sum", "mean", "prod", "max", "min", "argmax", "argmin",
                 "var", "std", "logsumexp", "softmax", "log_softmax", "cumsum",
                 "exp", "log", "log1p", "sqrt", "rsqrt", "abs", "sign", "tanh",
                 "sigmoid", "relu", "sin", "cos", "square", "clip", "astype",
                 "broadcast_to", "squeeze", "unsqueeze", "flatten", "swapaxes",
                 "take", "isnan", "isinf", "isfinite", "any", "all", "matmul",
                 "expand_dims", "maximum", "minimum", "pow", "gelu",
                 "leaky_relu", "elu", "softplus", "floor", "ceil", "round",
                 "norm", "split", "pad", "one_hot", "gather", "repeat", "tile",
                 "moveaxis"):
        fn = getattr(O, name, None)
        if fn is not None and not hasattr(T, name):
            setattr(T, name, fn)
    if hasattr(O, "astype"):
        T.float = lambda self: O.astype(self, "float32")
        T.double = lambda self: O.astype(self, "float64")
        T.long = lambda self: O.astype(self, "int64")
        T.int = lambda self: O.astype(self, "int32")
        T.bool = lambda self: O.astype(self, "bool")
