"""Stages 1–2 of StreamingT2V as a generator of finished chunks (paper §4, Fig. 2). No I/O, no UI.

- Stage 1 (initialization, §4): the first ``F`` frames from the base text-to-video UNet (default
  DPM-Solver++ multistep, 50 steps, guidance 9.0 in the official release) — or a given prefix: an input image
  (anchor and first frame) or video (extend mode).
- Stage 2 (streaming, §4.1–4.2): each next chunk of ``F`` frames from the streaming UNet with the CAM on the
  last ``F_cond`` decoded RGB frames of the video so far and the APM anchored on frame 0 (default DDIM 50
  steps, η = 1, guidance 7.5). Classifier-free guidance: the unconditional branch gets the negative prompt
  and the APM tokens of an all-zero image; the CAM sees the real frames in both branches (§10.1). The first
  ``F_cond`` frames of each chunk regenerate the conditioning frames and are dropped.

Every chunk's noise (initial latents and the scheduler's stochastic steps) comes from a CPU generator seeded
with ``chunk_seed(seed, index)`` (DESIGN §4), so a seed gives the same video on any device and a run resumed
from its saved state reproduces the uninterrupted one. Finished chunks are moved to the CPU; the device holds
only the current chunk, the CAM's conditioning frames and the anchor, so its memory does not grow with length.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from streamt2v.memory import dtype_name, supported_dtypes
from streamt2v.pipeline.chunking import (
    ChunkSpec,
    chunk_seed,
    cond_frame_indices,
    plan_chunks,
)
from streamt2v.pipeline.colour import match_colours
from streamt2v.pipeline.prompts import (
    PromptSchedule,
    as_schedule,
    nearby_starts,
    reanchor_starts,
    unused_entries,
    warn_unread_prompts,
)
from streamt2v.pipeline.setting_checks import check_cam_frames
from streamt2v.pipeline.step_counts import check_step_counts, stage2_start_step
from streamt2v.pipeline.stream_config import StreamConfig
from streamt2v.pipeline.stream_inputs import check_frames
from streamt2v.sampling.noise import frame_correlated_noise
from streamt2v.sampling.schedulers import (
    KnownFrames,
    check_finite_latents,
    make_scheduler,
    sample_loop,
)
from streamt2v.wording import counted

if TYPE_CHECKING:
    from streamt2v.models.bundle import StreamingT2VModel

logger = logging.getLogger(__name__)

StepCallback = Callable[[int, int, int], None]  # (chunk index, step done, steps in chunk)


@dataclass
class Chunk:
    """One finished chunk: its new frames ``(1, 3, n, H, W)`` (CPU, float32, [-1, 1]) = output frames
    ``start:stop``; ``stage`` 0 = given prefix, 1 = initialization, 2 = streaming. ``tail`` / ``anchor`` /
    ``anchor_prompt`` are the state after this chunk (what resuming needs)."""

    index: int
    num_chunks: int
    stage: int
    start: int
    stop: int
    prompt: str
    frames: torch.Tensor
    tail: torch.Tensor
    anchor: torch.Tensor
    anchor_prompt: str


@dataclass
class StreamState:
    """Where to continue: the next chunk index, the last ``F_cond`` frames and the anchor (CPU tensors)."""

    next_chunk: int
    tail: torch.Tensor  # (1, 3, <=F_cond, H, W)
    anchor: torch.Tensor  # (1, 3, 1, H, W)
    anchor_prompt: str  # the anchor's, as the schedule holds it: chunks under it are colour-matched


def _module_device_dtype(module: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(module.parameters())
    return p.device, p.dtype


class _Sampler:
    """Model evaluation for one stream: cached text / image embeddings, one method per stage."""

    def __init__(self, model: StreamingT2VModel, config: StreamConfig, on_step: StepCallback | None) -> None:
        self.model, self.config, self.on_step = model, config, on_step
        self.device, self.dtype = _module_device_dtype(model.unet)
        self._text: dict[str, torch.Tensor] = {}
        self._zero_tokens: torch.Tensor | None = None
        self._anchor_key: torch.Tensor | None = None
        self._anchor_tokens: torch.Tensor | None = None

    def text(self, prompt: str) -> torch.Tensor:
        if prompt not in self._text:
            self._text[prompt] = self.model.text_encoder.encode([prompt]).to(self.device, self.dtype)
        return self._text[prompt]

    def anchor_tokens(self, anchor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """APM tokens of the anchor and of an all-zero image (the unconditional branch, §10.1)."""
        enc, unet = self.model.image_encoder, self.model.unet
        if self._zero_tokens is None:
            zero = torch.zeros_like(anchor[:, :, 0])
            self._zero_tokens = unet.image_tokens(enc.encode(zero.to(self.device)).to(self.dtype))
        if self._anchor_key is None or not torch.equal(self._anchor_key, anchor):
            self._anchor_key = anchor.clone()
            self._anchor_tokens = unet.image_tokens(
                enc.encode(anchor[:, :, 0].to(self.device)).to(self.dtype)
            )
        return self._anchor_tokens, self._zero_tokens

    def _noise(self, index: int, frames: int, correlation: float) -> tuple[torch.Tensor, torch.Generator]:
        c = self.model.unet.base.config.in_channels
        h = self.model.config.latent_size
        gen = torch.Generator(device="cpu").manual_seed(chunk_seed(self.config.seed, index))
        noise = frame_correlated_noise((1, c, frames, h, h), correlation, generator=gen)
        return noise.to(self.device, self.dtype), gen

    def _denoiser(self, scheduler: Any) -> Any:
        from streamt2v.models.denoiser import Denoiser

        return Denoiser.from_scheduler(scheduler)

    def _progress(self, index: int) -> Callable[[int, int], None] | None:
        if self.on_step is None:
            return None
        return lambda i, n: self.on_step(index, i, n)

    @torch.no_grad()
    def stage1(self, spec: ChunkSpec, prompt: str) -> torch.Tensor:
        """Initialization chunk (§4): base T2V UNet, ``F`` frames → decoded kept frames (1, 3, n, H, W)."""
        cfg, model = self.config, self.model
        if model.init_unet is None:
            raise ValueError(NO_STAGE1)
        sched = make_scheduler(cfg.init_scheduler, model.scheduler_config)
        den = self._denoiser(sched)
        noise, gen = self._noise(spec.index, cfg.chunk_frames, cfg.init_noise_correlation)
        cond = {"encoder_hidden_states": self.text(prompt)}
        uncond = {"encoder_hidden_states": self.text(cfg.negative_prompt)}

        def unet_fn(x: torch.Tensor, t: torch.Tensor, **kw: Any) -> torch.Tensor:
            return model.init_unet(x, t, **kw).sample

        def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return den.guided_output(
                unet_fn, x, t, cond, uncond, cfg.init_guidance, cfg.init_guidance_rescale
            )

        lat = sample_loop(
            sched,
            noise,
            model_fn,
            num_steps=cfg.init_steps,
            eta=cfg.init_eta,
            generator=gen,
            callback=self._progress(spec.index),
        )
        check_finite_latents(
            lat, f"stage 1, chunk {spec.index + 1} (frames {spec.start}-{spec.stop - 1})", self.dtype
        )
        return model.vae.decode(lat[:, :, : spec.num_new])

    @torch.no_grad()
    def stage2(
        self, spec: ChunkSpec, prompt: str, cond_frames: torch.Tensor, anchor: torch.Tensor
    ) -> torch.Tensor:
        """Streaming chunk (§4.1 CAM, §4.2 APM): ``F`` frames, the first ``F_cond`` dropped; untrimmed."""
        cfg, model = self.config, self.model
        sched = make_scheduler(cfg.scheduler, model.scheduler_config)
        den = self._denoiser(sched)
        noise, gen = self._noise(spec.index, cfg.chunk_frames, cfg.noise_correlation)
        tok_c, tok_u = self.anchor_tokens(anchor)
        cond = {"text_embeds": self.text(prompt), "image_tokens": tok_c}
        uncond = {"text_embeds": self.text(cfg.negative_prompt), "image_tokens": tok_u}
        shared = {"cond_frames": cond_frames.to(self.device, self.dtype)}

        def model_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return den.guided_output(
                model.unet, x, t, cond, uncond, cfg.guidance, cfg.guidance_rescale, shared_kwargs=shared
            )

        known, start = None, {}
        if cfg.cond_replacement or cfg.chunk_strength < 1:
            z = model.vae.encode(cond_frames.to(model.vae.device)).to(self.device, self.dtype)
            if cfg.cond_replacement:  # the chunk's first F_cond slots regenerate the conditioning frames
                known = KnownFrames(z, noise[:, :, : z.shape[2]])
            if cfg.chunk_strength < 1:
                start_step = stage2_start_step(cfg, int(sched.config.num_train_timesteps))
                start = {"start_latents": continuation_latents(z, cfg.chunk_frames), "start_step": start_step}
        lat = sample_loop(
            sched,
            noise,
            model_fn,
            num_steps=cfg.steps,
            eta=cfg.eta,
            generator=gen,
            callback=self._progress(spec.index),
            known=known,
            **start,
        )
        check_finite_latents(
            lat, f"stage 2, chunk {spec.index + 1} (frames {spec.start}-{spec.stop - 1})", self.dtype
        )
        return model.vae.decode(lat[:, :, spec.keep_offset :])


NO_STAGE1 = (
    "this model has no stage-1 (init_unet) weights: text-only generation is impossible; "
    "start from --init-image or --init-video, or give the folder a stage-1 UNet (`streamt2v convert ... "
    "--init-unet MODELSCOPE_FOLDER`, or `streamt2v assemble model ... --init-unet RUN/final/unet`)"
)


def continuation_latents(cond_latents: torch.Tensor, chunk_frames: int) -> torch.Tensor:
    """A chunk's SDEdit start (``StreamConfig.chunk_strength``): the conditioning frames' latents
    ``(B, c, F_cond, h, w)`` in the chunk's first slots, the last of them repeated in the new frames' slots;
    ``(B, c, chunk_frames, h, w)``."""
    n = cond_latents.shape[2]
    if not 0 < n < chunk_frames:
        raise ValueError(f"{n} conditioning latents do not leave new frames in a {chunk_frames}-frame chunk")
    last = cond_latents[:, :, -1:].expand(-1, -1, chunk_frames - n, -1, -1)
    return torch.cat([cond_latents, last], dim=2)


def _check_resume(state: StreamState, num_chunks: int, cond_frames: int, size: int) -> None:
    """Refuse a :class:`StreamState` that does not fit this plan and model (it normally comes from a run)."""
    if not isinstance(state, StreamState):
        raise TypeError(f"resume must be a StreamState, got {type(state).__name__}")
    if not isinstance(state.next_chunk, int) or not 0 < state.next_chunk <= num_chunks:
        raise ValueError(
            f"cannot resume at chunk {state.next_chunk!r}: the plan has {counted(num_chunks, 'chunk')}"
        )
    for name, frames, most in (("tail", state.tail, cond_frames), ("anchor", state.anchor, 1)):
        shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else None
        if shape is None or len(shape) != 5 or shape[:2] != (1, 3) or not 1 <= shape[2] <= most:
            raise ValueError(f"resume state {name} must be a (1, 3, 1..{most}, H, W) tensor, got {shape}")
        if shape[-2:] != (size, size):
            raise ValueError(f"resume state {name} is {shape[-1]}x{shape[-2]}; the model makes {size}x{size}")
    if not isinstance(state.anchor_prompt, str):
        raise ValueError(f"resume state anchor_prompt must be a string, got {state.anchor_prompt!r}")


def _check_model(model: StreamingT2VModel, config: StreamConfig) -> None:
    """Refuse a model that cannot sample ``config``: one without weights, in a dtype its device runs very
    slowly or not at all, or whose CAM takes another number of conditioning frames."""
    if model.device.type == "meta":  # from_preset(device="meta"): torch failed inside the first UNet call
        raise ValueError(
            "the model is on the meta device (shapes only, no weights) and cannot sample: load one with "
            "StreamingT2VModel.from_pretrained(...), or from_preset(..., device='cpu') for random weights"
        )
    if model.dtype not in supported_dtypes(model.device):
        # from_pretrained(torch_dtype=torch.float16) without a device, as diffusers users load before
        # .to("cuda"): on the CPU half precision runs ~8x slower, silently (model.to refuses it there)
        allowed = [dtype_name(d) for d in supported_dtypes(model.device)]
        raise ValueError(
            f"the model is {dtype_name(model.dtype)} on {model.device}, which runs it very slowly or not at "
            f"all: move it first, to a GPU (model.to('cuda')) or to one of {allowed} (model.to(torch.float32))"
        )
    check_cam_frames(config.cond_frames, model.num_cond_frames)


def stream(
    model: StreamingT2VModel,
    prompt: str | PromptSchedule,
    config: StreamConfig,
    *,
    init_video: torch.Tensor | None = None,
    init_image: torch.Tensor | None = None,
    anchor_image: torch.Tensor | None = None,
    resume: StreamState | None = None,
    on_step: StepCallback | None = None,
) -> Iterator[Chunk]:
    """Yield the chunks of a ``config.num_frames``-frame video, in order (paper §4, Fig. 2).

    ``prompt``: a prompt or a :class:`PromptSchedule` (each chunk uses the prompt at its first new frame).
    ``init_image`` ``(1, 3, H, W)`` or ``init_video`` ``(1, 3, L, H, W)`` in ``[-1, 1]``: a given prefix
    (chunk 0, yielded unchanged; resized to the model's size with a warning); the anchor is its first frame
    unless ``anchor_image`` is given. ``resume``: continue from a saved :class:`StreamState` (the prefix
    inputs must then be the same as in the original run so the plan matches). ``on_step(chunk, step, n)``
    is called after every denoising step. The model must already be on its device and dtype.

    Every input is checked when ``stream`` is called (bad settings raise at once, before any chunk is
    sampled); the chunks are made as the returned iterator is consumed.
    """
    config = config.resolved(model.sampler)  # the settings left None: the model's recommended ones
    schedule = as_schedule(prompt)
    schedule.validate(config.num_frames)
    if on_step is not None and not callable(on_step):
        raise TypeError(
            f"on_step must be a function on_step(chunk, step, steps) or None, got {type(on_step).__name__}"
        )
    if init_video is not None and init_image is not None:
        raise ValueError("give either init_video or init_image, not both")
    _check_model(model, config)
    size = model.config.frame_size
    prefix: torch.Tensor | None = None
    if init_image is not None:
        prefix = check_frames("init_image", init_image, size, image=True)
    elif init_video is not None:
        prefix = check_frames("init_video", init_video, size)
    anchor0: torch.Tensor | None = None
    if anchor_image is not None:
        anchor0 = check_frames("anchor_image", anchor_image, size, image=True)
    elif prefix is not None:
        anchor0 = prefix[:, :, :1].clone()

    plan = plan_chunks(
        config.num_frames,
        chunk_frames=config.chunk_frames,
        cond_frames=config.cond_frames,
        prefix_frames=0 if prefix is None else prefix.shape[2],
    )
    if anchor_image is not None and not any(spec.stage == 2 for spec in plan):
        logger.warning(
            "anchor_image is not used: the APM anchor conditions streaming chunks only, and a %d-frame video "
            "is one stage-1 chunk (videos of more than %d frames use it)",
            config.num_frames,
            config.chunk_frames,
        )
    check_step_counts(config, plan, int(model.scheduler_config.get("num_train_timesteps", 1000)))
    if model.init_unet is None and any(
        spec.stage == 1 for spec in plan[resume.next_chunk if resume else 0 :]
    ):
        raise ValueError(NO_STAGE1)
    warn_unread_prompts(model.text_encoder, [text for _, text in schedule.entries] + [config.negative_prompt])
    _warn_unused_prompts(schedule, plan, config)
    _log_plan(plan, schedule, config)
    if config.reanchor and resume is None:
        _warn_if_reanchor_unused(schedule, plan)
    if resume is not None:
        _check_resume(resume, len(plan), config.cond_frames, size)
        if anchor_image is not None and any(spec.stage == 2 for spec in plan):
            logger.warning(
                "anchor_image is not used when resuming: the stream continues with the resume state's anchor "
                "(set StreamState.anchor to change it)"
            )
        tail, anchor, anchor_prompt = resume.tail.clone(), resume.anchor.clone(), resume.anchor_prompt
        first = resume.next_chunk
    else:
        tail, anchor, anchor_prompt = None, anchor0, schedule.prompt_at(0)
        first = 0
    return _chunks(
        model, schedule, config, plan[first:], len(plan), prefix, tail, anchor, anchor_prompt, on_step
    )


def _warn_unused_prompts(schedule: PromptSchedule, plan: Sequence[ChunkSpec], config: StreamConfig) -> None:
    """Warn of each schedule entry no chunk takes (a chunk takes the prompt at its first new frame). Frame 0's,
    under an input, is still the APM anchor's prompt where reanchor or anchor_colour_match compare the
    chunks' prompts with it: said so, not "never used"."""
    starts = [spec.start for spec in plan if spec.stage]  # an input video's frames (stage 0) take no prompt
    compared = [
        name
        for name, on in (
            ("reanchor", config.reanchor),
            ("anchor_colour_match", config.anchor_colour_match > 0),
        )
        if on
    ]
    for frame, text in unused_entries(schedule, starts):
        chunks = "the chunks start at frames" if len(starts) > 1 else "the only chunk starts at frame"
        if frame == 0 and compared and any(spec.stage == 2 for spec in plan):
            # without reanchor the anchor keeps this prompt: colour matching then matches only a chunk whose
            # prompt is the same text (a later entry may repeat it)
            streaming = [schedule.prompt_at(spec.start) for spec in plan if spec.stage == 2]
            none = compared == ["anchor_colour_match"] and text not in streaming
            logger.warning(
                "prompt schedule entry 0: %r is no chunk's prompt: each chunk takes the prompt active at its "
                "first new frame, and %s %s; it is the APM anchor's prompt, which %s compare%s each chunk's "
                "prompt with%s",
                text,
                chunks,
                nearby_starts(starts, frame),
                " and ".join(compared),
                "s" if len(compared) == 1 else "",
                ", so anchor_colour_match matches no chunk" if none else "",
            )
            continue
        logger.warning(
            "prompt schedule entry %d: %r is never used: each chunk takes the prompt active at its first new "
            "frame, and %s %s",
            frame,
            text,
            chunks,
            nearby_starts(starts, frame),
        )


def _warn_if_reanchor_unused(schedule: PromptSchedule, plan: Sequence[ChunkSpec]) -> None:
    """Warn when ``reanchor`` would move the anchor for no chunk: no streaming chunk, or only the last one,
    starts under a new prompt."""
    moves = reanchor_starts(schedule, [spec.start for spec in plan if spec.stage == 2])
    if moves in ([], [plan[-1].start]):
        logger.warning(
            "reanchor is not used: %s (it moves the APM anchor to the first chunk made under a new prompt of a "
            "schedule, e.g. '0: a cat walks; 120: the cat runs', for the chunks after it)",
            f"only the last of the {len(plan)} chunks, at frame {moves[0]}, starts under a new prompt"
            if moves
            else "no streaming chunk starts under a new prompt",
        )


def _log_plan(plan: Sequence[ChunkSpec], schedule: PromptSchedule, config: StreamConfig) -> None:
    """Say what a frame count that does not fill its last chunk makes, and where a schedule entry between
    chunk starts takes effect: both cost or shift frames without an error to say so."""
    last, step = plan[-1], config.chunk_frames - (config.cond_frames if plan[-1].stage == 2 else 0)
    if last.stage and last.num_new < step:
        logger.info(
            "%s: the last chunk, %d, makes %d new frames and keeps %d, so %d frames take as long",
            counted(config.num_frames, "frame"),
            last.index,
            step,
            last.num_new,
            last.start + step,
        )
    starts = [spec.start for spec in plan]
    for frame, text in schedule.entries:
        later = [s for s in starts if s > frame]
        if frame not in starts and later and schedule.prompt_at(later[0]) == text:
            logger.info(
                "prompt schedule entry %d: %r takes effect at frame %d, where the next chunk starts",
                frame,
                text,
                later[0],
            )


def _chunks(
    model: StreamingT2VModel,
    schedule: PromptSchedule,
    config: StreamConfig,
    specs: Sequence[ChunkSpec],
    num_chunks: int,
    prefix: torch.Tensor | None,
    tail: torch.Tensor | None,
    anchor: torch.Tensor | None,
    anchor_prompt: str,
    on_step: StepCallback | None,
) -> Iterator[Chunk]:
    """The chunk loop of :func:`stream` (its inputs already checked)."""
    sampler = _Sampler(model, config, on_step)
    F_cond = config.cond_frames
    # With reanchor, the first streaming chunk under a new prompt gives the next anchor.
    streaming = [spec.start for spec in specs if spec.stage == 2]
    moves = set(reanchor_starts(schedule, streaming, anchor_prompt)) if config.reanchor else set()
    for spec in specs:
        prompt_k = schedule.prompt_at(spec.start)
        reanchoring = spec.start in moves
        if spec.stage == 0:
            frames = prefix
        elif spec.stage == 1:
            frames = sampler.stage1(spec, prompt_k).to("cpu", torch.float32)
        else:
            idx = cond_frame_indices(tail.shape[2], F_cond)
            frames = sampler.stage2(spec, prompt_k, tail[:, :, idx], anchor).to("cpu", torch.float32)
            # Matched before the frames become the next chunk's conditioning, and only under the anchor's
            # prompt: a new prompt's colours were pulled back to the old anchor's (and, re-anchoring, handed on).
            if config.anchor_colour_match > 0 and prompt_k == anchor_prompt:
                frames = match_colours(frames, anchor, config.anchor_colour_match)
            frames = frames[:, :, : spec.num_new]  # after the match: N frames are a longer video's first N
        if anchor is None:  # text-to-video: APM anchor = frame 0 of the video (§4.2)
            anchor = frames[:, :, :1].clone()
        tail = (frames if tail is None else torch.cat([tail, frames], dim=2))[:, :, -F_cond:].clone()
        if reanchoring:
            # Re-anchor on the last frame of the first chunk under the new prompt, from the next chunk on: its
            # first frames still show the old scene (the CAM continues it), which the anchor would keep.
            anchor, anchor_prompt = frames[:, :, -1:].clone(), prompt_k
            if spec.index + 1 < num_chunks:  # the last chunk's new anchor conditions no chunk (warned above)
                logger.info("re-anchoring at frame %d for %r", spec.start + frames.shape[2] - 1, prompt_k)
        # copies: a caller editing a chunk in place must not change the frames the next chunks see
        yield Chunk(
            spec.index,
            num_chunks,
            spec.stage,
            spec.start,
            spec.stop,
            prompt_k,
            frames.clone() if spec.stage == 0 else frames,
            tail.clone(),
            anchor.clone(),
            anchor_prompt,
        )
