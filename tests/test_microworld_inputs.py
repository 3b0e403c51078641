"""Microworld entry points given the wrong kind of input: one clear error naming the value and what to use
(docs/microworld.md), never a bare KeyError, AttributeError or a silently NaN video."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamt2v.microworld.captions import parse_caption
from streamt2v.microworld.dataset import ClipSpec, MicroworldDataset, scene_seed
from streamt2v.microworld.render import ObjectSpec, SceneConstraints, SceneSpec, render, sample_scene

CAPTION = "a red circle bouncing on a blue background"


def test_render_names_a_caption_or_constraints_given_as_the_scene():
    # render(parse_caption(text)) failed deep in numpy ("ufunc 'multiply' did not contain a loop")
    for wrong in (CAPTION, parse_caption(CAPTION)):
        with pytest.raises(TypeError, match="scene must be a SceneSpec, got .*sample_scene"):
            render(wrong, 4, 16)


def test_sample_scene_names_a_caption_given_as_constraints():
    # was "'str' object has no attribute 'objects'"
    with pytest.raises(TypeError, match="constraints must be SceneConstraints .*parse_caption"):
        sample_scene(0, CAPTION)


def test_sample_scene_names_an_unknown_speed():
    # was a bare KeyError: 'medium'
    with pytest.raises(ValueError, match=r"unknown speed 'medium'; allowed: slow, fast$"):
        sample_scene(0, SceneConstraints(speed="medium"))


@pytest.mark.parametrize("field", ["position", "velocity", "pan"])
def test_non_finite_motion_is_refused(field):
    # a NaN velocity or pan rendered an all-NaN video without a word
    nan = (math.nan, 0.0)
    obj = {"position": (0.5, 0.5), "velocity": (0.01, 0.01)}
    if field == "pan":
        with pytest.raises(ValueError, match=r"pan must be two finite numbers \(x, y\), got \(nan, 0.0\)"):
            SceneSpec("blue", "stripes", nan, (ObjectSpec("circle", "red", 0.2, **obj),))
        return
    obj[field] = nan
    with pytest.raises(ValueError, match=f"object {field} must be two finite numbers"):
        ObjectSpec("circle", "red", 0.2, **obj)


def test_valid_scenes_still_build():
    scene = sample_scene(0, parse_caption(CAPTION))
    assert render(scene, 2, 8).isfinite().all()


def test_sample_indices_must_be_ints_below_2_to_the_64():
    ds = MicroworldDataset(ClipSpec(num_frames=1, size=8), seed=0)
    # 1.5 and True drew sample 1 silently; '3' and a slice failed comparing with an int
    for wrong in (1.5, True, "3", slice(1, 3)):
        with pytest.raises(TypeError, match=f"a sample index must be an int, got {type(wrong).__name__}"):
            ds[wrong]
    # only two 32-bit words of the index reach the scene seed: 2**64 drew the very sample of index 1
    with pytest.raises(IndexError, match=r"sample index must be in \[0, 2\*\*64\), got 18446744073709551616"):
        ds[2**64]
    with pytest.raises(IndexError, match=r"\[0, 2\*\*64\), got -1"):
        scene_seed(0, -1)
    assert ds[np.int64(3)]["caption"] == ds[3]["caption"] and ds[2**64 - 1]["index"] == 2**64 - 1


def test_frames_past_2_to_the_53_are_refused():
    scene = sample_scene(0)
    # float64 frame times: the frames at 2**60 all rendered identical (the scene looked frozen)
    with pytest.raises(ValueError, match=r"start_frame \+ num_frames must be ≤ 2\*\*53"):
        render(scene, 2, 8, start_frame=2**60)
    last = render(scene, 2, 8, start_frame=2**53 - 2)
    assert last.shape == (3, 2, 8, 8)
    # a ClipSpec start past int64 failed at ds[0] with numpy's 'high is out of bounds for int64'
    with pytest.raises(
        ValueError, match=r"ClipSpec max_start \+ num_frames and anchor_frames must be ≤ 2\*\*53"
    ):
        ClipSpec(max_start=2**63)


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("a red circle", "names no background colour"),  # was a bare StopIteration
        ("a circle bouncing on a blue background", "an object without its colour"),  # was min()'s message
    ],
)
def test_behaviour_checks_name_a_prompt_they_cannot_measure(prompt, message):
    from streamt2v.microworld import behaviour

    seed = 2**31 + 50
    video = render(sample_scene(seed, parse_caption(prompt)), 4, 16)
    with pytest.raises(ValueError, match=message):
        behaviour.measure_video(video, prompt, seed, [])
    # measure_reference (and measure, before generating anything) checks every prompt first
    with pytest.raises(ValueError, match=message):
        behaviour.measure_reference([(CAPTION, seed), (prompt, seed)], num_frames=4, size=16)


def test_behaviour_summary_of_no_results_is_named():
    from streamt2v.microworld import behaviour

    with pytest.raises(ValueError, match="no behaviour results to summarise"):
        behaviour.summary([])
