"""Stage 3's settings (paper §4.3; official-facts §1.5 stage 3): :class:`EnhanceConfig`, whose defaults are
the official release's schedule (its blending and guidance rescale follow the paper), checked as a whole
when one is made, so a bad setting (from the command line, a refiner folder's recommended settings or a
generate run's ``config.json``) is refused before any model loads; and :func:`check_resolution`, the one
check that needs the refiner's VAE.

Apart from the enhancer itself (:mod:`streamt2v.pipeline.enhance`): the refiner folders, the command lines and
the training's ``assemble`` read and check these settings without running stage 3.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from streamt2v.pipeline.blending import BLEND_MODES
from streamt2v.pipeline.setting_checks import EnhanceSettingError

BLEND_TARGETS: tuple[str, ...] = ("latents", "x0")


# The largest canvas side: 8K video is 7680x4320; a larger one is a typo that fails in the allocator later.
MAX_RESOLUTION_SIDE = 8192

# The settings' earlier names (diffusers'), which StreamConfig never had: a setting given by one is refused
# naming ours, but stored settings keep them (a run directory's config.json, a refiner folder's
# streamt2v_enhance: :func:`stored_form`), so that earlier versions read them too, and are read as ours
# (:func:`read_stored`).
EARLIER_NAMES = {"num_inference_steps": "steps", "guidance_scale": "guidance"}


def earlier_name_hint(name: str) -> str:
    """What to pass for the setting an earlier name (``num_inference_steps``) stands for."""
    return f"{name}: pass {EARLIER_NAMES[name]}="


def read_stored(settings: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Stage-3 settings as any version stored them (``what`` names where: a file), in :class:`EnhanceConfig`'s
    names: an earlier name (:data:`EARLIER_NAMES`) read as the setting's; both names of one setting refused."""
    read: dict[str, Any] = {}
    for name, value in settings.items():
        current = EARLIER_NAMES.get(name, name)
        if current in read:
            earlier = next(k for k, v in EARLIER_NAMES.items() if v == current)
            raise ValueError(
                f"{what} gives the setting {current} twice, as {current} and as {earlier} (its earlier name); "
                "keep one"
            )
        read[current] = value
    return read


def stored_form(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` under the names earlier versions stored, in the same order, so that what this version
    stores every version reads: a refiner folder's ``streamt2v_enhance`` (and the model card quoting it), a
    generate run's ``config.json``, and what a stage-3 state's key hashes (a state saved by an earlier
    version is continued: its key is unchanged)."""
    earlier = {v: k for k, v in EARLIER_NAMES.items()}
    return {earlier.get(name, name): value for name, value in settings.items()}


@dataclass(frozen=True)
class EnhanceConfig:
    """Stage-3 settings; defaults follow the paper / official release (official-facts §1.5 stage 3). The
    sampler's settings are named as :class:`~streamt2v.pipeline.stream.StreamConfig` names stage 2's
    (``steps``, ``guidance``); diffusers' names (``num_inference_steps``, ``guidance_scale``, this class's
    before) are refused, naming ours."""

    chunk_frames: int = 24  # F
    overlap: int = 8  # O
    mode: str = "randomized"  # "independent" | "shared-noise" | "randomized" (Fig. 4 a/b/c)
    blend: str = "latents"  # "latents": x_{t-1} after each step (paper); "x0": x0 predictions (official)
    start_step: int = 600  # SDEdit start t' of 1000 training steps (official: t = 599)
    steps: int = 30
    scheduler: str = "dpmpp-2m-sde"  # a name of streamt2v.sampling.schedulers.make_scheduler
    timestep_spacing: str = "trailing"
    guidance: float = 7.5  # classifier-free guidance scale; 1 = off
    guidance_rescale: float = 0.0  # official: 0.2
    negative_prompt: str = ""
    max_batch_chunks: int = 8  # memory cap: chunks per UNet forward (each with its CFG pair)
    resolution: tuple[int, int] | None = None  # (H, W) canvas; None = the refiner's own frame size
    pad_to_aspect: bool = False  # fit the frame inside the canvas, pad with black, crop back at the end
    decode_frames_per_slice: int = 8
    fps: float | None = None  # output fps for the CLI; None = the input's

    def __new__(cls, *args: Any, **kwargs: Any) -> EnhanceConfig:
        # a TypeError naming ours, where the generated __init__ said "unexpected keyword argument"
        earlier = [name for name in kwargs if name in EARLIER_NAMES]
        if earlier:
            raise TypeError(
                "EnhanceConfig takes the sampler's settings by StreamConfig's names, not diffusers' "
                f"({'; '.join(map(earlier_name_hint, earlier))})"
            )
        return super().__new__(cls)

    def __post_init__(self) -> None:
        try:
            self._check()
        except ValueError as err:  # an EnhanceSettingError: each command names the settings as its flags
            raise err if isinstance(err, EnhanceSettingError) else EnhanceSettingError(str(err)) from None

    def _check(self) -> None:
        from streamt2v.pipeline.chunking import check_chunk_frames
        from streamt2v.sampling.schedulers import SCHEDULER_NAMES, TIMESTEP_SPACINGS
        from streamt2v.typed_values import shown_number, type_fields

        if self.fps is not None:
            from streamt2v.io.frame_rates import check_fps

            object.__setattr__(self, "fps", check_fps(self.fps))
        if self.resolution is not None:
            res = self.resolution
            if (
                not isinstance(res, (tuple, list))
                or len(res) != 2
                or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in res)
                or min(res) < 1
            ):
                raise ValueError(f"resolution must be (H, W) with positive integer sizes, got {res!r}")
            if max(res) > MAX_RESOLUTION_SIDE:  # before the model is loaded and the video read
                raise ValueError(
                    f"resolution must be at most {MAX_RESOLUTION_SIDE} pixels a side, got {res[0]}x{res[1]}"
                )
            object.__setattr__(self, "resolution", (int(res[0]), int(res[1])))  # a JSON list -> a tuple
        # The type checks, after fps's and resolution's own (which say their range and form): the settings
        # also come from JSON (a generate run's config.json, a refiner's model_index.json), where 16.0 or true
        # would otherwise fail, or be truncated, at the first use.
        type_fields(self)
        if self.overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {shown_number(self.overlap)}")
        if self.chunk_frames <= self.overlap:
            raise ValueError(
                f"chunk_frames ({shown_number(self.chunk_frames)}) must be larger than overlap "
                f"({shown_number(self.overlap)})"
            )
        check_chunk_frames(self.chunk_frames)  # a window's frames are denoised at once too
        if self.mode not in BLEND_MODES:
            raise ValueError(
                f"unknown enhancement mode {self.mode!r}; choose one of {', '.join(BLEND_MODES)}"
            )
        if self.blend not in BLEND_TARGETS:
            raise ValueError(f"unknown blend target {self.blend!r}; choose one of {', '.join(BLEND_TARGETS)}")
        if self.scheduler not in SCHEDULER_NAMES:
            raise ValueError(
                f"unknown scheduler {self.scheduler!r}; choose one of {', '.join(SCHEDULER_NAMES)}"
            )
        if self.timestep_spacing not in TIMESTEP_SPACINGS:
            raise ValueError(
                f"unknown timestep_spacing {self.timestep_spacing!r}; "
                f"choose one of {', '.join(TIMESTEP_SPACINGS)}"
            )
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {shown_number(self.steps)}")
        if self.start_step < 1:
            raise ValueError(f"start_step must be >= 1, got {shown_number(self.start_step)}")
        # sdedit_timesteps runs distinct timesteps below start_step; the upper bound of start_step is the
        # refiner's num_train_timesteps, checked by check_start_step once its scheduler config is known
        if self.steps > self.start_step:
            raise ValueError(
                f"steps ({shown_number(self.steps)}) must be <= start_step "
                f"({shown_number(self.start_step)}): SDEdit runs distinct timesteps below the start step"
            )
        if self.max_batch_chunks < 1:
            raise ValueError(f"max_batch_chunks must be >= 1, got {self.max_batch_chunks}")
        if self.guidance < 1.0:
            raise ValueError(f"guidance must be >= 1, got {self.guidance}")
        if not 0.0 <= self.guidance_rescale <= 1.0:
            raise ValueError(f"guidance_rescale must be in [0, 1], got {self.guidance_rescale}")
        if self.decode_frames_per_slice < 1:
            raise ValueError(f"decode_frames_per_slice must be >= 1, got {self.decode_frames_per_slice}")


def check_resolution(config: EnhanceConfig, vae_scale_factor: int) -> None:
    """An :class:`EnhanceSettingError` naming ``resolution`` unless both its sides are multiples of the
    refiner's VAE scale factor (its latents have a pixel per ``vae_scale_factor`` pixels); checked before the
    video is read, by :func:`~streamt2v.pipeline.refiner.checked_config` from the folder's VAE config."""
    res = config.resolution
    if res is not None and (res[0] % vae_scale_factor or res[1] % vae_scale_factor):
        f = vae_scale_factor
        near = f"{max(f, round(res[0] / f) * f)}x{max(f, round(res[1] / f) * f)}"
        raise EnhanceSettingError(
            f"resolution {res[0]}x{res[1]} (HxW) must have sides divisible by {f}, the refiner VAE's scale "
            f"factor (e.g. {near})"
        )


def settings_given_as_keywords(
    settings: Mapping[str, Any],
    config: EnhanceConfig | None,
    parameters: Iterable[str],
    caller: str = "enhance_video",
) -> TypeError:
    """The refusal of keyword arguments ``settings`` that :func:`~streamt2v.pipeline.enhance.enhance_video`
    (whose own ``parameters`` these are; ``caller``: the function called, which passes them on) does not take:
    the settings go in its ``config`` (the one given, else the refiner's,
    :meth:`~streamt2v.pipeline.refiner.Refiner.config`), an earlier name (``num_inference_steps``) as ours;
    a stages-1-2 setting (``num_frames``) is said to be ``pipe(...)``'s; any other name is named as unknown,
    with a close one where there is one (``stepz (steps?)``). Python reported 'unexpected keyword argument',
    where ``pipe(...)`` takes its settings as keywords."""
    from streamt2v.pipeline.stream_config import StreamConfig
    from streamt2v.typed_values import holds_long_integer, shown_value
    from streamt2v.wording import singular_or_plural, unknown_names

    known = [f.name for f in fields(EnhanceConfig)]
    unknown = [name for name in settings if EARLIER_NAMES.get(name, name) not in known]
    if unknown:
        stages12 = {f.name for f in fields(StreamConfig)}.intersection(unknown)
        # a stages-1-2 setting is told whose it is: a close name of ours (num_frames: on_frames?) would mislead
        named = [f"{name} (a pipe(...) setting, of stages 1-2)" for name in sorted(stages12)]
        named += unknown_names(set(unknown) - stages12, [*parameters, *known])
        noun = singular_or_plural(len(named), "argument")
        return TypeError(f"{caller}() got unknown keyword {noun}: {', '.join(named)}")
    spellings: dict[str, list[str]] = {}
    for key in settings:
        spellings.setdefault(EARLIER_NAMES.get(key, key), []).append(key)
    twice = {name: keys for name, keys in spellings.items() if len(keys) > 1}
    if twice:  # the advice would hold one keyword twice (refiner.config(steps=5, steps=3)), no Python
        named = "; ".join(
            f"{name} as {' and as '.join(f'{key}=' for key in keys)}" for name, keys in twice.items()
        )
        where = "dataclasses.replace(config, ...)" if config is not None else "refiner.config(...)"
        return TypeError(
            f"{caller}() got the stage-3 {singular_or_plural(len(twice), 'setting')} {named}: give "
            f"{'it' if len(twice) == 1 else 'each'} once, under its name, in config={where}"
        )
    code, notes = [], []
    for key, value in settings.items():
        name, shown = EARLIER_NAMES.get(key, key), shown_value(value)
        if holds_long_integer(value):
            # the code is Python to run: an integer counted in words is a placeholder there, said beside it
            code.append(f"{name}={name.upper()}")
            notes.append(f"{name.upper()} for {name}, given as {shown}")
        else:
            code.append(f"{name}={shown}")
    given = ", ".join(code)
    notes += [earlier_name_hint(name) for name in settings if name in EARLIER_NAMES]
    to = f"dataclasses.replace(config, {given})" if config is not None else f"refiner.config({given})"
    return TypeError(
        f"{caller}() takes the stage-3 settings in config=, an EnhanceConfig: pass config={to}"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
