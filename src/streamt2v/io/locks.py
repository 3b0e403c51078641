"""Per-process exclusive locks on small files (``flock``), so two processes never write the same thing at once.

The system releases a ``flock`` when its process ends, however it ends (``kill -9`` included), so a lock file
left behind by a killed process is simply free again: there are no stale locks to clear by hand. The holder
writes its pid into the file so the refusal can name it. Where ``fcntl`` is missing (not POSIX) nothing is
locked.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path
from typing import IO

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class LockedError(RuntimeError):
    """Another process holds the lock; ``holder`` is its pid as it wrote it ("unknown" if unreadable)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{str(path)!r} is locked by process {holder}")
        self.path = path
        self.holder = holder


def acquire(path: str | os.PathLike) -> IO[str] | None:
    """Take ``path`` (created if missing) for this process: the open file, to pass to :func:`release`, or
    None where files cannot be locked. :class:`LockedError` when another process holds it."""
    if fcntl is None:  # pragma: no cover
        return None
    path = Path(path)
    while True:
        fh = open(path, "a+")  # noqa: SIM115 -- held open while the lock is held
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise LockedError(path, holder) from None
        # A holder that removes its lock file on release (``release(remove=True)``) may have done so between
        # our open and our flock: then we hold a file no one else will find; take the new one instead.
        try:
            same = os.path.samestat(os.fstat(fh.fileno()), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def release(fh: IO[str] | None, *, remove: bool = False) -> None:
    """Give the lock back; with ``remove`` the lock file is deleted first (while still held, so no other
    process can be holding it)."""
    if fh is None:
        return
    if remove:
        with suppress(OSError):
            os.unlink(fh.name)
    with suppress(OSError):
        fh.close()  # closing the file releases the flock


def holder(path: str | os.PathLike) -> str | None:
    """The pid (as written) of the process holding ``path``, or None when no process holds it (a missing
    file is a free lock and is not created). Read-only, by a shared lock: probes at once (a launch's processes
    checking one folder) do not see each other as holders, and none writes its pid into the file."""
    path = Path(path)
    if fcntl is None or not path.is_file():
        return None
    try:
        fh = open(path)  # noqa: SIM115 -- closing it releases the probe's lock
    except OSError:  # gone since: free
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return fh.read().strip() or "unknown"
    return None
