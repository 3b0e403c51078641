"""``assemble model --sampler``: what the sampler answers for against the UNet's noise schedule and CAM.
Fake part folders (configs alone): the checks run before any part loads, and an accepted sampler goes on to
fail on the empty micro-CLIP folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from streamt2v.cli import main
from streamt2v.train.assemble import assemble_model


def _parts(root: Path, timesteps: int = 40, cam_frames: int = 8) -> dict[str, Path]:
    """A stream run's final/unet and final/scheduler of ``timesteps``, a stage-1 UNet and empty VAE and CLIP
    folders."""
    unet = root / "run" / "final" / "unet"
    unet.mkdir(parents=True)
    streaming = {"num_frames": 16, "num_cond_frames": cam_frames}
    (unet / "config.json").write_text(json.dumps({"_class_name": "StreamingUNet", "streaming": streaming}))
    (root / "run" / "final" / "scheduler").mkdir()
    (root / "run" / "final" / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"num_train_timesteps": timesteps})
    )
    (root / "base").mkdir()
    (root / "base" / "config.json").write_text(json.dumps({"_class_name": "UNet3DConditionModel"}))
    (root / "vae").mkdir()
    (root / "clip").mkdir()
    return {"unet": unet, "init_unet": root / "base", "vae": root / "vae", "clip": root / "clip"}


def test_a_sampler_answers_only_for_the_step_counts_it_sets(tmp_path, caplog, capsys):
    """On a 40-step schedule, '{"guidance": 7.0}' was refused as 'init_steps=50 is more than the 40
    timesteps': generate's default, which the sampler never set (and a generate's --init-steps overrides).
    A count it sets is refused, a default in the refusal named as one; defaults alone are a warning."""
    parts = _parts(tmp_path)
    with caplog.at_level(logging.WARNING), pytest.raises(FileNotFoundError, match="^clip "):
        assemble_model(tmp_path / "m", sampler={"guidance": 7.0}, **parts)
    assert [r.getMessage() for r in caplog.records] == [
        "generate's default settings do not fit this model's noise schedule (init_steps=50 is more than the "
        "40 timesteps of the noise schedule: lower init_steps to 40 or less; steps=50 is more than the 40 "
        "timesteps of the noise schedule: lower steps to 40 or less): store counts that do with sampler (a "
        "generate's own flags can set them too)"
    ]
    with pytest.raises(ValueError) as err:
        assemble_model(tmp_path / "m", sampler={"init_steps": 41, "steps": 20}, **parts)
    assert str(err.value) == (
        "sampler={'init_steps': 41, 'steps': 20}: init_steps=41 is more than the 40 timesteps of the noise "
        "schedule: lower init_steps to 40 or less"
    )
    args = [
        "assemble",
        "model",
        str(tmp_path / "m"),
        *(f"--{k.replace('_', '-')}={v}" for k, v in parts.items()),
    ]
    assert main([*args, "--sampler", '{"chunk_strength": 0.5}']) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "error: --sampler '{\"chunk_strength\": 0.5}': chunk_strength 0.5 starts stage 2 at step 20 of 40, "
            "too close to the end for steps=50; lower steps to 20 or less (chunk_strength 1 allows 40); "
            "steps 50 is generate's default (set it in --sampler)"
        )
    )
    assert not (tmp_path / "m").exists()


def test_the_sampler_is_not_blamed_for_the_schedule_or_a_missing_part(tmp_path, caplog):
    """A damaged schedule is named as such, not as the --sampler's fault; a UNet outside a run without a
    schedule is told its missing --init-unet first (a sampler given read the schedule before); a
    cond_frames is refused against the CAM only when the sampler sets it (generate's default 8 is a
    warning)."""
    parts = _parts(tmp_path / "a", cam_frames=4)
    (parts["unet"].parent / "scheduler" / "scheduler_config.json").write_text("{")
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(ValueError, match="^scheduler config '.*' is not valid JSON"),
    ):
        assemble_model(tmp_path / "m", sampler={"guidance": 7.0}, **parts)
    assert [r.getMessage() for r in caplog.records] == [
        "generate's default cond_frames=8 does not match the stream UNet's CAM, which was built for 4 "
        "conditioning frames: store cond_frames 4 with sampler"
    ]
    with pytest.raises(ValueError) as err:
        assemble_model(tmp_path / "m", sampler={"cond_frames": 8}, **parts)
    assert str(err.value) == (
        "sampler={'cond_frames': 8}: cond_frames=8 does not match the stream UNet's CAM, which was built for "
        "4 conditioning frames"
    )
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "config.json").write_text(json.dumps(json.loads((parts["unet"] / "config.json").read_text())))
    with pytest.raises(ValueError, match="^init_unet is needed: "):
        assemble_model(tmp_path / "m", unet=loose, sampler={"guidance": 7.0})
