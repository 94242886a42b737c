"""Atomic writes: all or nothing, usual permissions."""

from __future__ import annotations

import os
import stat

import pytest

from core.fileio import atomic_write


def test_replaces_only_on_success(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(p, "w") as f:
            f.write("half")
            raise RuntimeError("crash mid-write")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]        # no temp file left
    with atomic_write(p, "w") as f:
        f.write("new")
    assert p.read_text() == "new"


def test_permissions_follow_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        p = tmp_path / "ckpt.zip"
        with atomic_write(p) as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o644


def test_creates_missing_folder(tmp_path):
    p = tmp_path / "a" / "b" / "run.json"
    with atomic_write(p, "w", encoding="utf-8") as f:
        f.write("{}")
    assert p.read_text() == "{}"
