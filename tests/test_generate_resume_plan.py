"""A resume whose config.json plans other chunks than the run's manifest holds (a hand edit of num_frames,
chunk_frames or cond_frames) is refused, naming the file, the setting the finished chunks show changed and
the manifest's chunks; it went on by the new plan and left frames never made (tiny model, CPU)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from conftest import cfg_for
from streamt2v.io.video import write_video
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.resume import resume_generate


def _edited(config, stored, **stream):
    config.write_text(json.dumps({**stored, "stream": {**stored["stream"], **stream}}))


def test_a_run_whose_config_plans_other_chunks_than_its_manifest_is_refused(tmp_path, model):
    """A 28-frame run in 12-frame chunks (5 chunks: 0-11, 12-15, 16-19, ...) stopped after two: with
    chunk_frames 16 typed over its 12 it resumed at frames 24-27, frames 16-23 never made."""
    cfg = cfg_for(tmp_path, "r", n=28)
    cfg = dataclasses.replace(cfg, stream=dataclasses.replace(cfg.stream, chunk_frames=12))

    def stop(chunk):
        if chunk.index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg, model=model, on_chunk=stop)
    config = tmp_path / "run-r" / "config.json"
    stored = json.loads(config.read_text())
    settings = "num_frames {}, chunk_frames {}, cond_frames {}"
    for edit, said, held, why in [
        (
            {"chunk_frames": 16},
            "3 chunks and its chunk 1 makes frames 0-15",
            "5 chunks, chunk 1 finished with frames 0-11",
            "chunk_frames 16 is not the run's: its first chunk made 12 frames; set chunk_frames back to 12",
        ),
        (
            {"cond_frames": 4},
            "3 chunks and its chunk 2 makes frames 12-19",
            "5 chunks, chunk 2 finished with frames 12-15",
            "cond_frames 4 is not the run's: its streaming chunks made 4 new frames each (cond_frames 8 with "
            "chunk_frames 12); set cond_frames back to 8",
        ),
        (
            {"num_frames": 36},
            "7 chunks",
            "5 chunks (2 finished as they plan them)",
            "num_frames 36 is not the run's: 5 chunks of these sizes make 25 to 28 frames; set num_frames back "
            "to the value the run was made with",
        ),
    ]:
        _edited(config, stored, **edit)
        values = {**stored["stream"], **edit}
        shown = settings.format(values["num_frames"], values["chunk_frames"], values["cond_frames"])
        with pytest.raises(ValueError) as err:
            resume_generate(tmp_path / "run-r", model=model)
        assert str(err.value) == (
            f"{str(config)!r} cannot be resumed: by its stream settings ({shown}) the run has {said}, where its "
            f"manifest.json holds {held}; {why}"
        ), edit
    manifest = json.loads((tmp_path / "run-r" / "manifest.json").read_text())
    assert len(manifest["chunks"]) == 2  # nothing made by the refused resumes
    config.write_text(json.dumps(stored))
    chunks = []
    resume_generate(tmp_path / "run-r", model=model, on_chunk=chunks.append)
    assert [(c.start, c.stop) for c in chunks] == [(16, 20), (20, 24), (24, 28)]


def test_a_run_with_no_chunk_finished_is_refused_a_plan_of_another_length(tmp_path, model):
    """Starting over, the run's plan must still be the one its manifest counted (the progress bar's total,
    and when the run is finished)."""

    def stop(chunk, step, steps):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "n", n=40), model=model, on_step=stop)  # 16 + 3 * 8: 4 chunks
    config = tmp_path / "run-n" / "config.json"
    stored = json.loads(config.read_text())
    _edited(config, stored, num_frames=20)
    with pytest.raises(ValueError) as err:
        resume_generate(tmp_path / "run-n", model=model)
    assert str(err.value) == (
        f"{str(config)!r} cannot be resumed: by its stream settings (num_frames 20, chunk_frames 16, "
        "cond_frames 8) the run has 2 chunks, where its manifest.json holds 4 chunks (none finished); set "
        "num_frames, chunk_frames and cond_frames back to the values the run was made with"
    )


def test_a_run_starting_over_from_an_input_video_of_another_length_names_the_input(tmp_path, model):
    """A 5-frame input video's run whose chunk 0 (holding those frames) is damaged starts over from the video:
    replaced by 13 frames it was told to set num_frames, chunk_frames and cond_frames back (never changed);
    by 30, that num_frames 25 must exceed them. The input is named, with the frames the run began with. A run
    with no chunk finished, whose input's frames are not recorded, is told the input may have changed, also
    where the input now holds more frames than the run makes."""
    video = tmp_path / "in.mp4"
    write_video(video, torch.zeros(1, 3, 5, 32, 32).uniform_(-1, 1), 8)

    def stop(chunk):
        if chunk.index == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "d", n=25, init_video=str(video)), model=model, on_chunk=stop)
    chunk0 = tmp_path / "run-d" / "chunks" / "chunk_000000.safetensors"
    chunk0.write_bytes(b"x")
    for frames in (13, 30):
        video.unlink()
        write_video(video, torch.zeros(1, 3, frames, 32, 32).uniform_(-1, 1), 8)
        with pytest.raises(ValueError) as err:
            resume_generate(tmp_path / "run-d", model=model)
        assert str(err.value) == (
            f"run {str(tmp_path / 'run-d')!r} cannot be resumed: chunk file {str(chunk0)!r} of the run is damaged "
            "(Error while deserializing header: header too small), so the run makes its first chunk again from "
            f"its init_video {str(video)!r}, which now has {frames} frames where the run began with 5; put back "
            "the video it began with, or start a new run with this one"
        ), frames
        assert f"its --init-video {str(video)!r}, which" in str(err.value.as_flags())  # the command line's

    # a run killed before its chunk 0 (the input's, written before any sampling) was written holds none
    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "n", n=40, init_video=str(video)), model=model, on_chunk=stop)
    manifest = tmp_path / "run-n" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "chunks": []}))
    video.unlink()
    write_video(video, torch.zeros(1, 3, 5, 32, 32).uniform_(-1, 1), 8)
    with pytest.raises(ValueError) as err:
        resume_generate(tmp_path / "run-n", model=model)
    assert str(err.value).endswith(
        "set num_frames, chunk_frames and cond_frames back to the values the run was made with; or, if its "
        f"init_video {str(video)!r} changed since (it has 5 frames now), put back the video the run began with"
    )
    # replaced by more frames than the run's 40: refused as no plan at all, with the hint too (had none)
    video.unlink()
    write_video(video, torch.zeros(1, 3, 45, 32, 32).uniform_(-1, 1), 8)
    with pytest.raises(ValueError) as err:
        resume_generate(tmp_path / "run-n", model=model)
    config = tmp_path / "run-n" / "config.json"
    assert str(err.value) == (
        f"{str(config)!r} cannot be resumed: num_frames (40) must exceed the 45 input frames: it counts the "
        "whole output, input frames included, so 46 or more; or, if its init_video "
        f"{str(video)!r} changed since (it has 45 frames now), put back the video the run began with"
    )
    assert f"its --init-video {str(video)!r} changed" in str(err.value.as_flags())
