"""``MODEL_CARD.md`` of the shipped microworld models, written from the training runs' own records.

Per recipe: architecture (parameter count and sizes from the exported configs), loop settings, hardware,
wall time (sum of the per-step seconds in ``loss.jsonl``) and final losses (mean of the last 100 steps);
then the base/refiner resolution choice (measured step costs) and the behaviour figures with thresholds
(``behaviour.json`` beside the card, written by :func:`write_behaviour`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamt2v.io.folders import atomic_write_file
from streamt2v.memory import describe_machine
from streamt2v.microworld.behaviour import THRESHOLDS, VideoBehaviour, summary, video_passes
from streamt2v.pipeline.enhance_config import stored_form


def _log(run: Path) -> list[dict[str, Any]]:
    path = run / "loss.jsonl"
    if not path.is_file():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def folder_mb(path: Path) -> float:
    """The size of the files under ``path`` in MB (10^6 bytes), the unit of the card and of the release's
    40 MB budget (the card said MB of 2^20 bytes)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def _params(folder: Path) -> int:
    from safetensors import safe_open

    n = 0
    for f in folder.rglob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            for k in st.keys():  # noqa: SIM118 (safe_open has no __iter__)
                n += math.prod(st.get_slice(k).get_shape())
    return n


def _architecture(out: Path, name: str, recipe: str, preset: str) -> str:
    final = out / name / "final"
    if recipe == "vae":
        cfg = json.loads((final / "vae" / "config.json").read_text())
        return (
            f"diffusers AutoencoderKL, blocks {cfg['block_out_channels']}, {cfg['latent_channels']} latent "
            f"channels, factor {2 ** (len(cfg['block_out_channels']) - 1)}, scaling factor "
            f"{cfg['scaling_factor']:.4f}; {_params(final / 'vae') / 1e6:.2f} M params"
        )
    if recipe == "clip":
        t = json.loads((final / "text_encoder" / "config.json").read_text())
        return (
            f"micro-CLIP: CLIPTextModel + CLIPVisionModelWithProjection, width {t['hidden_size']}, "
            f"{t['num_hidden_layers']} layers, {t['max_position_embeddings']} tokens, word-level tokenizer; "
            f"{(_params(final / 'text_encoder') + _params(final / 'image_encoder')) / 1e6:.2f} M params"
        )
    cfg = json.loads((final / "unet" / "config.json").read_text())
    base = cfg.get("unet", cfg)
    arch = (
        f"UNet3DConditionModel (`{preset}` preset), blocks {base.get('block_out_channels')}, "
        f"latent {base.get('sample_size')}×{base.get('sample_size')}"
    )
    if recipe == "stream":
        arch = "StreamingUNet = base " + arch + " + CAM + APM"
    return f"{arch}; {_params(final / 'unet') / 1e6:.2f} M params"


def _objectives(runs: Mapping[str, Any]) -> str:
    """Prediction type and terminal SNR of the diffusion runs, from their recipe options (grouped)."""
    groups: dict[str, list[str]] = {}
    for name, run in runs.items():
        if run.recipe in ("vae", "clip"):
            continue
        o = run.options
        kind = "v-prediction" if o.get("prediction_type") == "v_prediction" else "ε-prediction"
        if o.get("rescale_betas_zero_snr"):
            kind += " with zero terminal SNR (rescaled betas, trailing timesteps)"
        groups.setdefault(kind, []).append(f"`{name}`")
    return "; ".join(f"{', '.join(names)}: {kind}" for kind, names in groups.items())


def describe_lr_schedules(runs: Mapping[str, Any]) -> str:
    """The learning-rate schedule after warm-up, naming the runs that decay it (``lr_schedule``)."""
    cosine = [f"`{n}`" for n, run in runs.items() if run.train.get("lr_schedule") == "cosine"]
    if not cosine:
        return "constant lr after warm-up"
    return f"constant lr after warm-up ({', '.join(cosine)}: cosine decay to 0 at the last step)"


def _gpu_runs(runs: Mapping[str, Any]) -> str:
    """The hardware clause of the GPU runs (``RecipeRun.gpu``: threads column "GPU"), or ""."""
    parts = [
        f"`{n}`: one GPU, {run.train.get('mixed_precision', 'no')} mixed precision"
        for n, run in runs.items()
        if run.gpu
    ]
    return f" ({'; '.join(parts)}; see Notes)" if parts else ""


def recipe_rows(out: Path, runs: Mapping[str, Any]) -> list[str]:
    from streamt2v.train.video_recipes import BaseRecipe

    rows = [
        "| run | architecture | steps | batch | lr | EMA | threads | s/step | wall time | "
        "final loss (last 100) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, run in runs.items():
        log = _log(out / name)
        wall = sum(r.get("sec", 0.0) for r in log) / 60
        tail = log[-100:]
        keys = [k for k in (tail[0] if tail else {}) if k not in ("step", "lr", "sec", "grad_norm")]
        losses = ", ".join(f"{k} {sum(r[k] for r in tail) / len(tail):.4g}" for k in keys) if tail else "n/a"
        t = run.train
        rows.append(
            f"| {name} | "
            f"{_architecture(out, name, run.recipe, run.options.get('preset', BaseRecipe.preset))} | "
            f"{log[-1]['step'] if log else 0} | {t['batch_size']} | {t['lr']:g} | "
            f"{t.get('ema_decay', 0.999)} | {'GPU' if run.gpu else run.threads} | "
            f"{60 * wall / max(1, len(log)):.2f} | {wall:.1f} min | {losses} |"
        )
    return rows


BEHAVIOUR_ROWS: tuple[tuple[str, str, str], ...] = (
    ("colour_presence", "≥", "prompted colours present (fraction of frames, worst object)"),
    ("shape_presence", "≥", "prompted shapes present (fraction of frames, worst object)"),
    ("background", "≥", "background colour kept (fraction of frames)"),
    ("jump_ratio", "≤", "boundary / inside-chunk object displacement (CAM)"),
    ("speed_ratio", "≥", "mean object speed / speed the caption implies"),
    ("cam_ablation_gain", "≥", "jump ratio without CAM conditioning / with it"),
)


def behaviour_section(
    results: Sequence[Mapping[str, Any]], more: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """The thresholded figures on the tested videos (``results``), per video, and (``more``: the same
    prompts with further seeds) how many of all the videos pass each figure."""
    if not results:
        return ["Not measured yet: run `python -m streamt2v.train.microworld_release --assets ...`."]
    rs = [VideoBehaviour(**r) for r in results]
    s = summary(rs)
    lines = [
        "80-frame videos (stage 1 + 8 streaming chunks, recommended sampler settings), held-out prompts and "
        "seeds (`EVAL_PROMPTS`), measured by the palette probes (`metrics/probes.py`); "
        "`tests/test_microworld_behaviour.py` checks the same thresholds.",
        "",
        "| figure | threshold | measured (worst video) | pass |",
        "|---|---|---:|---|",
    ]
    for key, op, what in BEHAVIOUR_ROWS:
        t, v = THRESHOLDS[key], s[key]
        ok = v >= t if op == "≥" else v <= t
        lines.append(f"| {what} | {op} {t:g} | {v:.3f} | {'yes' if ok else '**no**'} |")
    ok = bool(s["colours_first_last"])
    lines.append(
        f"| prompted colours in the first and last frame | all | {'all' if ok else 'not all'} | "
        f"{'yes' if ok else '**no**'} |"
    )
    lines += [
        "",
        "Per video:",
        "",
        "| prompt | seed | colour | shape | bg | jump | jump w/o CAM | speed px/f |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rs:
        # when the sampler also hands the conditioning frames over otherwise (cond_replacement,
        # chunk_strength), the ablation compares against the video sampled with the CAM alone
        ablated = f"{r.ablated_jump_ratio:.2f}"
        if r.cam_jump_ratio is not None:
            ablated += f" (vs {r.cam_jump_ratio:.2f} with the CAM alone)"
        lines.append(
            f"| {r.prompt} | {r.seed} | {r.colour_presence:.2f} | {r.shape_presence:.2f} | "
            f"{r.background:.2f} | {r.jump_ratio:.2f} | {ablated} | {r.speed:.2f} (implied "
            f"{r.implied_speed:.2f}) |"
        )
    if more:
        lines += seed_spread_lines(rs + [VideoBehaviour(**r) for r in more], len(more) // len(rs))
    return lines


def seed_spread_lines(videos: Sequence[VideoBehaviour], extra_seeds: int) -> list[str]:
    """How many of ``videos`` (the tested ones + ``extra_seeds`` more seeds per prompt) pass each figure."""
    passes = [video_passes(v) for v in videos]
    s = summary(videos)
    lines = [
        "",
        f"Seed spread: the same prompts with {extra_seeds} more held-out seeds each (`behaviour.more_seeds`, "
        f"no CAM ablation), {len(videos)} videos in all:",
        "",
        "| figure | threshold | worst video | videos passing |",
        "|---|---|---:|---:|",
    ]
    for key, op, what in BEHAVIOUR_ROWS:
        if key in passes[0]:
            n = sum(p[key] for p in passes)
            lines.append(f"| {what} | {op} {THRESHOLDS[key]:g} | {s[key]:.3f} | {n} of {len(videos)} |")
    n = sum(p["colours_first_last"] for p in passes)
    lines.append(f"| prompted colours in the first and last frame | all | | {n} of {len(videos)} |")
    return lines


def reference_lines(
    rendered: Sequence[Mapping[str, Any]], through_vae: Sequence[Mapping[str, Any]], tested: int = 0
) -> list[str]:
    """What the thresholds allow: the figures of the ground truth of the measured ``(prompt, seed)`` pairs,
    rendered and after the shipped VAE's round trip (``behaviour.measure_reference``). The first ``tested``
    pairs are the per-video table's, whose figures are also given alone: the table's worst is over all."""
    if not rendered:
        return []
    cols = [[VideoBehaviour(**r) for r in rs] for rs in (rendered, through_vae)]
    passes = [[video_passes(v) for v in vs] for vs in cols]
    worst = [summary(vs) for vs in cols]
    n = len(cols[0])
    lines = [
        "",
        f"Reachable: the ground truth of the same {n} (prompt, seed) pairs, each held-out scene rendered by "
        "the microworld and that video after the shipped VAE's round trip (encode, decode), measured the "
        "same way (`behaviour.measure_reference`). A threshold the rendered scenes miss is beyond the "
        "probes; one the round trip misses is beyond this VAE, whatever the UNets learn.",
        "",
        "| figure | threshold | rendered: worst | passing | through the VAE: worst | passing |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, op, what in BEHAVIOUR_ROWS:
        if key in passes[0][0]:
            cells = [f"{w[key]:.3f} | {sum(p[key] for p in ps)} of {n}" for w, ps in zip(worst, passes)]
            lines.append(f"| {what} | {op} {THRESHOLDS[key]:g} | {' | '.join(cells)} |")
    a, b = (sum(p["colours_first_last"] for p in ps) for ps in passes)
    lines.append(f"| prompted colours in the first and last frame | all | | {a} of {n} | | {b} of {n} |")
    if 0 < tested < n:
        whole = [sum(all(p.values()) for p in ps[:tested]) for ps in passes]
        first = summary(cols[1][:tested])
        lines += [
            "",
            f"The first {tested} pairs are the per-video table's tested seeds: {whole[0]} of {tested} pass "
            f"every threshold rendered, {whole[1]} of {tested} through the VAE (there, worst: colours "
            f"{first['colour_presence']:.3f}, shapes {first['shape_presence']:.3f}, jump ratio "
            f"{first['jump_ratio']:.3f}, speed ratio {first['speed_ratio']:.3f}).",
        ]
    return lines


def long_video_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Long videos (``behaviour.measure_long``): per window, over all videos, the mean prompted-colour and
    shape presence and how many videos pass each per-video threshold; does anything drift with length?"""
    if not rows:
        return []
    n, frames, window = len(rows), rows[0]["num_frames"], rows[0]["window"]
    per_window = list(zip(*([VideoBehaviour(**w) for w in r["windows"]] for r in rows)))
    lines = [
        "",
        f"Long videos: the same {n} (prompt, seed) pairs at {frames} frames (stage 1 + "
        f"{(frames - 16 + 7) // 8} streaming chunks, recommended settings), each {window}-frame window "
        "measured as one of the videos above, with the chunk boundaries inside it (`behaviour.measure_long`; "
        f"`python -m streamt2v.train.microworld_release --assets ... --measure-long {frames}`). Videos "
        "passing each per-video threshold, of "
        f"{n}:",
        "",
        "| frames | colour presence (mean) | colours ≥ 0.9 | shape presence (mean) | background ≥ 0.9 "
        "| jump ratio ≤ 3 | speed ratio ≥ 0.5 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i, videos in enumerate(per_window):
        passes = [video_passes(v) for v in videos]
        count = {k: sum(p[k] for p in passes) for k in passes[0]}
        lines.append(
            f"| {i * window}–{(i + 1) * window - 1} | {np.mean([v.colour_presence for v in videos]):.2f} "
            f"| {count['colour_presence']} | {np.mean([v.shape_presence for v in videos]):.2f} "
            f"| {count['background']} | {count['jump_ratio']} | {count['speed_ratio']} |"
        )
    return lines


def quality_section(out: Path, vae_run: str) -> list[str]:
    """VAE reconstruction (the stage-1/2 VAE of run ``vae_run``, the refiner's), refiner and CLIP retrieval
    on held-out scenes (``out/quality.json``)."""
    path = out / "quality.json"
    if not path.is_file():
        return []
    q = json.loads(path.read_text())
    c = q["clip"]
    lines = [
        "## VAE, refiner and micro-CLIP quality (held-out scenes, `microworld/quality.py`)",
        "",
        "VAE reconstruction of rendered frames, per-pixel RGB error in 0–255 units (palette half-separation "
        f"{q['vae']['palette_half_separation']:.1f}: a smaller error cannot turn one palette colour into "
        "another):",
        "",
        "| VAE | size | mean | 99th pct | 99.9th pct | object pixels whose nearest palette colour changes |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, name in (("vae", f"stages 1–2 (`{vae_run}`)"), ("refiner_vae", "refiner (`refiner-decoder`)")):
        v = q.get(key, {})
        for size in (32, 64):
            if f"{size}_mean" in v:
                lines.append(
                    f"| {name} | {size}×{size} | {v[f'{size}_mean']:.1f} | {v[f'{size}_p99']:.1f} | "
                    f"{v[f'{size}_p999']:.1f} | {100 * v[f'{size}_object_colour_flips']:.2f}% |"
                )
    if "refiner" in q:
        r = q["refiner"]
        half = int(r["size"]) // 2
        lines += [
            "",
            f"Stage 3 on held-out scenes rendered at {half}×{half}, against the same scenes rendered at "
            f"{int(r['size'])}×{int(r['size'])} (same error units): refiner with the recommended settings "
            f"{r['refined_mean']:.1f}, bilinear upscaling {r['bilinear_mean']:.1f}"
            + (
                f"; pixels within 2 px of an object edge whose nearest palette colour is wrong: refiner "
                f"{100 * r['refined_edge_errors']:.1f}%, bilinear {100 * r['bilinear_edge_errors']:.1f}%."
                if "refined_edge_errors" in r
                else "."
            ),
        ]
    if "refiner_through_vae" in q:
        r = q["refiner_through_vae"]
        lines[-1] += (
            f" The same scenes passed through the stage-1/2 VAE first (encode, decode), as generated videos "
            f"reach stage 3: refiner {r['refined_mean']:.1f}, bilinear upscaling {r['bilinear_mean']:.1f}; "
            f"edge pixels miscoloured: refiner {100 * r['refined_edge_errors']:.1f}%, bilinear "
            f"{100 * r['bilinear_edge_errors']:.1f}%."
        )
    rounds = [(k, q[k]) for k in ("refiner", "refiner_through_vae") if "round_trip_mean" in q.get(k, {})]
    if rounds:
        lines[-1] += (
            " The refiner VAE's round trip of the bilinear video, i.e. stage 3 with a UNet that changes "
            "nothing: "
            + "; ".join(
                f"{'through the stage-1/2 VAE' if k.endswith('vae') else 'rendered'} "
                f"{r['round_trip_mean']:.1f} (edge pixels {100 * r['round_trip_edge_errors']:.1f}%)"
                for k, r in rounds
            )
            + "."
        )
    lines += [
        "",
        f"micro-CLIP top-1 retrieval among {int(c['samples'])} held-out (frame, caption) pairs: frame → "
        f"caption {100 * c['frame_to_caption_top1']:.1f}%, caption → frame "
        f"{100 * c['caption_to_frame_top1']:.1f}% (a hit = the identical caption).",
        "",
    ]
    return lines


BEHAVIOUR_FILE = "behaviour.json"  # the tested videos
MORE_SEEDS_FILE = "behaviour_more_seeds.json"  # the same prompts, further seeds
REFERENCE_FILE = "behaviour_reference.json"  # their ground truth: {"rendered": [...], "through_vae": [...]}
LONG_FILE = (
    "behaviour_long.json"  # long videos of the same prompts and seeds, per window (behaviour.measure_long)
)


def _write_text(path: Path, text: str) -> None:
    """Atomically: the figures come from measurements of half an hour and more (the long videos')."""
    atomic_write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_behaviour(assets: Path, results: Sequence[VideoBehaviour], name: str = BEHAVIOUR_FILE) -> Path:
    path = assets / name
    _write_text(path, json.dumps([r.as_dict() for r in results], indent=1) + "\n")
    return path


def write_reference(
    assets: Path, rendered: Sequence[VideoBehaviour], through_vae: Sequence[VideoBehaviour]
) -> Path:
    path = assets / REFERENCE_FILE
    data = {"rendered": [r.as_dict() for r in rendered], "through_vae": [r.as_dict() for r in through_vae]}
    _write_text(path, json.dumps(data, indent=1) + "\n")
    return path


def write_long_behaviour(assets: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    path = assets / LONG_FILE
    _write_text(path, json.dumps(list(rows), indent=1) + "\n")
    return path


def _read_behaviour(assets: Path, name: str) -> list[dict[str, Any]]:
    path = assets / name
    return json.loads(path.read_text()) if path.is_file() else []


def write_model_card(
    out: Path,
    assets: Path,
    runs: Mapping[str, Any],
    sampler: Mapping[str, Any],
    enhance: Mapping[str, Any],
    vae_run: str,
    notes: Sequence[str] = (),
) -> Path:
    """Write ``assets/MODEL_CARD.md`` (``vae_run``: the run whose VAE stages 1–2 ship)."""
    results = _read_behaviour(assets, BEHAVIOUR_FILE)
    more = _read_behaviour(assets, MORE_SEEDS_FILE)
    ref_path = assets / REFERENCE_FILE
    reference = json.loads(ref_path.read_text()) if ref_path.is_file() else {}
    sizes = {
        d: folder_mb(assets / d)
        for d in ("microworld", "microworld-refiner", "microworld-clip")
        if (assets / d).is_dir()
    }
    lines = [
        "# Microworld models (the shipped default)",
        "",
        "Every model of StreamingT2V trained from scratch on the procedural microworld (coloured shapes "
        "bouncing over plain or patterned backgrounds with camera pans, captioned by a grammar; rendered by "
        "`streamt2v.microworld`, described in docs/microworld.md of streamt2v's source repository) with the "
        "project's own training code (`streamt2v train`, docs/training.md there). "
        "Reproduce with `make train-microworld` "
        "(`python -m streamt2v.train.microworld_release --out runs/microworld --assets "
        "src/streamt2v/assets`).",
        "",
        "- `microworld/`: StreamingT2VModel folder — stage-1 `init_unet` (base run), stage-2 `unet` "
        "(stream run: base + CAM + APM), VAE, micro-CLIP text encoder + tokenizer + image encoder (APM), "
        "DDIM scheduler config; 32×32 frames, 8 fps.",
        "- `microworld-refiner/`: Refiner folder (stage 3, 64×64), same VAE and text encoder.",
        "- `microworld-clip/`: the whole micro-CLIP (transformers `CLIPModel` + tokenizer, both "
        "projections): the CLIP-score model (`streamt2v evaluate --metrics clip --clip-model microworld`).",
        f"- Folder sizes (fp16 safetensors, configs, tokenizer files; MB = 10^6 bytes): "
        f"{', '.join(f'{k} {v:.1f} MB' for k, v in sizes.items())} ({sum(sizes.values()):.1f} MB in all).",
        "",
        "Only the microworld vocabulary is understood (`a COLOUR SHAPE bouncing on a COLOUR background`, "
        "see docs/microworld.md); other words are unknown tokens. Every training caption has a speed word "
        "(`slowly`, `fast`): give one, as prompts without it can be misread (Notes).",
        "",
        "## Training",
        "",
        f"Hardware: {describe_machine(threads=False)}{_gpu_runs(runs)}; each run with the torch threads of "
        "its row, runs sharing the 2 cores only while their threads fit (see Notes); wall time = the sum of "
        "the step times. DDPM objective, scaled-linear betas 0.00085→0.012 (1000 steps); "
        f"{_objectives(runs)}; AdamW, {describe_lr_schedules(runs)}, grad-norm clip 1.0, exported weights = "
        "EMA.",
        "",
        *recipe_rows(out, runs),
        "",
        "Recipe options (exact, as in `train/microworld_settings.py`):",
        "",
        *[
            f"- `{n}`: options `{json.dumps(r.options)}`, loop `{json.dumps(r.train)}`"
            for n, r in runs.items()
        ],
        "",
        *quality_section(out, vae_run),
        "## Why 32×32 base and 64×64 refiner",
        "",
        "Measured seconds per optimizer step on this machine (1 thread, `tiny` UNet, VAE factor 4; "
        "docs/microworld.md): base UNet batch 4×16 frames 0.55–0.84 s at 32×32 against 2.3–3.9 s at 64×64, "
        "so a 64×64 base would get ~4× fewer steps in the same budget, and the UNets are still under-trained "
        "at 32×32 (table above). Objects are 8–13 px across at 32×32, enough for the probes (their shape "
        "templates recognise 99% of rendered objects at that size, `tests/test_metrics_probes.py`). The "
        "refiner works at 2× (64×64), which is why it gets fewer steps.",
        "",
        "## Recommended sampling (stored in `model_index.json`)",
        "",
        f"- stages 1–2 (`streamt2v.sampler`): `{json.dumps(dict(sampler))}`",
        f"- stage 3 (`streamt2v_enhance` of the refiner): `{json.dumps(stored_form(enhance))}`",
        "",
        "## Behaviour (held-out prompts and seeds)",
        "",
        *behaviour_section(results, more),
        *reference_lines(reference.get("rendered", []), reference.get("through_vae", []), len(results)),
        *long_video_lines(_read_behaviour(assets, LONG_FILE)),
    ]
    if notes:
        lines += ["", "## Notes", "", *notes]
    path = assets / "MODEL_CARD.md"
    _write_text(path, "\n".join(lines) + "\n")
    return path
