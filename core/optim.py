"""Optimizers: SGD (momentum, Nesterov), Adam, AdamW, RMSprop.

Two styles, one object::

    opt = core.optim.SGD(model.trainable_variables, lr=0.1, momentum=0.9)
    opt.apply_gradients(zip(grads, variables))      # TensorFlow style
    loss.backward(); opt.step(); opt.zero_grad()     # PyTorch style

Updates follow PyTorch's formulas and run in place on the variables' raw
arrays under ``no_grad`` (an update is not a differentiable op, and going
through per-op dispatch for it would cost more than the math).  State lives
in ``core.Variable`` objects: ``iterations`` and per-variable slots
(``momentum``, ``m``, ``v``, ...), created when a variable joins the
optimizer — at construction for the variables given there — so a
``core.Checkpoint`` saves and restores it under ``slots/<i>/<name>``.
A checkpoint restored before lazily-added variables exist is kept and
assigned when their slots are created (deferred restoration).
"""

from __future__ import annotations

import ctypes
import glob
import math
import os

import numpy as np

from core import _dispatch as _D
from core.errors import DeviceError, ShapeError
from core.tensor import Tensor, Variable, _make

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop",
           "clip_by_global_norm", "global_norm"]


def _arr(g):
    return g._data if isinstance(g, Tensor) else g


# -- one-pass in-place updates through the BLAS numpy already loaded ----------
#
# ``p -= lr * g`` in numpy is two passes over memory and a temporary;
# BLAS ``axpy`` (y += a x) and ``axpby`` (y = a x + b y) are one pass.  The
# functions come from the OpenBLAS bundled with numpy's wheels, found by
# their ILP64 names and checked once on a small array; anywhere they are
# missing (other builds, cupy, the simulated GPU) numpy does the update.

_BLAS = None      # dtype -> (axpy, axpby), filled on first use


def _load_blas():
    global _BLAS
    _BLAS = {}
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)),
                          "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for dt, ct, c in ((np.float32, ctypes.c_float, "s"),
                          (np.float64, ctypes.c_double, "d")):
            axpy = getattr(lib, f"scipy_cblas_{c}axpy64_", None)
            axpby = getattr(lib, f"scipy_cblas_{c}axpby64_", None)
            if axpy is None or axpby is None:
                continue
            i64, vp = ctypes.c_int64, ctypes.c_void_p
            axpy.argtypes = [i64, ct, vp, i64, vp, i64]
            axpby.argtypes = [i64, ct, vp, i64, ct, vp, i64]
            axpy.restype = axpby.restype = None
            _BLAS[np.dtype(dt)] = (axpy, axpby)
    for dt in list(_BLAS):
        x = np.arange(5, dtype=dt)
        y = np.ones(5, dtype=dt)
        _BLAS[dt][0](5, 2.0, x.ctypes.data, 1, y.ctypes.data, 1)
        ok = np.array_equal(y, 1 + 2 * np.arange(5))
        _BLAS[dt][1](5, 1.0, x.ctypes.data, 1, 3.0, y.ctypes.data, 1)
        ok = ok and np.array_equal(y, 3 + 7 * np.arange(5))
        if not ok:
            del _BLAS[dt]


_BLAS_MIN = 8192  # below this many elements the call costs more than it saves


def _blas_for(x, y):
    """(axpy, axpby) usable on host arrays x and y, or None."""
    if y.size < _BLAS_MIN:
        return None
    if _BLAS is None:
        _load_blas()
    if type(x) is not np.ndarray or type(y) is not np.ndarray \
            or x.dtype != y.dtype or x.size != y.size \
            or not (x.flags.c_contiguous and y.flags.c_contiguous
                    and y.flags.writeable):
        return None
    return _BLAS.get(y.dtype)


def _axpy(a, x, y):
    """y += a * x in place."""
    fns = _blas_for(x, y)
    if fns is None:
        y += a * x
    else:
        fns[0](y.size, a, x.ctypes.data, 1, y.ctypes.data, 1)


def _axpby(a, x, b, y):
    """y = a * x + b * y in place."""
    fns = _blas_for(x, y)
    if fns is None:
        y *= b
        y += a * x
    else:
        fns[1](y.size, a, x.ctypes.data, 1, b, y.ctypes.data, 1)


def global_norm(grads) -> float:
    """sqrt(sum of squares) over every gradient (None skipped)."""
    total = 0.0
    for g in grads:
        if g is None:
            continue
        a = _arr(g)
        total += float((a * a).sum())
    return math.sqrt(total)


def clip_by_global_norm(grads, max_norm):
    """Scale ``grads`` so their global norm is at most ``max_norm``.

    Returns ``(clipped, norm)`` as ``tf.clip_by_global_norm`` does; the
    gradients are new tensors (None stays None).
    """
    grads = list(grads)
    norm = global_norm(grads)
    scale = min(1.0, max_norm / (norm + 1e-6)) if norm > 0 else 1.0
    out = []
    for g in grads:
        if g is None:
            out.append(None)
        elif isinstance(g, Tensor):
            out.append(_make(g._data * g._data.dtype.type(scale), g._device))
        else:
            out.append(g * scale)
    return out, norm


class Optimizer:
    """Base class: variable bookkeeping, slots, both update styles.

    A subclass lists its slot names in ``_slot_names`` and implements
    ``_update(p, g, slots, step)`` on raw arrays ``p`` (updated in place)
    and ``g``; ``slots`` maps slot name -> raw array.
    """

    _slot_names: tuple = ()

    def __init__(self, variables=None, lr=0.01, clip_norm=None):
        if lr is None or (not callable(lr) and lr < 0):
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        self.lr = lr
        self.clip_norm = clip_norm
        self.iterations = Variable(np.array(0, dtype=np.int64), trainable=False,
                                   name="iterations")
        self._vars = []
        self._index = {}
        self._slots = []          # per variable: {slot name: Variable}
        self._raw = []            # per variable: {slot name: raw array}
        self._deferred = {}       # "slots/i/name" -> array from a checkpoint
        if variables is not None:
            if hasattr(variables, "trainable_variables"):
                variables = variables.trainable_variables
            for v in variables:
                self._track(v)

    # -- bookkeeping -----------------------------------------------------
    @property
    def variables(self):
        return list(self._vars)

    def _track(self, v):
        if not isinstance(v, Variable):
            raise TypeError(f"{type(self).__name__}: optimizers update "
                            f"core.Variable objects, got {type(v).__name__}")
        i = self._index.get(id(v))
        if i is not None:
            return i
        i = len(self._vars)
        self._index[id(v)] = i
        self._vars.append(v)
        slots = {}
        xp = v._device.xp
        for name in self._slot_names:
            arr = xp.zeros(v._data.shape, dtype=v._data.dtype)
            s = Variable(_make(arr, v._device), trainable=False,
                         name=f"{v.name or 'var'}/{name}")
            key = f"slots/{i}/{name}"
            pending = self._deferred.pop(key, None)
            if pending is not None:
                s.assign(pending)
            slots[name] = s
        self._slots.append(slots)
        self._raw.append({k: s._data for k, s in slots.items()})
        return i

    def slots(self, v) -> dict:
        """Slot name -> Variable for variable ``v``."""
        return dict(self._slots[self._index[id(v)]])

    def _checkpoint_items(self):
        items = [("iterations", self.iterations)]
        for i, slots in enumerate(self._slots):
            for name, s in slots.items():
                items.append((f"slots/{i}/{name}", s))
        return items

    def _checkpoint_defer(self, path, array) -> bool:
        """Keep a slot value whose variable has not joined yet."""
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "slots" and parts[1].isdigit() \
                and parts[2] in self._slot_names:
            self._deferred[path] = array
            return True
        return False

    # -- updates ---------------------------------------------------------
    def current_lr(self) -> float:
        lr = self.lr
        return float(lr(int(self.iterations._data)) if callable(lr) else lr)

    def apply_gradients(self, grads_and_vars):
        """TensorFlow style: ``apply_gradients(zip(grads, variables))``."""
        idx, grads = [], []
        for g, v in grads_and_vars:
            if g is None:
                continue
            idx.append(self._track(v))
            grads.append(g)
        self._apply(idx, grads)

    def step(self):
        """PyTorch style: update every variable from its ``.grad``."""
        idx, grads = [], []
        for i, v in enumerate(self._vars):
            g = v.grad
            if g is not None:
                idx.append(i)
                grads.append(g)
        self._apply(idx, grads)

    def zero_grad(self, set_to_none=True):
        for v in self._vars:
            if set_to_none:
                v._grad = None
            elif v.grad is not None:
                v._grad = _make(v._device.xp.zeros_like(v.grad._data), v._device)

    def minimize(self, loss_fn, variables=None):
        """Compute gradients of ``loss_fn()`` with a tape and apply them."""
        from core.autodiff import GradientTape

        variables = list(variables if variables is not None else self._vars)
        with GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, variables)
        self.apply_gradients(zip(grads, variables))
        return loss

    def _apply(self, idx, grads):
        if not idx:
            return
        if self.clip_norm is not None:
            grads, _ = clip_by_global_norm(grads, self.clip_norm)
        lr = self.current_lr()
        it = self.iterations._data
        it += 1
        step = int(it)
        prev = _D.grad_enabled
        _D.grad_enabled = False
        try:
            raw, variables = self._raw, self._vars
            for i, g in zip(idx, grads):
                v = variables[i]
                self._update(v._data, self._grad_array(v, g), raw[i], step, lr)
        finally:
            _D.grad_enabled = prev

    @staticmethod
    def _grad_array(v, g):
        if isinstance(g, Tensor):
            if g._device is not v._device:
                raise DeviceError(f"gradient on {g._device} for variable "
                                  f"{v.name or ''} on {v._device}")
            a = g._data
        else:
            a = np.asarray(g, dtype=v._data.dtype)
            if v._device.kind != "cpu":
                a = v._device.backend.from_host(a, v._device.index)
        if a.shape != v._data.shape:
            raise ShapeError(f"gradient of shape {tuple(a.shape)} for variable "
                             f"{v.name or ''} of shape {tuple(v._data.shape)}")
        return a

    def _update(self, p, g, slots, step, lr):
        raise NotImplementedError

    def __repr__(self):
        return (f"{type(self).__name__}(lr={self.lr}, "
                f"variables={len(self._vars)}, step={int(self.iterations._data)})")


class SGD(Optimizer):
    """PyTorch's SGD: ``g += wd * p``; ``buf = momentum * buf + g``;
    ``p -= lr * (g + momentum * buf if nesterov else buf)``."""

    def __init__(self, variables=None, lr=0.01, momentum=0.0, nesterov=False,
                 weight_decay=0.0, clip_norm=None):
        if nesterov and momentum <= 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        self._slot_names = ("momentum",) if momentum else ()
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        super().__init__(variables, lr, clip_norm)

    def _update(self, p, g, slots, step, lr):
        wd, m = self.weight_decay, self.momentum
        if not m:
            if wd:                       # p = (1 - lr wd) p - lr g
                _axpby(-lr, g, 1.0 - lr * wd, p)
            else:
                _axpy(-lr, g, p)
            return
        buf = slots["momentum"]
        _axpby(1.0, g, m, buf)           # buf = m buf + g
        if wd:
            _axpy(wd, p, buf)            # ... + wd p
        if self.nesterov:                # p -= lr (g + wd p + m buf)
            if wd:
                _axpby(-lr, g, 1.0 - lr * wd, p)
            else:
                _axpy(-lr, g, p)
            _axpy(-lr * m, buf, p)
        else:
            _axpy(-lr, buf, p)


class Adam(Optimizer):
    """PyTorch's Adam (L2 ``weight_decay`` added to the gradient)."""

    _slot_names = ("m", "v")
    _decoupled = False

    def __init__(self, variables=None, lr=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-8, weight_decay=0.0, clip_norm=None, betas=None):
        if betas is not None:
            beta1, beta2 = betas
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        super().__init__(variables, lr, clip_norm)

    def _update(self, p, g, slots, step, lr):
        b1, b2 = self.beta1, self.beta2
        if self.weight_decay:
            if self._decoupled:
                p *= 1 - lr * self.weight_decay
            else:
                g = g + self.weight_decay * p
        m, v = slots["m"], slots["v"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        bc1 = 1 - b1 ** step
        bc2 = 1 - b2 ** step
        denom = (v / bc2) ** 0.5
        denom += self.eps
        p -= (lr / bc1) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay``."""

    _decoupled = True

    def __init__(self, variables=None, lr=1e-3, beta1=0.9, beta2=0.999,
                 eps=1e-8, weight_decay=0.01, clip_norm=None, betas=None):
        super().__init__(variables, lr, beta1, beta2, eps, weight_decay,
                         clip_norm, betas)


class RMSprop(Optimizer):
    """PyTorch's RMSprop: ``v = alpha * v + (1 - alpha) g^2``;
    ``p -= lr * g / (sqrt(v) + eps)`` (with optional momentum/centered)."""

    def __init__(self, variables=None, lr=1e-2, alpha=0.99, eps=1e-8,
                 momentum=0.0, centered=False, weight_decay=0.0,
                 clip_norm=None):
        self.alpha, self.eps = float(alpha), float(eps)
        self.momentum = float(momentum)
        self.centered = bool(centered)
        self.weight_decay = float(weight_decay)
        names = ["v"]
        if momentum:
            names.append("momentum")
        if centered:
            names.append("mean_grad")
        self._slot_names = tuple(names)
        super().__init__(variables, lr, clip_norm)

    def _update(self, p, g, slots, step, lr):
        a = self.alpha
        if self.weight_decay:
            g = g + self.weight_decay * p
        v = slots["v"]
        v *= a
        v += (1 - a) * (g * g)
        if self.centered:
            mg = slots["mean_grad"]
            mg *= a
            mg += (1 - a) * g
            denom = (v - mg * mg) ** 0.5
        else:
            denom = v ** 0.5
        denom += self.eps
        if self.momentum:
            buf = slots["momentum"]
            buf *= self.momentum
            buf += g / denom
            p -= lr * buf
        else:
            p -= lr * (g / denom)
