"""Breakpoints on ops: by op name, by FILE:LINE, on NaN/Inf, on a condition.

``parse_break(arg, current_file)`` turns the text after ``break``/``tbreak``
into a :class:`Breakpoint`; :class:`Breakpoints` keeps them numbered (as
pdb does) and answers the two questions the op hook asks cheaply: does an
op stop *before* its kernel (name or line, no condition) and which
breakpoints need a look *after* it (a condition, NaN/Inf).

Conditions are Python expressions over the op's tensors, evaluated after
the kernel with these names: ``out`` (the output as a numpy array),
``inputs`` (tuple), ``a, b, c, d`` / ``x`` (positional inputs; ``x`` is the
first), ``name``, ``index``, ``phase``, ``scope`` (dotted text), ``file``,
``line`` and helpers ``absmax amax amin mean std norm numel anynan anyinf
nonfinite`` and ``np``.  Example: ``b matmul if out.shape[0] > 64``,
``b if absmax(out) > 1e3``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping

import numpy as np

from workbench.summary import to_host

NAN_KINDS = {"nan": ("nan",), "inf": ("inf",),
             "nonfinite": ("nan", "inf"), "nan/inf": ("nan", "inf"),
             "finite": ("nan", "inf")}

_BREAK_RE = re.compile(r"^\s*(?:(?P<spec>(?!if\s)\S+))?\s*(?:if\s+(?P<cond>.+))?$")


class BreakError(ValueError):
    """A ``break`` argument that cannot be understood."""


class Breakpoint:
    """One numbered breakpoint (mutable; owned by the session thread)."""

    def __init__(self, number, kind, *, op=None, file=None, line=None,
                 nan=(), cond=None, temporary=False):
        self.number = number
        self.kind = kind            # "op" | "line" | "nan" | "cond"
        self.op = op
        self.file = file
        self.line = line
        self.nan = nan
        self.cond = cond            # source text or None
        self.code = compile(cond, "<breakpoint condition>", "eval") \
            if cond else None
        self.temporary = temporary
        self.enabled = True
        self.ignore = 0
        self.hits = 0
        self.nonfinite_seen = False
        self.last_site = None       # (frame, lasti, callee) of the last op

    @property
    def before(self) -> bool:
        """Stops before the kernel (no condition on outputs, not NaN)."""
        return self.kind in ("op", "line") and self.code is None

    def matches_site(self, name, location) -> bool:
        if self.op is not None and name != self.op:
            return False
        if self.line is not None:
            if location is None or location[1] != self.line:
                return False
            if not _same_file(self.file, location[0]):
                return False
        return True

    def describe(self) -> str:
        if self.kind == "nan":
            what = "/".join(self.nan) + " in an op's output"
        elif self.kind == "line":
            what = f"{self.file}:{self.line}"
            if self.op:
                what = f"{self.op} at {what}"
        elif self.op:
            what = f"op {self.op}"
        else:
            what = "every op"
        if self.cond:
            what += f" if {self.cond}"
        flags = []
        if self.temporary:
            flags.append("temporary")
        if not self.enabled:
            flags.append("disabled")
        if self.ignore:
            flags.append(f"ignore next {self.ignore}")
        if self.hits:
            flags.append(f"hit {self.hits}")
        tail = f" ({', '.join(flags)})" if flags else ""
        return f"{self.number}: {what}{tail}"


def _same_file(spec, filename) -> bool:
    if spec is None:
        return True
    if spec == filename:
        return True
    if os.path.isabs(spec):
        return os.path.abspath(filename) == spec
    return filename.endswith(os.sep + spec) or os.path.basename(filename) == spec


def parse_break(arg, number, *, temporary=False, current_file=None,
                known_ops=None) -> Breakpoint:
    """A Breakpoint from ``break`` text (see the module docstring)."""
    m = _BREAK_RE.match(arg)
    if not m or not (m.group("spec") or m.group("cond")):
        raise BreakError(f"cannot parse breakpoint {arg!r}; use: b OPNAME, "
                         "b FILE:LINE, b LINE, b nan, b inf, b if COND")
    spec, cond = m.group("spec"), m.group("cond")
    if cond:
        try:
            compile(cond, "<breakpoint condition>", "eval")
        except SyntaxError as e:
            raise BreakError(f"bad condition {cond!r}: {e.msg}") from None
    kw = dict(cond=cond, temporary=temporary)
    if spec is None:
        return Breakpoint(number, "cond", **kw)
    low = spec.lower()
    if low in NAN_KINDS:
        if cond:
            raise BreakError("b nan/inf takes no condition")
        return Breakpoint(number, "nan", nan=NAN_KINDS[low], **kw)
    file, line = None, None
    if ":" in spec and spec.rsplit(":", 1)[1].isdigit():
        file, line = spec.rsplit(":", 1)
        line = int(line)
        if not file:
            raise BreakError(f"no file in {spec!r}")
        if not os.path.isabs(file) and os.path.exists(file):
            file = os.path.abspath(file)
    elif spec.isdigit():
        if current_file is None:
            raise BreakError("no current file for a bare line number; use FILE:LINE")
        file, line = current_file, int(spec)
    if line is not None:
        return Breakpoint(number, "line", file=file, line=line, **kw)
    if known_ops is not None and spec not in known_ops \
            and not spec.startswith("custom_gradient:"):
        close = difflib.get_close_matches(spec, list(known_ops), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise BreakError(f"no op named {spec!r}{hint}")
    return Breakpoint(number, "op", op=spec, **kw)


class Breakpoints:
    """The numbered breakpoint table plus the indexes the hook reads."""

    def __init__(self):
        self.table: dict[int, Breakpoint] = {}
        self._next = 1
        self.before_ops: dict = {}      # op name -> [bp]   (no condition)
        self.before_lines: dict = {}    # line -> [bp]      (no condition)
        self.before_all = False         # unused: every op stops (none)
        self.after: list = []           # conditional and NaN breakpoints
        self.any_before = False

    def new_number(self) -> int:
        n = self._next
        self._next += 1
        return n

    def add(self, bp: Breakpoint):
        self.table[bp.number] = bp
        self.reindex()

    def hit(self, bp, extra=""):
        """Count a hit on ``bp``: the stop reason, or None while ``ignore``
        is counting down.  A temporary breakpoint is removed when hit."""
        bp.hits += 1
        if bp.ignore > 0:
            bp.ignore -= 1
            return None
        if bp.temporary:
            self.remove(bp.number)
            return f"temporary breakpoint {bp.number}{extra}"
        return f"breakpoint {bp.number}{extra}"

    def remove(self, number):
        self.table.pop(number, None)
        self.reindex()

    def reindex(self):
        self.before_ops = {}
        self.before_lines = {}
        self.after = []
        for bp in self.table.values():
            if not bp.enabled:
                continue
            if bp.before:
                if bp.kind == "op":
                    self.before_ops.setdefault(bp.op, []).append(bp)
                else:
                    self.before_lines.setdefault(bp.line, []).append(bp)
            else:
                self.after.append(bp)
        self.any_before = bool(self.before_ops or self.before_lines)

    def parse_numbers(self, text):
        nums = []
        for tok in text.replace(",", " ").split():
            if not tok.isdigit():
                raise BreakError(f"not a breakpoint number: {tok!r}")
            n = int(tok)
            if n not in self.table:
                raise BreakError(f"no breakpoint number {n}")
            nums.append(n)
        return nums

    def listing(self) -> str:
        if not self.table:
            return "no breakpoints"
        return "\n".join(bp.describe() for bp in self.table.values())

    def command(self, arg, temporary, current_file, known_ops) -> str:
        """``break``/``tbreak ARG``: add the breakpoint ARG describes (a
        bare ``FILE``-less line is in ``current_file``; op names are checked
        against ``known_ops``) and say so; no ARG lists the table.  Raises
        BreakError on a bad ARG."""
        if not arg:
            return self.listing()
        bp = parse_break(arg, self.new_number(), temporary=temporary,
                         current_file=current_file, known_ops=known_ops)
        self.add(bp)
        return f"{'temporary ' if temporary else ''}breakpoint {bp.describe()}"


# --------------------------------------------------- condition namespace --


def _host(x):
    if isinstance(x, (int, float, bool, complex, str)) or x is None:
        return x
    data = getattr(x, "_data", x)
    dev = getattr(x, "_device", None)
    if hasattr(data, "shape") and hasattr(data, "dtype"):
        return to_host(data, dev)
    return x


def _absmax(x):
    a = np.asarray(_host(x))
    return float(np.max(np.abs(a))) if a.size else 0.0


HELPERS = {
    "np": np,
    "absmax": _absmax,
    "amax": lambda x: float(np.max(np.asarray(_host(x)))),
    "amin": lambda x: float(np.min(np.asarray(_host(x)))),
    "mean": lambda x: float(np.mean(np.asarray(_host(x)))),
    "std": lambda x: float(np.std(np.asarray(_host(x)))),
    "norm": lambda x: float(np.linalg.norm(
        np.asarray(_host(x), dtype=np.float64).ravel())),
    "numel": lambda x: int(np.asarray(_host(x)).size),
    "anynan": lambda x: bool(np.isnan(np.asarray(_host(x))).any()),
    "anyinf": lambda x: bool(np.isinf(np.asarray(_host(x))).any()),
    "nonfinite": lambda x: bool((~np.isfinite(np.asarray(_host(x)))).any()),
    "abs": abs, "min": min, "max": max, "len": len, "float": float,
    "int": int, "bool": bool, "any": any, "all": all,
}


class OpNamespace(Mapping):
    """Names a breakpoint condition sees, converted to host arrays lazily."""

    def __init__(self, ev, device=None):
        self._ev = ev
        self._cache = {}

    def _compute(self, key):
        ev = self._ev
        if key == "out":
            outs = ev.outputs
            if not outs:
                raise NameError("out is not computed yet")
            return _host(outs[0])
        if key == "inputs":
            return tuple(_host(x) for x in ev.inputs)
        if key in ("a", "b", "c", "d"):
            i = "abcd".index(key)
            if i < len(ev.inputs):
                return _host(ev.inputs[i])
            raise KeyError(key)
        if key == "x":
            if ev.inputs:
                return _host(ev.inputs[0])
            raise KeyError(key)
        if key == "name":
            return ev.name
        if key == "index":
            return ev.index
        if key == "phase":
            return ev.phase
        if key == "scope":
            return ".".join(ev.scope)
        if key == "file":
            return ev.location[0] if ev.location else None
        if key == "line":
            return ev.location[1] if ev.location else None
        if key in HELPERS:
            return HELPERS[key]
        raise KeyError(key)

    def __getitem__(self, key):
        try:
            return self._cache[key]
        except KeyError:
            pass
        v = self._compute(key)
        self._cache[key] = v
        return v

    def __iter__(self):
        return iter(("out", "inputs", "a", "b", "c", "d", "x", "name",
                     "index", "phase", "scope", "file", "line", *HELPERS))

    def __len__(self):
        return 13 + len(HELPERS)


_COND_GLOBALS = {"__builtins__": {}}


def eval_condition(bp: Breakpoint, ev):
    """(stop: bool, error_text or None) for ``bp``'s condition on ``ev``."""
    try:
        return bool(eval(bp.code, _COND_GLOBALS, OpNamespace(ev))), None
    except Exception as e:          # pdb stops when a condition errors
        return True, f"{type(e).__name__}: {e}"


# ------------------------------------------------------------- slices --


def parse_slice(text):
    """A numpy index from text like ``0:8, 0:16``, ``[3]``, ``..., ::2``."""
    text = (text or "").strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].strip()
    if not text:
        return ()
    parts = []
    for part in text.split(","):
        part = part.strip()
        if part == "...":
            parts.append(Ellipsis)
        elif ":" in part:
            bits = part.split(":")
            if len(bits) > 3:
                raise ValueError(f"bad slice {part!r}")
            vals = []
            for b in bits:
                b = b.strip()
                vals.append(int(b) if b else None)
            parts.append(slice(*vals))
        elif part.lstrip("-").isdigit():
            parts.append(int(part))
        else:
            raise ValueError(f"bad index {part!r} in {text!r}; "
                             "use integers, a:b:c slices and ...")
    return tuple(parts)
