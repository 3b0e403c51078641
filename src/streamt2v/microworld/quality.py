"""Quality figures of the trained microworld VAE, refiner and micro-CLIP on held-out scenes (seeds ≥ 2**31).

- VAE: per-pixel reconstruction error in 0–255 RGB units (Euclidean over the channels) of rendered
  frames, compared with the palette's separation (half the smallest distance between two palette
  colours: a reconstruction error below it cannot turn one palette colour into another), and the
  fraction of object-interior pixels whose nearest palette colour changes.
- Refiner: the same error for stage 3 (enhancing a video rendered at half the refiner's size) and for
  bilinear upscaling of that video; and, since a per-pixel error favours blur over a sharp edge a
  fraction of a pixel off, the fraction of pixels near object edges whose nearest palette colour
  differs from the full-size render's (blurred edges blend two colours into a third).
- CLIP: top-1 retrieval accuracy frame → caption and caption → frame among held-out samples (a hit
  when the retrieved caption is identical to the true one, so scenes sharing a caption do not count
  as misses).
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamt2v.microworld.captions import caption_for
from streamt2v.microworld.dataset import EVAL_SEED_BASE
from streamt2v.microworld.palette import COLOURS
from streamt2v.microworld.render import render, render_with_truth, sample_scene

logger = logging.getLogger(__name__)

PALETTE = np.array(list(COLOURS.values()), np.float32)


def palette_half_separation() -> float:
    """Half the smallest RGB distance between two palette colours (0–255 units)."""
    d = min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(PALETTE, 2))
    return d / 2


def _check_count(name: str, value: object, least: int = 1) -> None:
    # 0 scenes ended in numpy's 'need at least one array to concatenate' after the model was loaded
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an int ≥ {least}, got {value!r}")


def held_out_scenes(n: int, offset: int = 100_000) -> list[Any]:
    return [sample_scene(np.random.default_rng(EVAL_SEED_BASE + offset + i)) for i in range(n)]


def _rgb_error(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per-pixel Euclidean RGB distance (0–255 units) of two ``(3, ...)`` videos in ``[-1, 1]``."""
    return ((a.clamp(-1, 1) - b.clamp(-1, 1)) * 127.5).pow(2).sum(0).sqrt().numpy()


def _nearest_palette(video: torch.Tensor) -> np.ndarray:
    """``(T, H, W)`` index of each pixel's nearest palette colour; ``video`` ``(3, T, H, W)`` in
    ``[-1, 1]``."""
    rgb = ((video.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 3, 0).numpy()
    return np.linalg.norm(rgb[..., None, :] - PALETTE, axis=-1).argmin(-1)


def edge_palette_errors(video: torch.Tensor, reference: torch.Tensor, object_ids: np.ndarray) -> np.ndarray:
    """Per-pixel misses (1.0 = the nearest palette colour differs from ``reference``'s) within 2 px of an
    object edge; ``object_ids`` ``(T, H, W)`` is the reference's truth (0 = background)."""
    import cv2

    kernel = np.ones((5, 5), np.uint8)
    masks = (np.asarray(object_ids) > 0).astype(np.uint8)
    band = np.stack([cv2.dilate(m, kernel) != cv2.erode(m, kernel) for m in masks])
    return (_nearest_palette(video)[band] != _nearest_palette(reference)[band]).astype(np.float64)


@torch.no_grad()
def vae_quality(vae_dir: str | Path, sizes: tuple[int, ...] = (32, 64), scenes: int = 16) -> dict[str, float]:
    """Reconstruction error of held-out rendered frames (4 frames per scene) at each size."""
    import cv2

    from streamt2v.train.frozen import load_frozen_vae

    _check_count("scenes", scenes)
    if isinstance(sizes, (int, np.integer)) or not sizes:
        raise ValueError(f"sizes must be a non-empty tuple of frame sizes, got {sizes!r}")
    vae = load_frozen_vae(
        str(vae_dir),
        option="vae_dir",
        what="the VAE measured ({})",
        source="a vae run's final/vae or a model folder's vae/",
    )
    out: dict[str, float] = {"palette_half_separation": palette_half_separation()}
    for size in sizes:
        errs, flips = [], []
        for k, scene in enumerate(held_out_scenes(scenes)):
            video, truth = render_with_truth(scene, 4, size, start_frame=17 * k)
            rec = vae.decode(vae.encode(video[None]))[0]
            errs.append(_rgb_error(video, rec).ravel())
            kernel = np.ones((3, 3), np.uint8)
            inner = np.stack([cv2.erode((i > 0).astype(np.uint8), kernel).astype(bool) for i in truth.ids])
            if inner.any():
                flips.append(
                    (_nearest_palette(video)[inner] != _nearest_palette(rec)[inner]).astype(np.float64)
                )
        e = np.concatenate(errs)
        out[f"{size}_mean"] = float(e.mean())
        out[f"{size}_p99"] = float(np.percentile(e, 99))
        out[f"{size}_p999"] = float(np.percentile(e, 99.9))
        out[f"{size}_object_colour_flips"] = float(np.concatenate(flips).mean()) if flips else float("nan")
    return out


@torch.no_grad()
def refiner_quality(
    refiner_dir: str | Path,
    scenes: int = 16,
    frames: int = 24,
    through_vae: str | Path | None = None,
    **settings: Any,
) -> dict[str, float]:
    """Stage 3 on held-out scenes rendered at half the refiner's size, against the same scenes rendered
    at its size, for the enhanced video (the folder's recommended settings updated by ``settings``,
    ``EnhanceConfig`` fields) and for bilinear upscaling (what the refiner has to beat): mean per-pixel
    RGB error (0–255, ``*_mean``) and the fraction of edge pixels whose nearest palette colour is wrong
    (:func:`edge_palette_errors`, ``*_edge_errors``), and for the refiner VAE's round trip of the bilinear
    video (``round_trip_*``: stage 3 with a UNet that changes nothing, so ``refined`` below it is what the
    UNet itself sharpens). ``through_vae``: a VAE folder (the stage-1/2
    model's ``vae/``) whose round trip the half-size renders go through first, as generated videos do."""
    import torch.nn.functional as F

    from streamt2v.pipeline.enhance import enhance_video
    from streamt2v.pipeline.refiner import Refiner
    from streamt2v.train.frozen import load_frozen_vae

    _check_count("scenes", scenes)
    _check_count("frames", frames)
    low_vae = None
    if through_vae is not None:  # the cheaper load first: a wrong folder is named before the refiner loads
        low_vae = load_frozen_vae(
            str(through_vae),
            option="through_vae",
            what="the stage-1/2 VAE ({})",
            source="the stage-1/2 model's vae/",
        )
    refiner = Refiner.from_pretrained(refiner_dir)
    size, cfg = refiner.frame_size[0], refiner.config(**settings)
    vae = refiner.vae
    errors: dict[str, list[np.ndarray]] = {k: [] for k in ("refined", "bilinear", "round_trip")}
    edge_errors: dict[str, list[np.ndarray]] = {k: [] for k in errors}
    for k, scene in enumerate(held_out_scenes(scenes, offset=200_000)):
        low = render(scene, frames, size // 2)  # (3, T, h, w)
        if low_vae is not None:
            low = low_vae.decode(low_vae.encode(low[None]))[0]
        high, truth = render_with_truth(scene, frames, size)
        bilinear = F.interpolate(low.transpose(0, 1), size=size, mode="bilinear").transpose(0, 1)
        videos = {
            "refined": enhance_video(low[None], caption_for(scene), refiner, cfg, seed=k, progress=False)[0],
            "bilinear": bilinear,
            # what stage 3 gives if its UNet changes nothing: the refiner VAE's round trip of its input
            "round_trip": vae.decode(vae.encode(bilinear[None].to(vae.dtype))).float()[0],
        }
        for name, video in videos.items():
            errors[name].append(_rgb_error(video, high).ravel())
            edge_errors[name].append(edge_palette_errors(video, high, truth.ids))
    out = {"size": float(size)}
    for name in errors:
        out[f"{name}_mean"] = float(np.concatenate(errors[name]).mean())
        out[f"{name}_edge_errors"] = float(np.concatenate(edge_errors[name]).mean())
    return out


@torch.no_grad()
def clip_quality(clip_dir: str | Path, samples: int = 64, rounds: int = 4) -> dict[str, float]:
    """Top-1 retrieval accuracy among ``samples`` held-out (frame, caption) pairs, averaged over rounds,
    with the exported whole CLIP model (``clip/``: the CLIP-score model) and the APM preprocessing."""
    from transformers import CLIPModel, CLIPVisionModelWithProjection

    from streamt2v.metrics.clip_score import features_tensor
    from streamt2v.models.encoders import ImageEncoder
    from streamt2v.models.strict_loading import from_pretrained_strict
    from streamt2v.models.tokenizers import load_tokenizer

    _check_count("samples", samples)
    _check_count("rounds", rounds)
    missing = [n for n in ("clip", "image_encoder") if not (Path(clip_dir) / n).is_dir()]
    if missing:  # transformers took the missing path for a hub id ('Repo id must be in the form ...')
        raise FileNotFoundError(
            f"{clip_dir} has no {' and no '.join(n + '/' for n in missing)} folder: clip_quality takes the "
            "final/ folder of a `streamt2v train clip` run (its clip/ and image_encoder/)"
        )
    root = Path(clip_dir) / "clip"
    model = from_pretrained_strict(CLIPModel, root, "micro-CLIP folder", dtype=torch.float32).eval()
    # refused without a vocabulary, where transformers builds one that reads every word as the same token
    tokenizer = load_tokenizer(root, what="micro-CLIP folder")
    image = ImageEncoder(
        from_pretrained_strict(
            CLIPVisionModelWithProjection,
            Path(clip_dir) / "image_encoder",
            "image encoder folder",
            dtype=torch.float32,
        ).eval()
    )
    length = model.config.text_config.max_position_embeddings
    f2c, c2f = [], []
    for r in range(rounds):
        scenes = held_out_scenes(samples, offset=200_000 + r * samples)
        caps = [caption_for(s) for s in scenes]
        frames = torch.stack([render(s, 1, 32, start_frame=5 * i)[:, 0] for i, s in enumerate(scenes)])
        img = image.encode(frames)
        tok = tokenizer(caps, padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        txt = features_tensor(
            model.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
        )
        sim = (
            torch.nn.functional.normalize(img.float(), dim=-1)
            @ torch.nn.functional.normalize(txt.float(), dim=-1).t()
        )
        f2c.append(np.mean([caps[int(j)] == caps[i] for i, j in enumerate(sim.argmax(1))]))
        c2f.append(np.mean([caps[int(j)] == caps[i] for i, j in enumerate(sim.argmax(0))]))
    return {
        "frame_to_caption_top1": float(np.mean(f2c)),
        "caption_to_frame_top1": float(np.mean(c2f)),
        "samples": float(samples),
    }
