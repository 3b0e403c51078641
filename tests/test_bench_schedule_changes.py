"""bench/schedule_changes.py: its per-scene measure on rendered scenes (the probes' ground truth) and its
one-line refusals before any model loads."""

from __future__ import annotations

import math
import runpy
import sys
from pathlib import Path

import pytest
import torch

from streamt2v.microworld.dataset import eval_scene
from streamt2v.microworld.render import render

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.syspath_prepend(str(BENCH))
    return runpy.run_path(str(BENCH / "schedule_changes.py"))


def clip(prompt: str, frames: int = 8) -> torch.Tensor:
    return render(eval_scene(prompt, 2**31 + 1), frames, 32)[None]


def test_each_scene_names_one_object_and_a_background(script: dict) -> None:
    claims = [script["scene_claim"](p) for p in script["SCENES"]]
    assert claims == [
        ("red", "circle", "blue"),
        ("yellow", "square", "blue"),
        ("green", "triangle", "white"),
        ("red", "circle", "black"),
    ]


def test_fractions_of_a_rendered_scene_and_of_the_scene_before_it(script: dict) -> None:
    scenes, fractions = script["SCENES"], script["fractions"]
    # the green triangle on white, rendered: its background and colour in every frame, no red circle
    background, colour, shaped, previous = fractions(clip(scenes[2]), scenes[2], scenes[1])
    assert (background, colour, previous) == (1.0, 1.0, 0.0) and shaped >= 0.75
    # the scene before it measured as if the schedule had moved on: nothing of the new scene, the old colour
    background, colour, shaped, previous = fractions(clip(scenes[1]), scenes[2], scenes[1])
    assert (background, colour, shaped, previous) == (0.0, 0.0, 0.0, 1.0)
    # the previous colour is not counted when it is the scheduled one (red circle after red circle)
    assert math.isnan(fractions(clip(scenes[0]), scenes[0], scenes[3])[3])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--frames", "48"),
            "--frames 48: give at least 64, so that each of the 4 scenes gets streaming chunks",
        ),
        (("--seeds", "-1"), "argument --seeds: expected an integer >= 0, got '-1'"),
    ],
)
def test_refusals_are_one_line_before_the_model_loads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args: tuple[str, ...], expected: str
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(sys, "argv", ["schedule_changes.py", *args])
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(BENCH / "schedule_changes.py"), run_name="__main__")
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and err[-1].endswith(expected)
