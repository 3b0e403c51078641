"""A training run's folder (``--out``): whether a new run or a resume may start there, what a killed run left
half-written, the loss log cut back to the checkpoint a run resumes from, and the step whose models
``final/`` holds. The settings a resume would change: :mod:`streamt2v.train.resume_settings`."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from streamt2v.arguments import Arg, FlaggedArg, NamesArguments
from streamt2v.io import locks
from streamt2v.io.folders import (
    ExistingOutputError,
    atomic_folder_leftovers,
    atomic_write_file,
    home_path,
    named_path,
    remove_leftovers,
)
from streamt2v.io.output_paths import remove_stale_temporaries
from streamt2v.train.checkpoint import checkpoint_a_resume_reads, remove_checkpoint_temporaries
from streamt2v.wording import counted

if TYPE_CHECKING:
    from streamt2v.train.loop import Recipe

logger = logging.getLogger(__name__)


def truncate_log(path: Path, step: int) -> list[str]:
    """Drop log lines of steps after ``step`` (written after the checkpoint a run resumes from); returns what
    was done, in words (``"trimmed 12 loss-log rows past step 2"``; empty: the file was left as it was).

    The file is replaced atomically (a kill while it is rewritten keeps the old one). A last line without
    its newline that does not read is a row cut short by a crash (after the checkpoint, so its step is
    repeated): dropped with a warning; one that reads (a kill between the row and its newline) is kept and
    given its newline; any other line that is not an entry is an error naming it."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines()
    keep, dropped, blank, cut_short, completed = [], 0, 0, False, False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            blank += 1
            continue
        try:
            entry_step = int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError) as err:
            if number == len(lines) and not text.endswith("\n"):
                logger.warning("%s: dropping its last line, cut short: %r", path, line[:80])
                cut_short = True
                continue
            raise ValueError(f"{path} line {number} is not a loss-log entry ({err}): {line[:80]!r}") from None
        if entry_step <= step:
            keep.append(line)
            completed = number == len(lines) and not text.endswith("\n")
        else:
            dropped += 1
    new = "".join(ln + "\n" for ln in keep)
    if new == text:
        return []
    atomic_write_file(path, lambda tmp: tmp.write_text(new))
    # every rewrite is said (a resume of a finished run that changed the file said "nothing to do")
    done = []
    if dropped:
        done.append(f"trimmed {counted(dropped, 'loss-log row')} past step {step}")
    if cut_short:
        done.append("dropped the loss log's half-written last row")
    if completed:
        done.append("completed the loss log's last line (its newline)")
    if blank:
        done.append(f"removed {counted(blank, 'blank loss-log line')}")
    return done or [f"rewrote {path.name}"]  # none of those: not expected (read_text reads \r\n as \n)


# Temporaries a run killed while writing them leaves in its folder: atomic_write_file's ``.NAME.tmp-PID`` of
# config.json and loss.jsonl, and atomic_folder's ``.final.tmp-*``/``.final.old-*`` as named before they
# carried the writer's pid (today's names: remove_dead_writers_temporaries, which asks whether it is alive).
_RUN_TEMPORARY = re.compile(r"\.(config\.json|loss\.jsonl)\.tmp-\d+|\.final\.(tmp|old)-[0-9a-f]{8}")
# In samples/: write_video's temporary ``.STEM.tmp-*SUFFIX`` and lock ``.NAME.lock`` (io.video).
_SAMPLE_TEMPORARY = re.compile(r"\.(?P<stem>.+)\.tmp-[A-Za-z0-9_]+(?P<suffix>\.[A-Za-z0-9]+)")
_SAMPLE_LOCK = re.compile(r"\.(?P<name>.+)\.lock")
# In samples/: what atomic_write_file writes there (``.NAME.tmp-PID``): the clip recipe's ``clip-STEP.json``
# and the caption ``RECIPE-STEP.txt`` written beside each sample video (write_sample).
_SAMPLE_FILE_TEMPORARY = re.compile(r"\.[a-z]+-\d{8}\.(json|txt)\.tmp-\d+")


# In final/: the step of the run whose weights the export holds (a resume at that step has nothing to do).
EXPORTED_STEP = "run_step.json"


def record_exported_step(final: Path, step: int) -> None:
    """Record in ``final`` (an export's folder, before it is renamed into place) the step it holds."""
    (final / EXPORTED_STEP).write_text(json.dumps({"step": step}) + "\n")


def exported_step(final: Path) -> int | None:
    """The step whose weights ``final`` holds (:func:`record_exported_step`); None when there is no ``final/``
    or it was exported before runs recorded the step (a resume at the run's last step exports it again)."""
    try:
        return int(json.loads((final / EXPORTED_STEP).read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_run_leftovers(out: Path) -> list[Path]:
    """Remove what a run killed in ``out`` (``kill -9``, an OOM kill, a preempted machine) left half-written:
    its temporary files and folders in the run folder, ``checkpoints/`` and ``samples/``. A ``final/``
    moved aside by a run killed between its export's two renames is kept while no ``final/`` exists (the
    only copy). Main process only, before it writes anything. Returns what was removed."""
    if not out.is_dir():
        return []
    removed = remove_leftovers(out, _RUN_TEMPORARY, folders=True)
    # Another machine's (a preempted job resumed elsewhere) too, as before atomic_folder named its writers:
    # two runs never share a run folder, so no writer of final/ there is running elsewhere.
    left = atomic_folder_leftovers(out / "final")
    for p in left.dead + left.unknown:
        shutil.rmtree(p, ignore_errors=True)
        logger.info("removed %s, left by a run killed while it exported final/", p)
        removed.append(p)
    removed += remove_checkpoint_temporaries(out / "checkpoints")
    samples = out / "samples"
    removed += remove_leftovers(samples, _SAMPLE_FILE_TEMPORARY)
    if samples.is_dir():
        stale: list[Path] = []
        for p in sorted(samples.iterdir()):
            tmp, lock = _SAMPLE_TEMPORARY.fullmatch(p.name), _SAMPLE_LOCK.fullmatch(p.name)
            target = f"{tmp['stem']}{tmp['suffix']}" if tmp else lock["name"] if lock else None
            if target is None:
                continue
            stale.append(p)
            if p.exists():
                try:
                    # takes the sample's lock: not while one writes
                    removed += remove_stale_temporaries(samples / target)
                except (OSError, RuntimeError) as err:  # another process writes it (OutputInUseError)
                    logger.warning("%s left as it is: %s", p, err)
        # a lock file alone is removed with the lock released, not in the list
        removed += [p for p in stale if p not in removed and not (p.exists() or p.is_symlink())]
    return removed


# The lock file of the process training in a run folder (:func:`lock_run_folder`).
RUN_LOCK = ".lock"


class RunFolderInUseError(NamesArguments, RuntimeError):
    """Another process trains in the run folder (it holds ``RUN_LOCK``)."""


def lock_run_folder(given: str | os.PathLike) -> IO[str] | None:
    """Take ``out`` (made if missing) for this process, before anything there is read or written, and hold
    it until :func:`streamt2v.io.locks.release` or the process ends, however it ends: two runs started on one
    ``--out`` (a job relaunched with ``--resume`` while the first still runs) would both write its
    checkpoints and loss log. Main process only (the others of a launch write nothing there). A folder
    holding nothing but the lock is an empty one (:func:`check_out_dir`). A file at ``out`` is not taken
    (None): :func:`check_out_dir` refuses it by name. ``given``: the folder ``out`` as typed (a leading ``~``
    is the home folder), which a refusal names, then as read (:func:`named_path`)."""
    out = home_path(given)
    if out.exists() and not out.is_dir():
        return None
    out.mkdir(parents=True, exist_ok=True)
    try:
        return locks.acquire(out / RUN_LOCK)
    except locks.LockedError as err:
        raise _in_use(named_path(given), err.holder) from None


def make_run_folder(out: Path) -> list[Path]:
    """Make ``out`` and its missing parents one level at a time, and give back those this call made,
    deepest first: all a run refused before it wrote anything removes (:func:`remove_made_folders`). Only
    folders this call's own ``mkdir`` made are named: one another process makes meanwhile is not, nor one
    the user had (``--out typo/../run``, whose ``run`` exists once ``typo`` does, named ``run`` itself)."""
    made: list[Path] = []
    folder = Path(out)
    for level in [*reversed(folder.parents), folder]:
        if level.is_dir():
            continue
        try:
            level.mkdir()
        except FileExistsError:  # made meanwhile by another, or a file: check_out_dir names the latter
            continue
        made.append(level)
    return made[::-1]


def remove_made_folders(made: list[Path]) -> None:
    """Remove the folders ``made`` (:func:`make_run_folder`), deepest first, while they are empty: a refused
    run (a typo in a caption's path) left ``typo_dir/`` of ``--out typo_dir/run`` behind."""
    for folder in made:
        try:
            folder.rmdir()
        except OSError:  # not empty (something else was put there meanwhile), or gone: its parents stay
            return


def _in_use(named: str, holder: str) -> RunFolderInUseError:
    """The refusal of the run folder ``named`` (:func:`named_path`) that process ``holder`` runs in."""
    return RunFolderInUseError(
        OUT_DIR,
        f" {named} is in use by another training process (pid {holder}); wait for it to finish, "
        "or stop it before resuming, or give another ",
        OUT_DIR,
    )


def _only_stale_temporaries(out: Path) -> bool:
    """Whether ``out`` is empty or holds nothing but temporaries of a run killed before it wrote anything
    else (a kill while its first config.json was written), and the lock of the run about to start there."""
    return all(p.name == RUN_LOCK or _RUN_TEMPORARY.fullmatch(p.name) for p in out.iterdir())


def resumed_run_config(out: Path) -> dict[str, Any] | None:
    """The run config a resume of the run in ``out`` continues: that of the checkpoint it reads
    (:func:`~streamt2v.train.checkpoint.checkpoint_a_resume_reads`: past a damaged latest one, the one before
    it), else its ``config.json`` (a run stopped before its first checkpoint starts again with its settings);
    None where neither reads (no run there). What the command line takes for the settings not typed with
    ``--resume``."""
    try:
        # its state only: the resume reads the tensors (a full-size run's model, EMA, optimizer: tens of GB)
        choice = checkpoint_a_resume_reads(out / "checkpoints", tensors=False)
        config = choice.checkpoint["state"]["config"] if choice and choice.checkpoint else None
    except OSError:  # a checkpoint that cannot be read now: the resume stops on it, naming it
        config = None
    if config is None:  # none yet, or none reads (the resume says so): the run's own record
        try:
            config = json.loads((out / "config.json").read_text())
        except (OSError, ValueError):
            return None
    ok = isinstance(config, dict) and isinstance(config.get("recipe_config"), dict)
    return config if ok and isinstance(config.get("train"), dict) else None


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` is a training run's (its ``config.json`` names a recipe and loop settings)."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "recipe" in config and "train" in config


def holds_a_run(folder: Path) -> bool:
    """Whether ``folder`` is a training run's (:func:`is_run_folder`) or one a run has taken to start in
    (its lock held, no config.json yet): a first run with ``--out`` inside ``--data`` counted its own lock as
    a file that is not a video, its resume as a run's file."""
    # Without fcntl (not POSIX) locks.acquire makes no lock file and holder() finds none held: a run starting
    # there leaves no .lock to be counted, so only is_run_folder is needed (a stale copied one counts on any
    # system as a file, as a free lock does on POSIX).
    return is_run_folder(folder) or locks.holder(folder / RUN_LOCK) is not None


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


# train()'s out_dir, the command line's --out
OUT_DIR = FlaggedArg("out_dir", flag="--out")


def check_out_dir(given: str | os.PathLike, recipe: Recipe, resume: bool) -> None:
    """Refuse a run folder ``out`` that would lose what is there: without ``resume`` any non-empty folder (a
    run's ``final/`` and log, or the user's files); with it, a non-empty folder that is not a run of this
    recipe. ``resume`` without a checkpoint starts at step 0 (a preempted job's first launch). ``given``:
    ``out`` as typed (``~/runs/b``; a leading ``~`` is the home folder), which the messages name, then as
    read (:func:`named_path`)."""
    out, named = home_path(given), named_path(given)
    if not out.exists():
        if resume:
            logger.warning("%s does not exist: nothing to resume, starting a new run there", named)
        return
    if not out.is_dir():
        raise ExistingOutputError(OUT_DIR, f" {named} is a file, not a run folder")
    holder = locks.holder(out / RUN_LOCK)
    if holder is not None:  # before the others: their advice (--resume) would lead only to this refusal
        raise _in_use(named, holder)
    if _only_stale_temporaries(out):
        if resume:  # made by lock_run_folder, or left by a run killed before it wrote its config
            logger.warning("%s holds no run yet: nothing to resume, starting a new run there", named)
        return
    if not resume:
        if _run_without_checkpoint(out):
            raise ExistingOutputError(
                f"{named} holds a run stopped before its first checkpoint: pass ",
                Arg("resume", True),
                " to start it again with the same settings, delete the folder to start with other settings, "
                "or give another ",
                OUT_DIR,
            )
        raise ExistingOutputError(
            f"{named} is not empty; pass ",
            Arg("resume", True),
            " to continue the run there, or another ",
            OUT_DIR,
        )
    config = out / "config.json"
    try:
        saved = json.loads(config.read_text())["recipe"]
    except (OSError, ValueError, KeyError, TypeError):
        # a config.json lost or cut short (written in place before this version) by a killed run: its
        # checkpoints carry the config too
        saved = _recipe_of_checkpoints(out / "checkpoints")
        if saved is None:
            raise ExistingOutputError(
                OUT_DIR, f" {named} is not empty and is not a training run (no readable {config.name})"
            ) from None
        logger.warning("%s is unreadable: taking the run's recipe from its checkpoints", config)
    if saved != recipe.name:
        raise ValueError(f"cannot resume {named}: it is a {saved!r} run, this is {recipe.name!r}")
