"""Colour coherence (pipeline/colour.py): histogram matching to the anchor undoes a colour drift."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamt2v.microworld.behaviour import chunk_boundaries, measure_video
from streamt2v.microworld.dataset import eval_scene
from streamt2v.microworld.render import render
from streamt2v.pipeline.colour import match_colours, match_histogram

PROMPT, SEED = "a yellow square bouncing on a purple background", 12345


def test_match_histogram_inverts_a_monotonic_map():
    reference = np.random.default_rng(0).normal(size=500)
    source = np.tanh(reference) * 3 + 1  # same ranks, other values
    np.testing.assert_allclose(match_histogram(source, reference), reference, atol=1e-12)
    assert match_histogram(source.reshape(20, 25), reference).shape == (20, 25)


@pytest.fixture(scope="module")
def clip_and_drift():
    clip = render(eval_scene(PROMPT, SEED), 24, 32)[None]  # (1, 3, T, H, W) in [-1, 1]
    drifted = clip.clone()
    drifted[:, 1] = drifted[:, 1] * 0.4 - 0.5  # green pulled down: the yellow square turns orange-red
    drifted[:, 2] = drifted[:, 2] * 0.8 + 0.15
    return clip, drifted


def test_matching_to_the_anchor_restores_the_prompted_colours(clip_and_drift):
    clip, drifted = clip_and_drift
    anchor = clip[:, :, :1]
    bounds = chunk_boundaries(clip.shape[2])
    assert measure_video(clip, PROMPT, SEED, bounds).colour_presence >= 0.9
    assert measure_video(drifted, PROMPT, SEED, bounds).colour_presence < 0.2

    matched = match_colours(drifted, anchor)
    assert matched.shape == clip.shape and matched.dtype == torch.float32
    assert matched.abs().max() <= 1
    assert measure_video(matched, PROMPT, SEED, bounds).colour_presence >= 0.9
    error = {s: (match_colours(drifted, anchor, s) - clip).abs().mean().item() for s in (0.0, 0.5, 1.0)}
    assert error[1.0] < 0.25 * error[0.0]
    assert error[1.0] < error[0.5] < error[0.0]


def test_strength_zero_and_a_matched_video_are_kept(clip_and_drift):
    clip, drifted = clip_and_drift
    assert torch.equal(match_colours(drifted, clip[:, :, :1], 0.0), drifted)
    assert torch.equal(match_colours(clip, clip), clip)


def test_strength_moves_each_pixel_that_fraction_of_the_way(clip_and_drift):
    """The blend is linear in the strength: each pixel moves ``strength`` of the way from the generated
    colour to the fully matched one (up to the CIELAB round trip and clamping: about 0.05 of the full
    correction; a squared strength is off by about 0.2 of it, a smoothstep by 0.09 at 0.25)."""
    clip, drifted = clip_and_drift
    anchor = clip[:, :, :1]
    kept, full = match_colours(drifted, anchor, 0.0), match_colours(drifted, anchor, 1.0)
    correction = (full - kept).abs().mean().item()
    assert correction > 0.05
    for strength in (0.25, 0.5):
        moved = match_colours(drifted, anchor, strength) - kept
        assert (moved - strength * (full - kept)).abs().mean().item() < 0.07 * correction, strength


def test_bad_colour_match_inputs(clip_and_drift):
    clip, _ = clip_and_drift
    with pytest.raises(ValueError, match=r"strength must be in \[0, 1\], got 1.5"):
        match_colours(clip, clip, 1.5)
    with pytest.raises(ValueError, match=r"reference must be shaped \(1, 3, T, H, W\), got \(1, 3, 32, 32\)"):
        match_colours(clip, clip[:, :, 0])
