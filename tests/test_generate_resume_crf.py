"""Resuming a run whose stored ``crf`` a new run is refused now (off 0–51, or a float an earlier version's
WebM writer took): the run goes on at the crf its encoder used, with a warning, instead of failing on a
setting a resume cannot change; one the encoder refused (no video was written at it) is refused again."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from conftest import Crash, cfg_for
from streamt2v.cli import main
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.resume import resume_generate


def _stopped_run(tmp_path, loaded, name, stored_crf, **kw):
    """A run stopped after its first chunk, its ``config.json`` then given ``crf`` ``stored_crf``."""

    def crash(chunk):
        raise Crash

    with pytest.raises(Crash):
        generate(cfg_for(tmp_path, name, n=24, **kw), model=loaded, on_chunk=crash)
    (tmp_path / f"{name}.partial.mp4").unlink(missing_ok=True)  # the preview of the first chunk
    path = tmp_path / f"run-{name}" / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "crf": stored_crf}))
    return tmp_path / f"run-{name}"


@pytest.mark.parametrize(
    "stored,taken,suffix,how",
    [
        (99, 51, ".mp4", "crf 51 (the lowest quality), which the encoder clipped it to"),
        (23.5, 23, ".webm", "crf 23, the whole part the encoder took"),
        (-1, 23, ".mp4", "crf 23, which libx264 used for -1 (unset: its default)"),
    ],
)
def test_a_run_stored_with_a_crf_refused_now_is_resumed_at_the_crf_its_encoder_used(
    tmp_path, model, caplog, stored, taken, suffix, how
):
    """crf 99 (libx264 clipped it to 51), 23.5 (an earlier WebM writer took its whole part) or -1 (libx264's
    unset: its default 23; this resumed at crf 0, lossless): the resume failed on it (crf must be an integer
    from 0 to 51); the video is now the one a run at that crf makes. Resumed again, the finished run says so
    and nothing of its crf (it writes nothing)."""
    ref = cfg_for(tmp_path, "ref", n=24, crf=taken)
    ref = generate(dataclasses.replace(ref, output=str(tmp_path / f"ref{suffix}")), model=model)
    run = _stopped_run(tmp_path, model, "b", stored)
    config = json.loads((run / "config.json").read_text())
    config["output"] = str(tmp_path / f"b{suffix}")
    (run / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING):
        res = resume_generate(run, model=model)
    assert res.output.read_bytes() == ref.output.read_bytes()
    assert (
        f"stored crf {stored}, which a new run is refused now (crf takes an integer from 0 to 51): continuing "
        f"at {how}, rather than" in caplog.text
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert resume_generate(run, model=model).rewritten == []
    assert "is finished: nothing to resume" in caplog.text
    assert "stored crf" not in caplog.text


@pytest.mark.parametrize("stored,suffix", [(-3, ".mp4"), (-1, ".webm"), (-2.5, ".mkv")])
def test_a_run_stored_with_a_crf_its_encoder_refused_is_refused_naming_its_config(
    tmp_path, model, stored, suffix
):
    """libx264 refused a crf below -1, and VP9 below 0 (a WebM took crf -1 as -2): the run wrote no video at it
    (this resumed at crf 0, saying it was the crf its encoder used)."""
    run = _stopped_run(tmp_path, model, "r", stored)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "output": str(tmp_path / f"r{suffix}")}))
    message = (
        f"'{run / 'config.json'}' cannot be resumed: crf {stored} is one the video encoder refused when the "
        "run began (libx264 takes none below -1, a WebM's VP9 none below 0), so no video was written at it: set "
        "it to an integer from 0 (lossless) to 51 (the lowest quality)"
    )
    with pytest.raises(ValueError) as err:
        resume_generate(run, model=model)
    assert str(err.value).startswith(message)
    assert not (tmp_path / f"r{suffix}").exists()


def test_a_run_writing_no_video_takes_any_stored_crf_without_a_word(tmp_path, model, caplog):
    """A GIF (or PNG frames) is written at no crf: a run of an earlier version that stored crf -3 could
    finish, and its resume makes the GIF an uninterrupted run makes."""
    ref = generate(
        dataclasses.replace(cfg_for(tmp_path, "ref", n=24), output=str(tmp_path / "ref.gif")), model=model
    )
    run = _stopped_run(tmp_path, model, "g", -3)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "output": str(tmp_path / "g.gif")}))
    with caplog.at_level(logging.WARNING):
        res = resume_generate(run, model=model)
    assert res.output.read_bytes() == ref.output.read_bytes()
    assert "stored crf" not in caplog.text


def test_cli_resume_takes_a_stored_crf_refused_now_and_names_one_that_is_no_number(
    tmp_path, model, monkeypatch, capsys, caplog
):
    monkeypatch.chdir(tmp_path)
    run = _stopped_run(tmp_path, model, "c", "high", model="tiny")  # a hand-edited config
    argv = ["generate", "--resume", "run-c", "--no-progress"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: 'run-c/config.json' cannot be resumed: crf must be an integer from 0 (lossless) to 51 (the "
        "lowest quality), got 'high'; the default is 18"
    )
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "crf": -3}))
    assert main(argv) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .startswith(
            "error: 'run-c/config.json' cannot be resumed: crf -3 is one the video encoder refused when the run "
            "began"
        )
    )
    (run / "config.json").write_text(json.dumps({**config, "crf": 99}))
    with caplog.at_level(logging.WARNING):
        assert main(argv) == 0
    assert "stored crf 99, which a new run is refused now" in caplog.text
    assert "continuing at crf 51 (the lowest quality), which the encoder clipped it to" in caplog.text
    assert (tmp_path / "c.mp4").is_file()
