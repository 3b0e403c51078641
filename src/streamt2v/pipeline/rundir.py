"""Run directories: everything needed to resume a long generation bit for bit (paper §4: the video is made
chunk by chunk, so a run can continue from its last finished chunk).

Layout::

    RUN/config.json                 the full generation config (JSON), written once
    RUN/manifest.json               finished chunks + status + what the run left at its outputs
                                    (pipeline.run_outputs) + its model folder's fingerprint, replaced
                                    atomically after every chunk
    RUN/chunks/chunk_000003.safetensors
                                    a finished chunk's frames and CAM/APM state (pipeline.run_chunks)

Which folders hold a run, and which can take a new one: :mod:`~streamt2v.pipeline.run_folders`.

A chunk file is written (temp name, fsync, rename) before the manifest names it, so after a crash, a
``kill -9`` or Ctrl-C the manifest lists only complete chunks. The manifest records each chunk file's sha256,
checked when the run is opened and whenever a chunk is read back: a file whose bytes changed since (bits
flipped on the disk or in a copy, same size) is damaged, as one cut short is; the manifests of earlier
versions hold no digests, and their chunks are checked by their header alone. The process working on a run
holds an exclusive lock on ``RUN/.lock`` (``flock``, released by the system when the process ends, however
it ends), so a second ``--resume`` of a run that is still going is refused instead of removing its live
files, and a run that another process changed between its opening and its lock is read again under the lock
(the resume goes on from the run as it is, not as it was opened); a new run is locked before its first file
is written, so two processes creating the same run directory never both write it. :meth:`RunDir.create`
writes ``manifest.json`` before ``config.json``: a folder holding both is a run, and one killed in between (a
manifest without a config and without chunks) holds nothing to resume and takes a new run. The temporary
files a killed process left (``.*.tmp-PID``) are removed when the run is next taken. Chunk noise depends only
on (seed, chunk index) (:func:`~streamt2v.pipeline.chunking.chunk_seed`) and the CAM/APM state is stored in
full precision, so continuing from the last chunk reproduces the uninterrupted run exactly.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError

from streamt2v.arguments import Arg, ArgumentFileNotFoundError
from streamt2v.io import locks
from streamt2v.io.folders import atomic_write_file, home_path, named_path, read_json_object, remove_leftovers
from streamt2v.pipeline import run_outputs
from streamt2v.pipeline.run_chunks import (
    CHUNK_FILE,
    DIGEST,
    DamagedChunkError,
    StoredChunk,
    check_chunk_file,
    chunk_file_bytes,
    chunk_file_name,
    read_chunk_file,
)
from streamt2v.pipeline.run_folders import (
    CONFIG,
    FORMAT_VERSION,
    LOCK,
    MANIFEST,
    RUN_DIR,
    STALE_TEMPORARY,
    check_holds_no_run,
    check_new_run_dir,
    created_without_config,
    holds_chunks,
    in_use,
    is_run,
    is_run_manifest,
    not_a_runs_manifest,
    where_the_runs_are,
)
from streamt2v.wording import counted

if TYPE_CHECKING:
    from streamt2v.pipeline.stream import Chunk

#: The manifest's fingerprint of the run's model folder (pipeline.model_fingerprint: a digest of each file its
#: loading reads; None: the model was not a local folder, or was given loaded), which a resume given the
#: folder's new place compares; the version before this one recorded one digest of them all, earlier ones none.
MODEL_FINGERPRINT = "model_fingerprint"


def _goes_on_from(index: int) -> str:
    """Where a run with a missing or damaged chunk file ``index`` goes on from."""
    if index == 0:
        return "the run starts again from its first chunk"
    return (
        f"the run goes on from its {counted(index, 'finished chunk')} before it, making the later ones again"
    )


#: Stage 3's state after its last finished step (pipeline.enhance_state), kept in the run until its outputs
#: are written.
STAGE3_STATE = "stage3_state.pt"


def _atomic_write_json(path: Path, obj: Any) -> None:
    data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
    atomic_write_file(path, lambda tmp: tmp.write_bytes(data))


def _read_run_files(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config and manifest of the run in ``path``; a manifest that is none a run writes (as ``evaluate``
    tells a run folder from a dataset's files: :func:`.run_folders.is_run_manifest`), one whose chunks or
    status are damaged, or one of another format, is refused naming it."""
    config = read_json_object(path / CONFIG, "run config")
    manifest = read_json_object(path / MANIFEST, "run manifest")
    if not is_run_manifest(manifest):
        raise ValueError(not_a_runs_manifest(path, manifest, "run directory"))
    if not isinstance(manifest.get("chunks"), list) or not isinstance(manifest.get("num_chunks"), int):
        raise ValueError(
            f"{str(path / MANIFEST)!r} is damaged: it has no list of chunks and number of chunks; "
            "this run cannot be resumed"
        )
    if not isinstance(manifest.get("status"), str):  # every manifest written holds one (create, set_status)
        raise ValueError(
            f"{str(path / MANIFEST)!r} is damaged: its status is {manifest.get('status')!r}, not running, "
            "interrupted, failed or complete; this run cannot be resumed"
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"run directory {str(path)!r} has format {manifest.get('format_version')!r}, "
            f"expected {FORMAT_VERSION}"
        )
    return config, manifest


class RunDir:
    """A run directory (see module docstring). Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: Path, config: dict[str, Any], manifest: dict[str, Any]) -> None:
        self.path = path
        self.config = config
        self.manifest = manifest
        self._lock: Any = None  # the open lock file while this process holds the run
        # (chunk index, why) of the first finished chunk whose file is missing or damaged (:meth:`open`)
        self.damaged: tuple[int, str] | None = None
        # config and manifest as last read from the run's files (:meth:`open`); None for a run created here
        self._as_read: tuple[dict[str, Any], dict[str, Any]] | None = None

    def __repr__(self) -> str:
        # from the manifest in memory (no file is read): what a debugger or a log line wants to know
        finished = f"{self.num_finished} of {counted(self.manifest['num_chunks'], 'chunk')} finished"
        state = [f"{finished} ({counted(self.num_frames_saved, 'frame')})", f"status {self.status!r}"]
        if self.damaged is not None:
            state.append(f"chunk {self.damaged[0]} missing or damaged")
        if self._lock is not None:
            state.append("held by this process")
        return f"<RunDir {str(self.path)!r}: {', '.join(state)}>"

    # -- ownership -------------------------------------------------------------------------------
    def lock(self, *, existing: bool = True) -> RunDir:
        """Take the run for this process (see module docstring); :class:`.run_folders.RunInUseError` naming
        the other process when one holds it. Held until :meth:`unlock` or the process ends. ``existing``: the
        run was opened, and is refused if it was removed meanwhile (stopped before its first chunk, by its
        holder); its state is read again if another process changed it meanwhile
        (:meth:`_read_again_if_changed`)."""
        if self._lock is not None:
            return self
        gone = FileNotFoundError(
            f"run directory {str(self.path)!r} was removed while it was opened: its run stopped before its first "
            "chunk, so there is nothing to resume; start the run again"
        )
        try:
            self._lock = locks.acquire(self.path / LOCK)
        except locks.LockedError as err:
            raise in_use(self.path, err.holder) from None
        except FileNotFoundError:  # the folder itself is gone
            if not existing:
                raise
            raise gone from None
        if existing and not is_run(self.path):
            locks.release(self._lock, remove=True)
            self._lock = None
            raise gone
        try:
            if existing and self._as_read is not None:
                self._read_again_if_changed()
        except BaseException:
            self.unlock()
            raise
        self._remove_stale_temporaries()
        return self

    def _remove_stale_temporaries(self) -> list[Path]:
        """Remove the temporary files (``.*.tmp-PID``) a killed process left in the run; call with the lock held
        (no other process can be writing them). Returns what was removed."""
        return [p for d in (self.path, self.path / "chunks") for p in remove_leftovers(d, STALE_TEMPORARY)]

    def unlock(self) -> None:
        locks.release(self._lock)
        self._lock = None

    # -- construction ----------------------------------------------------------------------------
    @staticmethod
    def check_new(path: str | os.PathLike) -> Path:
        """Raise unless a new run can be created at ``path`` (see :func:`.run_folders.check_new_run_dir`);
        returns it, ``~`` expanded."""
        return check_new_run_dir(path)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        config: dict[str, Any],
        *,
        num_chunks: int,
        outputs: Sequence[Path] = (),
        model_fingerprint: dict[str, str] | None = None,
    ) -> RunDir:
        """A new run at ``path`` (:meth:`check_new`), locked. ``outputs``: what it may write over, whose
        state now its manifest records as its own (the run's checks let a file be there only when it is the
        run's to replace: ``overwrite``); ``model_fingerprint``: its model folder's (:data:`MODEL_FINGERPRINT`)."""
        path = cls.check_new(path)
        path.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format_version": FORMAT_VERSION,
            "num_chunks": num_chunks,
            "status": "running",
            "chunks": [],
            MODEL_FINGERPRINT: model_fingerprint,
        }
        run_outputs.record(manifest, list(outputs))
        # Locked before anything is written: another process creating a run here at the same moment is
        # refused (RunInUseError) instead of both writing config.json.
        run = cls(path, config, manifest).lock(existing=False)
        try:
            check_holds_no_run(path)  # again, now that no other process can be creating it
        except BaseException:
            run.unlock()
            raise
        try:
            (path / "chunks").mkdir(exist_ok=True)
            # The manifest first: killed before config.json is written, the folder holds no run (see module
            # docstring) and can take a new one; config.json and manifest.json together are a run.
            _atomic_write_json(path / MANIFEST, manifest)
            _atomic_write_json(path / CONFIG, config)
        except BaseException:  # an error or Ctrl-C: no run was made, so no run directory is left either
            if not run.remove_if_empty():
                run.unlock()
            raise
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> RunDir:
        given, path = path, home_path(path)  # ~/run, as generate takes run_dir and the command line --resume
        if not path.exists():  # named as given, then as read: '~/run' ('/home/me/run')
            raise FileNotFoundError(f"run directory {named_path(given)} does not exist")
        if not path.is_dir():
            hint = f"; give its folder {str(path.parent)!r}" if is_run(path.parent) else ""
            raise NotADirectoryError(f"{named_path(given)} is a file, not a run directory{hint}")
        if created_without_config(path):  # killed while create() wrote it: nothing to resume
            raise ArgumentFileNotFoundError(
                f"run directory {str(path)!r} holds no {CONFIG}: its run was stopped while it was being created, "
                "before any chunk was finished, so there is nothing to resume; start the run again (",
                Arg("run_dir", str(path)),
                " takes it)",
            )
        if (path / CONFIG).is_file() and not (path / MANIFEST).exists() and not holds_chunks(path):
            raise ArgumentFileNotFoundError(  # what older versions left when killed there (config.json first)
                f"run directory {str(path)!r} holds {CONFIG} but no {MANIFEST}: it is not a streamt2v run "
                "directory, or its run was stopped while it was being created, before any chunk was finished; "
                "either way there is nothing to resume: start the run again with another ",
                RUN_DIR,
            )
        for name in (CONFIG, MANIFEST):
            if not (path / name).is_file():
                raise FileNotFoundError(
                    f"{str(path / name)!r} not found: {str(path)!r} is not a streamt2v run directory"
                    f"{where_the_runs_are(path)}"
                )
        run = cls(path, *_read_run_files(path))
        run._take_state(run.config, run.manifest)
        return run

    def _take_state(self, config: dict[str, Any], manifest: dict[str, Any]) -> None:
        """Hold ``config`` and ``manifest`` as read from the run's files, and check the chunk files the
        manifest names (a damaged file is named before any work). Each chunk file holds what the next chunk
        needs: the run continues after the last one readable before a missing or damaged one (a copy stopped
        half way), which :meth:`drop_damaged_chunks` makes so."""
        self._as_read = copy.deepcopy((config, manifest))  # what lock() compares the files with
        self.config, self.manifest, self.damaged = config, manifest, None
        for index, entry in enumerate(manifest["chunks"]):
            file = self.path / entry["file"]
            if not file.is_file():
                self.damaged = (index, f"chunk file {str(file)!r} of the run is missing")
            else:
                try:
                    check_chunk_file(file, entry)
                except DamagedChunkError as err:
                    self.damaged = (index, str(err))
            if self.damaged:
                del manifest["chunks"][index:]
                break

    def _read_again_if_changed(self) -> None:
        """With the lock held: take the run's state from its files again when they changed since
        :meth:`open` read them without the lock, so that what the resume goes on from is what the run holds
        now. Another process that held the run meanwhile (a second ``--resume`` started a moment earlier) may
        have finished chunks, dropped damaged ones or changed the dtype; from the state read before, the
        resume made those chunks again, or removed the other's fresh chunk files as damaged. The chunk files
        are checked again only when the manifest changed."""
        config, manifest = _read_run_files(self.path)
        if manifest != self._as_read[1]:
            self._take_state(config, manifest)
        elif config != self._as_read[0]:
            # the settings alone changed (another resume's dtype): the chunks stand as checked
            self.config, self._as_read = config, (copy.deepcopy(config), self._as_read[1])

    def drop_damaged_chunks(self) -> str | None:
        """With the lock held, after :meth:`open` found a missing or damaged chunk file and once the resume is
        known to go ahead: record that the run goes on from the chunks before it (the manifest), remove the
        chunk files from there on and stage 3's state (made from them), so the resume makes those chunks
        again (bit-identical on the same device and precision). Returns what to say, or None when every
        chunk file was whole."""
        if self.damaged is None:
            return None
        index, why = self.damaged
        _atomic_write_json(self.path / MANIFEST, self.manifest)  # first: it names none of what goes below
        chunks = self.path / "chunks"
        chunks.mkdir(exist_ok=True)  # a copy stopped before it reached the folder
        for file in chunks.iterdir():
            number = CHUNK_FILE.fullmatch(file.name)
            if number and int(number[1]) >= index and file.is_file():
                file.unlink()
        (self.path / STAGE3_STATE).unlink(missing_ok=True)
        self.damaged = None
        return f"{why}: {_goes_on_from(index)}"

    # -- chunks ----------------------------------------------------------------------------------
    @property
    def num_finished(self) -> int:
        return len(self.manifest["chunks"])

    @property
    def chunks_as_recorded(self) -> list[dict[str, Any]]:
        """The manifest's chunks as its file held them when read: with those :meth:`open` cut from a missing or
        damaged one on (the file loses them in :meth:`drop_damaged_chunks`)."""
        return (self._as_read[1] if self._as_read is not None else self.manifest)["chunks"]

    @property
    def status(self) -> str:
        return self.manifest["status"]

    def save_chunk(self, chunk: StoredChunk | Chunk) -> None:
        """Store ``chunk`` (must be the next one) and then record it in the manifest."""
        index = chunk.index
        if index != self.num_finished:
            raise ValueError(
                f"chunk {index} saved out of order: the run has {counted(self.num_finished, 'finished chunk')}"
            )
        name = chunk_file_name(index)
        try:
            data = chunk_file_bytes(chunk)
            atomic_write_file(self.path / name, lambda tmp: tmp.write_bytes(data))
        except (OSError, SafetensorError) as err:  # a full disk: safetensors' error names no file
            reason = err.strerror if isinstance(err, OSError) and err.strerror else err
            raise OSError(
                f"cannot save chunk {index} in the run directory {str(self.path)!r}: {reason}"
            ) from err
        entry = {k: getattr(chunk, k) for k in ("index", "stage", "start", "stop", "prompt")} | {"file": name}
        entry[DIGEST] = hashlib.sha256(data).hexdigest()
        self.manifest["chunks"].append(entry)
        _atomic_write_json(self.path / MANIFEST, self.manifest)

    def load_chunk(self, index: int) -> StoredChunk:
        """Finished chunk ``index``; :class:`DamagedChunkError` naming its file when it cannot be read or its
        bytes changed since it was written (a chunk read back at the end of a long run, for stage 3)."""
        entry = self.manifest["chunks"][index]
        return read_chunk_file(self.path / entry["file"], entry)

    def read_video(self) -> torch.Tensor:
        """The finished chunks' frames as one video ``(1, 3, T, H, W)`` float32 in ``[-1, 1]`` (stage 3's
        input), read into it a chunk at a time: a list of every chunk's frames joined at the end held the
        video twice (1.9 GB instead of 0.9 for 1200 frames at 256x256)."""
        if not self.num_finished:
            raise ValueError(f"run directory {str(self.path)!r} holds no finished chunk to read")
        video: torch.Tensor | None = None
        for i in range(self.num_finished):
            chunk = self.load_chunk(i)
            if video is None:
                video = torch.empty((1, 3, self.num_frames_saved, *chunk.frames.shape[-2:]))
            video[:, :, chunk.start : chunk.stop] = chunk.frames
        return video

    @property
    def num_frames_saved(self) -> int:
        """Output frames the finished chunks hold (``stop`` of the last one; 0 when none is finished)."""
        chunks = self.manifest["chunks"]
        return int(chunks[-1]["stop"]) if chunks else 0

    def remove_if_empty(self) -> bool:
        """Delete this run directory when no chunk was finished (what :meth:`create` wrote and nothing else);
        a folder holding anything more is left alone. Returns whether it was removed."""
        if self.num_finished:
            return False
        chunks = self.path / "chunks"
        if chunks.is_dir() and any(chunks.iterdir()):
            return False
        others = {p.name for p in self.path.iterdir()} - {CONFIG, MANIFEST, LOCK, "chunks"}
        if others:
            return False
        # The run's files go while the lock is held, and the lock file last, by its holder: a --resume of
        # this folder that takes the lock after that finds no run (lock()), not a run half deleted, and a
        # new run made here meanwhile keeps its chunks/.
        for name in (CONFIG, MANIFEST):
            (self.path / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # emptied above; a file made in it since keeps it (and the folder)
            if chunks.is_dir():
                chunks.rmdir()
        lock, self._lock = self._lock, None
        if lock is None:  # not locked (a platform without flock): no one else's lock file to spare
            (self.path / LOCK).unlink(missing_ok=True)
        locks.release(lock, remove=True)
        with contextlib.suppress(OSError):  # another process's lock file, made since: the folder is its now
            self.path.rmdir()
        return True

    def record_outputs(self, paths: list[Path]) -> None:
        """Record in the manifest what the run has just left at ``paths`` (outputs and previews it wrote), and
        that it left nothing where nothing is (:mod:`~streamt2v.pipeline.run_outputs`)."""
        if run_outputs.record(self.manifest, paths):
            _atomic_write_json(self.path / MANIFEST, self.manifest)

    def record_coming(self, source: Path, dest: Path) -> None:
        """Record in the manifest that what is at ``source`` is about to be renamed to ``dest``, an output or
        preview (a writer's hook, :func:`~streamt2v.pipeline.run_outputs.record_coming`)."""
        run_outputs.record_coming(self.manifest, source, dest)
        _atomic_write_json(self.path / MANIFEST, self.manifest)

    def wrote(self, path: Path, preview: Path | None = None) -> bool | None:
        """Whether what exists at ``path`` is what the run last left there (:meth:`record_outputs`; for an
        output, its ``preview`` renamed to it), not a file written since by another run or by hand; for a run
        of an earlier version, which recorded nothing, True when it is no newer than the run's manifest, else
        None (:func:`~streamt2v.pipeline.run_outputs.left_there`)."""
        return run_outputs.left_there(self.manifest, self.path / MANIFEST, path, preview)

    def record_model_fingerprint(self, fingerprint: dict[str, str] | None) -> None:
        """Record the fingerprint of the model folder the run goes on with (moved: its new place)."""
        if self.manifest.get(MODEL_FINGERPRINT, ...) != fingerprint:
            self.manifest[MODEL_FINGERPRINT] = fingerprint
            _atomic_write_json(self.path / MANIFEST, self.manifest)

    def save_config(self, config: dict[str, Any]) -> None:
        """Replace the run's settings (a resume on another device or dtype records them), written atomically."""
        _atomic_write_json(self.path / CONFIG, config)
        self.config = config

    def set_status(self, status: str, **extra: Any) -> None:
        """``running`` / ``interrupted`` / ``complete`` (+ e.g. the output path), written atomically. An
        ``error`` recorded by an earlier stop goes with the status it explained (a resumed run that completes
        does not keep the Ctrl-C that stopped it)."""
        self.manifest["status"] = status
        self.manifest.pop("error", None)
        self.manifest.update(extra)
        _atomic_write_json(self.path / MANIFEST, self.manifest)
