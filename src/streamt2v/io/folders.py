"""Paths the user gives: writing a whole folder or a file atomically (readers see the old one or the finished
new one, never a half), checks before slow work, the text files users write, and telling a hub id from a
path."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from streamt2v.arguments import Arg, ArgumentValueError, NamesArguments
from streamt2v.wording import first_and_more, first_few, with_article


def home_path(path: str | os.PathLike) -> Path:
    """``path`` with a leading ``~`` as the home folder (the Python API takes it as the command line's flags
    do), expanded from the text given: ``./~/m``, a folder named ``~``, stays itself (``Path("./~/m")`` is
    ``~/m``, which ``Path.expanduser`` would take for the home folder's)."""
    result = Path(os.path.expanduser(os.fspath(path)))
    # ./~/m (a folder named ~) is made absolute: as Path("~/m") it would be taken for the home folder's later
    return result.absolute() if result.parts and result.parts[0].startswith("~") else result


def named_path(path: str | os.PathLike) -> str:
    """``path`` quoted for a message as given, then as read where a leading ``~`` was expanded
    (:func:`home_path`): ``'~/x' ('/home/me/x')``; any other path just quoted (``'x'``). One form for every
    reader, the Python API and every command's flags alike."""
    text = os.fspath(path)
    read = str(home_path(text))
    return f"{text!r} ({read!r})" if text.startswith("~") and read != text else repr(text)


def atomic_write_file(path: str | Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` by ``write(tmp)`` into ``.NAME.tmp-PID`` beside it, flushed to the disk, then renamed
    over it: after an error, Ctrl-C, ``kill -9`` or a power cut the file is the old one or the whole new one.
    An error or Ctrl-C removes the temporary; only a killed process leaves it behind (by that name).
    The file gets the usual permissions (those the system gives a new file there: the umask's), also where
    ``write`` makes it 0600 (safetensors does); ``write`` finds the temporary made (empty) and replaces it."""
    path = Path(path)
    tmp = path.with_name(f"{_atomic_write_prefix(path)}{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)  # a killed process's, whose pid this one has
        # Made here so the system gives it the usual mode (reading the umask with os.umask sets it, for every
        # thread of the process); kept by writers that truncate it, given back where one made a new file.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        usual = stat.S_IMODE(os.stat(tmp).st_mode)
        write(tmp)
        give_mode(tmp, usual)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _atomic_write_prefix(path: Path) -> str:
    """The name of :func:`atomic_write_file`'s temporary for ``path``, less the writer's pid."""
    return f".{path.name}.tmp-"


def remove_atomic_write_leftovers(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries (``.NAME.tmp-PID``) that processes killed in :func:`atomic_write_file` of
    ``path`` left beside it: those of a PID no process of this machine has now, or this process's own (a
    killed one's whose PID it was given). Another process's that is running may be writing it, and is kept.
    The names carry no machine, so a writer in another container or on another machine sharing the folder is
    not seen; and a killed writer's temporary stays while an unrelated process has its PID. Returns what was
    removed."""
    path = Path(path)
    removed: list[Path] = []
    if not path.parent.is_dir():
        return removed
    names = re.compile(re.escape(_atomic_write_prefix(path)) + r"(\d+)")
    for p in sorted(path.parent.iterdir()):
        found = names.fullmatch(p.name)
        if found and not p.is_symlink() and p.is_file() and not _writer_alive(int(found[1]), _host_tag()):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def give_mode(path: str | Path, mode: int) -> None:
    """``chmod`` ``path`` to ``mode`` where it differs, and no error where the file system refuses it (some
    FUSE and network ones do): the usual permissions are a courtesy, not worth failing a write for."""
    try:
        if stat.S_IMODE(os.stat(path).st_mode) != mode:
            os.chmod(path, mode)
    except OSError:
        pass


def current_umask() -> int:
    """The process's umask, read without changing it: ``os.umask`` tells it only by setting another, and for
    that moment a file any thread of the process creates gets that one's mode (``os.umask(0)``: 0666).
    Linux shows it in ``/proc/self/status``; elsewhere a file made in a new temporary folder does."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with tempfile.TemporaryDirectory() as folder:
        probe = os.path.join(folder, "probe")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777))
        return 0o777 & ~stat.S_IMODE(os.stat(probe).st_mode)


def give_usual_permissions(folder: Path) -> None:
    """Give the files under ``folder`` the umask's permissions (``0o666 & ~umask``, its folders ``0o777 &
    ~umask``), as :func:`atomic_write_file` gives its file: safetensors (``save_file``, and the
    ``save_pretrained`` of diffusers and transformers through it) makes its files 0600, unreadable to the
    group and others beside 0644 files. Call it on a temporary folder before it is renamed into place, so
    the files appear with their permissions (:func:`atomic_folder` does). A file system that refuses
    ``chmod`` leaves them as they are (:func:`give_mode`). Folders keep their setgid and sticky bits.
    The modes follow the umask alone; a folder's default ACL, which the system applies to new files, is not
    consulted."""
    umask = current_umask()  # read, not set: os.umask(0) would give 0666 to any file a thread makes meanwhile
    for p in [folder, *folder.rglob("*")]:
        if p.is_symlink():
            continue
        if p.is_dir():  # a setgid folder's (a group-shared one's) new folders inherit the bit: it stays
            give_mode(p, (0o777 & ~umask) | (stat.S_IMODE(p.stat().st_mode) & (stat.S_ISGID | stat.S_ISVTX)))
        else:
            give_mode(p, 0o666 & ~umask)


def remove_leftovers(folder: Path, names: re.Pattern[str], *, folders: bool = False) -> list[Path]:
    """Remove the entries of ``folder`` whose whole name matches ``names``: the temporaries a killed writer
    left (files; folders too with ``folders``, never what a link points to). Call it only as the one writer
    of what they were for (holding its lock), so none is being written. Returns what was removed."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in sorted(folder.iterdir()):
        if not names.fullmatch(p.name) or p.is_symlink():
            continue
        if p.is_dir():
            if not folders:
                continue
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def read_text_file(path: str | os.PathLike, what: str) -> str:
    """The text of a file the user wrote (prompts, schedules, captions): UTF-8 with or without the byte-order
    mark Windows editors add (it would otherwise start the first entry); other encodings are one error
    naming ``what`` and the file. CRLF and CR line ends read as LF. ``path`` as the user gave it: a leading
    ``~`` is the home folder, and the error names both (:func:`named_path`)."""
    try:
        return home_path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{what} {named_path(path)} is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8 "
            "(an editor's or spreadsheet's Save As offers it)"
        ) from None


def read_json_object(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """The JSON object in ``path`` (a config, an index); a ``ValueError`` naming ``what`` and the file when it
    is not valid JSON or holds no object (the decoder's own message names neither). ``path`` as the user gave
    it: a leading ``~`` is the home folder, and the error names both (:func:`named_path`)."""
    try:
        data = json.loads(home_path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{what} {named_path(path)} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {named_path(path)} holds no JSON object")
    return data


def saved_class_name(file: Path, what: str | None = None) -> str | None:
    """The class a diffusers or transformers JSON ``file`` (a model's ``config.json``, a pipeline's
    ``model_index.json``) records as ``_class_name``, which tells what a folder holds; None when the file is
    absent or records no class name. A damaged file is refused naming ``what`` (:func:`read_json_object`), or
    without ``what`` is None: for a hint, where what goes on to read the file names the damage."""
    if not file.is_file():
        return None
    try:
        name = read_json_object(file, what or "config").get("_class_name")
    except (OSError, ValueError):
        if what is not None:
            raise
        return None
    return name if isinstance(name, str) else None


def what_it_holds(saved: str | None) -> str:
    """What a folder holds by the class its ``config.json`` records (:func:`saved_class_name`): ``an
    AutoencoderKL``, or no model."""
    return with_article(saved) if saved else "no diffusers model (no config.json with a _class_name)"


def looks_like_hub_id(spec: str | Path) -> bool:
    """``org/name`` that is not a local path (no leading ``/``, ``.`` or ``~``, exactly one ``/``, nothing
    there on disk): what a model argument names on the hub."""
    text = str(spec)
    return (
        text.count("/") == 1
        and not text.startswith(("/", ".", "~"))
        and all(part.strip() for part in text.split("/"))
        and not Path(text).exists()
    )


def nearest_existing_parent(path: str | Path) -> Path:
    """The nearest parent of ``path`` that exists (absolute): the folder that a write of ``path``, making the
    folders between, creates its entries in; the root where none does."""
    parent = Path(path).absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def check_writable_parent(path: str | os.PathLike, what: str, advice: str = "") -> None:
    """Raise, naming ``what`` and ``path`` (and ending with ``advice``: ``"; choose another --run-dir"``),
    unless the nearest existing parent of ``path`` is a folder this process can create files in (checked
    before slow work that ends by writing ``path``). ``path`` as the user gave it: a leading ``~`` is the
    home folder, and the path is named as given, then as read (:func:`named_path`)."""
    parent = nearest_existing_parent(home_path(path))
    if not parent.is_dir():
        raise NotADirectoryError(
            f"cannot write {what} {named_path(path)}: {str(parent)!r} is a file, not a folder{advice}"
        )
    try:
        _create_a_file_in(parent)
    except OSError as err:
        # a folder that exists yet says "No such file or directory" (/proc, /sys): its file system makes none
        why = "its file system takes no new files" if err.errno == errno.ENOENT else (err.strerror or err)
        raise PermissionError(
            f"cannot write {what} {named_path(path)}: cannot create files in folder {str(parent)!r} "
            f"({why}){advice}"
        ) from None


# What open(O_TMPFILE) says where the file system (or the kernel) has no unnamed files.
_NO_TMPFILE_ERRNOS = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)


def _create_a_file_in(folder: Path) -> None:
    """Create a file in ``folder`` and remove it (``OSError`` if that is not allowed). An unnamed file
    (Linux ``O_TMPFILE``) where the file system has them, so a process killed meanwhile leaves nothing
    behind; elsewhere a named one, created and removed at once."""
    unnamed = getattr(os, "O_TMPFILE", None)
    if unnamed is not None:
        try:
            os.close(os.open(folder, unnamed | os.O_WRONLY, 0o600))
            return
        except OSError as err:
            if err.errno not in _NO_TMPFILE_ERRNOS:
                raise
    fd, probe = tempfile.mkstemp(prefix=".streamt2v-write-test-", dir=folder)
    os.close(fd)
    os.unlink(probe)


class ExistingOutputError(NamesArguments, FileExistsError):
    """An output that exists, refused without ``overwrite``: the message names ``overwrite=True``, or
    ``--overwrite`` once the command line has called :meth:`~streamt2v.arguments.NamesArguments.as_flags`."""

    @classmethod
    def advising_overwrite(
        cls, named: str, held: str = "already exists", why: tuple[object, ...] = ()
    ) -> ExistingOutputError:
        """The refusal of every writer given no ``overwrite``, in one wording: ``NAMED already exists;
        pass overwrite=True to replace it``. ``held``: what is there, said after ``named``; ``why``: what it
        may be, text and :class:`~streamt2v.arguments.Arg` parts said after ``held``."""
        return cls(f"{named} {held}", *why, "; pass ", Arg("overwrite", True), " to replace it")


def refuse_existing(out: str | Path, overwrite: bool = False, *, model_folder: bool = False) -> None:
    """Raise :class:`ExistingOutputError` if ``out`` exists and ``overwrite`` is not set; call it before any
    slow work that writes ``out``. ``model_folder``: ``out`` is a model folder, replaced whole, so even with
    ``overwrite`` a file, or a folder that is neither empty nor a model folder (no ``model_index.json``: the
    user's files), is refused. ``out`` as given: a leading ``~`` is the home folder, and it is named as given,
    then as read (:func:`named_path`)."""
    named, out = named_path(out), home_path(out)
    if out.exists() and not overwrite:
        raise ExistingOutputError.advising_overwrite(named)
    if model_folder and out.exists() and not out.is_dir() and not out.is_symlink():
        raise FileExistsError(
            f"{named} is a file, not a model folder: overwriting replaces only a model folder or an "
            "empty one; give another path"
        )
    if model_folder and out.is_dir() and not out.is_symlink() and not (out / "model_index.json").is_file():
        held = sorted(p.name for p in out.iterdir())
        if held:
            raise FileExistsError(
                f"{named} is not a model folder (no model_index.json) but holds {first_and_more(held)}: "
                "overwriting replaces only a model folder or an empty one; give another path"
            )


def refuse_inputs_inside(out_dir: str | os.PathLike[str], inputs: Mapping[str | Arg, Any]) -> None:
    """Refuse an input inside the output folder, which ``overwrite`` would delete with the folder it replaces
    (``convert models/x/streaming_t2v.ckpt models/x --overwrite`` deleted the checkpoint, ``assemble model
    runs/stream --unet runs/stream/final/unet --overwrite`` the training run it assembled). ``inputs``: each
    input (a path, or None: not given) by its name in messages (an :class:`Arg`: as the caller spells it),
    for a conversion and for assemble alike."""
    out = home_path(out_dir).resolve()
    for name, spec in inputs.items():
        if spec is None or not home_path(spec).exists():
            continue
        path = home_path(spec).resolve()
        if path == out or out in path.parents:
            raise ArgumentValueError(
                name,
                f" {named_path(spec)} is inside the output folder {named_path(out_dir)}, which is written as a whole (",
                Arg("overwrite", True),
                " replaces it); write the model folder somewhere else",
            )


# atomic_folder's temporary folders beside ``out``: ``.NAME.tmp-PID-HOST-RANDOM`` (the folder being filled)
# and ``.NAME.old-PID-HOST-RANDOM`` (the replaced folder, moved aside between the two renames). HOST tells
# this machine's (or container's) writers from those of another sharing the folder, whose pid says
# nothing here.
_ATOMIC_TEMPORARY = r"\.{name}\.(?P<tag>tmp|old)-(?P<pid>[1-9]\d*)-(?P<host>[0-9a-f]{{8}})-[0-9a-f]{{8}}"
# the names of this process's atomic_folder temporaries now in use (one with this pid and not here is a dead
# process's: a container's writer often has the same small pid each time); the random part makes them unique
_ACTIVE: set[str] = set()


def _host_tag() -> str:
    """This machine and PID namespace: a pid is asked after only within its own. A container sharing the
    host's name (``--network host``) has its own pids, and judging its live writer by ours deleted its
    folder."""
    ident = socket.gethostname()
    with contextlib.suppress(OSError):  # no /proc (macOS, Windows): no PID namespaces to tell apart
        ident += f"/pidns:{os.stat('/proc/self/ns/pid').st_ino}"
    return hashlib.sha1(ident.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def atomic_folder_temporary(out: Path) -> re.Pattern[str]:
    """The names of :func:`atomic_folder`'s temporary folders beside ``out`` (groups ``tag``: ``tmp`` or
    ``old``, ``pid``, ``host``)."""
    return re.compile(_ATOMIC_TEMPORARY.format(name=re.escape(out.name)))


def _writer_alive(pid: int, host: str) -> bool | None:
    """Whether the process that named a temporary folder ``pid``/``host`` is alive: None when this process
    cannot tell (another machine or container, or no POSIX signals to ask with)."""
    if host != _host_tag() or os.name != "posix":
        return None
    if pid == os.getpid():
        return False  # this process's own running ones are in _ACTIVE, checked by the caller
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, another user's
        return True
    return True


class Leftovers(NamedTuple):
    """:func:`atomic_folder`'s temporary folders beside an output that are not this process's."""

    dead: list[Path]  # of a killed writer (``kill -9``, an OOM kill, a power cut): removable
    replaced: list[Path]  # moved aside by a writer killed between its two renames, no output since
    unknown: list[Path]  # of a writer this process cannot ask after (another machine or container)


def atomic_folder_leftovers(out: Path) -> Leftovers:
    """The temporary folders of :func:`atomic_folder` beside ``out`` that are not this process's running
    ones, by what became of their writer (a running writer's on this machine are left out). ``replaced``
    holds the user's only copy of ``out``: never removed."""
    pattern = atomic_folder_temporary(out)
    found = Leftovers([], [], [])
    if not out.parent.is_dir():
        return found
    for p in sorted(out.parent.iterdir()):
        m = pattern.fullmatch(p.name)
        if not m or p.is_symlink() or not p.is_dir() or p.name in _ACTIVE:
            continue
        alive = _writer_alive(int(m["pid"]), m["host"])
        if alive is None:
            found.unknown.append(p)
        elif alive:
            continue
        elif m["tag"] == "old" and not (out.exists() or out.is_symlink()):
            found.replaced.append(p)
        else:
            found.dead.append(p)
    return found


def remove_dead_writers_temporaries(out: Path) -> list[Path]:
    """Remove the temporary folders a killed :func:`atomic_folder` writer of ``out`` left beside it (as
    large as a model folder: ~13 GB for a full-size conversion; :func:`atomic_folder_leftovers`);
    returns what was removed."""
    dead = atomic_folder_leftovers(out).dead
    for p in dead:
        shutil.rmtree(p, ignore_errors=True)
    return dead


@contextmanager
def atomic_folder(out: Path, overwrite: bool = False, *, model_folder: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``out`` to fill; on success it replaces ``out``, on an error it is
    removed and ``out`` stays as it was. An existing ``out`` is refused unless ``overwrite`` (and as
    :func:`refuse_existing` says with ``model_folder``). What ``out`` holds gets the umask's permissions
    (:func:`give_usual_permissions`). The temporary folders are named with this
    process's pid (:func:`atomic_folder_temporary`): those of a killed writer of ``out`` are removed first
    (:func:`remove_dead_writers_temporaries`), a running writer's are left alone."""
    refuse_existing(out, overwrite, model_folder=model_folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_writers_temporaries(out)
    stem = f"{os.getpid()}-{_host_tag()}"
    tmp = out.parent / f".{out.name}.tmp-{stem}-{uuid.uuid4().hex[:8]}"
    old = out.parent / f".{out.name}.old-{stem}-{uuid.uuid4().hex[:8]}"
    _ACTIVE.update((tmp.name, old.name))
    try:
        tmp.mkdir()
        yield tmp
        give_usual_permissions(tmp)  # what safetensors wrote is 0600, the folder made here may be too
        if out.exists():
            out.rename(old)
            tmp.rename(out)
        else:
            tmp.rename(out)
    except BaseException:
        # stopped (an error, Ctrl-C) between the two renames: the replaced folder comes back
        if old.exists() and not out.exists():
            old.rename(out)
        shutil.rmtree(tmp, ignore_errors=True)
        _ACTIVE.difference_update((tmp.name, old.name))
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    elif old.exists() or old.is_symlink():  # --overwrite of a file by a folder
        old.unlink()
    _ACTIVE.difference_update((tmp.name, old.name))


def folder_listing(folder: Path) -> str:
    """What ``folder`` holds, for an error message: its first 10 names (folders with a trailing ``/``)."""
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    return first_few(names, 10) if names else "nothing"
