"""The chunk files of a run directory (:mod:`streamt2v.pipeline.rundir`): what one holds, its bytes made from
a finished chunk, and read back checked against the sha256 the manifest recorded when it was written.

A chunk file ``chunks/chunk_000003.safetensors`` holds::

    frames  uint8 (n, H, W, 3)  the chunk's new frames, exactly as written to the video
    tail    float (1, 3, <=F_cond, H, W)  the last F_cond frames of the video so far (CAM input)
    anchor  float (1, 3, 1, H, W)         the APM anchor frame for the next chunk
  metadata: index, start, stop, stage, prompt, anchor_prompt
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from streamt2v.io.video import from_uint8_frames, to_uint8_frames

if TYPE_CHECKING:
    from streamt2v.pipeline.stream import Chunk


class DamagedChunkError(ValueError):
    """A finished chunk's file in the run directory cannot be read (cut short, overwritten) or its bytes
    changed since it was written (its sha256 in the manifest). The run stops; its resume goes on from the
    chunks before it (:meth:`~streamt2v.pipeline.rundir.RunDir.open`,
    :meth:`~streamt2v.pipeline.rundir.RunDir.drop_damaged_chunks`)."""


CHUNK_FILE = re.compile(r"chunk_(\d{6})\.safetensors")

#: The manifest entry's key for the chunk file's sha256 (hex); entries of earlier versions have none.
DIGEST = "sha256"

#: What a chunk file holds (module docstring).
_CHUNK_TENSORS = ("frames", "tail", "anchor")
_CHUNK_METADATA = ("index", "stage", "start", "stop", "prompt", "anchor_prompt")


@dataclass
class StoredChunk:
    """A chunk as its file holds it: :class:`~streamt2v.pipeline.stream.Chunk`'s fields but its count."""

    index: int
    stage: int
    start: int
    stop: int
    prompt: str
    frames: torch.Tensor  # (1, 3, n, H, W) float32 in [-1, 1] (from the stored uint8)
    tail: torch.Tensor  # (1, 3, <=F_cond, H, W)
    anchor: torch.Tensor  # (1, 3, 1, H, W)
    anchor_prompt: str


def chunk_file_name(index: int) -> str:
    """Chunk ``index``'s file, relative to the run directory."""
    return f"chunks/chunk_{index:06d}.safetensors"


def _damaged(file: Path, reason: object) -> DamagedChunkError:
    return DamagedChunkError(f"chunk file {str(file)!r} of the run is damaged ({reason})")


def _read_chunk_header(file: Path) -> dict[str, str]:
    """``file``'s metadata, from its header alone (not its tensors): :class:`DamagedChunkError` naming it when
    it is cut short or lacks what a chunk file holds."""
    from safetensors import safe_open

    try:
        with safe_open(str(file), "pt") as fh:
            meta = fh.metadata() or {}
            keys = set(fh.keys())
    except SafetensorError as err:  # e.g. 'incomplete metadata, file not fully covered': cut short
        raise _damaged(file, err) from None
    missing = [k for k in _CHUNK_TENSORS if k not in keys] + [k for k in _CHUNK_METADATA if k not in meta]
    if missing:
        raise _damaged(file, f"it holds no {', '.join(missing)}")
    return meta


def _file_sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_digest(file: Path, entry: dict[str, Any], actual: str) -> None:
    """:class:`DamagedChunkError` naming ``file`` when its sha256 ``actual`` is not the one the manifest
    ``entry`` recorded when it was written (none recorded: a run of an earlier version, not checked)."""
    expected = entry.get(DIGEST)
    if expected is not None and actual != expected:
        raise _damaged(
            file, "its content does not match what was written: its sha256 is not the one in the manifest"
        )


def check_chunk_file(file: Path, entry: dict[str, Any]) -> None:
    """:class:`DamagedChunkError` naming ``file`` when it is cut short, lacks what a chunk file holds, or (where
    the manifest ``entry`` recorded one) its sha256 changed: the header first, which says why."""
    _read_chunk_header(file)
    if DIGEST in entry:  # the whole file, once (chunk files are a few MB)
        _check_digest(file, entry, _file_sha256(file))


def chunk_file_bytes(chunk: StoredChunk | Chunk) -> bytes:
    """The bytes of a chunk file (module docstring): kept in memory (a few MB) so that they are hashed for the
    manifest without reading the file back."""
    tensors = {
        "frames": torch.from_numpy(to_uint8_frames(chunk.frames)),
        "tail": chunk.tail.detach().to("cpu").contiguous(),
        "anchor": chunk.anchor.detach().to("cpu").contiguous(),
    }
    meta = {name: str(getattr(chunk, name)) for name in _CHUNK_METADATA}
    return save(tensors, metadata=meta)


def read_chunk_file(file: Path, entry: dict[str, Any]) -> StoredChunk:
    """The chunk in ``file``; :class:`DamagedChunkError` naming it when it cannot be read or its bytes changed
    since it was written (the manifest ``entry``'s sha256)."""
    meta = _read_chunk_header(file)
    data = file.read_bytes()  # read once: checked against its digest and loaded from the same bytes
    _check_digest(file, entry, hashlib.sha256(data).hexdigest())
    try:
        t = load(data)
    except SafetensorError as err:  # changed since it was checked
        raise _damaged(file, err) from None
    return StoredChunk(
        index=int(meta["index"]),
        stage=int(meta["stage"]),
        start=int(meta["start"]),
        stop=int(meta["stop"]),
        prompt=meta["prompt"],
        frames=from_uint8_frames(t["frames"].numpy()),
        tail=t["tail"],
        anchor=t["anchor"],
        anchor_prompt=meta["anchor_prompt"],
    )
