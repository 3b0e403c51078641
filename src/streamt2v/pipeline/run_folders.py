"""Which folders are run directories (:mod:`streamt2v.pipeline.rundir`), and which can take a new run: the
names of a run's files, a new run's folder name, a run's folder told apart from one whose creation was killed
and from the folder that holds the runs, and the checks a folder passes before a new run is created in it."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from streamt2v.arguments import (
    Arg,
    ArgumentFileExistsError,
    ArgumentNotADirectoryError,
    FlaggedArg,
    NamesArguments,
    naming_arguments,
)
from streamt2v.io import locks
from streamt2v.io.folders import check_writable_parent, home_path, named_path
from streamt2v.io.output_paths import list_names
from streamt2v.wording import counted

FORMAT_VERSION = 1
CONFIG = "config.json"
MANIFEST = "manifest.json"
LOCK = ".lock"

# The run directory a new run is given: generate's run_dir= to a Python caller, --run-dir on the command line
RUN_DIR = Arg("run_dir")

# What is written in a run under a temporary name before renaming it (``.NAME.tmp-PID``, io.folders.
# atomic_write_file): left behind only by a process that was killed (an error or Ctrl-C removes its own).
# ``.chunk_NNNNNN.tmp-PID.safetensors``: the chunk temporaries of earlier versions.
STALE_TEMPORARY = re.compile(
    r"\.(config\.json|manifest\.json|chunk_\d{6}\.safetensors|stage3_state\.pt)\.tmp-\d+"
    r"|\.chunk_\d{6}\.tmp-\d+\.safetensors"
)


class RunInUseError(NamesArguments, RuntimeError):
    """Another process is working on the run directory (its advice may name ``run_dir``, ``--run-dir``)."""


def in_use(path: str | os.PathLike, holder: str, *advice: object) -> RunInUseError:
    """The refusal of a run another process holds (``path`` named as given: :func:`named_path`); ``advice``:
    text and :class:`Arg` parts."""
    return RunInUseError(
        f"run directory {named_path(path)} is in use by another process (pid {holder}); wait for it to finish or ",
        *(advice or ("stop it before resuming",)),
    )


def default_run_dir(prompt: str, root: str | os.PathLike = "runs") -> Path:
    """A new folder name ``runs/YYYYmmdd-HHMMSS-<prompt-slug>`` (suffixed if it exists)."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "run"
    base = Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def reserve_run_dir(base: str | os.PathLike) -> Path:
    """Create the empty folder ``base``, or ``base-2``, ``base-3``… when it is taken, atomically (``mkdir``
    fails for all but one process): two runs started in the same second with the same prompt, whose
    :func:`default_run_dir` names agree, still get a folder each."""
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def is_run(path: Path) -> bool:
    return (path / CONFIG).is_file() and (path / MANIFEST).is_file()


def is_run_manifest(manifest: object) -> bool:
    """Whether ``manifest`` (a ``manifest.json`` read) is one :meth:`RunDir.create` writes: it names a format
    version and chunks. The one test of both readers, ``evaluate``'s run folders and :meth:`RunDir.open`. Only
    those keys are looked at: a run's manifest damaged since (``"status": null``, or none, no number of
    chunks) is still a run's, for its readers to refuse as damaged, not a folder of videos; a dataset's own
    ``manifest.json`` is not one."""
    return isinstance(manifest, dict) and not run_manifest_lacks(manifest)


def run_manifest_lacks(manifest: dict) -> list[str]:
    """The keys of a run's manifest (:func:`is_run_manifest`) that ``manifest`` has not, in words
    (``format version``), for the message refusing it."""
    return [key.replace("_", " ") for key in ("format_version", "chunks") if key not in manifest]


def not_a_runs_manifest(folder: Path, manifest: dict, noun: str) -> str:
    """Why ``folder``, holding a run's two files, is no run: its ``manifest`` lacks a run's keys
    (:func:`is_run_manifest`), as a resume (``noun``: ``run directory``) and evaluate (``run folder``) say it."""
    return (
        f"{str(folder / MANIFEST)!r} is no streamt2v run's manifest (it names no "
        f"{' and '.join(run_manifest_lacks(manifest))}): {str(folder)!r} is not a {noun}, or its manifest was "
        "replaced"
    )


def holds_chunks(path: Path) -> bool:
    chunks = path / "chunks"
    return chunks.is_dir() and any(
        p.name.endswith(".safetensors") and not STALE_TEMPORARY.fullmatch(p.name) for p in chunks.iterdir()
    )


def created_without_config(path: Path) -> bool:
    """Whether ``path`` holds only what :meth:`RunDir.create` writes before ``config.json`` (the lock, an empty
    ``chunks/``, the manifest of a run with no finished chunk): a creation that was killed, no run."""
    if (path / CONFIG).exists() or holds_chunks(path):
        return False
    if not (path / MANIFEST).exists():
        return (path / LOCK).is_file()
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(manifest, dict)
        and manifest.get("format_version") == FORMAT_VERSION
        and not manifest.get("chunks")
    )


def where_the_runs_are(path: Path) -> str:
    """For a folder given to ``--resume`` that is no run: the run it lies in (``RUN/chunks``), or the runs it
    holds (the ``runs/`` folder itself), as the end of the error message."""
    for parent in path.resolve().parents:
        if is_run(parent):
            return f"; it lies inside the run directory {str(parent)!r}: give that"
    try:
        runs = sorted(p for p in path.iterdir() if p.is_dir() and is_run(p))
    except OSError:
        return ""
    if not runs:
        return ""
    if len(runs) == 1:
        return f"; it holds the run directory {str(runs[0])!r}: give that"
    shown = [repr(str(p)) for p in runs[-3:]]  # named by their start time: the latest last
    listed = f"{', '.join(shown[:-1])} and {shown[-1]}"
    which = f"the last by name: {listed}" if len(runs) > 3 else listed
    return f"; it holds {counted(len(runs), 'run')} ({which}): give one of them"


def check_new_run_dir(path: str | os.PathLike) -> Path:
    """Raise unless a new run can be created at ``path`` (cheap; call it before any slow work); the
    advice names ``run_dir`` to a Python caller, ``--run-dir`` on the command line."""
    given, path = path, home_path(path)  # named as given (~/runs/r1), then as read
    if path.exists() and not path.is_dir():
        raise ArgumentNotADirectoryError(
            f"run directory {named_path(given)} is an existing file, not a folder; choose another ", RUN_DIR
        )
    holder = locks.holder(path / LOCK) if path.is_dir() else None
    if holder is not None and holder != str(os.getpid()):  # a run going on, or being created, elsewhere
        raise in_use(given, holder, "choose another ", RUN_DIR)
    # RUN/chunks was offered "--run-dir RUN/chunks/my-run": a run inside another goes with its files
    inside = next((parent for parent in path.resolve().parents if is_run(parent)), None)
    if inside is not None:
        raise ArgumentFileExistsError(
            f"run directory {named_path(given)} lies inside the run directory {str(inside)!r}; choose another ",
            RUN_DIR,
            ", outside it",
        )
    check_holds_no_run(path, given)
    _check_holds_nothing_else(path, given)
    # the default is runs/ in the working folder, which may be one nothing can be written in
    with naming_arguments(RUN_DIR) as (run_dir,):
        check_writable_parent(given, "run directory", advice=f"; choose another {run_dir}")
    return path


def _check_holds_nothing_else(path: Path, given: str | os.PathLike) -> None:
    """Refuse an existing folder holding anything but what :meth:`RunDir.create` writes (a creation that was
    killed, or an empty folder): ``--run-dir .`` or ``--run-dir runs`` made the working directory or the
    folder of all runs into a run, its files among the user's."""
    if not path.is_dir():
        return
    others = sorted(
        p.name
        for p in path.iterdir()
        if p.name not in (LOCK, MANIFEST)
        and not (p.name == "chunks" and p.is_dir() and not any(p.iterdir()))
        and not STALE_TEMPORARY.fullmatch(p.name)
    )
    if not others:
        return
    runs = [name for name in others if is_run(path / name)]
    rest = [name for name in others if name not in runs]
    held = [counted(len(runs), "run")] if runs else []
    if rest:
        held.append(f"other files ({list_names(rest, limit=3)})")
    raise ArgumentFileExistsError(
        f"run directory {named_path(given)} is a folder holding {' and '.join(held)}; a run keeps its own "
        "folder: give a new or empty one (e.g. ",
        Arg("run_dir", str(Path(given) / "my-run")),
        ")",
    )


def check_holds_no_run(path: Path, given: str | os.PathLike | None = None) -> None:
    """Refuse a folder that holds a run (one whose creation was killed before its config holds none);
    ``given``: ``path`` as the user gave it (``~/run``), named so, and so in the advice (both take ``~``)."""
    if (path / CONFIG).exists() or ((path / MANIFEST).exists() and not created_without_config(path)):
        typed = os.fspath(path if given is None else given)
        raise ArgumentFileExistsError(
            f"run directory {named_path(typed)} already holds a run; continue it with ",
            # resume_generate('PATH') to a Python caller, --resume PATH on the command line
            FlaggedArg(f"resume_generate({typed!r})", flag=f"--resume {typed}"),
            " or choose another ",
            RUN_DIR,
        )
