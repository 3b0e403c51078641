"""Writing a whole folder atomically: readers see the old folder or the finished new one, never a half."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def refuse_existing(out: str | Path, overwrite: bool = False) -> None:
    """Raise if ``out`` exists and ``overwrite`` is not set; call it before any slow work that writes ``out``.
    The message names both spellings of the switch (Python API and command line)."""
    if Path(out).exists() and not overwrite:
        raise FileExistsError(
            f"{str(out)!r} already exists (pass overwrite=True, --overwrite on the command line, to replace it)"
        )


@contextmanager
def atomic_folder(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``out`` to fill; on success it replaces ``out``, on an error it is
    removed and ``out`` stays as it was. An existing ``out`` is refused unless ``overwrite``."""
    refuse_existing(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        yield tmp
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
