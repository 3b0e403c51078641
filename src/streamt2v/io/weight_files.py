"""Which weight files a diffusers / transformers model folder holds: the full-precision set, or only the
``fp16`` variant some hub repos ship (ModelScope T2V's ``diffusion_pytorch_model.fp16.safetensors``), which
``from_pretrained`` reads only when told ``variant="fp16"``; whether they can be whole (not links to
nothing, as in a hub cache snapshot copied without its blobs); and the temporary
folders a killed write of a model folder left beside it (removed, or named where they cannot be)."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

from streamt2v.io.checkpoint_file import format_size, weight_file_problem
from streamt2v.io.folders import atomic_folder_leftovers, folder_listing, read_json_object
from streamt2v.wording import counted, first_and_more, first_few

logger = logging.getLogger(__name__)

# diffusers models, transformers models (safetensors or pickle, single file or sharded with an index)
WEIGHT_STEMS = ("diffusion_pytorch_model", "model", "pytorch_model")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json")
FP16 = "fp16"


def is_model_file(name: str) -> bool:
    """Whether ``name`` is one that ``from_pretrained`` reads in a model's folder: its weights (any
    variant, shard or index) or its ``config.json``."""
    stem = name.split(".")[0] in WEIGHT_STEMS and name.endswith(WEIGHT_SUFFIXES)
    return name == "config.json" or stem or bool(_WEIGHT_FILE.fullmatch(name) or _SHARD_INDEX.fullmatch(name))


def refuse_broken_links(
    folder: Path, what: str, read: Callable[[str], bool] = is_model_file, named: str | None = None
) -> None:
    """Refuse, naming ``what`` and the links, a ``folder`` whose files to be ``read`` are symbolic links to
    nothing: a hub cache snapshot (``models--ORG--NAME/snapshots/HASH/``, whose files are relative links into
    the repository's ``blobs/``) copied as links (``cp -r``, ``rsync -a``): otherwise such a file is 'not found'
    in a folder whose listing names it. ``named``: the folder as the message names it (default: quoted)."""
    if not folder.is_dir():
        return
    broken = [p for p in sorted(folder.iterdir()) if read(p.name) and p.is_symlink() and not p.exists()]
    if not broken:
        return
    shown = first_few([f"{p.name} -> {os.readlink(p)!r}" for p in broken])
    if any("blobs" in Path(os.readlink(p)).parts for p in broken):
        why = (
            "a hub cache snapshot copied without the blobs/ its links point into? copy it with cp -rL (the "
            "files, not the links), or download it again"
        )
    else:
        why = "were the files moved or removed? put them back, or copy the folder with its files (cp -rL)"
    raise FileNotFoundError(
        f"{what} {named or repr(str(folder))} holds {counted(len(broken), 'link')} to files that do not exist "
        f"({shown}): {why}"
    )


def weights_variant(folder: Path, what: str) -> str | None:
    """``None`` when ``folder`` holds full-precision weights, ``"fp16"`` when it holds only the fp16
    variant; a ``FileNotFoundError`` naming ``what`` and the files found when it holds neither, or naming
    the links to nothing among them (:func:`refuse_broken_links`)."""
    refuse_broken_links(folder, what)
    names = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    weights = [n for n in names if n.split(".")[0] in WEIGHT_STEMS and n.endswith(WEIGHT_SUFFIXES)]
    # an fp16 shard is named ``diffusion_pytorch_model.fp16-00001-of-00002.safetensors``
    if any(f".{FP16}." not in n and f".{FP16}-" not in n for n in weights):
        return None
    if weights:
        return FP16
    found = folder_listing(folder) if folder.is_dir() else "nothing"
    raise FileNotFoundError(
        f"{what} {str(folder)!r} has no weights (expected {WEIGHT_STEMS[0]}.safetensors, model.safetensors or "
        f"their .bin / sharded / .{FP16} forms; found: {found})"
    )


# a weight file of one of WEIGHT_STEMS: its variant (before or after a shard number) and its format
_WEIGHT_FILE = re.compile(
    r"(?:diffusion_pytorch_model|model|pytorch_model)(\.fp16)?(?:-\d+-of-\d+)?(\.fp16)?\.(safetensors|bin)"
)


# the index of a sharded weight file (diffusers puts the variant after ``index``, transformers before it)
_SHARD_INDEX = re.compile(
    r"(?:diffusion_pytorch_model|model|pytorch_model)(\.fp16)?\.(safetensors|bin)\.index(\.fp16)?\.json"
)


def _missing_shard(folder: Path, variant: str | None, what: str) -> str | None:
    """Why a sharded model cannot load: a shard its index names is not in ``folder`` (an interrupted download
    or copy; ``from_pretrained`` says so only after the work that precedes it); None when none is missing."""
    index = shard_index_read(folder, variant)
    if index is None:
        return None
    try:
        shards = sorted(set(read_json_object(index, "shard index").get("weight_map", {}).values()))
    except (OSError, ValueError, AttributeError, TypeError):  # a damaged index: from_pretrained names it
        return None
    missing = [s for s in shards if isinstance(s, str) and not (folder / s).is_file()]
    if not missing:
        return None
    named = first_and_more([repr(str(folder / s)) for s in missing])
    return (
        f"{what} {named} named in {str(index)!r} {'is' if len(missing) == 1 else 'are'} missing "
        f"({len(missing)} of its {len(shards)} shards; found: {folder_listing(folder)}): an interrupted "
        "download or copy? download the folder again"
    )


def shard_index_read(folder: Path, variant: str | None) -> Path | None:
    """The index of sharded weights of ``variant`` that ``from_pretrained`` reads in ``folder``: the safetensors
    set's where the weights are safetensors or that index is there (its shards missing, it is still read; a
    ``pytorch_model.bin.index.json`` beside a ``model.safetensors`` is not), else the pickled set's; None for
    weights in one file."""
    indexes = {}
    for p in sorted(folder.iterdir()):
        m = _SHARD_INDEX.fullmatch(p.name)
        if m and p.is_file() and bool(m[1] or m[3]) == (variant == FP16):
            indexes[m[2]] = p
    read = weight_files_read(folder, variant)
    safetensors = "safetensors" in indexes or any(p.suffix == ".safetensors" for p in read)
    return indexes.get("safetensors" if safetensors else "bin")


def check_weight_files(folder: Path, variant: str | None, what: str) -> None:
    """Refuse, naming ``what`` and the file, a weight file of ``variant`` that ``from_pretrained`` would read
    and that cannot be whole (a Git LFS pointer of a repository cloned without git-lfs, an empty file, a
    safetensors file cut short, a shard its index names missing), from headers only: a check in seconds
    before work of minutes."""
    if problem := _missing_shard(folder, variant, what):
        raise FileNotFoundError(problem)
    for p in weight_files_read(folder, variant):
        if problem := weight_file_problem(p, what):
            raise ValueError(problem)


def weight_files_read(folder: Path, variant: str | None) -> list[Path]:
    """The weight files of ``variant`` that ``from_pretrained`` reads in ``folder`` (every shard): the
    safetensors ones where there are any (read first), else the pickled ones; not the other variant's, nor
    files of other names (an ``optimizer.pt``)."""
    files = []
    for p in sorted(folder.iterdir()):
        m = _WEIGHT_FILE.fullmatch(p.name)
        if m and p.is_file() and bool(m[1] or m[2]) == (variant == FP16):
            files.append(p)
    return [p for p in files if p.suffix == ".safetensors"] or files


def _disk_use(file: Path) -> int:
    """The bytes a file takes on the disk (a killed writer's file may be sparse), else its size."""
    st = file.stat()
    return st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size


def _size(folders: list[Path]) -> str:
    return format_size(
        sum(_disk_use(f) for p in folders for f in p.rglob("*") if f.is_file() and not f.is_symlink())
    )


def _named(folders: list[Path]) -> str:
    """The paths in a message, each quoted as messages name paths (not for a shell: :func:`shlex.join`)."""
    return ", ".join(repr(str(p)) for p in folders)


def leftover_temporaries(out: Path) -> str | None:
    """Remove the temporary folders a killed conversion or save into ``out`` left beside it (hidden, as
    large as a model folder; :func:`~streamt2v.io.folders.atomic_folder_leftovers`) and name, with
    their size, those it cannot remove, logged as a warning; None when there are none. Not removed: those
    whose writer this process cannot ask after (``.NAME.tmp-*`` / ``.NAME.old-*`` of an earlier version,
    named without a pid, or of another machine or container), and the folder a writer killed between its
    two renames had moved aside while no ``out`` has come since (the user's only copy). A running writer's
    are neither removed nor named."""
    out = out.absolute()  # its ~ expanded by the caller, from the text given (home_path)
    parent = out.parent
    if not parent.is_dir():
        return None
    found = atomic_folder_leftovers(out)
    if found.dead:
        shown = _size(found.dead)
        for p in found.dead:
            shutil.rmtree(p, ignore_errors=True)
        logger.info(
            "removed %s (%s) a killed conversion or save left beside the output: %s",
            counted(len(found.dead), "temporary folder"),
            shown,
            _named(found.dead),
        )
    unnamed = re.compile(rf"\.{re.escape(out.name)}\.(tmp|old)-[0-9a-f]{{8}}")  # earlier versions'
    earlier = [
        p for p in sorted(parent.iterdir()) if unnamed.fullmatch(p.name) and p.is_dir() and not p.is_symlink()
    ]
    unknown = earlier + found.unknown
    notes = []
    if unknown:
        notes.append(
            f"{counted(len(unknown), 'temporary folder')} of an interrupted conversion or save "
            f"{'is' if len(unknown) == 1 else 'are'} beside the output "
            f"({_size(unknown)}): remove them when none is running: rm -r {shlex.join(str(p) for p in unknown)}"
        )
    if found.replaced:
        notes.append(
            f"what was at the output before a conversion or save into it was killed is kept at "
            f"{_named(found.replaced)} ({_size(found.replaced)}); a conversion or save into the output removes it once an output is there again"
        )
    if not notes:
        return None
    note = "; ".join(notes)
    logger.warning("%s", note)
    return note
