"""io.folders: the check that an output's folder takes new files, run before slow work."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from streamt2v.io.folders import check_writable_parent


def _no_named_probe(*args, **kwargs):
    raise AssertionError("a named probe file was created")


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="no unnamed files on this system")
def test_the_writability_probe_is_an_unnamed_file_a_kill_cannot_leave(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "mkstemp", _no_named_probe)
    check_writable_parent(tmp_path / "new" / "deeper" / "out.mp4", "output")  # nearest existing: tmp_path
    assert list(tmp_path.iterdir()) == []


def test_without_unnamed_files_a_named_probe_is_removed(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    check_writable_parent(tmp_path / "out.mp4", "output")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/1").is_dir(), reason="needs Linux procfs")
def test_a_folder_that_takes_no_files_is_named(tmp_path):
    # procfs refuses new files even to root, so this runs where the read-only folder tests are skipped
    with pytest.raises(
        PermissionError, match=r"^cannot write output '/proc/1/out.mp4': cannot create files "
    ):
        check_writable_parent("/proc/1/out.mp4", "output")
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError, match=rf"'{tmp_path / 'f'}' is a file, not a folder$"):
        check_writable_parent(tmp_path / "f" / "out.mp4", "output")
