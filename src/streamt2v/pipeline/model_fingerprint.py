"""The fingerprint of a model folder (:func:`model_fingerprint`), which a run records in its manifest
(:data:`~streamt2v.pipeline.rundir.MODEL_FINGERPRINT`): it tells a resume that a folder given as the moved
model's new place holds the same weights, and that the folder a run names still holds them, without reading
gigabytes of weights whole."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from streamt2v.io.folders import home_path
from streamt2v.io.output_paths import list_names
from streamt2v.io.weight_files import shard_index_read, weight_files_read, weights_variant

# What the fingerprint reads of each tensor's bytes in a safetensors file (its start and its end), and how many
# evenly spaced pieces of that size of a pickled file that is no zip archive (torch's legacy format).
_SAMPLE = 4096
_PIECES = 1024


def local_model_folder(spec: str | os.PathLike | None) -> Path | None:
    """The local folder a model spec loads (the shipped model's for None or ``"microworld"``); None for a hub
    id, a preset or a folder that is not there."""
    from streamt2v.pipeline.model_loading import model_folder_spec

    folder = home_path(model_folder_spec(spec))
    return folder.resolve() if folder.is_dir() else None


def _parts(folder: Path) -> list[Path]:
    """The part folders ``model_index.json`` names (``"unet": ["streamt2v", "StreamingUNet"]``), which loading
    reads; every folder but hidden ones where the index cannot be read (loading names it)."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
        named = [k for k, v in index.items() if isinstance(v, list) and v and v[0] is not None]
    except (OSError, ValueError, AttributeError):
        named = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
    return sorted(folder / name for name in named if (folder / name).is_dir())


# The configurations loading reads in a part folder (a model's, the scheduler's, an image processor's); every
# file of tokenizer/ is read. Other JSON files there (training_args.json, notes) leave the weights as they are.
_CONFIGS = ("config.json", "scheduler_config.json", "preprocessor_config.json")


def _files_read(folder: Path, every_json: bool = False) -> list[Path]:
    """The files of model ``folder`` its loading reads: ``model_index.json``, each part's configuration
    (:data:`_CONFIGS`; every file of ``tokenizer/``) and the weight files of the variant it loads, with their
    shard index (:func:`~streamt2v.io.weight_files.shard_index_read`); not the copies it leaves (a ``.bin``
    beside a ``.safetensors``, an ``fp16`` variant beside the full-precision one, an ``optimizer.pt``), nor
    other JSON files, folders the index does not name (``samples/``, ``.git``) or hidden files. With
    ``every_json``, every JSON file of a part counts, as the version before this one read them (the files, in
    the same order, of which those without it are a part)."""
    files = [folder / "model_index.json"]
    for part in _parts(folder):
        index = None
        # no weights (scheduler/, tokenizer/), or links to nothing, which loading names
        with contextlib.suppress(FileNotFoundError):
            variant = weights_variant(part, "part")
            files += weight_files_read(part, variant)
            index = shard_index_read(part, variant)
        files += sorted(
            p
            for p in part.iterdir()
            if p.is_file()
            and not p.name.startswith(".")
            and (
                part.name == "tokenizer"
                or p.name in _CONFIGS
                or p == index
                or (every_json and p.suffix == ".json")
            )
        )
    return [p for p in files if p.is_file()]


def _tensor_spans(fh: BinaryIO, size: int) -> list[tuple[int, int]] | None:
    """The safetensors header of the file open in ``fh`` (every tensor's name, dtype, shape and offsets) and
    the first and last :data:`_SAMPLE` bytes of every tensor; None when it is no safetensors file."""
    n = int.from_bytes(fh.read(8), "little")
    try:
        header = json.loads(fh.read(n)) if 0 < n <= size - 8 else None
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    spans = [(0, 8 + n)]
    for name, entry in header.items():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if name == "__metadata__":
            continue
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            return None
        begin, end = (8 + n + o for o in offsets)
        spans += [(begin, min(end, begin + _SAMPLE)), (max(begin, end - _SAMPLE), end)]
    return spans


def _digest_file(digest: Any, file: Path, size: int) -> None:
    """Add what the fingerprint reads of ``file`` to ``digest``: a small file whole; of a safetensors file
    its header and every tensor's start and end (:func:`_tensor_spans`); of a zip archive (torch's format)
    the CRC-32 its directory holds of every entry, which covers every byte; else evenly spaced pieces."""
    if file.suffix == ".json" or size <= _SAMPLE * _PIECES:
        digest.update(file.read_bytes())
        return
    if zipfile.is_zipfile(file):
        with zipfile.ZipFile(file) as archive:
            digest.update(repr([(i.filename, i.file_size, i.CRC) for i in archive.infolist()]).encode())
        return
    with open(file, "rb") as fh:
        spans = _tensor_spans(fh, size) if file.suffix == ".safetensors" else None
        if spans is None:
            step = size // _PIECES
            spans = [(start, start + _SAMPLE) for start in range(0, size, step)] + [(size - _SAMPLE, size)]
        for begin, end in spans:
            fh.seek(begin)
            digest.update(fh.read(end - begin))


def _digest(folder: Path, files: list[Path], digest: Any) -> Any:
    """``digest`` updated with each of ``files`` (of model ``folder``): its path in the folder, its size and
    what the fingerprint reads of it (:func:`_digest_file`)."""
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(folder).as_posix()}\0{size}\0".encode())
        _digest_file(digest, file, size)
    return digest


def _digest_before(folder: Path) -> str | None:
    """The one sha256 the version before this one recorded of model ``folder`` (a string in the manifest):
    of all it read, every JSON file of a part included; None for a folder holding no weights."""
    files = _files_read(folder, every_json=True)
    if not any(p.suffix in (".safetensors", ".bin") for p in files):
        return None
    return _digest(folder, files, hashlib.sha256()).hexdigest()


def model_fingerprint(folder: Path) -> dict[str, str] | None:
    """What tells the model in ``folder`` from others without reading its weights whole (a 1.7B model's are
    gigabytes; this reads a few MiB): for each file its loading reads (:func:`_files_read`), by its path in
    the folder, a sha256 of its path, its size and what is read of it: a configuration whole, a safetensors
    file's header (every tensor's name, shape and offsets) and the first and last 4 KiB of every tensor, a
    torch zip archive's CRC-32 of every tensor, other files 1024 evenly spaced pieces. None for a folder
    holding no weights. A copy of the folder (moved) has the same; weights changed in any tensor's first or
    last values (fine-tuning changes them all) do not, and :func:`compared` names the files that differ."""
    files = _files_read(folder)
    if not any(p.suffix in (".safetensors", ".bin") for p in files):
        return None
    return {
        file.relative_to(folder).as_posix(): _digest(folder, [file], hashlib.sha256()).hexdigest()
        for file in files
    }


def compared(recorded: str | dict[str, str], folder: Path) -> tuple[dict[str, str] | None, str | None]:
    """``folder``'s :func:`model_fingerprint` and how it differs from ``recorded``, a run's (the one string of
    the version before this one: compared whole), for a message (``'unet/config.json' differs``); None where
    ``folder`` holds the weights recorded."""
    found = model_fingerprint(folder)
    files = found or {}
    if isinstance(recorded, str):  # the version before's, by its own rule: other JSON files counted
        same = found is not None and _digest_before(folder) == recorded
        return found, None if same else "their fingerprints differ"
    changed = [name for name, digest in recorded.items() if files.get(name, digest) != digest]
    missing = [name for name in recorded if name not in files]
    new = [name for name in files if name not in recorded]
    said = [
        f"{_subject(names)} {one if len(names) == 1 else many}"
        for names, one, many in (
            (changed, "differs", "differ"),
            (missing, "is missing", "are missing"),
            (new, "is new", "are new"),
        )
        if names
    ]
    return files or None, ", ".join(said) or None


def _subject(names: list[str]) -> str:
    """``names`` as a message's subject: ``'a' and 'b'``, ``'a', 'b', 'c' and 2 more``."""
    if 1 < len(names) <= 3:
        return f"{list_names(names[:-1])} and {names[-1]!r}"
    return list_names(names, limit=3)
