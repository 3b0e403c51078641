"""Stage 3: the randomized-blending video enhancer (paper §4.3, eq. 7–8; official-facts §3).

A long low-resolution video is upscaled to the refiner's resolution, encoded, diffused by SDEdit to a
start step ``t'`` (default 600 of 1000) with **one noise tensor for the whole video** (shared noise, eq. 7)
and denoised over overlapping chunks (24 frames, overlap 8). After every denoising step the chunks are
merged by **randomized blending** (eq. 8): a random cut inside each overlap, redrawn every step.

Differences from the official ModelScope code, on purpose (see ``docs/enhance.md``):

* cuts are drawn from ``{0, …, O}`` (paper) instead of ``{0, …, O-1}``;
* the x_{t-1} latents are blended after each scheduler step (paper, StreamingSVD code); blending the x0
  predictions before the step (official ModelScope code) is ``EnhanceConfig(blend="x0")``;
* no frame is dropped (last chunk aligned to the end) and the aspect pad is cropped again;
* all chunks of a step are denoised in batches of up to ``max_batch_chunks`` chunks; the result equals the
  chunk-sequential computation with the same generator up to float rounding (all randomness is drawn per
  step for the whole video, independently of the batching; batched matmuls may round differently).

The core, :func:`enhance_latents`, depends only on a denoise callable, a diffusers scheduler and tensors.
:func:`enhance_video` adds the pixel/VAE/text level with a refiner bundle (video UNet + VAE + text encoder +
scheduler config, :class:`~streamt2v.pipeline.refiner.Refiner`, loadable from a diffusers-format folder).
The settings, :class:`EnhanceConfig`, are :mod:`streamt2v.pipeline.enhance_config`'s; the canvas
(upscaling, padding, encoding, decoding and cropping) is :mod:`streamt2v.pipeline.enhance_canvas`'s, the
chunks' prompts :mod:`streamt2v.pipeline.enhance_prompts`'s.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from streamt2v.models.autoencoder import VideoAutoencoder
from streamt2v.models.denoiser import Denoiser
from streamt2v.pipeline.blending import (
    WindowPlan,
    blend_chunks,
    chunk_noise,
    draw_cuts,
    fixed_cuts,
    plan_windows,
    shared_noise,
    split_chunks,
)
from streamt2v.pipeline.enhance_canvas import (
    EnhanceSetting,
    decoded_slices,
    gather_slices,
    upscale_and_encode,
    warn_if_smaller,
)
from streamt2v.pipeline.enhance_config import (
    EnhanceConfig,
    check_resolution,
    settings_given_as_keywords,
    stored_form,
)
from streamt2v.pipeline.enhance_prompts import chunk_prompts, prompt_schedule, warn_unused_entries
from streamt2v.pipeline.enhance_state import (
    EnhanceProgress,
    EnhanceStateFile,
    restore_scheduler_state,
    scheduler_settings,
    scheduler_state,
    state_key,
)
from streamt2v.pipeline.prompts import (
    PromptSchedule,
    warn_unread_prompts,
)
from streamt2v.pipeline.setting_checks import EnhanceSettingError, check_seed
from streamt2v.pipeline.step_counts import check_start_step
from streamt2v.pipeline.stream_inputs import layout_hint
from streamt2v.progress_bars import progress_bar
from streamt2v.progress_lines import Clock, UnitRate
from streamt2v.sampling.schedulers import check_finite_latents
from streamt2v.sampling.sdedit import sdedit_noise, sdedit_timesteps
from streamt2v.wording import counted

logger = logging.getLogger(__name__)

#: ``denoise_fn(x_in, t, chunks)``: model input ``(k·B, C, F, h, w)`` (already ``scale_model_input``-ed;
#: chunk-major), the timestep and the indices of those ``k`` chunks in the plan → (guided) model output
#: in the scheduler's prediction type, same shape. The indices select per-chunk conditioning (a prompt
#: schedule); a model without any may ignore them.
DenoiseFn = Callable[[torch.Tensor, torch.Tensor, range], torch.Tensor]


# ----------------------------------------------------------------------------------------- the core
def denoise_chunks(
    denoise_fn: DenoiseFn, x: torch.Tensor, t: torch.Tensor, max_batch_chunks: int
) -> torch.Tensor:
    """Run ``denoise_fn`` on chunk stack ``(n, B, C, F, h, w)``, ``max_batch_chunks`` chunks per call."""
    n, b = x.shape[:2]
    outs = []
    for i in range(0, n, max_batch_chunks):
        part = x[i : i + max_batch_chunks]
        k = part.shape[0]
        out = denoise_fn(part.reshape(k * b, *part.shape[2:]), t, range(i, i + k))  # (k B, C, F, h, w)
        outs.append(out.reshape(k, b, *out.shape[1:]))
    return torch.cat(outs, dim=0)


def _step_noise_policy(scheduler: Any) -> str:
    """``"shared"``: the step takes ``variance_noise`` and is stochastic (DPM SDE); ``"generator"``: it
    draws its own noise (DDPM, not shared over overlaps); ``"none"``: deterministic."""
    params = inspect.signature(scheduler.step).parameters
    algo = str(getattr(scheduler.config, "algorithm_type", ""))
    if "variance_noise" in params and algo.startswith("sde"):
        return "shared"
    if "variance_noise" not in params and "generator" in params and "s_churn" not in params:
        return "generator"
    return "none"


def enhance_latents(
    latents: torch.Tensor,
    denoise_fn: DenoiseFn,
    scheduler: Any,
    config: EnhanceConfig,
    *,
    generator: torch.Generator,
    progress: bool = False,
    resume: EnhanceProgress | None = None,
    on_step: Callable[[EnhanceProgress], None] | None = None,
    compute_dtype: torch.dtype | None = None,
    clock: Clock = time.monotonic,
) -> torch.Tensor:
    """SDEdit + chunked denoising with shared noise and randomized blending (paper §4.3, eq. 7–8).

    ``latents``: clean latents ``(B, C, T, h, w)`` of the upscaled video. ``scheduler``: a fresh diffusers
    scheduler (its ``prediction_type`` and ``alphas_cumprod`` are the refiner's). ``generator``: a CPU
    generator from which all noise and all cuts are drawn, in an order that does not depend on
    ``max_batch_chunks``. Returns denoised latents of the same shape.

    ``on_step`` is called after every step with an :class:`EnhanceProgress`; passed back as ``resume`` (same
    latents, settings and denoiser), the run continues from there and gives the same result, bit for bit.
    ``compute_dtype``: the denoiser's dtype, which a NaN's error names (its output reaches here as float32:
    a float16 UNet's overflow would be reported as float32's, without the hint to run in bf16 or fp32).
    ``clock``: the step lines' times (without ``progress``), :func:`time.monotonic` unless a test's.
    """
    if latents.ndim != 5:
        raise ValueError(f"latents must be (B, C, T, h, w), got shape {tuple(latents.shape)}")
    check_start_step(config, scheduler.config)
    device, dtype = latents.device, torch.float32
    latents = latents.to(dtype)
    b, c, t_frames, h, w = latents.shape
    plan = chunk_plan_for(t_frames, config)
    n = len(plan)
    timesteps = sdedit_timesteps(scheduler, config.steps, config.start_step, device=device)
    noise_policy = _step_noise_policy(scheduler)
    if noise_policy == "generator" and config.mode != "independent" and n > 1:
        logger.warning(
            "scheduler %s draws its own step noise: it is not shared across chunk overlaps",
            type(scheduler).__name__,
        )
    randomized = config.mode == "randomized"
    full_state = randomized and config.blend == "x0"
    denoiser = Denoiser.from_scheduler(scheduler) if full_state else None
    # a video of one chunk has no overlap: say so rather than "1 chunk(s) of 1 (overlap 8)"
    chunking = (
        f"in {n} chunks of {plan.chunk_frames} (overlap {plan.overlap}), mode {config.mode}"
        if n > 1
        else "as one chunk"
    )
    logger.info(
        "enhancing %s %s, %s from t=%d (SDEdit start t'=%d)",
        counted(t_frames, "frame"),
        chunking,
        counted(len(timesteps), "step"),
        int(timesteps[0]),
        config.start_step,
    )

    if resume is not None:
        state_shape = latents.shape if full_state else (n * b, c, plan.chunk_frames, h, w)
        if tuple(resume.x.shape) != tuple(state_shape) or not 0 <= resume.steps_done <= len(timesteps):
            raise ValueError(
                f"cannot resume stage 3 from {counted(resume.steps_done, 'step')} of a state shaped "
                f"{tuple(resume.x.shape)}: this run has {counted(len(timesteps), 'step')} and a state {tuple(state_shape)}"
            )
        x = resume.x.to(device=device, dtype=dtype)
        generator.set_state(resume.generator_state)
        restore_scheduler_state(scheduler, resume.scheduler_state, device)
        done = resume.steps_done
        logger.info("stage 3 continues after step %d of %d", done, len(timesteps))
    elif full_state:  # state: the whole video (B, C, T, h, w)
        noise = shared_noise(latents.shape, generator=generator, device=device, dtype=dtype)
        x, done = sdedit_noise(scheduler, latents, noise, timesteps), 0
    else:  # state: the chunk stack (n B, C, F, h, w)
        noise = chunk_noise(latents.shape, plan, config.mode, generator=generator, device=device)
        x0 = split_chunks(latents, plan).flatten(0, 1)
        x, done = sdedit_noise(scheduler, x0, noise.flatten(0, 1), timesteps), 0

    steps = progress_bar(
        timesteps[done:],
        desc="enhance",
        unit="step",
        initial=done,
        total=len(timesteps),
        disable=not progress,
    )
    rate = UnitRate(clock)  # this call's steps: a resumed run's steps before are not timed
    for i, t in enumerate(steps, start=done + 1):
        x_in = scheduler.scale_model_input(x, t)
        if full_state:
            chunks_in = split_chunks(x_in, plan)  # (n, B, C, F, h, w)
            out = denoise_chunks(denoise_fn, chunks_in, t, config.max_batch_chunks).float()
            x0_chunks = denoiser.to_x0(out.flatten(0, 1), chunks_in.flatten(0, 1), t)
            x0_full = blend_chunks(x0_chunks.unflatten(0, (n, b)), plan, draw_cuts(plan, generator=generator))
            model_out = denoiser.from_x0(x0_full, x_in, t)
        else:
            out = denoise_chunks(denoise_fn, x_in.unflatten(0, (n, b)), t, config.max_batch_chunks)
            model_out = out.flatten(0, 1).float()
        kwargs: dict[str, Any] = {}
        if noise_policy == "shared":
            full_shape = x.shape if full_state else latents.shape
            if full_state:
                kwargs["variance_noise"] = shared_noise(full_shape, generator=generator, device=device)
            else:
                step_noise = chunk_noise(full_shape, plan, config.mode, generator=generator, device=device)
                kwargs["variance_noise"] = step_noise.flatten(0, 1)
        elif noise_policy == "generator":
            kwargs["generator"] = generator
        x = scheduler.step(model_out, t, x, **kwargs, return_dict=False)[0]
        if randomized and not full_state:  # eq. 8 on x_{t-1}, a new cut per overlap per step
            merged = blend_chunks(x.unflatten(0, (n, b)), plan, draw_cuts(plan, generator=generator))
            x = split_chunks(merged, plan).flatten(0, 1)
        check_finite_latents(x, f"stage 3, step {i} of {len(timesteps)}", compute_dtype or out.dtype)
        if on_step is not None:
            on_step(EnhanceProgress(i, x, generator.get_state(), scheduler_state(scheduler)))
        if not progress:  # a batch job's log says how far stage 3 got (once its state is saved)
            logger.info("%s", _step_line(i, len(timesteps), rate))

    if full_state:
        return x
    return blend_chunks(x.unflatten(0, (n, b)), plan, fixed_cuts(plan))


def unet_denoise_fn(
    unet: torch.nn.Module,
    denoiser: Denoiser,
    cond: torch.Tensor,
    uncond: torch.Tensor | None,
    guidance: float,
    guidance_rescale: float = 0.0,
) -> DenoiseFn:
    """A :data:`DenoiseFn` for a diffusers ``UNet3DConditionModel``-like video UNet with batched CFG.

    ``cond``: text embeddings ``(1, L, D)`` for every chunk, or ``(n, L, D)``, one per chunk of the plan
    (a prompt schedule); ``uncond``: ``(1, L, D)`` or None.
    """
    param = next(unet.parameters())

    def model_fn(x: torch.Tensor, t: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        x = x.to(device=param.device, dtype=param.dtype)
        ctx = encoder_hidden_states.to(device=param.device, dtype=param.dtype)
        return unet(x, t, encoder_hidden_states=ctx).sample.float()

    def per_chunk(emb: torch.Tensor, chunks: range, nb: int) -> torch.Tensor:
        if emb.shape[0] == 1:
            return emb.expand(nb, *emb.shape[1:])
        return emb[chunks.start : chunks.stop].repeat_interleave(nb // len(chunks), dim=0)

    def fn(x: torch.Tensor, t: torch.Tensor, chunks: range) -> torch.Tensor:
        nb = x.shape[0]
        cond_kwargs = {"encoder_hidden_states": per_chunk(cond, chunks, nb)}
        uncond_kwargs = None
        if uncond is not None:
            uncond_kwargs = {"encoder_hidden_states": uncond.expand(nb, *uncond.shape[1:])}
        with torch.no_grad():
            out = denoiser.guided_output(
                model_fn, x, t, cond_kwargs, uncond_kwargs, guidance, guidance_rescale
            )
        return out.to(x.device)

    return fn


# ----------------------------------------------------------------------------------- pixel level
#: What :func:`enhance_video` uses of a refiner (:class:`~streamt2v.pipeline.refiner.Refiner`).
REFINER_ATTRIBUTES: tuple[str, ...] = (
    "unet",
    "vae",
    "text_encoder",
    "scheduler_config",
    "frame_size",
    "device",
)


def check_refiner(refiner: Any) -> None:
    """Raise a ``TypeError`` unless ``refiner`` has what a :class:`~streamt2v.pipeline.refiner.Refiner` has
    (a stage-1/2 ``StreamingT2VModel`` has no ``frame_size`` and would fail deep inside)."""
    missing = [a for a in REFINER_ATTRIBUTES if not hasattr(refiner, a)]
    if missing and type(refiner).__name__ in ("StreamingT2VModel", "StreamingT2VPipeline"):
        raise TypeError(
            f"refiner must be a Refiner (stage 3), got a {type(refiner).__name__}, which makes videos (stages 1-2); "
            "load a refiner with streamt2v.pipeline.refiner.Refiner.from_pretrained() (the shipped one) or "
            "Refiner.from_pretrained('path/to/refiner')"
        )
    if missing:
        raise TypeError(
            f"refiner must be a Refiner (streamt2v.pipeline.refiner; Refiner.from_pretrained loads one), got "
            f"{type(refiner).__name__} without {', '.join(missing)}"
        )


def _warn_if_shipped_elsewhere(refiner: Any, size: tuple[int, int]) -> None:
    """Warn (once a call) where ``refiner`` is the shipped one and the video not at the size it is for: there it
    does worse than bilinear upscaling. The command line refuses it (``check_shipped_refiner_fits``); a Python
    caller may be experimenting."""
    from streamt2v.pipeline.default_refiner import names_shipped_refiner

    source = getattr(refiner, "source", None)
    fh, fw = refiner.frame_size
    if source is None or not names_shipped_refiner(source) or tuple(size) == (fh // 2, fw // 2):
        return
    logger.warning(
        "the shipped refiner works on %dx%d frames (making %dx%d) and this video's are %dx%d: at another size "
        "it does worse than bilinear upscaling; a refiner folder for this size enhances",
        fw // 2,
        fh // 2,
        fw,
        fh,
        size[1],
        size[0],
    )


def enhance_video(
    video: torch.Tensor,
    prompt: str | PromptSchedule,
    refiner: Any,
    config: EnhanceConfig | None = None,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    progress: bool = False,
    as_uint8: bool = False,
    state_file: str | os.PathLike | None = None,
    on_frames: Callable[[torch.Tensor | np.ndarray], None] | None = None,
    **settings: Any,
) -> torch.Tensor | np.ndarray | None:
    """Enhance a low-resolution video ``(B, 3, T, H, W)`` in ``[-1, 1]`` (paper §4.3) → ``(B, 3, T, H', W')``.

    ``prompt``: one prompt, a :class:`PromptSchedule` over the video's frames or an inline schedule string
    (:func:`~streamt2v.pipeline.enhance_prompts.prompt_schedule`; each chunk is refined with the prompt at its
    middle frame, :func:`~streamt2v.pipeline.enhance_prompts.chunk_prompts`).
    ``refiner``: a :class:`~streamt2v.pipeline.refiner.Refiner` (video UNet + VAE + text encoder + scheduler
    config). ``config``: the settings; None (default) takes the refiner's recommended ones
    (:meth:`~streamt2v.pipeline.refiner.Refiner.config`, the official ones where it recommends none), as the
    command line does; ``EnhanceConfig()`` is the official setting whatever the refiner recommends.
    ``generator`` (CPU) or ``seed`` (an int >= 0, default 0) controls all randomness. The output has the
    refiner's resolution (or ``config.resolution``), cropped back to the content when
    ``config.pad_to_aspect`` is set; the frame count is preserved. Returned on the CPU as float32, or with
    ``as_uint8`` as ``uint8 (B, T, H', W', 3)`` frames (:func:`~streamt2v.io.video.to_uint8_frames`'s
    layout, what a video file holds), a quarter of the memory: a float32 copy of a long high-resolution
    output never exists (1200 frames at 720×1280: 3.3 GB instead of 13.3). Frames are upscaled and encoded,
    and decoded and converted, a slice at a time. Every argument is checked before the VAE or the UNet runs.

    ``on_frames``: a callable given the output a slice of frames at a time, in order, instead of returning it
    (None is returned): ``(B, 3, n, H', W')`` float32 or, with ``as_uint8``, ``uint8 (B, n, H', W', 3)``
    slices of the decoder's ``config.decode_frames_per_slice`` frames (the last may be shorter). The whole
    output is then never held, only the latents and a slice: a writer such as
    :class:`~streamt2v.io.streaming_writer.VideoFileWriter` (``on_frames=lambda f: writer.write(f[0])``)
    writes the same file as ``write_video`` of the returned video. The decode shows a bar with ``progress``,
    else a log line at each tenth of the frames. An error raised by ``on_frames`` ends the call (the slices
    handed out are the caller's to discard); with ``state_file`` a rerun then redoes only the decode.

    ``state_file``: where the state after each denoising step is kept (written atomically,
    :mod:`~streamt2v.pipeline.enhance_state`). If it holds the state of this same enhancement (video,
    prompt, settings, seed), the run continues after its last step, with the same result as an uninterrupted
    one; a state of anything else is set aside (``NAME.stale-KEY``, kept for its own run to continue). The
    file stays: remove it once the output is written
    (:func:`~streamt2v.pipeline.enhance_state.remove_state_file`). The refiner's weights and precision are
    not part of the check: a stopped run may continue in another dtype.

    Warnings, before any work: a schedule entry no chunk is refined with, output frames smaller than the
    input's (a canvas smaller than the video), input frames stretched to another aspect ratio.
    ``progress``: tqdm bars over the denoising steps and the decode on stderr; off by default, as the
    stages-1-2 pipeline's ``pipe(...)`` shows none and the metrics' bars are off: a library call draws
    nothing unasked (``streamt2v enhance`` turns it on when stderr is a terminal, unless ``--no-progress``).
    """
    from streamt2v.sampling.schedulers import make_scheduler

    if settings:  # steps=, num_inference_steps=: pipe(...) takes its settings so, this function in config
        parameters = inspect.signature(enhance_video).parameters
        raise settings_given_as_keywords(settings, config, [p for p in parameters if p != "settings"])
    if config is not None and not isinstance(config, EnhanceConfig):
        raise TypeError(f"config must be an EnhanceConfig or None, got {type(config).__name__}")
    if on_frames is not None and not callable(on_frames):
        raise TypeError(f"on_frames must be a callable or None, got {type(on_frames).__name__}")
    check_refiner(refiner)
    if config is None:  # the refiner's recommendation, as `streamt2v enhance` and generate's stage 3 use
        recommend = getattr(refiner, "config", None)
        config = recommend() if callable(recommend) else EnhanceConfig()
    video = _checked_video(video)
    if video.ndim != 5 or video.shape[1] != 3:
        shape = tuple(video.shape)
        raise ValueError(f"video must be (B, 3, T, H, W), got shape {shape}{layout_hint(shape, image=False)}")
    if video.shape[2] < 1:
        raise ValueError(f"video has 0 frames (shape {tuple(video.shape)}); enhancing needs at least one")
    if min(video.shape) < 1:
        raise ValueError(f"video has an empty batch or frame size: shape {tuple(video.shape)}")
    schedule = prompt_schedule(prompt, video.shape[2])
    if isinstance(seed, torch.Generator):
        # check_seed's words, with where a generator goes
        raise TypeError("seed must be an integer in [0, 2**64), got a torch.Generator: pass it as generator=")
    if seed is not None:
        check_seed(seed)
    if seed is not None and generator is not None:
        raise ValueError("give either seed or generator, not both (the seed would be ignored)")
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    elif not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        # the noise is drawn on the CPU and moved, so a run gives the same video on any device
        got = (
            f"one on {generator.device}"
            if isinstance(generator, torch.Generator)
            else type(generator).__name__
        )
        raise ValueError(f"generator must be a CPU torch.Generator (or pass seed=), got {got}")
    canvas = tuple(config.resolution) if config.resolution is not None else tuple(refiner.frame_size)
    check_resolution(config, refiner.vae.scale_factor)
    f = refiner.vae.scale_factor
    if canvas[0] % f or canvas[1] % f:  # the refiner's own frame size (a folder recording a wrong one)
        # a setting error: each command names resolution as its flag (enhance's --resolution), Python the field
        raise EnhanceSettingError(
            f"the refiner's frame size {canvas[0]}x{canvas[1]} (HxW) is not divisible by its VAE scale "
            f"factor {f}; set resolution to a size that is"
        )
    scheduler = make_scheduler(
        config.scheduler, refiner.scheduler_config, timestep_spacing=config.timestep_spacing
    )
    # the schedule's own limits (start step inside it, room for the steps) fail here, not after the encode
    check_start_step(config, scheduler.config)
    sdedit_timesteps(scheduler, config.steps, config.start_step)
    h, w = video.shape[-2:]
    if not config.pad_to_aspect and not math.isclose(h * canvas[1], w * canvas[0], rel_tol=0.01):
        # pad_to_aspect=True in the EnhanceConfig in Python, --pad-to-aspect on enhance's command line (and on
        # generate's, with the enhance command to pass it to): the advice ends the line, where generate's says
        # where it goes
        logger.warning(
            "input frames are %dx%d but the enhancer canvas is %dx%d (HxW): they are stretched to its "
            "aspect ratio; to fit and pad them instead, pass %s",
            h,
            w,
            *canvas,
            EnhanceSetting("pad_to_aspect", True),
        )
    warn_if_smaller((h, w), canvas, config, f)
    _warn_if_shipped_elsewhere(refiner, (h, w))
    plan = chunk_plan_for(video.shape[2], config)
    warn_unused_entries(schedule, plan)
    latents, box = upscale_and_encode(video, refiner.vae, canvas, config.pad_to_aspect)  # (B, C, T, h, w)

    prompts = chunk_prompts(schedule, plan)
    # without CFG the negative prompt is not read: no warning about its words; random weights read none
    cfg = config.guidance != 1
    if not refiner.random_weights:
        warn_unread_prompts(refiner.text_encoder, [*prompts, *([config.negative_prompt] if cfg else [])])
    with torch.no_grad():
        # one embedding when every chunk has the same prompt, else one per chunk
        cond = refiner.text_encoder.encode(prompts[:1] if len(set(prompts)) == 1 else prompts)
        uncond = refiner.text_encoder.encode([config.negative_prompt]) if cfg else None
    denoise_fn = unet_denoise_fn(
        refiner.unet,
        Denoiser.from_scheduler(scheduler),
        cond,
        uncond,
        config.guidance,
        config.guidance_rescale,
    )
    resume, on_step = None, None
    if state_file is not None:
        # the input video, not its latents or the prompts' embeddings: those change with the refiner's
        # precision, and a run stopped in stage 3 may continue in another (--resume --dtype bf16 after a
        # float16 overflow) from its saved float32 latents
        key = state_key(
            video,
            canvas,
            generator.get_state(),
            state_settings(config),
            scheduler_settings(scheduler),
            prompts,
        )
        saved = EnhanceStateFile(state_file, key)
        resume, on_step = saved.load(), saved.save
    out_latents = enhance_latents(
        latents,
        denoise_fn,
        scheduler,
        config,
        generator=generator,
        progress=progress,
        resume=resume,
        on_step=on_step,
        compute_dtype=next(refiner.unet.parameters()).dtype,
    )
    del latents  # the input's: the output's are decoded now
    decoder = VideoAutoencoder(refiner.vae.vae, frames_per_slice=config.decode_frames_per_slice)
    slices = decoded_slices(out_latents.to(dtype=refiner.vae.dtype), decoder, box, as_uint8)
    # closed as soon as it stops: an error or Ctrl-C in on_frames (a writer) would otherwise leave the bar
    # open until the traceback is collected, redrawn after the command's own last line
    with contextlib.closing(_decode_progress(slices, video.shape[2], progress)) as slices:
        if on_frames is None:
            return gather_slices(slices, video.shape[2], as_uint8)
        for part in slices:
            on_frames(part)
    return None


def _step_line(i: int, total: int, rate: UnitRate) -> str:
    """The log line for step ``i`` of ``total``, just finished: the time so far and, from the second step
    (the first carries the start-up: compiling, the device's caches), the steps' time left."""
    rate.done()
    return f"stage 3: step {i}/{total} done ({rate.times(total - i, ' for the steps')})"


def _decode_progress(
    slices: Iterator[torch.Tensor | np.ndarray],
    num_frames: int,
    progress: bool,
    clock: Clock = time.monotonic,
) -> Iterator[torch.Tensor | np.ndarray]:
    """``slices`` (of the ``num_frames`` output frames), with a tqdm bar over the frames decoded, or without
    ``progress`` a log line at each tenth of them, with the time so far and left (the time per frame from
    the end of the first slice): at full size the decode takes minutes."""
    bar = progress_bar(total=num_frames, desc="decode", unit="frame", disable=not progress)
    rate = UnitRate(clock)
    done = 0
    with bar:
        for part in slices:
            yield part
            n = part.shape[1] if isinstance(part, np.ndarray) else part.shape[2]
            bar.update(n)
            rate.done(n)
            if not progress and ((done + n) * 10 // num_frames > done * 10 // num_frames):
                decoded = f"{done + n}/{counted(num_frames, 'frame')} decoded"
                logger.info("stage 3: %s (%s)", decoded, rate.times(num_frames - done - n))
            done += n


def _checked_video(video: Any) -> torch.Tensor:
    """``video`` refused as :func:`~streamt2v.pixels.check_pixels` refuses it and clamped to ``[-1, 1]``, but
    copied only when a value lies outside: stage 3 only reads it, and a long input's float pixels, which the
    caller holds too, were copied for the whole run (1200 frames at 480x832: 5.7 GB of float32)."""
    from streamt2v.pixels import check_pixel_values, check_pixels

    if not isinstance(video, torch.Tensor):
        return check_pixels(video, "video")  # its TypeError
    check_pixel_values(video, "video")  # a float tensor from here
    video = video.detach()
    lo, hi = torch.aminmax(video) if video.numel() else (0, 0)
    return video.clamp(-1, 1) if lo < -1 or hi > 1 else video


_NOT_IN_STATE_KEY = ("fps", "decode_frames_per_slice", "max_batch_chunks")


def state_settings(config: EnhanceConfig) -> dict[str, Any]:
    """The settings a stage-3 state's key hashes: those the latents depend on (settings that leave them as
    they are, or, for the batching, equal up to float rounding, are not: a run stopped by running out of
    memory may continue with fewer chunks per batch), named as earlier versions named them
    (``num_inference_steps``, :func:`~streamt2v.pipeline.enhance_config.stored_form`), so that a state they
    saved keeps its key and is continued."""
    return stored_form({k: v for k, v in vars(config).items() if k not in _NOT_IN_STATE_KEY})


def chunk_plan_for(num_frames: int, config: EnhanceConfig) -> WindowPlan:
    """The windows (chunks of ``config.chunk_frames`` frames overlapping by ``config.overlap``)
    :func:`enhance_latents` uses for a video of ``num_frames`` frames."""
    return plan_windows(num_frames, config.chunk_frames, config.overlap)
