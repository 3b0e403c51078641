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
