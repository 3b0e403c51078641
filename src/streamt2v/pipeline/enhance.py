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
:func:`enhance_video` adds the pixel/VAE/text level with a :class:`Refiner` bundle (video UNet + VAE +
text encoder + scheduler config, loadable from a diffusers-format folder).
"""

from __future__ import annotations

import inspect
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from streamt2v.memory import move_modules
from streamt2v.models.autoencoder import VideoAutoencoder
from streamt2v.models.denoiser import Denoiser
from streamt2v.pipeline.blending import (
    BLEND_MODES,
    ChunkPlan,
    blend_chunks,
    chunk_noise,
    draw_cuts,
    fixed_cuts,
    plan_chunks,
    shared_noise,
    split_chunks,
)
from streamt2v.pipeline.prompts import PromptSchedule
from streamt2v.sampling.sdedit import sdedit_noise, sdedit_timesteps

logger = logging.getLogger(__name__)

#: ``denoise_fn(x_in, t, chunks)``: model input ``(k·B, C, F, h, w)`` (already ``scale_model_input``-ed;
#: chunk-major), the timestep and the indices of those ``k`` chunks in the plan → (guided) model output
#: in the scheduler's prediction type, same shape. The indices select per-chunk conditioning (a prompt
#: schedule); a model without any may ignore them.
DenoiseFn = Callable[[torch.Tensor, torch.Tensor, range], torch.Tensor]

BLEND_TARGETS: tuple[str, ...] = ("latents", "x0")


@dataclass(frozen=True)
class EnhanceConfig:
    """Stage-3 settings; defaults follow the paper / official release (official-facts §1.5 stage 3)."""

    chunk_frames: int = 24  # F
    overlap: int = 8  # O
    mode: str = "randomized"  # "independent" | "shared-noise" | "randomized" (Fig. 4 a/b/c)
    blend: str = "latents"  # "latents": x_{t-1} after each step (paper); "x0": x0 predictions (official)
    start_step: int = 600  # SDEdit start t' of 1000 training steps (official: t = 599)
    num_inference_steps: int = 30
    scheduler: str = "dpmpp-2m-sde"  # a name of streamt2v.sampling.schedulers.make_scheduler
    timestep_spacing: str = "trailing"
    guidance_scale: float = 7.5
    guidance_rescale: float = 0.0  # official: 0.2
    negative_prompt: str = ""
    max_batch_chunks: int = 8  # memory cap: chunks per UNet forward (each with its CFG pair)
    resolution: tuple[int, int] | None = None  # (H, W) canvas; None = the refiner's own frame size
    pad_to_aspect: bool = False  # fit the frame inside the canvas, pad with black, crop back at the end
    decode_frames_per_slice: int = 8
    fps: float | None = None  # output fps for the CLI; None = the input's

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
        if self.fps is not None:
            from streamt2v.io.video import check_fps

            check_fps(self.fps)
        if self.overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {self.overlap}")
        if self.chunk_frames <= self.overlap:
            raise ValueError(
                f"chunk_frames ({self.chunk_frames}) must be larger than overlap ({self.overlap})"
            )
        if self.mode not in BLEND_MODES:
            raise ValueError(f"unknown enhancement mode {self.mode!r}; choose one of {list(BLEND_MODES)}")
        if self.blend not in BLEND_TARGETS:
            raise ValueError(f"unknown blend target {self.blend!r}; choose one of {list(BLEND_TARGETS)}")
        if self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {self.num_inference_steps}")
        if self.start_step < 1:
            raise ValueError(f"start_step must be >= 1, got {self.start_step}")
        if self.max_batch_chunks < 1:
            raise ValueError(f"max_batch_chunks must be >= 1, got {self.max_batch_chunks}")
        if self.guidance_scale < 1.0:
            raise ValueError(f"guidance_scale must be >= 1, got {self.guidance_scale}")
        if not 0.0 <= self.guidance_rescale <= 1.0:
            raise ValueError(f"guidance_rescale must be in [0, 1], got {self.guidance_rescale}")
        if self.resolution is not None and (len(self.resolution) != 2 or min(self.resolution) < 1):
            raise ValueError(f"resolution must be (H, W) with positive sizes, got {self.resolution}")
        if self.decode_frames_per_slice < 1:
            raise ValueError(f"decode_frames_per_slice must be >= 1, got {self.decode_frames_per_slice}")


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
) -> torch.Tensor:
    """SDEdit + chunked denoising with shared noise and randomized blending (paper §4.3, eq. 7–8).

    ``latents``: clean latents ``(B, C, T, h, w)`` of the upscaled video. ``scheduler``: a fresh diffusers
    scheduler (its ``prediction_type`` and ``alphas_cumprod`` are the refiner's). ``generator``: a CPU
    generator from which all noise and all cuts are drawn, in an order that does not depend on
    ``max_batch_chunks``. Returns denoised latents of the same shape.
    """
    if latents.ndim != 5:
        raise ValueError(f"latents must be (B, C, T, h, w), got shape {tuple(latents.shape)}")
    device, dtype = latents.device, torch.float32
    latents = latents.to(dtype)
    b, c, t_frames, h, w = latents.shape
    plan = plan_chunks(t_frames, config.chunk_frames, config.overlap)
    n = len(plan)
    timesteps = sdedit_timesteps(scheduler, config.num_inference_steps, config.start_step, device=device)
    noise_policy = _step_noise_policy(scheduler)
    if noise_policy == "generator" and config.mode != "independent" and n > 1:
        logger.warning(
            "scheduler %s draws its own step noise: it is not shared across chunk overlaps",
            type(scheduler).__name__,
        )
    randomized = config.mode == "randomized"
    full_state = randomized and config.blend == "x0"
    denoiser = Denoiser.from_scheduler(scheduler) if full_state else None
    logger.info(
        "enhancing %d frames in %d chunk(s) of %d (overlap %d), mode %s, %d step(s) from t=%d (SDEdit start t'=%d)",
        t_frames,
        n,
        plan.chunk_frames,
        plan.overlap,
        config.mode,
        len(timesteps),
        int(timesteps[0]),
        config.start_step,
    )

    if full_state:  # state: the whole video (B, C, T, h, w)
        noise = shared_noise(latents.shape, generator=generator, device=device, dtype=dtype)
        x = sdedit_noise(scheduler, latents, noise, timesteps)
    else:  # state: the chunk stack (n B, C, F, h, w)
        noise = chunk_noise(latents.shape, plan, config.mode, generator=generator, device=device)
        x0 = split_chunks(latents, plan).flatten(0, 1)
        x = sdedit_noise(scheduler, x0, noise.flatten(0, 1), timesteps)

    for t in tqdm(timesteps, desc="enhance", unit="step", disable=not progress):
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

    if full_state:
        return x
    return blend_chunks(x.unflatten(0, (n, b)), plan, fixed_cuts(plan))


def unet_denoise_fn(
    unet: torch.nn.Module,
    denoiser: Denoiser,
    cond: torch.Tensor,
    uncond: torch.Tensor | None,
    guidance_scale: float,
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
                model_fn, x, t, cond_kwargs, uncond_kwargs, guidance_scale, guidance_rescale
            )
        return out.to(x.device)

    return fn


# ----------------------------------------------------------------------------------- pixel level
def fit_and_pad(
    video: torch.Tensor, canvas: tuple[int, int], pad: bool
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Upscale ``(B, 3, T, H, W)`` to the ``canvas`` ``(H, W)`` (bilinear, antialiased).

    With ``pad``: keep the aspect ratio, fit inside the canvas and pad with black (-1) as the official
    code does (256² → 720² inside 1280×720). Returns the canvas video and the crop box
    ``(top, left, height, width)`` of the content, to undo the pad with :func:`crop`.
    """
    from streamt2v.io.video import resize_video

    ch, cw = canvas
    h, w = video.shape[-2:]
    if not pad:
        return resize_video(video, (ch, cw)), (0, 0, ch, cw)
    scale = min(ch / h, cw / w)
    fh, fw = max(1, round(h * scale)), max(1, round(w * scale))
    fitted = resize_video(video, (fh, fw))
    top, left = (ch - fh) // 2, (cw - fw) // 2
    out = F.pad(fitted, (left, cw - fw - left, top, ch - fh - top), value=-1.0)
    return out, (top, left, fh, fw)


def crop(video: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Crop ``(B, C, T, H, W)`` to ``box = (top, left, height, width)``."""
    top, left, hh, ww = box
    return video[..., top : top + hh, left : left + ww]


def chunk_prompts(prompt: str | PromptSchedule, plan: ChunkPlan) -> list[str]:
    """The prompt of each enhancer chunk: a schedule's prompt at the chunk's middle frame."""
    if isinstance(prompt, str):
        return [prompt] * len(plan)
    last = plan.num_frames - 1
    return [prompt.prompt_at(min(last, s + plan.chunk_frames // 2)) for s in plan.starts]


def enhance_video(
    video: torch.Tensor,
    prompt: str | PromptSchedule,
    refiner: Any,
    config: EnhanceConfig | None = None,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Enhance a low-resolution video ``(B, 3, T, H, W)`` in ``[-1, 1]`` (paper §4.3) → ``(B, 3, T, H', W')``.

    ``prompt``: one prompt, or a :class:`PromptSchedule` over the video's frames (each chunk is refined
    with the prompt at its middle frame, :func:`chunk_prompts`).
    ``refiner``: a :class:`Refiner` (video UNet + VAE + text encoder + scheduler config). ``generator``
    (CPU) or ``seed`` (default 0) controls all randomness. The output has the refiner's resolution (or
    ``config.resolution``), cropped back to the content when ``config.pad_to_aspect`` is set; the frame
    count is preserved. Returned on the CPU as float32.
    """
    from streamt2v.sampling.schedulers import make_scheduler

    config = config or EnhanceConfig()
    if video.ndim != 5 or video.shape[1] != 3:
        raise ValueError(f"video must be (B, 3, T, H, W), got shape {tuple(video.shape)}")
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    canvas = tuple(config.resolution) if config.resolution is not None else tuple(refiner.frame_size)
    f = refiner.vae.scale_factor
    if canvas[0] % f or canvas[1] % f:
        raise ValueError(f"enhancer resolution {canvas} is not divisible by the VAE scale factor {f}")
    device = refiner.device
    x, box = fit_and_pad(video.float().cpu(), canvas, config.pad_to_aspect)
    latents = refiner.vae.encode(x.to(device=device, dtype=refiner.vae.dtype)).float()  # (B, 4, T, h, w)

    scheduler = make_scheduler(
        config.scheduler, refiner.scheduler_config, timestep_spacing=config.timestep_spacing
    )
    prompts = chunk_prompts(prompt, chunk_plan_for(video.shape[2], config))
    with torch.no_grad():
        # one embedding when every chunk has the same prompt, else one per chunk
        cond = refiner.text_encoder.encode(prompts[:1] if len(set(prompts)) == 1 else prompts)
        uncond = refiner.text_encoder.encode([config.negative_prompt]) if config.guidance_scale != 1 else None
    denoise_fn = unet_denoise_fn(
        refiner.unet,
        Denoiser.from_scheduler(scheduler),
        cond,
        uncond,
        config.guidance_scale,
        config.guidance_rescale,
    )
    out_latents = enhance_latents(
        latents, denoise_fn, scheduler, config, generator=generator, progress=progress
    )
    decoder = VideoAutoencoder(refiner.vae.vae, frames_per_slice=config.decode_frames_per_slice)
    frames = decoder.decode(out_latents.to(dtype=refiner.vae.dtype)).float().cpu()
    return crop(frames, box)


def chunk_plan_for(num_frames: int, config: EnhanceConfig) -> ChunkPlan:
    """The chunk plan :func:`enhance_latents` uses for a video of ``num_frames`` frames."""
    return plan_chunks(num_frames, config.chunk_frames, config.overlap)


# ------------------------------------------------------------------------------------- the refiner
DEFAULT_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_schedule": "linear",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "prediction_type": "epsilon",
}


@dataclass
class Refiner:
    """The stage-3 model bundle: a plain video UNet (``UNet3DConditionModel``), its VAE, text encoder and
    noise schedule. Loadable from a diffusers-format folder (``model_index.json`` with ``unet/ vae/
    text_encoder/ tokenizer/ scheduler/``, e.g. a zeroscope-style upscaler) via :meth:`from_pretrained`.
    """

    unet: Any  # diffusers UNet3DConditionModel (or any module with its call signature)
    vae: VideoAutoencoder
    text_encoder: Any  # streamt2v.models.encoders.TextEncoder
    scheduler_config: dict[str, Any]
    frame_size: tuple[int, int]  # (H, W) pixels the UNet was trained at
    # EnhanceConfig fields these weights are meant to run with (``streamt2v_enhance`` in model_index.json);
    # explicit settings override them, and anything unset falls back to the official defaults.
    recommended: dict[str, Any] = field(default_factory=dict)

    def config(self, **settings: Any) -> EnhanceConfig:
        """The :class:`EnhanceConfig` for this refiner: ``settings`` over :attr:`recommended`."""
        return EnhanceConfig(**{**self.recommended, **settings})

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def prediction_type(self) -> str:
        return str(self.scheduler_config.get("prediction_type", "epsilon"))

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Refiner:
        move_modules((self.unet, self.vae, self.text_encoder), device, dtype)
        return self

    def compile(self, backend: str = "inductor") -> Refiner:
        """``torch.compile`` in place the UNet and the VAE's encoder and decoder (:mod:`streamt2v.compiling`)."""
        from streamt2v.compiling import compile_modules

        compile_modules([self.unet, self.vae.vae.encoder, self.vae.vae.decoder], self.device, backend)
        return self

    @classmethod
    def from_pretrained(
        cls,
        path: str | Any,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        frame_size: tuple[int, int] | None = None,
    ) -> Refiner:
        """Load a diffusers-format video model folder; missing parts raise naming the path tried."""
        import json

        from diffusers import AutoencoderKL, UNet3DConditionModel
        from transformers import CLIPTextModel

        from streamt2v.models.bundle import load_tokenizer
        from streamt2v.models.encoders import TextEncoder

        root = check_refiner_folder(path)
        sched_file = root / "scheduler" / "scheduler_config.json"
        unet = UNet3DConditionModel.from_pretrained(root / "unet", torch_dtype=dtype)
        vae = AutoencoderKL.from_pretrained(root / "vae", torch_dtype=dtype)
        text_model = CLIPTextModel.from_pretrained(root / "text_encoder", dtype=dtype)
        index_file = root / "model_index.json"
        meta = json.loads(index_file.read_text()) if index_file.is_file() else {}
        tok_entry = meta.get("tokenizer")
        tokenizer = load_tokenizer(root / "tokenizer", tok_entry[-1] if tok_entry else None)
        scheduler_config = json.loads(sched_file.read_text())
        autoencoder = VideoAutoencoder(vae)
        if frame_size is None:
            if "streamt2v_frame_size" in meta:
                frame_size = tuple(int(v) for v in meta["streamt2v_frame_size"])
            else:
                size = unet.config.sample_size
                size = (size, size) if isinstance(size, int) else tuple(size)
                frame_size = (size[0] * autoencoder.scale_factor, size[1] * autoencoder.scale_factor)
        refiner = cls(
            unet.eval(),
            autoencoder.eval(),
            TextEncoder(tokenizer, text_model).eval(),
            scheduler_config,
            (int(frame_size[0]), int(frame_size[1])),
            dict(meta.get("streamt2v_enhance") or {}),
        )
        return refiner.to(device=device)

    def save_pretrained(self, path: str | Any, overwrite: bool = False) -> Any:
        """Write the diffusers-format folder :meth:`from_pretrained` reads (safetensors weights),
        atomically; an existing folder is replaced only with ``overwrite``."""
        import json
        from pathlib import Path

        from streamt2v.io.folders import atomic_folder

        root = Path(path)
        with atomic_folder(root, overwrite) as tmp:
            self.unet.save_pretrained(tmp / "unet")
            self.vae.vae.save_pretrained(tmp / "vae")
            self.text_encoder.model.save_pretrained(tmp / "text_encoder")
            self.text_encoder.tokenizer.save_pretrained(tmp / "tokenizer")
            (tmp / "scheduler").mkdir()
            sched = {"_class_name": "DDIMScheduler", **self.scheduler_config}
            (tmp / "scheduler" / "scheduler_config.json").write_text(json.dumps(sched, indent=2))
            index = {
                "_class_name": "StreamingT2VRefiner",
                "unet": ["diffusers", "UNet3DConditionModel"],
                "vae": ["diffusers", "AutoencoderKL"],
                "text_encoder": ["transformers", "CLIPTextModel"],
                "tokenizer": ["transformers", type(self.text_encoder.tokenizer).__name__],
                "scheduler": ["diffusers", "DDIMScheduler"],
                "streamt2v_frame_size": list(self.frame_size),
                "streamt2v_enhance": dict(self.recommended),
            }
            (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        return root

    @classmethod
    def random(
        cls,
        frame_size: tuple[int, int] = (128, 128),
        *,
        seed: int = 0,
        prediction_type: str = "epsilon",
        width: int = 32,
    ) -> Refiner:
        """A tiny random-weight refiner for tests and benchmarks: the ``tiny`` preset's video UNet with the
        random VAE (factor 4) and text encoder (width ``width``) that :meth:`StreamingT2VModel.from_preset`
        builds for that preset (``bundle.component_configs``).
        """
        from dataclasses import replace

        from diffusers import AutoencoderKL
        from transformers import CLIPTextConfig, CLIPTextModel

        from streamt2v.config import get_preset
        from streamt2v.models.bundle import component_configs
        from streamt2v.models.encoders import TextEncoder, byte_level_clip_tokenizer
        from streamt2v.models.unet import build_video_unet

        h, w = frame_size
        if h % 4 or w % 4:
            raise ValueError(f"random refiner frame size {frame_size} must be divisible by 4")
        tiny = get_preset("tiny")
        cfg = replace(
            tiny,
            frame_size=h,
            vae_scale_factor=4,
            unet=replace(tiny.unet, cross_attention_dim=width, sample_size=h // 4),
        )
        comps = component_configs(cfg)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet = build_video_unet(cfg.unet)
            vae = AutoencoderKL(**comps.vae)
            text_model = CLIPTextModel(CLIPTextConfig(**comps.text))
        tokenizer = byte_level_clip_tokenizer(model_max_length=comps.text["max_position_embeddings"])
        sched = {**DEFAULT_SCHEDULER_CONFIG, "prediction_type": prediction_type}
        return cls(
            unet.eval(),
            VideoAutoencoder(vae).eval(),
            TextEncoder(tokenizer, text_model).eval(),
            sched,
            (h, w),
        )


REFINER_PARTS: tuple[str, ...] = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


def check_refiner_folder(path: str | os.PathLike) -> Path:
    """Raise unless ``path`` is a local diffusers-format refiner folder (cheap: no weights are read). The
    refiner is loaded from local folders only; a missing path is reported as such, whatever its form."""
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(
            f"refiner folder {str(path)!r} does not exist (resolved: {str(root.resolve())!r}); the refiner "
            "is loaded from a local folder"
        )
    if not root.is_dir():
        raise NotADirectoryError(f"refiner {str(path)!r} is a file; give a diffusers-format model folder")
    for part in REFINER_PARTS:
        if not (root / part).is_dir():
            raise FileNotFoundError(
                f"refiner folder {str(path)!r} has no {part}/ (expected a diffusers-format video model with "
                "unet/ vae/ text_encoder/ tokenizer/ scheduler/)"
            )
    sched_file = root / "scheduler" / "scheduler_config.json"
    if not sched_file.is_file():
        raise FileNotFoundError(
            f"refiner folder {str(path)!r} is missing its scheduler config {str(sched_file)!r}"
        )
    return root


def load_refiner(
    spec: str | os.PathLike | None,
    base_frame_size: tuple[int, int],
    *,
    device: torch.device | str = "cpu",
) -> Refiner:
    """The refiner in the local folder ``spec``, or the embedded default when ``spec`` is None."""
    if spec is None:
        return default_refiner(tuple(base_frame_size)).to(device=device)
    return Refiner.from_pretrained(spec, device=device)


def default_refiner(base_frame_size: tuple[int, int], *, seed: int = 0) -> Refiner:
    """The embedded default refiner at twice ``base_frame_size``: the shipped microworld refiner when the
    input is at the microworld's base size, otherwise a tiny **random-weight** one (with a warning)."""
    from streamt2v.assets import microworld_refiner_dir

    h, w = (2 * int(base_frame_size[0]), 2 * int(base_frame_size[1]))
    try:
        shipped = Refiner.from_pretrained(microworld_refiner_dir())
    except FileNotFoundError as err:
        logger.warning("%s", err)
    else:
        if shipped.frame_size == (h, w):
            return shipped
        logger.warning(
            "the shipped refiner works at %dx%d, not at twice the input's %dx%d",
            *shipped.frame_size,
            *base_frame_size,
        )
    if h % 4 or w % 4:
        raise ValueError(
            f"the default refiner works at twice the input size and needs it divisible by 4; "
            f"input frames are {base_frame_size[0]}x{base_frame_size[1]} (use even sizes or pass --model)"
        )
    logger.warning(
        "using a tiny RANDOM-WEIGHT refiner at %dx%d (the output shows the pipeline, not an enhancement; "
        "pass a refiner folder with --model)",
        h,
        w,
    )
    return Refiner.random((h, w), seed=seed)
