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


def test_a_run_whose_model_folder_was_moved_is_resumed_with_its_new_place(tmp_path, caplog, capsys):
    """The run's model folder moved: a resume names it gone and asks for its new place (model=, --model),
    which must hold the same weights (the fingerprint the run recorded); a run of an earlier version, which
    recorded none, takes the folder given with a warning naming both. --model was ignored with --resume."""
    import shutil

    from safetensors.torch import load_file, save_file

    from streamt2v.assets import microworld_model_dir

    first, moved, other = tmp_path / "m1", tmp_path / "m2", tmp_path / "m3"
    shutil.copytree(microworld_model_dir(), first)

    def stop(chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "b", n=24, model=str(first)), on_chunk=stop)
    run = tmp_path / "run-b"
    first.rename(moved)
    with pytest.raises(FileNotFoundError) as gone:
        resume_generate(run)
    assert str(gone.value) == (
        f"the run's model folder {str(first)!r} is gone (moved or removed); if it was moved, give its new "
        "place: pass model='FOLDER'"
    )
    shutil.copytree(moved, other)
    weights = other / "unet" / "diffusion_pytorch_model.safetensors"
    save_file({k: v + 1 for k, v in load_file(weights).items()}, weights)
    with pytest.raises(
        ValueError, match=r"model folder '.*m3' does not hold the weights of the run's model folder"
    ):
        resume_generate(run, model=other)
    config_file = run / "config.json"
    config = json.loads(config_file.read_text())
    del config["model_fingerprint"]  # as a run of an earlier version
    config_file.write_text(json.dumps(config))
    assert main(["generate", "--resume", str(run), "--model", str(moved), "--no-progress"]) == 0
    assert "wrote 24 frames" in capsys.readouterr().out
    assert f"recorded no fingerprint of its model folder {first}, so {moved} is not checked" in caplog.text
    config = json.loads(config_file.read_text())
    assert config["model"] == str(moved) and config["model_fingerprint"]  # a later resume checks it
    with pytest.raises(ValueError, match="does not hold the weights"):
        resume_generate(run, model=other)
