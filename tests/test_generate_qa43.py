"""Findings of a QA pass over ``streamt2v generate`` (session 43): a resumed run's manifest keeps no error of
the stop it continued from, and a one-frame ``--init-video`` has no frame rate to warn about."""

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
