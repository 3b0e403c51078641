"""The noise schedule a trained UNet goes with, compared with the one a recipe trains or a model samples with.

A UNet predicts what its schedule taught it (ε or v, for the betas it saw): trained further under another
schedule it must relearn its objective, and sampled under another it draws noise. A run keeps its schedule
in ``final/scheduler/`` beside ``final/unet/``, as the shipped models keep theirs beside their UNets, so the
schedule of a UNet folder is the ``scheduler/`` beside it (none for a UNet found anywhere else).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from streamt2v.io.folders import named_path, read_json_object
from streamt2v.train.recipes import option_arg
from streamt2v.typed_values import is_number

logger = logging.getLogger(__name__)

# the scheduler options that decide what a UNet learns to predict and for which noise levels
SCHEDULE_FIELDS = (
    "num_train_timesteps",
    "beta_start",
    "beta_end",
    "beta_schedule",
    "prediction_type",
    "rescale_betas_zero_snr",
    "timestep_spacing",
)


def schedule_file(unet_dir: Path) -> Path:
    """Where the schedule of the UNet folder ``unet_dir`` is kept: the ``scheduler/`` beside it."""
    return unet_dir.parent / "scheduler" / "scheduler_config.json"


def unet_schedule(unet_dir: Path) -> dict[str, Any] | None:
    """The :data:`SCHEDULE_FIELDS` of the schedule kept beside the UNet folder ``unet_dir``; None where there
    is none (a UNet outside a run or model folder)."""
    file = schedule_file(unet_dir)
    if not file.is_file():
        return None
    saved = read_json_object(file, "scheduler config")
    return {k: saved[k] for k in SCHEDULE_FIELDS if k in saved}


def schedule_differences(have: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """The :data:`SCHEDULE_FIELDS` both schedules set and set apart (betas compared as floats)."""
    differ = []
    for key in SCHEDULE_FIELDS:
        if key not in have or key not in want:
            continue
        a, b = have[key], want[key]
        same = math.isclose(a, b, rel_tol=1e-9) if is_number(a) and is_number(b) else a == b
        if not same:
            differ.append(key)
    return differ


def shown_schedule(schedule: dict[str, Any], keys: list[str]) -> str:
    """``prediction_type='v_prediction', timestep_spacing='trailing'``: the ``keys`` of ``schedule``."""
    return ", ".join(f"{k}={schedule[k]!r}" for k in keys)


def schedule_mismatch(unet_dir: Path, want: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """The schedule kept beside the UNet folder ``unet_dir`` and the :data:`SCHEDULE_FIELDS` it sets apart from
    ``want``; None where none is kept or none differs."""
    have = unet_schedule(unet_dir)
    differ = [] if have is None else schedule_differences(have, want)
    return (have, differ) if differ else None


def warn_of_other_schedule(recipe: Any, unet_dir: Path, named: object, also: str = "") -> None:
    """Warn before training when the UNet folder ``unet_dir`` a recipe starts from (``named`` as the user gave
    it) was trained with another schedule than ``recipe``'s (its ``scheduler_config``), naming the recipe
    options that keep the UNet's (``--set prediction_type=v_prediction`` on the command line); ``also``: what
    else follows from the difference. A warning, not an error: continuing a UNet under another
    ``prediction_type`` is a documented use of ``init_unet``; the recipe's own values are kept (the options
    typed are what the run records)."""
    want = recipe.scheduler_config()
    mismatch = schedule_mismatch(unet_dir, want)
    if mismatch is None:
        return
    have, differ = mismatch
    advice = [option_arg(k, have[k]) for k in differ]
    logger.warning(
        "%s was trained with %s (%s); this %s run trains with %s, an objective the UNet must relearn before "
        "its samples show anything%s: to keep the UNet's schedule, pass " + " ".join(["%s"] * len(advice)),
        named,
        shown_schedule(have, differ),
        named_path(str(schedule_file(unet_dir))),
        recipe.name,
        shown_schedule(want, differ),
        also,
        *advice,
    )
