"""Reading a checkpoint file safely: ``.safetensors`` (whatever its suffix), or a ``torch.save`` pickle read
with ``weights_only=True`` only, so no code of the pickle is ever run. Entries beside the weights that need
other classes (a Lightning checkpoint's ``hyper_parameters``: an ``argparse.Namespace``, an OmegaConf
``DictConfig``, a config class of the training code) are read with inert stand-ins for those classes, whose
modules are never imported (:func:`load_checkpoint`); weights that need them are refused. The weights are
found where trainers keep them (Lightning's ``state_dict``, ``model``, ``module``, ...); what their names
say (a wrapper's prefix, a compiled module's) is :mod:`streamt2v.io.state_dict_names`'s to read.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from streamt2v.arguments import Arg, ArgumentIsADirectoryError
from streamt2v.io.folders import home_path, looks_like_hub_id, named_path, saved_class_name
from streamt2v.wording import counted, first_and_more, first_few

logger = logging.getLogger(__name__)

# What a checkpoint file's name ends in (a missing "dir/file.ckpt" is a mistyped path, not a hub id).
CHECKPOINT_FILE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".safetensors")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"  # PROTO opcode: every pickle of protocol >= 2 (torch.save's legacy format) starts so


def _torch_reason(err: BaseException) -> str:
    """The informative line of a ``torch.load`` error, without ANSI escapes or the advice to unpickle
    with ``weights_only=False`` (which this loader never does)."""
    text = _ANSI.sub("", str(err))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            rest = line.split("WeightsUnpickler error:", 1)[1].strip() or (lines[i + 1 : i + 2] or [""])[0]
            if rest:
                return rest.split(". Please")[0].rstrip(".")  # drop the advice to allowlist the global
    if lines and lines[0].startswith("Weights only load failed"):  # the reason follows torch's advice
        said = [
            ln for ln in lines[1:] if not ln.startswith(("Check the documentation", "Please file an issue"))
        ]
        if said:
            return said[0].rstrip(".")
    first = lines[0] if lines else type(err).__name__
    return first.split(". ")[0].rstrip(".") if len(first) > 200 else first.rstrip(".")


def _is_safetensors(head: bytes) -> bool:
    """A safetensors file starts with its JSON header's length (8 bytes, little endian), then ``{``."""
    return len(head) >= 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") < 100_000_000


_LFS_POINTER = b"version https://git-lfs.github.com/spec/"


def format_size(n: int) -> str:
    """A size in bytes as a message shows it: ``12.9 GB``, ``350.2 MB``, ``512 bytes``."""
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n} bytes"


def lfs_pointer_size(head: bytes) -> int | None:
    """The size of the file a Git LFS pointer stands for (``-1`` when it names none), or None when ``head``
    (a file's first bytes) is no pointer: what a repository cloned without git-lfs holds for each weight file."""
    if not head.startswith(_LFS_POINTER):
        return None
    found = re.search(rb"^size (\d+)", head, re.MULTILINE)
    return int(found.group(1)) if found else -1


def _lfs_message(shown: str, what: str, pointer_bytes: int, stands_for: int) -> str:
    """``shown``: the file quoted as the message names it."""
    real = f" standing for a {format_size(stands_for)} file" if stands_for >= 0 else ""
    return (
        f"{what} {shown} is a Git LFS pointer ({pointer_bytes} bytes{real}), not the file itself: the "
        "repository was cloned without git-lfs; run `git lfs pull` in it, or download the file"
    )


def _safetensors_shortfall(path: Path, head: bytes) -> str | None:
    """``"N of its M bytes"`` when a safetensors file is shorter than its header says (an interrupted download
    or copy; "at least M" when the header itself is cut), else None (also when the header cannot be read:
    the reader names that)."""
    size = path.stat().st_size
    length = int.from_bytes(head[:8], "little")
    if len(head) < 8 or not 2 <= length < 100_000_000:
        return None
    if size < 8 + length:
        return f"{size:,} of its at least {8 + length:,} bytes"
    try:
        with path.open("rb") as f:
            f.seek(8)
            header = json.loads(f.read(length))
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    expected = 8 + length + max(ends, default=0)
    return f"{size:,} of its {expected:,} bytes" if size < expected else None


def weight_file_problem(path: Path, what: str) -> str | None:
    """Why a model folder's weight file cannot be what it claims, from its first bytes and its size (no
    weights are read): a Git LFS pointer, an empty file, or a safetensors file cut short. None if none."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(512)
    if (stands_for := lfs_pointer_size(head)) is not None:
        return _lfs_message(repr(str(path)), what, size, stands_for)
    if not head:
        return f"{what} {str(path)!r} is empty (0 bytes): download it again"
    if _is_safetensors(head) and (short := _safetensors_shortfall(path, head)):
        return (
            f"{what} {str(path)!r} is cut short: {short} (an interrupted "
            "download or copy?); download it again"
        )
    return None


# ModelScope T2V as the ModelScope library ships it (damo/text-to-video-synthesis), not in diffusers' format
MODELSCOPE_LIBRARY_WEIGHTS = "text2video_pytorch_model.pth"
MODELSCOPE_LIBRARY_AUTOENCODER = "VQGAN_autoencoder.pth"
MODELSCOPE_LIBRARY_FOLDER = (
    f"ModelScope T2V in the ModelScope library's own format, {MODELSCOPE_LIBRARY_WEIGHTS} and "
    f"{MODELSCOPE_LIBRARY_AUTOENCODER}, which streamt2v does not read"
)


def _folder_hint(folder: Path) -> list[object]:
    """What a folder given as the checkpoint is, when it says so: a streamt2v model folder (converted
    already), a diffusers pipeline (the stage-1 model), or one holding checkpoint files: parts of a message."""
    name = saved_class_name(folder / "model_index.json")
    if name == "StreamingT2VModel":
        return [" (a streamt2v model folder, converted already: load it as it is, generate --model)"]
    if name:
        return [f" (a diffusers {name} folder: the stage-1 model, which ", Arg("init_unet"), " takes)"]
    if (folder / MODELSCOPE_LIBRARY_WEIGHTS).is_file():
        return [f" ({MODELSCOPE_LIBRARY_FOLDER}; not the StreamingT2V checkpoint)"]
    files = sorted(p.name for p in folder.iterdir() if p.suffix in (".ckpt", ".safetensors", ".pt", ".pth"))
    if files:
        return [f" (it holds {first_few(files)})"]
    return []


# Where trainers keep the weights inside a checkpoint dict (Lightning: ``state_dict``).
NESTED_STATE_DICT_KEYS = ("state_dict", "model", "module", "model_state_dict", "network")


class NotLoaded:
    """An inert stand-in, in a weights-only read, for a class or function that a checkpoint's pickle names
    beyond tensors and plain containers (``argparse.Namespace``, ``omegaconf.dictconfig.DictConfig``, a class
    of the training code). Its module is never imported and nothing of it runs: what the pickle builds with
    it is an empty object of a subclass named after it (``global_name``), its arguments and state dropped."""

    global_name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> NotLoaded:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{self.global_name}, not loaded>"


def printable(text: str) -> str:
    """``text`` with its control characters escaped (``\\x1b``): names read from a file go into messages, and a
    terminal would act on them (clear the screen, set its title)."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _stand_in(global_name: str) -> type[NotLoaded]:
    module, _, name = global_name.rpartition(".")
    attrs = {"global_name": printable(global_name), "__module__": module, "__qualname__": name}
    return type(name, (NotLoaded,), attrs)


class _Attribute(NotLoaded):
    """What ``getattr`` gives in a weights-only read with stand-ins: a pickle of protocol 2 names a nested
    class (``Config.Optim``) or a bound method (a scheduler's ``anneal_func``) as ``getattr(parent, name)``."""

    global_name = "builtins.getattr"


def _stand_in_getattr(obj: Any, name: Any, *default: Any) -> type[_Attribute]:
    return _Attribute


def _stand_ins(foreign: Sequence[str]) -> list[tuple[Any, str]]:
    """The ``(stand-in, name)`` pairs allowed for the globals ``foreign`` in a weights-only read: a
    :class:`NotLoaded` subclass for each, ``getattr`` a function that gives :class:`_Attribute` (allowed too,
    under its own name, so that what a pickle calls or builds with it is one)."""
    pairs: list[tuple[Any, str]] = [(_Attribute, f"{__name__}._Attribute")]
    for g in foreign:
        pairs.append((_stand_in_getattr, g) if g == "builtins.getattr" else (_stand_in(g), g))
    return pairs


def _not_loaded_names(value: Any) -> list[str]:
    """The stand-ins' names (:class:`NotLoaded`) in ``value`` and the containers it holds, sorted."""
    names: set[str] = set()
    stack, seen = [value], set()
    while stack:
        x = stack.pop()
        if id(x) in seen:  # a pickle's memo can make a container hold itself
            continue
        seen.add(id(x))
        if isinstance(x, NotLoaded) or (isinstance(x, type) and issubclass(x, NotLoaded)):
            names.add(x.global_name)
        elif isinstance(x, Mapping):
            stack += [*x.keys(), *x.values()]
        elif isinstance(x, (list, tuple, set, frozenset)):
            stack += list(x)
    return sorted(names)


def _first_names(names: Sequence[str], limit: int) -> str:
    """The first ``limit`` of names read from a file, printable, and how many more (``a, b, c and 2 more``)."""
    return first_and_more([printable(n) for n in names], limit)


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"{len(value)} entries"
    if isinstance(value, NotLoaded):
        return f"{value.global_name}, not loaded"
    return type(value).__name__


def _names_other_classes(reason: str) -> bool:
    """Whether torch's weights-only refusal (``reason``) is for a class or function the pickle names."""
    return "Unsupported global" in reason or "Unsupported class" in reason


def _unpickling_refusal(shown: str, err: pickle.UnpicklingError) -> ValueError:
    reason = _torch_reason(err)
    if _names_other_classes(reason) or "is blocked" in reason:
        return ValueError(
            f"refusing to load checkpoint {shown}: it is a pickle that needs more than tensors and plain "
            f"containers (torch.load weights_only=True said: {reason}). It was not executed."
        )
    return ValueError(
        f"checkpoint {shown} is a pickle but not a PyTorch checkpoint that can be read safely (torch.load "
        f"weights_only=True said: {reason}). It was not executed."
    )


def _weights_only_load(path: Path, is_zip: bool, shown: str) -> Any:
    """``torch.load(weights_only=True)``; where the pickle names other classes or functions (a zip file
    only: their names are read from it without unpickling), again with a :class:`NotLoaded` stand-in
    allowed for each. Torch's weights-only unpickler reads the file either way: it builds nothing but
    tensors, plain containers and the stand-ins, and refuses what needs more (a stand-in given a dict's or
    a list's items, a module it never allows such as ``os``). ``shown``: the file quoted for messages."""
    try:
        # mmap needs the zip format; the legacy format (a bare pickle) is read whole
        return torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as err:
        reason = _torch_reason(err)
        # (a torch without get_unsafe_globals_in_checkpoint refuses such a file, as before)
        stand_ins_possible = hasattr(torch.serialization, "get_unsafe_globals_in_checkpoint")
        if not (stand_ins_possible and is_zip and _names_other_classes(reason)):
            raise _unpickling_refusal(shown, err) from None
    foreign: list[str] = []
    try:
        foreign = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        with torch.serialization.safe_globals(_stand_ins(foreign)):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, EOFError, OSError):
        raise  # damaged: said by the caller
    except Exception as err:  # an UnpicklingError, or a stand-in where a tensor rebuild wants a tensor
        named = f" ({_first_names(foreign, 4)})" if foreign else ""
        raise ValueError(
            f"refusing to load checkpoint {shown}: it is a pickle that needs more than tensors and plain containers, "
            f"and read with inert stand-ins for the classes and functions it names{named} it still needs "
            f"their code (torch.load weights_only=True said: {_torch_reason(err)}). It was not executed."
        ) from None


@dataclass(frozen=True)
class CheckedCheckpoint:
    """A checkpoint :func:`check_checkpoint` passed, which :func:`load_checkpoint` reads without looking for
    it again: a sharded one's index is read once per conversion, and what is loaded is what was checked."""

    shown: str  # as the messages name it
    path: Path  # as read
    index: Path | None = None  # a sharded checkpoint's index; None for one file
    weight_map: Mapping[str, Any] = field(default_factory=dict)  # the index's: tensor name → shard file
    shards: tuple[Path, ...] = ()


def check_checkpoint(path: str | os.PathLike[str]) -> CheckedCheckpoint:
    """The checks of :func:`load_checkpoint` that read no weights (a missing file, a folder, a Git LFS
    pointer, an empty file or one that is no torch checkpoint by its first bytes, a safetensors file cut
    short, a shard missing), so that a conversion names them before anything slow (the stage-1 UNet's load);
    what it returns is given to :func:`load_checkpoint` in place of the path. What the file holds (another
    model's weights) is known only once it is read."""
    checked = _locate(path)
    for shard in checked.shards:
        _check_file(shard, _shard_named(shard, checked.path, checked.shown))
    if checked.index is None:
        _check_file(checked.path, checked.shown)
    return checked


def _locate(path: str | os.PathLike[str]) -> CheckedCheckpoint:
    """The checkpoint ``path`` names: one file, or a sharded one's index (read here, once) and shards."""
    shown, read = _as_given(path)
    if (found := _shard_index(read, shown)) is None:
        return CheckedCheckpoint(shown, read)
    index, weight_map = found
    return CheckedCheckpoint(
        shown, read, index, weight_map, tuple(_shard_files(index, weight_map, read, shown))
    )


def _as_given(path: str | os.PathLike[str]) -> tuple[str, Path]:
    """The checkpoint named for messages as given (and as read, for a leading ``~``), and the path read."""
    if not os.fspath(path):
        raise ValueError("checkpoint '' is an empty path; give the checkpoint file (streaming_t2v.ckpt)")
    return named_path(path), home_path(path)  # as the other inputs of a conversion are read


def load_checkpoint(
    path: str | os.PathLike[str] | CheckedCheckpoint,
) -> tuple[dict[str, torch.Tensor], dict[str, list[str]]]:
    """The tensors of an official checkpoint and what was not read of it: ``{top-level entry: [the classes
    and functions it needs, by name]}`` for the entries beside the weights that were read with
    :class:`NotLoaded` stand-ins (a Lightning checkpoint's ``hyper_parameters`` holding an
    ``argparse.Namespace`` or an OmegaConf ``DictConfig``; :func:`not_loaded_note` says them on one line);
    empty when nothing needed one.

    ``.safetensors`` (read as one whatever its suffix), or a pickle read with ``weights_only=True`` only. A
    Lightning checkpoint's ``["state_dict"]`` is taken (or the weights under ``model`` / ``module`` /
    ``model_state_dict`` / ``network``); optimizer state etc. is ignored. The errors tell a file that is no
    torch checkpoint at all (by its first bytes), a damaged one, and a pickle whose weights would need more
    than tensors and plain containers (refused, never executed) apart. ``path`` may be what
    :func:`check_checkpoint` returned for it."""
    checked = path if isinstance(path, CheckedCheckpoint) else _locate(path)
    if checked.index is not None:
        return _load_shards(checked)
    if checked.path.is_file():
        logger.info("reading checkpoint %s (%s)", checked.path, format_size(checked.path.stat().st_size))
    return _load_file(checked.path, checked.shown)


def _check_file(path: Path, shown: str) -> str:
    """The kind of one checkpoint file by its first bytes (``"safetensors"``, ``"zip"``, ``"pickle"``), or the
    error of a file that cannot be a checkpoint; ``shown``: the file quoted as the messages name it."""
    if path.is_dir():
        raise ArgumentIsADirectoryError(
            f"checkpoint {shown} is a folder",
            *_folder_hint(path),
            "; give the checkpoint file (streaming_t2v.ckpt or a .safetensors state dict)",
        )
    if not path.is_file():
        text = os.fspath(path)
        # not a missing "dir/file.ckpt"; a hub id's name may hold a dot (text-to-video-ms-1.7b)
        hub = looks_like_hub_id(text) and Path(text).suffix.lower() not in CHECKPOINT_FILE_SUFFIXES
        hint = (
            " (a hub id is not downloaded for the checkpoint: fetch streaming_t2v.ckpt where the hub is "
            "reachable and pass the file)"
            if hub
            else ""
        )
        raise FileNotFoundError(f"checkpoint {shown} does not exist{hint}")
    with path.open("rb") as f:
        head = f.read(512)
    if (stands_for := lfs_pointer_size(head)) is not None:
        raise ValueError(_lfs_message(shown, "checkpoint", path.stat().st_size, stands_for))
    if path.suffix == ".safetensors" or _is_safetensors(head):
        if short := _safetensors_shortfall(path, head):
            raise ValueError(
                f"checkpoint {shown} is a .safetensors file cut short: {short} (an interrupted download or "
                "copy?); download it again"
            )
        return "safetensors"
    if head.startswith(_ZIP_MAGIC):
        # the zip's end record is at the file's end: a cheap read that tells a file cut short before loading
        if not zipfile.is_zipfile(path):
            raise ValueError(
                f"checkpoint {shown} is a zip torch.save file cut short ({format_size(path.stat().st_size)}, "
                "without the zip's end record: an interrupted download or copy?); download it again"
            )
        return "zip"
    if head.startswith(_PICKLE_PROTO):
        return "pickle"
    what = "it is empty" if not head else f"it starts with {head[:8]!r}"
    raise ValueError(
        f"checkpoint {shown} is not a PyTorch checkpoint (neither a zip nor a pickle torch.save file: {what})"
    )


def _load_file(path: Path, shown: str) -> tuple[dict[str, torch.Tensor], dict[str, list[str]]]:
    """:func:`load_checkpoint` of one file (a whole checkpoint, or one shard of it); ``shown``: the file quoted
    as the messages name it."""
    kind = _check_file(path, shown)
    if kind == "safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(path), {}
        except Exception as err:  # safetensors raises its own SafetensorError for a damaged file
            raise ValueError(
                f"checkpoint {shown} is not a readable .safetensors file ({_torch_reason(err)})"
            ) from None
    is_zip = kind == "zip"
    try:
        obj = _weights_only_load(path, is_zip, shown)
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(
            f"checkpoint {shown} ({format_size(path.stat().st_size)}) starts like a {kind} torch.save file but "
            f"cannot be read ({_torch_reason(err)}); is it truncated or damaged?"
        ) from None

    def tensors_only(x: Any) -> bool:
        return isinstance(x, Mapping) and bool(x) and all(isinstance(v, torch.Tensor) for v in x.values())

    weights = obj
    if isinstance(obj, Mapping) and not tensors_only(obj):
        nested = [k for k in NESTED_STATE_DICT_KEYS if tensors_only(obj.get(k))]
        if nested:
            weights = obj[nested[0]]
    if not tensors_only(weights):
        raise _no_state_dict(shown, obj)
    not_loaded = {}
    if weights is not obj:
        not_loaded = {str(k): n for k, v in obj.items() if (n := _not_loaded_names(v))}
    return dict(weights), not_loaded


# A checkpoint saved in shards (transformers' and diffusers' save_pretrained, huggingface_hub's
# split_torch_state_dict_into_shards): model-00001-of-00003.safetensors ... and model.safetensors.index.json,
# whose "weight_map" names each tensor's shard.
_SHARD_NAME = re.compile(r"-\d{5}-of-(\d{5})\.[^.]+$")
_INDEX_SUFFIX = ".index.json"


def _shard_index(path: Path, shown: str) -> tuple[Path, dict[str, Any]] | None:
    """The shard index ``path`` stands for (the index itself, a folder holding exactly one, or a shard beside
    its index) and its ``weight_map``, read once; None for anything else (read as one file, or refused naming
    what it is). ``shown``: the checkpoint quoted as the messages name it."""
    if path.is_file() and path.name.endswith(_INDEX_SUFFIX):
        return path, _weight_map(path)
    if path.is_dir():
        indexes = sorted(path.glob(f"*{_INDEX_SUFFIX}"))
        if len(indexes) > 1:  # a hub folder may hold the safetensors and the .bin shards, each with its index
            names = ", ".join(i.name for i in indexes)
            raise IsADirectoryError(
                f"checkpoint {shown} is a folder holding {len(indexes)} shard indexes ({names}); give one"
            )
        return (indexes[0], _weight_map(indexes[0])) if indexes else None
    shard = _SHARD_NAME.search(path.name)
    if path.is_file() and shard and int(shard[1]) > 1:  # "-00001-of-00001": a whole file, read as one
        maps = {i: _weight_map(i) for i in path.parent.glob(f"*{_INDEX_SUFFIX}")}
        indexes = [(i, m) for i, m in maps.items() if path.name in m.values()]
        if len(indexes) == 1:
            return indexes[0]
        raise ValueError(
            f"checkpoint {shown} is one shard of a checkpoint saved in several; its index "
            f"(*{_INDEX_SUFFIX}) is not beside it: give the index, or the folder holding it and every shard"
        )
    return None


def _weight_map(index: Path) -> dict[str, Any]:
    """An index's ``weight_map`` (tensor name → shard file); empty when it has none or cannot be read."""
    try:
        weight_map = json.loads(index.read_text()).get("weight_map")
    except (OSError, ValueError, AttributeError):
        return {}
    return weight_map if isinstance(weight_map, dict) else {}


def _shard_named(shard: Path, path: Path, shown: str) -> str:
    """A shard of the checkpoint given as ``path`` (``shown``: as the messages name it) as the messages name
    it, after ``checkpoint``: the shard's name after the checkpoint's, but once where the shard is the
    checkpoint given."""
    return shown if shard.absolute() == path.absolute() else f"{shown} shard {shard.name!r}"


def _index_named(index: Path, path: Path, shown: str, noun: str = "shard index") -> str:
    """The start of a message about the shard index of the checkpoint given as ``path`` (``shown``: as the
    messages name it), naming the index (as ``its {noun}``) where the checkpoint given is not the index."""
    return f"checkpoint {shown}" if path == index else f"checkpoint {shown}: its {noun} {index.name!r}"


def _shard_files(index: Path, weight_map: Mapping[str, Any], path: Path, shown: str) -> list[Path]:
    """The shard files an index's ``weight_map`` names, each beside it (a missing one refused, naming it).
    ``path``: the checkpoint as read (the index named too where it is not the index), ``shown``: as the
    messages name it."""
    shards = sorted(set(weight_map.values()))
    about = _index_named(index, path, shown)
    # a shard is a file beside its index: a name with a folder in it (../x.safetensors) is read from nowhere else
    if not shards or not all(isinstance(name, str) and Path(name).name == name for name in shards):
        raise ValueError(
            f"{_index_named(index, path, shown, 'index')} is not a shard index: a JSON object whose weight_map "
            "names each tensor's shard file beside it"
        )
    missing = [name for name in shards if not (index.parent / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{about} names {len(shards)} shards; {len(missing)} of them not beside it "
            f"({_first_names(missing, 3)}; an interrupted download?): fetch the missing shards"
        )
    return [index.parent / name for name in shards]


def _load_shards(checked: CheckedCheckpoint) -> tuple[dict[str, torch.Tensor], dict[str, list[str]]]:
    """Every shard of a sharded checkpoint (``checked.index``: its index), each read as :func:`load_checkpoint`
    reads a whole file, checked to hold the tensors the index gives it."""
    path, shown, index = checked.path, checked.shown, checked.index
    size = sum(shard.stat().st_size for shard in checked.shards)
    logger.info("reading checkpoint %s: %d shards (%s)", index, len(checked.shards), format_size(size))
    weights: dict[str, torch.Tensor] = {}
    not_loaded: dict[str, list[str]] = {}
    for file in checked.shards:
        shard, shard_not_loaded = _load_file(file, _shard_named(file, path, shown))
        weights.update(shard)
        not_loaded.update(shard_not_loaded)
    if absent := [k for k in checked.weight_map if k not in weights]:
        raise ValueError(
            f"{_index_named(index, path, shown)} names {counted(len(absent), 'tensor')} its shards lack "
            f"({_first_names(sorted(absent), 3)}): is a shard of another download? fetch the shards again"
        )
    return weights, not_loaded


def _no_state_dict(shown: str, obj: Any) -> ValueError:
    """The error for a checkpoint in which no mapping of names to tensors was found: the classes its weights
    would need where they are behind stand-ins, else what it holds; ``shown``: the file quoted."""
    if isinstance(obj, NotLoaded):
        return ValueError(
            f"refusing to load checkpoint {shown}: it holds a pickled {obj.global_name} object, not a state dict "
            "(torch.save(model) rather than torch.save(model.state_dict())?), and a weights-only read never "
            "runs the code that would rebuild it: save its state_dict() instead. It was not executed."
        )
    if isinstance(obj, Mapping):
        for key in [k for k in NESTED_STATE_DICT_KEYS if k in obj] or list(obj):
            if names := _not_loaded_names(obj[key]):
                return ValueError(
                    f"refusing to load checkpoint {shown}: its weights under {key!r} need {', '.join(names)}, beyond "
                    "tensors and plain containers, and a weights-only read never imports or runs them. It "
                    "was not executed."
                )
        top = ", ".join(f"{k!r} ({_describe(v)})" for k, v in list(obj.items())[:8])
        found = f"its top-level entries: {top or 'none'}"
    else:
        found = f"it holds a {type(obj).__name__}"
    return ValueError(
        f"checkpoint {shown} holds no state dict (a mapping of names to tensors, at the top or under one of "
        f"{', '.join(NESTED_STATE_DICT_KEYS)}); {found}"
    )


def not_loaded_note(not_loaded: Mapping[str, Sequence[str]]) -> str:
    """What :func:`load_checkpoint` did not read, on one line."""
    entries = "; ".join(f"{k!r} ({', '.join(v)})" for k, v in not_loaded.items())
    return (
        "not read, as they need classes that a weights-only read never imports or runs (the weights do "
        f"not): {entries}"
    )
