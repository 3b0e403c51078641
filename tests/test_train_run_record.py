"""What a training run records of its settings (``config.json``, every checkpoint) and how ``assemble`` and
``train --resume`` read that record back: folders as absolute paths, and the process count."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import typing

from streamt2v.cli import main
from streamt2v.train.recipes import PATH_OPTIONS, make_recipe, recipe_classes
from streamt2v.train.resume_settings import (
    moved_path_options,
    recipe_config_changes,
    recorded_recipe_config,
    train_config_changes,
)


def _train(out: str, recipe: str, *more: str, steps: int = 1) -> list[str]:
    return ["train", recipe, "--out", out, "--size", "16", "--num-frames", "12", "--set", "max_start=10"] + [
        *more,
        "--steps",
        str(steps),
        "--batch-size",
        "1",
        "--checkpoint-every",
        "1",
        "--no-progress",
    ]


def test_folders_given_relative_are_recorded_absolute_so_assemble_and_resume_work_elsewhere(
    tmp_path, encoders, monkeypatch, capsys
):
    """``train base --vae enc/vae`` recorded ``enc/vae`` as typed, which reads only from the folder train ran
    in: ``assemble`` run elsewhere failed ("--init-unet folder runs/base/final/unet does not exist") and a
    resume from elsewhere, with the same folders given by their absolute paths, was refused as "other
    recipe options (vae: 'enc/vae' -> '/.../enc/vae')". The run records the folders absolute."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(encoders[0], work / "enc" / "vae")
    shutil.copytree(encoders[1], work / "enc" / "clip")
    monkeypatch.chdir(work)
    encoders_relative = ["--vae", "enc/vae", "--clip", "./enc/clip"]
    assert main(_train("runs/base", "base", *encoders_relative)) == 0
    assert (
        main(_train("runs/stream", "stream", *encoders_relative, "--base-unet", "runs/base/final/unet")) == 0
    )
    recorded = json.loads((work / "runs" / "stream" / "config.json").read_text())["recipe_config"]
    assert recorded["vae"] == str(work / "enc" / "vae") and recorded["clip"] == str(work / "enc" / "clip")
    assert recorded["base_unet"] == str(work / "runs" / "base" / "final" / "unet")
    assert recorded["data"] == "microworld" and recorded["init_unet"] == ""  # not paths: as they were

    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    # every part from the run's record
    assert main(["assemble", "model", "m", "--unet", str(work / "runs" / "stream" / "final" / "unet")]) == 0
    assert (elsewhere / "m" / "model_index.json").is_file()
    # the same folders by other spellings: absolute, and relative to this folder
    absolute = ["--vae", str(work / "enc" / "vae"), "--clip", os.path.join("..", "work", "enc", "clip")]
    assert main(_train(str(work / "runs" / "base"), "base", *absolute, "--resume", steps=2)) == 0
    assert "error" not in capsys.readouterr().err
    log = (work / "runs" / "base" / "loss.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2]


def test_a_resume_compares_folders_by_what_they_name(tmp_path, monkeypatch):
    """Paths recorded as typed (runs before they were recorded absolute) read from the working folder; a
    path recorded absolute that another spelling names is the same; one whose recorded folder is gone (the
    runs moved, another machine) is not a change but is listed to warn about; another existing folder is a
    change."""
    work = tmp_path / "work"
    (work / "enc" / "vae").mkdir(parents=True)
    (work / "other").mkdir()
    monkeypatch.chdir(work)
    now = {"vae": str(work / "enc" / "vae"), "size": 16}
    assert recipe_config_changes({"vae": "enc/vae", "size": 16}, now, None) == []  # recorded before
    assert recipe_config_changes({"vae": "./enc/../enc/vae", "size": 16}, now, None) == []
    assert moved_path_options({"vae": "enc/vae", "size": 16}, now) == []

    gone = str(tmp_path / "moved-away" / "vae")
    assert recipe_config_changes({"vae": gone, "size": 16}, now, None) == []
    assert moved_path_options({"vae": gone, "size": 16}, now) == [f"vae: {gone!r} -> {now['vae']!r}"]

    other = str(work / "other")
    assert recipe_config_changes({"vae": other, "size": 16}, now, None) == [
        f"vae: {other!r} -> {now['vae']!r}"
    ]
    assert moved_path_options({"vae": other, "size": 16}, now) == []
    assert recipe_config_changes({"vae": "", "size": 16}, now, None) == [f"vae: '' -> {now['vae']!r}"]
    # "microworld" is the world, not a folder of that name
    assert recipe_config_changes({"data": "microworld"}, {"data": str(work / "microworld")}, None) != []


def test_every_recipe_option_that_names_a_file_or_folder_is_recorded_absolute(tmp_path, monkeypatch):
    """Each recipe's text options without a value by default are the paths (vae, clip, base_unet, init_unet,
    decoder_only_from, degrade_vae, captions; data is "microworld" or a folder): all are recorded absolute,
    so an option added later must join ``PATH_OPTIONS`` or break this test."""
    for cls in recipe_classes().values():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if "str" in str(hints[f.name]) and f.default in ("", None):
                assert f.name in PATH_OPTIONS, f"{cls.__name__}.{f.name}"
    monkeypatch.chdir(tmp_path)
    paths = dict(vae="v", clip="c", init_unet="i", degrade_vae="d", data="videos", captions="caps.csv")
    recorded = recorded_recipe_config(make_recipe("refiner", degrade_scale=2, **paths))
    assert {k: recorded[k] for k in paths} == {k: str(tmp_path / v) for k, v in paths.items()}
    assert recorded["preset"] == "tiny"
    assert recorded_recipe_config(make_recipe("vae", decoder_only_from="a/b"))["decoder_only_from"] == str(
        tmp_path / "a" / "b"
    )


def test_a_resume_that_keeps_processes_times_grad_accum_changes_no_loop_setting():
    """A run of 2 processes with grad_accum 1 takes the steps of one process with grad_accum 2 (docs/training.md),
    the one-process command a stop under a launcher prints; resumed that way it warned "changed training
    settings: grad_accum: 1 -> 2". A real change of the samples per step is still named, the process count
    too; a run that did not record its process count compares grad_accum alone, as before."""
    train = {"steps": 10, "batch_size": 4, "grad_accum": 1}
    run = {"train": train, "processes": 2}
    assert train_config_changes(run, {**train, "grad_accum": 2}, processes=1) == []
    assert train_config_changes(run, train, processes=2) == []
    assert train_config_changes(run, {**train, "grad_accum": 4}, processes=1) == [
        "grad_accum: 1 -> 4",
        "processes: 2 -> 1",
    ]
    assert train_config_changes(run, train, processes=1) == ["processes: 2 -> 1"]  # half the samples
    assert train_config_changes(run, {**train, "grad_accum": 2, "steps": 20}, processes=1) == [
        "steps: 10 -> 20"
    ]
    older = {"train": train}
    assert train_config_changes(older, {**train, "grad_accum": 2}, processes=1) == ["grad_accum: 1 -> 2"]
    assert train_config_changes(older, train, processes=2) == []


def test_a_folder_given_by_set_has_its_home_expanded_as_the_path_flags(tmp_path, encoders, monkeypatch):
    """``--vae ~/vae`` had its ``~`` expanded, ``--set decoder_only_from=~/vae`` not (zsh, and bash in quotes,
    leave it after the ``=``): "folder ~/vae does not exist", or recorded as a folder named ``~``."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    shutil.copytree(encoders[0], tmp_path / "home" / "vae")
    monkeypatch.chdir(tmp_path)
    argv = ["train", "vae", "--out", "run", "--size", "16", "--set", "decoder_only_from=~/vae"]
    argv += [
        "--set",
        "frames_per_sample=1",
        "--set",
        "norm_num_groups=4",
        "--set",
        "block_out_channels=[8,16,16]",
    ]
    assert main([*argv, "--steps", "1", "--batch-size", "1", "--no-progress"]) == 0
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["recipe_config"]
    assert recorded["decoder_only_from"] == str(tmp_path / "home" / "vae")


def test_a_refused_resume_of_a_path_recorded_relative_says_where_it_reads_from(tmp_path, monkeypatch):
    """A run from before paths were recorded absolute recorded ``enc/vae`` as typed, which a resume reads from
    its working folder: resumed from another folder that has an ``enc/vae`` too, the refusal named only
    'enc/vae', which led to passing that relative path again from the wrong folder. It says the path is
    relative to the folder train ran in; an absolute recorded path is named as before."""
    wrong = tmp_path / "elsewhere"
    (wrong / "enc" / "vae").mkdir(parents=True)
    monkeypatch.chdir(wrong)
    given = str(tmp_path / "work" / "enc" / "vae")
    assert recipe_config_changes({"vae": "enc/vae", "size": 16}, {"vae": given, "size": 16}, None) == [
        f"vae: 'enc/vae' -> {given!r} (recorded relative to the folder train ran in: resume from there)"
    ]
    recorded = str(wrong / "enc" / "vae")
    assert recipe_config_changes({"vae": recorded}, {"vae": given}, None) == [
        f"vae: {recorded!r} -> {given!r}"
    ]
