"""Module: the object that owns variables and submodules.

A ``Module`` tracks what is assigned to its attributes: Variables,
Modules, and lists / tuples / dicts of them (nested).  Paths are dotted
attribute names (``layers.0.kernel``).  Calling a module pushes a name
scope for the duration of the call, so every op it runs carries the
module's path from the root model in ``OpEvent.scope`` (e.g.
``("mlp", "layers", "0")``): the root pushes its own name (``name=`` or
the class name in lower case), a child pushes its attribute path inside
the module that calls it.

A subclass defines ``forward`` (PyTorch style) or ``__call__`` (tf.Module
style); either way the scope wraps it.
"""

from __future__ import annotations

import functools
import weakref

from core import _dispatch as _D
from core.tensor import Variable

__all__ = ["Module", "Sequential", "ModuleList"]

# modules whose call is in progress, innermost last (one model thread)
_call_stack: list = []

# key of the scope cache's entry for modules called inside a parent that
# does not own them
_STRANGERS = "strangers"

# attributes that are the module's own bookkeeping, never walked
_INTERNAL = frozenset({"training", "_mod_name", "_scope_cache"})


def _forward(self, *args, **kwargs):
    """The base ``Module.__call__``: run ``forward``."""
    forward = getattr(self, "forward", None)
    if forward is None:
        raise NotImplementedError(
            f"{type(self).__name__} defines neither forward() nor __call__()")
    return forward(*args, **kwargs)


def _scoped(fn):
    """Wrap a module's call so it runs inside the module's name scope.

    The base ``__call__`` (:func:`_forward`) is inlined: ``forward`` runs
    one frame under the wrapper, which keeps the walk from an op to the
    user's line (hooks, profilers) one frame per module level shorter."""
    direct = fn is _forward

    @functools.wraps(fn)
    def call(self, *args, **kwargs):
        stack = _call_stack
        if stack:
            parent = stack[-1]
            if parent is self:           # super().__call__ inside a call
                return fn(self, *args, **kwargs)
            cache = parent._scope_cache
            entry = cache.get(id(self)) if cache is not None else None
            if entry is not None and entry[0] is self:
                names = entry[1]
            else:
                strangers = cache.get(_STRANGERS) if cache is not None else None
                ref = strangers.get(id(self)) if strangers else None
                if ref is not None and ref() is self:
                    names = (self._mod_name or type(self).__name__.lower(),)
                else:
                    names = self._scope_names(parent)
        else:
            names = (self._mod_name or type(self).__name__.lower(),)
        prev = _D.scope
        _D.scope = prev + names
        stack.append(self)
        try:
            if direct:
                forward = getattr(self, "forward", None)
                if forward is not None:
                    return forward(*args, **kwargs)
            return fn(self, *args, **kwargs)
        finally:
            stack.pop()
            _D.scope = prev

    call._scoped = True
    return call


def _tracked(value):
    """Is ``value`` something a module tracks (or a container of them)?"""
    if isinstance(value, (Module, Variable)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_tracked(v) for v in value)
    if isinstance(value, dict):
        return any(_tracked(v) for v in value.values())
    return False


def _walk(value, prefix, out):
    """(path tuple, Module | Variable) for every leaf inside ``value``."""
    if isinstance(value, (Module, Variable)):
        out.append((prefix, value))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(v, prefix + (str(i),), out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, prefix + (str(k),), out)
    return out


class Module:
    """Base class of layers and models; see the module docstring."""

    training = True
    _mod_name = None
    _scope_cache = None

    def __init__(self, name=None):
        if name is not None:
            object.__setattr__(self, "_mod_name", str(name))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "_scoped", False):
            cls.__call__ = _scoped(call)

    # -- calling -----------------------------------------------------------
    _forward.__name__, _forward.__qualname__ = "__call__", "Module.__call__"
    __call__ = _scoped(_forward)

    @property
    def name(self) -> str:
        """The scope name of this module when it is called as a root."""
        return self._mod_name or type(self).__name__.lower()

    @name.setter
    def name(self, value):
        object.__setattr__(self, "_mod_name", None if value is None else str(value))

    def _scope_names(self, parent) -> tuple:
        """The names this module pushes when called inside ``parent``: its
        path below ``parent``, or its own name when it is not a descendant
        (remembered, weakly, so such calls do not rewalk the tree)."""
        if parent is not None:
            cache = parent._scope_cache
            entry = cache.get(id(self)) if cache is not None else None
            if entry is None or entry[0] is not self:
                cache = parent._build_scope_cache()
                entry = cache.get(id(self))
            if entry is not None and entry[0] is self:
                return entry[1]
            strangers = cache.setdefault(_STRANGERS, {})
            if len(strangers) > 256:
                strangers.clear()
            strangers[id(self)] = weakref.ref(self)
        return (self.name,)

    def _build_scope_cache(self):
        cache = {}
        for path, m in self._named_modules(()):
            if path and id(m) not in cache:
                cache[id(m)] = (m, path)
        object.__setattr__(self, "_scope_cache", cache)
        return cache

    # -- tracking ----------------------------------------------------------
    def __setattr__(self, key, value):
        if key not in _INTERNAL and self._scope_cache is not None and (
                _tracked(value) or _tracked(self.__dict__.get(key))):
            object.__setattr__(self, "_scope_cache", None)
        object.__setattr__(self, key, value)

    def __delattr__(self, key):
        object.__setattr__(self, "_scope_cache", None)
        object.__delattr__(self, key)

    def _children(self):
        """(path tuple, Module | Variable) directly owned, in assignment order."""
        out = []
        for key, value in self.__dict__.items():
            if key in _INTERNAL:
                continue
            if isinstance(value, (Module, Variable, list, tuple, dict)):
                _walk(value, (key,), out)
        return out

    def _named_modules(self, prefix, seen=None):
        if seen is None:
            seen = set()
        if id(self) in seen:
            return
        seen.add(id(self))
        yield prefix, self
        for path, obj in self._children():
            if isinstance(obj, Module):
                yield from obj._named_modules(prefix + path, seen)

    def named_modules(self):
        """(dotted path, module) for this module ('' ) and every descendant."""
        for path, m in self._named_modules(()):
            yield ".".join(path), m

    @property
    def submodules(self) -> list:
        """Every descendant module (not this one), each once."""
        return [m for path, m in self._named_modules(()) if path]

    def children(self):
        seen = set()
        for _, obj in self._children():
            if isinstance(obj, Module) and id(obj) not in seen:
                seen.add(id(obj))
                yield obj

    def _named_variable_paths(self, prefix=(), seen=None):
        """(path tuple, Variable) in attribute order, depth first, each once."""
        if seen is None:
            seen = {id(self)}
        for path, obj in self._children():
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, Variable):
                yield prefix + path, obj
            else:
                yield from obj._named_variable_paths(prefix + path, seen)

    def named_variables(self):
        """(dotted path, Variable) for every variable, each once."""
        return [(".".join(p), v) for p, v in self._named_variable_paths()]

    @property
    def variables(self) -> list:
        return [v for _, v in self._named_variable_paths()]

    @property
    def trainable_variables(self) -> list:
        return [v for _, v in self._named_variable_paths() if v.trainable]

    @property
    def non_trainable_variables(self) -> list:
        return [v for _, v in self._named_variable_paths() if not v.trainable]

    def parameters(self):
        """PyTorch spelling of ``trainable_variables``."""
        return self.trainable_variables

    def named_parameters(self):
        return [(p, v) for p, v in self.named_variables() if v.trainable]

    def _checkpoint_items(self):
        return [("/".join(p), v) for p, v in self._named_variable_paths()]

    # -- modes -------------------------------------------------------------
    def train(self, mode=True):
        """Set the ``training`` flag on this module and every descendant."""
        for _, m in self._named_modules(()):
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for v in self.variables:
            v._grad = None

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()})"]
        for path, obj in self._children():
            if isinstance(obj, Module):
                sub = repr(obj).replace("\n", "\n  ")
                lines.append(f"  ({'.'.join(path)}): {sub}")
        return "\n".join(lines)

    def extra_repr(self) -> str:
        return ""


class Sequential(Module):
    """Calls its layers in order: ``Sequential(Dense(4, 8), ReLU(), ...)``."""

    def __init__(self, *layers, name=None):
        super().__init__(name=name)
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def add(self, layer):
        self.layers.append(layer)
        object.__setattr__(self, "_scope_cache", None)
        return self

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)


class ModuleList(Module):
    """A list of modules, tracked as ``0``, ``1``, ... (PyTorch's ModuleList)."""

    def __init__(self, modules=(), name=None):
        super().__init__(name=name)
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def append(self, m):
        setattr(self, str(len(self)), m)
        return self

    def __getitem__(self, i):
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"ModuleList index {i} out of range ({n})")
        return self.__dict__[str(i)]

    def __len__(self):
        return sum(1 for k in self.__dict__ if k.isdigit())

    def __iter__(self):
        return (self[i] for i in range(len(self)))
