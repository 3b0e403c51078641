"""Which model a resumed generate run takes: its own (named as the run named it, or given loaded), or its model
folder moved to a new place, which must hold the weights the run recorded (the fingerprint in its manifest)."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from conftest import cfg_for
from streamt2v.arguments import ArgumentValueError
from streamt2v.assets import microworld_model_dir
from streamt2v.cli import main
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.resume import resume_generate
from streamt2v.pipeline.run_inputs import model_fingerprint


def _stop(chunk):
    raise KeyboardInterrupt


def test_a_run_whose_model_folder_was_moved_is_resumed_with_its_new_place(tmp_path, caplog, capsys):
    """The run's model folder moved: a resume names it gone and asks for its new place (model=, --model),
    which must hold the same weights (the fingerprint the run recorded in its manifest, not in config.json,
    which earlier versions would refuse); a run of an earlier version, which recorded none (or one of another
    kind in its config.json), takes the folder given with a warning naming both."""
    first, moved, other = tmp_path / "m1", tmp_path / "m2", tmp_path / "m3"
    shutil.copytree(microworld_model_dir(), first)
    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "b", n=24, model=str(first)), on_chunk=_stop)
    run = tmp_path / "run-b"
    config_file, manifest_file = run / "config.json", run / "manifest.json"
    assert "model_fingerprint" not in json.loads(config_file.read_text())
    assert json.loads(manifest_file.read_text())["model_fingerprint"] == model_fingerprint(first.resolve())
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
    manifest = json.loads(manifest_file.read_text())
    del manifest["model_fingerprint"]  # as a run of an earlier version
    manifest_file.write_text(json.dumps(manifest))
    config = json.loads(config_file.read_text())
    config["model_fingerprint"] = "0" * 64  # as the version that kept one of another kind there
    config_file.write_text(json.dumps(config))
    assert main(["generate", "--resume", str(run), "--model", str(moved), "--no-progress"]) == 0
    assert "wrote 24 frames" in capsys.readouterr().out
    assert (
        f"the run is of an earlier version and recorded no fingerprint of its model folder {first}, so {moved} "
        "is not checked"
    ) in caplog.text
    assert json.loads(config_file.read_text())["model"] == str(moved)
    assert json.loads(manifest_file.read_text())["model_fingerprint"]  # a later resume checks it
    with pytest.raises(ValueError, match="does not hold the weights"):
        resume_generate(run, model=other)


def test_a_resume_takes_the_runs_own_model_named_as_the_run_named_it(tmp_path, capsys):
    """A script resuming with its first command's --model (a preset, a hub id) goes on with that model; a
    name of no folder that is not the run's own is refused, saying what --model takes with a resume."""
    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "t", n=16, model="tiny"), on_chunk=_stop)
    run = tmp_path / "run-t"
    assert main(["generate", "--resume", str(run), "--model", "tiny", "--no-progress"]) == 0
    assert "wrote 16 frames" in capsys.readouterr().out
    with pytest.raises(ArgumentValueError) as refused:
        resume_generate(run, model="tiny-typo")
    assert str(refused.value) == (
        "model with a resume takes a folder, the new place of the run's model folder if it was moved since the "
        "run began (the run used 'tiny'), and there is no folder 'tiny-typo'"
    )


def test_a_model_given_loaded_is_the_one_used(tmp_path, model, caplog):
    """generate(cfg, model=...) records no fingerprint of cfg's folder (the model may be any), and a move of
    that folder is described so, not as a run of an earlier version; resume_generate(run, model=...) does not
    look at the run's folder (it warned that its weights changed)."""
    folder = model.save_pretrained(tmp_path / "m1")
    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "b", n=16, model=str(folder)), on_chunk=_stop)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    kept = weights.read_bytes()
    save_file({k: v + 1 for k, v in load_file(weights).items()}, weights)
    assert resume_generate(tmp_path / "run-b", model=model).num_frames == 16
    assert "holds other weights" not in caplog.text
    weights.write_bytes(kept)
    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "c", n=16, model=str(folder)), model=model, on_chunk=_stop)
    assert json.loads((tmp_path / "run-c" / "manifest.json").read_text())["model_fingerprint"] is None
    folder.rename(tmp_path / "m2")
    assert resume_generate(tmp_path / "run-c", model=tmp_path / "m2").num_frames == 16
    assert f"the run was given its model loaded and recorded no fingerprint of its model folder {folder}" in (
        caplog.text
    )
