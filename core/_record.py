"""The lean op record: what recording hooks get instead of an OpEvent.

A hook with a ``record_into`` list is a *recorder* (see ``core.hooks``).
While every registered hook is one, each host op appends ``len(FIELDS)``
values to that list with one ``extend`` (flat: no per-op container for the
garbage collector to keep tracking), in this order:

* the event's fields: ``index, name, phase, forward_index, start_ns,
  kernel_start_ns, kernel_end_ns, end_ns, device, code, lasti, scope,
  attrs, events, device_time_ns``, where ``(code, lasti)`` is the user's
  line, raw (``core._event.site_location`` turns it into file and line),
  and ``events``/``device_time_ns`` are the device timer events and their
  resolved time (None on the host);
* the output's ``out_shape, out_dtype``;
* the operands (:func:`operands`): ``a0, d0, v0, a1, d1, v1, extra``;
* ``grads``: for a backward record covering a whole node's VJP (see
  below), how many operand gradients it computed; else None.

Backward passes that nothing records as a graph run each node's VJP as one
step (``core.ops.raw_vjps``); with recorders attached each such node gives
one record: ``name`` the forward op's, ``phase`` "backward",
``forward_index`` the forward op, the forward operands and output as
operands and output, and ``grads`` set.  Ops whose VJP runs as engine ops
give one record per engine op, as hooks see them.
"""

from __future__ import annotations

Tensor = Variable = None   # set by core.tensor (import cycle)

FIELDS = ("index", "name", "phase", "forward_index", "start_ns",
          "kernel_start_ns", "kernel_end_ns", "end_ns", "device",
          "code", "lasti", "scope", "attrs", "events", "device_time_ns",
          "out_shape", "out_dtype", "a0", "d0", "v0", "a1", "d1", "v1",
          "extra", "grads")

_SCALARS = (int, float, bool, complex, str)
_NONE3 = (None, None, None)


def describe(x):
    """(shape, dtype, Variable or None) of a tensor operand (or of an array
    given as one), (value, None, None) of a scalar, (list of those, None,
    None) of a list operand."""
    if isinstance(x, Tensor):
        d = x._data
        return (d.shape, d.dtype, None if type(x) is Tensor else x)
    if isinstance(x, _SCALARS):
        return (x, None, None)
    if isinstance(x, (list, tuple)):
        if x and isinstance(x[0], Tensor):
            return ([(e._data.shape, e._data.dtype, None) for e in x
                     if isinstance(e, Tensor)], None, None)
        return _NONE3
    shape = getattr(x, "shape", None)       # a numpy / device array
    dtype = getattr(x, "dtype", None)
    if shape is not None and dtype is not None:
        return (tuple(shape), dtype, None)
    return _NONE3


def operands(args):
    """The operand fields ``(a0, d0, v0, a1, d1, v1, extra)`` of ``args``.

    A plain Tensor or a Variable among the first two operands of a one- or
    two-operand op is inline as (shape, dtype, Variable or None), an absent
    one as (None, None, None), and ``extra`` is None; any other op
    (scalar, list, more operands, other Tensor subclasses) has the six
    inline slots None and ``extra`` a tuple of :func:`describe` results.
    Nothing of the op is held but the Variables (alive anyway)."""
    n = len(args)
    if n == 2:
        a, b = args
        ta = type(a)
        tb = type(b)
        if (ta is Tensor or ta is Variable) and (tb is Tensor or tb is Variable):
            d = a._data
            e = b._data
            return (d.shape, d.dtype, None if ta is Tensor else a,
                    e.shape, e.dtype, None if tb is Tensor else b, None)
    elif n == 1:
        a = args[0]
        ta = type(a)
        if ta is Tensor or ta is Variable:
            d = a._data
            return (d.shape, d.dtype, None if ta is Tensor else a,
                    None, None, None, None)
    return (None, None, None, None, None, None,
            tuple([describe(x) for x in args]))
