"""Which model a resumed generate run takes: its own (named as the run named it, or given loaded), or its model
folder moved to a new place, which must hold the weights the run recorded (the fingerprint in its manifest)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import cfg_for
from streamt2v.arguments import ArgumentValueError
from streamt2v.assets import microworld_model_dir
from streamt2v.cli import main
from streamt2v.pipeline.generate import generate
from streamt2v.pipeline.model_fingerprint import model_fingerprint
from streamt2v.pipeline.resume import resume_generate


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
    name of no folder that is not the run's own is refused, and so is a folder where the run used none, each
    saying what model= (--model) takes when resuming, in the caller's words."""
    with pytest.raises(KeyboardInterrupt):
        generate(cfg_for(tmp_path, "t", n=16, model="tiny"), on_chunk=_stop)
    run = tmp_path / "run-t"
    assert main(["generate", "--resume", str(run), "--model", "tiny", "--no-progress"]) == 0
    assert "wrote 16 frames" in capsys.readouterr().out
    with pytest.raises(ArgumentValueError) as refused:
        resume_generate(run, model="tiny-typo")
    assert str(refused.value) == (
        "model='tiny-typo' names no folder: resuming, it names the new place of the run's model folder, if it was "
        "moved since the run began, or the run's own model (the run used 'tiny')"
    )
    folder = microworld_model_dir()
    assert main(["generate", "--resume", str(run), "--model", str(folder), "--no-progress"]) == 2
    assert capsys.readouterr().err.endswith(
        f"error: --model {folder} names the new place of a run's model folder that was moved, and the run used "
        "'tiny', not a model folder of its own: leave it out (the run goes on with 'tiny')\n"
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


def _change_bytes(file, begin: int, n: int = 64) -> None:
    with open(file, "r+b") as fh:
        fh.seek(begin)
        data = fh.read(n)
        fh.seek(begin)
        fh.write(bytes(255 - b for b in data))


def test_the_fingerprint_tells_any_tensor_changed_and_ignores_the_files_loading_leaves(tmp_path):
    """A tensor changed in the middle of the UNet's file (outside the first, middle and last MiB the
    fingerprint read before), a pickled model's tensor or a scheduler setting changes it; the copies loading
    does not read (a .bin beside a .safetensors, an fp16 variant beside the full-precision one, an
    optimizer.pt, a .git folder, a folder the index does not name, a hidden file, a JSON file that is no
    configuration) do not."""
    folder = tmp_path / "m"
    shutil.copytree(microworld_model_dir(), folder)
    before = model_fingerprint(folder)
    unet = folder / "unet"
    for name in ("diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.safetensors", "optimizer.pt"):
        (unet / name).write_bytes(b"not read")
    (folder / ".git").mkdir()
    (folder / ".git" / "model.safetensors").write_bytes(b"not read")
    # folders model_index.json does not name, hidden files: loading reads none of them
    for name in (
        "samples/prompts.json",
        "checkpoint-500/model.safetensors",
        "tokenizer/.DS_Store",
        "unet/training_args.json",  # a JSON file beside the configuration loading reads
    ):
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes(b"not read")
    assert model_fingerprint(folder) == before
    weights = unet / "diffusion_pytorch_model.safetensors"
    size, mib = weights.stat().st_size, 1 << 20
    n = int.from_bytes(weights.read_bytes()[:8], "little")
    header = json.loads(weights.read_bytes()[8 : 8 + n])
    begin = next(
        8 + n + entry["data_offsets"][0]
        for name, entry in header.items()
        if name != "__metadata__" and mib < 8 + n + entry["data_offsets"][0] < size // 2 - mib
    )
    _change_bytes(weights, begin)
    changed = model_fingerprint(folder)
    assert changed != before
    schedule = folder / "scheduler" / "scheduler_config.json"
    schedule.write_text(schedule.read_text().replace("1000", "999"))
    assert model_fingerprint(folder) not in (before, changed)
    pickled = tmp_path / "p"
    (pickled / "unet").mkdir(parents=True)
    torch.save({"w": torch.zeros(3 << 20)}, pickled / "unet" / "diffusion_pytorch_model.bin")
    before = model_fingerprint(pickled)
    torch.save(
        {"w": torch.zeros(3 << 20).index_fill_(0, torch.tensor([5 << 18]), 1.0)},
        pickled / "unet" / "diffusion_pytorch_model.bin",
    )
    assert model_fingerprint(pickled) != before


def test_a_copy_given_while_the_runs_folder_is_there_is_not_called_a_move(tmp_path, caplog):
    """--model m2, a copy of the run's m1 that is still there, was logged as where m1 'was moved' (and the
    run then uses m2 unsaid): a warning says m1 is still there and that the run uses m2 from here on."""
    import logging
    from types import SimpleNamespace

    from streamt2v.pipeline.resume import _model_folder

    first, copy = tmp_path / "m1", tmp_path / "m2"
    shutil.copytree(microworld_model_dir(), first)
    shutil.copytree(first, copy)
    run = SimpleNamespace(manifest={"model_fingerprint": model_fingerprint(first)})  # what a run records
    cfg = cfg_for(tmp_path, "c", n=16, model=str(first))
    with caplog.at_level(logging.INFO, logger="streamt2v.pipeline.resume"):
        change, _ = _model_folder(run, cfg, copy)
    assert change == {"model": str(copy)}
    assert [r.getMessage() for r in caplog.records] == [
        f"continuing with the model folder {copy}, which holds the weights of the run's {first} (still there): "
        f"the run uses {copy} from here on"
    ]


def test_the_runs_own_folder_given_again_is_checked_as_a_plain_resume_checks_it(tmp_path, caplog):
    """--model naming the run's own folder skipped the check a plain resume makes: weights changed since the
    run began were used without the warning."""
    import logging
    from types import SimpleNamespace

    from streamt2v.pipeline.resume import _model_folder

    folder = tmp_path / "m1"
    shutil.copytree(microworld_model_dir(), folder)
    recorded = {"model_fingerprint": model_fingerprint(folder), "num_chunks": 2}
    run = SimpleNamespace(manifest=recorded, num_finished=1)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    save_file({k: v + 1 for k, v in load_file(weights).items()}, weights)
    cfg = cfg_for(tmp_path, "c", n=16, model=str(folder))
    with caplog.at_level(logging.WARNING, logger="streamt2v.pipeline.resume"):
        assert _model_folder(run, cfg, None) is None
        assert _model_folder(run, cfg, folder) is None
        run.num_finished = 2  # a finished run: its outputs written again, no chunk made
        assert _model_folder(run, cfg, None) is None
    said = (
        f"model folder {folder} holds other weights than when the run began "
        "('unet/diffusion_pytorch_model.safetensors' differs); "
    )
    assert [r.getMessage() for r in caplog.records] == [
        *[said + "the chunks from here on are made with them"] * 2,
        said + "all the run's chunks were made before, with its weights then",
    ]


def test_a_folder_refused_as_the_runs_moved_model_is_told_by_the_files_that_differ(tmp_path):
    """--model NEW holding other weights than the run's moved folder was refused naming no file: the refusal
    names the files that differ, are missing or are new; a run of the version before, which recorded one
    digest of the whole folder, is still compared (whole)."""
    from types import SimpleNamespace

    from streamt2v.pipeline.resume import _model_folder

    first, other = tmp_path / "m1", tmp_path / "m2"
    shutil.copytree(microworld_model_dir(), first)
    shutil.copytree(first, other)
    recorded = model_fingerprint(first)
    cfg = cfg_for(tmp_path, "c", n=16, model=str(first))
    first.rename(tmp_path / "gone")
    weights = other / "unet" / "diffusion_pytorch_model.safetensors"
    save_file({k: v + 1 for k, v in load_file(weights).items()}, weights)
    (other / "unet" / "config.json").write_text((other / "unet" / "config.json").read_text() + "\n")
    (other / "vae" / "config.json").unlink()
    (other / "image_encoder" / "preprocessor_config.json").write_text("{}")
    with pytest.raises(ArgumentValueError) as refused:
        _model_folder(SimpleNamespace(manifest={"model_fingerprint": recorded}), cfg, other)
    assert str(refused.value) == (
        f"model folder {str(other)!r} does not hold the weights of the run's model folder {str(first)!r} "
        "('unet/diffusion_pytorch_model.safetensors' and 'unet/config.json' differ, 'vae/config.json' is missing, "
        "'image_encoder/preprocessor_config.json' is new); give the folder the run's model was moved to, or "
        "start a new run with it"
    )
    from streamt2v.pipeline.model_fingerprint import _digest_before

    whole = _digest_before(tmp_path / "gone")  # what the version before recorded
    with pytest.raises(ArgumentValueError, match=r"\(their fingerprints differ\)"):
        _model_folder(SimpleNamespace(manifest={"model_fingerprint": whole}), cfg, other)
    change, found = _model_folder(
        SimpleNamespace(manifest={"model_fingerprint": whole}), cfg, tmp_path / "gone"
    )
    assert change == {"model": str(tmp_path / "gone")} and found == recorded  # recorded file by file from now


def test_a_run_of_the_version_before_is_compared_by_the_files_it_read(tmp_path):
    """The version before recorded one sha256 of every JSON file of each part (training_args.json, another
    variant's shard index): rebuilt from the files counted now it differed, and the run's own folder was
    said to hold other weights. The digest is the one 2febea6's model_fingerprint gives this folder."""
    from streamt2v.pipeline.model_fingerprint import compared

    folder = tmp_path / "m"
    for name, text in {
        "model_index.json": '{"unet": ["streamt2v", "StreamingUNet"]}',
        "unet/config.json": '{"sample_size": 4}',
        "unet/diffusion_pytorch_model.safetensors": "weights",
        "unet/training_args.json": '{"learning_rate": 0.0001}',
        "unet/diffusion_pytorch_model.safetensors.index.fp16.json": '{"weight_map": {}}',
    }.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    before = "3b256ba1b6cff62a678a14b8170479656d44cba69ac923fa7893c9912b2aad95"
    assert compared(before, folder) == (model_fingerprint(folder), None)
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_text("weight5")
    assert compared(before, folder)[1] == "their fingerprints differ"


def test_the_index_of_weights_not_loaded_is_neither_counted_nor_checked(tmp_path):
    """A pytorch_model.bin.index.json beside model.safetensors (hub folders ship both sets) is not read:
    a copy without it was refused as the run's moved folder ('... is missing'), and a shard it names
    missing was refused as an interrupted download."""
    from streamt2v.io.weight_files import check_weight_files
    from streamt2v.pipeline.model_fingerprint import compared

    first, copy = tmp_path / "m1", tmp_path / "m2"
    shutil.copytree(microworld_model_dir(), first)
    shutil.copytree(first, copy)
    index = first / "text_encoder" / "pytorch_model.bin.index.json"
    index.write_text(json.dumps({"weight_map": {"w": "pytorch_model-00001-of-00002.bin"}}))
    assert compared(model_fingerprint(first), copy)[1] is None
    check_weight_files(index.parent, None, "text encoder")


def test_a_finished_run_is_resumed_without_loading_its_model(tmp_path, caplog, capsys):
    """A resume of a run with every chunk finished loaded the stage-1/2 model (seconds and gigabytes at full
    size) and used nothing of it but its frame rate, read now from the preset (or its folder's index): the
    tiny preset, whose loading says it has RANDOM weights, is not loaded, and the output is written again
    alike. A run with a chunk left loads it."""
    import logging

    from streamt2v.io.video import read_video

    cfg = cfg_for(tmp_path, "f", n=8, model="tiny")
    generate(cfg)
    before, fps = read_video(cfg.output)
    caplog.clear()
    Path(cfg.output).unlink()
    with caplog.at_level(logging.WARNING):
        assert main(["generate", "--resume", cfg.run_dir, "--no-progress"]) == 0
    assert "RANDOM" not in caplog.text
    assert "wrote 8 frames" in capsys.readouterr().out
    again, fps_again = read_video(cfg.output)
    assert torch.equal(again, before) and fps_again == fps
    # the model is loaded where a chunk is left to make
    stopped = cfg_for(tmp_path, "s", n=24, model="tiny")
    with pytest.raises(KeyboardInterrupt):
        generate(stopped, on_chunk=_stop)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["generate", "--resume", stopped.run_dir, "--no-progress"]) == 0
    assert "using the 'tiny' preset with RANDOM weights" in caplog.text
