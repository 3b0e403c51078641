"""What a training run records of its recipe options, and what a resume of it would change: the recipe
options it may not change (another run), the loop settings it may (said in a warning, or a note for those
that leave its steps as they were), and the recorded files or folders that moved. Each change is named as
the caller spells it (:class:`SettingChanges`: Python's arguments, or the command line's flags)."""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamt2v.arguments import Arg, ArgumentValueError, RecipeOption
from streamt2v.io.folders import named_path
from streamt2v.train.run_folder import OUT_DIR
from streamt2v.train.train_config import FLAGGED_SETTINGS
from streamt2v.wording import counted

if TYPE_CHECKING:
    from streamt2v.train.loop import Recipe

logger = logging.getLogger(__name__)


def recorded_recipe_config(recipe: Recipe) -> dict[str, Any]:
    """``recipe.config()`` as a run records it: the options that name a file or folder (``PATH_OPTIONS``)
    made absolute, a leading ``~`` expanded (the recipe keeps a folder as given, for its messages), so
    ``assemble`` and ``train --resume`` find them from any working folder (a relative path reads only from
    the folder ``train`` ran in). Links are kept as given (``os.path.abspath``): the path the user chose,
    which a resume compares by the file it names."""
    from streamt2v.train.recipes import is_path_option

    return {
        key: os.path.abspath(os.path.expanduser(value)) if is_path_option(key, value) else value
        for key, value in recipe.config().items()
    }


def _path_change(key: str, old: Any, new: Any) -> str | None:
    """For two values of a path option: ``"same"`` (one file or folder; a relative recorded path, as runs
    recorded them before they resolved them, reads from the working folder), ``"moved"`` (the recorded one
    does not exist here: the run's folders were moved, or it resumes on another machine), ``"changed"``;
    None when either is not a path."""
    from streamt2v.train.recipes import is_path_option

    if not (is_path_option(key, old) and is_path_option(key, new)):
        return None
    was, now = Path(old).resolve(), Path(new).resolve()
    if was == now:
        return "same"
    return "changed" if was.exists() else "moved"


def recipe_config_changes(saved: dict[str, Any], current: dict[str, Any], recipe: Recipe | None) -> list[str]:
    """The options whose values differ, as ``"key: saved -> current"``; an option the checkpoint
    predates counts as equal when it has its default value (so adding a recipe option does not orphan
    existing runs), and a path option whose recorded file or folder is the current one, or is gone
    (:func:`moved_path_options`), is not a change."""
    return _changes(saved, current, recipe, moved=False)


def moved_path_options(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The path options, as ``"key: saved -> current"``, whose recorded file or folder does not exist here
    and which now name another: the run's folders moved (or a resume on another machine), which the run
    cannot tell from another file given by mistake (a resume warns, naming both)."""
    return _changes(saved, current, None, moved=True)


class _Absent(enum.Enum):
    """A value not recorded, or not given now; an enum member, so it stays itself through pickle."""

    ABSENT = "(absent)"


class Change(str):
    """One setting a resume changes, ``"key: saved -> current"`` as Python spells the values (``(absent)``:
    not recorded, or not given now); its ``key``, ``old`` and ``new`` kept for the command line's spelling
    (:class:`SettingChanges`)."""

    ABSENT: Any = _Absent.ABSENT

    key: str
    old: Any
    new: Any
    where: str
    by_set: bool  # a recipe option with a flag given by --set (--set size=64): named so on the command line

    def __new__(cls, key: str, old: Any, new: Any, where: str = "", by_set: bool = False) -> Change:
        show = ["(absent)" if v is cls.ABSENT else repr(v) for v in (old, new)]
        change = super().__new__(cls, f"{key}: {show[0]} -> {show[1]}{where}")
        change.key, change.old, change.new, change.where, change.by_set = key, old, new, where, by_set
        return change

    def __getnewargs__(self) -> tuple[Any, ...]:  # pickle and deepcopy: errors carrying it cross processes
        return self.key, self.old, self.new, self.where, self.by_set


def _changes(saved: dict[str, Any], current: dict[str, Any], recipe: Recipe | None, moved: bool) -> list[str]:
    cur = json.loads(json.dumps(current))
    defaults: dict[str, Any] = {}
    if dataclasses.is_dataclass(recipe):
        for f in dataclasses.fields(recipe):
            if f.default is not dataclasses.MISSING:
                defaults[f.name] = json.loads(json.dumps(f.default))
    missing = Change.ABSENT
    changes: list[str] = []
    for key in sorted(set(saved) | set(cur)):
        old, new = saved.get(key, defaults.get(key, missing)), cur.get(key, missing)
        path = _path_change(key, old, new)
        if moved:
            differs = path == "moved"
        else:
            differs = path == "changed" or (path is None and (old is missing or new is missing or old != new))
        if differs:
            # a run from before paths were recorded absolute: its path reads from the folder train ran in,
            # not from the one the resume runs in (the relative path given again here names another folder)
            where = ""
            if path == "changed" and not os.path.isabs(old):
                where = " (recorded relative to the folder train ran in: resume from there)"
            changes.append(Change(key, old, new, where))
    return changes


# ``TrainConfig`` fields that do not change a run's steps (its samples, draws and updates), only what is
# written beside them, how the samples are loaded or how this machine runs the steps (``compile``: a run
# resumes with or without it): a resume that changes them continues the uninterrupted run.
BOOKKEEPING_SETTINGS = (
    "checkpoint_every",
    "keep_checkpoints",
    "sample_every",
    "log_every",
    "num_workers",
    "compile",
)


def train_config_changes(saved_run: dict[str, Any], train: dict[str, Any], processes: int) -> list[str]:
    """The loop settings a resume on ``processes`` processes with ``train`` (``TrainConfig`` as a dict)
    changes from the run config ``saved_run`` records, as ``"key: saved -> current"``.

    ``--batch-size`` is per process and every micro-batch of a step is numbered across processes, so a
    run on N processes with ``grad_accum`` A takes the steps of one on M processes with ``grad_accum``
    N·A/M (the same samples and draws): a resume that keeps processes × ``grad_accum`` changes neither.
    Otherwise a change of the process count is one (``processes: 2 -> 1``: half the samples per step),
    once the run records it (runs before it recorded none, and only ``grad_accum`` is compared)."""
    was, now = dict(saved_run.get("train", {})), dict(train)
    if "processes" in saved_run:
        was["processes"], now["processes"] = int(saved_run["processes"]), processes
        if was["processes"] * int(was.get("grad_accum", 1)) == processes * int(now.get("grad_accum", 1)):
            for key in ("processes", "grad_accum"):
                was.pop(key, None)
                now.pop(key, None)
    return recipe_config_changes(was, now, recipe=None)


def _current_names(recorded: dict[str, Any]) -> dict[str, Any]:
    """A run's recorded recipe options by their current names (``EARLIER_OPTION_NAMES``)."""
    from streamt2v.train.recipes import EARLIER_OPTION_NAMES

    return {EARLIER_OPTION_NAMES.get(key, key): value for key, value in recorded.items()}


def check_resumed_config(
    path: str | os.PathLike, saved: dict[str, Any], run_config: dict[str, Any], recipe: Recipe, step: int
) -> None:
    """Refuse to continue checkpoint ``path`` of ``step``, whose run config is ``saved``, as a run of another
    recipe, with other recipe options (``run_config``: this call's) or with fewer steps than it has taken;
    name in a warning the recorded folders that do not exist here and the loop settings the resume changes.
    ``path`` as typed (in the run folder as given): named so, then as read (``named_path``)."""
    named = named_path(path)
    if saved["recipe"] != recipe.name:
        raise ValueError(f"cannot resume {named}: it is a {saved['recipe']!r} run, this is {recipe.name!r}")
    recorded = _current_names(saved["recipe_config"])
    changes = recipe_config_changes(recorded, run_config["recipe_config"], recipe)
    if changes:
        raise ArgumentValueError(
            f"cannot resume {named} with other recipe options (",
            SettingChanges("recipe", tuple(changes)),
            "); give the run's options or start another ",
            OUT_DIR,
        )
    steps = run_config["train"]["steps"]
    if step > steps:  # before the warning below, which would name the steps as a change it allows
        raise ArgumentValueError(
            f"cannot resume {named} at step {step} with ",
            Arg("steps", steps),
            "; give ",
            Arg("steps", step),
            " or more",
        )
    moved = moved_path_options(recorded, run_config["recipe_config"])
    if moved:  # the run's folders moved, or it resumes on another machine: nothing to compare them with
        logger.warning(
            "resuming %s with files or folders the run recorded at paths that do not exist here (%s): "
            "it continues with the ones given, which must hold what the recorded ones held",
            named,
            "; ".join(moved),
        )
    world, grad_accum = run_config["processes"], run_config["train"]["grad_accum"]
    loop_changes = train_config_changes(saved, run_config["train"], world)
    was_world = int(saved.get("processes", world))
    if was_world != world and not any(c.startswith(("processes:", "grad_accum:")) for c in loop_changes):
        # the Args are spelled as flags by the command line's filter (cli/train)
        logger.info(
            "resuming %s, a run of %s with %s, on %d with %s: the same samples per step",
            named,
            counted(was_world, "process", "processes"),
            Arg("grad_accum", saved["train"]["grad_accum"]),
            world,
            Arg("grad_accum", grad_accum),
        )
    # settings of what is written beside the steps: the resumed steps are still the uninterrupted run's
    kept = [c for c in loop_changes if c.split(":", 1)[0] in BOOKKEEPING_SETTINGS]
    loop_changes = [c for c in loop_changes if c not in kept]
    if kept:
        logger.info(
            "resuming %s with other settings that leave its steps unchanged: %s",
            named,
            SettingChanges("loop", tuple(kept)),
        )
    if loop_changes:  # legitimate (more steps, another lr), but the run is then not one uninterrupted run
        logger.warning(
            "resuming %s with changed training settings: %s",
            named,
            SettingChanges("loop", tuple(loop_changes)),
        )


class SettingChanges(Arg):
    """The settings a resume changes (``value``: a tuple of :class:`Change`; ``name``: ``"recipe"`` options or
    ``"loop"`` settings) as each caller names them: ``size: 16 -> 32``, ``grad_accum: 1 -> 4`` to Python,
    their flags on the command line, each value as the flag takes it (``--size 16 -> 32``, ``--grad-accum 1 ->
    4``, ``--ema-decay 0.999 -> 0``; ``--set rescale_betas_zero_snr false -> true`` for a recipe option without
    a flag of its own, or given by ``--set``: :meth:`given_by_set`), where a loop setting without a flag reads
    as to Python (``processes``: the launcher's count)."""

    def __str__(self) -> str:
        return "; ".join(self.value)

    def given_by_set(self, keys: set[str]) -> SettingChanges:
        """These changes, the recipe options ``keys`` (given by ``--set size=64``) spelled as ``--set``."""
        return SettingChanges(
            self.name,
            tuple(
                Change(c.key, c.old, c.new, c.where, by_set=True) if c.key in keys else c for c in self.value
            ),
        )

    @property
    def flag(self) -> str:
        from streamt2v.train.recipes import option_arg

        spelled = []
        for change in self.value:
            key, values = change.key, (change.old, change.new)
            if self.name == "recipe":
                arg = RecipeOption(key) if change.by_set else option_arg(key)
                show = [_as_flag_value(v, set_option=isinstance(arg, RecipeOption), key=key) for v in values]
                spelled.append(f"{arg.flag} {show[0]} -> {show[1]}{change.where}")
            elif key in FLAGGED_SETTINGS:
                show = [_as_flag_value(v, key=key) for v in values]
                spelled.append(f"{Arg(key).flag} {show[0]} -> {show[1]}")
            else:
                spelled.append(change)
        return "; ".join(spelled)


def _as_flag_value(value: Any, *, set_option: bool = False, key: str = "") -> str:
    """A recorded setting's ``value`` (of the option or setting ``key``) as its flag takes it: ``--set``'s
    JSON (``true``, ``[8,16]``), a switch given or not, no EMA as ``--ema-decay 0``, other text quoted as a
    shell reads it; a file or folder quoted as every message names one (``named_path``: ``'/runs/v'``)."""
    from streamt2v.train.recipes import is_path_option

    if value is Change.ABSENT:
        return "(absent)"
    if is_path_option(key, value):
        return named_path(str(value))
    if set_option:
        return shlex.quote(RecipeOption.as_set(value))
    if key == "ema_decay" and value is None:
        return "0"
    if isinstance(value, bool) or value is None:  # --cpu, --compile
        return "(given)" if value else "(not given)"
    return shlex.quote(str(value))
