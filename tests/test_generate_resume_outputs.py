"""What a resumed generate run may write over: only what its run left at its outputs and previews (the
manifest records it); a file another run or the user put there since, or anything where a run of an earlier
version (which recorded nothing) writes, is refused unless ``overwrite``."""

from __future__ import annotations

import json

import pytest

from conftest import FAST_CLI, cfg_for
from streamt2v.cli import main
from streamt2v.io.folders import ExistingOutputError
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.resume import resume_generate


def test_a_resume_replaces_its_own_output_but_not_one_written_since(tmp_path, model):
    run = generate(cfg_for(tmp_path, "b", n=16), model=model).run_dir
    resume_generate(run, model=model)  # its own output (a complete run writes it again)
    out = tmp_path / "b.mp4"
    out.write_bytes(b"another run's video")
    with pytest.raises(ExistingOutputError) as refused:
        resume_generate(run, model=model)
    assert str(refused.value) == (
        f"output {str(out)!r} is not what this run wrote there (another run, or someone, wrote it since); "
        "pass overwrite=True to replace it"
    )
    assert out.read_bytes() == b"another run's video"
    assert resume_generate(run, model=model, overwrite=True).num_frames == 16
    assert out.read_bytes() != b"another run's video"


def test_the_preview_of_a_stopped_run_of_an_earlier_version_is_refused_on_the_command_line(
    tmp_path, model, capsys
):
    """A run of an earlier version recorded nothing: its preview may be a later run's, so it is refused
    unless --overwrite (the command line's spelling); a stopped run's own preview is written over."""

    def stop(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "b", n=24), model=model, on_chunk=stop)
    manifest_file = tmp_path / "run-b" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    preview = tmp_path / "b.partial.mp4"
    recorded = manifest.pop("outputs", None)
    manifest_file.write_text(json.dumps(manifest))
    before = preview.read_bytes()
    assert main(["generate", "--resume", str(tmp_path / "run-b"), *FAST_CLI[-1:]]) == 2
    assert capsys.readouterr().err.endswith(
        f"error: the preview {str(preview)!r} of output {str(tmp_path / 'b.mp4')!r} exists, and this run, made "
        "by an earlier version of streamt2v, recorded nothing of what it wrote; if it is this run's, pass "
        "--overwrite to replace it\n"
    )
    assert preview.read_bytes() == before
    assert list(recorded) == [str(preview)]  # recorded after the chunk was appended
