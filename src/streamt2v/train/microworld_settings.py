"""The exact settings of the shipped microworld models (``python -m streamt2v.train.microworld_release``).

The release's training runs (:func:`release_runs`: recipe options, loop settings, torch threads and the
runs each one needs), their start order, the runs whose weights ship, and the recommended sampler and
enhancer settings the assembly writes into the shipped folders. The steps that train and assemble them
are :mod:`streamt2v.train.microworld_release`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Steps of the UNet runs, sized to the 2-core CPU budget (MODEL_CARD.md: wall time per run).
BASE_STEPS = 1600
BASE2_STEPS = 3000
BASE3_STEPS = 2000
STREAM_STEPS = 3400
STREAM_AUG_STEPS = 2200
REFINER_STEPS = 2200
REFINER_DECODER_STEPS = 3000


@dataclass(frozen=True)
class RecipeRun:
    """One training run of the release: recipe options, loop settings and torch threads."""

    recipe: str
    options: dict[str, Any]
    train: dict[str, Any]
    needs: tuple[str, ...] = ()
    threads: int = 1
    # Sized for a GPU (the shipped run trained on one): refused on a machine without CUDA unless
    # ``allow_cpu``, since on 2 CPU cores it would take many hours (its entry says how many).
    gpu: bool = False


def release_runs(out: Path) -> dict[str, RecipeRun]:
    """The exact settings of the shipped weights (paths inside ``out``)."""
    vae, clip = str(out / "vae" / "final" / "vae"), str(out / "clip" / "final")
    video = {"preset": "tiny", "vae": vae, "clip": clip}
    # v-prediction with a zero-terminal-SNR schedule (Lin et al. 2023): with the default schedule the
    # 8×8 latent keeps ~7% of the clip at t = T, so colours and background followed the sampling noise
    # rather than the caption (the first release's failure, MODEL_CARD.md notes).
    diffusion = {
        "prediction_type": "v_prediction",
        "rescale_betas_zero_snr": True,
        "timestep_spacing": "trailing",
    }
    unet_loop = {"lr": 6e-4, "warmup_steps": 100, "ema_decay": 0.995, "checkpoint_every": 200}
    decoder = {"size": 32, "latent_channels": 8, "kl_weight": 1e-5, "frames_per_sample": 1}

    return {
        # 8 latent channels: with 4 the reconstructions of 8–13 px objects were round blobs
        # (shape kept in 28–100% of frames of ground-truth clips passed through the VAE; 81–100% with 8).
        "vae": RecipeRun(
            "vae",
            {"size": 32, "latent_channels": 8, "kl_weight": 1e-5},
            {"steps": 1500, "batch_size": 8, "lr": 1e-3, "checkpoint_every": 250},
        ),
        "clip": RecipeRun(
            "clip",
            {"size": 32},
            {"steps": 3000, "batch_size": 64, "lr": 5e-4, "checkpoint_every": 500},
        ),
        # The decoder is fine-tuned further while the UNets train on the (frozen, unchanged) encoder's
        # latents.
        "vae-decoder": RecipeRun(
            "vae",
            {**decoder, "decoder_only_from": vae},
            # a decoder step costs ~1/8 of a base step: as many as fit beside the base run
            {"steps": BASE_STEPS * 8, "batch_size": 8, "lr": 1e-3, "checkpoint_every": 1000},
            needs=("vae",),
        ),
        # The stage-1/2 decoder trained further, then with edge-weighted errors (``edge_weight``): the
        # vae-decoder round trip turned the two-object prompt's small red square into a circle in 15 of 80
        # frames; these keep its corners (MODEL_CARD.md notes). The shipped stage-1/2 VAE is the last one's.
        "vae-decoder-2": RecipeRun(
            "vae",
            {**decoder, "decoder_only_from": str(out / "vae-decoder" / "final" / "vae")},
            {"steps": 4000, "batch_size": 8, "lr": 5e-4, "checkpoint_every": 500, "lr_schedule": "cosine"},
            needs=("vae-decoder",),
        ),
        VAE_RUN: RecipeRun(
            "vae",
            {**decoder, "decoder_only_from": str(out / "vae-decoder-2" / "final" / "vae"), "edge_weight": 4},
            {"steps": 8000, "batch_size": 8, "lr": 3e-4, "checkpoint_every": 1000, "lr_schedule": "cosine"},
            needs=("vae-decoder-2",),
        ),
        # The refiner's decoder: the same frozen encoder, the decoder fine-tuned further at the refiner's
        # 64×64, where the 32×32 decoder's round trip alone was 2× its 32×32 error (MODEL_CARD.md).
        "refiner-decoder": RecipeRun(
            "vae",
            {**decoder, "size": 64, "decoder_only_from": str(out / "vae-decoder" / "final" / "vae")},
            {"steps": REFINER_DECODER_STEPS, "batch_size": 8, "lr": 5e-4, "checkpoint_every": 500},
            needs=("vae-decoder",),
            threads=2,
        ),
        "base": RecipeRun(
            "base",
            {"size": 32, **video, **diffusion},
            {"steps": BASE_STEPS, "batch_size": 8, **unet_loop},
            needs=("vae", "clip"),
        ),
        # The stream starts from `base` while `base-2` trains the stage-1 UNet further (two cores).
        "stream": RecipeRun(
            "stream",
            {"size": 32, "base_unet": str(out / "base" / "final" / "unet"), **video, **diffusion},
            {"steps": STREAM_STEPS, "batch_size": 8, **unet_loop},
            needs=("base",),
        ),
        # The shipped stream: `stream` continued with its CAM's conditioning frames noised (`cond_noise_aug`,
        # per-sample std from U(0, 0.3)), which kept the CAM in use where a plain continuation lost it.
        "stream-aug": RecipeRun(
            "stream",
            {
                "size": 32,
                "base_unet": str(out / "base" / "final" / "unet"),
                **video,
                **diffusion,
                "init_unet": str(out / "stream" / "final" / "unet"),
                "cond_noise_aug": 0.3,
            },
            {"steps": STREAM_AUG_STEPS, "batch_size": 8, **unet_loop, "seed": 2},
            needs=("stream",),
        ),
        "base-2": RecipeRun(
            "base",
            {"size": 32, **video, **diffusion, "init_unet": str(out / "base" / "final" / "unet")},
            {"steps": BASE2_STEPS, "batch_size": 8, **unet_loop},
            needs=("base",),
        ),
        # Joint image-video training (Ho et al. 2022) for the stage-1 UNet's appearance: base-2 continued
        # with 4 single frames of other videos per clip and the lr decayed to 0; it kept the prompted colours
        # in 65% of stage-1 frames against base-2's 47% (MODEL_CARD.md notes).
        "base-3": RecipeRun(
            "base",
            {
                "size": 32,
                **video,
                **diffusion,
                "init_unet": str(out / "base-2" / "final" / "unet"),
                "image_batch": 4,
            },
            {"steps": BASE3_STEPS, "batch_size": 8, **unet_loop, "lr_schedule": "cosine", "seed": 3},
            needs=("base-2",),
        ),
        # Stage 3 starts SDEdit from a low noise level (ENHANCE), so the refiner learns only t < 100 (the
        # SDXL refiner's specialisation), with a cosine-decayed lr; on both cores once the stage-1/2 runs
        # are done. It matches the earlier three-run chain (all t, then t < 250, then t < 100; 143 min of
        # one core) within the 60-minute budget (MODEL_CARD.md notes).
        "refiner-low-noise": RecipeRun(
            "refiner",
            {"size": 64, **video, **diffusion, "max_train_timestep": 100},
            {
                "steps": REFINER_STEPS,
                "batch_size": 2,
                **unet_loop,
                "warmup_steps": 50,
                "lr_schedule": "cosine",
                "seed": 5,
            },
            needs=("vae", "clip", "stream", "base-3"),
            threads=2,
        ),
        # The shipped refiner UNet: refiner-low-noise continued with restoration training (docs/training.md):
        # it learns the clean clip from its half-resolution version upscaled as stage 3 upscales, after the
        # stage-1/2 VAE's round trip, as generated videos reach stage 3. On held-out scenes passed through
        # that VAE, the UNet removes 13% of the error its VAE's round trip leaves (refiner-low-noise: 1%;
        # MODEL_CARD.md notes). A GPU run: 6.7 min on an H200; the same steps at 2 CPU threads would take
        # about 9 hours (12.3 s per step, bench/results/train_cpu.md), in fp32, which train_settings gives it
        # on the CPU (its bf16 is about 10 times slower there).
        "refiner-restore": RecipeRun(
            "refiner",
            {
                "size": 64,
                **video,
                "vae": str(out / "refiner-decoder" / "final" / "vae"),
                **diffusion,
                "max_train_timestep": 100,
                "init_unet": str(out / "refiner-low-noise" / "final" / "unet"),
                "degrade_scale": 2,
                "degrade_vae": str(out / VAE_RUN / "final" / "vae"),
                "x0_loss": True,
            },
            {
                "steps": 2550,
                "batch_size": 16,
                "lr": 3e-4,
                "warmup_steps": 50,
                "lr_schedule": "cosine",
                "ema_decay": 0.999,
                "checkpoint_every": 1000,
                "seed": 25,
                "mixed_precision": "bf16",
                "num_workers": 2,
            },
            needs=("refiner-low-noise", "refiner-decoder", VAE_RUN),
            threads=2,
            gpu=True,
        ),
    }


# The decoder fine-tuning run whose VAE stages 1–2 ship (its encoder is ``vae``'s, see shipped_vae_dir).
VAE_RUN = "vae-decoder-edges"

# Start order; each run starts once the runs it ``needs`` are finished (``train_all``).
ORDER: tuple[str, ...] = (
    "vae",
    "clip",
    "base",
    "vae-decoder",
    "stream",
    "base-2",
    "base-3",
    # last of the one-core runs: `stream-aug` takes the core `stream` frees, the decoders the one of base-3
    "stream-aug",
    "vae-decoder-2",
    VAE_RUN,
    "refiner-decoder",
    "refiner-low-noise",
    "refiner-restore",
)
# The runs whose UNets are shipped: stage 1 (``init_unet``), stage 2, and the refiner of stage 3.
STAGE1_RUN = "base-3"
STREAM_RUN = "stream-aug"
REFINER_RUN = "refiner-restore"

# Recommended sampler settings of the shipped model (StreamConfig fields; measured in MODEL_CARD.md).
SAMPLER: dict[str, Any] = {
    "steps": 10,
    "guidance": 1.0,
    "scheduler": "ddim",
    "eta": 0.0,
    "init_steps": 20,
    # stronger stage-1 guidance, its over-saturation pulled back (guidance rescale), with the chunk start
    # below: the prompted colours in more frames (MODEL_CARD.md notes)
    "init_guidance": 4.0,
    "init_guidance_rescale": 0.5,
    # DPM-Solver++ (2nd order) for the same 20 stage-1 steps: more colour, fewer jumps and slow videos
    # over 240 frames than DDIM (MODEL_CARD.md notes)
    "init_scheduler": "dpm-multistep",
    # hold each chunk's first 8 latents at the conditioning frames' (MODEL_CARD.md notes: more videos
    # within the jump threshold, colour presence on a par)
    "cond_replacement": True,
    # blend each streamed chunk halfway towards the anchor's colour histograms (MODEL_CARD.md notes:
    # colours kept in more frames, jumps and speed on a par)
    "anchor_colour_match": 0.5,
    # start each streamed chunk from its conditioning frames at 90% of the schedule (MODEL_CARD.md notes:
    # objects and colours carry over; lower strengths slow fast objects under the speed threshold)
    "chunk_strength": 0.9,
}
# Recommended enhancer settings for the shipped refiner (EnhanceConfig fields). Its folder, as every refiner
# folder, stores them under the earlier names (num_inference_steps, guidance_scale;
# enhance_config.stored_form), which every version reads; the model card quotes them as stored.
ENHANCE: dict[str, Any] = {
    # the least noise, one step (MODEL_CARD.md notes): from more noise the under-trained refiner UNet
    # only adds error; the sharper edges come from the refiner VAE's decoder
    "start_step": 1,
    "steps": 1,
    "scheduler": "ddim",
    "guidance": 1.0,
}

# Overrides of the refiner run's scheduler config in the refiner folder. The final DDIM step of stage 3
# ends on the clean sample x̂0 instead of ᾱ_0 (the training schedule's convention): a step from t = 0 to
# ᾱ_0 returns its noised input whatever the UNet predicts (MODEL_CARD.md notes).
REFINER_SCHEDULER: dict[str, Any] = {"set_alpha_to_one": True}
