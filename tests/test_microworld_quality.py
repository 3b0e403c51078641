"""Quality figures of the model card (``microworld/quality.py``, ``train/model_card.quality_section``):
the error units, the refiner-against-bilinear comparison and the card's table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from streamt2v.microworld import quality


def test_rgb_error_is_euclidean_in_0_255_units() -> None:
    black = -torch.ones(3, 2, 4, 4)
    white = torch.ones(3, 2, 4, 4)
    assert np.allclose(quality._rgb_error(black, black), 0)
    assert np.allclose(quality._rgb_error(black, white), 255 * math.sqrt(3))
    red = black.clone()
    red[0] = 1  # one channel from 0 to 255
    assert np.allclose(quality._rgb_error(black, red), 255)


def test_edge_palette_errors_count_miscoloured_pixels_near_object_edges() -> None:
    from streamt2v.microworld.render import render_with_truth, sample_scene

    scene = sample_scene(np.random.default_rng(3))
    video, truth = render_with_truth(scene, 2, 32)
    exact = quality.edge_palette_errors(video, video, truth.ids)
    assert exact.size > 0 and exact.sum() == 0
    assert exact.size < video[0].numel()  # only the band near edges, not every pixel
    # objects repainted in another palette colour: their inner half of the band is wrong
    objects = torch.from_numpy(np.asarray(truth.ids) > 0)
    recoloured = video.clone()
    recoloured[:, objects] = -recoloured[:, objects]  # negated: another palette colour
    assert 0.2 < quality.edge_palette_errors(recoloured, video, truth.ids).mean() < 0.8
    # a change more than 3 px away from every object is not counted
    import cv2

    far = np.stack(
        [cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3) > 3 for m in objects.numpy()]
    )
    assert far.any()
    repainted = video.clone()
    repainted[:, torch.from_numpy(far)] = 1.0
    assert quality.edge_palette_errors(repainted, video, truth.ids).sum() == 0


def test_refiner_quality_compares_with_bilinear(tmp_path: Path) -> None:
    import torch.nn.functional as F

    from streamt2v.microworld.render import render, render_with_truth
    from streamt2v.pipeline.refiner import Refiner

    Refiner.random((32, 32), seed=0).save_pretrained(tmp_path / "ref")
    # 3 of the official 30 enhance steps: no figure checked below depends on the step count
    small = dict(scenes=2, frames=8, steps=3)
    q = quality.refiner_quality(tmp_path / "ref", **small)
    assert q["size"] == 32
    # the bilinear figure is plain upscaling of the half-size render against the full-size render
    errs, edge = [], []
    for scene in quality.held_out_scenes(2, offset=200_000):
        low, (high, truth) = render(scene, 8, 16), render_with_truth(scene, 8, 32)
        up = F.interpolate(low.transpose(0, 1), size=32, mode="bilinear").transpose(0, 1)
        errs.append(quality._rgb_error(up, high).ravel())
        edge.append(quality.edge_palette_errors(up, high, truth.ids))
    assert q["bilinear_mean"] == float(np.concatenate(errs).mean())
    assert q["bilinear_edge_errors"] == float(np.concatenate(edge).mean())
    assert q["bilinear_mean"] < 20  # same scenes, one resolution apart
    assert 0 < q["bilinear_edge_errors"] < 0.5  # blur miscolours some edge pixels, not most
    # an untrained refiner does not enhance: it is far worse than bilinear upscaling on both figures
    assert q["refined_mean"] > 2 * q["bilinear_mean"]
    assert q["refined_edge_errors"] > 2 * q["bilinear_edge_errors"]
    # the round trip is the refiner VAE's encode + decode of that bilinear video: stage 3 without its UNet
    refiner = Refiner.from_pretrained(tmp_path / "ref")
    trips = []
    for scene in quality.held_out_scenes(2, offset=200_000):
        up = F.interpolate(render(scene, 8, 16).transpose(0, 1), size=32, mode="bilinear").transpose(0, 1)
        trip = refiner.vae.decode(refiner.vae.encode(up[None]))[0]
        trips.append(quality._rgb_error(trip, render(scene, 8, 32)).ravel())
    assert q["round_trip_mean"] == pytest.approx(float(np.concatenate(trips).mean()), rel=1e-6)
    assert 0 <= q["round_trip_edge_errors"] <= 1
    # settings reach the enhancer: starting from less noise changes the result, not the baseline
    light = quality.refiner_quality(tmp_path / "ref", **small, start_step=50)
    assert light["bilinear_mean"] == q["bilinear_mean"] and light["refined_mean"] != q["refined_mean"]
    assert light["round_trip_mean"] == q["round_trip_mean"]  # the UNet's settings do not touch it
    # through_vae: both videos start from the VAE's round trip of the half-size render
    from streamt2v.train.frozen import load_frozen_vae

    vae_dir = tmp_path / "ref" / "vae"
    vae, errs = load_frozen_vae(str(vae_dir)), []
    for scene in quality.held_out_scenes(2, offset=200_000):
        low = vae.decode(vae.encode(render(scene, 8, 16)[None]))[0]
        up = F.interpolate(low.transpose(0, 1), size=32, mode="bilinear").transpose(0, 1)
        errs.append(quality._rgb_error(up, render(scene, 8, 32)).ravel())
    through = quality.refiner_quality(tmp_path / "ref", **small, through_vae=vae_dir)
    assert through["bilinear_mean"] == float(np.concatenate(errs).mean()) != q["bilinear_mean"]


def test_card_quality_section_lists_both_vaes_and_the_refiner(tmp_path: Path) -> None:
    from streamt2v.train.model_card import quality_section

    assert quality_section(tmp_path, "vae-run") == []  # nothing measured: no section
    row = {"mean": 7.9, "p99": 54.8, "p999": 120.2, "object_colour_flips": 0.0137}
    q = {
        "vae": {"palette_half_separation": 45.3, **{f"32_{k}": v for k, v in row.items()}},
        "refiner_vae": {"palette_half_separation": 45.3, **{f"64_{k}": v for k, v in row.items()}},
        "refiner": {"size": 64.0, "refined_mean": 12.34, "bilinear_mean": 2.5},
        "clip": {"samples": 64, "frame_to_caption_top1": 0.945, "caption_to_frame_top1": 0.941},
    }
    (tmp_path / "quality.json").write_text(json.dumps(q))
    text = "\n".join(quality_section(tmp_path, "vae-run"))
    assert "| stages 1–2 (`vae-run`) | 32×32 | 7.9 | 54.8 | 120.2 | 1.37% |" in text
    assert "| refiner (`refiner-decoder`) | 64×64 | 7.9 |" in text
    assert "rendered at 32×32" in text and "refiner with the recommended settings 12.3" in text
    assert "bilinear upscaling 2.5" in text and "frame → caption 94.5%" in text
    assert "edge" not in text.split("bilinear upscaling 2.5")[1].split("\n")[0]  # not measured: not said
    q["refiner"] |= {"refined_edge_errors": 0.054, "bilinear_edge_errors": 0.071}
    (tmp_path / "quality.json").write_text(json.dumps(q))
    text = "\n".join(quality_section(tmp_path, "vae-run"))
    assert "palette colour is wrong: refiner 5.4%, bilinear 7.1%." in text
    assert "through the stage-1/2 VAE" not in text
    q["refiner_through_vae"] = {
        "size": 64.0,
        "refined_mean": 6.43,
        "bilinear_mean": 9.01,
        "refined_edge_errors": 0.103,
        "bilinear_edge_errors": 0.12,
    }
    (tmp_path / "quality.json").write_text(json.dumps(q))
    text = "\n".join(quality_section(tmp_path, "vae-run"))
    assert "bilinear 7.1%. The same scenes passed through the stage-1/2 VAE first" in text
    assert (
        "refiner 6.4, bilinear upscaling 9.0; edge pixels miscoloured: refiner 10.3%, bilinear 12.0%." in text
    )


def test_bad_counts_and_a_folder_of_another_kind_are_named_before_loading(tmp_path: Path) -> None:
    # 0 scenes ended in numpy's 'need at least one array to concatenate'; each check runs before any load,
    # so the missing folders below are never reached
    with pytest.raises(ValueError, match="scenes must be an int ≥ 1, got 0"):
        quality.vae_quality(tmp_path, scenes=0)
    with pytest.raises(ValueError, match="frames must be an int ≥ 1, got 0"):
        quality.refiner_quality(tmp_path, frames=0)
    with pytest.raises(ValueError, match="samples must be an int ≥ 1, got 0"):
        quality.clip_quality(tmp_path, samples=0)
    # the shipped micro-CLIP (a whole CLIPModel folder) is not a clip run's final/: transformers took
    # the missing clip/ subfolder for a hub id ('Repo id must be in the form ...')
    (tmp_path / "image_encoder").mkdir()
    with pytest.raises(FileNotFoundError, match=r"has no clip/ folder: .*`streamt2v train clip` run"):
        quality.clip_quality(tmp_path, samples=2, rounds=1)


def test_the_vae_folders_are_named_by_their_parameters(tmp_path: Path) -> None:
    # vae_dir and through_vae were named vae, load_frozen_vae's default, which neither function takes
    with pytest.raises(
        ValueError, match=r"^the VAE measured \(vae_dir\) folder \S+ holds no diffusers model"
    ):
        quality.vae_quality(tmp_path)
    # named before the refiner loads (there is none here)
    missing = r"^through_vae='\S+/none' does not exist: pass the stage-1/2 model's vae/$"
    with pytest.raises(FileNotFoundError, match=missing):
        quality.refiner_quality(tmp_path / "ref", through_vae=tmp_path / "none")
