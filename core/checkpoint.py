"""Object checkpoints: variables named by their path in the object graph.

``Checkpoint(generator=G, optimizer=opt).save(path)`` writes ONE file: a
zip holding one ``.npy`` member per variable plus ``meta.json`` (format,
version, step, and for each entry its path, member, dtype and shape).
Paths come from the objects, not from creation order or global names:
``generator/layers/0/kernel``, ``optimizer/slots/3/m``,
``optimizer/iterations``.  The file is written atomically: a temporary
file in the same directory, flushed and fsynced, then ``os.replace``.

``restore(path)`` reads without pickle (``allow_pickle=False``), checks
every member against ``meta.json`` and every matched variable's shape and
dtype before assigning anything, and returns a :class:`RestoreStatus`
with ``matched``, ``missing`` (in the objects, not in the file) and
``unused`` (in the file, not in the objects).  An unreadable, truncated or
tampered file raises :class:`core.CheckpointError`.

Anything with a ``_checkpoint_items()`` method returning ``(relative
path, Variable)`` pairs can be checkpointed (Modules, optimizers,
metrics); dicts and lists of such objects nest.  An object with
``_checkpoint_defer(path, array) -> bool`` (optimizers) keeps values for
state it has not created yet and assigns them when it does.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile

import numpy as np

from core.errors import CheckpointError
from core.fileio import atomic_write
from core.tensor import Variable

__all__ = ["Checkpoint", "RestoreStatus", "FORMAT", "VERSION"]

FORMAT = "core-checkpoint"
VERSION = 1
_META = "meta.json"
_META_LIMIT = 64 << 20
_ALLOWED_KINDS = "biufc"


def _collect(obj, prefix, items, deferrers):
    if isinstance(obj, Variable):
        items.append((prefix, obj))
    elif isinstance(obj, Checkpoint):
        for key, sub in obj._objects.items():
            _collect(sub, f"{prefix}/{key}", items, deferrers)
    elif hasattr(obj, "_checkpoint_items"):
        for rel, v in obj._checkpoint_items():
            items.append((f"{prefix}/{rel}", v))
        if hasattr(obj, "_checkpoint_defer"):
            deferrers.append((prefix + "/", obj))
    elif isinstance(obj, dict):
        for key, sub in obj.items():
            _collect(sub, f"{prefix}/{key}", items, deferrers)
    elif isinstance(obj, (list, tuple)):
        for i, sub in enumerate(obj):
            _collect(sub, f"{prefix}/{i}", items, deferrers)
    else:
        raise TypeError(
            f"Checkpoint: cannot track {prefix!r} of type {type(obj).__name__}; "
            "give Modules, optimizers, metrics, Variables, or dicts/lists of them")


class RestoreStatus:
    """What a restore matched; ``assert_consumed()`` demands a full match."""

    def __init__(self, path, matched, missing, unused, deferred, step):
        self.path = path
        self.matched = matched
        self.missing = missing
        self.unused = unused
        self.deferred = deferred
        self.step = step

    def assert_consumed(self):
        """Raise unless every object variable and file entry was used."""
        if self.missing or self.unused:
            raise CheckpointError(
                f"checkpoint {self.path}: not a full match; missing "
                f"{self.missing[:10]}, unused {self.unused[:10]}")
        return self

    def assert_existing_objects_matched(self):
        """Raise if a variable of the objects has no entry in the file."""
        if self.missing:
            raise CheckpointError(f"checkpoint {self.path}: no values for "
                                  f"{self.missing[:10]}")
        return self

    def expect_partial(self):
        return self

    def __repr__(self):
        return (f"RestoreStatus(matched={len(self.matched)}, missing="
                f"{len(self.missing)}, unused={len(self.unused)}, "
                f"deferred={len(self.deferred)})")


class Checkpoint:
    """``Checkpoint(**objects)``; ``save(path)``, ``restore(path)``."""

    def __init__(self, **objects):
        if not objects:
            raise ValueError("Checkpoint needs at least one object, e.g. "
                             "Checkpoint(model=model, optimizer=opt)")
        for key in objects:
            if "/" in key:
                raise ValueError(f"Checkpoint: name {key!r} may not contain '/'")
        self._objects = dict(objects)
        self._items()  # fail early on untrackable objects

    def _items(self):
        items, deferrers = [], []
        for key, obj in self._objects.items():
            _collect(obj, key, items, deferrers)
        seen = {}
        for path, v in items:
            other = seen.get(path)
            if other is not None and other is not v:
                raise CheckpointError(f"Checkpoint: two variables share the "
                                      f"path {path!r}")
            seen[path] = v
        return seen, deferrers

    @property
    def paths(self) -> list:
        return list(self._items()[0])

    def _default_step(self):
        for obj in self._objects.values():
            it = getattr(obj, "iterations", None)
            if isinstance(it, Variable):
                return int(it.numpy())
        return None

    # -- save ------------------------------------------------------------
    def save(self, path, step=None) -> str:
        """Write every variable to ``path`` atomically; returns the path."""
        path = os.fspath(path)
        items, _ = self._items()
        if step is None:
            step = self._default_step()
        entries = []
        arrays = []
        for i, (p, v) in enumerate(items.items()):
            arr = np.asarray(v.numpy(), order="C")
            member = f"data/{i}.npy"
            entries.append({"path": p, "member": member, "dtype": arr.dtype.str,
                            "shape": list(arr.shape)})
            arrays.append((member, arr))
        meta = {"format": FORMAT, "version": VERSION,
                "step": None if step is None else int(step), "entries": entries}
        with atomic_write(path) as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
                for member, arr in arrays:
                    with zf.open(member, "w", force_zip64=True) as out:
                        np.lib.format.write_array(out, arr, allow_pickle=False)
                zf.writestr(_META, json.dumps(meta, indent=1))
        return path

    write = save

    # -- restore ---------------------------------------------------------
    def restore(self, path) -> RestoreStatus:
        """Assign the file's values to the matching variables."""
        path = os.fspath(path)
        items, deferrers = self._items()
        try:
            zf = zipfile.ZipFile(path, "r")
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint {path}: no such file") from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise CheckpointError(f"checkpoint {path}: not a readable checkpoint "
                                  f"(not a zip file, or truncated): {e}") from None
        with zf:
            entries, step = _read_meta(zf, path)
            plan, deferred_plan, unused = [], [], []
            for e in entries:
                v = items.get(e["path"])
                if v is not None:
                    if tuple(e["shape"]) != tuple(v.shape) or \
                            np.dtype(e["dtype"]) != v.dtype:
                        raise CheckpointError(
                            f"checkpoint {path}: {e['path']!r} has shape "
                            f"{tuple(e['shape'])} {np.dtype(e['dtype'])} in the "
                            f"file but the variable is {tuple(v.shape)} {v.dtype}")
                    plan.append((e, v))
                    continue
                owner = next((o for prefix, o in deferrers
                              if e["path"].startswith(prefix)), None)
                if owner is not None:
                    deferred_plan.append((e, owner))
                else:
                    unused.append(e["path"])
            loaded = [(e, v, _read_member(zf, e, path)) for e, v in plan]
            deferred_loaded = [(e, o, _read_member(zf, e, path))
                               for e, o in deferred_plan]
        for e, v, arr in loaded:
            v.assign(arr)
        deferred = []
        for e, owner, arr in deferred_loaded:
            prefix = next(p for p, o in deferrers if o is owner)
            if owner._checkpoint_defer(e["path"][len(prefix):], arr):
                deferred.append(e["path"])
            else:
                unused.append(e["path"])
        in_file = {e["path"] for e in entries}
        missing = [p for p in items if p not in in_file]
        return RestoreStatus(path, [e["path"] for e, _, _ in loaded], missing,
                             unused, deferred, step)

    read = restore

    def __repr__(self):
        return f"Checkpoint({', '.join(self._objects)})"


def _bad(path, msg):
    return CheckpointError(f"checkpoint {path}: {msg}")


def _read_meta(zf, path):
    """Validated (entries, step) from meta.json."""
    try:
        info = zf.getinfo(_META)
    except KeyError:
        raise _bad(path, "no meta.json (not a core checkpoint)") from None
    if info.file_size > _META_LIMIT:
        raise _bad(path, "meta.json is implausibly large")
    try:
        meta = json.loads(zf.read(_META).decode("utf-8"))
    except (zipfile.BadZipFile, ValueError, UnicodeDecodeError, OSError,
            EOFError) as e:
        raise _bad(path, f"meta.json is unreadable: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _bad(path, f"meta.json does not describe a {FORMAT} file")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise _bad(path, f"unsupported format version {version!r} "
                         f"(this engine reads up to {VERSION})")
    step = meta.get("step")
    if step is not None and not isinstance(step, int):
        raise _bad(path, f"meta.json step {step!r} is not an integer")
    entries = meta.get("entries")
    if not isinstance(entries, list):
        raise _bad(path, "meta.json has no entry list")
    seen = set()
    names = set(zf.namelist())
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("path"), str) \
                or not isinstance(e.get("member"), str) \
                or not isinstance(e.get("dtype"), str) \
                or not isinstance(e.get("shape"), list) \
                or not all(isinstance(n, int) and not isinstance(n, bool)
                           and n >= 0 for n in e["shape"]):
            raise _bad(path, f"malformed meta.json entry {str(e)[:200]}")
        if e["path"] in seen:
            raise _bad(path, f"meta.json lists {e['path']!r} twice")
        seen.add(e["path"])
        if e["member"] not in names:
            raise _bad(path, f"{e['path']!r}: member {e['member']} is missing")
        try:
            dt = np.dtype(e["dtype"])
        except (TypeError, ValueError):
            raise _bad(path, f"{e['path']!r}: bad dtype {e['dtype']!r}") from None
        if dt.kind not in _ALLOWED_KINDS or dt.subdtype is not None:
            raise _bad(path, f"{e['path']!r}: dtype {dt} is not allowed "
                             "(only numeric and bool arrays)")
        _check_header(zf, e, dt, path)
    return entries, step


def _check_header(zf, e, dt, path):
    """The member's .npy header must agree with meta.json (no pickles)."""
    info = zf.getinfo(e["member"])
    expected = math.prod(e["shape"]) * dt.itemsize
    if info.file_size > expected + 65536 or info.file_size < expected:
        raise _bad(path, f"{e['path']!r}: member size {info.file_size} does not "
                         f"fit shape {tuple(e['shape'])} {dt}")
    try:
        with zf.open(e["member"]) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, hdt = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, hdt = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as err:
        raise _bad(path, f"{e['path']!r}: bad array member: {err}") from None
    if hdt.hasobject or hdt.kind not in _ALLOWED_KINDS:
        raise _bad(path, f"{e['path']!r}: member holds {hdt} data (pickled "
                         "objects are refused)")
    if tuple(shape) != tuple(e["shape"]) or hdt != dt:
        raise _bad(path, f"{e['path']!r}: member is {tuple(shape)} {hdt} but "
                         f"meta.json says {tuple(e['shape'])} {dt} (tampered?)")


def _read_member(zf, e, path):
    try:
        data = zf.read(e["member"])
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as err:
        raise _bad(path, f"{e['path']!r}: cannot read the array: {err}") from None
    if tuple(arr.shape) != tuple(e["shape"]) or arr.dtype != np.dtype(e["dtype"]):
        raise _bad(path, f"{e['path']!r}: array is {arr.shape} {arr.dtype} but "
                         f"meta.json says {tuple(e['shape'])} {e['dtype']}")
    return arr
