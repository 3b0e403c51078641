"""Where a video is written: output kinds by suffix, the checks before any work (an existing output, a folder
that is the user's, a name too long for the names written beside it), the temporary names beside an output,
replacing an earlier PNG output, and the one-writer-per-output lock (``.NAME.lock``,
:mod:`streamt2v.io.locks`), which every writer claims an output through (:func:`claim_output`).
The writers themselves are :mod:`streamt2v.io.video` and :mod:`streamt2v.io.streaming_writer`."""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path
from typing import IO, Any

from streamt2v.arguments import FlaggedArg, NamesArguments
from streamt2v.io import locks
from streamt2v.io.folders import (
    ExistingOutputError,
    check_writable_parent,
    current_umask,
    give_mode,
    home_path,
    named_path,
    nearest_existing_parent,
)
from streamt2v.io.frame_rates import check_fps, check_gif_fps
from streamt2v.wording import first_and_more

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")
# The most bytes the names written beside an output add to its name: the temporary of the preview
# ``.STEM.partial.tmp-`` + mkstemp's 8 random characters + ``.SUFFIX``; the others add less.
DERIVED_NAME_EXTRA = 22

#: The files a PNG output folder holds (:func:`streamt2v.io.video.write_pngs`); anything else is the user's.
FRAME_FILE = re.compile(r"frame_\d{6}\.png")


class OutputInUseError(NamesArguments, RuntimeError):
    """Another process is writing the same output (its lock file ``.NAME.lock`` is held). Naming arguments:
    its ``what`` may be one (``png_dir`` to a Python caller, ``--png-dir`` on the command line)."""


# What continues a stopped ``generate`` run, as an error's advice names it: ``resume_generate`` to a Python
# caller (streamt2v.pipeline.resume.resume_generate), ``--resume`` on the command line.
_RESUMING_A_RUN = FlaggedArg("resume_generate", flag="--resume")


# ----------------------------------------------------------------------------- atomic paths
def temp_sibling(path: Path, tag: str = "tmp") -> Path:
    """A unique temporary name beside ``path`` keeping its suffix (containers are chosen by suffix)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.{tag}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    give_mode(name, 0o666 & ~current_umask())  # mkstemp creates 0600; outputs get the usual permissions
    return Path(name)


def temp_sibling_dir(path: Path) -> Path:
    """A unique temporary folder beside ``path``, with the usual permissions (mkdtemp creates 0700)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    give_mode(tmp, 0o777 & ~current_umask())
    return tmp


def output_kind(path: Path) -> str:
    """``"video"`` / ``"gif"`` by suffix, ``"png-dir"`` for a path without suffix or an existing folder whose
    suffix is not a video one (a folder named ``x.mp4`` is refused by :func:`check_output_path`). A leading
    ``~`` is the home folder; a refusal names ``path`` as given (``'~/x.avi2' ('/home/me/x.avi2')``)."""
    s = path.suffix.lower()
    if s in VIDEO_SUFFIXES:
        return "video"
    if s == ".gif":
        return "gif"
    if home_path(path).is_dir():
        return "png-dir"
    if path.name.endswith("."):  # `-o out.`: a suffix left off, not a frames folder named "out."
        raise ValueError(
            f"cannot write video to {named_path(path)}: the name ends with a dot; add a suffix "
            f"({', '.join(VIDEO_SUFFIXES)}, .gif) or leave it off for a folder of PNG frames"
        )
    if path.suffix == "":
        return "png-dir"
    raise ValueError(
        f"cannot write video to {named_path(path)}: unknown suffix {path.suffix!r}; use one of "
        f"{', '.join(VIDEO_SUFFIXES)}, .gif, or a folder (no suffix) for PNG frames"
    )


def _foreign_entries(folder: Path) -> list[str]:
    """Names in ``folder`` that are not frame files written by this module (sorted)."""
    return sorted(p.name for p in folder.iterdir() if not (FRAME_FILE.fullmatch(p.name) and p.is_file()))


def list_names(names: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` of ``names`` quoted, for a message: ``'a', 'b' and 3 more``."""
    return first_and_more([repr(n) for n in names], limit)


def check_replaceable_dir(
    folder: Path, what: str = "output folder", given: str | os.PathLike | None = None
) -> None:
    """Raise unless ``folder`` may be replaced: a folder holding nothing but frame files (an earlier PNG
    output), never the working directory or one of its parents. Nothing the user made is ever deleted.
    ``given``: ``folder`` as the user gave it (``~/frames``), named so (:func:`named_path`)."""
    named = named_path(folder if given is None else given)
    resolved = folder.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise ValueError(
            f"{what} {named} is the working directory or one of its parents; give a new folder name"
        )
    if not folder.is_dir():
        raise FileExistsError(f"{what} {named} exists and is not a folder; refusing to replace it")
    foreign = _foreign_entries(folder)
    if foreign:
        raise FileExistsError(
            f"{what} {named} already holds files that are not frames of an earlier PNG output "
            f"({list_names(foreign)}); refusing to replace it: move those files out of it (a new run may "
            "also choose another output)"
        )


def preview_path_for(path: str | os.PathLike) -> Path:
    """Where :class:`~streamt2v.io.streaming_writer.StreamingVideoWriter` keeps the playable preview of
    ``path`` by default: ``out.partial.mp4`` for ``out.mp4``, ``frames.partial`` for a PNG folder
    ``frames``."""
    path = Path(path)
    if output_kind(path) == "png-dir":
        return path.with_name(f"{path.name}.partial")
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def previewed_output(path: str | os.PathLike) -> Path | None:
    """The output whose preview is named ``path`` (:func:`preview_path_for`): ``out.mp4`` for
    ``out.partial.mp4``, ``frames`` for ``frames.partial``; None for a name no preview has."""
    path = Path(path)
    head, mark, tail = path.name.rpartition(".partial")
    if not mark or not head + tail:
        return None
    output = path.with_name(head + tail)
    try:
        return output if preview_path_for(output) == path else None
    except ValueError:  # the output it would preview is none a writer writes (out.partial.txt)
        return None


def lock_preview(path: Path, what: str = "output") -> IO[str] | None:
    """Take the preview of ``path`` (:func:`preview_path_for`) for this process's streaming writer, as a
    writer of an output of that name takes it (``.NAME.lock``), so that neither writes over the other's
    file; :class:`OutputInUseError` naming both while another writer of that name holds it."""
    partial = preview_path_for(path)
    try:
        return locks.acquire(output_lock_path(partial))
    except locks.LockedError as err:
        raise _preview_in_use(path, partial, what, err.holder) from None


def output_lock_path(path: str | os.PathLike) -> Path:
    """The lock file a writer of ``path`` holds while it writes (``.NAME.lock`` beside it)."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def lock_output(path: Path, what: str = "output") -> IO[str] | None:
    """Take ``path`` for this process's writer (release with ``locks.release(fh, remove=True)``);
    :class:`OutputInUseError` naming the other process while one is writing it."""
    try:
        return locks.acquire(output_lock_path(path))
    except locks.LockedError as err:
        raise _in_use(path, what, err.holder) from None


@contextmanager
def outputs_locked(
    paths: Sequence[str | os.PathLike], what: str = "output"
) -> Iterator[list[IO[str] | None]]:
    """Hold the locks of ``paths`` (their folders made) for this process while the block runs, e.g. during
    the slow work that ends by writing them; pass each to :func:`~streamt2v.io.video.write_video` as
    ``held_lock``. :class:`OutputInUseError` naming the other process when one is writing any of them."""
    held: list[IO[str] | None] = []
    try:
        for path in map(Path, paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            held.append(lock_output(path, what))
        yield held
    finally:
        for lock in held:
            locks.release(lock, remove=True)


@contextmanager
def naming_write_errors(what: str) -> Iterator[None]:
    """Re-raise an ``OSError`` of the block as one naming ``what`` is being written (e.g. ``output
    'out.gif'``): a full disk or a failing drive reaches the writers as ``[Errno 28] No space left on
    device``, with no file name (Pillow, the GIF encoder) or with a hidden temporary's
    (``.out.partial.tmp-x1y2.mp4``). The error keeps its class (a caller catching ``PermissionError`` or
    PyAV's classes still can) and errno, also pickled (a worker process's error sent to its parent)."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise _like(err, f"cannot write {what}: {reason}") from err


def _like(err: OSError, message: str) -> OSError:
    """An error of ``err``'s class (what callers catch: ``PermissionError``, PyAV's ``av.error.OSError``)
    saying ``message``, with its errno; a plain ``OSError`` where that class cannot be made so."""
    kind = getattr(type(err), "_named_from", type(err))  # named twice: made from the class named first
    try:  # made with (errno, message), as PyAV's classes must be: a subclass of it reads the message alone
        named = _saying_its_message(kind)(err.errno, message)
        if str(named) == message and named.errno == err.errno:
            return named
    except Exception:
        pass
    try:  # a class made otherwise, with a message alone: its errno set after (lost if it is pickled)
        named = kind(message)
        named.errno = err.errno
        if str(named) == message:
            return named
    except Exception:
        pass
    named = OSError(message)
    named.errno = err.errno
    return named


@functools.cache
def _saying_its_message(kind: type[OSError]) -> type[OSError]:
    """``kind``, made with ``(errno, message)``, reading ``message`` alone (its name and module unchanged).
    Made with its errno, which ``kind(message)`` given one after would lose when pickled; pickled (a worker
    process's error sent to its parent) as the making of one from ``kind``, errno and message: by its name
    pickle finds ``kind`` itself, and refused it."""

    def message(self: OSError) -> str:
        return str(self.args[1]) if len(self.args) > 1 else kind.__str__(self)

    def reduce(self: OSError) -> tuple[Any, ...]:
        return _saying, (kind, self.errno, message(self)), self.__dict__ or None

    names = {"__module__": kind.__module__, "__qualname__": kind.__qualname__}
    methods = {"__str__": message, "__reduce__": reduce, "_named_from": kind}
    return type(kind.__name__, (kind,), {**methods, **names})


def _saying(kind: type[OSError], errno: int | None, message: str) -> OSError:
    """A pickled :func:`_saying_its_message` error, made again."""
    return _saying_its_message(kind)(errno, message)


def _in_use(path: Path, what: str, pid: str, given: str | os.PathLike | None = None) -> OutputInUseError:
    """``path`` (``given`` so by the user) refused as process ``pid``'s output, or its preview's name."""
    named = named_path(path if given is None else given)
    owner = previewed_output(path)
    if owner is not None and locks.holder(output_lock_path(owner)) == pid:
        # held with `owner`'s by one process: a streaming writer of it (lock_preview), whose preview this is
        return OutputInUseError(
            f"{what} {named} is the name of the preview of output {str(owner)!r}, which process {pid} is "
            f"writing; choose another name for this {what}"
        )
    return OutputInUseError(
        f"{what} {named} is being written by another process (pid {pid}); wait for it to finish or "
        "choose another output"
    )


def _preview_in_use(path: Path, partial: Path, what: str, pid: str) -> OutputInUseError:
    return OutputInUseError(
        f"the preview {str(partial)!r} of {what} {str(path)!r} would be written over an output of that name, "
        f"which process {pid} is writing; choose another {what}, or wait for that process to finish"
    )


def _check_name_length(path: Path, what: str) -> None:
    try:
        name_max = os.pathconf(nearest_existing_parent(path), "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # not POSIX, or the folder cannot tell
        name_max = 255
    limit = name_max - DERIVED_NAME_EXTRA
    size = len(os.fsencode(path.name))
    if size > limit:
        raise ValueError(
            f"{what} name {path.name!r} is {size} bytes long; this folder allows {name_max}, and the "
            f"temporary and preview files written beside it need {DERIVED_NAME_EXTRA} more: use at most "
            f"{limit}"
        )


def refuse_existing_output(path: Path, named: str | None = None, why: tuple[object, ...] = ()) -> None:
    """The refusal of a writer given no ``overwrite`` (:meth:`ExistingOutputError.advising_overwrite`): what
    is at ``path`` is kept, an existing file or a folder holding anything (the frames of an earlier PNG
    output: :func:`check_output_path` refuses the rest); an empty folder holds nothing to lose. ``named``:
    what it is, with its path, for the message (default ``output 'PATH'``); ``why``: what a file there may
    be, said after "already exists"."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        named = named or f"output {str(path)!r}"
        if path.is_dir():
            raise ExistingOutputError.advising_overwrite(
                named, "already holds the frames of an earlier output"
            )
        raise ExistingOutputError.advising_overwrite(named, why=why)


def check_output_path(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    what: str = "output",
    preview: bool = False,
    lock_held: bool = False,
) -> Path:
    """Check before any work that a video can be written to ``path`` (raises a one-line error naming it).

    The suffix must be known (:func:`output_kind`); the nearest existing parent must be a writable folder;
    an existing file is refused unless ``overwrite``; an existing folder (PNG frames) is replaced only when
    it holds nothing but frame files of an earlier output (and then only with ``overwrite`` unless empty),
    and never when it is the working directory or one of its parents. With ``preview`` (the output is
    written by the streaming writer, whose preview replaces what is at :func:`preview_path_for` and is then
    renamed to the output), what is there is checked too: beside a PNG folder output, a folder holding
    anything but frame files is refused; beside a file output, a folder is, and a file unless ``overwrite``
    (the user's to give up).
    ``lock_held``: this process holds the output's lock (:func:`lock_output`), so its holder is not asked.
    """
    given, path = path, home_path(path)  # ~/out.mp4, as the command line's flags take it: named as given
    if str(path).strip() == "":
        raise ValueError(f"{what} path is empty")
    kind = output_kind(Path(given))
    # the name's length before anything is looked up beside it (a lock or preview name past the folder's
    # limit is otherwise an unreadable '[Errno 36] File name too long' naming the hidden file)
    _check_name_length(path, what)
    # then: what another process is writing is its, not a stopped run's or an earlier output (named below);
    # '.' and '..' have no name to lock beside them (refused below as the working directory or a parent)
    named = path.name not in ("", "..")
    pid = None if lock_held or not named else locks.holder(output_lock_path(path))
    if pid is not None:
        raise _in_use(path, what, pid, given)
    if path.exists():
        if kind == "png-dir":
            check_replaceable_dir(path, f"{what} folder", given)
        elif path.is_dir():
            raise IsADirectoryError(
                f"{what} {named_path(given)} is an existing folder, not a {path.suffix} file"
            )
        if not overwrite:
            refuse_existing_output(path, f"{what} {named_path(given)}")
    if preview:
        _check_preview_path(path, preview_path_for(path), kind, what, overwrite, given)
    check_writable_parent(given, what)
    return path


def claim_output(
    path: str | os.PathLike,
    fps: float,
    *,
    overwrite: bool = False,
    held_lock: IO[str] | None = None,
    preview: bool = False,
) -> tuple[Path, IO[str] | None]:
    """What every writer of ``path`` does before it writes (``write_video`` and the incremental writers):
    ``path`` checked (:func:`check_output_path`; with ``preview``, the streaming writer's preview at
    :func:`preview_path_for` too), ``fps`` checked for its kind, nothing there replaced unless
    ``overwrite``, the output's lock taken (``held_lock``: the caller's, taken earlier), and what a writer
    of it killed mid-write left removed.
    Returns the checked path (a leading ``~`` as the home folder) and the lock, which the caller releases
    unless it passed it."""
    path = home_path(path)
    if held_lock is not None and Path(held_lock.name).absolute() != output_lock_path(path).absolute():
        raise ValueError(f"held_lock {held_lock.name!r} is not the lock of {str(path)!r}")
    # everything but what is there already first (a folder of the user's is refused, overwrite or not)
    path = check_output_path(path, overwrite=True, preview=preview, lock_held=held_lock is not None)
    kind = output_kind(path)
    if kind == "gif":
        check_gif_fps(fps)
    else:
        check_fps(fps)

    def refuse_existing() -> None:
        if not overwrite:
            refuse_existing_output(path)
            if preview:
                _check_preview_path(path, preview_path_for(path), kind, "output", overwrite=False)

    refuse_existing()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = held_lock if held_lock is not None else lock_output(path)
    try:
        refuse_existing()  # again: another writer may have finished it between the check and the lock
        # what a writer of it killed mid-write (kill -9) left: this one holds the lock
        remove_stale_files(path)
    except BaseException:
        if held_lock is None:
            locks.release(lock, remove=True)
        raise
    return path, lock


def _check_preview_path(
    path: Path, partial: Path, kind: str, what: str, overwrite: bool, given: str | os.PathLike | None = None
) -> None:
    """The checks of ``partial``, where the streaming writer keeps the preview of ``path`` (a ``kind``
    output; ``given``: as the user gave it, named so): a PNG output's preview folder is replaced if it holds
    frames alone, whatever ``overwrite`` says (it is the writer's own); a file output's is never a folder,
    and a file only with ``overwrite``."""
    output = named_path(path if given is None else given)
    pid = locks.holder(output_lock_path(partial))
    if pid is not None:  # another writer's output of that name, being written (see lock_preview)
        raise _preview_in_use(path, partial, what, pid)
    named = f"{str(partial)!r}, where the preview of {what} {output} is written during the run,"
    if kind == "png-dir":
        if partial.is_symlink():  # the preview folder is made and renamed, not written through a link
            raise FileExistsError(
                f"{named} is a symbolic link (to {os.readlink(partial)!r}); the preview is a folder of its own, "
                f"renamed to {output} at the end: remove the link (what it points to stays), or choose "
                "another output"
            )
        if partial.exists():
            check_replaceable_dir(partial, f"{what} preview folder")
    elif partial.is_dir():  # never replaced (a file there is; this failed after the first chunk)
        raise IsADirectoryError(f"{named} is a folder; move it or choose another output")
    elif not overwrite:
        stopped = (" (a stopped run's preview? ", _RESUMING_A_RUN, " continues that run)")
        refuse_existing_output(partial, named, stopped)


def replace_dir(tmp: Path, final: Path) -> None:
    """Put folder ``tmp`` at ``final``; an existing ``final`` is moved aside first, then removed (put back
    when ``tmp`` cannot be put there). Only a folder holding nothing but frame files (an earlier PNG output)
    is ever replaced (:func:`check_replaceable_dir`)."""
    old = None
    if final.exists() or final.is_symlink():
        check_replaceable_dir(final)
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        # left aside, the earlier output would be gone from its path, and removed by the next write as stale
        if old is not None and not (final.exists() or final.is_symlink()):
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_stale_files(path: Path) -> list[Path]:
    """Remove what a writer of ``path`` killed mid-write (``kill -9``) left beside it; the caller holds the
    output's lock (:func:`lock_output`), so no writer of ``path`` is using them. Its segment folders
    ``.NAME.segments-*`` and temporary files ``.STEM.tmp-*SUFFIX`` / ``.STEM.partial.tmp-*SUFFIX``; for a
    PNG folder ``NAME``, the folders ``.NAME.tmp-*`` (a folder being written) and ``.NAME.old-*`` (an
    earlier output moved aside to be replaced). Only entries with exactly those names, ``*`` a temporary's
    random part or pid (no dot), are touched, and, for folders, only those holding nothing but segment or
    frame files; the preview (``STEM.partial.SUFFIX``, ``NAME.partial``) stays. Returns what was removed.

    The preview's temporaries ``.STEM.partial.tmp-*SUFFIX`` are also the temporaries of the output
    ``STEM.partial.SUFFIX`` (the preview's own name) written on its own; and for a ``STEM`` ending in
    ``.partial`` the temporaries ``.STEM.tmp-*SUFFIX`` are also those of the preview of the output without it.
    While that other output's lock is held its writer may be using them: they are left to it."""
    folder = path.parent
    removed: list[Path] = []
    seg_file = re.compile(r"seg_\d{6}" + re.escape(path.suffix))
    for d in _named_like_temporaries(folder, f".{path.name}.segments-"):
        if d.is_dir() and not d.is_symlink() and all(seg_file.fullmatch(p.name) for p in d.iterdir()):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    if output_kind(path) == "png-dir":
        for tag in ("tmp", "old"):
            for d in _named_like_temporaries(folder, f".{path.name}.{tag}-"):
                if d.is_dir() and not d.is_symlink() and all(_is_frame_file(p) for p in d.iterdir()):
                    shutil.rmtree(d, ignore_errors=True)
                    removed.append(d)
    elif path.suffix:
        previewed = path.with_name(path.stem.removesuffix(".partial") + path.suffix)
        for tag, also_of in (("tmp", previewed), ("partial.tmp", preview_path_for(path))):
            if also_of != path and locks.holder(output_lock_path(also_of)) is not None:
                continue
            for f in _named_like_temporaries(folder, f".{path.stem}.{tag}-", path.suffix):
                if f.is_file() and not f.is_symlink():
                    f.unlink(missing_ok=True)
                    removed.append(f)
    return removed


def _named_like_temporaries(folder: Path, prefix: str, suffix: str = "") -> list[Path]:
    """The entries of ``folder`` named ``prefix`` + a random part or pid + ``suffix`` (the temporaries of
    mkstemp, mkdtemp and :func:`replace_dir`). The random part holds no dot: the temporaries of another output
    whose name begins the same (``a.tmp-1.mp4``'s ``.a.tmp-1.tmp-x1y2.mp4``) are not taken for ``a.mp4``'s."""
    name = re.compile(re.escape(prefix) + r"[A-Za-z0-9_]+" + re.escape(suffix))
    return [p for p in folder.glob(f"{glob_escape(prefix)}*{glob_escape(suffix)}") if name.fullmatch(p.name)]


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove what an earlier writer of ``path`` that was killed (``kill -9``) left beside it
    (:func:`remove_stale_files`), holding the output's lock meanwhile; the preview stays. Returns what was
    removed; :class:`OutputInUseError` while another process is writing ``path`` (its files are not stale)."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        return []
    lock = lock_output(path)  # a writer still going elsewhere: its files are not stale (OutputInUseError)
    try:
        return remove_stale_files(path)
    finally:
        locks.release(lock, remove=True)


def _is_frame_file(p: Path) -> bool:
    return FRAME_FILE.fullmatch(p.name) is not None and p.is_file() and not p.is_symlink()
