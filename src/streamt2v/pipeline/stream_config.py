"""The sampling settings of stages 1–2 (:class:`StreamConfig`) and the official release's values of those a
caller leaves to the model (:data:`OFFICIAL_SAMPLING`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from streamt2v.pipeline.chunking import MAX_CHUNK_FRAMES, check_chunk_frames, validate_sizes
from streamt2v.pipeline.setting_checks import SettingError, check_seed
from streamt2v.sampling.noise import check_correlation
from streamt2v.sampling.schedulers import SCHEDULER_NAMES
from streamt2v.typed_values import is_long_integer, shown_number, type_fields

# The chunk plan is built up front (one small record per chunk); a million frames is ~35 hours of video at
# 8 fps and a plan of ~125,000 chunks, far past any run, while a typo like 10**9 would exhaust memory.
MAX_FRAMES = 1_000_000


# The official release's sampling settings: what a setting left None takes where the model recommends none
# (a model folder's sampler may set any of them: assemble model --sampler).
OFFICIAL_SAMPLING: dict[str, Any] = {
    "steps": 50,
    "guidance": 7.5,
    "scheduler": "ddim",
    "eta": 1.0,
    "init_steps": 50,
    "init_guidance": 9.0,
    "init_scheduler": "dpm-multistep",
    "init_eta": 0.0,
    "guidance_rescale": 0.0,
    "init_guidance_rescale": 0.0,
    "noise_correlation": 0.0,
    "init_noise_correlation": 0.0,
    "cond_replacement": False,
    "anchor_colour_match": 0.0,
    "chunk_strength": 1.0,
    "chunk_frames": 16,
    "cond_frames": 8,
    "reanchor": False,
}


@dataclass(frozen=True)
class StreamConfig:
    """Sampling settings of stages 1–2 (stage 1 makes the first chunk, stage 2 each streaming chunk after it).

    A sampling setting left None takes the model's recommended value for its weights (``model.sampler``, a
    model folder's ``streamt2v.sampler``), else the official release's (:data:`OFFICIAL_SAMPLING`), when the
    video is made (:meth:`resolved`), as ``pipe(...)`` and the command line do; a value given always wins.

    - ``num_frames``: the video's length; ``seed``: every chunk's noise comes from (seed, chunk index);
      ``negative_prompt``: the unconditional branch of classifier-free guidance.
    - ``steps`` / ``init_steps``: denoising steps per chunk (official 50 / 50); ``guidance`` /
      ``init_guidance``: classifier-free guidance scale (7.5 / 9; 1 = unguided); ``scheduler`` /
      ``init_scheduler``: ``ddim``, ``dpm-multistep``, ... (ddim / dpm-multistep); ``eta`` / ``init_eta``:
      DDIM's η, 0 deterministic, 1 DDPM-like (1 / 0; other schedulers ignore it).
    - ``guidance_rescale`` / ``init_guidance_rescale``: the guided output's std pulled back towards the
      conditional one's (Lin et al. 2023, §3.4), 0 = off; ``noise_correlation`` /
      ``init_noise_correlation``: correlation of a chunk's initial noise across its frames, 0 = independent.
    - Stage 2 only: ``cond_replacement`` (hold the conditioning frames' latents at every step, Ho et al.
      2022), ``anchor_colour_match`` (0..1, colour-match chunks to the anchor frame), ``chunk_strength``
      (SDEdit strength of a chunk's start, 1 = pure noise); all off in the official release.
    - ``chunk_frames`` / ``cond_frames``: frames per chunk (``F``) and conditioning frames the CAM sees
      (``F_cond``; official 16 / 8, a model whose CAM takes other counts recommends its own); ``reanchor``: a
      prompt change moves the APM anchor to its chunk (False).
    """

    num_frames: int
    seed: int = 33
    negative_prompt: str = ""
    steps: int | None = None  # stage 2
    guidance: float | None = None  # stage 2
    scheduler: str | None = None  # stage 2
    eta: float | None = None  # stage 2 (DDIM η: 0 deterministic, 1 DDPM-like; schedulers without η ignore it)
    init_steps: int | None = None  # stage 1
    init_guidance: float | None = None  # stage 1
    init_scheduler: str | None = None  # stage 1
    init_eta: float | None = None  # stage 1 (DDIM η; the official stage-1 DPM-Solver has none)
    # Guidance rescale (Lin et al. 2023, §3.4): the guided output's std pulled back towards the
    # conditional output's, for zero-terminal-SNR models that over-saturate under strong guidance.
    # 0 = plain classifier-free guidance as in the official release; only acts where guidance != 1.
    guidance_rescale: float | None = None  # stage 2
    init_guidance_rescale: float | None = None  # stage 1
    # Correlation of the initial noise across a chunk's frames (sampling/noise.py; PYoCo's mixed noise
    # prior): 0 = independent frames as in the official release; match what the UNet was trained with.
    noise_correlation: float | None = None  # stage 2
    init_noise_correlation: float | None = None  # stage 1
    chunk_frames: int | None = None
    cond_frames: int | None = None
    reanchor: bool | None = None
    # Stage 2: hold the chunk's first F_cond latents at the noised latents of the conditioning frames at
    # every step (sampling.KnownFrames, Ho et al. 2022's replacement method) on top of the CAM, so the new
    # frames continue the real frames rather than the model's regeneration of them. Not in the official
    # release (False there); see MODEL_CARD.md for what it does on the microworld models.
    cond_replacement: bool | None = None
    # Stage 2: blend each new chunk under the anchor's prompt towards its CIELAB histograms matched to the
    # anchor frame's (pipeline/colour.py), so colour shifts do not compound from chunk to chunk; 0 = off
    # (the official release), 1 = fully matched. See MODEL_CARD.md for what it does on the microworld models.
    anchor_colour_match: float | None = None
    # Stage 2: SDEdit strength of each chunk's start. 1 = pure noise (the official release); below 1 the
    # chunk starts from its conditioning frames' latents, the new frames' slots holding the last one's,
    # noised to that fraction of the schedule (:func:`continuation_latents`), so objects and colours
    # carry over at the cost of slower motion. See MODEL_CARD.md for what it does on the microworld models.
    chunk_strength: float | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> StreamConfig:
        # other pipelines' names (num_inference_steps) are pointed to ours, as pipe.stream(...) does
        unknown = sorted(set(kwargs) - {f.name for f in fields(cls)})
        if unknown:
            from streamt2v.pipeline.option_hints import unknown_options_message

            raise TypeError(unknown_options_message(unknown))
        return super().__new__(cls)

    def resolved(self, recommended: Mapping[str, Any] | None = None) -> StreamConfig:
        """This config with every sampling setting left None set: ``recommended``'s value (a model's
        ``sampler``), else the official release's. The settings given are kept."""
        recommended = recommended or {}
        unset = {
            name: recommended.get(name, official)
            for name, official in OFFICIAL_SAMPLING.items()
            if getattr(self, name) is None
        }
        return replace(self, **unset) if unset else self

    def __post_init__(self) -> None:
        try:
            self._check()
        except ValueError as err:  # a SettingError: the command line shows the settings as its flags
            raise err if isinstance(err, SettingError) else SettingError(str(err)) from None

    def _setting(self, name: str) -> Any:
        """A setting's value, the official one where it is left None (checked as the model's may be)."""
        value = getattr(self, name)
        return OFFICIAL_SAMPLING[name] if value is None and name in OFFICIAL_SAMPLING else value

    def _check(self) -> None:
        # the seed first, before type_fields: its refusal says the range, and tells a torch.Generator how to
        # pass its seed (as from_preset(seed=) does), where type_fields would only say "must be an integer"
        check_seed(self.seed)
        type_fields(self)  # a wrong type fails here naming the setting, not inside a scheduler or torch.randn
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be an integer >= 1, got {shown_number(self.num_frames)}")
        if self.num_frames > MAX_FRAMES:
            raise ValueError(
                f"num_frames must be at most {MAX_FRAMES:,} (the chunk plan is built up front), got "
                f"{_shown_count(self.num_frames)}"
            )
        for name in ("steps", "init_steps"):
            if self._setting(name) < 1:
                raise ValueError(f"{name} must be >= 1, got {shown_number(self._setting(name))}")
        for name in ("guidance", "init_guidance"):
            if self._setting(name) < 0:
                raise ValueError(f"{name} must be >= 0, got {self._setting(name)}")
        for name in ("eta", "init_eta"):  # DDIM's η: 0 deterministic, 1 DDPM; above 1 its variance is NaN
            if not 0.0 <= self._setting(name) <= 1.0:
                raise ValueError(
                    f"{name} must be in [0, 1] (0 = deterministic DDIM), got {self._setting(name)}"
                )
        for name in ("guidance_rescale", "init_guidance_rescale", "anchor_colour_match"):
            value = self._setting(name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1] (0 = off), got {value}")
        strength = self._setting("chunk_strength")
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"chunk_strength must be in (0, 1] (1 = pure noise), got {strength}")
        for name in ("reanchor", "cond_replacement"):
            if not isinstance(self._setting(name), bool):
                raise ValueError(f"{name} must be True or False, got {self._setting(name)!r}")
        for name in ("noise_correlation", "init_noise_correlation"):
            check_correlation(self._setting(name), name)
        for name in ("scheduler", "init_scheduler"):
            if self._setting(name) not in SCHEDULER_NAMES:
                raise ValueError(
                    f"unknown {name} {self._setting(name)!r}; choose one of {', '.join(SCHEDULER_NAMES)}"
                )
        if self.cond_frames is not None and self.cond_frames < 1:
            raise ValueError(f"cond_frames must be >= 1, got {shown_number(self.cond_frames)}")
        if (
            self.chunk_frames is None
            and self.cond_frames is not None
            and self.cond_frames >= MAX_CHUNK_FRAMES
        ):
            # too many whatever chunk_frames the model's is: said before a hub id's download
            raise ValueError(
                f"cond_frames must be less than {MAX_CHUNK_FRAMES}, got {shown_number(self.cond_frames)}: a "
                f"chunk holds at most {MAX_CHUNK_FRAMES} frames, its conditioning ones and at least one new one"
            )
        # a chunk holds at least one conditioning frame and one new one, whatever cond_frames the model's is
        if self.chunk_frames is not None and self.chunk_frames < 2:
            raise ValueError(f"chunk_frames must be >= 2, got {shown_number(self.chunk_frames)}")
        if self.chunk_frames is not None:
            check_chunk_frames(self.chunk_frames)
        if None not in (self.chunk_frames, self.cond_frames):  # else once the model's value is known
            validate_sizes(self.chunk_frames, self.cond_frames)


def _shown_count(count: int) -> str:
    """A frame count above :data:`MAX_FRAMES` as its refusal shows it: with thousands separators, or in words
    where its digits are too many to read (:func:`~streamt2v.typed_values.shown_number`)."""
    return shown_number(count) if is_long_integer(count) else f"{count:,}"
