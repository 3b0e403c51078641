"""What a resume says of the loop settings it changes: a warning for those that change the run's steps, a
plain line for those that only change what is written beside them."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

from streamt2v.train.loop import TrainConfig
from streamt2v.train.recipes import make_recipe
from streamt2v.train.resume_settings import check_resumed_config, recorded_recipe_config


def _run_config(recipe, cfg: TrainConfig) -> dict:
    return {
        "recipe": recipe.name,
        "recipe_config": recorded_recipe_config(recipe),
        "train": asdict(cfg),
        "processes": 1,
    }


def test_a_resume_warns_only_of_the_settings_that_change_its_steps(caplog):
    """A run relaunched with more data workers or checkpoints more often takes the steps of the uninterrupted
    run (sample i depends on (seed, i) alone): it warned "changed training settings" as for another lr."""
    recipe = make_recipe("vae")
    cfg = TrainConfig(steps=10)
    saved = json.loads(json.dumps(_run_config(recipe, cfg)))  # as a checkpoint records it
    checkpoint = Path("run/checkpoints/step-00000004")
    bookkeeping = replace(cfg, num_workers=4, checkpoint_every=100, sample_every=5, log_every=2)
    with caplog.at_level(logging.INFO, logger="streamt2v.train.resume_settings"):
        check_resumed_config(checkpoint, saved, _run_config(recipe, bookkeeping), recipe, 4)
    assert [r.levelno for r in caplog.records] == [logging.INFO], caplog.text
    for change in ("num_workers: 0 -> 4", "checkpoint_every: 500 -> 100", "sample_every: 0 -> 5"):
        assert change in caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="streamt2v.train.resume_settings"):
        check_resumed_config(checkpoint, saved, _run_config(recipe, replace(bookkeeping, lr=1e-3)), recipe, 4)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].endswith("changed training settings: lr: 0.0001 -> 0.001")


def test_too_few_steps_are_refused_after_other_recipe_options_and_before_any_warning(caplog):
    """The steps check ran first (97b2115): a resume with another kl_weight and too few steps was told to
    raise --steps, and once it did, that it could not resume with other options at all."""
    import pytest

    from streamt2v.arguments import ArgumentValueError

    recipe = make_recipe("vae")
    saved = json.loads(json.dumps(_run_config(recipe, TrainConfig(steps=10))))
    checkpoint = Path("run/checkpoints/step-00000006")
    other = make_recipe("vae", kl_weight=0.5, size=64)
    with pytest.raises(ArgumentValueError) as err:
        check_resumed_config(checkpoint, saved, _run_config(other, TrainConfig(steps=4, lr=1e-3)), other, 6)
    assert "other recipe options (kl_weight: 0.001 -> 0.5; size: 32 -> 64);" in str(err.value)
    # on the command line by the flags that set them, as the loop's settings in the same lines (was "size:")
    said = err.value.as_flags().spelled(flags=True)
    assert "other recipe options (--set kl_weight 0.001 -> 0.5; --size 32 -> 64); " in said
    with caplog.at_level(logging.INFO), pytest.raises(ArgumentValueError) as err:
        check_resumed_config(checkpoint, saved, _run_config(recipe, TrainConfig(steps=4, lr=1e-3)), recipe, 6)
    assert str(err.value) == f"cannot resume {str(checkpoint)!r} at step 6 with steps=4; give steps=6 or more"
    assert err.value.as_flags().spelled(flags=True).endswith("with --steps 4; give --steps 6 or more")
    assert not caplog.records  # no warning of the steps and lr changed before the refusal


def test_a_resume_on_other_processes_names_the_flags_on_the_command_line(caplog, monkeypatch):
    """The lines of a resume on other processes named grad_accum, the Python spelling, on the command line
    too: that of one that keeps the samples per step (2 processes × grad_accum 1 as 1 × 2), and the changes
    of one that does not. The command's own path (cli/train.run) spells them as flags."""
    import argparse

    from streamt2v.cli import train as train_command

    recipe = make_recipe("vae")
    saved = json.loads(json.dumps({**_run_config(recipe, TrainConfig(steps=10)), "processes": 2}))
    checkpoint = Path("run/checkpoints/step-00000004")

    def resume(args: argparse.Namespace) -> int:  # train's check of the checkpoint it resumes, alone
        check_resumed_config(checkpoint, saved, args.now, recipe, 4)
        return 0

    monkeypatch.setattr(train_command, "_train", resume)
    with caplog.at_level(logging.INFO, logger="streamt2v.train.resume_settings"):
        for cfg in (TrainConfig(steps=10, grad_accum=2), TrainConfig(steps=10, grad_accum=4, num_workers=2)):
            now = _run_config(recipe, cfg)
            check_resumed_config(checkpoint, saved, now, recipe, 4)
            assert train_command.run(argparse.Namespace(now=now, options=[])) == 0
    resuming = "resuming 'run/checkpoints/step-00000004'"
    same = f"{resuming}, a run of 2 processes with {{}}, on 1 with {{}}: the same samples per step"
    kept = f"{resuming} with other settings that leave its steps unchanged: {{}}"
    changed = f"{resuming} with changed training settings: {{}}"
    assert [r.getMessage() for r in caplog.records] == [
        same.format("grad_accum=1", "grad_accum=2"),
        same.format("--grad-accum 1", "--grad-accum 2"),
        kept.format("num_workers: 0 -> 2"),
        changed.format("grad_accum: 1 -> 4; processes: 2 -> 1"),
        kept.format("--num-workers 0 -> 2"),
        changed.format("--grad-accum 1 -> 4; processes: 2 -> 1"),
    ]


def test_the_sample_guidance_is_named_as_the_samplers_and_runs_that_recorded_guidance_scale_resume():
    """The recipes' sample videos took ``guidance_scale`` where the rest says ``guidance``: now
    ``sample_guidance`` beside ``sample_steps``, the earlier name refused naming it, and a run that recorded
    it resumes as before (a change of it is still one)."""
    import pytest

    from streamt2v.arguments import ArgumentValueError

    with pytest.raises(ArgumentValueError) as err:
        make_recipe("base", guidance_scale=3.0)
    assert str(err.value).startswith("recipe 'base' takes no guidance_scale (now sample_guidance); ")
    said = err.value.as_flags().spelled(flags=True)
    assert said.startswith("recipe 'base' takes no --set guidance_scale (now --set sample_guidance); ")
    checkpoint = Path("run/checkpoints/step-00000004")
    for name in ("stream", "refiner", "base"):
        recipe = make_recipe(name)
        saved = json.loads(json.dumps(_run_config(recipe, TrainConfig(steps=10))))
        # as recorded before
        saved["recipe_config"]["guidance_scale"] = saved["recipe_config"].pop("sample_guidance")
        check_resumed_config(checkpoint, saved, _run_config(recipe, TrainConfig(steps=10)), recipe, 4)
    other = make_recipe("base", sample_guidance=3.0)  # the base's record, last
    with pytest.raises(ValueError, match=r"other recipe options \(sample_guidance: 5.0 -> 3.0\)"):
        check_resumed_config(checkpoint, saved, _run_config(other, TrainConfig(steps=10)), other, 4)


def test_the_streams_unread_sample_guidance_is_refused_and_other_recipes_are_pointed_to_it():
    """The stream inherited the base's sample_guidance, which its unguided samples never read: set, it did
    nothing without a word. vae and clip given guidance_scale were told 'no recipe's option'."""
    import pytest

    from streamt2v.arguments import ArgumentValueError

    with pytest.raises(ArgumentValueError) as err:
        make_recipe("stream", sample_guidance=3.0)
    said = err.value.as_flags().spelled(flags=True)
    assert said.startswith(
        "recipe 'stream' takes no --set sample_guidance (the stream's sample videos run unguided); "
    )
    assert "sample_guidance" not in said.split("; its options: ")[1]
    # made directly in Python, by the same table: refused by the recipe itself, naming the argument
    from streamt2v.train.stream_recipe import StreamRecipe

    with pytest.raises(ArgumentValueError) as err:
        StreamRecipe(sample_guidance=3)
    assert str(err.value) == (
        "recipe 'stream' takes no sample_guidance (the stream's sample videos run unguided)"
    )
    assert StreamRecipe(sample_guidance=1.0).sample_guidance == 1.0  # its default, which runs record
    with pytest.raises(
        ArgumentValueError
    ) as err:  # by its earlier name: not pointed to --set sample_guidance
        make_recipe("stream", guidance_scale=3.0)
    assert (
        err.value.as_flags()
        .spelled(flags=True)
        .startswith(
            "recipe 'stream' takes no --set guidance_scale (the stream's sample videos run unguided); "
        )
    )
    with pytest.raises(ArgumentValueError) as err:
        make_recipe("vae", guidance_scale=3.0)
    assert str(err.value).startswith(
        "recipe 'vae' takes no guidance_scale (now sample_guidance, an option of the base and refiner recipes); "
    )


def test_a_resumes_changes_show_each_value_as_its_flag_takes_it(monkeypatch):
    """The refusal of other recipe options showed Python's values on the command line (--set
    rescale_betas_zero_snr False -> True, --set beta_schedule 'linear' -> ...), and an option with a flag
    given by --set (--set size=64) read as --size 32 -> 64. The loop's changes likewise (--ema-decay 0)."""
    import argparse
    import copy
    import pickle

    import pytest

    from streamt2v.arguments import ArgumentValueError
    from streamt2v.cli import train as train_command
    from streamt2v.train.resume_settings import Change, SettingChanges, train_config_changes

    recipe = make_recipe("base")
    saved = json.loads(json.dumps(_run_config(recipe, TrainConfig(steps=10))))
    checkpoint = Path("run/checkpoints/step-00000004")
    other = make_recipe("base", rescale_betas_zero_snr=True, beta_schedule="linear", size=64, preset="small")
    now = _run_config(other, TrainConfig(steps=10))

    def resume(args: argparse.Namespace) -> int:  # train's check of the checkpoint it resumes, alone
        check_resumed_config(checkpoint, saved, now, other, 4)
        return 0

    monkeypatch.setattr(train_command, "_train", resume)
    with pytest.raises(ArgumentValueError) as err:
        train_command.run(argparse.Namespace(options=[("size", 64), ("rescale_betas_zero_snr", True)]))
    assert str(err.value).startswith(
        f"cannot resume {str(checkpoint)!r} with other recipe options (beta_schedule: 'scaled_linear' -> 'linear'; "
        "preset: 'tiny' -> 'small'; rescale_betas_zero_snr: False -> True; size: 32 -> 64); "
    )
    assert (
        err.value.as_flags()
        .spelled(flags=True)
        .startswith(
            f"cannot resume {str(checkpoint)!r} with other recipe options (--set beta_schedule scaled_linear -> "
            "linear; "
            "--preset tiny -> small; --set rescale_betas_zero_snr false -> true; --set size 32 -> 64); "
        )
    )
    loop = train_config_changes(saved, asdict(TrainConfig(steps=10, ema_decay=None, cpu=True)), 1)
    assert SettingChanges("loop", tuple(loop)).flag == "--cpu (not given) -> (given); --ema-decay 0.999 -> 0"
    # a folder quoted as every message names one, by its flag or --set alike (a shell's quoting left it bare)
    moved = SettingChanges("recipe", (Change("vae", "/runs/v", "/runs/w"),))
    assert moved.flag == "--vae '/runs/v' -> '/runs/w'"
    assert moved.given_by_set({"vae"}).flag == "--set vae '/runs/v' -> '/runs/w'"
    # errors cross a launch's processes pickled (Change's __new__ took three arguments: TypeError) and are
    # copied: each keeps both spellings, (absent) included
    absent = ArgumentValueError("(", SettingChanges("recipe", (Change("size", Change.ABSENT, 32),)), ")")
    for original in (err.value, absent):
        for again in (pickle.loads(pickle.dumps(original)), copy.deepcopy(original)):
            for flags in (False, True):
                assert again.spelled(flags=flags) == original.spelled(flags=flags)
    assert absent.spelled(flags=True) == "(--size (absent) -> 32)"


def test_a_resume_takes_the_runs_value_of_every_flag_not_typed(tmp_path, capsys, caplog):
    """``train vae --size 16 ...`` then ``--resume --set kl_weight=0.01`` was refused naming ``--size 16 -> 32``
    (32, the default, for --size not typed), and a resume without ``--batch-size 2`` trained on at 8 with a
    warning: every recipe option and loop setting left out takes the run's value; a typed one is compared."""
    from streamt2v.cli import main

    out = str(tmp_path / "run")
    tiny = ["--set", "block_out_channels=[8,16]", "--set", "norm_num_groups=4", "--set", "scaling_samples=1"]
    first = [
        "train",
        "vae",
        "--out",
        out,
        "--size",
        "16",
        *tiny,
        "--set",
        "kl_weight=0.01",
        "--batch-size",
        "2",
    ]
    assert main([*first, "--lr", "1e-3", "--checkpoint-every", "1", "--steps", "1", "--no-progress"]) == 0
    with caplog.at_level(logging.INFO):
        assert main(["train", "vae", "--out", out, "--resume", "--steps", "2", "--no-progress"]) == 0
    assert "step 2" in capsys.readouterr().out
    assert "other settings" not in caplog.text  # the typed --steps, alone, is a change
    assert "changed training settings: --steps 1 -> 2\n" in caplog.text
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["recipe_config"]["size"] == 16 and record["recipe_config"]["kl_weight"] == 0.01
    assert record["train"]["batch_size"] == 2 and record["train"]["lr"] == 1e-3
    assert record["train"]["checkpoint_every"] == 1
    # typed, the default is a change all the same (refused for a recipe option, named as typed)
    resume = ["train", "vae", "--out", out, "--resume", "--steps", "3", "--no-progress"]
    assert main([*resume, "--size", "32", "--set", "kl_weight=0.001"]) == 2
    assert "other recipe options (--set kl_weight 0.01 -> 0.001; --size 16 -> 32)" in capsys.readouterr().err
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main([*resume, "--batch-size", "8"]) == 0
    assert "changed training settings: --batch-size 2 -> 8" in caplog.text


def test_a_refused_resume_names_the_run_folder_as_typed_then_as_read(tmp_path, monkeypatch, capsys, caplog):
    """``--out ~/run``: the refusal named the checkpoint as read alone (``/home/me/run/checkpoints/...``), where
    every other message names a path as typed, then as read."""
    from streamt2v.cli import main

    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(_vae_run("~/run", "--checkpoint-every", "1", "--steps", "1")) == 0
    capsys.readouterr()
    assert main(_vae_run("~/run", "--resume", "--steps", "2", "--set", "kl_weight=0.5")) == 2
    checkpoint = "run/checkpoints/step-00000001"
    named = f"'~/{checkpoint}' ({str(tmp_path / checkpoint)!r})"
    assert (
        f"error: cannot resume {named} with other recipe options (--set kl_weight " in capsys.readouterr().err
    )
    with caplog.at_level(logging.INFO):
        assert main(_vae_run("~/run", "--resume", "--steps", "2")) == 0
    assert f"resumed from {named} at step 1" in caplog.text


def test_a_run_folder_named_tilde_in_the_working_folder_is_named_as_itself(tmp_path, monkeypatch, capsys):
    """``--out ./~/run`` (a folder named ~ in the working one): a refused resume named its checkpoint
    ``'~/run/checkpoints/...' ('/home/me/run/...')``, a folder that does not exist, as the folder joined
    as a ``Path`` lost its ``./``."""
    from streamt2v.cli import main

    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert main(_vae_run("./~/run", "--checkpoint-every", "1", "--steps", "1")) == 0
    capsys.readouterr()
    assert main(_vae_run("./~/run", "--resume", "--steps", "2", "--set", "kl_weight=0.5")) == 2
    err = capsys.readouterr().err
    assert "error: cannot resume './~/run/checkpoints/step-00000001' with other recipe options" in err
    assert str(home) not in err and not any(home.iterdir())


_TINY = ["--set", "block_out_channels=[8,16]", "--set", "norm_num_groups=4", "--set", "scaling_samples=1"]


def _vae_run(out: str, *flags: str) -> list[str]:
    return ["train", "vae", "--out", out, "--size", "16", *_TINY, *flags, "--no-progress"]


def test_a_resume_past_a_damaged_checkpoint_takes_the_settings_of_the_one_it_reads(tmp_path, caplog):
    """The latest checkpoint cut short, a resume continues from the one before: it took the settings not
    typed from the damaged one (``--batch-size 4``), and warned of "--batch-size 2 -> 4", a change it made
    itself. They are the checkpoint's it reads."""
    from streamt2v.cli import main

    out = str(tmp_path / "run")
    assert main(_vae_run(out, "--batch-size", "2", "--checkpoint-every", "1", "--steps", "2")) == 0
    resume = ["train", "vae", "--out", out, "--resume", "--no-progress"]
    assert main([*resume, "--steps", "3", "--batch-size", "4"]) == 0
    model = tmp_path / "run" / "checkpoints" / "step-00000003" / "model.safetensors"
    with open(model, "r+b") as f:
        f.truncate(100)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main([*resume, "--steps", "4"]) == 0
    assert "resuming from step-00000002 instead" in caplog.text
    assert "changed training settings: --steps 2 -> 4\n" in caplog.text, caplog.text
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["batch_size"] == 2


def _record(run: Path, **train: object) -> None:
    """Set loop settings in the run's record, as a run on another machine (a GPU's, one with a C++ compiler)
    would have written them: config.json and the latest checkpoint's state.json."""
    config = json.loads((run / "config.json").read_text())
    config["train"].update(train)
    (run / "config.json").write_text(json.dumps(config))
    state_file = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip() / "state.json"
    state = json.loads(state_file.read_text())
    state["config"]["train"].update(train)
    state_file.write_text(json.dumps(state))


def test_a_resume_takes_what_this_machine_can_run_of_the_runs_settings(tmp_path, caplog, capsys):
    """The run's fp16 taken on the CPU was refused as typed ("--mixed-precision fp16 needs a GPU"): it is not
    taken there, and the resume warns of the change as before (fp16 -> no). Its compile is not taken, said on
    the line of settings that leave its steps unchanged, not as a warning. Its ``--cpu`` is taken unless
    ``--device auto`` is typed; its ``ema_decay`` None (no EMA) is ``--ema-decay 0``; a recipe option with a
    flag given by ``--set`` is taken as any other."""
    from streamt2v.cli import main

    run = tmp_path / "run"
    out = str(run)
    first = ["train", "vae", "--out", out, "--set", "size=16", *_TINY, "--cpu", "--ema-decay", "0"]
    assert (
        main([*first, "--checkpoint-every", "1", "--steps", "1", "--batch-size", "2", "--no-progress"]) == 0
    )
    _record(run, mixed_precision="fp16", compile="inductor")
    resume = ["train", "vae", "--out", out, "--resume", "--no-progress"]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main([*resume, "--steps", "2"]) == 0, capsys.readouterr().err
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].endswith(
        "changed training settings: --mixed-precision fp16 -> no; --steps 1 -> 2"
    ), warnings
    assert "other settings that leave its steps unchanged: --compile inductor -> (not given)" in caplog.text
    train = json.loads((run / "config.json").read_text())["train"]
    assert train["cpu"] is True and train["ema_decay"] is None and train["batch_size"] == 2
    assert json.loads((run / "config.json").read_text())["recipe_config"]["size"] == 16
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main([*resume, "--steps", "3", "--device", "auto"]) == 0
    assert "changed training settings: --cpu (given) -> (not given); --steps 2 -> 3" in caplog.text
    assert json.loads((run / "config.json").read_text())["train"]["cpu"] is False


def test_a_resume_refuses_the_runs_folders_that_moved_naming_them_as_the_runs(tmp_path, capsys):
    """A recorded ``--data`` folder since moved failed "video folder X does not exist" after "resumed from",
    as if typed: it is refused first, as the run's, with the flag that gives its new place."""
    import numpy as np

    from streamt2v.cli import main
    from streamt2v.io.video import from_uint8_frames, write_video

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("a.mp4", "b.mp4"):
        write_video(videos / name, from_uint8_frames(np.full((4, 16, 16, 3), 100, np.uint8)), 8)
    captions = tmp_path / "caps.csv"
    captions.write_text("file,caption\na.mp4,red\nb.mp4,blue\n")
    out = str(tmp_path / "run")
    data = ["--data", str(videos), "--captions", str(captions), "--batch-size", "1"]
    assert main(_vae_run(out, *data, "--checkpoint-every", "1", "--steps", "1")) == 0
    videos.rename(tmp_path / "moved")
    resume = ["train", "vae", "--out", out, "--resume", "--steps", "2", "--no-progress"]
    capsys.readouterr()
    assert main(resume) == 2
    err = capsys.readouterr().err
    # quoted as messages name paths ('/x/videos'), not as a shell would (it left /x/videos bare)
    assert f"the run's --data {str(videos)!r} does not exist here" in err, err
    assert "pass --data with its new place" in err and "resumed from" not in err
    assert main([*resume, "--data", str(tmp_path / "moved")]) == 0


def test_a_moved_shipped_part_of_the_run_is_offered_as_microworld_again(tmp_path, capsys):
    """A run given ``--vae microworld`` records the shipped VAE's folder inside the package; resumed under
    another install, that folder is gone and the refusal asked for its new place, which the user never
    typed: it offers ``microworld`` again for the shipped parts, not for a folder of the user's."""
    from streamt2v.assets import ASSETS_DIR
    from streamt2v.cli import main

    recipe = make_recipe("base", vae="microworld", clip="microworld", size=16)
    saved = json.loads(json.dumps(_run_config(recipe, TrainConfig(steps=1))))
    elsewhere = "/gone/lib/python3.11/site-packages/streamt2v/assets"
    for key in ("vae", "clip"):
        assert saved["recipe_config"][key].startswith(str(ASSETS_DIR))
        saved["recipe_config"][key] = saved["recipe_config"][key].replace(str(ASSETS_DIR), elsewhere)
    out = tmp_path / "run"
    out.mkdir()
    resume = ["train", "base", "--out", str(out), "--resume", "--steps", "2", "--no-progress"]
    (out / "config.json").write_text(json.dumps(saved))
    assert main(resume) == 2
    err = capsys.readouterr().err
    said = (
        "pass --vae and --clip with their new places (--vae microworld and --clip microworld for the shipped "
        "ones)"
    )
    assert err.rstrip().endswith(said), err
    # a folder of the user's that moved is not one of them
    saved["recipe_config"]["vae"] = str(tmp_path / "runs" / "vae" / "final" / "vae")
    (out / "config.json").write_text(json.dumps(saved))
    assert main(resume) == 2
    err = capsys.readouterr().err
    assert err.rstrip().endswith("with their new places (--clip microworld for the shipped one)"), err
