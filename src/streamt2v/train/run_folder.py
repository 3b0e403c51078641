"""A training run's folder (``--out``): whether a new run or a resume may start there, the recipe and loop
settings a resume would change, what a killed run left half-written, and the loss log cut back to the
checkpoint a run resumes from."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamt2v.io.folders import atomic_folder_leftovers, atomic_write_file, remove_leftovers
from streamt2v.train.checkpoint import remove_stale_temporaries

if TYPE_CHECKING:
    from streamt2v.train.loop import Recipe

logger = logging.getLogger(__name__)


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines of steps after ``step`` (written after the checkpoint a run resumes from).

    The file is replaced atomically (a kill while it is rewritten keeps the old one). A last line without
    its newline that does not read is a row cut short by a crash (after the checkpoint, so its step is
    repeated): dropped with a warning; any other line that is not an entry is an error naming it."""
    if not path.exists():
        return
    text = path.read_text()
    lines = text.splitlines()
    keep = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry_step = int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError) as err:
            if number == len(lines) and not text.endswith("\n"):
                logger.warning("%s: dropping its last line, cut short: %r", path, line[:80])
                continue
            raise ValueError(f"{path} line {number} is not a loss-log entry ({err}): {line[:80]!r}") from None
        if entry_step <= step:
            keep.append(line)
    new = "".join(ln + "\n" for ln in keep)
    if new != text:
        atomic_write_file(path, lambda tmp: tmp.write_text(new))


# Temporaries a run killed while writing them leaves in its folder: atomic_write_file's ``.NAME.tmp-PID`` of
# config.json and loss.jsonl, and atomic_folder's ``.final.tmp-*``/``.final.old-*`` as named before they
# carried the writer's pid (today's names: remove_dead_writers_temporaries, which asks whether it is alive).
_RUN_TEMPORARY = re.compile(r"\.(config\.json|loss\.jsonl)\.tmp-\d+|\.final\.(tmp|old)-[0-9a-f]{8}")
# In samples/: write_video's temporary ``.STEM.tmp-*SUFFIX`` and lock ``.NAME.lock`` (io.video).
_SAMPLE_TEMPORARY = re.compile(r"\.(?P<stem>.+)\.tmp-[A-Za-z0-9_]+(?P<suffix>\.[A-Za-z0-9]+)")
_SAMPLE_LOCK = re.compile(r"\.(?P<name>.+)\.lock")
# In samples/: the clip recipe's ``clip-STEP.json`` written by atomic_write_file (``.NAME.tmp-PID``).
_SAMPLE_JSON_TEMPORARY = re.compile(r"\.clip-\d{8}\.json\.tmp-\d+")


def remove_run_leftovers(out: Path) -> None:
    """Remove what a run killed in ``out`` (``kill -9``, an OOM kill, a preempted machine) left half-written:
    its temporary files and folders in the run folder, ``checkpoints/`` and ``samples/``. A ``final/``
    moved aside by a run killed between its export's two renames is kept while no ``final/`` exists (the
    only copy). Main process only, before it writes anything."""
    if not out.is_dir():
        return
    from streamt2v.io.streaming_writer import remove_stale_temporaries as remove_stale_video

    remove_leftovers(out, _RUN_TEMPORARY, folders=True)
    # Another machine's (a preempted job resumed elsewhere) too, as before atomic_folder named its writers:
    # two runs never share a run folder, so no writer of final/ there is running elsewhere.
    left = atomic_folder_leftovers(out / "final")
    for p in left.dead + left.unknown:
        shutil.rmtree(p, ignore_errors=True)
        logger.info("removed %s, left by a run killed while it exported final/", p)
    remove_stale_temporaries(out / "checkpoints")
    samples = out / "samples"
    remove_leftovers(samples, _SAMPLE_JSON_TEMPORARY)
    if samples.is_dir():
        for p in sorted(samples.iterdir()):
            tmp, lock = _SAMPLE_TEMPORARY.fullmatch(p.name), _SAMPLE_LOCK.fullmatch(p.name)
            target = f"{tmp['stem']}{tmp['suffix']}" if tmp else lock["name"] if lock else None
            if target is not None and p.exists():
                try:
                    remove_stale_video(samples / target)  # takes the sample's lock: not while one writes
                except (OSError, RuntimeError) as err:  # another process writes it (OutputInUseError)
                    logger.warning("%s left as it is: %s", p, err)


def _only_stale_temporaries(out: Path) -> bool:
    """Whether ``out`` is empty or holds nothing but temporaries of a run killed before it wrote anything
    else (a kill while its first config.json was written)."""
    return all(_RUN_TEMPORARY.fullmatch(p.name) for p in out.iterdir())


def recipe_config_changes(saved: dict[str, Any], current: dict[str, Any], recipe: Recipe | None) -> list[str]:
    """The options whose values differ, as ``"key: saved -> current"``; an option the checkpoint
    predates counts as equal when it has its default value (so adding a recipe option does not orphan
    existing runs)."""
    cur = json.loads(json.dumps(current))
    defaults: dict[str, Any] = {}
    if dataclasses.is_dataclass(recipe):
        for f in dataclasses.fields(recipe):
            if f.default is not dataclasses.MISSING:
                defaults[f.name] = json.loads(json.dumps(f.default))
    missing = object()
    changes = []
    for key in sorted(set(saved) | set(cur)):
        old, new = saved.get(key, defaults.get(key, missing)), cur.get(key, missing)
        if old is missing or new is missing or old != new:
            show = [("(absent)" if v is missing else repr(v)) for v in (old, new)]
            changes.append(f"{key}: {show[0]} -> {show[1]}")
    return changes


def _run_without_checkpoint(out: Path) -> bool:
    """Whether ``out`` holds a run that failed or was stopped before its first checkpoint (its config, no
    checkpoint, no ``final/``): nothing in it can be continued or loaded."""
    try:
        config = json.loads((out / "config.json").read_text())
    except (OSError, ValueError):
        return False
    is_run = isinstance(config, dict) and "recipe" in config
    return is_run and not (out / "final").exists() and not (out / "checkpoints" / "latest").exists()


def _recipe_of_checkpoints(root: Path) -> str | None:
    """The recipe name a checkpoint in ``root`` records (its ``state.json``), or None."""
    for state in sorted(root.glob("step-*/state.json"), reverse=True):
        try:
            return str(json.loads(state.read_text())["config"]["recipe"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def check_out_dir(out: Path, recipe: Recipe, resume: bool) -> None:
    """Refuse an ``out`` that would lose what is there: without ``resume`` any non-empty folder (a run's
    ``final/`` and log, or the user's files); with it, a non-empty folder that is not a run of this
    recipe. ``resume`` without a checkpoint starts at step 0 (a preempted job's first launch)."""
    if not out.exists():
        if resume:
            logger.warning("%s does not exist: nothing to resume, starting a new run there", out)
        return
    if not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a run folder")
    if _only_stale_temporaries(out):
        return
    if not resume:
        if _run_without_checkpoint(out):
            raise FileExistsError(
                f"{out} holds a run stopped before its first checkpoint: pass resume=True (--resume) to start "
                "it again with the same settings, delete the folder to start with other settings, or give "
                "another --out"
            )
        raise FileExistsError(
            f"{out} is not empty; pass resume=True (--resume) to continue the run there, or another --out"
        )
    config = out / "config.json"
    try:
        saved = json.loads(config.read_text())["recipe"]
    except (OSError, ValueError, KeyError, TypeError):
        # a config.json lost or cut short (written in place before this version) by a killed run: its
        # checkpoints carry the config too
        saved = _recipe_of_checkpoints(out / "checkpoints")
        if saved is None:
            raise FileExistsError(
                f"{out} is not empty and is not a training run (no readable {config.name})"
            ) from None
        logger.warning("%s is unreadable: taking the run's recipe from its checkpoints", config)
    if saved != recipe.name:
        raise ValueError(f"cannot resume {out}: it is a {saved!r} run, this is {recipe.name!r}")
