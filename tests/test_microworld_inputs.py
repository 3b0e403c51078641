"""Microworld entry points given the wrong kind of input: one clear error naming the value and what to use
(docs/microworld.md), never a bare KeyError, AttributeError or a silently NaN video."""

from __future__ import annotations

import math

import pytest

from streamt2v.microworld.captions import parse_caption
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
    with pytest.raises(ValueError, match=r"unknown speed 'medium'; allowed: \['slow', 'fast'\]"):
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
