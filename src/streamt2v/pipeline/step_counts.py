r"""How many denoising steps a chunk may take: stage 1 within the noise schedule, stage 2 within what its
SDEdit start (``chunk_strength``) leaves, checked before any chunk is sampled; stage 3's start step within
the refiner's schedule (:func:`check_start_step`). Refusals are
:class:`~streamt2v.pipeline.setting_checks.SettingError`\ s, and :func:`recommended_note` says when a refused
value is one the model recommended and the caller never gave (:func:`settings_named`: which settings a refusal
names)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from streamt2v.pipeline.chunking import ChunkSpec
from streamt2v.pipeline.setting_checks import QUOTED, EnhanceSettingError, SettingError
from streamt2v.sampling.sdedit import start_step_from_strength
from streamt2v.typed_values import shown_number

if TYPE_CHECKING:
    from streamt2v.pipeline.enhance_config import EnhanceConfig
    from streamt2v.pipeline.stream import StreamConfig


def check_step_counts(
    config: StreamConfig, plan: Sequence[ChunkSpec], num_train_timesteps: int = 1000
) -> None:
    """Refuse, before any chunk is sampled, more denoising steps than the noise schedule has room for: a
    stage-1 chunk's ``init_steps`` more than its timesteps, a stage-2 chunk's ``steps`` more than
    :func:`stage2_start_step` leaves (some schedulers refuse them only when the chunk is sampled, others
    repeat timesteps)."""
    if any(spec.stage == 1 for spec in plan) and config.init_steps > num_train_timesteps:
        raise SettingError(
            f"init_steps={shown_number(config.init_steps)} is more than the {num_train_timesteps} "
            f"timesteps of the noise schedule: lower init_steps to {num_train_timesteps} or less"
        )
    if any(spec.stage == 2 for spec in plan):
        stage2_start_step(config, num_train_timesteps)


def stage2_start_step(config: StreamConfig, num_train_timesteps: int = 1000) -> int:
    """The timestep stage 2 starts at (``config.chunk_strength`` of the schedule); raises when it leaves
    room for fewer steps than ``config.steps``."""
    start_step = start_step_from_strength(config.chunk_strength, num_train_timesteps)
    steps, strength, most = config.steps, config.chunk_strength, num_train_timesteps
    if steps <= start_step:
        return start_step
    if strength == 1:
        raise SettingError(
            f"steps={shown_number(steps)} is more than the {most} timesteps of the noise schedule: lower "
            f"steps to {most} or less"
        )
    if steps <= most:
        more = " or more" if steps < most else ""
        fix = f"lower steps to {start_step} or less, or raise chunk_strength to {steps / most:g}{more}"
    else:
        fix = f"lower steps to {start_step} or less (chunk_strength 1 allows {most})"
    raise SettingError(
        f"chunk_strength {strength} starts stage 2 at step {start_step} of {most}, too close to the end "
        f"for steps={shown_number(steps)}; {fix}"
    )


def recommended_note(
    error: SettingError,
    recommended: Mapping[str, Any],
    given: Sequence[str],
    source: str = "the model's recommended setting",
) -> str:
    """The end of a message that names settings the caller did not give (``given``), which therefore took
    the model's ``recommended`` values (or those of another ``source``: "the default"): a constraint that
    comes from one is otherwise puzzling (``steps`` refused for a ``chunk_strength`` never typed). A name
    inside quoted text (a prompt, a path) is no setting named."""
    named = [k for k in settings_named(str(error), recommended) if k not in given]
    return "".join(f"; {name} {recommended[name]!r} is {source} (set {name} to change it)" for name in named)


def settings_named(message: str, names: Iterable[str]) -> list[str]:
    """Those of ``names`` that ``message`` names as words outside quoted text: a name inside quotes is a value
    typed (a prompt, a path, unknown scheduler 'fps'), no setting named."""
    unquoted = re.sub(QUOTED, "", message)
    return [name for name in names if re.search(rf"\b{re.escape(name)}\b", unquoted)]


def check_start_step(config: EnhanceConfig, scheduler_config: Mapping[str, Any]) -> None:
    """Raise unless ``config.start_step`` lies inside the refiner's noise schedule (``num_train_timesteps``
    of its scheduler config, a dict or a scheduler's ``config``; diffusers' default 1000 when absent)."""
    num_train = int(scheduler_config.get("num_train_timesteps", 1000))
    if config.start_step > num_train:
        raise EnhanceSettingError(
            # timesteps: "steps" is a setting's name, which the command lines spell as their flags
            f"start_step={shown_number(config.start_step)} is past the refiner's noise schedule of "
            f"{num_train} training timesteps; use 1..{num_train}"
        )
