"""Training checkpoints: safetensors + JSON, written atomically, carrying their own config.

Layout of ``<out>/checkpoints/step-00000100/``::

    model.safetensors      trainable parameters (metadata: ``config`` = the run's JSON config)
    ema.safetensors        their EMA (when enabled)
    optimizer.safetensors  optimizer tensors; param groups and scalars in its metadata
    rng.safetensors        torch CPU (+ CUDA) generator states
    state.json             step, config, EMA update count, numpy/python RNG, grad-scaler state

A checkpoint is written into a temporary folder, flushed to the disk and renamed into place, and
``checkpoints/latest`` (a one-line file naming the newest folder) is replaced atomically after it, so a
crash never leaves a half-written checkpoint that ``--resume`` could pick. What a killed writer leaves
(``.tmp-step-*`` folders, ``.latest.*`` files) is removed by the next write
(:func:`remove_checkpoint_temporaries`). A checkpoint damaged afterwards (a file deleted or cut short) is
named by :func:`load_training_checkpoint`, and :func:`resume_checkpoint` then falls back to the one before it.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from streamt2v.io.folders import atomic_write_file, give_usual_permissions, remove_leftovers

logger = logging.getLogger(__name__)

LATEST = "latest"
_STEP_DIR = re.compile(r"step-(\d{8,})")
# what save_checkpoint writes before renaming: a killed process leaves these behind
# a pointer's temporary is atomic_write_file's (.latest.tmp-PID); .latest.HEX8 is an earlier version's
_TEMPORARY = re.compile(r"\.tmp-step-\d{8,}-[0-9a-f]{8}|\.latest\.(?:[0-9a-f]{8}|tmp-\d+)")


def remove_checkpoint_temporaries(root: Path) -> list[Path]:
    """Remove the temporary checkpoint folders (``.tmp-step-*``) and ``latest`` pointers (``.latest.*``) a
    process killed while writing a checkpoint (``kill -9``, an OOM kill, a preempted machine) left in
    ``root``; only the run's own writer may call it (one writes at a time). Returns what was removed."""
    return remove_leftovers(root, _TEMPORARY, folders=True)


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to the disk (a rename is durable only after both)."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # a folder that cannot be opened (some platforms): nothing to flush
        return
    try:
        os.fsync(fd)
    except OSError:  # file systems without fsync on folders
        pass
    finally:
        os.close(fd)


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, per_param in state["state"].items():
        for key, value in per_param.items():
            name = f"{idx}.{key}"
            if isinstance(value, torch.Tensor):
                tensors[name] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in list(tensors.items()) + list(meta["scalars"].items()):
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Global RNG states: torch (as tensors) and numpy/python (JSON-able)."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py = random.getstate()
    meta = {
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "python": [py[0], list(py[1]), py[2]],
    }
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda_")]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    kind, keys, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    v, internal, g = meta["python"]
    random.setstate((v, tuple(internal), g))


def save_checkpoint(
    root: Path,
    step: int,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    config: dict[str, Any],
    ema_state: dict[str, torch.Tensor] | None = None,
    extra: dict[str, Any] | None = None,
    keep: int = 2,
) -> Path:
    """Write ``root/step-<8-digit step>`` atomically, point ``root/latest`` at it, keep the newest
    ``keep``."""
    root.mkdir(parents=True, exist_ok=True)
    remove_checkpoint_temporaries(root)
    name = f"step-{step:08d}"
    final = root / name
    tmp = root / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        cfg_json = json.dumps(config, sort_keys=True)
        meta = {"config": cfg_json, "step": str(step)}
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in model_state.items()},
            tmp / "model.safetensors",
            meta,
        )
        if ema_state is not None:
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in ema_state.items()},
                tmp / "ema.safetensors",
                meta,
            )
        opt_tensors, opt_meta = _flatten_optimizer(optimizer_state)
        save_file(opt_tensors, tmp / "optimizer.safetensors", {"meta": json.dumps(opt_meta)})
        rng_tensors, rng_meta = rng_state()
        save_file(rng_tensors, tmp / "rng.safetensors")
        state = {"step": step, "config": config, "rng": rng_meta, **(extra or {})}
        (tmp / "state.json").write_text(json.dumps(state, indent=1, sort_keys=True))
        give_usual_permissions(tmp)
        for f in tmp.iterdir():
            _fsync(f)
        _fsync(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _point_latest_at(root, name)
    prune_checkpoints(root, keep, step)
    return final


def _point_latest_at(root: Path, name: str) -> None:
    """Replace ``root/latest`` atomically by a pointer at the checkpoint folder ``name``."""
    _fsync(root)  # the checkpoint's rename before the pointer's
    atomic_write_file(root / LATEST, lambda tmp: tmp.write_text(name + "\n"))
    _fsync(root)


def prune_checkpoints(root: Path, keep: int, newest: int) -> list[Path]:
    """Remove the checkpoint folders of ``root`` at or before step ``newest`` but the last ``keep`` of them
    (a resume calls it too: a run killed while it pruned after its last checkpoint kept one too many).
    Folders after ``newest`` are left: a resume from an earlier checkpoint writes them again. Returns what
    was removed."""
    steps = sorted(
        (int(p.name[5:]), p) for p in root.glob("step-*") if _STEP_DIR.fullmatch(p.name) and p.is_dir()
    )
    upto = [p for s, p in steps if s <= newest]
    removed = upto[: max(0, len(upto) - keep)]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


def latest_checkpoint(root: Path) -> Path | None:
    """The folder named by ``root/latest``, or None when there is no checkpoint yet: the reader of the
    pointer for scripts and tests (``load_training_checkpoint(latest_checkpoint(root))``), an error when it
    names no complete checkpoint. A resume reads it with :func:`resume_checkpoint`, which falls back past a
    damaged one."""
    pointer = root / LATEST
    if not pointer.exists():
        return None
    name = pointer.read_text().strip()
    path = root / name
    if not _STEP_DIR.fullmatch(name) or not (path / "state.json").exists():
        raise FileNotFoundError(f"{pointer} names {name!r}, which is not a complete checkpoint in {root}")
    return path


def _read(path: Path, name: str, read: Any) -> Any:
    """``read(path / name)``, or one error naming the file: missing, or unreadable (cut short, empty)."""
    file = path / name
    if not file.is_file():
        raise ValueError(f"checkpoint file {file} is missing")
    try:
        return read(file)
    except OSError as err:
        # Not the file's content: permissions, an I/O error, a network file system's hiccup, too many open
        # files. Not a ValueError, so a resume stops here instead of setting a whole checkpoint aside.
        raise OSError(
            f"checkpoint file {file} could not be read ({' '.join(str(err).split())}); it was left as it is: "
            "resume again once it can be read"
        ) from err
    # What damage raises (an empty, cut-short or overwritten file): not a bug of ours or a MemoryError, which
    # would set a good checkpoint aside as damaged and resume from an older one
    except (SafetensorError, ValueError, KeyError, IndexError, TypeError, EOFError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        size = file.stat().st_size
        raise ValueError(f"checkpoint file {file} is unreadable ({size} bytes: {reason})") from err


def _read_state(file: Path) -> dict[str, Any]:
    state = json.loads(file.read_text())
    if not isinstance(state, dict) or not {"step", "config", "rng"} <= set(state):
        raise ValueError("not a checkpoint state (step, config, rng)")
    return state


def _read_optimizer(file: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(file), "pt") as f:
        meta = json.loads(f.metadata()["meta"])
    return _unflatten_optimizer(load_file(file), meta)


def _check_tensor_file(file: Path) -> None:
    """Read ``file``'s safetensors header only: an empty or cut-short file fails here as it fails to load
    (the header must cover the whole file), without reading its tensors."""
    from safetensors import safe_open

    with safe_open(str(file), "pt") as f:
        f.keys()


def load_training_checkpoint(path: Path, *, tensors: bool = True) -> dict[str, Any]:
    """Read a checkpoint folder: ``model``, ``ema`` (or None), ``optimizer``, ``rng``, ``state``.

    A missing or damaged file (deleted, empty, cut short) is a ``ValueError`` naming it. ``tensors=False``:
    the tensor files' headers are checked, not read (their entries None), for what only the state needs."""
    path = Path(path)
    state = _read(path, "state.json", _read_state)
    match = _STEP_DIR.fullmatch(path.name)
    if match and int(match.group(1)) != state["step"]:
        raise ValueError(f"checkpoint file {path / 'state.json'} is of step {state['step']}, not {path.name}")
    ema_file = path / "ema.safetensors"
    read = load_file if tensors else _check_tensor_file
    read_optimizer = _read_optimizer if tensors else _check_tensor_file
    return {
        "state": state,
        "model": _read(path, "model.safetensors", read),
        "ema": _read(path, "ema.safetensors", read) if ema_file.exists() else None,
        "optimizer": _read(path, "optimizer.safetensors", read_optimizer),
        "rng": _read(path, "rng.safetensors", read),
    }


class ResumeChoice(NamedTuple):
    """The checkpoint a resume reads (:func:`checkpoint_a_resume_reads`) and what it passes over on the way."""

    path: Path | None  # None: none reads
    checkpoint: dict[str, Any] | None  # load_training_checkpoint(path)
    damaged: list[tuple[Path, str]]  # the newer ones that do not read, newest first, each with its error
    first_error: str | None  # why ``latest``'s checkpoint is not the one read (None: it is)


def checkpoint_a_resume_reads(root: Path, *, tensors: bool = True) -> ResumeChoice | None:
    """The checkpoint of ``root`` a resume continues from: the newest that reads whole, at or before the one
    ``latest`` names (``path`` None where none does); None when there is none yet (no ``latest``). Nothing
    is said, moved or written: the command line asks it for the settings a resume takes, and
    :func:`resume_checkpoint` acts on its answer. An ``OSError`` (a file that cannot be read now, not
    damaged) stops the search. ``tensors=False``: the checkpoints are checked and their states read, not
    their tensors (:func:`load_training_checkpoint`), for one that asks only which and its settings."""
    pointer = root / LATEST
    if not pointer.exists():
        return None
    name = pointer.read_text(errors="replace").strip()
    candidates = sorted(
        (p for p in root.iterdir() if _STEP_DIR.fullmatch(p.name) and p.is_dir()),
        key=lambda p: int(p.name[5:]),
        reverse=True,
    )
    first_error, damaged = None, []
    if _STEP_DIR.fullmatch(name):
        newest = int(name[5:])
        candidates = [p for p in candidates if int(p.name[5:]) <= newest]
        if not (root / name).is_dir():
            first_error = f"{pointer} names {name}, which is missing"
    else:
        first_error = f"{pointer} does not name a checkpoint ({name[:40]!r})"
    for path in candidates:
        try:
            return ResumeChoice(path, load_training_checkpoint(path, tensors=tensors), damaged, first_error)
        except ValueError as err:
            first_error = first_error or str(err)
            damaged.append((path, str(err)))
    return ResumeChoice(None, None, damaged, first_error or f"{pointer} names no checkpoint")


def resume_checkpoint(root: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint of ``root`` that reads whole, as ``(folder, load_training_checkpoint(folder))``;
    None when there is none yet (no ``latest``). Which one: :func:`checkpoint_a_resume_reads`.

    ``latest`` names the newest; when it is damaged (a file deleted or cut short after it was written),
    the checkpoints before it are tried, newest first, with a warning naming the damaged file (a resume
    from an earlier step repeats the steps since, exactly), and each damaged one is set aside as
    ``step-N.damaged-`` + 8 random hex digits (kept, out of the checkpoints the run keeps and prunes). When
    none reads, one error names the file of the newest that does not, and nothing is moved."""
    choice = checkpoint_a_resume_reads(root)
    if choice is None:
        return None
    for _, err in choice.damaged:
        logger.warning("%s; trying the checkpoint before it", err)
    if choice.path is None or choice.checkpoint is None:
        raise ValueError(
            f"cannot resume: {choice.first_error}, and no earlier checkpoint in {root} is complete; delete the "
            "folder's checkpoints/ to start over"
        )
    if choice.first_error is not None:
        logger.warning("resuming from %s instead (%s)", choice.path.name, choice.first_error)
    for bad, _ in choice.damaged:
        # Out of the rotation, which counted it among the checkpoints kept and so removed a whole one,
        # and kept (a file may be repaired, or looked at), under a name no resume reads.
        aside = bad.with_name(f"{bad.name}.damaged-{uuid.uuid4().hex[:8]}")
        os.replace(bad, aside)
        logger.warning("the damaged checkpoint %s is set aside as %s", bad.name, aside.name)
    if choice.damaged:  # `latest` named one set aside: a resume before the next checkpoint calls it missing
        _point_latest_at(root, choice.path.name)
    return choice.path, choice.checkpoint


def resume_main_first(accelerator: Any, root: Path) -> tuple[Path, dict[str, Any]] | None:
    """:func:`resume_checkpoint` of ``root``, read by the main process of a launch first and by the others
    after it: the main process holds the folder (the others of a second launch on it must not read the
    checkpoints another launch writes), and it alone sets a damaged checkpoint aside (two renames failed).
    An error is raised after the block, so a main process that fails still reaches the barrier the others
    wait at: they then read the same files and fail alike, naming the cause (not a peer's closed
    connection)."""
    found, failed = None, None
    with accelerator.main_process_first():
        try:
            found = resume_checkpoint(root)
        except Exception as err:
            failed = err
    if failed is not None:
        raise failed
    return found
