"""Atomic outputs (rasterflow.atomic): whole files or none, never through a link."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

from rasterflow import atomic
from rasterflow.atomic import atomic_output, scratch_folder, write_atomic


def test_an_error_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_the_temporary_keeps_the_suffix_and_lands_whole(tmp_path):
    target = tmp_path / "sub" / "x.tif"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".x.tif.")
        assert tmp.suffix == ".tif"
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.tif"]


def test_a_link_at_the_target_is_replaced_not_written_through(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("the user's own")
    target = tmp_path / "x.txt"
    target.symlink_to(users)
    write_atomic(target, "product")
    assert users.read_text() == "the user's own"
    assert not target.is_symlink() and target.read_text() == "product"


def test_stale_temporaries_are_swept_only_when_asked(tmp_path):
    others = tmp_path / ".x.json.999.tmp.json"  # another writer's, or one killed
    others.write_text("in progress")
    write_atomic(tmp_path / "x.json", "a", sweep_stale=False)
    assert others.exists()
    write_atomic(tmp_path / "x.json", "b")
    assert not others.exists() and (tmp_path / "x.json").read_text() == "b"


def test_write_atomic_sets_the_time_before_the_file_appears(tmp_path):
    target = write_atomic(tmp_path / "f", b"\x00\x01", mtime_ns=1_000_000_000_000_000_000)
    assert target.read_bytes() == b"\x00\x01"
    assert os.stat(target).st_mtime_ns == 1_000_000_000_000_000_000


def test_a_scratch_folder_is_removed_after_an_error(tmp_path):
    with pytest.raises(RuntimeError), scratch_folder(tmp_path / "stac") as scratch:
        (scratch / "catalog.json").write_text("{}")
        raise RuntimeError("failed")
    assert list(tmp_path.iterdir()) == []


def test_the_module_imports_only_the_standard_library():
    # planning imports it: no rasterio, no NumPy
    tree = ast.parse(Path(atomic.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    roots = {name.split(".")[0] for name in names}
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}
