"""Reproduce the shipped microworld models: train all five recipes, then assemble ``assets/``.

    python -m streamt2v.train.microworld_release --out runs/microworld --assets src/streamt2v/assets

Runs ``vae`` and ``clip``; then ``base`` beside ``vae-decoder`` (the VAE's decoder fine-tuned on the
frozen encoder); then ``stream`` (initialised from ``base``) beside ``base-2`` (``base`` trained further),
then ``base-3`` (``base-2`` trained further with joint image-video batches: the shipped stage-1 UNet)
beside ``stream-aug`` (``stream`` trained further with noised conditioning frames: the shipped stage-2
UNet); then ``vae-decoder-2`` and ``vae-decoder-edges`` (the decoder trained further, the last with
edge-weighted errors: the shipped stage-1/2 VAE); then ``refiner-decoder`` (the decoder fine-tuned
further at the refiner's 64×64) and ``refiner-low-noise`` (the refiner UNet, trained on the low noise
levels stage 3 samples it at), each on both cores; last ``refiner-restore`` (that UNet continued with
restoration training: the shipped refiner UNet), a GPU run, refused on a machine without CUDA unless
``--allow-cpu`` (DESIGN.md §6, docs/training.md), with the exact settings of the shipped weights
(:func:`release_runs`). A recipe whose ``final/`` folder exists is
skipped; an interrupted one resumes from its latest checkpoint (the same samples and random draws, see
``train/loop.py``).
``--cores 2`` starts each run in its own process, with the torch threads its :class:`RecipeRun` asks for,
as soon as the runs it needs are finished and its threads fit beside the running ones (the release: one
thread per run, two runs at a time on a 2-core CPU, the last two runs on both). Then the models are assembled
as fp16 safetensors:

- ``ASSETS/microworld/``: a :class:`~streamt2v.models.bundle.StreamingT2VModel` folder (stage-2 UNet =
  the stream-aug run, ``init_unet`` = the base-3 run, the vae-decoder-edges run's VAE, micro-CLIP
  text/image encoders, tokenizer, DDIM scheduler config, recommended sampler settings :data:`SAMPLER`);
- ``ASSETS/microworld-refiner/``: a :class:`~streamt2v.pipeline.refiner.Refiner` folder (the
  refiner-restore run's UNet, the refiner-decoder run's VAE);
- ``ASSETS/microworld-clip/``: the clip run's whole micro-CLIP (``CLIPModel`` + tokenizer, fp16), the
  CLIP-score model;
- ``ASSETS/MODEL_CARD.md`` (:mod:`streamt2v.train.model_card`) from the runs' logs, the VAE/CLIP quality
  and the behaviour figures (``ASSETS/behaviour.json``, and ``behaviour_more_seeds.json`` for the same
  prompts with more seeds; measured at assembly).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from streamt2v.train.microworld_notes import NOTES

logger = logging.getLogger(__name__)


# Steps of the UNet runs, sized to the 2-core CPU budget (MODEL_CARD.md: wall time per run).
BASE_STEPS = 1600
BASE2_STEPS = 3000
BASE3_STEPS = 2000
STREAM_STEPS = 3400
STREAM_AUG_STEPS = 2200
REFINER_STEPS = 2200
REFINER_DECODER_STEPS = 3000
# Further held-out seeds per behaviour prompt measured at assembly (the card's seed spread).
MORE_SEEDS = 2


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
        # about 10 hours (14.5 s per step).
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
# Recommended enhancer settings for the shipped refiner (EnhanceConfig fields).
ENHANCE: dict[str, Any] = {
    # the least noise, one step (MODEL_CARD.md notes): from more noise the under-trained refiner UNet
    # only adds error; the sharper edges come from the refiner VAE's decoder
    "start_step": 1,
    "num_inference_steps": 1,
    "scheduler": "ddim",
    "guidance_scale": 1.0,
}

# Overrides of the refiner run's scheduler config in the refiner folder. The final DDIM step of stage 3
# ends on the clean sample x̂0 instead of ᾱ_0 (the training schedule's convention): a step from t = 0 to
# ᾱ_0 returns its noised input whatever the UNet predicts (MODEL_CARD.md notes).
REFINER_SCHEDULER: dict[str, Any] = {"set_alpha_to_one": True}


def run_done(out: Path, name: str) -> bool:
    return (out / name / "final").is_dir()


# The runs whose final/ folders the assembly reads (the card reads every run's log, a missing one as n/a).
ASSEMBLY_RUNS: tuple[str, ...] = tuple(
    n for n in ORDER if n in {"vae", "clip", STAGE1_RUN, STREAM_RUN, VAE_RUN, "refiner-decoder", REFINER_RUN}
)


def unfinished_assembly_runs(out: Path) -> list[str]:
    """The runs of :data:`ASSEMBLY_RUNS` not finished in ``out`` (no ``final/`` folder: :func:`run_done`)."""
    return [n for n in ASSEMBLY_RUNS if not run_done(out, n)]


def check_gpu_runs(names: list[str], runs: dict[str, RecipeRun], allow_cpu: bool) -> None:
    """Refuse, before anything starts, to train GPU runs (``RecipeRun.gpu``) on a machine without CUDA."""
    cpu_only = [n for n in names if runs[n].gpu]
    if cpu_only and not allow_cpu and not torch.cuda.is_available():
        raise RuntimeError(
            f"run(s) {cpu_only} are sized for a GPU and no CUDA device is available here; on 2 CPU cores "
            "they take many hours (see their entries in microworld_release.release_runs). Train on a machine "
            "with a GPU, or pass --allow-cpu to run them on the CPU anyway."
        )


def train_one(out: Path, name: str, allow_cpu: bool = False) -> None:
    """Train (or resume) run ``name`` of :func:`release_runs` into ``out/NAME``; a finished run is left alone."""
    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.recipes import make_recipe

    runs = release_runs(out)
    run = runs[name]
    if run_done(out, name):
        logger.info("%s: already finished (%s)", name, out / name / "final")
        return
    check_gpu_runs([name], runs, allow_cpu)
    for need in run.needs:
        if not run_done(out, need):
            raise RuntimeError(f"run {name!r} needs the finished {need!r} run in {out / need}")
    torch.set_num_threads(run.threads)
    t0 = time.perf_counter()
    result = train(
        make_recipe(run.recipe, **run.options),
        TrainConfig(**run.train),
        out / name,
        resume=True,
        progress=False,
    )
    logger.info("%s: step %d in %.0f s", name, result.step, time.perf_counter() - t0)


def startable(
    pending: list[str], running: list[str], runs: dict[str, RecipeRun], done: set[str], cores: int
) -> list[str]:
    """The pending runs (in order) to start now: every run they need is done and their threads fit in
    ``cores`` beside the running ones; a run asking for more than ``cores`` starts only on idle cores."""
    busy = sum(runs[r].threads for r in running)
    start: list[str] = []
    for n in pending:
        fits = busy + runs[n].threads <= cores or (busy == 0 and not start)
        if fits and all(d in done for d in runs[n].needs):
            start.append(n)
            busy += runs[n].threads
    return start


def train_all(out: Path, cores: int = 2, poll_s: float = 5.0, allow_cpu: bool = False) -> None:
    """Train every unfinished recipe, each in its own process, starting it as soon as the runs it needs
    are finished and its torch threads fit in ``cores`` beside the running ones (a run asking for more
    threads than ``cores`` runs alone). ``cores <= 1`` trains them one after another in this process.
    GPU runs on a machine without CUDA are refused up front unless ``allow_cpu`` (:func:`check_gpu_runs`)."""
    runs = release_runs(out)
    pending = [n for n in ORDER if not run_done(out, n)]
    check_gpu_runs(pending, runs, allow_cpu)
    if cores <= 1:
        for n in pending:
            train_one(out, n, allow_cpu)
        return
    running: dict[str, tuple[subprocess.Popen, Any]] = {}
    while pending or running:
        done = {n for n in runs if run_done(out, n)}
        for n in startable(pending, list(running), runs, done, cores):
            env = {**os.environ, "OMP_NUM_THREADS": str(runs[n].threads)}
            cmd = [
                sys.executable,
                "-m",
                "streamt2v.train.microworld_release",
                "--out",
                str(out),
                "--only",
                n,
                *(["--allow-cpu"] if allow_cpu else []),
            ]
            log = open(out / f"{n}.log", "a")  # noqa: SIM115 (closed when the process ends)
            logger.info("starting %s (log %s)", n, out / f"{n}.log")
            running[n] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log)
            pending.remove(n)
        if not running:
            raise RuntimeError(f"cannot start {pending}: the runs they need are missing")
        time.sleep(poll_s)
        for n, (proc, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[n]
                if proc.returncode != 0:
                    for other, _ in running.values():
                        other.wait()
                    raise RuntimeError(
                        f"training {n!r} failed (exit {proc.returncode}); see {out / f'{n}.log'}"
                    )
                logger.info("%s finished", n)


# ------------------------------------------------------------------------------------------ assembly
def shipped_vae_dir(out: Path, run: str = VAE_RUN) -> Path:
    """The VAE of decoder fine-tuning run ``run`` (``VAE_RUN``: stages 1–2, ``refiner-decoder``: the
    refiner), after checking that its encoder is the one the UNets trained on."""
    from safetensors.torch import load_file

    src, dst = out / "vae" / "final" / "vae", out / run / "final" / "vae"
    files = [sorted(p.glob("*.safetensors")) for p in (src, dst)]
    for p, found in zip((src, dst), files):
        if not found:  # was "generator raised StopIteration"
            raise FileNotFoundError(f"no VAE weights (*.safetensors) in {p}")
    a, b = (load_file(str(found[0])) for found in files)
    frozen = [k for k in a if k.startswith(("encoder.", "quant_conv."))]
    changed = [k for k in frozen if not torch.equal(a[k], b[k])]
    if not frozen or changed:
        raise RuntimeError(f"{dst} does not share the encoder of {src} (differing: {changed[:3]})")
    return dst


def assemble_model(out: Path, dest: Path) -> Path:
    """``StreamingT2VModel`` folder (fp16) from the base, stream, vae and clip runs."""
    from streamt2v.train import assemble

    stage1 = out / STAGE1_RUN / "final"
    return assemble.assemble_model(
        dest,
        unet=out / STREAM_RUN / "final" / "unet",
        init_unet=stage1 / "unet",
        vae=shipped_vae_dir(out),
        clip=out / "clip" / "final",
        scheduler=stage1 / "scheduler",
        sampler=SAMPLER,
        name="microworld",
        sources={
            "weights": "trained on the microworld (python -m streamt2v.train.microworld_release)",
            "model_card": "streamt2v/assets/MODEL_CARD.md",
        },
        dtype=torch.float16,
        overwrite=True,
    )


def assemble_refiner(out: Path, dest: Path) -> Path:
    """``Refiner`` folder (fp16) from the refiner, refiner-decoder and clip runs."""
    from streamt2v.train import assemble

    return assemble.assemble_refiner(
        dest,
        unet=out / REFINER_RUN / "final" / "unet",
        vae=shipped_vae_dir(out, "refiner-decoder"),
        clip=out / "clip" / "final",
        scheduler_overrides=REFINER_SCHEDULER,
        enhance=ENHANCE,
        dtype=torch.float16,
        overwrite=True,
    )


def assemble_clip(out: Path, dest: Path) -> Path:
    """The clip run's whole micro-CLIP (``CLIPModel`` + tokenizer, fp16): the CLIP-score model."""
    from transformers import AutoTokenizer, CLIPModel

    from streamt2v.io.folders import atomic_folder

    src = out / "clip" / "final" / "clip"
    with atomic_folder(dest, overwrite=True) as tmp:
        CLIPModel.from_pretrained(src, dtype=torch.float16).save_pretrained(tmp, safe_serialization=True)
        AutoTokenizer.from_pretrained(src).save_pretrained(tmp)
    return dest


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def assemble(out: Path, assets: Path, measure: bool = True) -> None:
    """Write both shipped folders, then (``measure``) the quality and behaviour figures and the card."""
    from streamt2v.train.model_card import MORE_SEEDS_FILE, write_behaviour, write_model_card, write_reference

    missing = unfinished_assembly_runs(out)
    if missing:  # before anything is written
        raise RuntimeError(f"run(s) {missing} are not finished in {out} (no final/ folder)")
    assets.mkdir(parents=True, exist_ok=True)
    model = assemble_model(out, assets / "microworld")
    refiner = assemble_refiner(out, assets / "microworld-refiner")
    clip = assemble_clip(out, assets / "microworld-clip")
    total = folder_mb(model) + folder_mb(refiner) + folder_mb(clip)
    logger.info(
        "assets: model %.1f MB, refiner %.1f MB, clip %.1f MB",
        folder_mb(model),
        folder_mb(refiner),
        folder_mb(clip),
    )
    if total > 40:
        raise RuntimeError(f"shipped weights are {total:.1f} MB, over the 40 MB budget")
    if measure:
        from streamt2v.microworld import behaviour
        from streamt2v.microworld.quality import clip_quality, refiner_quality, vae_quality
        from streamt2v.models.bundle import StreamingT2VModel

        quality = {
            "vae": vae_quality(shipped_vae_dir(out), sizes=(32, 64)),
            "refiner_vae": vae_quality(shipped_vae_dir(out, "refiner-decoder"), sizes=(64,)),
            "refiner": refiner_quality(refiner),
            "refiner_through_vae": refiner_quality(refiner, through_vae=shipped_vae_dir(out)),
            "clip": clip_quality(out / "clip" / "final"),
        }
        (out / "quality.json").write_text(json.dumps(quality, indent=1) + "\n")
        shipped = StreamingT2VModel.from_pretrained(model, torch_dtype=torch.float32)
        tested = behaviour.behaviour_prompts()
        write_behaviour(assets, behaviour.measure(shipped, tested))
        more_seeds = behaviour.more_seeds(tested, MORE_SEEDS)
        more = behaviour.measure(shipped, more_seeds, ablation=False)
        write_behaviour(assets, more, MORE_SEEDS_FILE)
        rendered = behaviour.measure_reference(tested + more_seeds)
        write_reference(
            assets, rendered, behaviour.measure_reference(tested + more_seeds, autoencoder=shipped.vae)
        )
    write_model_card(out, assets, release_runs(out), SAMPLER, ENHANCE, VAE_RUN, NOTES)


def measure_long(assets: Path, num_frames: int) -> Path:
    """The shipped model's behaviour over ``num_frames``-frame videos (the tested prompts and seeds and
    their :data:`MORE_SEEDS` further seeds), per window, into ``assets``; the card shows it when written."""
    from streamt2v.microworld import behaviour
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.train.model_card import write_long_behaviour

    model = StreamingT2VModel.from_pretrained(assets / "microworld")
    tested = behaviour.behaviour_prompts()
    rows = behaviour.measure_long(model, tested + behaviour.more_seeds(tested, MORE_SEEDS), num_frames)
    return write_long_behaviour(assets, rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/microworld"), help="folder of the training runs")
    p.add_argument("--assets", type=Path, default=None, help="write the shipped folders + model card here")
    p.add_argument("--cores", type=int, default=2, help="CPU cores to share among the training runs")
    p.add_argument("--only", choices=sorted(release_runs(Path("."))), help="train just this recipe")
    p.add_argument("--skip-train", action="store_true", help="only assemble from finished runs")
    p.add_argument("--no-measure", action="store_true", help="assemble without the behaviour figures")
    p.add_argument(
        "--allow-cpu", action="store_true", help="train the GPU runs (refiner-restore) on the CPU too (hours)"
    )
    p.add_argument(
        "--measure-long",
        type=int,
        metavar="FRAMES",
        help="only measure the shipped model in --assets on FRAMES-frame videos of the behaviour prompts and "
        "seeds, per 80-frame window, into ASSETS/behaviour_long.json (1200 frames: ~3 min per video on 2 CPU "
        "cores, 12 videos)",
    )
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if a.measure_long is not None:
        if a.assets is None:
            p.error("--measure-long needs --assets (the folder holding the shipped model)")
        measure_long(a.assets, a.measure_long)
        return 0
    if a.skip_train and a.assets is None:
        p.error(
            "--skip-train needs --assets (it only assembles the shipped folders there from finished runs)"
        )
    try:
        if not a.skip_train:  # GPU runs on a machine without CUDA: refused before --out is created
            runs = release_runs(a.out)
            check_gpu_runs(
                [a.only] if a.only else [n for n in runs if not run_done(a.out, n)], runs, a.allow_cpu
            )
        elif unfinished_assembly_runs(a.out):  # refused before --out is created
            raise RuntimeError(
                f"--skip-train: run(s) {unfinished_assembly_runs(a.out)} are not finished in {a.out}"
            )
        a.out.mkdir(parents=True, exist_ok=True)
        if a.only:
            train_one(a.out, a.only, a.allow_cpu)
            return 0
        if not a.skip_train:
            train_all(a.out, a.cores, allow_cpu=a.allow_cpu)
        if a.assets is not None:
            assemble(a.out, a.assets, measure=not a.no_measure)
    except (RuntimeError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
