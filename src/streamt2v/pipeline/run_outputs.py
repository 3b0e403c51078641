"""What a run left at its outputs and previews, recorded in its manifest (``outputs``: absolute path ->
:func:`output_identity`), so that a resume replaces those and nothing else without ``overwrite``
(:meth:`~streamt2v.pipeline.rundir.RunDir.wrote`).

The record is taken when the run is created (what is there then is the run's to replace: its checks let a
file stay only with ``overwrite``), when a resume has taken what is there as its own (its check, under the
run's lock), after each writer's append, and after each output is finished. A streaming output is its
preview renamed, which keeps its size and modification time: at an output's path the identity recorded for
its preview is taken too, so a run stopped between the rename and its record still finds its own output.
What a writer renames to a preview (with a new chunk), and stage 3 to an output, is recorded before the
rename as coming there (:func:`record_coming`), so a ``kill -9`` between the rename and its record finds it
too. A run of an earlier version recorded nothing; a file no newer than its ``manifest.json`` is taken as its
own (a run stopped by Ctrl-C, SIGTERM or an error, or a complete one, wrote the manifest after its last
output)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

#: The manifest's key of the record; the manifests of earlier versions hold none.
OUTPUTS = "outputs"
#: What a writer is about to rename to an output or preview (path -> identity): recorded before the rename, so a
#: run killed between the rename and its record finds its own file (:func:`record_coming`).
COMING = "outputs_coming"


def _size_and_time(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def output_identity(path: Path) -> list[int | str] | None:
    """What tells the file or folder at ``path`` from another put there since: a file's size and modification
    time (ns); a folder's (PNG frames) number of entries and a sha256 of their names, sizes and modification
    times (its own modification time changes with a file put in and taken out again); None where nothing is.
    Cheap, unlike a hash of a long video's bytes."""
    try:
        if not path.is_dir():
            return list(_size_and_time(path))
        entries = sorted((p.name, *_size_and_time(p)) for p in path.iterdir())
    except OSError:
        return None
    return [len(entries), hashlib.sha256(repr(entries).encode()).hexdigest()]


def _changed(path: Path) -> int:
    # the inode's change time too: `cp -p`, `mv` and `tar` keep an older modification time, never this one
    stat = path.stat()
    return max(stat.st_mtime_ns, stat.st_ctime_ns)


def _newest_change(path: Path) -> int | None:
    """The latest change (ns) of the file at ``path``, or of a folder and its entries."""
    try:
        times = [_changed(path)]
        if path.is_dir():
            times += [_changed(p) for p in path.iterdir()]
    except OSError:
        return None
    return max(times)


def record(manifest: dict[str, Any], paths: list[Path]) -> bool:
    """Record in ``manifest`` what is now at ``paths``, and that nothing is where nothing is; returns whether
    the record changed (the manifest is then to be written)."""
    recorded, coming = manifest.setdefault(OUTPUTS, {}), manifest.get(COMING, {})
    before = dict(recorded), dict(coming)
    for path in paths:
        key, identity = str(path.absolute()), output_identity(path)
        coming.pop(key, None)  # what came is recorded now (or never came: what is there is)
        if identity is None:
            recorded.pop(key, None)
        else:
            recorded[key] = identity
    return (recorded, coming) != before


def record_coming(manifest: dict[str, Any], source: Path, dest: Path) -> None:
    """Record in ``manifest`` that the file or folder at ``source`` is about to be renamed to ``dest`` (which
    keeps its identity): until :func:`record` records ``dest``, either what was there or what comes is the
    run's."""
    manifest.setdefault(COMING, {})[str(dest.absolute())] = output_identity(source)


def left_there(
    manifest: dict[str, Any], manifest_file: Path, path: Path, preview: Path | None
) -> bool | None:
    """Whether what is at ``path`` is what the run last left there (the identity recorded for it, or for
    ``preview``, the streaming writer's preview that is renamed to ``path``); for a run of an earlier version,
    which recorded nothing, whether it is no newer than ``manifest_file``, else None."""
    recorded = manifest.get(OUTPUTS)
    if not isinstance(recorded, dict):
        newest, written = _newest_change(path), _newest_change(manifest_file)
        return True if newest is not None and written is not None and newest <= written else None
    identity = output_identity(path)
    if identity is None:
        return False
    keys = [str(p.absolute()) for p in ([path] if preview is None else [path, preview])]
    coming = manifest.get(COMING, {})
    return any(identity in (recorded.get(key), coming.get(key)) for key in keys)
