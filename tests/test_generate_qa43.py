"""Findings of a QA pass over ``streamt2v generate`` (session 43): a resumed run's manifest keeps no error of
the stop it continued from, a one-frame ``--init-video`` has no frame rate to warn about, and the messages
about one frame or one chunk read singular."""

from __future__ import annotations

import json

import pytest

from conftest import cfg_for
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.resume import resume_generate


def test_completed_resume_drops_the_stop_error(tmp_path, model):
    """A run stopped by Ctrl-C records ``error: KeyboardInterrupt()``; once resumed and complete the manifest
    read ``status: complete`` with that error still beside it."""

    def stop(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "b", n=24), model=model, on_chunk=stop)
    manifest = tmp_path / "run-b" / "manifest.json"
    assert json.loads(manifest.read_text())["error"] == "KeyboardInterrupt()"
    resume_generate(tmp_path / "run-b", model=model)
    done = json.loads(manifest.read_text())
    assert done["status"] == "complete"
    assert "error" not in done


def test_one_frame_init_video_has_no_rate_warning(tmp_path, model, caplog):
    """A still image given as --init-video read as 25 fps: the run warned that 'its 1 frame play 3.12x slower'
    and advised --fps 25, which would only have sped up the generated frames."""
    from PIL import Image

    still = tmp_path / "still.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(still)
    with caplog.at_level("WARNING", logger="streamt2v.pipeline.preflight"):
        res = generate(cfg_for(tmp_path, "s", n=9, init_video=str(still)), model=model)
    assert res.num_frames == 9
    assert "plays at" not in caplog.text


def test_one_frame_and_one_chunk_messages_read_singular(model, caplog):
    """``--frames 1`` said '1 frames: the last chunk, ...', and an entry unused by a one-chunk video said
    'the chunks start at frames 0'."""
    import logging

    from streamt2v.pipeline.stream import StreamConfig, stream

    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.stream"):
        stream(model, "a red circle", StreamConfig(num_frames=1, steps=1, init_steps=1))
        stream(model, "0: a red circle; 8: a blue square", StreamConfig(num_frames=16, steps=1, init_steps=1))
    assert "1 frame: the last chunk, 0, makes 16 new frames and keeps 1" in caplog.text
    assert "entry 8: 'a blue square' is never used" in caplog.text
    assert "and the only chunk starts at frame 0" in caplog.text
